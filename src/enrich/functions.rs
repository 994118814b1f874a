//! Address functions for SQL: `ip_class`, `is_private`, `is_public`, `ip_version`,
//! `ip_in_cidr`, `ip_network`.
//!
//! Why: one implementation of address classes ([`crate::addr`]) serves ingest and queries.
//! All functions accept `Utf8`, `LargeUtf8` and `Utf8View` (Parquet strings arrive as views),
//! return NULL for NULL input, and return NULL (never an error) for text that is not an
//! address, so one bad value cannot kill a long query. They run over the raw bytes of each
//! value with a dotted-quad fast path, and the string results are views into one fixed table,
//! so a row costs a parse and a 16-byte write.

use std::sync::Arc;

use datafusion::arrow::array::NullBufferBuilder;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int32Builder, StringViewArray, StringViewBuilder,
};
use datafusion::arrow::buffer::{Buffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};

use crate::addr::{AddrClass, Cidr, IpBits};

/// The string types every address argument accepts.
pub(crate) const STRINGS: [DataType; 3] = [DataType::Utf8, DataType::LargeUtf8, DataType::Utf8View];

/// Integer types accepted for a prefix length.
const INTS: [DataType; 8] = [
    DataType::Int8,
    DataType::Int16,
    DataType::Int32,
    DataType::Int64,
    DataType::UInt8,
    DataType::UInt16,
    DataType::UInt32,
    DataType::UInt64,
];

/// Calls `f` with the bytes of each value of a string array (`None` for NULL).
pub(crate) fn for_each_bytes(a: &dyn Array, mut f: impl FnMut(Option<&[u8]>)) -> Result<()> {
    match a.data_type() {
        DataType::Utf8View => {
            // Straight from the views: strings of up to 12 bytes (most IPv4 addresses) live
            // in the view itself; longer ones in a data buffer at (index, offset).
            let a = a.as_string_view();
            let buffers = a.data_buffers();
            let nulls = a.nulls().filter(|n| n.null_count() > 0);
            for (i, &v) in a.views().iter().enumerate() {
                if nulls.is_some_and(|n| n.is_null(i)) {
                    f(None);
                    continue;
                }
                let len = v as u32 as usize;
                if len <= 12 {
                    let inline = v.to_le_bytes();
                    f(Some(&inline[4..4 + len]));
                } else {
                    let buffer = &buffers[(v >> 64) as u32 as usize];
                    let offset = (v >> 96) as u32 as usize;
                    f(Some(&buffer[offset..offset + len]));
                }
            }
        }
        DataType::Utf8 => a
            .as_string::<i32>()
            .iter()
            .for_each(|s| f(s.map(str::as_bytes))),
        DataType::LargeUtf8 => a
            .as_string::<i64>()
            .iter()
            .for_each(|s| f(s.map(str::as_bytes))),
        DataType::Null => (0..a.len()).for_each(|_| f(None)),
        other => return exec_err!("expected an address string, got {other}"),
    }
    Ok(())
}

/// The text of a scalar string argument (`None` when NULL or not a string).
pub(crate) fn scalar_str(v: &ScalarValue) -> Option<&str> {
    match v {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => s.as_deref(),
        _ => None,
    }
}

/// A fixed list of strings with their Arrow views made once, so that a function returning
/// one of them (a class name, a set label) writes one 16-byte view per row.
#[derive(Debug)]
pub(crate) struct ViewTable {
    views: Vec<u128>,
    buffers: Vec<Buffer>,
}

