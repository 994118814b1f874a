//! Running SQL text: parse every statement, plan it on the session, stream its result.
//!
//! Why: `flowlake sql`, the shell and the tests run statements the same way, and a script may
//! hold several (`SET ...; CREATE VIEW ...; SELECT ...`). Statements are parsed together, so a
//! syntax error reports its line and column in the whole text.

use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use futures::StreamExt;

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

/// Streams a result into `w` and finishes it. A table stops reading once it is full.
pub async fn write(df: DataFrame, mut w: ResultWriter) -> crate::Result<Written> {
    let mut stream = df.execute_stream().await?;
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

/// Names of the tables and views of the session's default schema (for suggestions and
/// completion).
pub fn table_names(ctx: &SessionContext) -> Vec<String> {
    let state = ctx.state();
    let opts = &state.config().options().catalog;
    ctx.catalog(&opts.default_catalog)
        .and_then(|c| c.schema(&opts.default_schema))
        .map(|s| s.table_names())
        .unwrap_or_default()
}
