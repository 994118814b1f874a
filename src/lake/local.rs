//! A lake in a local directory: write lock, commit protocol, crash recovery.
//!
//! Why: the lake must stay readable and free of duplicates after a crash at any instant, and
//! plain Parquet readers (pandas, DuckDB, Spark) see only directories, not our manifest. So
//! every commit replaces each touched partition directory in one atomic step, and a commit
//! intent written before the first step lets the next writer finish an interrupted commit.
//!
//! Commit protocol for transaction `v`:
//! ```text
//!   ingest / compact                      LAKE/_flowlake/                    LAKE/flows/
//!   ────────────────                      ───────────────                    ───────────
//! 1 write + fsync data files ───────────▶ staging/v/flows/<partition>/
//! 2 hard-link kept files, write manifest ▶ staging/v/{flows/…, manifest.json}
//! 3 write + rename txn.json ────────────▶ txn.json            ◀── COMMIT POINT
//! 4 per partition: renameat2(EXCHANGE) ─────────────────────────────────▶ date=…/ (swapped)
//!   (other tables' directories, e.g. LAKE/inventory/, are staged and swapped the same way;
//!   a directory the commit empties is renamed into staging: gone in one step)
//!   move rejects in (delete removed ones), manifest in; remove txn.json and staging
//! ```
//! 1. data files are written and fsynced under `staging/v/flows/<partition>/`;
//! 2. each touched partition's staged directory receives hard links to the files it keeps,
//!    and the next manifest is written to `staging/v/manifest.json`;
//! 3. `txn.json` is written and renamed into place: **the commit point**;
//! 4. each staged partition directory atomically replaces the live one (`renameat2` with
//!    `RENAME_EXCHANGE`; a rename when the partition is new), a directory the commit empties
//!    (retention) is renamed into the staging directory, then the rejects files and the
//!    manifest are moved in (removed rejects files deleted), `txn.json` is removed and the
//!    staging directory deleted.
//!
//! Step 4 is idempotent (a partition whose live directory already has the staged inode is
//! done; a dropped directory that is no longer live is done; a removed rejects file that is
//! gone is done), so recovery is: if `txn.json` exists, redo step 4; then delete all staging.
//!
//! Guarantees: a crash before step 3 leaves the previous commit; after it, the next writer
//! (every open recovers) finishes this one. A reader listing one partition sees all of one
//! commit or none of it, unless the file system cannot exchange directories
//! ([`swap_is_atomic`]): then the swap is two renames, and `ingest` and `info` say so.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::manifest::Manifest;
use super::skim::Checkpoints;
use super::{
    FLOWS_DIR, META_DIR, REJECTS_DIR, Txn, failpoint, failpoint_is, parse_manifest,
    remove_dir_if_exists,
};
use crate::error::{Error, IoContext, Result};

/// The commit intent (`_flowlake/txn.json`).
#[derive(Debug, Serialize, Deserialize)]
struct Intent {
    version: u64,
    /// Table directory (relative to the lake root: `flows/date=…`, `inventory`) → inode of
    /// its staged directory. Intents written before other tables existed name `flows`
    /// partitions alone (`date=…`), which no other table directory starts with.
    partitions: BTreeMap<String, u64>,
    /// Rejects files staged under `staging/v/rejects/`.
    rejects: Vec<String>,
    /// Table directories the commit empties (retention): each is moved whole into staging
    /// (one rename: a reader sees it or nothing) and deleted with it.
    #[serde(default)]
    dropped: Vec<String>,
    /// Committed rejects files the commit deletes.
    #[serde(default)]
    removed_rejects: Vec<String>,
}

/// The writer's side of a local lake: its root and the held write lock.
pub(super) struct LocalLake {
    root: PathBuf,
    _lock: File,
    /// Whether partition swaps are atomic here ([`swap_is_atomic`]).
    pub(super) atomic_swap: bool,
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

/// `renameat2(a, b, RENAME_EXCHANGE)`: swaps two paths in one step. `Unsupported` where the
/// platform or file system cannot (and under the `no-rename-exchange` failpoint).
fn rename_exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    if !failpoint_is("no-rename-exchange") {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let ca = CString::new(a.as_os_str().as_bytes())?;
        let cb = CString::new(b.as_os_str().as_bytes())?;
        // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
        let r = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                ca.as_ptr(),
                libc::AT_FDCWD,
                cb.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            return Err(e);
        }
    }
    Err(ErrorKind::Unsupported.into())
}

