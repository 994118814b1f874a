//! Writing a lake on Azure Blob Storage or S3: write lock, commit, recovery, cleanup.
//!
//! Why: a nightly job in the cloud keeps its lake next to the flow logs, but object stores
//! have no rename and no directories, so the local lake's atomic directory swap has no
//! counterpart. Here the manifest is the truth: flowlake's readers take the list of data files
//! from it (never from a listing), and a commit is one conditional write of the manifest.
//!
//! Layout under the lake's prefix:
//! ```text
//! flows/date=YYYY-MM-DD/part-<version>-<writer>-....parquet   data (names unique per writer)
//! rejects/rejects-<version>-<writer>-w<n>.ndjson               rejected input
//! _flowlake/manifest.json             committed state; every write is conditional (If-Match)
//! _flowlake/lock.json                 write lock: holder, host, pid, expiry; renewed while held
//! _flowlake/pending/<version>-<writer>.json   files a transaction is uploading
//! ```
//!
//! Commit of a transaction (its files were written to a local temporary directory):
//! 1. the lock is renewed (fails if another writer took it over);
//! 2. the intent `pending/<version>-<writer>.json`, naming every file to upload, is put;
//! 3. the files are uploaded under their final names;
//! 4. the next manifest is put with `If-Match` on the manifest this writer read or wrote last:
//!    **the commit point**. When the answer is lost, the manifest is read back to learn
//!    whether it was written;
//! 5. the intent is deleted.
//!
//! A data file a commit removes (a rewritten blob's rows, compaction, retention: a dropped
//! partition is its files removed; so are rejects files) is listed as garbage in
//! the manifest and deleted by the first writer to take the lock at least [`grace`] later, so
//! a reader planning on the previous manifest can still read it.
//!
//! Taking the lock: `lock.json` is created if absent (`If-None-Match: *`), or replaced
//! (`If-Match`) when it expired or names a dead process on this host. The new holder then
//! rewrites the manifest with its own token, so a previous holder that lost the lock can no
//! longer commit, and deletes the files of every intent that the manifest does not name (an
//! interrupted transaction's uploads).

use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use object_store::path::Path;
use object_store::{
    ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion, WriteMultipart,
};
use serde::{Deserialize, Serialize};

use super::manifest::{Garbage, Manifest};
use super::skim::Checkpoints;
use super::{REJECTS_DIR, Txn, failpoint, failpoint_is, parse_manifest};
use crate::error::{Error, IoContext, Result};
use crate::store::{Remote, redact, runtime};

const MANIFEST: &str = "_flowlake/manifest.json";
const LOCK: &str = "_flowlake/lock.json";
const PENDING: &str = "_flowlake/pending";
/// A lock not renewed for this long may be taken over.
const LOCK_TTL: Duration = Duration::from_secs(300);
/// How often a held lock is renewed.
const LOCK_RENEW: Duration = Duration::from_secs(60);
/// Files at most this big are uploaded in one request; bigger ones in parts of this size.
const PART: usize = 16 << 20;
/// Uploads in flight at once.
const PARALLEL_UPLOADS: usize = 4;

/// How long removed data files are kept for readers of older manifests: one hour, or
/// `FLOWLAKE_GARBAGE_GRACE_SECS`.
pub fn grace() -> Duration {
    std::env::var("FLOWLAKE_GARBAGE_GRACE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(3600), Duration::from_secs)
}

/// The content of `_flowlake/lock.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LockBody {
    token: String,
    host: String,
    pid: u32,
    acquired: DateTime<Utc>,
    expires: DateTime<Utc>,
}

/// A transaction's uploads (`_flowlake/pending/<version>-<writer>.json`).
#[derive(Debug, Serialize, Deserialize)]
struct Intent {
    /// Paths relative to the lake root.
    files: Vec<String>,
}

/// What the lock renewal task shares with the writer.
#[derive(Debug, Default)]
struct LockState {
    /// Version of `lock.json` as this writer last wrote it.
    version: Option<UpdateVersion>,
    /// Why the lock is no longer held, once it is not.
    lost: Option<String>,
    /// When it was taken.
    acquired: DateTime<Utc>,
}

/// The writer's side of a lake on object storage.
pub(super) struct RemoteLake {
    remote: Arc<Remote>,
    token: String,
    lock: Arc<Mutex<LockState>>,
    renewal: tokio::task::JoinHandle<()>,
    /// Version of `manifest.json` as this writer last read or wrote it.
    manifest_version: UpdateVersion,
    /// Local staging and downloaded files; removed when the lake is dropped.
    work: tempfile::TempDir,
}

