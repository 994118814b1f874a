//! The AKS cluster behind the scenario's NICs, and the inventory files its operators would have.
//!
//! Why: the reports name workloads only if the inventory and the flows tell one consistent
//! story, and the hard cases (a rolling restart's new addresses, a freed address reused by
//! another workload the same day, pod egress leaving as its node's address) only show up when
//! both come from the same model. Every generated NIC is a node of cluster [`CLUSTER`]: even
//! NICs form a flat Azure CNI pool (pods take addresses from the VNet, preassigned on the
//! node's NIC, so their own addresses are in the flow logs), odd NICs an Azure CNI Overlay pool
//! (pod addresses are private to the cluster; pod egress leaves as the node's address). The
//! model holds every pod's lifetime and address; [`super::scenario`] sends the flows from the
//! address the sending pod held at that moment, and [`write_files`] writes what stock tools
//! would have captured:
//! - `k8s/snapshot-<time>.json`: `kubectl get pods,services,nodes,endpointslices,replicasets,jobs
//!   -A -o json` every six hours (the file's modification time is the snapshot time);
//! - `k8s/watch-pods-<day>.json`: a day of `kubectl get pods -A --watch --output-watch-events
//!   -o json` (it opens with an `ADDED` event per existing pod, as kubectl does);
//! - `k8s/nics.json`: `az vmss nic list -o json` for both pools (flat nodes' NICs carry their
//!   preassigned pod addresses as secondary IP configurations).

use std::fmt::Write as _;
use std::path::Path;

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::error::{IoContext, Result};

/// The cluster name the answer key and the tests import the files as.
pub const CLUSTER: &str = "aks-prod";
/// The public frontend of Service `shop/web` (HTTPS for customers: expected).
pub const WEB_LB: &str = "20.31.200.16";
/// The public frontend of Service `data/postgres-public` (a database on the internet: not).
pub const POSTGRES_LB: &str = "20.31.200.17";
/// Folder of the scenario directory the inventory files go to.
pub const DIR: &str = "k8s";

const RG: &str = "MC_platform_aks-prod_westeurope";
const FLAT_POOL: &str = "aks-flat-12345678-vmss";
const OVERLAY_POOL: &str = "aks-overlay-12345678-vmss";
/// Pod addresses a flat-CNI node reserves on its NIC (its max pods).
const MAX_PODS: u32 = 30;
const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// Hours of the day the snapshots are taken.
const SNAPSHOT_HOURS: [i64; 4] = [0, 6, 12, 18];

/// How a node's pods reach the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// Azure CNI: pod addresses from the VNet, visible in the flow logs.
    Flat,
    /// Azure CNI Overlay: pod egress leaves as the node's address.
    Overlay,
}

/// The network of node `node` (NIC index): even NICs flat, odd NICs overlay.
pub fn net_of(node: u32) -> Net {
    if node.is_multiple_of(2) {
        Net::Flat
    } else {
        Net::Overlay
    }
}

/// The node name of NIC `node`: its scale set and instance number in base 36 on six digits.
pub fn node_name(node: u32) -> String {
    let pool = match net_of(node) {
        Net::Flat => FLAT_POOL,
        Net::Overlay => OVERLAY_POOL,
    };
    format!("{pool}{}", base36(u64::from(node / 2), 6))
}

/// The address of node `node` (its NIC's).
fn node_ip(node: u32) -> String {
    std::net::Ipv4Addr::from(super::nic_ip(node)).to_string()
}

fn base36(mut n: u64, width: usize) -> String {
    let mut d = vec![b'0'; width];
    for c in d.iter_mut().rev() {
        *c = b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8(d).expect("ascii")
}

/// The scenario's workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum W {
    /// `shop/web` (Deployment, two replicas, behind LoadBalancer Service `shop/web`).
    Web,
    /// `shop/cart` (Deployment), called by `web`.
    Cart,
    /// `shop/crm-sync` (Deployment): a big daily sync to a SaaS.
    CrmSync,
    /// `analytics/exporter` (Deployment): hourly exports; the odd-port upload.
    Exporter,
    /// `data/postgres` (StatefulSet), behind LoadBalancer Service `data/postgres-public`.
    Postgres,
    /// `data/backup` (CronJob): the nightly backup.
    Backup,
    /// `media/transcoder` (Deployment, overlay pool): the DNS tunnelling.
    Transcoder,
    /// `ops/toolbox` (Deployment, overlay pool): the connection to a threat-listed address.
    Toolbox,
    /// `billing/invoice-sync` (Deployment created on the incident day, on a freed address).
    InvoiceSync,
    /// `kube-system/coredns` (Deployment, overlay pool).
    CoreDns,
    /// `kube-system/kube-proxy` (DaemonSet, host network).
    KubeProxy,
    /// `monitoring/node-exporter` (DaemonSet, host network).
    NodeExporter,
}

