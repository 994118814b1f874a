//! The library's error type.
//!
//! Why: callers (the CLI, batch jobs, tests) need to tell a broken lake from a bad argument from
//! an I/O failure, and every message must name the file it is about.

use std::io;
use std::path::{Path, PathBuf};

/// Errors that stop an operation. Bad *input* (a corrupt blob, a bad tuple) is not an error:
/// it is a [`crate::parse::Reject`], counted and kept aside while the work goes on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a named path failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("read", "create", ...).
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading or writing Parquet failed.
    #[error("parquet file {path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// An Arrow operation failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The lake's metadata is unreadable or from an unknown version.
    #[error("lake {path}: {message}")]
    Lake {
        /// The lake root or metadata file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Another process holds the lake's write lock.
    #[error(
        "lake {0} is locked by another flowlake process (ingest or compact); wait for it to finish"
    )]
    Locked(PathBuf),
    /// A source path does not exist or is not usable.
    #[error("source {name}: {message}")]
    Source {
        /// The source as given (a path, or a URL without its query).
        name: String,
        /// What is wrong.
        message: String,
    },
    /// An invalid argument.
    #[error("{0}")]
    Invalid(String),
    /// Planning or running a query failed.
    #[error("{0}")]
    Query(#[from] datafusion::error::DataFusionError),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds the operation and path to an `io::Error`.
pub trait IoContext<T> {
    /// Wraps the error as [`Error::Io`].
    fn ctx(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}
