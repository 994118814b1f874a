//! `flowlake shell`: an interactive SQL shell over the lake.
//!
//! Why: during an incident the engineer asks one question after another. The shell keeps one
//! session (views and settings persist), edits lines with history and completion, runs
//! statements that end with `;` (over several lines), streams results with a row limit for
//! tables, and lets Ctrl-C cancel a running query without leaving. With stdin not a terminal
//! it reads statements from stdin without prompts, for scripts.
//!
//! Built on `rustyline` rather than datafusion-cli's REPL: datafusion-cli brings the AWS SDK
//! and its own command set; our commands (`\sets`, column docs in `\d flows`) fit a small
//! loop better. One file per concern: [`split`] finds statement ends, [`complete`] is the line
//! editor's helper, [`commands`] the backslash commands.

pub mod commands;
pub mod complete;
pub mod split;

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::Instant;

use rustyline::Editor;
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;

use crate::output::{Format, ResultWriter, Sink};
use crate::query::LakeSession;
use crate::query::errors::describe;
use crate::query::run::{self, Ran, table_names};
use commands::Next;
use complete::{Names, ShellHelper};

/// How results are shown; changed with `\format`, `\maxrows`, `\timing`.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Output format.
    pub format: Format,
    /// Rows a table shows (0: all).
    pub max_rows: usize,
    /// Print the time each statement took.
    pub timing: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            format: Format::Table,
            max_rows: 40,
            timing: false,
        }
    }
}

/// The shell: a session, its settings and the runtime queries run on.
pub struct Shell {
    session: LakeSession,
    settings: Settings,
    rt: tokio::runtime::Runtime,
    interactive: bool,
    failures: usize,
    /// Standard output was closed by its reader: stop quietly.
    closed: std::cell::Cell<bool>,
}

impl Shell {
    /// A shell over `session`.
    pub fn new(session: LakeSession, settings: Settings, rt: tokio::runtime::Runtime) -> Shell {
        Shell {
            session,
            settings,
            rt,
            interactive: std::io::stdin().is_terminal(),
            failures: 0,
            closed: std::cell::Cell::new(false),
        }
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Runs until `\q`, end of input or Ctrl-D. Returns the number of statements that failed.
    pub fn run(mut self) -> crate::Result<usize> {
        if self.interactive {
            self.run_interactive()?;
        } else {
            self.run_script(std::io::stdin().lock());
        }
        Ok(self.failures)
    }

    /// Prints a line; a closed standard output ends the shell quietly instead of failing.
    fn say(&self, text: &str) {
        self.say_raw(&format!("{text}\n"));
    }

    /// Prints text as it is (see [`Shell::say`]).
    fn say_raw(&self, text: &str) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        if !self.closed.get()
            && out
                .write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
        {
            self.closed.set(true);
        }
    }

    fn report(&mut self, msg: &str) {
        self.failures += 1;
        eprintln!("error: {msg}");
    }

