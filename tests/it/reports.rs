//! The reports on the generator's scenario (an AKS cluster, its inventory imported): every
//! planted incident found, high or medium, near the top, naming the workload behind it; no
//! legitimate big transfer above info; the rule audit's definitions findings; coverage gaps;
//! every output format; the HTML page in headless Chromium; exit statuses.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{copy_dir, flowlake, sql_json};

/// The scenario lake: 8 NICs, 4 days (2026-11-01..04), incidents on the 4th. NIC 0's blobs
/// for 10:00-12:59 on the 4th are removed before the ingest, to make a coverage gap. `lake`
/// has the cluster's inventory imported; `plain` is the same lake without it.
pub struct Scenario {
    pub lake: PathBuf,
    pub plain: PathBuf,
    pub files: PathBuf,
    pub key: Value,
}

pub fn scenario() -> &'static Scenario {
    static S: OnceLock<Scenario> = OnceLock::new();
    S.get_or_init(|| {
        let dir = crate::common::fixture_dir();
        let blobs = dir.join("blobs");
        let files = dir.join("scenario");
        let opts = flowlake::synth::GenOptions {
            scenario: Some(files.clone()),
            ..crate::common::gen_options(&blobs, 4, 24, 8, 300, 7)
        };
        flowlake::synth::generate(&opts).unwrap();
        let mut removed = 0;
        for e in walkdir::WalkDir::new(&blobs) {
            let p = e.unwrap().into_path();
            let s = p.to_string_lossy();
            if !p.is_file() {
                continue;
            }
            if s.contains("d=04/h=1")
                && ["h=10", "h=11", "h=12"].iter().any(|h| s.contains(h))
                && s.contains("macAddress=000D3A100000")
            {
                std::fs::remove_file(&p).unwrap();
                removed += 1;
            }
        }
        assert_eq!(removed, 3);
        let plain = dir.join("plain");
        crate::common::ingest_lib(&[&blobs], &plain);
        let lake = dir.join("lake");
        copy_dir(&plain, &lake);
        let key: Value =
            serde_json::from_str(&std::fs::read_to_string(files.join("scenario.json")).unwrap())
                .unwrap();
        let out = flowlake(
            &[
                "inventory",
                "import",
                files
                    .join(key["inventory"].as_str().unwrap())
                    .to_str()
                    .unwrap(),
                "--lake",
                lake.to_str().unwrap(),
                "--cluster",
                key["cluster"].as_str().unwrap(),
            ],
            &[],
        );
        assert!(out.status.success(), "{out:?}");
        Scenario {
            lake,
            plain,
            files,
            key,
        }
    })
}

/// Runs `flowlake report KIND` on the scenario with its config; returns (status, stdout).
fn report(kind: &str, extra: &[&str]) -> (i32, String) {
    report_on(&scenario().lake, kind, extra)
}

/// Runs `flowlake report KIND` on `lake` with the scenario's config.
pub fn report_on(lake: &Path, kind: &str, extra: &[&str]) -> (i32, String) {
    report_with(lake, &scenario().files.join("flowlake.toml"), kind, extra)
}

/// Runs `flowlake report KIND` on `lake` with `config`: (exit code, stdout and stderr).
fn report_with(lake: &Path, config: &Path, kind: &str, extra: &[&str]) -> (i32, String) {
    let lake = lake.display().to_string();
    let config = config.display().to_string();
    let mut args = vec!["report", kind, "--lake", &lake, "--config", &config];
    args.extend(extra);
    let out = flowlake(&args, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "report {kind} {extra:?} panicked: {stderr}"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap() + &stderr,
    )
}

fn json(kind: &str, extra: &[&str]) -> Value {
    json_on(&scenario().lake, kind, extra)
}

