//! A scenario for the reports: an AKS cluster's regular traffic, big transfers that are normal,
//! and planted incidents of every kind on the last day, with the files to report on them.
//!
//! Why: a report is only trustworthy if it finds what it should, names who did it, and stays
//! quiet about what is normal. Every NIC is a node of the cluster of [`aks`] (even NICs a flat
//! Azure CNI pool, odd NICs an overlay pool). `flowlake gen --scenario DIR` adds to the
//! generated traffic
//! - every night a backup by CronJob `data/backup` (a new pod and address each night) to one
//!   storage endpoint (3 GB), every day image pulls by every node from one registry and a
//!   SaaS sync by `shop/crm-sync` (restarted, so re-addressed, every noon), hourly exports by
//!   `analytics/exporter`, customers reaching `shop/web` through its load balancer, and
//!   `web` → `cart` → `postgres` inside the cluster — big, regular and legitimate;
//! - on the last day: a bulk upload on an odd port (`analytics/exporter`), DNS tunnelling to
//!   an outside resolver (`media/transcoder` on an overlay node: its node's address), a large
//!   transfer on 443 to a never-seen destination (`billing/invoice-sync`, created that evening
//!   on the address `shop/web` gave up at noon), SSH on a node and PostgreSQL through its
//!   public load balancer reachable from the internet through a too-broad rule, a
//!   connection to an address on a threat list (`ops/toolbox`, overlay), and a copy to a
//!   known address in a country `analytics/exporter` never sent to (found with location
//!   databases);
//!
//! and writes to DIR a `flowlake.toml` (threat list, expected public web port, NSG
//! definitions), the NSG definitions `nsg.json` (with a too-broad rule, a shadowed rule and a
//! never-used rule), the threat list, the cluster's inventory files under `k8s/`, and
//! `scenario.json`: the answer key the tests check, naming each incident's workload.

use std::path::Path;

use serde::Serialize;

use super::aks::{
    self, Cluster, EXPORTER_NODE, INVOICE_NODE, POSTGRES_NODE, SSH_NODE, TOOLBOX_NODE,
    TRANSCODER_NODE, W,
};
use super::{Fmt, Nic, T};
use crate::error::{IoContext, Result};

/// NICs the scenario needs (its incidents use NICs 0 to 7).
pub const MIN_NICS: u32 = 8;

const BACKUP: &str = "20.60.40.10";
const ANALYTICS: &str = "20.61.20.9";
const REGISTRY: &str = "20.61.10.5";
const SAAS: &str = "52.100.7.7";
const ODD_PORT_DST: &str = "185.220.101.45";
const ODD_PORT: u16 = 9443;
const RESOLVER: &str = "94.140.14.14";
const NEW_DST: &str = "103.224.182.250";
const THREAT_DST: &str = "45.95.147.236";
const BROAD_RULE: &str = "UserRule_allow-mgmt-any";

/// One planted incident or legitimate transfer, as the answer key lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Planted {
    /// The report that must find it.
    pub report: &'static str,
    /// The finding kind it must produce (for legitimate transfers: none above info).
    pub kind: &'static str,
    /// Source address (exfil) or exposed address (exposure), at the incident's time.
    pub ip: String,
    /// Destination address (exfil).
    pub dst_ip: Option<String>,
    /// Destination port.
    pub port: u16,
    /// What it is.
    pub what: &'static str,
    /// Who was behind it.
    pub who: Who,
    /// What the report needs to find it, if anything: `geo` (location databases that place
    /// the destination in a country and an AS; the tests build them).
    pub needs: Option<&'static str>,
}

