//! Reports: exfiltration, exposure, rule audit and summary, as findings a person can act on.
//!
//! Why: the lake and the functions answer any question, but the three weekly questions
//! (is data leaving? what is exposed? are the rules right?) deserve answers that come ready,
//! on a schedule, with a reason for each finding. The logic lives in readable SQL
//! (`sql/reports/*.sql`, compiled into the binary, filled in by [`sql`]); this module resolves
//! the window, runs the report's queries as [`PLAN`] lists them, turns rows into findings
//! with a one-sentence reason ([`reason`]), sorts them and hands them to [`render`].
//!
//! Flow: window → what to read (the hourly rollup or raw tuples, [`source`]) → coverage (which NICs and hours have data, [`coverage`]) → the report's
//! queries → rows → addresses' holders at the time from the inventory ([`holders`]) →
//! [`Finding`]s, one per subject ([`subjects`]) (+ rule definitions for the audit, [`audit`]) → chart data
//! ([`series`]) → sorted, deterministic [`Report`] ([`model`]).

pub mod audit;
pub mod coverage;
pub mod graph;
pub mod holders;
pub mod html;
pub mod model;
pub mod places;
pub mod reason;
pub mod render;
pub mod series;
pub mod settings;
pub mod source;
pub mod sql;
pub mod subjects;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::lake::manifest::Manifest;
use crate::nsg::Nsg;
use crate::query::LakeSession;
use crate::window::{Window, hour_floor, parse_span};

pub use model::{Counts, Coverage, Finding, Gap, Kind, QueryTiming, Report, Severity, Span};
pub use settings::{Checked, Settings};
pub use source::Source;
pub use sql::{Runner, SQL, render_sql};

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
    /// NSG definitions were given: the rules report audits them (`nsg_coverage.sql`).
    pub nsg_definitions: bool,
    /// Location databases are loaded: the summary (and HTML) show egress by country and AS
    /// (`egress_places.sql`).
    pub places: bool,
    /// Read raw tuples, not the hourly rollup (`--raw`; see [`source`]).
    pub raw: bool,
}

/// When a report runs a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Every time.
    Always,
    /// When NSG definitions were given (`--nsg`, `[report] nsg_files`).
    NsgDefinitions,
    /// For the summary, and for charts (HTML).
    SummaryOrCharts,
    /// For charts (HTML) only; its addresses come from the findings.
    Charts,
    /// For the summary and for charts, with location databases.
    SummaryOrChartsWithPlaces,
}

/// Which queries each report runs, in order, after `coverage.sql` (which every report runs
/// first): the one table both [`run`] and `--print-sql` ([`queries`]) follow.
pub const PLAN: &[(Option<Kind>, &str, When)] = &[
    (Some(Kind::Exfil), "exfil.sql", When::Always),
    (Some(Kind::Exposure), "exposure.sql", When::Always),
    (Some(Kind::Exposure), "scans.sql", When::Always),
    (Some(Kind::Rules), "rules.sql", When::Always),
    (Some(Kind::Rules), "nsg_coverage.sql", When::NsgDefinitions),
    (Some(Kind::Workloads), "workloads.sql", When::Always),
    (None, "top_talkers.sql", When::SummaryOrCharts),
    (None, "timeline.sql", When::SummaryOrCharts),
    (None, "egress_places.sql", When::SummaryOrChartsWithPlaces),
    (None, "series.sql", When::Charts),
];

/// The query files a report with `opts` runs, in order.
pub fn plan(opts: &Options) -> Vec<&'static str> {
    let mut files = vec!["coverage.sql"];
    files.extend(PLAN.iter().filter_map(|&(kind, file, when)| {
        let runs = kind.is_none_or(|k| k == opts.kind)
            && match when {
                When::Always => true,
                When::NsgDefinitions => opts.nsg_definitions,
                When::SummaryOrCharts => opts.kind == Kind::Summary || opts.charts,
                When::Charts => opts.charts,
                When::SummaryOrChartsWithPlaces => {
                    opts.places && (opts.kind == Kind::Summary || opts.charts)
                }
            };
        runs.then_some(file)
    }));
    files
}

/// Turns a query's rows into findings: `kind`, `severity` and `score` columns become the
/// finding's own fields, the rest its evidence; the reason is written from both.
/// Each row must carry the evidence its kind's reason reads ([`reason::EVIDENCE`]), so a
/// column renamed in the SQL is an error rather than a `?` in the reason.
fn findings(
    file: &'static str,
    rows: Vec<Map<String, Value>>,
    settings: &Checked,
    session: &LakeSession,
) -> Result<Vec<Finding>> {
    let bad = |message: String| Error::ReportRows { file, message };
    rows.into_iter()
        .map(|mut row| {
            let kind = match row.shift_remove("kind") {
                Some(Value::String(s)) => s,
                other => return Err(bad(format!("a row without a kind: {other:?}"))),
            };
            let severity = row
                .shift_remove("severity")
                .and_then(|v| v.as_str().and_then(|s| s.parse::<Severity>().ok()))
                .ok_or_else(|| bad(format!("a {kind} row without a severity")))?;
            if let Some(missing) = reason::missing_evidence(&kind, &row) {
                return Err(bad(missing));
            }
            holders::annotate(&mut row, &session.inventory);
            places::annotate(&mut row, &session.geo);
            // Which feed a threat-listed address is on, as its file names itself.
            let feed = row.get("threat_feed").and_then(Value::as_str);
            if let Some(set) = feed.and_then(|n| session.sets.get(n)) {
                row.insert("threat_source".into(), set.feed().into());
            }
            // An endpoint of a Service declared expected is reported as info.
            let severity = match settings.expected_service(&row) {
                true => {
                    row.insert("expected".into(), Value::Bool(true));
                    Severity::Info
                }
                false => severity,
            };
            let score = row
                .shift_remove("score")
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0);
            Ok(Finding::new(&kind, severity, score, row, settings))
        })
        .collect()
}

