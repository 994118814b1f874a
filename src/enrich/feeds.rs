//! IP lists as they are published: plain lists, Spamhaus DROP (JSON lines and the legacy
//! text), Spamhaus ASN-DROP, FireHOL netsets and ipsets, Tor exit lists, and abuse.ch Feodo
//! Tracker's CSV and text blocklists.
//!
//! Why: threat intelligence arrives as files that a job downloads every day; a tool that asks
//! for them to be edited first is a tool whose lists go stale. Each file is read as
//! downloaded, its format told from its content ([`detect`]), every entry keeping the label
//! the publisher gave it (the SBL id, the malware family, the relay's fingerprint). A line
//! that cannot be read is a [`LineReject`] naming its line, and the rest of the feed loads.
//! Azure service tags, one JSON document, are read by [`super::sets`].

use serde_json::{Map, Value};

use crate::addr::Cidr;

/// The published formats, told apart by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Format {
    /// One address, CIDR block or `AS` number per line, an optional label after it, `#`
    /// comments (also Tor's bulk exit list, which is bare addresses).
    List,
    /// A FireHOL `.netset` / `.ipset`: a plain list under a `#` header naming the ipset.
    FireHol,
    /// Spamhaus DROP in its legacy text form: `CIDR ; SBL id`, `;` comments (also the
    /// legacy ASN-DROP text: `AS number ; CC | NAME`).
    SpamhausText,
    /// Spamhaus DROP as JSON lines (`drop_v4.json`, `drop_v6.json`): `cidr`, `sblid`, `rir`,
    /// and a closing metadata line.
    SpamhausDrop,
    /// Spamhaus ASN-DROP as JSON lines (`asndrop.json`): `asn`, `cc`, `asname`, `domain`,
    /// `rir`, and a closing metadata line; matched through an ASN database.
    SpamhausAsnDrop,
    /// Tor's exit list in its TorDNSEL form (`ExitNode`, `ExitAddress` records).
    TorExits,
    /// abuse.ch Feodo Tracker's CSV: `first_seen_utc,dst_ip,dst_port,c2_status,last_online,malware`.
    FeodoCsv,
    /// abuse.ch Feodo Tracker's plain text (one address per line under its `#` header).
    FeodoText,
    /// An Azure service-tags document (`ServiceTags_Public_*.json`).
    ServiceTags,
}

impl Format {
    /// The format's name as users know it.
    pub fn name(self) -> &'static str {
        match self {
            Format::List => "list",
            Format::FireHol => "FireHOL ipset",
            Format::SpamhausText => "Spamhaus DROP (text)",
            Format::SpamhausDrop => "Spamhaus DROP",
            Format::SpamhausAsnDrop => "Spamhaus ASN-DROP",
            Format::TorExits => "Tor exit list",
            Format::FeodoCsv => "abuse.ch Feodo Tracker (CSV)",
            Format::FeodoText => "abuse.ch Feodo Tracker",
            Format::ServiceTags => "Azure service tags",
        }
    }
}

/// What an entry lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// An address or CIDR block.
    Net(Cidr),
    /// An autonomous system: every address an ASN database places in it.
    Asn(u32),
}

/// One entry of a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    /// What it lists.
    pub item: Item,
    /// The publisher's label (SBL id, malware family, relay), if any.
    pub label: Option<String>,
}

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineReject {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// A feed as read: its entries in file order, and the lines that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    /// The format it was read as.
    pub format: Format,
    /// The list's own name or date where its header gives one (`firehol_level1`,
    /// `Spamhaus DROP List 2026/11/30`).
    pub title: Option<String>,
    /// The entries.
    pub entries: Vec<FeedEntry>,
    /// Unreadable lines.
    pub rejects: Vec<LineReject>,
}

impl Feed {
    /// How findings name the feed: its title when it has one, else its format.
    pub fn describe(&self) -> String {
        match (&self.title, self.format) {
            (Some(t), Format::FireHol) => format!("FireHOL {t}"),
            (Some(t), _) => t.clone(),
            (None, f) => f.name().to_string(),
        }
    }
}

/// The lines that carry data: not blank, not a `#` or `;` comment. With 1-based numbers.
fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
}

