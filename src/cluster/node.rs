//! The scheduler and executor processes of a flowlake cluster.
//!
//! Why: Ballista's stock `ballista-scheduler` and `ballista-executor` binaries know
//! DataFusion's functions and S3, not flowlake's tables, functions or Azure lakes. These are
//! the same processes built from Ballista's libraries with flowlake's codecs
//! ([`super::codec`]) and object stores ([`super::stores`]), run by
//! `flowlake cluster scheduler` and `flowlake cluster executor`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::extension::SessionConfigExt;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::prelude::SessionConfig;

use super::codec::{LogicalCodec, PhysicalCodec};
use super::{node_runtime, node_state, session_config};
use crate::enrich::GeoDbs;
use crate::error::{Error, Result};

/// A node's session config: Ballista's defaults and flowlake's codecs.
fn node_config() -> SessionConfig {
    session_config(SessionConfig::new_with_ballista())
}

fn failed(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Cluster {
        cluster: what.to_string(),
        message: e.to_string(),
    }
}

/// Opens the location databases a node serves plans with (they stay open for the process:
/// [`crate::enrich::GeoDbs::opened`] finds them) and logs which.
fn open_geo(paths: &[PathBuf]) -> Result<()> {
    let dbs = GeoDbs::load(paths)?;
    for (path, id) in paths.iter().zip(dbs.ids()) {
        log::info!("location database {id}: {}", path.display());
    }
    Ok(())
}

/// Where a scheduler listens and what it expects of its executors.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Address and port to listen on.
    pub bind: SocketAddr,
    /// Name executors and clients reach it by (default: the bind address).
    pub external_host: Option<String>,
    /// Seconds without a request for work after which an executor is lost and its tasks run
    /// elsewhere (Ballista's default is 180; a report's user should not wait that long).
    pub executor_timeout: u64,
    /// Location databases it plans with (it may evaluate a function of constants).
    pub geo_dbs: Vec<PathBuf>,
}

/// Runs a scheduler until the process ends.
pub async fn run_scheduler(opts: SchedulerOptions) -> Result<()> {
    open_geo(&opts.geo_dbs)?;
    let bind = opts.bind;
    let host = opts.external_host.unwrap_or_else(|| bind.ip().to_string());
    let mut config = SchedulerConfig::default()
        .with_hostname(host)
        .with_port(bind.port())
        .with_override_config_producer(Arc::new(node_config))
        .with_override_session_builder(Arc::new(node_state));
    config.override_logical_codec = Some(Arc::new(LogicalCodec::default()));
    config.override_physical_codec = Some(Arc::new(PhysicalCodec::default()));
    // Executors pull tasks. With Ballista's default (the scheduler pushes tasks into slots
    // it counts), an executor lost while a join stage ran left the job waiting forever: the
    // stage was rolled back, its cancelled tasks' slots were never given back, and nothing
    // was scheduled again (tests/it/remote/cluster.rs, SIGKILL mid-query). Pulled, the
    // same query recovers in seconds.
    config.scheduling_policy = TaskSchedulingPolicy::PullStaged;
    config.executor_timeout_seconds = opts.executor_timeout;
    config.expire_dead_executor_interval_seconds = opts.executor_timeout.div_ceil(6).max(1);
    config.no_executors_grace_period_seconds = opts.executor_timeout;
    let what = format!("scheduler on {bind}");
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| failed(&what, e))?;
    start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(|e| failed(&what, e))
}

/// Where an executor listens and which scheduler it serves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host and port.
    pub scheduler: (String, u16),
    /// Address to listen on.
    pub bind_host: String,
    /// Name the scheduler and other executors reach it by (default: `bind_host`).
    pub external_host: Option<String>,
    /// Arrow Flight port (shuffle data); 0 for a free one.
    pub port: u16,
    /// Tasks run at once.
    pub slots: usize,
    /// Where shuffle files go (default: a temporary directory).
    pub work_dir: Option<String>,
    /// Location databases for the location functions (the clients' files).
    pub geo_dbs: Vec<PathBuf>,
}

/// The Flight port an executor can listen on at `host`: `port` when it is free, a free one
/// for 0. Ballista's executor registers with the scheduler before its Flight server binds,
/// and a server that cannot bind only logs it: checked here, the executor fails at once,
/// naming the address, instead of joining the cluster unable to serve shuffle data.
fn flight_port(host: &str, port: u16) -> std::result::Result<u16, String> {
    let listener = std::net::TcpListener::bind((host, port))
        .map_err(|e| format!("cannot listen on {host}:{port} for Arrow Flight: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot listen on {host}:{port} for Arrow Flight: {e}"))
}

/// Runs an executor until the process ends.
pub async fn run_executor(opts: ExecutorOptions) -> Result<()> {
    open_geo(&opts.geo_dbs)?;
    let what = format!(
        "executor of scheduler {}:{}",
        opts.scheduler.0, opts.scheduler.1
    );
    let port = flight_port(&opts.bind_host, opts.port).map_err(|e| failed(&what, e))?;
    log::info!("Arrow Flight (shuffle data) on {}:{port}", opts.bind_host);
    let config = ExecutorProcessConfig {
        scheduler_host: opts.scheduler.0,
        scheduler_port: opts.scheduler.1,
        bind_host: opts.bind_host,
        external_host: opts.external_host,
        port,
        vcores: opts.slots.max(1),
        work_dir: opts.work_dir,
        override_config_producer: Some(Arc::new(node_config)),
        override_runtime_producer: Some(Arc::new(|_: &SessionConfig| node_runtime())),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        // Pulling executors serve no gRPC, so the scheduler cannot tell them to drop a
        // finished job's shuffle files: they drop those untouched for six hours themselves.
        job_data_ttl_seconds: 6 * 3600,
        job_data_clean_up_interval_seconds: 600,
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| failed(&what, e))
}
