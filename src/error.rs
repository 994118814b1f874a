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
    /// Reading or writing Parquet failed (`path` is `<stdout>` for results written there).
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
    /// A file given as input (a config file, an IP set, NSG definitions) cannot be used.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Input {
        /// The file.
        path: PathBuf,
        /// The line the problem is on, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A cluster (`--cluster`, `flowlake cluster ...`) could not be reached or failed.
    #[error("cluster {cluster}: {message}")]
    Cluster {
        /// The cluster as given, or the node that failed.
        cluster: String,
        /// What went wrong.
        message: String,
    },
    /// An invalid argument: a flag's value or a setting (a usage error).
    #[error("{0}")]
    Invalid(String),
    /// The lake cannot answer what was asked (the raw tuples a window needs are gone): a
    /// state of the lake, not a bad flag.
    #[error("{0}")]
    Unanswerable(String),
    /// Planning or running a query failed (a report's query names its file in the context).
    #[error("{0}")]
    Query(#[from] datafusion::error::DataFusionError),
    /// A report's SQL file cannot be filled in (a placeholder it names is unknown).
    #[error("{file}: {message}")]
    ReportSql {
        /// The query file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A report query's result does not have the columns the report reads.
    #[error("report query {file}: {message}")]
    ReportRows {
        /// The query file (`exfil.sql`, ...).
        file: &'static str,
        /// What is missing or mistyped.
        message: String,
    },
    /// The interactive line editor failed.
    #[error("line editor: {0}")]
    Terminal(String),
    /// Several parallel workers failed; each error is listed.
    #[error("{} workers failed:{}", .0.len(), .0.iter().map(|e| format!("\n  - {e}")).collect::<String>())]
    Several(Vec<Error>),
}

impl Error {
    /// Whether the user can fix this by changing the command: a flag or its value
    /// ([`Error::Invalid`]), or a file given as configuration that cannot be used
    /// ([`Error::Input`]: `flowlake.toml`, an IP set, NSG definitions). `main` exits with 2
    /// for these; for everything else (the lake's state, a source, a cluster) with 1.
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Invalid(_) | Error::Input { .. })
    }

    /// Whether this error (or one it wraps) is a write to a closed pipe: the reader went
    /// away (`flowlake sql ... | head`), which is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        match self {
            Error::Io { source, .. } => source.kind() == io::ErrorKind::BrokenPipe,
            Error::Parquet { source, .. } => matches!(
                source,
                parquet::errors::ParquetError::External(e)
                    if e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            ),
            Error::Arrow(arrow::error::ArrowError::IoError(_, e)) => {
                e.kind() == io::ErrorKind::BrokenPipe
            }
            Error::Several(all) => all.iter().all(Error::is_broken_pipe),
            _ => false,
        }
    }

    /// One error for a list of failures of parallel workers: the only one, or all of them.
    pub fn from_many(mut errors: Vec<Error>) -> Option<Error> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(Error::Several(errors)),
        }
    }
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

/// Adds the file to a Parquet error.
pub trait ParquetContext<T> {
    /// Wraps the error as [`Error::Parquet`].
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> ParquetContext<T> for parquet::errors::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Parquet {
            path: path.to_path_buf(),
            source,
        })
    }
}
