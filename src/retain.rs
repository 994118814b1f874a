//! Retention: drop what is older than the lake keeps, whole partitions at a time, in one
//! commit.
//!
//! Why: raw tuples are for investigations, weeks back; the hourly rollup is for a year of
//! reports and baselines (the `coverage` table, made from it, goes with it). A nightly
//! `flowlake retain --raw 30d --hourly 400d` keeps the lake's size flat. A day's partition is dropped once all of it is older than the horizon (`now`
//! minus the span), so the lake keeps at least the span and at most a day more. The drop is
//! one transaction ([`crate::lake`]): on a local lake each dropped directory disappears in one
//! rename after the commit point, and a crash at any step leaves either the old lake or the
//! new one once the next writer recovers; on object storage the files become garbage of the
//! commit and are deleted after the readers' grace period.
//!
//! Blob checkpoints stay: they are the lake's memory of what it has read, so a later ingest
//! does not read old blobs again. Raw tuples without an hourly rollup (files written before
//! it existed) are never dropped: retention refuses until `flowlake compact` has written it.
//! Rejects files whose every line is from a blob hour before the raw horizon go with the raw
//! tuples; a line whose hour is unknown keeps its file.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::lake::coverage::{COVERAGE_DIR, coverage_dir};
use crate::lake::hourly::{HOURLY_DIR, hourly_dir};
use crate::lake::{Lake, REJECTS_DIR, flows_dir};
use crate::source::hour_of;

/// How long to keep each table.
#[derive(Debug, Clone)]
pub struct RetainOptions {
    /// Keep raw tuples (and rejects) this long; `None`: forever.
    pub raw: Option<Duration>,
    /// Keep the hourly rollup this long; `None`: forever.
    pub hourly: Option<Duration>,
    /// "Now", which the spans count back from.
    pub now: DateTime<Utc>,
    /// Say what would be dropped, change nothing.
    pub dry_run: bool,
}

/// What a retention run dropped (or, with `dry_run`, would drop).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetainSummary {
    /// Raw tuples before this instant are gone (midnight UTC of the first day kept).
    pub raw_before: Option<DateTime<Utc>>,
    /// Rollup rows before this instant are gone.
    pub hourly_before: Option<DateTime<Utc>>,
    /// Days of `flows` dropped.
    pub raw_days: Vec<NaiveDate>,
    /// Days of `hourly` dropped.
    pub hourly_days: Vec<NaiveDate>,
    /// Rejects files dropped.
    pub rejects: Vec<String>,
    /// Data files dropped (both tables).
    pub files: u64,
    /// Rows dropped (both tables).
    pub rows: u64,
    /// Bytes dropped (data files).
    pub bytes: u64,
    /// Nothing was changed.
    pub dry_run: bool,
    /// Lake version after the run.
    pub lake_version: u64,
}

/// Midnight UTC of the first day whose data is kept with `span` at `now`.
fn horizon(now: DateTime<Utc>, span: Duration) -> Result<DateTime<Utc>> {
    let cut = now
        .checked_sub_signed(span)
        .ok_or_else(|| Error::Invalid("the retention span reaches before year 0".into()))?;
    Ok(Utc.from_utc_datetime(&cut.date_naive().and_time(chrono::NaiveTime::MIN)))
}

/// The day of a partition name (`date=YYYY-MM-DD`).
fn day_of(partition: &str) -> Option<NaiveDate> {
    partition.strip_prefix("date=")?.parse().ok()
}

/// Partitions (of `flows`, or of the table directory prefix `dir/`) before `before`.
fn old_partitions<'a>(
    names: impl Iterator<Item = &'a String>,
    before: DateTime<Utc>,
) -> Vec<(String, NaiveDate)> {
    names
        .filter_map(|p| day_of(p).map(|d| (p.clone(), d)))
        .filter(|(_, d)| *d < before.date_naive())
        .collect()
}

/// Whether every line of a rejects file comes from a blob hour before `before`.
fn rejects_are_old(text: &str, before: DateTime<Utc>) -> bool {
    let mut any = false;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        any = true;
        let blob = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("blob").and_then(|b| b.as_str()).map(str::to_string));
        let hour = blob.as_deref().and_then(hour_of).and_then(|(y, m, d, h)| {
            NaiveDate::from_ymd_opt(y.into(), m.into(), d.into())?.and_hms_opt(h.into(), 0, 0)
        });
        match hour {
            Some(h) if Utc.from_utc_datetime(&h) + Duration::hours(1) <= before => {}
            _ => return false,
        }
    }
    any
}

