//! The `[report]` section of `flowlake.toml`: what counts as internal, expected, approved,
//! sensitive, and how big is big.
//!
//! Why: a finding is only as good as its idea of normal. Every setting has a default that makes a
//! report useful with no configuration (RFC 1918 is internal, 80 and 443 are expected egress,
//! Azure DNS is the approved resolver, the usual management and database ports are sensitive).
//! Settings are parsed and checked once, with the offending entry named, then rendered into the
//! SQL of `sql/reports/` as plain predicates, so the queries stay readable and portable.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Deserialize;

use crate::addr::Cidr;
use crate::enrich::sets::valid_set_name;
use crate::error::{Error, Result};

/// Report settings as written in `flowlake.toml` (`[report]`); every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Addresses that are yours besides RFC 1918 / RFC 6598 (own public ranges, peered clouds).
    pub internal: Vec<String>,
    /// Ports egress is expected on (`tcp/443`, `udp/123`, `8080`, `tcp/8000-8100`); scoped to
    /// a namespace or workload with an inventory (`ns:data tcp/5432`,
    /// `workload:shop/web tcp/8443`).
    pub expected_egress_ports: Vec<String>,
    /// Infrastructure protocols that must only go to approved servers (DNS, DoT, NTP).
    pub infrastructure_ports: Vec<String>,
    /// Servers those protocols may go to (addresses, CIDRs, `set:NAME`, `tag:NAME`).
    pub approved_servers: Vec<String>,
    /// Destinations that are never "new" or "unexpected" (CIDRs, `set:NAME`, `tag:NAME`);
    /// scoped like `expected_egress_ports` (`workload:billing/reports 52.1.2.0/24`).
    pub allowed_destinations: Vec<String>,
    /// Names of `[sets]` that are threat-intelligence lists.
    pub threat_sets: Vec<String>,
    /// Countries (ISO 3166-1 alpha-2 codes) no traffic may go to: any allowed egress there
    /// is a high `denied_country` finding (needs `[geo]` databases).
    pub denied_countries: Vec<String>,
    /// Endpoints meant to be reachable from the internet: `PORTS` or `ADDRESS PORTS`
    /// (`tcp/443`, `10.224.0.10 tcp/80`, `10.224.1.0/24 tcp/8443`), or a Service with an
    /// inventory (`service:shop/web`, `service:shop/web tcp/31443`).
    pub expected_exposed: Vec<String>,
    /// Management and data ports whose exposure ranks first.
    pub sensitive_ports: Vec<String>,
    /// Bytes below which new destinations and volume changes are not reported.
    pub min_bytes: u64,
    /// Bytes from which an egress finding is high severity.
    pub high_bytes: u64,
    /// How many times its baseline a source's egress must be to count as an anomaly.
    pub anomaly_factor: f64,
    /// Default baseline length when `--baseline` is not given (`7d`, `14d`).
    pub baseline: String,
    /// How many top talkers and timeline charts a report shows.
    pub top: usize,
    /// NSG definition files (`az network nsg show -o json` or `list`) for the rule audit.
    pub nsg_files: Vec<PathBuf>,
}

impl Default for Settings {
    fn default() -> Settings {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        Settings {
            internal: vec![],
            expected_egress_ports: s(&["tcp/80", "tcp/443"]),
            infrastructure_ports: s(&["udp/53", "tcp/53", "tcp/853", "udp/123"]),
            approved_servers: s(&["168.63.129.16"]),
            allowed_destinations: vec![],
            threat_sets: vec![],
            denied_countries: vec![],
            expected_exposed: vec![],
            sensitive_ports: s(&[
                "tcp/22",
                "tcp/23",
                "tcp/445",
                "tcp/1433",
                "tcp/2375",
                "tcp/2376",
                "tcp/2379",
                "tcp/3306",
                "tcp/3389",
                "tcp/5432",
                "tcp/5900",
                "tcp/5984",
                "tcp/6379",
                "tcp/6443",
                "tcp/9092",
                "tcp/9200",
                "tcp/10250",
                "tcp/11211",
                "tcp/27017",
            ]),
            min_bytes: 1_000_000,
            high_bytes: 100_000_000,
            anomaly_factor: 3.0,
            baseline: "7d".into(),
            top: 10,
            nsg_files: vec![],
        }
    }
}

