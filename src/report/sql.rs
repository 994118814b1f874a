//! The report queries: the SQL files compiled into the binary, their `{{placeholders}}`,
//! and running them into rows.
//!
//! Why: the logic of every report is readable SQL (`sql/reports/*.sql`) that `--print-sql`
//! shows and other engines can run; this is the one place that fills in the window, the
//! baseline and the `[report]` settings, runs a file and hands its rows on.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::json;
use datafusion::error::DataFusionError;
use futures::TryStreamExt;
use serde_json::{Map, Value};

use super::model::QueryTiming;
use super::settings::Checked;
use super::source::{Source, ts};
use crate::error::{Error, Result};
use crate::query::LakeSession;
use crate::window::Window;

/// The SQL of each report, by file name.
pub const SQL: &[(&str, &str)] = &[
    ("exfil.sql", include_str!("../../sql/reports/exfil.sql")),
    (
        "exposure.sql",
        include_str!("../../sql/reports/exposure.sql"),
    ),
    ("scans.sql", include_str!("../../sql/reports/scans.sql")),
    (
        "workloads.sql",
        include_str!("../../sql/reports/workloads.sql"),
    ),
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
    (
        "egress_places.sql",
        include_str!("../../sql/reports/egress_places.sql"),
    ),
    ("series.sql", include_str!("../../sql/reports/series.sql")),
];

/// Whether `file` reads the hours with data (`{{window_hours}}`, `{{baseline_hours}}`),
/// which only `coverage.sql`'s rows tell: it waits for them, where the others need not.
pub fn needs_coverage(file: &str) -> Result<bool> {
    let text = text_of(file)?;
    let found = std::cell::Cell::new(false);
    render_sql(file, text, |name, _| {
        if matches!(name, "window_hours" | "baseline_hours") {
            found.set(true);
        }
        Some(String::new())
    })?;
    Ok(found.get())
}

/// The SQL text of report query `file`.
fn text_of(file: &str) -> Result<&'static str> {
    SQL.iter()
        .find(|(n, _)| *n == file)
        .map(|(_, t)| *t)
        .ok_or_else(|| template_error(file, "no such report query".into()))
}

