//! The `hourly` table: one row per hour and conversation, beside the raw tuples.
//!
//! Why: a year of weekly reports should not re-aggregate a year of raw tuples. Every raw data
//! file of `flows` has a twin of the same name under `hourly/date=…/` holding exactly its
//! tuples aggregated by hour, NIC and rule, direction, decision, protocol, addresses and
//! destination port (source ports are ephemeral: their count is kept, not their values).
//! The twin is built from the batches written to the raw file ([`HourlyAgg::add`]) and
//! committed in the same transaction, so whatever writes raw files (ingest, the rewrite of a
//! blob's rows, compaction) keeps the rollup consistent with them by construction: a grown
//! blob's new tuples land in a new raw file and its twin, a rewritten blob's files and twins
//! are replaced together, and compaction re-aggregates a partition's rows into one row per
//! key and hour.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use smallvec::SmallVec;

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int8Array, Int32Array, Int64Array, RunArray,
    StringArray, StringViewArray,
};
use arrow::datatypes::{
    DataType, Int8Type, Int32Type, Int64Type, SchemaRef, TimestampMicrosecondType,
};
use arrow::record_batch::RecordBatch;

use crate::lake::rows::{
    DECISIONS, DIRECTIONS, Keys, Nullable, TextRuns, built_batch, protocol_name, text_runs,
    utc_times,
};
use crate::schema::{self, ALL, ColType::*, Column, VNET, col};

/// Directory of the `hourly` table inside the lake.
pub const HOURLY_DIR: &str = "hourly";

/// The directory of `hourly` partition `partition` (`date=…`), relative to the lake root.
pub fn hourly_dir(partition: &str) -> String {
    format!("{HOURLY_DIR}/{partition}")
}

/// The columns of `hourly`, in file order.
pub const COLUMNS: &[Column] = &[
    col(
        "hour",
        Timestamp,
        false,
        ALL,
        "Start of the UTC hour of the tuples (`date_trunc('hour', flows.time)`).",
    ),
    col(
        "resource_id",
        Text,
        false,
        ALL,
        "As in `flows`: the NSG or flow log.",
    ),
    col("nsg_name", Text, true, ALL, "As in `flows`."),
    col("acl_id", Text, true, VNET, "As in `flows`."),
    col("mac", Text, true, ALL, "As in `flows`: the NIC."),
    col("rule", Text, false, ALL, "As in `flows`."),
    col("direction", Text, false, ALL, "As in `flows`."),
    col("decision", Text, false, ALL, "As in `flows`."),
    col("protocol", Text, true, ALL, "As in `flows`."),
    col("protocol_number", Int32, false, ALL, "As in `flows`."),
    col("src_ip", Text, false, ALL, "As in `flows`."),
    col("dst_ip", Text, false, ALL, "As in `flows`."),
    col("dst_port", Int32, false, ALL, "As in `flows`."),
    col("src_class", Text, false, ALL, "As in `flows`."),
    col("dst_class", Text, false, ALL, "As in `flows`."),
    col(
        "tuples",
        Int64,
        false,
        ALL,
        "Tuples aggregated into the row (`count(*)`).",
    ),
    col(
        "flows_begun",
        Int64,
        false,
        ALL,
        "Tuples that begin a flow: state `begin`, or any NSG v1 tuple (no state) — what reports count as flows.",
    ),
    col(
        "flows_ended",
        Int64,
        false,
        "NSG v2, VNet v4",
        "Tuples with state `end`.",
    ),
    col(
        "src_ports",
        Int64,
        false,
        ALL,
        "Distinct source ports among the row's tuples (a key split over two rows of one file, or over several files before compaction, counts each part's).",
    ),
    col(
        "packets_src_to_dst",
        Int64,
        true,
        "NSG v2, VNet v4",
        "Sum of `flows.packets_src_to_dst` (null when no tuple had a counter).",
    ),
    col(
        "bytes_src_to_dst",
        Int64,
        true,
        "NSG v2, VNet v4",
        "Sum of `flows.bytes_src_to_dst`, as above.",
    ),
    col(
        "packets_dst_to_src",
        Int64,
        true,
        "NSG v2, VNet v4",
        "Sum of `flows.packets_dst_to_src`, as above.",
    ),
    col(
        "bytes_dst_to_src",
        Int64,
        true,
        "NSG v2, VNet v4",
        "Sum of `flows.bytes_dst_to_src`, as above.",
    ),
    col(
        "first_seen",
        Timestamp,
        false,
        ALL,
        "Earliest `flows.time` of the row's tuples.",
    ),
    col(
        "last_seen",
        Timestamp,
        false,
        ALL,
        "Latest `flows.time` of the row's tuples.",
    ),
];

