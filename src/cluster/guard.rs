//! What a cluster node refuses to run.
//!
//! Why: a node runs whatever plan a client sends, with the node's file system and
//! credentials. Through `--cluster df://…`, `CREATE EXTERNAL TABLE t STORED AS CSV LOCATION
//! '/etc/shadow'` then `SELECT * FROM t` returned the executor host's `/etc/shadow`, and
//! `COPY … TO '/tmp/…'` wrote a file there. A flowlake node only ever needs to read a lake
//! on object storage, so its planning state refuses everything else ([`NodeGuard`]), and its
//! object stores refuse the local file system ([`super::stores::LakeStores::remote_only`]):
//!
//! | a plan holding | on a node |
//! |---|---|
//! | `COPY … TO`, `INSERT`, `UPDATE`, `DELETE` | refused |
//! | `CREATE …`, `DROP …` and other DDL | refused |
//! | a scan of a flowlake table, of an in-memory table, or a listing of `flowlake-lake://` files | planned |
//! | a scan of anything else (a listing of local files, another store, a streaming table) | refused |
//!
//! The scheduler plans with the guard; executors receive physical plans only from it.
//! `--cluster standalone` runs in the client's process and is not guarded (it reads what the
//! client's own user can read).

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::config::ConfigOptions;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::{MemTable, ViewTable, source_as_provider};
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::AnalyzerRule;

use crate::query::committed::LAKE_SCHEME;
use crate::query::table::FlowsTable;

/// The analyzer rule of a node's planning state (see the module docs).
#[derive(Debug, Default)]
pub struct NodeGuard;

impl AnalyzerRule for NodeGuard {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.apply_with_subqueries(|node| {
            check(node)?;
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        })?;
        Ok(plan)
    }

    fn name(&self) -> &str {
        "flowlake_node_guard"
    }
}

fn refused(what: &str) -> DataFusionError {
    DataFusionError::Plan(format!(
        "{what} is not run on a flowlake cluster: its nodes only read the lakes of the plans' flowlake tables"
    ))
}

/// Refuses `node` when it writes, defines, or reads anything but a lake.
fn check(node: &LogicalPlan) -> Result<()> {
    match node {
        LogicalPlan::Copy(_) => Err(refused("COPY")),
        LogicalPlan::Dml(d) => Err(refused(&d.op.to_string())),
        LogicalPlan::Ddl(d) => Err(refused(d.name())),
        LogicalPlan::TableScan(scan) => {
            let provider = source_as_provider(&scan.source)?;
            match allowed(provider.as_ref()) {
                true => Ok(()),
                false => Err(refused(&format!("a scan of table {}", scan.table_name))),
            }
        }
        _ => Ok(()),
    }
}

/// Whether a node may scan `provider`.
fn allowed(provider: &dyn TableProvider) -> bool {
    if provider.downcast_ref::<FlowsTable>().is_some()
        || provider.downcast_ref::<MemTable>().is_some()
        || provider.downcast_ref::<ViewTable>().is_some()
    {
        return true;
    }
    provider.downcast_ref::<ListingTable>().is_some_and(|t| {
        t.table_paths()
            .iter()
            .all(|p| p.as_str().starts_with(&format!("{LAKE_SCHEME}://")))
    })
}

/// `rule` as the state builders take it.
pub fn rule() -> Arc<dyn AnalyzerRule + Send + Sync> {
    Arc::new(NodeGuard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// A context planning as a node does, with a CSV file on local disk.
    async fn node() -> (SessionContext, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.csv"), "a\n1\n").unwrap();
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_config(SessionConfig::new())
            .with_default_features()
            .with_analyzer_rule(rule())
            .build();
        (SessionContext::new_with_state(state), dir)
    }

    #[tokio::test]
    async fn a_node_refuses_writes_definitions_and_local_files() {
        let (ctx, dir) = node().await;
        let path = dir.path().join("secret.csv");
        // A client's table over a local file reaches the node as a scan of a listing table.
        let client = SessionContext::new();
        client
            .register_csv("t", path.to_str().unwrap(), Default::default())
            .await
            .unwrap();
        let plan = client
            .sql("SELECT * FROM t")
            .await
            .unwrap()
            .into_optimized_plan()
            .unwrap();
        let e = ctx.state().optimize(&plan).unwrap_err().to_string();
        assert!(
            e.contains("a scan of table t") && e.contains("not run on a flowlake cluster"),
            "{e}"
        );
        let copy = client
            .state()
            .create_logical_plan(&format!(
                "COPY (SELECT 1 AS a) TO '{}' STORED AS CSV",
                dir.path().join("out.csv").display()
            ))
            .await
            .unwrap();
        let e = ctx.state().optimize(&copy).unwrap_err().to_string();
        assert!(e.contains("COPY is not run"), "{e}");
        let ddl = client
            .state()
            .create_logical_plan(&format!(
                "CREATE EXTERNAL TABLE s STORED AS CSV LOCATION '{}'",
                path.display()
            ))
            .await
            .unwrap();
        assert!(check(&ddl).is_err(), "DDL refused");
        // What reports and queries send is planned.
        let fine = client
            .sql("SELECT x FROM (VALUES (1), (2)) v(x) WHERE x > 1")
            .await
            .unwrap()
            .into_optimized_plan()
            .unwrap();
        ctx.state().optimize(&fine).unwrap();
        assert!(!dir.path().join("out.csv").exists());
    }
}
