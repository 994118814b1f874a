//! Reports: exfiltration, exposure, rule audit and summary, as findings a person can act on.
//!
//! Why: the lake and the functions answer any question, but the three weekly questions
//! (is data leaving? what is exposed? are the rules right?) deserve answers that come ready,
//! on a schedule, with a reason for each finding. The logic lives in readable SQL
//! (`sql/reports/*.sql`, compiled into the binary) with `{{placeholders}}` for the window and
//! the `[report]` settings; this module resolves the window, runs the queries, turns rows into
//! findings with a one-sentence reason, sorts them and hands them to [`render`].
//!
//! Flow: window → coverage (which NICs and hours have data) → the report's queries → rows →
//! [`Finding`]s (+ rule definitions for the audit) → sorted, deterministic [`Report`].

pub mod audit;
pub mod html;
pub mod reason;
pub mod render;
pub mod settings;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::json;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::nsg::Nsg;
use crate::query::LakeSession;
use crate::window::{Window, hour_floor, parse_span};

pub use settings::{Checked, Settings};

/// The SQL of each report, by file name.
pub const SQL: &[(&str, &str)] = &[
    ("exfil.sql", include_str!("../../sql/reports/exfil.sql")),
    (
        "exposure.sql",
        include_str!("../../sql/reports/exposure.sql"),
    ),
    ("scans.sql", include_str!("../../sql/reports/scans.sql")),
    ("rules.sql", include_str!("../../sql/reports/rules.sql")),
    (
        "nsg_coverage.sql",
        include_str!("../../sql/reports/nsg_coverage.sql"),
    ),
    (
        "coverage.sql",
        include_str!("../../sql/reports/coverage.sql"),
    ),
    (
        "top_talkers.sql",
        include_str!("../../sql/reports/top_talkers.sql"),
    ),
    (
        "timeline.sql",
        include_str!("../../sql/reports/timeline.sql"),
    ),
    ("series.sql", include_str!("../../sql/reports/series.sql")),
];

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Data leaving: unexpected ports, new destinations, volume anomalies, DNS to outside
    /// resolvers, threat-intel destinations.
    Exfil,
    /// Internal endpoints reachable from public addresses, and scan pressure.
    Exposure,
    /// What each rule allowed and denied; broad, never-hit and shadowed rules.
    Rules,
    /// Coverage and gaps, top talkers, traffic over time.
    Summary,
}

impl Kind {
    /// The report's name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Exfil => "exfil",
            Kind::Exposure => "exposure",
            Kind::Rules => "rules",
            Kind::Summary => "summary",
        }
    }
}

/// How urgent a finding is. Ordered: `Info < Low < Medium < High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Context, not a problem.
    Info,
    /// Worth a look.
    Low,
    /// Should be explained this week.
    Medium,
    /// Act now.
    High,
}

impl Severity {
    /// Parses the lower-case name.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            _ => None,
        }
    }

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// One finding: what, how bad, why, and the evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What was found (`unexpected_port`, `sensitive_port_exposed`, `never_hit`, ...).
    pub kind: String,
    /// How urgent.
    pub severity: Severity,
    /// 0..1, orders findings of the same severity.
    pub score: f64,
    /// One sentence a person can act on.
    pub reason: String,
    /// The evidence, named as in the report's SQL (`src_ip`, `bytes_out`, `rule`, ...).
    #[serde(flatten)]
    pub evidence: Map<String, Value>,
}

impl Finding {
    /// A finding with its reason written from the evidence ([`reason::explain`]).
    pub fn new(
        kind: &str,
        severity: Severity,
        score: f64,
        evidence: Map<String, Value>,
        settings: &Checked,
    ) -> Finding {
        let mut f = Finding {
            kind: kind.into(),
            severity,
            score,
            reason: String::new(),
            evidence,
        };
        f.reason = reason::explain(&f, settings);
        f
    }

    /// A text field of the evidence.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.evidence.get(key).and_then(Value::as_str)
    }

    /// A numeric field of the evidence (0 when absent).
    pub fn num(&self, key: &str) -> f64 {
        self.evidence
            .get(key)
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    }
}

/// A window as it appears in the output.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Span {
    /// First instant inside.
    pub since: DateTime<Utc>,
    /// First instant after.
    pub until: DateTime<Utc>,
}