fn host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Whether process `pid` exists on this host.
fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// An object's content and version, or `None` when it does not exist.
async fn read(
    store: &dyn ObjectStore,
    path: &Path,
) -> object_store::Result<Option<(Bytes, UpdateVersion)>> {
    let got = match store.get(path).await {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let version = UpdateVersion {
        e_tag: got.meta.e_tag.clone(),
        version: got.meta.version.clone(),
    };
    Ok(Some((got.bytes().await?, version)))
}

/// An error about the lake at `remote`.
fn lake_error(remote: &Remote, message: String) -> Error {
    Error::Lake {
        path: PathBuf::from(remote.name()),
        message,
    }
}

impl RemoteLake {
    /// Takes the write lock, fences out the previous holder, cleans up interrupted
    /// transactions and returns the committed manifest (created empty if absent).
    pub(super) fn open(remote: Arc<Remote>) -> Result<(RemoteLake, Manifest)> {
        let work = tempfile::Builder::new()
            .prefix("flowlake-lake-")
            .tempdir()
            .ctx("create temporary directory", &std::env::temp_dir())?;
        let token = crate::source::hash_hex(
            format!(
                "{}/{}/{:?}",
                host(),
                std::process::id(),
                std::time::SystemTime::now()
            )
            .as_bytes(),
        )[..8]
            .to_string();
        let (lake, opened) = runtime().block_on(async move {
            let acquired = Utc::now();
            let lock = acquire(&remote, &token, acquired).await?;
            let lock = Arc::new(Mutex::new(LockState {
                version: Some(lock),
                lost: None,
                acquired,
            }));
            let renewal =
                runtime().spawn(renew_forever(remote.clone(), token.clone(), lock.clone()));
            let mut lake = RemoteLake {
                remote,
                token,
                lock,
                renewal,
                manifest_version: UpdateVersion {
                    e_tag: None,
                    version: None,
                },
                work,
            };
            let opened = async {
                if failpoint_is("open-error") {
                    return Err(lake.lake_error("failpoint open-error".into()));
                }
                let manifest = lake.fence().await?;
                lake.recover(&manifest).await?;
                Ok(manifest)
            }
            .await;
            Ok::<_, Error>((lake, opened))
        })?;
        // On failure the lake is dropped here, outside the runtime, so that `Drop` can
        // release the lock: dropped inside `block_on`, it could not wait for the delete.
        Ok((lake, opened?))
    }

    /// The local directory for staging and downloads.
    pub(super) fn work_dir(&self) -> &FsPath {
        self.work.path()
    }

    /// This writer's token (part of every file name it writes).
    pub(super) fn token(&self) -> &str {
        &self.token
    }

    /// Where the lake is.
    pub(super) fn remote(&self) -> &Remote {
        &self.remote
    }

    fn lake_error(&self, message: String) -> Error {
        lake_error(&self.remote, message)
    }

    /// Reads the manifest and writes it back with this writer's token (creating an empty one
    /// when there is none), so a writer that held the lock before can no longer commit;
    /// garbage past its grace period is deleted and dropped from it on the way.
    async fn fence(&mut self) -> Result<Manifest> {
        let store = self.remote.store().0;
        let path = self.remote.path(MANIFEST);
        let found = read(&*store, &path)
            .await
            .map_err(|e| self.remote.error(e))?;
        let (mut manifest, mode) = match found {
            Some((bytes, version)) => (
                parse_manifest(&bytes, &manifest_path(&self.remote))?,
                PutMode::Update(version),
            ),
            None => (Manifest::default(), PutMode::Create),
        };
        manifest.writer = Some(self.token.clone());
        // Garbage past its grace period goes now; if this write fails, the manifest still
        // lists it, and deleting it again is harmless.
        let oldest = Utc::now().timestamp() - grace().as_secs() as i64;
        let (expired, kept): (Vec<Garbage>, Vec<Garbage>) = std::mem::take(&mut manifest.garbage)
            .into_iter()
            .partition(|g| g.removed_at <= oldest);
        for g in &expired {
            self.delete(&g.path).await?;
        }
        manifest.garbage = kept;
        let body = serde_json::to_vec(&manifest).expect("manifest serialises");
        self.manifest_version = match put_checked(&*store, &path, body, mode).await {
            Ok(v) => v,
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => {
                return Err(self.lake_error(
                    "the manifest changed while taking the write lock; another writer is active"
                        .into(),
                ));
            }
            Err(e) => return Err(self.remote.error(e)),
        };
        Ok(manifest)
    }

    /// Deletes the uploads of interrupted transactions that `manifest` does not name.
    async fn recover(&self, manifest: &Manifest) -> Result<()> {
        let store = self.remote.store().0;
        let intents: Vec<_> = store
            .list(Some(&self.remote.path(PENDING)))
            .try_collect()
            .await
            .map_err(|e| self.remote.error(e))?;
        for meta in intents {
            let found = read(&*store, &meta.location)
                .await
                .map_err(|e| self.remote.error(e))?;
            let Some((bytes, _)) = found else { continue };
            // An intent cut short cannot name an uploaded file: files are put after it.
            if let Ok(intent) = serde_json::from_slice::<Intent>(&bytes) {
                let orphans = intent.files.iter().filter(|f| !manifest.names(f));
                for f in orphans {
                    self.delete(f).await?;
                }
            }
            delete_if_exists(&*store, &meta.location)
                .await
                .map_err(|e| self.remote.error(e))?;
        }
        Ok(())
    }

    async fn delete(&self, rel: &str) -> Result<()> {
        let store = self.remote.store().0;
        delete_if_exists(&*store, &self.remote.path(rel))
            .await
            .map_err(|e| self.remote.error(e))
    }

    /// Downloads a committed data file into the work directory (once) and returns its path.
    pub(super) fn fetch(&self, table_dir: &str, name: &str) -> Result<PathBuf> {
        let dir = self.work.path().join("files").join(table_dir);
        let local = dir.join(name);
        if local.exists() {
            return Ok(local);
        }
        std::fs::create_dir_all(&dir).ctx("create", &dir)?;
        let rel = format!("{table_dir}/{name}");
        let bytes = runtime()
            .block_on(self.remote.get(&rel))
            .map_err(|e| self.lake_error(format!("cannot read {rel}: {e}")))?;
        let tmp = dir.join(format!(".{name}.part"));
        std::fs::write(&tmp, bytes).ctx("write", &tmp)?;
        std::fs::rename(&tmp, &local).ctx("move into place", &local)?;
        Ok(local)
    }

    /// Commits `txn` (see the module docs): `next` is the manifest it leads to, to which
    /// this adds the removed files as garbage.
    pub(super) fn commit(&mut self, txn: &Txn, next: &mut Manifest) -> Result<()> {
        runtime().block_on(self.commit_async(txn, next))
    }

    async fn commit_async(&mut self, txn: &Txn, next: &mut Manifest) -> Result<()> {
        self.renew().await?;
        let now = Utc::now();
        for (p, names) in &txn.removes {
            next.garbage.extend(names.iter().map(|n| Garbage {
                path: format!("{p}/{n}"),
                removed_at: now.timestamp(),
            }));
        }
        next.garbage
            .extend(txn.removed_rejects.iter().map(|n| Garbage {
                path: format!("{REJECTS_DIR}/{n}"),
                removed_at: now.timestamp(),
            }));

        let mut files: Vec<String> = txn
            .adds
            .iter()
            .flat_map(|(p, fs)| fs.iter().map(move |f| format!("{p}/{}", f.name)))
            .collect();
        files.extend(txn.rejects.iter().map(|r| format!("{REJECTS_DIR}/{r}")));
        let intent_path = self.remote.path(&format!("{PENDING}/{}.json", txn.stem));
        let intent = serde_json::to_vec(&Intent {
            files: files.clone(),
        })
        .expect("intent serialises");
        let store = self.remote.store().0;
        store
            .put(&intent_path, PutPayload::from(intent))
            .await
            .map_err(|e| self.remote.error(e))?;
        let this = &*self;
        stream::iter(files)
            .map(|rel| {
                let local = txn.dir.join(&rel);
                let dest = this.remote.path(&rel);
                let store = store.clone();
                async move {
                    upload(store, &local, &dest)
                        .await
                        .map_err(|e| this.lake_error(format!("cannot upload {rel}: {e}")))
                }
            })
            .buffer_unordered(PARALLEL_UPLOADS)
            .try_collect::<Vec<()>>()
            .await?;

        failpoint("before-commit");
        next.writer = Some(self.token.clone());
        self.put_manifest(next).await?;
        failpoint("after-commit-point");
        // A left-over intent only names committed files; the next writer drops it.
        let _ = delete_if_exists(&*store, &intent_path).await;
        Ok(())
    }

    /// The commit point: the manifest written if it is still the one this writer knows.
    async fn put_manifest(&mut self, next: &Manifest) -> Result<()> {
        let store = self.remote.store().0;
        let path = self.remote.path(MANIFEST);
        let body = serde_json::to_vec(next).expect("manifest serialises");
        let mode = PutMode::Update(self.manifest_version.clone());
        match put_checked(&*store, &path, body, mode).await {
            Ok(v) => {
                self.manifest_version = v;
                Ok(())
            }
            Err(object_store::Error::Precondition { .. }) => Err(self.lake_error(
                "another writer changed the manifest; this commit was not made (its files are removed by the next ingest)".into(),
            )),
            Err(e) => Err(self.remote.error(e)),
        }
    }

    /// Renews the lock now; fails when it was lost.
    async fn renew(&self) -> Result<()> {
        if let Some(why) = &self.lock.lock().expect("lock state").lost {
            return Err(self.lake_error(format!("lost the write lock: {why}")));
        }
        renew_once(&self.remote, &self.token, &self.lock)
            .await
            .map_err(|why| self.lake_error(format!("lost the write lock: {why}")))
    }
}

impl Drop for RemoteLake {
    fn drop(&mut self) {
        self.renewal.abort();
        if self.lock.lock().expect("lock state").lost.is_some()
            || tokio::runtime::Handle::try_current().is_ok()
        {
            return;
        }
        let store = self.remote.store().0;
        let path = self.remote.path(LOCK);
        let token = self.token.clone();
        runtime().block_on(async move {
            // Only delete the lock if it is still ours.
            if let Ok(Some((b, _))) = read(&*store, &path).await
                && serde_json::from_slice::<LockBody>(&b).is_ok_and(|l| l.token == token)
            {
                let _ = store.delete(&path).await;
            }
        });
    }
}

/// A conditional put whose answer may be lost: on any error the object is read back, and
/// if it holds exactly `body` the put happened (a retry after a lost answer is refused by
/// the very condition the first attempt changed).
async fn put_checked(
    store: &dyn ObjectStore,
    path: &Path,
    body: Vec<u8>,
    mode: PutMode,
) -> object_store::Result<UpdateVersion> {
    let payload = PutPayload::from(body.clone());
    match store.put_opts(path, payload, PutOptions::from(mode)).await {
        Ok(r) => Ok(r.into()),
        Err(e) => match read(store, path).await {
            Ok(Some((b, version))) if b[..] == body[..] => Ok(version),
            _ => Err(e),
        },
    }
}

/// How errors name a remote lake's manifest.
fn manifest_path(remote: &Remote) -> PathBuf {
    PathBuf::from(format!("{}/{MANIFEST}", remote.name()))
}

/// The committed manifest of a lake on object storage (for readers).
pub(super) async fn read_manifest<B: Checkpoints>(remote: &Remote) -> Result<Manifest<B>> {
    let bytes = remote.get(MANIFEST).await.map_err(|e| {
        lake_error(
            remote,
            format!("not a flowlake lake (cannot read {MANIFEST}: {e})"),
        )
    })?;
    parse_manifest(&bytes, &manifest_path(remote))
}

async fn delete_if_exists(store: &dyn ObjectStore, path: &Path) -> object_store::Result<()> {
    match store.delete(path).await {
        Err(object_store::Error::NotFound { .. }) => Ok(()),
        r => r,
    }
}

async fn upload(store: Arc<dyn ObjectStore>, local: &FsPath, dest: &Path) -> Result<()> {
    use std::io::Read;
    let mut f = std::fs::File::open(local).ctx("open", local)?;
    let size = f.metadata().ctx("stat", local)?.len();
    let err = |e: object_store::Error| Error::Lake {
        path: local.to_path_buf(),
        message: redact(&e.to_string()),
    };
    if size <= PART as u64 {
        let bytes = std::fs::read(local).ctx("read", local)?;
        store
            .put(dest, PutPayload::from(bytes))
            .await
            .map_err(err)?;
        return Ok(());
    }
    let upload = store.put_multipart(dest).await.map_err(err)?;
    let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
    let mut buf = vec![0u8; PART];
    loop {
        let n = f.read(&mut buf).ctx("read", local)?;
        if n == 0 {
            break;
        }
        w.wait_for_capacity(2).await.map_err(err)?;
        w.write(&buf[..n]);
    }
    w.finish().await.map_err(err)?;
    Ok(())
}

fn lock_body(token: &str, acquired: DateTime<Utc>) -> Vec<u8> {
    let now = Utc::now();
    let body = LockBody {
        token: token.to_string(),
        host: host(),
        pid: std::process::id(),
        acquired,
        expires: now + chrono::Duration::from_std(LOCK_TTL).expect("small"),
    };
    serde_json::to_vec_pretty(&body).expect("lock serialises")
}

/// Takes `_flowlake/lock.json`, or says who holds it.
async fn acquire(remote: &Remote, token: &str, now: DateTime<Utc>) -> Result<UpdateVersion> {
    let store = remote.store().0;
    let path = remote.path(LOCK);
    for _ in 0..5 {
        match put_checked(&*store, &path, lock_body(token, now), PutMode::Create).await {
            Ok(v) => return Ok(v),
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(object_store::Error::NotFound { .. }) => {
                return Err(lake_error(
                    remote,
                    "the container or bucket does not exist (flowlake creates the lake's prefix in it, not the container itself)".into(),
                ));
            }
            Err(e) => return Err(remote.error(e)),
        }
        let found = read(&*store, &path).await.map_err(|e| remote.error(e))?;
        let Some((bytes, version)) = found else {
            continue;
        };
        let held: Option<LockBody> = serde_json::from_slice(&bytes).ok();
        let stale = match &held {
            None => true,
            Some(h) => h.expires < Utc::now() || (h.host == host() && !alive(h.pid)),
        };
        if !stale {
            let h = held.expect("not stale");
            return Err(lake_error(
                remote,
                format!(
                    "locked by flowlake on {} (pid {}) since {}; wait for it to finish (an abandoned lock lapses at {} unless renewed)",
                    h.host,
                    h.pid,
                    h.acquired.format("%Y-%m-%d %H:%M:%S UTC"),
                    h.expires.format("%Y-%m-%d %H:%M:%S UTC")
                ),
            ));
        }
        match put_checked(
            &*store,
            &path,
            lock_body(token, now),
            PutMode::Update(version),
        )
        .await
        {
            Ok(v) => return Ok(v),
            Err(object_store::Error::Precondition { .. }) => continue,
            Err(e) => return Err(remote.error(e)),
        }
    }
    Err(lake_error(
        remote,
        "cannot take the write lock: other writers keep taking it".into(),
    ))
}

/// Extends the lock's expiry, if it is still this writer's.
async fn renew_once(
    remote: &Remote,
    token: &str,
    state: &Mutex<LockState>,
) -> std::result::Result<(), String> {
    let store = remote.store().0;
    let path = remote.path(LOCK);
    let (version, acquired) = {
        let s = state.lock().expect("lock state");
        (s.version.clone(), s.acquired)
    };
    let Some(version) = version else {
        return Err("never held".into());
    };
    let body = lock_body(token, acquired);
    let outcome = match put_checked(&*store, &path, body, PutMode::Update(version)).await {
        Ok(v) => Ok(v),
        Err(object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. }) => {
            // Ours still, if only the answer to an earlier renewal was lost.
            let holder = read(&*store, &path).await.ok().flatten();
            let parsed =
                holder.and_then(|(b, v)| Some((serde_json::from_slice::<LockBody>(&b).ok()?, v)));
            match parsed {
                Some((l, v)) if l.token == token => Ok(v),
                Some((l, _)) => Err(format!(
                    "taken over by flowlake on {} (pid {})",
                    l.host, l.pid
                )),
                None => Err("the lock was removed".into()),
            }
        }
        Err(e) => return Err(redact(&e.to_string())),
    };
    let mut s = state.lock().expect("lock state");
    match outcome {
        Ok(v) => {
            s.version = Some(v);
            Ok(())
        }
        Err(why) => {
            s.lost = Some(why.clone());
            Err(why)
        }
    }
}

/// Renews the lock every [`LOCK_RENEW`] until it is lost or the task is aborted.
async fn renew_forever(remote: Arc<Remote>, token: String, state: Arc<Mutex<LockState>>) {
    loop {
        tokio::time::sleep(LOCK_RENEW).await;
        if renew_once(&remote, &token, &state).await.is_err()
            && state.lock().expect("lock state").lost.is_some()
        {
            return;
        }
    }
}
