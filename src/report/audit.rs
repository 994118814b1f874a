//! The rule audit's use of NSG definitions: rules that never matched, rules that cannot match.
//!
//! Why: flow logs only show rules that decided something. Given the definitions
//! (`az network nsg show -o json`), the audit can name the rules that matched nothing in the
//! window — stating the NICs and hours of flow logs that claim rests on — and the rules a
//! higher-priority rule always pre-empts (shadowed), which no amount of traffic would reveal.

use serde_json::{Map, Value};

use super::{Finding, Severity, settings::Checked};
use crate::nsg::{Access, Address, Nsg, Rule};

fn covers_addr(h: &Address, r: &Address) -> bool {
    match (h, r) {
        (Address::Any, _) => true,
        (Address::Cidr(a), Address::Cidr(b)) => a.covers(b),
        (Address::Tag(a), Address::Tag(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// True when every address of `r` is covered by one of `h` (empty lists mean any).
fn covers_addrs(h: &[Address], r: &[Address]) -> bool {
    let any = |v: &[Address]| v.is_empty() || v.contains(&Address::Any);
    if any(h) {
        return true;
    }
    !any(r) && r.iter().all(|ra| h.iter().any(|ha| covers_addr(ha, ra)))
}

fn covers_ports(h: &Rule, r: &Rule) -> bool {
    if h.destination_ports.is_empty() {
        return true;
    }
    !r.destination_ports.is_empty()
        && r.destination_ports.iter().all(|&(lo, hi)| {
            // every port of [lo, hi] inside the union of h's ranges
            let mut next = u32::from(lo);
            let mut ranges = h.destination_ports.clone();
            ranges.sort_unstable();
            for (a, b) in ranges {
                if u32::from(a) <= next && next <= u32::from(b) {
                    next = u32::from(b) + 1;
                }
            }
            next > u32::from(hi)
        })
}

/// The higher-priority rule of the same NSG and direction that matches everything `r`
/// matches, if any.
pub fn shadowing<'a>(rules: &'a [Rule], r: &Rule) -> Option<&'a Rule> {
    rules.iter().find(|h| {
        h.direction == r.direction
            && h.priority < r.priority
            && (h.protocol.is_none() || h.protocol == r.protocol)
            && covers_addrs(&h.sources, &r.sources)
            && covers_addrs(&h.destinations, &r.destinations)
            && covers_ports(h, r)
    })
}

/// Findings from the definitions: `shadowed` (medium when the shadowing rule has the opposite
/// access, low when it only makes the rule redundant), `never_hit` (low for user rules, info
/// for default rules; only for NSGs with flow logs in the window) and `no_coverage` (info).
/// `hits` are the rule report's rows; `coverage` the rows of `nsg_coverage.sql`.
pub fn definitions(
    nsgs: &[Nsg],
    hits: &[Finding],
    coverage: &[Map<String, Value>],
    s: &Checked,
) -> Vec<Finding> {
    let mut out = vec![];
    for nsg in nsgs {
        for r in nsg.rules.iter().filter(|r| !r.default) {
            if let Some(h) = shadowing(&nsg.rules, r) {
                let mut ev = Map::new();
                ev.insert("rule".into(), r.flow_log_name().into());
                ev.insert("nsg".into(), nsg.name.clone().into());
                ev.insert("priority".into(), r.priority.into());
                ev.insert("shadowed_by".into(), h.flow_log_name().into());
                ev.insert("shadowed_by_priority".into(), h.priority.into());
                let access = |a: Access| {
                    if a == Access::Allow {
                        "allows"
                    } else {
                        "denies"
                    }
                };
                ev.insert("shadowed_by_access".into(), access(h.access).into());
                let conflict = h.access != r.access;
                out.push(Finding::new(
                    "shadowed",
                    if conflict {
                        Severity::Medium
                    } else {
                        Severity::Low
                    },
                    if conflict { 0.6 } else { 0.3 },
                    ev,
                    s,
                ));
            }
        }
        let cov = coverage
            .iter()
            .find(|c| c.get("nsg").and_then(Value::as_str) == Some(nsg.name.as_str()));
        let Some(cov) = cov else {
            let mut ev = Map::new();
            ev.insert("nsg".into(), nsg.name.clone().into());
            ev.insert("rules".into(), nsg.rules.len().into());
            out.push(Finding::new("no_coverage", Severity::Info, 0.0, ev, s));
            continue;
        };
        for r in &nsg.rules {
            let name = r.flow_log_name();
            let hit = hits.iter().any(|f| {
                f.text("rule") == Some(name.as_str()) && f.text("nsg") == Some(nsg.name.as_str())
            });
            if hit {
                continue;
            }
            let mut ev = Map::new();
            ev.insert("rule".into(), name.into());
            ev.insert("nsg".into(), nsg.name.clone().into());
            ev.insert("priority".into(), r.priority.into());
            for (k, src) in [("coverage_nics", "nics"), ("coverage_hours", "hours")] {
                ev.insert(k.into(), cov.get(src).cloned().unwrap_or(Value::Null));
            }
            for k in ["first_seen", "last_seen"] {
                ev.insert(
                    format!("coverage_{k}"),
                    cov.get(k).cloned().unwrap_or(Value::Null),
                );
            }
            let (sev, score) = if r.default {
                (Severity::Info, 0.0)
            } else {
                (Severity::Low, 0.2)
            };
            out.push(Finding::new("never_hit", sev, score, ev, s));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Cidr;
    use crate::nsg::Direction;

    fn rule(name: &str, priority: u32, access: Access, src: &[&str], ports: &[(u16, u16)]) -> Rule {
        Rule {
            name: name.into(),
            priority,
            direction: Direction::Inbound,
            access,
            protocol: Some(6),
            sources: src
                .iter()
                .map(|s| match *s {
                    "*" => Address::Any,
                    t => Cidr::parse(t).map_or(Address::Tag(t.into()), Address::Cidr),
                })
                .collect(),
            destinations: vec![Address::Any],
            destination_ports: ports.to_vec(),
            default: false,
        }
    }

    #[test]
    fn shadowing_needs_full_cover_by_a_higher_priority_rule() {
        let rules = vec![
            rule(
                "allow-mgmt-any",
                200,
                Access::Allow,
                &["*"],
                &[(22, 22), (5432, 5432)],
            ),
            rule(
                "deny-ssh-internet",
                300,
                Access::Deny,
                &["Internet"],
                &[(22, 22)],
            ),
            rule(
                "allow-web",
                400,
                Access::Allow,
                &["10.0.0.0/8"],
                &[(443, 443)],
            ),
            rule(
                "allow-web-narrow",
                500,
                Access::Allow,
                &["10.1.0.0/16"],
                &[(443, 443)],
            ),
            rule(
                "allow-range",
                600,
                Access::Allow,
                &["10.1.0.0/16"],
                &[(440, 450)],
            ),
            rule(
                "allow-split",
                100,
                Access::Allow,
                &["*"],
                &[(1000, 1999), (2000, 2999)],
            ),
            rule("allow-inside", 700, Access::Allow, &["*"], &[(1500, 2500)]),
        ];
        let by = |n: &str| {
            let r = rules.iter().find(|r| r.name == n).unwrap();
            shadowing(&rules, r).map(|h| h.name.clone())
        };
        assert_eq!(by("deny-ssh-internet").as_deref(), Some("allow-mgmt-any"));
        assert_eq!(by("allow-web-narrow").as_deref(), Some("allow-web"));
        assert_eq!(by("allow-range"), None, "440-450 is wider than 443");
        assert_eq!(by("allow-web"), None);
        assert_eq!(by("allow-mgmt-any"), None);
        assert_eq!(by("allow-inside").as_deref(), Some("allow-split"));
    }
}
