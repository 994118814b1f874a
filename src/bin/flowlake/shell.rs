//! `flowlake shell`: the interactive SQL shell (see `flowlake::shell`).

use std::process::ExitCode;

use anyhow::Result;

use flowlake::output::Format;
use flowlake::shell::{Settings, Shell};

use crate::args::ShellArgs;
use crate::session::runtime;

/// Runs the shell until `\q` or end of input; fails when a statement failed.
pub fn run(a: ShellArgs) -> Result<ExitCode> {
    if a.format == Format::Parquet {
        return Err(flowlake::Error::Invalid(
            "the shell writes to the terminal: use `flowlake sql --format parquet -o FILE`".into(),
        )
        .into());
    }
    let rt = runtime()?;
    let session = a.query.open(&rt, &a.query.config()?, None, None)?;
    let settings = Settings {
        format: a.format,
        max_rows: a.max_rows,
        timing: a.timing,
    };
    let failures = Shell::new(session, settings, rt).run()?;
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