/// Swaps two directories atomically ([`rename_exchange`]), falling back to two renames where
/// the file system cannot exchange (see [`swap_is_atomic`]).
fn exchange(staged: &Path, live: &Path) -> Result<()> {
    match rename_exchange(staged, live) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::Unsupported => {}
        Err(e) => {
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

/// Whether the file system holding `dir` swaps directories atomically: tries
/// [`rename_exchange`] on two empty directories made in `dir` for the purpose. `None` when
/// that cannot be tried (for example, `dir` is read-only).
pub fn swap_is_atomic(dir: &Path) -> Option<bool> {
    let probe = tempfile::Builder::new()
        .prefix(".swap-probe-")
        .tempdir_in(dir)
        .ok()?;
    let (a, b) = (probe.path().join("a"), probe.path().join("b"));
    fs::create_dir(&a).ok()?;
    fs::create_dir(&b).ok()?;
    Some(rename_exchange(&a, &b).is_ok())
}

/// What a reader may see when partition swaps are not atomic, for warnings.
pub const NOT_ATOMIC: &str = "this file system cannot swap directories atomically (renameat2 RENAME_EXCHANGE), so commits replace partitions with two renames: a reader listing a partition at that instant may find it missing";

/// The copy of the manifest each commit leaves beside it (`_flowlake/manifest.backup.json`):
/// a manifest deleted or damaged by hand is restored from it.
pub const BACKUP: &str = "manifest.backup.json";

fn read_manifest<B: Checkpoints>(root: &Path) -> Result<Option<Manifest<B>>> {
    let path = meta(root).join("manifest.json");
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return no_manifest(root).map(|()| None),
        Err(e) => {
            return Err(Error::Io {
                op: "read",
                path,
                source: e,
            });
        }
    };
    match parse_manifest(&bytes, &path) {
        // Not JSON at all (cut, overwritten): the backup is the way back. A manifest of
        // another format or schema version is an error of its own.
        Err(e) if meta(root).join(BACKUP).exists() => {
            match serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
                Err(bad) => Err(lost_manifest(
                    root,
                    &format!("is damaged (not JSON: {bad})"),
                )),
                Ok(_) => Err(e),
            }
        }
        r => r.map(Some),
    }
}

/// A lake directory without `manifest.json`: fine when nothing was ever committed there, the
/// error saying how to restore it when a commit left its backup.
fn no_manifest(root: &Path) -> Result<()> {
    match meta(root).join(BACKUP).exists() {
        true => Err(lost_manifest(root, "is missing")),
        false => Ok(()),
    }
}

/// The error for a manifest gone or damaged while its backup is there: how to restore it.
fn lost_manifest(root: &Path, what: &str) -> Error {
    let m = meta(root);
    Error::Lake {
        path: m.join("manifest.json"),
        message: format!(
            "the lake's manifest {what}; the copy its last commit left is {}: restore it with `cp {} {}` (flowlake never writes over a lake without its manifest)",
            m.join(BACKUP).display(),
            m.join(BACKUP).display(),
            m.join("manifest.json").display()
        ),
    }
}

/// Refuses to create a lake in `root` (which has no manifest) when it holds anything but an
/// empty lake's skeleton (`_flowlake/`, an empty `flows/`): a directory of other files, or a
/// lake whose manifest is gone, would have its partition directories replaced by the first
/// commit.
fn refuse_foreign(root: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(root) else {
        return Ok(());
    };
    let empty_dir = |p: &Path| {
        fs::read_dir(p)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false)
    };
    let mut found = vec![];
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let skeleton = name == META_DIR || (name == FLOWS_DIR && empty_dir(&e.path()));
        if !skeleton {
            found.push(name);
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    found.sort();
    let shown: Vec<&str> = found.iter().take(3).map(String::as_str).collect();
    Err(Error::Lake {
        path: root.to_path_buf(),
        message: format!(
            "not a flowlake lake (no _flowlake/manifest.json) and not empty (it holds {}{}): refusing to create a lake over it. Give an empty or new directory; if this was a lake whose manifest was lost, see docs/LAKE.md (recovering a manifest)",
            shown.join(", "),
            match found.len() - shown.len() {
                0 => String::new(),
                n => format!(" and {n} more"),
            }
        ),
    })
}

/// Reads a lake's committed manifest, blob checkpoints included, without locking it.
pub fn load_manifest(root: &Path) -> Result<Manifest> {
    load(root)
}

