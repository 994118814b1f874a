//! Ingest: blobs → parsed tuples → Parquet files → one atomic commit per chunk of blobs.
//!
//! Why: this is where exactly-once is decided. Each blob is compared with its checkpoint in the
//! manifest: unchanged blobs are skipped on size and modification time, grown blobs (same bytes
//! up to the checkpoint) are read from the checkpoint on, and rewritten blobs have their
//! earlier rows removed in the same commit that adds their new rows. Work is split into chunks
//! of about `commit_bytes`; each chunk is parsed by parallel workers that each write their own
//! files, then committed, so a crash loses at most one chunk of work and never duplicates it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::lake::file::{FlowsEntries, FlowsFile, day_of, partition_name, rewrite_without};
use crate::lake::manifest::BlobState;
use crate::lake::rows::FlowRows;
use crate::lake::{Lake, Txn};
use crate::parse::{self, FlowSink, GroupMeta, RecordMeta, Reject, RejectReason, Resume, Tuple};
use crate::source::{self, BlobRef, Checkpoint, HourWindow, Read};
use crate::store::Location;

/// Rows buffered per partition before they are handed to the Parquet writer.
const BATCH_ROWS: usize = 16 * 1024;
/// Rows per data file before a new file is started.
const FILE_ROWS: u64 = 8 << 20;
/// Partitions a worker keeps open at once; the least recently used is closed beyond that.
const MAX_OPEN: usize = 4;
/// Rejects kept in memory for the summary (all of them go to the rejects file).
const SAMPLES: usize = 20;

/// What to ingest and how.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Folders, files or remote containers to read.
    pub sources: Vec<Location>,
    /// Only blobs of these hours (by their `y=/m=/d=/h=` path); remote listings visit only
    /// these hour prefixes.
    pub window: Option<HourWindow>,
    /// The lake: a directory, or a prefix on object storage.
    pub lake: Location,
    /// Parallel parse/write workers.
    pub workers: usize,
    /// Commit after about this many bytes of new blob content.
    pub commit_bytes: u64,
    /// Blobs larger than this are rejected (`blob_too_large`).
    pub max_blob_bytes: u64,
    /// Show a progress bar (only drawn on a terminal).
    pub progress: bool,
    /// A blob still in its hour, or changed less than this long ago, may be mid-write (Azure
    /// appending, a copy tool rewriting it in place): a torn end is pending, not rejected.
    pub settle: std::time::Duration,
}

impl IngestOptions {
    /// Options with defaults: one worker per core, 1 GiB per commit, 4 GiB blob limit.
    pub fn new(sources: Vec<Location>, lake: impl Into<Location>) -> Self {
        IngestOptions {
            sources,
            window: None,
            lake: lake.into(),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            commit_bytes: 1 << 30,
            max_blob_bytes: 4 << 30,
            progress: false,
            settle: std::time::Duration::from_secs(300),
        }
    }
}

/// What an ingest did. Printed for humans, serialised as JSON for batch jobs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    /// Lake root.
    pub lake: String,
    /// Lake version after the run.
    pub lake_version: u64,
    /// Blobs found in the sources.
    pub blobs_found: u64,
    /// Remote list calls made to find them (0 for local sources).
    pub list_requests: u64,
    /// Remote objects those calls returned.
    pub objects_listed: u64,
    /// Blobs read for the first time.
    pub blobs_new: u64,
    /// Blobs that had grown; only their new records were read.
    pub blobs_grown: u64,
    /// Blobs changed in another way; their earlier rows were replaced.
    pub blobs_rewritten: u64,
    /// Blobs with nothing new.
    pub blobs_unchanged: u64,
    /// Blobs that could not be read at all (counted in `rejected` too).
    pub blobs_failed: u64,
    /// Blobs that end in a record still being written (in their hour, or changed moments
    /// ago): read up to it, the rest is read by a later run, nothing rejected.
    pub blobs_pending: u64,
    /// Records read.
    pub records: u64,
    /// Tuples added to the lake.
    pub tuples: u64,
    /// Rows removed because their blob was rewritten.
    pub rows_replaced: u64,
    /// Items rejected (blobs, records or tuples).
    pub rejected: u64,
    /// Rejected items by reason.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// The first rejects, with file and position.
    pub reject_samples: Vec<Reject>,
    /// Rejects files written this run (relative to the lake).
    pub rejects_files: Vec<String>,
    /// Earlier rejects of blobs that were read in full since (a torn read that completed,
    /// a rewritten blob): no longer counted against their blobs.
    pub rejects_superseded: u64,
    /// What the operator should know about the lake's guarantees on this machine.
    pub warnings: Vec<String>,
    /// Blob bytes read.
    pub bytes_read: u64,
    /// Data files added.
    pub files_written: u64,
    /// Commits made.
    pub commits: u64,
    /// Partitions that received rows.
    pub partitions: BTreeSet<String>,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// Tuples per second.
    pub tuples_per_s: f64,
    /// Blob megabytes (10^6) per second.
    pub mb_per_s: f64,
}