/// The columns (`first_seen`, `last_seen`) whose minimum and maximum are the time an
/// `hourly` file's tuples span.
pub const TIME_RANGE: (usize, usize) = (23, 24);

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| schema::arrow_schema(COLUMNS));

/// Arrow schema of the `hourly` files (without the partition column).
pub fn hourly_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// The `hourly` column reference as a Markdown table (in `docs/SCHEMA.md`).
pub fn markdown() -> String {
    schema::partitioned_markdown(COLUMNS, "hour")
}

const HOUR_US: i64 = 3_600_000_000;

/// What identifies a row: direction and decision, the hour, the interned group strings
/// (resource, NSG, ACL, MAC, rule), protocol, interned addresses, destination port. Rows are
/// written in this order: every report reads one direction and decision (exfil outbound
/// allowed, exposure inbound), and pages that hold only the other ones are skipped by their
/// statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    outbound: bool,
    allow: bool,
    hour: i64,
    group: u32,
    protocol: i32,
    src: u32,
    dst: u32,
    dst_port: i32,
}

/// Sums of one row.
#[derive(Debug, Clone)]
struct Acc {
    tuples: i64,
    begun: i64,
    ended: i64,
    counters: [i64; 4],
    /// Which counters any tuple had (bit per counter): the others stay null.
    present: u8,
    first: i64,
    last: i64,
    ports: Ports,
}

impl Acc {
    /// The sums of no tuple yet, first and last seen at `t`.
    fn new(t: i64) -> Acc {
        Acc {
            tuples: 0,
            begun: 0,
            ended: 0,
            counters: [0; 4],
            present: 0,
            first: t,
            last: t,
            ports: Ports::Few(SmallVec::new()),
        }
    }

    /// Adds the sums of `other`, a row of the same key.
    fn merge(&mut self, other: &Acc) {
        self.tuples += other.tuples;
        self.begun += other.begun;
        self.ended += other.ended;
        for (c, o) in self.counters.iter_mut().zip(other.counters) {
            *c += o;
        }
        self.present |= other.present;
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        self.ports.merge(&other.ports);
    }
}

/// The distinct source ports of a row: a sorted list (2 bytes a port) for the many rows with
/// few, a bitmap (8 KiB) for the rare ones with very many (a resolver's, a busy service's
/// clients).
#[derive(Debug, Clone)]
enum Ports {
    /// Up to eight ports are held inline: most rows have one or a few, and allocating a list
    /// for each was a malloc and a free per row.
    Few(SmallVec<[u16; 8]>),
    Many(Box<[u64; 1024]>, u32),
}

/// Ports kept in the list before the row switches to a bitmap (where the two weigh the same).
const FEW_PORTS: usize = 4096;

impl Ports {
    fn insert(&mut self, port: u16) {
        match self {
            Ports::Few(v) if v.len() < FEW_PORTS => {
                if let Err(at) = v.binary_search(&port) {
                    v.insert(at, port);
                }
            }
            Ports::Few(v) if v.binary_search(&port).is_ok() => {}
            Ports::Few(v) => {
                let mut bits = Box::new([0u64; 1024]);
                for p in v.iter().copied().chain([port]) {
                    bits[usize::from(p) / 64] |= 1 << (p % 64);
                }
                *self = Ports::Many(bits, FEW_PORTS as u32 + 1);
            }
            Ports::Many(bits, n) => {
                let (w, b) = (usize::from(port) / 64, 1u64 << (port % 64));
                if bits[w] & b == 0 {
                    bits[w] |= b;
                    *n += 1;
                }
            }
        }
    }

    fn count(&self) -> i64 {
        match self {
            Ports::Few(v) => v.len() as i64,
            Ports::Many(_, n) => i64::from(*n),
        }
    }

    /// Adds the ports of `other`.
    fn merge(&mut self, other: &Ports) {
        match other {
            Ports::Few(v) => v.iter().for_each(|&p| self.insert(p)),
            Ports::Many(bits, _) => {
                for (w, &word) in bits.iter().enumerate() {
                    let mut word = word;
                    while word != 0 {
                        self.insert((w * 64) as u16 + word.trailing_zeros() as u16);
                        word &= word - 1;
                    }
                }
            }
        }
    }
}

/// How a tuple's flow state counts in a row: a flow begun (state `begin`, or none: NSG v1),
/// ended, or neither.
#[derive(Debug, Clone, Copy)]
enum State {
    Begun,
    Ended,
    Other,
}

