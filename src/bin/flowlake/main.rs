//! The `flowlake` command: parses the command line, runs the one function its subcommand
//! names, and turns the outcome into an exit status. Nothing else lives here.
//!
//! Exit status: 0 all done (also when the reader of stdout went away: `| head` is no
//! failure); 3 done, but some input was rejected (see the rejects files); 4 a report has
//! findings at or above `--fail-on`; 1 failed; 2 bad usage (a flag, its value, or a file
//! given as configuration: `flowlake.toml`, IP sets, NSG definitions; `Error::is_usage`);
//! 130 a query cancelled with Ctrl-C.

mod alloc;
mod args;
mod cluster;
mod compact;
mod generate;
mod info;
mod ingest;
mod inventory;
mod out;
mod report;
mod retain;
mod schema;
mod session;
mod shell;
mod sql;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

/// Exit status of bad usage, as clap uses it.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    alloc::small_pages();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Ingest(a) => ingest::run(a),
        Command::Compact(a) => compact::run(a),
        Command::Gen(a) => generate::run(a),
        Command::Info(a) => info::run(a),
        Command::Sql(a) => sql::run(a),
        Command::Shell(a) => shell::run(a),
        Command::Report(a) => report::run(a),
        Command::Retain(a) => retain::run(a),
        Command::Inventory(a) => inventory::run(a),
        Command::Schema(a) => schema::run(a),
        Command::Cluster(c) => cluster::run(c),
    };
    match outcome {
        Ok(code) => code,
        Err(e) if out::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.is::<session::Interrupted>() => {
            eprintln!("flowlake: cancelled");
            ExitCode::from(sql::EXIT_INTERRUPTED)
        }
        Err(e) => {
            out::error(&e);
            match e.downcast_ref::<flowlake::Error>() {
                Some(e) if e.is_usage() => ExitCode::from(EXIT_USAGE),
                _ => ExitCode::FAILURE,
            }
        }
    }
}
