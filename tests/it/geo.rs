//! The location functions on small MaxMind-format databases built by Python's mmdb-writer
//! (`tests/geo/make_mmdb.py`), compared with what MaxMind's official Python reader returns for
//! the same files: IPv4, IPv6 and IPv4-mapped IPv6 addresses, a City, an ASN and an IPinfo
//! lite file asked in order, NULL for private and unknown addresses, and bad files named.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{flowlake, python_has};

pub const PYTHON: &str =
    "Python's mmdb-writer, netaddr and maxminddb (pip install -r tests/geo/requirements.txt)";

/// Builds the test databases into `dir`; returns their paths and the official reader's answers.
pub fn databases(dir: &Path) -> Option<(Vec<PathBuf>, Value)> {
    if !python_has(&["mmdb_writer", "netaddr", "maxminddb"]) {
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/geo/make_mmdb.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let expect = serde_json::from_slice(&out.stdout).unwrap();
    let paths = ["city.mmdb", "asn.mmdb", "ipinfo.mmdb"]
        .iter()
        .map(|n| dir.join(n))
        .collect();
    Some((paths, expect))
}

/// `--geo-db PATH` for each database.
pub fn geo_args(dbs: &[PathBuf]) -> Vec<String> {
    dbs.iter()
        .flat_map(|d| ["--geo-db".to_string(), d.display().to_string()])
        .collect()
}

/// A small lake to run the queries in.
pub fn lake() -> &'static Path {
    static LAKE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LAKE.get_or_init(|| {
        let d = crate::common::fixture_dir();
        crate::common::gen_tree(&d.join("blobs"), 1, 1, 1, 20, 1);
        let lake = d.join("lake");
        crate::common::ingest_lib(&[&d.join("blobs")], &lake);
        lake
    })
    .as_path()
}

