//! Writing and rewriting the Parquet files of the lake.
//!
//! Why: DataFusion's writers are append-only with random names; the lake needs files with
//! chosen names in a staging area, fixed properties (zstd, row-group size, schema version in
//! the key-value metadata), fsync before commit, and the time range and blob ids of each file
//! for the manifest.

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::TimestampMicrosecondType;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use zstd::bulk::Compressor;

use arrow::datatypes::SchemaRef;

use crate::error::{IoContext, ParquetContext, Result};
use crate::lake::coverage::{self, CoverageAgg, coverage_schema};
use crate::lake::hourly::{self, HourlyAgg, hourly_schema};
use crate::lake::manifest::FileEntry;
use crate::lake::rows::{ADDRESS_COLUMNS, GROUP_COLUMNS, KEY_COLUMNS, RECORD_NUMBERS};
use crate::lake::runs::RunColumn;
use crate::schema::{self, flows_schema};

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 1 << 20;

const DAY_US: i64 = 86_400_000_000;

/// Day number (days since 1970-01-01, UTC) of a timestamp.
pub fn day_of(time_us: i64) -> i32 {
    time_us.div_euclid(DAY_US) as i32
}

/// Partition directory name (`date=YYYY-MM-DD`) of a day number.
pub fn partition_name(day: i32) -> String {
    let date = chrono::DateTime::from_timestamp(i64::from(day) * 86_400, 0)
        .expect("day numbers of accepted tuples are in range")
        .date_naive();
    format!("{}={}", schema::PARTITION_COLUMN, date.format("%Y-%m-%d"))
}

/// Long identifiers that queries match exactly, not by range, and addresses: their min/max
/// statistics would cost two comparisons per row and never prune a row group or page (one
/// mixes many: the addresses of a page of 20,000 tuples span `10.…` to `99.…`).
const NO_STATISTICS: [&str; 5] = [
    "source_blob",
    "resource_id",
    "target_resource_id",
    "src_ip",
    "dst_ip",
];

/// Numeric columns of `flows` and `hourly` whose values rarely repeat within a row group
/// (microsecond times, source ports, byte and packet counters, sums): a dictionary page fills
/// after a few thousand values and the writer falls back to plain encoding anyway, having
/// hashed every value on the way (the dictionary interner was a quarter of ingest's CPU
/// time). They are written DELTA_BINARY_PACKED: differences bit-packed, so zstd gets a
/// fraction of the 8 bytes a value (ingest of the bench quarter 1.87 → 1.64 s, files 7 %
/// smaller; the ports: 1.74 → 1.58 s, files 1 % larger, while destination ports and protocol
/// numbers, few, stay smaller in a dictionary). A record's time, version and index are
/// written as runs ([`is_run_column`]).
const NO_DICTIONARY: [&str; 12] = [
    "time",
    "src_port",
    "packets_src_to_dst",
    "bytes_src_to_dst",
    "packets_dst_to_src",
    "bytes_dst_to_src",
    "first_seen",
    "last_seen",
    "tuples",
    "flows_begun",
    "flows_ended",
    "src_ports",
];

/// Properties of every Parquet file flowlake writes: zstd at `level`, row groups of
/// `row_group_rows`, the schema version in the key-value metadata.
pub(crate) fn writer_properties(level: i32, row_group_rows: usize) -> WriterProperties {
    let mut b = WriterProperties::builder();
    for col in NO_STATISTICS {
        b = b.set_column_statistics_enabled(ColumnPath::from(col), EnabledStatistics::None);
    }
    for col in NO_DICTIONARY {
        b = b
            .set_column_dictionary_enabled(ColumnPath::from(col), false)
            .set_column_encoding(ColumnPath::from(col), Encoding::DELTA_BINARY_PACKED);
    }
    b.set_compression(Compression::ZSTD(
        ZstdLevel::try_new(level).expect("valid zstd level"),
    ))
    .set_max_row_group_row_count(Some(row_group_rows.max(1)))
    .set_write_batch_size(8192)
    .set_created_by(format!("flowlake {}", env!("CARGO_PKG_VERSION")))
    .set_key_value_metadata(Some(vec![KeyValue::new(
        schema::SCHEMA_VERSION_KEY.to_string(),
        schema::SCHEMA_VERSION.to_string(),
    )]))
    .build()
}

