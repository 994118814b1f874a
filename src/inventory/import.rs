//! `flowlake inventory import`: inventory files into the lake's `inventory` table, exactly
//! once.
//!
//! Why: imports run from cron next to ingest and must be safe to repeat. Each file is
//! recorded in the manifest with the hash of its bytes, in the same commit as the table file
//! built from it; a file already imported with the same bytes is skipped, and merging is
//! idempotent anyway ([`super::intervals`]), so a crash at any point leaves either the old
//! table and log or the new ones.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Utc};

use super::intervals::{Interval, Snapshots, merge};
use super::{InventoryReject, Observation, backends, read, table};
use crate::error::{Error, IoContext, Result};
use crate::lake::manifest::{ImportRecord, InventoryLog};
use crate::lake::{INVENTORY_DIR, Lake};
use crate::source::{self, Read};
use crate::store::Location;

/// Largest inventory file read (a `kubectl get pods -A -o json` of 50 000 pods is about
/// 500 MB).
const MAX_FILE: u64 = 4 << 30;

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The cluster (or Azure estate) the files describe.
    pub cluster: String,
    /// The snapshot time; by default each file's modification time.
    pub at: Option<DateTime<Utc>>,
}

/// What an import did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ImportSummary {
    /// Files found.
    pub files: usize,
    /// Files read and merged.
    pub imported: usize,
    /// Files skipped: imported before with the same bytes.
    pub unchanged: usize,
    /// Files imported per shape.
    pub shapes: BTreeMap<String, usize>,
    /// Bindings observed in the imported files.
    pub observations: usize,
    /// Full listings (snapshot time × object kind) added.
    pub snapshots: usize,
    /// Rows of `inventory` before and after.
    pub intervals_before: usize,
    /// Rows of `inventory` after.
    pub intervals_after: usize,
    /// Items that could not be used (each also in the rejects file).
    pub rejects: Vec<InventoryReject>,
    /// Files refused as a whole (not recorded as imported: a re-import reads them again).
    pub refused: usize,
    /// Address fields whose text is not an address (a redacted `***HIDDEN***`), skipped.
    pub unreadable_addresses: usize,
    /// Services whose workload came from pods or EndpointSlices in other files
    /// ([`super::backends`]).
    pub services_named_across_files: usize,
    /// Files of a known shape that gave no binding, with the reason.
    pub warnings: Vec<String>,
    /// The rejects file written (`rejects/…`), if any.
    pub rejects_file: Option<String>,
    /// Lake version after the import.
    pub version: u64,
}