/// The three outcomes a batch job can tell apart by exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was ingested.
    Clean,
    /// Ingested, but some input was rejected.
    WithRejects,
}

impl IngestSummary {
    /// Clean or with rejects.
    pub fn outcome(&self) -> Outcome {
        if self.rejected > 0 {
            Outcome::WithRejects
        } else {
            Outcome::Clean
        }
    }

    fn add_reject(&mut self, r: &Reject) {
        if self.reject_samples.len() < SAMPLES {
            self.reject_samples.push(r.clone());
        }
    }
}

/// A blob to read, with its previous checkpoint.
struct Planned {
    blob: BlobRef,
    prev: Option<BlobState>,
    id: u64,
    /// The blob may still be being written ([`IngestOptions::settle`]).
    fresh: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    New,
    Grown,
    Rewritten,
    Unchanged,
    Failed,
}

/// Rejects that only say a blob's end was not written yet.
fn is_torn_end(reason: RejectReason) -> bool {
    matches!(
        reason,
        RejectReason::TruncatedBlob | RejectReason::EmptyBlob
    )
}

struct Outcome1 {
    key: String,
    change: Change,
    state: Option<BlobState>,
    scan: parse::BlobScan,
    bytes: u64,
    /// The blob ends in a record still being written.
    pending: bool,
    /// Earlier rejects of this blob no longer standing.
    superseded: u64,
}

struct Open {
    partition: String,
    rows: FlowRows,
    file: FlowsFile,
    last_use: u64,
    last_blob: u64,
}

/// The data files one worker has open or finished in the current transaction.
struct Files<'t> {
    txn: &'t Txn,
    tag: usize,
    seq: u32,
    tick: u64,
    /// Open files by day (at most [`MAX_OPEN`]: a list beats a map for these few).
    open: Vec<(i32, Open)>,
    finished: Vec<(String, FlowsEntries)>,
}

impl Files<'_> {
    fn flush(open: &mut Open) -> Result<()> {
        if !open.rows.is_empty() {
            let batch = open.rows.finish();
            open.file.write(&batch)?;
        }
        Ok(())
    }

    fn close(&mut self, day: i32) -> Result<()> {
        if let Some(at) = self.open.iter().position(|(d, _)| *d == day) {
            let (_, mut o) = self.open.swap_remove(at);
            Self::flush(&mut o)?;
            if let Some(entries) = o.file.finish()? {
                self.finished.push((o.partition, entries));
            }
        }
        Ok(())
    }

    fn close_all(&mut self) -> Result<()> {
        let days: Vec<i32> = self.open.iter().map(|(d, _)| *d).collect();
        for d in days {
            self.close(d)?;
        }
        Ok(())
    }

    fn open_for(&mut self, day: i32) -> Result<&mut Open> {
        self.tick += 1;
        let at = match self.open.iter().position(|(d, _)| *d == day) {
            Some(at) => at,
            None => self.open_new(day)?,
        };
        let o = &mut self.open[at].1;
        o.last_use = self.tick;
        Ok(o)
    }

    /// Opens the file of `day` (closing the least recently used beyond [`MAX_OPEN`]); its
    /// place in `open`.
    fn open_new(&mut self, day: i32) -> Result<usize> {
        if self.open.len() >= MAX_OPEN {
            let lru = self
                .open
                .iter()
                .min_by_key(|(_, o)| o.last_use)
                .map(|(d, _)| *d)
                .expect("open is not empty");
            self.close(lru)?;
        }
        let partition = partition_name(day);
        self.seq += 1;
        let name = format!(
            "part-{}-w{}-{:05}.parquet",
            self.txn.stem(),
            self.tag,
            self.seq
        );
        let file = FlowsFile::create(
            &self.txn.twin_dirs(&partition),
            name,
            1,
            crate::lake::file::ROW_GROUP_ROWS,
        )?;
        self.open.push((
            day,
            Open {
                partition,
                rows: FlowRows::with_capacity(BATCH_ROWS),
                file,
                last_use: 0,
                last_blob: 0,
            },
        ));
        Ok(self.open.len() - 1)
    }
}

