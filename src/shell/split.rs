//! Where one SQL statement ends: top-level `;` outside quotes and comments.
//!
//! Why: the shell must know when a multi-line statement is complete (to run it, or to keep
//! reading), and a script on stdin is a stream of statements. This is a lexer, not a parser:
//! DataFusion's parser still reads each statement and reports errors with their position.

/// Statements split off the front of a buffer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// Complete statements, without their `;`, trimmed; empty statements are dropped.
    pub statements: Vec<String>,
    /// The text after the last `;`.
    pub rest: String,
    /// True when `rest` holds only whitespace and comments.
    pub rest_is_blank: bool,
}

/// Splits `text` at top-level semicolons. Understands `'...'` (with `''`), `"..."`, `--`
/// comments and `/* ... */` comments.
pub fn split(text: &str) -> Split {
    let b = text.as_bytes();
    let mut out = Split::default();
    let (mut i, mut start) = (0, 0);
    let mut blank = true;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                blank = false;
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            b';' => {
                let s = text[start..i].trim();
                if !blank {
                    out.statements.push(s.to_string());
                }
                i += 1;
                start = i;
                blank = true;
            }
            c => {
                if !c.is_ascii_whitespace() {
                    blank = false;
                }
                i += 1;
            }
        }
    }
    out.rest = text[start.min(text.len())..].to_string();
    out.rest_is_blank = blank;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_top_level_semicolons_only() {
        let s = split("SELECT 1; SELECT ';' AS a, \"x;y\" -- c;\n FROM t; /* ; */ SELECT 'it''s;'");
        assert_eq!(
            s.statements,
            ["SELECT 1", "SELECT ';' AS a, \"x;y\" -- c;\n FROM t"]
        );
        assert_eq!(s.rest, " /* ; */ SELECT 'it''s;'");
        assert!(!s.rest_is_blank);
        let s = split("SELECT 1;\n-- trailing comment\n");
        assert_eq!(s.statements, ["SELECT 1"]);
        assert!(s.rest_is_blank);
        let s = split(";;  ;");
        assert!(s.statements.is_empty() && s.rest_is_blank);
        let s = split("SELECT 'unterminated;");
        assert!(s.statements.is_empty() && !s.rest_is_blank);
    }
}