/// A report query that cannot be filled in (a bug in the SQL file, not in the input).
fn template_error(file: &str, message: String) -> Error {
    Error::ReportSql {
        file: file.to_string(),
        message,
    }
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
            .ok_or_else(|| template_error(file, "'{{' without '}}'".into()))?;
        let inner = after[..j].trim();
        let (name, arg) = match inner.split_once('(') {
            Some((n, a)) => (n.trim(), Some(a.trim_end_matches(')').trim())),
            None => (inner, None),
        };
        let v = value(name, arg)
            .ok_or_else(|| template_error(file, format!("unknown placeholder {{{{{inner}}}}}")))?;
        out.push_str(&v);
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `{{subject(src)}}`: what a source (or destination) is for baselines. With an inventory,
/// its `namespace/workload` when the row's first tuple was seen, so a rolling restart's new pod addresses are
/// the same source; a node's address is `node:NAME`; else (or for an address the inventory
/// does not know) its address.
fn subject(side: &str, inventory: bool) -> Option<String> {
    if side != "src" && side != "dst" {
        return None;
    }
    Some(match inventory {
        false => format!("{side}_ip"),
        true => format!("coalesce(k8s_subject({side}_ip, first_seen), {side}_ip)"),
    })
}

/// `{{outside_group(src)}}`: the group an outside address is drawn in: its narrowest Azure
/// service tag when tags are loaded, else its /24 (/64 for IPv6).
fn outside_group(side: &str, tags: bool) -> Option<String> {
    if side != "src" && side != "dst" {
        return None;
    }
    let net = format!(
        "CASE WHEN ip_version({side}_ip) = 6 THEN ip_network({side}_ip, 64) ELSE ip_network({side}_ip, 24) END"
    );
    Some(match tags {
        true => format!("coalesce(service_tag({side}_ip), {net})"),
        false => net,
    })
}

/// `{{country_of(dst)}}`, `{{asn_of(dst)}}`: where an address is, from the location
/// databases; typed NULLs without them (so the query runs, and runs elsewhere, unchanged).
fn place(name: &str, side: &str, geo: bool) -> Option<String> {
    if side != "src" && side != "dst" {
        return None;
    }
    Some(match (name, geo) {
        ("country_of", true) => format!("geo_country({side}_ip)"),
        ("asn_of", true) => format!("asn({side}_ip)"),
        ("country_of", false) => "CAST(NULL AS VARCHAR)".into(),
        ("asn_of", false) => "CAST(NULL AS BIGINT)".into(),
        _ => return None,
    })
}

/// `{{internal(src)}}` with an inventory: the settings' own ranges, or one of the cluster's
/// load-balancer and external addresses (public, but a destination inside the cluster: with
/// Azure's floating IP the node's NIC logs inbound traffic to the frontend address).
fn with_frontends(own: String, side: &str, frontends: &[&str]) -> String {
    if frontends.is_empty() {
        return own;
    }
    let list: Vec<String> = frontends.iter().map(|a| format!("'{a}'")).collect();
    format!("({own} OR {side}_ip IN ({}))", list.join(", "))
}

/// Runs report queries with one window, baseline and settings.
pub struct Runner<'a> {
    pub(super) session: &'a LakeSession,
    pub(super) settings: &'a Checked,
    /// The window reported on.
    pub window: Window,
    /// The baseline before it.
    pub baseline: Window,
    /// Hours of the window with data (a placeholder the queries scale rates with).
    pub window_hours: usize,
    /// Hours of the baseline with data.
    pub baseline_hours: usize,
    /// What the queries read (`{{rows}}`).
    pub source: Source,
    /// Each query's time, as it ran ([`super::Report::timings`]).
    pub(super) timings: std::sync::Mutex<Vec<QueryTiming>>,
}

impl Runner<'_> {
    fn value(&self, name: &str, arg: Option<&str>) -> Option<String> {
        match (name, arg) {
            ("since", None) => Some(ts(self.window.since)),
            ("until", None) => Some(ts(self.window.until)),
            ("baseline_since", None) => Some(ts(self.baseline.since)),
            ("rows", None) => Some(self.source.relation()),
            ("nic_hours", None) => Some(self.source.nic_relation()),
            ("window_hours", None) => Some(self.window_hours.to_string()),
            ("baseline_hours", None) => Some(self.baseline_hours.to_string()),
            ("subject", Some(side)) => subject(side, !self.session.inventory.is_empty()),
            ("outside_group", Some(side)) => outside_group(side, self.session.sets.has_tags()),
            ("country_of" | "asn_of", Some(side)) => {
                place(name, side, !self.session.geo.is_empty())
            }
            ("internal", Some(side @ ("src" | "dst"))) => {
                let own = self.settings.render(name, arg)?;
                Some(with_frontends(
                    own,
                    side,
                    &self.session.inventory.frontends(),
                ))
            }
            _ => self.settings.render(name, arg),
        }
    }

    /// Renders the SQL file `file` with the window, settings and `extra` values.
    pub fn sql(&self, file: &str, extra: &[(&str, String)]) -> Result<String> {
        render_sql(file, text_of(file)?, |name, arg| {
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
        file: &'static str,
        extra: &[(&str, String)],
    ) -> Result<Vec<Map<String, Value>>> {
        self.start(file, extra)?.rows(self).await
    }

    /// Renders `file` and starts running it on the runtime: a report's independent queries
    /// run at the same time, each planning while the others run.
    pub fn start(&self, file: &'static str, extra: &[(&str, String)]) -> Result<Running> {
        let sql = self.sql(file, extra)?;
        let ctx = self.session.ctx.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let stream = crate::query::run::stream(ctx.sql(&sql).await?).await?;
            let planned = Instant::now();
            let batches: Vec<RecordBatch> = stream.try_collect().await?;
            Ok((batches, planned - started, planned.elapsed()))
        });
        Ok(Running {
            file,
            task: Some(task),
        })
    }
}

