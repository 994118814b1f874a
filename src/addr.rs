//! Address classes of IPv4 and IPv6 addresses.
//!
//! Why: every report asks "is this peer inside or outside?", so the class is computed once at
//! ingest (columns `src_class`/`dst_class`) and the same code backs the SQL functions. Classes
//! follow the IANA IPv4 and IPv6 special-purpose address registries, plus Azure's two platform
//! addresses (168.63.129.16 for DNS/health probes and 169.254.169.254 for instance metadata).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The class of an address. The text form ([`AddrClass::as_str`]) is what the lake stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrClass {
    /// RFC 1918 (10/8, 172.16/12, 192.168/16) and IPv6 unique-local fc00::/7.
    Private,
    /// Globally routable unicast.
    Public,
    /// 127/8 and ::1.
    Loopback,
    /// 169.254/16 and fe80::/10.
    LinkLocal,
    /// Carrier-grade NAT shared space 100.64/10 (RFC 6598).
    Cgnat,
    /// 224/4 and ff00::/8.
    Multicast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24 and 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18/15 and 2001:2::/48 (RFC 2544 / RFC 5180).
    Benchmarking,
    /// Other special-purpose or unallocated space (0/8, 240/4, 192.0.0/24, 64:ff9b::/96, ...).
    Reserved,
    /// 0.0.0.0 and ::.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// Azure platform addresses 168.63.129.16 and 169.254.169.254.
    AzurePlatform,
}

impl AddrClass {
    /// Every class, in declaration order: `ALL[c as usize] == c`.
    pub const ALL: [AddrClass; 12] = [
        AddrClass::Private,
        AddrClass::Public,
        AddrClass::Loopback,
        AddrClass::LinkLocal,
        AddrClass::Cgnat,
        AddrClass::Multicast,
        AddrClass::Documentation,
        AddrClass::Benchmarking,
        AddrClass::Reserved,
        AddrClass::Unspecified,
        AddrClass::Broadcast,
        AddrClass::AzurePlatform,
    ];

    /// The stable lower-case name stored in the lake and returned by SQL functions.
    pub fn as_str(self) -> &'static str {
        match self {
            AddrClass::Private => "private",
            AddrClass::Public => "public",
            AddrClass::Loopback => "loopback",
            AddrClass::LinkLocal => "link_local",
            AddrClass::Cgnat => "cgnat",
            AddrClass::Multicast => "multicast",
            AddrClass::Documentation => "documentation",
            AddrClass::Benchmarking => "benchmarking",
            AddrClass::Reserved => "reserved",
            AddrClass::Unspecified => "unspecified",
            AddrClass::Broadcast => "broadcast",
            AddrClass::AzurePlatform => "azure_platform",
        }
    }
}

/// Classifies an address. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is classified as the IPv4
/// address it carries.
pub fn classify(ip: IpAddr) -> AddrClass {
    IpBits::from(ip).class()
}

/// An address as an integer, the form that classification and set lookups work on.
/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is folded to the IPv4 address it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpBits {
    /// An IPv4 address.
    V4(u32),
    /// An IPv6 address that is not IPv4-mapped.
    V6(u128),
}

impl From<IpAddr> for IpBits {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => IpBits::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpBits::V4(u32::from(v4)),
                None => IpBits::V6(u128::from(v6)),
            },
        }
    }
}

impl IpBits {
    /// Parses address text (surrounding whitespace allowed). Dotted quads take a fast path;
    /// anything else goes through the standard parser. `None` for text that is not an address.
    #[inline]
    pub fn parse(s: &[u8]) -> Option<IpBits> {
        match parse_v4(s) {
            Some(a) => Some(IpBits::V4(a)),
            None => std::str::from_utf8(s)
                .ok()?
                .trim()
                .parse::<IpAddr>()
                .ok()
                .map(IpBits::from),
        }
    }

    /// The class of the address.
    #[inline]
    pub fn class(self) -> AddrClass {
        match self {
            IpBits::V4(a) => classify_v4(a),
            IpBits::V6(a) => classify_v6(a),
        }
    }

