//! kubectl's output shapes: `kubectl get pods,services,nodes,endpointslices -A -o json` (a
//! `List`) and `kubectl get pods -A --watch --output-watch-events -o json` (a stream of
//! `{"type","object"}` events), read with the Kubernetes API types of `k8s-openapi`.
//!
//! Why: these are what operations teams already run on a schedule. A `List` is a snapshot:
//! every binding it shows was present at its time, and every binding of a listed kind it
//! does not show had ended. A watch stream has no times of its own, but its objects do
//! (`status.startTime`, `deletionTimestamp`, containers' `finishedAt`), so it gives exact
//! lifetimes. Owner references name the workload: Pod → ReplicaSet → Deployment, Job →
//! CronJob, or StatefulSet/DaemonSet directly; without the ReplicaSet object in the file, the
//! `pod-template-hash` label is the suffix to strip, and a Job named `<cronjob>-<minutes>`
//! (how the CronJob controller names them) belongs to that CronJob.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::backends::{Pending, Slice};
use super::{
    AddrKind, BindingKey, Holder, Observation, Parsed, Shape, Snapshot, canonical_ip, labels_json,
    reject,
};

/// Object kinds that are read for their addresses.
const ADDRESSED: [&str; 3] = ["Pod", "Service", "Node"];
/// Object kinds that are read to resolve owners and Service backends, or skipped as known.
const KNOWN: [&str; 8] = [
    "EndpointSlice",
    "ReplicaSet",
    "Job",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "CronJob",
    "Namespace",
];

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type")]
    event: Option<String>,
    #[serde(borrow)]
    object: Option<&'a RawValue>,
    kind: Option<String>,
    #[serde(borrow)]
    items: Option<Vec<&'a RawValue>>,
    /// An ARM REST body's list (`{"value": [...]}`): NICs, read by [`super::azure`].
    #[serde(borrow)]
    value: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct KindOnly {
    kind: Option<String>,
}

/// One parsed object, with its byte offset in the file.
enum Object {
    Pod(Box<Pod>),
    Service(Box<Service>),
    Node(Box<Node>),
    Slice(Box<EndpointSlice>),
    ReplicaSet(Box<ReplicaSet>),
    Job(Box<Job>),
    Skipped,
}

/// Reads a kubectl `List`, single object or watch stream (see the module docs).
pub fn read(file: &str, bytes: &[u8], cluster: &str, at: i64) -> Parsed {
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<&RawValue>();
    let first = match stream.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => return failed(file, bytes, Shape::KubectlList, &e),
        None => return failed_at(file, bytes, Shape::KubectlList, 0, "empty file"),
    };
    let head: Head = match serde_json::from_str(first.get()) {
        Ok(h) => h,
        Err(e) => return failed(file, bytes, Shape::KubectlList, &e),
    };
    if head.event.is_some() && head.object.is_some() {
        return read_watch(file, bytes, cluster, at);
    }
    if let (Some(value), None, None) = (head.value, &head.kind, &head.items) {
        return super::azure::read_arm(file, bytes, value, cluster, at);
    }
    let mut p = Parsed {
        shape: Shape::KubectlList,
        ..Parsed::default()
    };
    let items: Vec<&RawValue> = match head.items {
        Some(items) => items,
        None if head.kind.is_some() => vec![first],
        None => {
            p.rejects.push(reject(
                file,
                bytes,
                offset_of(bytes, first),
                "not a kubectl List, object or watch event: no \"items\", \"kind\" or \"type\"/\"object\"",
            ));
            return p;
        }
    };
    // `kubectl get pods -o json` against an API list may leave `kind` out of the items.
    let list_kind = head
        .kind
        .as_deref()
        .and_then(|k| k.strip_suffix("List"))
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    let mut objects = Vec::with_capacity(items.len());
    for item in items {
        match parse_object(item, list_kind.as_deref()) {
            Ok(o) => objects.push(o),
            Err(m) => p
                .rejects
                .push(reject(file, bytes, offset_of(bytes, item), &m)),
        }
    }
    let ctx = Context::new(&objects);
    // A List whose pods and Services are all of one namespace is that namespace's listing
    // (`kubectl get pods -n NS`): it ends only that namespace's bindings. A cluster-wide
    // listing (`-A`) always spans several (kube-system among them).
    let namespaces: BTreeSet<&str> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Pod(pod) => Some(pod.metadata.namespace.as_deref().unwrap_or("default")),
            Object::Service(s) => Some(s.metadata.namespace.as_deref().unwrap_or("default")),
            _ => None,
        })
        .collect();
    let scope = match namespaces.len() {
        1 => namespaces.first().map(|ns| format!("/{ns}")),
        _ => None,
    };
    let listed: BTreeSet<String> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Pod(_) => Some(format!("Pod{}", scope.as_deref().unwrap_or(""))),
            Object::Service(_) => Some(format!("Service{}", scope.as_deref().unwrap_or(""))),
            Object::Node(_) => Some("Node".to_string()),
            _ => None,
        })
        .collect();
    p.snapshots = listed
        .into_iter()
        .map(|object| Snapshot {
            cluster: cluster.to_string(),
            object,
            at,
        })
        .collect();
    for o in &objects {
        let mut obs = match o {
            Object::Pod(pod) => pod_bindings(pod, &ctx, cluster, at),
            Object::Service(s) => service_bindings(s, &ctx, cluster, at, &mut p.pending),
            Object::Node(n) => node_bindings(n, &ctx, cluster, at),
            _ => continue,
        };
        // A snapshot saw it present, unless it had already ended by then.
        for ob in &mut obs {
            if ob.end.is_none_or(|e| e > at) {
                ob.seen = Some(at);
            }
        }
        p.observations.extend(obs);
    }
    p.slices = ctx.slices(cluster);
    p.unreadable_addresses = ctx.unreadable.get();
    p
}

