//! Query errors as one readable line.
//!
//! Why: DataFusion's errors are written for developers (nested contexts, a list of every valid
//! field, Rust debug formatting of parser errors). Someone at a shell during an incident
//! needs one line: where in the statement, what is wrong, and the closest name when a column
//! or table is misspelt.

use datafusion::common::utils::datafusion_strsim::levenshtein;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;

/// One line describing `e`. `tables` are the names the session knows, for suggestions when a
/// table is not found.
pub fn describe(e: &DataFusionError, tables: &[String]) -> String {
    // A context flowlake added (the report query a failure is in) leads the line.
    if let DataFusionError::Context(context, inner) = e {
        return format!("{context}: {}", describe(inner, tables));
    }
    let root = e.find_root();
    let mut msg = match root {
        DataFusionError::SQL(p, _) => match p.as_ref() {
            ParserError::TokenizerError(s) | ParserError::ParserError(s) => {
                format!("syntax error: {s}")
            }
            ParserError::RecursionLimitExceeded => "statement nested too deeply".to_string(),
        },
        DataFusionError::ResourcesExhausted(s) => format!("out of memory: {s}"),
        DataFusionError::Internal(s) => format!("internal error (a bug): {s}"),
        other => other.message().into_owned(),
    };
    // Keep the first line: later lines list every valid field or repeat the cause.
    if let Some(i) = msg.find('\n') {
        msg.truncate(i);
    }
    // Names in the default schema need no qualification.
    let msg = msg
        .trim_end_matches(['.', ' '])
        .replace("'datafusion.public.", "'")
        .replace("'flows.", "'");
    let mut out = match e.diagnostic().and_then(|d| d.span) {
        Some(span) if span.start.line > 0 && !msg.contains("Line:") => format!(
            "line {}, column {}: {msg}",
            span.start.line, span.start.column
        ),
        _ => msg,
    };
    if let Some(hint) = table_hint(&out, tables) {
        out.push_str(&hint);
    }
    out
}

/// ". Did you mean 'x'?" when the message says a table is not found and a known table is close.
fn table_hint(msg: &str, tables: &[String]) -> Option<String> {
    let start = msg.find("table '")? + "table '".len();
    let rest = &msg[start..];
    let name = &rest[..rest.find("' not found")?];
    let bare = name.rsplit('.').next().unwrap_or(name);
    tables
        .iter()
        .map(|t| (levenshtein(bare, t), t))
        .filter(|(d, t)| *d <= 2.max(t.len() / 3))
        .min()
        .map(|(_, t)| format!(". Did you mean '{t}'?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_hints_pick_the_closest_known_table() {
        let tables = vec![
            "flows".to_string(),
            "flow_hours".to_string(),
            "egress".to_string(),
        ];
        assert_eq!(
            table_hint(
                "Error during planning: table 'datafusion.public.flow' not found",
                &tables
            )
            .as_deref(),
            Some(". Did you mean 'flows'?")
        );
        assert_eq!(table_hint("table 'zzzzzz' not found", &tables), None);
        assert_eq!(table_hint("something else", &tables), None);
    }
}
