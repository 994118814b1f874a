//! A report as one self-contained HTML page: summary, charts (and the workloads report's
//! graph, [`super::graph`]), findings.
//!
//! Why: a report mailed to a team or attached to an incident must open anywhere, offline, with
//! nothing fetched from the network. Styles are inline, charts are inline SVG drawn here (no
//! script, no fonts, no images), and every text from the data is escaped. A Content Security
//! Policy forbids every fetch, so a browser reports any that slips in as a console error.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::reason::{bytes, count};
use super::render::subject;
use super::sql::time_of;
use super::{Report, Severity};

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1200px;color:#1d2733;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde3ea;padding-bottom:4px}
.meta{color:#5a6876}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0}
.card{border:1px solid #dde3ea;border-radius:6px;padding:8px 14px;min-width:120px}.card b{display:block;font-size:20px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eef1f4;vertical-align:top}
th{background:#f5f7f9}td.num{text-align:right;white-space:nowrap}
.sev{display:inline-block;border-radius:4px;padding:0 6px;font-weight:600;font-size:12px;color:#fff}
.high{background:#c62828}.medium{background:#ef6c00}.low{background:#1565c0}.info{background:#78909c}
.charts{display:flex;flex-wrap:wrap;gap:14px}.chart{border:1px solid #eef1f4;border-radius:6px;padding:6px}
.chart p{margin:0 0 2px;font-size:12px}svg text{font-size:10px;fill:#5a6876}
details summary{cursor:pointer;color:#1565c0}pre{white-space:pre-wrap;font-size:12px;background:#f5f7f9;padding:6px}";

/// A named, coloured series of (hour, value) points.
type Series<'a> = (&'a str, &'a str, Vec<(DateTime<Utc>, f64)>);

/// An SVG line chart of several series over hours; y in bytes or counts.
fn line_chart(title: &str, series: &[Series<'_>], w: f64, h: f64, unit_bytes: bool) -> String {
    let (l, r, t, b) = (58.0, 10.0, 8.0, 22.0);
    let pts: Vec<&(DateTime<Utc>, f64)> = series.iter().flat_map(|s| s.2.iter()).collect();
    let mut svg = format!(
        r#"<div class="chart"><p>{}</p><svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="{}">"#,
        esc(title),
        esc(title)
    );
    let (Some(x0), Some(x1)) = (pts.iter().map(|p| p.0).min(), pts.iter().map(|p| p.0).max())
    else {
        svg.push_str(r#"<text x="10" y="20">no data</text></svg></div>"#);
        return svg;
    };
    let ymax = pts.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0);
    let span = ((x1 - x0).num_seconds() as f64).max(1.0);
    let x = |d: DateTime<Utc>| l + (w - l - r) * ((d - x0).num_seconds() as f64) / span;
    let y = |v: f64| t + (h - t - b) * (1.0 - v / ymax);
    let label = |v: f64| if unit_bytes { bytes(v) } else { count(v) };
    let _ = write!(
        svg,
        r##"<line x1="{l}" y1="{}" x2="{}" y2="{}" stroke="#ccd3da"/><text x="2" y="{}">{}</text><text x="2" y="{}">0</text>"##,
        h - b,
        w - r,
        h - b,
        t + 8.0,
        esc(&label(ymax)),
        h - b
    );
    let _ = write!(
        svg,
        r#"<text x="{l}" y="{}">{}</text><text x="{}" y="{}" text-anchor="end">{}</text>"#,
        h - 6.0,
        x0.format("%m-%d %H:%M"),
        w - r,
        h - 6.0,
        x1.format("%m-%d %H:%M")
    );
    for (name, color, s) in series {
        if s.is_empty() {
            continue;
        }
        let mut d = String::new();
        for (i, (tx, v)) in s.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                x(*tx),
                y(*v)
            );
        }
        if s.len() == 1 {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"><title>{}</title></circle>"#,
                x(s[0].0),
                y(s[0].1),
                esc(name)
            );
        }
        let _ = write!(
            svg,
            r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="1.6"><title>{}</title></path>"#,
            esc(name)
        );
    }
    svg.push_str("</svg>");
    if series.len() > 1 {
        svg.push_str("<p>");
        for (name, color, _) in series {
            let _ = write!(
                svg,
                r#"<span style="color:{color}">■</span> {} &nbsp; "#,
                esc(name)
            );
        }
        svg.push_str("</p>");
    }
    svg.push_str("</div>");
    svg
}

/// Horizontal bars: label and value.
fn bar_chart(title: &str, bars: &[(String, f64)], w: f64) -> String {
    let row = 20.0;
    let h = row * bars.len() as f64 + 8.0;
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1.0);
    let mut svg = format!(
        r#"<div class="chart"><p>{}</p><svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="{}">"#,
        esc(title),
        esc(title)
    );
    let (l, r) = (130.0, 80.0);
    for (i, (name, v)) in bars.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let bw = ((w - l - r) * v / max).max(1.0);
        let _ = write!(
            svg,
            r##"<text x="0" y="{}">{}</text><rect x="{l}" y="{}" width="{bw:.1}" height="{}" fill="#1565c0"><title>{}</title></rect><text x="{:.1}" y="{}">{}</text>"##,
            y + 13.0,
            esc(name),
            y + 3.0,
            row - 6.0,
            esc(&bytes(*v)),
            l + bw + 4.0,
            y + 13.0,
            esc(&bytes(*v))
        );
    }
    svg.push_str("</svg></div>");
    svg
}

/// A bar's label for a place row of `egress_places.sql`: `DE Germany`, `AS208294 Example
/// Ltd`, or `not placed`; cut to fit the label column.
fn place_label(row: &Map<String, Value>, asn: bool) -> String {
    let text = |k: &str| row.get(k).and_then(Value::as_str);
    let label = match (text("place"), text("name")) {
        (None, _) => "not placed".to_string(),
        (Some(p), name) => {
            let p = if asn { format!("AS{p}") } else { p.to_string() };
            match name {
                Some(n) => format!("{p} {n}"),
                None => p,
            }
        }
    };
    match label.char_indices().nth(20) {
        Some((i, _)) => format!("{}…", &label[..i]),
        None => label,
    }
}

fn series_of(rows: &[Map<String, Value>], key: &str) -> Vec<(DateTime<Utc>, f64)> {
    rows.iter()
        .filter_map(|r| Some((time_of(r.get("hour"))?, r.get(key)?.as_f64()?)))
        .collect()
}

/// The whole page.
pub fn page(r: &Report) -> String {
    let c = &r.coverage;
    let t = |d: DateTime<Utc>| d.format("%Y-%m-%d %H:%M UTC").to_string();
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"><title>flowlake {} report</title><style>{STYLE}</style></head><body>"#,
        r.report
    );
    let _ = write!(
        o,
        r#"<h1>flowlake {} report</h1><div class="meta">Window {} → {} · baseline {} → {} · generated {} · read from {}</div>"#,
        r.report,
        t(r.window.since),
        t(r.window.until),
        t(r.baseline.since),
        t(r.baseline.until),
        t(r.generated_at),
        esc(&r.source.why)
    );
    o.push_str(r#"<div class="cards">"#);
    for s in [
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let _ = write!(
            o,
            r#"<div class="card"><span class="sev {0}">{0}</span><b>{1}</b>findings</div>"#,
            s,
            r.counts.get(s)
        );
    }
    let _ = write!(
        o,
        r#"<div class="card">NICs<b>{}</b>{} in window</div><div class="card">hours with data<b>{}/{}</b>baseline {}</div><div class="card">tuples<b>{}</b>baseline {}</div><div class="card">gaps<b>{}</b>NIC stretches</div></div>"#,
        c.nics,
        c.nics_in_window,
        c.window_hours_with_data,
        c.window_hours,
        c.baseline_hours_with_data,
        count(c.tuples as f64),
        count(c.baseline_tuples as f64),
        c.gaps_total
    );

    if let Some(svg) = super::graph::svg(&r.findings) {
        o.push_str(r#"<h2>Who talks to whom</h2><div class="graph">"#);
        o.push_str(&svg);
        o.push_str("</div>");
    }

    let charted = !r.egress_by_country.is_empty() || !r.egress_by_asn.is_empty();
    if !r.timeline.is_empty() || !r.top_talkers.is_empty() || charted {
        o.push_str(r#"<h2>Traffic</h2><div class="charts">"#);
        if !r.timeline.is_empty() {
            o.push_str(&line_chart(
                "Bytes per hour",
                &[
                    (
                        "to external",
                        "#c62828",
                        series_of(&r.timeline, "bytes_to_external"),
                    ),
                    (
                        "from external",
                        "#1565c0",
                        series_of(&r.timeline, "bytes_from_external"),
                    ),
                    ("all allowed", "#78909c", series_of(&r.timeline, "bytes")),
                ],
                720.0,
                220.0,
                true,
            ));
        }
        if !r.top_talkers.is_empty() {
            let bars: Vec<(String, f64)> = r
                .top_talkers
                .iter()
                .map(|t| {
                    (
                        t.get("ip")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                            .to_string(),
                        t.get("bytes").and_then(Value::as_f64).unwrap_or(0.0),
                    )
                })
                .collect();
            o.push_str(&bar_chart("Top talkers (bytes moved)", &bars, 420.0));
        }
        for (title, rows, asn) in [
            ("Bytes out by country", &r.egress_by_country, false),
            ("Bytes out by network (AS)", &r.egress_by_asn, true),
        ] {
            if !rows.is_empty() {
                let bars: Vec<(String, f64)> = rows
                    .iter()
                    .map(|p| {
                        let v = p.get("bytes_out").and_then(Value::as_f64).unwrap_or(0.0);
                        (place_label(p, asn), v)
                    })
                    .collect();
                o.push_str(&bar_chart(title, &bars, 420.0));
            }
        }
        o.push_str("</div>");
    }

    if !r.series.is_empty() {
        o.push_str(r#"<h2>Top findings over time</h2><div class="charts">"#);
        for (i, s) in &r.series {
            let f = &r.findings[*i];
            let unit_bytes = f.kind != "scan_pressure";
            o.push_str(&line_chart(
                &format!("#{} {} · {}", i + 1, f.kind, subject(f)),
                &[(
                    if unit_bytes { "bytes" } else { "tuples" },
                    "#c62828",
                    s.clone(),
                )],
                360.0,
                120.0,
                unit_bytes,
            ));
        }
        o.push_str("</div>");
    }

    o.push_str("<h2>Findings</h2>");
    if r.findings.is_empty() {
        o.push_str("<p>No findings.</p>");
    } else {
        o.push_str("<table><thead><tr><th>#</th><th>Severity</th><th>Kind</th><th>Score</th><th>Subject</th><th>Reason and evidence</th></tr></thead><tbody>");
        for (i, f) in r.findings.iter().enumerate() {
            let ev = serde_json::to_string_pretty(&f.evidence).unwrap_or_default();
            let _ = write!(
                o,
                r#"<tr><td class="num">{n}</td><td><span class="sev {sev}">{sev}</span></td><td>{kind}</td><td class="num">{score:.2}</td><td>{subject}</td><td>{reason}<details><summary>evidence</summary><pre>{ev}</pre></details></td></tr>"#,
                n = i + 1,
                sev = f.severity,
                kind = esc(&f.kind),
                score = f.score,
                subject = esc(&subject(f)),
                reason = esc(&f.reason),
                ev = esc(&ev)
            );
        }
        o.push_str("</tbody></table>");
    }

    if !c.gaps.is_empty() {
        o.push_str("<h2>Coverage gaps</h2><table><thead><tr><th>NIC</th><th>From</th><th>Until</th><th>Hours</th></tr></thead><tbody>");
        for g in &c.gaps {
            let _ = write!(
                o,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td></tr>"#,
                esc(&g.nic),
                t(g.since),
                t(g.until),
                g.hours
            );
        }
        o.push_str("</tbody></table>");
    }
    o.push_str(r#"<p class="meta">flowlake · every finding's evidence is in the JSON output (<code>--format json</code>).</p></body></html>"#);
    o.push('\n');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
