//! The lake: layout, the `Lake`/`Txn` API that ingest and compact write through, and the
//! readers' view of a committed lake.
//!
//! Why: ingest and compaction build a transaction (new files, removed files, rejects, blob
//! checkpoints) and commit it in one step, whatever holds the lake. Two backends keep that
//! promise side by side: [`local`] (a directory: staged partition directories swapped in by
//! `renameat2`, a commit intent for recovery, `flock`) and [`remote`] (a prefix on Azure Blob
//! Storage or S3: uploads under unique names, one conditional write of the manifest as the
//! commit point, a lock object). Their protocols are drawn at the top of their files.
//!
//! Layout (both backends):
//! ```text
//! LAKE/flows/date=YYYY-MM-DD/part-*.parquet   the `flows` table (Hive partitions)
//! LAKE/hourly/date=YYYY-MM-DD/part-*.parquet  the `hourly` rollup: each file the twin of the
//!                                             `flows` file of the same name
//! LAKE/coverage/date=YYYY-MM-DD/part-*.parquet  the `coverage` table (tuples per hour and
//!                                             NIC): the same files' second twins
//! LAKE/inventory/part-*.parquet               the `inventory` table (addresses over time)
//! LAKE/rejects/rejects-*.ndjson               rejected input, one JSON object per line
//! LAKE/_flowlake/manifest.json                committed state (files, blob checkpoints)
//! ```
//! and, per backend, its lock and commit intents under `_flowlake/`.
//!
//! A transaction's files are always written to a local staging directory first
//! ([`Txn::partition_dir`]); the backend decides how they become visible.

pub mod coverage;
pub mod file;
pub mod hourly;
mod local;
pub mod manifest;
mod remote;
pub mod rows;
mod runs;
pub mod skim;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;

use skim::Checkpoints;

use crate::error::{Error, IoContext, Result};
use crate::lake::manifest::{BlobState, FileEntry, InventoryLog, Manifest};
use crate::store::Location;

pub use local::{NOT_ATOMIC, load_manifest, swap_is_atomic};

/// Directory of the `flows` table inside the lake.
pub const FLOWS_DIR: &str = "flows";
/// Directory of rejects files inside the lake.
pub const REJECTS_DIR: &str = "rejects";
/// Directory of flowlake's own metadata.
pub const META_DIR: &str = "_flowlake";
/// Directory of the `inventory` table inside the lake.
pub const INVENTORY_DIR: &str = "inventory";

/// The directory of `flows` partition `partition` (`date=…`), relative to the lake root.
pub fn flows_dir(partition: &str) -> String {
    format!("{FLOWS_DIR}/{partition}")
}

/// Test hook: whether the environment variable `FLOWLAKE_FAILPOINT` names `name`. Besides the
/// crash points of [`failpoint`], `no-rename-exchange` makes a local lake behave as on a file
/// system without `RENAME_EXCHANGE`, `open-error` makes opening a lake on object storage
/// fail once its lock is taken, and `worker-error` makes every ingest worker fail.
pub fn failpoint_is(name: &str) -> bool {
    static POINT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    POINT
        .get_or_init(|| std::env::var("FLOWLAKE_FAILPOINT").ok())
        .as_deref()
        == Some(name)
}

/// Crash-test hook: when `FLOWLAKE_FAILPOINT` equals `name`, the process aborts here, as a
/// `kill -9` would stop it. Used by the crash-consistency tests.
pub fn failpoint(name: &str) {
    if failpoint_is(name) {
        eprintln!("flowlake: failpoint {name}: aborting");
        std::process::abort();
    }
}

/// A lake opened for writing. Holds the write lock until dropped.
pub struct Lake {
    /// The lake root; for a lake on object storage, the local directory of its transactions.
    root: PathBuf,
    manifest: Manifest,
    backend: Backend,
}

enum Backend {
    Local(local::LocalLake),
    Remote(remote::RemoteLake),
}

