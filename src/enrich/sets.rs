//! Named IP sets for SQL: `ip_in_set(ip, 'name')`, `ip_set_label(ip, 'name')` and
//! `service_tag(ip)`.
//!
//! Why: investigations ask "is this peer on the threat list?", "which Azure service is this?".
//! Sets load once from files named in the configuration (Azure `ServiceTags_*.json`, or any
//! list or threat feed [`super::feeds`] reads), and are flattened into sorted disjoint address
//! ranges, each carrying the label of the most specific prefix that covers it. Entries that
//! name autonomous systems (Spamhaus ASN-DROP) match the addresses an ASN database places in
//! them, when no prefix does. A lookup is a jump through a 65,536-entry index
//! on the top 16 address bits and a short binary search, so it stays fast with a million
//! prefixes. The functions compare equal by the configuration they were built from, so an
//! executor that rebuilds them from the same [`SetSpec`]s gets the same functions.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use serde::{Deserialize, Serialize};

use super::feeds::{self, Feed, Format, Item, LineReject};
use super::functions::{STRINGS, ViewTable, for_each_bytes, scalar_str, two_strings};
use super::geo::{GeoDbs, GeoField};
use crate::addr::{Cidr, IpBits};
use crate::error::{Error, IoContext};

/// Where a named set comes from: `--set name=PATH` or the `[sets]` table of the config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SetSpec {
    /// The name used in SQL (`ip_in_set(ip, 'name')`).
    pub name: String,
    /// A list, a threat feed as published, or an Azure service-tags JSON file (told apart by
    /// content: [`feeds::detect`]).
    pub path: PathBuf,
}

/// True for a usable set name: letters, digits, `_`, `-` or `.` (safe inside SQL quotes).
pub fn valid_set_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

impl std::str::FromStr for SetSpec {
    type Err = Error;

    /// Parses `name=PATH`.
    fn from_str(s: &str) -> std::result::Result<SetSpec, Error> {
        let (name, path) = s
            .split_once('=')
            .ok_or_else(|| Error::Invalid(format!("expected NAME=PATH, got '{s}'")))?;
        let name = name.trim();
        if !valid_set_name(name) {
            return Err(Error::Invalid(format!(
                "set name '{name}' must be letters, digits, '_', '-' or '.'"
            )));
        }
        Ok(SetSpec {
            name: name.to_string(),
            path: PathBuf::from(path),
        })
    }
}

/// One prefix of a set before flattening.
struct Entry {
    cidr: Cidr,
    label: u32,
    /// Tie-break among equal prefixes: the smaller wins. In lists, the line order (first
    /// wins); for service tags, the tag's size, so `Storage.WestEurope` beats `Storage` and
    /// `AzureCloud` for the same prefix.
    rank: u128,
}

/// Disjoint, sorted ranges of one address family with the label index of each.
#[derive(Debug, Default)]
struct Ranges<T> {
    /// Sorted by start; start, end and label side by side, so a lookup touches one place.
    ranges: Vec<Range<T>>,
    /// `index[h]` = first range whose start's top 16 bits are ≥ `h` (65,537 entries).
    index: Vec<u32>,
}

/// Addresses `start..=end` carry label `label`.
#[derive(Debug, Clone, Copy)]
struct Range<T> {
    start: T,
    end: T,
    label: u32,
}

/// Address integers (u32, u128) as the range table needs them.
trait Key: Copy + Ord + Default {
    fn top16(self) -> usize;
    fn next(self) -> Option<Self>;
    fn prev(self) -> Self;
}

impl Key for u32 {
    fn top16(self) -> usize {
        (self >> 16) as usize
    }
    fn next(self) -> Option<u32> {
        self.checked_add(1)
    }
    fn prev(self) -> u32 {
        self - 1
    }
}

impl Key for u128 {
    fn top16(self) -> usize {
        (self >> 112) as usize
    }
    fn next(self) -> Option<u128> {
        self.checked_add(1)
    }
    fn prev(self) -> u128 {
        self - 1
    }
}

