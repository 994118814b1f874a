//! What a report reads: the `hourly` rollup, or the raw tuples of `flows`.
//!
//! Why: a year of weekly reports should not re-aggregate a year of raw tuples, and after
//! `flowlake retain` the raw tuples of old days are gone while their rollup stays. Every
//! report query reads `{{rows}}`, a relation of the rollup's shape (one row per hour and
//! conversation, with `tuples`, `flows_begun`, summed counters, `first_seen`, `last_seen`,
//! and `time` for windows): either `hourly` itself, or the raw tuples as rows of one tuple
//! each (`time` = `first_seen` = `last_seen` = the tuple's time). The queries are written
//! once; both relations give the same answers at hourly granularity.
//!
//! The rollup cannot split an hour, so an hour holding one of the report's bounds (window
//! start and end, baseline start) that is not on the hour is read from raw tuples, and the
//! rest from the rollup. The rollup is not used when a file of `flows` in the range has no
//! twin (written before the rollup existed; `flowlake compact` writes the twins), and not
//! with `--raw`. Where the raw tuples a report needs are gone (retention dropped their day),
//! it says so instead of answering from part of the data.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::lake::file::{day_of, partition_name};
use crate::lake::hourly::hourly_dir;
use crate::lake::manifest::Manifest;
use crate::window::hour_floor;

/// The columns every report reads, as the raw tuples give them (`{{rows}}` over `flows`).
const RAW_COLUMNS: &str = "time, date_bin(INTERVAL '1 hour', time) AS hour, \
resource_id, nsg_name, acl_id, mac, rule, direction, decision, protocol, protocol_number, \
src_ip, dst_ip, dst_port, src_class, dst_class, CAST(1 AS BIGINT) AS tuples, \
CAST(CASE WHEN flow_state IS NULL OR flow_state = 'begin' THEN 1 ELSE 0 END AS BIGINT) AS flows_begun, \
packets_src_to_dst, bytes_src_to_dst, packets_dst_to_src, bytes_dst_to_src, \
time AS first_seen, time AS last_seen";

/// The columns of `{{nic_hours}}` (one NIC's tuples in an hour: coverage queries), as the
/// raw tuples give them.
const RAW_NIC_COLUMNS: &str = "time, date_bin(INTERVAL '1 hour', time) AS hour, \
resource_id, nsg_name, mac, CAST(1 AS BIGINT) AS tuples, time AS first_seen, time AS last_seen";

/// The same from the `coverage` table.
const COVERAGE_COLUMNS: &str =
    "hour AS time, hour, resource_id, nsg_name, mac, tuples, first_seen, last_seen";

/// The same columns from the rollup (`time` is the hour).
const HOURLY_COLUMNS: &str = "hour AS time, hour, \
resource_id, nsg_name, acl_id, mac, rule, direction, decision, protocol, protocol_number, \
src_ip, dst_ip, dst_port, src_class, dst_class, tuples, flows_begun, \
packets_src_to_dst, bytes_src_to_dst, packets_dst_to_src, bytes_dst_to_src, \
first_seen, last_seen";

/// The table a report reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    /// The hourly rollup (with raw tuples for hours split by a bound).
    Hourly,
    /// The raw tuples.
    Flows,
}

/// What a report reads, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The table.
    pub table: Table,
    /// Hours read from raw tuples although the rollup is read: those holding a bound of the
    /// window or baseline that is not on the hour.
    pub raw_hours: Vec<DateTime<Utc>>,
    /// Why this table, in a sentence.
    pub why: String,
    /// Coverage queries (`{{nic_hours}}`) read the `coverage` table: with the rollup, when
    /// every rollup file in the range has its coverage twin.
    #[serde(skip)]
    coverage: bool,
    /// First instant read (the baseline's start).
    #[serde(skip)]
    since: DateTime<Utc>,
    /// First instant not read (the window's end).
    #[serde(skip)]
    until: DateTime<Utc>,
}

/// A timestamp literal.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    format!(
        "TIMESTAMP '{}'",
        t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
}

/// The UTC dates `[since, until)` touches, as partition names (`date=YYYY-MM-DD`).
fn partitions(since: DateTime<Utc>, until: DateTime<Utc>) -> Vec<String> {
    if until <= since {
        return vec![];
    }
    let (first, last) = (
        day_of(since.timestamp_micros()),
        day_of(until.timestamp_micros() - 1),
    );
    (first..=last).map(partition_name).collect()
}