/// What a workload is.
pub struct Spec {
    /// Namespace.
    pub namespace: &'static str,
    /// Name.
    pub name: &'static str,
    /// Controller kind.
    pub kind: &'static str,
    image: &'static str,
    port: Option<u16>,
    host_network: bool,
}

impl W {
    /// What the workload is.
    pub fn spec(self) -> Spec {
        let s = |namespace, name, kind, image, port, host_network| Spec {
            namespace,
            name,
            kind,
            image,
            port,
            host_network,
        };
        match self {
            W::Web => s(
                "shop",
                "web",
                "Deployment",
                "shop/web:2.3.1",
                Some(8080),
                false,
            ),
            W::Cart => s(
                "shop",
                "cart",
                "Deployment",
                "shop/cart:1.9.0",
                Some(8080),
                false,
            ),
            W::CrmSync => s(
                "shop",
                "crm-sync",
                "Deployment",
                "shop/crm-sync:4.0.2",
                None,
                false,
            ),
            W::Exporter => s(
                "analytics",
                "exporter",
                "Deployment",
                "analytics/exporter:0.8.5",
                None,
                false,
            ),
            W::Postgres => s(
                "data",
                "postgres",
                "StatefulSet",
                "postgres:16.4",
                Some(5432),
                false,
            ),
            W::Backup => s("data", "backup", "CronJob", "data/backup:3.1", None, false),
            W::Transcoder => s(
                "media",
                "transcoder",
                "Deployment",
                "media/transcoder:5.2",
                None,
                false,
            ),
            W::Toolbox => s(
                "ops",
                "toolbox",
                "Deployment",
                "nicolaka/netshoot:v0.13",
                None,
                false,
            ),
            W::InvoiceSync => s(
                "billing",
                "invoice-sync",
                "Deployment",
                "billing/invoice-sync:1.0.0",
                None,
                false,
            ),
            W::CoreDns => s(
                "kube-system",
                "coredns",
                "Deployment",
                "mcr.microsoft.com/oss/v2/kubernetes/coredns:v1.12.1",
                Some(53),
                false,
            ),
            W::KubeProxy => s(
                "kube-system",
                "kube-proxy",
                "DaemonSet",
                "mcr.microsoft.com/oss/kubernetes/kube-proxy:v1.33.2",
                None,
                true,
            ),
            W::NodeExporter => s(
                "monitoring",
                "node-exporter",
                "DaemonSet",
                "quay.io/prometheus/node-exporter:v1.9.1",
                Some(9100),
                true,
            ),
        }
    }
}

/// Where the workloads with their own addresses run: (workload, node, slot). A slot picks the
/// pod's place in its node's address rotation, so pods on one node never share an address.
const PLACEMENTS: [(W, u32, u32); 10] = [
    (W::Web, 0, 0),
    (W::Backup, 0, 1),
    (W::CrmSync, 0, 2),
    (W::CoreDns, 1, 0),
    (W::Exporter, EXPORTER_NODE, 0),
    (W::Cart, 2, 1),
    (W::Transcoder, TRANSCODER_NODE, 0),
    (W::Web, INVOICE_NODE, 0),
    (W::Postgres, POSTGRES_NODE, 0),
    (W::Toolbox, TOOLBOX_NODE, 0),
];
/// The node of `analytics/exporter` (flat).
pub const EXPORTER_NODE: u32 = 2;
/// The node of `media/transcoder` (overlay).
pub const TRANSCODER_NODE: u32 = 3;
/// Where `billing/invoice-sync` is created on the incident day (flat), on the address the
/// `web` pod of this node gave up at that day's rolling restart.
pub const INVOICE_NODE: u32 = 4;
/// The node whose SSH the broad rule exposes (overlay; no pod involved).
pub const SSH_NODE: u32 = 5;
/// The node of `data/postgres` (flat).
pub const POSTGRES_NODE: u32 = 6;
/// The node of `ops/toolbox` (overlay).
pub const TOOLBOX_NODE: u32 = 7;
/// When on the incident day `billing/invoice-sync` is created.
const INVOICE_CREATED: i64 = 20 * HOUR;

