//! Coverage: which NICs and hours of the window and baseline have flow logs, the gaps, and
//! the summary's findings about them.
//!
//! Why: a report is only as good as the logs under it. Every report states its coverage, and
//! the baseline's hours with data scale its rates, so a NIC that logged half the baseline is
//! not judged against a full one.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::settings::Checked;
use super::sql::time_of;
use super::{Coverage, Finding, Gap, Severity};
use crate::window::{Window, hour_floor};

/// Coverage from `(nic, hour, tuples)` rows over the baseline and the window.
pub(super) fn coverage(rows: &[Map<String, Value>], window: Window, baseline: Window) -> Coverage {
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
pub(super) fn summary_findings(c: &Coverage, settings: &Checked) -> Vec<Finding> {
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