/// A protocol and port range: `tcp/443`, `udp/53`, `8080` (TCP and UDP), `tcp/8000-8100`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// `tcp`, `udp`, ... or `None` for any protocol.
    pub protocol: Option<String>,
    /// First port.
    pub lo: u16,
    /// Last port (inclusive).
    pub hi: u16,
}

impl PortSpec {
    /// Parses one port specification.
    pub fn parse(s: &str) -> Option<PortSpec> {
        let s = s.trim();
        let (protocol, ports) = match s.split_once('/') {
            Some((p, rest)) => {
                let p = p.trim().to_ascii_lowercase();
                if p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return None;
                }
                (Some(p), rest.trim())
            }
            None => (None, s),
        };
        let (lo, hi) = crate::nsg::parse_port_range(ports)?;
        Some(PortSpec { protocol, lo, hi })
    }

    /// SQL predicate over the `protocol` and `dst_port` columns.
    fn sql(&self) -> String {
        let port = if self.lo == self.hi {
            format!("dst_port = {}", self.lo)
        } else {
            format!("dst_port BETWEEN {} AND {}", self.lo, self.hi)
        };
        match &self.protocol {
            Some(p) => format!("(protocol = '{p}' AND {port})"),
            None => format!("({port})"),
        }
    }
}

impl std::fmt::Display for PortSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(p) = &self.protocol {
            write!(f, "{p}/")?;
        }
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// An address condition: a CIDR, a named set or a service tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrSpec {
    /// An address or block.
    Cidr(Cidr),
    /// `set:NAME`: membership in a configured IP set.
    Set(String),
    /// `tag:NAME`: the address's narrowest service tag is NAME or NAME.<region>.
    Tag(String),
}

impl AddrSpec {
    /// Parses `CIDR`, `ADDRESS`, `set:NAME` or `tag:NAME`.
    pub fn parse(s: &str) -> Option<AddrSpec> {
        let s = s.trim();
        if let Some(n) = s.strip_prefix("set:") {
            return valid_set_name(n).then(|| AddrSpec::Set(n.to_string()));
        }
        if let Some(n) = s.strip_prefix("tag:") {
            return valid_set_name(n).then(|| AddrSpec::Tag(n.to_string()));
        }
        Cidr::parse(s).map(AddrSpec::Cidr)
    }

    /// SQL predicate over the address column `col`.
    fn sql(&self, col: &str) -> String {
        match self {
            AddrSpec::Cidr(c) => cidr_sql(c, col),
            AddrSpec::Set(n) => format!("ip_in_set({col}, '{n}')"),
            AddrSpec::Tag(t) => {
                format!("(service_tag({col}) = '{t}' OR service_tag({col}) LIKE '{t}.%')")
            }
        }
    }
}

/// An endpoint expected to be public: optional address condition and ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    /// `None`: any internal address.
    pub addr: Option<Cidr>,
    /// The ports.
    pub ports: PortSpec,
}

impl EndpointSpec {
    /// Parses `PORTS` or `ADDRESS PORTS` (`tcp/443`, `10.0.0.4 tcp/80`, `* tcp/443`).
    pub fn parse(s: &str) -> Option<EndpointSpec> {
        let mut parts = s.split_whitespace();
        let (a, b) = (parts.next()?, parts.next());
        if parts.next().is_some() {
            return None;
        }
        match b {
            None => Some(EndpointSpec {
                addr: None,
                ports: PortSpec::parse(a)?,
            }),
            Some(p) => Some(EndpointSpec {
                addr: if a == "*" {
                    None
                } else {
                    Some(Cidr::parse(a)?)
                },
                ports: PortSpec::parse(p)?,
            }),
        }
    }
}

/// Whose traffic a scoped setting is about (with an inventory): `ns:NAMESPACE` or
/// `workload:NAMESPACE/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every workload of a namespace.
    Namespace(String),
    /// One workload (`namespace/name`).
    Workload(String),
}

/// A Kubernetes name: lower-case letters, digits, `-` and `.`.
fn k8s_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

impl Scope {
    fn parse(s: &str) -> Option<Scope> {
        if let Some(ns) = s.strip_prefix("ns:") {
            return k8s_name(ns).then(|| Scope::Namespace(ns.to_string()));
        }
        let w = s.strip_prefix("workload:")?;
        let (ns, name) = w.split_once('/')?;
        (k8s_name(ns) && k8s_name(name)).then(|| Scope::Workload(w.to_string()))
    }