/// The rows of `file`, started by [`run`].
async fn take(
    running: &mut BTreeMap<&str, sql::Running>,
    runner: &Runner<'_>,
    file: &'static str,
) -> Result<Vec<Map<String, Value>>> {
    match running.remove(file) {
        Some(r) => r.rows(runner).await,
        None => runner.rows(file, &[]).await,
    }
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

/// The window to report on: `--since`/`--until` when given; otherwise the 24 hours up to the
/// end of the last hour with data in the lake (so a report on a lake of past data is useful
/// without arguments).
pub fn window(manifest: &Manifest, opts: &Options) -> Result<Window> {
    if opts.since.is_some() || opts.until.is_some() {
        return crate::window::resolve(
            opts.since.as_deref(),
            opts.until.as_deref(),
            Duration::days(1),
            opts.now,
        );
    }
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

/// A report's window and the baseline before it, resolved once from one manifest (the
/// CLI's, which the session then reads as well) and handed to [`run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spans {
    /// The window the findings are about.
    pub window: Window,
    /// The span before it that "new" and "unusual" are judged against.
    pub baseline: Window,
}

impl Spans {
    /// `[baseline start, window end)` in µs since the epoch: what the report's session needs
    /// of the inventory ([`crate::query::QueryOptions::inventory_span`]).
    pub fn inventory_span(&self) -> (i64, i64) {
        (
            self.baseline.since.timestamp_micros(),
            self.window.until.timestamp_micros(),
        )
    }
}

/// The window and the baseline before it: what a report reads (and, with an inventory,
/// what its session needs indexed: [`Spans::inventory_span`]).
pub fn spans(manifest: &Manifest, settings: &Checked, opts: &Options) -> Result<Spans> {
    let window = window(manifest, opts)?;
    let span_text = opts
        .baseline
        .clone()
        .unwrap_or_else(|| settings.raw.baseline.clone());
    let flag = match opts.baseline {
        Some(_) => "--baseline",
        None => "[report] baseline",
    };
    let span = parse_span(&span_text).map_err(|why| {
        Error::Invalid(format!(
            "{flag} '{span_text}': expected a span such as 7d, 14d or 2w: {why}"
        ))
    })?;
    // A baseline shorter than an hour holds no whole hour of the rollup: the kinds judged
    // against it (new destinations, unusual volume, new endpoints) would silently vanish.
    if span < Duration::hours(1) {
        return Err(Error::Invalid(format!(
            "{flag} '{span_text}': a baseline shorter than an hour leaves nothing to judge \"new\" and \"unusual\" against; give at least 1h (default 7d)"
        )));
    }
    let baseline = window.before(span).ok_or_else(|| {
        Error::Invalid(format!(
            "{flag} '{span_text}': reaches back before the earliest time there is"
        ))
    })?;
    Ok(Spans { window, baseline })
}

/// Checks the settings against the session and chooses what the queries read: a runner
/// whose hours with data are not known yet ([`with_coverage`]).
fn runner<'a>(
    session: &'a LakeSession,
    settings: &'a Checked,
    opts: &Options,
    spans: Spans,
) -> Result<Runner<'a>> {
    for name in settings.set_names() {
        if session.sets.get(name).is_none() {
            return Err(Error::Invalid(format!(
                "[report] names IP set '{name}', which is not loaded; add it under [sets] or with --set {name}=PATH"
            )));
        }
    }
    if !settings.denied_countries.is_empty() && session.geo.is_empty() {
        return Err(Error::Invalid(
            "[report] denied_countries needs location databases: name them under [geo] databases or with --geo-db PATH".into(),
        ));
    }
    let Spans { window, baseline } = spans;
    let source = Source::choose(
        &session.manifest,
        (baseline.since, window.since, window.until),
        opts.raw,
        (
            session.ctx.table_exist("hourly")?,
            session.ctx.table_exist("coverage")?,
        ),
    )?;
    Ok(Runner {
        session,
        settings,
        window,
        baseline,
        window_hours: 0,
        baseline_hours: 0,
        source,
        timings: Default::default(),
    })
}

