//! Address functions for SQL: `ip_class`, `is_private`, `is_public`, `ip_version`,
//! `ip_in_cidr`, `ip_network`.
//!
//! Why: one implementation of address classes ([`crate::addr`]) serves ingest and queries.
//! All functions accept `Utf8`, `LargeUtf8` and `Utf8View` (Parquet strings arrive as views),
//! return NULL for NULL input, and return NULL (never an error) for text that is not an
//! address, so one bad value cannot kill a long query.

use std::net::IpAddr;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, Int64Array, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use crate::addr::classify;

const STRINGS: [DataType; 3] = [DataType::Utf8, DataType::LargeUtf8, DataType::Utf8View];

/// Applies `f` to each string of a Utf8 / LargeUtf8 / Utf8View array (None for NULL).
fn for_each_str(a: &ArrayRef, mut f: impl FnMut(Option<&str>)) -> Result<()> {
    match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().iter().for_each(&mut f),
        DataType::LargeUtf8 => a.as_string::<i64>().iter().for_each(&mut f),
        DataType::Utf8View => a.as_string_view().iter().for_each(&mut f),
        DataType::Null => (0..a.len()).for_each(|_| f(None)),
        other => return exec_err!("expected an address string, got {other}"),
    }
    Ok(())
}

fn parse(s: Option<&str>) -> Option<IpAddr> {
    s.and_then(|s| s.trim().parse().ok())
}

/// The unary address functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Unary {
    Class,
    IsPrivate,
    IsPublic,
    Version,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct UnaryFn {
    kind: Unary,
    signature: Signature,
}

