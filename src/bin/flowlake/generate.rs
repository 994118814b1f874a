//! `flowlake gen`: a synthetic blob tree for demos, tests and benchmarks.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use flowlake::synth::{GenOptions, generate};

use crate::args::GenArgs;
use crate::out;

/// Writes the tree.
pub fn run(a: GenArgs) -> Result<ExitCode> {
    let opts = GenOptions {
        scenario: a.scenario,
        out: a.out.clone(),
        start: a.start,
        days: a.days,
        hours: a.hours,
        nics: a.nics,
        tuples_per_hour: a.tuples_per_hour,
        format: a.format,
        mix: a.mix,
        seed: a.seed,
    };
    let s = generate(&opts)?;
    if a.json {
        out::json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = out::stdout();
    writeln!(
        out,
        "wrote {} blobs, {} records, {} tuples, {:.1} MB under {}",
        s.blobs,
        s.records,
        s.tuples,
        s.bytes as f64 / 1e6,
        a.out.display()
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