impl From<Window> for Span {
    fn from(w: Window) -> Span {
        Span {
            since: w.since,
            until: w.until,
        }
    }
}

/// Hours of one NIC without data, inside the window.
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    /// The NIC (MAC address, or the resource id when the log has no MAC).
    pub nic: String,
    /// First hour without data.
    pub since: DateTime<Utc>,
    /// First hour with data again (or the window's end).
    pub until: DateTime<Utc>,
    /// Hours missing.
    pub hours: i64,
}

/// What the findings stand on: how much of the window and baseline has flow logs.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Coverage {
    /// NICs with data in the window or the baseline.
    pub nics: usize,
    /// NICs with data in the window.
    pub nics_in_window: usize,
    /// Whole hours in the window.
    pub window_hours: i64,
    /// Hours of the window in which at least one NIC has data.
    pub window_hours_with_data: usize,
    /// Hours of the baseline in which at least one NIC has data.
    pub baseline_hours_with_data: usize,
    /// NIC-hours of the window with data, out of `nics × window_hours`.
    pub nic_hours_with_data: usize,
    /// Tuples in the window.
    pub tuples: u64,
    /// Tuples in the baseline.
    pub baseline_tuples: u64,
    /// Missing stretches per NIC inside the window (each NIC's known hours; longest first,
    /// at most 50).
    pub gaps: Vec<Gap>,
    /// Number of gaps in all (`gaps` may list fewer).
    pub gaps_total: usize,
}

/// A finished report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `exfil`, `exposure`, `rules` or `summary`.
    pub report: Kind,
    /// When it was produced.
    pub generated_at: DateTime<Utc>,
    /// The window reported on.
    pub window: Span,
    /// The baseline before it.
    pub baseline: Span,
    /// How complete the data is.
    pub coverage: Coverage,
    /// Findings per severity.
    pub counts: Counts,
    /// Findings, most urgent first.
    pub findings: Vec<Finding>,
    /// Internal addresses by bytes (summary, HTML).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top_talkers: Vec<Map<String, Value>>,
    /// Traffic per hour (summary, HTML).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Map<String, Value>>,
    /// Bytes per hour of the top findings, by finding index (HTML only).
    #[serde(skip)]
    pub series: BTreeMap<usize, Vec<(DateTime<Utc>, f64)>>,
}

/// Findings per severity, most urgent first.
#[derive(Debug, Clone, Copy, Serialize, Default, PartialEq, Eq)]
pub struct Counts {
    /// High.
    pub high: usize,
    /// Medium.
    pub medium: usize,
    /// Low.
    pub low: usize,
    /// Info.
    pub info: usize,
}

impl Counts {
    fn of(findings: &[Finding]) -> Counts {
        let mut c = Counts::default();
        for f in findings {
            *match f.severity {
                Severity::High => &mut c.high,
                Severity::Medium => &mut c.medium,
                Severity::Low => &mut c.low,
                Severity::Info => &mut c.info,
            } += 1;
        }
        c
    }

    /// The count for one severity.
    pub fn get(&self, s: Severity) -> usize {
        match s {
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Info => self.info,
        }
    }
}

impl Report {
    /// The most urgent severity among the findings.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// What to report on.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which report.
    pub kind: Kind,
    /// `--since` text.
    pub since: Option<String>,
    /// `--until` text.
    pub until: Option<String>,
    /// `--baseline` span text (default: the settings' `baseline`).
    pub baseline: Option<String>,
    /// "Now", for relative times.
    pub now: DateTime<Utc>,
    /// Also compute top talkers, the timeline and per-finding series (for HTML).
    pub charts: bool,
}

