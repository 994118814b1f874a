//! SQL over the lake: a DataFusion session with the `flows` table, the convenience views of
//! `sql/views/` and flowlake's functions.
//!
//! Why: the network questions ("is this peer outside?", "which /24?", "is it on the threat
//! list?") need address logic that SQL engines lack, and every front end (`flowlake sql`, the
//! shell, reports, tests, later distributed executors) must see the same tables and functions.
//! [`session`] builds that context; [`register_all`] is the one place functions are added.

pub mod committed;
pub mod errors;
pub mod feeds;
pub mod functions;
pub mod geo;
pub mod k8s;
pub mod run;
pub mod sets;
pub mod table;

use crate::lake::manifest::Manifest;
use crate::store::Location;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{DocSection, Documentation};
use datafusion::prelude::{SessionConfig, SessionContext};

pub use geo::GeoDbs;
pub use k8s::InventoryIndex;
pub use sets::{IpSet, IpSets, SetSpec};
pub use table::FlowsTable;

/// One flowlake SQL function, as `\df` and `SHOW FUNCTIONS` describe it.
#[derive(Debug, Clone, Copy)]
pub struct FnDoc {
    /// Function name.
    pub name: &'static str,
    /// Call syntax.
    pub syntax: &'static str,
    /// Result type.
    pub returns: &'static str,
    /// One line on what it does.
    pub about: &'static str,
}

/// flowlake's own SQL functions. Every address argument accepts any string type; NULL or text
/// that is not an address gives NULL.
pub const FUNCTIONS: &[FnDoc] = &[
    FnDoc {
        name: "ip_class",
        syntax: "ip_class(ip)",
        returns: "string",
        about: "Address class: private, public, loopback, link_local, cgnat, multicast, documentation, benchmarking, reserved, unspecified, broadcast, azure_platform (IANA registries; ::ffff:a.b.c.d as IPv4).",
    },
    FnDoc {
        name: "is_private",
        syntax: "is_private(ip)",
        returns: "boolean",
        about: "True for RFC 1918 and fc00::/7 addresses (ip_class = 'private').",
    },
    FnDoc {
        name: "is_public",
        syntax: "is_public(ip)",
        returns: "boolean",
        about: "True for globally routable unicast addresses (ip_class = 'public').",
    },
    FnDoc {
        name: "ip_version",
        syntax: "ip_version(ip)",
        returns: "int",
        about: "4 or 6 (IPv4-mapped IPv6 counts as 4).",
    },
    FnDoc {
        name: "ip_in_cidr",
        syntax: "ip_in_cidr(ip, cidr)",
        returns: "boolean",
        about: "True when ip lies in the CIDR block, e.g. ip_in_cidr(dst_ip, '10.0.0.0/8').",
    },
    FnDoc {
        name: "ip_network",
        syntax: "ip_network(ip, prefix_len)",
        returns: "string",
        about: "The enclosing network in CIDR text, e.g. ip_network('10.1.2.3', 24) = '10.1.2.0/24'.",
    },
    FnDoc {
        name: "ip_in_set",
        syntax: "ip_in_set(ip, 'set')",
        returns: "boolean",
        about: "True when ip lies in an entry of the named IP set (--set NAME=PATH or [sets] in flowlake.toml).",
    },
    FnDoc {
        name: "ip_set_label",
        syntax: "ip_set_label(ip, 'set')",
        returns: "string",
        about: "Label of the most specific entry of the named set containing ip (the entry itself when it has no label).",
    },
    FnDoc {
        name: "service_tag",
        syntax: "service_tag(ip)",
        returns: "string",
        about: "Most specific Azure service tag containing ip (needs a ServiceTags_*.json set).",
    },
    FnDoc {
        name: "geo_country",
        syntax: "geo_country(ip)",
        returns: "string",
        about: "ISO 3166-1 country code of an outside address, from the loaded MaxMind-format database ([geo] databases or --geo-db; NULL for private or unknown addresses, or with no database).",
    },
    FnDoc {
        name: "geo_country_name",
        syntax: "geo_country_name(ip)",
        returns: "string",
        about: "English name of that country.",
    },
    FnDoc {
        name: "geo_city",
        syntax: "geo_city(ip)",
        returns: "string",
        about: "English name of the city (a City database).",
    },
    FnDoc {
        name: "asn",
        syntax: "asn(ip)",
        returns: "uint32",
        about: "Autonomous system number of an outside address (an ASN or IPinfo lite database).",
    },
    FnDoc {
        name: "as_org",
        syntax: "as_org(ip)",
        returns: "string",
        about: "Organisation of that autonomous system.",
    },
    FnDoc {
        name: "k8s_namespace",
        syntax: "k8s_namespace(ip, time)",
        returns: "string",
        about: "Namespace of the pod or Service that held ip at time (the `inventory` table; NULL when no binding held it).",
    },
    FnDoc {
        name: "k8s_workload",
        syntax: "k8s_workload(ip, time)",
        returns: "string",
        about: "Workload that held ip at time: Deployment, StatefulSet, DaemonSet, CronJob, ... name after owner references (a Service: its pods' workload).",
    },
    FnDoc {
        name: "k8s_workload_kind",
        syntax: "k8s_workload_kind(ip, time)",
        returns: "string",
        about: "Kind of that workload (Deployment, StatefulSet, DaemonSet, CronJob, Job, ReplicaSet, StaticPod, Pod).",
    },
    FnDoc {
        name: "k8s_pod",
        syntax: "k8s_pod(ip, time)",
        returns: "string",
        about: "Name of the pod that held ip at time (NULL when a node, Service or NIC held it).",
    },
    FnDoc {
        name: "k8s_node",
        syntax: "k8s_node(ip, time)",
        returns: "string",
        about: "Node of the pod that held ip at time, the node itself, or the AKS node of a scale-set NIC.",
    },
    FnDoc {
        name: "k8s_kind",
        syntax: "k8s_kind(ip, time)",
        returns: "string",
        about: "What held ip at time: pod, service_cluster_ip, load_balancer_ip, external_ip, node, nic.",
    },
    FnDoc {
        name: "k8s_name",
        syntax: "k8s_name(ip, time)",
        returns: "string",
        about: "Name of the holder at time: pod, Service, node or NIC.",
    },
    FnDoc {
        name: "k8s_subject",
        syntax: "k8s_subject(ip, time)",
        returns: "string",
        about: "What reports count as one source: namespace/workload of the holder at time, else node:NAME for a node's own address, else NULL.",
    },
];

