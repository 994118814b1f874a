//! Column builders for the `flows` table.
//!
//! Why: parsed tuples go straight into Arrow builders (no intermediate row structs), so memory
//! per in-flight row is the Arrow representation only, and a full batch is handed to the
//! Parquet writer without copying.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int8Array, Int32Array, PrimitiveArray, RunArray,
    StringArray, StringBuilder, TimestampMicrosecondArray, new_null_array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    ArrowNativeType, ArrowPrimitiveType, DataType, Field, Int8Type, Int32Type, Int64Type, Schema,
};
use arrow::record_batch::RecordBatch;

use crate::addr::{AddrClass, classify};
use crate::parse::{Direction, FlowState, GroupMeta, RecordMeta, Tuple};
use crate::schema::flows_schema;

/// Builders for one batch of `flows` rows.
pub struct FlowRows {
    /// The columns without nulls are plain vectors: a row is a push.
    time: Vec<i64>,
    /// A record's time, version and index, one per run of `groups`.
    record_time: Vec<i64>,
    log_version: Vec<i32>,
    source_record: Vec<i32>,
    src_ip: Addrs,
    dst_ip: Addrs,
    src_port: Vec<i32>,
    dst_port: Vec<i32>,
    protocol: Keys,
    protocol_number: Vec<i32>,
    direction: Keys,
    decision: Keys,
    flow_state: Keys,
    encryption: SparseText,
    packets_s2d: Nullable<i64>,
    bytes_s2d: Nullable<i64>,
    packets_d2s: Nullable<i64>,
    bytes_d2s: Nullable<i64>,
    src_class: Keys,
    dst_class: Keys,
    groups: TextRuns<10>,
    /// The group whose run is open in `groups`.
    group: Option<GroupKey>,
    len: usize,
    /// Rows the builders have room for after [`FlowRows::finish`].
    capacity: usize,
    scratch: String,
}

/// `N` text columns built as runs: a value per column for each run, and where each run ends,
/// shared by the `N` columns. A row costs nothing here; the batch holds the columns run-end
/// encoded, which the writer (`lake::runs`) and the rollup read a run at a time. Ingest
/// builds the [`GROUP_COLUMNS`] so (a run per flow group: record × rule × NIC), and the
/// rollup its group columns (its rows are sorted by group within each hour).
pub(crate) struct TextRuns<const N: usize> {
    values: [StringBuilder; N],
    /// The row after each finished run's last.
    ends: Vec<i32>,
    /// Whether a run is open.
    open: bool,
}

impl<const N: usize> TextRuns<N> {
    pub(crate) fn new() -> TextRuns<N> {
        TextRuns {
            values: std::array::from_fn(|_| StringBuilder::new()),
            ends: Vec::new(),
            open: false,
        }
    }

    /// Starts a run of `values` at row `row` (ending the previous run there).
    pub(crate) fn start(&mut self, row: usize, values: [Option<&str>; N]) {
        if self.open {
            self.ends.push(row as i32);
        }
        for (b, v) in self.values.iter_mut().zip(values) {
            b.append_option(v);
        }
        self.open = true;
    }

    /// The columns of the `rows` rows added, as run-end encoded arrays, and the run ends
    /// (for other columns of the same runs, [`runs`]); starts over.
    pub(crate) fn finish(&mut self, rows: usize) -> (Int32Array, [ArrayRef; N]) {
        if std::mem::take(&mut self.open) {
            self.ends.push(rows as i32);
        }
        let ends = Int32Array::from(std::mem::take(&mut self.ends));
        let columns = self.values.each_mut().map(|b| runs(&ends, &b.finish()));
        (ends, columns)
    }
}

/// `values`, one per run, run-end encoded with `ends`.
pub(crate) fn runs(ends: &Int32Array, values: &dyn Array) -> ArrayRef {
    Arc::new(RunArray::<Int32Type>::try_new(ends, values).expect("a value per run"))
}