/// The address of a pod on `node` in `slot` at its `rotation`-th placement: flat nodes hand out
/// their preassigned block in turn (a rolling restart moves to the next address; an address
/// comes back after ten rotations), overlay nodes their /24 of the overlay range.
fn pod_addr(node: u32, slot: u32, rotation: u32) -> String {
    let k = (slot + 3 * rotation) % MAX_PODS;
    match net_of(node) {
        Net::Flat => format!(
            "10.224.{}.{}",
            128 + node / 8,
            (node % 8) * MAX_PODS + 1 + k
        ),
        Net::Overlay => format!("10.244.{}.{}", node / 2, 2 + k),
    }
}

/// One pod and its life.
#[derive(Debug, Clone)]
pub struct Pod {
    /// Its workload.
    pub w: W,
    /// The node (NIC index) it runs on.
    pub node: u32,
    /// Pod name.
    pub name: String,
    uid: String,
    /// Controller owner: kind, name.
    owner: (&'static str, String),
    /// `pod-template-hash` of a Deployment's pod.
    hash: Option<String>,
    /// Its address (the node's with host networking).
    pub ip: String,
    created_ms: i64,
    start_ms: i64,
    /// When a Job's pod completed.
    finished_ms: Option<i64>,
    /// When it was deleted.
    deleted_ms: Option<i64>,
}

impl Pod {
    /// When it began to hold its address.
    pub fn since_ms(&self) -> i64 {
        self.start_ms
    }
    /// When it gave its address up (`i64::MAX` while it holds it).
    pub fn until_ms(&self) -> i64 {
        self.finished_ms.or(self.deleted_ms).unwrap_or(i64::MAX)
    }
    /// Whether the pod held its address at `t`.
    pub fn holds_at(&self, t: i64) -> bool {
        self.start_ms <= t && self.finished_ms.or(self.deleted_ms).is_none_or(|e| t < e)
    }
    fn exists_at(&self, t: i64) -> bool {
        self.created_ms <= t && self.deleted_ms.is_none_or(|e| t < e)
    }
}

/// The cluster over the generated days.
pub struct Cluster {
    start_ms: i64,
    days: u32,
    nodes: u32,
    /// Every pod.
    pub pods: Vec<Pod>,
}

/// Deterministic text from the alphabet Kubernetes uses for generated names.
fn name_suffix(seed: u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5_5A5A_1234_5678;
    (0..len)
        .map(|_| {
            x ^= x >> 29;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            ALPHABET[(x >> 33) as usize % ALPHABET.len()] as char
        })
        .collect()
}

fn seed_of(parts: &[&str], n: i64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(format!("{}#{n}", parts.join("/")).as_bytes())
}

fn uid(n: usize) -> String {
    format!("7e1c0a5f-{:04x}-4d2b-9a6e-{:012x}", n >> 16 & 0xffff, n)
}

impl Cluster {
    /// The cluster for `days` days from `start` over `nodes` NICs (at least 8).
    pub fn new(start: NaiveDate, days: u32, nodes: u32) -> Cluster {
        let start_ms = start
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis();
        let mut pods = Vec::new();
        let push = |pods: &mut Vec<Pod>, mut p: Pod| {
            p.uid = uid(pods.len() + 1);
            pods.push(p);
        };
        let week_before = start_ms - 7 * DAY;
        for (w, node, slot) in PLACEMENTS {
            let spec = w.spec();
            match spec.kind {
                // A rolling restart every day at noon (a new ReplicaSet, a new pod, a new
                // address); the old pod goes 30 s after the new one started.
                "Deployment" => {
                    for g in -1..i64::from(days) {
                        let at =
                            |g: i64| start_ms + g * DAY + 12 * HOUR + i64::from(slot) * 5 * MIN;
                        let hash = name_suffix(seed_of(&[spec.namespace, spec.name], g), 10);
                        let rs = format!("{}-{hash}", spec.name);
                        let suffix = name_suffix(seed_of(&[&rs], i64::from(node)), 5);
                        let next = g + 1;
                        push(
                            &mut pods,
                            Pod {
                                w,
                                node,
                                name: format!("{rs}-{suffix}"),
                                uid: String::new(),
                                owner: ("ReplicaSet", rs),
                                hash: Some(hash),
                                ip: pod_addr(node, slot, (g + 1) as u32),
                                created_ms: at(g) - 2_000,
                                start_ms: at(g),
                                finished_ms: None,
                                deleted_ms: (next < i64::from(days)).then(|| at(next) + 30_000),
                            },
                        );
                    }
                }
                "StatefulSet" => push(
                    &mut pods,
                    Pod {
                        w,
                        node,
                        name: format!("{}-0", spec.name),
                        uid: String::new(),
                        owner: ("StatefulSet", spec.name.to_string()),
                        hash: None,
                        ip: pod_addr(node, slot, 0),
                        created_ms: week_before - 2_000,
                        start_ms: week_before,
                        finished_ms: None,
                        deleted_ms: None,
                    },
                ),
                // Nightly at 01:00: a Job named <cronjob>-<scheduled minutes>, done in 40
                // minutes, its pod removed an hour later (ttlSecondsAfterFinished).
                _ => {
                    for d in 0..days {
                        let sched = start_ms + i64::from(d) * DAY + HOUR;
                        let job = format!("{}-{}", spec.name, sched / MIN);
                        let suffix = name_suffix(seed_of(&[&job], 0), 5);
                        push(
                            &mut pods,
                            Pod {
                                w,
                                node,
                                name: format!("{job}-{suffix}"),
                                uid: String::new(),
                                owner: ("Job", job),
                                hash: None,
                                ip: pod_addr(node, slot, d + 1),
                                created_ms: sched + 1_000,
                                start_ms: sched + 2_000,
                                finished_ms: Some(sched + 40 * MIN),
                                deleted_ms: Some(sched + 100 * MIN),
                            },
                        );
                    }
                }
            }
        }
        // The incident day's new workload, on the address web's pod on its node gave up at
        // noon (web's pod of generation `last - 1` had rotation `last`).
        let last = i64::from(days) - 1;
        let spec = W::InvoiceSync.spec();
        let hash = name_suffix(seed_of(&[spec.namespace, spec.name], 0), 10);
        let rs = format!("{}-{hash}", spec.name);
        let created = start_ms + last * DAY + INVOICE_CREATED;
        push(
            &mut pods,
            Pod {
                w: W::InvoiceSync,
                node: INVOICE_NODE,
                name: format!("{rs}-{}", name_suffix(seed_of(&[&rs], 0), 5)),
                uid: String::new(),
                owner: ("ReplicaSet", rs),
                hash: Some(hash),
                ip: pod_addr(INVOICE_NODE, 0, last as u32),
                created_ms: created,
                start_ms: created + 3_000,
                finished_ms: None,
                deleted_ms: None,
            },
        );
        // Host-network DaemonSets on every node: the node's own address.
        for w in [W::KubeProxy, W::NodeExporter] {
            let spec = w.spec();
            for node in 0..nodes {
                push(
                    &mut pods,
                    Pod {
                        w,
                        node,
                        name: format!(
                            "{}-{}",
                            spec.name,
                            name_suffix(seed_of(&[spec.name], i64::from(node)), 5)
                        ),
                        uid: String::new(),
                        owner: ("DaemonSet", spec.name.to_string()),
                        hash: None,
                        ip: node_ip(node),
                        created_ms: week_before - 2_000,
                        start_ms: week_before,
                        finished_ms: None,
                        deleted_ms: None,
                    },
                );
            }
        }
        Cluster {
            start_ms,
            days,
            nodes,
            pods,
        }
    }

