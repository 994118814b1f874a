//! Address-at-time lookups over the `inventory` table: `k8s_workload(ip, time)` and friends.
//!
//! Why: a flow's address means a workload only at the flow's time; the same address is
//! another pod's an hour later. The intervals are loaded once per session into an index
//! (address → its intervals), and each function answers, per row, from the one binding
//! that held the address at that time. Where bindings overlap (a pod on the host network
//! shares its node's address; an interval's bounded end runs past the next holder's start),
//! the kind ranks first (pod, Service addresses, node, NIC; host-network pods after their
//! node) and then the latest start: an address is held by one holder at a time, and the
//! newest one is the one that began after the other ended.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, AsArray, StringViewArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::functions::{STRINGS, ViewTable, for_each_bytes};
use crate::addr::IpBits;
use crate::inventory::{AddrKind, Interval};

/// One of the values a lookup returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Namespace.
    Namespace,
    /// Workload name.
    Workload,
    /// Workload kind.
    WorkloadKind,
    /// Pod name (pods only).
    Pod,
    /// Node.
    Node,
    /// Kind of binding.
    Kind,
    /// Name of the holder (pod, Service, node, NIC).
    Name,
    /// What reports count as one source: `namespace/workload`, else `node:NAME`.
    Subject,
}

impl Field {
    const ALL: [Field; 8] = [
        Field::Namespace,
        Field::Workload,
        Field::WorkloadKind,
        Field::Pod,
        Field::Node,
        Field::Kind,
        Field::Name,
        Field::Subject,
    ];

    /// The SQL function's name.
    pub fn function(self) -> &'static str {
        match self {
            Field::Namespace => "k8s_namespace",
            Field::Workload => "k8s_workload",
            Field::WorkloadKind => "k8s_workload_kind",
            Field::Pod => "k8s_pod",
            Field::Node => "k8s_node",
            Field::Kind => "k8s_kind",
            Field::Name => "k8s_name",
            Field::Subject => "k8s_subject",
        }
    }

    /// The value for interval `i` (`Subject` is made by [`subject`]).
    fn of(self, i: &Interval) -> Option<&str> {
        match self {
            Field::Namespace => i.holder.namespace.as_deref(),
            Field::Workload => i.holder.workload.as_deref(),
            Field::WorkloadKind => i.holder.workload_kind.as_deref(),
            Field::Pod => (i.key.kind == AddrKind::Pod).then_some(i.holder.name.as_str()),
            Field::Node => i.holder.node.as_deref(),
            Field::Kind => Some(i.key.kind.as_str()),
            Field::Name => Some(i.holder.name.as_str()),
            Field::Subject => None,
        }
    }
}

/// What reports count as one source or destination: the holder's `namespace/workload`, else
/// `node:NAME` for a node's own address (or a scale-set NIC's), else nothing (the address).
fn subject(i: &Interval) -> Option<String> {
    match (&i.holder.namespace, &i.holder.workload, &i.holder.node) {
        (Some(ns), Some(w), _) => Some(format!("{ns}/{w}")),
        (_, _, Some(n)) if i.key.kind != AddrKind::Pod => Some(format!("node:{n}")),
        _ => None,
    }
}

type Fast = foldhash::fast::FixedState;

fn external(e: crate::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// One interval as the index needs it.
#[derive(Debug, Clone, Copy)]
struct Span {
    from: i64,
    /// Exclusive end; `i64::MAX` while open.
    until: i64,
    /// Lower ranks win overlaps.
    rank: u8,
    row: u32,
}

/// The intervals of a lake, indexed by address.
#[derive(Debug, Default)]
pub struct InventoryIndex {
    by_ip: HashMap<IpBits, Vec<Span>, Fast>,
    /// Per field: the value of each row, as views (`None`: NULL).
    values: Vec<(ViewTable, Vec<Option<u32>>)>,
    /// The intervals themselves, for reports (row `i` is `intervals[i]`).
    intervals: Vec<Interval>,
    /// What it was built from (for function equality): the inventory files' names.
    source: String,
    /// The index as it travels to a cluster's nodes, made once ([`InventoryIndex::to_wire`]).
    wire: Wire,
}

/// The bytes of [`InventoryIndex::to_wire`], kept out of `Debug`.
#[derive(Default)]
struct Wire(OnceLock<Vec<u8>>);

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.get() {
            Some(b) => write!(f, "{} bytes", b.len()),
            None => f.write_str("not encoded"),
        }
    }
}

