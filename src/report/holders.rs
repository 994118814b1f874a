//! Who each finding's addresses were at the time: namespace, workload, pod, node.
//!
//! Why: a finding that says `10.224.0.20 sent 2.4 GB` sends someone to resolve an address by
//! hand, after the fact, when the pod is long gone. With an inventory in the lake, every
//! address of a finding is resolved at the time of the finding's first flow in the window
//! (`first_seen`), through the same index as the `k8s_*` SQL functions, and its holder goes
//! into the evidence (`src_workload`, `dst_namespace`, `ip_pod`, ...) and the reason. A node
//! address (pod egress SNAT'd with overlay networking or kubenet) lists the workloads that
//! ran on the node then, as candidates. An exposed endpoint (a row with a `port`) names the
//! Services exposing it then (`ip_services`: a node port on a node, a target port of the
//! pod's workload on a pod), the workloads backing them (`ip_service_workloads`) and their
//! load-balancer or external frontends (`ip_frontends`).
//! Without an inventory nothing changes.

use serde_json::{Map, Value};

use super::sql::time_of;
use crate::addr::{AddrClass, IpBits};
use crate::enrich::InventoryIndex;
use crate::inventory::intervals::Certainty;
use crate::inventory::{AddrKind, Interval};

/// The address columns of report rows, and the prefix of the holder columns added for each.
pub const ADDRESSES: [(&str, &str); 3] = [("src_ip", "src"), ("dst_ip", "dst"), ("ip", "ip")];

