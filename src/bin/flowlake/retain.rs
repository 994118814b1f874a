//! `flowlake retain`: drop days older than the lake keeps.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};

use flowlake::config::Config;
use flowlake::lake::Lake;
use flowlake::retain::{RetainOptions, retain};
use flowlake::window::parse_span;

use crate::args::RetainArgs;
use crate::out;

/// A retention span from a flag or the config, checked.
fn span(what: &str, text: Option<&String>) -> flowlake::Result<Option<chrono::Duration>> {
    text.map(|t| {
        parse_span(t).map_err(|why| {
            flowlake::Error::Invalid(format!(
                "{what} '{t}': expected a span such as 30d, 8w or 400d: {why}"
            ))
        })
    })
    .transpose()
}

/// Runs the retention.
pub fn run(a: RetainArgs) -> Result<ExitCode> {
    let config = match &a.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let raw = a.raw.as_ref().or(config.retain.raw.as_ref());
    let hourly = a.hourly.as_ref().or(config.retain.hourly.as_ref());
    let opts = RetainOptions {
        raw: span("--raw", raw)?,
        hourly: span("--hourly", hourly)?,
        now: match &a.now {
            Some(t) => flowlake::window::parse_flag("--now", t, chrono::Utc::now())?,
            None => chrono::Utc::now(),
        },
        dry_run: a.dry_run,
    };
    let mut lake = Lake::open(&a.lake.location()?)?;
    for w in lake.warnings() {
        out::warning(&w);
    }
    let s = retain(&mut lake, &opts).context("retention failed")?;
    if a.json {
        out::json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    let days = |d: &[chrono::NaiveDate]| match d {
        [] => "no days".to_string(),
        [one] => format!("1 day ({one})"),
        [first, .., last] => format!("{} days ({first} .. {last})", d.len()),
    };
    let before = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("kept forever".to_string(), |t| {
            format!("before {}", t.format("%Y-%m-%d"))
        })
    };
    let verb = if s.dry_run { "would drop" } else { "dropped" };
    let mut out = out::stdout();
    writeln!(
        out,
        "raw tuples {}: {verb} {}, {} rejects files",
        before(s.raw_before),
        days(&s.raw_days),
        s.rejects.len()
    )?;
    writeln!(
        out,
        "hourly rollup {}: {verb} {}",
        before(s.hourly_before),
        days(&s.hourly_days)
    )?;
    writeln!(
        out,
        "{verb} {} files, {} rows, {:.1} MB{}",
        s.files,
        s.rows,
        s.bytes as f64 / 1e6,
        match s.dry_run {
            true => " (dry run: nothing changed)".to_string(),
            false => format!(" (lake version {})", s.lake_version),
        }
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
