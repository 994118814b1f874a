//! Threat feeds read as published (tests/fixtures/feeds: Spamhaus DROP as JSON lines and as
//! legacy text, Spamhaus ASN-DROP through an ASN database, FireHOL, Tor exit lists, Feodo
//! Tracker CSV and text): each entry carries its publisher's label, each malformed line is
//! named with file and line while the rest of the feed loads, and `threat_intel` findings name
//! the feed and the entry's label.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::flowlake;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/feeds")
        .join(name)
}

/// `flowlake sql` on a small lake with `sets` loaded: (exit code, rows, stderr).
fn sql(sets: &[(&str, &str)], extra: &[String], query: &str) -> (i32, Vec<Value>, String) {
    let mut args = vec![
        "sql".to_string(),
        "--lake".into(),
        crate::geo::lake().display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    for (name, file) in sets {
        args.extend([
            "--set".into(),
            format!("{name}={}", fixture(file).display()),
        ]);
    }
    args.extend(extra.iter().cloned());
    args.push(query.into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = flowlake(&args, &[]);
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_published_format_loads_with_its_labels_and_names_its_bad_lines() {
    let sets = [
        ("drop", "drop_v4.json"),
        ("drop6", "drop_v6.json"),
        ("droptxt", "drop.txt"),
        ("firehol", "firehol_level1.netset"),
        ("tor", "exit-addresses"),
        ("torbulk", "torbulkexitlist"),
        ("feodo", "ipblocklist.csv"),
        ("feodotxt", "ipblocklist.txt"),
    ];
    let query = "SELECT ip_set_label('45.95.147.236', 'drop') AS drop, \
        ip_set_label('2a06:e480::1', 'drop6') AS drop6, \
        ip_set_label('1.10.17.1', 'droptxt') AS droptxt, \
        ip_in_set('5.134.128.1', 'droptxt') AS droptxt_bad, \
        ip_set_label('185.220.101.45', 'firehol') AS firehol, \
        ip_set_label('2001:db8:1::23', 'tor') AS tor, \
        ip_in_set('192.0.2.77', 'torbulk') AS torbulk, \
        ip_set_label('203.0.113.45', 'feodo') AS feodo, \
        ip_in_set('198.51.100.88', 'feodotxt') AS feodotxt, \
        ip_in_set('8.8.8.8', 'drop') AS clean";
    let (code, rows, err) = sql(&sets, &[], query);
    assert_eq!(code, 0, "{err}");
    let r = &rows[0];
    assert_eq!(r["drop"], "SBL612345");
    assert_eq!(r["drop6"], "SBL302253");
    assert_eq!(r["droptxt"], "SBL256894");
    assert_eq!(r["droptxt_bad"], false);
    assert_eq!(r["firehol"], "185.220.101.0/24");
    assert_eq!(
        r["tor"],
        "Tor exit 0091174DE56EADD69F4E7A3F1DB6B4B6B2B4D9E1"
    );
    assert_eq!(r["torbulk"], true);
    assert_eq!(r["feodo"], "Emotet C2 (port 8080)");
    assert_eq!(r["feodotxt"], true);
    assert_eq!(r["clean"], false);
    // Every malformed line, by file and line; nothing from the clean files.
    for (file, line) in [
        ("drop_v4.json", 4),
        ("drop_v4.json", 5),
        ("drop.txt", 8),
        ("firehol_level1.netset", 30),
        ("exit-addresses", 13),
        ("torbulkexitlist", 3),
        ("ipblocklist.csv", 12),
    ] {
        let at = format!("{file}:{line}: IP set");
        assert!(err.contains(&at), "no warning for {at}:\n{err}");
    }
    assert_eq!(err.matches("line skipped").count(), 7, "{err}");
    assert!(err.contains("(Spamhaus DROP): not a JSON object"), "{err}");
    assert!(!err.contains("drop_v6.json") && !err.contains("ipblocklist.txt"));
}

#[test]
fn a_feed_with_nothing_readable_is_an_error_naming_its_first_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = crate::common::write(dir.path(), "drop_v4.json", "{\"cidr\":\n{\"cidr\": 7}\n");
    let set = format!("drop={}", bad.display());
    let lake = crate::geo::lake().display().to_string();
    let out = flowlake(&["sql", "--lake", &lake, "--set", &set, "SELECT 1"], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("drop_v4.json:1") && err.contains("no line could be read (2 rejected"),
        "{err}"
    );
}

#[test]
fn spamhaus_asn_drop_matches_through_the_asn_database() {
    let dir = tempfile::tempdir().unwrap();
    let (dbs, _) = crate::need!(crate::geo::databases(dir.path()), crate::geo::PYTHON);
    let query = "SELECT ip_set_label('185.220.101.45', 'asndrop') AS a, \
        ip_in_set('45.95.147.236', 'asndrop') AS b, ip_in_set('103.224.182.250', 'asndrop') AS c, \
        ip_in_set('10.0.0.1', 'asndrop') AS d";
    // Without an ASN database the set cannot match anything: refused, saying what to add.
    let (code, _, err) = sql(&[("asndrop", "asndrop.json")], &[], query);
    assert_ne!(code, 0);
    assert!(
        err.contains("asndrop.json") && err.contains("ASN database") && err.contains("--geo-db"),
        "{err}"
    );
    let geo = crate::geo::geo_args(&dbs);
    let (code, rows, err) = sql(&[("asndrop", "asndrop.json")], &geo, query);
    assert_eq!(code, 0, "{err}");
    assert_eq!(rows[0]["a"], "AS208294 EXAMPLE-AS (DE)");
    assert_eq!(rows[0]["b"], true);
    assert_eq!(rows[0]["c"], false);
    assert_eq!(rows[0]["d"], false);
    assert!(err.contains("asndrop.json:3: IP set 'asndrop'"), "{err}");
}

/// The scenario's threat destination on a Spamhaus DROP feed: the finding names the feed, what
/// it is, and the entry's SBL id.
#[test]
fn threat_intel_findings_name_the_feed_and_the_entrys_label() {
    let s = crate::reports::scenario();
    let base = std::fs::read_to_string(s.files.join("flowlake.toml")).unwrap();
    let threat = "threat = \"threat-intel.txt\"";
    assert!(base.contains(threat), "{base}");
    let feed = fixture("drop_v4.json").display().to_string();
    let config = s.files.join("spamhaus.toml");
    std::fs::write(&config, base.replace(threat, &format!("threat = {feed:?}"))).unwrap();
    let lake = s.lake.display().to_string();
    let cfg = config.display().to_string();
    let out = flowlake(
        &[
            "report", "exfil", "--lake", &lake, "--config", &cfg, "--format", "json",
        ],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("drop_v4.json:4:"), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (_, f) = crate::reports::find(&v, |f| f["dst_ip"] == "45.95.147.236").unwrap();
    assert_eq!(f["kind"], "threat_intel", "{f}");
    assert_eq!(f["severity"], "high");
    assert_eq!(f["threat_label"], "SBL612345");
    assert_eq!(f["threat_feed"], "threat");
    assert_eq!(f["threat_source"], "Spamhaus DROP of 2025-11-30");
    let reason = f["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "listed as 'SBL612345' in threat feed 'threat' (Spamhaus DROP of 2025-11-30)"
        ),
        "{reason}"
    );
}