/// `report KIND --format json` on `lake`.
pub fn json_on(lake: &Path, kind: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--format", "json"];
    args.extend(extra);
    let (code, out) = report_on(lake, kind, &args);
    assert_eq!(code, 0, "{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Whether finding `f` is of `kind`, or lists it among the kinds of its subject.
pub fn has_kind(f: &Value, kind: &Value) -> bool {
    &f["kind"] == kind || f["kinds"].as_array().is_some_and(|k| k.contains(kind))
}

pub fn findings(v: &Value) -> &Vec<Value> {
    v["findings"].as_array().unwrap()
}

pub fn sev_rank(f: &Value) -> u8 {
    match f["severity"].as_str().unwrap() {
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}

/// Position of the first finding matching `pred`, with the finding.
pub fn find(v: &Value, pred: impl Fn(&Value) -> bool) -> Option<(usize, &Value)> {
    findings(v).iter().enumerate().find(|(_, f)| pred(f))
}

#[test]
fn exfil_ranks_every_planted_incident_high_or_medium_near_the_top() {
    let s = scenario();
    let v = json("exfil", &[]);
    assert_eq!(v["report"], "exfil");
    assert_eq!(
        v["window"]["since"], "2026-11-04T00:00:00Z",
        "default: the last day"
    );
    assert_eq!(v["baseline"]["until"], "2026-11-04T00:00:00Z");
    let incidents: Vec<&Value> = s.key["incidents"]
        .as_array()
        .unwrap()
        .iter()
        // Those that need location databases: tests/it/geo.rs.
        .filter(|i| i["report"] == "exfil" && i["needs"].is_null())
        .collect();
    assert_eq!(incidents.len(), 4);
    for inc in incidents {
        let (pos, f) = find(&v, |f| {
            has_kind(f, &inc["kind"]) && f["src_ip"] == inc["ip"] && f["dst_ip"] == inc["dst_ip"]
        })
        .unwrap_or_else(|| panic!("not found: {inc}\n{v:#}"));
        assert!(sev_rank(f) >= 2, "{inc}: {f}");
        assert!(pos < 10, "{inc} at position {pos}");
        for k in [
            "bytes_out",
            "bytes_in",
            "flows",
            "first_seen",
            "last_seen",
            "rule",
            "baseline",
        ] {
            assert!(f.get(k).is_some(), "{k} missing in {f}");
        }
        assert!(
            f["reason"]
                .as_str()
                .unwrap()
                .contains(inc["ip"].as_str().unwrap())
        );
        let score = f["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score), "{f}");
        names_its_workload(f, "src", &inc["who"]);
    }
    // The odd-port upload is also a volume anomaly of its source (the workload, across its
    // daily restarts), against its own baseline.
    let upload = &s.key["incidents"][0];
    assert_eq!(upload["kind"], "unexpected_port");
    let (_, f) = find(&v, |f| {
        f["kind"] == "volume_anomaly" && f["src_ip"] == upload["ip"]
    })
    .unwrap();
    assert_eq!(f["src_workload"], "exporter", "{f}");
    assert_eq!(f["severity"], "high");
    assert!(f["baseline"].as_f64().unwrap() > 0.0, "{f}");
    // Sorted by severity, then score.
    let fs = findings(&v);
    for w in fs.windows(2) {
        let (a, b) = (sev_rank(&w[0]), sev_rank(&w[1]));
        assert!(a > b || (a == b && w[0]["score"].as_f64() >= w[1]["score"].as_f64()));
    }
}

/// Checks that finding `f` names `who` (an answer key entry) for its address `prefix`
/// (`src`, `dst` or `ip`), in its evidence and its reason.
pub fn names_its_workload(f: &Value, prefix: &str, who: &Value) {
    let reason = f["reason"].as_str().unwrap();
    let get = |k: &str| &f[format!("{prefix}_{k}")];
    let workload = format!(
        "{}/{}",
        who["namespace"].as_str().unwrap_or_default(),
        who["workload"].as_str().unwrap_or_default()
    );
    match who["via"].as_str().unwrap() {
        "pod" => {
            assert_eq!(get("kind"), "pod", "{f}");
            assert_eq!(get("namespace"), &who["namespace"], "{f}");
            assert_eq!(get("workload"), &who["workload"], "{f}");
            assert_eq!(get("workload_kind"), &who["workload_kind"], "{f}");
            assert_eq!(get("node"), &who["node"], "{f}");
            assert!(get("pod").as_str().is_some(), "{f}");
            assert!(reason.contains(&workload), "{reason}");
        }
        "node" => {
            // Overlay egress leaves as the node: the node, with the workload as a candidate.
            assert_eq!(get("kind"), "node", "{f}");
            assert_eq!(get("node"), &who["node"], "{f}");
            let candidates = get("candidates").as_array().unwrap();
            assert!(candidates.contains(&Value::from(workload.clone())), "{f}");
            assert!(
                reason.contains("candidates") && reason.contains(&workload),
                "{reason}"
            );
        }
        "load_balancer" => {
            assert_eq!(get("kind"), "load_balancer_ip", "{f}");
            let service = who["service"].as_str().unwrap();
            assert!(
                get("services")
                    .as_array()
                    .unwrap()
                    .contains(&Value::from(service)),
                "{f}"
            );
            let backing = format!("{} {workload}", who["workload_kind"].as_str().unwrap());
            assert!(
                get("service_workloads")
                    .as_array()
                    .unwrap()
                    .contains(&Value::from(backing)),
                "{f}"
            );
            assert!(reason.contains(&format!("Service {service}")), "{reason}");
            assert!(reason.contains(&workload), "{reason}");
        }
        "node_itself" => {
            assert_eq!(get("kind"), "node", "{f}");
            assert_eq!(get("node"), &who["node"], "{f}");
            assert!(reason.contains(who["node"].as_str().unwrap()), "{reason}");
        }
        other => panic!("unknown via {other}"),
    }
}

/// The destinations of the scenario's legitimate big transfers.
pub fn legitimate_destinations() -> Vec<&'static str> {
    scenario().key["legitimate"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["dst_ip"].as_str().unwrap())
        .collect()
}

#[test]
fn legitimate_big_transfers_are_never_above_info() {
    let legit = legitimate_destinations();
    // The incident day, and a normal day judged against the days before it.
    for extra in [
        &[][..],
        &["--since", "2026-11-03", "--until", "2026-11-04"][..],
    ] {
        let v = json("exfil", extra);
        for f in findings(&v) {
            if sev_rank(f) == 0 {
                continue;
            }
            let dst = f["dst_ip"].as_str().unwrap();
            assert!(!legit.contains(&dst), "legitimate transfer reported: {f}");
            // Nodes 0 and 1 and the pods on them only do legitimate big transfers.
            assert!(
                !["10.224.0.4", "10.224.0.5"].contains(&f["src_ip"].as_str().unwrap()),
                "{f}"
            );
            let node = f["src_node"].as_str().unwrap_or_default();
            assert!(
                !node.ends_with("flat-12345678-vmss000000")
                    && !node.ends_with("overlay-12345678-vmss000000"),
                "{f}"
            );
        }
    }
    let v = json("exfil", &["--since", "2026-11-03", "--until", "2026-11-04"]);
    assert!(
        findings(&v).iter().all(|f| sev_rank(f) == 0),
        "a normal day has no findings above info: {v:#}"
    );
}

#[test]
fn exposure_ranks_ssh_and_database_high_and_expected_web_as_info() {
    let s = scenario();
    let v = json("exposure", &[]);
    for inc in s.key["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["report"] == "exposure")
    {
        let (pos, f) = find(&v, |f| f["ip"] == inc["ip"] && f["port"] == inc["port"])
            .unwrap_or_else(|| panic!("not found: {inc}"));
        assert!(has_kind(f, &inc["kind"]), "{inc}: {f}");
        assert_eq!(f["severity"], "high", "{f}");
        assert!(pos < 4, "{inc} at {pos}");
        assert_eq!(f["answered"], true);
        assert_eq!(f["new"], true);
        assert_eq!(f["expected"], false);
        assert_eq!(f["rule"], "UserRule_allow-mgmt-any");
        assert!(f["external_sources"].as_u64().unwrap() >= 5, "{f}");
        names_its_workload(f, "ip", &inc["who"]);
    }
    for f in findings(&v).iter().filter(|f| f["port"] == 443) {
        assert_eq!(f["severity"], "info", "declared expected: {f}");
        assert_eq!(f["expected"], true);
    }
    let (_, scan) = find(&v, |f| f["kind"] == "scan_pressure").expect("denied scans");
    assert!(scan["denied_flows"].as_u64().unwrap() > 100, "{scan}");
}

#[test]
fn rules_audit_names_the_broad_the_shadowed_and_the_never_hit_rule() {
    let s = scenario();
    let v = json("rules", &[]);
    for pair in s.key["rules"].as_array().unwrap() {
        let (kind, rule) = (&pair[0], &pair[1]);
        let (_, f) = find(&v, |f| &f["kind"] == kind && &f["rule"] == rule)
            .unwrap_or_else(|| panic!("{kind} {rule} not found in {v:#}"));
        assert!(sev_rank(f) >= 1, "{f}");
        if kind == "never_hit" {
            // The claim states the coverage it rests on.
            assert!(f["coverage_nics"].as_u64().unwrap() >= 1, "{f}");
            assert_eq!(f["coverage_hours"], 24, "{f}");
            assert!(f["reason"].as_str().unwrap().contains("24 hours"));
        }
    }
    let (_, broad) = find(&v, |f| {
        f["kind"] == "broad_allow" && f["rule"] == "UserRule_allow-mgmt-any"
    })
    .unwrap();
    assert_eq!(broad["severity"], "high");
    // NSGs 01 and 03 only have VNet-logged NICs (no NSG name in the logs): no claim is made.
    for n in ["aks-agentpool-01-nsg", "aks-agentpool-03-nsg"] {
        assert!(
            find(&v, |f| f["kind"] == "no_coverage" && f["nsg"] == n).is_some(),
            "{n}"
        );
        assert!(
            find(&v, |f| f["kind"] == "never_hit" && f["nsg"] == n).is_none(),
            "{n}"
        );
    }
    let (_, hits) = find(&v, |f| {
        f["kind"] == "rule_hits" && f["rule"] == "DefaultRule_DenyAllInBound"
    })
    .unwrap();
    assert!(hits["denied_flows"].as_u64().unwrap() > 0);
    assert!(hits.get("first_seen").is_some() && hits.get("distinct_peers").is_some());
}

#[test]
fn summary_reports_coverage_gaps_top_talkers_and_traffic_over_time() {
    let v = json("summary", &[]);
    let c = &v["coverage"];
    assert_eq!(c["nics"], 8);
    assert_eq!(c["window_hours"], 24);
    assert_eq!(c["window_hours_with_data"], 24);
    assert_eq!(c["nic_hours_with_data"], 8 * 24 - 3);
    assert_eq!(c["baseline_hours_with_data"], 72);
    let (_, gap) = find(&v, |f| f["kind"] == "coverage_gap").expect("the removed hours");
    assert_eq!(gap["nic"], "00-0D-3A-10-00-00");
    assert_eq!(gap["since"], "2026-11-04T10:00:00Z");
    assert_eq!(gap["until"], "2026-11-04T13:00:00Z");
    assert_eq!(gap["hours"], 3);
    assert_eq!(gap["severity"], "low");
    let top = v["top_talkers"].as_array().unwrap();
    assert_eq!(top.len(), 10, "[report] top: 8 nodes and more pods talk");
    assert_eq!(
        top[0]["ip"],
        scenario().key["incidents"][0]["ip"],
        "the odd-port uploader moved the most"
    );
    assert_eq!(v["timeline"].as_array().unwrap().len(), 24);
}

/// Each top talker's `peers` is the number of distinct addresses it exchanged allowed traffic
/// with in the window, as `count(DISTINCT …)` over the same rollup rows counts them.
#[test]
fn top_talkers_count_each_distinct_peer_once() {
    let v = json("summary", &[]);
    let (since, until) = (&v["window"]["since"], &v["window"]["until"]);
    let q = format!(
        "SELECT ip, count(DISTINCT peer) AS peers FROM (SELECT \
           CASE WHEN direction = 'outbound' THEN src_ip ELSE dst_ip END AS ip, \
           CASE WHEN direction = 'outbound' THEN dst_ip ELSE src_ip END AS peer \
         FROM hourly WHERE hour >= TIMESTAMP {since} AND hour < TIMESTAMP {until} \
           AND decision = 'allow') GROUP BY ip"
    )
    .replace('"', "'");
    let want = sql_json(&scenario().lake, &q);
    let top = v["top_talkers"].as_array().unwrap();
    assert!(!top.is_empty());
    for t in top {
        let w = want.iter().find(|w| w["ip"] == t["ip"]).unwrap();
        assert_eq!(t["peers"], w["peers"], "{t}");
    }
    assert!(top.iter().any(|t| t["peers"].as_u64() > Some(1)), "{top:?}");
}

/// Each hour of the summary's timeline holds the same sums as the plain `CASE … ELSE 0`
/// reading of the rollup (timeline.sql sums `CASE WHEN … THEN column END` instead): zero,
/// never null, where no row of the hour met a condition.
#[test]
fn timeline_sums_each_hour_as_the_rollup_holds_it() {
    let v = json("summary", &[]);
    let (since, until) = (&v["window"]["since"], &v["window"]["until"]);
    let q = format!(
        "SELECT hour, \
           sum(CASE WHEN decision = 'allow' AND direction = 'outbound' AND dst_class = 'public' \
                    THEN coalesce(bytes_src_to_dst, 0) ELSE 0 END) AS bytes_to_external, \
           sum(CASE WHEN decision = 'allow' AND direction = 'inbound' AND src_class = 'public' \
                    THEN coalesce(bytes_src_to_dst, 0) ELSE 0 END) AS bytes_from_external, \
           sum(CASE WHEN decision = 'allow' THEN coalesce(bytes_src_to_dst, 0) \
                    + coalesce(bytes_dst_to_src, 0) ELSE 0 END) AS bytes, \
           sum(CASE WHEN decision = 'allow' THEN flows_begun ELSE 0 END) AS flows, \
           sum(CASE WHEN decision = 'deny' THEN tuples ELSE 0 END) AS denied \
         FROM hourly WHERE hour >= TIMESTAMP {since} AND hour < TIMESTAMP {until} \
         GROUP BY hour ORDER BY hour"
    )
    .replace('"', "'");
    let want = sql_json(&scenario().lake, &q);
    let got = v["timeline"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    let columns = [
        "bytes_to_external",
        "bytes_from_external",
        "bytes",
        "flows",
        "denied",
    ];
    for (g, w) in got.iter().zip(&want) {
        for c in columns {
            assert!(g[c].is_u64(), "{c} of {g}");
            assert_eq!(g[c], w[c], "{c} of {g}");
        }
    }
    for c in columns {
        assert!(got.iter().any(|g| g[c].as_u64() > Some(0)), "{c}: {got:?}");
    }
    // With every address internal, no hour has external traffic: zeros, not nulls.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("flowlake.toml");
    std::fs::write(&config, "[report]\ninternal = [\"0.0.0.0/0\", \"::/0\"]\n").unwrap();
    let (code, out) = report_with(&scenario().lake, &config, "summary", &["--format", "json"]);
    assert_eq!(code, 0, "{out}");
    let closed: Value = serde_json::from_str(&out).unwrap();
    let closed = closed["timeline"].as_array().unwrap();
    assert_eq!(closed.len(), got.len());
    for (c, g) in closed.iter().zip(got) {
        assert_eq!(c["bytes_to_external"], 0, "{c}");
        assert_eq!(c["bytes_from_external"], 0, "{c}");
        assert_eq!(c["bytes"], g["bytes"], "{c}");
    }
}

/// `--timings` tells on stderr where the time went; the report on stdout is unchanged.
#[test]
fn timings_name_each_query_with_its_plan_and_run_time() {
    let s = scenario();
    let lake = s.lake.display().to_string();
    let config = s.files.join("flowlake.toml").display().to_string();
    let args = [
        "report", "summary", "--lake", &lake, "--config", &config, "--format", "json",
    ];
    let plain = flowlake(&args, &[]);
    let timed = flowlake(&[&args[..], &["--timings"]].concat(), &[]);
    assert!(timed.status.success());
    let strip = |out: &[u8]| {
        let mut v: Value = serde_json::from_slice(out).unwrap();
        v["generated_at"] = Value::Null;
        v
    };
    assert_eq!(strip(&timed.stdout), strip(&plain.stdout));
    let err = String::from_utf8_lossy(&timed.stderr);
    assert!(err.starts_with("flowlake: timings"), "{err}");
    for q in ["coverage.sql", "top_talkers.sql", "timeline.sql"] {
        let line = err
            .lines()
            .find(|l| l.trim_start().starts_with(q))
            .unwrap_or_else(|| panic!("{q}: {err}"));
        assert!(
            line.contains("plan ") && line.contains("run ") && line.ends_with(" rows"),
            "{line}"
        );
    }
    assert!(err.contains("session") && err.contains("total"), "{err}");
}

#[test]
fn output_is_deterministic_and_every_format_shows_the_same_findings() {
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("generated_at");
        v
    };
    let a = strip(json("exfil", &[]));
    let b = strip(json("exfil", &[]));
    assert_eq!(a, b);
    let n = findings(&a).len();
    let (code, csv) = report("exfil", &["--format", "csv"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("kind,severity,score,reason,"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), n + 1);
    let (_, md) = report("exfil", &["--format", "markdown"]);
    assert!(md.starts_with("## flowlake exfil report"));
    assert_eq!(
        md.lines()
            .filter(|l| l.starts_with("| high") || l.starts_with("| medium"))
            .count(),
        n
    );
    let (_, table) = report("exfil", &[]);
    assert!(
        table.contains("SEVERITY") && table.contains("185.220.101.45"),
        "{table}"
    );

    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("exfil.parquet");
    let (code, out) = report(
        "exfil",
        &["--format", "parquet", "-o", pq.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
    let f = std::fs::File::open(&pq).unwrap();
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let meta = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .clone();
    assert!(meta.iter().any(|kv| kv.key == "flowlake.report"));
    let schema = builder.schema().clone();
    assert!(matches!(
        schema.field_with_name("first_seen").unwrap().data_type(),
        arrow::datatypes::DataType::Timestamp(_, _)
    ));
    let rows: usize = builder
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, n);
}

#[test]
fn fail_on_sets_exit_status_4_at_or_above_the_severity() {
    assert_eq!(report("exfil", &["--fail-on", "high"]).0, 4);
    // The summary's worst finding is the low coverage gap.
    assert_eq!(report("summary", &["--fail-on", "medium"]).0, 0);
    assert_eq!(report("summary", &["--fail-on", "low"]).0, 4);
    assert_eq!(report("exfil", &["--fail-on", "severe"]).0, 2);
}

#[test]
fn bad_settings_and_windows_are_clear_errors() {
    let s = scenario();
    let dir = tempfile::tempdir().unwrap();
    let lake = s.lake.display().to_string();
    let run = |config: &str, extra: &[&str]| {
        let p = dir.path().join("c.toml");
        std::fs::write(&p, config).unwrap();
        let mut args = vec![
            "report",
            "exfil",
            "--lake",
            &lake,
            "--config",
            p.to_str().unwrap(),
        ];
        args.extend(extra);
        let out = flowlake(&args, &[]);
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Settings, flag values and a config file that cannot be used are usage errors (exit 2).
    let (code, err) = run("[report]\nsensitive_ports = [\"tcp/22\", \"ssh\"]\n", &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("sensitive_ports") && err.contains("'ssh'"),
        "{err}"
    );
    let (code, err) = run("[report]\nmin_byte = 5\n", &[]);
    assert_eq!(code, 2);
    assert!(err.contains("min_byte"), "{err}");
    let (code, err) = run("[report]\nthreat_sets = [\"intel\"]\n", &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("'intel'") && err.contains("--set intel="),
        "{err}"
    );
    let (code, err) = run("", &["--since", "last week"]);
    assert_eq!(code, 2);
    assert!(err.contains("--since 'last week'"), "{err}");
    let (code, err) = run("", &["--baseline", "forever"]);
    assert_eq!(code, 2);
    assert!(err.contains("--baseline 'forever'"), "{err}");
}

/// The HTML page is self-contained and renders in headless Chromium without console errors.
/// Its Content Security Policy turns any network fetch into a console error.
#[test]
fn html_report_renders_in_headless_chromium_without_console_errors() {
    let bin = crate::need!(
        chromium_binary(),
        "headless Chromium (Debian: apt-get install chromium; scripts/test.sh installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    for kind in ["exfil", "summary"] {
        let page = dir.path().join(format!("{kind}.html"));
        let (code, out) = report(kind, &["--format", "html", "-o", page.to_str().unwrap()]);
        assert_eq!(code, 0, "{out}");
        let html = std::fs::read_to_string(&page).unwrap();
        for needle in ["<svg", "Content-Security-Policy", "<table>"] {
            assert!(html.contains(needle), "{kind}: {needle}");
        }
        let dom = chromium(bin, &page, dir.path());
        let rows = dom.matches("<tr><td class=\"num\">").count();
        let v = json(kind, &[]);
        assert_eq!(
            rows,
            findings(&v).len(),
            "{kind}: one table row per finding"
        );
        assert!(
            dom.contains("Bytes per hour") && dom.contains("Top talkers"),
            "{kind}"
        );
        if kind == "exfil" {
            assert!(dom.contains("Top findings over time"));
        }
    }
}

/// The first Chromium on the PATH.
pub(crate) fn chromium_binary() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// Renders `page` with headless Chromium; fails on any console message. Returns the DOM.
pub(crate) fn chromium(bin: &str, page: &Path, profile: &Path) -> String {
    let out = std::process::Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.join("chromium").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(out.status.success(), "{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// The shipped example config's [report] section is valid, and its NSG file and sets load.
#[test]
fn example_config_drives_a_report_on_the_bundled_sample() {
    let d = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lake = d.path().join("lake");
    crate::common::ingest_lib(&[&root.join("data/azure")], &lake);
    let conf = root.join("flowlake.example.toml");
    let out = flowlake(
        &[
            "report",
            "rules",
            "--lake",
            lake.to_str().unwrap(),
            "--config",
            conf.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["report"], "rules");
    assert!(!findings(&v).is_empty());
}

/// A report's JSON without what differs between runs and sources: when it was generated and
/// what it read.
fn comparable(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    o.remove("generated_at");
    o.remove("source");
    v
}

#[test]
fn every_report_finds_the_same_from_the_hourly_rollup_as_from_raw_tuples() {
    let s = scenario();
    // Whole hours (the default window: the last day with data): the rollup alone.
    for lake in [&s.lake, &s.plain] {
        for kind in ["exfil", "exposure", "rules", "summary", "workloads"] {
            let rollup = json_on(lake, kind, &[]);
            assert_eq!(
                rollup["source"]["table"], "hourly",
                "{kind}: {}",
                rollup["source"]
            );
            assert_eq!(rollup["source"]["raw_hours"], serde_json::json!([]));
            let raw = json_on(lake, kind, &["--raw"]);
            assert_eq!(raw["source"]["table"], "flows");
            assert!(
                findings(&rollup).iter().any(|f| sev_rank(f) >= 1) || kind == "workloads",
                "{kind}: nothing found"
            );
            assert_eq!(
                comparable(rollup),
                comparable(raw),
                "{kind} on {}",
                lake.display()
            );
        }
    }
    // Bounds inside hours: those hours are read raw, the rest from the rollup.
    let split = [
        "--since",
        "2026-11-04T00:30:00Z",
        "--until",
        "2026-11-04T23:45:00Z",
    ];
    for kind in ["exfil", "exposure", "rules", "summary"] {
        let rollup = json_on(&s.lake, kind, &split);
        assert_eq!(rollup["source"]["table"], "hourly");
        assert_eq!(
            rollup["source"]["raw_hours"],
            serde_json::json!([
                "2026-10-28T00:00:00Z",
                "2026-11-04T00:00:00Z",
                "2026-11-04T23:00:00Z"
            ])
        );
        let mut raw_args = split.to_vec();
        raw_args.push("--raw");
        let raw = json_on(&s.lake, kind, &raw_args);
        assert_eq!(
            comparable(rollup),
            comparable(raw),
            "{kind} over split hours"
        );
    }
    let (_, table) = report("exfil", &[]);
    assert!(
        table.contains("read from: the hourly rollup answers whole hours"),
        "{table}"
    );
}