/// Who was behind a planted flow, as the reports must name it.
#[derive(Debug, Clone, Serialize)]
pub struct Who {
    /// How `ip` relates to the workload: `pod` (its pod's own address), `node` (its node's
    /// address: overlay egress; the workload is among the node's candidates), `load_balancer`
    /// (the frontend of `service`), `node_itself` (no workload: the node's own service).
    pub via: &'static str,
    /// Namespace of the workload.
    pub namespace: Option<&'static str>,
    /// Controller kind of the workload.
    pub workload_kind: Option<&'static str>,
    /// The workload.
    pub workload: Option<&'static str>,
    /// The node it ran on.
    pub node: String,
    /// The Service exposing it (`namespace/name`).
    pub service: Option<&'static str>,
}

/// An address held by one workload and, after it gave it up, by another on the same day.
#[derive(Debug, Clone, Serialize)]
pub struct Reuse {
    /// The address.
    pub ip: String,
    /// `namespace/workload` of the earlier holder.
    pub earlier: String,
    /// Until when it held it.
    pub earlier_until: String,
    /// `namespace/workload` of the later holder.
    pub later: String,
    /// Since when.
    pub later_since: String,
}

/// The answer key written to `scenario.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Key {
    /// The last day, which holds the incidents (reports default to it).
    pub incident_day: String,
    /// The cluster name to import the inventory as.
    pub cluster: &'static str,
    /// The folder of inventory files (in the scenario directory).
    pub inventory: &'static str,
    /// Incidents each report must rank high or medium.
    pub incidents: Vec<Planted>,
    /// Legitimate transfers no report may rank above info.
    pub legitimate: Vec<Planted>,
    /// Rules the audit must flag: (kind, rule name).
    pub rules: Vec<(&'static str, &'static str)>,
    /// The address reused the incident day.
    pub reused: Reuse,
}

fn ip(n: &Nic) -> String {
    std::net::Ipv4Addr::from(n.ip).to_string()
}

fn ip_of(i: u32) -> String {
    std::net::Ipv4Addr::from(super::nic_ip(i)).to_string()
}

/// RFC 3339 of a time in milliseconds.
fn stamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("time in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Where and what: one flow, as its begin and end tuples.
struct Flow {
    start_ms: i64,
    src: String,
    dst: String,
    sport: u16,
    dport: u16,
    udp: bool,
    inbound: bool,
    rule: &'static str,
    bytes_out: u64,
    bytes_back: u64,
}

impl Flow {
    /// An outbound flow to the internet, through Azure's default internet rule.
    fn egress(src: &str, (dst, dport, udp): (&str, u16, bool), start_ms: i64, sport: u16) -> Flow {
        Flow {
            start_ms,
            src: src.to_string(),
            dst: dst.to_string(),
            sport,
            dport,
            udp,
            inbound: false,
            rule: "DefaultRule_AllowInternetOutBound",
            bytes_out: 0,
            bytes_back: 0,
        }
    }

    /// An inbound flow from `src`, allowed by `rule`.
    fn inbound(
        src: &str,
        (dst, dport): (&str, u16),
        start_ms: i64,
        sport: u16,
        rule: &'static str,
    ) -> Flow {
        Flow {
            inbound: true,
            rule,
            ..Flow::egress(src, (dst, dport, false), start_ms, sport)
        }
    }

    /// Within the VNet, as the sending (`inbound` false) or the receiving NIC logs it.
    fn vnet(
        src: &str,
        (dst, dport): (&str, u16),
        start_ms: i64,
        sport: u16,
        inbound: bool,
    ) -> Flow {
        Flow {
            inbound,
            rule: if inbound {
                "DefaultRule_AllowVnetInBound"
            } else {
                "DefaultRule_AllowVnetOutBound"
            },
            ..Flow::egress(src, (dst, dport, false), start_ms, sport)
        }
    }

    fn bytes(self, bytes_out: u64, bytes_back: u64) -> Flow {
        Flow {
            bytes_out,
            bytes_back,
            ..self
        }
    }
}

/// The flows of one NIC's hour, as tuples.
struct Hour<'a> {
    out: &'a mut Vec<T>,
    fmt: Fmt,
    hour_end_ms: i64,
}