/// The runs of a run-end encoded text column (as [`TextRuns`] builds it), `(end, value)` in
/// row order; `None` when the column is not run-end encoded text.
pub(crate) fn text_runs(a: &dyn Array) -> Option<Vec<(usize, Option<&str>)>> {
    let r = a.as_run_opt::<Int32Type>()?;
    let values = r.values().as_string_opt::<i32>()?;
    if r.is_empty() {
        return Some(Vec::new());
    }
    let ends = r.run_ends();
    let runs = (ends.get_start_physical_index()..).zip(ends.sliced_values());
    Some(
        runs.map(|(p, end)| (end as usize, (!values.is_null(p)).then(|| values.value(p))))
            .collect(),
    )
}

/// Identifies a group within an ingest: (blob id, record index, group index).
pub type GroupKey = (u64, u32, u32);

/// The columns holding one value per flow group (record × rule × NIC), repeated on each of
/// its tuples: built as run-end encoded arrays, one run per group. The record's time, version
/// and index are numbers ([`RECORD_NUMBERS`]).
pub const GROUP_COLUMNS: [&str; 10] = [
    "provider",
    "resource_id",
    "target_resource_id",
    "subscription_id",
    "resource_group",
    "nsg_name",
    "acl_id",
    "mac",
    "rule",
    "source_blob",
];

/// The numbers of a record, built run-end encoded like the [`GROUP_COLUMNS`].
pub const RECORD_NUMBERS: [&str; 3] = ["record_time", "log_version", "source_record"];

/// The columns holding one of a few names (an enum's: protocol, direction, address class…):
/// built as `Int8` dictionary keys ([`Keys`]).
pub const KEY_COLUMNS: [&str; 6] = [
    "protocol",
    "direction",
    "decision",
    "flow_state",
    "src_class",
    "dst_class",
];

/// The address columns: built as `Int32` dictionary keys into the batch's addresses
/// ([`Addrs`]).
pub const ADDRESS_COLUMNS: [&str; 2] = ["src_ip", "dst_ip"];

/// A text column of a few names, built as `Int8` keys into the names met so far: a name is
/// found by its address (the same `&'static str` every time), so a row costs a comparison of
/// two pointers instead of a copy of the string, and the writer reads no string either.
pub(crate) struct Keys {
    keys: Nullable<i8>,
    names: Vec<&'static str>,
}

impl Keys {
    /// Room for `rows` keys.
    pub(crate) fn with_capacity(rows: usize) -> Keys {
        Keys {
            keys: Nullable::with_capacity(rows),
            names: Vec::new(),
        }
    }

    /// Room for `rows` keys into `names`, which [`Keys::append_key`] indexes: an enum's names
    /// in its order, so a row's key is its value's number, found without a search.
    pub(crate) fn fixed(names: &[&'static str], rows: usize) -> Keys {
        Keys {
            keys: Nullable::with_capacity(rows),
            names: names.to_vec(),
        }
    }

    /// Appends key `k`, an index into the names given to [`Keys::fixed`] (or null).
    #[inline]
    pub(crate) fn append_key(&mut self, k: Option<usize>) {
        debug_assert!(k.is_none_or(|k| k < self.names.len()));
        self.keys.push(k.map(|k| k as i8));
    }

    /// Appends `name`'s key (or null).
    pub(crate) fn append(&mut self, name: Option<&'static str>) {
        let Some(name) = name else {
            return self.keys.push(None);
        };
        let key = match self.names.iter().position(|n| std::ptr::eq(*n, name)) {
            Some(k) => k,
            None => match self.names.iter().position(|n| *n == name) {
                Some(k) => k,
                None => {
                    self.names.push(name);
                    self.names.len() - 1
                }
            },
        };
        let key = i8::try_from(key).expect("a key column holds an enum's few names");
        self.keys.push(Some(key));
    }

    /// Takes the keys so far as a dictionary array (the names stay for the next batch).
    pub(crate) fn finish(&mut self) -> ArrayRef {
        let names = Arc::new(StringArray::from(self.names.clone()));
        let keys: Int8Array = self.keys.finish();
        Arc::new(DictionaryArray::<Int8Type>::try_new(keys, names).expect("keys index the names"))
    }
}

/// A column's values and which of them are null, gathered in plain vectors: a row is two
/// pushes, where arrow's builders (a value buffer and a null bitmap, both checked for room on
/// every row) took about 28 instructions.
pub(crate) struct Nullable<T> {
    values: Vec<T>,
    valid: Vec<bool>,
    nulls: usize,
}

impl<T: ArrowNativeType> Nullable<T> {
    /// Room for `rows` values.
    pub(crate) fn with_capacity(rows: usize) -> Nullable<T> {
        Nullable {
            values: Vec::with_capacity(rows),
            valid: Vec::with_capacity(rows),
            nulls: 0,
        }
    }