/// Strings interned to ids, with their text kept for output.
#[derive(Default)]
struct Interner {
    ids: HashMap<Box<str>, u32, foldhash::fast::FixedState>,
    text: Vec<Box<str>>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.text.len() as u32;
        self.text.push(s.into());
        self.ids.insert(s.into(), i);
        i
    }
}

/// A text column of a `flows` batch: `Utf8` (read from files), `Utf8View`, or as ingest
/// builds it: run-end encoded (group columns), `Int8` dictionary keys (few names) or `Int32`
/// keys (addresses).
enum Text<'a> {
    Plain(&'a StringArray),
    View(&'a StringViewArray),
    Keys8(&'a Int8Array, &'a StringArray),
    Keys32(&'a Int32Array, &'a StringArray),
    Runs(&'a RunArray<Int32Type>, &'a StringArray),
}

impl<'a> Text<'a> {
    fn of(batch: &'a RecordBatch, name: &str) -> Text<'a> {
        let c = batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("flows batches have column {name}"));
        match c.data_type() {
            DataType::Utf8View => Text::View(c.as_string_view()),
            DataType::Dictionary(key, _) if **key == DataType::Int32 => {
                let d = c.as_dictionary::<Int32Type>();
                Text::Keys32(d.keys(), d.values().as_string::<i32>())
            }
            DataType::Dictionary(..) => {
                let d = c.as_dictionary::<Int8Type>();
                Text::Keys8(d.keys(), d.values().as_string::<i32>())
            }
            DataType::RunEndEncoded(..) => {
                let r = c.as_run::<Int32Type>();
                Text::Runs(r, r.values().as_string::<i32>())
            }
            _ => Text::Plain(c.as_string::<i32>()),
        }
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Text::Plain(a) => (!a.is_null(i)).then(|| a.value(i)),
            Text::View(a) => (!a.is_null(i)).then(|| a.value(i)),
            Text::Keys8(k, names) => (!k.is_null(i)).then(|| names.value(k.value(i) as usize)),
            Text::Keys32(k, names) => (!k.is_null(i)).then(|| names.value(k.value(i) as usize)),
            Text::Runs(r, values) => {
                let p = r.run_ends().get_physical_index(i);
                (!values.is_null(p)).then(|| values.value(p))
            }
        }
    }

    /// The column's runs, `(end, value)` in row order, where it is run-end encoded.
    fn runs(&self) -> Option<Vec<(usize, Option<&'a str>)>> {
        match self {
            Text::Runs(r, _) => text_runs(*r),
            _ => None,
        }
    }

    /// `f` of each of the first `n` rows' value, found once per name where the column has
    /// `Int8` keys.
    fn per_row<T: Copy>(&self, n: usize, f: impl Fn(Option<&str>) -> T) -> Vec<T> {
        match self {
            Text::Keys8(keys, names) => {
                let by_key: Vec<T> = (0..names.len()).map(|k| f(Some(names.value(k)))).collect();
                let null = f(None);
                (0..n)
                    .map(|i| match keys.is_valid(i) {
                        true => by_key[keys.value(i) as usize],
                        false => null,
                    })
                    .collect()
            }
            _ => (0..n).map(|i| f(self.get(i))).collect(),
        }
    }

    /// Row `i`'s view (`Utf8View` columns; `u128::MAX`, which no string's view is, for null):
    /// rows with equal views hold equal strings, told apart without reading them.
    fn view(&self, i: usize) -> Option<u128> {
        match self {
            Text::View(a) if a.is_null(i) => Some(u128::MAX),
            Text::View(a) => Some(a.views()[i]),
            Text::Plain(_) | Text::Keys8(..) | Text::Keys32(..) | Text::Runs(..) => None,
        }
    }
}

/// An address column of a `flows` batch and the ids its dictionary keys (as ingest builds
/// it) were interned to, so each distinct address of a batch is hashed once.
struct Addresses<'a> {
    text: Text<'a>,
    ids: Vec<u32>,
}

