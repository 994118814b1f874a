//! `flowlake schema`: the columns of the `flows` table.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use crate::args::SchemaArgs;
use crate::out;

/// Prints the columns.
pub fn run(a: SchemaArgs) -> Result<ExitCode> {
    let mut out = out::stdout();
    if a.markdown {
        write!(out, "{}", flowlake::schema::markdown())?;
    } else {
        for c in flowlake::schema::COLUMNS {
            let null = if c.nullable { "" } else { " not null" };
            writeln!(out, "{:<20} {:?}{null}", c.name, c.ty)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