    /// The pod of `w` on `node` holding an address at `t` (the newest during a restart).
    pub fn pod_at(&self, w: W, node: u32, t: i64) -> Option<&Pod> {
        self.pods
            .iter()
            .filter(|p| p.w == w && p.node == node && p.holds_at(t))
            .max_by_key(|p| p.start_ms)
    }

    /// The address `w`'s traffic on `node` leaves with at `t`: its pod's own address on a
    /// flat node, the node's on an overlay node; `None` when no pod of it runs there then.
    pub fn source_at(&self, w: W, node: u32, t: i64) -> Option<String> {
        let pod = self.pod_at(w, node, t)?;
        Some(match net_of(node) {
            Net::Flat => pod.ip.clone(),
            Net::Overlay => node_ip(node),
        })
    }

    /// The address `billing/invoice-sync` took over, and the pod of `web` that held it
    /// earlier on the incident day.
    pub fn reused(&self) -> (&Pod, &Pod) {
        let invoice = self
            .pods
            .iter()
            .find(|p| p.w == W::InvoiceSync)
            .expect("the incident day's workload");
        let earlier = self
            .pods
            .iter()
            .find(|p| p.w == W::Web && p.ip == invoice.ip && p.start_ms < invoice.start_ms)
            .expect("web held the address before");
        (invoice, earlier)
    }

