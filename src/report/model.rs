//! What a report is made of: findings with their severity and evidence, the coverage they
//! stand on, and the report that holds them.
//!
//! Why: every output format (table, JSON, CSV, Markdown, HTML, Parquet) renders these types,
//! and JSON is the contract (docs/REPORTS.md), so they are defined once, apart from how they
//! are computed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::reason;
use super::settings::Checked;
use crate::window::Window;

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Data leaving: unexpected ports, new destinations, volume anomalies, DNS to outside
    /// resolvers, threat-intel destinations.
    Exfil,
    /// Internal endpoints reachable from public addresses, and scan pressure.
    Exposure,
    /// What each rule allowed and denied; broad, never-hit and shadowed rules.
    Rules,
    /// Coverage and gaps, top talkers, traffic over time.
    Summary,
    /// The traffic matrix: workload to workload, workload to outside, outside to exposed
    /// workloads; edges new since the baseline.
    Workloads,
}

/// How urgent a finding is. Ordered: `Info < Low < Medium < High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Severity {
    /// Context, not a problem.
    Info,
    /// Worth a look.
    Low,
    /// Should be explained this week.
    Medium,
    /// Act now.
    High,
}

crate::value_names!(Kind, Severity);

/// One finding: what, how bad, why, and the evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What was found (`unexpected_port`, `sensitive_port_exposed`, `never_hit`, ...).
    pub kind: String,
    /// How urgent.
    pub severity: Severity,
    /// 0..1, orders findings of the same severity.
    pub score: f64,
    /// One sentence a person can act on.
    pub reason: String,
    /// The evidence, named as in the report's SQL (`src_ip`, `bytes_out`, `rule`, ...).
    #[serde(flatten)]
    pub evidence: Map<String, Value>,
}

impl Finding {
    /// A finding with its reason written from the evidence ([`reason::explain`]).
    pub fn new(
        kind: &str,
        severity: Severity,
        score: f64,
        evidence: Map<String, Value>,
        settings: &Checked,
    ) -> Finding {
        let mut f = Finding {
            kind: kind.into(),
            severity,
            score,
            reason: String::new(),
            evidence,
        };
        f.reason = reason::explain(&f, settings);
        f
    }

    /// A text field of the evidence.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.evidence.get(key).and_then(Value::as_str)
    }

    /// A numeric field of the evidence (0 when absent).
    pub fn num(&self, key: &str) -> f64 {
        self.evidence
            .get(key)
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    }
}

/// A window as it appears in the output.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Span {
    /// First instant inside.
    pub since: DateTime<Utc>,
    /// First instant after.
    pub until: DateTime<Utc>,
}

impl From<Window> for Span {
    fn from(w: Window) -> Span {
        Span {
            since: w.since,
            until: w.until,
        }
    }
}

/// Hours of one NIC without data, inside the window.
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    /// The NIC (MAC address, or the resource id when the log has no MAC).
    pub nic: String,
    /// First hour without data.
    pub since: DateTime<Utc>,
    /// First hour with data again (or the window's end).
    pub until: DateTime<Utc>,
    /// Hours missing.
    pub hours: i64,
}

/// What the findings stand on: how much of the window and baseline has flow logs.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Coverage {
    /// NICs with data in the window or the baseline.
    pub nics: usize,
    /// NICs with data in the window.
    pub nics_in_window: usize,
    /// Whole hours in the window.
    pub window_hours: i64,
    /// Hours of the window in which at least one NIC has data.
    pub window_hours_with_data: usize,
    /// Hours of the baseline in which at least one NIC has data.
    pub baseline_hours_with_data: usize,
    /// NIC-hours of the window with data, out of `nics × window_hours`.
    pub nic_hours_with_data: usize,
    /// Tuples in the window.
    pub tuples: u64,
    /// Tuples in the baseline.
    pub baseline_tuples: u64,
    /// Missing stretches per NIC inside the window (each NIC's known hours; longest first,
    /// at most 50).
    pub gaps: Vec<Gap>,
    /// Number of gaps in all (`gaps` may list fewer).
    pub gaps_total: usize,
}

/// A finished report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `exfil`, `exposure`, `rules` or `summary`.
    pub report: Kind,
    /// When it was produced.
    pub generated_at: DateTime<Utc>,
    /// The window reported on.
    pub window: Span,
    /// The baseline before it.
    pub baseline: Span,
    /// What the queries read: the hourly rollup or raw tuples, and why.
    pub source: super::Source,
    /// How complete the data is.
    pub coverage: Coverage,
    /// Findings per severity.
    pub counts: Counts,
    /// Findings, most urgent first.
    pub findings: Vec<Finding>,
    /// Internal addresses by bytes (summary, HTML).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top_talkers: Vec<Map<String, Value>>,
    /// Traffic per hour (summary, HTML).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Map<String, Value>>,
    /// Allowed egress by the destination's country, most bytes first (summary, HTML; with
    /// location databases): `place` (ISO code, NULL where unknown), `name`, `bytes_out`,
    /// `flows`, `sources`, `destinations`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub egress_by_country: Vec<Map<String, Value>>,
    /// The same by the destination's autonomous system (`place`: the AS number).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub egress_by_asn: Vec<Map<String, Value>>,
    /// Bytes per hour of the top findings, by finding index (HTML only).
    #[serde(skip)]
    pub series: BTreeMap<usize, Vec<(DateTime<Utc>, f64)>>,
    /// Each query's planning and running time, in the order they ran (`report --timings`).
    #[serde(skip)]
    pub timings: Vec<QueryTiming>,
}

/// How long one report query took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryTiming {
    /// The query file.
    pub file: &'static str,
    /// From its text to a physical plan: parsing, planning, listing files, reading footers.
    pub plan: std::time::Duration,
    /// Running the plan to its last row.
    pub run: std::time::Duration,
    /// Rows it returned.
    pub rows: usize,
}

/// Findings per severity, most urgent first.
#[derive(Debug, Clone, Copy, Serialize, Default, PartialEq, Eq)]
pub struct Counts {
    /// High.
    pub high: usize,
    /// Medium.
    pub medium: usize,
    /// Low.
    pub low: usize,
    /// Info.
    pub info: usize,
}

impl Counts {
    /// The counts of `findings`.
    pub fn of(findings: &[Finding]) -> Counts {
        let mut c = Counts::default();
        for f in findings {
            *match f.severity {
                Severity::High => &mut c.high,
                Severity::Medium => &mut c.medium,
                Severity::Low => &mut c.low,
                Severity::Info => &mut c.info,
            } += 1;
        }
        c
    }

    /// The count for one severity.
    pub fn get(&self, s: Severity) -> usize {
        match s {
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Info => self.info,
        }
    }
}

impl Report {
    /// The most urgent severity among the findings.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}