/// Substitutes `{{name}}` and `{{name(arg)}}` in a report's SQL. Unknown names are errors.
pub fn render_sql(
    file: &str,
    sql: &str,
    value: impl Fn(&str, Option<&str>) -> Option<String>,
) -> Result<String> {
    let mut out = String::with_capacity(sql.len() + 512);
    let mut rest = sql;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after
            .find("}}")
            .ok_or_else(|| Error::Invalid(format!("{file}: '{{{{' without '}}}}'")))?;
        let inner = after[..j].trim();
        let (name, arg) = match inner.split_once('(') {
            Some((n, a)) => (n.trim(), Some(a.trim_end_matches(')').trim())),
            None => (inner, None),
        };
        let v = value(name, arg).ok_or_else(|| {
            Error::Invalid(format!("{file}: unknown placeholder {{{{{inner}}}}}"))
        })?;
        out.push_str(&v);
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn ts(t: DateTime<Utc>) -> String {
    format!(
        "TIMESTAMP '{}'",
        t.to_rfc3339_opts(SecondsFormat::Micros, true)
    )
}

/// Runs report queries with one window, baseline and settings.
pub struct Runner<'a> {
    session: &'a LakeSession,
    settings: &'a Checked,
    window: Window,
    baseline: Window,
    window_hours: usize,
    baseline_hours: usize,
}

impl Runner<'_> {
    fn value(&self, name: &str, arg: Option<&str>) -> Option<String> {
        match (name, arg) {
            ("since", None) => Some(ts(self.window.since)),
            ("until", None) => Some(ts(self.window.until)),
            ("baseline_since", None) => Some(ts(self.baseline.since)),
            ("window_hours", None) => Some(self.window_hours.to_string()),
            ("baseline_hours", None) => Some(self.baseline_hours.to_string()),
            _ => self.settings.render(name, arg),
        }
    }

    /// Renders the SQL file `file` with the window, settings and `extra` values.
    pub fn sql(&self, file: &str, extra: &[(&str, String)]) -> Result<String> {
        let text = SQL
            .iter()
            .find(|(n, _)| *n == file)
            .map(|(_, t)| *t)
            .ok_or_else(|| Error::Invalid(format!("no report query {file}")))?;
        render_sql(file, text, |name, arg| {
            if arg.is_none()
                && let Some((_, v)) = extra.iter().find(|(n, _)| *n == name)
            {
                return Some(v.clone());
            }
            self.value(name, arg)
        })
    }

    /// Runs a rendered query and returns its rows as JSON objects (timestamps in RFC 3339).
    pub async fn rows(
        &self,
        file: &str,
        extra: &[(&str, String)],
    ) -> Result<Vec<Map<String, Value>>> {
        let sql = self.sql(file, extra)?;
        let run = async { self.session.ctx.sql(&sql).await?.collect().await };
        let batches = run
            .await
            .map_err(|e| Error::Invalid(format!("{file}: {e}")))?;
        to_objects(&batches)
    }
}

/// Rows of `batches` as JSON objects, nulls kept.
fn to_objects(batches: &[RecordBatch]) -> Result<Vec<Map<String, Value>>> {
    let mut w = json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, json::writer::JsonArray>(Vec::new());
    for b in batches {
        w.write(b)?;
    }
    w.finish()?;
    let bytes = w.into_inner();
    if bytes.is_empty() {
        return Ok(vec![]);
    }
    serde_json::from_slice(&bytes).map_err(|e| Error::Invalid(format!("report rows: {e}")))
}

/// Turns a query's rows into findings: `kind`, `severity` and `score` columns become the
/// finding's own fields, the rest its evidence; the reason is written from both.
fn findings(rows: Vec<Map<String, Value>>, settings: &Checked) -> Result<Vec<Finding>> {
    rows.into_iter()
        .map(|mut row| {
            let kind = match row.shift_remove("kind") {
                Some(Value::String(s)) => s,
                other => {
                    return Err(Error::Invalid(format!(
                        "report row without kind: {other:?}"
                    )));
                }
            };
            let severity = row
                .shift_remove("severity")
                .and_then(|v| v.as_str().and_then(Severity::parse))
                .ok_or_else(|| Error::Invalid(format!("{kind}: row without a severity")))?;
            let score = row
                .shift_remove("score")
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0);
            Ok(Finding::new(&kind, severity, score, row, settings))
        })
        .collect()
}

/// Severity first, then score, then the evidence as text (so equal scores have a fixed order).
fn sort(findings: &mut Vec<Finding>) {
    // The evidence's text is the last tie-breaker: written once per finding, not per comparison.
    let mut keyed: Vec<(String, Finding)> = findings
        .drain(..)
        .map(|f| (serde_json::to_string(&f.evidence).unwrap_or_default(), f))
        .collect();
    keyed.sort_by(|(ta, a), (tb, b)| {
        b.severity
            .cmp(&a.severity)
            .then(b.score.total_cmp(&a.score))
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| ta.cmp(tb))
    });
    findings.extend(keyed.into_iter().map(|(_, f)| f));
}

