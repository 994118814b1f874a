//! SQL through the real engine over real lakes: functions, the `flows` table and its pruning,
//! the views, IP sets, and the `flowlake sql` command.

use std::path::{Path, PathBuf};

use datafusion::arrow::util::pretty::pretty_format_batches;
use flowlake::enrich::SetSpec;
use flowlake::query::{LakeSession, QueryOptions, session};

use crate::common::*;

/// A session over the local lake at `lake`, with no sets.
async fn local_session(lake: &Path) -> LakeSession {
    session(
        &flowlake::store::Location::Local(lake.to_path_buf()),
        &QueryOptions::default(),
    )
    .await
    .unwrap()
}

async fn query(s: &LakeSession, sql: &str) -> String {
    let batches = s.ctx.sql(sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

/// A lake from the VNet docs sample.
fn sample_lake(dir: &Path) -> Option<PathBuf> {
    let lake = dir.join("lake");
    ingest_lib(&[&samples()?.join("azure-vnet-v4-docs-sample.json")], &lake);
    Some(lake)
}

#[tokio::test]
async fn address_functions_over_the_lake() {
    let d = tempfile::tempdir().unwrap();
    let lake = crate::need!(sample_lake(d.path()), SAMPLES);
    let s = local_session(&lake).await;
    // The SQL function agrees with the class stored at ingest, on Utf8View columns.
    let text = query(&s, "SELECT count(*) AS n FROM flows WHERE ip_class(dst_ip) <> dst_class OR ip_class(src_ip) <> src_class").await;
    assert!(text.contains("| 0 "), "{text}");
    let text = query(&s, "SELECT ip_network(dst_ip, 24) AS net, count(*) AS n FROM flows WHERE is_public(dst_ip) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1").await;
    assert!(
        text.contains("40.74.146.0/24") && text.contains("| 6 "),
        "{text}"
    );
    let text = query(
        &s,
        "SELECT count(*) AS n FROM flows WHERE ip_in_cidr(src_ip, '20.0.0.0/8')",
    )
    .await;
    assert!(text.contains("| 6 "), "{text}");
    // NULL in, NULL out; invalid text gives NULL, not an error; IPv4-mapped IPv6 is IPv4.
    let text = query(&s, "SELECT ip_class(NULL) AS a, ip_class('nonsense') AS b, ip_class('::ffff:10.0.0.1') AS c, ip_version('2001:db8::1') AS v, is_private('172.32.0.1') AS p, ip_network('2001:db8::1', 32) AS n").await;
    assert!(
        text.contains("|   |   | private | 6 | false | 2001:db8::/32 |"),
        "{text}"
    );
    // Every string type, and a prefix length from an integer column of another width.
    let text = query(&s, "SELECT ip_class(arrow_cast('10.1.2.3', 'LargeUtf8')) AS l, ip_class(arrow_cast('8.8.8.8', 'Utf8')) AS u, ip_in_cidr(arrow_cast('fd00::1', 'Utf8View'), arrow_cast('fc00::/7', 'LargeUtf8')) AS v, ip_network('10.9.8.7', arrow_cast(16, 'Int32')) AS n").await;
    assert!(
        text.contains("| private | public | true | 10.9.0.0/16 |"),
        "{text}"
    );
}

/// Class boundaries through SQL, table-driven (the unit tests cover the same table in Rust).
#[tokio::test]
async fn ip_class_boundaries_through_sql() {
    let d = tempfile::tempdir().unwrap();
    let lake = crate::need!(sample_lake(d.path()), SAMPLES);
    let s = local_session(&lake).await;
    let cases = [
        ("172.15.255.255", "public"),
        ("172.16.0.0", "private"),
        ("172.31.255.255", "private"),
        ("172.32.0.0", "public"),
        ("100.63.255.255", "public"),
        ("100.64.0.0", "cgnat"),
        ("100.127.255.255", "cgnat"),
        ("100.128.0.0", "public"),
        ("fbff:ffff::1", "reserved"),
        ("fc00::", "private"),
        ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "private"),
        ("fe80::", "link_local"),
        ("febf:ffff::1", "link_local"),
        ("fec0::", "reserved"),
        ("::ffff:10.0.0.1", "private"),
        ("2001:db8::", "documentation"),
        ("2001:db8:ffff:ffff::1", "documentation"),
        ("2001:db9::", "public"),
        ("168.63.129.16", "azure_platform"),
        ("255.255.255.255", "broadcast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("198.18.0.1", "benchmarking"),
        ("192.0.2.1", "documentation"),
        ("127.0.0.1", "loopback"),
        ("240.0.0.1", "reserved"),
    ];
    let values: Vec<String> = cases
        .iter()
        .map(|(ip, want)| format!("('{ip}', '{want}')"))
        .collect();
    let sql = format!(
        "SELECT ip, want, ip_class(ip) AS got FROM (VALUES {}) AS t(ip, want) WHERE ip_class(ip) IS DISTINCT FROM want",
        values.join(", ")
    );
    let batches = s.ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let mismatches = pretty_format_batches(&batches).unwrap();
    assert_eq!(
        batches.iter().map(|b| b.num_rows()).sum::<usize>(),
        0,
        "mismatches:\n{mismatches}"
    );
}

/// Gives a lake whose partitions hold one file per hour and worker: 2 days × 4 hours.
fn hourly_lake(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    gen_tree(&src, 2, 4, 2, 100, 7);
    let mut hours: Vec<PathBuf> = walkdir::WalkDir::new(&src)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_dir() && e.file_name().to_string_lossy().starts_with("h="))
        .map(|e| e.path().to_path_buf())
        .collect();
    hours.sort();
    assert!(hours.len() >= 8, "{hours:?}");
    let lake = dir.join("lake");
    for h in hours {
        ingest_lib(&[&h], &lake);
    }
    lake
}

/// `<metric>=N total → M matched` from EXPLAIN ANALYZE text, e.g. for
/// `files_ranges_pruned_statistics` or `row_groups_pruned_statistics`.
fn pruned(plan: &str, metric: &str) -> (u64, u64) {
    let key = format!("{metric}=");
    let at = plan
        .find(&key)
        .unwrap_or_else(|| panic!("no {key} in\n{plan}"))
        + key.len();
    let rest = &plan[at..];
    let total: u64 = rest.split(' ').next().unwrap().parse().unwrap();
    let matched: u64 = rest
        .split("→ ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    (total, matched)
}

/// The files a physical plan reads (from `file_groups=...` of EXPLAIN).
fn scanned_dates(plan: &str) -> Vec<String> {
    let mut dates: Vec<String> = plan
        .split("date=")
        .skip(1)
        .map(|s| s[..10].to_string())
        .collect();
    dates.sort();
    dates.dedup();
    dates
}

#[tokio::test]
async fn time_predicates_prune_partitions_and_row_groups() {
    let d = tempfile::tempdir().unwrap();
    let lake = hourly_lake(d.path());
    let day2_files = std::fs::read_dir(lake.join("flows/date=2026-11-02"))
        .unwrap()
        .count() as u64;
    assert!(day2_files >= 4, "{day2_files} files");
    let s = local_session(&lake).await;
    let window =
        "time >= TIMESTAMP '2026-11-02T02:00:00Z' AND time < TIMESTAMP '2026-11-02T03:00:00Z'";

    // A time predicate alone prunes the other day's partition: only date=2026-11-02 is listed.
    let plan = query(
        &s,
        &format!("EXPLAIN SELECT count(*) FROM flows WHERE {window}"),
    )
    .await;
    assert_eq!(scanned_dates(&plan), ["2026-11-02"], "{plan}");
    assert!(
        plan.contains("pruning_predicate=") && plan.contains("time_max"),
        "{plan}"
    );
    // ... and within it, statistics on `time` skip the files of other hours.
    let plan = query(
        &s,
        &format!("EXPLAIN ANALYZE SELECT count(*) FROM flows WHERE {window}"),
    )
    .await;
    let (total, matched) = pruned(&plan, "files_ranges_pruned_statistics");
    assert_eq!(total, day2_files, "{plan}");
    assert!(
        matched >= 1 && matched <= total / 4,
        "{matched} of {total}:\n{plan}"
    );

    // A predicate on the partition column prunes directories.
    let plan = query(
        &s,
        "EXPLAIN SELECT sum(bytes_src_to_dst) FROM flows WHERE date = '2026-11-01'",
    )
    .await;
    assert_eq!(scanned_dates(&plan), ["2026-11-01"], "{plan}");
    // Without a predicate both days are read.
    let plan = query(
        &s,
        "EXPLAIN SELECT sum(bytes_src_to_dst) FROM flows WHERE dst_port = 443",
    )
    .await;
    assert_eq!(scanned_dates(&plan), ["2026-11-01", "2026-11-02"], "{plan}");

    // The pruned answer is the right one.
    let lo = 1_793_584_800_000_000i64; // 2026-11-02T02:00:00Z
    let want = read_lake(&lake)
        .iter()
        .filter(|r| (lo..lo + 3_600_000_000).contains(&r["time"].as_i64().unwrap()))
        .count();
    assert!(want > 0);
    let text = query(
        &s,
        &format!("SELECT count(*) AS n FROM flows WHERE {window}"),
    )
    .await;
    assert!(text.contains(&format!("| {want} ")), "want {want}:\n{text}");
}

/// A column of every table, summed where a row must be read (not answered from statistics).
const ONE: &str = "coalesce(packets_src_to_dst, 1)";

/// Bounds at UTC midnight are answered by the partitions: no row is filtered, and the answer
/// is the same as where every row is tested (a count over whole days comes from the files'
/// statistics alone).
#[tokio::test]
async fn whole_day_bounds_filter_no_row_and_answer_the_same() {
    let d = tempfile::tempdir().unwrap();
    let lake = hourly_lake(d.path());
    let s = local_session(&lake).await;
    for table in ["flows", "hourly"] {
        let t = if table == "flows" { "time" } else { "hour" };
        let day = format!(
            "{t} >= TIMESTAMP '2026-11-02T00:00:00Z' AND {t} < TIMESTAMP '2026-11-03T00:00:00Z'"
        );
        let plan = query(
            &s,
            &format!("EXPLAIN SELECT sum({ONE}) FROM {table} WHERE {day}"),
        )
        .await;
        assert!(!plan.contains("FilterExec"), "{plan}");
        assert_eq!(scanned_dates(&plan), ["2026-11-02"], "{plan}");
        // The same bounds, tested row by row (an expression DataFusion cannot hand over).
        let tested = format!(
            "{t} + INTERVAL '0 seconds' >= TIMESTAMP '2026-11-02T00:00:00Z' AND {t} < TIMESTAMP '2026-11-03T00:00:00Z'"
        );
        let plan = query(
            &s,
            &format!("EXPLAIN SELECT count(*) FROM {table} WHERE {tested}"),
        )
        .await;
        assert!(plan.contains("FilterExec"), "{plan}");
        let n = |w: &str| {
            let q = format!("SELECT count(*) AS n, sum({ONE}) AS s FROM {table} WHERE {w}");
            let s = &s;
            async move { query(s, &q).await }
        };
        let (a, b) = (n(&day).await, n(&tested).await);
        assert_eq!(a, b);
        assert!(!a.contains("| 0 "), "{a}");
        // An hour bound still tests rows.
        let hour = format!("{t} >= TIMESTAMP '2026-11-02T01:00:00Z'");
        let plan = query(
            &s,
            &format!("EXPLAIN SELECT count(*) FROM {table} WHERE {hour}"),
        )
        .await;
        assert!(plan.contains("FilterExec"), "{plan}");
    }
}

#[tokio::test]
async fn flow_hours_sums_deltas_into_one_row_per_flow_per_hour() {
    let d = tempfile::tempdir().unwrap();
    let blob = crate::need!(bandwidth_blob(d.path()), SAMPLES);
    let lake = d.path().join("lake");
    ingest_lib(&[&blob], &lake);
    let s = local_session(&lake).await;
    // Microsoft's example: one flow (B, C, E) of 9,125 packets and 5,256,000 bytes.
    let text = query(&s, "SELECT count(*) AS n, sum(tuples) AS t, sum(packets_src_to_dst + packets_dst_to_src) AS p, sum(bytes_src_to_dst + bytes_dst_to_src) AS b, bool_and(began AND ended) AS whole FROM flow_hours").await;
    assert!(
        text.contains("| 1 | 3 | 9125 | 5256000 | true  |"),
        "{text}"
    );
    // Over a generated lake: the view keeps every byte and has one row per flow and hour.
    let d2 = tempfile::tempdir().unwrap();
    let lake = hourly_lake(d2.path());
    let s = local_session(&lake).await;
    let totals = query(&s, "SELECT (SELECT coalesce(sum(bytes_src_to_dst), 0) + coalesce(sum(bytes_dst_to_src), 0) FROM flows) - (SELECT sum(bytes_src_to_dst + bytes_dst_to_src) FROM flow_hours) AS diff").await;
    assert!(totals.contains("| 0    |"), "{totals}");
    let dup = query(&s, "SELECT count(*) AS n FROM (SELECT hour, mac, src_ip, src_port, dst_ip, dst_port, protocol, direction, rule, decision FROM flow_hours GROUP BY ALL HAVING count(*) > 1)").await;
    assert!(dup.contains("| 0 "), "{dup}");
    let egress = query(&s, "SELECT count(*) = count(CASE WHEN is_public(dst_ip) AND direction = 'outbound' THEN 1 END) AS ok, count(*) > 0 AS some FROM egress").await;
    assert!(egress.contains("| true | true |"), "{egress}");
}

#[tokio::test]
async fn ip_sets_and_service_tags_in_sql() {
    let d = tempfile::tempdir().unwrap();
    let lake = crate::need!(sample_lake(d.path()), SAMPLES);
    let ti = write(
        d.path(),
        "intel/threat.txt",
        "# threat intel\n40.74.146.0/24 suspicious-range\n40.74.146.17 known-c2 # most specific\n2001:db8::/32\n",
    );
    let tags = write(
        d.path(),
        "ServiceTags_Public_20261123.json",
        r#"{"changeNumber": 1, "cloud": "Public", "values": [
          {"name": "AzureCloud", "id": "AzureCloud", "properties": {"addressPrefixes": ["40.0.0.0/8", "20.0.0.0/8"]}},
          {"name": "AzureCloud.westus", "id": "AzureCloud.westus", "properties": {"region": "westus", "addressPrefixes": ["40.74.0.0/16"]}}
        ]}"#,
    );
    let opts = QueryOptions {
        sets: vec![
            SetSpec {
                name: "threat".into(),
                path: ti,
            },
            SetSpec {
                name: "tags".into(),
                path: tags,
            },
        ],
        ..QueryOptions::default()
    };
    let s = session(&flowlake::store::Location::Local(lake.to_path_buf()), &opts)
        .await
        .unwrap();
    let text = query(&s, "SELECT ip_in_set('40.74.146.17', 'threat') AS a, ip_set_label('40.74.146.17', 'threat') AS b, ip_set_label('40.74.146.18', 'threat') AS c, ip_in_set('40.74.147.1', 'threat') AS d, ip_set_label('2001:db8::9', 'threat') AS e, ip_in_set('junk', 'threat') AS f").await;
    assert!(
        text.contains("| true | known-c2 | suspicious-range | false | 2001:db8::/32 |   |"),
        "{text}"
    );
    let text = query(&s, "SELECT service_tag(dst_ip) AS tag, count(*) AS n FROM flows GROUP BY 1 ORDER BY 1 NULLS LAST").await;
    assert!(text.contains("| AzureCloud.westus |"), "{text}");
    let text = query(&s, "SELECT service_tag('20.1.1.1') AS a, service_tag('40.74.1.1') AS b, service_tag('8.8.8.8') AS c").await;
    assert!(
        text.contains("| AzureCloud | AzureCloud.westus |   |"),
        "{text}"
    );
    // A set named by a column value works too; an unknown literal name fails at planning.
    let text = query(&s, "SELECT ip_in_set('40.74.146.17', name) AS hit FROM (VALUES ('threat'), ('tags')) AS t(name)").await;
    assert_eq!(text.matches("| true |").count(), 2, "{text}");
    let err = s
        .ctx
        .sql("SELECT ip_in_set(src_ip, 'thret') FROM flows")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown IP set 'thret'") && err.contains("threat, tags")
            || err.contains("tags, threat"),
        "{err}"
    );
}