    /// SQL predicate over a subject column (`namespace/workload` with an inventory).
    fn sql(&self, col: &str) -> String {
        match self {
            Scope::Namespace(ns) => format!("{col} LIKE '{ns}/%'"),
            Scope::Workload(w) => format!("{col} = '{w}'"),
        }
    }
}

/// `SCOPE VALUE` (scoped) or `VALUE`, each value parsed by `f`.
fn scoped<T>(s: &str, f: impl Fn(&str) -> Option<T>) -> Option<(Option<Scope>, T)> {
    let s = s.trim();
    match s.split_once(char::is_whitespace) {
        Some((scope, rest)) if scope.starts_with("ns:") || scope.starts_with("workload:") => {
            Some((Some(Scope::parse(scope)?), f(rest.trim())?))
        }
        _ => Some((None, f(s)?)),
    }
}

/// Entries without a scope, and those with one.
fn split<T>(v: Vec<(Option<Scope>, T)>) -> (Vec<T>, Vec<(Scope, T)>) {
    let (mut global, mut scoped) = (vec![], vec![]);
    for (scope, x) in v {
        match scope {
            Some(s) => scoped.push((s, x)),
            None => global.push(x),
        }
    }
    (global, scoped)
}

/// `service:NAMESPACE/NAME [PORTS]`: a Service expected to be exposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// `namespace/name`.
    pub service: String,
    /// Only these ports, when given.
    pub ports: Option<PortSpec>,
}

impl ServiceSpec {
    fn parse(s: &str) -> Option<ServiceSpec> {
        let mut parts = s.split_whitespace();
        let service = parts.next()?.strip_prefix("service:")?;
        let (ns, name) = service.split_once('/')?;
        if !k8s_name(ns) || !k8s_name(name) {
            return None;
        }
        let ports = match parts.next() {
            Some(p) => Some(PortSpec::parse(p)?),
            None => None,
        };
        parts.next().is_none().then(|| ServiceSpec {
            service: service.to_string(),
            ports,
        })
    }
}

/// Checked settings, ready to render into SQL.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The settings as given.
    pub raw: Settings,
    internal: Vec<Cidr>,
    /// Expected egress ports.
    pub expected_egress_ports: Vec<PortSpec>,
    /// Expected egress ports of some namespaces or workloads.
    pub scoped_egress_ports: Vec<(Scope, PortSpec)>,
    /// Infrastructure ports.
    pub infrastructure_ports: Vec<PortSpec>,
    approved_servers: Vec<AddrSpec>,
    allowed_destinations: Vec<AddrSpec>,
    scoped_destinations: Vec<(Scope, AddrSpec)>,
    expected_exposed: Vec<EndpointSpec>,
    /// Services expected to be exposed.
    pub expected_services: Vec<ServiceSpec>,
    /// Sensitive ports.
    pub sensitive_ports: Vec<PortSpec>,
    /// Denied countries, upper-case ISO codes.
    pub denied_countries: Vec<String>,
}

fn each<T>(key: &str, v: &[String], f: impl Fn(&str) -> Option<T>, want: &str) -> Result<Vec<T>> {
    v.iter()
        .map(|s| f(s).ok_or_else(|| Error::Invalid(format!("[report] {key}: '{s}' is not {want}"))))
        .collect()
}