/// One parse/write worker: owns its open files and its rejects file.
struct Worker<'t> {
    txn: &'t Txn,
    files: Files<'t>,
    rejects: Option<(String, BufWriter<File>)>,
    reject_counts: BTreeMap<RejectReason, u64>,
    samples: Vec<Reject>,
    blob_key: String,
    blob_id: u64,
    /// The current blob may be mid-write: a torn end is held here instead of rejected.
    hold_torn_end: bool,
    held: Option<Reject>,
    error: Option<Error>,
}

impl<'t> Worker<'t> {
    fn new(txn: &'t Txn, tag: usize) -> Self {
        Worker {
            txn,
            files: Files {
                txn,
                tag,
                seq: 0,
                tick: 0,
                open: Vec::new(),
                finished: Vec::new(),
            },
            rejects: None,
            reject_counts: BTreeMap::new(),
            samples: Vec::new(),
            blob_key: String::new(),
            blob_id: 0,
            hold_torn_end: false,
            held: None,
            error: None,
        }
    }

    fn try_flow(&mut self, rec: &RecordMeta<'_>, g: &GroupMeta<'_>, t: &Tuple<'_>) -> Result<()> {
        let day = day_of(t.time_us);
        let o = self.files.open_for(day)?;
        o.rows.push(
            (self.blob_id, rec.index, g.index),
            &self.blob_key,
            rec,
            g,
            t,
        );
        if o.last_blob != self.blob_id {
            o.last_blob = self.blob_id;
            o.file.blobs.insert(self.blob_id);
        }
        if o.rows.len() >= BATCH_ROWS {
            Files::flush(o)?;
            if o.file.rows() >= FILE_ROWS {
                self.files.close(day)?;
            }
        }
        Ok(())
    }

    fn try_reject(&mut self, r: Reject) -> Result<()> {
        if self.hold_torn_end && is_torn_end(r.reason) {
            self.held = Some(r);
            return Ok(());
        }
        *self.reject_counts.entry(r.reason).or_default() += 1;
        if self.rejects.is_none() {
            let dir = self.txn.rejects_dir();
            std::fs::create_dir_all(&dir).ctx("create", &dir)?;
            let name = format!("rejects-{}-w{}.ndjson", self.txn.stem(), self.files.tag);
            let path = dir.join(&name);
            let f = File::create(&path).ctx("create", &path)?;
            self.rejects = Some((name, BufWriter::new(f)));
        }
        let (name, w) = self.rejects.as_mut().expect("just created");
        let mut line = serde_json::to_vec(&r).expect("rejects serialise");
        line.push(b'\n');
        w.write_all(&line)
            .ctx("write", &self.txn.rejects_dir().join(name.as_str()))?;
        if self.samples.len() < SAMPLES {
            self.samples.push(r);
        }
        Ok(())
    }

