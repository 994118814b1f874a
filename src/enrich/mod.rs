//! Enrichment: what flowlake knows about an address beyond the flow log, as SQL functions.
//!
//! Why: the network questions ("is this peer outside?", "which /24?", "is it on the threat
//! list?", "where is it?", "which workload held it then?") need address knowledge that SQL
//! engines lack: address classes ([`functions`]), named sets and threat feeds ([`sets`],
//! [`feeds`]), location databases ([`geo`]) and the lake's inventory of Kubernetes and Azure
//! holders ([`k8s`]). Each module loads its data, answers lookups, carries the bytes a
//! cluster node rebuilds it from, and defines its functions; [`FUNCTIONS`] documents them
//! all and [`register_all`] is the one place they are added to a session
//! ([`crate::query::session_on`]). Nothing here knows about lakes' tables or clusters.

pub mod feeds;
pub mod functions;
pub mod geo;
pub mod k8s;
pub mod sets;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{DocSection, Documentation};
use datafusion::prelude::SessionContext;

pub use geo::GeoDbs;
pub use k8s::InventoryIndex;
pub use sets::{IpSet, IpSets, SetSpec};

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
/// address-at-time functions over `inventory` ([`crate::query::inventory::load`] reads a lake's); the location
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