/// Whether a column is written by [`crate::lake::runs`] instead of arrow-rs, which hashes
/// every row's value and compares it up to three times: those that hold one value per flow
/// group ([`GROUP_COLUMNS`]: provider, resource, NSG, MAC, rule, blob…, and the record's
/// time, version and index, [`RECORD_NUMBERS`]), whose runs are looked up once each; those
/// of a few names ([`KEY_COLUMNS`]: protocol, direction, decision, state, address classes),
/// built as dictionary keys and written without reading a string; the addresses
/// ([`ADDRESS_COLUMNS`]), built as keys into each batch's distinct addresses, each looked up
/// once a batch; and `encryption` (mostly null). The same columns of `hourly` and
/// `coverage` come in runs too (their rows are sorted by kind and group).
fn is_run_column(name: &str) -> bool {
    GROUP_COLUMNS.contains(&name)
        || RECORD_NUMBERS.contains(&name)
        || KEY_COLUMNS.contains(&name)
        || ADDRESS_COLUMNS.contains(&name)
        || name == "encryption"
}

/// A Parquet file being written in the staging area.
pub struct DataFile {
    name: String,
    path: PathBuf,
    writer: SerializedFileWriter<File>,
    columns: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Per column: whether it is written as runs, and with min/max statistics.
    runs: Vec<Option<bool>>,
    zstd_level: i32,
    /// Compresses the pages of run columns.
    zstd: Compressor<'static>,
    row_group_rows: usize,
    /// The row group being gathered.
    group: Option<RowGroup>,
    /// The columns whose minimum and maximum are the file's time range.
    time_cols: (usize, usize),
    rows: u64,
    min_time_us: i64,
    max_time_us: i64,
    /// Blob ids with rows in this file.
    pub blobs: BTreeSet<u64>,
}

/// The column chunks of a row group being written.
struct RowGroup {
    chunks: Vec<Chunk>,
    rows: usize,
}

/// One column chunk being written: by arrow-rs, or as runs.
enum Chunk {
    Arrow(Box<ArrowColumnWriter>),
    Runs(RunColumn),
}

impl DataFile {
    /// Creates `dir/name` for `flows` rows. `zstd_level` trades speed (1, ingest) for size
    /// (higher, compact); `row_group_rows` is the row-group size ([`ROW_GROUP_ROWS`] unless
    /// tuned), the unit in which time predicates skip data.
    pub fn create(
        dir: &Path,
        name: String,
        zstd_level: i32,
        row_group_rows: usize,
    ) -> Result<DataFile> {
        let time = (schema::idx::TIME, schema::idx::TIME);
        DataFile::create_with(
            dir,
            name,
            (flows_schema(), time),
            zstd_level,
            row_group_rows,
        )
    }

