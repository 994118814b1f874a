//! The committed files of a lake, as the object store a query lists.
//!
//! Why: the manifest is the lake. On object storage a commit is one write of the manifest,
//! and the `flows/` prefix may hold files no manifest names yet (an upload in progress, or
//! one a crash left behind) or no longer names (kept a while for older readers). In a local
//! directory a user may copy a stray file in or delete one the manifest lists. A listing
//! would count the strays and silently skip the lost. So every table of a lake reads through
//! [`CommittedStore`]: the real store (object storage, or the local file system under the
//! lake's root), except that listing returns exactly the data files of one manifest; a
//! listed file that is gone fails the query naming it ([`missing_local`] says so when a
//! session opens). DataFusion's listing table then prunes partitions and reads files as for
//! a directory.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionContext;

use crate::error::IoContext;
use crate::lake::manifest::Manifest;
use crate::store::Location;

/// The URL scheme under which a remote lake's object store is registered in a session.
pub const LAKE_SCHEME: &str = "flowlake-lake";

/// The URL a remote lake's store is registered under: `flowlake-lake://<hex of the lake URL>`.
/// The lake is named in the URL so that another process (a cluster's executors) can open the
/// same store from a file path in a plan ([`lake_of`]), with its own credentials.
pub fn store_url(lake: &crate::store::Remote) -> url::Url {
    store_url_of(lake.name())
}

/// The URL the store of the lake named `name` (a URL without its query, or a local lake's
/// absolute path) is registered under.
pub fn store_url_of(name: &str) -> url::Url {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    url::Url::parse(&format!("{LAKE_SCHEME}://{hex}")).expect("hex digits make a valid host")
}

/// The local file system under `root`, as a local lake's store.
pub fn local_store(root: &std::path::Path) -> crate::Result<Arc<dyn ObjectStore>> {
    let store = object_store::local::LocalFileSystem::new_with_prefix(root).map_err(|e| {
        crate::Error::Lake {
            path: root.to_path_buf(),
            message: e.to_string(),
        }
    })?;
    Ok(Arc::new(store))
}

/// The files `manifest` lists that are not under the local lake at `root` (a user deleted
/// them): queries reading them fail, naming them.
pub fn missing_local(root: &std::path::Path, manifest: &Manifest) -> Vec<String> {
    local_files(root, manifest)
        .filter(|(_, path)| !path.is_file())
        .map(|(rel, _)| rel)
        .collect()
}

/// Every data file `manifest` lists, as its path relative to the local lake at `root` and
/// its path on disk.
fn local_files<'a>(
    root: &'a std::path::Path,
    manifest: &'a Manifest,
) -> impl Iterator<Item = (String, std::path::PathBuf)> + 'a {
    manifest.data_files().map(move |(dir, f)| {
        let rel = format!("{dir}/{}", f.name);
        let path = root.join(&rel);
        (rel, path)
    })
}