    /// Writes the inventory files into `dir`/[`DIR`] (see the module docs).
    pub fn write_files(&self, dir: &Path) -> Result<()> {
        let out = dir.join(DIR);
        std::fs::create_dir_all(&out).ctx("create", &out)?;
        let write = |name: String, text: String, mtime_ms: i64| -> Result<()> {
            let p = out.join(name);
            std::fs::write(&p, text).ctx("write", &p)?;
            let f = std::fs::File::options()
                .write(true)
                .open(&p)
                .ctx("open", &p)?;
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(mtime_ms as u64);
            f.set_modified(t).ctx("set the modification time of", &p)
        };
        for d in 0..i64::from(self.days) {
            let day = self.start_ms + d * DAY;
            for h in SNAPSHOT_HOURS {
                let t = day + h * HOUR;
                write(
                    format!("snapshot-{}.json", stamp(t).replace(':', "")),
                    pretty(&self.snapshot(t)),
                    t,
                )?;
            }
            let end = day + DAY;
            write(
                format!("watch-pods-{}.json", &stamp(day)[..10]),
                self.watch(day, end),
                end,
            )?;
        }
        write("nics.json".into(), pretty(&self.nics()), self.start_ms)
    }

    /// `kubectl get pods,services,nodes,endpointslices,replicasets,jobs -A -o json` at `t`.
    fn snapshot(&self, t: i64) -> Value {
        let live: Vec<&Pod> = self.pods.iter().filter(|p| p.exists_at(t)).collect();
        let mut items: Vec<Value> = live.iter().map(|p| self.pod_json(p, t)).collect();
        for s in services() {
            items.push(s.json(self.start_ms));
        }
        for n in 0..self.nodes {
            items.push(self.node_json(n));
        }
        for s in services().iter().filter(|s| s.selects.is_some()) {
            items.push(s.slice_json(&live, t));
        }
        let mut owners: Vec<(&Pod, &'static str)> = Vec::new();
        for p in &live {
            if matches!(p.owner.0, "ReplicaSet" | "Job")
                && !owners.iter().any(|(o, _)| o.owner == p.owner)
            {
                owners.push((p, p.owner.0));
            }
        }
        for (p, kind) in owners {
            items.push(owner_json(p, kind));
        }
        json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}})
    }

    /// A day of `kubectl get pods -A --watch --output-watch-events -o json` from `from`.
    fn watch(&self, from: i64, until: i64) -> String {
        let mut events: Vec<(i64, usize, &'static str, Value)> = Vec::new();
        for (i, p) in self.pods.iter().enumerate() {
            if p.exists_at(from) {
                events.push((from, i, "ADDED", self.pod_json(p, from)));
            }
            let mut at = |t: i64, what: &'static str, view: i64| {
                if (from..until).contains(&t) && !(t == from && what == "ADDED") {
                    events.push((t, i, what, self.pod_json(p, view)));
                }
            };
            at(p.created_ms, "ADDED", p.created_ms);
            at(p.start_ms, "MODIFIED", p.start_ms);
            if let Some(f) = p.finished_ms {
                at(f, "MODIFIED", f);
            }
            if let Some(d) = p.deleted_ms {
                at(d - 30_000, "MODIFIED", d);
                at(d, "DELETED", d);
            }
        }
        events.sort_by_key(|(t, i, _, _)| (*t, *i));
        let mut s = String::new();
        for (_, _, what, object) in events {
            let _ = writeln!(
                s,
                "{}",
                serde_json::to_string_pretty(&json!({"type": what, "object": object}))
                    .expect("JSON of built values")
            );
        }
        s
    }

    /// A pod as the API shows it at `t` (`t` at or past its deletion: with `deletionTimestamp`).
    fn pod_json(&self, p: &Pod, t: i64) -> Value {
        let spec = p.w.spec();
        let mut labels = serde_json::Map::new();
        labels.insert("app".into(), spec.name.into());
        if let Some(h) = &p.hash {
            labels.insert("pod-template-hash".into(), h.as_str().into());
        }
        match p.owner.0 {
            "StatefulSet" => {
                labels.insert(
                    "statefulset.kubernetes.io/pod-name".into(),
                    p.name.as_str().into(),
                );
            }
            "Job" => {
                labels.insert("job-name".into(), p.owner.1.as_str().into());
            }
            "DaemonSet" => {
                labels.insert("controller-revision-hash".into(), "6b8c9d7f5".into());
            }
            _ => {}
        }
        let api = match p.owner.0 {
            "Job" => "batch/v1",
            _ => "apps/v1",
        };
        let mut meta = json!({
            "creationTimestamp": stamp(p.created_ms),
            "labels": labels,
            "name": p.name,
            "namespace": spec.namespace,
            "ownerReferences": [{
                "apiVersion": api, "blockOwnerDeletion": true, "controller": true,
                "kind": p.owner.0, "name": p.owner.1, "uid": uid(owner_number(&p.owner.1)),
            }],
            "resourceVersion": (p.created_ms / 1000 % 10_000_000).to_string(),
            "uid": p.uid,
        });
        if let Some(d) = p.deleted_ms.filter(|d| t >= *d) {
            meta["deletionTimestamp"] = stamp(d).into();
            meta["deletionGracePeriodSeconds"] = 30.into();
        }
        let node_ip = node_ip(p.node);
        let mut container = json!({"image": spec.image, "name": spec.name});
        if let Some(port) = spec.port {
            container["ports"] = json!([{"containerPort": port, "protocol": "TCP"}]);
        }
        let mut pod_spec = json!({
            "containers": [container],
            "nodeName": node_name(p.node),
            "restartPolicy": if p.owner.0 == "Job" { "OnFailure" } else { "Always" },
            "serviceAccountName": "default",
        });
        if spec.host_network {
            pod_spec["hostNetwork"] = true.into();
            pod_spec["dnsPolicy"] = "ClusterFirstWithHostNet".into();
        }
        let status = if t < p.start_ms {
            json!({"phase": "Pending", "qosClass": "Burstable"})
        } else {
            let done = p.finished_ms.filter(|f| t >= *f);
            let state = match done {
                Some(f) => json!({"terminated": {
                    "exitCode": 0, "reason": "Completed",
                    "startedAt": stamp(p.start_ms + 1_000), "finishedAt": stamp(f),
                }}),
                None => json!({"running": {"startedAt": stamp(p.start_ms + 1_000)}}),
            };
            json!({
                "containerStatuses": [{
                    "image": spec.image, "name": spec.name, "ready": done.is_none(),
                    "restartCount": 0, "started": done.is_none(), "state": state,
                }],
                "hostIP": node_ip, "hostIPs": [{"ip": node_ip}],
                "phase": if done.is_some() { "Succeeded" } else { "Running" },
                "podIP": p.ip, "podIPs": [{"ip": p.ip}],
                "qosClass": "Burstable",
                "startTime": stamp(p.start_ms),
            })
        };
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec, "status": status})
    }

    fn node_json(&self, n: u32) -> Value {
        let name = node_name(n);
        let pool = match net_of(n) {
            Net::Flat => "flat",
            Net::Overlay => "overlay",
        };
        let ip = node_ip(n);
        let mut spec = json!({"providerID": format!(
            "azure:///subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachineScaleSets/{}/virtualMachines/{}",
            super::SUB, RG.to_ascii_lowercase(), pool_of(n), n / 2
        )});
        if net_of(n) == Net::Overlay {
            spec["podCIDR"] = format!("10.244.{}.0/24", n / 2).into();
            spec["podCIDRs"] = json!([format!("10.244.{}.0/24", n / 2)]);
        }
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "creationTimestamp": stamp(self.start_ms - 30 * DAY),
                "labels": {
                    "agentpool": pool, "kubernetes.azure.com/agentpool": pool,
                    "kubernetes.azure.com/network-plugin-mode": if pool == "overlay" { "overlay" } else { "" },
                    "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                },
                "name": name,
                "uid": uid(0x4000 + n as usize),
            },
            "spec": spec,
            "status": {"addresses": [
                {"address": ip, "type": "InternalIP"},
                {"address": name, "type": "Hostname"},
            ]},
        })
    }

    /// `az vmss nic list -o json` for both scale sets.
    fn nics(&self) -> Value {
        let nics: Vec<Value> = (0..self.nodes)
            .map(|n| {
                let vmss = pool_of(n);
                let vm = format!(
                    "/subscriptions/{}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachineScaleSets/{vmss}/virtualMachines/{}",
                    super::SUB,
                    n / 2
                );
                let nic_id = format!("{vm}/networkInterfaces/{vmss}");
                let mut addrs = vec![node_ip(n)];
                if net_of(n) == Net::Flat {
                    addrs.extend((0..MAX_PODS).map(|k| pod_addr(n, k, 0)));
                }
                let configs: Vec<Value> = addrs
                    .iter()
                    .enumerate()
                    .map(|(k, a)| {
                        json!({
                            "id": format!("{nic_id}/ipConfigurations/ipconfig{}", k + 1),
                            "name": format!("ipconfig{}", k + 1),
                            "primary": k == 0,
                            "privateIPAddress": a,
                            "privateIPAddressVersion": "IPv4",
                            "privateIPAllocationMethod": "Dynamic",
                            "provisioningState": "Succeeded",
                            "resourceGroup": RG,
                            "subnet": {"id": format!(
                                "/subscriptions/{}/resourceGroups/platform-network/providers/Microsoft.Network/virtualNetworks/aks-vnet-{}/subnets/aks-nodes",
                                super::SUB, n % 2
                            )},
                        })
                    })
                    .collect();
                let mac = format!("{:06X}", 0x10_0000 + n);
                json!({
                    "dnsSettings": {"appliedDnsServers": [], "dnsServers": []},
                    "enableAcceleratedNetworking": true,
                    "enableIPForwarding": true,
                    "id": nic_id,
                    "ipConfigurations": configs,
                    "macAddress": format!("00-0D-3A-{}-{}-{}", &mac[0..2], &mac[2..4], &mac[4..6]),
                    "name": vmss,
                    "networkSecurityGroup": {"id": format!(
                        "/subscriptions/{}/resourceGroups/{RG}/providers/Microsoft.Network/networkSecurityGroups/aks-agentpool-{:02}-nsg",
                        super::SUB, n % 4
                    )},
                    "primary": true,
                    "provisioningState": "Succeeded",
                    "resourceGroup": RG,
                    "tags": {"aks-managed-poolName": match net_of(n) { Net::Flat => "flat", Net::Overlay => "overlay" }},
                    "virtualMachine": {"id": vm, "resourceGroup": RG},
                })
            })
            .collect();
        Value::Array(nics)
    }
}

