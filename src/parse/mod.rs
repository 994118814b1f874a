//! Parse flow-log blobs into tuples, record by record, with byte positions.
//!
//! Why: Azure grows each `PT1H.json` by inserting records before its closing `]}`, so the
//! parser works on record boundaries: it reports the byte offset just past the last complete
//! record (the checkpoint), and can resume from such an offset to read only the new records.
//! Bad input never stops a blob early unless its JSON structure is lost: a bad tuple or a
//! record of the wrong shape is rejected with its position and parsing goes on.
//!
//! Accepted layouts: the Azure envelope `{"records":[...]}`, a bare JSON array of records, and
//! a stream of records (one JSON object after another, e.g. newline-delimited).

pub mod record;
pub mod tuple;
mod tuple_fast;

use std::fmt;

use serde::de::IgnoredAny;

use crate::parse::record::{RawRecord, Str};
pub use crate::parse::tuple::{Counters, Direction, FlowState, Tuple, TupleFormat};

/// Why an input was rejected. The text form is stable (used in summaries and rejects files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    /// The blob has no content.
    EmptyBlob,
    /// The blob is not valid JSON at some position; the rest of the blob is rejected.
    MalformedJson,
    /// The blob ends in the middle of a record or before its closing brackets.
    TruncatedBlob,
    /// The JSON is not a flow-log record (neither NSG nor VNet).
    UnknownFormat,
    /// A flow-log record of a version flowlake does not know.
    UnknownVersion,
    /// A record with missing or mistyped fields.
    BadRecord,
    /// A tuple with the wrong number of fields.
    WrongFieldCount,
    /// A tuple with an invalid address.
    InvalidIp,
    /// A tuple with a port outside 0..65535.
    InvalidPort,
    /// A tuple with an unknown protocol.
    InvalidProtocol,
    /// A tuple with a non-numeric counter.
    InvalidCounter,
    /// A tuple or record time that is not a valid time.
    InvalidTimestamp,
    /// A tuple with an invalid direction, decision or state letter.
    InvalidField,
    /// A blob larger than the configured limit.
    BlobTooLarge,
    /// A blob that could not be read.
    ReadError,
}

impl RejectReason {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::EmptyBlob => "empty_blob",
            RejectReason::MalformedJson => "malformed_json",
            RejectReason::TruncatedBlob => "truncated_blob",
            RejectReason::UnknownFormat => "unknown_format",
            RejectReason::UnknownVersion => "unknown_version",
            RejectReason::BadRecord => "bad_record",
            RejectReason::WrongFieldCount => "wrong_field_count",
            RejectReason::InvalidIp => "invalid_ip",
            RejectReason::InvalidPort => "invalid_port",
            RejectReason::InvalidProtocol => "invalid_protocol",
            RejectReason::InvalidCounter => "invalid_counter",
            RejectReason::InvalidTimestamp => "invalid_timestamp",
            RejectReason::InvalidField => "invalid_field",
            RejectReason::BlobTooLarge => "blob_too_large",
            RejectReason::ReadError => "read_error",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that was kept out of the lake, with where it was and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reject {
    /// Blob key (path or URL).
    pub blob: String,
    /// Byte offset in the blob where the rejected item starts (or the error was found).
    pub offset: u64,
    /// Record index in the blob, when the item is a record or inside one.
    pub record: Option<u32>,
    /// Tuple index inside the record (counted over all its groups), for tuple rejects.
    pub tuple: Option<u32>,
    /// Why.
    pub reason: RejectReason,
    /// Human explanation.
    pub detail: String,
    /// Up to 200 bytes of the offending text.
    pub excerpt: String,
}

impl serde::Serialize for RejectReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: byte {}", self.blob, self.offset)?;
        if let Some(r) = self.record {
            write!(f, ", record {r}")?;
        }
        if let Some(t) = self.tuple {
            write!(f, ", tuple {t}")?;
        }
        write!(f, ": {}: {}", self.reason, self.detail)
    }
}

