//! Where a lake is for readers: a local directory, or a prefix on Azure Blob Storage or S3.
//!
//! Why: the lake built by a nightly job often lives in the same storage account as the flow
//! logs, and people query it from wherever they are. `sql`, `report`, `shell` and `info` take
//! `--lake az://<container>/<prefix>` (or any URL an ingest source takes) and read the manifest
//! and the Parquet files through `object_store`, with the same credentials as the sources.
//! `ingest` and `compact` write there too (see `lake::remote`).

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::Result;
use crate::lake::manifest::Manifest;
use crate::source::{Remote, RemoteOptions, Source};

/// A lake to read.
#[derive(Debug, Clone)]
pub enum LakeRef {
    /// A directory.
    Local(PathBuf),
    /// A prefix in a container or bucket.
    Remote(Arc<Remote>),
}

impl From<PathBuf> for LakeRef {
    fn from(p: PathBuf) -> LakeRef {
        LakeRef::Local(p)
    }
}

impl LakeRef {
    /// A URL of a store (as for ingest sources) is remote; anything else is a directory.
    pub fn parse(s: &str) -> Result<LakeRef> {
        LakeRef::parse_with(s, &RemoteOptions::default())
    }

    /// [`LakeRef::parse`] with retry settings for a store.
    pub fn parse_with(s: &str, opts: &RemoteOptions) -> Result<LakeRef> {
        Ok(match Source::parse(s, opts)? {
            Source::Local(p) => LakeRef::Local(p),
            Source::Remote(r) => LakeRef::Remote(r),
        })
    }

    /// The lake as given (a URL without its query).
    pub fn name(&self) -> String {
        match self {
            LakeRef::Local(p) => p.display().to_string(),
            LakeRef::Remote(r) => r.name().to_string(),
        }
    }

    /// The committed manifest.
    pub async fn manifest(&self) -> Result<Manifest> {
        match self {
            LakeRef::Local(p) => super::load_manifest(p),
            LakeRef::Remote(r) => super::remote::read_manifest(r).await,
        }
    }

    /// Whether a commit is half applied ([`super::commit_pending`]); a commit to a lake on
    /// object storage is one write of its manifest, so never.
    pub fn commit_pending(&self) -> bool {
        match self {
            LakeRef::Local(p) => super::commit_pending(p),
            LakeRef::Remote(_) => false,
        }
    }
}
