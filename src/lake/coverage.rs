//! The `coverage` table: one row per hour and NIC, beside the raw tuples and their rollup.
//!
//! Why: every report first asks which NICs logged in which hours (a NIC or hour without flow
//! logs is a blind spot, and rates are scaled by the hours with data). Asked of `hourly`, that
//! groups every rollup row of the baseline, a third of a short report's time on a month-long
//! lake; asked of this table, it reads a few thousand rows. Like `hourly`, every raw data file
//! of `flows` has a twin of the same name under `coverage/date=…/`, built from the rollup rows
//! written beside it ([`CoverageAgg::add`]) and committed in the same transaction, so it holds
//! exactly the file's tuples whatever wrote it (ingest, a blob's rewrite, compaction).

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Builder, StringArray, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{Int64Type, SchemaRef, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;

use crate::lake::rows::text_runs;
use crate::schema::{self, ALL, ColType::*, Column, col};

/// Directory of the `coverage` table inside the lake.
pub const COVERAGE_DIR: &str = "coverage";

/// The directory of `coverage` partition `partition` (`date=…`), relative to the lake root.
pub fn coverage_dir(partition: &str) -> String {
    format!("{COVERAGE_DIR}/{partition}")
}

/// The columns of `coverage`, in file order.
pub const COLUMNS: &[Column] = &[
    col(
        "hour",
        Timestamp,
        false,
        ALL,
        "Start of the UTC hour (`date_trunc('hour', flows.time)`).",
    ),
    col(
        "resource_id",
        Text,
        false,
        ALL,
        "As in `flows`: the NSG or flow log.",
    ),
    col("nsg_name", Text, true, ALL, "As in `flows`."),
    col(
        "mac",
        Text,
        true,
        ALL,
        "As in `flows`: the NIC (reports name a NIC by its MAC, else by `resource_id`).",
    ),
    col(
        "tuples",
        Int64,
        false,
        ALL,
        "Tuples the NIC logged in the hour (`count(*)` of `flows`).",
    ),
    col(
        "first_seen",
        Timestamp,
        false,
        ALL,
        "Earliest `flows.time` of those tuples.",
    ),
    col(
        "last_seen",
        Timestamp,
        false,
        ALL,
        "Latest `flows.time` of those tuples.",
    ),
];

/// The columns (`first_seen`, `last_seen`) whose minimum and maximum are the time a
/// `coverage` file's tuples span.
pub const TIME_RANGE: (usize, usize) = (5, 6);

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| schema::arrow_schema(COLUMNS));

/// Arrow schema of the `coverage` files (without the partition column).
pub fn coverage_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// The `coverage` column reference as a Markdown table (in `docs/SCHEMA.md`).
pub fn markdown() -> String {
    schema::partitioned_markdown(COLUMNS, "hour")
}

/// What identifies a row: the hour, `resource_id`, `nsg_name`, `mac`.
type Key = (i64, String, Option<String>, Option<String>);

/// Sums of one row: tuples, first and last seen.
#[derive(Debug, Clone, Copy)]
struct Acc {
    tuples: i64,
    first: i64,
    last: i64,
}

impl Acc {
    fn merge(&mut self, o: Acc) {
        self.tuples += o.tuples;
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
    }
}

