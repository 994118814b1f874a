//! Who held which address when: Kubernetes and Azure inventories over time.
//!
//! Why: a flow log names addresses, and in a cluster an address belongs to a pod of some
//! workload for a few hours, then to another. Answering "which workload sent it, at that
//! time" for any past window needs a history of address bindings. Operations teams already
//! produce the raw material with stock tools: `kubectl get … -o json` snapshots, `kubectl get
//! … --watch --output-watch-events -o json` streams, and `az network nic list -o json`. This
//! module reads those exact shapes ([`kube`], [`azure`]) into [`Observation`]s, merges them
//! into validity intervals ([`intervals`]), and keeps them as the lake's `inventory` table
//! ([`table`]), committed like ingest ([`import`]).
//!
//! Data flow:
//! ```text
//! files (folder, files, az://, s3://) ─▶ detect shape ─▶ kube::read / azure::read ─▶ Observations
//!   ─▶ intervals::merge (with the table's current rows and every snapshot time) ─▶ Intervals
//!   ─▶ table::write (one Parquet file) ─▶ one lake commit (file swapped, imports recorded)
//! ```

pub mod azure;
pub mod backends;
pub mod import;
pub mod intervals;
pub mod kube;
pub mod table;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use import::{ImportOptions, ImportSummary, import};
pub use intervals::Interval;

/// What an address was bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddrKind {
    /// A pod's address (`status.podIPs`); with host networking, its node's address.
    Pod,
    /// A Service's cluster IP (`spec.clusterIPs`).
    ServiceClusterIp,
    /// A LoadBalancer Service's frontend (`status.loadBalancer.ingress[].ip`).
    LoadBalancerIp,
    /// A Service's `spec.externalIPs`.
    ExternalIp,
    /// A node's address (`status.addresses`, InternalIP or ExternalIP).
    Node,
    /// A private address of an Azure NIC (`az network nic list`), with its VM.
    Nic,
}

impl AddrKind {
    /// Every kind.
    pub const ALL: [AddrKind; 6] = [
        AddrKind::Pod,
        AddrKind::ServiceClusterIp,
        AddrKind::LoadBalancerIp,
        AddrKind::ExternalIp,
        AddrKind::Node,
        AddrKind::Nic,
    ];

    /// The name used in the table and in SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            AddrKind::Pod => "pod",
            AddrKind::ServiceClusterIp => "service_cluster_ip",
            AddrKind::LoadBalancerIp => "load_balancer_ip",
            AddrKind::ExternalIp => "external_ip",
            AddrKind::Node => "node",
            AddrKind::Nic => "nic",
        }
    }

    /// Parses [`AddrKind::as_str`].
    pub fn parse(s: &str) -> Option<AddrKind> {
        AddrKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The object kind whose snapshots show this binding present or absent.
    pub fn object(self) -> &'static str {
        match self {
            AddrKind::Pod => "Pod",
            AddrKind::ServiceClusterIp | AddrKind::LoadBalancerIp | AddrKind::ExternalIp => {
                "Service"
            }
            AddrKind::Node => "Node",
            AddrKind::Nic => "NetworkInterface",
        }
    }
}

impl fmt::Display for AddrKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one binding is: the identity of an interval.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BindingKey {
    /// Cluster (or Azure estate) name given at import.
    pub cluster: String,
    /// The address, in canonical text (IPv4-mapped IPv6 as IPv4).
    pub address: String,
    /// What held it.
    pub kind: AddrKind,
    /// The holder's identity: the object's `metadata.uid` (namespace/name when absent), or
    /// the NIC's resource id.
    pub uid: String,
}

/// What is known about the holder of a binding (the latest observation wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    /// Namespace (pods and Services).
    pub namespace: Option<String>,
    /// Object name: pod, Service, node, or NIC.
    pub name: String,
    /// Workload kind after following owner references (Deployment, StatefulSet, DaemonSet,
    /// CronJob, Job, ReplicaSet, Pod for a bare pod); for a Service, its pods' workload.
    pub workload_kind: Option<String>,
    /// Workload name.
    pub workload: Option<String>,
    /// Node the pod ran on, the node itself, or the AKS node a scale-set NIC belongs to.
    pub node: Option<String>,
    /// Labels as a JSON object (sorted keys).
    pub labels: Option<String>,
    /// The pod uses its node's network namespace (its address is the node's).
    pub host_network: bool,
    /// MAC address of a NIC, `00-0D-3A-F8-78-56` form like `flows.mac`.
    pub mac: Option<String>,
    /// The VM or scale-set instance: a NIC's `virtualMachine.id`, a node's `spec.providerID`.
    pub vm: Option<String>,
    /// A Service's ports as JSON (`[{"protocol","port","targetPort","nodePort"}]`).
    pub ports: Option<String>,
}

/// One thing an input file says about a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Which binding.
    pub key: BindingKey,
    /// Its holder as this observation saw it.
    pub holder: Holder,
    /// Present at this time (µs since the epoch): the snapshot's time.
    pub seen: Option<i64>,
    /// Exact start from the object's own times (`status.startTime`, `creationTimestamp`).
    pub start: Option<i64>,
    /// Exact end from the object's own times (`deletionTimestamp`, containers' `finishedAt`).
    pub end: Option<i64>,
    /// Ended no later than this: a watch stream saw it deleted, with no time of its own.
    pub gone_by: Option<i64>,
    /// When this observation was made (which holder details are newest).
    pub observed_at: i64,
}