    /// Creates `dir/name` for rows of `schema`; the minimum of column `time.0` and the
    /// maximum of column `time.1` are the time range the file spans. Columns named in
    /// [`is_run_column`] are written as runs.
    fn create_with(
        dir: &Path,
        name: String,
        (schema, time_cols): (SchemaRef, (usize, usize)),
        zstd_level: i32,
        row_group_rows: usize,
    ) -> Result<DataFile> {
        std::fs::create_dir_all(dir).ctx("create directory", dir)?;
        let path = dir.join(&name);
        let file = File::create(&path).ctx("create", &path)?;
        let props = writer_properties(zstd_level, row_group_rows);
        let runs = schema
            .fields()
            .iter()
            .map(|f| {
                is_run_column(f.name()).then(|| {
                    props.statistics_enabled(&ColumnPath::from(f.name().as_str()))
                        != EnabledStatistics::None
                })
            })
            .collect();
        let (writer, columns) = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .and_then(ArrowWriter::into_serialized_writer)
            .at(&path)?;
        let zstd = Compressor::new(zstd_level).ctx("start zstd for", &path)?;
        Ok(DataFile {
            name,
            path,
            writer,
            columns,
            schema,
            runs,
            zstd_level,
            zstd,
            row_group_rows: row_group_rows.max(1),
            group: None,
            time_cols,
            rows: 0,
            min_time_us: i64::MAX,
            max_time_us: i64::MIN,
            blobs: BTreeSet::new(),
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends a batch of the canonical schema (or with `Utf8View` for its text columns).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let time = |i: usize| batch.column(i).as_primitive::<TimestampMicrosecondType>();
        let (lo, hi) = (
            arrow::compute::min(time(self.time_cols.0)),
            arrow::compute::max(time(self.time_cols.1)),
        );
        if let (Some(lo), Some(hi)) = (lo, hi) {
            self.min_time_us = self.min_time_us.min(lo);
            self.max_time_us = self.max_time_us.max(hi);
        }
        self.rows += batch.num_rows() as u64;
        let mut start = 0;
        while start < batch.num_rows() {
            if self.group.is_none() {
                self.group = Some(self.new_row_group()?);
            }
            let group = self.group.as_mut().expect("started above");
            let len = (batch.num_rows() - start).min(self.row_group_rows - group.rows);
            let part = batch.slice(start, len);
            for ((chunk, column), field) in group
                .chunks
                .iter_mut()
                .zip(part.columns())
                .zip(self.schema.fields())
            {
                let written = match chunk {
                    Chunk::Arrow(w) => parquet::arrow::arrow_writer::compute_leaves(field, column)
                        .and_then(|leaves| leaves.iter().try_for_each(|leaf| w.write(leaf))),
                    Chunk::Runs(r) => r.add(column.as_ref(), &mut self.zstd),
                };
                written.at(&self.path)?;
            }
            group.rows += len;
            start += len;
            if group.rows >= self.row_group_rows {
                self.end_row_group()?;
            }
        }
        Ok(())
    }

    /// The column writers of the next row group.
    fn new_row_group(&self) -> Result<RowGroup> {
        let index = self.writer.flushed_row_groups().len();
        let writers = self.columns.create_column_writers(index).at(&self.path)?;
        let chunks = writers
            .into_iter()
            .zip(&self.runs)
            .enumerate()
            .map(|(i, (w, runs))| match runs {
                Some(statistics) => Chunk::Runs(RunColumn::new(
                    self.writer.schema_descr().column(i),
                    *statistics,
                    self.zstd_level,
                )),
                None => Chunk::Arrow(Box::new(w)),
            })
            .collect();
        Ok(RowGroup { chunks, rows: 0 })
    }

    /// Ends the row group being written (if any): the next row starts a new one.
    fn end_row_group(&mut self) -> Result<()> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        let mut out = self.writer.next_row_group().at(&self.path)?;
        for chunk in group.chunks {
            match chunk {
                Chunk::Arrow(w) => w.close().and_then(|c| c.append_to_row_group(&mut out)),
                Chunk::Runs(r) => r
                    .finish(&mut self.zstd)
                    .and_then(|(bytes, close)| out.append_column(&bytes, close)),
            }
            .at(&self.path)?;
        }
        out.close().at(&self.path)?;
        Ok(())
    }

    /// Finishes the file, flushes it to disk and describes it for the manifest.
    pub fn finish(mut self) -> Result<FileEntry> {
        self.end_row_group()?;
        let path = self.path;
        let file = self.writer.into_inner().at(&path)?;
        file.sync_all().ctx("sync", &path)?;
        let bytes = file.metadata().ctx("stat", &path)?.len();
        Ok(FileEntry {
            name: self.name,
            rows: self.rows,
            bytes,
            blobs: self.blobs.into_iter().collect(),
            min_time_us: self.min_time_us,
            max_time_us: self.max_time_us,
        })
    }
}

/// Rows per row group of an `hourly` file: a row group is buffered in memory until it is
/// complete, and a worker writes up to four twins at once.
const HOURLY_ROW_GROUP_ROWS: usize = 1 << 16;

/// Rollup rows held before they are written to the `hourly` twin (about 10 MB). A key is
/// seldom split by a spill (one blob holds one NIC-hour), and compaction merges it again.
const HOURLY_SPILL_ROWS: usize = 1 << 16;

/// Rows of one direction and decision gathered before they are written as one row group of
/// the `hourly` twin. Row groups of a single direction and decision let a report's predicate
/// (`direction = 'outbound' AND decision = 'allow'`) skip the others by their statistics:
/// with each spill's four kinds in one row group nothing was skipped. Measured on the 103.7 M
/// tuple bench lake, compacted by the previous build and by this one, reports by one binary:
/// exfil 1.07 → 0.93 s, exposure 0.63 → 0.40 s, rules and summary unchanged; ingest of the
/// quarter 2.05 → 2.16 s. Four of these are held at most: about the memory of one spill.
const HOURLY_KIND_ROWS: usize = 1 << 14;

/// A `flows` data file and its twins (same name, under `hourly/date=…/` and
/// `coverage/date=…/`): every batch written to the one is aggregated into the `hourly` rollup
/// ([`crate::lake::hourly`]), and the rollup's rows into `coverage`
/// ([`crate::lake::coverage`]).
pub struct FlowsFile {
    raw: DataFile,
    agg: HourlyAgg,
    /// Coverage rows of the whole file (one per hour and NIC: small), written at the end.
    coverage: CoverageAgg,
    /// Spilled rollup rows not written yet, by direction and decision
    /// ([`HOURLY_KIND_ROWS`]).
    pending: [Vec<RecordBatch>; 4],
    hourly: Option<DataFile>,
    /// Where the file and its twins go.
    dirs: TwinDirs,
    zstd_level: i32,
    /// Blob ids with rows in this file.
    pub blobs: BTreeSet<u64>,
}

/// Where a [`FlowsFile`] and its twins are written: the staging directories of one
/// partition of `flows`, `hourly` and `coverage` ([`crate::lake::Txn::twin_dirs`]).
#[derive(Debug, Clone)]
pub struct TwinDirs {
    /// `flows/date=…`.
    pub flows: PathBuf,
    /// `hourly/date=…`.
    pub hourly: PathBuf,
    /// `coverage/date=…`.
    pub coverage: PathBuf,
}

/// The entries of a finished [`FlowsFile`]: the `flows` file and its twins.
#[derive(Debug, Clone)]
pub struct FlowsEntries {
    /// The raw tuples.
    pub raw: FileEntry,
    /// Their hourly rollup (same name and blobs).
    pub hourly: FileEntry,
    /// Their hours and NICs (same name and blobs).
    pub coverage: FileEntry,
}

impl FlowsFile {
    /// Creates `dirs.flows/name` and, once it has rows, `dirs.hourly/name` and
    /// `dirs.coverage/name` (see [`DataFile::create`] for the other arguments).
    pub fn create(
        dirs: &TwinDirs,
        name: String,
        zstd_level: i32,
        row_group_rows: usize,
    ) -> Result<FlowsFile> {
        Ok(FlowsFile {
            raw: DataFile::create(&dirs.flows, name, zstd_level, row_group_rows)?,
            agg: HourlyAgg::default(),
            coverage: CoverageAgg::default(),
            pending: Default::default(),
            hourly: None,
            dirs: dirs.clone(),
            zstd_level,
            blobs: BTreeSet::new(),
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.raw.rows()
    }

    /// Appends a batch of `flows` rows, and its tuples to the rollup.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.raw.write(batch)?;
        self.agg.add(batch);
        if self.agg.len() >= HOURLY_SPILL_ROWS {
            self.spill(false)?;
        }
        Ok(())
    }

    /// Moves the rollup rows held so far to the rows pending by direction and decision, and
    /// writes the kinds that have a row group's worth; with `all`, every pending row.
    fn spill(&mut self, all: bool) -> Result<()> {
        if !self.agg.is_empty() {
            let (batch, kinds) = self.agg.finish();
            self.coverage.add(&batch);
            for (kind, range) in kinds {
                self.pending[kind].push(batch.slice(range.start, range.len()));
            }
        }
        for kind in 0..self.pending.len() {
            let rows: usize = self.pending[kind].iter().map(RecordBatch::num_rows).sum();
            if rows == 0 || (!all && rows < HOURLY_KIND_ROWS) {
                continue;
            }
            if self.hourly.is_none() {
                self.hourly = Some(self.twin(
                    &self.dirs.hourly,
                    (hourly_schema(), hourly::TIME_RANGE),
                    HOURLY_ROW_GROUP_ROWS,
                )?);
            }
            let twin = self.hourly.as_mut().expect("just created");
            for batch in std::mem::take(&mut self.pending[kind]) {
                twin.write(&batch)?;
            }
            twin.end_row_group()?;
        }
        Ok(())
    }

    /// Creates the twin of the raw file in `dir`: the same name, rows of `schema`.
    fn twin(
        &self,
        dir: &Path,
        schema: (SchemaRef, (usize, usize)),
        row_group_rows: usize,
    ) -> Result<DataFile> {
        let name = self.raw.name.clone();
        DataFile::create_with(dir, name, schema, self.zstd_level, row_group_rows)
    }

    /// Finishes the file and its twins; `None` (and no file left behind) when no row was
    /// written.
    pub fn finish(mut self) -> Result<Option<FlowsEntries>> {
        if self.raw.rows() == 0 {
            let path = self.raw.path.clone();
            drop(self.raw);
            std::fs::remove_file(&path).ctx("remove", &path)?;
            return Ok(None);
        }
        self.spill(true)?;
        let mut hourly = self.hourly.take().expect("a file with rows has a rollup");
        let mut coverage = self.twin(
            &self.dirs.coverage,
            (coverage_schema(), coverage::TIME_RANGE),
            ROW_GROUP_ROWS,
        )?;
        coverage.write(&self.coverage.finish())?;
        self.raw.blobs = self.blobs.clone();
        hourly.blobs = self.blobs.clone();
        coverage.blobs = self.blobs;
        Ok(Some(FlowsEntries {
            raw: self.raw.finish()?,
            hourly: hourly.finish()?,
            coverage: coverage.finish()?,
        }))
    }
}

/// Streams the record batches of a lake file to `f`.
pub fn read_batches(path: &Path, mut f: impl FnMut(RecordBatch) -> Result<()>) -> Result<()> {
    let file = File::open(path).ctx("open", path)?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .at(path)?
        .with_batch_size(65_536)
        .build()
        .at(path)?;
    for batch in reader {
        f(batch?)?;
    }
    Ok(())
}

/// Copies `src` to a new file `dirs.0/name` (and its rollup to `dirs.1/name`) without the
/// rows whose `source_blob` is in `drop`. Returns `None` when no row is left.
pub fn rewrite_without(
    src: &Path,
    entry: &FileEntry,
    drop_keys: &HashSet<&str>,
    drop_ids: &HashSet<u64>,
    dirs: &TwinDirs,
    name: String,
) -> Result<Option<FlowsEntries>> {
    let mut out = FlowsFile::create(dirs, name, 3, ROW_GROUP_ROWS)?;
    read_batches(src, |batch| {
        let blob = batch.column(schema::idx::SOURCE_BLOB).as_string::<i32>();
        let keep: BooleanArray = (0..blob.len())
            .map(|i| Some(!drop_keys.contains(blob.value(i))))
            .collect();
        out.write(&filter_record_batch(&batch, &keep)?)
    })?;
    out.blobs = entry
        .blobs
        .iter()
        .copied()
        .filter(|id| !drop_ids.contains(id))
        .collect();
    out.finish()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Int32Array, Int32RunArray, StringArray, StringViewArray,
        TimestampMicrosecondArray,
    };
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use parquet::arrow::arrow_reader::{ArrowReaderOptions, RowSelection, RowSelector};
    use parquet::file::metadata::PageIndexPolicy;
    use parquet::file::statistics::Statistics;