    /// Appends `v` (or null).
    #[inline]
    pub(crate) fn push(&mut self, v: Option<T>) {
        self.values.push(v.unwrap_or_default());
        self.valid.push(v.is_some());
        self.nulls += usize::from(v.is_none());
    }

    /// Takes the values so far as an array (with a null bitmap only when one is null).
    pub(crate) fn finish<P: ArrowPrimitiveType<Native = T>>(&mut self) -> PrimitiveArray<P> {
        let valid = std::mem::take(&mut self.valid);
        let nulls = (std::mem::take(&mut self.nulls) > 0).then(|| NullBuffer::from(valid));
        PrimitiveArray::new(std::mem::take(&mut self.values).into(), nulls)
    }
}

/// A text column null on most rows (`encryption`: NSG tuples have none): nothing is built
/// until its first value, and then the nulls before it are added at once; a null row was
/// otherwise a push to an offsets buffer and a null bitmap, each checked for room.
struct SparseText {
    /// The column, from the batch's first value on.
    text: Option<StringBuilder>,
    /// Rows so far.
    rows: usize,
    /// Rows the column gets room for when it is built.
    capacity: usize,
}

impl SparseText {
    fn with_capacity(rows: usize) -> SparseText {
        SparseText {
            text: None,
            rows: 0,
            capacity: rows,
        }
    }

    fn push(&mut self, v: Option<&str>) {
        match (&mut self.text, v) {
            (Some(b), v) => b.append_option(v),
            (None, None) => {}
            (None, Some(v)) => {
                // Room for a short status (`X`, `NX`, …) on each row.
                let mut b = StringBuilder::with_capacity(self.capacity, self.capacity * 2);
                b.append_nulls(self.rows);
                b.append_value(v);
                self.text = Some(b);
            }
        }
        self.rows += 1;
    }

    fn finish(&mut self) -> ArrayRef {
        let rows = std::mem::take(&mut self.rows);
        match self.text.take() {
            Some(mut b) => Arc::new(b.finish()),
            None => new_null_array(&DataType::Utf8, rows),
        }
    }
}

/// A batch of `canonical`'s columns as they were built: each field takes its array's type
/// (ingest builds text columns run-end encoded or as dictionary keys). The Parquet writer takes these
/// batches under the canonical schema (it encodes them as it would `Utf8`), so files and
/// their embedded Arrow schema are plain `Utf8`.
pub(crate) fn built_batch(canonical: &Schema, cols: Vec<ArrayRef>) -> RecordBatch {
    let fields: Vec<Field> = canonical
        .fields()
        .iter()
        .zip(&cols)
        .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .expect("built columns match the canonical schema")
}

/// The names of `direction`, in the order of [`Direction`]: outbound is key 1.
pub(crate) const DIRECTIONS: [&str; 2] = ["inbound", "outbound"];

/// The names of `decision`: allowed first, so deny is key 1.
pub(crate) const DECISIONS: [&str; 2] = ["allow", "deny"];

/// Microsecond times as a `Timestamp(µs, UTC)` array, without copying them.
pub(crate) fn utc_times(us: Vec<i64>) -> TimestampMicrosecondArray {
    TimestampMicrosecondArray::from(us).with_timezone("UTC")
}

/// IANA keyword for a protocol number (the common ones).
pub fn protocol_name(n: i32) -> Option<&'static str> {
    Some(match n {
        1 => "icmp",
        2 => "igmp",
        4 => "ipv4",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        89 => "ospf",
        103 => "pim",
        112 => "vrrp",
        132 => "sctp",
        _ => return None,
    })
}

impl Default for FlowRows {
    fn default() -> Self {
        FlowRows::with_capacity(0)
    }
}