impl<T: Key> Ranges<T> {
    /// Flattens prefixes (start, end, label, rank) into disjoint ranges where the most
    /// specific prefix wins. CIDR blocks either nest or are disjoint, so a stack suffices.
    fn build(mut prefixes: Vec<(T, T, u32, u128)>) -> Ranges<T> {
        // Outer blocks first; among equal blocks the best rank first.
        prefixes.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.3.cmp(&b.3)));
        prefixes.dedup_by(|b, a| a.0 == b.0 && a.1 == b.1);
        let mut r = Ranges {
            ranges: Vec::new(),
            index: Vec::new(),
        };
        // Open blocks (end, label); `cursor` = first address not yet emitted (None: past the end).
        let mut stack: Vec<(T, u32)> = Vec::new();
        let mut cursor: Option<T> = None;
        for (start, end, label, _) in prefixes {
            while let Some(&(top_end, top_label)) = stack.last() {
                if top_end >= start {
                    break;
                }
                if let Some(c) = cursor.filter(|c| *c <= top_end) {
                    r.push(c, top_end, top_label);
                }
                cursor = top_end.next();
                stack.pop();
            }
            if let (Some(&(_, top_label)), Some(c)) = (stack.last(), cursor)
                && c < start
            {
                r.push(c, start.prev(), top_label);
            }
            cursor = Some(start);
            stack.push((end, label));
        }
        while let Some((top_end, top_label)) = stack.pop() {
            if let Some(c) = cursor.filter(|c| *c <= top_end) {
                r.push(c, top_end, top_label);
            }
            cursor = top_end.next();
        }
        Ranges::from_ranges(r.ranges)
    }

    /// Appends a range, merging it into the previous one when adjacent with the same label.
    fn push(&mut self, start: T, end: T, label: u32) {
        if let Some(last) = self.ranges.last_mut()
            && last.label == label
            && last.end.next() == Some(start)
        {
            last.end = end;
            return;
        }
        self.ranges.push(Range { start, end, label });
    }

    #[inline]
    fn lookup(&self, x: T) -> Option<u32> {
        if self.ranges.is_empty() {
            return None;
        }
        let h = x.top16();
        // A range starting in an earlier bucket may cover x: start one before the bucket.
        let lo = (self.index[h] as usize).saturating_sub(1);
        let hi = self.index[h + 1] as usize;
        let i = lo + self.ranges[lo..hi].partition_point(|g| g.start <= x);
        let r = self.ranges.get(i.checked_sub(1)?)?;
        (x <= r.end).then_some(r.label)
    }
}

/// A named set of addresses and CIDR blocks with a label per entry.
#[derive(Debug)]
pub struct IpSet {
    name: String,
    v4: Ranges<u32>,
    v6: Ranges<u128>,
    /// Autonomous systems listed (AS number → label), matched through `geo`.
    asns: HashMap<u32, u32>,
    geo: Option<Arc<GeoDbs>>,
    labels: ViewTable,
    label_text: Vec<String>,
    entries: usize,
    /// Where it was read from, its format and how findings name it.
    path: PathBuf,
    format: Format,
    feed: String,
    /// Lines of the file that could not be read (skipped).
    rejects: Vec<LineReject>,
}

impl IpSet {
    fn build(name: &str, entries: Vec<Entry>, label_text: Vec<String>) -> IpSet {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let n = entries.len();
        for e in entries {
            match e.cidr.net {
                IpBits::V4(a) => {
                    v4.push((a, a | !crate::addr::mask_v4(e.cidr.len), e.label, e.rank))
                }
                IpBits::V6(a) => {
                    v6.push((a, a | !crate::addr::mask_v6(e.cidr.len), e.label, e.rank))
                }
            }
        }
        IpSet {
            name: name.to_string(),
            v4: Ranges::build(v4),
            v6: Ranges::build(v6),
            asns: HashMap::new(),
            geo: None,
            labels: ViewTable::new(label_text.iter().map(String::as_str)),
            label_text,
            entries: n,
            path: PathBuf::new(),
            format: Format::List,
            feed: Format::List.name().to_string(),
            rejects: vec![],
        }
    }

    /// Builds a set from `(CIDR or address, optional label)` entries; an entry without a label
    /// is labelled with its own CIDR text.
    pub fn from_entries<'a>(
        name: &str,
        entries: impl IntoIterator<Item = (Cidr, Option<&'a str>)>,
    ) -> IpSet {
        let mut labels = Labels::default();
        let list = entries
            .into_iter()
            .enumerate()
            .map(|(i, (cidr, label))| Entry {
                cidr,
                label: match label {
                    Some(l) => labels.id(l),
                    None => labels.id(&cidr.to_string()),
                },
                rank: i as u128,
            })
            .collect();
        IpSet::build(name, list, labels.text)
    }

