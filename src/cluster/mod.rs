//! Beyond one machine: flowlake's SQL and reports on an Apache DataFusion Ballista cluster.
//!
//! Why: one process ingests faster than Azure writes flow logs, but a year of reports and
//! ad-hoc scans outgrows one machine. With `--cluster df://HOST:PORT` the same session
//! ([`crate::query::session_on`]: tables, views, functions) plans the query and Ballista runs it
//! on a scheduler and its executors, started with `flowlake cluster scheduler|executor`
//! ([`node`]) so that they know flowlake's tables, functions ([`codec`]) and lake stores
//! ([`stores`]). `--cluster standalone` runs Ballista's scheduler and one executor inside
//! the process (a local lake works there; remote executors cannot read one).

pub mod codec;
pub mod guard;
pub mod job;
pub mod leaves;
pub mod node;
pub mod stores;

use std::fmt;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{Error, Result};
use crate::query::run::StreamGuard;
use crate::query::{LakeSession, QueryOptions};
use crate::store::Location;

/// Ballista's scheduler port, when a `df://` URL names none.
pub const DEFAULT_PORT: u16 = 50050;

/// How long a client waits for a scheduler to accept a connection before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where queries run besides this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cluster {
    /// Ballista's scheduler and one executor inside this process (`standalone`).
    Standalone,
    /// A scheduler at `host:port` (`df://HOST[:PORT]`).
    Remote {
        /// Scheduler host name or address.
        host: String,
        /// Scheduler gRPC port.
        port: u16,
    },
}

impl std::str::FromStr for Cluster {
    type Err = Error;

    /// Reads `standalone` or `df://HOST[:PORT]`.
    fn from_str(s: &str) -> Result<Cluster> {
        if s == "standalone" {
            return Ok(Cluster::Standalone);
        }
        let bad = |why: &str| {
            Error::Invalid(format!(
                "--cluster '{s}': {why}; expected df://HOST[:PORT] (a Ballista scheduler, port {DEFAULT_PORT} by default) or standalone"
            ))
        };
        let rest = s
            .strip_prefix("df://")
            .ok_or_else(|| bad("not a df:// URL"))?;
        let url = url::Url::parse(&format!("df://{rest}")).map_err(|e| bad(&e.to_string()))?;
        if !url.path().trim_matches('/').is_empty() || url.query().is_some() {
            return Err(bad("a scheduler URL has no path or query"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?;
        Ok(Cluster::Remote {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: url.port().unwrap_or(DEFAULT_PORT),
        })
    }
}

impl fmt::Display for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cluster::Standalone => f.write_str("standalone"),
            Cluster::Remote { host, port } if host.contains(':') => {
                write!(f, "df://[{host}]:{port}")
            }
            Cluster::Remote { host, port } => write!(f, "df://{host}:{port}"),
        }
    }
}

/// `config` with Ballista's settings and flowlake's codecs: what every member of a cluster
/// (client, scheduler, executors) plans and runs with. Clients pull their job's status.
///
/// Ballista's adaptive planner is off: with it, a job whose plan has an empty stage (the
/// exposure report's join with an empty baseline: `ExchangeExec` over `EmptyExec`) is never
/// finished: its first stage completes and the scheduler schedules nothing more (Ballista
/// 55.0.0, seen with a scheduler and two executors; the static planner runs it).
pub fn session_config(config: SessionConfig) -> SessionConfig {
    config
        .upgrade_for_ballista()
        // The client asks for its job's status (pull) rather than waiting for the scheduler
        // to push it: pulled, the job id comes with the submission's answer, so a job can be
        // watched and cancelled from the start (`job`); pushed, it only came with the first
        // status update, which a stuck job never sent.
        .set_bool(ballista_core::config::BALLISTA_CLIENT_PULL, true)
        .with_ballista_adaptive_query_planner(false)
        .with_ballista_logical_extension_codec(Arc::new(codec::LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(codec::PhysicalCodec::default()))
}

/// A runtime whose object stores open remote lakes on first use ([`stores::LakeStores`]).
pub fn runtime() -> datafusion::error::Result<Arc<RuntimeEnv>> {
    RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(stores::LakeStores::default()))
        .build_arc()
}

/// The runtime of a node process: the same, refusing the local file system ([`guard`]).
pub fn node_runtime() -> datafusion::error::Result<Arc<RuntimeEnv>> {
    RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(stores::LakeStores::remote_only()))
        .build_arc()
}

/// The state a cluster member plans with: DataFusion's defaults, the lake stores of
/// [`runtime`], and [`leaves::SteadyLeaves`] last among the physical optimizer rules (the
/// scheduler plans the stages; in standalone mode it plans with the client's state).
pub fn session_state(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    Ok(state_builder(config, runtime()?).build())
}