impl FlowRows {
    /// Builders with room for `rows` rows, kept after each [`FlowRows::finish`]: a builder
    /// that starts empty grows by doubling, copying its values a dozen times per batch.
    pub fn with_capacity(rows: usize) -> Self {
        let int64 = || Nullable::with_capacity(rows);
        let keys = || Keys::with_capacity(rows);
        let fixed = |names: &[&'static str]| Keys::fixed(names, rows);
        let classes = || fixed(&AddrClass::ALL.map(AddrClass::as_str));
        FlowRows {
            time: Vec::with_capacity(rows),
            record_time: Vec::new(),
            log_version: Vec::new(),
            source_record: Vec::new(),
            src_ip: Addrs::with_capacity(rows),
            dst_ip: Addrs::with_capacity(rows),
            src_port: Vec::with_capacity(rows),
            dst_port: Vec::with_capacity(rows),
            protocol: keys(),
            protocol_number: Vec::with_capacity(rows),
            direction: fixed(&DIRECTIONS),
            decision: fixed(&DECISIONS),
            flow_state: fixed(&FlowState::ALL.map(FlowState::as_str)),
            encryption: SparseText::with_capacity(rows),
            packets_s2d: int64(),
            bytes_s2d: int64(),
            packets_d2s: int64(),
            bytes_d2s: int64(),
            src_class: classes(),
            dst_class: classes(),
            groups: TextRuns::new(),
            group: None,
            len: 0,
            capacity: rows,
            scratch: String::new(),
        }
    }
}

/// An address column built as `Int32` dictionary keys into the batch's distinct addresses,
/// found by their numeric value: the rollup and the writer then look each address's text up
/// once per batch instead of hashing it on every row.
struct Addrs {
    keys: Vec<i32>,
    /// IPv4 addresses by their number (one multiply to hash), IPv6 apart.
    v4: HashMap<u32, i32, foldhash::fast::FixedState>,
    v6: HashMap<Ipv6Addr, i32, foldhash::fast::FixedState>,
    /// The previous row's address and key: a NIC's own address is on most of its tuples.
    last: Option<(IpAddr, i32)>,
    text: StringBuilder,
}

impl Addrs {
    fn with_capacity(rows: usize) -> Addrs {
        Addrs {
            keys: Vec::with_capacity(rows),
            v4: HashMap::default(),
            v6: HashMap::default(),
            last: None,
            text: StringBuilder::new(),
        }
    }

    fn append(&mut self, scratch: &mut String, ip: IpAddr, text: &str) {
        if let Some((last, key)) = self.last
            && last == ip
        {
            return self.keys.push(key);
        }
        let next = (self.v4.len() + self.v6.len()) as i32;
        let key = match ip {
            IpAddr::V4(v4) => *self.v4.entry(u32::from(v4)).or_insert_with(|| {
                // Rust's IPv4 parser accepts only the canonical dotted quad, so the input is
                // canonical.
                self.text.append_value(text);
                next
            }),
            IpAddr::V6(v6) => *self.v6.entry(v6).or_insert_with(|| {
                scratch.clear();
                let _ = write!(scratch, "{v6}");
                self.text.append_value(scratch.as_str());
                next
            }),
        };
        self.last = Some((ip, key));
        self.keys.push(key);
    }

