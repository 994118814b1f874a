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
    /// The window of the given length that ends where this one starts (the baseline);
    /// `None` when it would start before the earliest time there is.
    pub fn before(&self, length: Duration) -> Option<Window> {
        Some(Window {
            since: self.since.checked_sub_signed(length)?,
            until: self.since,
        })
    }

    /// The window's length.
    pub fn length(&self) -> Duration {
        self.until - self.since
    }
}

/// Why a span could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpanError {
    /// Not a span (`humantime`'s reason: no unit, an unknown unit, a number too large).
    #[error("{0}")]
    Unreadable(#[from] humantime::DurationError),
    /// A span too large to count in.
    #[error("the span is too large")]
    TooLarge,
}

/// Parses a span with `humantime`: a number and a unit (`30s`, `90m`, `24h`, `7d`, `2w`, `1y`),
/// or several (`1h 30m`).
pub fn parse_span(s: &str) -> std::result::Result<Duration, SpanError> {
    let std = humantime::parse_duration(s.trim())?;
    Duration::from_std(std).map_err(|_| SpanError::TooLarge)
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(NaiveTime::MIN).and_utc()
}

/// Why an instant could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstantError {
    /// The text is none of the accepted forms.
    Unknown,
    /// A span back from now that reaches before the earliest time there is.
    TooFarBack,
}

/// Parses an instant relative to `now`: `now`, `today` / `yesterday` (UTC midnight), a span
/// back from now (`24h`, `7d`), a date (`2026-11-02`, its UTC midnight) or an RFC 3339 time
/// (`2026-11-02T05:00:00Z`, `2026-11-02T06:00:00+01:00`).
pub fn parse_instant(
    s: &str,
    now: DateTime<Utc>,
) -> std::result::Result<DateTime<Utc>, InstantError> {
    let s = s.trim();
    match s {
        "now" => return Ok(now),
        "today" => return Ok(midnight(now.date_naive())),
        "yesterday" => return Ok(midnight(now.date_naive()) - Duration::days(1)),
        _ => {}
    }
    if let Ok(span) = parse_span(s) {
        return now.checked_sub_signed(span).ok_or(InstantError::TooFarBack);
    }
    if humantime::parse_duration(s).is_ok() {
        return Err(InstantError::TooFarBack);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(midnight(d));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| InstantError::Unknown)
}

/// [`parse_instant`] for the value `v` of flag `flag`: a usage error naming both when it is
/// none of the accepted forms.
pub fn parse_flag(flag: &str, v: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    parse_instant(v, now).map_err(|e| {
        Error::Invalid(match e {
            InstantError::Unknown => format!(
                "{flag} '{v}': expected now, today, yesterday, a span back from now (90m, 24h, 7d, 2w), a date (2026-11-02) or an RFC 3339 time (2026-11-02T05:00:00Z)"
            ),
            InstantError::TooFarBack => {
                format!("{flag} '{v}': the span reaches back before the earliest time there is")
            }
        })
    })
}

/// The window given by `--since` and `--until` (either may be absent): `until` defaults to
/// `now`, `since` to `default_length` before `until`. Errors name the flag and the text.
pub fn resolve(
    since: Option<&str>,
    until: Option<&str>,
    default_length: Duration,
    now: DateTime<Utc>,
) -> Result<Window> {
    let until = match until {
        Some(u) => parse_flag("--until", u, now)?,
        None => now,
    };
    let since = match since {
        Some(s) => parse_flag("--since", s, now)?,
        None => until
            .checked_sub_signed(default_length)
            .ok_or_else(|| Error::Invalid("the default window reaches too far back".into()))?,
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
            assert_eq!(parse_instant(text, now), Ok(t(want)), "{text}");
        }
        for bad in [
            "",
            "7",
            "d",
            "-1d",
            "7q",
            "2026-13-01",
            "last week",
            "2026-11-02 05:00",
        ] {
            assert_eq!(parse_instant(bad, now), Err(InstantError::Unknown), "{bad}");
        }
    }

    #[test]
    fn windows_defaults_baselines_and_errors() {
        let now = t("2026-11-26T08:30:00Z");
        let w = resolve(None, None, Duration::days(1), now).unwrap();
        assert_eq!((w.since, w.until), (t("2026-11-25T08:30:00Z"), now));
        let w = resolve(Some("yesterday"), Some("today"), Duration::days(1), now).unwrap();
        assert_eq!(w.length(), Duration::days(1));
        let b = w.before(parse_span("14d").unwrap()).unwrap();
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

    #[test]
    fn huge_spans_are_errors_not_panics() {
        let now = t("2026-11-26T08:30:00Z");
        assert_eq!(
            parse_instant("100000000d", now),
            Err(InstantError::TooFarBack)
        );
        let e = resolve(Some("100000000d"), None, Duration::days(1), now)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--since '100000000d'"), "{e}");
        assert!(parse_span("99999999999999w").is_err());
        assert!(parse_span("99999999999999999999999d").is_err());
        let w = resolve(Some("yesterday"), None, Duration::days(1), now).unwrap();
        assert_eq!(w.before(parse_span("100000000d").unwrap()), None);
    }
}
