//! `flowlake sql`: run SQL text over the lake and write the last statement's result.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};

use flowlake::output::{ResultWriter, Sink};
use flowlake::query::run::{self, Ran};

use crate::args::SqlArgs;
use crate::session::{query_error, runtime};

/// Exit status after Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Runs the statements.
pub fn run(a: SqlArgs) -> Result<ExitCode> {
    let text = match (a.sql, &a.file) {
        (Some(s), _) => s,
        (None, Some(f)) => {
            std::fs::read_to_string(f).with_context(|| format!("read SQL file {}", f.display()))?
        }
        (None, None) => {
            if std::io::stdin().is_terminal() {
                return Err(flowlake::Error::Invalid(
                    "give the SQL as an argument, with -f FILE, or on stdin".into(),
                )
                .into());
            }
            std::io::read_to_string(std::io::stdin()).context("read SQL from stdin")?
        }
    };
    let rt = runtime()?;
    let session = a.query.open(&rt, &a.query.config()?, None, None)?;
    let (format, max_rows) = (a.format, a.max_rows);
    let mut output = a.output;
    let ran = run::execute(&rt, &session.ctx, &text, true, |last, schema| {
        if !last {
            return Ok(None);
        }
        let sink = match output.take() {
            Some(p) => Sink::File(p),
            None => Sink::Stdout,
        };
        ResultWriter::new(format, sink, schema, max_rows).map(Some)
    })
    .map_err(|e| query_error(e, &session))?;
    match ran {
        Ran::Done(Some(_)) => Ok(ExitCode::SUCCESS),
        Ran::Done(None) => Err(flowlake::Error::Invalid("no SQL statement given".into()).into()),
        Ran::Cancelled => {
            eprintln!("flowlake: query cancelled");
            Ok(ExitCode::from(EXIT_INTERRUPTED))
        }
    }
}