fn pool_of(n: u32) -> &'static str {
    match net_of(n) {
        Net::Flat => FLAT_POOL,
        Net::Overlay => OVERLAY_POOL,
    }
}

/// A stable number for an owner object's uid.
fn owner_number(name: &str) -> usize {
    (xxhash_rust::xxh3::xxh3_64(name.as_bytes()) & 0xffff_ffff) as usize | 0x1_0000_0000
}

/// The ReplicaSet or Job owning `p`, with its own owner (the Deployment or CronJob).
fn owner_json(p: &Pod, kind: &'static str) -> Value {
    let spec = p.w.spec();
    let (api, owner_kind, owner_api) = match kind {
        "Job" => ("batch/v1", "CronJob", "batch/v1"),
        _ => ("apps/v1", "Deployment", "apps/v1"),
    };
    let mut labels = json!({"app": spec.name});
    if let Some(h) = &p.hash {
        labels["pod-template-hash"] = h.as_str().into();
    }
    json!({
        "apiVersion": api, "kind": kind,
        "metadata": {
            "creationTimestamp": stamp(p.created_ms - 1_000),
            "labels": labels,
            "name": p.owner.1,
            "namespace": spec.namespace,
            "ownerReferences": [{
                "apiVersion": owner_api, "blockOwnerDeletion": true, "controller": true,
                "kind": owner_kind, "name": spec.name, "uid": uid(owner_number(spec.name)),
            }],
            "uid": uid(owner_number(&p.owner.1)),
        },
        "spec": {"selector": {"matchLabels": labels}},
        "status": {},
    })
}

