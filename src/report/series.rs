//! Bytes per hour of the most urgent findings, for the HTML page's charts.
//!
//! Why: a chart shows whether a transfer was one burst or a steady leak. One query fetches the
//! hourly traffic of every address the top findings name; each finding then keeps the rows
//! that match its own evidence.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use super::sql::{Runner, time_of};
use super::{Finding, Severity};
use crate::error::Result;
use crate::window::hour_floor;

/// Bytes (tuples for scans) per hour for the `top` most urgent findings, from one query per report.
pub(super) async fn series(
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