impl Hour<'_> {
    fn push(&mut self, f: Flow) {
        let pk = |b: u64| b / 1400 + 1;
        let end = (f.start_ms + 600_000).min(self.hour_end_ms);
        let base = T {
            ts_ms: f.start_ms,
            src: f.src,
            dst: f.dst,
            sport: f.sport,
            dport: f.dport,
            udp: f.udp,
            inbound: f.inbound,
            allow: true,
            state: b'B',
            counters: (self.fmt == Fmt::V4).then_some([0; 4]),
            rule: f.rule,
        };
        self.out.push(T {
            ts_ms: end,
            src: base.src.clone(),
            dst: base.dst.clone(),
            state: b'E',
            counters: Some([pk(f.bytes_out), f.bytes_out, pk(f.bytes_back), f.bytes_back]),
            ..base
        });
        self.out.push(base);
    }
}

/// Adds the scenario's flows of NIC `i` (a node of `cluster`) for one hour. `last_day` marks
/// the incident day.
pub(super) fn add(
    out: &mut Vec<T>,
    cluster: &Cluster,
    (i, n): (u32, &Nic),
    (hour, hour_start_ms): (u32, i64),
    last_day: bool,
) {
    let me = ip(n);
    let mut h = Hour {
        out,
        fmt: n.fmt,
        hour_end_ms: hour_start_ms + 3_599_999,
    };
    let at = |min: i64| hour_start_ms + min * 60_000 + i64::from(i) * 1_000;
    let from = |w: W, t: i64| cluster.source_at(w, i, t);

    // Legitimate and regular, every day: the nightly backup (a new Job pod, a new address,
    // every night), image pulls by every node's kubelet (the node's own address), the
    // morning SaaS sync (restarted daily), hourly exports.
    for k in 0..6 {
        let t = at(k * 5);
        if hour == 1
            && let Some(src) = from(W::Backup, t)
        {
            let f = Flow::egress(&src, (BACKUP, 443, false), t, 40_000 + k as u16);
            h.push(f.bytes(500_000_000, 2_000_000));
        }
    }
    if hour == 3 {
        for k in 0..2 {
            let f = Flow::egress(
                &me,
                (REGISTRY, 443, false),
                at(10 + k * 7),
                41_000 + k as u16,
            );
            h.push(f.bytes(1_000_000, 60_000_000));
        }
    }
    if hour == 6
        && let Some(src) = from(W::CrmSync, at(2))
    {
        let f = Flow::egress(&src, (SAAS, 443, false), at(2), 42_000);
        h.push(f.bytes(800_000_000, 5_000_000));
    }
    if let Some(src) = from(W::Exporter, at(30)) {
        let f = Flow::egress(&src, (ANALYTICS, 443, false), at(30), 46_000 + hour as u16);
        h.push(f.bytes(6_000_000, 200_000));
    }
    // Customers reach `shop/web` through its load balancer (floating IP: the node's NIC sees
    // the frontend address).
    if from(W::Web, at(0)).is_some() {
        for k in 0..4u32 {
            let client = format!("{}.{}.{}.{}", 81 + k, 20 + hour, 3 * k + i, 17 + k);
            let f = Flow::inbound(
                &client,
                (aks::WEB_LB, 443),
                at(3 + 12 * i64::from(k)),
                51_000 + k as u16,
                "UserRule_allow-https-inbound",
            );
            h.push(f.bytes(40_000, 900_000));
        }
    }
    // In the cluster: web → cart → postgres, pod to pod, logged by the sending and the
    // receiving NIC.
    let call = |(from_w, from_node): (W, u32), (to_w, to_node): (W, u32), port: u16, min: i64| {
        let t = hour_start_ms + min * 60_000 + i64::from(from_node) * 1_000;
        let src = cluster.pod_at(from_w, from_node, t)?.ip.clone();
        let dst = cluster.pod_at(to_w, to_node, t)?.ip.clone();
        Some((src, dst, port, t, from_node, to_node))
    };
    let calls = [
        call((W::Web, 0), (W::Cart, 2), 8080, 20),
        call((W::Web, 4), (W::Cart, 2), 8080, 20),
        call((W::Cart, 2), (W::Postgres, 6), 5432, 25),
    ];
    for (src, dst, port, t, src_node, dst_node) in calls.into_iter().flatten() {
        for (node, inbound) in [(src_node, false), (dst_node, true)] {
            if node == i {
                let sport = 33_000 + (hour * 10 + src_node) as u16;
                let f = Flow::vnet(&src, (&dst, port), t, sport, inbound);
                h.push(f.bytes(150_000, 2_000_000));
            }
        }
    }
    if !last_day {
        return;
    }
    // The incidents, on the last day only.
    match (i, hour) {
        (EXPORTER_NODE, 14 | 15) => {
            for k in 0..4 {
                let t = at(k * 12);
                if let Some(src) = from(W::Exporter, t) {
                    let up = (ODD_PORT_DST, ODD_PORT, false);
                    let f = Flow::egress(&src, up, t, 43_000 + k as u16);
                    h.push(f.bytes(500_000_000, 1_000_000));
                }
            }
        }
        // Known destination, expected port, within the workload's volume: only where it is
        // (a country and an AS the workload never sent to) gives it away.
        (EXPORTER_NODE, 16) => {
            if let Some(src) = from(W::Exporter, at(0)) {
                let f = Flow::egress(&src, (SAAS, 443, false), at(0), 43_100);
                h.push(f.bytes(80_000_000, 600_000));
            }
        }
        (TRANSCODER_NODE, 2..=20) => {
            for k in 0..150 {
                let t = hour_start_ms + k * 23_000 + 500;
                let sport = 50_000 + (k as u16 * 7 + hour as u16 * 131) % 10_000;
                if let Some(src) = from(W::Transcoder, t) {
                    let f = Flow::egress(&src, (RESOLVER, 53, true), t, sport);
                    h.push(f.bytes(2_400, 900));
                }
            }
        }
        (INVOICE_NODE, 22) => {
            for k in 0..5 {
                let t = at(k * 9);
                if let Some(src) = from(W::InvoiceSync, t) {
                    let f = Flow::egress(&src, (NEW_DST, 443, false), t, 44_000 + k as u16);
                    h.push(f.bytes(500_000_000, 3_000_000));
                }
            }
        }
        (TOOLBOX_NODE, 9) => {
            if let Some(src) = from(W::Toolbox, at(5)) {
                let f = Flow::egress(&src, (THREAT_DST, 443, false), at(5), 45_000);
                h.push(f.bytes(40_000, 12_000));
            }
        }
        // SSH on a node, and PostgreSQL through its public load balancer, reachable from the
        // internet through a too-broad rule.
        (SSH_NODE | POSTGRES_NODE, 8..=23) => {
            let (dst, port, sources) = match i {
                SSH_NODE => (me.clone(), 22, 12),
                _ => (aks::POSTGRES_LB.to_string(), 5432, 5),
            };
            for k in 0..sources {
                let peer = format!("{}.{}.{}.{}", 61 + k, 130 + hour, 7 * k + 3, 200 - k);
                let f = Flow::inbound(
                    &peer,
                    (&dst, port),
                    at(i64::from(k) * 3),
                    50_000 + k as u16,
                    BROAD_RULE,
                );
                h.push(f.bytes(30_000, 120_000));
            }
        }
        _ => {}
    }
}