/// Changes being prepared for one commit.
pub struct Txn {
    version: u64,
    /// Start of the names of the files it writes: the version, and on object storage the
    /// writer's token, so no two writers ever write the same name.
    stem: String,
    dir: PathBuf,
    /// Files added and removed, by table directory relative to the lake root.
    adds: BTreeMap<String, Vec<FileEntry>>,
    removes: BTreeMap<String, BTreeSet<String>>,
    rejects: Vec<String>,
    /// Committed rejects files this transaction deletes (retention).
    removed_rejects: Vec<String>,
    blobs: Vec<(String, BlobState)>,
    next_blob_id: u64,
    /// The inventory's import log after this transaction, when it changes it.
    inventory: Option<InventoryLog>,
}

impl Txn {
    /// Transaction number.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// How the names of its files start (after `part-` or `rejects-`): the zero-padded
    /// version, plus the writer's token on object storage.
    pub fn stem(&self) -> &str {
        &self.stem
    }

    /// Staging directory for new files of `flows` partition `partition`.
    pub fn partition_dir(&self, partition: &str) -> PathBuf {
        self.table_dir(&flows_dir(partition))
    }

    /// Staging directory for new files of the table directory `dir` (relative to the lake
    /// root: `flows/date=…`, `inventory`).
    pub fn table_dir(&self, dir: &str) -> PathBuf {
        self.dir.join(dir)
    }

    /// Staging directory for rejects files.
    pub fn rejects_dir(&self) -> PathBuf {
        self.dir.join(REJECTS_DIR)
    }

    /// Staging directories for new files of `flows` partition `partition` and their `hourly`
    /// and `coverage` twins.
    pub fn twin_dirs(&self, partition: &str) -> file::TwinDirs {
        file::TwinDirs {
            flows: self.partition_dir(partition),
            hourly: self.table_dir(&hourly::hourly_dir(partition)),
            coverage: self.table_dir(&coverage::coverage_dir(partition)),
        }
    }

    /// Records a finished `flows` data file and its twins, written under
    /// [`Txn::twin_dirs`].
    pub fn add_files(&mut self, partition: &str, entries: file::FlowsEntries) {
        self.add_table_file(&flows_dir(partition), entries.raw);
        self.add_table_file(&hourly::hourly_dir(partition), entries.hourly);
        self.add_table_file(&coverage::coverage_dir(partition), entries.coverage);
    }

    /// Removes a committed data file of `flows` partition `partition`, and its twins (those
    /// it has: files written before a twin existed have none).
    pub fn remove_file(&mut self, partition: &str, name: &str) {
        self.remove_table_file(&flows_dir(partition), name);
        self.remove_table_file(&hourly::hourly_dir(partition), name);
        self.remove_table_file(&coverage::coverage_dir(partition), name);
    }

    /// Records a finished data file written under [`Txn::table_dir`] of `dir`.
    pub fn add_table_file(&mut self, dir: &str, entry: FileEntry) {
        self.adds.entry(dir.to_string()).or_default().push(entry);
    }

    /// Removes a committed data file of the table directory `dir`.
    pub fn remove_table_file(&mut self, dir: &str, name: &str) {
        self.removes
            .entry(dir.to_string())
            .or_default()
            .insert(name.to_string());
    }

    /// Records a rejects file written under [`Txn::rejects_dir`].
    pub fn add_rejects(&mut self, name: String) {
        self.rejects.push(name);
    }

    /// Deletes a committed rejects file (by name, as the manifest lists it).
    pub fn remove_rejects(&mut self, name: String) {
        self.removed_rejects.push(name);
    }

    /// Sets a blob's new checkpoint.
    pub fn set_blob(&mut self, key: String, state: BlobState) {
        self.blobs.push((key, state));
    }

    /// Sets the inventory's import log (files imported, snapshot times) as of this commit.
    pub fn set_inventory(&mut self, log: InventoryLog) {
        self.inventory = Some(log);
    }