    /// Loads a set from a file: Azure service tags, or a list or threat feed in any format
    /// [`feeds::read`] knows (told apart by content). Entries naming autonomous systems need an
    /// ASN database in `geo`. Unreadable lines are skipped and kept ([`IpSet::rejects`]); a
    /// file with no readable entry at all is an error naming its first bad line.
    pub fn load(name: &str, path: &Path, geo: &Arc<GeoDbs>) -> crate::Result<IpSet> {
        let text = std::fs::read_to_string(path).ctx("read IP set", path)?;
        let mut set = match feeds::detect(&text) {
            Format::ServiceTags => parse_service_tags(name, path, &text)?,
            format => from_feed(name, path, feeds::read_as(&text, format), geo)?,
        };
        set.path = path.to_path_buf();
        Ok(set)
    }

    /// The set's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of entries read (before merging).
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format it was read as.
    pub fn format(&self) -> Format {
        self.format
    }

    /// How findings name it: the list's own title (`FireHOL firehol_level1`, `Spamhaus DROP
    /// of 2026-11-30`) or its format.
    pub fn feed(&self) -> &str {
        &self.feed
    }

    /// The lines of its file that could not be read, which it skipped.
    pub fn rejects(&self) -> &[LineReject] {
        &self.rejects
    }

    /// Index of the label of the most specific entry that contains `ip`; then of the
    /// autonomous system the ASN database places `ip` in, when the set lists it.
    #[inline]
    pub fn lookup(&self, ip: IpBits) -> Option<u32> {
        let hit = match ip {
            IpBits::V4(a) => self.v4.lookup(a),
            IpBits::V6(a) => self.v6.lookup(a),
        };
        if hit.is_some() || self.asns.is_empty() {
            return hit;
        }
        let asn = self.geo.as_ref()?.place_asn(ip)?;
        self.asns.get(&asn).copied()
    }

    /// The label of the most specific entry that contains `ip`.
    pub fn label(&self, ip: IpBits) -> Option<&str> {
        self.lookup(ip)
            .map(|i| self.label_text[i as usize].as_str())
    }
}

/// Interns labels.
#[derive(Default)]
struct Labels {
    ids: std::collections::HashMap<String, u32>,
    text: Vec<String>,
}

impl Labels {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.text.len() as u32;
        self.text.push(s.to_string());
        self.ids.insert(s.to_string(), i);
        i
    }
}

/// Builds a set from a feed read by [`feeds::read`].
fn from_feed(name: &str, path: &Path, feed: Feed, geo: &Arc<GeoDbs>) -> crate::Result<IpSet> {
    let bad = |line: Option<usize>, message: String| Error::Input {
        path: path.to_path_buf(),
        line,
        message: format!("IP set '{name}' ({}): {message}", feed.format.name()),
    };
    if feed.entries.is_empty()
        && let Some(first) = feed.rejects.first()
    {
        return Err(bad(
            Some(first.line),
            format!(
                "no line could be read ({} rejected; this one: {})",
                feed.rejects.len(),
                first.message
            ),
        ));
    }
    let mut labels = Labels::default();
    let mut entries = Vec::new();
    let mut asns = HashMap::new();
    for e in &feed.entries {
        let label = match (&e.label, e.item) {
            (Some(l), _) => labels.id(l),
            (None, Item::Net(cidr)) => labels.id(&cidr.to_string()),
            (None, Item::Asn(a)) => labels.id(&format!("AS{a}")),
        };
        match e.item {
            Item::Net(cidr) => {
                let rank = entries.len() as u128;
                entries.push(Entry { cidr, label, rank });
            }
            // The first listing of an AS keeps its label.
            Item::Asn(a) => {
                asns.entry(a).or_insert(label);
            }
        }
    }
    if !asns.is_empty() && !geo.carries(GeoField::Asn) {
        return Err(bad(
            None,
            format!(
                "it lists {} autonomous systems, which match addresses through an ASN database: name one under [geo] databases or with --geo-db PATH",
                asns.len()
            ),
        ));
    }
    let n_asns = asns.len();
    let mut set = IpSet::build(name, entries, labels.text);
    set.entries += n_asns;
    if !asns.is_empty() {
        set.asns = asns;
        set.geo = Some(geo.clone());
    }
    set.format = feed.format;
    set.feed = feed.describe();
    set.rejects = feed.rejects;
    Ok(set)
}

