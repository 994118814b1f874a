//! Time windows from the command line: `--since 7d`, `--until yesterday`, `--baseline 14d`.
//!
//! Why: every report and many queries ask about "the last day" or "since Monday", compared with
//! a baseline before it. People write those as relative spans, dates or RFC 3339 times; batch
//! jobs need the same text to mean the same window at the same moment. Parsing takes "now" as
//! an argument so tests (and re-runs of a job for a past day) are deterministic. Windows are
//! half-open, `[since, until)`, in UTC.

use chrono::{DateTime, Duration, DurationRound, NaiveDate, NaiveTime, Utc};

use crate::error::{Error, Result};

/// `t` truncated to the start of its hour.
pub fn hour_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

/// A half-open time window `[since, until)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First instant inside the window.
    pub since: DateTime<Utc>,
    /// First instant after the window.
    pub until: DateTime<Utc>,
}

impl Window {
    /// The window of the given length that ends where this one starts (the baseline).
    pub fn before(&self, length: Duration) -> Window {
        Window {
            since: self.since - length,
            until: self.since,
        }
    }

    /// The window's length.
    pub fn length(&self) -> Duration {
        self.until - self.since
    }
}

/// Parses a span: a number and a unit, `s`, `m`, `h`, `d` or `w` (`90m`, `24h`, `7d`, `2w`).
pub fn parse_span(s: &str) -> Option<Duration> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    if n < 0 {
        return None;
    }
    match unit {
        's' => Some(Duration::seconds(n)),
        'm' => Some(Duration::minutes(n)),
        'h' => Some(Duration::hours(n)),
        'd' => Some(Duration::days(n)),
        'w' => Some(Duration::weeks(n)),
        _ => None,
    }
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(NaiveTime::MIN).and_utc()
}

/// Parses an instant relative to `now`: `now`, `today` / `yesterday` (UTC midnight), a span
/// back from now (`24h`, `7d`), a date (`2026-11-02`, its UTC midnight) or an RFC 3339 time
/// (`2026-11-02T05:00:00Z`, `2026-11-02T06:00:00+01:00`).
pub fn parse_instant(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let s = s.trim();
    match s {
        "now" => return Some(now),
        "today" => return Some(midnight(now.date_naive())),
        "yesterday" => return Some(midnight(now.date_naive()) - Duration::days(1)),
        _ => {}
    }
    if let Some(span) = parse_span(s) {
        return Some(now - span);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(midnight(d));
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The window given by `--since` and `--until` (either may be absent): `until` defaults to
/// `now`, `since` to `default_length` before `until`. Errors name the flag and the text.
pub fn resolve(
    since: Option<&str>,
    until: Option<&str>,
    default_length: Duration,
    now: DateTime<Utc>,
) -> Result<Window> {
    let bad = |flag: &str, v: &str| {
        Error::Invalid(format!(
            "{flag} '{v}': expected now, today, yesterday, a span back from now (90m, 24h, 7d, 2w), a date (2026-11-02) or an RFC 3339 time (2026-11-02T05:00:00Z)"
        ))
    };
    let until = match until {
        Some(u) => parse_instant(u, now).ok_or_else(|| bad("--until", u))?,
        None => now,
    };
    let since = match since {
        Some(s) => parse_instant(s, now).ok_or_else(|| bad("--since", s))?,
        None => until - default_length,
    };
    if since >= until {
        return Err(Error::Invalid(format!(
            "empty window: --since {} is not before --until {}",
            since.to_rfc3339(),
            until.to_rfc3339()
        )));
    }
    Ok(Window { since, until })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn instants_relative_absolute_and_named() {
        let now = t("2026-11-26T08:30:00Z");
        for (text, want) in [
            ("now", "2026-11-26T08:30:00Z"),
            ("today", "2026-11-26T00:00:00Z"),
            ("yesterday", "2026-11-25T00:00:00Z"),
            ("24h", "2026-11-25T08:30:00Z"),
            ("90m", "2026-11-26T07:00:00Z"),
            ("7d", "2026-11-19T08:30:00Z"),
            ("2w", "2026-11-12T08:30:00Z"),
            ("30s", "2026-11-26T08:29:30Z"),
            ("2026-11-02", "2026-11-02T00:00:00Z"),
            ("2026-11-02T05:00:00Z", "2026-11-02T05:00:00Z"),
            ("2026-11-02T06:00:00+01:00", "2026-11-02T05:00:00Z"),
        ] {
            assert_eq!(parse_instant(text, now), Some(t(want)), "{text}");
        }
        for bad in [
            "",
            "7",
            "d",
            "-1d",
            "7y",
            "2026-13-01",
            "last week",
            "2026-11-02 05:00",
        ] {
            assert_eq!(parse_instant(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn windows_defaults_baselines_and_errors() {
        let now = t("2026-11-26T08:30:00Z");
        let w = resolve(None, None, Duration::days(1), now).unwrap();
        assert_eq!((w.since, w.until), (t("2026-11-25T08:30:00Z"), now));
        let w = resolve(Some("yesterday"), Some("today"), Duration::days(1), now).unwrap();
        assert_eq!(w.length(), Duration::days(1));
        let b = w.before(parse_span("14d").unwrap());
        assert_eq!(
            (b.since, b.until),
            (t("2026-11-11T00:00:00Z"), t("2026-11-25T00:00:00Z"))
        );
        let e = resolve(Some("today"), Some("yesterday"), Duration::days(1), now)
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty window"), "{e}");
        let e = resolve(Some("last week"), None, Duration::days(1), now)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--since 'last week': expected"), "{e}");
    }
}
