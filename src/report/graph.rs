//! The workloads report's graph: who talks to whom, as inline SVG.
//!
//! Why: a traffic matrix of fifty workloads is a long table; a picture shows at once which
//! namespaces talk to each other, what reaches outside and what the outside reaches. Three
//! columns keep it legible at that size: outside sources on the left, the cluster in the
//! middle (one box per namespace, a row per workload or address), outside destinations on the
//! right. Edges are curves whose width grows with the bytes (log scale); edges new since the
//! baseline are red, edges inside the cluster (loops out of the box and back) dashed. At most
//! [`MAX_EDGES`] are drawn: new edges with a finding above info first, then the edges inside
//! the cluster (its topology), then the heaviest from outside and to outside, half the room
//! each (a thousand small new peers of a scanned port, or heavy egress, would otherwise hide
//! everything else); the table below the graph lists every edge.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::html::esc;
use super::reason::bytes;
use super::{Finding, Severity};

/// Edges drawn at most.
const MAX_EDGES: usize = 150;
const ROW: f64 = 18.0;
const GROUP_GAP: f64 = 30.0;
const TOP: f64 = 40.0;
const WIDTH: f64 = 1100.0;
/// Column edges: left labels end, middle box, right labels start.
const LEFT_END: f64 = 260.0;
const MID_START: f64 = 420.0;
const MID_END: f64 = 680.0;
const RIGHT_START: f64 = 840.0;

struct Edge<'a> {
    src: &'a str,
    dst: &'a str,
    src_outside: bool,
    dst_outside: bool,
    bytes: f64,
    new: bool,
    /// Drawn first: 2 for a new edge above info, 1 for an edge inside the cluster.
    priority: u8,
    reason: &'a str,
}

fn label(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 38 {
        return s.to_string();
    }
    let mut t: String = chars[..37].iter().collect();
    t.push('…');
    t
}

/// The namespace a node of the middle column is drawn in: `shop` of `shop/web`, `nodes` for
/// a Kubernetes node (`node:NAME`), or `addresses` for an address that is no workload.
fn group(node: &str) -> &str {
    if node.starts_with("node:") {
        return "nodes";
    }
    match node.split_once('/') {
        Some((ns, _)) => ns,
        None => "addresses",
    }
}

/// A curve from (x1, y1) to (x2, y2) leaving and arriving horizontally.
fn curve(x1: f64, y1: f64, x2: f64, y2: f64) -> String {
    let c = (x1 + x2) / 2.0;
    format!("M{x1:.0} {y1:.0} C{c:.0} {y1:.0},{c:.0} {y2:.0},{x2:.0} {y2:.0}")
}