#[derive(Deserialize)]
struct ServiceTags {
    values: Vec<ServiceTag>,
}

#[derive(Deserialize)]
struct ServiceTag {
    name: String,
    properties: TagProperties,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TagProperties {
    #[serde(default)]
    address_prefixes: Vec<String>,
}

fn parse_service_tags(name: &str, path: &Path, text: &str) -> crate::Result<IpSet> {
    let doc: ServiceTags = serde_json::from_str(text).map_err(|e| Error::Input {
        path: path.to_path_buf(),
        line: Some(e.line()),
        message: format!("IP set '{name}': not an Azure service-tags file: {e}"),
    })?;
    let mut labels = Labels::default();
    let mut entries = Vec::new();
    for tag in &doc.values {
        let label = labels.id(&tag.name);
        let mut parsed = Vec::with_capacity(tag.properties.address_prefixes.len());
        // A tag's size (addresses covered, IPv4 counted in the IPv6-sized space) ranks it:
        // for a prefix listed in several tags, the smallest tag is the most specific.
        let mut size: u128 = 0;
        for p in &tag.properties.address_prefixes {
            let cidr = Cidr::parse(p).ok_or_else(|| Error::Input {
                path: path.to_path_buf(),
                line: None,
                message: format!(
                    "IP set '{name}': tag '{}': '{p}' is not a CIDR block",
                    tag.name
                ),
            })?;
            let host_bits = match cidr.net {
                IpBits::V4(_) => 32 - u32::from(cidr.len) + 64,
                IpBits::V6(_) => 128 - u32::from(cidr.len),
            };
            size = size.saturating_add(1u128.checked_shl(host_bits).unwrap_or(u128::MAX));
            parsed.push(cidr);
        }
        entries.extend(parsed.into_iter().map(|cidr| Entry {
            cidr,
            label,
            rank: size,
        }));
    }
    // Ties between equally large tags go to the name that sorts first: make rank unique and
    // deterministic by folding in the label order of sorted names.
    let mut order: Vec<u32> = (0..labels.text.len() as u32).collect();
    order.sort_by(|a, b| labels.text[*a as usize].cmp(&labels.text[*b as usize]));
    let mut pos = vec![0u128; order.len()];
    for (p, l) in order.into_iter().enumerate() {
        pos[l as usize] = p as u128;
    }
    for e in &mut entries {
        e.rank = e
            .rank
            .saturating_mul(1 << 20)
            .saturating_add(pos[e.label as usize]);
    }
    let mut set = IpSet::build(name, entries, labels.text);
    set.format = Format::ServiceTags;
    set.feed = Format::ServiceTags.name().to_string();
    Ok(set)
}

/// Every loaded set, and which of them are Azure service tags.
#[derive(Debug, Default)]
pub struct IpSets {
    specs: Vec<SetSpec>,
    sets: BTreeMap<String, Arc<IpSet>>,
    tags: Option<Arc<IpSet>>,
}

impl IpSets {
    /// Loads every set named by `specs` (later specs with the same name replace earlier ones),
    /// matching listed autonomous systems through the ASN database of `geo`. Sets loaded
    /// from service-tags files also back `service_tag(ip)`; when several are given, the last
    /// one does.
    pub fn load(specs: &[SetSpec], geo: &Arc<GeoDbs>) -> crate::Result<IpSets> {
        let mut out = IpSets::default();
        for s in specs {
            let set = Arc::new(IpSet::load(&s.name, &s.path, geo)?);
            if set.format == Format::ServiceTags {
                out.tags = Some(set.clone());
            }
            out.sets.insert(s.name.clone(), set);
            out.specs.retain(|o| o.name != s.name);
            out.specs.push(s.clone());
        }
        Ok(out)
    }

    /// Sets built in memory (tests), named by their names.
    #[cfg(test)]
    pub(crate) fn with_sets(sets: Vec<IpSet>) -> IpSets {
        let mut out = IpSets::default();
        for set in sets {
            out.specs.push(SetSpec {
                name: set.name.clone(),
                path: set.path.clone(),
            });
            out.sets.insert(set.name.clone(), Arc::new(set));
        }
        out
    }

    /// Whether Azure service tags are loaded (`service_tag` works).
    pub fn has_tags(&self) -> bool {
        self.tags.is_some()
    }