/// The lake URL (without a query) that a [`store_url`] names; `None` for any other URL.
pub fn lake_of(url: &url::Url) -> Option<String> {
    if url.scheme() != LAKE_SCHEME {
        return None;
    }
    let hex = url.host_str()?.as_bytes();
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = hex
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Files of the local lake at `root` its manifest lists whose Parquet frame is broken (no
/// `PAR1` at either end, or a footer length past the file's start), each with what is
/// wrong: a query that failed on a corrupt footer names them, as DataFusion's error does not.
pub fn damaged_local(root: &std::path::Path, manifest: &Manifest) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let check = |path: &std::path::Path| -> Option<String> {
        let mut f = std::fs::File::open(path).ok()?;
        let len = f.metadata().ok()?.len();
        if len < 12 {
            return Some(format!("{len} bytes: too short for Parquet"));
        }
        let mut head = [0u8; 4];
        let mut tail = [0u8; 8];
        f.read_exact(&mut head).ok()?;
        f.seek(SeekFrom::End(-8)).ok()?;
        f.read_exact(&mut tail).ok()?;
        let footer = u64::from(u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")));
        if &head != b"PAR1" || &tail[4..] != b"PAR1" {
            Some("no PAR1 magic at its start or end".into())
        } else if footer + 12 > len {
            Some(format!(
                "its footer claims {footer} bytes of a {len}-byte file"
            ))
        } else {
            None
        }
    };
    local_files(root, manifest)
        .filter_map(|(rel, path)| check(&path).map(|why| format!("{rel} ({why})")))
        .collect()
}

/// Makes the lake at `lake` readable in `ctx` and returns the URL of its table directory
/// `table` (`flows`): the one call that gives a DataFusion context (this process's, or
/// another's that reads the same lake) what it needs. The lake's store (object storage, or
/// the local file system under its root) is registered under its [`store_url_of`], seen
/// through a [`CommittedStore`] that lists exactly the files of `manifest`.
pub fn register(
    ctx: &SessionContext,
    lake: &Location,
    manifest: &Manifest,
    table: &str,
) -> crate::Result<ListingTableUrl> {
    let (name, store, prefix) = lake_store(lake)?;
    let committed = CommittedStore::new(store, &prefix, manifest);
    register_committed(ctx.runtime_env().as_ref(), &name, &prefix, committed, table)
}

/// A lake's name (its URL, or its canonical local path), store and prefix in that store.
pub fn lake_store(lake: &Location) -> crate::Result<(String, Arc<dyn ObjectStore>, Path)> {
    Ok(match lake {
        Location::Local(root) => {
            let root = root.canonicalize().ctx("open lake", root)?;
            let store = local_store(&root)?;
            (root.display().to_string(), store, Path::default())
        }
        Location::Remote(r) => {
            let (store, prefix) = r.store();
            (r.name().to_string(), store, prefix.clone())
        }
    })
}

/// Registers `committed` (the files of the lake named `name`, under `prefix` of its store) in
/// `runtime` under the lake's [`store_url_of`], and returns the URL of table directory
/// `table` in it.
pub fn register_committed(
    runtime: &RuntimeEnv,
    name: &str,
    prefix: &Path,
    committed: CommittedStore,
    table: &str,
) -> crate::Result<ListingTableUrl> {
    let base = store_url_of(name);
    runtime.register_object_store(&base, Arc::new(committed));
    let sep = if prefix.as_ref().is_empty() { "" } else { "/" };
    let base = base.as_str().trim_end_matches('/');
    Ok(ListingTableUrl::parse(format!(
        "{base}/{prefix}{sep}{table}/"
    ))?)
}

/// A store whose listings show only the data files a manifest names (see the module docs).
#[derive(Debug)]
pub struct CommittedStore {
    inner: Arc<dyn ObjectStore>,
    /// Every data file, sorted by path.
    files: Vec<ObjectMeta>,
}

impl CommittedStore {
    /// The files of `manifest` in the lake at `prefix` of `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>, prefix: &Path, manifest: &Manifest) -> Self {
        let files: Vec<ObjectMeta> = manifest
            .data_files()
            .map(|(dir, f)| ObjectMeta {
                location: prefix
                    .parts()
                    .chain(Path::from(format!("{dir}/{}", f.name)).parts())
                    .collect(),
                last_modified: chrono::DateTime::UNIX_EPOCH,
                size: f.bytes,
                e_tag: None,
                version: None,
            })
            .collect();
        CommittedStore::from_files(inner, files)
    }

    /// The store over `inner` that lists exactly `files` (as [`CommittedStore::files`] gave
    /// them, in another process).
    pub fn from_files(inner: Arc<dyn ObjectStore>, mut files: Vec<ObjectMeta>) -> Self {
        files.sort_by(|a, b| a.location.cmp(&b.location));
        CommittedStore { inner, files }
    }

    /// The data files it lists.
    pub fn files(&self) -> &[ObjectMeta] {
        &self.files
    }

    fn under<'a>(&'a self, prefix: Option<&'a Path>) -> impl Iterator<Item = &'a ObjectMeta> {
        self.files
            .iter()
            .filter(move |m| prefix.is_none_or(|p| m.location.prefix_matches(p)))
    }
}

impl fmt::Display for CommittedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "committed files of {}", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CommittedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let found: Vec<Result<ObjectMeta>> = self.under(prefix).cloned().map(Ok).collect();
        Box::pin(stream::iter(found))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let depth = prefix.map_or(0, |p| p.parts().count());
        let mut out = ListResult {
            common_prefixes: Vec::new(),
            objects: Vec::new(),
        };
        for m in self.under(prefix) {
            let parts: Vec<_> = m.location.parts().collect();
            if parts.len() == depth + 1 {
                out.objects.push(m.clone());
            } else {
                let dir: Path = parts[..=depth].iter().cloned().collect();
                if out.common_prefixes.last() != Some(&dir) {
                    out.common_prefixes.push(dir);
                }
            }
        }
        Ok(out)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::manifest::FileEntry;
    use futures::TryStreamExt;
    use object_store::memory::InMemory;

    fn entry(name: &str, bytes: u64) -> FileEntry {
        FileEntry {
            name: name.into(),
            rows: 1,
            bytes,
            blobs: vec![1],
            min_time_us: 0,
            max_time_us: 0,
        }
    }

    #[test]
    fn a_store_url_names_its_lake() {
        let lake = crate::store::Remote::open(
            "s3://bucket/some/lake?x=1",
            &crate::store::StoreOptions::default(),
        )
        .unwrap();
        let url = store_url(&lake);
        assert_eq!(url.scheme(), LAKE_SCHEME);
        assert_eq!(lake_of(&url).as_deref(), Some("s3://bucket/some/lake"));
        let other = url::Url::parse("s3://bucket/some/lake").unwrap();
        assert_eq!(lake_of(&other), None);
        let odd = url::Url::parse("flowlake-lake://abc").unwrap();
        assert_eq!(lake_of(&odd), None);
    }

    #[tokio::test]
    async fn listings_show_only_the_manifests_files() {
        let mut m = Manifest::default();
        m.partitions.insert(
            "date=2024-01-01".into(),
            vec![entry("a.parquet", 10), entry("b.parquet", 20)],
        );
        m.partitions
            .insert("date=2024-01-02".into(), vec![entry("c.parquet", 30)]);
        let s = CommittedStore::new(Arc::new(InMemory::new()), &Path::from("lake"), &m);
        let all: Vec<ObjectMeta> = s
            .list(Some(&Path::from("lake/flows")))
            .try_collect()
            .await
            .unwrap();
        let names: Vec<String> = all.iter().map(|m| m.location.to_string()).collect();
        assert_eq!(
            names,
            [
                "lake/flows/date=2024-01-01/a.parquet",
                "lake/flows/date=2024-01-01/b.parquet",
                "lake/flows/date=2024-01-02/c.parquet"
            ]
        );
        assert_eq!(all[2].size, 30);
        let top = s
            .list_with_delimiter(Some(&Path::from("lake/flows")))
            .await
            .unwrap();
        assert!(top.objects.is_empty());
        assert_eq!(
            top.common_prefixes,
            [
                Path::from("lake/flows/date=2024-01-01"),
                Path::from("lake/flows/date=2024-01-02")
            ]
        );
        let day = s
            .list_with_delimiter(Some(&Path::from("lake/flows/date=2024-01-02")))
            .await
            .unwrap();
        assert_eq!(day.objects.len(), 1);
        assert!(day.common_prefixes.is_empty());
        let none: Vec<ObjectMeta> = s
            .list(Some(&Path::from("lake/flow")))
            .try_collect()
            .await
            .unwrap();
        assert!(none.is_empty(), "a prefix matches whole segments only");
    }
}
