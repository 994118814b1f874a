//! `flowlake compact`: merge each partition's small files.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};

use flowlake::compact::{CompactOptions, compact};
use flowlake::lake::Lake;

use crate::args::CompactArgs;
use crate::out;

/// Runs the compaction.
pub fn run(a: CompactArgs) -> Result<ExitCode> {
    let mut lake = Lake::open(&a.lake.location()?)?;
    for w in lake.warnings() {
        out::warning(&w);
    }
    let opts = CompactOptions {
        min_files: a.min_files,
        target_rows: a.target_rows,
        row_group_rows: usize::try_from(a.row_group_rows)?,
        ..Default::default()
    };
    let s = compact(&mut lake, &opts).context("compaction failed")?;
    if a.json {
        out::json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = out::stdout();
    writeln!(
        out,
        "compacted {} partitions: {} files -> {} files, {} rows, {:.1} MB -> {:.1} MB (lake version {})",
        s.partitions,
        s.files_before,
        s.files_after,
        s.rows,
        s.bytes_before as f64 / 1e6,
        s.bytes_after as f64 / 1e6,
        s.lake_version
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