/// A Service of the scenario.
struct Svc {
    namespace: &'static str,
    name: &'static str,
    cluster_ip: &'static str,
    /// (port, target port, node port, protocol).
    ports: &'static [(u16, u16, Option<u16>, &'static str)],
    lb: Option<&'static str>,
    /// The workload its selector picks.
    selects: Option<W>,
}

fn services() -> [Svc; 5] {
    [
        Svc {
            namespace: "default",
            name: "kubernetes",
            cluster_ip: "10.0.0.1",
            ports: &[(443, 443, None, "TCP")],
            lb: None,
            selects: None,
        },
        Svc {
            namespace: "kube-system",
            name: "kube-dns",
            cluster_ip: "10.0.0.10",
            ports: &[(53, 53, None, "UDP"), (53, 53, None, "TCP")],
            lb: None,
            selects: Some(W::CoreDns),
        },
        Svc {
            namespace: "shop",
            name: "web",
            cluster_ip: "10.0.12.34",
            ports: &[(443, 8080, Some(31443), "TCP")],
            lb: Some(WEB_LB),
            selects: Some(W::Web),
        },
        Svc {
            namespace: "shop",
            name: "cart",
            cluster_ip: "10.0.40.11",
            ports: &[(8080, 8080, None, "TCP")],
            lb: None,
            selects: Some(W::Cart),
        },
        Svc {
            namespace: "data",
            name: "postgres-public",
            cluster_ip: "10.0.77.5",
            ports: &[(5432, 5432, Some(30432), "TCP")],
            lb: Some(POSTGRES_LB),
            selects: Some(W::Postgres),
        },
    ]
}

