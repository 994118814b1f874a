//! Running SQL text: parse every statement, plan it on the session, stream its result.
//!
//! Why: `flowlake sql`, the shell and the tests run statements the same way, and a script may
//! hold several (`SET ...; CREATE VIEW ...; SELECT ...`). Statements are parsed together, so a
//! syntax error reports its line and column in the whole text. [`execute`] is the one loop
//! both `sql` and the shell use, with Ctrl-C cancelling the statement that runs.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use futures::{StreamExt, TryStreamExt};

use crate::output::{ResultWriter, Written};

/// Parses SQL text into statements.
pub fn parse(sql: &str) -> Result<Vec<Statement>, DataFusionError> {
    Ok(DFParser::parse_sql_with_dialect(sql, &GenericDialect {})?
        .into_iter()
        .collect())
}

/// Plans one statement and runs it up to its result (DDL and `SET` take effect here).
pub async fn plan(ctx: &SessionContext, stmt: Statement) -> Result<DataFrame, DataFusionError> {
    let plan = ctx.state().statement_to_plan(stmt).await?;
    ctx.execute_logical_plan(plan).await
}

/// What a session that runs its queries elsewhere puts around a query's stream (a session
/// config extension): a cluster session watches its jobs
/// ([`crate::cluster::job::Watch::guard`]).
pub type Guard = dyn Fn(&Arc<dyn ExecutionPlan>, SendableRecordBatchStream) -> SendableRecordBatchStream
    + Send
    + Sync;

/// The [`Guard`] of a session, as its config holds it.
pub struct StreamGuard(pub Box<Guard>);

/// Runs `df` and streams its batches, through the session's [`StreamGuard`] if it has one
/// (on a cluster: a job cannot stall the stream forever, and dropping the stream before its
/// end cancels the job).
pub async fn stream(df: DataFrame) -> Result<SendableRecordBatchStream, DataFusionError> {
    let task = Arc::new(df.task_ctx());
    let guard = task.session_config().get_extension::<StreamGuard>();
    let plan = df.create_physical_plan().await?;
    let stream = execute_stream(plan.clone(), task)?;
    Ok(match guard {
        Some(g) => (g.0)(&plan, stream),
        None => stream,
    })
}

/// Runs `df` and collects its batches (through [`stream`]).
pub async fn collect(df: DataFrame) -> Result<Vec<RecordBatch>, DataFusionError> {
    stream(df).await?.try_collect().await
}

/// Streams a result into `w` and finishes it. A table stops reading once it is full.
pub async fn write(df: DataFrame, mut w: ResultWriter) -> crate::Result<Written> {
    let mut stream = stream(df).await?;
    let mut more = false;
    while let Some(batch) = stream.next().await {
        if !w.write(&batch?)? {
            more = true;
            break;
        }
    }
    drop(stream);
    w.finish(more)
}

/// How a run of statements ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    /// Every statement ran; what the last written result held (`None`: nothing written).
    Done(Option<Written>),
    /// Ctrl-C stopped a statement; a half-written file was removed.
    Cancelled,
}

/// Runs every statement of `sql` in order on `ctx`. `writer(last, schema)` gives the writer
/// for a statement's result (`last`: it is the final statement), or `None` to only run it.
/// With `cancel_on_ctrl_c`, Ctrl-C stops the running statement and [`Ran::Cancelled`] is
/// returned; the signal handler is in place before any output file is created.
pub fn execute(
    rt: &tokio::runtime::Runtime,
    ctx: &SessionContext,
    sql: &str,
    cancel_on_ctrl_c: bool,
    mut writer: impl FnMut(bool, SchemaRef) -> crate::Result<Option<ResultWriter>>,
) -> crate::Result<Ran> {
    let work = async {
        let stmts = parse(sql)?;
        let n = stmts.len();
        let mut written = None;
        for (i, stmt) in stmts.into_iter().enumerate() {
            let df = plan(ctx, stmt).await?;
            if let Some(w) = writer(i + 1 == n, df.schema().inner().clone())? {
                written = Some(write(df, w).await?);
            }
        }
        Ok::<_, crate::Error>(written)
    };
    if !cancel_on_ctrl_c {
        return rt.block_on(work).map(Ran::Done);
    }
    rt.block_on(async {
        tokio::select! {
            biased;
            _ = tokio::signal::ctrl_c() => Ok(Ran::Cancelled),
            r = work => r.map(Ran::Done),
        }
    })
}

/// Names of the tables and views of the session's default schema, sorted (for the shell's
/// banner, suggestions and completion).
pub fn table_names(ctx: &SessionContext) -> Vec<String> {
    let state = ctx.state();
    let opts = &state.config().options().catalog;
    let mut names = ctx
        .catalog(&opts.default_catalog)
        .and_then(|c| c.schema(&opts.default_schema))
        .map(|s| s.table_names())
        .unwrap_or_default();
    names.sort();
    names
}
