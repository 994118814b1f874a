//! How flowlake's tables and functions travel in a Ballista plan.
//!
//! Why: the client plans a query, the scheduler turns the logical plan into stages and the
//! executors run them; each hop serialises the plan with these codecs. Ballista's own codecs
//! handle its nodes and file formats; these add what only flowlake knows:
//!
//! ```text
//!   client ──logical plan──▶ scheduler ──physical stages──▶ executors
//!     FlowsTable  → TableSpec (lake, table, committed files) → FlowsTable (lists, prunes)
//!     ip_in_set   → the sets' ranges and labels              → the same sets, decoded once
//!     ip_class …  → the name                                 → a fresh function
//! ```
//!
//! State travels with the plan rather than being loaded from configuration on every node
//! where it can: the IP sets are the client's (`--set`, its `flowlake.toml`) and the
//! inventory is the client's snapshot of the lake over the report's span, so the answer
//! cannot depend on which files an executor happens to have. Both are small beside the flows
//! (kilobytes to a few MB) and decoded once per process. The location databases are the
//! exception: tens of MB each, they are loaded on every node (`--geo-db`), and the plan names
//! the client's by type and build ([`crate::enrich::geo::DbId`]), so a node without the very
//! same databases refuses the plan instead of answering from other data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference, exec_err};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use crate::enrich::{GeoDbs, InventoryIndex, IpSets, functions, geo, k8s, sets};
use crate::query::table::{FlowsTable, TableSpec};

/// Marks a [`TableSpec`] among table encodings.
const TABLE: &[u8] = b"flowlake-table\n";

/// What follows a flowlake function's name in a plan.
const STATELESS: u8 = 0;
const SETS: u8 = 1;
const INVENTORY: u8 = 2;
const GEO: u8 = 3;

/// State decoded in this process, by the hash of its bytes: every task of a query carries
/// the same sets and inventory, decoded once. A long-running executor sees each client's;
/// it keeps the last few.
struct Decoded<T>(Mutex<Option<HashMap<u64, Arc<T>>>>);

impl<T> Decoded<T> {
    const fn new() -> Self {
        Decoded(Mutex::new(None))
    }

    fn get(&self, bytes: &[u8], decode: impl FnOnce(&[u8]) -> Result<T>) -> Result<Arc<T>> {
        let key = xxhash_rust::xxh3::xxh3_64(bytes);
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let cache = cache.get_or_insert_with(HashMap::new);
        if let Some(v) = cache.get(&key) {
            return Ok(v.clone());
        }
        let v = Arc::new(decode(bytes)?);
        if cache.len() >= 16 {
            cache.clear();
        }
        cache.insert(key, v.clone());
        Ok(v)
    }
}

static SETS_DECODED: Decoded<IpSets> = Decoded::new();
static INVENTORY_DECODED: Decoded<InventoryIndex> = Decoded::new();

