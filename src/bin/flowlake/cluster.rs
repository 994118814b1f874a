//! `flowlake cluster scheduler|executor`: run a node of a Ballista cluster.

use std::process::ExitCode;

use anyhow::Result;

use flowlake::cluster::node::{self, ExecutorOptions, SchedulerOptions};
use flowlake::cluster::{Cluster, DEFAULT_PORT};

use crate::args::{ClusterCommand, ExecutorArgs};
use crate::session::runtime;

/// Runs the node until it fails or the process is stopped. It logs to stderr what Ballista
/// logs (jobs, stages, tasks, executors joining and leaving) at `info`, or as `RUST_LOG` says.
pub fn run(c: ClusterCommand) -> Result<ExitCode> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let rt = runtime()?;
    match c {
        ClusterCommand::Scheduler(a) => rt.block_on(node::run_scheduler(SchedulerOptions {
            bind: a.bind,
            external_host: a.external_host,
            executor_timeout: a.executor_timeout,
            geo_dbs: a.geo.geo_dbs,
        }))?,
        ClusterCommand::Executor(a) => rt.block_on(node::run_executor(executor_options(a)?))?,
    }
    Ok(ExitCode::SUCCESS)
}

fn executor_options(a: ExecutorArgs) -> Result<ExecutorOptions> {
    let (host, port) = match format!("df://{}", a.scheduler).parse::<Cluster>() {
        Ok(Cluster::Remote { host, port }) => (host, port),
        _ => {
            return Err(flowlake::Error::Invalid(format!(
                "--scheduler '{}': expected HOST[:PORT] (port {DEFAULT_PORT} by default)",
                a.scheduler
            ))
            .into());
        }
    };
    Ok(ExecutorOptions {
        scheduler: (host, port),
        bind_host: a.bind_host,
        external_host: a.external_host,
        port: a.port,
        slots: a.slots.map_or_else(
            || std::thread::available_parallelism().map_or(2, |n| n.get()),
            usize::from,
        ),
        work_dir: a.work_dir.map(|d| d.display().to_string()),
        geo_dbs: a.geo.geo_dbs,
    })
}
