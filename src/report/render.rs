//! A report as text for people (table, Markdown), for programs (JSON, CSV) and for notebooks
//! (Parquet), and the HTML page of [`super::html`].
//!
//! Why: the same findings go to an engineer's terminal, a ticket, a batch job's parser and a
//! pandas notebook. JSON is the contract (see docs/REPORTS.md); every other format shows the
//! same findings in the same order.

use std::sync::Arc;

use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::json::ReaderBuilder;
use datafusion::arrow::json::reader::infer_json_schema_from_iterator;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Value};

use super::reason::count;
use super::{Finding, Report, Severity};
use crate::error::{Error, Result};

/// Output format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text for a terminal.
    Table,
    /// The JSON contract: header, coverage, findings.
    Json,
    /// One row per finding, every evidence field a column.
    Csv,
    /// A Markdown section for tickets and wikis.
    Markdown,
    /// One self-contained HTML page with charts.
    Html,
    /// One row per finding (typed columns); the header in the file's metadata.
    Parquet,
}

crate::value_names!(Format);

/// What a finding is about, in a few words: `10.0.0.4 → 1.2.3.4 tcp/443`, `10.0.0.4 tcp/22`.
pub fn subject(f: &Finding) -> String {
    let port = |k: &str| {
        f.evidence
            .get(k)
            .filter(|v| !v.is_null())
            .map(|p| format!(" {}/{}", f.text("protocol").unwrap_or("?"), p))
            .unwrap_or_default()
    };
    if let (Some(s), Some(d)) = (f.text("src_ip"), f.text("dst_ip")) {
        return format!("{s} → {d}{}", port("dst_port"));
    }
    if let Some(ip) = f.text("ip") {
        return format!("{ip}{}", port("port"));
    }
    if let (Some(s), Some(d)) = (f.text("src"), f.text("dst")) {
        return format!("{s} → {d} {}", f.text("protocol").unwrap_or("?"));
    }
    // Egress by place (summary): `DE`, `AS 208294`, `unplaced`.
    if let Some(g) = f.text("grouping") {
        return match (g, f.text("place")) {
            (_, None) => "unplaced".into(),
            ("asn", Some(p)) => format!("AS {p}"),
            (_, Some(p)) => p.to_string(),
        };
    }
    if let Some(r) = f.text("rule") {
        return match f.text("nsg") {
            Some(n) if !n.is_empty() => format!("{r} ({n})"),
            _ => r.to_string(),
        };
    }
    f.text("nic").or(f.text("nsg")).unwrap_or("").to_string()
}

/// The header lines: window, baseline, coverage, counts.
fn header(r: &Report) -> Vec<String> {
    let c = &r.coverage;
    let t = |d: chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%d %H:%M").to_string();
    let counts = [
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ]
    .iter()
    .map(|s| format!("{} {}", r.counts.get(*s), s))
    .collect::<Vec<_>>()
    .join(", ");
    vec![
        format!(
            "{} report: {} .. {} UTC (baseline {} .. {})",
            r.report,
            t(r.window.since),
            t(r.window.until),
            t(r.baseline.since),
            t(r.baseline.until)
        ),
        format!(
            "coverage: {} NICs ({} in the window), {}/{} hours with data, {} NIC-hours, {} tuples; baseline: {} hours with data, {} tuples; {} gaps",
            c.nics,
            c.nics_in_window,
            c.window_hours_with_data,
            c.window_hours,
            count(c.nic_hours_with_data as f64),
            count(c.tuples as f64),
            c.baseline_hours_with_data,
            count(c.baseline_tuples as f64),
            c.gaps_total
        ),
        format!("read from: {}", r.source.why),
        format!("findings: {counts}"),
    ]
}

const TABLE_ROWS: usize = 100;