/// The dates in `parts` whose raw tuples are gone: the rollup has them, `flows` does not.
fn raw_gone<'a>(manifest: &Manifest, parts: &'a [String]) -> Vec<&'a str> {
    parts
        .iter()
        .filter(|p| {
            !manifest.partitions.contains_key(p.as_str())
                && manifest
                    .tables
                    .get(&hourly_dir(p))
                    .is_some_and(|f| !f.is_empty())
        })
        .map(|p| p.strip_prefix("date=").unwrap_or(p))
        .collect()
}

/// A list of days for a message: the first and last of several.
fn days(list: &[&str]) -> String {
    match list {
        [] => String::new(),
        [one] => one.to_string(),
        [first, .., last] => format!("{first} .. {last} ({} days)", list.len()),
    }
}

impl Source {
    /// Decides what a report over `[since, until)` with the inner bound `split` (the
    /// window's start) reads. `raw`: `--raw` was given. `tables`: the session has the
    /// `hourly` table, and the `coverage` table.
    pub fn choose(
        manifest: &Manifest,
        (since, split, until): (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>),
        raw: bool,
        (rollup, coverage): (bool, bool),
    ) -> Result<Source> {
        let parts = partitions(since, until);
        let gone = raw_gone(manifest, &parts);
        // Read with the rollup only, when every `flows` file has its `hourly` twin: the
        // rollup's files (with those whose raw tuples are gone) are the ones to check.
        let coverage = coverage
            && parts
                .iter()
                .all(|p| manifest.rollup_without_coverage(p) == 0);
        let source = |table, raw_hours, why: String| Source {
            table,
            raw_hours,
            why,
            coverage: coverage && table == Table::Hourly,
            since,
            until,
        };
        if raw {
            if !gone.is_empty() {
                return Err(Error::Invalid(format!(
                    "--raw: the raw tuples of {} are gone (flowlake retain dropped them); the hourly rollup still holds that time: run the report without --raw",
                    days(&gone)
                )));
            }
            return Ok(source(Table::Flows, vec![], "--raw was given".into()));
        }
        let missing: usize = parts.iter().map(|p| manifest.files_without_rollup(p)).sum();
        if missing > 0 || !rollup {
            if !gone.is_empty() {
                return Err(Error::Unanswerable(format!(
                    "the raw tuples of {} are gone (flowlake retain dropped them) and {missing} files of flows in the same range have no hourly rollup: run `flowlake compact` to write their rollup, then report again",
                    days(&gone)
                )));
            }
            let why = match missing {
                0 => "the lake has no hourly rollup".to_string(),
                n => format!(
                    "{n} files of flows in the range have no hourly rollup (written before it existed; `flowlake compact` writes it)"
                ),
            };
            return Ok(source(Table::Flows, vec![], why));
        }
        let split_hours: BTreeSet<DateTime<Utc>> = [since, split, until]
            .into_iter()
            .filter(|t| hour_floor(*t) != *t)
            .map(hour_floor)
            .collect();
        let raw_hours: Vec<DateTime<Utc>> = split_hours.into_iter().collect();
        for h in &raw_hours {
            let day = h.date_naive().to_string();
            if gone.contains(&day.as_str()) {
                return Err(Error::Invalid(format!(
                    "a bound of the report's window or baseline lies inside the hour {} and the raw tuples of {day} are gone (flowlake retain dropped them): the rollup cannot split an hour; give whole hours (--since, --until, --baseline)",
                    h.format("%Y-%m-%dT%H:00Z")
                )));
            }
        }
        let why = match raw_hours.len() {
            0 => "the hourly rollup answers whole hours".to_string(),
            n => format!(
                "the hourly rollup, and raw tuples for the {n} hour(s) a bound of the window or baseline splits"
            ),
        };
        Ok(source(Table::Hourly, raw_hours, why))
    }

    /// The relation the report queries read (`{{rows}}`), in parentheses.
    pub fn relation(&self) -> String {
        self.relation_of(("hourly", HOURLY_COLUMNS), RAW_COLUMNS)
    }