impl<'a> Addresses<'a> {
    fn of(batch: &'a RecordBatch, name: &str) -> Addresses<'a> {
        let text = Text::of(batch, name);
        let keys = match &text {
            Text::Keys32(_, names) => names.len(),
            _ => 0,
        };
        Addresses {
            text,
            ids: vec![u32::MAX; keys],
        }
    }

    /// Row `i`'s address id in `interner`.
    fn id(&mut self, i: usize, interner: &mut Interner) -> u32 {
        match &self.text {
            Text::Keys32(k, names) if k.is_valid(i) => {
                let key = k.value(i) as usize;
                if self.ids[key] == u32::MAX {
                    self.ids[key] = interner.id(names.value(key));
                }
                self.ids[key]
            }
            text => interner.id(text.get(i).unwrap_or("")),
        }
    }
}

/// Group columns, in the order they are joined for interning.
const GROUP: [&str; 5] = ["resource_id", "nsg_name", "acl_id", "mac", "rule"];

/// The runs of rows by group of one batch ([`HourlyAgg::group_runs`]), and the strings of the
/// last, so a group met again straight away is not interned again.
#[derive(Default)]
struct GroupRuns<'a> {
    runs: Vec<(usize, u32)>,
    last: Option<([Option<&'a str>; 5], u32)>,
}

impl<'a> GroupRuns<'a> {
    /// Rows up to `end` hold the group of `strings`.
    fn add(&mut self, agg: &mut HourlyAgg, end: usize, strings: [Option<&'a str>; 5]) {
        let id = match self.last {
            Some((last, id)) if last == strings => id,
            _ => agg.group_id(strings),
        };
        self.last = Some((strings, id));
        match self.runs.last_mut() {
            Some((e, last_id)) if *last_id == id => *e = end,
            _ => self.runs.push((end, id)),
        }
    }

    /// Rows up to `end` hold the last run's group.
    fn extend(&mut self, end: usize) {
        self.runs.last_mut().expect("a run before").0 = end;
    }
}

/// Aggregates `flows` batches into `hourly` rows.
///
/// A blob holds one NIC-hour, so its rows share no key with other blobs' (but for tuples
/// stamped past its hour): the map holds the rows of the current blob only, and they move to
/// `done` when its last row has been added. The map stays small enough for the cache (a
/// spill's worth of rows was, and finding them was a sixth of the rollup's time); a key met
/// in two blobs is merged when the rows are sorted ([`HourlyAgg::finish`]).
#[derive(Default)]
pub struct HourlyAgg {
    /// Each row of the current blob: its slot in `accs`.
    rows: HashMap<Key, u32, foldhash::fast::FixedState>,
    /// The rows of the blobs before it, since the last spill.
    done: Vec<(Key, u32)>,
    /// The `source_blob` of the last row added (where batches are run-end encoded).
    blob: Option<String>,
    /// The rows' sums, in the order the rows were met: the map's entries stay small.
    accs: Vec<Acc>,
    groups: Interner,
    addrs: Interner,
    /// The class (`flows.src_class`) of each address, by address id.
    addr_class: Vec<u32>,
    classes: Interner,
    scratch: String,
}

impl HourlyAgg {
    /// Number of rows so far (a key met in two blobs counts twice).
    pub fn len(&self) -> usize {
        self.done.len() + self.rows.len()
    }

    /// True before the first tuple.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows of a batch where a blob other than the previous row's starts, in order
    /// (none where `source_blob` is not run-end encoded: files read back, which then keep
    /// all their rows in the map).
    fn blob_starts(&mut self, batch: &RecordBatch) -> Vec<usize> {
        let Some(runs) = Text::of(batch, "source_blob").runs() else {
            return Vec::new();
        };
        let mut starts = Vec::new();
        let mut start = 0;
        for (end, blob) in runs {
            let blob = blob.unwrap_or("");
            if self.blob.as_deref() != Some(blob) {
                if self.blob.is_some() {
                    starts.push(start);
                }
                self.blob = Some(blob.to_string());
            }
            start = end;
        }
        starts
    }

    /// Adds the tuples of a `flows` batch.
    pub fn add(&mut self, batch: &RecordBatch) {
        let n = batch.num_rows();
        let time = batch
            .column(schema::idx::TIME)
            .as_primitive::<TimestampMicrosecondType>();
        let groups: Vec<Text<'_>> = GROUP.iter().map(|c| Text::of(batch, c)).collect();
        let (mut src, mut dst) = (
            Addresses::of(batch, "src_ip"),
            Addresses::of(batch, "dst_ip"),
        );
        let (src_class, dst_class) = (Text::of(batch, "src_class"), Text::of(batch, "dst_class"));
        let outbound = Text::of(batch, "direction").per_row(n, |d| d == Some("outbound"));
        let allow = Text::of(batch, "decision").per_row(n, |d| d == Some("allow"));
        let state = Text::of(batch, "flow_state").per_row(n, |s| match s {
            None | Some("begin") => State::Begun,
            Some("end") => State::Ended,
            _ => State::Other,
        });
        let int32 = |c: &str| -> &Int32Array {
            batch
                .column_by_name(c)
                .unwrap_or_else(|| panic!("flows batches have column {c}"))
                .as_primitive()
        };
        let int64 = |c: &str| -> &Int64Array {
            batch
                .column_by_name(c)
                .unwrap_or_else(|| panic!("flows batches have column {c}"))
                .as_primitive()
        };
        let (src_port, dst_port, proto) = (
            int32("src_port"),
            int32("dst_port"),
            int32("protocol_number"),
        );
        let counters = [
            int64("packets_src_to_dst"),
            int64("bytes_src_to_dst"),
            int64("packets_dst_to_src"),
            int64("bytes_dst_to_src"),
        ];
        let mut group_runs = self.group_runs(&groups, n).into_iter();
        let (mut group_end, mut group) = (0, 0);
        let mut blob_starts = self.blob_starts(batch).into_iter().peekable();
        for i in 0..n {
            if i == group_end {
                (group_end, group) = group_runs.next().expect("the group runs cover the batch");
            }
            if blob_starts.next_if_eq(&i).is_some() {
                self.done.extend(self.rows.drain());
            }
            let t = time.value(i);
            let (s_id, d_id) = (src.id(i, &mut self.addrs), dst.id(i, &mut self.addrs));
            for (id, class) in [(s_id, &src_class), (d_id, &dst_class)] {
                if id as usize == self.addr_class.len() {
                    let c = self.classes.id(class.get(i).unwrap_or(""));
                    self.addr_class.push(c);
                }
            }
            let p = proto.value(i);
            let key = Key {
                hour: t.div_euclid(HOUR_US) * HOUR_US,
                group,
                outbound: outbound[i],
                allow: allow[i],
                protocol: p,
                src: s_id,
                dst: d_id,
                dst_port: dst_port.value(i),
            };
            let accs = &mut self.accs;
            let slot = *self.rows.entry(key).or_insert_with(|| {
                accs.push(Acc::new(t));
                (accs.len() - 1) as u32
            });
            let acc = &mut self.accs[slot as usize];
            acc.tuples += 1;
            match state[i] {
                State::Begun => acc.begun += 1,
                State::Ended => acc.ended += 1,
                State::Other => {}
            }
            for (k, c) in counters.iter().enumerate() {
                if !c.is_null(i) {
                    acc.counters[k] += c.value(i);
                    acc.present |= 1 << k;
                }
            }
            acc.first = acc.first.min(t);
            acc.last = acc.last.max(t);
            acc.ports.insert(src_port.value(i) as u16);
        }
    }

    /// The rows of a batch of `n` rows by group: `(end, interned group id)` in row order.
    /// Rows of one group (record × rule × NIC) come together, so its strings are interned once
    /// per run: ingest builds the group columns run-end encoded, and the runs are read as
    /// they are; otherwise (`Utf8View` read from files) rows with equal views hold equal
    /// strings, compared without reading the (long) strings.
    fn group_runs(&mut self, groups: &[Text<'_>], n: usize) -> Vec<(usize, u32)> {
        let mut runs = GroupRuns::default();
        let column_runs: Option<Vec<_>> = groups.iter().map(Text::runs).collect();
        if let Some(columns) = column_runs {
            // The columns' runs merged: a run ends where any column's does.
            let mut at = [0usize; 5];
            let mut start = 0;
            while start < n {
                let end = (0..5)
                    .map(|k| columns[k][at[k]].0)
                    .min()
                    .expect("five columns");
                runs.add(self, end, std::array::from_fn(|k| columns[k][at[k]].1));
                for k in 0..5 {
                    if columns[k][at[k]].0 == end {
                        at[k] += 1;
                    }
                }
                start = end;
            }
        } else {
            let mut last_views = None;
            for i in 0..n {
                let views: [Option<u128>; 5] = std::array::from_fn(|k| groups[k].view(i));
                if views.iter().all(Option::is_some) && last_views == Some(views) {
                    runs.extend(i + 1);
                } else {
                    last_views = Some(views);
                    runs.add(self, i + 1, std::array::from_fn(|k| groups[k].get(i)));
                }
            }
        }
        runs.runs
    }

    /// The interned id of a group's strings (in [`GROUP`] order).
    fn group_id(&mut self, strings: [Option<&str>; 5]) -> u32 {
        self.scratch.clear();
        for part in strings {
            self.scratch.push_str(part.unwrap_or("\u{0}"));
            self.scratch.push('\u{1}');
        }
        self.groups.id(&self.scratch)
    }

    /// The strings of interned group `id`, in [`GROUP`] order.
    fn group_strings(&self, id: u32) -> [Option<&str>; 5] {
        let mut parts = self.groups.text[id as usize].split('\u{1}');
        std::array::from_fn(|_| match parts.next() {
            Some("\u{0}") | None => None,
            part => part,
        })
    }

    /// Takes the rows aggregated so far as one batch of the `hourly` schema, sorted by
    /// [`Key`] (direction and decision, hour, the rest: pages hold one direction and decision
    /// and a narrow time range, so predicates on either skip pages), and starts over
    /// (forgetting the strings it interned too, so memory stays bounded by one spill). With it
    /// come the rows of each direction and decision present, in order: `(kind, rows)` with
    /// kind 0 inbound deny, 1 inbound allow, 2 outbound deny, 3 outbound allow.
    pub fn finish(&mut self) -> (RecordBatch, Vec<(usize, std::ops::Range<usize>)>) {
        let mut rows = std::mem::take(&mut self.done);
        rows.extend(self.rows.drain());
        // By direction and decision, then hour (so time predicates skip pages), then the rest.
        rows.sort_unstable_by_key(|(k, _)| *k);
        // A key met in two blobs (tuples stamped past their blob's hour) becomes one row.
        let accs = &mut self.accs;
        rows.dedup_by(|(key, slot), (kept_key, kept)| {
            let same = key == kept_key;
            if same {
                let other = std::mem::replace(&mut accs[*slot as usize], Acc::new(0));
                accs[*kept as usize].merge(&other);
            }
            same
        });
        let n = rows.len();
        let (mut hour, mut first, mut last) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let mut group: TextRuns<5> = TextRuns::new();
        let mut direction = Keys::fixed(&DIRECTIONS, n);
        let mut decision = Keys::fixed(&DECISIONS, n);
        let mut protocol = Keys::with_capacity(n);
        let mut addr_ids: [Vec<i32>; 4] = std::array::from_fn(|_| Vec::with_capacity(n));
        let [src_ip, dst_ip, src_class, dst_class] = &mut addr_ids;
        let (mut proto_n, mut dst_port) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut counts: [Vec<i64>; 4] = std::array::from_fn(|_| Vec::with_capacity(n));
        let mut sums: [Nullable<i64>; 4] = std::array::from_fn(|_| Nullable::with_capacity(n));
        let mut kinds: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
        for (r, (k, slot)) in rows.iter().enumerate() {
            let a = &self.accs[*slot as usize];
            let kind = 2 * usize::from(k.outbound) + usize::from(k.allow);
            match kinds.last_mut() {
                Some((last, range)) if *last == kind => range.end = r + 1,
                _ => kinds.push((kind, r..r + 1)),
            }
            hour.push(k.hour);
            if r == 0 || rows[r - 1].0.group != k.group {
                group.start(r, self.group_strings(k.group));
            }
            direction.append_key(Some(usize::from(k.outbound)));
            decision.append_key(Some(usize::from(!k.allow)));
            // `flows.protocol` is this keyword of the number too (`lake::rows`).
            protocol.append(protocol_name(k.protocol));
            proto_n.push(k.protocol);
            src_ip.push(k.src as i32);
            dst_ip.push(k.dst as i32);
            dst_port.push(k.dst_port);
            src_class.push(self.addr_class[k.src as usize] as i32);
            dst_class.push(self.addr_class[k.dst as usize] as i32);
            let [tuples, begun, ended, ports] = &mut counts;
            tuples.push(a.tuples);
            begun.push(a.begun);
            ended.push(a.ended);
            ports.push(a.ports.count());
            for (k, (b, v)) in sums.iter_mut().zip(a.counters).enumerate() {
                b.push((a.present & (1 << k) != 0).then_some(v));
            }
            first.push(a.first);
            last.push(a.last);
        }
        let (_, [resource_id, nsg_name, acl_id, mac, rule]) = group.finish(n);
        let strings = |interner: &Interner| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(
                interner.text.iter().map(|t| &**t),
            ))
        };
        let (addrs, classes) = (strings(&self.addrs), strings(&self.classes));
        let keys = |ids: &mut Vec<i32>, values: &ArrayRef| -> ArrayRef {
            let ids = Int32Array::from(std::mem::take(ids));
            let keys = DictionaryArray::<Int32Type>::try_new(ids, values.clone());
            Arc::new(keys.expect("ids index the interned strings"))
        };
        let time = |v: Vec<i64>| -> ArrayRef { Arc::new(utc_times(v)) };
        let [tuples, begun, ended, ports] = counts.map(|v| Arc::new(Int64Array::from(v)));
        let [p_s2d, b_s2d, p_d2s, b_d2s] = &mut sums;
        let cols: Vec<ArrayRef> = vec![
            time(hour),
            resource_id,
            nsg_name,
            acl_id,
            mac,
            rule,
            direction.finish(),
            decision.finish(),
            protocol.finish(),
            Arc::new(Int32Array::from(proto_n)),
            keys(src_ip, &addrs),
            keys(dst_ip, &addrs),
            Arc::new(Int32Array::from(dst_port)),
            keys(src_class, &classes),
            keys(dst_class, &classes),
            tuples,
            begun,
            ended,
            ports,
            Arc::new(p_s2d.finish::<Int64Type>()),
            Arc::new(b_s2d.finish::<Int64Type>()),
            Arc::new(p_d2s.finish::<Int64Type>()),
            Arc::new(b_d2s.finish::<Int64Type>()),
            time(first),
            time(last),
        ];
        // Addresses and classes are `Int32` keys into the interned strings, direction,
        // decision and protocol `Int8` keys: neither this nor the writer copies or hashes a
        // string per row.
        let batch = built_batch(&SCHEMA, cols);
        // Start over, forgetting the strings interned (memory stays bounded by one spill) but
        // keeping the room of the rows map, the rows list and the sums: growing them again
        // from empty (rehashing, faulting fresh pages) was 7 % of ingest's CPU time.
        rows.clear();
        let mut accs = std::mem::take(&mut self.accs);
        accs.clear();
        *self = HourlyAgg {
            rows: std::mem::take(&mut self.rows),
            done: rows,
            accs,
            ..HourlyAgg::default()
        };
        (batch, kinds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::rows::FlowRows;
    use crate::parse::{Counters, Direction, FlowState, GroupMeta, Provider, RecordMeta, Tuple};

    #[test]
    fn ports_are_counted_in_the_list_and_in_the_bitmap() {
        let mut p = Ports::Few(SmallVec::new());
        for port in (1000..1100).chain(1000..1050).chain([0, 65535, 65535]) {
            p.insert(port);
        }
        assert!(matches!(p, Ports::Few(_)));
        assert_eq!(p.count(), 102);
        for port in (0..=65535).rev().step_by(7).chain(0..10) {
            p.insert(port);
        }
        assert!(matches!(p, Ports::Many(..)));
        let want: std::collections::BTreeSet<u16> = (1000..1100)
            .chain([0, 65535])
            .chain((0..=65535).rev().step_by(7))
            .chain(0..10)
            .collect();
        assert_eq!(p.count(), want.len() as i64);
    }

    #[test]
    fn the_time_range_columns_are_first_and_last_seen() {
        assert_eq!(COLUMNS[TIME_RANGE.0].name, "first_seen");
        assert_eq!(COLUMNS[TIME_RANGE.1].name, "last_seen");
        assert_eq!(hourly_schema().fields().len(), COLUMNS.len());
    }

    /// The record of the test tuples: one NSG.
    fn record() -> RecordMeta<'static> {
        RecordMeta {
            index: 0,
            time_us: 0,
            provider: Provider::AzureNsg,
            version: 2,
            resource_id: "/NSG1",
            target_resource_id: None,
            subscription_id: None,
            resource_group: None,
            nsg_name: Some("nsg1".into()),
        }
    }

    /// The flow group of the test tuples: one rule of one NIC.
    fn group() -> GroupMeta<'static> {
        GroupMeta {
            index: 0,
            rule: "R",
            mac: Some("00-0D-3A-00-00-01"),
            acl_id: None,
        }
    }

    /// A TCP tuple from 10.0.0.4 to 52.1.2.3 out.
    fn tuple(
        t: i64,
        sport: i32,
        dport: i32,
        state: Option<FlowState>,
        bytes: Option<i64>,
        allowed: bool,
    ) -> Tuple<'static> {
        Tuple {
            time_us: t,
            src_text: "10.0.0.4",
            src: "10.0.0.4".parse().unwrap(),
            dst_text: "52.1.2.3",
            dst: "52.1.2.3".parse().unwrap(),
            src_port: sport,
            dst_port: dport,
            protocol: 6,
            direction: Direction::Outbound,
            allowed,
            state,
            encryption: None,
            counters: Counters {
                bytes_s2d: bytes,
                ..Default::default()
            },
        }
    }

    /// A column of `Int64` sums.
    fn i64s(b: &RecordBatch, c: &str) -> Vec<Option<i64>> {
        b.column_by_name(c)
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>()
            .iter()
            .collect()
    }

    /// Tuples of one conversation in one hour become one row; another port, hour or decision
    /// is another row; counters sum, absent counters stay null, source ports are counted (also
    /// past the short list, in the bitmap).
    #[test]
    fn tuples_aggregate_per_hour_and_conversation() {
        let (rec, g) = (record(), group());
        let hour = HOUR_US * 480_000;
        let mut rows = FlowRows::default();
        for t in [
            tuple(hour + 5, 40_000, 443, Some(FlowState::Begin), None, true),
            tuple(hour + 9, 40_000, 443, Some(FlowState::End), Some(700), true),
            tuple(
                hour + 7,
                40_001,
                443,
                Some(FlowState::Begin),
                Some(300),
                true,
            ),
            tuple(hour + 8, 40_002, 80, Some(FlowState::Begin), None, true),
            tuple(
                hour + HOUR_US,
                40_003,
                443,
                Some(FlowState::Begin),
                None,
                true,
            ),
            tuple(hour + 6, 40_004, 443, None, None, false),
        ] {
            rows.push((0, 0, 0), "blob", &rec, &g, &t);
        }
        let mut agg = HourlyAgg::default();
        agg.add(&rows.finish());
        assert_eq!(agg.len(), 4);
        let (b, _) = agg.finish();
        assert!(agg.is_empty());
        // Sorted by hour, then key: denied before allowed, then by port; then the next hour.
        let ports: Vec<i32> = b
            .column_by_name("dst_port")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int32Type>()
            .values()
            .to_vec();
        assert_eq!(ports, [443, 80, 443, 443]);
        let decisions = arrow::compute::cast(
            b.column_by_name("decision").unwrap(),
            &arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let decisions: Vec<&str> = decisions
            .as_string::<i32>()
            .iter()
            .map(Option::unwrap)
            .collect();
        assert_eq!(decisions, ["deny", "allow", "allow", "allow"]);
        assert_eq!(i64s(&b, "tuples"), [Some(1), Some(1), Some(3), Some(1)]);
        assert_eq!(
            i64s(&b, "flows_begun"),
            [Some(1), Some(1), Some(2), Some(1)]
        );
        assert_eq!(
            i64s(&b, "flows_ended"),
            [Some(0), Some(0), Some(1), Some(0)]
        );
        assert_eq!(i64s(&b, "src_ports"), [Some(1), Some(1), Some(2), Some(1)]);
        assert_eq!(i64s(&b, "bytes_src_to_dst"), [None, None, Some(1000), None]);
        let first = b
            .column(TIME_RANGE.0)
            .as_primitive::<TimestampMicrosecondType>()
            .value(2);
        let last = b
            .column(TIME_RANGE.1)
            .as_primitive::<TimestampMicrosecondType>()
            .value(2);
        assert_eq!((first, last), (hour + 5, hour + 9));
    }

    /// A key met in two blobs (a tuple stamped past its blob's hour) is one row: its sums
    /// added, its source ports merged (one blob's past the short list, in the bitmap).
    #[test]
    fn a_key_met_in_two_blobs_is_one_row() {
        let (rec, g) = (record(), group());
        let hour = HOUR_US * 480_000;
        let mut rows = FlowRows::default();
        for port in 0..5_000 {
            let t = tuple(hour + 1, 1_000 + port, 443, None, Some(10), true);
            rows.push((1, 0, 0), "blob-1", &rec, &g, &t);
        }
        let other = tuple(hour + 2, 1_000, 80, None, Some(5), true);
        rows.push((1, 0, 0), "blob-1", &rec, &g, &other);
        let mut agg = HourlyAgg::default();
        agg.add(&rows.finish());
        for (t, port) in [(hour + 3, 999), (hour + 4, 1_000), (hour + 5, 7_000)] {
            let t = tuple(t, port, 443, Some(FlowState::End), Some(1), true);
            rows.push((2, 0, 0), "blob-2", &rec, &g, &t);
        }
        agg.add(&rows.finish());
        // The key of port 443 is held twice, once per blob, until the rows are sorted.
        assert_eq!(agg.len(), 3);
        let (b, _) = agg.finish();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(i64s(&b, "tuples"), [Some(1), Some(5_003)]);
        assert_eq!(i64s(&b, "flows_ended"), [Some(0), Some(3)]);
        assert_eq!(i64s(&b, "src_ports"), [Some(1), Some(5_002)]);
        assert_eq!(i64s(&b, "bytes_src_to_dst"), [Some(5), Some(50_003)]);
        let times = |c: usize| {
            b.column(c)
                .as_primitive::<TimestampMicrosecondType>()
                .value(1)
        };
        assert_eq!(
            (times(TIME_RANGE.0), times(TIME_RANGE.1)),
            (hour + 1, hour + 5)
        );
    }
}