/// A timestamp of a query row (RFC 3339 text, as rows come out of [`to_objects`]).
pub(crate) fn time_of(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The window to report on: `--since`/`--until` when given; otherwise the 24 hours up to the
/// end of the last hour with data in the lake (so a report on a lake of past data is useful
/// without arguments).
pub fn window(session: &LakeSession, opts: &Options) -> Result<Window> {
    if opts.since.is_some() || opts.until.is_some() {
        return crate::window::resolve(
            opts.since.as_deref(),
            opts.until.as_deref(),
            Duration::days(1),
            opts.now,
        );
    }
    let manifest = &session.manifest;
    let last = manifest
        .partitions
        .values()
        .flatten()
        .map(|f| f.max_time_us)
        .max();
    let until = match last {
        Some(us) => {
            hour_floor(Utc.timestamp_micros(us).single().unwrap_or(opts.now)) + Duration::hours(1)
        }
        None => hour_floor(opts.now) + Duration::hours(1),
    };
    Ok(Window {
        since: until - Duration::days(1),
        until,
    })
}

/// Checks the settings against the session, resolves the window and baseline, and measures
/// coverage (which the queries' "hours with data" parameters come from).
async fn prepare<'a>(
    session: &'a LakeSession,
    settings: &'a Checked,
    opts: &Options,
) -> Result<(Runner<'a>, Coverage)> {
    for name in settings.set_names() {
        if session.sets.get(name).is_none() {
            return Err(Error::Invalid(format!(
                "[report] names IP set '{name}', which is not loaded; add it under [sets] or with --set {name}=PATH"
            )));
        }
    }
    let window = window(session, opts)?;
    let span_text = opts
        .baseline
        .clone()
        .unwrap_or_else(|| settings.raw.baseline.clone());
    let span = parse_span(&span_text).ok_or_else(|| {
        Error::Invalid(format!(
            "--baseline '{span_text}': expected a span such as 7d, 14d or 2w"
        ))
    })?;
    let baseline = window.before(span);
    let mut runner = Runner {
        session,
        settings,
        window,
        baseline,
        window_hours: 0,
        baseline_hours: 0,
    };
    let cov_rows = runner.rows("coverage.sql", &[]).await?;
    let coverage = coverage(&cov_rows, window, baseline);
    runner.window_hours = coverage.window_hours_with_data;
    runner.baseline_hours = coverage.baseline_hours_with_data;
    Ok((runner, coverage))
}

/// The report's queries as they would run (window, baseline and settings filled in), for
/// reading, checking or running elsewhere (`flowlake report --print-sql`).
pub async fn queries(
    session: &LakeSession,
    settings: &Checked,
    opts: &Options,
) -> Result<Vec<(&'static str, String)>> {
    let (runner, _) = prepare(session, settings, opts).await?;
    let files: &[&'static str] = match opts.kind {
        Kind::Exfil => &["coverage.sql", "exfil.sql"],
        Kind::Exposure => &["coverage.sql", "exposure.sql", "scans.sql"],
        Kind::Rules => &["coverage.sql", "rules.sql", "nsg_coverage.sql"],
        Kind::Summary => &["coverage.sql", "top_talkers.sql", "timeline.sql"],
    };
    files
        .iter()
        .map(|f| Ok((*f, runner.sql(f, &[])?)))
        .collect()
}

