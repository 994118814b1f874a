//! Leaves that keep a stage's metrics the same shape in every task.
//!
//! Why: Ballista's scheduler sends each task its stage's plan restricted to the task's
//! partitions (`restrict_plan_to_partitions`). Under a `UnionExec`, a child none of whose
//! partitions the task runs is cut to zero partitions; an `EmptyExec` or
//! `PlaceholderRowExec` child is then swapped for an in-memory `DataSourceExec`. Those two
//! leaves report no metrics and a `DataSourceExec` does, so tasks of one stage report metric
//! arrays of different lengths. The scheduler refuses such a task status as a whole ("task
//! metrics array size 9 does not equal with the stage metrics array size 8"): the task's
//! output is never recorded and the job stays running forever (Ballista 55.0.0).
//!
//! A report's `{{rows}}` is a `UNION ALL` of the hourly rollup and the raw tuples of the hours
//! a bound splits; a split hour before the lake's first day has no file, and DataFusion plans
//! a scan of no files as `EmptyExec`. So every report whose baseline starts before the lake
//! (exfil, exposure) hung on a cluster.
//!
//! [`SteadyLeaves`] runs last among the physical optimizer rules of every cluster member
//! (the client's state is the standalone scheduler's): it replaces each `EmptyExec` and
//! `PlaceholderRowExec` with the in-memory `DataSourceExec` giving the same rows in the
//! same partitions. Restricted or not, the leaf is then a `DataSourceExec` with metrics, and
//! every task of a stage reports as many metric sets as the stage plan has. docs/CLUSTER.md
//! holds the upstream report.

use std::sync::Arc;

use datafusion::arrow::array::new_null_array;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::placeholder_row::PlaceholderRowExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};

/// The physical optimizer rule: `EmptyExec` and `PlaceholderRowExec` become in-memory scans
/// of the same rows (none, or one row of nulls per partition).
#[derive(Debug, Default)]
pub struct SteadyLeaves;

impl PhysicalOptimizerRule for SteadyLeaves {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| match steady(&node)? {
            Some(replaced) => Ok(Transformed::yes(replaced)),
            None => Ok(Transformed::no(node)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "flowlake_steady_leaves"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The in-memory scan standing for `node`, when it is a leaf without metrics.
fn steady(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let partitions = node.output_partitioning().partition_count();
    let schema = node.schema();
    let batches: Vec<Vec<RecordBatch>> = if node.is::<EmptyExec>() {
        vec![vec![]; partitions]
    } else if node.is::<PlaceholderRowExec>() {
        // One row per partition, every column null (a placeholder row's schema holds only
        // nullable columns; any other is left as it is).
        if schema.fields().iter().any(|f| !f.is_nullable()) {
            return Ok(None);
        }
        let columns = schema
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), 1))
            .collect();
        let row = RecordBatch::try_new_with_options(
            schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )?;
        vec![vec![row]; partitions]
    } else {
        return Ok(None);
    };
    Ok(Some(MemorySourceConfig::try_new_exec(
        &batches, schema, None,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballista_core::utils::collect_plan_metrics;
    use ballista_scheduler::state::task_builder::restrict_plan_to_partitions;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::union::UnionExec;
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::SessionContext;

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]))
    }

    /// A scan of three partitions with a row each, as the rollup's files would be.
    fn scan() -> Arc<dyn ExecutionPlan> {
        let batch =
            |n| RecordBatch::try_new(schema(), vec![Arc::new(Int64Array::from(vec![n]))]).unwrap();
        MemorySourceConfig::try_new_exec(
            &[vec![batch(1)], vec![batch(2)], vec![batch(3)]],
            schema(),
            None,
        )
        .unwrap()
    }

    /// The shape of a report's `{{rows}}` when a split hour has no file: the rollup's scan
    /// beside an empty one, under a union. Every task of the stage must report as many
    /// metric sets as the stage plan has, or Ballista's scheduler drops its status.
    #[test]
    fn every_task_of_a_union_with_an_empty_child_reports_the_stage_plans_metrics() {
        let stage: Arc<dyn ExecutionPlan> =
            UnionExec::try_new(vec![scan(), Arc::new(EmptyExec::new(schema()))]).unwrap();
        let shapes = |plan: &Arc<dyn ExecutionPlan>| {
            let want = collect_plan_metrics(plan.as_ref()).len();
            (0..4)
                .map(|p| {
                    let task = restrict_plan_to_partitions(plan.clone(), &[p]).unwrap();
                    collect_plan_metrics(task.as_ref()).len()
                })
                .filter(|&got| got != want)
                .count()
        };
        assert!(
            shapes(&stage) > 0,
            "without the rule, Ballista's restriction changes the metrics' shape (if this \
             fails, Ballista fixed it and the rule may go)"
        );
        let steady = SteadyLeaves
            .optimize(stage, &ConfigOptions::default())
            .unwrap();
        let text = displayable(steady.as_ref()).indent(false).to_string();
        assert!(!text.contains("EmptyExec"), "{text}");
        assert_eq!(shapes(&steady), 0, "{text}");
    }

    #[tokio::test]
    async fn the_replaced_leaves_give_the_same_rows() {
        let ctx = SessionContext::new();
        let placeholder: Arc<dyn ExecutionPlan> =
            Arc::new(PlaceholderRowExec::new(Arc::new(Schema::empty())).with_partitions(2));
        let empty: Arc<dyn ExecutionPlan> = Arc::new(EmptyExec::new(schema()).with_partitions(3));
        for plan in [placeholder, empty] {
            let want: usize = collect(plan.clone(), ctx.task_ctx())
                .await
                .unwrap()
                .iter()
                .map(RecordBatch::num_rows)
                .sum();
            let steady = SteadyLeaves
                .optimize(plan.clone(), &ConfigOptions::default())
                .unwrap();
            assert_eq!(
                steady.output_partitioning().partition_count(),
                plan.output_partitioning().partition_count()
            );
            assert_eq!(steady.schema(), plan.schema());
            assert!(steady.metrics().is_some());
            let got: usize = collect(steady, ctx.task_ctx())
                .await
                .unwrap()
                .iter()
                .map(RecordBatch::num_rows)
                .sum();
            assert_eq!(got, want);
        }
    }
}