/// What a report query's task gives: its batches, planning time and running time.
type Ran = std::result::Result<(Vec<RecordBatch>, Duration, Duration), DataFusionError>;

/// A report query running ([`Runner::start`]). Dropped before its rows were taken (the report
/// failed, or was cancelled), it stops the query (on a cluster, cancelling its job).
pub struct Running {
    file: &'static str,
    task: Option<tokio::task::JoinHandle<Ran>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl Running {
    /// Waits for its rows (as JSON objects, timestamps in RFC 3339) and records its time.
    pub async fn rows(mut self, runner: &Runner<'_>) -> Result<Vec<Map<String, Value>>> {
        let file = self.file;
        let failed = |e: DataFusionError| {
            Error::Query(DataFusionError::Context(file.to_string(), Box::new(e)))
        };
        let Some(task) = self.task.as_mut() else {
            return Ok(vec![]);
        };
        let ran = task.await;
        self.task = None;
        let (batches, plan, run) = match ran {
            Ok(r) => r.map_err(failed)?,
            Err(e) => return Err(failed(DataFusionError::External(Box::new(e)))),
        };
        if let Ok(mut t) = runner.timings.lock() {
            t.push(QueryTiming {
                file,
                plan,
                run,
                rows: batches.iter().map(RecordBatch::num_rows).sum(),
            });
        }
        to_objects(file, &batches)
    }
}

/// Rows of `batches` as JSON objects, nulls kept.
fn to_objects(file: &'static str, batches: &[RecordBatch]) -> Result<Vec<Map<String, Value>>> {
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
    serde_json::from_slice(&bytes).map_err(|e| Error::ReportRows {
        file,
        message: e.to_string(),
    })
}

/// A timestamp of a query row (RFC 3339 text, as rows come out of [`to_objects`]).
pub(crate) fn time_of(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clusters_frontends_are_internal_destinations() {
        let own = "dst_class IN ('private', 'cgnat')".to_string();
        assert_eq!(with_frontends(own.clone(), "dst", &[]), own);
        assert_eq!(
            with_frontends(own, "dst", &["20.31.200.16", "20.31.200.17"]),
            "(dst_class IN ('private', 'cgnat') OR dst_ip IN ('20.31.200.16', '20.31.200.17'))"
        );
    }

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
    fn queries_that_scale_by_hours_with_data_wait_for_coverage() {
        let waits: Vec<&str> = SQL
            .iter()
            .map(|(f, _)| *f)
            .filter(|f| needs_coverage(f).unwrap())
            .collect();
        assert_eq!(waits, ["exfil.sql", "exposure.sql", "workloads.sql"]);
        assert!(needs_coverage("nope.sql").is_err());
    }

    #[test]
    fn every_shipped_query_renders_with_default_settings() {
        let settings = crate::report::Settings::default().check().unwrap();
        for (file, text) in SQL {
            let sql = render_sql(file, text, |name, arg| match (name, arg) {
                ("since" | "until" | "baseline_since", None) => {
                    Some("TIMESTAMP '2026-11-01T00:00:00Z'".into())
                }
                ("window_hours" | "baseline_hours", None) => Some("24".into()),
                ("addresses", None) => Some("'10.0.0.1'".into()),
                ("rows", None) => Some("hourly".into()),
                ("nic_hours", None) => Some("coverage".into()),
                ("subject", Some(side)) => subject(side, true),
                ("outside_group", Some(side)) => outside_group(side, false),
                ("country_of" | "asn_of", Some(side)) => place(name, side, true),
                _ => settings.render(name, arg),
            })
            .unwrap_or_else(|e| panic!("{e}"));
            assert!(!sql.contains("{{"), "{file}");
        }
    }
}