/// Imports the inventory files under `sources` into the lake at `lake` (see the module docs).
pub fn import(
    lake: &Location,
    sources: &[Location],
    opts: &ImportOptions,
) -> Result<ImportSummary> {
    let mut lake = Lake::open(lake)?;
    let found = source::discover(sources, &lake.key_prefix(), None)?;
    let mut log = lake.manifest().inventory.clone();
    let mut summary = ImportSummary {
        files: found.blobs.len(),
        ..ImportSummary::default()
    };
    let mut observations: Vec<Observation> = Vec::new();
    let mut pending = Vec::new();
    let mut slices = Vec::new();
    let mut buf = Vec::new();
    let now = Utc::now();
    for blob in &found.blobs {
        match source::read(blob, &mut buf, MAX_FILE, None)? {
            Read::TooLarge(n) => {
                return Err(Error::Source {
                    name: blob.key.clone(),
                    message: format!("{n} bytes: larger than the {MAX_FILE}-byte limit"),
                });
            }
            Read::Whole | Read::Resumed { .. } => {}
        }
        let hash = source::hash_hex(&buf);
        if log
            .imports
            .get(&blob.key)
            .is_some_and(|r| r.hash == hash && r.cluster == opts.cluster)
        {
            summary.unchanged += 1;
            continue;
        }
        let at = opts
            .at
            .map(|t| t.timestamp_micros())
            .or(blob.mtime_ns.map(|ns| ns.div_euclid(1000)))
            .unwrap_or(now.timestamp_micros());
        let parsed = read(&blob.key, &buf, &opts.cluster, at);
        summary.unreadable_addresses += parsed.unreadable_addresses;
        summary.warnings.extend(parsed.warnings.iter().cloned());
        if parsed.refused() {
            // Only files read are recorded: once the user fixes this one (or flowlake learns
            // its shape), the next import reads it.
            summary.refused += 1;
            summary.rejects.extend(parsed.rejects);
            continue;
        }
        summary.imported += 1;
        *summary
            .shapes
            .entry(parsed.shape.name().to_string())
            .or_default() += 1;
        summary.observations += parsed.observations.len();
        for s in parsed.snapshots {
            let added = log
                .snapshots
                .entry(s.cluster)
                .or_default()
                .entry(s.object)
                .or_default()
                .insert(s.at);
            summary.snapshots += usize::from(added);
        }
        observations.extend(parsed.observations);
        pending.extend(parsed.pending);
        slices.extend(parsed.slices);
        summary.rejects.extend(parsed.rejects);
        log.imports.insert(
            blob.key.clone(),
            ImportRecord {
                hash,
                cluster: opts.cluster.clone(),
                at_us: at,
                shape: parsed.shape.name().to_string(),
            },
        );
    }

    let existing = current(&lake)?;
    summary.intervals_before = existing.len();
    if summary.imported == 0 {
        summary.intervals_after = existing.len();
        summary.version = lake.manifest().version;
        return Ok(summary);
    }
    let mut merged = merge(existing, observations, &snapshot_times(&log));
    summary.services_named_across_files = backends::resolve(&mut merged, &pending, &slices);
    summary.intervals_after = merged.len();

    let mut txn = lake.begin()?;
    let name = format!("part-{}-i.parquet", txn.stem());
    let entry = match table::write(&txn.table_dir(INVENTORY_DIR), &name, &mut merged) {
        Ok(e) => e,
        Err(e) => {
            lake.abort(txn)?;
            return Err(e);
        }
    };
    let old: Vec<String> = lake
        .manifest()
        .dir_files(INVENTORY_DIR)
        .into_iter()
        .flatten()
        .map(|f| f.name.clone())
        .collect();
    for f in old {
        txn.remove_table_file(INVENTORY_DIR, &f);
    }
    txn.add_table_file(INVENTORY_DIR, entry);
    if !summary.rejects.is_empty() {
        let name = format!("rejects-{}-inventory.ndjson", txn.stem());
        let dir = txn.rejects_dir();
        std::fs::create_dir_all(&dir).ctx("create", &dir)?;
        let path = dir.join(&name);
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).ctx("create", &path)?);
        for r in &summary.rejects {
            serde_json::to_writer(&mut f, r).expect("rejects serialise");
            f.write_all(b"\n").ctx("write", &path)?;
        }
        let f = f.into_inner().map_err(|e| Error::Io {
            op: "write",
            path: path.clone(),
            source: e.into_error(),
        })?;
        f.sync_all().ctx("sync", &path)?;
        txn.add_rejects(name.clone());
        summary.rejects_file = Some(format!("{}/{name}", crate::lake::REJECTS_DIR));
    }
    txn.set_inventory(log);
    lake.commit(txn)?;
    summary.version = lake.manifest().version;
    Ok(summary)
}

/// The snapshot times of a log, as [`merge`] takes them.
pub fn snapshot_times(log: &InventoryLog) -> Snapshots {
    log.snapshots
        .iter()
        .flat_map(|(c, kinds)| {
            kinds
                .iter()
                .map(move |(k, t)| ((c.clone(), k.clone()), t.clone()))
        })
        .collect()
}

/// The committed intervals of an open lake.
fn current(lake: &Lake) -> Result<Vec<Interval>> {
    let mut out = Vec::new();
    for f in lake
        .manifest()
        .dir_files(INVENTORY_DIR)
        .into_iter()
        .flatten()
    {
        out.extend(table::read(&lake.table_file(INVENTORY_DIR, &f.name)?)?);
    }
    Ok(out)
}