impl ScalarUDFImpl for UnaryFn {
    fn name(&self) -> &str {
        match self.kind {
            Unary::Class => "ip_class",
            Unary::IsPrivate => "is_private",
            Unary::IsPublic => "is_public",
            Unary::Version => "ip_version",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Unary::Class => DataType::Utf8,
            Unary::IsPrivate | Unary::IsPublic => DataType::Boolean,
            Unary::Version => DataType::Int32,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = args.args[0].clone().into_array(args.number_rows)?;
        let out: ArrayRef = match self.kind {
            Unary::Class => {
                let mut v = Vec::with_capacity(a.len());
                for_each_str(&a, |s| v.push(parse(s).map(|ip| classify(ip).as_str())))?;
                Arc::new(StringArray::from(v))
            }
            Unary::IsPrivate | Unary::IsPublic => {
                let want = if self.kind == Unary::IsPrivate {
                    "private"
                } else {
                    "public"
                };
                let mut v = Vec::with_capacity(a.len());
                for_each_str(&a, |s| {
                    v.push(parse(s).map(|ip| classify(ip).as_str() == want))
                })?;
                Arc::new(BooleanArray::from(v))
            }
            Unary::Version => {
                let mut v = Vec::with_capacity(a.len());
                for_each_str(&a, |s| {
                    v.push(parse(s).map(|ip| if ip.is_ipv4() { 4 } else { 6 }))
                })?;
                Arc::new(Int32Array::from(v))
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// A CIDR block, parsed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    net: u128,
    mask: u128,
    v4: bool,
}

fn parse_cidr(s: &str) -> Option<Cidr> {
    let (addr, len) = match s.trim().split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u32>().ok()?)),
        None => (s.trim(), None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let (bits, v4, width) = match ip {
        IpAddr::V4(v) => (u128::from(u32::from(v)), true, 32),
        IpAddr::V6(v) => (u128::from(v), false, 128),
    };
    let len = len.unwrap_or(width);
    if len > width {
        return None;
    }
    let host_bits = width - len;
    let full = if width == 32 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    let mask = if len == 0 {
        0
    } else {
        full & !((1u128 << host_bits).wrapping_sub(1))
    };
    Some(Cidr {
        net: bits & mask,
        mask,
        v4,
    })
}

/// (bits, is IPv4) of an address; IPv4-mapped IPv6 counts as IPv4.
fn bits(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(v) => (u128::from(u32::from(v)), true),
        IpAddr::V6(v) => match v.to_ipv4_mapped() {
            Some(v4) => (u128::from(u32::from(v4)), true),
            None => (u128::from(v), false),
        },
    }
}

/// The two-argument address functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Binary {
    /// `ip_in_cidr(ip, cidr)` → boolean.
    InCidr,
    /// `ip_network(ip, prefix_len)` → network in CIDR text.
    Network,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct BinaryFn {
    kind: Binary,
    signature: Signature,
}

impl ScalarUDFImpl for BinaryFn {
    fn name(&self) -> &str {
        match self.kind {
            Binary::InCidr => "ip_in_cidr",
            Binary::Network => "ip_network",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Binary::InCidr => DataType::Boolean,
            Binary::Network => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ips = args.args[0].clone().into_array(args.number_rows)?;
        let second = args.args[1].clone().into_array(args.number_rows)?;
        let out: ArrayRef = match self.kind {
            Binary::InCidr => Arc::new(in_cidr(&ips, &second)?),
            Binary::Network => Arc::new(network(&ips, &second)?),
        };
        Ok(ColumnarValue::Array(out))
    }
}

fn in_cidr(ips: &ArrayRef, cidrs: &ArrayRef) -> Result<BooleanArray> {
    let mut parsed: Vec<Option<Cidr>> = Vec::with_capacity(cidrs.len());
    for_each_str(cidrs, |s| parsed.push(s.and_then(parse_cidr)))?;
    let mut out = Vec::with_capacity(ips.len());
    let mut i = 0;
    for_each_str(ips, |s| {
        out.push(match (parse(s).map(bits), parsed[i]) {
            (Some((b, v4)), Some(c)) => Some(v4 == c.v4 && b & c.mask == c.net),
            _ => None,
        });
        i += 1;
    })?;
    Ok(BooleanArray::from(out))
}

fn network(ips: &ArrayRef, lens: &ArrayRef) -> Result<StringArray> {
    let lens = datafusion::arrow::compute::cast(lens, &DataType::Int64)?;
    let lens: &Int64Array = lens.as_primitive::<Int64Type>();
    let mut out: Vec<Option<String>> = Vec::with_capacity(ips.len());
    let mut i = 0;
    for_each_str(ips, |s| {
        let len = (!lens.is_null(i)).then(|| lens.value(i));
        out.push(match (parse(s), len) {
            (Some(ip), Some(len)) if len >= 0 => {
                let ip = match ip {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                    v4 => v4,
                };
                parse_cidr(&format!("{ip}/{len}")).map(|c| {
                    let net = if c.v4 {
                        IpAddr::from(std::net::Ipv4Addr::from(c.net as u32))
                    } else {
                        IpAddr::from(std::net::Ipv6Addr::from(c.net))
                    };
                    format!("{net}/{len}")
                })
            }
            _ => None,
        });
        i += 1;
    })?;
    Ok(StringArray::from(out))
}

/// Every address function, ready to register.
pub fn all() -> Vec<ScalarUDF> {
    let unary = Signature::uniform(1, STRINGS.to_vec(), Volatility::Immutable);
    let mut out: Vec<ScalarUDF> = [
        Unary::Class,
        Unary::IsPrivate,
        Unary::IsPublic,
        Unary::Version,
    ]
    .into_iter()
    .map(|kind| {
        ScalarUDF::from(UnaryFn {
            kind,
            signature: unary.clone(),
        })
    })
    .collect();
    let pairs: Vec<TypeSignature> = STRINGS
        .iter()
        .flat_map(|a| {
            STRINGS
                .iter()
                .map(move |b| TypeSignature::Exact(vec![a.clone(), b.clone()]))
        })
        .collect();
    out.push(ScalarUDF::from(BinaryFn {
        kind: Binary::InCidr,
        signature: Signature::one_of(pairs, Volatility::Immutable),
    }));
    let net: Vec<TypeSignature> = STRINGS
        .iter()
        .map(|a| TypeSignature::Exact(vec![a.clone(), DataType::Int64]))
        .collect();
    out.push(ScalarUDF::from(BinaryFn {
        kind: Binary::Network,
        signature: Signature::one_of(net, Volatility::Immutable),
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing_and_membership() {
        let c = parse_cidr("172.16.0.0/12").unwrap();
        for (ip, want) in [
            ("172.15.255.255", false),
            ("172.16.0.0", true),
            ("172.31.255.255", true),
            ("172.32.0.0", false),
            ("::ffff:172.20.1.1", true),
        ] {
            let (b, v4) = bits(ip.parse().unwrap());
            assert_eq!(v4 == c.v4 && b & c.mask == c.net, want, "{ip}");
        }
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("fc00::/7").is_some_and(|c| !c.v4));
        assert_eq!(parse_cidr("0.0.0.0/0").map(|c| c.mask), Some(0));
    }
}