impl ViewTable {
    /// Builds the table; string `i` is then addressed by index `i`.
    pub(crate) fn new<'a>(strings: impl IntoIterator<Item = &'a str>) -> ViewTable {
        let mut b = StringViewBuilder::new();
        strings.into_iter().for_each(|s| b.append_value(s));
        let a = b.finish();
        ViewTable {
            views: a.views().to_vec(),
            buffers: a.data_buffers().to_vec(),
        }
    }

    /// The array whose row `r` is string `idx[r]` (NULL for `None`).
    pub(crate) fn array(&self, idx: impl ExactSizeIterator<Item = Option<u32>>) -> StringViewArray {
        let mut views = Vec::with_capacity(idx.len());
        let mut nulls = NullBufferBuilder::new(idx.len());
        for i in idx {
            match i {
                Some(i) => {
                    views.push(self.views[i as usize]);
                    nulls.append_non_null();
                }
                None => {
                    views.push(0);
                    nulls.append_null();
                }
            }
        }
        // SAFETY: every view was made by a StringViewBuilder over `self.buffers` (valid UTF-8,
        // in-bounds offsets); NULL rows hold the empty inline view.
        unsafe {
            StringViewArray::new_unchecked(
                ScalarBuffer::from(views),
                self.buffers.clone(),
                nulls.finish(),
            )
        }
    }
}

/// The one-argument address functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Unary {
    Class,
    IsPrivate,
    IsPublic,
    Version,
}

#[derive(Debug)]
struct UnaryFn {
    kind: Unary,
    signature: Signature,
    classes: ViewTable,
}

