//! The lake on disk: layout, write lock, transactions and crash recovery.
//!
//! Why: the lake must stay readable and free of duplicates after a crash at any instant, and
//! plain Parquet readers (pandas, DuckDB, Spark) see only directories, not our manifest. So
//! every commit replaces each touched partition directory in one atomic step, and a commit
//! intent written before the first step lets the next writer finish an interrupted commit.
//!
//! Layout:
//! ```text
//! LAKE/flows/date=YYYY-MM-DD/part-*.parquet   the `flows` table (Hive partitions)
//! LAKE/rejects/rejects-*.ndjson               rejected input, one JSON object per line
//! LAKE/_flowlake/manifest.json                committed state (files, blob checkpoints)
//! LAKE/_flowlake/txn.json                     commit intent, present only mid-commit
//! LAKE/_flowlake/staging/<version>/           files of the transaction being built
//! LAKE/_flowlake/lock                         write lock (one writer at a time)
//! ```
//!
//! Commit protocol for transaction `v`:
//! 1. data files are written and fsynced under `staging/v/flows/<partition>/`;
//! 2. each touched partition's staged directory receives hard links to the files it keeps,
//!    and the next manifest is written to `staging/v/manifest.json`;
//! 3. `txn.json` is written and renamed into place: **the commit point**;
//! 4. each staged partition directory atomically replaces the live one (`renameat2` with
//!    `RENAME_EXCHANGE`; a rename when the partition is new), then the rejects files and the
//!    manifest are moved in, `txn.json` is removed and the staging directory deleted.
//!
//! Step 4 is idempotent (a partition whose live directory already has the staged inode is
//! done), so recovery is: if `txn.json` exists, redo step 4; then delete all staging.
//!
//! A lake on Azure Blob Storage or S3 has its own lock and commit protocol
//! ([`remote`]); transactions are built the same way, in a local temporary directory.

pub mod file;
pub mod location;
pub mod manifest;
mod remote;
pub mod rows;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::lake::location::LakeRef;
use crate::lake::manifest::{BlobState, FileEntry, Manifest};
use crate::source::Remote;

/// Directory of the `flows` table inside the lake.
pub const FLOWS_DIR: &str = "flows";
/// Directory of rejects files inside the lake.
pub const REJECTS_DIR: &str = "rejects";
/// Directory of flowlake's own metadata.
pub const META_DIR: &str = "_flowlake";

/// Crash-test hook: when the environment variable `FLOWLAKE_FAILPOINT` equals `name`, the
/// process aborts here, as a `kill -9` would stop it. Used by the crash-consistency tests.
pub fn failpoint(name: &str) {
    static POINT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if POINT
        .get_or_init(|| std::env::var("FLOWLAKE_FAILPOINT").ok())
        .as_deref()
        == Some(name)
    {
        eprintln!("flowlake: failpoint {name}: aborting");
        std::process::abort();
    }
}

/// The commit intent (`_flowlake/txn.json`).
#[derive(Debug, Serialize, Deserialize)]
struct Intent {
    version: u64,
    /// Partition name → inode of its staged directory.
    partitions: BTreeMap<String, u64>,
    /// Rejects files staged under `staging/v/rejects/`.
    rejects: Vec<String>,
}

/// A lake opened for writing. Holds the write lock until dropped.
pub struct Lake {
    /// The lake root; for a lake on object storage, the local directory of its transactions.
    root: PathBuf,
    manifest: Manifest,
    backend: Backend,
}

enum Backend {
    Local { _lock: File },
    Remote(remote::RemoteLake),
}

/// Changes being prepared for one commit.
pub struct Txn {
    version: u64,
    /// Start of the names of the files it writes: the version, and on object storage the
    /// writer's token, so no two writers ever write the same name.
    stem: String,
    dir: PathBuf,
    adds: BTreeMap<String, Vec<FileEntry>>,
    removes: BTreeMap<String, BTreeSet<String>>,
    rejects: Vec<String>,
    blobs: Vec<(String, BlobState)>,
    next_blob_id: u64,
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

    /// Staging directory for new files of `partition`.
    pub fn partition_dir(&self, partition: &str) -> PathBuf {
        self.dir.join(FLOWS_DIR).join(partition)
    }

