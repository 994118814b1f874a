//! The command line as clap sees it: every subcommand and flag, with its help text.
//!
//! Why: one place defines what a user can type, so `--help`, parsing and the docs' command
//! list come from the same definitions. Values that need checking beyond their type (a
//! window, a lake URL with its store options) are checked where the command runs, once.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use flowlake::cluster::Cluster;
use flowlake::enrich::SetSpec;
use flowlake::output::Format;
use flowlake::report::{self, Severity, render};
use flowlake::store::{Location, StoreOptions};
use flowlake::synth::{GenFormat, GenMix};

#[derive(Parser)]
#[command(name = "flowlake", version, about = "Azure flow logs (NSG v1/v2, VNet v4) into a partitioned Parquet lake, and SQL over it", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// How remote stores are reached (every command that touches a lake or a source).
#[derive(clap::Args, Clone, Copy)]
pub struct StoreArgs {
    /// Retries of a failing request to a remote store (timeouts, resets, 429, 5xx), with
    /// exponential backoff from 100 ms to 15 s, within 3 minutes.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub retries: usize,
}

impl StoreArgs {
    /// The store options these flags give.
    pub fn options(&self) -> StoreOptions {
        StoreOptions {
            max_retries: self.retries,
            ..StoreOptions::default()
        }
    }

    /// A lake or source as typed: a directory, or a URL on object storage.
    pub fn location(&self, text: &str) -> flowlake::Result<Location> {
        Location::parse(text, &self.options())
    }
}

/// Where a lake is, and how to reach it.
#[derive(clap::Args)]
pub struct LakeArgs {
    /// Lake: a directory, or a URL on object storage (az://<container>/<prefix>, s3://...,
    /// as for ingest sources; same credentials).
    #[arg(long)]
    pub lake: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

impl LakeArgs {
    /// The lake's location.
    pub fn location(&self) -> flowlake::Result<Location> {
        self.store.location(&self.lake)
    }
}

/// What a query session needs: the lake, IP sets and the config file naming them.
#[derive(clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Load a named IP set: a list (address or CIDR per line, optional label, # comments) or
    /// an Azure ServiceTags_*.json file. Repeatable.
    #[arg(long = "set", value_name = "NAME=PATH")]
    pub sets: Vec<SetSpec>,
    /// Config file (flowlake.toml) naming IP sets under [sets].
    #[arg(long, env = "FLOWLAKE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A MaxMind-format database (GeoIP2/GeoLite2 Country, City or ASN; DB-IP or IPinfo
    /// lite) for geo_country, geo_city, asn, as_org; repeatable, after [geo] databases.
    #[arg(long = "geo-db", value_name = "PATH")]
    pub geo_dbs: Vec<PathBuf>,
    /// Run the queries on a Ballista cluster: df://HOST[:PORT] (a `flowlake cluster
    /// scheduler`, port 50050 by default; the lake must be on Azure Blob Storage or S3), or
    /// `standalone` (a scheduler and an executor inside this process).
    #[arg(long, env = "FLOWLAKE_CLUSTER", value_name = "URL")]
    pub cluster: Option<Cluster>,
    /// On a cluster: a job whose status and finished stages stay the same this long is
    /// cancelled on the scheduler and fails, naming the job and what the scheduler last
    /// said (a span: 90s, 5m, 1h).
    #[arg(long, env = "FLOWLAKE_STALL_TIMEOUT", default_value = "5m", value_name = "SPAN", value_parser = stall_timeout)]
    pub stall_timeout: std::time::Duration,
}

