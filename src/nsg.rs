//! NSG definitions: the rules of network security groups, as `az network nsg show -o json`
//! (or `az network nsg list`, or the ARM REST API) writes them.
//!
//! Why: flow logs name the rule that decided each flow, but not what the rule says. The rule
//! audit needs both: which rules never matched, which are shadowed by a higher-priority rule,
//! which let public sources through. The Azure CLI flattens each rule's `properties` into the
//! rule while ARM keeps them nested; both are accepted, as are the singular and plural forms of
//! address prefixes and port ranges.

use std::path::Path;

use serde_json::Value;

use crate::addr::Cidr;
use crate::error::{Error, IoContext, Result};

/// Traffic direction of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Towards the NIC or subnet.
    Inbound,
    /// Away from it.
    Outbound,
}

/// What a rule does with matching traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Let it through.
    Allow,
    /// Drop it.
    Deny,
}

/// One side's address condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `*`: any address.
    Any,
    /// An address or CIDR block.
    Cidr(Cidr),
    /// A service tag (`Internet`, `VirtualNetwork`, `AzureLoadBalancer`, `Storage.WestEurope`, ...).
    Tag(String),
}

/// One security rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Rule name as defined.
    pub name: String,
    /// 100..4096 for user rules; 65000+ for default rules. Lower wins.
    pub priority: u32,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Allow or deny.
    pub access: Access,
    /// IANA protocol number, or `None` for any (`*`).
    pub protocol: Option<u8>,
    /// Source addresses (any of them matches).
    pub sources: Vec<Address>,
    /// Destination addresses.
    pub destinations: Vec<Address>,
    /// Destination port ranges, inclusive; empty means any.
    pub destination_ports: Vec<(u16, u16)>,
    /// True for Azure's default rules (`defaultSecurityRules`).
    pub default: bool,
}

impl Rule {
    /// The name flow logs give the rule: `UserRule_<name>` or `DefaultRule_<name>`.
    pub fn flow_log_name(&self) -> String {
        if self.default {
            format!("DefaultRule_{}", self.name)
        } else {
            format!("UserRule_{}", self.name)
        }
    }

    /// True when the rule's destination ports include `port`.
    pub fn covers_port(&self, port: u16) -> bool {
        self.destination_ports.is_empty()
            || self
                .destination_ports
                .iter()
                .any(|(lo, hi)| (*lo..=*hi).contains(&port))
    }
}

/// A network security group and its rules (user and default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nsg {
    /// NSG name, lower-cased (as the lake's `nsg_name`).
    pub name: String,
    /// Rules, user rules first, each list in priority order.
    pub rules: Vec<Rule>,
}

/// Reads NSG definitions from a file holding one NSG object or an array of them.
pub fn load(path: &Path) -> Result<Vec<Nsg>> {
    let text = std::fs::read_to_string(path).ctx("read NSG definitions", path)?;
    let bad = |line: Option<usize>, msg: String| Error::Input {
        path: path.to_path_buf(),
        line,
        message: format!("NSG definitions: {msg}"),
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| bad(Some(e.line()), e.to_string()))?;
    let list = match v {
        Value::Array(a) => a,
        one => vec![one],
    };
    list.iter()
        .map(|n| parse_nsg(n).map_err(|m| bad(None, m)))
        .collect()
}

/// The object holding a resource's fields: `properties` (ARM) or the object itself (az CLI).
fn props(v: &Value) -> &Value {
    v.get("properties").unwrap_or(v)
}

fn parse_nsg(v: &Value) -> std::result::Result<Nsg, String> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or("an NSG without a name")?
        .to_ascii_lowercase();
    let p = props(v);
    let mut rules = Vec::new();
    for (key, default) in [("securityRules", false), ("defaultSecurityRules", true)] {
        let mut list = p
            .get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|r| parse_rule(r, default).map_err(|e| format!("NSG {name}: {e}")))
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        list.sort_by_key(|r| (r.direction == Direction::Outbound, r.priority));
        rules.extend(list);
    }
    Ok(Nsg { name, rules })
}

fn strings(p: &Value, one: &str, many: &str) -> Vec<String> {
    let mut out: Vec<String> = p
        .get(many)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if let Some(s) = p.get(one).and_then(Value::as_str) {
        out.push(s.to_string());
    }
    out
}

fn address(s: &str) -> Address {
    match s.trim() {
        "*" | "Any" | "any" => Address::Any,
        t => Cidr::parse(t).map_or_else(|| Address::Tag(t.to_string()), Address::Cidr),
    }
}

/// Parses `443` or `8000-8100` into an inclusive range (`None` when invalid or reversed).
pub fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    let s = s.trim();
    let (lo, hi) = s.split_once('-').unwrap_or((s, s));
    let (lo, hi): (u16, u16) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
    (lo <= hi).then_some((lo, hi))
}

/// A rule's port range: `*` is `Some(None)`, any port.
fn port_range(s: &str) -> Option<Option<(u16, u16)>> {
    if s.trim() == "*" {
        return Some(None);
    }
    parse_port_range(s).map(Some)
}

