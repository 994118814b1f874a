//! Blobs on the local file system: a folder tree walked for `*.json`, or single files.

use std::io::Read as _;
use std::path::Path;
use std::time::UNIX_EPOCH;

use super::{BlobLocation, BlobRef, Read, hour_of};
use crate::error::{Error, IoContext, Result};

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|s| s.starts_with('.'))
}

fn blob_ref(path: std::path::PathBuf, md: &std::fs::Metadata) -> BlobRef {
    let mtime_ns = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_nanos()).ok());
    let key = path.to_string_lossy().into_owned();
    BlobRef {
        hour: hour_of(&key),
        key,
        loc: BlobLocation::File(path),
        size: md.len(),
        mtime_ns,
        etag: None,
    }
}

/// Adds the blobs under `src` to `out`, skipping `exclude`, hidden files and directories.
pub(super) fn discover(src: &Path, exclude: &Path, out: &mut Vec<BlobRef>) -> Result<()> {
    let err = |path: &Path, e: &dyn std::fmt::Display| Error::Source {
        name: path.display().to_string(),
        message: e.to_string(),
    };
    let abs = src.canonicalize().map_err(|e| err(src, &e))?;
    let md = std::fs::metadata(&abs).map_err(|e| err(src, &e))?;
    if md.is_file() {
        out.push(blob_ref(abs, &md));
        return Ok(());
    }
    let walker = walkdir::WalkDir::new(&abs)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0 || (!is_hidden(e.file_name()) && !e.path().starts_with(exclude))
        });
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            // A path below the source that cannot be followed is that path's reject, not
            // the run's failure.
            Err(e) if e.depth() > 0 => {
                let path = e.path().unwrap_or(src).to_path_buf();
                let why = match e.loop_ancestor() {
                    Some(a) => format!("a symbolic link loop back to {}", a.display()),
                    None => e
                        .io_error()
                        .map_or_else(|| e.to_string(), ToString::to_string),
                };
                out.push(BlobRef {
                    key: path.to_string_lossy().into_owned(),
                    hour: None,
                    loc: BlobLocation::Unreadable(path, why),
                    size: 0,
                    mtime_ns: None,
                    etag: None,
                });
                continue;
            }
            Err(e) => return Err(err(e.path().unwrap_or(src), &e)),
        };
        let is_json = entry
            .path()
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("json"));
        if entry.file_type().is_file() && is_json {
            let md = entry.metadata().map_err(|e| err(entry.path(), &e))?;
            out.push(blob_ref(entry.into_path(), &md));
        }
    }
    Ok(())
}

/// Reads a whole file, unless it is larger than `max`.
pub(super) fn read(path: &Path, buf: &mut Vec<u8>, max: u64) -> Result<Read> {
    let mut f = std::fs::File::open(path).ctx("read", path)?;
    let len = f.metadata().ctx("read", path)?.len();
    if len > max {
        return Ok(Read::TooLarge(len));
    }
    buf.reserve(len as usize);
    f.read_to_end(buf).ctx("read", path)?;
    Ok(Read::Whole)
}