fn rank(i: &Interval) -> u8 {
    match i.key.kind {
        AddrKind::Pod if i.holder.host_network => 5,
        AddrKind::Pod => 0,
        AddrKind::ServiceClusterIp => 1,
        AddrKind::LoadBalancerIp => 2,
        AddrKind::ExternalIp => 3,
        AddrKind::Node => 4,
        AddrKind::Nic => 6,
    }
}

impl InventoryIndex {
    /// Builds the index over `intervals`; `source` identifies them (file names).
    pub fn new(intervals: Vec<Interval>, source: String) -> InventoryIndex {
        let mut by_ip: HashMap<IpBits, Vec<Span>, Fast> = HashMap::default();
        for (row, i) in intervals.iter().enumerate() {
            let Some(ip) = IpBits::parse(i.key.address.as_bytes()) else {
                continue;
            };
            by_ip.entry(ip).or_default().push(Span {
                from: i.valid_from,
                until: i.valid_until.unwrap_or(i64::MAX),
                rank: rank(i),
                row: row as u32,
            });
        }
        for spans in by_ip.values_mut() {
            spans.sort_by_key(|s| (s.from, s.rank));
        }
        let subjects: Vec<Option<String>> = intervals.iter().map(subject).collect();
        let values = Field::ALL
            .iter()
            .map(|f| {
                let mut idx = Vec::with_capacity(intervals.len());
                let mut strings: Vec<&str> = Vec::new();
                let mut seen: HashMap<&str, u32, Fast> = HashMap::default();
                for (n, i) in intervals.iter().enumerate() {
                    let v = match f {
                        Field::Subject => subjects[n].as_deref(),
                        _ => f.of(i),
                    };
                    idx.push(v.map(|s| {
                        *seen.entry(s).or_insert_with(|| {
                            strings.push(s);
                            strings.len() as u32 - 1
                        })
                    }));
                }
                (ViewTable::new(strings), idx)
            })
            .collect();
        InventoryIndex {
            by_ip,
            values,
            intervals,
            source,
            wire: Wire::default(),
        }
    }

    /// The index as bytes for a plan sent to a cluster ([`crate::cluster`]): what it was
    /// built from, then its intervals as a zstd-compressed Parquet file of the `inventory`
    /// table's columns. A report's span holds thousands to tens of thousands of intervals:
    /// tens to hundreds of KB.
    pub fn to_wire(&self) -> Result<&[u8]> {
        if let Some(b) = self.wire.0.get() {
            return Ok(b);
        }
        let batch = crate::inventory::table::to_batch(&self.intervals).map_err(external)?;
        let mut buf = Vec::new();
        buf.extend((self.source.len() as u32).to_le_bytes());
        buf.extend(self.source.as_bytes());
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
        w.write(&batch)?;
        w.close()?;
        Ok(self.wire.0.get_or_init(|| buf))
    }

