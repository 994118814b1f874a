//! `flowlake inventory import` and `flowlake inventory show`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};

use flowlake::inventory::{ImportOptions, ImportSummary, canonical_ip, import};
use flowlake::output::{ResultWriter, Sink};
use flowlake::query::QueryOptions;
use flowlake::query::run::{self, Ran};

use crate::args::{InventoryCommand, InventoryImportArgs, InventoryShowArgs};
use crate::out;
use crate::session::runtime;
use crate::sql::EXIT_INTERRUPTED;

/// Exit status when some items were rejected.
const EXIT_REJECTS: u8 = 3;

/// Runs an inventory subcommand.
pub fn run(c: InventoryCommand) -> Result<ExitCode> {
    match c {
        InventoryCommand::Import(a) => run_import(a),
        InventoryCommand::Show(a) => show(a),
    }
}

fn run_import(a: InventoryImportArgs) -> Result<ExitCode> {
    let lake = a.lake.location()?;
    let sources = a
        .sources
        .iter()
        .map(|s| a.lake.store.location(s))
        .collect::<Result<Vec<_>, _>>()?;
    if a.cluster.trim().is_empty() {
        return Err(flowlake::Error::Invalid("--cluster: give a non-empty name".into()).into());
    }
    let at =
        a.at.as_deref()
            .map(|t| flowlake::window::parse_flag("--at", t, chrono::Utc::now()))
            .transpose()?;
    let opts = ImportOptions {
        cluster: a.cluster.clone(),
        at,
    };
    let s = import(&lake, &sources, &opts).context("inventory import failed")?;
    for r in s.rejects.iter().take(20) {
        out::warning(&format!("rejected {r}"));
    }
    if s.rejects.len() > 20 {
        out::warning(&format!("… and {} more rejects", s.rejects.len() - 20));
    }
    for w in &s.warnings {
        out::warning(w);
    }
    if s.refused > 0 {
        out::warning(&format!(
            "{} files refused as a whole (not recorded: the next import reads them again)",
            s.refused
        ));
    }
    if s.unreadable_addresses > 0 {
        out::warning(&format!(
            "{} address fields were not addresses (redacted, such as ***HIDDEN***) and were skipped",
            s.unreadable_addresses
        ));
    }
    if a.json {
        out::json(&s)?;
    } else {
        print(&s, &a.cluster)?;
    }
    Ok(match s.rejects.is_empty() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(EXIT_REJECTS),
    })
}

fn print(s: &ImportSummary, cluster: &str) -> Result<()> {
    let mut out = out::stdout();
    let shapes: Vec<String> = s.shapes.iter().map(|(k, n)| format!("{n} {k}")).collect();
    writeln!(
        out,
        "cluster {cluster}: {} files found, {} imported ({}), {} unchanged since their last import",
        s.files,
        s.imported,
        if shapes.is_empty() {
            "none".to_string()
        } else {
            shapes.join(", ")
        },
        s.unchanged
    )?;
    writeln!(
        out,
        "{} bindings observed, {} new snapshot listings; inventory: {} -> {} intervals (lake version {})",
        s.observations, s.snapshots, s.intervals_before, s.intervals_after, s.version
    )?;
    if s.services_named_across_files > 0 {
        writeln!(
            out,
            "{} Services named from pods or EndpointSlices in other files",
            s.services_named_across_files
        )?;
    }
    if let Some(f) = &s.rejects_file {
        writeln!(out, "{} items rejected: see {f}", s.rejects.len())?;
    }
    out.flush()?;
    Ok(())
}

/// A SQL string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn show(a: InventoryShowArgs) -> Result<ExitCode> {
    let lake = a.lake.location()?;
    let mut filters = Vec::new();
    if let Some(t) = &a.at {
        let t = flowlake::window::parse_flag("--at", t, chrono::Utc::now())?;
        let lit = format!("TIMESTAMP {}", quote(&t.to_rfc3339()));
        filters.push(format!(
            "valid_from <= {lit} AND (valid_until IS NULL OR valid_until > {lit})"
        ));
    }
    if let Some(ip) = &a.ip {
        let ip = canonical_ip(ip).ok_or_else(|| {
            flowlake::Error::Invalid(format!("--ip '{ip}': not an IPv4 or IPv6 address"))
        })?;
        filters.push(format!("address = {}", quote(&ip)));
    }
    if let Some(ns) = &a.namespace {
        filters.push(format!("namespace = {}", quote(ns)));
    }
    if let Some(c) = &a.cluster {
        filters.push(format!("cluster = {}", quote(c)));
    }
    let filter = match filters.is_empty() {
        true => String::new(),
        false => format!(" WHERE {}", filters.join(" AND ")),
    };
    let sql = format!(
        "SELECT cluster, address, kind, namespace, name, workload_kind, workload, node, \
         host_network, valid_from, valid_from_certainty, valid_until, valid_until_certainty \
         FROM inventory{filter} ORDER BY address, valid_from, kind, name"
    );
    let rt = runtime()?;
    let session = rt.block_on(flowlake::query::session(&lake, &QueryOptions::default()))?;
    if session.inventory.is_empty() {
        out::warning(&format!(
            "lake {} has no inventory yet: import some with `flowlake inventory import`",
            lake.name()
        ));
    }
    let (format, max_rows) = (a.format, a.max_rows);
    let ran = run::execute(&rt, &session.ctx, &sql, true, |last, schema| {
        if !last {
            return Ok(None);
        }
        ResultWriter::new(format, Sink::Stdout, schema, max_rows).map(Some)
    })?;
    Ok(match ran {
        Ran::Done(_) => ExitCode::SUCCESS,
        Ran::Cancelled => ExitCode::from(EXIT_INTERRUPTED),
    })
}