    /// The loaded sets by name.
    pub fn sets(&self) -> impl Iterator<Item = &IpSet> {
        self.sets.values().map(|s| s.as_ref())
    }

    /// A set by name.
    pub fn get(&self, name: &str) -> Option<&Arc<IpSet>> {
        self.sets.get(name)
    }

    fn unknown(&self, name: &str) -> String {
        if self.sets.is_empty() {
            format!(
                "unknown IP set '{name}': no sets are loaded (use --set {name}=PATH or [sets] in flowlake.toml)"
            )
        } else {
            let names: Vec<&str> = self.sets.keys().map(String::as_str).collect();
            format!(
                "unknown IP set '{name}': loaded sets are {}",
                names.join(", ")
            )
        }
    }
}

/// One set as it travels in a plan to a cluster's nodes ([`IpSets::to_wire`]): its ranges
/// and labels as loaded, not its file (which only the client has).
#[derive(Serialize, Deserialize)]
struct SetWire {
    name: String,
    v4: Vec<(u32, u32, u32)>,
    v6: Vec<(u128, u128, u32)>,
    labels: Vec<String>,
    /// Listed autonomous systems (AS number, label), matched through [`SetsWire::geo`].
    asns: Vec<(u32, u32)>,
    entries: usize,
    path: PathBuf,
    format: Format,
    feed: String,
}

/// Every set as it travels ([`IpSets::to_wire`]).
#[derive(Serialize, Deserialize)]
struct SetsWire {
    specs: Vec<SetSpec>,
    sets: Vec<SetWire>,
    /// The name of the set behind `service_tag`.
    tags: Option<String>,
    /// The location databases the sets' autonomous systems are matched through, which each
    /// node loads itself ([`GeoDbs::opened`]).
    geo: Vec<super::geo::DbId>,
}

impl<T> From<(T, T, u32)> for Range<T> {
    fn from((start, end, label): (T, T, u32)) -> Range<T> {
        Range { start, end, label }
    }
}

impl<T: Key> Ranges<T> {
    /// Indexes disjoint ranges sorted by start.
    fn from_ranges(ranges: Vec<Range<T>>) -> Ranges<T> {
        let index = (0..=65536usize)
            .map(|h| ranges.partition_point(|g| g.start.top16() < h) as u32)
            .collect();
        Ranges { ranges, index }
    }
}

impl IpSets {
    /// The sets as bytes for a plan sent to a cluster ([`crate::cluster`]): their ranges,
    /// labels and autonomous systems as loaded here, and the identity of the location
    /// databases the autonomous systems are matched through (those do not travel: every node
    /// loads them, `--geo-db`).
    pub fn to_wire(&self) -> Result<Vec<u8>> {
        let mut sets = Vec::new();
        let mut geo = Vec::new();
        for set in self.sets.values() {
            if let Some(g) = &set.geo
                && !set.asns.is_empty()
            {
                geo = g.ids();
            }
            let mut asns: Vec<(u32, u32)> = set.asns.iter().map(|(&a, &l)| (a, l)).collect();
            asns.sort_unstable();
            let r4 = |r: &Range<u32>| (r.start, r.end, r.label);
            let r6 = |r: &Range<u128>| (r.start, r.end, r.label);
            sets.push(SetWire {
                name: set.name.clone(),
                v4: set.v4.ranges.iter().map(r4).collect(),
                v6: set.v6.ranges.iter().map(r6).collect(),
                labels: set.label_text.clone(),
                asns,
                entries: set.entries,
                path: set.path.clone(),
                format: set.format,
                feed: set.feed.clone(),
            });
        }
        let wire = SetsWire {
            specs: self.specs.clone(),
            sets,
            tags: self.tags.as_ref().map(|t| t.name.clone()),
            geo,
        };
        serde_json::to_vec(&wire).map_err(|e| DataFusionError::External(Box::new(e)))
    }

