//! Flow-log blobs in a container or bucket: windowed listing and range reads.
//!
//! Why: a nightly job must get only what is new without listing or downloading a year of
//! blobs, so the listing visits only the `y=/m=/d=/h=` prefixes of the requested hours (in
//! parallel), and a blob that grew since the last run is read from just before its
//! checkpoint (range reads). Opening the store (URL forms, credentials, retries) is
//! [`crate::store`]'s job.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};

use super::{BlobLocation, BlobRef, Checkpoint, HEAD, HourWindow, Read, TAIL, hour_of};
use crate::error::Result;
use crate::store::{Remote, runtime};

/// Listing requests in flight at once.
const PARALLEL_LISTS: usize = 16;
/// How deep the listing looks for the `y=` level below the given prefix.
const MAX_DEPTH: usize = 24;

/// What listing cost: calls to the store's list operations and objects they returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListStats {
    /// List calls (each is one request, or more for more than 5,000 objects).
    pub requests: u64,
    /// Objects returned.
    pub objects: u64,
}

fn blob(r: &Arc<Remote>, m: ObjectMeta) -> BlobRef {
    BlobRef {
        hour: hour_of(m.location.as_ref()),
        key: r.key(&m.location),
        size: m.size,
        mtime_ns: m.last_modified.timestamp_nanos_opt(),
        etag: m.e_tag,
        loc: BlobLocation::Object(r.clone(), m.location),
    }
}

/// Reads an object of `r` (see [`super::read`]).
pub(super) fn read(
    r: &Remote,
    path: &Path,
    size: u64,
    buf: &mut Vec<u8>,
    max: u64,
    at: Option<Checkpoint<'_>>,
) -> Result<Read> {
    if size > max {
        return Ok(Read::TooLarge(size));
    }
    let store = r.store().0;
    runtime()
        .block_on(async {
            if let Some(cp) = at.filter(|c| c.consumed > 0 && c.consumed <= size) {
                let start = cp.consumed.saturating_sub(TAIL);
                let head = HEAD.min(start);
                if let Ok(parts) = store.get_ranges(path, &[0..head, start..size]).await {
                    let (h, rest) = (&parts[0], &parts[1]);
                    let before = (cp.consumed - start) as usize;
                    let same = rest.len() as u64 == size - start
                        && h.len() as u64 == head
                        && super::tail_hash(&rest[..before], before) == cp.tail_hash;
                    if same {
                        buf.extend_from_slice(h);
                        buf.resize(start as usize, b' ');
                        buf.extend_from_slice(rest);
                        return Ok(Read::Resumed {
                            fetched: head + rest.len() as u64,
                        });
                    }
                }
            }
            let got = store.get(path).await?;
            if got.meta.size > max {
                return Ok(Read::TooLarge(got.meta.size));
            }
            let bytes = got.bytes().await?;
            buf.extend_from_slice(&bytes);
            Ok(Read::Whole)
        })
        .map_err(|e: object_store::Error| r.error(format!("cannot read {path}: {e}")))
}

/// Adds the `.json` objects under the remote's prefix to `out`: all of them, or with a
/// window only those under the window's hour prefixes.
pub(super) fn discover(
    r: &Arc<Remote>,
    window: Option<HourWindow>,
    out: &mut Vec<BlobRef>,
) -> Result<ListStats> {
    let mut stats = ListStats::default();
    let metas = runtime().block_on(async {
        match window {
            None => {
                stats.requests += 1;
                list_all(r, r.prefix()).await
            }
            Some(w) => list_window(r, w, &mut stats).await,
        }
    })?;
    for m in metas {
        stats.objects += 1;
        if m.location
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("json"))
        {
            out.push(blob(r, m));
        }
    }
    Ok(stats)
}

async fn list_all(r: &Remote, prefix: &Path) -> Result<Vec<ObjectMeta>> {
    let p = (!prefix.as_ref().is_empty()).then_some(prefix);
    r.store()
        .0
        .list(p)
        .try_collect()
        .await
        .map_err(|e| r.error(e))
}

/// Lists only the hours of `w`: finds the folders holding `y=` folders (one per flow log
/// resource) by listing level by level, then lists each whole day's (or single hour's)
/// prefix of the window under each of them.
async fn list_window(r: &Remote, w: HourWindow, stats: &mut ListStats) -> Result<Vec<ObjectMeta>> {
    let mut metas = Vec::new();
    let mut roots = Vec::new();
    let mut frontier = vec![r.prefix().clone()];
    for _ in 0..MAX_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let levels: Vec<(Path, object_store::ListResult)> = stream::iter(frontier)
            .map(|p| async move {
                let q = (!p.as_ref().is_empty()).then_some(&p);
                let l = r.store().0.list_with_delimiter(q).await;
                l.map(|l| (p, l))
            })
            .buffer_unordered(PARALLEL_LISTS)
            .try_collect()
            .await
            .map_err(|e| r.error(e))?;
        frontier = Vec::new();
        for (p, l) in levels {
            stats.requests += 1;
            metas.extend(l.objects);
            if l.common_prefixes
                .iter()
                .any(|c| c.filename().is_some_and(|f| f.starts_with("y=")))
            {
                roots.push(p);
            } else {
                frontier.extend(l.common_prefixes);
            }
        }
    }
    let folders = w.folders();
    let prefixes: Vec<Path> = roots
        .iter()
        .flat_map(|root| {
            folders.iter().map(move |f| {
                let sep = if root.as_ref().is_empty() { "" } else { "/" };
                Path::from(format!("{root}{sep}{f}"))
            })
        })
        .collect();
    stats.requests += prefixes.len() as u64;
    let lists: Vec<Vec<ObjectMeta>> = stream::iter(prefixes)
        .map(|p| async move { list_all(r, &p).await })
        .buffer_unordered(PARALLEL_LISTS)
        .try_collect()
        .await?;
    metas.extend(lists.into_iter().flatten());
    Ok(metas)
}
