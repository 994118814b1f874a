//! The one-sentence reason of each finding, written from its evidence.
//!
//! Why: a finding someone reads at 3 a.m. must say what happened, how much, through which rule
//! and compared with what, in words, and point at the next step. The SQL decides; this module
//! explains.

use serde_json::{Map, Value};

use super::{Finding, Severity, settings::Checked};

/// The evidence of an exposed endpoint (`sensitive_port_exposed`, `endpoint_exposed`).
const EXPOSED: &[&str] = &[
    "ip",
    "protocol",
    "port",
    "flows",
    "external_sources",
    "rule",
    "answered",
    "new",
    "bytes_out",
];

/// The evidence of an edge of the traffic matrix (`edge`, `new_edge`).
const EDGE: &[&str] = &[
    "src",
    "src_side",
    "dst",
    "dst_side",
    "protocol",
    "ports",
    "min_port",
    "max_port",
    "bytes",
    "flows",
    "tuples",
    "first_seen",
];

/// The evidence each kind of finding carries: every key [`explain`] reads for it. A report
/// row of that kind without one of these columns is an error (`Error::ReportRows`), so a
/// column renamed in `sql/reports/*.sql` fails loudly instead of printing `?`.
pub const EVIDENCE: &[(&str, &[&str])] = &[
    (
        "denied_country",
        &[
            "src_ip",
            "dst_ip",
            "protocol",
            "dst_port",
            "bytes_out",
            "country",
            "rule",
        ],
    ),
    (
        "threat_intel",
        &[
            "src_ip",
            "dst_ip",
            "protocol",
            "dst_port",
            "bytes_out",
            "threat_label",
            "threat_feed",
            "rule",
        ],
    ),
    (
        "dns_to_external",
        &[
            "src_ip",
            "dst_ip",
            "protocol",
            "dst_port",
            "flows",
            "bytes_out",
            "bytes_in",
            "rule",
        ],
    ),
    (
        "unexpected_port",
        &[
            "src_ip",
            "dst_ip",
            "protocol",
            "dst_port",
            "bytes_out",
            "baseline",
            "rule",
        ],
    ),
    (
        "new_country",
        &[
            "src_ip",
            "dst_ip",
            "protocol",
            "dst_port",
            "bytes_out",
            "country",
            "place_bytes_out",
            "rule",
        ],
    ),
    (
        "new_asn",
        &[
            "src_ip",
            "dst_ip",
            "protocol",
            "dst_port",
            "bytes_out",
            "asn",
            "place_bytes_out",
            "rule",
        ],
    ),
    (
        "new_destination",
        &[
            "src_ip",
            "dst_ip",
            "protocol",
            "dst_port",
            "bytes_out",
            "rule",
        ],
    ),
    (
        "volume_anomaly",
        &[
            "src_ip",
            "dst_ip",
            "protocol",
            "dst_port",
            "bytes_out",
            "baseline",
        ],
    ),
    ("sensitive_port_exposed", EXPOSED),
    ("endpoint_exposed", EXPOSED),
    (
        "scan_pressure",
        &[
            "ip",
            "denied_flows",
            "external_sources",
            "distinct_ports",
            "sensitive_port_flows",
            "rule",
        ],
    ),
    (
        "broad_allow",
        &[
            "rule",
            "nsg",
            "public_sensitive_ports",
            "public_sources",
            "first_sensitive_port",
            "public_unexpected_ports",
            "unexpected_egress_ports",
            "first_unexpected_egress_port",
        ],
    ),
    (
        "rule_hits",
        &[
            "rule",
            "nsg",
            "allowed_flows",
            "denied_flows",
            "bytes",
            "distinct_ports",
            "distinct_peers",
        ],
    ),
    (
        "never_hit",
        &["rule", "priority", "nsg", "coverage_nics", "coverage_hours"],
    ),
    ("no_coverage", &["nsg", "rules"]),
    (
        "shadowed",
        &[
            "rule",
            "priority",
            "nsg",
            "shadowed_by",
            "shadowed_by_priority",
            "shadowed_by_access",
        ],
    ),
    ("coverage_gap", &["nic", "hours", "since", "until"]),
    ("edge", EDGE),
    ("new_edge", EDGE),
    (
        "top_talker",
        &[
            "ip",
            "bytes",
            "bytes_to_external",
            "bytes_from_external",
            "peers",
        ],
    ),
    (
        "egress_place",
        &[
            "grouping",
            "place",
            "name",
            "bytes_out",
            "flows",
            "sources",
            "destinations",
        ],
    ),
];