    /// The index [`InventoryIndex::to_wire`] wrote.
    pub fn from_wire(bytes: &[u8]) -> Result<InventoryIndex> {
        let bad = || DataFusionError::Execution("the plan's inventory is truncated".into());
        let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(bad)?;
        let len = u32::from_le_bytes(*len) as usize;
        let (source, file) = (rest.get(..len).ok_or_else(bad)?, &rest[len..]);
        let source = String::from_utf8_lossy(source).into_owned();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(file))?
            .build()?;
        let mut intervals = Vec::new();
        let path = std::path::Path::new("inventory (in the plan)");
        for b in reader {
            crate::inventory::table::from_batch(&b?, path, &mut intervals).map_err(external)?;
        }
        Ok(InventoryIndex::new(intervals, source))
    }

    /// Number of intervals.
    pub fn len(&self) -> usize {
        self.intervals.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    /// The binding that held `ip` at `t` (µs), as the `k8s_*` functions resolve it.
    pub fn holder_at(&self, ip: IpBits, t: i64) -> Option<&Interval> {
        self.lookup(ip, t).map(|r| &self.intervals[r as usize])
    }

    /// The Services that exposed `port` at `t` through `holder` (the binding that held the
    /// address the traffic reached): on a node, Services with that node port; on a pod,
    /// Services of the pod's namespace and workload with that target or service port; on a
    /// load-balancer or external address, its own Service when it has that port.
    /// Each comes with its load-balancer and external addresses then.
    pub fn services_exposing(
        &self,
        holder: &Interval,
        port: i64,
        t: i64,
    ) -> Vec<(&Interval, Vec<&str>)> {
        let ports = |i: &Interval| -> Vec<serde_json::Value> {
            i.holder
                .ports
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok())
                .unwrap_or_default()
        };
        let matches = |i: &Interval| match holder.key.kind {
            AddrKind::Node => ports(i)
                .iter()
                .any(|p| p["nodePort"].as_i64() == Some(port)),
            AddrKind::Pod => {
                i.holder.namespace == holder.holder.namespace
                    && i.holder.workload.is_some()
                    && i.holder.workload == holder.holder.workload
                    && ports(i).iter().any(|p| {
                        p["targetPort"].as_i64() == Some(port) || p["port"].as_i64() == Some(port)
                    })
            }
            AddrKind::LoadBalancerIp | AddrKind::ExternalIp => {
                i.key.uid == holder.key.uid
                    && ports(i).iter().any(|p| p["port"].as_i64() == Some(port))
            }
            _ => false,
        };
        self.intervals
            .iter()
            .filter(|i| i.key.kind == AddrKind::ServiceClusterIp && i.holds_at(t) && matches(i))
            .map(|svc| {
                let frontends = self
                    .intervals
                    .iter()
                    .filter(|f| {
                        matches!(f.key.kind, AddrKind::LoadBalancerIp | AddrKind::ExternalIp)
                            && f.key.uid == svc.key.uid
                            && f.holds_at(t)
                    })
                    .map(|f| f.key.address.as_str())
                    .collect();
                (svc, frontends)
            })
            .collect()
    }

    /// Every address that was ever a Service's load-balancer or external address: the
    /// cluster's public frontends, which reports count as internal destinations.
    pub fn frontends(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .intervals
            .iter()
            .filter(|i| matches!(i.key.kind, AddrKind::LoadBalancerIp | AddrKind::ExternalIp))
            .map(|i| i.key.address.as_str())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The pods (not on the host network) that ran on `node` at `t`: the candidates for
    /// traffic that left as the node's address (SNAT with overlay networking or kubenet).
    pub fn pods_on(&self, node: &str, t: i64) -> Vec<&Interval> {
        self.intervals
            .iter()
            .filter(|i| {
                i.key.kind == AddrKind::Pod
                    && !i.holder.host_network
                    && i.holder.node.as_deref() == Some(node)
                    && i.holds_at(t)
            })
            .collect()
    }

    /// The row (interval index) that held `ip` at `t` (µs), if any.
    #[inline]
    pub fn lookup(&self, ip: IpBits, t: i64) -> Option<u32> {
        self.lookup_span(ip, t).0
    }

    /// The row that held `ip` at `t`, and the span `[from, until)` around `t` over which the
    /// answer stays the same (no interval of `ip` begins or ends inside it).
    #[inline]
    fn lookup_span(&self, ip: IpBits, t: i64) -> (Option<u32>, i64, i64) {
        let Some(spans) = self.by_ip.get(&ip) else {
            return (None, i64::MIN, i64::MAX);
        };
        let mut best: Option<&Span> = None;
        // Spans are sorted by start: only those begun by `t` can hold it; the next one to
        // begin bounds the answer.
        let end = spans.partition_point(|s| s.from <= t);
        let mut lo = i64::MIN;
        let mut hi = spans.get(end).map_or(i64::MAX, |s| s.from);
        for s in &spans[..end] {
            lo = lo.max(s.from);
            if t < s.until {
                hi = hi.min(s.until);
                if best.is_none_or(|b| (s.rank, -s.from) <= (b.rank, -b.from)) {
                    best = Some(s);
                }
            } else {
                lo = lo.max(s.until);
            }
        }
        (best.map(|s| s.row), lo, hi)
    }

    fn array(&self, field: Field, rows: Vec<Option<u32>>) -> StringViewArray {
        let (table, idx) = &self.values[field as usize];
        table.array(rows.into_iter().map(|r| r.and_then(|r| idx[r as usize])))
    }
}

#[derive(Debug)]
struct K8sFn {
    field: Field,
    index: Arc<InventoryIndex>,
    signature: Signature,
}

impl PartialEq for K8sFn {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field && self.index.source == other.index.source
    }
}
impl Eq for K8sFn {}
impl std::hash::Hash for K8sFn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.field.hash(state);
        self.index.source.hash(state);
    }
}