impl Settings {
    /// Parses every entry; an error names the key and the entry.
    pub fn check(&self) -> Result<Checked> {
        const PORTS: &str = "a port spec (443, tcp/443, udp/53, tcp/8000-8100)";
        const ADDRS: &str = "an address, a CIDR, set:NAME or tag:NAME";
        if self.anomaly_factor.is_nan() || self.anomaly_factor <= 1.0 {
            return Err(Error::Invalid(format!(
                "[report] anomaly_factor must be above 1, not {}",
                self.anomaly_factor
            )));
        }
        if self.high_bytes < self.min_bytes {
            return Err(Error::Invalid(format!(
                "[report] high_bytes ({}) is below min_bytes ({})",
                self.high_bytes, self.min_bytes
            )));
        }
        if let Err(why) = crate::window::parse_span(&self.baseline) {
            return Err(Error::Invalid(format!(
                "[report] baseline: '{}' is not a span such as 7d, 14d or 2w: {why}",
                self.baseline
            )));
        }
        const SCOPE: &str = "(or 'ns:NAMESPACE …', 'workload:NAMESPACE/NAME …')";
        let egress = each(
            "expected_egress_ports",
            &self.expected_egress_ports,
            |e| scoped(e, PortSpec::parse),
            &format!("{PORTS} {SCOPE}"),
        )?;
        let allowed = each(
            "allowed_destinations",
            &self.allowed_destinations,
            |e| scoped(e, AddrSpec::parse),
            &format!("{ADDRS} {SCOPE}"),
        )?;
        let (expected_egress_ports, scoped_egress_ports) = split(egress);
        let (allowed_destinations, scoped_destinations) = split(allowed);
        let (services, endpoints): (Vec<&String>, Vec<&String>) = self
            .expected_exposed
            .iter()
            .partition(|e| e.trim_start().starts_with("service:"));
        let strings = |v: Vec<&String>| v.into_iter().cloned().collect::<Vec<_>>();
        let denied_countries = each(
            "denied_countries",
            &self.denied_countries,
            |c| {
                let c = c.trim();
                (c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
                    .then(|| c.to_ascii_uppercase())
            },
            "a two-letter ISO 3166-1 country code (RU, KP)",
        )?;
        Ok(Checked {
            denied_countries,
            expected_egress_ports,
            scoped_egress_ports,
            allowed_destinations,
            scoped_destinations,
            expected_services: each(
                "expected_exposed",
                &strings(services),
                ServiceSpec::parse,
                "'service:NAMESPACE/NAME' or 'service:NAMESPACE/NAME PORTS'",
            )?,
            raw: self.clone(),
            internal: each(
                "internal",
                &self.internal,
                Cidr::parse,
                "an address or CIDR",
            )?,
            infrastructure_ports: each(
                "infrastructure_ports",
                &self.infrastructure_ports,
                PortSpec::parse,
                PORTS,
            )?,
            approved_servers: each(
                "approved_servers",
                &self.approved_servers,
                AddrSpec::parse,
                ADDRS,
            )?,
            expected_exposed: each(
                "expected_exposed",
                &strings(endpoints),
                EndpointSpec::parse,
                "PORTS or 'ADDRESS PORTS' (tcp/443, 10.0.0.4 tcp/80)",
            )?,
            sensitive_ports: each(
                "sensitive_ports",
                &self.sensitive_ports,
                PortSpec::parse,
                PORTS,
            )?,
        })
    }
}

/// A CIDR test on `col`; a single address is a plain comparison (the lake's addresses are in
/// canonical text), which any engine runs fast.
fn cidr_sql(c: &Cidr, col: &str) -> String {
    if c.is_single() {
        format!("{col} = '{}'", c.net.to_ip())
    } else {
        format!("ip_in_cidr({col}, '{c}')")
    }
}

fn any_of(parts: Vec<String>) -> String {
    if parts.is_empty() {
        "FALSE".into()
    } else {
        format!("({})", parts.join(" OR "))
    }
}

/// The address side a predicate is about: the columns `src_ip`/`src_class` or
/// `dst_ip`/`dst_class`.
fn side(arg: &str) -> Option<(&'static str, &'static str)> {
    match arg {
        "src" => Some(("src_ip", "src_class")),
        "dst" => Some(("dst_ip", "dst_class")),
        _ => None,
    }
}

impl Checked {
    /// Whether a finding's evidence is about an endpoint of a Service declared expected
    /// (`service:NS/NAME [PORTS]` in `expected_exposed`; `ip_services` from the inventory).
    pub fn expected_service(&self, evidence: &serde_json::Map<String, serde_json::Value>) -> bool {
        let Some(services) = evidence.get("ip_services").and_then(|v| v.as_array()) else {
            return false;
        };
        let port = evidence.get("port").and_then(|v| v.as_u64());
        let protocol = evidence.get("protocol").and_then(|v| v.as_str());
        self.expected_services.iter().any(|spec| {
            services
                .iter()
                .any(|s| s.as_str() == Some(spec.service.as_str()))
                && spec.ports.as_ref().is_none_or(|p| {
                    port.is_some_and(|n| (u64::from(p.lo)..=u64::from(p.hi)).contains(&n))
                        && p.protocol.as_deref().is_none_or(|x| Some(x) == protocol)
                })
        })
    }

    /// The set names the settings refer to (threat sets and `set:NAME` entries).
    pub fn set_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.raw.threat_sets.iter().map(String::as_str).collect();
        for a in self
            .approved_servers
            .iter()
            .chain(&self.allowed_destinations)
            .chain(self.scoped_destinations.iter().map(|(_, a)| a))
        {
            if let AddrSpec::Set(n) = a {
                v.push(n);
            }
        }
        v
    }