impl PartialEq for UnaryFn {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}
impl Eq for UnaryFn {}
impl std::hash::Hash for UnaryFn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state)
    }
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
            Unary::Class => DataType::Utf8View,
            Unary::IsPrivate | Unary::IsPublic => DataType::Boolean,
            Unary::Version => DataType::Int32,
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        super::documentation(self.name())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = args.args[0].clone().into_array(args.number_rows)?;
        let out: ArrayRef = match self.kind {
            Unary::Class => {
                let mut idx = Vec::with_capacity(a.len());
                for_each_bytes(&a, |s| {
                    idx.push(s.and_then(IpBits::parse).map(|b| b.class() as u32))
                })?;
                Arc::new(self.classes.array(idx.into_iter()))
            }
            Unary::IsPrivate | Unary::IsPublic => {
                let want = if self.kind == Unary::IsPrivate {
                    AddrClass::Private
                } else {
                    AddrClass::Public
                };
                let mut b = BooleanBuilder::with_capacity(a.len());
                for_each_bytes(&a, |s| {
                    b.append_option(s.and_then(IpBits::parse).map(|ip| ip.class() == want))
                })?;
                Arc::new(b.finish())
            }
            Unary::Version => {
                let mut b = Int32Builder::with_capacity(a.len());
                for_each_bytes(&a, |s| {
                    b.append_option(s.and_then(IpBits::parse).map(|ip| match ip {
                        IpBits::V4(_) => 4,
                        IpBits::V6(_) => 6,
                    }))
                })?;
                Arc::new(b.finish())
            }
        };
        Ok(ColumnarValue::Array(out))
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
            Binary::Network => DataType::Utf8View,
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        super::documentation(self.name())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let ips = args.args[0].clone().into_array(n)?;
        let out: ArrayRef = match self.kind {
            Binary::InCidr => {
                // The block is nearly always a literal: parse it once.
                let cidrs: Vec<Option<Cidr>> = match &args.args[1] {
                    ColumnarValue::Scalar(v) => vec![scalar_str(v).and_then(Cidr::parse); n],
                    ColumnarValue::Array(a) => {
                        let mut v = Vec::with_capacity(n);
                        for_each_bytes(a, |s| {
                            v.push(
                                s.and_then(|s| std::str::from_utf8(s).ok())
                                    .and_then(Cidr::parse),
                            )
                        })?;
                        v
                    }
                };
                let mut b = BooleanBuilder::with_capacity(n);
                let mut i = 0;
                for_each_bytes(&ips, |s| {
                    b.append_option(match (s.and_then(IpBits::parse), cidrs[i]) {
                        (Some(ip), Some(c)) => Some(c.contains(ip)),
                        _ => None,
                    });
                    i += 1;
                })?;
                Arc::new(b.finish())
            }
            Binary::Network => {
                let lens = args.args[1].clone().into_array(n)?;
                let lens = datafusion::arrow::compute::cast(&lens, &DataType::Int64)?;
                let lens = lens.as_primitive::<Int64Type>();
                let mut b = StringViewBuilder::with_capacity(n);
                let mut text = String::with_capacity(48);
                let mut i = 0;
                for_each_bytes(&ips, |s| {
                    let len = lens.is_valid(i).then(|| lens.value(i));
                    i += 1;
                    let net = match (s.and_then(IpBits::parse), len) {
                        (Some(ip), Some(len)) => {
                            u8::try_from(len).ok().and_then(|len| Cidr::new(ip, len))
                        }
                        _ => None,
                    };
                    match net {
                        Some(c) => {
                            text.clear();
                            write_cidr(&mut text, c);
                            b.append_value(&text);
                        }
                        None => b.append_null(),
                    }
                })?;
                Arc::new(b.finish())
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// Writes a block as CIDR text; IPv4 without the formatting machinery (the `/24` grouping
/// of a large scan formats one network per row).
fn write_cidr(out: &mut String, c: Cidr) {
    match c.net {
        IpBits::V4(a) => {
            for (k, octet) in a.to_be_bytes().into_iter().enumerate() {
                if k > 0 {
                    out.push('.');
                }
                push_u8(out, octet);
            }
            out.push('/');
            push_u8(out, c.len);
        }
        IpBits::V6(_) => {
            use std::fmt::Write;
            let _ = write!(out, "{c}");
        }
    }
}

fn push_u8(out: &mut String, v: u8) {
    if v >= 100 {
        out.push(char::from(b'0' + v / 100));
    }
    if v >= 10 {
        out.push(char::from(b'0' + v / 10 % 10));
    }
    out.push(char::from(b'0' + v % 10));
}

/// The signature of a function of two strings (any string type each).
pub(crate) fn two_strings() -> Signature {
    let pairs: Vec<TypeSignature> = STRINGS
        .iter()
        .flat_map(|a| {
            STRINGS
                .iter()
                .map(move |b| TypeSignature::Exact(vec![a.clone(), b.clone()]))
        })
        .collect();
    Signature::one_of(pairs, Volatility::Immutable)
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
            classes: ViewTable::new(AddrClass::ALL.iter().map(|c| c.as_str())),
        })
    })
    .collect();
    out.push(ScalarUDF::from(BinaryFn {
        kind: Binary::InCidr,
        signature: two_strings(),
    }));
    let net: Vec<TypeSignature> = STRINGS
        .iter()
        .flat_map(|a| {
            INTS.iter()
                .map(move |i| TypeSignature::Exact(vec![a.clone(), i.clone()]))
        })
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
    fn class_table_follows_the_enum_order() {
        for (i, c) in AddrClass::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{c:?}");
        }
        let t = ViewTable::new(AddrClass::ALL.iter().map(|c| c.as_str()));
        let a = t.array([Some(11), None, Some(0), Some(6)].into_iter());
        let got: Vec<Option<&str>> = a.iter().collect();
        assert_eq!(
            got,
            [
                Some("azure_platform"),
                None,
                Some("private"),
                Some("documentation")
            ]
        );
    }

    #[test]
    fn views_are_read_inline_and_from_buffers() {
        let a = StringViewArray::from(vec![
            Some("10.0.0.1"),
            None,
            Some("2001:db8::1234:5678:9abc"),
            Some(""),
            Some("123456789012"),
            Some("1234567890123"),
        ]);
        let mut got = Vec::new();
        for_each_bytes(&a, |s| {
            got.push(s.map(|b| String::from_utf8(b.to_vec()).unwrap()))
        })
        .unwrap();
        let want: Vec<Option<String>> = a.iter().map(|s| s.map(String::from)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn cidr_text_matches_display() {
        for s in [
            "0.0.0.0/0",
            "10.1.2.0/24",
            "255.255.255.255/32",
            "100.64.0.0/10",
            "fc00::/7",
        ] {
            let c = Cidr::parse(s).unwrap();
            let mut out = String::new();
            write_cidr(&mut out, c);
            assert_eq!(out, c.to_string());
            assert_eq!(out, s);
        }
    }
}
