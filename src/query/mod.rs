//! SQL over the lake: a DataFusion session with the lake's tables, the convenience views of
//! `sql/views/` and flowlake's functions ([`crate::enrich`]).
//!
//! Why: every front end (`flowlake sql`, the shell, reports, tests, a cluster's scheduler)
//! must see the same tables and functions. [`session`] builds that context in this process;
//! [`session_on`] on a context its caller made ([`crate::cluster::session`] makes one that
//! runs on a Ballista cluster). Reading the lake's committed files is [`committed`] and
//! [`table`]; running a query with its limits is [`run`].

pub mod committed;
pub mod errors;
pub mod inventory;
pub mod run;
pub mod table;

use std::sync::Arc;

use datafusion::prelude::{SessionConfig, SessionContext};

use crate::enrich::{self, GeoDbs, InventoryIndex, IpSets, SetSpec};
use crate::lake::manifest::Manifest;
use crate::store::Location;

pub use table::FlowsTable;

/// The convenience views shipped in `sql/views/`, as (name, `CREATE VIEW` text).
pub const VIEWS: &[(&str, &str)] = &[
    ("flow_hours", include_str!("../../sql/views/flow_hours.sql")),
    ("egress", include_str!("../../sql/views/egress.sql")),
    ("flows_k8s", include_str!("../../sql/views/flows_k8s.sql")),
];

/// What a query session needs besides the lake.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    /// Named IP sets to load.
    pub sets: Vec<SetSpec>,
    /// Index only the inventory intervals overlapping `[since, until)` (µs since the epoch)
    /// for the `k8s_*` functions: a report needs its baseline and window, not a year of pod
    /// churn. The `inventory` table stays whole. `None`: every interval.
    pub inventory_span: Option<(i64, i64)>,
    /// MaxMind-format databases for the location functions (`[geo]`, `--geo-db`).
    pub geo_dbs: Vec<std::path::PathBuf>,
    /// The lake's manifest, already read by the caller (a report resolves its window from
    /// it): the session reads the same files. `None`: the session reads it.
    pub manifest: Option<Manifest>,
}

/// A DataFusion session over a lake, and the IP sets its functions use.
#[derive(Clone)]
pub struct LakeSession {
    /// The session: table `flows`, the views of [`VIEWS`], every flowlake function.
    pub ctx: SessionContext,
    /// The loaded IP sets.
    pub sets: Arc<IpSets>,
    /// The lake's inventory, indexed for the `k8s_*` functions.
    pub inventory: Arc<InventoryIndex>,
    /// The location databases.
    pub geo: Arc<GeoDbs>,
    /// The lake.
    pub lake: Location,
    /// Its manifest when the session opened.
    pub manifest: Manifest,
    /// A commit was not fully applied when the session opened ([`crate::lake::commit_pending`]).
    pub commit_pending: bool,
    /// Files the manifest lists that a local lake no longer has (deleted by hand): queries
    /// reading them fail, naming them.
    pub missing_files: Vec<String>,
}

/// The engine's settings every session starts from, in this process or on a cluster's
/// scheduler ([`crate::cluster::session`]).
pub fn config() -> crate::Result<SessionConfig> {
    // DATAFUSION_* environment variables tune the engine (e.g. target_partitions).
    let mut config = SessionConfig::from_env()?.with_information_schema(true);
    // Batches of 32 Ki rows unless DATAFUSION_EXECUTION_BATCH_SIZE says otherwise: grouping
    // a week of rollup rows by address pair (the exfil report) ran 13 % faster than with
    // DataFusion's 8 Ki, the other reports as fast (`benches/reports_vs_duckdb.py`).
    if std::env::var_os("DATAFUSION_EXECUTION_BATCH_SIZE").is_none() {
        config = config.with_batch_size(32 * 1024);
    }
    // Source positions on plan errors ("line 1, column 8: no field named ...").
    config.options_mut().sql_parser.collect_spans = true;
    Ok(config)
}

/// Opens a session over the lake at `lake` in this process: [`session_on`] a context of
/// [`config`].
pub async fn session(lake: &Location, opts: &QueryOptions) -> crate::Result<LakeSession> {
    session_on(SessionContext::new_with_config(config()?), lake, opts).await
}

/// Opens a session over the lake at `lake` on `ctx` (a context of [`config`], here or on a
/// cluster): tables `flows` (with its `date` partitions), its twins `hourly` and `coverage`
/// (when the lake has them) and `inventory`, the views of [`VIEWS`], and every flowlake
/// function ([`enrich::register_all`]), with the IP sets of `opts` and the lake's inventory.
pub async fn session_on(
    ctx: SessionContext,
    lake: &Location,
    opts: &QueryOptions,
) -> crate::Result<LakeSession> {
    let geo = Arc::new(GeoDbs::load(&opts.geo_dbs)?);
    let sets = Arc::new(IpSets::load(&opts.sets, &geo)?);
    let manifest = match &opts.manifest {
        Some(m) => m.clone(),
        None => crate::lake::read_manifest(lake).await?,
    };
    ctx.register_table("flows", Arc::new(FlowsTable::open(lake, &manifest, &ctx)?))?;
    if let Some(hourly) = FlowsTable::open_hourly(lake, &manifest, &ctx)? {
        ctx.register_table("hourly", Arc::new(hourly))?;
    }
    if let Some(coverage) = FlowsTable::open_coverage(lake, &manifest, &ctx)? {
        ctx.register_table("coverage", Arc::new(coverage))?;
    }
    let inventory = Arc::new(inventory::load(&ctx, lake, &manifest, opts.inventory_span).await?);
    enrich::register_all(&ctx, sets.clone(), inventory.clone(), geo.clone());
    for (_, sql) in VIEWS {
        ctx.sql(sql).await?;
    }
    let missing_files = match lake {
        Location::Local(root) => committed::missing_local(root, &manifest),
        Location::Remote(_) => vec![],
    };
    Ok(LakeSession {
        ctx,
        sets,
        inventory,
        geo,
        lake: lake.clone(),
        manifest,
        commit_pending: crate::lake::commit_pending(lake),
        missing_files,
    })
}