    fn names(&self) -> Names {
        let ctx = &self.session.ctx;
        let tables = table_names(ctx);
        let mut columns: Vec<String> = tables
            .iter()
            .filter_map(|t| self.block_on(ctx.table_provider(t.as_str())).ok())
            .flat_map(|p| {
                p.schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        columns.sort();
        columns.dedup();
        let state = ctx.state();
        let mut functions: Vec<String> = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .cloned()
            .collect();
        functions.sort();
        functions.dedup();
        Names {
            tables,
            columns,
            functions,
        }
    }

    fn run_interactive(&mut self) -> crate::Result<()> {
        let config = Config::builder()
            .auto_add_history(false)
            .history_ignore_dups(true)
            .and_then(|b| b.max_history_size(10_000))
            .map_err(readline_err)?
            .completion_type(CompletionType::List)
            .build();
        let mut rl: Editor<ShellHelper, DefaultHistory> =
            Editor::with_config(config).map_err(readline_err)?;
        rl.set_helper(Some(ShellHelper {
            names: self.names(),
        }));
        let history = history_path();
        if let Some(h) = &history {
            let _ = rl.load_history(h);
        }
        let banner = format!(
            "flowlake {}: SQL over {}. Tables: {}. \\? for help, \\q to quit.",
            env!("CARGO_PKG_VERSION"),
            self.session.lake.name(),
            table_names(&self.session.ctx).join(", ")
        );
        self.say(&banner);
        while !self.closed.get() {
            match rl.readline("flowlake> ") {
                Ok(text) => {
                    if text.trim().is_empty() {
                        continue;
                    }
                    let _ = rl.add_history_entry(text.as_str());
                    if let Some(h) = &history {
                        let _ = rl.append_history(h);
                    }
                    if self.run_text(&text) == Next::Quit {
                        break;
                    }
                    if let Some(h) = rl.helper_mut() {
                        h.names = self.names();
                    }
                }
                // Ctrl-C at the prompt discards the line, as in psql.
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(readline_err(e)),
            }
        }
        Ok(())
    }

    /// Reads statements from a non-terminal input: no prompts, a statement runs once its `;`
    /// is read, a final statement may omit it.
    fn run_script(&mut self, input: impl BufRead) {
        let mut buf = String::new();
        for line in input.lines() {
            if self.closed.get() {
                return;
            }
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    self.report(&format!("reading stdin: {e}"));
                    return;
                }
            };
            if buf.trim().is_empty() && line.trim_start().starts_with('\\') {
                buf.clear();
                if self.command(&line) == Next::Quit {
                    return;
                }
                continue;
            }
            buf.push_str(&line);
            buf.push('\n');
            let s = split::split(&buf);
            for stmt in &s.statements {
                self.run_sql(stmt);
            }
            buf = s.rest;
        }
        if !split::split(&buf).rest_is_blank {
            self.run_sql(&buf);
        }
    }

    /// Runs a line or block of input: a backslash command, or statements ending with `;`.
    fn run_text(&mut self, text: &str) -> Next {
        if text.trim_start().starts_with('\\') {
            return self.command(text.trim());
        }
        let s = split::split(text);
        for stmt in &s.statements {
            self.run_sql(stmt);
        }
        if !s.rest_is_blank {
            self.run_sql(&s.rest);
        }
        Next::Continue
    }

    /// Parses, plans and runs statements, printing each result or the error. In a terminal,
    /// Ctrl-C cancels the running one.
    fn run_sql(&mut self, sql: &str) {
        let started = Instant::now();
        let settings = self.settings;
        let outcome = run::execute(
            &self.rt,
            &self.session.ctx,
            sql,
            self.interactive,
            |_, schema| {
                ResultWriter::new(settings.format, Sink::Stdout, schema, settings.max_rows)
                    .map(Some)
            },
        );
        match outcome {
            Ok(Ran::Cancelled) => {
                eprintln!("query cancelled");
                self.failures += 1;
            }
            Err(e) if e.is_broken_pipe() => self.closed.set(true),
            Err(e) => {
                let msg = match &e {
                    crate::Error::Query(q) => describe(q, &table_names(&self.session.ctx)),
                    other => other.to_string(),
                };
                self.report(&msg);
            }
            Ok(Ran::Done(written)) => {
                if self.settings.timing {
                    let rows = written.map_or(0, |w| w.rows);
                    let text = format!(
                        "Time: {:.3} ms ({rows} row{})",
                        started.elapsed().as_secs_f64() * 1e3,
                        if rows == 1 { "" } else { "s" }
                    );
                    self.say(&text);
                }
            }
        }
    }
}

fn readline_err(e: ReadlineError) -> crate::Error {
    crate::Error::Terminal(e.to_string())
}

/// `$FLOWLAKE_HISTORY`, else `~/.flowlake_history`.
fn history_path() -> Option<PathBuf> {
    std::env::var_os("FLOWLAKE_HISTORY")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".flowlake_history")))
}