/// Reads a lake's committed manifest without locking it, with the blob checkpoints as `B`.
pub(super) fn load<B: Checkpoints>(root: &Path) -> Result<Manifest<B>> {
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
pub(super) fn commit_pending(root: &Path) -> bool {
    meta(root).join("txn.json").exists()
}

impl LocalLake {
    /// Opens (creating if needed) the lake at `root` for writing: takes the write lock and
    /// finishes or discards any interrupted transaction. Returns the lake and its manifest.
    pub(super) fn open(root: &Path) -> Result<(LocalLake, Manifest)> {
        if !meta(root).join("manifest.json").exists() {
            no_manifest(root)?;
            refuse_foreign(root)?;
        }
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
                // Written aside and renamed, so a kill while the lake is being created never
                // leaves an empty manifest behind.
                let m = Manifest::default();
                let tmp = meta(&root).join("manifest.json.tmp");
                write_synced(
                    &tmp,
                    &serde_json::to_vec_pretty(&m).expect("manifest serialises"),
                )?;
                fs::rename(&tmp, meta(&root).join("manifest.json")).ctx("create", &tmp)?;
                sync_dir(&meta(&root))?;
                back_up_manifest(&meta(&root))?;
                m
            }
        };
        let atomic_swap = swap_is_atomic(&meta(&root)).unwrap_or(true);
        Ok((
            LocalLake {
                root,
                _lock: lock,
                atomic_swap,
            },
            manifest,
        ))
    }

    /// The lake root.
    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    /// Commits `txn`, whose files are staged, leading to manifest `next`: steps 2 to 4 of the
    /// protocol (see the module docs).
    pub(super) fn commit(&self, txn: &Txn, next: &Manifest) -> Result<()> {
        let touched: BTreeSet<&String> = txn.adds.keys().chain(txn.removes.keys()).collect();
        let mut intent = Intent {
            version: txn.version,
            partitions: BTreeMap::new(),
            rejects: txn.rejects.clone(),
            dropped: vec![],
            removed_rejects: txn.removed_rejects.clone(),
        };
        for p in touched {
            if next.dir_files(p).is_none() {
                intent.dropped.push(p.clone());
                continue;
            }
            let staged = txn.dir.join(p);
            fs::create_dir_all(&staged).ctx("create", &staged)?;
            let added = txn.adds.get(p);
            let kept = next
                .dir_files(p)
                .into_iter()
                .flatten()
                .filter(|f| !added.is_some_and(|a| a.iter().any(|x| x.name == f.name)));
            for f in kept {
                let live = self.root.join(p).join(&f.name);
                fs::hard_link(&live, staged.join(&f.name)).ctx("link", &live)?;
            }
            // Files in the live directory that no manifest lists (copied in by hand) are not
            // flowlake's to delete: they move with the directory. Readers ignore them.
            let listed: BTreeSet<&str> = next
                .dir_files(p)
                .into_iter()
                .flatten()
                .map(|f| f.name.as_str())
                .collect();
            let removed = txn.removes.get(p);
            let foreign = fs::read_dir(self.root.join(p))
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    !listed.contains(n.as_str()) && !removed.is_some_and(|r| r.contains(n))
                });
            for name in foreign {
                let live = self.root.join(p).join(&name);
                fs::hard_link(&live, staged.join(&name)).ctx("link", &live)?;
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

/// Step 4 of the commit protocol; idempotent.
fn apply(root: &Path, intent: &Intent) -> Result<()> {
    let m = meta(root);
    let staging = m.join("staging").join(intent.version.to_string());
    let mut parents = BTreeSet::new();
    for (i, (p, ino)) in intent.partitions.iter().enumerate() {
        let rel = match p.starts_with("date=") {
            true => Path::new(FLOWS_DIR).join(p),
            false => PathBuf::from(p),
        };
        let staged = staging.join(&rel);
        let live = root.join(&rel);
        if let Some(parent) = live.parent() {
            fs::create_dir_all(parent).ctx("create", parent)?;
            parents.insert(parent.to_path_buf());
        }
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
    for (i, p) in intent.dropped.iter().enumerate() {
        let live = root.join(p);
        if live.exists() {
            let aside = staging.join("dropped").join(i.to_string());
            fs::create_dir_all(staging.join("dropped")).ctx("create", &staging)?;
            fs::rename(&live, &aside).ctx("drop", &live)?;
            if let Some(parent) = live.parent() {
                parents.insert(parent.to_path_buf());
            }
        }
        if i == 0 && intent.partitions.is_empty() {
            failpoint("mid-apply");
        }
    }
    for parent in &parents {
        sync_dir(parent)?;
    }
    for r in &intent.removed_rejects {
        let path = root.join(REJECTS_DIR).join(r);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                return Err(Error::Io {
                    op: "remove",
                    path,
                    source: e,
                });
            }
            _ => {}
        }
    }
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
    back_up_manifest(&m)?;
    failpoint("before-cleanup");
    fs::remove_file(m.join("txn.json")).ctx("remove", &m.join("txn.json"))?;
    sync_dir(&m)?;
    remove_dir_if_exists(&staging)
}

/// Copies the live manifest of the metadata directory `m` to [`BACKUP`] (written aside and
/// renamed: a crash leaves the previous copy whole).
fn back_up_manifest(m: &Path) -> Result<()> {
    let tmp = m.join("manifest.backup.json.tmp");
    let live = m.join("manifest.json");
    let bytes = fs::read(&live).ctx("read", &live)?;
    write_synced(&tmp, &bytes)?;
    fs::rename(&tmp, m.join(BACKUP)).ctx("move into place", &tmp)?;
    sync_dir(m)
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
    let _ = fs::remove_file(m.join("manifest.json.tmp"));
    let _ = fs::remove_file(m.join("manifest.backup.json.tmp"));
    remove_dir_if_exists(&m.join("staging"))
}