    fn finish(&mut self) -> ArrayRef {
        let text = Arc::new(self.text.finish());
        let keys = Int32Array::from(std::mem::take(&mut self.keys));
        Arc::new(DictionaryArray::<Int32Type>::try_new(keys, text).expect("keys index the text"))
    }
}

impl FlowRows {
    /// Rows appended since the last [`FlowRows::finish`].
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no rows are buffered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one tuple. `key` identifies its group; rows of one group are one run of its
    /// values.
    pub fn push(
        &mut self,
        key: GroupKey,
        blob: &str,
        rec: &RecordMeta<'_>,
        g: &GroupMeta<'_>,
        t: &Tuple<'_>,
    ) {
        if self.group != Some(key) {
            let values = [
                Some(rec.provider.as_str()),
                Some(rec.resource_id),
                rec.target_resource_id,
                rec.subscription_id.as_deref(),
                rec.resource_group.as_deref(),
                rec.nsg_name.as_deref(),
                g.acl_id,
                g.mac,
                Some(g.rule),
                Some(blob),
            ];
            self.groups.start(self.len, values);
            self.record_time.push(rec.time_us);
            self.log_version.push(rec.version);
            self.source_record.push(rec.index as i32);
            self.group = Some(key);
        }
        self.time.push(t.time_us);
        self.src_ip.append(&mut self.scratch, t.src, t.src_text);
        self.dst_ip.append(&mut self.scratch, t.dst, t.dst_text);
        self.src_port.push(t.src_port);
        self.dst_port.push(t.dst_port);
        self.protocol.append(protocol_name(t.protocol));
        self.protocol_number.push(t.protocol);
        self.direction.append_key(Some(match t.direction {
            Direction::Inbound => 0,
            Direction::Outbound => 1,
        }));
        self.decision
            .append_key(Some(if t.allowed { 0 } else { 1 }));
        self.flow_state.append_key(t.state.map(|s| s as usize));
        self.encryption.push(t.encryption);
        self.packets_s2d.push(t.counters.packets_s2d);
        self.bytes_s2d.push(t.counters.bytes_s2d);
        self.packets_d2s.push(t.counters.packets_d2s);
        self.bytes_d2s.push(t.counters.bytes_d2s);
        self.src_class.append_key(Some(classify(t.src) as usize));
        self.dst_class.append_key(Some(classify(t.dst) as usize));
        self.len += 1;
    }

    /// Takes the buffered rows as a batch of the canonical schema.
    pub fn finish(&mut self) -> RecordBatch {
        // The provider, the eight group columns from `resource_id` to `rule`, and
        // `source_blob`; the record's numbers are runs of the same ends.
        let (ends, [provider, group @ .., source_blob]) = self.groups.finish(self.len);
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(utc_times(std::mem::take(&mut self.time))),
            runs(&ends, &utc_times(std::mem::take(&mut self.record_time))),
            provider,
            runs(
                &ends,
                &Int32Array::from(std::mem::take(&mut self.log_version)),
            ),
        ];
        cols.extend(group);
        cols.extend([
            self.src_ip.finish(),
            self.dst_ip.finish(),
            Arc::new(Int32Array::from(std::mem::take(&mut self.src_port))),
            Arc::new(Int32Array::from(std::mem::take(&mut self.dst_port))),
            self.protocol.finish(),
            Arc::new(Int32Array::from(std::mem::take(&mut self.protocol_number))),
            self.direction.finish(),
            self.decision.finish(),
            self.flow_state.finish(),
            self.encryption.finish(),
            Arc::new(self.packets_s2d.finish::<Int64Type>()),
            Arc::new(self.bytes_s2d.finish::<Int64Type>()),
            Arc::new(self.packets_d2s.finish::<Int64Type>()),
            Arc::new(self.bytes_d2s.finish::<Int64Type>()),
            self.src_class.finish(),
            self.dst_class.finish(),
            source_blob,
            runs(
                &ends,
                &Int32Array::from(std::mem::take(&mut self.source_record)),
            ),
        ]);
        *self = FlowRows::with_capacity(self.capacity);
        built_batch(&flows_schema(), cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_columns_have_a_null_bitmap_only_when_a_value_is_null() {
        let mut c: Nullable<i64> = Nullable::with_capacity(2);
        c.push(Some(7));
        c.push(Some(-1));
        let a = c.finish::<Int64Type>();
        assert_eq!(a.values().as_ref(), [7, -1]);
        assert!(a.nulls().is_none());

        c.push(None);
        c.push(Some(3));
        let a = c.finish::<Int64Type>();
        assert_eq!(a.iter().collect::<Vec<_>>(), [None, Some(3)]);
        assert_eq!(a.null_count(), 1);
    }

    #[test]
    fn sparse_text_keeps_the_nulls_before_its_first_value() {
        let mut c = SparseText::with_capacity(4);
        c.push(None);
        c.push(None);
        let a = c.finish();
        assert_eq!((a.len(), a.null_count()), (2, 2));
        assert_eq!(a.data_type(), &DataType::Utf8);

        for v in [None, Some("NX"), None, Some("X")] {
            c.push(v);
        }
        let a = c.finish();
        let a = a.as_string::<i32>();
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [None, Some("NX"), None, Some("X")]
        );
    }
}
