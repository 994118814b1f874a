//! The line editor's helper: tab completion and multi-line statements.
//!
//! Why: at the prompt people type table, column and function names they half remember.
//! Completion offers the session's tables and views, their columns, every function (ours and
//! DataFusion's), SQL keywords and the shell's backslash commands. The validator keeps reading
//! lines until a statement ends with `;`, so Enter inside a statement starts a new line.

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::commands::COMMANDS;
use super::split::split;

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "LEFT",
    "RIGHT",
    "INNER",
    "OUTER",
    "FULL",
    "CROSS",
    "ON",
    "USING",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "BETWEEN",
    "LIKE",
    "ILIKE",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DISTINCT",
    "UNION",
    "ALL",
    "INTERSECT",
    "EXCEPT",
    "WITH",
    "DESC",
    "ASC",
    "INTERVAL",
    "TIMESTAMP",
    "DATE",
    "CAST",
    "EXPLAIN",
    "ANALYZE",
    "CREATE",
    "VIEW",
    "REPLACE",
    "DROP",
    "SHOW",
    "TABLES",
    "COLUMNS",
    "FUNCTIONS",
    "SET",
    "OVER",
    "PARTITION",
    "WINDOW",
    "FILTER",
    "TRUE",
    "FALSE",
    "COUNT",
];

/// Names the completer offers; refreshed after each statement (views may have been created).
#[derive(Debug, Default, Clone)]
pub struct Names {
    /// Tables and views.
    pub tables: Vec<String>,
    /// Columns of every table and view.
    pub columns: Vec<String>,
    /// Scalar, aggregate and window functions.
    pub functions: Vec<String>,
}

/// The rustyline helper of the shell.
#[derive(Debug, Default)]
pub struct ShellHelper {
    /// What completion offers.
    pub names: Names,
}

impl ShellHelper {
    /// Candidates for the name `word` that ends at the cursor; `command` when the line is a
    /// backslash command (whose argument is a table name).
    fn candidates(&self, word: &str, command: bool) -> Vec<Pair> {
        if word.is_empty() && !command {
            return Vec::new();
        }
        let lower = word.to_ascii_lowercase();
        let mut out: Vec<Pair> = Vec::new();
        let mut add = |display: &str, replacement: String| {
            if !out.iter().any(|p| p.replacement == replacement) {
                out.push(Pair {
                    display: display.to_string(),
                    replacement,
                });
            }
        };
        for t in &self.names.tables {
            if t.starts_with(&lower) {
                add(t, t.clone());
            }
        }
        if !command {
            for c in &self.names.columns {
                if c.starts_with(&lower) {
                    add(c, c.clone());
                }
            }
            for f in &self.names.functions {
                if f.starts_with(&lower) {
                    add(f, format!("{f}("));
                }
            }
            let upper = word.starts_with(|c: char| c.is_ascii_uppercase());
            for k in KEYWORDS {
                if k.to_ascii_lowercase().starts_with(&lower) {
                    let k = if upper {
                        k.to_string()
                    } else {
                        k.to_ascii_lowercase()
                    };
                    add(&k, k.clone());
                }
            }
        }
        out.sort_by(|a, b| a.display.cmp(&b.display));
        out
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let trimmed = before.trim_start();
        let command = trimmed.starts_with('\\');
        if command && !trimmed.contains(char::is_whitespace) {
            let c = COMMANDS
                .iter()
                .filter(|(name, _, _)| name.starts_with(trimmed))
                .map(|(name, _, _)| Pair {
                    display: name.to_string(),
                    replacement: name.to_string(),
                })
                .collect();
            return Ok((before.len() - trimmed.len(), c));
        }
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        Ok((start, self.candidates(&before[start..], command)))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        let t = input.trim_start();
        if t.is_empty() || t.starts_with('\\') {
            return Ok(ValidationResult::Valid(None));
        }
        let s = split(input);
        Ok(if s.rest_is_blank {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> ShellHelper {
        ShellHelper {
            names: Names {
                tables: vec!["flows".into(), "flow_hours".into()],
                columns: vec!["dst_ip".into(), "dst_port".into(), "src_ip".into()],
                functions: vec!["ip_class".into(), "ip_in_set".into(), "sum".into()],
            },
        }
    }

    fn names(line: &str) -> (usize, Vec<String>) {
        let h = helper();
        let history = rustyline::history::DefaultHistory::new();
        let ctx = Context::new(&history);
        let (start, c) = h.complete(line, line.len(), &ctx).unwrap();
        (start, c.into_iter().map(|p| p.replacement).collect())
    }

    #[test]
    fn completes_tables_columns_functions_keywords_and_commands() {
        assert_eq!(names("SELECT ip_c"), (7, vec!["ip_class(".to_string()]));
        assert_eq!(
            names("select dst_"),
            (7, vec!["dst_ip".into(), "dst_port".into()])
        );
        assert_eq!(
            names("SELECT * FROM flo"),
            (14, vec!["flow_hours".into(), "flows".into()])
        );
        assert_eq!(names("SELECT * FR"), (9, vec!["FROM".into()]));
        assert_eq!(names("\\ti"), (0, vec!["\\timing".into()]));
        assert_eq!(names("\\d flow_"), (3, vec!["flow_hours".into()]));
    }
}
