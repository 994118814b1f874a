//! Finding blobs: a folder tree in the Azure container layout (or any tree of `*.json`), or
//! single files.
//!
//! Why: the ingest plans from a list of blob descriptions (key, size, modification time, hour)
//! before reading any content, so unchanged blobs cost one `stat`, and blobs are processed in
//! time order, which keeps each Parquet row group to a narrow time range.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::error::{Error, Result};

/// A blob found in a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    /// Stable identity: the absolute path (later: the URL).
    pub key: String,
    /// Where to read it.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time in ns since the epoch.
    pub mtime_ns: Option<i64>,
    /// `(y, m, d, h)` from an Azure-layout path (`y=2024/m=02/d=26/h=20`), for ordering.
    pub hour: Option<(u16, u8, u8, u8)>,
}

/// Reads the `y=/m=/d=/h=` segments of an Azure blob path.
pub fn hour_of(path: &str) -> Option<(u16, u8, u8, u8)> {
    let mut y = None;
    let mut m = None;
    let mut d = None;
    let mut h = None;
    for seg in path.split(['/', '\\']) {
        let Some((k, v)) = seg.split_once('=') else {
            continue;
        };
        match k {
            "y" => y = v.parse().ok(),
            "m" if d.is_none() => m = v.parse().ok(),
            "d" => d = v.parse().ok(),
            "h" => h = v.parse().ok(),
            _ => {}
        }
    }
    Some((y?, m?, d?, h?))
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|s| s.starts_with('.'))
}

fn blob_ref(path: PathBuf, md: &std::fs::Metadata) -> BlobRef {
    let mtime_ns = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_nanos()).ok());
    let key = path.to_string_lossy().into_owned();
    BlobRef {
        hour: hour_of(&key),
        key,
        path,
        size: md.len(),
        mtime_ns,
    }
}

/// Lists the blobs under each source, skipping anything inside `exclude` (the lake itself),
/// hidden files and directories. A directory yields its `*.json` files; a file is taken as is.
/// The result is deduplicated and ordered by hour, then key.
pub fn discover(sources: &[PathBuf], exclude: &Path) -> Result<Vec<BlobRef>> {
    let mut out = Vec::new();
    for src in sources {
        let abs = src.canonicalize().map_err(|e| Error::Source {
            path: src.clone(),
            message: e.to_string(),
        })?;
        let md = std::fs::metadata(&abs).map_err(|e| Error::Source {
            path: src.clone(),
            message: e.to_string(),
        })?;
        if md.is_file() {
            out.push(blob_ref(abs, &md));
            continue;
        }
        let walker = walkdir::WalkDir::new(&abs)
            .follow_links(true)
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0 || (!is_hidden(e.file_name()) && !e.path().starts_with(exclude))
            });
        for entry in walker {
            let entry = entry.map_err(|e| Error::Source {
                path: e.path().map_or_else(|| src.clone(), Path::to_path_buf),
                message: e.to_string(),
            })?;
            let is_json = entry
                .path()
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("json"));
            if entry.file_type().is_file() && is_json {
                let md = entry.metadata().map_err(|e| Error::Source {
                    path: entry.path().to_path_buf(),
                    message: e.to_string(),
                })?;
                out.push(blob_ref(entry.into_path(), &md));
            }
        }
    }
    out.sort_by(|a, b| (a.hour, &a.key).cmp(&(b.hour, &b.key)));
    out.dedup_by(|a, b| a.key == b.key);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_from_azure_path() {
        let p = "insights-logs-flowlogflowevent/flowLogResourceID=/SUBSCRIPTIONS/X/y=2024/m=02/d=26/h=20/m=00/macAddress=00224871C205/PT1H.json";
        assert_eq!(hour_of(p), Some((2024, 2, 26, 20)));
        assert_eq!(hour_of("/tmp/a.json"), None);
    }
}