/// Produces a report.
pub async fn run(
    session: &LakeSession,
    settings: &Checked,
    nsgs: &[Nsg],
    opts: &Options,
) -> Result<Report> {
    let (runner, coverage) = prepare(session, settings, opts).await?;
    let (window, baseline) = (runner.window, runner.baseline);

    let mut found = match opts.kind {
        Kind::Exfil => findings(runner.rows("exfil.sql", &[]).await?, settings)?,
        Kind::Exposure => {
            let mut f = findings(runner.rows("exposure.sql", &[]).await?, settings)?;
            f.extend(findings(runner.rows("scans.sql", &[]).await?, settings)?);
            f
        }
        Kind::Rules => {
            let mut f = findings(runner.rows("rules.sql", &[]).await?, settings)?;
            if !nsgs.is_empty() {
                let cov = runner.rows("nsg_coverage.sql", &[]).await?;
                f.extend(audit::definitions(nsgs, &f, &cov, settings));
            }
            f
        }
        Kind::Summary => summary_findings(&coverage, settings),
    };
    sort(&mut found);
    let mut report = Report {
        report: opts.kind,
        generated_at: opts.now,
        window: window.into(),
        baseline: baseline.into(),
        coverage,
        counts: Counts::of(&found),
        findings: found,
        top_talkers: vec![],
        timeline: vec![],
        series: BTreeMap::new(),
    };
    if opts.kind == Kind::Summary || opts.charts {
        report.top_talkers = runner.rows("top_talkers.sql", &[]).await?;
        report.timeline = runner.rows("timeline.sql", &[]).await?;
        if opts.kind == Kind::Summary {
            let extra = report
                .top_talkers
                .iter()
                .map(|t| Finding::new("top_talker", Severity::Info, 0.0, t.clone(), settings))
                .collect::<Vec<_>>();
            report.findings.extend(extra);
            report.counts = Counts::of(&report.findings);
        }
    }
    if opts.charts {
        report.series = series(&runner, &report.findings, settings.raw.top).await?;
    }
    Ok(report)
}

/// Coverage from `(nic, hour, tuples)` rows over the baseline and the window.
fn coverage(rows: &[Map<String, Value>], window: Window, baseline: Window) -> Coverage {
    let mut per_nic: BTreeMap<&str, BTreeSet<DateTime<Utc>>> = BTreeMap::new();
    let mut window_hours = BTreeSet::new();
    let mut baseline_hours = BTreeSet::new();
    let mut c = Coverage {
        window_hours: (window.until - window.since).num_hours(),
        ..Coverage::default()
    };
    for r in rows {
        let (Some(nic), Some(hour)) =
            (r.get("nic").and_then(Value::as_str), time_of(r.get("hour")))
        else {
            continue;
        };
        let tuples = r.get("tuples").and_then(Value::as_u64).unwrap_or(0);
        let set = per_nic.entry(nic).or_default();
        if hour >= window.since {
            window_hours.insert(hour);
            set.insert(hour);
            c.tuples += tuples;
        } else if hour >= baseline.since {
            baseline_hours.insert(hour);
            c.baseline_tuples += tuples;
        }
    }
    c.nics = per_nic.len();
    c.nics_in_window = per_nic.values().filter(|s| !s.is_empty()).count();
    c.window_hours_with_data = window_hours.len();
    c.baseline_hours_with_data = baseline_hours.len();
    c.nic_hours_with_data = per_nic.values().map(BTreeSet::len).sum();
    let first = hour_floor(window.since);
    let mut gaps = vec![];
    for (nic, hours) in &per_nic {
        let mut h = first;
        let mut start: Option<DateTime<Utc>> = None;
        while h < window.until {
            match (hours.contains(&h), start) {
                (false, None) => start = Some(h),
                (true, Some(s)) => {
                    gaps.push(Gap {
                        nic: nic.to_string(),
                        since: s,
                        until: h,
                        hours: (h - s).num_hours(),
                    });
                    start = None;
                }
                _ => {}
            }
            h += Duration::hours(1);
        }
        if let Some(s) = start {
            gaps.push(Gap {
                nic: nic.to_string(),
                since: s,
                until: window.until,
                hours: (window.until - s).num_hours().max(1),
            });
        }
    }
    gaps.sort_by(|a, b| {
        b.hours
            .cmp(&a.hours)
            .then_with(|| a.nic.cmp(&b.nic))
            .then(a.since.cmp(&b.since))
    });
    c.gaps_total = gaps.len();
    gaps.truncate(50);
    c.gaps = gaps;
    c
}

/// The summary's findings: coverage gaps (a NIC silent for the whole window is medium).
fn summary_findings(c: &Coverage, settings: &Checked) -> Vec<Finding> {
    c.gaps
        .iter()
        .map(|g| {
            let whole = g.hours >= c.window_hours;
            let mut ev = Map::new();
            ev.insert("nic".into(), g.nic.clone().into());
            ev.insert(
                "since".into(),
                g.since.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
            );
            ev.insert(
                "until".into(),
                g.until.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
            );
            ev.insert("hours".into(), g.hours.into());
            let severity = if whole {
                Severity::Medium
            } else {
                Severity::Low
            };
            let score = ((g.hours as f64) / (c.window_hours.max(1) as f64)).min(1.0);
            Finding::new("coverage_gap", severity, score, ev, settings)
        })
        .collect()
}