    /// The sets [`IpSets::to_wire`] wrote.
    pub fn from_wire(bytes: &[u8]) -> Result<IpSets> {
        let wire: SetsWire =
            serde_json::from_slice(bytes).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut out = IpSets {
            specs: wire.specs,
            ..IpSets::default()
        };
        let mut geo = None;
        for w in wire.sets {
            if !w.asns.is_empty() && geo.is_none() {
                let dbs = GeoDbs::opened(&wire.geo)
                    .map_err(|m| DataFusionError::Execution(format!("IP set '{}': {m}", w.name)))?;
                geo = Some(Arc::new(dbs));
            }
            let set = Arc::new(IpSet {
                v4: Ranges::from_ranges(w.v4.into_iter().map(Range::from).collect()),
                v6: Ranges::from_ranges(w.v6.into_iter().map(Range::from).collect()),
                geo: (!w.asns.is_empty()).then(|| geo.clone()).flatten(),
                asns: w.asns.into_iter().collect(),
                labels: ViewTable::new(w.labels.iter().map(String::as_str)),
                label_text: w.labels,
                entries: w.entries,
                path: w.path,
                format: w.format,
                feed: w.feed,
                rejects: vec![],
                name: w.name,
            });
            if wire.tags.as_deref() == Some(set.name.as_str()) {
                out.tags = Some(set.clone());
            }
            out.sets.insert(set.name.clone(), set);
        }
        Ok(out)
    }
}

/// The sets behind `udf`, when it is one of the set functions.
pub fn sets_of(udf: &ScalarUDF) -> Option<&Arc<IpSets>> {
    udf.inner().downcast_ref::<SetFn>().map(|f| &f.sets)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SetKind {
    InSet,
    Label,
    ServiceTag,
}

#[derive(Debug)]
struct SetFn {
    kind: SetKind,
    sets: Arc<IpSets>,
    signature: Signature,
}

impl PartialEq for SetFn {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.sets.specs == other.sets.specs
    }
}
impl Eq for SetFn {}
impl std::hash::Hash for SetFn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.sets.specs.hash(state);
    }
}

impl SetFn {
    fn return_type(&self) -> DataType {
        match self.kind {
            SetKind::InSet => DataType::Boolean,
            SetKind::Label | SetKind::ServiceTag => DataType::Utf8View,
        }
    }
}