/// The edges to draw (see the module docs): by priority; the room left is shared between
/// edges from outside and edges to outside, each by bytes, so heavy egress does not hide
/// what reaches the cluster's services.
fn pick(mut edges: Vec<Edge<'_>>) -> Vec<Edge<'_>> {
    edges.sort_by(|a, b| {
        (b.priority.cmp(&a.priority))
            .then(b.bytes.total_cmp(&a.bytes))
            .then_with(|| (a.src, a.dst).cmp(&(b.src, b.dst)))
    });
    let first = edges
        .iter()
        .take_while(|e| e.priority > 0)
        .count()
        .min(MAX_EDGES);
    let rest = edges.split_off(first);
    let room = MAX_EDGES - first;
    let (inbound, outbound): (Vec<Edge>, Vec<Edge>) = rest.into_iter().partition(|e| e.src_outside);
    let take_in = inbound
        .len()
        .min((room / 2).max(room.saturating_sub(outbound.len())));
    let take_out = outbound.len().min(room - take_in);
    edges.extend(inbound.into_iter().take(take_in));
    edges.extend(outbound.into_iter().take(take_out));
    edges
}

/// The SVG of the `edge` and `new_edge` findings, or `None` when there are none.
pub fn svg(findings: &[Finding]) -> Option<String> {
    let edges: Vec<Edge> = findings
        .iter()
        .filter(|f| f.kind == "edge" || f.kind == "new_edge")
        .filter_map(|f| {
            let src_outside = f.text("src_side") == Some("outside");
            let dst_outside = f.text("dst_side") == Some("outside");
            let new = f.kind == "new_edge";
            let priority = match (
                new && f.severity > Severity::Info,
                src_outside || dst_outside,
            ) {
                (true, _) => 2,
                (false, false) => 1,
                (false, true) => 0,
            };
            Some(Edge {
                src: f.text("src")?,
                dst: f.text("dst")?,
                src_outside,
                dst_outside,
                bytes: f.num("bytes"),
                new,
                priority,
                reason: &f.reason,
            })
        })
        .collect();
    if edges.is_empty() {
        return None;
    }
    let total = edges.len();
    let edges = pick(edges);

    // Rows of each column.
    let mut left: BTreeSet<&str> = BTreeSet::new();
    let mut right: BTreeSet<&str> = BTreeSet::new();
    let mut middle: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in &edges {
        for (node, outside, is_src) in [(e.src, e.src_outside, true), (e.dst, e.dst_outside, false)]
        {
            match (outside, is_src) {
                (true, true) => {
                    left.insert(node);
                }
                (true, false) => {
                    right.insert(node);
                }
                (false, _) => {
                    middle.entry(group(node)).or_default().insert(node);
                }
            }
        }
    }
    let mut y_left = BTreeMap::new();
    for (i, n) in left.iter().enumerate() {
        y_left.insert(*n, TOP + GROUP_GAP + i as f64 * ROW);
    }
    let mut y_right = BTreeMap::new();
    for (i, n) in right.iter().enumerate() {
        y_right.insert(*n, TOP + GROUP_GAP + i as f64 * ROW);
    }
    let mut y_mid = BTreeMap::new();
    let mut boxes = Vec::new();
    let mut y = TOP;
    for (ns, nodes) in &middle {
        let top = y;
        y += GROUP_GAP;
        for n in nodes {
            y_mid.insert(*n, y);
            y += ROW;
        }
        boxes.push((*ns, top, y - top));
        y += 10.0;
    }
    let height = [
        y,
        TOP + GROUP_GAP + left.len() as f64 * ROW,
        TOP + GROUP_GAP + right.len() as f64 * ROW,
    ]
    .into_iter()
    .fold(0.0, f64::max)
        + 30.0;

    let mut o = String::new();
    let _ = write!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-size="12" role="img" aria-label="traffic between workloads">"##
    );
    let _ = write!(
        o,
        r##"<text x="{LEFT_END}" y="20" text-anchor="end" font-weight="600">outside → cluster</text><text x="{mid:.0}" y="20" text-anchor="middle" font-weight="600">cluster (by namespace)</text><text x="{RIGHT_START}" y="20" font-weight="600">cluster → outside</text>"##,
        mid = (MID_START + MID_END) / 2.0
    );
    for (ns, top, h) in &boxes {
        let _ = write!(
            o,
            r##"<rect x="{MID_START}" y="{top:.0}" width="{w:.0}" height="{h:.0}" rx="6" fill="#f5f7f9" stroke="#c5ced8"/><text x="{x:.0}" y="{ty:.0}" font-weight="600" fill="#37474f">{ns}</text>"##,
            w = MID_END - MID_START,
            x = MID_START + 8.0,
            ty = top + 18.0,
            ns = esc(ns)
        );
    }
    // Edges under the labels.
    let max = edges.iter().map(|e| e.bytes).fold(1.0, f64::max);
    for e in &edges {
        let width = 1.0 + 5.0 * (1.0 + e.bytes).ln() / (1.0 + max).ln();
        let color = if e.new { "#c62828" } else { "#78909c" };
        let path = match (e.src_outside, e.dst_outside) {
            (true, false) => curve(LEFT_END + 6.0, y_left[e.src], MID_START, y_mid[e.dst]),
            (false, true) => curve(MID_END, y_mid[e.src], RIGHT_START - 6.0, y_right[e.dst]),
            // Inside the cluster: a loop out of the box's right side and back.
            (false, false) => {
                let (y1, y2) = (y_mid[e.src], y_mid[e.dst]);
                let bulge = MID_END + 20.0 + ((y2 - y1).abs() / 8.0).min(110.0);
                format!(
                    "M{MID_END:.0} {y1:.0} C{bulge:.0} {y1:.0},{bulge:.0} {y2:.0},{MID_END:.0} {y2:.0}"
                )
            }
            (true, true) => continue,
        };
        // Inside the cluster dashed, so its loops read apart from the edges leaving it.
        let dash = match (e.src_outside, e.dst_outside) {
            (false, false) => r#" stroke-dasharray="5 3""#,
            _ => "",
        };
        let _ = write!(
            o,
            r##"<path d="{path}" fill="none" stroke="{color}" stroke-opacity="0.55" stroke-width="{width:.1}"{dash}><title>{t}</title></path>"##,
            t = esc(e.reason)
        );
    }
    for (n, y) in &y_left {
        let _ = write!(
            o,
            r##"<text x="{LEFT_END}" y="{ty:.0}" text-anchor="end">{t}</text>"##,
            ty = y + 4.0,
            t = esc(&label(n))
        );
    }
    for (n, y) in &y_right {
        let _ = write!(
            o,
            r##"<text x="{RIGHT_START}" y="{ty:.0}">{t}</text>"##,
            ty = y + 4.0,
            t = esc(&label(n))
        );
    }
    for (n, y) in &y_mid {
        let name = match n.strip_prefix("node:") {
            Some(node) => node,
            None => n.split_once('/').map_or(*n, |(_, w)| w),
        };
        let _ = write!(
            o,
            r##"<text x="{x:.0}" y="{ty:.0}">{t}</text>"##,
            x = MID_START + 18.0,
            ty = y + 4.0,
            t = esc(&label(name))
        );
    }
    let shown = edges.len();
    let note = if shown < total {
        format!(
            "{shown} of {total} edges drawn (new findings, then inside the cluster, then the heaviest from and to outside); "
        )
    } else {
        String::new()
    };
    let _ = write!(
        o,
        r##"<text x="10" y="{y:.0}" fill="#5a6876">{note}width: bytes (log scale, widest {b}); red: new since the baseline; dashed: inside the cluster</text></svg>"##,
        y = height - 8.0,
        b = esc(&bytes(max))
    );
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Settings, Severity};
    use serde_json::json;

    fn edge(src: &str, dst: &str, sides: (&str, &str), new: bool) -> Finding {
        let ev = serde_json::from_value(json!({
            "src": src, "src_side": sides.0, "dst": dst, "dst_side": sides.1, "protocol": "tcp",
            "ports": 1, "min_port": 443, "max_port": 443, "bytes": 1000, "flows": 1, "tuples": 1,
            "first_seen": "2026-11-03T00:00:00Z"
        }))
        .unwrap();
        let kind = if new { "new_edge" } else { "edge" };
        Finding::new(
            kind,
            Severity::Info,
            0.1,
            ev,
            &Settings::default().check().unwrap(),
        )
    }

    #[test]
    fn namespaces_are_boxes_and_new_edges_red() {
        let s = svg(&[
            edge("shop/web", "billing/api", ("internal", "internal"), false),
            edge("shop/web", "52.1.2.0/24", ("internal", "outside"), true),
            edge(
                "198.51.100.0/24",
                "shop/web",
                ("outside", "internal"),
                false,
            ),
        ])
        .unwrap();
        assert!(
            s.contains(">shop</text>") && s.contains(">billing</text>"),
            "{s}"
        );
        assert_eq!(s.matches("<path").count(), 3);
        assert_eq!(s.matches("#c62828").count(), 1, "the one new edge");
        assert!(svg(&[]).is_none());
    }

    /// Hundreds of small new peers (a scanned port) do not push the cluster's own edges or
    /// the new edge with a finding out of the picture.
    #[test]
    fn findings_and_the_clusters_edges_are_drawn_before_small_new_peers() {
        let mut edges: Vec<Finding> = (0..300)
            .map(|k| {
                let src = format!("61.{}.{}.0/24", k / 200, k % 200);
                edge(&src, "node:n1", ("outside", "internal"), true)
            })
            .collect();
        edges.push(edge(
            "shop/web",
            "shop/cart",
            ("internal", "internal"),
            false,
        ));
        let mut upload = edge(
            "shop/cart",
            "185.220.101.0/24",
            ("internal", "outside"),
            true,
        );
        upload.severity = Severity::Medium;
        edges.push(upload);
        let s = svg(&edges).unwrap();
        assert_eq!(s.matches("<path").count(), MAX_EDGES);
        assert!(
            s.contains("185.220.101.0/24") && s.contains(">cart</text>"),
            "the finding's edge and the cluster's own edge are drawn"
        );
        assert!(
            s.contains("150 of 302 edges drawn (new findings, then"),
            "the note"
        );
    }

    /// Heavy egress leaves room for what reaches the cluster from outside.
    #[test]
    fn the_room_is_shared_between_edges_from_and_to_outside() {
        let mut edges: Vec<Finding> = (0..200)
            .map(|k| {
                let dst = format!("52.{k}.0.0/24");
                let mut e = edge("shop/web", &dst, ("internal", "outside"), false);
                e.evidence.insert("bytes".into(), json!(1_000_000 + k));
                e
            })
            .collect();
        edges.extend((0..10).map(|k| {
            let src = format!("81.{k}.0.0/24");
            edge(&src, "shop/web", ("outside", "internal"), false)
        }));
        let s = svg(&edges).unwrap();
        assert_eq!(s.matches("<path").count(), MAX_EDGES);
        for k in 0..10 {
            assert!(s.contains(&format!(">81.{k}.0.0/24</text>")), "inbound {k}");
        }
    }
}
