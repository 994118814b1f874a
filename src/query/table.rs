//! The `flows`, `hourly` and `coverage` tables: the lake's Parquet files as DataFusion tables
//! with their `date` partitions.
//!
//! Why: investigations filter on time. A predicate on the partition column prunes directories
//! by itself, but people write `time >= '...'`, not `date >= '...'`. [`FlowsTable`] wraps
//! DataFusion's listing table and, for every range or equality predicate on `time`, adds the
//! implied predicate on `date` (the partition is the UTC date of `time`), so a time predicate
//! prunes partitions too; within the remaining files Parquet statistics on `time` prune row
//! groups. The `hourly` rollup and the `coverage` table are the same with `hour` for `time`.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown, col, lit};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::ObjectMeta;
use object_store::path::Path as ObjectPath;
use serde::{Deserialize, Serialize};

use crate::lake::coverage::{COVERAGE_DIR, coverage_schema};
use crate::lake::hourly::{HOURLY_DIR, hourly_schema};
use crate::lake::manifest::Manifest;
use crate::query::committed::{self, CommittedStore};
use crate::schema::{PARTITION_COLUMN, flows_schema};
use crate::store::{Location, Remote, StoreOptions};

const TIME: &str = "time";
const HOUR: &str = "hour";
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The lake's `flows` table, its `hourly` rollup or its `coverage` (see the module docs).
#[derive(Debug)]
pub struct FlowsTable {
    inner: ListingTable,
    /// The column whose UTC date is the partition: `time`, or `hour`.
    time: &'static str,
    spec: TableSpec,
}

/// What another process needs to open the same table over the same files (a cluster's
/// scheduler, [`crate::cluster`]): the lake, the table directory, and the committed files
/// its listing shows (so that it plans over the client's manifest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSpec {
    /// The lake: an absolute local path, or a URL without its query.
    pub lake: String,
    /// `true` for a URL.
    pub remote: bool,
    /// The table directory: `flows`, `hourly` or `coverage`.
    pub dir: String,
    /// Every committed data file of the lake, as (object path, size).
    pub files: Vec<(String, u64)>,
}