impl ScalarUDFImpl for SetFn {
    fn name(&self) -> &str {
        match self.kind {
            SetKind::InSet => "ip_in_set",
            SetKind::Label => "ip_set_label",
            SetKind::ServiceTag => "service_tag",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(SetFn::return_type(self))
    }

    /// Checks the set name at planning time, so a typo fails before a long scan starts.
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        match self.kind {
            SetKind::ServiceTag if self.sets.tags.is_none() => {
                return plan_err!(
                    "service_tag() needs Azure service tags: load a ServiceTags_Public_*.json file with --set tags=PATH or [sets] in flowlake.toml"
                );
            }
            SetKind::InSet | SetKind::Label => {
                if let Some(Some(v)) = args.scalar_arguments.get(1) {
                    match scalar_str(v) {
                        Some(name) if self.sets.get(name).is_none() => {
                            return plan_err!("{}", self.sets.unknown(name));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        Ok(Arc::new(Field::new(
            self.name(),
            SetFn::return_type(self),
            true,
        )))
    }

    fn documentation(&self) -> Option<&Documentation> {
        super::documentation(self.name())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let ips = args.args[0].clone().into_array(n)?;
        // The set per row: one lookup when the name is a literal.
        let per_row: Option<Vec<Option<Arc<IpSet>>>>;
        let single: Option<Arc<IpSet>> = match self.kind {
            SetKind::ServiceTag => {
                per_row = None;
                self.sets.tags.clone()
            }
            _ => match &args.args[1] {
                ColumnarValue::Scalar(v) => {
                    per_row = None;
                    match scalar_str(v) {
                        Some(name) => match self.sets.get(name) {
                            Some(s) => Some(s.clone()),
                            None => return exec_err!("{}", self.sets.unknown(name)),
                        },
                        None => None,
                    }
                }
                ColumnarValue::Array(a) => {
                    let mut v = Vec::with_capacity(n);
                    let mut bad = None;
                    for_each_bytes(a, |s| {
                        let name = s.and_then(|s| std::str::from_utf8(s).ok());
                        v.push(name.and_then(|name| {
                            let set = self.sets.get(name).cloned();
                            if set.is_none() {
                                bad = Some(name.to_string());
                            }
                            set
                        }));
                    })?;
                    if let Some(name) = bad {
                        return exec_err!("{}", self.sets.unknown(&name));
                    }
                    per_row = Some(v);
                    None
                }
            },
        };
        let set_of = |i: usize| -> Option<&IpSet> {
            match &per_row {
                Some(v) => v[i].as_deref(),
                None => single.as_deref(),
            }
        };
        let out: ArrayRef = match self.kind {
            SetKind::InSet => {
                let mut b = BooleanBuilder::with_capacity(n);
                let mut i = 0;
                for_each_bytes(&ips, |s| {
                    let set = set_of(i);
                    i += 1;
                    b.append_option(match (s.and_then(IpBits::parse), set) {
                        (Some(ip), Some(set)) => Some(set.lookup(ip).is_some()),
                        _ => None,
                    });
                })?;
                Arc::new(b.finish())
            }
            SetKind::Label | SetKind::ServiceTag => match (&per_row, &single) {
                (None, Some(set)) => {
                    let mut idx = Vec::with_capacity(n);
                    for_each_bytes(&ips, |s| {
                        idx.push(s.and_then(IpBits::parse).and_then(|ip| set.lookup(ip)))
                    })?;
                    Arc::new(set.labels.array(idx.into_iter()))
                }
                _ => {
                    let mut b = datafusion::arrow::array::StringViewBuilder::with_capacity(n);
                    let mut i = 0;
                    for_each_bytes(&ips, |s| {
                        let set = set_of(i);
                        i += 1;
                        b.append_option(
                            s.and_then(IpBits::parse)
                                .and_then(|ip| set.and_then(|set| set.label(ip))),
                        );
                    })?;
                    Arc::new(b.finish())
                }
            },
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// The set functions over `sets`.
pub fn all(sets: Arc<IpSets>) -> Vec<ScalarUDF> {
    let two = two_strings();
    let one = Signature::uniform(1, STRINGS.to_vec(), Volatility::Immutable);
    [
        (SetKind::InSet, two.clone()),
        (SetKind::Label, two),
        (SetKind::ServiceTag, one),
    ]
    .into_iter()
    .map(|(kind, signature)| {
        ScalarUDF::from(SetFn {
            kind,
            sets: sets.clone(),
            signature,
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpBits {
        IpBits::parse(s.as_bytes()).unwrap()
    }

    fn set(entries: &[(&str, &str)]) -> IpSet {
        IpSet::from_entries(
            "t",
            entries
                .iter()
                .map(|(c, l)| (Cidr::parse(c).unwrap(), Some(*l))),
        )
    }

    #[test]
    fn most_specific_entry_wins_at_every_boundary() {
        let s = set(&[
            ("10.0.0.0/8", "ten"),
            ("10.1.0.0/16", "ten-one"),
            ("10.1.2.0/24", "ten-one-two"),
            ("10.1.2.3/32", "host"),
            ("10.200.0.0/16", "ten-200"),
            ("0.0.0.0/0", "any"),
            ("2001:db8::/32", "doc6"),
            ("2001:db8:1::/48", "doc6-1"),
        ]);
        for (a, want) in [
            ("9.255.255.255", Some("any")),
            ("10.0.0.0", Some("ten")),
            ("10.0.255.255", Some("ten")),
            ("10.1.0.0", Some("ten-one")),
            ("10.1.2.2", Some("ten-one-two")),
            ("10.1.2.3", Some("host")),
            ("10.1.2.4", Some("ten-one-two")),
            ("10.1.3.0", Some("ten-one")),
            ("10.2.0.0", Some("ten")),
            ("10.199.255.255", Some("ten")),
            ("10.200.1.1", Some("ten-200")),
            ("10.201.0.0", Some("ten")),
            ("11.0.0.0", Some("any")),
            ("255.255.255.255", Some("any")),
            ("::ffff:10.1.2.3", Some("host")),
            ("2001:db8::1", Some("doc6")),
            ("2001:db8:1::1", Some("doc6-1")),
            ("2001:db8:2::1", Some("doc6")),
            ("2001:db9::1", None),
        ] {
            assert_eq!(s.label(ip(a)), want, "{a}");
        }
    }

    #[test]
    fn lookups_agree_with_a_linear_scan() {
        // Pseudo-random nested and overlapping prefixes, checked against brute force.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut entries = Vec::new();
        for i in 0..3000 {
            let len = (next() % 25 + 8) as u8;
            let a = (next() as u32) & 0x0fff_ffff | 0x0a00_0000;
            entries.push((Cidr::new(IpBits::V4(a), len).unwrap(), format!("e{i}")));
        }
        let s = IpSet::from_entries("t", entries.iter().map(|(c, l)| (*c, Some(l.as_str()))));
        for _ in 0..20_000 {
            let a = IpBits::V4((next() as u32) & 0x0fff_ffff | 0x0a00_0000);
            let want = entries
                .iter()
                .enumerate()
                .filter(|(_, (c, _))| c.contains(a))
                .max_by_key(|(i, (c, _))| (c.len, std::cmp::Reverse(*i)))
                .map(|(_, (_, l))| l.as_str());
            assert_eq!(s.label(a), want, "{a:?}");
        }
    }

    #[test]
    fn plain_list_with_labels_comments_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.txt");
        std::fs::write(
            &p,
            "# threat intel\n203.0.113.0/24 botnet-c2\n198.51.100.7   # no label\n\n2001:db8::/32 doc net\n",
        )
        .unwrap();
        let geo = Arc::new(GeoDbs::default());
        let s = IpSet::load("ti", &p, &geo).unwrap();
        assert_eq!(s.entries(), 3);
        assert_eq!(s.label(ip("203.0.113.9")), Some("botnet-c2"));
        assert_eq!(s.label(ip("198.51.100.7")), Some("198.51.100.7/32"));
        assert_eq!(s.label(ip("2001:db8::5")), Some("doc net"));
        assert_eq!(s.label(ip("198.51.100.8")), None);
        // A bad line is skipped and kept; the rest loads.
        std::fs::write(&p, "10.0.0.0/8\n10.0.0.0/33 oops\n").unwrap();
        let s = IpSet::load("ti", &p, &geo).unwrap();
        assert_eq!(s.entries(), 1);
        assert_eq!(s.rejects().len(), 1);
        assert_eq!(s.rejects()[0].line, 2);
        assert!(s.rejects()[0].message.contains("10.0.0.0/33"));
        // Nothing readable at all is an error naming the first bad line.
        std::fs::write(&p, "\n\n10.0.0.0/33 oops\nnonsense\n").unwrap();
        let e = IpSet::load("ti", &p, &geo).unwrap_err().to_string();
        assert!(e.contains("bad.txt:3") && e.contains("10.0.0.0/33"), "{e}");
        // AS entries need an ASN database.
        std::fs::write(&p, "AS64500 test\n").unwrap();
        let e = IpSet::load("ti", &p, &geo).unwrap_err().to_string();
        assert!(e.contains("ASN database") && e.contains("--geo-db"), "{e}");
    }

    #[test]
    fn service_tags_prefer_the_narrowest_tag() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ServiceTags_Public_20261123.json");
        std::fs::write(
            &p,
            r#"{"changeNumber": 1, "cloud": "Public", "values": [
              {"name": "AzureCloud", "id": "AzureCloud", "properties": {"addressPrefixes": ["20.0.0.0/8", "20.60.0.0/16", "2603:1000::/24"]}},
              {"name": "Storage", "id": "Storage", "properties": {"addressPrefixes": ["20.60.0.0/16", "20.150.0.0/16"]}},
              {"name": "Storage.WestEurope", "id": "Storage.WestEurope", "properties": {"region": "westeurope", "addressPrefixes": ["20.60.0.0/16"]}}
            ]}"#,
        )
        .unwrap();
        let sets = IpSets::load(
            &[SetSpec {
                name: "tags".into(),
                path: p,
            }],
            &Arc::new(GeoDbs::default()),
        )
        .unwrap();
        assert_eq!(sets.get("tags").unwrap().feed(), "Azure service tags");
        let t = sets.tags.as_ref().unwrap();
        assert_eq!(t.label(ip("20.60.1.1")), Some("Storage.WestEurope"));
        assert_eq!(t.label(ip("20.150.1.1")), Some("Storage"));
        assert_eq!(t.label(ip("20.1.1.1")), Some("AzureCloud"));
        assert_eq!(t.label(ip("2603:1000::1")), Some("AzureCloud"));
        assert_eq!(t.label(ip("21.0.0.1")), None);
    }

    #[test]
    fn set_spec_parsing() {
        let s: SetSpec = "ti=/tmp/x.txt".parse().unwrap();
        assert_eq!(
            (s.name.as_str(), s.path.to_str()),
            ("ti", Some("/tmp/x.txt"))
        );
        assert!("nopath".parse::<SetSpec>().is_err());
        assert!("bad name=/x".parse::<SetSpec>().is_err());
    }
}