/// Adds the holder columns of each address of `row` (see the module docs).
pub fn annotate(row: &mut Map<String, Value>, index: &InventoryIndex) {
    if index.is_empty() {
        return;
    }
    let Some(t) = time_of(row.get("first_seen")).or_else(|| time_of(row.get("last_seen"))) else {
        return;
    };
    let t = t.timestamp_micros();
    for (column, prefix) in ADDRESSES {
        let Some(ip) = row
            .get(column)
            .and_then(Value::as_str)
            .and_then(|s| IpBits::parse(s.as_bytes()))
        else {
            continue;
        };
        let holder = index.holder_at(ip, t);
        if holder.is_none() && ip.class() == AddrClass::Public {
            // An outside address is not expected in the inventory.
            continue;
        }
        let text = |v: Option<&str>| v.map_or(Value::Null, |s| Value::String(s.to_string()));
        let h = holder.map(|i| &i.holder);
        let pod = holder
            .filter(|i| i.key.kind == AddrKind::Pod)
            .map(|i| i.holder.name.as_str());
        let fields = [
            ("kind", text(holder.map(|i| i.key.kind.as_str()))),
            ("namespace", text(h.and_then(|h| h.namespace.as_deref()))),
            (
                "workload_kind",
                text(h.and_then(|h| h.workload_kind.as_deref())),
            ),
            ("workload", text(h.and_then(|h| h.workload.as_deref()))),
            ("pod", text(pod)),
            ("node", text(h.and_then(|h| h.node.as_deref()))),
            ("name", text(h.map(|h| h.name.as_str()))),
        ];
        for (k, v) in fields {
            row.insert(format!("{prefix}_{k}"), v);
        }
        // A VM outside any cluster, named by its NIC's VM (a scale-set instance is a node).
        if let Some(vm) = holder
            .filter(|i| i.key.kind == AddrKind::Nic && i.holder.node.is_none())
            .and_then(|i| i.holder.vm.as_deref())
            .and_then(vm_name)
        {
            row.insert(format!("{prefix}_vm"), Value::String(vm.to_string()));
        }
        // Named from a listing taken after the flow: say so, and when it was first listed.
        if let Some(i) = holder.filter(|i| {
            i.from_certainty == Certainty::Unknown && i.first_seen.is_some_and(|f| t < f)
        }) {
            let first = i
                .first_seen
                .and_then(chrono::DateTime::from_timestamp_micros)
                .map(|f| f.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            row.insert(format!("{prefix}_first_listed"), text(first.as_deref()));
        }
        // An exposed endpoint: the Services that expose it, and their frontends.
        if let (Some(h), Some(port)) = (holder, row.get("port").and_then(Value::as_i64)) {
            let services = index.services_exposing(h, port, t);
            if !services.is_empty() {
                let names: Vec<Value> = services
                    .iter()
                    .map(|(s, _)| Value::String(workload_name_of(s, &s.holder.name)))
                    .collect();
                let frontends: Vec<Value> = services
                    .iter()
                    .flat_map(|(_, f)| f.iter().map(|a| Value::String(a.to_string())))
                    .collect();
                let backends: Vec<Value> = services
                    .iter()
                    .map(
                        |(s, _)| match (&s.holder.workload_kind, &s.holder.workload) {
                            (Some(k), Some(w)) => {
                                Value::String(format!("{k} {}", workload_name_of(s, w)))
                            }
                            _ => Value::Null,
                        },
                    )
                    .collect();
                row.insert(format!("{prefix}_services"), Value::Array(names));
                row.insert(
                    format!("{prefix}_service_workloads"),
                    Value::Array(backends),
                );
                row.insert(format!("{prefix}_frontends"), Value::Array(frontends));
            }
        }
        if let Some(node) = holder
            .filter(|i| i.key.kind == AddrKind::Node)
            .and_then(|i| i.holder.node.as_deref())
        {
            let mut candidates: Vec<String> = index
                .pods_on(node, t)
                .into_iter()
                .map(workload_name)
                .collect();
            candidates.sort();
            candidates.dedup();
            row.insert(
                format!("{prefix}_candidates"),
                Value::Array(candidates.into_iter().map(Value::String).collect()),
            );
        }
    }
}

/// The VM name of an Azure VM resource id (`…/virtualMachines/<name>`), not of a scale-set
/// instance (`…/virtualMachineScaleSets/<set>/virtualMachines/<n>`).
fn vm_name(id: &str) -> Option<&str> {
    let lower = id.to_ascii_lowercase();
    if lower.contains("/virtualmachinescalesets/") {
        return None;
    }
    let at = lower.rfind("/virtualmachines/")?;
    Some(&id[at + "/virtualmachines/".len()..]).filter(|n| !n.is_empty() && !n.contains('/'))
}

/// `namespace/workload` of a pod binding (its own name when it has no workload).
fn workload_name(i: &Interval) -> String {
    workload_name_of(i, i.holder.workload.as_deref().unwrap_or(&i.holder.name))
}

/// `namespace/name` in the binding's namespace.
fn workload_name_of(i: &Interval, name: &str) -> String {
    match &i.holder.namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

/// An address of a finding as the reason writes it: `10.224.0.20 (pod shop/web-7d9f… of
/// Deployment shop/web on node aks-…)`, or the bare address without an inventory.
pub fn describe(evidence: &Map<String, Value>, column: &str) -> String {
    let ip = evidence.get(column).and_then(Value::as_str).unwrap_or("?");
    let Some((_, prefix)) = ADDRESSES.iter().find(|(c, _)| *c == column) else {
        return ip.to_string();
    };
    let get = |k: &str| {
        evidence
            .get(&format!("{prefix}_{k}"))
            .and_then(Value::as_str)
    };
    if !evidence.contains_key(&format!("{prefix}_kind")) {
        // An outside address: where it is, when location databases are loaded.
        return match super::places::describe(evidence, column) {
            Some(place) => format!("{ip} ({place})"),
            None => ip.to_string(),
        };
    }
    let ns = |name: &str| match get("namespace") {
        Some(n) => format!("{n}/{name}"),
        None => name.to_string(),
    };
    let workload = || match (get("workload_kind"), get("workload")) {
        (Some(k), Some(w)) => format!(" of {k} {}", ns(w)),
        _ => String::new(),
    };
    let on = get("node").map_or(String::new(), |n| format!(" on node {n}"));
    let what = match get("kind") {
        None => "not in inventory".to_string(),
        Some("pod") => format!("pod {}{}{on}", ns(get("name").unwrap_or("?")), workload()),
        Some("node") => {
            let candidates: Vec<&str> = evidence
                .get(&format!("{prefix}_candidates"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let name = get("name").unwrap_or("?");
            // Candidates explain traffic that left as the node's address.
            match candidates.len() {
                n if n == 0 || column != "src_ip" => format!("node {name}"),
                _ => format!(
                    "node {name}; pod traffic leaves as the node's address, candidates: {}",
                    candidates.join(", ")
                ),
            }
        }
        Some("nic") => match get("vm") {
            Some(vm) => format!("VM {vm}, NIC {}", get("name").unwrap_or("?")),
            None => format!("NIC {}{on}", get("name").unwrap_or("?")),
        },
        Some(k) => {
            let what = match k {
                "service_cluster_ip" => "cluster IP",
                "load_balancer_ip" => "load-balancer IP",
                "external_ip" => "external IP",
                other => other,
            };
            format!(
                "{what} of Service {}{}",
                ns(get("name").unwrap_or("?")),
                workload()
            )
        }
    };
    // A Service's own address already names the Service and its workload.
    let own_service = matches!(
        get("kind"),
        Some("service_cluster_ip" | "load_balancer_ip" | "external_ip")
    );
    let strings = |k: &str| -> Vec<&str> {
        evidence
            .get(&format!("{prefix}_{k}"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let services = strings("services");
    let exposed = match services.len() {
        _ if own_service => String::new(),
        0 => String::new(),
        _ => {
            let frontends = strings("frontends");
            let via = match frontends.len() {
                0 => String::new(),
                _ => format!(", frontend {}", frontends.join(", ")),
            };
            let backed = strings("service_workloads");
            let by = match backed.len() {
                0 => String::new(),
                _ => format!(" backed by {}", backed.join(", ")),
            };
            format!("; exposed by Service {}{via}{by}", services.join(", "))
        }
    };
    // Named from a later listing (a NIC list taken today for last week's flows).
    let listed = match get("first_listed") {
        Some(t) => format!("; listed only from {t}, held since an unknown time"),
        None => String::new(),
    };
    format!("{ip} ({what}{exposed}{listed})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_vms_nic_names_the_vm_and_a_later_listing_says_so() {
        assert_eq!(
            vm_name(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/pg-prod-01"
            ),
            Some("pg-prod-01")
        );
        assert_eq!(
            vm_name(
                "/subscriptions/s/resourceGroups/MC_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss/virtualMachines/3"
            ),
            None
        );
        let mut ev = Map::new();
        for (k, v) in [
            ("dst_ip", json!("10.1.0.9")),
            ("dst_kind", json!("nic")),
            ("dst_name", json!("pg-prod-01-nic")),
            ("dst_vm", json!("pg-prod-01")),
            ("dst_first_listed", json!("2026-12-07T10:00:00Z")),
        ] {
            ev.insert(k.into(), v);
        }
        assert_eq!(
            describe(&ev, "dst_ip"),
            "10.1.0.9 (VM pg-prod-01, NIC pg-prod-01-nic; listed only from 2026-12-07T10:00:00Z, held since an unknown time)"
        );
        ev.remove("dst_vm");
        ev.remove("dst_first_listed");
        assert_eq!(describe(&ev, "dst_ip"), "10.1.0.9 (NIC pg-prod-01-nic)");
    }
}