/// A full listing of one object kind in one cluster at one time: bindings of that kind
/// missing from it had ended by then.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Snapshot {
    /// Cluster.
    pub cluster: String,
    /// Object kind listed (`Pod`, `Service`, `Node`, `NetworkInterface`), or a namespaced
    /// kind listed in one namespace only (`Pod/shop`): it ends only that namespace's bindings.
    pub object: String,
    /// When (µs since the epoch).
    pub at: i64,
}

/// An item of an input that could not be used: the rest of the file and of the run goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InventoryReject {
    /// The file (path or URL).
    pub file: String,
    /// Byte offset of the item in the file.
    pub offset: u64,
    /// Line of the item (1-based).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for InventoryReject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} (byte {}): {}",
            self.file, self.line, self.offset, self.message
        )
    }
}

/// What reading one input file gave.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Bindings observed.
    pub observations: Vec<Observation>,
    /// Full listings it holds.
    pub snapshots: Vec<Snapshot>,
    /// Items that could not be used.
    pub rejects: Vec<InventoryReject>,
    /// Which shape the file had.
    pub shape: Shape,
    /// Address fields whose text is not an address (a redacted `***HIDDEN***`): skipped.
    pub unreadable_addresses: usize,
    /// What the file's reader noticed besides rejects (a list of a known shape that gave no
    /// binding, and why).
    pub warnings: Vec<String>,
    /// Services whose file named none of their pods ([`backends::resolve`]).
    pub pending: Vec<backends::Pending>,
    /// The EndpointSlices it holds, for Services in other files.
    pub slices: Vec<backends::Slice>,
}

impl Parsed {
    /// The file was refused as a whole: nothing read, not even a listing.
    pub fn refused(&self) -> bool {
        self.observations.is_empty() && self.snapshots.is_empty() && !self.rejects.is_empty()
    }
}

/// The shapes of inventory files flowlake reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// `kubectl get … -o json`: a `List` (or one object).
    #[default]
    KubectlList,
    /// `kubectl get … --watch --output-watch-events -o json`: `{"type","object"}` events.
    KubectlWatch,
    /// `az network nic list -o json` or `az vmss nic list -o json`: an array of NICs; or an
    /// ARM REST body of them (`{"value": [...]}`).
    AzNicList,
}

impl Shape {
    /// Its key in summaries and the manifest's import log (its serde name).
    pub fn name(self) -> &'static str {
        match self {
            Shape::KubectlList => "kubectl_list",
            Shape::KubectlWatch => "kubectl_watch",
            Shape::AzNicList => "az_nic_list",
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Shape::KubectlList => "kubectl list",
            Shape::KubectlWatch => "kubectl watch stream",
            Shape::AzNicList => "az nic list",
        })
    }
}

/// Reads one inventory file of any supported shape (told from its content): JSON, or the
/// same objects as YAML (`kubectl … -o yaml`), read as their JSON form. `at` is the snapshot
/// time (`--at`, or the file's modification time), µs since the epoch.
pub fn read(file: &str, bytes: &[u8], cluster: &str, at: i64) -> Parsed {
    let first = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| bytes[i]);
    match first {
        Some(b'[') => azure::read(file, bytes, cluster, at),
        Some(b'{') => kube::read(file, bytes, cluster, at),
        Some(_) => match yaml_as_json(bytes) {
            // Positions of rejects are then those of the JSON form.
            Ok(json) => read(&format!("{file} (YAML, read as JSON)"), &json, cluster, at),
            Err(why) => Parsed {
                rejects: vec![reject(
                    file,
                    bytes,
                    0,
                    &format!(
                        "not an inventory file: expected a kubectl List or watch stream, or an az NIC list, as JSON or YAML ({why})"
                    ),
                )],
                ..Parsed::default()
            },
        },
        None => Parsed {
            rejects: vec![reject(file, bytes, 0, "not an inventory file: it is empty")],
            ..Parsed::default()
        },
    }
}

/// The YAML documents of `bytes` as JSON text, one per line (a `List`, a NIC list, or the
/// events of a watch stream); an error when a document is not a mapping or a sequence.
fn yaml_as_json(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for doc in serde_norway::Deserializer::from_slice(bytes) {
        let v = serde_json::Value::deserialize(doc).map_err(|e| e.to_string())?;
        match v {
            serde_json::Value::Null => continue,
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                serde_json::to_writer(&mut out, &v).map_err(|e| e.to_string())?;
                out.push(b'\n');
            }
            _ => return Err("a YAML document that is neither a mapping nor a list".into()),
        }
    }
    match out.is_empty() {
        true => Err("no YAML document".into()),
        false => Ok(out),
    }
}

/// A reject at byte `offset` of `bytes`.
pub(crate) fn reject(file: &str, bytes: &[u8], offset: usize, message: &str) -> InventoryReject {
    let offset = offset.min(bytes.len());
    InventoryReject {
        file: file.to_string(),
        offset: offset as u64,
        line: 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count() as u64,
        message: message.to_string(),
    }
}

/// Canonical text of an address (IPv4-mapped IPv6 folded to IPv4), or `None` for text that
/// is not one.
pub fn canonical_ip(s: &str) -> Option<String> {
    crate::addr::IpBits::parse(s.as_bytes()).map(|b| b.to_ip().to_string())
}

/// Labels as a JSON object with sorted keys, `None` when there are none.
pub(crate) fn labels_json(labels: Option<&BTreeMap<String, String>>) -> Option<String> {
    labels
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::to_string(l).expect("labels serialise"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_names_are_their_serde_names() {
        for s in [Shape::KubectlList, Shape::KubectlWatch, Shape::AzNicList] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
    }
}