    /// Back to a standard address (folded IPv4 stays IPv4).
    pub fn to_ip(self) -> IpAddr {
        match self {
            IpBits::V4(a) => IpAddr::V4(Ipv4Addr::from(a)),
            IpBits::V6(a) => IpAddr::V6(Ipv6Addr::from(a)),
        }
    }
}

/// A CIDR block such as `10.0.0.0/8` or `2001:db8::/32`; a bare address is a `/32` (`/128`).
/// Host bits are cleared; an IPv4-mapped IPv6 block of length ≥ 96 is folded to IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The network address (host bits zero).
    pub net: IpBits,
    /// Prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    pub len: u8,
}

impl Cidr {
    /// Parses `addr[/len]`; `None` when the text is not a CIDR block.
    pub fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l.trim().parse::<u8>().ok()?)),
            None => (s, None),
        };
        let ip: IpAddr = addr.trim().parse().ok()?;
        let (bits, len) = match ip {
            IpAddr::V4(v4) => (IpBits::V4(u32::from(v4)), len.unwrap_or(32)),
            IpAddr::V6(v6) => match (v6.to_ipv4_mapped(), len.unwrap_or(128)) {
                (Some(v4), l) if l >= 96 => (IpBits::V4(u32::from(v4)), l - 96),
                (_, l) => (IpBits::V6(u128::from(v6)), l),
            },
        };
        Cidr::new(bits, len)
    }

    /// The block of length `len` that contains `ip`; `None` when `len` is too long.
    pub fn new(ip: IpBits, len: u8) -> Option<Cidr> {
        let net = match ip {
            IpBits::V4(a) if len <= 32 => IpBits::V4(a & mask_v4(len)),
            IpBits::V6(a) if len <= 128 => IpBits::V6(a & mask_v6(len)),
            _ => return None,
        };
        Some(Cidr { net, len })
    }

    /// True when the block is one address (`/32`, `/128`).
    pub fn is_single(&self) -> bool {
        match self.net {
            IpBits::V4(_) => self.len == 32,
            IpBits::V6(_) => self.len == 128,
        }
    }

    /// True when every address of `other` lies in this block.
    pub fn covers(&self, other: &Cidr) -> bool {
        self.len <= other.len && self.contains(other.net)
    }

    /// True when `ip` lies in the block (an IPv4 address never lies in an IPv6 block).
    #[inline]
    pub fn contains(&self, ip: IpBits) -> bool {
        match (self.net, ip) {
            (IpBits::V4(n), IpBits::V4(a)) => a & mask_v4(self.len) == n,
            (IpBits::V6(n), IpBits::V6(a)) => a & mask_v6(self.len) == n,
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net.to_ip(), self.len)
    }
}

/// Netmask of an IPv4 prefix length (≤ 32).
#[inline]
pub fn mask_v4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// Netmask of an IPv6 prefix length (≤ 128).
#[inline]
pub fn mask_v6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// Strict dotted-quad parser (no leading zeros, as the standard parser), the hot path of
/// every address function: most flow-log addresses are IPv4.
#[inline]
fn parse_v4(s: &[u8]) -> Option<u32> {
    if s.len() < 7 || s.len() > 15 {
        return None;
    }
    let (mut acc, mut octet, mut digits, mut dots) = (0u32, 0u32, 0u32, 0u32);
    for &c in s {
        if c == b'.' {
            if digits == 0 || dots == 3 {
                return None;
            }
            acc = acc << 8 | octet;
            (octet, digits, dots) = (0, 0, dots + 1);
        } else {
            let d = c.wrapping_sub(b'0');
            if d > 9 || (digits == 1 && octet == 0) {
                return None;
            }
            octet = octet * 10 + u32::from(d);
            digits += 1;
            if octet > 255 {
                return None;
            }
        }
    }
    if dots != 3 || digits == 0 {
        return None;
    }
    Some(acc << 8 | octet)
}

const AZURE_WIRESERVER: u32 = u32::from_be_bytes([168, 63, 129, 16]);
const AZURE_IMDS: u32 = u32::from_be_bytes([169, 254, 169, 254]);

