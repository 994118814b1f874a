//! A scenario for the reports: regular big transfers that are normal, and planted incidents of
//! every kind on the last day, with the files to report on them.
//!
//! Why: a report is only trustworthy if it finds what it should and stays quiet about what is
//! normal. `flowlake gen --scenario DIR` adds to the generated traffic
//! - every night a backup from NIC 0 to one storage endpoint (3 GB), every day image pulls by
//!   every NIC from one registry and a SaaS sync from NIC 1 — big, regular and legitimate;
//! - on the last day: a bulk upload on an odd port (NIC 2), DNS tunnelling to an outside
//!   resolver (NIC 3), a large transfer on 443 to a never-seen destination (NIC 4), SSH (NIC 5)
//!   and PostgreSQL (NIC 6) reachable from the internet through a too-broad rule, and a
//!   connection to an address on a threat list (NIC 7);
//!
//! and writes to DIR a `flowlake.toml` (threat list, expected public web port, NSG
//! definitions), the NSG definitions `nsg.json` (with a too-broad rule, a shadowed rule and a
//! never-used rule), the threat list, and `scenario.json`: the answer key the tests check.

use std::path::Path;

use serde::Serialize;

use super::{Fmt, Nic, T};
use crate::error::{IoContext, Result};

/// NICs the scenario needs (its incidents use NICs 0 to 7).
pub const MIN_NICS: u32 = 8;

const BACKUP: &str = "20.60.40.10";
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
    /// Source address (exfil) or exposed address (exposure).
    pub ip: String,
    /// Destination address (exfil).
    pub dst_ip: Option<String>,
    /// Destination port.
    pub port: u16,
    /// What it is.
    pub what: &'static str,
}

/// The answer key written to `scenario.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Key {
    /// The last day, which holds the incidents (reports default to it).
    pub incident_day: String,
    /// Incidents each report must rank high or medium.
    pub incidents: Vec<Planted>,
    /// Legitimate transfers no report may rank above info.
    pub legitimate: Vec<Planted>,
    /// Rules the audit must flag: (kind, rule name).
    pub rules: Vec<(&'static str, &'static str)>,
}

fn ip(n: &Nic) -> String {
    std::net::Ipv4Addr::from(n.ip).to_string()
}

fn ip_of(i: u32) -> String {
    std::net::Ipv4Addr::from(super::nic_ip(i)).to_string()
}

/// Where and what: one flow, as its begin and end tuples.
struct Flow<'a> {
    start_ms: i64,
    src: &'a str,
    dst: &'a str,
    sport: u16,
    dport: u16,
    udp: bool,
    inbound: bool,
    rule: &'static str,
    bytes_out: u64,
    bytes_back: u64,
    hour_end_ms: i64,
}

fn push(out: &mut Vec<T>, fmt: Fmt, f: Flow<'_>) {
    let pk = |b: u64| b / 1400 + 1;
    let base = T {
        ts_ms: f.start_ms,
        src: f.src.to_string(),
        dst: f.dst.to_string(),
        sport: f.sport,
        dport: f.dport,
        udp: f.udp,
        inbound: f.inbound,
        allow: true,
        state: b'B',
        counters: (fmt == Fmt::V4).then_some([0; 4]),
        rule: f.rule,
    };
    let end = (f.start_ms + 600_000).min(f.hour_end_ms);
    out.push(T {
        ts_ms: end,
        src: f.src.to_string(),
        dst: f.dst.to_string(),
        state: b'E',
        counters: Some([pk(f.bytes_out), f.bytes_out, pk(f.bytes_back), f.bytes_back]),
        ..base
    });
    out.push(base);
}

