//! The shell's backslash commands: `\d`, `\d NAME`, `\df`, `\sets`, `\format`, `\timing`,
//! `\maxrows`, `\i`, `\?`, `\q`.
//!
//! Why: describing tables and functions, and switching how results look, are things people do
//! between queries; psql's commands are what network engineers already type.

use std::fmt::Write as _;

use super::Shell;
use crate::enrich::FUNCTIONS;
use crate::output::Format;
use crate::query::run::table_names;

/// (command, arguments, help).
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("\\d", "[NAME]", "list tables and views, or describe one"),
    (
        "\\df",
        "[PATTERN]",
        "flowlake's functions; with a pattern, every function matching it",
    ),
    ("\\sets", "", "the loaded IP sets"),
    (
        "\\format",
        "[table|csv|tsv|json|ndjson]",
        "show or set the output format",
    ),
    ("\\timing", "[on|off]", "show how long each statement took"),
    ("\\maxrows", "[N]", "rows a table shows (0: all)"),
    ("\\i", "FILE", "run the statements in a file"),
    ("\\?", "", "this help"),
    ("\\q", "", "quit (also Ctrl-D)"),
];

/// What the shell does after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Read the next line.
    Continue,
    /// Leave the shell.
    Quit,
}

/// Text of a two-column listing with aligned first column.
fn columns(rows: &[(String, String)]) -> String {
    let w = rows
        .iter()
        .map(|(a, _)| a.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (a, b) in rows {
        let _ = writeln!(out, "  {a:<w$}  {b}");
    }
    out
}

impl Shell {
    /// Runs one backslash command line. Errors are printed; the shell goes on.
    pub(super) fn command(&mut self, line: &str) -> Next {
        let mut parts = line.trim().splitn(2, char::is_whitespace);
        let cmd = parts.next().unwrap_or("");
        let arg = parts.next().map(str::trim).unwrap_or("");
        let result = match cmd {
            "\\q" | "\\quit" => return Next::Quit,
            "\\?" | "\\h" | "\\help" => {
                let rows: Vec<(String, String)> = COMMANDS
                    .iter()
                    .map(|(c, a, h)| (format!("{c} {a}"), h.to_string()))
                    .collect();
                self.say(&format!(
                    "{}  SQL statements end with ';' and may span lines. Ctrl-C cancels a running query.",
                    columns(&rows)
                ));
                Ok(())
            }
            "\\d" if arg.is_empty() => self.list_tables(),
            "\\d" => self.describe(arg),
            "\\df" => {
                self.functions(arg);
                Ok(())
            }
            "\\sets" => {
                self.list_sets();
                Ok(())
            }
            "\\format" => self.set_format(arg),
            "\\timing" => match arg {
                "" => {
                    self.settings.timing = !self.settings.timing;
                    Ok(())
                }
                "on" => {
                    self.settings.timing = true;
                    Ok(())
                }
                "off" => {
                    self.settings.timing = false;
                    Ok(())
                }
                other => Err(format!("\\timing takes on or off, not '{other}'")),
            }
            .map(|()| {
                self.say(&format!(
                    "timing is {}",
                    if self.settings.timing { "on" } else { "off" }
                ))
            }),
            "\\maxrows" => {
                if !arg.is_empty() {
                    match arg.parse::<usize>() {
                        Ok(n) => self.settings.max_rows = n,
                        Err(_) => {
                            self.report(&format!("\\maxrows takes a number, not '{arg}'"));
                            return Next::Continue;
                        }
                    }
                }
                self.say(&format!(
                    "tables show {} rows",
                    match self.settings.max_rows {
                        0 => "all".to_string(),
                        n => format!("at most {n}"),
                    }
                ));
                Ok(())
            }
            "\\i" => match std::fs::read_to_string(arg) {
                Ok(text) => {
                    self.run_text(&text);
                    Ok(())
                }
                Err(e) => Err(format!("\\i {arg}: {e}")),
            },
            other => Err(format!("unknown command {other}; \\? lists the commands")),
        };
        if let Err(e) = result {
            self.report(&e);
        }
        Next::Continue
    }

    fn set_format(&mut self, arg: &str) -> Result<(), String> {
        if !arg.is_empty() {
            match arg.parse::<Format>().ok() {
                Some(Format::Parquet) => {
                    return Err(
                        "parquet is for files: use `flowlake sql --format parquet -o FILE`".into(),
                    );
                }
                Some(f) => self.settings.format = f,
                None => {
                    return Err(format!(
                        "unknown format '{arg}': table, csv, tsv, json or ndjson"
                    ));
                }
            }
        }
        self.say(&format!("output format is {}", self.settings.format));
        Ok(())
    }

    fn list_tables(&self) -> Result<(), String> {
        let mut names = table_names(&self.session.ctx);
        names.sort();
        let rows: Vec<(String, String)> = names
            .into_iter()
            .map(|n| {
                let what = if n == "flows" {
                    "table: one row per flow tuple, partitioned by date".to_string()
                } else if let Some((_, sql)) = crate::query::VIEWS.iter().find(|(v, _)| *v == n) {
                    format!("view: {}", view_summary(sql))
                } else {
                    "table or view".to_string()
                };
                (n, what)
            })
            .collect();
        self.say_raw(&columns(&rows));
        Ok(())
    }

    fn describe(&self, name: &str) -> Result<(), String> {
        let provider = self
            .block_on(self.session.ctx.table_provider(name))
            .map_err(|e| crate::query::errors::describe(&e, &table_names(&self.session.ctx)))?;
        let schema = provider.schema();
        let rows: Vec<(String, String)> = schema
            .fields()
            .iter()
            .map(|f| {
                let doc = crate::schema::COLUMNS
                    .iter()
                    .find(|c| c.name == f.name())
                    .map(|c| c.doc)
                    .or((f.name() == crate::schema::PARTITION_COLUMN)
                        .then_some("UTC date of `time` (the partition directory)"))
                    .unwrap_or("");
                let ty = format!(
                    "{}{}",
                    f.data_type(),
                    if f.is_nullable() { "" } else { " not null" }
                );
                (format!("{:<20} {ty:<34}", f.name()), doc.to_string())
            })
            .collect();
        self.say_raw(&columns(&rows));
        Ok(())
    }

    fn functions(&self, pattern: &str) {
        if pattern.is_empty() {
            let rows: Vec<(String, String)> = FUNCTIONS
                .iter()
                .map(|f| (format!("{} → {}", f.syntax, f.returns), f.about.to_string()))
                .collect();
            self.say_raw(&columns(&rows));
            self.say("  (\\df PATTERN lists every function whose name contains PATTERN)");
            return;
        }
        let state = self.session.ctx.state();
        let mut names: Vec<String> = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .filter(|n| n.contains(pattern))
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        let rows: Vec<(String, String)> = names
            .into_iter()
            .map(|n| {
                let doc = state
                    .scalar_functions()
                    .get(&n)
                    .and_then(|f| f.documentation().map(|d| d.description.clone()))
                    .or_else(|| {
                        state
                            .aggregate_functions()
                            .get(&n)
                            .and_then(|f| f.documentation().map(|d| d.description.clone()))
                    })
                    .unwrap_or_default();
                (n, doc.lines().next().unwrap_or("").to_string())
            })
            .collect();
        if rows.is_empty() {
            self.say(&format!("  no function name contains '{pattern}'"));
        }
        self.say_raw(&columns(&rows));
    }

    fn list_sets(&self) {
        let rows: Vec<(String, String)> = self
            .session
            .sets
            .sets()
            .map(|s| {
                let mut about = format!("{} entries, {}", s.entries(), s.feed());
                if !s.rejects().is_empty() {
                    about.push_str(&format!(", {} lines skipped", s.rejects().len()));
                }
                (s.name().to_string(), about)
            })
            .collect();
        if rows.is_empty() {
            self.say(
                "  no IP sets loaded (flowlake shell --set NAME=PATH, or [sets] in flowlake.toml)",
            );
        }
        self.say_raw(&columns(&rows));
    }
}

/// The first comment line of a view's SQL file, after its name.
fn view_summary(sql: &str) -> &str {
    sql.lines()
        .next()
        .and_then(|l| l.strip_prefix("--"))
        .map(|l| l.split_once(':').map_or(l, |(_, r)| r).trim())
        .unwrap_or("")
}