/// Longest subject and reason a table shows, in characters (the table's layout time grows
/// with the square of a cell's longest word: a 4 MiB rule name took seconds); JSON, CSV,
/// Markdown and HTML keep every character.
const SUBJECT_CHARS: usize = 200;
const REASON_CHARS: usize = 1000;

/// Renders `r` in `format` (HTML through [`super::html::page`]). `width` is the terminal's,
/// to which a table wraps its reasons (`None`: no wrapping, for files and pipes).
pub fn render(r: &Report, format: Format, width: Option<u16>) -> Result<Vec<u8>> {
    Ok(match format {
        Format::Json => {
            let mut v = serde_json::to_vec_pretty(r).expect("a report serialises");
            v.push(b'\n');
            v
        }
        Format::Table => table(r, width).into_bytes(),
        Format::Markdown => markdown(r).into_bytes(),
        Format::Csv => csv(r)?,
        Format::Html => super::html::page(r).into_bytes(),
        Format::Parquet => parquet(r)?,
    })
}

fn table(r: &Report, width: Option<u16>) -> String {
    let mut out = header(r).join("\n");
    out.push_str("\n\n");
    if r.findings.is_empty() {
        out.push_str("no findings\n");
        return out;
    }
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_header(["SEVERITY", "KIND", "SCORE", "SUBJECT", "REASON"]);
    match width {
        Some(w) => t
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(w),
        None => t.set_content_arrangement(ContentArrangement::Disabled),
    };
    for f in r.findings.iter().take(TABLE_ROWS) {
        t.add_row([
            f.severity.to_string(),
            f.kind.clone(),
            format!("{:.2}", f.score),
            crate::output::shorten(&subject(f), SUBJECT_CHARS),
            crate::output::shorten(&f.reason, REASON_CHARS),
        ]);
    }
    // Only the reason wraps: severity, kind, score and subject keep their width.
    for i in 0..4 {
        if let Some(c) = t.column_mut(i) {
            c.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    // The preset pads each cell by one space on both sides; lines start at the first column.
    for line in t.lines() {
        out.push_str(line.strip_prefix(' ').unwrap_or(&line).trim_end());
        out.push('\n');
    }
    if r.findings.len() > TABLE_ROWS {
        out.push_str(&format!(
            "... {} more findings (use --format json, csv or html for all)\n",
            r.findings.len() - TABLE_ROWS
        ));
    }
    out
}

/// Text for a Markdown table cell or list item: pipes and newlines kept from breaking the
/// table, and HTML's `<`, `>` and `&` as entities, so a pod or rule name holding markup
/// (`<script>`) shows as text in a wiki that renders HTML in Markdown.
fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// A CSV cell that a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`,
/// a tab or a carriage return: a rule or pod name from the input) gets a leading `'`, as
/// OWASP recommends; numbers stay numbers (a negative score is not text).
fn csv_cell(s: String) -> String {
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s
    }
}

fn markdown(r: &Report) -> String {
    let h = header(r);
    let mut out = format!("## flowlake {} report\n\n", r.report);
    for l in &h[..] {
        out.push_str(&format!("- {}\n", md_escape(l)));
    }
    out.push('\n');
    if r.findings.is_empty() {
        out.push_str("No findings.\n");
        return out;
    }
    out.push_str("| Severity | Kind | Score | Subject | Reason |\n|---|---|---:|---|---|\n");
    for f in &r.findings {
        out.push_str(&format!(
            "| {} | {} | {:.2} | {} | {} |\n",
            f.severity,
            f.kind,
            f.score,
            md_escape(&subject(f)),
            md_escape(&f.reason)
        ));
    }
    out
}

/// Findings as flat JSON objects: kind, severity, score, reason, then the evidence.
fn flat(r: &Report) -> Vec<Map<String, Value>> {
    r.findings
        .iter()
        .map(|f| match serde_json::to_value(f) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        })
        .collect()
}