static DOCS: LazyLock<HashMap<&'static str, Documentation>> = LazyLock::new(|| {
    let section = DocSection {
        include: true,
        label: "flowlake network functions",
        description: None,
    };
    FUNCTIONS
        .iter()
        .map(|f| {
            (
                f.name,
                Documentation::builder(section.clone(), f.about, f.syntax).build(),
            )
        })
        .collect()
});

/// DataFusion documentation of one of [`FUNCTIONS`].
pub(crate) fn documentation(name: &str) -> Option<&'static Documentation> {
    DOCS.get(name)
}

/// Registers every flowlake function on a context (the built-ins stay). Set functions are
/// built over `sets`, which callers load from configuration ([`IpSets::load`]); the
/// address-at-time functions over `inventory` ([`k8s::load`] reads a lake's); the location
/// functions over `geo` ([`GeoDbs::load`]).
pub fn register_all(
    ctx: &SessionContext,
    sets: Arc<IpSets>,
    inventory: Arc<InventoryIndex>,
    geo: Arc<GeoDbs>,
) {
    for f in functions::all()
        .into_iter()
        .chain(sets::all(sets))
        .chain(k8s::all(inventory))
        .chain(geo::all(geo))
    {
        ctx.register_udf(f);
    }
}

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
    /// Run queries on this Ballista cluster instead of in this process.
    pub cluster: Option<crate::cluster::Cluster>,
    /// On a cluster, how long a job may go without progress before it is cancelled and
    /// fails (`None`: [`crate::cluster::job::DEFAULT_STALL`]).
    pub stall: Option<std::time::Duration>,
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

/// Opens a session over the lake at `lake`: tables `flows` (with its `date` partitions), its
/// twins `hourly` and `coverage` (when the lake has them) and `inventory`, the views of
/// [`VIEWS`], and every flowlake function, with the IP sets of `opts` and the lake's
/// inventory.
pub async fn session(lake: &Location, opts: &QueryOptions) -> crate::Result<LakeSession> {
    let geo = Arc::new(GeoDbs::load(&opts.geo_dbs)?);
    let sets = Arc::new(IpSets::load(&opts.sets, &geo)?);
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
    let ctx = match &opts.cluster {
        None => SessionContext::new_with_config(config),
        Some(cluster) => {
            if let (Location::Local(root), crate::cluster::Cluster::Remote { .. }) = (lake, cluster)
            {
                return Err(crate::Error::Cluster {
                    cluster: cluster.to_string(),
                    message: format!(
                        "lake {} is a local directory, which the cluster's executors cannot read: use a lake on Azure Blob Storage or S3, or --cluster standalone",
                        root.display()
                    ),
                });
            }
            let stall = opts.stall.unwrap_or(crate::cluster::job::DEFAULT_STALL);
            crate::cluster::connect(cluster, config, stall).await?
        }
    };
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
    let inventory = Arc::new(k8s::load(&ctx, lake, &manifest, opts.inventory_span).await?);
    register_all(&ctx, sets.clone(), inventory.clone(), geo.clone());
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