    /// Reads one blob and sends its new tuples to the open files.
    fn process(&mut self, p: &Planned, buf: &mut Vec<u8>, max_blob: u64) -> Result<Outcome1> {
        let key = p.blob.key.clone();
        let mut out = Outcome1 {
            key: key.clone(),
            change: Change::Failed,
            state: None,
            scan: Default::default(),
            bytes: 0,
            pending: false,
            superseded: 0,
        };
        let at = p.prev.as_ref().and_then(|s| {
            Some(Checkpoint {
                consumed: s.consumed,
                tail_hash: s.tail_hash.as_deref()?,
            })
        });
        let read = source::read(&p.blob, buf, max_blob, at);
        let reject_blob = |w: &mut Self, reason, detail: String| {
            w.try_reject(Reject {
                blob: key.clone(),
                offset: 0,
                record: None,
                tuple: None,
                reason,
                detail,
                excerpt: String::new(),
            })
        };
        let fetched = match read {
            Err(e) => {
                reject_blob(self, RejectReason::ReadError, e.to_string())?;
                out.scan.rejected = 1;
                return Ok(out);
            }
            Ok(Read::TooLarge(len)) => {
                reject_blob(
                    self,
                    RejectReason::BlobTooLarge,
                    format!("{len} bytes is above the limit of {max_blob}"),
                )?;
                out.scan.rejected = 1;
                out.state = Some(BlobState {
                    id: p.id,
                    size: len,
                    mtime_ns: p.blob.mtime_ns,
                    consumed: 0,
                    prefix_hash: source::hash_hex(b""),
                    tail_hash: None,
                    etag: p.blob.etag.clone(),
                    records: 0,
                    tuples: 0,
                    rejected: 1,
                    broken: true,
                    pending: false,
                });
                return Ok(out);
            }
            Ok(Read::Whole) => None,
            Ok(Read::Resumed { fetched }) => Some(fetched),
        };
        out.bytes = fetched.unwrap_or(buf.len() as u64);
        // The earlier read's records are still there: the range read checked the bytes
        // before the checkpoint, or the whole blob is here to check against the prefix hash
        // (or, after a range read, which records none, the tail hash).
        let still_there = |prev: &BlobState| {
            let c = prev.consumed as usize;
            fetched.is_some()
                || (c <= buf.len()
                    && match prev.prefix_hash.as_str() {
                        "" => prev.tail_hash.as_deref() == Some(&source::tail_hash(buf, c)),
                        h => source::hash_hex(&buf[..c]) == h,
                    })
        };
        let (resume, base) = match &p.prev {
            Some(prev) if still_there(prev) => (
                Resume {
                    offset: prev.consumed as usize,
                    records: prev.records,
                },
                Some(prev),
            ),
            _ => (Resume::default(), None),
        };
        self.blob_key = key.clone();
        self.blob_id = p.id;
        self.hold_torn_end = p.fresh;
        self.held = None;
        let mut scan = parse::scan_blob(buf, &key, resume, self);
        self.hold_torn_end = false;
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        // A torn end of a blob being written is pending: the next run reads on from the
        // checkpoint, which stops before it.
        let pending = self.held.take().is_some();
        if pending {
            scan.rejected -= 1;
            scan.broken = false;
        }
        // The earlier structural reject of a blob whose tail could not be read is superseded
        // once the part after its checkpoint reads cleanly (or the blob is read anew).
        let superseded = match base {
            Some(b) if b.broken && !scan.broken && !pending && scan.new_records > 0 => 1,
            Some(_) => 0,
            None => p.prev.as_ref().map_or(0, |b| b.rejected),
        };
        out.superseded = superseded;
        out.pending = pending;
        out.change = match (&p.prev, base) {
            (None, _) => Change::New,
            (Some(_), Some(_)) if scan.new_records > 0 => Change::Grown,
            (Some(_), Some(_)) => Change::Unchanged,
            (Some(_), None) => Change::Rewritten,
        };
        let consumed = scan.consumed.min(buf.len());
        out.state = Some(BlobState {
            id: p.id,
            size: buf.len() as u64,
            mtime_ns: p.blob.mtime_ns,
            consumed: consumed as u64,
            prefix_hash: match fetched {
                None => source::hash_hex(&buf[..consumed]),
                Some(_) => String::new(),
            },
            tail_hash: Some(source::tail_hash(buf, consumed)),
            etag: p.blob.etag.clone(),
            records: scan.records,
            tuples: base.map_or(0, |b| b.tuples) + scan.tuples,
            rejected: base.map_or(0, |b| b.rejected - superseded.min(b.rejected)) + scan.rejected,
            broken: scan.broken,
            pending,
        });
        out.scan = scan;
        Ok(out)
    }

    fn finish(mut self) -> Result<WorkerOut> {
        self.files.close_all()?;
        let rejects = match self.rejects.take() {
            Some((name, mut w)) => {
                let path = self.txn.rejects_dir().join(&name);
                w.flush().ctx("write", &path)?;
                w.get_ref().sync_all().ctx("sync", &path)?;
                Some(name)
            }
            None => None,
        };
        Ok(WorkerOut {
            files: self.files.finished,
            rejects,
            reject_counts: self.reject_counts,
            samples: self.samples,
        })
    }
}

impl FlowSink for Worker<'_> {
    fn flow(&mut self, rec: &RecordMeta<'_>, g: &GroupMeta<'_>, t: &Tuple<'_>) {
        if self.error.is_none()
            && let Err(e) = self.try_flow(rec, g, t)
        {
            self.error = Some(e);
        }
    }

    fn reject(&mut self, r: Reject) {
        if self.error.is_none()
            && let Err(e) = self.try_reject(r)
        {
            self.error = Some(e);
        }
    }
}

struct WorkerOut {
    files: Vec<(String, FlowsEntries)>,
    rejects: Option<String>,
    reject_counts: BTreeMap<RejectReason, u64>,
    samples: Vec<Reject>,
}

fn progress_bar(opts: &IngestOptions, total: u64) -> ProgressBar {
    if !opts.progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb
}