/// The NSG definitions of the generated NSGs, in the `az network nsg list -o json` shape.
fn nsg_json() -> String {
    let rule = |name: &str,
                pri: u32,
                dir: &str,
                access: &str,
                proto: &str,
                src: &str,
                ports: &[&str]| {
        serde_json::json!({
            "name": name, "priority": pri, "direction": dir, "access": access, "protocol": proto,
            "sourceAddressPrefix": src, "sourcePortRange": "*",
            "destinationAddressPrefix": "*",
            "destinationPortRange": if ports.len() == 1 { serde_json::json!(ports[0]) } else { serde_json::Value::Null },
            "destinationPortRanges": if ports.len() > 1 { serde_json::json!(ports) } else { serde_json::json!([]) },
        })
    };
    let nsgs: Vec<serde_json::Value> = (0..4)
        .map(|k| {
            serde_json::json!({
                "name": format!("AKS-AGENTPOOL-{k:02}-NSG"),
                "securityRules": [
                    rule("allow-https-inbound", 100, "Inbound", "Allow", "Tcp", "Internet", &["443"]),
                    rule("allow-mgmt-any", 200, "Inbound", "Allow", "*", "*", &["22", "5432"]),
                    rule("deny-ssh-internet", 300, "Inbound", "Deny", "Tcp", "Internet", &["22"]),
                    rule("allow-legacy-ftp", 400, "Inbound", "Allow", "Tcp", "10.0.0.0/8", &["21"]),
                ],
                "defaultSecurityRules": [
                    rule("AllowVnetInBound", 65000, "Inbound", "Allow", "*", "VirtualNetwork", &["*"]),
                    rule("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "*", "AzureLoadBalancer", &["*"]),
                    rule("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*", &["*"]),
                    rule("AllowVnetOutBound", 65000, "Outbound", "Allow", "*", "VirtualNetwork", &["*"]),
                    rule("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "*", &["*"]),
                    rule("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*", &["*"]),
                ],
            })
        })
        .collect();
    serde_json::to_string_pretty(&nsgs).expect("JSON of fixed values")
}

const CONFIG: &str = r#"# flowlake.toml written by `flowlake gen --scenario`: the settings its reports need.
[sets]
threat = "threat-intel.txt"

[report]
threat_sets = ["threat"]
# The AKS ingress nodes serve HTTPS to the internet on purpose.
expected_exposed = ["tcp/443"]
nsg_files = ["nsg.json"]
"#;

/// Writes the scenario's companion files into `dir`.
pub fn write_files(dir: &Path, last_day: chrono::NaiveDate, cluster: &Cluster) -> Result<()> {
    std::fs::create_dir_all(dir).ctx("create", dir)?;
    let put = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).ctx("write", &p)
    };
    put("flowlake.toml", CONFIG)?;
    put("nsg.json", &nsg_json())?;
    put(
        "threat-intel.txt",
        &format!(
            "# scenario threat list\n{THREAT_DST}  scenario-c2\n5.188.206.0/24  scenario-botnet\n"
        ),
    )?;
    cluster.write_files(dir)?;
    let day_ms = last_day
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis();
    let hour = |h: i64| day_ms + h * 3_600_000;
    // Who sent from where at `t`: a workload's pod, or its node with overlay networking.
    let who = |w: W, node: u32, t: i64| -> (String, Who) {
        let spec = w.spec();
        let ip = cluster
            .source_at(w, node, t)
            .expect("the workload runs then");
        let via = match aks::net_of(node) {
            aks::Net::Flat => "pod",
            aks::Net::Overlay => "node",
        };
        let who = Who {
            via,
            namespace: Some(spec.namespace),
            workload_kind: Some(spec.kind),
            workload: Some(spec.name),
            node: aks::node_name(node),
            service: None,
        };
        (ip, who)
    };
    let p = |report, kind, (ip, who): (String, Who), dst: Option<&str>, port, what| Planted {
        report,
        kind,
        ip,
        dst_ip: dst.map(String::from),
        port,
        what,
        who,
        needs: None,
    };
    let postgres = {
        let (_, mut w) = who(W::Postgres, POSTGRES_NODE, hour(8));
        w.via = "load_balancer";
        w.service = Some("data/postgres-public");
        (aks::POSTGRES_LB.to_string(), w)
    };
    let ssh_node = (
        ip_of(SSH_NODE),
        Who {
            via: "node_itself",
            namespace: None,
            workload_kind: None,
            workload: None,
            node: aks::node_name(SSH_NODE),
            service: None,
        },
    );
    let (invoice, web) = cluster.reused();
    let key = Key {
        incident_day: last_day.to_string(),
        cluster: aks::CLUSTER,
        inventory: aks::DIR,
        incidents: vec![
            p(
                "exfil",
                "unexpected_port",
                who(W::Exporter, EXPORTER_NODE, hour(14)),
                Some(ODD_PORT_DST),
                ODD_PORT,
                "bulk upload on an odd port",
            ),
            p(
                "exfil",
                "dns_to_external",
                who(W::Transcoder, TRANSCODER_NODE, hour(2)),
                Some(RESOLVER),
                53,
                "DNS tunnelling to an outside resolver, leaving as its overlay node's address",
            ),
            p(
                "exfil",
                "new_destination",
                who(W::InvoiceSync, INVOICE_NODE, hour(22)),
                Some(NEW_DST),
                443,
                "large transfer on 443 to a never-seen destination, from an address another workload held that morning",
            ),
            Planted {
                needs: Some("geo"),
                ..p(
                    "exfil",
                    "new_country",
                    who(W::Exporter, EXPORTER_NODE, hour(16)),
                    Some(SAAS),
                    443,
                    "a copy on 443 to an address the cluster knows (the SaaS provider) in a country and a network the workload never sent to",
                )
            },
            p(
                "exfil",
                "threat_intel",
                who(W::Toolbox, TOOLBOX_NODE, hour(9)),
                Some(THREAT_DST),
                443,
                "connection to a threat-listed address, leaving as its overlay node's address",
            ),
            p(
                "exposure",
                "sensitive_port_exposed",
                ssh_node,
                None,
                22,
                "SSH on a node reachable from the internet",
            ),
            p(
                "exposure",
                "sensitive_port_exposed",
                postgres,
                None,
                5432,
                "PostgreSQL reachable from the internet through its public load balancer",
            ),
        ],
        legitimate: vec![
            p(
                "exfil",
                "none",
                who(W::Backup, 0, hour(1) + 300_000),
                Some(BACKUP),
                443,
                "nightly backup to storage (a new CronJob pod and address every night)",
            ),
            p(
                "exfil",
                "none",
                who(W::CrmSync, 0, hour(6)),
                Some(SAAS),
                443,
                "daily SaaS sync (restarted, so re-addressed, every noon)",
            ),
            p(
                "exfil",
                "none",
                (
                    ip_of(0),
                    Who {
                        via: "node_itself",
                        namespace: None,
                        workload_kind: None,
                        workload: None,
                        node: aks::node_name(0),
                        service: None,
                    },
                ),
                Some(REGISTRY),
                443,
                "image pulls (every node)",
            ),
            p(
                "exfil",
                "none",
                who(W::Exporter, EXPORTER_NODE, hour(10)),
                Some(ANALYTICS),
                443,
                "hourly exports",
            ),
        ],
        rules: vec![
            ("broad_allow", BROAD_RULE),
            ("shadowed", "UserRule_deny-ssh-internet"),
            ("never_hit", "UserRule_allow-legacy-ftp"),
        ],
        reused: Reuse {
            ip: invoice.ip.clone(),
            earlier: format!("{}/{}", W::Web.spec().namespace, W::Web.spec().name),
            earlier_until: stamp(web.until_ms()),
            later: format!(
                "{}/{}",
                W::InvoiceSync.spec().namespace,
                W::InvoiceSync.spec().name
            ),
            later_since: stamp(invoice.since_ms()),
        },
    };
    put(
        "scenario.json",
        &serde_json::to_string_pretty(&key).expect("JSON of fixed values"),
    )
}