/// A text column of an `hourly` batch, read row after row: run-end encoded as the rollup
/// builds its group columns (each run's value found once), or plain.
enum TextRows<'a> {
    Plain(&'a StringArray),
    /// The runs from the current one on, `(end, value)`.
    Runs(Peekable<std::vec::IntoIter<(usize, Option<&'a str>)>>),
}

impl<'a> TextRows<'a> {
    fn of(a: &'a dyn Array) -> TextRows<'a> {
        match text_runs(a) {
            Some(runs) => TextRows::Runs(runs.into_iter().peekable()),
            None => TextRows::Plain(a.as_string::<i32>()),
        }
    }

    /// Row `i`'s value; rows are read in order.
    fn next(&mut self, i: usize) -> Option<&'a str> {
        match self {
            TextRows::Plain(a) => (!a.is_null(i)).then(|| a.value(i)),
            TextRows::Runs(runs) => {
                while runs.next_if(|&(end, _)| end <= i).is_some() {}
                runs.peek().and_then(|&(_, v)| v)
            }
        }
    }
}

/// An `hourly` row's hour, resource, NSG and NIC, as read from its batch.
type RowKey<'a> = (i64, &'a str, Option<&'a str>, Option<&'a str>);

/// Aggregates `hourly` batches into `coverage` rows.
#[derive(Default)]
pub struct CoverageAgg {
    rows: BTreeMap<Key, Acc>,
}

impl CoverageAgg {
    /// True before the first row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Adds the rows of an `hourly` batch. Rows of one hour and NIC mostly come together (the
    /// rollup sorts by hour within each direction and decision), so each run is summed first
    /// and looked up once.
    pub fn add(&mut self, batch: &RecordBatch) {
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .unwrap_or_else(|| panic!("hourly batches have column {name}"))
        };
        let hour = col("hour").as_primitive::<TimestampMicrosecondType>();
        let text = |name: &str| TextRows::of(col(name).as_ref());
        let (mut resource, mut nsg, mut mac) = (text("resource_id"), text("nsg_name"), text("mac"));
        let tuples = col("tuples").as_primitive::<Int64Type>();
        let first = col("first_seen").as_primitive::<TimestampMicrosecondType>();
        let last = col("last_seen").as_primitive::<TimestampMicrosecondType>();
        let mut run: Option<(RowKey<'_>, Acc)> = None;
        for i in 0..batch.num_rows() {
            let key = (
                hour.value(i),
                resource.next(i).unwrap_or_default(),
                nsg.next(i),
                mac.next(i),
            );
            let acc = Acc {
                tuples: tuples.value(i),
                first: first.value(i),
                last: last.value(i),
            };
            match &mut run {
                Some((k, sum)) if *k == key => sum.merge(acc),
                _ => {
                    if let Some((k, sum)) = run.replace((key, acc)) {
                        self.merge(k, sum);
                    }
                }
            }
        }
        if let Some((k, sum)) = run {
            self.merge(k, sum);
        }
    }

    fn merge(&mut self, (hour, resource, nsg, mac): RowKey<'_>, acc: Acc) {
        let key = (
            hour,
            resource.to_string(),
            nsg.map(str::to_string),
            mac.map(str::to_string),
        );
        self.rows
            .entry(key)
            .and_modify(|a| a.merge(acc))
            .or_insert(acc);
    }

    /// Takes the rows as one batch of the `coverage` schema, by hour and NIC.
    pub fn finish(&mut self) -> RecordBatch {
        let n = self.rows.len();
        let ts = || TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        let (mut hour, mut first, mut last) = (ts(), ts(), ts());
        let mut text: [StringBuilder; 3] = std::array::from_fn(|_| StringBuilder::new());
        let mut tuples = Int64Builder::with_capacity(n);
        for ((h, resource, nsg, mac), a) in std::mem::take(&mut self.rows) {
            hour.append_value(h);
            text[0].append_value(resource);
            text[1].append_option(nsg);
            text[2].append_option(mac);
            tuples.append_value(a.tuples);
            first.append_value(a.first);
            last.append_value(a.last);
        }
        let [resource, nsg, mac] = &mut text;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(hour.finish()),
            Arc::new(resource.finish()),
            Arc::new(nsg.finish()),
            Arc::new(mac.finish()),
            Arc::new(tuples.finish()),
            Arc::new(first.finish()),
            Arc::new(last.finish()),
        ];
        RecordBatch::try_new(coverage_schema(), cols).expect("builders match the coverage schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::hourly::HourlyAgg;
    use crate::lake::rows::FlowRows;
    use crate::parse::{Counters, Direction, GroupMeta, Provider, RecordMeta, Tuple};

    #[test]
    fn the_time_range_columns_are_first_and_last_seen() {
        assert_eq!(COLUMNS[TIME_RANGE.0].name, "first_seen");
        assert_eq!(COLUMNS[TIME_RANGE.1].name, "last_seen");
    }

    /// Tuples of two NICs over two hours, through the rollup into coverage: one row per hour
    /// and NIC, whatever the rules, directions and addresses, with the tuples summed.
    #[test]
    fn rollup_rows_sum_to_one_row_per_hour_and_nic() {
        let hour = 3_600_000_000i64;
        let mut rows = FlowRows::default();
        let mut n = 0;
        for (nic, mac) in [(0u32, "00-0D-3A-00-00-01"), (1, "00-0D-3A-00-00-02")] {
            for (i, t) in [10, hour + 5, hour + 7, 20, 30].into_iter().enumerate() {
                let rec = RecordMeta {
                    index: nic,
                    time_us: t,
                    provider: Provider::AzureNsg,
                    version: 2,
                    resource_id: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/n",
                    target_resource_id: None,
                    subscription_id: None,
                    resource_group: None,
                    nsg_name: Some("n".into()),
                };
                let rule = if i % 2 == 0 { "AllowA" } else { "DenyB" };
                let g = GroupMeta {
                    index: i as u32,
                    rule,
                    mac: Some(mac),
                    acl_id: None,
                };
                let dst = format!("10.0.0.{i}");
                let t = Tuple {
                    time_us: t,
                    src: "10.1.0.1".parse().unwrap(),
                    src_text: "10.1.0.1",
                    dst: dst.parse().unwrap(),
                    dst_text: &dst,
                    src_port: 40000,
                    dst_port: 443,
                    protocol: 6,
                    direction: if i % 2 == 0 {
                        Direction::Outbound
                    } else {
                        Direction::Inbound
                    },
                    allowed: i % 2 == 0,
                    state: None,
                    encryption: None,
                    counters: Counters::default(),
                };
                rows.push((0, nic, i as u32), "blob", &rec, &g, &t);
                n += 1;
            }
        }
        let mut agg = HourlyAgg::default();
        agg.add(&rows.finish());
        let (hourly, _) = agg.finish();
        let mut cov = CoverageAgg::default();
        // In two halves, as two spills would give them.
        cov.add(&hourly.slice(0, hourly.num_rows() / 2));
        cov.add(&hourly.slice(
            hourly.num_rows() / 2,
            hourly.num_rows() - hourly.num_rows() / 2,
        ));
        let b = cov.finish();
        assert_eq!(b.num_rows(), 4, "two NICs x two hours");
        let tuples = b.column(4).as_primitive::<Int64Type>();
        assert_eq!(tuples.iter().flatten().sum::<i64>(), n);
        let mac = b.column(3).as_string::<i32>();
        let hours = b.column(0).as_primitive::<TimestampMicrosecondType>();
        let got: Vec<(i64, &str, i64)> = (0..4)
            .map(|i| (hours.value(i), mac.value(i), tuples.value(i)))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, "00-0D-3A-00-00-01", 3),
                (0, "00-0D-3A-00-00-02", 3),
                (hour, "00-0D-3A-00-00-01", 2),
                (hour, "00-0D-3A-00-00-02", 2),
            ]
        );
        let first = b.column(5).as_primitive::<TimestampMicrosecondType>();
        let last = b.column(6).as_primitive::<TimestampMicrosecondType>();
        assert_eq!((first.value(0), last.value(0)), (10, 30));
        assert_eq!((first.value(2), last.value(2)), (hour + 5, hour + 7));
        assert!(cov.is_empty(), "finish starts over");
    }
}