/// The comment lines of the header (before the first data line), without their markers.
fn header(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .take_while(|l| l.is_empty() || l.starts_with('#') || l.starts_with(';'))
        .map(|l| l.trim_start_matches(['#', ';']).trim())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Tells the format from the content: the first data line's shape and the header's words.
pub fn detect(text: &str) -> Format {
    let text = text.trim_start_matches('\u{feff}');
    let first = data_lines(text).next().map(|(_, l)| l);
    if let Some(first) = first.filter(|l| l.starts_with('{')) {
        let object = serde_json::from_str::<Map<String, Value>>(first).ok();
        let has = |k: &str| object.as_ref().is_some_and(|o| o.contains_key(k));
        let metadata = object
            .as_ref()
            .and_then(|o| o.get("type"))
            .and_then(Value::as_str)
            == Some("metadata");
        // One object per line (Spamhaus), else one document (service tags); a first line
        // that is cut is told by the keys further on.
        let unsure = object.is_none() || metadata;
        return if has("cidr") || (unsure && text.contains("\"cidr\"")) {
            Format::SpamhausDrop
        } else if has("asn") || (unsure && text.contains("\"asn\"")) {
            Format::SpamhausAsnDrop
        } else if metadata {
            Format::SpamhausDrop
        } else {
            Format::ServiceTags
        };
    }
    if data_lines(text)
        .take(8)
        .any(|(_, l)| l.starts_with("ExitNode "))
    {
        return Format::TorExits;
    }
    let head = header(text).join("\n");
    if head.contains("dst_ip") || first.is_some_and(|l| l.starts_with('"')) {
        return Format::FeodoCsv;
    }
    if head.contains("Feodo Tracker") {
        return Format::FeodoText;
    }
    if head.contains("Spamhaus") || text.trim_start().starts_with(';') {
        return Format::SpamhausText;
    }
    if head.contains("FireHOL") || head.contains("hash:net") || head.contains("hash:ip") {
        return Format::FireHol;
    }
    Format::List
}

/// Reads a feed in any format but Azure service tags (see [`detect`]).
pub fn read(text: &str) -> Feed {
    read_as(text, detect(text))
}

/// Reads a feed whose format [`detect`] told already.
pub fn read_as(text: &str, format: Format) -> Feed {
    let text = text.trim_start_matches('\u{feff}');
    let mut feed = Feed {
        format,
        title: None,
        entries: vec![],
        rejects: vec![],
    };
    match format {
        Format::SpamhausDrop | Format::SpamhausAsnDrop => read_json_lines(text, &mut feed),
        Format::TorExits => read_tor(text, &mut feed),
        Format::FeodoCsv => read_feodo_csv(text, &mut feed),
        Format::List
        | Format::FireHol
        | Format::SpamhausText
        | Format::FeodoText
        | Format::ServiceTags => read_list(text, &mut feed),
    }
    feed.title = feed.title.take().or_else(|| title(format, &header(text)));
    feed
}

/// The list's own name from its header, where the format has one.
fn title(format: Format, head: &[&str]) -> Option<String> {
    match format {
        // FireHOL: the ipset's name is the first header line that is one word.
        Format::FireHol => head
            .iter()
            .find(|l| !l.contains(char::is_whitespace))
            .map(|l| l.to_string()),
        // "Spamhaus DROP List 2026/11/30 - (c) 2026 The Spamhaus Project SLU"
        Format::SpamhausText => head
            .iter()
            .find(|l| l.contains("Spamhaus"))
            .map(|l| l.split(" - ").next().unwrap_or(l).trim().to_string()),
        Format::FeodoCsv | Format::FeodoText => head
            .iter()
            .find(|l| l.contains("Feodo Tracker"))
            .map(|l| l.trim_end_matches('#').trim().to_string()),
        _ => None,
    }
}

/// `AS208294`, `as208294` or `208294` (with `asn`) as a number.
fn as_number(s: &str) -> Option<u32> {
    let s = s.trim();
    let digits = s
        .strip_prefix("AS")
        .or_else(|| s.strip_prefix("as"))
        .unwrap_or(s);
    digits.parse().ok()
}

/// Plain, FireHOL, Spamhaus text and Feodo text lists: `ENTRY [;] [LABEL] [# comment]`.
fn read_list(text: &str, feed: &mut Feed) {
    for (n, line) in data_lines(text) {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (entry, label) = match line.find([';', ' ', '\t']) {
            Some(i) => (
                &line[..i],
                line[i..].trim_start_matches([';', ' ', '\t']).trim(),
            ),
            None => (line, ""),
        };
        let label = (!label.is_empty()).then(|| label.to_string());
        let item = if entry.starts_with("AS") || entry.starts_with("as") {
            as_number(entry).map(Item::Asn)
        } else {
            Cidr::parse(entry).map(Item::Net)
        };
        match item {
            Some(Item::Asn(a)) => feed.entries.push(FeedEntry {
                item: Item::Asn(a),
                label: Some(match label {
                    Some(l) => format!("AS{a} {l}"),
                    None => format!("AS{a}"),
                }),
            }),
            Some(item) => feed.entries.push(FeedEntry { item, label }),
            None => feed.rejects.push(LineReject {
                line: n,
                message: format!("'{entry}' is not an address, a CIDR block or an AS number"),
            }),
        }
    }
}

/// Spamhaus DROP and ASN-DROP: one JSON object per line, the last one metadata.
fn read_json_lines(text: &str, feed: &mut Feed) {
    let name = feed.format.name();
    for (n, line) in data_lines(text) {
        let mut bad = |message: String| feed.rejects.push(LineReject { line: n, message });
        let o = match serde_json::from_str::<Map<String, Value>>(line) {
            Ok(o) => o,
            Err(e) => {
                bad(format!("not a JSON object: {e}"));
                continue;
            }
        };
        let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::trim);
        if text("type") == Some("metadata") {
            // "Spamhaus DROP of 2026-11-30": the list's date, from its timestamp.
            let date = o
                .get("timestamp")
                .and_then(Value::as_i64)
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|t| t.format("%Y-%m-%d").to_string());
            feed.title = date.map(|d| format!("{name} of {d}"));
            continue;
        }
        match feed.format {
            Format::SpamhausAsnDrop => {
                let asn = match o.get("asn") {
                    Some(Value::Number(v)) => v.as_u64().and_then(|v| u32::try_from(v).ok()),
                    Some(Value::String(s)) => as_number(s),
                    _ => None,
                };
                let Some(asn) = asn else {
                    bad(format!("no AS number in 'asn': {line}"));
                    continue;
                };
                // "AS208294 EXAMPLE-AS (DE)"
                let mut label = format!("AS{asn}");
                if let Some(n) = text("asname").filter(|s| !s.is_empty()) {
                    label = format!("{label} {n}");
                }
                if let Some(cc) = text("cc").filter(|s| !s.is_empty()) {
                    label = format!("{label} ({cc})");
                }
                feed.entries.push(FeedEntry {
                    item: Item::Asn(asn),
                    label: Some(label),
                });
            }
            _ => {
                let Some(cidr) = text("cidr").and_then(Cidr::parse) else {
                    bad(format!("no CIDR block in 'cidr': {line}"));
                    continue;
                };
                feed.entries.push(FeedEntry {
                    item: Item::Net(cidr),
                    label: text("sblid").filter(|s| !s.is_empty()).map(str::to_string),
                });
            }
        }
    }
}

