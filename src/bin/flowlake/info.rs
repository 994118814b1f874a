//! `flowlake info`: what a lake holds, per partition, and what a reader should know.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use flowlake::store::Location;

use crate::args::InfoArgs;
use crate::out;
use crate::session::runtime;

/// One table's extent: rows, files, bytes, and the time its rows span (µs).
#[derive(Default, serde::Serialize)]
struct Extent {
    rows: u64,
    files: u64,
    bytes: u64,
    #[serde(skip)]
    first_us: Option<i64>,
    #[serde(skip)]
    last_us: Option<i64>,
    first: Option<String>,
    last: Option<String>,
}

/// Each table's extent (`flows`, `hourly`, `inventory`), from the manifest.
fn tables(m: &flowlake::lake::manifest::Manifest) -> std::collections::BTreeMap<String, Extent> {
    let mut t: std::collections::BTreeMap<String, Extent> = Default::default();
    for (dir, f) in m.data_files() {
        let name = dir.split('/').next().unwrap_or(&dir).to_string();
        let e = t.entry(name).or_default();
        e.rows += f.rows;
        e.files += 1;
        e.bytes += f.bytes;
        if f.rows > 0 {
            e.first_us = Some(e.first_us.map_or(f.min_time_us, |x| x.min(f.min_time_us)));
            e.last_us = Some(e.last_us.map_or(f.max_time_us, |x| x.max(f.max_time_us)));
        }
    }
    for e in t.values_mut() {
        e.first = e.first_us.map(out::time);
        e.last = e.last_us.map(out::time);
    }
    t
}

/// Prints the lake's summary.
pub fn run(a: InfoArgs) -> Result<ExitCode> {
    let lake = a.lake.location()?;
    let m = runtime()?.block_on(flowlake::lake::read_manifest_with_blobs(&lake))?;
    let pending = flowlake::lake::commit_pending(&lake);
    // Partition swaps of a local lake are atomic only where the file system can exchange
    // directories; a lake on object storage commits by one manifest write.
    let atomic_swap = match &lake {
        Location::Local(root) => {
            flowlake::lake::swap_is_atomic(&root.join(flowlake::lake::META_DIR))
        }
        Location::Remote(_) => None,
    };
    let inventory_rows: u64 = m
        .dir_files(flowlake::lake::INVENTORY_DIR)
        .into_iter()
        .flatten()
        .map(|f| f.rows)
        .sum();
    let clusters: std::collections::BTreeSet<&str> = m
        .inventory
        .imports
        .values()
        .map(|r| r.cluster.as_str())
        .collect();
    let tables = tables(&m);
    if a.json {
        out::json(&serde_json::json!({
            "tables": tables,
            "lake": lake.name(),
            "version": m.version,
            "schema_version": m.schema_version,
            "rows": m.rows(),
            "files": m.files(),
            "blobs": m.blobs.len(),
            "partitions": m.partitions,
            "commit_pending": pending,
            "atomic_partition_swap": atomic_swap,
            "blobs_pending": m.blobs.values().filter(|b| b.pending).count(),
            "inventory": {
                "intervals": inventory_rows,
                "files_imported": m.inventory.imports.len(),
                "clusters": clusters,
            },
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = out::stdout();
    writeln!(
        out,
        "lake {} version {}, schema version {}: {} rows in {} files, {} blobs",
        lake.name(),
        m.version,
        m.schema_version,
        m.rows(),
        m.files(),
        m.blobs.len()
    )?;
    writeln!(
        out,
        "{:<18} {:>6} {:>12} {:>10}  {:<19}  {:<19}",
        "table", "files", "rows", "MB", "first", "last"
    )?;
    for (name, e) in &tables {
        writeln!(
            out,
            "{name:<18} {:>6} {:>12} {:>10.1}  {:<19}  {:<19}",
            e.files,
            e.rows,
            e.bytes as f64 / 1e6,
            e.first.as_deref().unwrap_or("-"),
            e.last.as_deref().unwrap_or("-")
        )?;
    }
    writeln!(
        out,
        "{:<18} {:>6} {:>12} {:>10}  {:<19}  {:<19}",
        "partition", "files", "rows", "MB", "first", "last"
    )?;
    for (p, files) in &m.partitions {
        let rows: u64 = files.iter().map(|f| f.rows).sum();
        let bytes: u64 = files.iter().map(|f| f.bytes).sum();
        let lo = files
            .iter()
            .map(|f| f.min_time_us)
            .min()
            .unwrap_or_default();
        let hi = files
            .iter()
            .map(|f| f.max_time_us)
            .max()
            .unwrap_or_default();
        writeln!(
            out,
            "{p:<18} {:>6} {rows:>12} {:>10.1}  {}  {}",
            files.len(),
            bytes as f64 / 1e6,
            out::time(lo),
            out::time(hi)
        )?;
    }
    if !m.inventory.imports.is_empty() {
        let clusters: Vec<&str> = clusters.into_iter().collect();
        writeln!(
            out,
            "inventory: {inventory_rows} address bindings from {} imported files (clusters: {})",
            m.inventory.imports.len(),
            clusters.join(", ")
        )?;
    }
    if pending {
        writeln!(
            out,
            "a commit is being applied or was interrupted; the next ingest or compact finishes it"
        )?;
    }
    if atomic_swap == Some(false) {
        writeln!(out, "warning: {}", flowlake::lake::NOT_ATOMIC)?;
    }
    let torn = m.blobs.values().filter(|b| b.pending).count();
    if torn > 0 {
        writeln!(
            out,
            "{torn} blobs end in a record still being written; the next ingest reads on from there"
        )?;
    }
    let rejected: u64 = m.blobs.values().map(|b| b.rejected).sum();
    let broken = m.blobs.values().filter(|b| b.broken).count();
    if rejected > 0 {
        writeln!(
            out,
            "{rejected} items rejected so far ({broken} blobs with an unreadable tail); see {}/rejects/",
            lake.name()
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
