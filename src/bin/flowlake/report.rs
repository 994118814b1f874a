//! `flowlake report`: run a report and write it in the chosen format.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use flowlake::report::{self, render};

use crate::args::ReportArgs;
use crate::out;
use crate::session::{query_error, runtime, until_ctrl_c};

/// Exit status when a report has findings at or above `--fail-on`.
const EXIT_FINDINGS: u8 = 4;

/// Runs the report (or prints its SQL).
pub fn run(a: ReportArgs) -> Result<ExitCode> {
    if a.format == render::Format::Parquet && a.output.is_none() && !a.print_sql {
        flowlake::output::refuse_binary_on_terminal()?;
    }
    let config = a.query.config()?;
    let settings = config.report.check()?;
    let mut definitions = vec![];
    for f in config.report.nsg_files.iter().chain(&a.nsgs) {
        definitions.extend(flowlake::nsg::load(f)?);
    }
    let started = std::time::Instant::now();
    let rt = runtime()?;
    let opts = report::Options {
        kind: a.kind,
        since: a.since,
        until: a.until,
        baseline: a.baseline,
        now: chrono::Utc::now(),
        charts: a.format == render::Format::Html,
        nsg_definitions: !definitions.is_empty(),
        places: !(config.geo.databases.is_empty() && a.query.geo_dbs.is_empty()),
        raw: a.raw,
    };
    // The window is resolved once, from the one manifest the session reads too; the session
    // indexes only the inventory the report reads (its baseline and window).
    let manifest = rt.block_on(flowlake::lake::read_manifest(&a.query.lake.location()?))?;
    let spans = report::spans(&manifest, &settings, &opts)?;
    let read_manifest = started.elapsed();
    let session = a
        .query
        .open(&rt, &config, Some(spans.inventory_span()), Some(manifest))?;
    let opened = started.elapsed();
    if a.print_sql {
        let qs = rt
            .block_on(report::queries(&session, &settings, &opts, spans))
            .map_err(|e| query_error(e, &session))?;
        let mut out = out::stdout();
        for (file, sql) in qs {
            writeln!(
                out,
                "-- {file}\n{};\n",
                sql.trim_end().trim_end_matches(';')
            )?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let running = std::time::Instant::now();
    // Ctrl-C stops the report's queries (on a cluster, cancelling their jobs).
    let run = async {
        report::run(&session, &settings, &definitions, &opts, spans)
            .await
            .map_err(|e| query_error(e, &session))
    };
    let Some(r) = until_ctrl_c(&rt, run)? else {
        eprintln!("flowlake: report cancelled");
        return Ok(ExitCode::from(crate::sql::EXIT_INTERRUPTED));
    };
    let ran = running.elapsed();
    if let Some(cluster) = &a.query.cluster {
        // On stderr: the report itself is the same wherever it ran.
        eprintln!(
            "flowlake: report ran on cluster {cluster} in {:.2} s",
            ran.as_secs_f64()
        );
    }
    // A table on a terminal wraps its reasons to the terminal's width.
    let width = match (&a.output, std::io::stdout().is_terminal()) {
        (None, true) => terminal_size::terminal_size().map(|(w, _)| w.0),
        _ => None,
    };
    let bytes = render::render(&r, a.format, width)?;
    match &a.output {
        Some(p) => flowlake::output::write_atomic(p, &bytes)?,
        None => {
            let mut out = out::stdout();
            out.write_all(&bytes)?;
            out.flush()?;
        }
    }
    if a.timings {
        let steps = Steps {
            manifest: read_manifest,
            session: opened - read_manifest,
            report: ran,
            total: started.elapsed(),
        };
        print_timings(&r.timings, steps);
    }
    Ok(match (a.fail_on, r.worst()) {
        (Some(limit), Some(worst)) if worst >= limit => ExitCode::from(EXIT_FINDINGS),
        _ => ExitCode::SUCCESS,
    })
}

/// How long the steps of a report took, as `--timings` shows them.
struct Steps {
    /// Reading the configuration and the manifest.
    manifest: Duration,
    /// Opening the session.
    session: Duration,
    /// The report's queries (at the same time) and its findings.
    report: Duration,
    /// From reading the configuration to the output written.
    total: Duration,
}

/// `--timings`: where the report's time went, on stderr (the report itself stays on stdout).
fn print_timings(queries: &[report::QueryTiming], steps: Steps) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut lines = vec![
        format!(
            "{:<22} {:>9.1} ms",
            "config and manifest",
            ms(steps.manifest)
        ),
        format!(
            "{:<22} {:>9.1} ms  (tables, inventory, sets, functions, views)",
            "session",
            ms(steps.session)
        ),
        format!(
            "{:<22} {:>9.1} ms  (its queries run at the same time, their times below overlap)",
            "queries and findings",
            ms(steps.report)
        ),
    ];
    for q in queries {
        lines.push(format!(
            "  {:<20} {:>9.1} ms  plan {:.1} ms, run {:.1} ms, {} rows",
            q.file,
            ms(q.plan + q.run),
            ms(q.plan),
            ms(q.run),
            q.rows
        ));
    }
    lines.push(format!(
        "{:<22} {:>9.1} ms",
        "output",
        ms(steps
            .total
            .saturating_sub(steps.manifest + steps.session + steps.report))
    ));
    lines.push(format!(
        "{:<22} {:>9.1} ms  (in this process, from reading the config)",
        "total",
        ms(steps.total)
    ));
    eprintln!("flowlake: timings\n  {}", lines.join("\n  "));
}
