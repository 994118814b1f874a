//! Printing for people and batch jobs: JSON summaries, warnings, errors, and what a closed
//! stdout means.
//!
//! Why: every printer writes through `writeln!` and returns its I/O error instead of
//! panicking (as `println!` does on a closed pipe), so `flowlake ... | head` ends quietly:
//! [`is_broken_pipe`] lets `main` treat that error as success, as ripgrep does.

use std::io::Write;

use anyhow::Result;

/// Standard output, locked and buffered for one command's printing.
pub fn stdout() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::new(std::io::stdout().lock())
}

/// Writes `v` as pretty JSON and a newline.
pub fn json<T: serde::Serialize>(v: &T) -> Result<()> {
    let mut out = stdout();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// A warning on stderr.
pub fn warning(text: &str) {
    eprintln!("flowlake: warning: {text}");
}

/// An error on stderr, with its causes.
pub fn error(e: &anyhow::Error) {
    eprintln!("flowlake: error: {}", error_text(e));
}

/// An error and its causes in one line, each cause once: a cause whose text the line already
/// holds (flowlake's errors name their source in their own text) is not repeated.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// Whether `e` is a write to a closed pipe (the reader went away).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<flowlake::Error>()
                .is_some_and(flowlake::Error::is_broken_pipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

/// A time in µs since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us).map_or_else(
        || us.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_the_message_names_is_not_repeated() {
        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let e = anyhow::Error::new(flowlake::Error::Io {
            op: "read",
            path: "/etc/shadow".into(),
            source: io,
        });
        let text = error_text(&e);
        assert_eq!(text.matches("denied").count(), 1, "{text}");
        let wrapped = anyhow::anyhow!("disk full").context("write the report");
        assert_eq!(error_text(&wrapped), "write the report: disk full");
    }
}