fn sql(dbs: &[PathBuf], config: Option<&Path>, query: &str) -> (i32, Vec<Value>, String) {
    let mut args = vec![
        "sql".to_string(),
        "--lake".into(),
        lake().display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    args.extend(geo_args(dbs));
    if let Some(c) = config {
        args.extend(["--config".into(), c.display().to_string()]);
    }
    args.push(query.into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = flowlake(&args, &[]);
    let rows = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (
        out.status.code().unwrap_or(-1),
        rows,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const QUERY: &str = "SELECT a, geo_country(a) AS country, geo_country_name(a) AS country_name, \
    geo_city(a) AS city, asn(a) AS asn, as_org(a) AS as_org FROM (VALUES \
    ('185.220.101.45'), ('::ffff:185.220.101.45'), ('103.224.182.250'), ('45.95.147.236'), \
    ('2a01:4f8:c0c:1234::1'), ('94.140.14.14'), ('8.8.8.8'), ('10.0.0.1'), ('fd00::1'), \
    ('not an address'), (NULL)) t(a)";

#[test]
fn locations_match_the_official_reader_for_ipv4_ipv6_and_mapped_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let (dbs, expect) = crate::need!(databases(dir.path()), PYTHON);
    let (code, rows, err) = sql(&dbs, None, QUERY);
    assert_eq!(code, 0, "{err}");
    let by: std::collections::HashMap<&str, &Value> = rows
        .iter()
        .filter_map(|r| Some((r["a"].as_str()?, r)))
        .collect();
    for a in [
        "185.220.101.45",
        "103.224.182.250",
        "45.95.147.236",
        "2a01:4f8:c0c:1234::1",
    ] {
        let (r, e) = (by[a], &expect[a]);
        for k in ["country", "country_name", "city", "asn", "as_org"] {
            assert_eq!(r[k], e[k], "{a} {k}: {r} against the official reader's {e}");
        }
    }
    // An IPv4-mapped IPv6 address is its IPv4 address (the published files alias
    // ::ffff:0:0/96 to the IPv4 tree; mmdb-writer does not, so the Python reader finds
    // nothing for it in these test files).
    for k in ["country", "city", "asn", "as_org"] {
        assert_eq!(
            by["::ffff:185.220.101.45"][k], by["185.220.101.45"][k],
            "{k}"
        );
    }
    // Not in the City or ASN file: the IPinfo lite file answers, its "AS212772" a number.
    let r = by["94.140.14.14"];
    assert_eq!(r["country"], expect["94.140.14.14"]["ipinfo_country"]);
    assert_eq!(r["country"], "CY");
    assert_eq!(r["asn"], 212772);
    assert_eq!(r["as_org"], "AdGuard Software Limited");
    assert_eq!(r["city"], Value::Null, "IPinfo lite has no city");
    // Unknown, private, unique-local, not an address, NULL: NULL.
    for a in ["8.8.8.8", "10.0.0.1", "fd00::1", "not an address"] {
        for k in ["country", "country_name", "city", "asn", "as_org"] {
            assert_eq!(by[a][k], Value::Null, "{a} {k}");
        }
    }
    assert_eq!(rows.len(), 11);
}

#[test]
fn without_a_database_the_functions_are_null_and_config_names_databases() {
    // No database: every value NULL, the query still runs.
    let (code, rows, err) = sql(&[], None, QUERY);
    assert_eq!(code, 0, "{err}");
    assert!(
        rows.iter()
            .all(|r| r["country"].is_null() && r["asn"].is_null())
    );

    let dir = tempfile::tempdir().unwrap();
    // A file that is no database, and a missing one: errors naming the file.
    let junk = dir.path().join("junk.mmdb");
    std::fs::write(&junk, "not a database").unwrap();
    let (code, _, err) = sql(std::slice::from_ref(&junk), None, "SELECT 1");
    assert_ne!(code, 0);
    assert!(
        err.contains("junk.mmdb") && err.contains("not a MaxMind DB file"),
        "{err}"
    );
    let (code, _, err) = sql(&[dir.path().join("missing.mmdb")], None, "SELECT 1");
    assert_ne!(code, 0);
    assert!(err.contains("missing.mmdb"), "{err}");

    // [geo] databases, relative to the config file.
    let (dbs, _) = crate::need!(databases(dir.path()), PYTHON);
    let config = dir.path().join("flowlake.toml");
    std::fs::write(
        &config,
        "[geo]\ndatabases = [\"city.mmdb\", \"asn.mmdb\"]\n",
    )
    .unwrap();
    let (code, rows, err) = sql(
        &[],
        Some(&config),
        "SELECT geo_country('185.220.101.45') AS c, asn('185.220.101.45') AS n",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (&rows[0]["c"], &rows[0]["n"]),
        (&Value::from("DE"), &Value::from(208294))
    );
    drop(dbs);
}

/// The GeoLite2 City file PyPI's maxminddb-geolite2 ships, if that package is installed.
fn published_city_db() -> Option<PathBuf> {
    if !python_has(&["_maxminddb_geolite2", "maxminddb"]) {
        return None;
    }
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import _maxminddb_geolite2, os; print(os.path.join(os.path.dirname(_maxminddb_geolite2.__file__), 'GeoLite2-City.mmdb'))",
        ])
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    p.is_file().then_some(p)
}

/// A real published database: flowlake's answers equal MaxMind's official reader's.
#[test]
fn a_published_geolite2_city_file_reads_as_the_official_reader_reads_it() {
    let db = crate::need!(
        published_city_db(),
        "PyPI's maxminddb-geolite2 and maxminddb (pip install -r tests/geo/requirements.txt)"
    );
    let addrs = [
        "8.8.8.8",
        "1.1.1.1",
        "9.9.9.9",
        "81.2.69.142",
        "185.220.101.45",
        "208.67.222.222",
        "52.100.7.7",
        "2001:4860:4860::8888",
        "2a00:1450:4001:80b::200e",
        "::ffff:81.2.69.142",
    ];
    let script = format!(
        "import json, maxminddb\nr = maxminddb.open_database({:?})\nout = {{}}\nfor a in {:?}:\n    x = r.get(a.replace('::ffff:', '')) or {{}}\n    out[a] = [x.get('country', {{}}).get('iso_code'), x.get('country', {{}}).get('names', {{}}).get('en'), x.get('city', {{}}).get('names', {{}}).get('en')]\nprint(json.dumps(out))",
        db.display().to_string(),
        addrs
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let expect: Value = serde_json::from_slice(&out.stdout).unwrap();
    let values: Vec<String> = addrs.iter().map(|a| format!("('{a}')")).collect();
    let (code, rows, err) = sql(
        std::slice::from_ref(&db),
        None,
        &format!(
            "SELECT a, geo_country(a) AS c, geo_country_name(a) AS n, geo_city(a) AS city \
             FROM (VALUES {}) t(a)",
            values.join(", ")
        ),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(rows.len(), addrs.len());
    let mut known = 0;
    for r in &rows {
        let a = r["a"].as_str().unwrap();
        let e = &expect[a];
        assert_eq!(
            [&r["c"], &r["n"], &r["city"]],
            [&e[0], &e[1], &e[2]],
            "{a}: flowlake {r} against the official reader's {e}"
        );
        known += usize::from(!r["c"].is_null());
    }
    assert!(
        known >= 8,
        "most of these addresses are in the file: {rows:?}"
    );
}

/// Reports show where: the scenario's outside peers carry country, AS number and
/// organisation in their evidence and reason.
#[test]
fn findings_say_where_their_outside_peers_are() {
    let dir = tempfile::tempdir().unwrap();
    let (dbs, _) = crate::need!(databases(dir.path()), PYTHON);
    let extra = geo_args(&dbs);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let s = crate::reports::scenario();
    let v = crate::reports::json_on(&s.lake, "exfil", &extra);
    let (_, f) = crate::reports::find(&v, |f| f["dst_ip"] == "185.220.101.45").unwrap();
    assert_eq!(
        (&f["dst_country"], &f["dst_asn"], &f["dst_as_org"]),
        (
            &Value::from("DE"),
            &Value::from(208294),
            &Value::from("Example Ltd")
        ),
        "{f}"
    );
    let reason = f["reason"].as_str().unwrap();
    assert!(
        reason.contains("185.220.101.45 (AS 208294 Example Ltd, DE)"),
        "{reason}"
    );
    // The IPinfo lite file answers for the resolver; internal sources get no place.
    let (_, f) = crate::reports::find(&v, |f| f["dst_ip"] == "94.140.14.14").unwrap();
    assert_eq!(
        (&f["dst_country"], &f["dst_asn"]),
        (&Value::from("CY"), &Value::from(212772))
    );
    assert!(f.get("src_country").is_none(), "{f}");
    // Without databases: no place columns, the reason as before.
    let v = crate::reports::json_on(&s.lake, "exfil", &[]);
    let (_, f) = crate::reports::find(&v, |f| f["dst_ip"] == "185.220.101.45").unwrap();
    assert!(f.get("dst_country").is_none(), "{f}");
    assert!(!f["reason"].as_str().unwrap().contains("AS 208294"));
}

/// `[report] denied_countries`: allowed egress to a denied country is high, and says so;
/// without location databases the setting is a usage error.
#[test]
fn egress_to_a_denied_country_is_high() {
    let dir = tempfile::tempdir().unwrap();
    let (dbs, _) = crate::need!(databases(dir.path()), PYTHON);
    let s = crate::reports::scenario();
    let base = std::fs::read_to_string(s.files.join("flowlake.toml")).unwrap();
    assert!(
        base.trim_end().ends_with(']'),
        "[report] is the config's last table"
    );
    let config = s.files.join("denied.toml");
    std::fs::write(&config, format!("{base}denied_countries = [\"sg\"]\n")).unwrap();
    let lake = s.lake.display().to_string();
    let cfg = config.display().to_string();
    let mut args = vec!["report", "exfil", "--lake", &lake, "--config", &cfg];
    let out = flowlake(&args, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("denied_countries") && err.contains("[geo]"),
        "{err}"
    );

    let db_args = geo_args(&dbs);
    args.extend(db_args.iter().map(String::as_str));
    args.extend(["--format", "json"]);
    let out = flowlake(&args, &[]);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (_, f) = crate::reports::find(&v, |f| f["dst_ip"] == "103.224.182.250").unwrap();
    assert!(
        crate::reports::has_kind(f, &Value::from("denied_country")),
        "{f}"
    );
    assert_eq!(f["severity"], "high");
    assert_eq!(f["dst_country"], "SG");
    assert!(
        f["reason"]
            .as_str()
            .unwrap()
            .contains("in SG, a country listed"),
        "{f}"
    );
    // Destinations elsewhere are not denied.
    assert!(
        crate::reports::findings(&v)
            .iter()
            .filter(|f| crate::reports::has_kind(f, &Value::from("denied_country")))
            .all(|f| f["dst_country"] == "SG"),
        "{v:#}"
    );
}

/// With location databases the scenario's `new_country` incident is found: a workload's copy to
/// an address the cluster knows, on an expected port, within its volume, but to a country (and
/// a network) it never sent to. Legitimate transfers and a normal day raise nothing above info.
#[test]
fn a_copy_to_a_country_the_workload_never_reached_is_found() {
    use crate::reports::{
        find, findings, has_kind, json_on, names_its_workload, scenario, sev_rank,
    };
    let dir = tempfile::tempdir().unwrap();
    let (dbs, _) = crate::need!(databases(dir.path()), PYTHON);
    let geo = geo_args(&dbs);
    let geo: Vec<&str> = geo.iter().map(String::as_str).collect();
    let s = scenario();
    let incidents = s.key["incidents"].as_array().unwrap();
    let inc = incidents
        .iter()
        .find(|i| i["kind"] == "new_country")
        .unwrap();
    assert_eq!(inc["needs"], "geo");
    let v = json_on(&s.lake, "exfil", &geo);
    let pair = |f: &Value, i: &Value| f["src_ip"] == i["ip"] && f["dst_ip"] == i["dst_ip"];
    let (pos, f) = find(&v, |f| {
        has_kind(f, &Value::from("new_country")) && pair(f, inc)
    })
    .unwrap_or_else(|| panic!("not found: {inc}\n{v:#}"));
    assert!(sev_rank(f) >= 2, "{f}");
    assert!(pos < 12, "at position {pos}");
    assert!(has_kind(f, &Value::from("new_asn")), "{f}");
    assert_eq!(f["country"], "IE", "{f}");
    assert_eq!(f["dst_asn"], 16509, "{f}");
    assert_eq!(f["baseline"], 0, "{f}");
    let reason = f["reason"].as_str().unwrap();
    assert!(
        reason.contains("IE, a country it sent nothing to in the baseline")
            && reason.contains("AS 16509, a network it sent nothing to in the baseline"),
        "{reason}"
    );
    names_its_workload(f, "src", &inc["who"]);
    // Without the databases nothing gives it away.
    let plain = json_on(&s.lake, "exfil", &[]);
    assert!(find(&plain, |f| pair(f, inc) && sev_rank(f) > 0).is_none());
    // Every new country or AS above info is one of the planted incidents (the others reach
    // new places too: the odd-port upload Germany, the new destination Singapore).
    for f in findings(&v) {
        let new_place =
            has_kind(f, &Value::from("new_country")) || has_kind(f, &Value::from("new_asn"));
        if new_place && sev_rank(f) > 0 {
            assert!(incidents.iter().any(|i| pair(f, i)), "not planted: {f}");
        }
    }
    // A normal day, judged against the days before it: the legitimate transfers reach the
    // countries and networks they always reach.
    let mut normal = vec!["--since", "2026-11-03", "--until", "2026-11-04"];
    normal.extend(&geo);
    let v = json_on(&s.lake, "exfil", &normal);
    assert!(
        findings(&v).iter().all(|f| sev_rank(f) == 0),
        "a normal day has no findings above info: {v:#}"
    );
}

/// The summary with location databases: allowed egress by country and by AS (JSON arrays,
/// info findings for the table) adding up to what a direct query counts, and bar charts of
/// both in the HTML page.
#[test]
fn the_summary_shows_bytes_out_by_country_and_by_network() {
    let dir = tempfile::tempdir().unwrap();
    let (dbs, _) = crate::need!(databases(dir.path()), PYTHON);
    let geo = geo_args(&dbs);
    let geo: Vec<&str> = geo.iter().map(String::as_str).collect();
    let s = crate::reports::scenario();
    let v = crate::reports::json_on(&s.lake, "summary", &geo);
    let countries = v["egress_by_country"].as_array().unwrap();
    let asns = v["egress_by_asn"].as_array().unwrap();
    let de = countries.iter().find(|c| c["place"] == "DE").unwrap();
    assert_eq!(de["name"], "Germany");
    let ie = countries.iter().find(|c| c["place"] == "IE").unwrap();
    // The SaaS sync (800 MB) and the exporter's copy (80 MB), among others.
    assert!(ie["bytes_out"].as_u64().unwrap() >= 880_000_000, "{ie}");
    assert!(ie["sources"].as_u64().unwrap() >= 2, "{ie}");
    let bytes = |rows: &[Value]| -> Vec<u64> {
        rows.iter()
            .map(|r| r["bytes_out"].as_u64().unwrap())
            .collect()
    };
    let b = bytes(countries);
    assert!(
        b.windows(2).all(|w| w[0] >= w[1]),
        "most bytes first: {b:?}"
    );
    assert!(
        asns.iter()
            .any(|a| a["place"] == "208294" && a["name"] == "Example Ltd")
    );
    // What a direct query over the same window counts for Germany and for AS 208294.
    let window = format!(
        "time >= TIMESTAMP '{}' AND time < TIMESTAMP '{}'",
        v["window"]["since"].as_str().unwrap(),
        v["window"]["until"].as_str().unwrap()
    );
    let lake = s.lake.display().to_string();
    let mut args = vec!["sql", "--lake", &lake, "--format", "json"];
    args.extend(&geo);
    let q = format!(
        "SELECT sum(CASE WHEN geo_country(dst_ip) = 'DE' THEN bytes_src_to_dst END) AS de, \
         sum(CASE WHEN asn(dst_ip) = 208294 THEN bytes_src_to_dst END) AS as208294 \
         FROM flows WHERE {window} AND direction = 'outbound' AND decision = 'allow' \
         AND src_class IN ('private', 'cgnat')"
    );
    args.push(&q);
    let out = crate::common::flowlake(&args, &[]);
    assert!(out.status.success(), "{out:?}");
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(de["bytes_out"], rows[0]["de"], "{de}");
    let as208294 = asns.iter().find(|a| a["place"] == "208294").unwrap();
    assert_eq!(as208294["bytes_out"], rows[0]["as208294"]);
    // In the table: one info finding per place, saying how much went there.
    let f = crate::reports::findings(&v)
        .iter()
        .find(|f| f["kind"] == "egress_place" && f["place"] == "DE")
        .unwrap();
    assert_eq!(f["severity"], "info");
    assert!(
        f["reason"]
            .as_str()
            .unwrap()
            .contains("went out to DE (Germany)"),
        "{f}"
    );
    // The HTML page draws both.
    let page = dir.path().join("summary.html");
    let page_s = page.display().to_string();
    let mut args = vec![
        "report", "summary", "--lake", &lake, "--format", "html", "-o", &page_s,
    ];
    args.extend(&geo);
    let out = crate::common::flowlake(&args, &[]);
    assert!(out.status.success(), "{out:?}");
    let html = std::fs::read_to_string(&page).unwrap();
    for want in [
        "Bytes out by country",
        "Bytes out by network (AS)",
        ">DE Germany<",
        ">AS208294 Example Ltd<",
    ] {
        assert!(html.contains(want), "{want} not in the page");
    }
    // Without databases the summary has neither.
    let v = crate::reports::json_on(&s.lake, "summary", &[]);
    assert!(v.get("egress_by_country").is_none() && v.get("egress_by_asn").is_none());
}