/// TorDNSEL's exit list: `ExitNode FINGERPRINT` opens a relay's record, each `ExitAddress
/// ADDRESS TIME` line lists one of its exit addresses.
fn read_tor(text: &str, feed: &mut Feed) {
    let mut relay: Option<String> = None;
    for (n, line) in data_lines(text) {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("ExitNode") => relay = words.next().map(str::to_string),
            Some("ExitAddress") => match words.next().and_then(Cidr::parse) {
                Some(cidr) if cidr.is_single() => feed.entries.push(FeedEntry {
                    item: Item::Net(cidr),
                    label: Some(match &relay {
                        Some(r) => format!("Tor exit {r}"),
                        None => "Tor exit".to_string(),
                    }),
                }),
                _ => feed.rejects.push(LineReject {
                    line: n,
                    message: format!("ExitAddress without an address: '{line}'"),
                }),
            },
            // Published, LastStatus: times of the record.
            _ => {}
        }
    }
    feed.title = Some("Tor exit list".into());
}

/// Feodo Tracker's CSV: `"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"`.
fn read_feodo_csv(text: &str, feed: &mut Feed) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .comment(Some(b'#'))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                feed.rejects.push(LineReject {
                    line,
                    message: format!("not a CSV row: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        // A header row without the comment marker.
        if record.get(1) == Some("dst_ip") {
            continue;
        }
        let Some(cidr) = record.get(1).and_then(Cidr::parse) else {
            feed.rejects.push(LineReject {
                line,
                message: format!(
                    "'{}' in column dst_ip is not an address",
                    record.get(1).unwrap_or("")
                ),
            });
            continue;
        };
        let malware = record.get(5).filter(|s| !s.is_empty()).unwrap_or("botnet");
        let label = match record.get(2).filter(|s| !s.is_empty()) {
            Some(port) => format!("{malware} C2 (port {port})"),
            None => format!("{malware} C2"),
        };
        feed.entries.push(FeedEntry {
            item: Item::Net(cidr),
            label: Some(label),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(f: &Feed) -> Vec<(String, Option<&str>)> {
        f.entries
            .iter()
            .map(|e| {
                let item = match e.item {
                    Item::Net(c) => c.to_string(),
                    Item::Asn(a) => format!("AS{a}"),
                };
                (item, e.label.as_deref())
            })
            .collect()
    }

    #[test]
    fn plain_lists_take_labels_comments_and_as_numbers() {
        let f = read(
            "# mine\n203.0.113.0/24 botnet-c2\n198.51.100.7   # no label\n\n2001:db8::/32 doc net\nAS64500 test AS\nnot-an-ip x\n",
        );
        assert_eq!(f.format, Format::List);
        assert_eq!(
            nets(&f),
            [
                ("203.0.113.0/24".into(), Some("botnet-c2")),
                ("198.51.100.7/32".into(), None),
                ("2001:db8::/32".into(), Some("doc net")),
                ("AS64500".into(), Some("AS64500 test AS")),
            ]
        );
        assert_eq!(f.rejects.len(), 1);
        assert_eq!(f.rejects[0].line, 7);
        assert!(f.rejects[0].message.contains("not-an-ip"));
        assert_eq!(f.describe(), "list");
    }

    fn fixture(name: &str) -> Feed {
        let path = format!("{}/tests/fixtures/feeds/{name}", env!("CARGO_MANIFEST_DIR"));
        read(&std::fs::read_to_string(path).unwrap())
    }

    fn lines(f: &Feed) -> Vec<usize> {
        f.rejects.iter().map(|r| r.line).collect()
    }

    #[test]
    fn spamhaus_drop_json_lines_label_sbl_ids_and_date_the_feed() {
        let f = fixture("drop_v4.json");
        assert_eq!(f.format, Format::SpamhausDrop);
        assert_eq!(f.describe(), "Spamhaus DROP of 2025-11-30");
        assert_eq!(
            nets(&f),
            [
                ("1.10.16.0/20".into(), Some("SBL256894")),
                ("2.56.192.0/22".into(), Some("SBL459831")),
                ("45.95.147.0/24".into(), Some("SBL612345")),
                ("223.254.0.0/16".into(), Some("SBL212803")),
            ]
        );
        assert_eq!(lines(&f), [4, 5]);
        assert!(f.rejects[0].message.contains("not a JSON object"));
        assert!(f.rejects[1].message.contains("not-a-block"));
        let f = fixture("drop_v6.json");
        assert_eq!(f.format, Format::SpamhausDrop);
        assert_eq!(nets(&f)[1], ("2a06:e480::/29".into(), Some("SBL302253")));
        assert!(f.rejects.is_empty());
    }

    #[test]
    fn spamhaus_legacy_text_reads_like_its_json() {
        let f = fixture("drop.txt");
        assert_eq!(f.format, Format::SpamhausText);
        assert_eq!(f.describe(), "Spamhaus DROP List 2025/11/30");
        assert_eq!(nets(&f)[0], ("1.10.16.0/20".into(), Some("SBL256894")));
        assert_eq!(f.entries.len(), 4);
        assert_eq!(lines(&f), [8]);
        // The legacy ASN-DROP text: AS numbers with "CC | NAME".
        let f = read("; Spamhaus ASN-DROP List 2025/11/30\nAS208294 ; DE | EXAMPLE-AS\n");
        assert_eq!(
            nets(&f),
            [("AS208294".into(), Some("AS208294 DE | EXAMPLE-AS"))]
        );
    }

    #[test]
    fn spamhaus_asn_drop_lists_autonomous_systems() {
        let f = fixture("asndrop.json");
        assert_eq!(f.format, Format::SpamhausAsnDrop);
        assert_eq!(f.describe(), "Spamhaus ASN-DROP of 2025-11-30");
        assert_eq!(
            nets(&f),
            [
                ("AS208294".into(), Some("AS208294 EXAMPLE-AS (DE)")),
                ("AS49870".into(), Some("AS49870 ALSYCON (NL)")),
            ]
        );
        assert_eq!(lines(&f), [3]);
    }

    #[test]
    fn firehol_netsets_are_named_by_their_ipset() {
        let f = fixture("firehol_level1.netset");
        assert_eq!(f.format, Format::FireHol);
        assert_eq!(f.describe(), "FireHOL firehol_level1");
        assert_eq!(f.entries.len(), 4);
        assert_eq!(nets(&f)[2], ("185.220.101.0/24".into(), None));
        assert_eq!(lines(&f), [30]);
    }

    #[test]
    fn tor_exit_lists_in_both_forms() {
        let f = fixture("exit-addresses");
        assert_eq!(f.format, Format::TorExits);
        assert_eq!(
            nets(&f),
            [
                (
                    "185.220.101.45/32".into(),
                    Some("Tor exit 0011BD2485AD45D984EC4159C88FC066E5E3300E")
                ),
                (
                    "198.51.100.23/32".into(),
                    Some("Tor exit 0091174DE56EADD69F4E7A3F1DB6B4B6B2B4D9E1")
                ),
                (
                    "2001:db8:1::23/128".into(),
                    Some("Tor exit 0091174DE56EADD69F4E7A3F1DB6B4B6B2B4D9E1")
                ),
            ]
        );
        assert_eq!(lines(&f), [13]);
        let f = fixture("torbulkexitlist");
        assert_eq!(f.format, Format::List);
        assert_eq!(f.entries.len(), 3);
        assert_eq!(lines(&f), [3]);
    }

    #[test]
    fn feodo_tracker_csv_and_text() {
        let f = fixture("ipblocklist.csv");
        assert_eq!(f.format, Format::FeodoCsv);
        assert_eq!(
            f.describe(),
            "abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)"
        );
        assert_eq!(
            nets(&f),
            [
                ("45.95.147.236/32".into(), Some("QakBot C2 (port 443)")),
                ("203.0.113.45/32".into(), Some("Emotet C2 (port 8080)")),
                ("198.51.100.88/32".into(), Some("Pikabot C2 (port 2222)")),
            ]
        );
        assert_eq!(lines(&f), [12]);
        assert!(f.rejects[0].message.contains("203.0.113.999"));
        let f = fixture("ipblocklist.txt");
        assert_eq!(f.format, Format::FeodoText);
        assert_eq!(
            f.describe(),
            "abuse.ch Feodo Tracker Botnet C2 IP Blocklist"
        );
        assert_eq!(f.entries.len(), 3);
        assert!(f.rejects.is_empty());
    }

    #[test]
    fn service_tags_and_garbage_are_told_apart() {
        assert_eq!(
            detect("{\n  \"changeNumber\": 1,\n  \"values\": []\n}"),
            Format::ServiceTags
        );
        assert_eq!(
            detect("{\"changeNumber\": 1, \"values\": []}"),
            Format::ServiceTags
        );
        let f = read("\u{feff}10.0.0.0/8\r\nbinary\u{1}junk\r\n");
        assert_eq!(f.entries.len(), 1);
        assert_eq!(lines(&f), [2]);
    }
}