impl Svc {
    fn json(&self, start_ms: i64) -> Value {
        let ports: Vec<Value> = self
            .ports
            .iter()
            .map(|(port, target, node_port, proto)| {
                let mut p = json!({
                    "name": format!("{}-{port}", proto.to_ascii_lowercase()),
                    "port": port, "protocol": proto, "targetPort": target,
                });
                if let Some(np) = node_port {
                    p["nodePort"] = (*np).into();
                }
                p
            })
            .collect();
        let mut spec = json!({
            "clusterIP": self.cluster_ip, "clusterIPs": [self.cluster_ip],
            "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack", "ports": ports,
            "sessionAffinity": "None",
            "type": if self.lb.is_some() { "LoadBalancer" } else { "ClusterIP" },
        });
        if let Some(w) = self.selects {
            spec["selector"] = json!({"app": w.spec().name});
        }
        if self.lb.is_some() {
            spec["externalTrafficPolicy"] = "Cluster".into();
            spec["allocateLoadBalancerNodePorts"] = true.into();
        }
        let status = match self.lb {
            Some(ip) => json!({"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}),
            None => json!({"loadBalancer": {}}),
        };
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {
                "creationTimestamp": stamp(start_ms - 30 * DAY),
                "name": self.name, "namespace": self.namespace,
                "uid": uid(owner_number(&format!("svc/{}/{}", self.namespace, self.name))),
            },
            "spec": spec,
            "status": status,
        })
    }

    /// The Service's EndpointSlice at `t`: the ready pods its selector picks.
    fn slice_json(&self, live: &[&Pod], t: i64) -> Value {
        let w = self.selects.expect("a selector");
        let endpoints: Vec<Value> = live
            .iter()
            .filter(|p| p.w == w && p.holds_at(t))
            .map(|p| {
                json!({
                    "addresses": [p.ip],
                    "conditions": {"ready": true, "serving": true, "terminating": false},
                    "nodeName": node_name(p.node),
                    "targetRef": {"kind": "Pod", "name": p.name, "namespace": self.namespace, "uid": p.uid},
                })
            })
            .collect();
        let ports: Vec<Value> = self
            .ports
            .iter()
            .map(|(port, target, _, proto)| {
                json!({"name": format!("{}-{port}", proto.to_ascii_lowercase()), "port": target, "protocol": proto})
            })
            .collect();
        json!({
            "addressType": "IPv4",
            "apiVersion": "discovery.k8s.io/v1",
            "endpoints": endpoints,
            "kind": "EndpointSlice",
            "metadata": {
                "generateName": format!("{}-", self.name),
                "labels": {
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                    "kubernetes.io/service-name": self.name,
                },
                "name": format!("{}-{}", self.name, name_suffix(seed_of(&[self.name], 0), 5)),
                "namespace": self.namespace,
                "uid": uid(owner_number(&format!("slice/{}/{}", self.namespace, self.name))),
            },
            "ports": ports,
        })
    }
}

/// RFC 3339 in seconds, as the API writes times.
fn stamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("time in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("JSON of built values") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        Cluster::new(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(), 4, 8)
    }

    #[test]
    fn pods_on_a_node_never_share_an_address() {
        let c = cluster();
        for t in (c.start_ms..c.start_ms + 4 * DAY).step_by(60_000) {
            let mut held: Vec<&str> = c
                .pods
                .iter()
                .filter(|p| p.holds_at(t) && !p.w.spec().host_network)
                .map(|p| p.ip.as_str())
                .collect();
            let n = held.len();
            held.sort_unstable();
            held.dedup();
            assert_eq!(held.len(), n, "two pods share an address at {}", stamp(t));
        }
    }

    #[test]
    fn a_rolling_restart_moves_a_pod_and_a_freed_address_is_reused_the_same_day() {
        let c = cluster();
        let noon = c.start_ms + 3 * DAY + 12 * HOUR;
        let before = c.source_at(W::Web, 0, noon - MIN).unwrap();
        let after = c.source_at(W::Web, 0, noon + MIN).unwrap();
        assert_ne!(before, after);
        assert!(
            before.starts_with("10.224.128."),
            "flat pod address {before}"
        );
        let (invoice, web) = c.reused();
        assert_eq!(invoice.ip, web.ip);
        assert_eq!(stamp(web.deleted_ms.unwrap()), "2026-11-04T12:00:30Z");
        assert_eq!(stamp(invoice.start_ms), "2026-11-04T20:00:03Z");
        // Overlay pods leave as their node.
        assert_eq!(c.source_at(W::Toolbox, 7, noon).unwrap(), "10.224.0.11");
        assert_eq!(node_name(7), "aks-overlay-12345678-vmss000003");
        assert_eq!(node_name(74), "aks-flat-12345678-vmss000011");
    }
}