    /// The relation coverage queries read (`{{nic_hours}}`: NIC, hour, tuples, first and last
    /// seen), in parentheses: the `coverage` table where it is complete, else the same rows
    /// as [`Source::relation`].
    pub fn nic_relation(&self) -> String {
        match self.coverage {
            true => self.relation_of(("coverage", COVERAGE_COLUMNS), RAW_NIC_COLUMNS),
            false => self.relation(),
        }
    }

    /// The rows of `rollup` (a table with `hour`, and its columns) for the whole hours, and
    /// `raw` columns of `flows` for the rest (or for all of it when reading raw tuples).
    fn relation_of(&self, (rollup, columns): (&str, &str), raw_columns: &str) -> String {
        let raw = |since: DateTime<Utc>, until: DateTime<Utc>| {
            format!(
                "SELECT {raw_columns} FROM flows WHERE time >= {} AND time < {}",
                ts(since),
                ts(until)
            )
        };
        match self.table {
            Table::Flows => format!("({})", raw(self.since, self.until)),
            Table::Hourly => {
                let mut parts = vec![format!(
                    "SELECT {columns} FROM {rollup} WHERE hour >= {} AND hour < {}{}",
                    ts(hour_floor(self.since)),
                    ts(self.until),
                    match self.raw_hours.as_slice() {
                        [] => String::new(),
                        hours => format!(
                            " AND hour NOT IN ({})",
                            hours.iter().map(|h| ts(*h)).collect::<Vec<_>>().join(", ")
                        ),
                    }
                )];
                for h in &self.raw_hours {
                    let from = (*h).max(self.since);
                    let to = (*h + Duration::hours(1)).min(self.until);
                    parts.push(raw(from, to));
                }
                format!("({})", parts.join("\n    UNION ALL "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::manifest::FileEntry;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn file(name: &str) -> FileEntry {
        FileEntry {
            name: name.into(),
            rows: 1,
            bytes: 1,
            blobs: vec![],
            min_time_us: 0,
            max_time_us: 0,
        }
    }

    /// A lake with raw files on the given days (with twins unless listed in `no_twin`) and
    /// rollup-only days (raw dropped).
    fn lake(raw: &[&str], no_twin: &[&str], rollup_only: &[&str]) -> Manifest {
        let mut m = Manifest::default();
        for d in raw {
            let p = format!("date={d}");
            m.partitions.insert(p.clone(), vec![file("a.parquet")]);
            if !no_twin.contains(d) {
                m.tables.insert(hourly_dir(&p), vec![file("a.parquet")]);
            }
        }
        for d in rollup_only {
            m.tables
                .insert(hourly_dir(&format!("date={d}")), vec![file("b.parquet")]);
        }
        m
    }

    #[test]
    fn whole_hours_read_the_rollup_and_split_hours_raw_tuples() {
        let m = lake(&["2026-11-01", "2026-11-02"], &[], &[]);
        let whole = (
            t("2026-11-01T00:00:00Z"),
            t("2026-11-02T00:00:00Z"),
            t("2026-11-03T00:00:00Z"),
        );
        let s = Source::choose(&m, whole, false, (true, true)).unwrap();
        assert_eq!(s.table, Table::Hourly);
        assert!(s.raw_hours.is_empty());
        assert!(!s.relation().contains("FROM flows"), "{}", s.relation());

        let split = (
            t("2026-11-01T00:00:00Z"),
            t("2026-11-02T10:30:00Z"),
            t("2026-11-02T23:59:00Z"),
        );
        let s = Source::choose(&m, split, false, (true, true)).unwrap();
        assert_eq!(
            s.raw_hours,
            [t("2026-11-02T10:00:00Z"), t("2026-11-02T23:00:00Z")]
        );
        let rel = s.relation();
        assert!(rel.contains("hour NOT IN (TIMESTAMP '2026-11-02T10:00:00.000000Z', TIMESTAMP '2026-11-02T23:00:00.000000Z')"), "{rel}");
        assert!(rel.contains("time >= TIMESTAMP '2026-11-02T23:00:00.000000Z' AND time < TIMESTAMP '2026-11-02T23:59:00.000000Z'"), "{rel}");

        let forced = Source::choose(&m, whole, true, (true, true)).unwrap();
        assert_eq!(forced.table, Table::Flows);
        assert!(!forced.relation().contains("hourly"));
    }

    #[test]
    fn coverage_queries_read_the_coverage_table_only_where_every_file_has_that_twin() {
        let mut m = lake(&["2026-11-01", "2026-11-02"], &[], &[]);
        let whole = (
            t("2026-11-01T00:00:00Z"),
            t("2026-11-02T00:00:00Z"),
            t("2026-11-03T00:00:00Z"),
        );
        // A lake from before the coverage table: coverage is counted from the rollup.
        let s = Source::choose(&m, whole, false, (true, true)).unwrap();
        assert_eq!(s.nic_relation(), s.relation());
        for d in ["2026-11-01", "2026-11-02"] {
            m.tables.insert(
                crate::lake::coverage::coverage_dir(&format!("date={d}")),
                vec![file("a.parquet")],
            );
        }
        let s = Source::choose(&m, whole, false, (true, true)).unwrap();
        let rel = s.nic_relation();
        assert!(rel.contains("FROM coverage WHERE hour >= "), "{rel}");
        assert!(!rel.contains("hourly") && !rel.contains("flows"), "{rel}");
        // Hours a bound splits come from raw tuples, as for every other query.
        let split = (
            t("2026-11-01T00:00:00Z"),
            t("2026-11-02T10:30:00Z"),
            t("2026-11-03T00:00:00Z"),
        );
        let rel = Source::choose(&m, split, false, (true, true))
            .unwrap()
            .nic_relation();
        assert!(
            rel.contains("FROM coverage") && rel.contains("UNION ALL SELECT time, date_bin"),
            "{rel}"
        );
        // Not without the session's table, not with --raw, not past a file without the twin.
        for (raw, tables) in [(false, (true, false)), (true, (true, true))] {
            let s = Source::choose(&m, whole, raw, tables).unwrap();
            assert_eq!(s.nic_relation(), s.relation());
        }
        m.tables
            .get_mut(&hourly_dir("date=2026-11-02"))
            .unwrap()
            .push(file("b.parquet"));
        m.partitions
            .get_mut("date=2026-11-02")
            .unwrap()
            .push(file("b.parquet"));
        let s = Source::choose(&m, whole, false, (true, true)).unwrap();
        assert_eq!(s.table, Table::Hourly);
        assert_eq!(s.nic_relation(), s.relation());
    }

    #[test]
    fn files_without_a_twin_make_the_report_read_raw_tuples() {
        let m = lake(&["2026-11-01", "2026-11-02"], &["2026-11-01"], &[]);
        let span = (
            t("2026-11-01T00:00:00Z"),
            t("2026-11-02T00:00:00Z"),
            t("2026-11-03T00:00:00Z"),
        );
        let s = Source::choose(&m, span, false, (true, true)).unwrap();
        assert_eq!(s.table, Table::Flows);
        assert!(s.why.contains("1 files of flows"), "{}", s.why);
        // Outside the range, a file without a twin does not matter.
        let later = (
            t("2026-11-02T00:00:00Z"),
            t("2026-11-02T12:00:00Z"),
            t("2026-11-03T00:00:00Z"),
        );
        assert_eq!(
            Source::choose(&m, later, false, (true, true))
                .unwrap()
                .table,
            Table::Hourly
        );
    }

    #[test]
    fn raw_tuples_that_are_gone_are_never_answered_from_part_of_the_data() {
        let m = lake(
            &["2026-11-02"],
            &[],
            &["2026-10-30", "2026-10-31", "2026-11-01"],
        );
        let whole = (
            t("2026-10-30T00:00:00Z"),
            t("2026-11-02T00:00:00Z"),
            t("2026-11-03T00:00:00Z"),
        );
        assert_eq!(
            Source::choose(&m, whole, false, (true, true))
                .unwrap()
                .table,
            Table::Hourly
        );
        let e = Source::choose(&m, whole, true, (true, true))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--raw: the raw tuples of 2026-10-30 .. 2026-11-01 (3 days) are gone"),
            "{e}"
        );
        let split = (
            t("2026-10-31T06:30:00Z"),
            t("2026-11-02T00:00:00Z"),
            t("2026-11-03T00:00:00Z"),
        );
        let e = Source::choose(&m, split, false, (true, true))
            .unwrap_err()
            .to_string();
        assert!(e.contains("inside the hour 2026-10-31T06:00Z"), "{e}");
    }
}