/// Measures coverage from `coverage.sql`'s rows and gives the runner the hours with data
/// (which the queries' "hours with data" placeholders scale rates with).
async fn with_coverage(runner: &mut Runner<'_>, running: sql::Running) -> Result<Coverage> {
    let rows = running.rows(runner).await?;
    let coverage = coverage::coverage(&rows, runner.window, runner.baseline);
    runner.window_hours = coverage.window_hours_with_data;
    runner.baseline_hours = coverage.baseline_hours_with_data;
    Ok(coverage)
}

/// The report's queries as they would run (window, baseline and settings filled in), for
/// reading, checking or running elsewhere (`flowlake report --print-sql`), in [`plan`]'s
/// order. `series.sql` names the addresses of the top findings, known only once they ran:
/// it is shown with none.
pub async fn queries(
    session: &LakeSession,
    settings: &Checked,
    opts: &Options,
    spans: Spans,
) -> Result<Vec<(&'static str, String)>> {
    let mut runner = runner(session, settings, opts, spans)?;
    let coverage = runner.start("coverage.sql", &[])?;
    with_coverage(&mut runner, coverage).await?;
    plan(opts)
        .into_iter()
        .map(|f| Ok((f, runner.sql(f, &[("addresses", "NULL".to_string())])?)))
        .collect()
}

/// Produces a report: runs [`plan`]'s queries and turns their rows into findings in plan
/// order. The queries run at the same time: those that need the hours with data
/// ([`sql::needs_coverage`]) start once `coverage.sql` has run, the others with it;
/// `series.sql` (which names the top findings' addresses) last.
pub async fn run(
    session: &LakeSession,
    settings: &Checked,
    nsgs: &[Nsg],
    opts: &Options,
    spans: Spans,
) -> Result<Report> {
    let mut runner = runner(session, settings, opts, spans)?;
    let files = plan(opts);
    // Every query but coverage.sql (run first) and series.sql (run last, on the findings).
    let queries: Vec<&'static str> = files
        .iter()
        .copied()
        .filter(|f| !matches!(*f, "coverage.sql" | "series.sql"))
        .collect();
    let coverage_run = runner.start("coverage.sql", &[])?;
    let mut running: BTreeMap<&str, sql::Running> = BTreeMap::new();
    for &f in &queries {
        if !sql::needs_coverage(f)? {
            running.insert(f, runner.start(f, &[])?);
        }
    }
    let coverage = with_coverage(&mut runner, coverage_run).await?;
    for &f in &queries {
        if !running.contains_key(f) {
            running.insert(f, runner.start(f, &[])?);
        }
    }
    let mut report = Report {
        report: opts.kind,
        generated_at: opts.now,
        window: runner.window.into(),
        baseline: runner.baseline.into(),
        source: runner.source.clone(),
        coverage,
        counts: Counts::default(),
        findings: vec![],
        top_talkers: vec![],
        timeline: vec![],
        egress_by_country: vec![],
        egress_by_asn: vec![],
        series: BTreeMap::new(),
        timings: vec![],
    };
    if opts.kind == Kind::Summary {
        report.findings = coverage::summary_findings(&report.coverage, settings);
    }
    // The summary lists its top talkers after the other findings, in the query's order.
    let mut talkers = vec![];
    // Findings about one subject become one, once all are in (before the charts pick the top).
    let mut merged = false;
    for file in files {
        match file {
            "coverage.sql" => {}
            "nsg_coverage.sql" => {
                let cov = take(&mut running, &runner, file).await?;
                let audit = audit::definitions(nsgs, &report.findings, &cov, settings);
                report.findings.extend(audit);
            }
            "top_talkers.sql" => {
                report.top_talkers = take(&mut running, &runner, file).await?;
                if opts.kind == Kind::Summary {
                    talkers = report
                        .top_talkers
                        .iter()
                        .map(|t| {
                            Finding::new("top_talker", Severity::Info, 0.0, t.clone(), settings)
                        })
                        .collect();
                }
            }
            "timeline.sql" => report.timeline = take(&mut running, &runner, file).await?,
            "egress_places.sql" => {
                for row in take(&mut running, &runner, file).await? {
                    if opts.kind == Kind::Summary {
                        talkers.push(Finding::new(
                            "egress_place",
                            Severity::Info,
                            0.0,
                            row.clone(),
                            settings,
                        ));
                    }
                    match row.get("grouping").and_then(Value::as_str) {
                        Some("country") => report.egress_by_country.push(row),
                        _ => report.egress_by_asn.push(row),
                    }
                }
            }
            "series.sql" => {
                report.findings = subjects::merge(std::mem::take(&mut report.findings));
                merged = true;
                sort(&mut report.findings);
                report.series = series::series(&runner, &report.findings, settings.raw.top).await?;
            }
            _ => {
                let rows = take(&mut running, &runner, file).await?;
                report
                    .findings
                    .extend(findings(file, rows, settings, session)?);
            }
        }
    }
    if !merged {
        report.findings = subjects::merge(std::mem::take(&mut report.findings));
    }
    sort(&mut report.findings);
    report.findings.extend(talkers);
    report.counts = Counts::of(&report.findings);
    report.timings = runner.timings.into_inner().unwrap_or_default();
    Ok(report)
}