    use super::*;

    /// Row `i`'s `rule` (runs of 1 to 4,999 rows over three values, one longer than a view
    /// holds inline) and `mac` (runs of values and of nulls).
    fn rule(i: usize) -> &'static str {
        const RULES: [&str; 3] = [
            "DefaultRule_DenyAllInBound",
            "allow",
            "UserRule_a-long-name",
        ];
        RULES[(i * i / 7_919 + i / 4_999) % 3]
    }

    /// Row `i`'s record (runs of 1 to 90 rows) and its time (null for every seventh record).
    fn record(i: usize) -> i32 {
        (i / 13 + i / 90) as i32
    }

    fn record_time(i: usize) -> Option<i64> {
        let r = i64::from(record(i));
        (r % 7 != 0).then_some(1_700_000_000_000_000 - r * 1_000)
    }

    fn mac(i: usize) -> Option<&'static str> {
        match (i / 3_001) % 4 {
            0 => Some("00-0D-3A-10-00-01"),
            1 => None,
            2 => Some("00-0D-3A-10-00-00"),
            _ => Some("00-0D-3A-10-00-02"),
        }
    }

    #[test]
    fn run_columns_read_back_as_written_with_statistics_and_page_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("rule", DataType::Utf8, false),
            Field::new("mac", DataType::Utf8, true),
            Field::new("src_ip", DataType::Utf8, false),
            Field::new("source_record", DataType::Int32, false),
            Field::new(
                "record_time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        let rows = 70_000;
        let mut file = DataFile::create_with(
            dir.path(),
            "f.parquet".into(),
            (schema.clone(), (0, 0)),
            1,
            30_000,
        )
        .unwrap();
        // Batches of 7,000 rows (row groups end inside them, slicing runs), with text as
        // `Utf8`, as `Utf8View` built by a builder (equal long values in distinct views), or
        // run-end encoded, in turn.
        for (k, start) in (0..rows).step_by(7_000).enumerate() {
            let range = start..(start + 7_000).min(rows);
            let rules: Vec<&str> = range.clone().map(rule).collect();
            let macs: Vec<Option<&str>> = range.clone().map(mac).collect();
            let (rules, macs): (ArrayRef, ArrayRef) = match k % 3 {
                0 => (
                    Arc::new(StringArray::from(rules)),
                    Arc::new(StringArray::from(macs)),
                ),
                1 => (
                    Arc::new(StringViewArray::from(rules)),
                    Arc::new(StringViewArray::from(macs)),
                ),
                _ => (
                    Arc::new(rules.into_iter().collect::<Int32RunArray>()),
                    Arc::new(macs.into_iter().collect::<Int32RunArray>()),
                ),
            };
            let time = TimestampMicrosecondArray::from_iter_values(range.clone().map(|i| i as i64))
                .with_timezone("UTC");
            let ips: Vec<String> = range
                .clone()
                .map(|i| format!("10.0.0.{}", i % 250))
                .collect();
            let ips: ArrayRef = if k % 3 == 1 {
                Arc::new(StringViewArray::from(ips))
            } else {
                Arc::new(StringArray::from(ips))
            };
            // A record's index and time: numbers in runs (and null runs).
            let records: Vec<i32> = range.clone().map(record).collect();
            let record_times: Vec<Option<i64>> = range.clone().map(record_time).collect();
            let (records, record_times): (ArrayRef, ArrayRef) = if k % 3 == 2 {
                let ends: Vec<i32> = (1..=records.len())
                    .filter(|&e| e == records.len() || records[e] != records[e - 1])
                    .map(|e| e as i32)
                    .collect();
                let starts = std::iter::once(0).chain(ends.iter().map(|&e| e as usize));
                let (values, times): (Vec<i32>, Vec<Option<i64>>) = starts
                    .take(ends.len())
                    .map(|at| (records[at], record_times[at]))
                    .unzip();
                let ends = Int32Array::from(ends);
                let times = TimestampMicrosecondArray::from(times).with_timezone("UTC");
                (
                    crate::lake::rows::runs(&ends, &Int32Array::from(values)),
                    crate::lake::rows::runs(&ends, &times),
                )
            } else {
                (
                    Arc::new(Int32Array::from(records)),
                    Arc::new(TimestampMicrosecondArray::from(record_times).with_timezone("UTC")),
                )
            };
            let batch = crate::lake::rows::built_batch(
                &schema,
                vec![Arc::new(time), rules, macs, ips, records, record_times],
            );
            file.write(&batch).unwrap();
        }
        let entry = file.finish().unwrap();
        assert_eq!(entry.rows, rows as u64);

        let path = dir.path().join("f.parquet");
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let open = || {
            ParquetRecordBatchReaderBuilder::try_new_with_options(
                File::open(&path).unwrap(),
                options.clone(),
            )
            .unwrap()
        };
        let builder = open();
        let meta = builder.metadata().clone();
        assert_eq!(meta.num_row_groups(), 3);
        for (g, rg) in meta.row_groups().iter().enumerate() {
            let range = g * 30_000..((g + 1) * 30_000).min(rows);
            assert_eq!(rg.num_rows() as usize, range.len());
            let macs: Vec<&str> = range.clone().filter_map(mac).collect();
            let nulls = range.len() - macs.len();
            let Some(Statistics::ByteArray(s)) = rg.column(2).statistics() else {
                panic!("mac has statistics")
            };
            assert_eq!(s.null_count_opt(), Some(nulls as u64));
            assert_eq!(
                s.min_opt().unwrap().as_utf8().unwrap(),
                *macs.iter().min().unwrap()
            );
            assert_eq!(
                s.max_opt().unwrap().as_utf8().unwrap(),
                *macs.iter().max().unwrap()
            );
            let Some(Statistics::Int32(s)) = rg.column(4).statistics() else {
                panic!("source_record has statistics")
            };
            let records = || range.clone().map(record);
            assert_eq!(s.min_opt(), records().min().as_ref());
            assert_eq!(s.max_opt(), records().max().as_ref());
            let Some(Statistics::Int64(s)) = rg.column(5).statistics() else {
                panic!("record_time has statistics")
            };
            let times = || range.clone().filter_map(record_time);
            assert_eq!(s.min_opt(), times().min().as_ref());
            assert_eq!(s.max_opt(), times().max().as_ref());
            assert_eq!(
                s.null_count_opt(),
                Some((range.len() - times().count()) as u64)
            );
            let pages = &meta.offset_index().unwrap()[g][1].page_locations;
            assert_eq!(pages.len(), range.len().div_ceil(runs_page_rows()));
        }
        // Every row read back; then a selection in the middle of a page of the second row
        // group (skipping rows uses the offset index) reads the same values.
        assert_eq!(check_rows(builder, 0), rows);
        let selection =
            RowSelection::from(vec![RowSelector::skip(52_345), RowSelector::select(9_000)]);
        let at = check_rows(open().with_row_selection(selection), 52_345);
        assert_eq!(at, 52_345 + 9_000);
    }

    /// Reads the rows `builder` selects, checking each against [`rule`] and [`mac`] from row
    /// `at` on; returns the row after the last.
    fn check_rows(builder: ParquetRecordBatchReaderBuilder<File>, mut at: usize) -> usize {
        for batch in builder.build().unwrap() {
            let batch = batch.unwrap();
            let (r, m) = (
                batch.column(1).as_string::<i32>(),
                batch.column(2).as_string::<i32>(),
            );
            let records = batch
                .column(4)
                .as_primitive::<arrow::datatypes::Int32Type>();
            let times = batch
                .column(5)
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            for i in 0..batch.num_rows() {
                assert_eq!(records.value(i), record(at + i), "record of row {}", at + i);
                assert_eq!(
                    times.is_valid(i).then(|| times.value(i)),
                    record_time(at + i),
                    "record time of row {}",
                    at + i
                );
                assert_eq!(r.value(i), rule(at + i), "rule of row {}", at + i);
                assert_eq!(
                    m.is_valid(i).then(|| m.value(i)),
                    mac(at + i),
                    "mac of row {}",
                    at + i
                );
            }
            at += batch.num_rows();
        }
        at
    }

    fn runs_page_rows() -> usize {
        crate::lake::runs::PAGE_ROWS
    }
}
