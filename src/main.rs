//! The `flowlake` command: a thin layer that turns flags into library options, runs them and
//! prints results for humans (or JSON for batch jobs).
//!
//! Exit status: 0 all done; 3 done, but some input was rejected (see the rejects files);
//! 4 a report has findings at or above `--fail-on`; 1 failed; 2 bad usage.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use flowlake::compact::{CompactOptions, compact};
use flowlake::config::Config;
use flowlake::ingest::{IngestOptions, IngestSummary, Outcome, ingest};
use flowlake::lake::Lake;
use flowlake::lake::location::LakeRef;
use flowlake::output::{Format, ResultWriter, Sink};
use flowlake::query::errors::describe;
use flowlake::query::run::{self, table_names};
use flowlake::query::{LakeSession, QueryOptions, SetSpec};
use flowlake::report::{self, Severity, render};
use flowlake::shell::{Settings, Shell};
use flowlake::source::{HourWindow, RemoteOptions, Source};
use flowlake::synth::{GenFormat, GenOptions, generate};

/// mimalloc: the ingest allocates and frees large Arrow and Parquet buffers per batch; the
/// system allocator returns them to the kernel and pays page faults to get them back.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status when some input was rejected.
const EXIT_REJECTS: u8 = 3;

/// Exit status when a report has findings at or above `--fail-on`.
const EXIT_FINDINGS: u8 = 4;

#[derive(Parser)]
#[command(name = "flowlake", version, about = "Azure flow logs (NSG v1/v2, VNet v4) into a partitioned Parquet lake, and SQL over it", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What a query session needs: the lake, IP sets and the config file naming them.
#[derive(clap::Args)]
struct QueryArgs {
    /// Lake: a directory, or a URL on object storage (az://<container>/<prefix>, s3://..., as
    /// for ingest sources; same credentials).
    #[arg(long, value_parser = parse_lake)]
    lake: LakeRef,
    /// Load a named IP set: a list (address or CIDR per line, optional label, # comments) or
    /// an Azure ServiceTags_*.json file. Repeatable.
    #[arg(long = "set", value_name = "NAME=PATH")]
    sets: Vec<SetSpec>,
    /// Config file (flowlake.toml) naming IP sets under [sets].
    #[arg(long, env = "FLOWLAKE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

impl QueryArgs {
    /// The config file's contents, or the defaults without one.
    fn config(&self) -> Result<Config> {
        Ok(match &self.config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        })
    }