/// A watch stream: the latest state of each binding, ended by DELETED events.
fn read_watch(file: &str, bytes: &[u8], cluster: &str, at: i64) -> Parsed {
    #[derive(Deserialize)]
    struct Event<'a> {
        #[serde(rename = "type")]
        event: String,
        #[serde(borrow)]
        object: Option<&'a RawValue>,
    }
    let mut p = Parsed {
        shape: Shape::KubectlWatch,
        ..Parsed::default()
    };
    let mut live: BTreeMap<BindingKey, Observation> = BTreeMap::new();
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<&RawValue>();
    loop {
        let raw = match stream.next() {
            None => break,
            Some(Ok(raw)) => raw,
            Some(Err(e)) => {
                // A cut or broken event: everything before it stands; nothing after it can be
                // told apart reliably.
                p.rejects.push(reject_serde(
                    file,
                    bytes,
                    &e,
                    "watch stream cut or broken here (the events before it are kept)",
                ));
                break;
            }
        };
        let offset = offset_of(bytes, raw);
        let ev: Event = match serde_json::from_str(raw.get()) {
            Ok(ev) => ev,
            Err(e) => {
                p.rejects.push(reject(
                    file,
                    bytes,
                    offset,
                    &format!("not a watch event: {e}"),
                ));
                continue;
            }
        };
        let Some(object) = ev.object else {
            p.rejects.push(reject(
                file,
                bytes,
                offset,
                "watch event without \"object\"",
            ));
            continue;
        };
        match ev.event.as_str() {
            "ADDED" | "MODIFIED" | "DELETED" => {}
            "BOOKMARK" => continue,
            "ERROR" => {
                let msg: serde_json::Value = serde_json::from_str(object.get()).unwrap_or_default();
                let text = msg["message"].as_str().unwrap_or("no message");
                p.rejects.push(reject(
                    file,
                    bytes,
                    offset,
                    &format!("watch ERROR event: {text}"),
                ));
                continue;
            }
            other => {
                p.rejects.push(reject(
                    file,
                    bytes,
                    offset,
                    &format!("unknown watch event type {other:?} (expected ADDED, MODIFIED, DELETED, BOOKMARK or ERROR)"),
                ));
                continue;
            }
        }
        let obj = match parse_object(object, None) {
            Ok(o) => o,
            Err(m) => {
                p.rejects
                    .push(reject(file, bytes, offset_of(bytes, object), &m));
                continue;
            }
        };
        let ctx = Context::new(std::slice::from_ref(&obj));
        p.slices.extend(ctx.slices(cluster));
        let obs = match &obj {
            Object::Pod(pod) => pod_bindings(pod, &ctx, cluster, at),
            Object::Service(s) => service_bindings(s, &ctx, cluster, at, &mut p.pending),
            Object::Node(n) => node_bindings(n, &ctx, cluster, at),
            _ => continue,
        };
        p.unreadable_addresses += ctx.unreadable.get();
        let deleted = ev.event == "DELETED";
        for mut ob in obs {
            if deleted && ob.end.is_none() {
                ob.gone_by = Some(at);
            }
            let keep = live.get(&ob.key).map(|old| merge_watch(old, ob.clone()));
            live.insert(ob.key.clone(), keep.unwrap_or(ob));
        }
    }
    p.observations = live.into_values().collect();
    p
}