    /// Staging directory for rejects files.
    pub fn rejects_dir(&self) -> PathBuf {
        self.dir.join(REJECTS_DIR)
    }

    /// Records a finished data file written under [`Txn::partition_dir`].
    pub fn add_file(&mut self, partition: String, entry: FileEntry) {
        self.adds.entry(partition).or_default().push(entry);
    }

    /// Removes a committed data file.
    pub fn remove_file(&mut self, partition: &str, name: &str) {
        self.removes
            .entry(partition.to_string())
            .or_default()
            .insert(name.to_string());
    }

    /// Records a rejects file written under [`Txn::rejects_dir`].
    pub fn add_rejects(&mut self, name: String) {
        self.rejects.push(name);
    }

    /// Sets a blob's new checkpoint.
    pub fn set_blob(&mut self, key: String, state: BlobState) {
        self.blobs.push((key, state));
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
            && self.blobs.is_empty()
    }
}

fn meta(root: &Path) -> PathBuf {
    root.join(META_DIR)
}

fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .ctx("sync directory", path)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).ctx("create", path)?;
    f.write_all(bytes).ctx("write", path)?;
    f.sync_all().ctx("sync", path)
}

/// Swaps two directories atomically (Linux `renameat2(RENAME_EXCHANGE)`), falling back to two
/// renames where the file system cannot exchange.
fn exchange(staged: &Path, live: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let a = CString::new(staged.as_os_str().as_bytes()).expect("paths have no NUL");
        let b = CString::new(live.as_os_str().as_bytes()).expect("paths have no NUL");
        // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
        let r = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            return Err(Error::Io {
                op: "exchange with",
                path: live.to_path_buf(),
                source: e,
            });
        }
    }
    let old = staged.with_extension("old");
    fs::rename(live, &old).ctx("move aside", live)?;
    fs::rename(staged, live).ctx("move into place", live)
}

/// Parses a manifest (`path` names it in errors), refusing another format or schema version.
fn parse_manifest(bytes: &[u8], path: &Path) -> Result<Manifest> {
    let m: Manifest = serde_json::from_slice(bytes).map_err(|e| Error::Lake {
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

fn read_manifest(root: &Path) -> Result<Option<Manifest>> {
    let path = meta(root).join("manifest.json");
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Io {
                op: "read",
                path,
                source: e,
            });
        }
    };
    parse_manifest(&bytes, &path).map(Some)
}

/// Reads a lake's committed manifest without locking it (for readers).
pub fn load_manifest(root: &Path) -> Result<Manifest> {
    read_manifest(root)?.ok_or_else(|| Error::Lake {
        path: root.to_path_buf(),
        message:
            "not a flowlake lake (no _flowlake/manifest.json); create it with `flowlake ingest`"
                .into(),
    })
}

/// True when a commit has passed its commit point but is not fully applied: a writer is
/// applying it right now, or one crashed and the next `ingest` or `compact` will finish it.
/// Until then a reader may see some partitions of that commit new and others old.
pub fn commit_pending(root: &Path) -> bool {
    meta(root).join("txn.json").exists()
}