/// Bytes (tuples for scans) per hour for the `top` most urgent findings, from one query per report.
async fn series(
    runner: &Runner<'_>,
    findings: &[Finding],
    top: usize,
) -> Result<BTreeMap<usize, Vec<(DateTime<Utc>, f64)>>> {
    let chosen: Vec<(usize, &Finding)> = findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.severity > Severity::Info)
        .take(top)
        .collect();
    let mut ips = BTreeSet::new();
    for (_, f) in &chosen {
        for k in ["src_ip", "dst_ip", "ip"] {
            if let Some(v) = f.text(k) {
                ips.insert(v.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    if ips.is_empty() {
        return Ok(out);
    }
    let list = ips
        .iter()
        .map(|ip| format!("'{}'", ip.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = runner.rows("series.sql", &[("addresses", list)]).await?;
    for (i, f) in chosen {
        let matches = |r: &Map<String, Value>| -> bool {
            let eq = |col: &str, key: &str| match f.evidence.get(key) {
                Some(v) if !v.is_null() => r.get(col) == Some(v),
                _ => true,
            };
            if f.evidence.contains_key("src_ip") {
                let whole_source = f.kind == "volume_anomaly";
                eq("src_ip", "src_ip")
                    && (whole_source
                        || (eq("dst_ip", "dst_ip")
                            && eq("dst_port", "dst_port")
                            && eq("protocol", "protocol")))
            } else if f.evidence.contains_key("ip") {
                r.get("dst_ip") == f.evidence.get("ip")
                    && (f.kind == "scan_pressure"
                        || (eq("dst_port", "port") && eq("protocol", "protocol")))
            } else {
                false
            }
        };
        // Denied scans carry no bytes: chart their tuples instead.
        let measure = if f.kind == "scan_pressure" {
            "tuples"
        } else {
            "bytes"
        };
        // Every hour of the window, so quiet hours show as zero rather than as a line.
        let mut by_hour: BTreeMap<DateTime<Utc>, f64> = BTreeMap::new();
        let mut h = hour_floor(runner.window.since);
        while h < runner.window.until {
            by_hour.insert(h, 0.0);
            h += Duration::hours(1);
        }
        for r in rows.iter().filter(|r| matches(r)) {
            if let Some(h) = time_of(r.get("hour")) {
                *by_hour.entry(h).or_default() +=
                    r.get(measure).and_then(Value::as_f64).unwrap_or(0.0);
            }
        }
        if by_hour.values().any(|v| *v > 0.0) {
            out.insert(i, by_hour.into_iter().collect());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_unknown_ones_are_errors() {
        let v = |name: &str, arg: Option<&str>| match (name, arg) {
            ("a", None) => Some("1".to_string()),
            ("p", Some("dst")) => Some("dst_ip = 'x'".to_string()),
            _ => None,
        };
        assert_eq!(
            render_sql("t.sql", "SELECT {{a}}, {{ p(dst) }} -- {{a}}", v).unwrap(),
            "SELECT 1, dst_ip = 'x' -- 1"
        );
        let e = render_sql("t.sql", "SELECT {{b}}", v)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "t.sql: unknown placeholder {{b}}");
        let e = render_sql("t.sql", "SELECT {{a", v)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.sql: '{{' without"), "{e}");
    }

    #[test]
    fn every_shipped_query_renders_with_default_settings() {
        let settings = Settings::default().check().unwrap();
        for (file, text) in SQL {
            let sql = render_sql(file, text, |name, arg| match (name, arg) {
                ("since" | "until" | "baseline_since", None) => {
                    Some("TIMESTAMP '2026-11-01T00:00:00Z'".into())
                }
                ("window_hours" | "baseline_hours", None) => Some("24".into()),
                ("addresses", None) => Some("'10.0.0.1'".into()),
                _ => settings.render(name, arg),
            })
            .unwrap_or_else(|e| panic!("{e}"));
            assert!(!sql.contains("{{"), "{file}");
        }
    }
}