/// Which service wrote a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// NSG flow logs (v1, v2).
    AzureNsg,
    /// VNet flow logs (v4).
    AzureVnet,
}

impl Provider {
    /// Text stored in the lake.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::AzureNsg => "azure_nsg",
            Provider::AzureVnet => "azure_vnet",
        }
    }
}

/// What a record says about all of its tuples.
#[derive(Debug, Clone)]
pub struct RecordMeta<'a> {
    /// Index of the record in the blob.
    pub index: u32,
    /// Record time (µs since epoch, UTC).
    pub time_us: i64,
    /// Provider.
    pub provider: Provider,
    /// Format version.
    pub version: i32,
    /// NSG id or flow-log id.
    pub resource_id: &'a str,
    /// VNet target resource.
    pub target_resource_id: Option<&'a str>,
    /// Subscription (lower case).
    pub subscription_id: Option<String>,
    /// Resource group (lower case).
    pub resource_group: Option<String>,
    /// NSG name (lower case).
    pub nsg_name: Option<String>,
}

/// What a group (rule × NIC or ACL × rule) says about its tuples.
#[derive(Debug, Clone)]
pub struct GroupMeta<'a> {
    /// Index of the group in its record.
    pub index: u32,
    /// Rule name.
    pub rule: &'a str,
    /// Normalised MAC.
    pub mac: Option<&'a str>,
    /// VNet ACL id.
    pub acl_id: Option<&'a str>,
}

/// Receives what a blob yields.
pub trait FlowSink {
    /// One good tuple.
    fn flow(&mut self, rec: &RecordMeta<'_>, group: &GroupMeta<'_>, t: &Tuple<'_>);
    /// One rejected item.
    fn reject(&mut self, r: Reject);
}

/// Where to start in a blob that was partly read before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resume {
    /// Byte offset just past the last record read (0: from the start).
    pub offset: usize,
    /// Records read before that offset.
    pub records: u32,
}

/// What scanning a blob found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobScan {
    /// Checkpoint: offset just past the last complete record (or the list opening).
    pub consumed: usize,
    /// Records in the blob up to `consumed` (including those read before).
    pub records: u32,
    /// Records read in this scan.
    pub new_records: u32,
    /// Good tuples in this scan.
    pub tuples: u64,
    /// Rejected items in this scan.
    pub rejected: u64,
    /// True when the blob's structure was lost (the tail after `consumed` is not ingested).
    pub broken: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `{"records":[ ... ]}`
    Envelope,
    /// `[ ... ]`
    Array,
    /// `{...} {...}`
    Stream,
}

const MAX_EXCERPT: usize = 200;

fn excerpt(data: &[u8], at: usize) -> String {
    let end = (at + MAX_EXCERPT).min(data.len());
    let mut s = String::from_utf8_lossy(&data[at.min(end)..end]).into_owned();
    if let Some(i) = s.find('\n') {
        s.truncate(i);
    }
    s
}