/// The later state of a binding in a watch stream, keeping times the earlier one knew.
fn merge_watch(old: &Observation, mut new: Observation) -> Observation {
    new.start = new.start.or(old.start);
    new.end = new.end.or(old.end);
    new.gone_by = new.gone_by.or(old.gone_by);
    new
}

fn parse_object(raw: &RawValue, default_kind: Option<&str>) -> Result<Object, String> {
    let kind = serde_json::from_str::<KindOnly>(raw.get())
        .map_err(|e| format!("not a Kubernetes object: {e}"))?
        .kind
        .or_else(|| default_kind.map(str::to_string))
        .ok_or("object without \"kind\"")?;
    let text = raw.get();
    let typed = |e: serde_json::Error| format!("{kind} is not valid: {e}");
    Ok(match kind.as_str() {
        "Pod" => Object::Pod(Box::new(serde_json::from_str(text).map_err(typed)?)),
        "Service" => Object::Service(Box::new(serde_json::from_str(text).map_err(typed)?)),
        "Node" => Object::Node(Box::new(serde_json::from_str(text).map_err(typed)?)),
        "EndpointSlice" => Object::Slice(Box::new(serde_json::from_str(text).map_err(typed)?)),
        "ReplicaSet" => Object::ReplicaSet(Box::new(serde_json::from_str(text).map_err(typed)?)),
        "Job" => Object::Job(Box::new(serde_json::from_str(text).map_err(typed)?)),
        k if KNOWN.contains(&k) => Object::Skipped,
        k => {
            return Err(format!(
                "unsupported kind {k:?}: flowlake reads {} (and {} for owners and Service backends)",
                ADDRESSED.join(", "),
                KNOWN[..3].join(", ")
            ));
        }
    })
}

/// What a file says about owners and Service backends.
struct Context<'a> {
    /// (namespace, kind, name) → the controller owner (kind, name) of ReplicaSets and Jobs.
    owners: HashMap<(&'a str, &'a str, &'a str), (&'a str, &'a str)>,
    /// (namespace, pod name) → pod.
    pods: HashMap<(&'a str, &'a str), &'a Pod>,
    /// (namespace, Service name) → names of the pods its EndpointSlices point at.
    backends: HashMap<(&'a str, &'a str), BTreeSet<&'a str>>,
    /// Address fields whose text is not an address (a redacted `***HIDDEN***`).
    unreadable: std::cell::Cell<usize>,
}

impl<'a> Context<'a> {
    /// The canonical text of address field `text`; text that is not an address is counted
    /// ([`Parsed::unreadable_addresses`]), except a headless Service's `None`.
    fn address(&self, text: &str) -> Option<String> {
        let a = canonical_ip(text);
        if a.is_none() && !text.is_empty() && text != "None" {
            self.unreadable.set(self.unreadable.get() + 1);
        }
        a
    }

