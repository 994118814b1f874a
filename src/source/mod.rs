//! Finding and reading blobs: a folder tree in the Azure container layout (or any tree of
//! `*.json`), single files, or a container or bucket on Azure Blob Storage or S3.
//!
//! Why: the ingest plans from a list of blob descriptions (key, size, modification time or
//! ETag, hour) before reading any content, so unchanged blobs cost nothing but a listing, and
//! blobs are processed in time order, which keeps each Parquet row group to a narrow time
//! range. Reading is here too, so a grown remote blob costs a range read of its new part.

mod local;
mod remote;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::error::Error;
use crate::window::hour_floor;

use crate::error::Result;
use crate::store::{Location, Remote};
pub use remote::ListStats;

/// `(year, month, day, hour)` of an Azure-layout blob path.
pub type Hour = (u16, u8, u8, u8);

/// A blob found in a source.
#[derive(Debug, Clone)]
pub struct BlobRef {
    /// Stable identity: the absolute path, or the blob's URL
    /// (`https://<account>.blob.core.windows.net/<container>/<path>`, `s3://<bucket>/<path>`).
    pub key: String,
    /// Where to read it.
    pub loc: BlobLocation,
    /// Size in bytes.
    pub size: u64,
    /// Modification time in ns since the epoch.
    pub mtime_ns: Option<i64>,
    /// Entity tag of a remote blob (changes with every write).
    pub etag: Option<String>,
    /// `(y, m, d, h)` from an Azure-layout path (`y=2024/m=02/d=26/h=20`), for ordering.
    pub hour: Option<Hour>,
}

/// Where a blob's bytes are.
#[derive(Clone)]
pub enum BlobLocation {
    /// A local file.
    File(PathBuf),
    /// An object in a remote container or bucket.
    Object(Arc<Remote>, object_store::path::Path),
    /// A path under a source folder that the listing could not follow (a symbolic-link
    /// loop, a folder it may not read), and why: reading it is a `read_error` reject, so
    /// one bad path never stops the run.
    Unreadable(PathBuf, String),
}

impl fmt::Debug for BlobLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobLocation::File(p) => write!(f, "File({})", p.display()),
            BlobLocation::Object(r, p) => write!(f, "Object({}, {p})", r.name()),
            BlobLocation::Unreadable(p, why) => write!(f, "Unreadable({}: {why})", p.display()),
        }
    }
}

/// The hours to ingest, `[since, until)` truncated to hours. Blobs whose path names an hour
/// outside it are skipped, and remote listings only visit the hour prefixes inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourWindow {
    /// First hour.
    pub since: DateTime<Utc>,
    /// End (exclusive).
    pub until: DateTime<Utc>,
}

impl HourWindow {
    /// The window from `since` to `until`, both truncated to the hour (a partial last hour
    /// is included).
    pub fn new(since: DateTime<Utc>, until: DateTime<Utc>) -> HourWindow {
        let end = hour_floor(until);
        HourWindow {
            since: hour_floor(since),
            until: if end < until {
                end + chrono::Duration::hours(1)
            } else {
                end
            },
        }
    }

    /// Every hour in the window, in order.
    pub fn hours(&self) -> Vec<Hour> {
        let mut out = Vec::new();
        let mut t = self.since;
        while t < self.until {
            out.push(hour_key(t));
            t += chrono::Duration::hours(1);
        }
        out
    }

    /// The `y=/m=/d=` folders of the days wholly inside the window and the
    /// `y=/m=/d=/h=` folders of the other hours, in order: the fewest prefixes that list
    /// exactly the window's blobs.
    pub fn folders(&self) -> Vec<String> {
        let hours = self.hours();
        let mut out = Vec::new();
        let mut i = 0;
        while i < hours.len() {
            let (y, m, d, h) = hours[i];
            let day = hours[i..]
                .iter()
                .take_while(|x| (x.0, x.1, x.2) == (y, m, d))
                .count();
            if h == 0 && day == 24 {
                out.push(format!("y={y}/m={m:02}/d={d:02}"));
            } else {
                for &(y, m, d, h) in &hours[i..i + day] {
                    out.push(format!("y={y}/m={m:02}/d={d:02}/h={h:02}"));
                }
            }
            i += day;
        }
        out
    }

    /// Whether a blob of hour `h` belongs to the window (blobs without an hour always do).
    pub fn contains(&self, h: Option<Hour>) -> bool {
        h.is_none_or(|h| h >= hour_key(self.since) && h < hour_key(self.until))
    }
}

fn hour_key(t: DateTime<Utc>) -> Hour {
    (
        t.year() as u16,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
    )
}