    /// Allocates an id for a blob seen for the first time.
    pub fn new_blob_id(&mut self) -> u64 {
        self.next_blob_id += 1;
        self.next_blob_id - 1
    }

    /// True when the transaction changes nothing.
    pub fn is_empty(&self) -> bool {
        self.adds.is_empty()
            && self.removes.is_empty()
            && self.rejects.is_empty()
            && self.removed_rejects.is_empty()
            && self.blobs.is_empty()
            && self.inventory.is_none()
    }
}

/// Parses a manifest (`path` names it in errors), refusing another format or schema version.
fn parse_manifest<B: Checkpoints>(bytes: &[u8], path: &Path) -> Result<Manifest<B>> {
    // A reader's copy without the blob checkpoints, when they can be cut out of the text.
    let skimmed = if B::SKIPPED {
        skim::without_blobs(bytes)
    } else {
        None
    };
    let m: Manifest<B> =
        serde_json::from_slice(skimmed.as_deref().unwrap_or(bytes)).map_err(|e| Error::Lake {
            path: path.to_path_buf(),
            message: format!("manifest is not valid: {e}"),
        })?;
    if m.format != manifest::FORMAT {
        return Err(Error::Lake {
            path: path.to_path_buf(),
            message: format!("unknown format {:?}", m.format),
        });
    }
    if m.schema_version != crate::schema::SCHEMA_VERSION {
        return Err(Error::Lake {
            path: path.to_path_buf(),
            message: format!(
                "schema version {} but this flowlake writes version {}",
                m.schema_version,
                crate::schema::SCHEMA_VERSION
            ),
        });
    }
    Ok(m)
}

/// A lake's committed manifest, read without locking, for readers: without the blob
/// checkpoints ([`Manifest::for_reading`]).
pub async fn read_manifest(lake: &Location) -> Result<Manifest> {
    Ok(read_committed::<IgnoredAny>(lake).await?.for_reading())
}

/// A lake's committed manifest with its blob checkpoints, read without locking
/// (`flowlake info` counts them).
pub async fn read_manifest_with_blobs(lake: &Location) -> Result<Manifest> {
    read_committed(lake).await
}

async fn read_committed<B: Checkpoints>(lake: &Location) -> Result<Manifest<B>> {
    match lake {
        Location::Local(p) => local::load(p),
        Location::Remote(r) => remote::read_manifest(r).await,
    }
}

/// True when a local lake's commit has passed its commit point but is not fully applied: a
/// writer is applying it right now, or one crashed and the next `ingest` or `compact` will
/// finish it. Until then a reader may see some partitions of that commit new and others old.
/// A commit to a lake on object storage is one write of its manifest, so never there.
pub fn commit_pending(lake: &Location) -> bool {
    match lake {
        Location::Local(p) => local::commit_pending(p),
        Location::Remote(_) => false,
    }
}

impl Lake {
    /// Opens the lake at `lake` for writing, creating it if needed: takes the write lock and
    /// finishes or cleans up after interrupted transactions.
    pub fn open(lake: &Location) -> Result<Lake> {
        match lake {
            Location::Local(p) => {
                let (l, manifest) = local::LocalLake::open(p)?;
                Ok(Lake {
                    root: l.root().to_path_buf(),
                    manifest,
                    backend: Backend::Local(l),
                })
            }
            Location::Remote(r) => {
                let (l, manifest) = remote::RemoteLake::open(r.clone())?;
                Ok(Lake {
                    root: l.work_dir().to_path_buf(),
                    manifest,
                    backend: Backend::Remote(l),
                })
            }
        }
    }

    /// What a writer should know about this lake's guarantees here (for example, partition
    /// swaps that are not atomic on this file system), one sentence each.
    pub fn warnings(&self) -> Vec<String> {
        match &self.backend {
            Backend::Local(l) if !l.atomic_swap => {
                vec![format!("lake {}: {NOT_ATOMIC}", self.root.display())]
            }
            _ => vec![],
        }
    }

