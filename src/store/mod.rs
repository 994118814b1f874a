//! Storage: where flowlake's bytes live, a local directory or a prefix in a container on
//! Azure Blob Storage or a bucket on S3, named the same way by every command.
//!
//! Why: flow-log sources, the lake, and (later) other processes reading the lake all reach
//! the same stores with the same credentials. This layer is the one place that turns text
//! (`/data/logs`, `az://flowlogs/insights`, `s3://bucket/lake`) into a [`Location`], opens
//! object stores with their credentials and retries, and keeps secrets out of messages.
//! `source` (which blobs, how to read them) and `lake` (files, manifest, commits) sit on it.
//!
//! Contract of a [`Location::Remote`] store, as `lake` and `source` rely on it:
//! - reads of an object return one whole version of it (no torn reads of objects);
//! - conditional puts (`If-None-Match: *`, `If-Match: <etag>`) are atomic; a lake's commit
//!   point and write lock are built on them (Azure Blob Storage, S3, MinIO, R2, moto);
//! - listings may lag and may show objects no commit names: the lake never trusts a listing
//!   for what is committed, only its manifest;
//! - transient failures are retried (see [`StoreOptions`]); errors name the location as given
//!   (a URL without its query) and never carry a secret ([`redact`]).
//!
//! A [`Location::Local`] directory has POSIX semantics instead (rename, `flock`), which the
//! local lake's commit protocol uses (`lake::local`).

mod aws_profile;
mod redact;
mod remote;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

pub use redact::redact;
pub use remote::{Remote, StoreOptions};

use crate::error::Result;

/// Where something is stored: a local path, or a prefix in a container or bucket.
#[derive(Clone)]
pub enum Location {
    /// A directory or file on this machine.
    Local(PathBuf),
    /// A prefix in a container or bucket on object storage.
    Remote(Arc<Remote>),
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "Local({})", p.display()),
            Location::Remote(r) => write!(f, "Remote({})", r.name()),
        }
    }
}

impl Location {
    /// Reads a location as a user writes it: `az://`, `abfs[s]://`, `adl://`, `azure://`,
    /// `s3://`, `s3a://` and `https://` URLs of Azure Blob Storage or S3 are remote (opened
    /// with `opts`); anything else is a local path.
    pub fn parse(s: &str, opts: &StoreOptions) -> Result<Location> {
        match is_remote(s) {
            true => Ok(Location::Remote(Arc::new(Remote::open(s, opts)?))),
            false => Ok(Location::Local(PathBuf::from(s))),
        }
    }

    /// The location as given (a URL without its query, which may hold a SAS token).
    pub fn name(&self) -> String {
        match self {
            Location::Local(p) => p.display().to_string(),
            Location::Remote(r) => r.name().to_string(),
        }
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Location {
        Location::Local(p)
    }
}

/// Whether `s` is a URL of a store flowlake reads (rather than a local path).
pub fn is_remote(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    match scheme.to_ascii_lowercase().as_str() {
        "az" | "abfs" | "abfss" | "adl" | "azure" | "s3" | "s3a" => true,
        "https" => [
            ".blob.core.windows.net",
            ".dfs.core.windows.net",
            ".amazonaws.com",
        ]
        .iter()
        .any(|d| host.ends_with(d)),
        _ => false,
    }
}

/// The shared runtime that drives remote I/O for the (synchronous) ingest workers and the
/// writer of a remote lake.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("flowlake-io")
            .enable_all()
            .build()
            .expect("cannot start the I/O runtime")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_are_told_from_paths() {
        for u in [
            "az://flowlogs/insights",
            "abfss://c@acct.dfs.core.windows.net/x",
            "https://acct.blob.core.windows.net/insights-logs-flowlogflowevent",
            "s3://bucket/prefix",
        ] {
            assert!(is_remote(u), "{u}");
        }
        for p in [
            "data/azure",
            "/tmp/x.json",
            "https://example.com/x.json",
            "C:\\logs",
        ] {
            assert!(!is_remote(p), "{p}");
        }
    }
}
