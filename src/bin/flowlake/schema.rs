//! `flowlake schema`: the columns of the `flows`, `hourly`, `coverage` or `inventory` table.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use crate::args::{SchemaArgs, Table};
use crate::out;

/// Prints the columns.
pub fn run(a: SchemaArgs) -> Result<ExitCode> {
    let mut out = out::stdout();
    let (columns, markdown) = match a.table {
        Table::Flows => (flowlake::schema::COLUMNS, flowlake::schema::markdown()),
        Table::Hourly => (
            flowlake::lake::hourly::COLUMNS,
            flowlake::lake::hourly::markdown(),
        ),
        Table::Coverage => (
            flowlake::lake::coverage::COLUMNS,
            flowlake::lake::coverage::markdown(),
        ),
        Table::Inventory => (
            flowlake::inventory::table::COLUMNS,
            flowlake::inventory::table::markdown(),
        ),
    };
    if a.markdown {
        write!(out, "{markdown}")?;
    } else {
        for c in columns {
            let null = if c.nullable { "" } else { " not null" };
            writeln!(out, "{:<20} {:?}{null}", c.name, c.ty)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