/// `--stall-timeout`: a span of at least one second.
fn stall_timeout(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    match d < std::time::Duration::from_secs(1) {
        true => Err("must be at least 1s".into()),
        false => Ok(d),
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Ingest flow-log blobs (folders in the Azure container layout, files, or a container on
    /// Azure Blob Storage or S3) into a lake, exactly once: re-runs add only what is new.
    Ingest(IngestArgs),
    /// Merge each partition's small files into large ones (atomic for readers).
    Compact(CompactArgs),
    /// Drop what is older than the lake keeps: whole days of raw tuples (`flows`, and their
    /// rejects) and of the hourly rollup, in one commit (atomic for readers).
    ///
    /// A day goes once all of it is older than the span; reports past the raw horizon read
    /// the rollup. Spans come from the flags or from [retain] in the config file.
    Retain(RetainArgs),
    /// Write a synthetic Azure blob tree (for demos and benchmarks).
    Gen(GenArgs),
    /// Show what a lake holds: partitions, files, rows, blobs, time range.
    Info(InfoArgs),
    /// Run SQL over the lake (table `flows`, views, network functions) and write the result.
    ///
    /// SQL comes from the argument, from -f FILE, or from stdin. Several statements may be
    /// given (separated by ';'); they run in order and the result of the last one is written.
    Sql(SqlArgs),
    /// Interactive SQL shell over the lake (history, completion, \d, \df; \? for help).
    ///
    /// With stdin not a terminal, reads statements from stdin without prompts.
    Shell(ShellArgs),
    /// Findings for the weekly questions: is data leaving (exfil), what is exposed
    /// (exposure), are the rules right (rules); or coverage and traffic (summary), and who
    /// talks to whom (workloads: the traffic matrix, new edges as findings).
    ///
    /// Without --since/--until the window is the 24 hours up to the lake's last data. The
    /// baseline is the span before the window that "new" and "unusual" are judged against.
    /// Settings (internal ranges, expected ports, approved servers, thresholds, NSG files)
    /// come from [report] in the config file; every one has a default.
    #[command(
        after_help = "Exit status: 0 done; 4 findings at or above --fail-on; 1 failed; 2 bad usage."
    )]
    Report(ReportArgs),
    /// Who held which address when: import Kubernetes and Azure inventories (kubectl
    /// snapshots and watch streams, az NIC lists) into the lake, and show them.
    #[command(subcommand)]
    Inventory(InventoryCommand),
    /// Print the columns of the `flows` table (or of `inventory`).
    Schema(SchemaArgs),
    /// Run a node of a Ballista cluster that knows flowlake's tables and functions: the
    /// scheduler, or an executor. Clients send it queries with --cluster df://HOST:PORT.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

/// `--executor-timeout`: a span such as `30s` or `2m`, in whole seconds, at least ten.
fn executor_timeout(s: &str) -> Result<u64, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    match d.as_secs() {
        n if n < 10 => Err("must be at least 10s".into()),
        n => Ok(n),
    }
}

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Run the scheduler: plans queries from clients and hands their tasks to executors.
    Scheduler(SchedulerArgs),
    /// Run an executor: runs tasks of the scheduler's queries, reading the lake with this
    /// machine's credentials (the same environment as `ingest`).
    Executor(ExecutorArgs),
}

/// The location databases of a cluster node.
#[derive(clap::Args)]
pub struct NodeGeoArgs {
    /// A MaxMind-format database for the location functions (repeat for several): the same
    /// files as the clients' `--geo-db` / `[geo] databases`, which plans name by type and
    /// build.
    #[arg(long = "geo-db", value_name = "PATH")]
    pub geo_dbs: Vec<PathBuf>,
}

#[derive(Parser)]
pub struct SchedulerArgs {
    /// Address and port to listen on: loopback unless told otherwise (0.0.0.0:50050 for
    /// every interface; Ballista has no authentication, so fence the port: docs/CLUSTER.md).
    #[arg(long, default_value = "127.0.0.1:50050", value_name = "ADDR:PORT")]
    pub bind: std::net::SocketAddr,
    /// Host name clients and executors reach the scheduler by (default: the bind address).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// How long an executor may go without asking for work before it is taken for lost and
    /// its tasks run elsewhere (at least 10s: an executor busy on every slot asks every 5s).
    #[arg(long, default_value = "30s", value_name = "SPAN", value_parser = executor_timeout)]
    pub executor_timeout: u64,
    #[command(flatten)]
    pub geo: NodeGeoArgs,
}

#[derive(Parser)]
pub struct ExecutorArgs {
    /// The scheduler: HOST:PORT (port 50050 by default).
    #[arg(long, value_name = "HOST:PORT")]
    pub scheduler: String,
    /// Address to listen on: loopback unless told otherwise (0.0.0.0 for every interface,
    /// as other executors on other machines fetch shuffle data from it).
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub bind_host: String,
    /// Host name the scheduler and other executors reach this executor by (default: the
    /// bind address).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Arrow Flight port, for shuffle data (0: a free port, logged and told the scheduler).
    /// An executor that cannot listen on it exits at once with status 1.
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// Tasks run at once (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub slots: Option<u16>,
    /// Directory for shuffle files (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    #[command(flatten)]
    pub geo: NodeGeoArgs,
}

