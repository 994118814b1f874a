//! Compaction: merge each partition's small files into few large ones.
//!
//! Why: every ingest chunk adds one file per worker and partition, so an hourly job leaves
//! dozens of small files per day; readers pay per file. Compaction streams the rows of a
//! partition into new files (batch by batch, never the whole partition in memory) and swaps
//! them in with the same atomic commit as ingest, so a reader sees the old files or the new
//! ones, never both and never neither. A partition with files written before the hourly
//! rollup or the coverage table existed is rewritten whatever its file count, which writes
//! their twins.

use serde::Serialize;

use crate::error::Result;
use crate::lake::Lake;
use crate::lake::file::{FlowsEntries, FlowsFile, read_batches};
use crate::lake::manifest::FileEntry;

/// What to compact.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// A partition is compacted when it has at least this many files.
    pub min_files: usize,
    /// Rows per output file at most.
    pub target_rows: u64,
    /// zstd level of the output files.
    pub zstd_level: i32,
    /// Rows per row group: smaller groups let time predicates skip finer slices of a file.
    pub row_group_rows: usize,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            min_files: 2,
            target_rows: 16 << 20,
            zstd_level: 3,
            row_group_rows: crate::lake::file::ROW_GROUP_ROWS,
        }
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactSummary {
    /// Partitions rewritten.
    pub partitions: u64,
    /// Files before.
    pub files_before: u64,
    /// Files after.
    pub files_after: u64,
    /// Rows moved.
    pub rows: u64,
    /// Bytes before.
    pub bytes_before: u64,
    /// Bytes after.
    pub bytes_after: u64,
    /// Lake version after the run.
    pub lake_version: u64,
}

/// Compacts every partition with at least `min_files` files, or with files that have no
/// hourly rollup or coverage twin yet, one commit per partition.
pub fn compact(lake: &mut Lake, opts: &CompactOptions) -> Result<CompactSummary> {
    let mut summary = CompactSummary::default();
    let todo: Vec<(String, Vec<FileEntry>)> = lake
        .manifest()
        .partitions
        .iter()
        .filter(|(p, files)| {
            let m = lake.manifest();
            files.len() >= opts.min_files.max(2)
                || m.files_without_rollup(p) > 0
                || m.files_without_coverage(p) > 0
        })
        .map(|(p, f)| (p.clone(), f.clone()))
        .collect();
    for (partition, files) in todo {
        let mut txn = lake.begin()?;
        let dirs = txn.twin_dirs(&partition);
        let mut seq = 0;
        let mut out: Option<FlowsFile> = None;
        let mut done: Vec<FlowsEntries> = Vec::new();
        let mut sorted = files.clone();
        sorted.sort_by_key(|f| (f.min_time_us, f.name.clone()));
        for f in &sorted {
            if out
                .as_ref()
                .is_some_and(|o| o.rows() + f.rows > opts.target_rows && o.rows() > 0)
            {
                done.extend(out.take().expect("checked").finish()?);
            }
            if out.is_none() {
                seq += 1;
                let name = format!("part-{}-c-{seq:05}.parquet", txn.stem());
                out = Some(FlowsFile::create(
                    &dirs,
                    name,
                    opts.zstd_level,
                    opts.row_group_rows,
                )?);
            }
            let o = out.as_mut().expect("just created");
            o.blobs.extend(f.blobs.iter().copied());
            read_batches(&lake.data_file(&partition, &f.name)?, |b| o.write(&b))?;
        }
        if let Some(o) = out {
            done.extend(o.finish()?);
        }
        summary.partitions += 1;
        summary.files_before += files.len() as u64;
        summary.files_after += done.len() as u64;
        summary.rows += files.iter().map(|f| f.rows).sum::<u64>();
        summary.bytes_before += files.iter().map(|f| f.bytes).sum::<u64>();
        summary.bytes_after += done.iter().map(|f| f.raw.bytes).sum::<u64>();
        for f in &files {
            txn.remove_file(&partition, &f.name);
        }
        for f in done {
            txn.add_files(&partition, f);
        }
        lake.commit(txn)?;
    }
    summary.lake_version = lake.manifest().version;
    Ok(summary)
}