/// Drops the partitions (and rejects files) older than the spans of `opts`, in one commit.
pub fn retain(lake: &mut Lake, opts: &RetainOptions) -> Result<RetainSummary> {
    if opts.raw.is_none() && opts.hourly.is_none() {
        return Err(Error::Invalid(
            "nothing to retain by: give --raw and/or --hourly (or [retain] raw / hourly in the config)".into(),
        ));
    }
    if let (Some(raw), Some(hourly)) = (opts.raw, opts.hourly)
        && hourly < raw
    {
        return Err(Error::Invalid(
            "--hourly must keep at least as long as --raw: reports past the raw horizon read the rollup".into(),
        ));
    }
    let mut summary = RetainSummary {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let m = lake.manifest().clone();
    let mut txn = lake.begin()?;
    let mut drop_dir = |dir: String, summary: &mut RetainSummary| {
        for f in m.dir_files(&dir).into_iter().flatten() {
            summary.files += 1;
            summary.rows += f.rows;
            summary.bytes += f.bytes;
            txn.remove_table_file(&dir, &f.name);
        }
    };
    if let Some(span) = opts.raw {
        let before = horizon(opts.now, span)?;
        summary.raw_before = Some(before);
        let old = old_partitions(m.partitions.keys(), before);
        let bare: Vec<String> = old
            .iter()
            .filter(|(p, _)| m.files_without_rollup(p) > 0)
            .map(|(_, d)| d.to_string())
            .collect();
        if let (Some(first), Some(last)) = (bare.first(), bare.last()) {
            return Err(Error::Unanswerable(format!(
                "retain would drop raw tuples without an hourly rollup ({} days, {first} .. {last}; written before the rollup existed): run `flowlake compact --lake …` first, which writes it",
                bare.len()
            )));
        }
        for (p, d) in old {
            drop_dir(flows_dir(&p), &mut summary);
            summary.raw_days.push(d);
        }
        for name in &m.rejects {
            let path = lake.table_file(REJECTS_DIR, name)?;
            let text = std::fs::read_to_string(&path).ctx("read", &path)?;
            if rejects_are_old(&text, before) {
                summary.rejects.push(name.clone());
            }
        }
    }
    if let Some(span) = opts.hourly {
        let before = horizon(opts.now, span)?;
        summary.hourly_before = Some(before);
        // The coverage table goes with the rollup it is made from.
        let prefixes = [HOURLY_DIR, COVERAGE_DIR].map(|t| format!("{t}/"));
        let parts = m
            .tables
            .keys()
            .filter_map(|d| prefixes.iter().find_map(|p| d.strip_prefix(p)))
            .map(str::to_string)
            .collect::<BTreeSet<_>>();
        for (p, d) in old_partitions(parts.iter(), before) {
            drop_dir(hourly_dir(&p), &mut summary);
            drop_dir(coverage_dir(&p), &mut summary);
            summary.hourly_days.push(d);
        }
    }
    for r in &summary.rejects {
        txn.remove_rejects(r.clone());
    }
    if opts.dry_run {
        lake.abort(txn)?;
    } else {
        lake.commit(txn)?;
    }
    summary.lake_version = lake.manifest().version;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_day_goes_once_all_of_it_is_older_than_the_span() {
        let now = t("2026-12-02T10:00:00Z");
        assert_eq!(
            horizon(now, Duration::days(30)).unwrap(),
            t("2026-11-02T00:00:00Z")
        );
        let names = ["date=2026-11-01".to_string(), "date=2026-11-02".to_string()];
        let old = old_partitions(names.iter(), t("2026-11-02T00:00:00Z"));
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].0, "date=2026-11-01");
    }

    #[test]
    fn a_rejects_file_goes_only_when_every_line_is_old() {
        let before = t("2026-11-02T00:00:00Z");
        let line = |h: &str| {
            format!(
                r#"{{"blob":"/x/y=2026/m=11/d=01/h={h}/m=00/macAddress=0/PT1H.json","offset":1}}"#
            )
        };
        assert!(rejects_are_old(
            &format!("{}\n{}\n", line("00"), line("23")),
            before
        ));
        let unknown = r#"{"blob":"/k8s/pods.json","offset":1}"#;
        assert!(!rejects_are_old(
            &format!("{}\n{unknown}\n", line("00")),
            before
        ));
        assert!(!rejects_are_old("", before));
        assert!(!rejects_are_old("not json\n", before));
    }
}