#[derive(Subcommand)]
pub enum InventoryCommand {
    /// Import inventory files into the lake's `inventory` table, exactly once: a file
    /// imported before with the same bytes is skipped, and overlapping snapshots merge.
    ///
    /// Reads, told apart by content: `kubectl get pods,services,nodes,endpointslices -A -o
    /// json` (a List; add replicasets,jobs to resolve owners exactly), `kubectl get pods -A
    /// --watch --output-watch-events -o json` (a stream of events), and `az network nic list
    /// -o json` / `az vmss nic list ... -o json`.
    #[command(
        after_help = "Exit status: 0 done; 3 done, but some items were rejected (see the rejects file); 1 failed; 2 bad usage."
    )]
    Import(InventoryImportArgs),
    /// Show who held which address when (the `inventory` table), filtered.
    Show(InventoryShowArgs),
}

#[derive(clap::Args)]
pub struct InventoryImportArgs {
    /// Inventory files, folders (searched for *.json), or prefixes on object storage
    /// (az://, https://, s3://, as for ingest).
    #[arg(required = true, value_name = "SNAPSHOT")]
    pub sources: Vec<String>,
    #[command(flatten)]
    pub lake: LakeArgs,
    /// The cluster (or Azure estate) these files describe; snapshots of one cluster bound
    /// each other's intervals.
    #[arg(long, default_value = "default", value_name = "NAME")]
    pub cluster: String,
    /// When the snapshots were taken [default: each file's modification time]: RFC 3339, a
    /// date, or back from now (2h).
    #[arg(long, value_name = "T")]
    pub at: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct InventoryShowArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Only bindings held at this time: RFC 3339, a date, or back from now (2h).
    #[arg(long, value_name = "T")]
    pub at: Option<String>,
    /// Only this address.
    #[arg(long, value_name = "ADDR")]
    pub ip: Option<String>,
    /// Only this namespace.
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Only this cluster.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Rows a table shows at most (0: all).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max_rows: usize,
}

#[derive(clap::Args)]
pub struct IngestArgs {
    /// Folders (searched for *.json), single blob files, or containers and buckets:
    /// az://<container>[/prefix] (account from AZURE_STORAGE_ACCOUNT_NAME; abfss:// too),
    /// https://<account>.blob.core.windows.net/<container>[/prefix][?<SAS token>],
    /// s3://<bucket>[/prefix]. Credentials and endpoints come from the AZURE_STORAGE_* and
    /// AWS_* environment variables or the AWS_PROFILE of ~/.aws (AZURE_STORAGE_USE_EMULATOR=true
    /// for Azurite).
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,
    /// Only blobs of hours from this time on (by their y=/m=/d=/h= path); a remote listing
    /// then visits only those hour prefixes. RFC 3339, a date, or back from now: 2d, 6h.
    #[arg(long)]
    pub since: Option<String>,
    /// Only blobs of hours before this time [default: now]. Needs --since.
    #[arg(long, requires = "since")]
    pub until: Option<String>,
    /// Lake: a directory, or a URL on object storage (az://<container>/<prefix>, s3://...,
    /// as for sources; same credentials). Created if missing.
    #[arg(long)]
    pub lake: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Parallel workers [default: number of cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,
    /// Commit after about this many MiB of input, so a crash loses at most that much work.
    #[arg(long, default_value_t = 1024, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub commit_mib: u64,
    /// Reject blobs larger than this.
    #[arg(long, default_value_t = 4096, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub max_blob_mib: u64,
    /// A blob still in its hour, or changed less than this long ago, may be mid-write (Azure
    /// appending, a copy tool rewriting it in place): a torn end is left for the next run
    /// instead of rejected. 0s judges every blob as it is.
    #[arg(long, default_value = "5m", value_name = "SPAN", value_parser = humantime::parse_duration)]
    pub settle: std::time::Duration,
    /// Print the summary as JSON on stdout (for batch jobs).
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args)]
pub struct CompactArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Compact partitions with at least this many files.
    #[arg(long, default_value_t = 2)]
    pub min_files: usize,
    /// Rows per output file at most.
    #[arg(long, default_value_t = 16 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub target_rows: u64,
    /// Rows per row group (smaller: time windows skip finer slices; larger: smaller files).
    #[arg(long, default_value_t = flowlake::lake::file::ROW_GROUP_ROWS as u64, value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub row_group_rows: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct RetainArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Keep raw tuples this long (30d, 8w, ...) [default: [retain] raw; unset: forever].
    #[arg(long, value_name = "SPAN")]
    pub raw: Option<String>,
    /// Keep the hourly rollup this long (400d, ...) [default: [retain] hourly; unset: forever].
    #[arg(long, value_name = "SPAN")]
    pub hourly: Option<String>,
    /// Config file (flowlake.toml) with a [retain] section.
    #[arg(long, env = "FLOWLAKE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Count the spans back from T instead of now (RFC 3339 or a date; to rerun a job for a
    /// past day).
    #[arg(long, value_name = "T")]
    pub now: Option<String>,
    /// Say what would be dropped, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct GenArgs {
    /// Output directory (a storage account root).
    #[arg(long)]
    pub out: PathBuf,
    /// First day, YYYY-MM-DD (UTC).
    #[arg(long, default_value = "2026-11-01")]
    pub start: chrono::NaiveDate,
    /// Number of days.
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    /// Hours per day, from midnight (1..24).
    #[arg(long, default_value_t = 24)]
    pub hours: u32,
    /// Number of NICs.
    #[arg(long, default_value_t = 8)]
    pub nics: u32,
    /// Tuples per NIC and hour.
    #[arg(long, default_value_t = 1000)]
    pub tuples_per_hour: u32,
    /// Log format.
    #[arg(long, value_enum, default_value_t = GenFormat::Mixed)]
    pub format: GenFormat,
    /// Traffic: servers (egress, DNS, east-west, some inbound web, scans) or web front ends
    /// (many short inbound HTTPS connections from returning clients).
    #[arg(long, value_enum, default_value_t = GenMix::Servers)]
    pub mix: GenMix,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Make the NICs nodes of an AKS cluster (flat Azure CNI and overlay pools, daily rolling
    /// restarts, a reused pod address, load balancers), add regular big transfers and planted
    /// incidents (last day) for the reports, and write flowlake.toml, nsg.json, the threat
    /// list, the cluster's kubectl snapshots, watch streams and NIC list (DIR/k8s) and the
    /// answer key (scenario.json) into DIR.
    #[arg(long, value_name = "DIR")]
    pub scenario: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct SqlArgs {
    #[command(flatten)]
    pub query: QueryArgs,
    /// The SQL text.
    pub sql: Option<String>,
    /// Read the SQL from a file.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        conflicts_with = "sql"
    )]
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the result to FILE (atomically: complete or not at all) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Rows a table shows at most (0: all); other formats write every row.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max_rows: usize,
}