/// Reads the `y=/m=/d=/h=` segments of an Azure blob path.
pub fn hour_of(path: &str) -> Option<Hour> {
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

/// What listing the sources found, and what it cost.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The blobs, deduplicated and ordered by hour, then key.
    pub blobs: Vec<BlobRef>,
    /// Remote listing requests and objects listed.
    pub list: ListStats,
}

/// Lists the blobs under each source, skipping the lake itself (`exclude`: the start of the
/// keys of its objects, a directory or [`Remote::key_prefix`]), hidden files and
/// directories, and blobs of hours outside `window`. A directory yields its `*.json` files; a file is taken
/// as is; a remote prefix yields its `.json` objects.
pub fn discover(sources: &[Location], exclude: &str, window: Option<HourWindow>) -> Result<Found> {
    let mut found = Found::default();
    for src in sources {
        match src {
            Location::Local(p) => local::discover(p, Path::new(exclude), &mut found.blobs)?,
            Location::Remote(r) => {
                let stats = remote::discover(r, window, &mut found.blobs)?;
                found.list.requests += stats.requests;
                found.list.objects += stats.objects;
            }
        }
    }
    found
        .blobs
        .retain(|b| window.is_none_or(|w| w.contains(b.hour)) && !b.key.starts_with(exclude));
    found
        .blobs
        .sort_by(|a, b| (a.hour, &a.key).cmp(&(b.hour, &b.key)));
    found.blobs.dedup_by(|a, b| a.key == b.key);
    Ok(found)
}

/// Bytes taken from before a checkpoint to recognise a grown blob by a range read
/// ([`Checkpoint::tail_hash`]).
pub const TAIL: u64 = 4096;
/// Bytes at the start of a blob fetched with a range read (enough to find the record list).
const HEAD: u64 = 4096;

/// How far an earlier ingest read a blob: offset and hash of the bytes just before it.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint<'a> {
    /// Offset just past the last complete record.
    pub consumed: u64,
    /// xxh3-64 (hex) of the up to [`TAIL`] bytes before `consumed`.
    pub tail_hash: &'a str,
}

/// What [`read`] put in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The whole blob.
    Whole,
    /// The blob's start, the bytes around the checkpoint and everything after it; the
    /// bytes in between were not fetched and are blanks (JSON whitespace), so offsets in the
    /// buffer are blob offsets. The bytes before the checkpoint hash as recorded.
    Resumed {
        /// Bytes fetched.
        fetched: u64,
    },
    /// Not read: the blob is larger than the limit (its size).
    TooLarge(u64),
}

/// Reads a blob into `buf` (cleared first). Given a checkpoint of a remote blob that still
/// ends past it, reads only the new part (and the start and the [`TAIL`] bytes before the
/// checkpoint, to check they did not change), falling back to a whole read when they did.
pub fn read(
    blob: &BlobRef,
    buf: &mut Vec<u8>,
    max: u64,
    at: Option<Checkpoint<'_>>,
) -> Result<Read> {
    buf.clear();
    match &blob.loc {
        BlobLocation::File(path) => local::read(path, buf, max),
        BlobLocation::Object(r, path) => remote::read(r, path, blob.size, buf, max, at),
        BlobLocation::Unreadable(path, why) => Err(Error::Source {
            name: path.display().to_string(),
            message: why.clone(),
        }),
    }
}

/// xxh3-64 of `bytes` as 16 hex digits: how checkpoints record the bytes they stand on.
pub fn hash_hex(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

/// [`hash_hex`] of the up to [`TAIL`] bytes of `data` before `consumed`.
pub fn tail_hash(data: &[u8], consumed: usize) -> String {
    hash_hex(&data[consumed.saturating_sub(TAIL as usize)..consumed])
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

    #[test]
    fn window_hours_cover_a_partial_last_hour() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let w = HourWindow::new(t("2024-02-26T22:30:00Z"), t("2024-02-27T01:10:00Z"));
        assert_eq!(
            w.hours(),
            vec![
                (2024, 2, 26, 22),
                (2024, 2, 26, 23),
                (2024, 2, 27, 0),
                (2024, 2, 27, 1)
            ]
        );
        assert!(w.contains(Some((2024, 2, 27, 1))));
        let two_days = HourWindow::new(t("2024-02-26T22:00:00Z"), t("2024-02-28T01:00:00Z"));
        assert_eq!(
            two_days.folders(),
            [
                "y=2024/m=02/d=26/h=22",
                "y=2024/m=02/d=26/h=23",
                "y=2024/m=02/d=27",
                "y=2024/m=02/d=28/h=00"
            ]
        );
        assert!(!w.contains(Some((2024, 2, 27, 2))));
        assert!(!w.contains(Some((2024, 2, 26, 21))));
        assert!(w.contains(None));
    }
}
