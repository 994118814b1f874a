//! One finding per subject: kinds that apply to the same thing are one finding.
//!
//! Why: one upload to a new destination on an odd port is one incident, but it matches two
//! kinds (`new_destination`, `unexpected_port`); two findings for it make "5 high" mean 3
//! incidents. Findings about the same subject (a source, destination, protocol and port; or
//! an exposed address, protocol and port) merge into the one with the highest severity and
//! score: it keeps its kind and evidence, lists every kind that applies in `kinds`, and its
//! reason adds the others' reasons. Counts then count subjects.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Finding;

/// What a finding is about, when other kinds can be about the same thing.
fn subject(f: &Finding) -> Option<String> {
    let v = |k: &str| f.evidence.get(k).map_or("".into(), Value::to_string);
    match f.kind.as_str() {
        "threat_intel" | "denied_country" | "dns_to_external" | "unexpected_port"
        | "new_destination" | "new_country" | "new_asn" => Some(format!(
            "pair {} {} {} {}",
            v("src_ip"),
            v("dst_ip"),
            v("protocol"),
            v("dst_port")
        )),
        "sensitive_port_exposed" | "endpoint_exposed" => Some(format!(
            "endpoint {} {} {}",
            v("ip"),
            v("protocol"),
            v("port")
        )),
        _ => None,
    }
}

/// Merges findings about the same subject (see the module docs); keeps the order of first
/// appearance otherwise (the caller sorts afterwards).
pub fn merge(findings: Vec<Finding>) -> Vec<Finding> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, f) in findings.iter().enumerate() {
        if let Some(s) = subject(f) {
            groups.entry(s).or_default().push(i);
        }
    }
    let mut slots: Vec<Option<Finding>> = findings.into_iter().map(Some).collect();
    for members in groups.values() {
        let mut group: Vec<Finding> = members.iter().filter_map(|&i| slots[i].take()).collect();
        group.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.score.total_cmp(&a.score))
                .then_with(|| a.kind.cmp(&b.kind))
        });
        let mut rest = group.split_off(1);
        let mut lead = group.pop().expect("a group has a member");
        let kinds: Vec<Value> = std::iter::once(&lead)
            .chain(rest.iter())
            .map(|f| Value::String(f.kind.clone()))
            .collect();
        lead.evidence.insert("kinds".into(), Value::Array(kinds));
        for other in rest.drain(..) {
            let own = unshared(&lead.reason, &other.reason);
            lead.reason
                .push_str(&format!(" Also {}: {own}", other.kind));
        }
        slots[members[0]] = Some(lead);
    }
    slots.into_iter().flatten().collect()
}

/// What `other` says beyond the clauses it shares with `lead` from the start (both begin
/// with the same subject: "10.0.0.1 (pod …) sent 4.0 GB to 1.2.3.4 on tcp/9443, …").
fn unshared<'a>(lead: &str, other: &'a str) -> &'a str {
    let common = lead
        .char_indices()
        .zip(other.chars())
        .take_while(|((_, a), b)| a == b)
        .last()
        .map_or(0, |((i, c), _)| i + c.len_utf8());
    // The last clause boundary of the shared part outside parentheses (the holder's
    // description has commas of its own).
    let mut depth = 0i32;
    let mut cut = None;
    for (i, c) in other[..common].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 && other[i + 1..common].starts_with(' ') => cut = Some(i + 2),
            _ => {}
        }
    }
    cut.map_or(other, |c| &other[c..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Settings, Severity};
    use serde_json::{Map, json};

    fn finding(kind: &str, severity: Severity, dst: &str) -> Finding {
        let ev: Map<String, Value> = serde_json::from_value(json!({
            "src_ip": "10.0.0.1", "dst_ip": dst, "protocol": "tcp", "dst_port": 4444,
            "bytes_out": 5_000_000, "baseline": 0, "rule": "R", "threat_label": null,
            "flows": 1, "bytes_in": 0
        }))
        .unwrap();
        let settings = Settings::default().check().unwrap();
        Finding::new(kind, severity, 0.5, ev, &settings)
    }

    #[test]
    fn a_merged_reason_says_the_shared_clauses_once() {
        let lead = "10.0.0.1 (pod a/b) sent 4.0 GB to 1.2.3.4 on tcp/9443, a destination no internal host reached.";
        let other = "10.0.0.1 (pod a/b) sent 4.0 GB to 1.2.3.4 on tcp/9443, outside the expected egress ports.";
        assert_eq!(unshared(lead, other), "outside the expected egress ports.");
        assert_eq!(unshared("abc", "xyz, q"), "xyz, q");
        assert_eq!(unshared("é, x", "é, y"), "y");
        let node = "10.0.0.7 (node n; candidates: a, b) sent 6 MB to 9.9.9.9 on udp/53, new.";
        let dns = "10.0.0.7 (node n; candidates: a, b) sent 2 udp/53 flows to 9.9.9.9, odd.";
        assert_eq!(
            unshared(node, dns),
            dns,
            "no clause shared outside the parentheses"
        );
    }

    #[test]
    fn kinds_about_one_subject_are_one_finding_at_the_highest_severity() {
        let merged = merge(vec![
            finding("new_destination", Severity::Medium, "1.2.3.4"),
            finding("unexpected_port", Severity::High, "1.2.3.4"),
            finding("unexpected_port", Severity::High, "5.6.7.8"),
            finding("volume_anomaly", Severity::High, "1.2.3.4"),
        ]);
        assert_eq!(merged.len(), 3);
        let f = &merged[0];
        assert_eq!(
            (f.kind.as_str(), f.severity),
            ("unexpected_port", Severity::High)
        );
        assert_eq!(
            f.evidence["kinds"],
            json!(["unexpected_port", "new_destination"])
        );
        assert!(f.reason.contains(" Also new_destination: "), "{}", f.reason);
        // The subject is said once.
        assert_eq!(f.reason.matches("10.0.0.1").count(), 1, "{}", f.reason);
        assert_eq!(merged[1].evidence["kinds"], json!(["unexpected_port"]));
        assert!(
            !merged[2].evidence.contains_key("kinds"),
            "another subject kind"
        );
    }
}