/// What `evidence` lacks for a finding of `kind` ([`EVIDENCE`]), as a sentence; `None` when
/// it has everything. An unknown kind is named too.
pub fn missing_evidence(kind: &str, evidence: &Map<String, Value>) -> Option<String> {
    let Some((_, keys)) = EVIDENCE.iter().find(|(k, _)| *k == kind) else {
        return Some(format!("unknown kind of finding '{kind}'"));
    };
    let missing: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| !evidence.contains_key(*k))
        .collect();
    (!missing.is_empty()).then(|| format!("{kind} rows lack the column(s) {}", missing.join(", ")))
}

/// Bytes in decimal units: `812 B`, `4.2 MB`, `3.0 GB`.
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", UNITS[0])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `1 flow`, `2,400 flows`.
fn counted(n: f64, one: &str, many: &str) -> String {
    match n == 1.0 {
        true => format!("1 {one}"),
        false => format!("{} {many}", count(n)),
    }
}

/// A count with thousands separators: `12,345`.
pub fn count(n: f64) -> String {
    let s = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn list(v: &[super::settings::PortSpec]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes the reason of `f`.
pub fn explain(f: &Finding, s: &Checked) -> String {
    // Every key read here is declared in EVIDENCE (checked by a test).
    let declared = |k: &str| {
        debug_assert!(
            f.evidence.contains_key(k),
            "the reason of {} reads '{k}', which its evidence lacks",
            f.kind
        );
    };
    let t = |k: &str| {
        declared(k);
        f.text(k).unwrap_or("?").to_string()
    };
    let n = |k: &str| {
        declared(k);
        f.num(k)
    };
    // An address, with its holder at the time when the lake has an inventory.
    let who = |k: &str| {
        declared(k);
        super::holders::describe(&f.evidence, k)
    };
    let port = || {
        format!(
            "{}/{}",
            f.text("protocol").unwrap_or("proto"),
            f.evidence
                .get("dst_port")
                .or_else(|| f.evidence.get("port"))
                .map_or("?".into(), ToString::to_string)
        )
    };
    let rule = || match f.text("rule") {
        Some(r) => format!(", allowed by {r}"),
        None => String::new(),
    };
    match f.kind.as_str() {
        "denied_country" => format!(
            "{} sent {} to {} on {}, in {}, a country listed in denied_countries{}: block the destination and investigate the host.",
            who("src_ip"),
            bytes(n("bytes_out")),
            who("dst_ip"),
            port(),
            t("country"),
            rule()
        ),
        "threat_intel" => format!(
            "{} sent {} to {} on {}, listed as '{}' in threat feed '{}'{}{}: block the destination and investigate the host.",
            who("src_ip"),
            bytes(n("bytes_out")),
            who("dst_ip"),
            port(),
            t("threat_label"),
            t("threat_feed"),
            // What the feed is, when the session knew it (`threat_source`).
            f.text("threat_source")
                .map_or(String::new(), |s| format!(" ({s})")),
            rule()
        ),
        "dns_to_external" => format!(
            "{} sent {} {} flows ({} out, {} back) to {}, which is not an approved server: look for DNS tunnelling or a resolver bypass{}.",
            who("src_ip"),
            count(n("flows")),
            port(),
            bytes(n("bytes_out")),
            bytes(n("bytes_in")),
            who("dst_ip"),
            rule()
        ),
        "unexpected_port" => format!(
            "{} sent {} to {} on {}, outside the expected egress ports ({}){}; baseline for this pair: {}.",
            who("src_ip"),
            bytes(n("bytes_out")),
            who("dst_ip"),
            port(),
            list(&s.expected_egress_ports),
            rule(),
            bytes(n("baseline"))
        ),
        "new_destination" => format!(
            "{} sent {} to {} on {}, a destination no internal host reached in the baseline{}: confirm it is a known service.",
            who("src_ip"),
            bytes(n("bytes_out")),
            who("dst_ip"),
            port(),
            rule()
        ),
        "new_country" => format!(
            "{} sent {} to {}, a country it sent nothing to in the baseline; {} of it to {} on {}{}: confirm the transfer is expected.",
            who("src_ip"),
            bytes(n("place_bytes_out")),
            t("country"),
            bytes(n("bytes_out")),
            who("dst_ip"),
            port(),
            rule()
        ),
        "new_asn" => format!(
            "{} sent {} to AS {}, a network it sent nothing to in the baseline; {} of it to {} on {}{}: confirm the transfer is expected.",
            who("src_ip"),
            bytes(n("place_bytes_out")),
            n("asn") as u64,
            bytes(n("bytes_out")),
            who("dst_ip"),
            port(),
            rule()
        ),
        "volume_anomaly" => {
            let base = n("baseline");
            let ratio = if base > 0.0 {
                format!(
                    "{:.1}× its baseline rate ({} expected)",
                    n("bytes_out") / base,
                    bytes(base)
                )
            } else {
                "with almost no egress in the baseline".into()
            };
            format!(
                "{} sent {} to external addresses, {}; the most to {} on {}.",
                who("src_ip"),
                bytes(n("bytes_out")),
                ratio,
                who("dst_ip"),
                port()
            )
        }
        "sensitive_port_exposed" | "endpoint_exposed" => {
            let what = if f.kind == "sensitive_port_exposed" {
                "a management or data port"
            } else {
                "a service"
            };
            let answered = match f.evidence.get("answered").and_then(|v| v.as_bool()) {
                Some(true) => format!("the service answered with {}", bytes(n("bytes_out"))),
                Some(false) => "the service never answered".into(),
                None => "the logs carry no byte counts to tell whether it answered".into(),
            };
            let new = if f.evidence.get("new").and_then(|v| v.as_bool()) == Some(true) {
                ", new since the baseline"
            } else {
                ""
            };
            let next = if f.severity == Severity::Info {
                "declared expected".to_string()
            } else {
                format!("restrict {} to known sources or close it", t("rule"))
            };
            format!(
                "{} {} ({what}{new}) accepted {} flows from {} public sources through {}; {answered}: {next}.",
                who("ip"),
                port(),
                count(n("flows")),
                count(n("external_sources")),
                t("rule")
            )
        }
        "scan_pressure" => format!(
            "{} was probed: {} denied inbound flows from {} public sources on {} ports ({} on sensitive ports), denied by {}.",
            who("ip"),
            count(n("denied_flows")),
            count(n("external_sources")),
            count(n("distinct_ports")),
            count(n("sensitive_port_flows")),
            t("rule")
        ),
        "broad_allow" => {
            let mut why = vec![];
            if n("public_sensitive_ports") > 0.0 {
                why.push(format!(
                    "let {} public sources reach {} sensitive port(s) (e.g. {})",
                    count(n("public_sources")),
                    count(n("public_sensitive_ports")),
                    f.evidence
                        .get("first_sensitive_port")
                        .map_or("?".into(), ToString::to_string)
                ));
            }
            if n("public_unexpected_ports") > 1.0 {
                why.push(format!(
                    "let public sources reach {} ports not declared exposed",
                    count(n("public_unexpected_ports"))
                ));
            }
            if n("unexpected_egress_ports") > 0.0 {
                why.push(format!(
                    "let egress out on {} unexpected port(s) (e.g. {})",
                    count(n("unexpected_egress_ports")),
                    f.evidence
                        .get("first_unexpected_egress_port")
                        .map_or("?".into(), ToString::to_string)
                ));
            }
            format!(
                "{} ({}) {}: narrow its sources, destinations or ports.",
                t("rule"),
                nsg_name(f),
                why.join(" and ")
            )
        }
        "rule_hits" => format!(
            "{} ({}) decided {} allowed and {} denied flows, {} over {} ports and {} peers.",
            t("rule"),
            nsg_name(f),
            count(n("allowed_flows")),
            count(n("denied_flows")),
            bytes(n("bytes")),
            count(n("distinct_ports")),
            count(n("distinct_peers"))
        ),
        "never_hit" => format!(
            "{} (priority {}) in NSG {} matched no flow in the window, over {} NICs and {} hours of its flow logs: remove it if it is not needed.",
            t("rule"),
            n("priority"),
            t("nsg"),
            count(n("coverage_nics")),
            count(n("coverage_hours"))
        ),
        "no_coverage" => format!(
            "NSG {} has no flow logs in the window, so nothing can be said about its {} rules: enable flow logs for it.",
            t("nsg"),
            count(n("rules"))
        ),
        "shadowed" => format!(
            "{} (priority {}) in NSG {} can never match: {} (priority {}) matches all its traffic first and {} it.",
            t("rule"),
            n("priority"),
            t("nsg"),
            t("shadowed_by"),
            n("shadowed_by_priority"),
            t("shadowed_by_access")
        ),
        "edge" | "new_edge" => {
            let proto = t("protocol");
            let ports = match n("ports") as u64 {
                1 => format!("{proto}/{}", n("min_port")),
                k => format!("{k} {proto} ports ({}-{})", n("min_port"), n("max_port")),
            };
            let side = |k: &str| match f.text(k) {
                Some("outside") => " (outside)",
                _ => "",
            };
            let new = match f.kind.as_str() {
                "new_edge" => "; new since the baseline: confirm this path is meant to exist",
                _ => "",
            };
            format!(
                "{}{} → {}{} on {ports}: {} in {} flows ({} tuples), first at {}{new}.",
                t("src"),
                side("src_side"),
                t("dst"),
                side("dst_side"),
                bytes(n("bytes")),
                count(n("flows")),
                count(n("tuples")),
                t("first_seen")
            )
        }
        "coverage_gap" => format!(
            "NIC {} has no flow logs for {} hour(s) from {} to {}: reports are blind there; check its flow-log settings.",
            t("nic"),
            count(n("hours")),
            t("since"),
            t("until")
        ),
        "top_talker" => format!(
            "{} moved {} ({} to external addresses, {} from them) with {}.",
            who("ip"),
            bytes(n("bytes")),
            bytes(n("bytes_to_external")),
            bytes(n("bytes_from_external")),
            counted(n("peers"), "peer", "peers")
        ),
        "egress_place" => {
            let place = match (f.text("grouping"), f.text("place")) {
                (_, None) => "addresses the location databases do not place".to_string(),
                (Some("asn"), Some(p)) => match f.text("name") {
                    Some(name) => format!("AS {p} ({name})"),
                    None => format!("AS {p}"),
                },
                (_, Some(p)) => match f.text("name") {
                    Some(name) => format!("{p} ({name})"),
                    None => p.to_string(),
                },
            };
            declared("grouping");
            declared("place");
            declared("name");
            format!(
                "{} went out to {place}: {} from {} to {}.",
                bytes(n("bytes_out")),
                counted(n("flows"), "flow", "flows"),
                counted(n("sources"), "internal address", "internal addresses"),
                counted(n("destinations"), "destination", "destinations")
            )
        }
        other => format!("{other}: {}", serde_json::Value::Object(f.evidence.clone())),
    }
}

fn nsg_name(f: &Finding) -> String {
    match f.text("nsg") {
        Some("") | None => "no NSG name".into(),
        Some(n) => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(bytes(812.0), "812 B");
        assert_eq!(bytes(4_200_000.0), "4.2 MB");
        assert_eq!(bytes(3.04e9), "3.0 GB");
        assert_eq!(count(12345.0), "12,345");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(1_000_000.0), "1,000,000");
    }

    /// Each kind's reason reads only its declared evidence (a read of another key trips the
    /// debug assertion) and leaves no `?` when that evidence is there.
    #[test]
    fn every_kind_explains_itself_from_its_declared_evidence() {
        let settings = crate::report::Settings::default().check().unwrap();
        for (kind, keys) in EVIDENCE {
            let mut ev = Map::new();
            for k in *keys {
                let v: Value = match *k {
                    "answered" | "new" => true.into(),
                    "src_ip" | "dst_ip" | "ip" | "rule" | "nsg" | "protocol" | "nic" | "since"
                    | "until" | "threat_label" | "threat_feed" | "country" | "grouping"
                    | "place" | "name" | "shadowed_by" | "shadowed_by_access" | "src" | "dst"
                    | "src_side" | "dst_side" | "first_seen" => format!("<{k}>").into(),
                    _ => 2.into(),
                };
                ev.insert(k.to_string(), v);
            }
            assert_eq!(missing_evidence(kind, &ev), None);
            for severity in [Severity::Info, Severity::High] {
                let f = Finding::new(kind, severity, 0.5, ev.clone(), &settings);
                assert!(!f.reason.contains('?'), "{kind}: {}", f.reason);
                assert!(
                    !f.reason.starts_with(&format!("{kind}:")),
                    "{kind}: {}",
                    f.reason
                );
            }
            let mut short = ev.clone();
            short.shift_remove(keys[0]);
            assert!(missing_evidence(kind, &short).unwrap().contains(keys[0]));
        }
    }
}