    /// Opens the session: sets from the config first, then --set (which wins on a name clash).
    fn open(&self, rt: &tokio::runtime::Runtime, config: &Config) -> Result<LakeSession> {
        let mut sets = config.set_specs();
        sets.extend(self.sets.iter().cloned());
        let opts = QueryOptions { sets };
        let session = rt.block_on(flowlake::query::session(&self.lake, &opts))?;
        if session.commit_pending {
            eprintln!(
                "flowlake: warning: lake {} has a commit being applied or interrupted; until an ingest or compact finishes it, some partitions may be from the previous commit",
                self.lake.name()
            );
        }
        Ok(session)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Ingest flow-log blobs (folders in the Azure container layout, files, or a container on
    /// Azure Blob Storage or S3) into a lake, exactly once: re-runs add only what is new.
    Ingest {
        /// Folders (searched for *.json), single blob files, or containers and buckets:
        /// az://<container>[/prefix] (account from AZURE_STORAGE_ACCOUNT_NAME; abfss:// too),
        /// https://<account>.blob.core.windows.net/<container>[/prefix][?<SAS token>],
        /// s3://<bucket>[/prefix]. Credentials and endpoints come from the AZURE_STORAGE_* and
        /// AWS_* environment variables or the AWS_PROFILE of ~/.aws (AZURE_STORAGE_USE_EMULATOR=true
        /// for Azurite).
        #[arg(required = true, value_name = "SOURCE")]
        sources: Vec<String>,
        /// Only blobs of hours from this time on (by their y=/m=/d=/h= path); a remote listing
        /// then visits only those hour prefixes. RFC 3339, a date, or back from now: 2d, 6h.
        #[arg(long)]
        since: Option<String>,
        /// Only blobs of hours before this time [default: now]. Needs --since.
        #[arg(long, requires = "since")]
        until: Option<String>,
        /// Retries of a failing request to a remote store (timeouts, resets, 429, 5xx), with
        /// exponential backoff from 100 ms to 15 s, within 3 minutes.
        #[arg(long, default_value_t = 10, value_name = "N")]
        retries: usize,
        /// Lake: a directory, or a URL on object storage (az://<container>/<prefix>, s3://...,
        /// as for sources; same credentials). Created if missing.
        #[arg(long)]
        lake: String,
        /// Parallel workers [default: number of cores].
        #[arg(long)]
        workers: Option<usize>,
        /// Commit after about this many MiB of input, so a crash loses at most that much work.
        #[arg(long, default_value_t = 1024, value_name = "MIB")]
        commit_mib: u64,
        /// Reject blobs larger than this.
        #[arg(long, default_value_t = 4096, value_name = "MIB")]
        max_blob_mib: u64,
        /// Print the summary as JSON on stdout (for batch jobs).
        #[arg(long)]
        json: bool,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Merge each partition's small files into large ones (atomic for readers).
    Compact {
        /// Lake: a directory, or a URL on object storage.
        #[arg(long, value_parser = parse_lake)]
        lake: LakeRef,
        /// Compact partitions with at least this many files.
        #[arg(long, default_value_t = 2)]
        min_files: usize,
        /// Rows per output file at most.
        #[arg(long, default_value_t = 16 << 20)]
        target_rows: u64,
        /// Rows per row group (smaller: time windows skip finer slices; larger: smaller files).
        #[arg(long, default_value_t = flowlake::lake::file::ROW_GROUP_ROWS)]
        row_group_rows: usize,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a synthetic Azure blob tree (for demos and benchmarks).
    Gen {
        /// Output directory (a storage account root).
        #[arg(long)]
        out: PathBuf,
        /// First day, YYYY-MM-DD (UTC).
        #[arg(long, default_value = "2026-11-01")]
        start: chrono::NaiveDate,
        /// Number of days.
        #[arg(long, default_value_t = 1)]
        days: u32,
        /// Hours per day, from midnight (1..24).
        #[arg(long, default_value_t = 24)]
        hours: u32,
        /// Number of NICs.
        #[arg(long, default_value_t = 8)]
        nics: u32,
        /// Tuples per NIC and hour.
        #[arg(long, default_value_t = 1000)]
        tuples_per_hour: u32,
        /// Log format.
        #[arg(long, value_enum, default_value_t = GenFormat::Mixed)]
        format: GenFormat,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Add regular big transfers and planted incidents (last day) for the reports, and
        /// write flowlake.toml, nsg.json, the threat list and the answer key into DIR.
        #[arg(long, value_name = "DIR")]
        scenario: Option<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what a lake holds: partitions, files, rows, blobs, time range.
    Info {
        /// Lake: a directory, or a URL on object storage.
        #[arg(long, value_parser = parse_lake)]
        lake: LakeRef,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run SQL over the lake (table `flows`, views, network functions) and write the result.
    ///
    /// SQL comes from the argument, from -f FILE, or from stdin. Several statements may be
    /// given (separated by ';'); they run in order and the result of the last one is written.
    Sql {
        #[command(flatten)]
        query: QueryArgs,
        /// The SQL text.
        sql: Option<String>,
        /// Read the SQL from a file.
        #[arg(
            short = 'f',
            long = "file",
            value_name = "FILE",
            conflicts_with = "sql"
        )]
        file: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Write the result to FILE (atomically: complete or not at all) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Rows a table shows at most (0: all); other formats write every row.
        #[arg(long, default_value_t = 1000, value_name = "N")]
        max_rows: usize,
    },
    /// Interactive SQL shell over the lake (history, completion, \d, \df; \? for help).
    ///
    /// With stdin not a terminal, reads statements from stdin without prompts.
    Shell {
        #[command(flatten)]
        query: QueryArgs,
        /// Output format (switch with \format).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Rows a table shows at most (0: all; change with \maxrows).
        #[arg(long, default_value_t = 40, value_name = "N")]
        max_rows: usize,
        /// Print how long each statement took (toggle with \timing).
        #[arg(long)]
        timing: bool,
    },
    /// Findings for the weekly questions: is data leaving (exfil), what is exposed
    /// (exposure), are the rules right (rules); or coverage and traffic (summary).
    ///
    /// Without --since/--until the window is the 24 hours up to the lake's last data. The
    /// baseline is the span before the window that "new" and "unusual" are judged against.
    /// Settings (internal ranges, expected ports, approved servers, thresholds, NSG files)
    /// come from [report] in the config file; every one has a default.
    #[command(
        after_help = "Exit status: 0 done; 4 findings at or above --fail-on; 1 failed; 2 bad usage."
    )]
    Report {
        /// Which report.
        #[arg(value_enum)]
        kind: report::Kind,
        #[command(flatten)]
        query: QueryArgs,
        /// Window start: RFC 3339, a date (UTC midnight), or relative (24h, 7d, yesterday).
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// Window end (exclusive) [default: now, or since + 24h when only --since is given].
        #[arg(long, value_name = "T")]
        until: Option<String>,
        /// Baseline length before --since [default: [report] baseline, 7d].
        #[arg(long, value_name = "SPAN")]
        baseline: Option<String>,
        /// NSG definitions (az network nsg show/list -o json) for never-hit and shadowed rules;
        /// adds to [report] nsg_files. Repeatable.
        #[arg(long = "nsg", value_name = "FILE")]
        nsgs: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = render::Format::Table)]
        format: render::Format,
        /// Write to FILE (atomically) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Exit with status 4 when a finding at or above this severity exists.
        #[arg(long, value_enum, value_name = "SEVERITY")]
        fail_on: Option<Severity>,
        /// Print the report's SQL with the window and settings filled in, and stop (to read
        /// it, or run it with another engine).
        #[arg(long)]
        print_sql: bool,
    },
    /// Print the columns of the `flows` table.
    Schema {
        /// As the Markdown table of docs/SCHEMA.md.
        #[arg(long)]
        markdown: bool,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// One readable line for a failed query (position, closest name), other errors as they are.
fn query_error(e: flowlake::Error, session: Option<&LakeSession>) -> anyhow::Error {
    match e {
        flowlake::Error::Query(q) => {
            let tables = session.map(|s| table_names(&s.ctx)).unwrap_or_default();
            anyhow::anyhow!(describe(&q, &tables))
        }
        other => other.into(),
    }
}

/// Exit status after Ctrl-C (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

/// Runs SQL text on the session and writes the last statement's result. Ctrl-C stops the
/// query and removes a half-written `-o` file; it returns `Ok(false)`.
fn run_sql(
    session: &LakeSession,
    rt: &tokio::runtime::Runtime,
    sql: &str,
    format: Format,
    output: Option<PathBuf>,
    max_rows: usize,
) -> Result<bool> {
    let work = async {
        let mut stmts = run::parse(sql)?;
        let last = stmts
            .pop()
            .ok_or_else(|| flowlake::Error::Invalid("no SQL statement given".into()))?;
        for stmt in stmts {
            run::plan(&session.ctx, stmt).await?;
        }
        let df = run::plan(&session.ctx, last).await?;
        let sink = match output {
            Some(p) => Sink::File(p),
            None => Sink::Stdout,
        };
        let w = ResultWriter::new(format, sink, df.schema().inner().clone(), max_rows)?;
        run::write(df, w).await
    };
    let outcome = rt.block_on(async {
        // Biased, signal first: the handler is in place before the query can create a file.
        tokio::select! {
            biased;
            _ = tokio::signal::ctrl_c() => None,
            r = work => Some(r),
        }
    });
    match outcome {
        Some(r) => r.map(|_| true).map_err(|e| query_error(e, Some(session))),
        None => Ok(false),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("flowlake: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn fmt_time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us).map_or_else(
        || us.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn print_ingest(s: &IngestSummary) {
    println!(
        "ingested {} tuples from {} records in {:.2}s ({:.0} tuples/s, {:.1} MB/s)",
        s.tuples, s.records, s.elapsed_s, s.tuples_per_s, s.mb_per_s
    );
    println!(
        "blobs: {} found, {} new, {} grown, {} rewritten, {} unchanged, {} failed",
        s.blobs_found,
        s.blobs_new,
        s.blobs_grown,
        s.blobs_rewritten,
        s.blobs_unchanged,
        s.blobs_failed
    );
    if s.list_requests > 0 {
        println!(
            "listing: {} list calls, {} objects listed",
            s.list_requests, s.objects_listed
        );
    }
    if s.rows_replaced > 0 {
        println!("replaced {} rows of rewritten blobs", s.rows_replaced);
    }
    println!(
        "lake {} (version {}): {} files written in {} commits, partitions: {}",
        s.lake,
        s.lake_version,
        s.files_written,
        s.commits,
        if s.partitions.is_empty() {
            "none".to_string()
        } else {
            s.partitions.iter().cloned().collect::<Vec<_>>().join(" ")
        }
    );
    if s.rejected > 0 {
        let by: Vec<String> = s
            .rejected_by_reason
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!("rejected {}: {}", s.rejected, by.join(", "));
        for r in &s.reject_samples {
            println!("  {r}");
        }
        if s.rejected as usize > s.reject_samples.len() {
            println!("  ... all rejects are in {}", s.rejects_files.join(", "));
        } else {
            println!("  kept in {}", s.rejects_files.join(", "));
        }
    }
}

/// `--lake`: a directory or a store URL.
fn parse_lake(s: &str) -> Result<LakeRef, String> {
    LakeRef::parse(s).map_err(|e| e.to_string())
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Ingest {
            sources,
            since,
            until,
            retries,
            lake,
            workers,
            commit_mib,
            max_blob_mib,
            json,
            quiet,
        } => {
            let remote = RemoteOptions {
                max_retries: retries,
                ..RemoteOptions::default()
            };
            let lake = LakeRef::parse_with(&lake, &remote)?;
            let sources = sources
                .iter()
                .map(|s| Source::parse(s, &remote))
                .collect::<Result<Vec<_>, _>>()?;
            let mut opts = IngestOptions::new(sources, lake);
            if since.is_some() {
                let w = flowlake::window::resolve(
                    since.as_deref(),
                    until.as_deref(),
                    chrono::Duration::zero(),
                    chrono::Utc::now(),
                )?;
                opts.window = Some(HourWindow::new(w.since, w.until));
            }
            if let Some(w) = workers {
                anyhow::ensure!(w > 0, "--workers must be at least 1");
                opts.workers = w;
            }
            opts.commit_bytes = commit_mib.max(1) << 20;
            opts.max_blob_bytes = max_blob_mib << 20;
            opts.progress = !quiet && !json;
            let summary = ingest(&opts).context("ingest failed")?;
            if json {
                print_json(&summary)?;
            } else {
                print_ingest(&summary);
            }
            Ok(match summary.outcome() {
                Outcome::Clean => ExitCode::SUCCESS,
                Outcome::WithRejects => ExitCode::from(EXIT_REJECTS),
            })
        }
        Command::Compact {
            lake,
            min_files,
            target_rows,
            row_group_rows,
            json,
        } => {
            let mut l = Lake::open_ref(&lake)?;
            let opts = CompactOptions {
                min_files,
                target_rows: target_rows.max(1),
                row_group_rows: row_group_rows.max(1),
                ..Default::default()
            };
            let s = compact(&mut l, &opts).context("compaction failed")?;
            if json {
                print_json(&s)?;
            } else {
                println!(
                    "compacted {} partitions: {} files -> {} files, {} rows, {:.1} MB -> {:.1} MB (lake version {})",
                    s.partitions,
                    s.files_before,
                    s.files_after,
                    s.rows,
                    s.bytes_before as f64 / 1e6,
                    s.bytes_after as f64 / 1e6,
                    s.lake_version
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Gen {
            out,
            start,
            days,
            hours,
            nics,
            tuples_per_hour,
            format,
            seed,
            scenario,
            json,
        } => {
            let opts = GenOptions {
                scenario,
                out: out.clone(),
                start,
                days,
                hours,
                nics,
                tuples_per_hour,
                format,
                seed,
            };
            let s = generate(&opts)?;
            if json {
                print_json(&s)?;
            } else {
                println!(
                    "wrote {} blobs, {} records, {} tuples, {:.1} MB under {}",
                    s.blobs,
                    s.records,
                    s.tuples,
                    s.bytes as f64 / 1e6,
                    out.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Info { lake, json } => {
            let m = runtime()?.block_on(lake.manifest())?;
            if json {
                print_json(&serde_json::json!({
                    "lake": lake.name(),
                    "version": m.version,
                    "schema_version": m.schema_version,
                    "rows": m.rows(),
                    "files": m.files(),
                    "blobs": m.blobs.len(),
                    "partitions": m.partitions,
                    "commit_pending": lake.commit_pending(),
                }))?;
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "lake {} version {}, schema version {}: {} rows in {} files, {} blobs",
                lake.name(),
                m.version,
                m.schema_version,
                m.rows(),
                m.files(),
                m.blobs.len()
            );
            println!(
                "{:<18} {:>6} {:>12} {:>10}  {:<19}  {:<19}",
                "partition", "files", "rows", "MB", "first", "last"
            );
            for (p, files) in &m.partitions {
                let rows: u64 = files.iter().map(|f| f.rows).sum();
                let bytes: u64 = files.iter().map(|f| f.bytes).sum();
                let lo = files
                    .iter()
                    .map(|f| f.min_time_us)
                    .min()
                    .unwrap_or_default();
                let hi = files
                    .iter()
                    .map(|f| f.max_time_us)
                    .max()
                    .unwrap_or_default();
                println!(
                    "{p:<18} {:>6} {rows:>12} {:>10.1}  {}  {}",
                    files.len(),
                    bytes as f64 / 1e6,
                    fmt_time(lo),
                    fmt_time(hi)
                );
            }
            if lake.commit_pending() {
                println!(
                    "a commit is being applied or was interrupted; the next ingest or compact finishes it"
                );
            }
            let rejected: u64 = m.blobs.values().map(|b| b.rejected).sum();
            let broken = m.blobs.values().filter(|b| b.broken).count();
            if rejected > 0 {
                println!(
                    "{rejected} items rejected so far ({broken} blobs with an unreadable tail); see {}/rejects/",
                    lake.name()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sql {
            query,
            sql,
            file,
            format,
            output,
            max_rows,
        } => {
            let text = match (sql, file) {
                (Some(s), _) => s,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .with_context(|| format!("read SQL file {}", f.display()))?,
                (None, None) => {
                    if std::io::stdin().is_terminal() {
                        eprintln!(
                            "flowlake: error: give the SQL as an argument, with -f FILE, or on stdin"
                        );
                        return Ok(ExitCode::from(2));
                    }
                    std::io::read_to_string(std::io::stdin()).context("read SQL from stdin")?
                }
            };
            let rt = runtime()?;
            let session = query.open(&rt, &query.config()?)?;
            if run_sql(&session, &rt, &text, format, output, max_rows)? {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("flowlake: query cancelled");
                Ok(ExitCode::from(EXIT_INTERRUPTED))
            }
        }
        Command::Shell {
            query,
            format,
            max_rows,
            timing,
        } => {
            anyhow::ensure!(
                format != Format::Parquet,
                "the shell writes to the terminal: use `flowlake sql --format parquet -o FILE`"
            );
            let rt = runtime()?;
            let session = query.open(&rt, &query.config()?)?;
            let settings = Settings {
                format,
                max_rows,
                timing,
            };
            let failures = Shell::new(session, settings, rt).run()?;
            Ok(if failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Report {
            kind,
            query,
            since,
            until,
            baseline,
            nsgs,
            format,
            output,
            fail_on,
            print_sql,
        } => {
            if format == render::Format::Parquet && output.is_none() {
                flowlake::output::refuse_binary_on_terminal()?;
            }
            let config = query.config()?;
            let settings = config.report.check()?;
            let mut definitions = vec![];
            for f in config.report.nsg_files.iter().chain(&nsgs) {
                definitions.extend(flowlake::nsg::load(f)?);
            }
            let rt = runtime()?;
            let session = query.open(&rt, &config)?;
            let opts = report::Options {
                kind,
                since,
                until,
                baseline,
                now: chrono::Utc::now(),
                charts: format == render::Format::Html,
            };
            if print_sql {
                let qs = rt
                    .block_on(report::queries(&session, &settings, &opts))
                    .map_err(|e| query_error(e, Some(&session)))?;
                for (file, sql) in qs {
                    println!("-- {file}\n{};\n", sql.trim_end().trim_end_matches(';'));
                }
                return Ok(ExitCode::SUCCESS);
            }
            let r = rt
                .block_on(report::run(&session, &settings, &definitions, &opts))
                .map_err(|e| query_error(e, Some(&session)))?;
            let bytes = render::render(&r, format)?;
            match &output {
                Some(p) => flowlake::output::write_atomic(p, &bytes)?,
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&bytes)?;
                    out.flush()?;
                }
            }
            Ok(match (fail_on, r.worst()) {
                (Some(limit), Some(worst)) if worst >= limit => ExitCode::from(EXIT_FINDINGS),
                _ => ExitCode::SUCCESS,
            })
        }
        Command::Schema { markdown } => {
            if markdown {
                print!("{}", flowlake::schema::markdown());
            } else {
                for c in flowlake::schema::COLUMNS {
                    println!(
                        "{:<20} {:?}{}",
                        c.name,
                        c.ty,
                        if c.nullable { "" } else { " not null" }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