/// The file columns as the table shows them: strings as `Utf8View`, the type DataFusion's
/// Parquet reader produces and its string kernels prefer.
fn file_schema(schema: SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

impl FlowsTable {
    /// The table over `LAKE/flows/`, with the lake's store registered in `ctx`
    /// ([`committed::register`]).
    pub fn open(
        lake: &Location,
        manifest: &Manifest,
        ctx: &SessionContext,
    ) -> crate::Result<FlowsTable> {
        FlowsTable::open_dir(
            lake,
            manifest,
            ctx,
            (crate::lake::FLOWS_DIR, TIME),
            flows_schema(),
        )
    }

    /// The `hourly` table over `LAKE/hourly/`; `None` for a local lake that has none yet
    /// (written before the rollup existed, and not ingested into since).
    pub fn open_hourly(
        lake: &Location,
        manifest: &Manifest,
        ctx: &SessionContext,
    ) -> crate::Result<Option<FlowsTable>> {
        FlowsTable::open_twin(lake, manifest, ctx, HOURLY_DIR, hourly_schema())
    }

    /// The `coverage` table over `LAKE/coverage/`; `None` for a local lake that has none yet.
    pub fn open_coverage(
        lake: &Location,
        manifest: &Manifest,
        ctx: &SessionContext,
    ) -> crate::Result<Option<FlowsTable>> {
        FlowsTable::open_twin(lake, manifest, ctx, COVERAGE_DIR, coverage_schema())
    }

    /// A table of `flows` twins (`hour` for `time`) in directory `dir`.
    fn open_twin(
        lake: &Location,
        manifest: &Manifest,
        ctx: &SessionContext,
        dir: &'static str,
        schema: SchemaRef,
    ) -> crate::Result<Option<FlowsTable>> {
        if let Location::Local(root) = lake
            && !root.join(dir).is_dir()
        {
            return Ok(None);
        }
        FlowsTable::open_dir(lake, manifest, ctx, (dir, HOUR), schema).map(Some)
    }

    fn open_dir(
        lake: &Location,
        manifest: &Manifest,
        ctx: &SessionContext,
        (dir, time): (&str, &'static str),
        schema: SchemaRef,
    ) -> crate::Result<FlowsTable> {
        // One committed listing: registered here, and named in the spec for other processes.
        let (name, store, prefix) = committed::lake_store(lake)?;
        let committed = CommittedStore::new(store, &prefix, manifest);
        let spec = TableSpec {
            lake: name.clone(),
            remote: matches!(lake, Location::Remote(_)),
            dir: dir.to_string(),
            files: committed
                .files()
                .iter()
                .map(|m| (m.location.to_string(), m.size))
                .collect(),
        };
        let runtime = ctx.runtime_env();
        let url = committed::register_committed(&runtime, &name, &prefix, committed, dir)?;
        FlowsTable::listing(url, schema, time, spec)
    }

    /// Opens the table `spec` describes (written by [`FlowsTable::spec`] in another process),
    /// registering the lake's store in `runtime`: opened from the lake URL with this
    /// process's credentials (or the local file system under the lake's path), listing
    /// exactly the spec's files.
    pub fn from_spec(spec: TableSpec, runtime: &RuntimeEnv) -> crate::Result<FlowsTable> {
        let (schema, time) = match spec.dir.as_str() {
            HOURLY_DIR => (hourly_schema(), HOUR),
            COVERAGE_DIR => (coverage_schema(), HOUR),
            crate::lake::FLOWS_DIR => (flows_schema(), TIME),
            other => {
                return Err(crate::Error::Invalid(format!(
                    "no lake table is kept in directory '{other}'"
                )));
            }
        };
        let (store, prefix) = match spec.remote {
            true => {
                let lake = Remote::open(&spec.lake, &StoreOptions::default())?;
                let (store, prefix) = lake.store();
                (store, prefix.clone())
            }
            false => (
                committed::local_store(std::path::Path::new(&spec.lake))?,
                ObjectPath::default(),
            ),
        };
        let files = spec
            .files
            .iter()
            .map(|(path, size)| ObjectMeta {
                location: ObjectPath::from(path.as_str()),
                last_modified: chrono::DateTime::UNIX_EPOCH,
                size: *size,
                e_tag: None,
                version: None,
            })
            .collect();
        let committed = CommittedStore::from_files(store, files);
        let url =
            committed::register_committed(runtime, &spec.lake, &prefix, committed, &spec.dir)?;
        FlowsTable::listing(url, schema, time, spec)
    }

    /// What another process needs to open this table ([`FlowsTable::from_spec`]).
    pub fn spec(&self) -> &TableSpec {
        &self.spec
    }

    fn listing(
        url: ListingTableUrl,
        schema: SchemaRef,
        time: &'static str,
        spec: TableSpec,
    ) -> crate::Result<FlowsTable> {
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![(PARTITION_COLUMN.to_string(), DataType::Date32)]);
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(file_schema(schema));
        Ok(FlowsTable {
            inner: ListingTable::try_new(config)?,
            time,
            spec,
        })
    }
}

/// The UTC day number (days since 1970-01-01) of a microsecond timestamp.
fn day(us: i64) -> i32 {
    us.div_euclid(MICROS_PER_DAY) as i32
}

/// The `date` predicate implied by a predicate on `time`, if it is a comparison of `time`
/// with a timestamp literal (either side), or a conjunction / BETWEEN of such.
fn implied_date_filter(e: &Expr, time: &str) -> Option<Expr> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if *op == Operator::And {
                return match (
                    implied_date_filter(left, time),
                    implied_date_filter(right, time),
                ) {
                    (Some(a), Some(b)) => Some(a.and(b)),
                    (a, b) => a.or(b),
                };
            }
            let (op, us) = time_bound(left, *op, right, time)?;
            let date = col(PARTITION_COLUMN);
            let d = |us: i64| lit(ScalarValue::Date32(Some(day(us))));
            Some(match op {
                Operator::Eq => date.eq(d(us)),
                Operator::Gt | Operator::GtEq => date.gt_eq(d(us)),
                Operator::Lt => date.lt_eq(d(us.checked_sub(1)?)),
                Operator::LtEq => date.lt_eq(d(us)),
                _ => return None,
            })
        }
        Expr::Between(b) if !b.negated && time_column(&b.expr, time) => {
            let lo = timestamp_us(&b.low)?;
            let hi = timestamp_us(&b.high)?;
            Some(col(PARTITION_COLUMN).between(
                lit(ScalarValue::Date32(Some(day(lo)))),
                lit(ScalarValue::Date32(Some(day(hi)))),
            ))
        }
        _ => None,
    }
}

/// Whether the partitions alone answer `e` exactly: `time >= T` or `time < T` (either side)
/// with `T` a UTC midnight holds for every row of the days on its side and for none of the
/// others (a row's partition is the UTC date of its `time`, never null). DataFusion then
/// leaves the predicate to the scan, which prunes the days ([`implied_date_filter`]), rather
/// than testing every row: a report over whole days (the default window ends at the last
/// hour with data, at midnight for a finished day; `--since`/`--until` dates) filters no row.
fn exact_by_partition(e: &Expr, time: &str) -> bool {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else {
        return false;
    };
    matches!(
        time_bound(left, *op, right, time),
        Some((Operator::GtEq | Operator::Lt, us)) if us.rem_euclid(MICROS_PER_DAY) == 0
    )
}