    fn new(objects: &'a [Object]) -> Context<'a> {
        let mut c = Context {
            owners: HashMap::new(),
            pods: HashMap::new(),
            backends: HashMap::new(),
            unreadable: std::cell::Cell::new(0),
        };
        for o in objects {
            match o {
                Object::ReplicaSet(rs) => c.owner(&rs.metadata, "ReplicaSet"),
                Object::Job(j) => c.owner(&j.metadata, "Job"),
                Object::Pod(p) => {
                    if let Some(name) = p.metadata.name.as_deref() {
                        c.pods.insert((ns(&p.metadata), name), p);
                    }
                }
                Object::Slice(s) => {
                    let service = s
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("kubernetes.io/service-name"));
                    if let Some(service) = service {
                        let pods = c.backends.entry((ns(&s.metadata), service)).or_default();
                        for e in &s.endpoints {
                            if let Some(r) = &e.target_ref
                                && r.kind.as_deref() == Some("Pod")
                                && let Some(n) = r.name.as_deref()
                            {
                                pods.insert(n);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        c
    }

    /// The EndpointSlices' backends, for Services in other files ([`super::backends`]).
    fn slices(&self, cluster: &str) -> Vec<Slice> {
        self.backends
            .iter()
            .map(|((namespace, service), pods)| Slice {
                cluster: cluster.to_string(),
                namespace: namespace.to_string(),
                service: service.to_string(),
                pods: pods.iter().map(|p| p.to_string()).collect(),
            })
            .collect()
    }

    fn owner(&mut self, meta: &'a ObjectMeta, kind: &'a str) {
        if let (Some(name), Some(o)) = (meta.name.as_deref(), controller(meta)) {
            self.owners
                .insert((ns(meta), kind, name), (o.kind.as_str(), o.name.as_str()));
        }
    }

    /// The workload (kind, name) a pod belongs to (see the module docs).
    fn workload(&self, pod: &Pod) -> (String, String) {
        let meta = &pod.metadata;
        let name = meta.name.clone().unwrap_or_default();
        let Some(o) = controller(meta) else {
            return ("Pod".into(), name);
        };
        let namespace = ns(meta);
        match o.kind.as_str() {
            "ReplicaSet" => {
                if let Some((k, n)) = self.owners.get(&(namespace, "ReplicaSet", &o.name)) {
                    return (k.to_string(), n.to_string());
                }
                let hash = meta
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("pod-template-hash"));
                match hash.and_then(|h| o.name.strip_suffix(h.as_str())?.strip_suffix('-')) {
                    Some(d) => ("Deployment".into(), d.to_string()),
                    None => ("ReplicaSet".into(), o.name.clone()),
                }
            }
            "Job" => {
                if let Some((k, n)) = self.owners.get(&(namespace, "Job", &o.name)) {
                    return (k.to_string(), n.to_string());
                }
                match cronjob_of(&o.name) {
                    Some(c) => ("CronJob".into(), c.to_string()),
                    None => ("Job".into(), o.name.clone()),
                }
            }
            // A static pod is owned by its node and named `<name>-<node>`.
            "Node" => {
                let base = name
                    .strip_suffix(o.name.as_str())
                    .and_then(|b| b.strip_suffix('-'))
                    .unwrap_or(&name);
                ("StaticPod".into(), base.to_string())
            }
            k => (k.to_string(), o.name.clone()),
        }
    }
}

/// The CronJob a Job belongs to when it is named as the CronJob controller names its Jobs:
/// `<cronjob>-<scheduled time in minutes since the epoch>`.
fn cronjob_of(job: &str) -> Option<&str> {
    let (base, suffix) = job.rsplit_once('-')?;
    (suffix.len() >= 8 && suffix.bytes().all(|b| b.is_ascii_digit()) && !base.is_empty())
        .then_some(base)
}

fn controller(
    meta: &ObjectMeta,
) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
    let refs = meta.owner_references.as_deref()?;
    refs.iter()
        .find(|r| r.controller == Some(true))
        .or(refs.first())
}

fn ns(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("default")
}

fn us(t: Option<&Time>) -> Option<i64> {
    t.map(|t| t.0.as_microsecond())
}

/// The holder's identity: `metadata.uid`, or namespace/name when the file has none.
fn uid(meta: &ObjectMeta, kind: &str) -> String {
    match &meta.uid {
        Some(u) if !u.is_empty() => u.clone(),
        _ => format!(
            "{kind}/{}/{}",
            ns(meta),
            meta.name.as_deref().unwrap_or_default()
        ),
    }
}

fn observation(
    cluster: &str,
    address: String,
    kind: AddrKind,
    uid: &str,
    holder: &Holder,
    at: i64,
) -> Observation {
    Observation {
        key: BindingKey {
            cluster: cluster.to_string(),
            address,
            kind,
            uid: uid.to_string(),
        },
        holder: holder.clone(),
        seen: None,
        start: None,
        end: None,
        gone_by: None,
        observed_at: at,
    }
}

fn pod_bindings(pod: &Pod, ctx: &Context, cluster: &str, at: i64) -> Vec<Observation> {
    let meta = &pod.metadata;
    let status = pod.status.as_ref();
    let spec = pod.spec.as_ref();
    let mut ips: Vec<String> = status
        .and_then(|s| s.pod_ips.as_ref())
        .map(|v| v.iter().filter_map(|p| ctx.address(&p.ip)).collect())
        .unwrap_or_default();
    if ips.is_empty()
        && let Some(ip) = status
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ctx.address(ip))
    {
        ips.push(ip);
    }
    if ips.is_empty() {
        return vec![];
    }
    let (wk, w) = ctx.workload(pod);
    let holder = Holder {
        namespace: Some(ns(meta).to_string()),
        name: meta.name.clone().unwrap_or_default(),
        workload_kind: Some(wk),
        workload: Some(w),
        node: spec.and_then(|s| s.node_name.clone()),
        labels: labels_json(meta.labels.as_ref()),
        host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
        ..Holder::default()
    };
    let start =
        us(status.and_then(|s| s.start_time.as_ref())).or(us(meta.creation_timestamp.as_ref()));
    let phase = status.and_then(|s| s.phase.as_deref());
    let finished = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| us(c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref()))
        .max();
    let end = match phase {
        Some("Succeeded" | "Failed") => finished.or(us(meta.deletion_timestamp.as_ref())),
        _ => us(meta.deletion_timestamp.as_ref()),
    };
    let id = uid(meta, "Pod");
    ips.into_iter()
        .map(|ip| {
            let mut o = observation(cluster, ip, AddrKind::Pod, &id, &holder, at);
            o.start = start;
            o.end = end;
            o
        })
        .collect()
}

/// A Service's bindings; a Service whose file names none of its pods is also left in
/// `pending`, for [`super::backends::resolve`] to name once the whole import is read.
fn service_bindings(
    s: &Service,
    ctx: &Context,
    cluster: &str,
    at: i64,
    pending: &mut Vec<Pending>,
) -> Vec<Observation> {
    let meta = &s.metadata;
    let spec = s.spec.as_ref();
    let namespace = ns(meta);
    let name = meta.name.as_deref().unwrap_or_default();
    // Its backing workload: the pods its EndpointSlices name, else those its selector picks.
    let mut workloads: BTreeSet<(String, String)> = BTreeSet::new();
    match ctx.backends.get(&(namespace, name)) {
        Some(pods) => {
            for p in pods {
                if let Some(pod) = ctx.pods.get(&(namespace, *p)) {
                    workloads.insert(ctx.workload(pod));
                }
            }
        }
        None => {
            if let Some(sel) = spec
                .and_then(|s| s.selector.as_ref())
                .filter(|s| !s.is_empty())
            {
                for ((pns, _), pod) in &ctx.pods {
                    let labels = pod.metadata.labels.as_ref();
                    if *pns == namespace
                        && sel
                            .iter()
                            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
                    {
                        workloads.insert(ctx.workload(pod));
                    }
                }
            }
        }
    }
    let id = uid(meta, "Service");
    if workloads.is_empty() {
        pending.push(Pending {
            cluster: cluster.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: id.clone(),
            selector: spec.and_then(|s| s.selector.clone()).unwrap_or_default(),
            at,
        });
    }
    let (wk, w) = match workloads.len() {
        1 => {
            let (k, n) = workloads.pop_first().expect("one");
            (Some(k), Some(n))
        }
        _ => (None, None),
    };
    let ports: Vec<serde_json::Value> = spec
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .map(|p| {
            serde_json::json!({
                "protocol": p.protocol.as_deref().unwrap_or("TCP"),
                "port": p.port,
                "targetPort": match &p.target_port {
                    Some(IntOrString::Int(i)) => serde_json::json!(i),
                    Some(IntOrString::String(s)) => serde_json::json!(s),
                    None => serde_json::json!(p.port),
                },
                "nodePort": p.node_port,
            })
        })
        .collect();
    let holder = Holder {
        namespace: Some(namespace.to_string()),
        name: name.to_string(),
        workload_kind: wk,
        workload: w,
        labels: labels_json(meta.labels.as_ref()),
        ports: (!ports.is_empty()).then(|| serde_json::Value::from(ports).to_string()),
        ..Holder::default()
    };
    let start = us(meta.creation_timestamp.as_ref());
    let end = us(meta.deletion_timestamp.as_ref());
    let mut addrs: Vec<(String, AddrKind)> = Vec::new();
    let mut cluster_ips: Vec<&String> = spec
        .and_then(|s| s.cluster_ips.as_ref())
        .into_iter()
        .flatten()
        .collect();
    if cluster_ips.is_empty() {
        cluster_ips.extend(spec.and_then(|s| s.cluster_ip.as_ref()));
    }
    for ip in cluster_ips {
        addrs.extend(ctx.address(ip).map(|a| (a, AddrKind::ServiceClusterIp)));
    }
    let ingress = s
        .status
        .as_ref()
        .and_then(|st| st.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref());
    for i in ingress.into_iter().flatten() {
        addrs.extend(
            i.ip.as_deref()
                .and_then(|ip| ctx.address(ip))
                .map(|a| (a, AddrKind::LoadBalancerIp)),
        );
    }
    for ip in spec
        .and_then(|s| s.external_ips.as_ref())
        .into_iter()
        .flatten()
    {
        addrs.extend(ctx.address(ip).map(|a| (a, AddrKind::ExternalIp)));
    }
    addrs
        .into_iter()
        .map(|(a, kind)| {
            let mut o = observation(cluster, a, kind, &id, &holder, at);
            o.start = start;
            o.end = end;
            o
        })
        .collect()
}

fn node_bindings(n: &Node, ctx: &Context, cluster: &str, at: i64) -> Vec<Observation> {
    let meta = &n.metadata;
    let name = meta.name.clone().unwrap_or_default();
    let holder = Holder {
        name: name.clone(),
        node: Some(name),
        labels: labels_json(meta.labels.as_ref()),
        vm: n.spec.as_ref().and_then(|s| s.provider_id.clone()),
        ..Holder::default()
    };
    let id = uid(meta, "Node");
    let start = us(meta.creation_timestamp.as_ref());
    let end = us(meta.deletion_timestamp.as_ref());
    let addrs = n.status.as_ref().and_then(|s| s.addresses.as_ref());
    addrs
        .into_iter()
        .flatten()
        .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
        .filter_map(|a| ctx.address(&a.address))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|a| {
            let mut o = observation(cluster, a, AddrKind::Node, &id, &holder, at);
            o.start = start;
            o.end = end;
            o
        })
        .collect()
}

fn offset_of(bytes: &[u8], raw: &RawValue) -> usize {
    (raw.get().as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize)
}

/// A reject at the position a serde error names.
fn reject_serde(
    file: &str,
    bytes: &[u8],
    e: &serde_json::Error,
    what: &str,
) -> super::InventoryReject {
    let line_start: usize = bytes
        .split_inclusive(|&b| b == b'\n')
        .take(e.line().saturating_sub(1))
        .map(<[u8]>::len)
        .sum();
    let offset = line_start + e.column().saturating_sub(1);
    reject(file, bytes, offset, &format!("{what}: {e}"))
}

fn failed(file: &str, bytes: &[u8], shape: Shape, e: &serde_json::Error) -> Parsed {
    Parsed {
        rejects: vec![reject_serde(file, bytes, e, "not valid JSON")],
        shape,
        ..Parsed::default()
    }
}

fn failed_at(file: &str, bytes: &[u8], shape: Shape, offset: usize, m: &str) -> Parsed {
    Parsed {
        rejects: vec![reject(file, bytes, offset, m)],
        shape,
        ..Parsed::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods(namespaces: &[&str]) -> Vec<u8> {
        let items: Vec<String> = namespaces
            .iter()
            .enumerate()
            .map(|(i, ns)| {
                format!(
                    r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "p{i}", "namespace": "{ns}", "uid": "u{i}"}},
                        "status": {{"podIP": "10.0.0.{i}"}}}}"#
                )
            })
            .collect();
        format!(
            r#"{{"apiVersion": "v1", "kind": "List", "items": [{}]}}"#,
            items.join(",")
        )
        .into_bytes()
    }

    #[test]
    fn a_list_of_one_namespace_is_that_namespaces_listing() {
        let objects =
            |p: &Parsed| -> Vec<String> { p.snapshots.iter().map(|s| s.object.clone()).collect() };
        let one = read("shop.json", &pods(&["shop", "shop"]), "c", 1);
        assert_eq!(objects(&one), ["Pod/shop"]);
        let all = read("all.json", &pods(&["shop", "kube-system"]), "c", 1);
        assert_eq!(objects(&all), ["Pod"]);
    }

    #[test]
    fn cronjob_names() {
        assert_eq!(cronjob_of("backup-29010240"), Some("backup"));
        assert_eq!(cronjob_of("db-backup-29010240"), Some("db-backup"));
        assert_eq!(cronjob_of("migrate-v2"), None);
        assert_eq!(cronjob_of("x-123"), None);
    }
}