impl ScalarUDFImpl for K8sFn {
    fn name(&self) -> &str {
        self.field.function()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.get(1) {
            Some(DataType::Timestamp(..)) => Ok(DataType::Utf8View),
            _ => plan_err!(
                "{}(ip, time) needs a timestamp as its second argument",
                self.name()
            ),
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        super::documentation(self.name())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let ips = args.args[0].clone().into_array(n)?;
        let times = args.args[1].clone().into_array(n)?;
        let times = cast(&times, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let times = times.as_primitive::<TimestampMicrosecondType>();
        let mut rows = Vec::with_capacity(n);
        let mut i = 0;
        // Consecutive rows mostly repeat an address (one NIC's tuples): while the address's
        // text and the answer's span hold, the answer holds, with no parsing or hashing.
        let mut last: Option<(Vec<u8>, Option<u32>, i64, i64)> = None;
        for_each_bytes(&ips, |s| {
            let t = times.is_valid(i).then(|| times.value(i));
            i += 1;
            let (Some(s), Some(t)) = (s, t) else {
                rows.push(None);
                return;
            };
            if let Some((text, row, lo, hi)) = &last
                && text.as_slice() == s
                && (*lo..*hi).contains(&t)
            {
                rows.push(*row);
                return;
            }
            let row = match IpBits::parse(s) {
                Some(ip) => {
                    let (row, lo, hi) = self.index.lookup_span(ip, t);
                    match &mut last {
                        Some(l) => {
                            l.0.clear();
                            l.0.extend_from_slice(s);
                            (l.1, l.2, l.3) = (row, lo, hi);
                        }
                        None => last = Some((s.to_vec(), row, lo, hi)),
                    }
                    row
                }
                None => None,
            };
            rows.push(row);
        })?;
        Ok(ColumnarValue::Array(Arc::new(
            self.index.array(self.field, rows),
        )))
    }
}

/// The inventory behind `udf`, when it is one of the `k8s_*` functions.
pub fn index_of(udf: &ScalarUDF) -> Option<&Arc<InventoryIndex>> {
    udf.inner().downcast_ref::<K8sFn>().map(|f| &f.index)
}

/// The lookup functions over `index`.
pub fn all(index: Arc<InventoryIndex>) -> Vec<ScalarUDF> {
    let units = [
        TimeUnit::Second,
        TimeUnit::Millisecond,
        TimeUnit::Microsecond,
        TimeUnit::Nanosecond,
    ];
    let mut sigs = Vec::new();
    for s in &STRINGS {
        for u in &units {
            for tz in [
                None,
                Some(Arc::<str>::from("UTC")),
                Some(Arc::<str>::from("+00:00")),
            ] {
                sigs.push(TypeSignature::Exact(vec![
                    s.clone(),
                    DataType::Timestamp(*u, tz),
                ]));
            }
        }
    }
    let signature = Signature::one_of(sigs, Volatility::Immutable);
    Field::ALL
        .into_iter()
        .map(|field| {
            ScalarUDF::from(K8sFn {
                field,
                index: index.clone(),
                signature: signature.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::inventory::intervals::{Snapshots, merge};
    use crate::inventory::{BindingKey, Holder, Observation};

    /// An observation of 10.0.0.5 held by `uid` over `[start, end)`.
    pub(crate) fn obs(kind: AddrKind, uid: &str, start: i64, end: Option<i64>) -> Observation {
        Observation {
            key: BindingKey {
                cluster: "c".into(),
                address: "10.0.0.5".into(),
                kind,
                uid: uid.into(),
            },
            holder: Holder {
                name: uid.into(),
                ..Holder::default()
            },
            seen: None,
            start: Some(start),
            end,
            gone_by: None,
            observed_at: 0,
        }
    }

    /// The span an answer is reused over never crosses a change of answer.
    #[test]
    fn an_answer_holds_over_its_whole_span() {
        let rows = merge(
            vec![],
            vec![
                obs(AddrKind::Nic, "nic", 0, None),
                obs(AddrKind::Node, "node", 100, Some(900)),
                obs(AddrKind::Pod, "a", 200, Some(400)),
                obs(AddrKind::Pod, "b", 350, Some(600)),
                obs(AddrKind::Pod, "c", 700, None),
            ],
            &Snapshots::new(),
        );
        let index = InventoryIndex::new(rows, "t".into());
        let ip = IpBits::parse(b"10.0.0.5").unwrap();
        for t in -50..1_000 {
            let (row, lo, hi) = index.lookup_span(ip, t);
            assert!(lo <= t && t < hi, "{t}: [{lo}, {hi})");
            for u in lo.max(-60)..hi.min(1_100) {
                assert_eq!(index.lookup(ip, u), row, "{t} -> {u} in [{lo}, {hi})");
            }
        }
        let name = |t| index.holder_at(ip, t).map(|i| i.holder.name.as_str());
        assert_eq!(name(-1), None);
        assert_eq!(name(50), Some("nic"));
        assert_eq!(name(150), Some("node"));
        assert_eq!(name(360), Some("b"), "the newer pod wins the overlap");
        assert_eq!(name(650), Some("node"));
        assert_eq!(name(950), Some("c"));
    }
}