    /// The lake as named: its directory, or its URL.
    pub fn name(&self) -> String {
        match &self.backend {
            Backend::Local(_) => self.root.display().to_string(),
            Backend::Remote(r) => r.remote().name().to_string(),
        }
    }

    /// How the keys of the lake's own objects start (a directory path, or a URL, ending
    /// with `/`), so that ingest never takes them for flow logs.
    pub fn key_prefix(&self) -> String {
        match &self.backend {
            Backend::Local(_) => format!("{}/", self.root.display()),
            Backend::Remote(r) => r.remote().key_prefix(),
        }
    }

    /// The committed state.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// A local path to read a committed data file of `flows` partition `partition` from.
    pub fn data_file(&self, partition: &str, name: &str) -> Result<PathBuf> {
        self.table_file(&flows_dir(partition), name)
    }

    /// A local path to read a committed data file of the table directory `dir` from: the
    /// file itself, or for a lake on object storage a downloaded copy.
    pub fn table_file(&self, dir: &str, name: &str) -> Result<PathBuf> {
        match &self.backend {
            Backend::Local(_) => Ok(self.root.join(dir).join(name)),
            Backend::Remote(r) => r.fetch(dir, name),
        }
    }

    /// Starts a transaction.
    pub fn begin(&self) -> Result<Txn> {
        let version = self.manifest.version + 1;
        let dir = self
            .root
            .join(META_DIR)
            .join("staging")
            .join(version.to_string());
        fs::create_dir_all(&dir).ctx("create", &dir)?;
        let stem = match &self.backend {
            Backend::Local(_) => format!("{version:08}"),
            Backend::Remote(r) => format!("{version:08}-{}", r.token()),
        };
        Ok(Txn {
            version,
            stem,
            dir,
            adds: BTreeMap::new(),
            removes: BTreeMap::new(),
            rejects: Vec::new(),
            removed_rejects: Vec::new(),
            blobs: Vec::new(),
            next_blob_id: self.manifest.next_blob_id,
            inventory: None,
        })
    }

    /// Discards a transaction's staged files.
    pub fn abort(&self, txn: Txn) -> Result<()> {
        remove_dir_if_exists(&txn.dir)
    }

    /// Commits a transaction atomically (see the module docs). An empty transaction is dropped.
    pub fn commit(&mut self, txn: Txn) -> Result<()> {
        if txn.is_empty() {
            return self.abort(txn);
        }
        let mut next = next_manifest(&self.manifest, &txn);
        match &mut self.backend {
            Backend::Local(l) => l.commit(&txn, &next)?,
            Backend::Remote(r) => {
                r.commit(&txn, &mut next)?;
                remove_dir_if_exists(&txn.dir)?;
            }
        }
        self.manifest = next;
        Ok(())
    }
}

/// The manifest after `txn`: its files added and removed, its checkpoints and rejects files.
fn next_manifest(current: &Manifest, txn: &Txn) -> Manifest {
    let mut next = current.clone();
    next.version = txn.version;
    next.next_blob_id = txn.next_blob_id;
    let touched: BTreeSet<&String> = txn.adds.keys().chain(txn.removes.keys()).collect();
    for dir in touched {
        let removed = txn.removes.get(dir);
        let files = next.dir_files_mut(dir);
        files.retain(|f| !removed.is_some_and(|r| r.contains(&f.name)));
        files.extend(txn.adds.get(dir).into_iter().flatten().cloned());
        files.sort_by(|a, b| a.name.cmp(&b.name));
        if files.is_empty() {
            next.drop_dir(dir);
        }
    }
    for (key, state) in &txn.blobs {
        next.blobs.insert(key.clone(), state.clone());
    }
    next.rejects.retain(|r| !txn.removed_rejects.contains(r));
    next.rejects.extend(txn.rejects.iter().cloned());
    if let Some(log) = &txn.inventory {
        next.inventory = log.clone();
    }
    next
}

fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io {
            op: "remove",
            path: dir.to_path_buf(),
            source: e,
        }),
    }
}