impl Lake {
    /// Opens (creating if needed) the lake at `root` for writing: takes the write lock and
    /// finishes or discards any interrupted transaction.
    pub fn open(root: &Path) -> Result<Lake> {
        fs::create_dir_all(meta(root)).ctx("create lake directory", root)?;
        let root = root.canonicalize().ctx("resolve", root)?;
        let lock_path = meta(&root).join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .ctx("open", &lock_path)?;
        // A lock can be held for an instant by a forked child of a multi-threaded process
        // before its exec closes the descriptor, so retry briefly before reporting a writer.
        let mut tries = 0;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if tries < 20 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(fs::TryLockError::WouldBlock) => return Err(Error::Locked(root)),
                Err(fs::TryLockError::Error(e)) => {
                    return Err(Error::Io {
                        op: "lock",
                        path: lock_path,
                        source: e,
                    });
                }
            }
        }
        fs::create_dir_all(root.join(FLOWS_DIR)).ctx("create", &root)?;
        recover(&root)?;
        let manifest = match read_manifest(&root)? {
            Some(m) => m,
            None => {
                let m = Manifest::default();
                let path = meta(&root).join("manifest.json");
                write_synced(
                    &path,
                    &serde_json::to_vec_pretty(&m).expect("manifest serialises"),
                )?;
                m
            }
        };
        Ok(Lake {
            root,
            manifest,
            backend: Backend::Local { _lock: lock },
        })
    }

    /// Opens a lake on object storage for writing (see [`remote`]): takes its write lock,
    /// cleans up after interrupted transactions, and creates the lake if it does not exist.
    pub fn open_remote(remote: Arc<Remote>) -> Result<Lake> {
        let (r, manifest) = remote::RemoteLake::open(remote)?;
        Ok(Lake {
            root: r.work_dir().to_path_buf(),
            manifest,
            backend: Backend::Remote(r),
        })
    }

    /// Opens the lake `lake` names for writing.
    pub fn open_ref(lake: &LakeRef) -> Result<Lake> {
        match lake {
            LakeRef::Local(p) => Lake::open(p),
            LakeRef::Remote(r) => Lake::open_remote(r.clone()),
        }
    }

    /// The lake as named: its directory, or its URL.
    pub fn name(&self) -> String {
        match &self.backend {
            Backend::Local { .. } => self.root.display().to_string(),
            Backend::Remote(r) => r.remote().name().to_string(),
        }
    }

    /// How the keys of the lake's own objects start (a directory path, or a URL, ending
    /// with `/`), so that ingest never takes them for flow logs.
    pub fn key_prefix(&self) -> String {
        match &self.backend {
            Backend::Local { .. } => format!("{}/", self.root.display()),
            Backend::Remote(r) => r.remote().key_prefix(),
        }
    }

    /// The committed state.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Path of a committed data file in a local lake.
    fn file_path(&self, partition: &str, name: &str) -> PathBuf {
        self.root.join(FLOWS_DIR).join(partition).join(name)
    }

    /// A local path to read a committed data file from: the file itself, or for a lake on
    /// object storage a downloaded copy.
    pub fn data_file(&self, partition: &str, name: &str) -> Result<PathBuf> {
        match &self.backend {
            Backend::Local { .. } => Ok(self.file_path(partition, name)),
            Backend::Remote(r) => r.fetch(partition, name),
        }
    }

    /// Starts a transaction.
    pub fn begin(&self) -> Result<Txn> {
        let version = self.manifest.version + 1;
        let dir = meta(&self.root).join("staging").join(version.to_string());
        fs::create_dir_all(&dir).ctx("create", &dir)?;
        let stem = match &self.backend {
            Backend::Local { .. } => format!("{version:08}"),
            Backend::Remote(r) => format!("{version:08}-{}", r.token()),
        };
        Ok(Txn {
            version,
            stem,
            dir,
            adds: BTreeMap::new(),
            removes: BTreeMap::new(),
            rejects: Vec::new(),
            blobs: Vec::new(),
            next_blob_id: self.manifest.next_blob_id,
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
            Backend::Local { .. } => self.commit_local(&txn, &next)?,
            Backend::Remote(r) => {
                r.commit(&txn, &mut next)?;
                remove_dir_if_exists(&txn.dir)?;
            }
        }
        self.manifest = next;
        Ok(())
    }

    /// Steps 2 to 4 of the local commit protocol.
    fn commit_local(&self, txn: &Txn, next: &Manifest) -> Result<()> {
        let touched: BTreeSet<&String> = txn.adds.keys().chain(txn.removes.keys()).collect();
        let mut intent = Intent {
            version: txn.version,
            partitions: BTreeMap::new(),
            rejects: txn.rejects.clone(),
        };
        for p in touched {
            let staged = txn.dir.join(FLOWS_DIR).join(p);
            fs::create_dir_all(&staged).ctx("create", &staged)?;
            let added = txn.adds.get(p);
            let kept = next
                .partitions
                .get(p)
                .into_iter()
                .flatten()
                .filter(|f| !added.is_some_and(|a| a.iter().any(|x| x.name == f.name)));
            for f in kept {
                let live = self.file_path(p, &f.name);
                fs::hard_link(&live, staged.join(&f.name)).ctx("link", &live)?;
            }
            sync_dir(&staged)?;
            let ino = fs::metadata(&staged).ctx("stat", &staged)?.ino();
            intent.partitions.insert(p.clone(), ino);
        }
        write_synced(
            &txn.dir.join("manifest.json"),
            &serde_json::to_vec(next).expect("manifest serialises"),
        )?;
        if !txn.rejects.is_empty() {
            sync_dir(&txn.dir.join(REJECTS_DIR))?;
        }
        sync_dir(&txn.dir)?;
        failpoint("before-commit");
        let m = meta(&self.root);
        let tmp = m.join("txn.json.tmp");
        write_synced(
            &tmp,
            &serde_json::to_vec_pretty(&intent).expect("intent serialises"),
        )?;
        fs::rename(&tmp, m.join("txn.json")).ctx("commit", &tmp)?;
        sync_dir(&m)?;
        failpoint("after-commit-point");
        apply(&self.root, &intent)
    }
}