fn columns(rows: &[Map<String, Value>]) -> Vec<String> {
    let mut cols: Vec<String> = vec![];
    for r in rows {
        for k in r.keys() {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    if cols.is_empty() {
        cols = ["kind", "severity", "score", "reason"]
            .map(String::from)
            .to_vec();
    }
    cols
}

fn csv(r: &Report) -> Result<Vec<u8>> {
    let rows = flat(r);
    let cols = columns(&rows);
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| Error::Io {
        op: "write CSV to",
        path: "<memory>".into(),
        source: e.into(),
    };
    w.write_record(&cols).map_err(io)?;
    for row in &rows {
        let fields = cols.iter().map(|c| match row.get(c) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => csv_cell(s.clone()),
            Some(v) => csv_cell(v.to_string()),
        });
        w.write_record(fields).map_err(io)?;
    }
    w.into_inner().map_err(|e| Error::Io {
        op: "write CSV to",
        path: "<memory>".into(),
        source: e.into_error(),
    })
}

fn is_time_column(name: &str) -> bool {
    name.ends_with("_seen") || name == "since" || name == "until"
}

fn parquet(r: &Report) -> Result<Vec<u8>> {
    let rows: Vec<Value> = flat(r).into_iter().map(Value::Object).collect();
    let inferred = infer_json_schema_from_iterator(rows.iter().map(|v| Ok(v.clone())))?;
    // Fixed leading columns even without findings; times typed as timestamps.
    let mut fields: Vec<Field> = vec![
        Field::new("kind", DataType::Utf8, true),
        Field::new("severity", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
        Field::new("reason", DataType::Utf8, true),
    ];
    for f in inferred.fields() {
        if !fields.iter().any(|x| x.name() == f.name()) {
            fields.push(f.as_ref().clone().with_nullable(true));
        }
    }
    let schema = Arc::new(Schema::new(fields));
    let mut decoder = ReaderBuilder::new(schema.clone()).build_decoder()?;
    decoder.serialize(&rows)?;
    let batch = decoder
        .flush()?
        .unwrap_or_else(|| datafusion::arrow::array::RecordBatch::new_empty(schema.clone()));
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut cols = vec![];
    let mut out_fields = vec![];
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        if is_time_column(f.name()) && f.data_type() == &DataType::Utf8 {
            cols.push(cast(c, &ts)?);
            out_fields.push(Field::new(f.name(), ts.clone(), true));
        } else {
            cols.push(c.clone());
            out_fields.push(f.as_ref().clone());
        }
    }
    let mut head = serde_json::to_value(r).expect("a report serialises");
    if let Value::Object(m) = &mut head {
        m.remove("findings");
    }
    let out_schema = Arc::new(Schema::new(out_fields));
    let batch = datafusion::arrow::array::RecordBatch::try_new(out_schema.clone(), cols)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "flowlake.report".to_string(),
            head.to_string(),
        )]))
        .build();
    let mut buf = Vec::new();
    let perr = |source: parquet::errors::ParquetError| Error::Parquet {
        path: "<memory>".into(),
        source,
    };
    let mut w = ArrowWriter::try_new(&mut buf, out_schema, Some(props)).map_err(perr)?;
    w.write(&batch).map_err(perr)?;
    w.close().map_err(perr)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::report::{Counts, Coverage, Kind, Settings, Span};

    fn report() -> Report {
        let settings = Settings::default().check().unwrap();
        let mut ev = Map::new();
        for (k, v) in [
            ("src_ip", json!("10.0.0.4")),
            ("dst_ip", json!("185.220.101.45")),
            ("protocol", json!("tcp")),
            ("dst_port", json!(9443)),
            ("bytes_out", json!(4.0e9)),
            ("rule", json!("DefaultRule_AllowInternetOutBound")),
        ] {
            ev.insert(k.into(), v);
        }
        let f = Finding::new("new_destination", Severity::High, 1.0, ev, &settings);
        let t = chrono::DateTime::UNIX_EPOCH;
        Report {
            report: Kind::Exfil,
            generated_at: t,
            window: Span { since: t, until: t },
            baseline: Span { since: t, until: t },
            source: crate::report::Source::choose(
                &Default::default(),
                (t, t, t),
                true,
                (false, false),
            )
            .unwrap(),
            coverage: Coverage::default(),
            counts: Counts::of(std::slice::from_ref(&f)),
            findings: vec![f],
            top_talkers: vec![],
            timeline: vec![],
            egress_by_country: vec![],
            egress_by_asn: vec![],
            series: Default::default(),
            timings: vec![],
        }
    }

    #[test]
    fn a_table_wraps_only_the_reason_to_the_terminal_width() {
        let r = report();
        let wrapped = table(&r, Some(80));
        let rows: Vec<&str> = wrapped.lines().skip(5).collect();
        assert!(rows.len() > 2, "{wrapped}");
        for l in &rows {
            assert!(l.chars().count() <= 80, "{l:?} is wider than 80");
        }
        assert!(
            rows[1].contains("10.0.0.4 → 185.220.101.45 tcp/9443"),
            "{wrapped}"
        );
        let flat = table(&r, None);
        assert_eq!(flat.lines().count(), 7, "{flat}");
        assert!(
            flat.lines()
                .nth(2)
                .unwrap()
                .starts_with("read from: --raw was given"),
            "{flat}"
        );
        assert!(
            flat.lines().nth(5).unwrap().starts_with("SEVERITY  KIND"),
            "{flat}"
        );
    }

    /// A report whose one finding names a rule taken from the input as `rule`.
    fn report_with_rule(rule: &str) -> Report {
        let mut r = report();
        let settings = Settings::default().check().unwrap();
        let mut ev = Map::new();
        for (k, v) in [
            ("rule", json!(rule)),
            ("nsg", json!("nsg-web")),
            ("public_sensitive_ports", json!(1)),
            ("public_sources", json!(40)),
            ("first_sensitive_port", json!(22)),
            ("public_unexpected_ports", json!(0)),
            ("unexpected_egress_ports", json!(0)),
            ("first_unexpected_egress_port", json!(null)),
        ] {
            ev.insert(k.into(), v);
        }
        r.findings = vec![Finding::new(
            "broad_allow",
            Severity::Medium,
            0.5,
            ev,
            &settings,
        )];
        r
    }

    #[test]
    fn csv_cells_a_spreadsheet_would_run_are_neutralised() {
        let r = report_with_rule("=HYPERLINK(\"http://x\",\"y\")");
        let text = String::from_utf8(csv(&r).unwrap()).unwrap();
        assert!(text.contains("'=HYPERLINK"), "{text}");
        assert!(!text.contains(",=HYPERLINK"), "{text}");
        for (cell, want) in [
            ("-1.5", "-1.5"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("@SUM(1)", "'@SUM(1)"),
            ("plain", "plain"),
        ] {
            assert_eq!(csv_cell(cell.into()), want);
        }
    }

    #[test]
    fn markdown_shows_markup_from_the_input_as_text() {
        let r = report_with_rule("<script>alert(1)</script>|x");
        let md = markdown(&r);
        assert!(!md.contains("<script>"), "{md}");
        assert!(
            md.contains("&lt;script&gt;alert(1)&lt;/script&gt;\\|x"),
            "{md}"
        );
    }

    #[test]
    fn a_huge_name_is_cut_in_a_table_and_kept_whole_elsewhere() {
        let rule = "R".repeat(4 << 20);
        let r = report_with_rule(&rule);
        let text = table(&r, None);
        assert!(text.len() < 10_000, "{} bytes", text.len());
        assert!(text.contains("R…"), "cut with an ellipsis");
        let json = String::from_utf8(render(&r, Format::Json, None).unwrap()).unwrap();
        assert!(json.contains(&rule));
    }
}