/// Runs an ingest. Errors are operational failures (lake unwritable, source missing); bad
/// input is rejected and reported in the summary instead.
pub fn ingest(opts: &IngestOptions) -> Result<IngestSummary> {
    let start = Instant::now();
    // A missing local source fails before the lake is opened, so it creates no empty lake.
    for src in &opts.sources {
        if let Location::Local(p) = src
            && let Err(e) = std::fs::metadata(p)
        {
            return Err(Error::Source {
                name: p.display().to_string(),
                message: e.to_string(),
            });
        }
    }
    let mut lake = Lake::open(&opts.lake)?;
    let found = source::discover(&opts.sources, &lake.key_prefix(), opts.window)?;
    let blobs = found.blobs;
    let mut summary = IngestSummary {
        warnings: lake.warnings(),
        lake: lake.name(),
        list_requests: found.list.requests,
        objects_listed: found.list.objects,
        ..Default::default()
    };
    summary.blobs_found = blobs.len() as u64;

    // Plan: skip blobs whose size and mtime match their checkpoint.
    let mut todo: Vec<(BlobRef, Option<BlobState>)> = Vec::new();
    for b in blobs {
        let prev = lake.manifest().blobs.get(&b.key).cloned();
        match &prev {
            Some(s) if unchanged(s, &b) => summary.blobs_unchanged += 1,
            _ => todo.push((b, prev)),
        }
    }
    let total: u64 = todo
        .iter()
        .map(|(b, p)| b.size.saturating_sub(p.as_ref().map_or(0, |s| s.consumed)))
        .sum();
    let pb = progress_bar(opts, total);

    let mut rest = todo.as_slice();
    while !rest.is_empty() {
        let mut n = 0;
        let mut bytes = 0u64;
        while n < rest.len() && (n == 0 || bytes < opts.commit_bytes) {
            bytes += rest[n]
                .0
                .size
                .saturating_sub(rest[n].1.as_ref().map_or(0, |s| s.consumed));
            n += 1;
        }
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        run_chunk(&mut lake, opts, chunk, &mut summary, &pb)?;
    }
    pb.finish_and_clear();
    summary.lake_version = lake.manifest().version;
    summary.elapsed_s = start.elapsed().as_secs_f64();
    if summary.elapsed_s > 0.0 {
        summary.tuples_per_s = summary.tuples as f64 / summary.elapsed_s;
        summary.mb_per_s = summary.bytes_read as f64 / 1e6 / summary.elapsed_s;
    }
    Ok(summary)
}

/// Whether a blob is as its checkpoint recorded it: same ETag for a remote blob, same size
/// and modification time for a file. A blob whose end was still being written is read
/// again until that end is complete or judged.
fn unchanged(s: &BlobState, b: &BlobRef) -> bool {
    if s.pending {
        return false;
    }
    match &b.etag {
        Some(e) => s.etag.as_ref() == Some(e) && s.size == b.size,
        None => s.size == b.size && s.mtime_ns == b.mtime_ns && b.mtime_ns.is_some(),
    }
}

/// Whether `b` may still be being written: its hour (from its path) has not ended, or it
/// changed less than `settle` ago.
fn may_be_mid_write(
    b: &BlobRef,
    now: chrono::DateTime<chrono::Utc>,
    settle: std::time::Duration,
) -> bool {
    let settle = chrono::Duration::from_std(settle).unwrap_or(chrono::Duration::MAX);
    let in_hour = b.hour.is_some_and(|(y, m, d, h)| {
        chrono::NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d))
            .and_then(|day| day.and_hms_opt(u32::from(h), 0, 0))
            .is_some_and(|start| now < start.and_utc() + chrono::Duration::hours(1))
    });
    let recent = b.mtime_ns.is_some_and(|ns| {
        chrono::DateTime::from_timestamp_nanos(ns)
            .checked_add_signed(settle)
            .is_some_and(|t| now < t)
    });
    in_hour || recent
}