    /// `CASE WHEN ip_in_set(ip, 'SET') THEN <then(SET)> ... END` over the threat sets in
    /// order: a value from the first set listing the address, NULL when none does.
    fn threat_case(&self, ip: &str, then: impl Fn(&str) -> String) -> String {
        if self.raw.threat_sets.is_empty() {
            return "CAST(NULL AS VARCHAR)".into();
        }
        let mut s = String::from("CASE");
        for n in &self.raw.threat_sets {
            let _ = write!(s, " WHEN ip_in_set({ip}, '{n}') THEN {}", then(n));
        }
        s.push_str(" ELSE CAST(NULL AS VARCHAR) END");
        s
    }

    /// Renders `{{name}}` or `{{name(arg)}}` as SQL, or `None` for an unknown placeholder.
    ///
    /// Predicates: `internal(src|dst)`, `external(src|dst)`, `approved_server(src|dst)`,
    /// `allowed_destination(src|dst)`, `threat(src|dst)`, `expected_exposed` (over `dst_*`
    /// and `protocol`), `expected_egress_port`, `infrastructure_port`, `sensitive_port` (over
    /// `protocol` and `dst_port`); `scoped_egress_port(COL)` and `scoped_destination(COL)`
    /// (the entries scoped to a namespace or workload, over the subject column `COL`). Values:
    /// `threat_label(src|dst)`, `threat_feed(src|dst)`, `denied_country(src|dst)`, `min_bytes`, `high_bytes`, `anomaly_factor`, `top`.
    pub fn render(&self, name: &str, arg: Option<&str>) -> Option<String> {
        let ports = |v: &[PortSpec]| any_of(v.iter().map(PortSpec::sql).collect());
        let addrs = |v: &[AddrSpec], col: &str| any_of(v.iter().map(|a| a.sql(col)).collect());
        let own = |col: &str| {
            self.internal
                .iter()
                .map(|c| cidr_sql(c, col))
                .collect::<Vec<_>>()
        };
        Some(match (name, arg.map(side)) {
            ("internal", Some(Some((ip, class)))) => {
                let mut v = vec![format!("{class} IN ('private', 'cgnat')")];
                v.extend(own(ip));
                any_of(v)
            }
            ("external", Some(Some((ip, class)))) => {
                let own = own(ip);
                if own.is_empty() {
                    format!("{class} = 'public'")
                } else {
                    format!("({class} = 'public' AND NOT {})", any_of(own))
                }
            }
            ("approved_server", Some(Some((ip, _)))) => addrs(&self.approved_servers, ip),
            ("allowed_destination", Some(Some((ip, _)))) => addrs(&self.allowed_destinations, ip),
            ("threat", Some(Some((ip, _)))) => any_of(
                self.raw
                    .threat_sets
                    .iter()
                    .map(|n| format!("ip_in_set({ip}, '{n}')"))
                    .collect(),
            ),
            ("threat_label", Some(Some((ip, _)))) => self.threat_case(ip, |n| {
                format!("coalesce(ip_set_label({ip}, '{n}'), '{n}')")
            }),
            // The first threat set listing the address (the one `threat_label` reads).
            ("threat_feed", Some(Some((ip, _)))) => self.threat_case(ip, |n| format!("'{n}'")),
            ("expected_exposed", None) => any_of(
                self.expected_exposed
                    .iter()
                    .map(|e| match &e.addr {
                        Some(c) => format!("({} AND {})", cidr_sql(c, "dst_ip"), e.ports.sql()),
                        None => e.ports.sql(),
                    })
                    .collect(),
            ),
            ("expected_egress_port", None) => ports(&self.expected_egress_ports),
            // The destination's country when it is denied, else NULL.
            ("denied_country", Some(Some((ip, _)))) => match self.denied_countries.is_empty() {
                true => "CAST(NULL AS VARCHAR)".into(),
                false => {
                    let list: Vec<String> = self
                        .denied_countries
                        .iter()
                        .map(|c| format!("'{c}'"))
                        .collect();
                    format!(
                        "CASE WHEN geo_country({ip}) IN ({}) THEN geo_country({ip}) END",
                        list.join(", ")
                    )
                }
            },
            // Scoped entries, over a subject column (`namespace/workload` with an inventory).
            ("scoped_egress_port", Some(_)) => {
                let col = arg?;
                any_of(
                    self.scoped_egress_ports
                        .iter()
                        .map(|(s, p)| format!("({} AND {})", s.sql(col), p.sql()))
                        .collect(),
                )
            }
            ("scoped_destination", Some(_)) => {
                let col = arg?;
                any_of(
                    self.scoped_destinations
                        .iter()
                        .map(|(s, a)| format!("({} AND {})", s.sql(col), a.sql("dst_ip")))
                        .collect(),
                )
            }
            ("infrastructure_port", None) => ports(&self.infrastructure_ports),
            ("sensitive_port", None) => ports(&self.sensitive_ports),
            ("min_bytes", None) => self.raw.min_bytes.to_string(),
            ("high_bytes", None) => self.raw.high_bytes.to_string(),
            ("anomaly_factor", None) => format!("{:?}", self.raw.anomaly_factor),
            ("top", None) => self.raw.top.to_string(),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_address_and_endpoint_specs() {
        let p = PortSpec::parse("tcp/8000-8100").unwrap();
        assert_eq!(
            (p.protocol.as_deref(), p.lo, p.hi),
            (Some("tcp"), 8000, 8100)
        );
        assert_eq!(p.to_string(), "tcp/8000-8100");
        assert_eq!(PortSpec::parse(" 53 ").unwrap().to_string(), "53");
        assert_eq!(PortSpec::parse("UDP/53").unwrap().to_string(), "udp/53");
        for bad in ["", "tcp/", "/53", "tcp/70000", "tcp/9-1", "t p/1", "x"] {
            assert_eq!(PortSpec::parse(bad), None, "{bad}");
        }
        assert!(matches!(
            AddrSpec::parse("10.0.0.0/8"),
            Some(AddrSpec::Cidr(_))
        ));
        assert_eq!(
            AddrSpec::parse("set:backup"),
            Some(AddrSpec::Set("backup".into()))
        );
        assert_eq!(
            AddrSpec::parse("tag:Storage"),
            Some(AddrSpec::Tag("Storage".into()))
        );
        assert_eq!(AddrSpec::parse("tag:"), None);
        assert_eq!(AddrSpec::parse("set:a'b"), None);
        let e = EndpointSpec::parse("10.224.0.10 tcp/80").unwrap();
        assert!(e.addr.is_some() && e.ports.lo == 80);
        assert_eq!(EndpointSpec::parse("* tcp/443").unwrap().addr, None);
        assert_eq!(EndpointSpec::parse("tcp/443").unwrap().addr, None);
        assert_eq!(EndpointSpec::parse("10.0.0.1 tcp/1 x"), None);
    }

    #[test]
    fn defaults_render_and_bad_entries_are_named() {
        let c = Settings::default().check().unwrap();
        assert_eq!(
            c.render("expected_egress_port", None).unwrap(),
            "((protocol = 'tcp' AND dst_port = 80) OR (protocol = 'tcp' AND dst_port = 443))"
        );
        assert_eq!(
            c.render("internal", Some("src")).unwrap(),
            "(src_class IN ('private', 'cgnat'))"
        );
        assert_eq!(
            c.render("external", Some("dst")).unwrap(),
            "dst_class = 'public'"
        );
        assert_eq!(c.render("threat", Some("dst")).unwrap(), "FALSE");
        assert_eq!(
            c.render("approved_server", Some("dst")).unwrap(),
            "(dst_ip = '168.63.129.16')"
        );
        assert_eq!(
            c.render("allowed_destination", Some("dst")).unwrap(),
            "FALSE"
        );
        assert_eq!(c.render("internal", Some("x")), None);
        assert_eq!(c.render("nope", None), None);
        let s = Settings {
            internal: vec!["203.0.113.0/24".into()],
            ..Settings::default()
        };
        let c = s.check().unwrap();
        assert_eq!(
            c.render("external", Some("src")).unwrap(),
            "(src_class = 'public' AND NOT (ip_in_cidr(src_ip, '203.0.113.0/24')))"
        );
        let s = Settings {
            sensitive_ports: vec!["tcp/22".into(), "ssh".into()],
            ..Settings::default()
        };
        let e = s.check().unwrap_err().to_string();
        assert!(e.contains("sensitive_ports") && e.contains("'ssh'"), "{e}");
        let s = Settings {
            anomaly_factor: 0.5,
            ..Settings::default()
        };
        assert!(
            s.check()
                .unwrap_err()
                .to_string()
                .contains("anomaly_factor")
        );
    }
}