/// Runs `flowlake sql` and returns (exit code, stdout, stderr).
fn sql_cli(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_flowlake"));
    cmd.arg("sql").args(args);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sql_command_formats_inputs_and_errors() {
    let d = tempfile::tempdir().unwrap();
    let lake = crate::need!(sample_lake(d.path()), SAMPLES);
    let l = lake.to_str().unwrap();
    let q = "SELECT dst_port, count(*) AS n FROM flows GROUP BY 1 ORDER BY 1 LIMIT 2";
    let (code, out, err) = sql_cli(&["--lake", l, q], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("| dst_port | n ") && out.ends_with("(2 rows)\n"),
        "{out}"
    );
    let (_, csv, _) = sql_cli(&["--lake", l, "--format", "csv", q], None);
    let (_, tsv, _) = sql_cli(&["--lake", l, "--format", "tsv", q], None);
    let (_, json, _) = sql_cli(&["--lake", l, "--format", "json", q], None);
    let (_, ndjson, _) = sql_cli(&["--lake", l, "--format", "ndjson", q], None);
    assert_eq!(csv.lines().next(), Some("dst_port,n"));
    assert_eq!(csv.lines().count(), 3);
    assert_eq!(tsv.replace('\t', ","), csv);
    let arr: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(arr.as_array().unwrap().len(), 2);
    let lines: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(serde_json::Value::Array(lines), arr);
    // JSON keeps NULLs as null rather than dropping the key.
    let (_, json, _) = sql_cli(&["--lake", l, "--format", "json", "SELECT NULL AS x"], None);
    assert_eq!(json.trim(), r#"[{"x":null}]"#);

    // SQL from a file and from stdin; several statements run in order, the last one's result
    // is written.
    let f = write(
        d.path(),
        "q.sql",
        "CREATE VIEW big AS SELECT * FROM flows WHERE bytes_src_to_dst > 0;\nSELECT count(*) > 0 AS ok FROM big;\n",
    );
    let (code, out, err) = sql_cli(
        &["--lake", l, "-f", f.to_str().unwrap(), "--format", "csv"],
        None,
    );
    assert_eq!((code, out.as_str()), (0, "ok\ntrue\n"), "{err}");
    let (code, out, _) = sql_cli(
        &["--lake", l, "--format", "csv"],
        Some("SELECT 40 + 2 AS a"),
    );
    assert_eq!((code, out.as_str()), (0, "a\n42\n"));

    // Parquet to a file, readable with plain string columns.
    let pq = d.path().join("out/result.parquet");
    std::fs::create_dir_all(pq.parent().unwrap()).unwrap();
    let (code, _, err) = sql_cli(
        &[
            "--lake",
            l,
            "--format",
            "parquet",
            "-o",
            pq.to_str().unwrap(),
            "SELECT src_ip, dst_ip, time, date, bytes_src_to_dst FROM flows",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&pq).unwrap(),
    )
    .unwrap();
    let schema = reader.schema().clone();
    assert_eq!(
        schema.field_with_name("src_ip").unwrap().data_type(),
        &arrow::datatypes::DataType::Utf8
    );
    let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, read_lake(&lake).len());
    assert_eq!(
        std::fs::read_dir(pq.parent().unwrap()).unwrap().count(),
        1,
        "no temporary file left"
    );

    // A table stops at --max-rows and says so.
    let (_, out, _) = sql_cli(
        &["--lake", l, "--max-rows", "3", "SELECT * FROM flows"],
        None,
    );
    assert!(out.contains("(3 rows shown; more not shown"), "{out}");

    // User mistakes: one line on stderr, exit 1, no panic, no backtrace.
    for (sql, want) in [
        (
            "SELECT srcip FROM flows",
            "line 1, column 8: No field named srcip. Did you mean 'src_ip'?",
        ),
        (
            "SELECT * FROM flow",
            "table 'flow' not found. Did you mean 'flows'?",
        ),
        (
            "SELEC 1",
            "syntax error: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1",
        ),
        (
            "SELECT ip_in_set(src_ip, 'nope') FROM flows",
            "unknown IP set 'nope'",
        ),
        (
            "SELECT service_tag(src_ip) FROM flows",
            "service_tag() needs Azure service tags",
        ),
    ] {
        let (code, out, err) = sql_cli(&["--lake", l, sql], None);
        assert_eq!(code, 1, "{sql}: {out} {err}");
        assert_eq!(err.lines().count(), 1, "{sql}: {err}");
        assert!(
            err.starts_with("flowlake: error: ") && err.contains(want),
            "{sql}: {err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{err}"
        );
    }
    // A bad output path fails before running, naming the path.
    let (code, _, err) = sql_cli(
        &[
            "--lake",
            l,
            "-o",
            "/nonexistent/dir/x.csv",
            "--format",
            "csv",
            "SELECT 1",
        ],
        None,
    );
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/dir"), "{err}");
    // An interrupted commit is announced, and the query still runs.
    std::fs::write(lake.join("_flowlake/txn.json"), "{}").unwrap();
    let (code, out, err) = sql_cli(&["--lake", l, "--format", "csv", "SELECT 1 AS one"], None);
    assert_eq!((code, out.as_str()), (0, "one\n1\n"));
    assert!(
        err.contains("warning") && err.contains("interrupted"),
        "{err}"
    );
    std::fs::remove_file(lake.join("_flowlake/txn.json")).unwrap();
    // Not a lake.
    let (code, _, err) = sql_cli(&["--lake", d.path().to_str().unwrap(), "SELECT 1"], None);
    assert_eq!(code, 1);
    assert!(err.contains("not a flowlake lake"), "{err}");
}

#[test]
fn sets_come_from_the_config_file_and_the_command_line() {
    let d = tempfile::tempdir().unwrap();
    let lake = crate::need!(sample_lake(d.path()), SAMPLES);
    let l = lake.to_str().unwrap();
    write(d.path(), "conf/lists/a.txt", "10.0.0.0/8 corp\n");
    let conf = write(
        d.path(),
        "conf/flowlake.toml",
        "[sets]\ncorp = \"lists/a.txt\"\n",
    );
    let other = write(d.path(), "b.txt", "10.1.0.0/16 lab\n");
    let (code, out, err) = sql_cli(
        &[
            "--lake",
            l,
            "--config",
            conf.to_str().unwrap(),
            "--set",
            &format!("lab={}", other.display()),
            "--format",
            "csv",
            "SELECT ip_set_label('10.1.2.3', 'corp') AS a, ip_set_label('10.1.2.3', 'lab') AS b",
        ],
        None,
    );
    assert_eq!((code, out.as_str()), (0, "a,b\ncorp,lab\n"), "{err}");
    let (code, _, err) = sql_cli(&["--lake", l, "--set", "broken", "SELECT 1"], None);
    assert_eq!(code, 2, "usage error: {err}");
    assert!(err.contains("NAME=PATH"), "{err}");
    // A bad line is named with file and line and skipped; the rest of the set loads.
    let bad = write(d.path(), "bad.txt", "10.0.0.0/8\nnot-an-address\n");
    let x = format!("x={}", bad.display());
    let q = "SELECT ip_in_set('10.9.9.9', 'x') AS hit";
    let args = ["--lake", l, "--set", &x, "--format", "csv", q];
    let (code, out, err) = sql_cli(&args, None);
    assert_eq!((code, out.as_str()), (0, "hit\ntrue\n"), "{err}");
    assert!(
        err.contains("bad.txt:2") && err.contains("not-an-address") && err.contains("skipped"),
        "{err}"
    );
    // A file with nothing readable stops the start-up, naming it: bad usage.
    write(d.path(), "bad.txt", "not-an-address\n");
    let (code, _, err) = sql_cli(&["--lake", l, "--set", &x, "SELECT 1"], None);
    assert_eq!(code, 2);
    assert!(err.contains("bad.txt:1"), "{err}");
}

/// Every ```sql example in docs/SQL.md plans and runs on a real lake.
#[tokio::test]
async fn sql_doc_examples_run() {
    let d = tempfile::tempdir().unwrap();
    let lake = crate::need!(sample_lake(d.path()), SAMPLES);
    let threat = write(d.path(), "threat.txt", "40.74.146.0/24 test-range\n");
    let tags = write(
        d.path(),
        "tags.json",
        r#"{"values": [{"name": "AzureCloud", "properties": {"addressPrefixes": ["40.0.0.0/8"]}}]}"#,
    );
    let opts = QueryOptions {
        sets: vec![
            SetSpec {
                name: "threat".into(),
                path: threat,
            },
            SetSpec {
                name: "tags".into(),
                path: tags,
            },
        ],
        ..QueryOptions::default()
    };
    let s = session(&flowlake::store::Location::Local(lake.to_path_buf()), &opts)
        .await
        .unwrap();
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/SQL.md")).unwrap();
    let mut n = 0;
    for block in doc.split("```sql\n").skip(1) {
        let block = &block[..block.find("```").unwrap()];
        let statements = block.split(';').filter(|s| {
            s.lines()
                .any(|l| !l.trim().is_empty() && !l.trim().starts_with("--"))
        });
        for stmt in statements {
            let batches = s
                .ctx
                .sql(stmt)
                .await
                .unwrap_or_else(|e| panic!("{stmt}: {e}"))
                .collect()
                .await;
            batches.unwrap_or_else(|e| panic!("{stmt}: {e}"));
            n += 1;
        }
    }
    assert!(n >= 3, "{n} examples");
}

/// The shipped example config and its example sets load and answer.
#[test]
fn example_config_loads() {
    let d = tempfile::tempdir().unwrap();
    let lake = crate::need!(sample_lake(d.path()), SAMPLES);
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("flowlake.example.toml");
    let (code, out, err) = sql_cli(
        &[
            "--lake",
            lake.to_str().unwrap(),
            "--config",
            conf.to_str().unwrap(),
            "--format",
            "csv",
            "SELECT service_tag('20.60.1.1') AS tag, ip_set_label('52.96.106.136', 'threat') AS threat",
        ],
        None,
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "tag,threat\nStorage.WestEurope,example-known-c2\n"),
        "{err}"
    );
}

/// Ctrl-C (SIGINT) stops `flowlake sql`, with exit status 130 and no half-written output file.
#[test]
fn sql_interrupted_leaves_no_partial_file() {
    let d = tempfile::tempdir().unwrap();
    let lake = crate::need!(sample_lake(d.path()), SAMPLES);
    let out_dir = d.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let target = out_dir.join("result.csv");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_flowlake"))
        .args([
            "sql",
            "--lake",
            lake.to_str().unwrap(),
            "--format",
            "csv",
            "-o",
            target.to_str().unwrap(),
            "SELECT value FROM generate_series(1, 100000000000)",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the query is writing (its temporary file exists), then interrupt it.
    let start = std::time::Instant::now();
    while std::fs::read_dir(&out_dir).unwrap().count() == 0 {
        assert!(start.elapsed().as_secs() < 30, "no output file appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("query cancelled"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