/// `left op right` as `time op' T` (µs), whichever side the column is on; `None` when it
/// compares anything else.
fn time_bound(left: &Expr, op: Operator, right: &Expr, time: &str) -> Option<(Operator, i64)> {
    match (time_column(left, time), timestamp_us(right)) {
        (true, Some(us)) => Some((op, us)),
        _ => match (timestamp_us(left), time_column(right, time)) {
            (Some(us), true) => Some((op.swap()?, us)),
            _ => None,
        },
    }
}

fn time_column(e: &Expr, time: &str) -> bool {
    matches!(e, Expr::Column(c) if c.name == time)
}

/// A timestamp literal in microseconds, whatever its unit.
fn timestamp_us(e: &Expr) -> Option<i64> {
    let Expr::Literal(v, _) = e else { return None };
    match v {
        ScalarValue::TimestampMicrosecond(Some(t), _) => Some(*t),
        ScalarValue::TimestampMillisecond(Some(t), _) => t.checked_mul(1_000),
        ScalarValue::TimestampSecond(Some(t), _) => t.checked_mul(1_000_000),
        ScalarValue::TimestampNanosecond(Some(t), _) => Some(t.div_euclid(1_000)),
        _ => None,
    }
}

#[async_trait]
impl TableProvider for FlowsTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let mut answers = self.inner.supports_filters_pushdown(filters)?;
        for (answer, f) in answers.iter_mut().zip(filters) {
            if exact_by_partition(f, self.time) {
                *answer = TableProviderFilterPushDown::Exact;
            }
        }
        Ok(answers)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut all = filters.to_vec();
        all.extend(
            filters
                .iter()
                .filter_map(|f| implied_date_filter(f, self.time)),
        );
        self.inner.scan(state, projection, &all, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(us: i64) -> Expr {
        lit(ScalarValue::TimestampMicrosecond(
            Some(us),
            Some("UTC".into()),
        ))
    }

    fn d(days: i32) -> Expr {
        lit(ScalarValue::Date32(Some(days)))
    }

    #[test]
    fn bounds_at_midnight_are_answered_by_the_partitions_alone() {
        let day2 = 2 * MICROS_PER_DAY;
        let t = || col(TIME);
        let exact = [
            t().gt_eq(ts(day2)),
            t().lt(ts(day2)),
            ts(day2).lt_eq(t()),
            ts(day2).gt(t()),
            t().gt_eq(ts(-MICROS_PER_DAY)),
        ];
        let inexact = [
            t().gt_eq(ts(day2 + 1)),
            t().lt(ts(day2 - 3_600_000_000)),
            t().gt(ts(day2)),
            t().lt_eq(ts(day2)),
            t().eq(ts(day2)),
            col("first_seen").gt_eq(ts(day2)),
            t().gt_eq(ts(day2)).and(t().lt(ts(day2 + MICROS_PER_DAY))),
        ];
        for e in exact {
            assert!(exact_by_partition(&e, TIME), "{e}");
        }
        for e in inexact {
            assert!(!exact_by_partition(&e, TIME), "{e}");
        }
    }

    #[test]
    fn time_predicates_imply_partition_predicates() {
        let day2 = 2 * MICROS_PER_DAY;
        let date = || col(PARTITION_COLUMN);
        let t = || col(TIME);
        let cases = [
            (t().gt_eq(ts(day2)), Some(date().gt_eq(d(2)))),
            (t().gt(ts(day2 + 5)), Some(date().gt_eq(d(2)))),
            // An exclusive upper bound at midnight excludes that day.
            (t().lt(ts(day2)), Some(date().lt_eq(d(1)))),
            (t().lt_eq(ts(day2)), Some(date().lt_eq(d(2)))),
            (ts(day2).lt_eq(t()), Some(date().gt_eq(d(2)))),
            (t().eq(ts(day2 + 1)), Some(date().eq(d(2)))),
            (
                t().gt_eq(ts(day2)).and(t().lt(ts(day2 + MICROS_PER_DAY))),
                Some(date().gt_eq(d(2)).and(date().lt_eq(d(2)))),
            ),
            (
                t().between(ts(day2), ts(3 * day2)),
                Some(date().between(d(2), d(6))),
            ),
            (t().not_eq(ts(day2)), None),
            (col("record_time").gt(ts(day2)), None),
            (t().gt_eq(ts(-1)), Some(date().gt_eq(d(-1)))),
        ];
        for (e, want) in cases {
            assert_eq!(implied_date_filter(&e, TIME), want, "{e}");
        }
    }
}