/// Adds the scenario's flows of NIC `i` for one hour. `last_day` marks the incident day.
pub(super) fn add(
    out: &mut Vec<T>,
    i: u32,
    n: &Nic,
    hour: u32,
    hour_start_ms: i64,
    last_day: bool,
) {
    let me = ip(n);
    let hour_end_ms = hour_start_ms + 3_599_999;
    let at = |min: i64| hour_start_ms + min * 60_000 + i64::from(i) * 1_000;
    // Every outbound flow of the scenario leaves through Azure's default internet rule.
    let mut send =
        |(dst, dport, udp): (&str, u16, bool), start_ms: i64, sport: u16, bytes: (u64, u64)| {
            let flow = Flow {
                start_ms,
                src: &me,
                dst,
                sport,
                dport,
                udp,
                inbound: false,
                rule: "DefaultRule_AllowInternetOutBound",
                bytes_out: bytes.0,
                bytes_back: bytes.1,
                hour_end_ms,
            };
            push(out, n.fmt, flow);
        };
    // Legitimate and regular, every day.
    if i == 0 && hour == 1 {
        for k in 0..6 {
            send(
                (BACKUP, 443, false),
                at(k * 5),
                40_000 + k as u16,
                (500_000_000, 2_000_000),
            );
        }
    }
    if hour == 3 {
        for k in 0..2 {
            send(
                (REGISTRY, 443, false),
                at(10 + k * 7),
                41_000 + k as u16,
                (1_000_000, 60_000_000),
            );
        }
    }
    if i == 1 && hour == 6 {
        send((SAAS, 443, false), at(2), 42_000, (800_000_000, 5_000_000));
    }
    if !last_day {
        return;
    }
    // The incidents, on the last day only.
    match (i, hour) {
        (2, 14 | 15) => {
            for k in 0..4 {
                let up = (ODD_PORT_DST, ODD_PORT, false);
                send(up, at(k * 12), 43_000 + k as u16, (500_000_000, 1_000_000));
            }
        }
        (3, 2..=20) => {
            for k in 0..150 {
                let sport = 50_000 + (k as u16 * 7 + hour as u16 * 131) % 10_000;
                send(
                    (RESOLVER, 53, true),
                    hour_start_ms + k * 23_000 + 500,
                    sport,
                    (2_400, 900),
                );
            }
        }
        (4, 22) => {
            for k in 0..5 {
                send(
                    (NEW_DST, 443, false),
                    at(k * 9),
                    44_000 + k as u16,
                    (500_000_000, 3_000_000),
                );
            }
        }
        (7, 9) => send((THREAT_DST, 443, false), at(5), 45_000, (40_000, 12_000)),
        (5 | 6, 8..=23) => {
            let port = if i == 5 { 22 } else { 5432 };
            let sources = if i == 5 { 12 } else { 5 };
            for k in 0..sources {
                let peer = format!("{}.{}.{}.{}", 61 + k, 130 + hour, 7 * k + 3, 200 - k);
                push(
                    out,
                    n.fmt,
                    Flow {
                        start_ms: at(i64::from(k) * 3),
                        src: &peer,
                        dst: &me,
                        sport: 50_000 + k as u16,
                        dport: port,
                        udp: false,
                        inbound: true,
                        rule: BROAD_RULE,
                        bytes_out: 30_000,
                        bytes_back: 120_000,
                        hour_end_ms,
                    },
                );
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
pub fn write_files(dir: &Path, last_day: chrono::NaiveDate) -> Result<()> {
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
    let p = |report, kind, i: u32, dst: Option<&str>, port, what| Planted {
        report,
        kind,
        ip: ip_of(i),
        dst_ip: dst.map(String::from),
        port,
        what,
    };
    let key = Key {
        incident_day: last_day.to_string(),
        incidents: vec![
            p(
                "exfil",
                "unexpected_port",
                2,
                Some(ODD_PORT_DST),
                ODD_PORT,
                "bulk upload on an odd port",
            ),
            p(
                "exfil",
                "dns_to_external",
                3,
                Some(RESOLVER),
                53,
                "DNS tunnelling to an outside resolver",
            ),
            p(
                "exfil",
                "new_destination",
                4,
                Some(NEW_DST),
                443,
                "large transfer on 443 to a never-seen destination",
            ),
            p(
                "exfil",
                "threat_intel",
                7,
                Some(THREAT_DST),
                443,
                "connection to a threat-listed address",
            ),
            p(
                "exposure",
                "sensitive_port_exposed",
                5,
                None,
                22,
                "SSH reachable from the internet",
            ),
            p(
                "exposure",
                "sensitive_port_exposed",
                6,
                None,
                5432,
                "PostgreSQL reachable from the internet",
            ),
        ],
        legitimate: vec![
            p(
                "exfil",
                "none",
                0,
                Some(BACKUP),
                443,
                "nightly backup to storage",
            ),
            p("exfil", "none", 1, Some(SAAS), 443, "daily SaaS sync"),
            p(
                "exfil",
                "none",
                0,
                Some(REGISTRY),
                443,
                "image pulls (every NIC)",
            ),
        ],
        rules: vec![
            ("broad_allow", BROAD_RULE),
            ("shadowed", "UserRule_deny-ssh-internet"),
            ("never_hit", "UserRule_allow-legacy-ftp"),
        ],
    };
    put(
        "scenario.json",
        &serde_json::to_string_pretty(&key).expect("JSON of fixed values"),
    )
}
