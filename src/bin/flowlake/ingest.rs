//! `flowlake ingest`: blobs into the lake, with a summary for people or JSON for batch jobs.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};

use flowlake::ingest::{IngestOptions, IngestSummary, Outcome, ingest};
use flowlake::source::HourWindow;

use crate::args::IngestArgs;
use crate::out;

/// Exit status when some input was rejected.
const EXIT_REJECTS: u8 = 3;

/// Runs the ingest.
pub fn run(a: IngestArgs) -> Result<ExitCode> {
    let lake = a.store.location(&a.lake)?;
    let sources = a
        .sources
        .iter()
        .map(|s| a.store.location(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut opts = IngestOptions::new(sources, lake);
    if a.since.is_some() {
        let w = flowlake::window::resolve(
            a.since.as_deref(),
            a.until.as_deref(),
            chrono::Duration::zero(),
            chrono::Utc::now(),
        )?;
        opts.window = Some(HourWindow::new(w.since, w.until));
    }
    if let Some(w) = a.workers {
        opts.workers = usize::from(w);
    }
    opts.commit_bytes = a.commit_mib << 20;
    opts.max_blob_bytes = a.max_blob_mib << 20;
    opts.progress = !a.quiet && !a.json;
    opts.settle = a.settle;
    let summary = ingest(&opts).context("ingest failed")?;
    for w in &summary.warnings {
        out::warning(w);
    }
    // The lake is committed by now: the exit status says what the ingest did, so a summary
    // that cannot be written (a full disk, /dev/full) is a warning, not a failure.
    let printed = match a.json {
        true => out::json(&summary),
        false => print(&summary),
    };
    match printed {
        Err(e) if out::is_broken_pipe(&e) => {}
        Err(e) => out::warning(&format!(
            "the lake is committed (version {}), but its summary could not be written: {}",
            summary.lake_version,
            out::error_text(&e)
        )),
        Ok(()) => {}
    }
    Ok(match summary.outcome() {
        Outcome::Clean => ExitCode::SUCCESS,
        Outcome::WithRejects => ExitCode::from(EXIT_REJECTS),
    })
}

fn print(s: &IngestSummary) -> Result<()> {
    let mut out = out::stdout();
    writeln!(
        out,
        "ingested {} tuples from {} records in {:.2}s ({:.0} tuples/s, {:.1} MB/s)",
        s.tuples, s.records, s.elapsed_s, s.tuples_per_s, s.mb_per_s
    )?;
    writeln!(
        out,
        "blobs: {} found, {} new, {} grown, {} rewritten, {} unchanged, {} failed",
        s.blobs_found,
        s.blobs_new,
        s.blobs_grown,
        s.blobs_rewritten,
        s.blobs_unchanged,
        s.blobs_failed
    )?;
    if s.blobs_pending > 0 {
        writeln!(
            out,
            "{} blobs end in a record still being written (in their hour, or changed in the last minutes); the next run reads the rest",
            s.blobs_pending
        )?;
    }
    if s.list_requests > 0 {
        writeln!(
            out,
            "listing: {} list calls, {} objects listed",
            s.list_requests, s.objects_listed
        )?;
    }
    if s.rows_replaced > 0 {
        writeln!(out, "replaced {} rows of rewritten blobs", s.rows_replaced)?;
    }
    if s.rejects_superseded > 0 {
        writeln!(
            out,
            "{} earlier rejects superseded: their blobs were read in full since",
            s.rejects_superseded
        )?;
    }
    let partitions = if s.partitions.is_empty() {
        "none".to_string()
    } else {
        s.partitions.iter().cloned().collect::<Vec<_>>().join(" ")
    };
    writeln!(
        out,
        "lake {} (version {}): {} files written in {} commits, partitions: {partitions}",
        s.lake, s.lake_version, s.files_written, s.commits
    )?;
    if s.rejected > 0 {
        let by: Vec<String> = s
            .rejected_by_reason
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(out, "rejected {}: {}", s.rejected, by.join(", "))?;
        for r in &s.reject_samples {
            writeln!(out, "  {r}")?;
        }
        if s.rejected as usize > s.reject_samples.len() {
            writeln!(
                out,
                "  ... all rejects are in {}",
                s.rejects_files.join(", ")
            )?;
        } else {
            writeln!(out, "  kept in {}", s.rejects_files.join(", "))?;
        }
    }
    out.flush()?;
    Ok(())
}