/// True when `a` lies in `net/len`.
fn in_v4(a: u32, net: [u8; 4], len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    a & mask == u32::from_be_bytes(net)
}

fn classify_v4(a: u32) -> AddrClass {
    if a == AZURE_WIRESERVER || a == AZURE_IMDS {
        return AddrClass::AzurePlatform;
    }
    if a == 0 {
        return AddrClass::Unspecified;
    }
    if a == u32::MAX {
        return AddrClass::Broadcast;
    }
    let first = (a >> 24) as u8;
    match first {
        10 => return AddrClass::Private,
        127 => return AddrClass::Loopback,
        0 => return AddrClass::Reserved,
        224..=239 => return AddrClass::Multicast,
        240..=255 => return AddrClass::Reserved,
        _ => {}
    }
    if in_v4(a, [172, 16, 0, 0], 12) || in_v4(a, [192, 168, 0, 0], 16) {
        AddrClass::Private
    } else if in_v4(a, [169, 254, 0, 0], 16) {
        AddrClass::LinkLocal
    } else if in_v4(a, [100, 64, 0, 0], 10) {
        AddrClass::Cgnat
    } else if in_v4(a, [192, 0, 2, 0], 24)
        || in_v4(a, [198, 51, 100, 0], 24)
        || in_v4(a, [203, 0, 113, 0], 24)
    {
        AddrClass::Documentation
    } else if in_v4(a, [198, 18, 0, 0], 15) {
        AddrClass::Benchmarking
    } else if in_v4(a, [192, 0, 0, 0], 24) || in_v4(a, [192, 88, 99, 0], 24) {
        // IETF protocol assignments and the deprecated 6to4 relay anycast.
        AddrClass::Reserved
    } else {
        AddrClass::Public
    }
}

/// True when `a` lies in `net/len` (IPv6).
fn in_v6(a: u128, net: u128, len: u32) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    a & mask == net
}