fn err(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Encodes a flowlake function (its name is in the plan beside these bytes); leaves `buf`
/// empty for every other function, which the receiving side finds by name.
fn encode_udf(udf: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
    if let Some(s) = sets::sets_of(udf) {
        buf.push(SETS);
        buf.extend(s.to_wire()?);
    } else if let Some(index) = k8s::index_of(udf) {
        buf.push(INVENTORY);
        buf.extend(index.to_wire()?);
    } else if let Some(dbs) = geo::dbs_of(udf) {
        buf.push(GEO);
        serde_json::to_writer(buf, &dbs.ids()).map_err(err)?;
    } else if functions::all().iter().any(|f| f.name() == udf.name()) {
        buf.push(STATELESS);
    }
    Ok(())
}

/// The function [`encode_udf`] wrote.
fn decode_udf(name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
    let Some((&kind, rest)) = buf.split_first() else {
        return exec_err!("function {name} is not known to this flowlake node");
    };
    let all = match kind {
        STATELESS => functions::all(),
        SETS => sets::all(SETS_DECODED.get(rest, IpSets::from_wire)?),
        INVENTORY => k8s::all(INVENTORY_DECODED.get(rest, InventoryIndex::from_wire)?),
        GEO => {
            let ids: Vec<geo::DbId> = serde_json::from_slice(rest).map_err(err)?;
            let dbs = GeoDbs::opened(&ids)
                .map_err(|m| DataFusionError::Execution(format!("{name}: {m}")))?;
            geo::all(Arc::new(dbs))
        }
        _ => return exec_err!("function {name}: unknown encoding {kind}"),
    };
    match all.into_iter().find(|f| f.name() == name) {
        Some(f) => Ok(Arc::new(f)),
        None => exec_err!("function {name} is not known to this flowlake node"),
    }
}

/// The logical codec of flowlake's client and scheduler: Ballista's, plus flowlake's tables
/// and functions.
#[derive(Debug, Default)]
pub struct LogicalCodec {
    ballista: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match buf.strip_prefix(TABLE) {
            Some(spec) => {
                let spec: TableSpec = serde_json::from_slice(spec).map_err(err)?;
                let table = FlowsTable::from_spec(spec, ctx.runtime_env().as_ref())
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                Ok(Arc::new(table))
            }
            None => self
                .ballista
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match node.downcast_ref::<FlowsTable>() {
            Some(t) => {
                buf.extend_from_slice(TABLE);
                serde_json::to_writer(buf, t.spec()).map_err(err)
            }
            None => self
                .ballista
                .try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udf(node, buf)
    }
}

/// The physical codec of flowlake's scheduler and executors: Ballista's, plus flowlake's
/// functions (the tables are Parquet scans by then, which DataFusion encodes itself).
#[derive(Debug, Default)]
pub struct PhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.ballista.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        self.ballista.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udf(node, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Cidr, IpBits};
    use crate::enrich::IpSet;
    use crate::inventory::AddrKind;
    use crate::inventory::intervals::{Snapshots, merge};

    fn ip(s: &str) -> IpBits {
        IpBits::parse(s.as_bytes()).unwrap()
    }

    /// Two pods of different workloads that held 10.0.0.5 one after the other.
    fn inventory() -> InventoryIndex {
        let pod = |uid: &str, workload: &str, start: i64, end: Option<i64>| {
            let mut o = k8s::tests::obs(AddrKind::Pod, uid, start, end);
            o.holder.namespace = Some("shop".into());
            o.holder.workload = Some(workload.into());
            o
        };
        let rows = merge(
            vec![],
            vec![pod("a", "web", 100, Some(500)), pod("b", "cart", 600, None)],
            &Snapshots::new(),
        );
        InventoryIndex::new(rows, "lake:inventory/a.parquet".into())
    }

    #[test]
    fn every_flowlake_function_survives_the_trip() {
        let set = IpSet::from_entries(
            "threat",
            [
                (Cidr::parse("203.0.113.0/24").unwrap(), Some("bad net")),
                (Cidr::parse("2001:db8::/32").unwrap(), None),
            ],
        );
        let sets = Arc::new(IpSets::with_sets(vec![set]));
        let udfs = functions::all()
            .into_iter()
            .chain(sets::all(sets))
            .chain(k8s::all(Arc::new(inventory())))
            .chain(k8s::all(Arc::new(InventoryIndex::default())))
            .chain(geo::all(Arc::new(GeoDbs::default())));
        for udf in udfs {
            let mut buf = Vec::new();
            encode_udf(&udf, &mut buf).unwrap();
            assert!(!buf.is_empty(), "{} is encoded", udf.name());
            let back = decode_udf(udf.name(), &buf).unwrap();
            assert_eq!(back.name(), udf.name());
            assert!(back.as_ref() == &udf, "{} equals its original", udf.name());
            if let Some(s) = sets::sets_of(&udf) {
                let got = sets::sets_of(&back).expect("a set function");
                assert_eq!(got.to_wire().unwrap(), s.to_wire().unwrap());
                let threat = got.get("threat").unwrap();
                assert_eq!(threat.label(ip("203.0.113.9")), Some("bad net"));
                assert_eq!(threat.label(ip("2001:db8::1")), Some("2001:db8::/32"));
                assert_eq!(threat.label(ip("198.51.100.1")), None);
            }
            if let Some(index) = k8s::index_of(&udf) {
                let got = k8s::index_of(&back).expect("an inventory function");
                assert_eq!(got.len(), index.len());
                let holder = |t| {
                    got.holder_at(ip("10.0.0.5"), t)
                        .and_then(|i| i.holder.workload.as_deref())
                };
                if index.is_empty() {
                    assert_eq!(holder(300), None);
                } else {
                    assert_eq!(holder(300), Some("web"));
                    assert_eq!(holder(550), None);
                    assert_eq!(holder(700), Some("cart"));
                }
            }
        }
        let mut buf = Vec::new();
        encode_udf(
            &datafusion::functions::string::lower().as_ref().clone(),
            &mut buf,
        )
        .unwrap();
        assert!(buf.is_empty(), "built-in functions travel by name");
    }

    #[test]
    fn a_node_without_the_clients_location_database_refuses_the_plan() {
        let id = geo::DbId {
            database_type: "GeoLite2-City".into(),
            build_epoch: 1_764_000_000,
            node_count: 42,
        };
        let mut buf = vec![GEO];
        serde_json::to_writer(&mut buf, &[id]).unwrap();
        let e = decode_udf("geo_city", &buf).unwrap_err().to_string();
        assert!(
            e.contains("geo_city")
                && e.contains("GeoLite2-City built 2025-11-24")
                && e.contains("not loaded on this node")
                && e.contains("--geo-db"),
            "{e}"
        );
    }
}