fn parse_rule(v: &Value, default: bool) -> std::result::Result<Rule, String> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or("a rule without a name")?
        .to_string();
    let p = props(v);
    let field = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("");
    let priority = p
        .get("priority")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("rule {name}: no priority"))?;
    let direction = match field("direction") {
        "Inbound" => Direction::Inbound,
        "Outbound" => Direction::Outbound,
        d => return Err(format!("rule {name}: direction '{d}'")),
    };
    let access = match field("access") {
        "Allow" => Access::Allow,
        "Deny" => Access::Deny,
        a => return Err(format!("rule {name}: access '{a}'")),
    };
    let protocol = match field("protocol").to_ascii_lowercase().as_str() {
        "*" | "" => None,
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        "esp" => Some(50),
        "ah" => Some(51),
        other => return Err(format!("rule {name}: protocol '{other}'")),
    };
    let mut destination_ports = Vec::new();
    for s in strings(p, "destinationPortRange", "destinationPortRanges") {
        match port_range(&s) {
            Some(Some(r)) => destination_ports.push(r),
            Some(None) => {
                destination_ports.clear();
                break;
            }
            None => return Err(format!("rule {name}: port range '{s}'")),
        }
    }
    let sources = strings(p, "sourceAddressPrefix", "sourceAddressPrefixes")
        .iter()
        .map(|s| address(s))
        .collect();
    let destinations = strings(p, "destinationAddressPrefix", "destinationAddressPrefixes")
        .iter()
        .map(|s| address(s))
        .collect();
    Ok(Rule {
        name,
        priority,
        direction,
        access,
        protocol,
        sources,
        destinations,
        destination_ports,
        default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `az network nsg show -o json` shape (flattened rules), trimmed to the fields we read.
    const AZ_CLI: &str = r#"{
      "name": "AKS-AgentPool-NSG",
      "securityRules": [
        {"name": "AllowWeb", "priority": 200, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
         "sourceAddressPrefix": "*", "destinationAddressPrefix": "10.224.0.0/16",
         "destinationPortRange": null, "destinationPortRanges": ["80", "443"], "sourcePortRange": "*"},
        {"name": "AllowSshFromOffice", "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
         "sourceAddressPrefixes": ["198.51.100.0/24", "203.0.113.7"], "destinationAddressPrefix": "VirtualNetwork",
         "destinationPortRange": "22"},
        {"name": "DenyHighPorts", "priority": 4000, "direction": "Outbound", "access": "Deny", "protocol": "*",
         "sourceAddressPrefix": "*", "destinationAddressPrefix": "Internet", "destinationPortRange": "1024-65535"}
      ],
      "defaultSecurityRules": [
        {"name": "DenyAllInBound", "priority": 65500, "direction": "Inbound", "access": "Deny", "protocol": "*",
         "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "destinationPortRange": "*"}
      ]
    }"#;

    #[test]
    fn cli_and_arm_shapes_parse_to_the_same_rules() {
        let d = tempfile::tempdir().unwrap();
        let cli = d.path().join("nsg.json");
        std::fs::write(&cli, AZ_CLI).unwrap();
        let nsgs = load(&cli).unwrap();
        assert_eq!(nsgs.len(), 1);
        let n = &nsgs[0];
        assert_eq!(n.name, "aks-agentpool-nsg");
        let names: Vec<String> = n.rules.iter().map(Rule::flow_log_name).collect();
        assert_eq!(
            names,
            [
                "UserRule_AllowSshFromOffice",
                "UserRule_AllowWeb",
                "UserRule_DenyHighPorts",
                "DefaultRule_DenyAllInBound"
            ]
        );
        let web = &n.rules[1];
        assert_eq!(web.destination_ports, [(80, 80), (443, 443)]);
        assert!(web.covers_port(443) && !web.covers_port(22));
        assert_eq!(web.sources, [Address::Any]);
        let ssh = &n.rules[0];
        assert_eq!(ssh.protocol, Some(6));
        assert_eq!(ssh.sources.len(), 2);
        assert_eq!(ssh.destinations, [Address::Tag("VirtualNetwork".into())]);
        assert_eq!(n.rules[2].destination_ports, [(1024, 65535)]);
        assert!(n.rules[3].default && n.rules[3].covers_port(1));

        // The ARM shape (rules' fields under "properties"), in a list as `az network nsg list`.
        let mut v: Value = serde_json::from_str(AZ_CLI).unwrap();
        let nest = |rules: &mut Value| {
            for r in rules.as_array_mut().unwrap() {
                let name = r["name"].take();
                *r = serde_json::json!({"name": name, "properties": r.clone()});
            }
        };
        nest(&mut v["securityRules"]);
        nest(&mut v["defaultSecurityRules"]);
        let arm = serde_json::json!([{
            "name": v["name"].clone(),
            "properties": {"securityRules": v["securityRules"], "defaultSecurityRules": v["defaultSecurityRules"]}
        }]);
        let p = d.path().join("arm.json");
        std::fs::write(&p, arm.to_string()).unwrap();
        assert_eq!(load(&p).unwrap(), nsgs);
    }

    #[test]
    fn bad_definitions_name_the_file_and_the_rule() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("nsg.json");
        std::fs::write(&p, AZ_CLI.replace("\"1024-65535\"", "\"65535-1024\"")).unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(
            e.contains("nsg.json") && e.contains("DenyHighPorts") && e.contains("65535-1024"),
            "{e}"
        );
        std::fs::write(&p, "{\"name\": ").unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("nsg.json:1: NSG definitions"), "{e}");
    }
}