/// The state a node process (`flowlake cluster scheduler`) plans with: [`session_state`]'s,
/// guarded ([`guard::NodeGuard`]) and without the local file system.
pub fn node_state(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    Ok(state_builder(config, node_runtime()?)
        .with_analyzer_rule(guard::rule())
        .build())
}

fn state_builder(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> SessionStateBuilder {
    SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(leaves::SteadyLeaves))
}

/// Opens a session over the lake at `lake` whose queries run on `cluster`
/// ([`crate::query::session_on`] over a context from [`connect`]). A job with no progress for
/// `stall` is cancelled and fails. Remote executors cannot read this machine's directories:
/// a local lake works with [`Cluster::Standalone`] only.
pub async fn session(
    cluster: &Cluster,
    stall: Duration,
    lake: &Location,
    opts: &QueryOptions,
) -> Result<LakeSession> {
    if let (Location::Local(root), Cluster::Remote { .. }) = (lake, cluster) {
        return Err(Error::Cluster {
            cluster: cluster.to_string(),
            message: format!(
                "lake {} is a local directory, which the cluster's executors cannot read: use a lake on Azure Blob Storage or S3, or --cluster standalone",
                root.display()
            ),
        });
    }
    let ctx = connect(cluster, crate::query::config()?, stall).await?;
    crate::query::session_on(ctx, lake, opts).await
}

/// Connects a session to `cluster` (for [`Cluster::Standalone`], starts a scheduler and an
/// executor in this process, on loopback). Its jobs are watched ([`job::Watch`]): one with
/// no progress for `stall` is cancelled and fails. flowlake's tables and functions are
/// registered on the returned context afterwards, as on a local one: Ballista replaces a
/// state's scalar functions with its own list when it takes the state over.
pub async fn connect(
    cluster: &Cluster,
    config: SessionConfig,
    stall: Duration,
) -> Result<SessionContext> {
    let fail = |message: String| Error::Cluster {
        cluster: cluster.to_string(),
        message,
    };
    let state = session_state(session_config(config))?;
    let scheduler = match cluster {
        Cluster::Standalone => {
            let addr = ballista_scheduler::standalone::new_standalone_scheduler_from_state(&state)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let scheduler = Cluster::Remote {
                host: "localhost".into(),
                port: addr.port(),
            };
            let client = job::connect(&grpc_url(&scheduler)).await.map_err(&fail)?;
            let slots = state.config().ballista_standalone_parallelism();
            ballista_executor::new_standalone_executor_from_state(client, slots, &state)
                .await
                .map_err(|e| fail(e.to_string()))?;
            scheduler
        }
        Cluster::Remote { host, port } => {
            reachable(cluster, host, *port).await?;
            cluster.clone()
        }
    };
    let ctx = SessionContext::remote_with_state(&scheduler.to_string(), state)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let watch = job::Watch {
        scheduler: grpc_url(&scheduler),
        stall,
    };
    let guard = move |plan: &_, stream| watch.guard(plan, stream);
    ctx.state_ref()
        .write()
        .config_mut()
        .set_extension(Arc::new(StreamGuard(Box::new(guard))));
    Ok(ctx)
}

/// The gRPC URL of a scheduler: `http://HOST:PORT`.
fn grpc_url(scheduler: &Cluster) -> String {
    scheduler.to_string().replacen("df://", "http://", 1)
}

/// Fails within [`CONNECT_TIMEOUT`] when no scheduler accepts connections at `host:port`
/// (Ballista's client would retry for much longer before saying why).
async fn reachable(cluster: &Cluster, host: &str, port: u16) -> Result<()> {
    let fail = |message: String| Error::Cluster {
        cluster: cluster.to_string(),
        message,
    };
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| fail(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = String::from("no address");
    for addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: no answer within {CONNECT_TIMEOUT:?}"),
        }
    }
    Err(fail(format!("no scheduler reachable ({last})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_are_read_or_refused_with_a_reason() {
        let remote = |h: &str, p| Cluster::Remote {
            host: h.into(),
            port: p,
        };
        for (s, want) in [
            ("standalone", Cluster::Standalone),
            ("df://sched:50051", remote("sched", 50051)),
            ("df://10.0.0.4", remote("10.0.0.4", DEFAULT_PORT)),
            ("df://[::1]:7000", remote("::1", 7000)),
        ] {
            let got: Cluster = s.parse().unwrap();
            assert_eq!(got, want, "{s}");
            assert_eq!(got.to_string().parse::<Cluster>().unwrap(), want);
        }
        for bad in [
            "http://x:1",
            "df://",
            "df://h:99999",
            "df://h:1/x",
            "local",
            "",
        ] {
            let e = bad.parse::<Cluster>().unwrap_err().to_string();
            assert!(
                e.contains("--cluster") && e.contains("df://HOST"),
                "{bad}: {e}"
            );
        }
    }
}