fn skip_ws(data: &[u8], mut i: usize) -> usize {
    while i < data.len() && matches!(data[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Finds the layout and the offset where the record list starts.
fn detect(data: &[u8]) -> Result<(Layout, usize), (usize, RejectReason, String)> {
    let mut i = 0;
    if data.starts_with(&[0xEF, 0xBB, 0xBF]) {
        i = 3;
    }
    i = skip_ws(data, i);
    match data.get(i) {
        None => Err((i, RejectReason::EmptyBlob, "the blob is empty".into())),
        Some(b'[') => Ok((Layout::Array, i + 1)),
        Some(b'{') => {
            let j = skip_ws(data, i + 1);
            let key = b"\"records\"";
            if data[j..].starts_with(key) {
                let k = skip_ws(data, j + key.len());
                if data.get(k) == Some(&b':') {
                    let l = skip_ws(data, k + 1);
                    return match data.get(l) {
                        Some(b'[') => Ok((Layout::Envelope, l + 1)),
                        None => Err((
                            l,
                            RejectReason::TruncatedBlob,
                            "the blob ends after \"records\":".into(),
                        )),
                        Some(_) => Err((
                            l,
                            RejectReason::UnknownFormat,
                            "\"records\" is not an array".into(),
                        )),
                    };
                }
                if k >= data.len() {
                    return Err((
                        k,
                        RejectReason::TruncatedBlob,
                        "the blob ends after \"records\"".into(),
                    ));
                }
            }
            if j >= data.len() {
                return Err((
                    j,
                    RejectReason::TruncatedBlob,
                    "the blob ends after its opening brace".into(),
                ));
            }
            Ok((Layout::Stream, i))
        }
        Some(_) => Err((
            i,
            RejectReason::UnknownFormat,
            "the blob is not a JSON object or array".into(),
        )),
    }
}

/// Reads a blob from `resume` on, sending tuples and rejects to `sink`.
///
/// `key` names the blob in rejects. The returned checkpoint can be passed back as
/// [`Resume`] once the blob has grown.
pub fn scan_blob(data: &[u8], key: &str, resume: Resume, sink: &mut dyn FlowSink) -> BlobScan {
    let mut scan = BlobScan {
        consumed: resume.offset,
        records: resume.records,
        ..BlobScan::default()
    };
    // The blob's structure is lost at `at`: reject the rest of it.
    let fail = |scan: &mut BlobScan, sink: &mut dyn FlowSink, at: usize, reason, detail: String| {
        scan.rejected += 1;
        scan.broken = true;
        sink.reject(Reject {
            blob: key.to_string(),
            offset: at as u64,
            record: None,
            tuple: None,
            reason,
            detail,
            excerpt: excerpt(data, at),
        });
    };
    let (layout, list_start) = match detect(data) {
        Ok(v) => v,
        Err((at, reason, detail)) => {
            fail(&mut scan, sink, at, reason, detail);
            return scan;
        }
    };
    // A blob of valid UTF-8 (every whole one) is checked once and read as text, so its
    // strings are not checked again one by one (a fifth of the time spent parsing JSON).
    let text = std::str::from_utf8(data).ok();
    // `after_record`: the position follows a record (or the list opening when false).
    let (mut pos, mut after_record) = if resume.offset == 0 {
        (list_start, false)
    } else {
        (resume.offset, resume.records > 0)
    };
    if resume.offset == 0 {
        scan.consumed = list_start;
    }
    loop {
        pos = skip_ws(data, pos);
        let c = data.get(pos).copied();
        match layout {
            Layout::Stream => {
                if c.is_none() {
                    return scan;
                }
                if c != Some(b'{') {
                    let detail =
                        format!("expected a record object, found {:?}", c.unwrap() as char);
                    fail(&mut scan, sink, pos, RejectReason::MalformedJson, detail);
                    return scan;
                }
            }
            Layout::Envelope | Layout::Array => match c {
                None => {
                    let detail = "the blob ends before the closing ]".to_string();
                    fail(&mut scan, sink, pos, RejectReason::TruncatedBlob, detail);
                    return scan;
                }
                Some(b']') => {
                    let end = skip_ws(data, pos + 1);
                    let rest = &data[end..];
                    let tail_ok = match layout {
                        Layout::Envelope => {
                            rest.first() == Some(&b'}') && skip_ws(data, end + 1) == data.len()
                        }
                        _ => rest.is_empty(),
                    };
                    if !tail_ok {
                        let (reason, detail) = if rest.is_empty() {
                            (
                                RejectReason::TruncatedBlob,
                                "the blob ends before the closing }".to_string(),
                            )
                        } else {
                            (
                                RejectReason::MalformedJson,
                                "unexpected data after the record list".to_string(),
                            )
                        };
                        fail(&mut scan, sink, end, reason, detail);
                    }
                    return scan;
                }
                Some(b',') if after_record => {
                    pos = skip_ws(data, pos + 1);
                }
                Some(_) if !after_record => {}
                Some(other) => {
                    let detail =
                        format!("expected , or ] after a record, found {:?}", other as char);
                    fail(&mut scan, sink, pos, RejectReason::MalformedJson, detail);
                    return scan;
                }
            },
        }
        // A record starts at `pos`.
        let index = scan.records;
        let end = match next_record(&data[pos..], text.and_then(|t| t.get(pos..))) {
            Some((Ok(rec), len)) => {
                emit_record(data, key, pos, index, &rec, sink, &mut scan);
                pos + len
            }
            Some((Err(e), _)) if e.is_data() => {
                // Valid JSON of the wrong shape: find where it ends and skip it.
                let mut skip =
                    serde_json::Deserializer::from_slice(&data[pos..]).into_iter::<IgnoredAny>();
                match skip.next() {
                    Some(Ok(_)) => {
                        scan.rejected += 1;
                        sink.reject(Reject {
                            blob: key.to_string(),
                            offset: pos as u64,
                            record: Some(index),
                            tuple: None,
                            reason: RejectReason::BadRecord,
                            detail: format!(
                                "record does not have the flow-log shape: {}",
                                strip_position(&e)
                            ),
                            excerpt: excerpt(data, pos),
                        });
                        pos + skip.byte_offset()
                    }
                    Some(Err(e2)) => {
                        json_error(&mut scan, sink, data, key, pos, index, &e2);
                        return scan;
                    }
                    None => unreachable!("a record starts at a non-space byte"),
                }
            }
            Some((Err(e), _)) => {
                json_error(&mut scan, sink, data, key, pos, index, &e);
                return scan;
            }
            None => unreachable!("a record starts at a non-space byte"),
        };
        scan.records += 1;
        scan.new_records += 1;
        scan.consumed = end;
        pos = end;
        after_record = true;
    }
}

/// The record at the start of `data` (`text` is the same bytes when they are valid UTF-8),
/// and the bytes it takes.
fn next_record<'a>(
    data: &'a [u8],
    text: Option<&'a str>,
) -> Option<(serde_json::Result<RawRecord<'a>>, usize)> {
    fn first<'a, R: serde_json::de::Read<'a>>(
        de: serde_json::Deserializer<R>,
    ) -> Option<(serde_json::Result<RawRecord<'a>>, usize)> {
        let mut it = de.into_iter::<RawRecord>();
        it.next().map(|r| (r, it.byte_offset()))
    }
    match text {
        Some(text) => first(serde_json::Deserializer::from_str(text)),
        None => first(serde_json::Deserializer::from_slice(data)),
    }
}

fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn json_error(
    scan: &mut BlobScan,
    sink: &mut dyn FlowSink,
    data: &[u8],
    key: &str,
    pos: usize,
    index: u32,
    e: &serde_json::Error,
) {
    // serde_json reports line/column relative to `pos`; turn them into a blob byte offset.
    let rel_line_start = if e.line() <= 1 {
        0
    } else {
        data[pos..]
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(e.line() - 2)
            .map_or(0, |(i, _)| i + 1)
    };
    let at = (pos + rel_line_start + e.column().saturating_sub(1)).min(data.len());
    let (reason, detail) = if e.is_eof() {
        (
            RejectReason::TruncatedBlob,
            "the blob ends inside a record".to_string(),
        )
    } else {
        (RejectReason::MalformedJson, strip_position(e))
    };
    scan.rejected += 1;
    scan.broken = true;
    sink.reject(Reject {
        blob: key.to_string(),
        offset: at as u64,
        record: Some(index),
        tuple: None,
        reason,
        detail,
        excerpt: excerpt(data, pos),
    });
}

/// Parses RFC 3339 UTC record times such as `2018-11-13T12:00:35.3899262Z`.
fn parse_record_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// `/SUBSCRIPTIONS/{sub}/RESOURCEGROUPS/{rg}/.../NETWORKSECURITYGROUPS/{nsg}` → parts.
fn id_parts(id: &str) -> (Option<String>, Option<String>, Option<String>) {
    let segs: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    let after = |name: &str| {
        segs.iter()
            .position(|s| s.eq_ignore_ascii_case(name))
            .and_then(|i| segs.get(i + 1))
            .map(|s| s.to_ascii_lowercase())
    };
    (
        after("subscriptions"),
        after("resourcegroups"),
        after("networksecuritygroups"),
    )
}

/// Normalises `000D3AF87856` / `00:0d:3a:f8:78:56` to `00-0D-3A-F8-78-56`.
pub fn normalize_mac(raw: &str) -> String {
    let hex: Vec<u8> = raw
        .bytes()
        .filter(|b| !matches!(b, b'-' | b':' | b'.'))
        .collect();
    if hex.len() != 12 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return raw.trim().to_string();
    }
    let mut out = String::with_capacity(17);
    for (i, pair) in hex.chunks(2).enumerate() {
        if i > 0 {
            out.push('-');
        }
        out.push(pair[0].to_ascii_uppercase() as char);
        out.push(pair[1].to_ascii_uppercase() as char);
    }
    out
}

fn offset_of(data: &[u8], s: &str, fallback: usize) -> usize {
    let d = data.as_ptr() as usize;
    let p = s.as_ptr() as usize;
    if p >= d && p < d + data.len() {
        p - d
    } else {
        fallback
    }
}

/// Emits the tuples of one well-formed JSON record.
fn emit_record(
    data: &[u8],
    key: &str,
    pos: usize,
    index: u32,
    rec: &RawRecord<'_>,
    sink: &mut dyn FlowSink,
    scan: &mut BlobScan,
) {
    let mut reject_record = |scan: &mut BlobScan, reason, detail: String| {
        scan.rejected += 1;
        sink.reject(Reject {
            blob: key.to_string(),
            offset: pos as u64,
            record: Some(index),
            tuple: None,
            reason,
            detail,
            excerpt: excerpt(data, pos),
        });
    };
    let (provider, version) = if let Some(v) = rec.flow_log_version {
        (Provider::AzureVnet, v.0)
    } else if let Some(p) = &rec.properties {
        (Provider::AzureNsg, p.version.and_then(|v| v.0))
    } else if rec.flow_records.is_some() {
        (Provider::AzureVnet, None)
    } else {
        let detail =
            "neither an NSG record (properties.Version) nor a VNet record (flowLogVersion)"
                .to_string();
        return reject_record(scan, RejectReason::UnknownFormat, detail);
    };
    let fmt = match (provider, version) {
        (Provider::AzureNsg, Some(1)) => TupleFormat::NsgV1,
        (Provider::AzureNsg, Some(2)) => TupleFormat::NsgV2,
        (Provider::AzureVnet, Some(4)) => TupleFormat::VnetV4,
        (p, v) => {
            let v = v.map_or("missing".to_string(), |v| v.to_string());
            let detail = format!("{} version {v} is not supported", p.as_str());
            return reject_record(scan, RejectReason::UnknownVersion, detail);
        }
    };
    let Some(time_us) = rec
        .time
        .as_ref()
        .and_then(|t| parse_record_time(t.as_str()))
    else {
        let detail = format!(
            "record time {:?} is not an RFC 3339 time",
            rec.time.as_ref().map(Str::as_str).unwrap_or("(missing)")
        );
        return reject_record(scan, RejectReason::InvalidTimestamp, detail);
    };
    let resource = match provider {
        Provider::AzureNsg => rec.resource_id.as_ref(),
        Provider::AzureVnet => rec.flow_log_resource_id.as_ref(),
    };
    let Some(resource_id) = resource.map(Str::as_str) else {
        let field = if provider == Provider::AzureNsg {
            "resourceId"
        } else {
            "flowLogResourceID"
        };
        return reject_record(
            scan,
            RejectReason::BadRecord,
            format!("record has no {field}"),
        );
    };
    let target = rec.target_resource_id.as_ref().map(Str::as_str);
    let (subscription_id, resource_group, nsg_name) = {
        let (s, g, n) = id_parts(resource_id);
        match target.map(id_parts) {
            Some((ts, tg, _)) if ts.is_some() => (ts, tg, n),
            _ => (s, g, n),
        }
    };
    let meta = RecordMeta {
        index,
        time_us,
        provider,
        version: version.unwrap_or_default() as i32,
        resource_id,
        target_resource_id: target,
        subscription_id,
        resource_group,
        nsg_name,
    };
    let mut tuple_no: u32 = 0;
    let mut group_no: u32 = 0;
    let mut one =
        |scan: &mut BlobScan, sink: &mut dyn FlowSink, group: &GroupMeta<'_>, s: &Str<'_>| {
            match tuple::parse_tuple(s.as_str(), fmt) {
                Ok(t) => {
                    scan.tuples += 1;
                    sink.flow(&meta, group, &t);
                }
                Err(e) => {
                    scan.rejected += 1;
                    let text = s.as_str();
                    sink.reject(Reject {
                        blob: key.to_string(),
                        offset: offset_of(data, text, pos) as u64,
                        record: Some(index),
                        tuple: Some(tuple_no),
                        reason: e.reason,
                        detail: e.detail,
                        excerpt: text.chars().take(MAX_EXCERPT).collect(),
                    });
                }
            }
            tuple_no += 1;
        };
    match provider {
        Provider::AzureNsg => {
            for rf in rec.properties.iter().flat_map(|p| &p.flows) {
                for mf in &rf.flows {
                    let mac = mf.mac.as_ref().map(|m| normalize_mac(m.as_str()));
                    let group = GroupMeta {
                        index: group_no,
                        rule: rf.rule.as_str(),
                        mac: mac.as_deref(),
                        acl_id: None,
                    };
                    group_no += 1;
                    for s in &mf.flow_tuples {
                        one(scan, sink, &group, s);
                    }
                }
            }
        }
        Provider::AzureVnet => {
            let mac = rec.mac_address.as_ref().map(|m| normalize_mac(m.as_str()));
            for acl in rec.flow_records.iter().flat_map(|r| &r.flows) {
                for g in &acl.flow_groups {
                    let group = GroupMeta {
                        index: group_no,
                        rule: g.rule.as_str(),
                        mac: mac.as_deref(),
                        acl_id: acl.acl_id.as_ref().map(Str::as_str),
                    };
                    group_no += 1;
                    for s in &g.flow_tuples {
                        one(scan, sink, &group, s);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        flows: Vec<(u32, String, String, i64)>,
        rejects: Vec<Reject>,
    }

    impl FlowSink for Collect {
        fn flow(&mut self, rec: &RecordMeta<'_>, g: &GroupMeta<'_>, t: &Tuple<'_>) {
            self.flows.push((
                rec.index,
                g.rule.to_string(),
                t.dst_text.to_string(),
                t.time_us,
            ));
        }
        fn reject(&mut self, r: Reject) {
            self.rejects.push(r);
        }
    }

    const REC_A: &str = r#"{"time":"2018-11-13T12:00:35.3899262Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N","properties":{"Version":2,"flows":[{"rule":"R1","flows":[{"mac":"000D3AF87856","flowTuples":["1542110377,10.5.16.4,13.67.143.118,59831,443,T,O,A,B,,,,"]}]}]}}"#;
    const REC_B: &str = r#"{"time":"2018-11-13T12:01:35Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N","properties":{"Version":2,"flows":[{"rule":"R2","flows":[{"mac":"000D3AF87856","flowTuples":["1542110379,10.5.16.4,13.67.143.117,59932,443,T,O,A,E,1,66,1,66","bad"]}]}]}}"#;

    #[test]
    fn growth_resumes_after_last_record() {
        let v1 = format!("{{\"records\":[{REC_A}]}}");
        let mut c = Collect::default();
        let s1 = scan_blob(v1.as_bytes(), "b", Resume::default(), &mut c);
        assert_eq!((s1.records, s1.tuples, s1.broken), (1, 1, false));
        assert_eq!(
            &v1.as_bytes()[..s1.consumed],
            format!("{{\"records\":[{REC_A}").as_bytes()
        );

        let v2 = format!("{{\"records\":[{REC_A}\r\n,{REC_B}]}}");
        let mut c2 = Collect::default();
        let s2 = scan_blob(
            v2.as_bytes(),
            "b",
            Resume {
                offset: s1.consumed,
                records: s1.records,
            },
            &mut c2,
        );
        assert_eq!(
            (s2.records, s2.new_records, s2.tuples, s2.rejected),
            (2, 1, 1, 1)
        );
        assert_eq!(c2.flows[0].0, 1, "record index continues");
        assert_eq!(c2.rejects[0].reason, RejectReason::WrongFieldCount);
        assert_eq!(
            c2.rejects[0].offset as usize,
            v2.find("\"bad\"").unwrap() + 1
        );
    }

    /// A blob that is not valid UTF-8 is read byte by byte: the records before the bad byte
    /// are read as in a valid blob, and the bad one is rejected with its place.
    #[test]
    fn a_blob_with_invalid_utf8_keeps_the_records_before_it() {
        let bad = REC_B.replace("\"R2\"", "\"R\u{FFFD}\"");
        let mut blob = format!("{{\"records\":[{REC_A},{bad}]}}").into_bytes();
        // The replacement character's three bytes become one byte that no UTF-8 text holds.
        let at = blob
            .windows(3)
            .position(|w| w == "\u{FFFD}".as_bytes())
            .unwrap();
        blob.splice(at..at + 3, [0xFF]);
        let mut c = Collect::default();
        let scan = scan_blob(&blob, "b", Resume::default(), &mut c);
        assert_eq!((scan.records, scan.tuples, scan.broken), (1, 1, true));
        assert_eq!(
            c.flows,
            [(
                0,
                "R1".into(),
                "13.67.143.118".into(),
                1_542_110_377_000_000
            )]
        );
        let reject = &c.rejects[0];
        assert_eq!(reject.reason, RejectReason::MalformedJson, "{reject:?}");
        assert_eq!(reject.record, Some(1));
        assert_eq!(scan.consumed, REC_A.len() + "{\"records\":[".len());
    }

    #[test]
    fn empty_envelope_then_first_record() {
        let v0 = "{\"records\":[]}";
        let mut c = Collect::default();
        let s0 = scan_blob(v0.as_bytes(), "b", Resume::default(), &mut c);
        assert_eq!((s0.records, s0.consumed, s0.broken), (0, 12, false));
        let v1 = format!("{{\"records\":[{REC_A}]}}");
        let s1 = scan_blob(
            v1.as_bytes(),
            "b",
            Resume {
                offset: s0.consumed,
                records: 0,
            },
            &mut c,
        );
        assert_eq!((s1.records, s1.tuples), (1, 1));
    }

    #[test]
    fn record_stream_layout() {
        let v = format!("{REC_A}\n{REC_B}\n");
        let mut c = Collect::default();
        let s = scan_blob(v.as_bytes(), "b", Resume::default(), &mut c);
        assert_eq!(
            (s.records, s.tuples, s.rejected, s.broken),
            (2, 2, 1, false)
        );
    }

    #[test]
    fn truncated_blob_keeps_complete_records() {
        let v = format!("{{\"records\":[{REC_A},{}", &REC_B[..40]);
        let mut c = Collect::default();
        let s = scan_blob(v.as_bytes(), "b", Resume::default(), &mut c);
        assert_eq!((s.records, s.tuples, s.broken), (1, 1, true));
        assert_eq!(c.rejects[0].reason, RejectReason::TruncatedBlob);
    }

    #[test]
    fn mac_normalisation() {
        assert_eq!(normalize_mac("0022487bC205"), "00-22-48-7B-C2-05");
        assert_eq!(normalize_mac("00:0d:3a:f8:78:56"), "00-0D-3A-F8-78-56");
        assert_eq!(normalize_mac("not-a-mac"), "not-a-mac");
    }
}