fn run_chunk(
    lake: &mut Lake,
    opts: &IngestOptions,
    chunk: &[(BlobRef, Option<BlobState>)],
    summary: &mut IngestSummary,
    pb: &ProgressBar,
) -> Result<()> {
    let mut txn = lake.begin()?;
    let now = chrono::Utc::now();
    let planned: Vec<Planned> = chunk
        .iter()
        .map(|(b, prev)| {
            let id = prev.as_ref().map_or_else(|| txn.new_blob_id(), |s| s.id);
            Planned {
                blob: b.clone(),
                prev: prev.clone(),
                id,
                fresh: may_be_mid_write(b, now, opts.settle),
            }
        })
        .collect();
    let next = AtomicUsize::new(0);
    let workers = opts.workers.clamp(1, planned.len().max(1));
    let results: Vec<Result<(WorkerOut, Vec<Outcome1>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|tag| {
                let (txn, planned, next) = (&txn, &planned, &next);
                s.spawn(move || -> Result<(WorkerOut, Vec<Outcome1>)> {
                    if crate::lake::failpoint_is("worker-error") {
                        return Err(Error::Io {
                            op: "write",
                            path: txn.rejects_dir(),
                            source: std::io::Error::other(format!(
                                "failpoint worker-error in worker {tag}"
                            )),
                        });
                    }
                    let mut w = Worker::new(txn, tag);
                    let mut buf = Vec::new();
                    let mut outs = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(p) = planned.get(i) else { break };
                        let o = w.process(p, &mut buf, opts.max_blob_bytes)?;
                        pb.inc(
                            p.blob
                                .size
                                .saturating_sub(p.prev.as_ref().map_or(0, |s| s.consumed)),
                        );
                        outs.push(o);
                    }
                    Ok((w.finish()?, outs))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("ingest worker panicked"))
            .collect()
    });
    let mut outs = Vec::new();
    let mut failed = Vec::new();
    for r in results {
        match r {
            Ok(o) => outs.push(o),
            Err(e) => failed.push(e),
        }
    }
    if let Some(e) = Error::from_many(failed) {
        lake.abort(txn)?;
        return Err(e);
    }

    let mut rewritten: HashMap<u64, String> = HashMap::new();
    for (w, blobs) in outs {
        for (partition, entries) in w.files {
            summary.partitions.insert(partition.clone());
            summary.files_written += 1;
            txn.add_files(&partition, entries);
        }
        if let Some(name) = w.rejects {
            summary
                .rejects_files
                .push(format!("{}/{name}", crate::lake::REJECTS_DIR));
            txn.add_rejects(name);
        }
        for (reason, n) in w.reject_counts {
            *summary
                .rejected_by_reason
                .entry(reason.as_str().to_string())
                .or_default() += n;
            summary.rejected += n;
        }
        for r in &w.samples {
            summary.add_reject(r);
        }
        for o in blobs {
            match o.change {
                Change::New => summary.blobs_new += 1,
                Change::Grown => summary.blobs_grown += 1,
                Change::Rewritten => summary.blobs_rewritten += 1,
                Change::Unchanged => summary.blobs_unchanged += 1,
                Change::Failed => summary.blobs_failed += 1,
            }
            summary.blobs_pending += u64::from(o.pending);
            summary.rejects_superseded += o.superseded;
            summary.records += u64::from(o.scan.new_records);
            summary.tuples += o.scan.tuples;
            summary.bytes_read += o.bytes;
            if let Some(state) = o.state {
                if o.change == Change::Rewritten {
                    rewritten.insert(state.id, o.key.clone());
                }
                txn.set_blob(o.key, state);
            }
        }
    }
    if !rewritten.is_empty() {
        summary.rows_replaced += drop_blob_rows(lake, &mut txn, &rewritten)?;
    }
    lake.commit(txn)?;
    summary.commits += 1;
    Ok(())
}

/// Rewrites the committed files holding rows of `blobs` (id → key) without those rows.
fn drop_blob_rows(lake: &Lake, txn: &mut Txn, blobs: &HashMap<u64, String>) -> Result<u64> {
    let ids: HashSet<u64> = blobs.keys().copied().collect();
    let keys: HashSet<&str> = blobs.values().map(String::as_str).collect();
    let mut dropped = 0;
    let mut seq = 0;
    for (partition, files) in &lake.manifest().partitions {
        for f in files
            .iter()
            .filter(|f| f.blobs.iter().any(|b| ids.contains(b)))
        {
            seq += 1;
            let name = format!("part-{}-r-{seq:05}.parquet", txn.stem());
            let src = lake.data_file(partition, &f.name)?;
            let dirs = txn.twin_dirs(partition);
            let kept = rewrite_without(&src, f, &keys, &ids, &dirs, name)?;
            dropped += f.rows - kept.as_ref().map_or(0, |k| k.raw.rows);
            txn.remove_file(partition, &f.name);
            if let Some(k) = kept {
                txn.add_files(partition, k);
            }
        }
    }
    Ok(dropped)
}
