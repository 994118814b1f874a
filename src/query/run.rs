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

/// The longest chain of binary operators one expression may hold (`a OR b OR …`, `1 + 1 +
/// …`). DataFusion plans such a chain as a tree as deep as it is long: planning time grows
/// with the square of its length (5,000 terms took 23 s) and past about 10,000 terms cloning
/// the tree overflowed the stack and aborted the process.
pub const MAX_CHAIN: usize = 2_000;

/// Parses SQL text into statements; a chain of operators longer than [`MAX_CHAIN`] is an
/// error naming where it starts.
pub fn parse(sql: &str) -> Result<Vec<Statement>, DataFusionError> {
    check_chains(sql)?;
    Ok(DFParser::parse_sql_with_dialect(sql, &GenericDialect {})?
        .into_iter()
        .collect())
}

/// Counts the binary operators of each flat stretch of `sql` (between parentheses, commas
/// and clause keywords) and refuses one longer than [`MAX_CHAIN`]. Tokens only: the check
/// itself never recurses. Text that does not tokenize is left to the parser to report.
fn check_chains(sql: &str) -> Result<(), DataFusionError> {
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return Ok(());
    };
    // Per open parenthesis: operators so far in the current stretch, and the position of its
    // first token (`None` until one comes after a separator).
    let mut stack: Vec<(usize, Option<(u64, u64)>)> = vec![(0, None)];
    for t in &tokens {
        if matches!(t.token, Token::Whitespace(_)) {
            continue;
        }
        let at = Some((t.span.start.line, t.span.start.column));
        let depth = stack.len();
        let top = &mut stack[depth - 1];
        match &t.token {
            Token::LParen => stack.push((0, None)),
            Token::RParen if depth > 1 => {
                stack.pop();
            }
            Token::Comma | Token::SemiColon => *top = (0, None),
            Token::Word(w)
                if matches!(
                    w.keyword,
                    Keyword::SELECT
                        | Keyword::FROM
                        | Keyword::WHERE
                        | Keyword::GROUP
                        | Keyword::HAVING
                        | Keyword::ORDER
                        | Keyword::ON
                        | Keyword::WHEN
                        | Keyword::THEN
                        | Keyword::ELSE
                        | Keyword::END
                        | Keyword::UNION
                ) =>
            {
                *top = (0, None)
            }
            Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::Mod
            | Token::Eq
            | Token::DoubleEq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq
            | Token::StringConcat => top.0 += 1,
            Token::Word(w) if matches!(w.keyword, Keyword::AND | Keyword::OR) => top.0 += 1,
            _ => top.1 = top.1.or(at),
        }
        if let Some((n, Some((line, column)))) = stack.last().copied()
            && n > MAX_CHAIN
        {
            return Err(DataFusionError::Plan(format!(
                "line {line}, column {column}: an expression of more than {MAX_CHAIN} chained operators; flowlake refuses it before DataFusion plans it (its planning time grows with the square of the length and very long chains overflow its stack): write a long OR of equalities as `x IN (…)`, or split the expression"
            )));
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_very_long_operator_chain_is_an_error_not_an_abort() {
        let chain = |n: usize, op: &str| {
            format!(
                "SELECT 1 AS a,\n  {} AS b FROM t",
                vec!["1"; n].join(&format!(" {op} "))
            )
        };
        for op in ["+", "OR", "||", "AND"] {
            let e = parse(&chain(10_000, op)).unwrap_err().to_string();
            assert!(
                e.contains("line 2, column 3") && e.contains("more than 2000 chained operators"),
                "{op}: {e}"
            );
            assert!(parse(&chain(MAX_CHAIN, op)).is_ok(), "{op}");
        }
        // Long lists and many short expressions are fine.
        let list = format!("SELECT x IN ({}) FROM t", vec!["'a'"; 20_000].join(", "));
        assert!(parse(&list).is_ok());
        let many = format!("SELECT {} FROM t", vec!["a + 1"; 5_000].join(", "));
        assert!(parse(&many).is_ok());
    }
}