/// The manifest after `txn`: its files added and removed, its checkpoints and rejects files.
fn next_manifest(current: &Manifest, txn: &Txn) -> Manifest {
    let mut next = current.clone();
    next.version = txn.version;
    next.next_blob_id = txn.next_blob_id;
    let touched: BTreeSet<&String> = txn.adds.keys().chain(txn.removes.keys()).collect();
    for p in touched {
        let removed = txn.removes.get(p);
        let files = next.partitions.entry(p.clone()).or_default();
        files.retain(|f| !removed.is_some_and(|r| r.contains(&f.name)));
        files.extend(txn.adds.get(p).into_iter().flatten().cloned());
        files.sort_by(|a, b| a.name.cmp(&b.name));
        if files.is_empty() {
            next.partitions.remove(p);
        }
    }
    for (key, state) in &txn.blobs {
        next.blobs.insert(key.clone(), state.clone());
    }
    next.rejects.extend(txn.rejects.iter().cloned());
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

/// Step 4 of the commit protocol; idempotent.
fn apply(root: &Path, intent: &Intent) -> Result<()> {
    let m = meta(root);
    let staging = m.join("staging").join(intent.version.to_string());
    let flows = root.join(FLOWS_DIR);
    for (i, (p, ino)) in intent.partitions.iter().enumerate() {
        let staged = staging.join(FLOWS_DIR).join(p);
        let live = flows.join(p);
        match fs::metadata(&live) {
            Ok(md) if md.ino() == *ino => continue,
            Ok(_) => exchange(&staged, &live)?,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                fs::rename(&staged, &live).ctx("move into place", &live)?
            }
            Err(e) => {
                return Err(Error::Io {
                    op: "stat",
                    path: live,
                    source: e,
                });
            }
        }
        if i == 0 {
            failpoint("mid-apply");
        }
    }
    sync_dir(&flows)?;
    if !intent.rejects.is_empty() {
        let dest = root.join(REJECTS_DIR);
        fs::create_dir_all(&dest).ctx("create", &dest)?;
        for r in &intent.rejects {
            let src = staging.join(REJECTS_DIR).join(r);
            if src.exists() {
                fs::rename(&src, dest.join(r)).ctx("move into place", &src)?;
            }
        }
        sync_dir(&dest)?;
    }
    let staged_manifest = staging.join("manifest.json");
    if staged_manifest.exists() {
        fs::rename(&staged_manifest, m.join("manifest.json"))
            .ctx("move into place", &staged_manifest)?;
        sync_dir(&m)?;
    }
    failpoint("before-cleanup");
    fs::remove_file(m.join("txn.json")).ctx("remove", &m.join("txn.json"))?;
    sync_dir(&m)?;
    remove_dir_if_exists(&staging)
}

/// Finishes an interrupted commit, then drops uncommitted staging.
fn recover(root: &Path) -> Result<()> {
    let m = meta(root);
    let txn = m.join("txn.json");
    match fs::read(&txn) {
        Ok(bytes) => {
            let intent: Intent = serde_json::from_slice(&bytes).map_err(|e| Error::Lake {
                path: txn.clone(),
                message: format!("commit intent is not valid: {e}"),
            })?;
            apply(root, &intent)?;
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Error::Io {
                op: "read",
                path: txn,
                source: e,
            });
        }
    }
    let _ = fs::remove_file(m.join("txn.json.tmp"));
    remove_dir_if_exists(&m.join("staging"))
}