#[derive(clap::Args)]
pub struct ShellArgs {
    #[command(flatten)]
    pub query: QueryArgs,
    /// Output format (switch with \format).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Rows a table shows at most (0: all; change with \maxrows).
    #[arg(long, default_value_t = 40, value_name = "N")]
    pub max_rows: usize,
    /// Print how long each statement took (toggle with \timing).
    #[arg(long)]
    pub timing: bool,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Which report.
    #[arg(value_enum)]
    pub kind: report::Kind,
    #[command(flatten)]
    pub query: QueryArgs,
    /// Window start: RFC 3339, a date (UTC midnight), or relative (24h, 7d, yesterday).
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Window end (exclusive) [default: now, or since + 24h when only --since is given].
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// Baseline length before --since [default: [report] baseline, 7d].
    #[arg(long, value_name = "SPAN")]
    pub baseline: Option<String>,
    /// NSG definitions (az network nsg show/list -o json) for never-hit and shadowed rules;
    /// adds to [report] nsg_files. Repeatable.
    #[arg(long = "nsg", value_name = "FILE")]
    pub nsgs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = render::Format::Table)]
    pub format: render::Format,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit with status 4 when a finding at or above this severity exists.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<Severity>,
    /// Print the report's SQL with the window and settings filled in, and stop (to read
    /// it, or run it with another engine).
    #[arg(long)]
    pub print_sql: bool,
    /// Read the raw tuples of `flows`, not the hourly rollup (which answers whole hours;
    /// hours split by --since or --until are read raw either way).
    #[arg(long)]
    pub raw: bool,
    /// Print on stderr how long each step took: opening the session, each query (planning
    /// and running, with its rows), turning rows into findings and rendering.
    #[arg(long)]
    pub timings: bool,
}

#[derive(clap::Args)]
pub struct SchemaArgs {
    /// As the Markdown table of docs/SCHEMA.md.
    #[arg(long)]
    pub markdown: bool,
    /// Which table.
    #[arg(long, value_enum, default_value_t = Table::Flows)]
    pub table: Table,
}

/// The lake's tables.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Table {
    /// Flow tuples.
    Flows,
    /// Flow tuples aggregated per hour and conversation.
    Hourly,
    /// Tuples per hour and NIC: which NICs logged in which hours.
    Coverage,
    /// Address bindings over time.
    Inventory,
}