fn classify_v6(a: u128) -> AddrClass {
    if a == 0 {
        return AddrClass::Unspecified;
    }
    if a == 1 {
        return AddrClass::Loopback;
    }
    let top16 = (a >> 112) as u16;
    if top16 >> 8 == 0xff {
        return AddrClass::Multicast;
    }
    if top16 & 0xffc0 == 0xfe80 {
        return AddrClass::LinkLocal;
    }
    if top16 & 0xfe00 == 0xfc00 {
        return AddrClass::Private;
    }
    if in_v6(a, 0x2001_0db8 << 96, 32) || in_v6(a, 0x3fff << 112, 20) {
        return AddrClass::Documentation;
    }
    if in_v6(a, 0x2001_0002 << 96, 48) {
        return AddrClass::Benchmarking;
    }
    // Global unicast is 2000::/3; within it a few IETF blocks are special.
    if top16 & 0xe000 == 0x2000 {
        if in_v6(a, 0x2001 << 112, 23) {
            // IETF protocol assignments (Teredo, ORCHID, AMT ...), not routable as such.
            return AddrClass::Reserved;
        }
        return AddrClass::Public;
    }
    // ::/8 (incl. IPv4-compatible, 64:ff9b::/96 translation lives in 0064::/16), 100::/64
    // discard, fec0::/10 site-local and all unallocated space.
    AddrClass::Reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_classes_are_listed_in_declaration_order() {
        for (i, c) in AddrClass::ALL.into_iter().enumerate() {
            assert_eq!(c as usize, i, "{c:?}");
        }
        // The last variant is last in the list, so no variant is left out.
        assert_eq!(AddrClass::AzurePlatform as usize + 1, AddrClass::ALL.len());
    }

    fn c(s: &str) -> &'static str {
        classify(s.parse().unwrap()).as_str()
    }

    #[test]
    fn ipv4_class_boundaries() {
        let cases = [
            ("9.255.255.255", "public"),
            ("10.0.0.0", "private"),
            ("10.255.255.255", "private"),
            ("11.0.0.0", "public"),
            ("172.15.255.255", "public"),
            ("172.16.0.0", "private"),
            ("172.31.255.255", "private"),
            ("172.32.0.0", "public"),
            ("192.167.255.255", "public"),
            ("192.168.0.0", "private"),
            ("192.169.0.0", "public"),
            ("100.63.255.255", "public"),
            ("100.64.0.0", "cgnat"),
            ("100.127.255.255", "cgnat"),
            ("100.128.0.0", "public"),
            ("127.0.0.1", "loopback"),
            ("169.254.0.1", "link_local"),
            ("169.254.169.254", "azure_platform"),
            ("168.63.129.16", "azure_platform"),
            ("168.63.129.17", "public"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.255", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "reserved"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.255", "documentation"),
            ("198.18.0.0", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.20.0.0", "public"),
            ("192.0.0.9", "reserved"),
            ("52.239.184.180", "public"),
        ];
        for (ip, want) in cases {
            assert_eq!(c(ip), want, "{ip}");
        }
    }

    #[test]
    fn ipv6_class_boundaries() {
        let cases = [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fc00::1", "private"),
            ("fdff:ffff::1", "private"),
            ("fbff::1", "reserved"),
            ("fe00::1", "reserved"),
            ("fe80::1", "link_local"),
            ("febf:ffff::1", "link_local"),
            ("fec0::1", "reserved"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("2001:db9::1", "public"),
            ("2001:2::1", "benchmarking"),
            ("2001::1", "reserved"),
            ("2a01:111:f100::1", "public"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:8.8.8.8", "public"),
            ("::ffff:168.63.129.16", "azure_platform"),
            ("4000::1", "reserved"),
        ];
        for (ip, want) in cases {
            assert_eq!(c(ip), want, "{ip}");
        }
    }

    #[test]
    fn fast_parser_agrees_with_the_standard_parser() {
        for s in [
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            " 10.0.0.1 ",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1..2.3",
            "1.2.3.",
            ".1.2.3",
            "1.2.3.4a",
            "1.2.3.-4",
            "::ffff:10.0.0.1",
            "fe80::1",
            "",
            "x",
            "1.2.3.1000",
            "999.999.999.999",
        ] {
            let std = s.trim().parse::<IpAddr>().ok().map(IpBits::from);
            assert_eq!(IpBits::parse(s.as_bytes()), std, "{s:?}");
        }
        assert_eq!(
            IpBits::parse(b"::ffff:10.0.0.1"),
            Some(IpBits::V4(0x0a00_0001))
        );
    }

    #[test]
    fn cidr_parsing_and_membership() {
        let c = Cidr::parse("172.16.0.0/12").unwrap();
        for (ip, want) in [
            ("172.15.255.255", false),
            ("172.16.0.0", true),
            ("172.31.255.255", true),
            ("172.32.0.0", false),
            ("::ffff:172.20.1.1", true),
            ("fc00::1", false),
        ] {
            assert_eq!(
                c.contains(IpBits::parse(ip.as_bytes()).unwrap()),
                want,
                "{ip}"
            );
        }
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0.0/").is_none());
        assert!(Cidr::parse("fc00::/7").is_some_and(|c| matches!(c.net, IpBits::V6(_))));
        assert_eq!(
            Cidr::parse("0.0.0.0/0").map(|c| c.to_string()).as_deref(),
            Some("0.0.0.0/0")
        );
        assert_eq!(
            Cidr::parse("10.1.2.3/8").map(|c| c.to_string()).as_deref(),
            Some("10.0.0.0/8")
        );
        assert_eq!(
            Cidr::parse("::ffff:10.1.2.3/104")
                .map(|c| c.to_string())
                .as_deref(),
            Some("10.0.0.0/8")
        );
        assert_eq!(
            Cidr::parse("2001:db8:1::/32")
                .map(|c| c.to_string())
                .as_deref(),
            Some("2001:db8::/32")
        );
        assert_eq!(Cidr::parse("1.2.3.4").map(|c| c.len), Some(32));
    }
}
