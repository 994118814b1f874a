//! `flowlake inventory`: kubectl snapshots, watch streams and az NIC lists into the lake's
//! `inventory` table; addresses resolved to workloads at the flows' times.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{flowlake, write};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/k8s")
        .join(name)
}

/// `flowlake inventory import FILE --lake LAKE --cluster aks-shop --at AT --json`.
fn import(lake: &Path, file: &Path, at: &str) -> (i32, Value, String) {
    let out = flowlake(
        &[
            "inventory",
            "import",
            &file.display().to_string(),
            "--lake",
            &lake.display().to_string(),
            "--cluster",
            "aks-shop",
            "--at",
            at,
            "--json",
        ],
        &[],
    );
    let summary = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "summary ({e}): {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.code().unwrap_or(-1),
        summary,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The fixtures' day, imported in the given order.
fn imported(lake: &Path, order: &[(&str, &str)]) {
    for (file, at) in order {
        let (code, s, err) = import(lake, &fixture(file), at);
        assert_eq!(code, 0, "{file}: {s} {err}");
        assert_eq!(s["imported"], 1, "{file}: {s}");
    }
}

const DAY: [(&str, &str); 4] = [
    ("snapshot-0800.json", "2026-11-03T08:00:00Z"),
    ("watch-pods.json", "2026-11-03T09:00:00Z"),
    ("snapshot-1000.json", "2026-11-03T10:00:00Z"),
    ("nics.json", "2026-11-03T10:00:00Z"),
];

/// `flowlake inventory show --lake LAKE --format csv EXTRA...`: (exit code, stdout, or stderr
/// when it failed).
fn show(lake: &Path, extra: &[&str]) -> (i32, String) {
    let lake = lake.display().to_string();
    let mut args = vec!["inventory", "show", "--lake", &lake, "--format", "csv"];
    args.extend(extra);
    let out = flowlake(&args, &[]);
    let code = out.status.code().unwrap_or(-1);
    let text = if code == 0 { out.stdout } else { out.stderr };
    (code, String::from_utf8(text).unwrap())
}

fn sql(lake: &Path, q: &str) -> String {
    let out = flowlake(
        &[
            "sql",
            "--lake",
            &lake.display().to_string(),
            "--format",
            "csv",
            q,
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{q}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `kind,namespace,workload_kind,workload,pod,node,name` of `ip` at `t`.
fn resolve(lake: &Path, ip: &str, t: &str) -> String {
    let q = format!(
        "SELECT {} FROM (VALUES (1))",
        [
            "k8s_kind",
            "k8s_namespace",
            "k8s_workload_kind",
            "k8s_workload",
            "k8s_pod",
            "k8s_node",
            "k8s_name"
        ]
        .map(|f| format!("{f}('{ip}', TIMESTAMP '{t}')"))
        .join(", ")
    );
    sql(lake, &q).lines().nth(1).unwrap_or_default().to_string()
}

#[test]
fn addresses_resolve_to_their_holder_at_each_time() {
    let d = tempfile::tempdir().unwrap();
    let lake = d.path().join("lake");
    imported(&lake, &DAY);
    const NODE: &str = "aks-flat-12345678-vmss000000";
    let cases = [
        // web's pod, then (after a rolling restart) the same IP reused by billing/reports.
        (
            "10.224.0.20",
            "2026-11-03T08:30:00Z",
            "pod,shop,Deployment,web,web-7d9f8b6c4-abcde,NODE,web-7d9f8b6c4-abcde".to_string(),
        ),
        (
            "10.224.0.20",
            "2026-11-03T09:15:00Z",
            "pod,shop,Deployment,web,web-7d9f8b6c4-abcde,NODE,web-7d9f8b6c4-abcde".to_string(),
        ),
        (
            "10.224.0.20",
            "2026-11-03T09:45:00Z",
            "pod,billing,Deployment,reports,reports-59c6b8d7f-q8w4e,NODE,reports-59c6b8d7f-q8w4e"
                .to_string(),
        ),
        // web's new pod: the ReplicaSet is not in that snapshot, the template hash names it.
        (
            "10.224.0.21",
            "2026-11-03T09:45:00Z",
            "pod,shop,Deployment,web,web-7d9f8b6c4-fghij,NODE,web-7d9f8b6c4-fghij".to_string(),
        ),
        (
            "10.224.0.30",
            "2026-11-03T08:30:00Z",
            "pod,shop,StatefulSet,db,db-0,NODE,db-0".to_string(),
        ),
        // A CronJob's pod until its container finished (08:12:30), then nobody.
        (
            "10.224.0.40",
            "2026-11-03T08:05:00Z",
            "pod,ops,CronJob,backup,backup-29894850-x7k2p,NODE,backup-29894850-x7k2p".to_string(),
        ),
        ("10.224.0.40", "2026-11-03T08:30:00Z", ",,,,,,".to_string()),
        // The node's address: the node, not its host-network kube-proxy or its NIC.
        (
            "10.224.0.4",
            "2026-11-03T08:30:00Z",
            "node,,,,,NODE,NODE".to_string(),
        ),
        // The Service's frontends, backed by web (EndpointSlice at 08:00, selector at 10:00).
        (
            "20.50.60.70",
            "2026-11-03T08:30:00Z",
            "load_balancer_ip,shop,Deployment,web,,,web".to_string(),
        ),
        (
            "10.0.12.34",
            "2026-11-03T10:30:00Z",
            "service_cluster_ip,shop,Deployment,web,,,web".to_string(),
        ),
        // From the watch stream: exact start and deletion.
        (
            "10.224.0.50",
            "2026-11-03T08:30:00Z",
            "pod,shop,Deployment,worker,worker-6f7c9d8b5-m2n3p,NODE,worker-6f7c9d8b5-m2n3p"
                .to_string(),
        ),
        ("10.224.0.50", "2026-11-03T08:50:00Z", ",,,,,,".to_string()),
        // A VM outside the cluster, from the NIC list.
        (
            "10.225.0.10",
            "2026-11-03T10:30:00Z",
            "nic,,,,,,jump01-nic".to_string(),
        ),
        ("10.224.0.99", "2026-11-03T08:30:00Z", ",,,,,,".to_string()),
    ];
    for (ip, t, want) in cases {
        assert_eq!(
            resolve(&lake, ip, t),
            want.replace("NODE", NODE),
            "{ip} at {t}"
        );
    }
    // What reports count as one source.
    let q = "SELECT k8s_subject('10.224.0.20', TIMESTAMP '2026-11-03T08:30:00Z') AS a, \
             k8s_subject('10.224.0.4', TIMESTAMP '2026-11-03T08:30:00Z') AS b, \
             k8s_subject('10.224.0.99', TIMESTAMP '2026-11-03T08:30:00Z') AS c";
    assert_eq!(sql(&lake, q), format!("a,b,c\nshop/web,node:{NODE},\n"));
}

#[test]
fn imports_are_exactly_once_and_order_free() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    imported(&a, &DAY);
    let mut rev = DAY;
    rev.reverse();
    imported(&b, &rev);
    let show = |lake: &Path| show(lake, &[]).1;
    let shown = show(&a);
    assert_eq!(
        shown,
        show(&b),
        "snapshots imported in any order give the same intervals"
    );
    assert!(shown.lines().count() > 10, "{shown}");
    // Re-importing adds nothing and commits nothing.
    let info = |lake: &Path| std::fs::read_to_string(lake.join("_flowlake/manifest.json")).unwrap();
    let before = info(&a);
    for (file, at) in DAY {
        let (code, s, _) = import(&a, &fixture(file), at);
        assert_eq!(
            (code, &s["imported"], &s["unchanged"]),
            (0, &Value::from(0), &Value::from(1))
        );
    }
    assert_eq!(before, info(&a));
    assert_eq!(shown, show(&a));
}

#[test]
fn show_filters_by_time_address_and_namespace() {
    let d = tempfile::tempdir().unwrap();
    let lake = d.path().join("lake");
    imported(&lake, &DAY);
    let (_, text) = show(
        &lake,
        &["--at", "2026-11-03T09:45:00Z", "--ip", "10.224.0.20"],
    );
    let rows: Vec<&str> = text.lines().skip(1).collect();
    // Both bindings may hold at 09:45 (web's ended between the 08:00 and 10:00 snapshots);
    // lookups pick the newer, reports; show lists both with their certainties.
    assert!(
        rows.iter()
            .any(|r| r.contains("reports") && r.contains(",exact,")),
        "{text}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("web-7d9f8b6c4-abcde") && r.ends_with("bounded")),
        "{text}"
    );
    let (_, text) = show(&lake, &["--namespace", "billing"]);
    assert_eq!(text.lines().count(), 2, "{text}");
    let (code, err) = show(&lake, &["--ip", "10.0.0.300"]);
    assert_eq!(code, 2);
    assert!(err.contains("--ip '10.0.0.300'"), "{err}");
}

#[test]
fn cut_streams_and_bad_objects_are_rejected_with_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let lake = d.path().join("lake");
    // A watch stream cut in the middle of its third event.
    let text = std::fs::read_to_string(fixture("watch-pods.json")).unwrap();
    let cut_at = text.match_indices("\"object\"").nth(2).unwrap().0 + 200;
    let cut = write(d.path(), "in/watch-cut.json", &text[..cut_at]);
    let (code, s, err) = import(&lake, &cut, "2026-11-03T09:00:00Z");
    assert_eq!(code, 3, "{s} {err}");
    let r = &s["rejects"][0];
    assert_eq!(r["file"], cut.display().to_string());
    assert!(r["line"].as_u64().unwrap() > 40, "{r}");
    assert!(r["message"].as_str().unwrap().contains("cut"), "{r}");
    assert!(err.contains("watch-cut.json:"), "{err}");
    assert!(s["rejects_file"].as_str().unwrap().starts_with("rejects/"));
    // The events before the cut stand: the worker pod, still open.
    assert_eq!(
        resolve(&lake, "10.224.0.50", "2026-11-03T09:30:00Z"),
        "pod,shop,Deployment,worker,worker-6f7c9d8b5-m2n3p,aks-flat-12345678-vmss000000,worker-6f7c9d8b5-m2n3p"
    );

    // An unknown kind and a malformed Pod among good objects.
    let list = r#"{"apiVersion":"v1","kind":"List","items":[
{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","namespace":"shop"},"data":{}},
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad","namespace":"shop","uid":"u-bad"},"status":{"podIPs":"10.1.1.1"}},
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"good","namespace":"shop","uid":"u-good"},"status":{"phase":"Running","podIP":"10.1.1.2","startTime":"2026-11-03T07:00:00Z"}}
]}"#;
    let f = write(d.path(), "in/list.json", list);
    let (code, s, _) = import(&lake, &f, "2026-11-03T08:00:00Z");
    assert_eq!(code, 3, "{s}");
    let rejects = s["rejects"].as_array().unwrap();
    assert_eq!(rejects.len(), 2, "{s}");
    assert_eq!(rejects[0]["line"], 2);
    assert!(
        rejects[0]["message"]
            .as_str()
            .unwrap()
            .contains("ConfigMap")
    );
    assert_eq!(rejects[1]["line"], 3);
    assert!(
        rejects[1]["message"]
            .as_str()
            .unwrap()
            .contains("Pod is not valid")
    );
    assert_eq!(
        resolve(&lake, "10.1.1.2", "2026-11-03T08:00:00Z"),
        "pod,shop,Pod,good,good,,good"
    );
    // Not an inventory file at all.
    let f = write(d.path(), "in/notes.json", "hello");
    let (code, s, _) = import(&lake, &f, "2026-11-03T08:00:00Z");
    assert_eq!(code, 3);
    assert!(
        s["rejects"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not an inventory file")
    );
}

/// `flowlake ingest SRC --lake LAKE --settle 0s -q`, which must succeed.
fn ingest(src: &Path, lake: &Path) {
    let out = flowlake(
        &[
            "ingest",
            &src.display().to_string(),
            "--lake",
            &lake.display().to_string(),
            "--settle",
            "0s",
            "-q",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `flowlake report KIND` over 2026-11-03 as JSON, with `extra` flags.
fn report(kind: &str, lake: &Path, extra: &[&str]) -> Value {
    let lake = lake.display().to_string();
    let mut args = vec![
        "report",
        kind,
        "--lake",
        &lake,
        "--since",
        "2026-11-03",
        "--until",
        "2026-11-04",
        "--format",
        "json",
    ];
    args.extend(extra);
    let out = flowlake(&args, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// An NSG v2 blob with one tuple per (time, source) from `tuples`.
fn nsg_blob(tuples: &[(i64, &str, &str)]) -> String {
    let t: Vec<String> = tuples
        .iter()
        .map(|(ts, src, dst)| format!("{ts},{src},{dst},40000,443,T,O,A,E,10,1000,10,5000"))
        .collect();
    nsg_blob_of(&t)
}

/// An NSG v2 blob of the tuples as written (`time,src,dst,sport,dport,T,O,A,E,...`).
fn nsg_blob_of(tuples: &[String]) -> String {
    let t: Vec<String> = tuples.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        r#"{{"records":[{{"time":"2026-11-03T09:00:00.0000000Z","systemId":"s","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG","operationName":"NetworkSecurityGroupFlowEvents","properties":{{"Version":2,"flows":[{{"rule":"UserRule_allow-out","flows":[{{"mac":"6045BD123456","flowTuples":[{}]}}]}}]}}}}]}}"#,
        t.join(",")
    )
}

#[test]
fn flows_k8s_names_each_flows_workload_at_its_time() {
    let d = tempfile::tempdir().unwrap();
    let lake = d.path().join("lake");
    imported(&lake, &DAY);
    // 08:30 and 09:45 on 2026-11-03: the same source address, two workloads.
    let blob = nsg_blob(&[
        (1_793_694_600, "10.224.0.20", "185.220.101.45"),
        (1_793_699_100, "10.224.0.20", "185.220.101.45"),
        (1_793_699_100, "10.224.0.4", "10.224.0.30"),
    ]);
    let src = write(d.path(), "src/y=2026/m=11/d=03/h=09/m=00/PT1H.json", &blob);
    ingest(&src, &lake);
    let got = sql(
        &lake,
        "SELECT time, src_kind, src_namespace, src_workload, src_node, dst_kind, dst_workload \
         FROM flows_k8s ORDER BY time, src_ip",
    );
    assert_eq!(
        got,
        "time,src_kind,src_namespace,src_workload,src_node,dst_kind,dst_workload\n\
         2026-11-03T08:30:00Z,pod,shop,web,aks-flat-12345678-vmss000000,,\n\
         2026-11-03T09:45:00Z,pod,billing,reports,aks-flat-12345678-vmss000000,,\n\
         2026-11-03T09:45:00Z,node,,,aks-flat-12345678-vmss000000,pod,db\n"
    );
}

#[test]
fn report_findings_name_the_workload_at_the_flows_time() {
    let d = tempfile::tempdir().unwrap();
    let lake = d.path().join("lake");
    imported(&lake, &DAY);
    // Egress on an unexpected port: from web's pod IP at 08:30, from the same IP at 09:45
    // (then billing/reports'), and from the node's own address (SNAT'd pod traffic).
    let blob = nsg_blob(&[
        (1_793_694_600, "10.224.0.20", "185.220.101.45"),
        (1_793_699_100, "10.224.0.20", "185.220.101.46"),
        (1_793_699_100, "10.224.0.4", "185.220.101.47"),
        (1_793_699_100, "10.224.0.99", "185.220.101.48"),
    ])
    .replace(",443,", ",4444,");
    let src = write(d.path(), "src/y=2026/m=11/d=03/h=09/m=00/PT1H.json", &blob);
    ingest(&src, &lake);
    // Settings scoped to workloads and namespaces apply to their traffic only.
    let config = write(
        d.path(),
        "flowlake.toml",
        "[report]\nexpected_egress_ports = [\"tcp/443\", \"workload:shop/web tcp/4444\"]\nallowed_destinations = [\"ns:billing 185.220.101.0/24\"]\n",
    );
    let scoped = report("exfil", &lake, &["--config", config.to_str().unwrap()]);
    let dsts: Vec<&str> = scoped["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["dst_ip"].as_str().unwrap())
        .collect();
    assert_eq!(dsts.len(), 2, "{scoped}");
    assert!(
        dsts.contains(&"185.220.101.47") && dsts.contains(&"185.220.101.48"),
        "{scoped}"
    );
    let bad = write(
        d.path(),
        "bad.toml",
        "[report]\nexpected_egress_ports = [\"workload:shop tcp/80\"]\n",
    );
    let out = flowlake(
        &[
            "report",
            "exfil",
            "--lake",
            &lake.display().to_string(),
            "--config",
            bad.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("expected_egress_ports: 'workload:shop tcp/80'")
    );

    let report = report("exfil", &lake, &[]);
    let by_dst = |dst: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == "unexpected_port" && f["dst_ip"] == dst)
            .unwrap_or_else(|| panic!("no finding to {dst}: {report}"))
            .clone()
    };
    let f = by_dst("185.220.101.45");
    assert_eq!(
        (&f["src_namespace"], &f["src_workload"]),
        (&Value::from("shop"), &Value::from("web")),
        "{f}"
    );
    assert_eq!(f["src_pod"], "web-7d9f8b6c4-abcde");
    assert_eq!(f["src_node"], "aks-flat-12345678-vmss000000");
    let reason = f["reason"].as_str().unwrap();
    assert!(reason.starts_with("10.224.0.20 (pod shop/web-7d9f8b6c4-abcde of Deployment shop/web on node aks-flat-12345678-vmss000000) sent"), "{reason}");
    // The same address an hour later: the other workload.
    let f = by_dst("185.220.101.46");
    assert_eq!(
        (&f["src_namespace"], &f["src_workload"]),
        (&Value::from("billing"), &Value::from("reports")),
        "{f}"
    );
    // The node's address: the node, with the workloads that ran on it as candidates.
    let f = by_dst("185.220.101.47");
    assert_eq!(
        (&f["src_kind"], &f["src_name"]),
        (
            &Value::from("node"),
            &Value::from("aks-flat-12345678-vmss000000")
        ),
        "{f}"
    );
    let candidates: Vec<&str> = f["src_candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        candidates,
        ["billing/reports", "shop/db", "shop/web"],
        "{f}"
    );
    assert!(
        f["reason"]
            .as_str()
            .unwrap()
            .contains("candidates: billing/reports, shop/db, shop/web"),
        "{f}"
    );
    // An internal address nobody held: said so.
    let f = by_dst("185.220.101.48");
    assert_eq!(f["src_kind"], Value::Null);
    assert!(
        f["reason"]
            .as_str()
            .unwrap()
            .starts_with("10.224.0.99 (not in inventory) sent"),
        "{f}"
    );
    // Outside addresses stay as they are.
    assert!(!f.as_object().unwrap().contains_key("dst_kind"), "{f}");
}

#[test]
fn a_rolling_restart_is_neither_a_new_source_nor_an_anomaly() {
    let d = tempfile::tempdir().unwrap();
    // Deployment data/etl: its pod 10.224.1.10 until 2026-11-03 00:00, then 10.224.1.11.
    let pod = |name: &str, ip: &str, start: &str, end: Option<&str>| {
        let deletion = end.map_or(String::new(), |e| format!(r#","deletionTimestamp":"{e}""#));
        format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","namespace":"data","uid":"uid-{name}","labels":{{"pod-template-hash":"5f6d7c8b9"}},"ownerReferences":[{{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"etl-5f6d7c8b9","uid":"rs","controller":true}}]{deletion}}},"status":{{"phase":"Running","podIP":"{ip}","startTime":"{start}"}}}}"#
        )
    };
    let list = format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[{},{}]}}"#,
        pod(
            "etl-5f6d7c8b9-aaaaa",
            "10.224.1.10",
            "2026-10-31T00:00:00Z",
            Some("2026-11-03T00:00:00Z")
        ),
        pod(
            "etl-5f6d7c8b9-bbbbb",
            "10.224.1.11",
            "2026-11-03T00:00:00Z",
            None
        )
    );
    let snapshot = write(d.path(), "inv/snapshot.json", &list);
    // 200 MB an hour to the same destination on tcp/443: two baseline days from the old
    // pod, the window day from the new one.
    let hour = |day: i64, h: i64| 1_793_491_200 + day * 86_400 + h * 3600; // 2026-11-01
    let mut tuples = Vec::new();
    for day in 0..3 {
        for h in 0..24 {
            let src = if day < 2 {
                "10.224.1.10"
            } else {
                "10.224.1.11"
            };
            tuples.push((hour(day, h), src, "52.1.2.3"));
        }
    }
    let blob = nsg_blob(&tuples).replace(",10,1000,10,5000", ",100000,200000000,100000,1000");
    let src = write(d.path(), "src/y=2026/m=11/d=03/h=09/m=00/PT1H.json", &blob);
    let findings = |lake: &Path| -> Vec<Value> {
        ingest(&src, lake);
        report("exfil", lake, &["--baseline", "2d"])["findings"]
            .as_array()
            .unwrap()
            .clone()
    };
    // Without an inventory the new address has no baseline: an anomaly (the control).
    let plain = d.path().join("plain");
    let f = findings(&plain);
    assert!(
        f.iter()
            .any(|f| f["kind"] == "volume_anomaly" && f["src_ip"] == "10.224.1.11"),
        "{f:?}"
    );
    // With it, the source is data/etl throughout: nothing to report.
    let lake = d.path().join("lake");
    let (code, s, err) = import(&lake, &snapshot, "2026-11-03T00:00:30Z");
    assert_eq!(code, 0, "{s} {err}");
    assert_eq!(findings(&lake), Vec::<Value>::new());
}

#[test]
fn exposed_endpoints_name_the_service_and_its_workload() {
    let d = tempfile::tempdir().unwrap();
    let lake = d.path().join("lake");
    imported(&lake, &DAY);
    // At 09:45, six internet clients reach the node's port 31443 (Service shop/web's node
    // port, behind its load balancer) and web's new pod on 8080 (flat CNI: the pod address).
    let mut tuples = Vec::new();
    for c in 1..=6 {
        for dst in ["10.224.0.4,50000,31443", "10.224.0.21,50001,8080"] {
            let (ip, rest) = dst.split_once(',').unwrap();
            tuples.push(format!(
                "1793699100,198.51.{c}.7,{ip},{rest},T,I,A,E,10,1000,10,50000"
            ));
        }
    }
    let src = write(
        d.path(),
        "src/y=2026/m=11/d=03/h=09/m=00/PT1H.json",
        &nsg_blob_of(&tuples),
    );
    ingest(&src, &lake);
    let exposure = report("exposure", &lake, &[]);
    let at = |ip: &str| {
        exposure["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["ip"] == ip)
            .unwrap_or_else(|| panic!("no finding for {ip}: {exposure}"))
            .clone()
    };
    let node = at("10.224.0.4");
    assert_eq!(
        node["ip_services"],
        serde_json::json!(["shop/web"]),
        "{node}"
    );
    assert_eq!(
        node["ip_frontends"],
        serde_json::json!(["20.50.60.70"]),
        "{node}"
    );
    let reason = node["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "exposed by Service shop/web, frontend 20.50.60.70 backed by Deployment shop/web"
        ),
        "{reason}"
    );
    // Declared expected by Service name: info.
    let config = write(
        d.path(),
        "flowlake.toml",
        "[report]\nexpected_exposed = [\"service:shop/web\"]\n",
    );
    let declared = report("exposure", &lake, &["--config", config.to_str().unwrap()]);
    for f in declared["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ip_services"].is_array())
    {
        assert_eq!(
            (&f["severity"], &f["expected"]),
            (&Value::from("info"), &Value::from(true)),
            "{f}"
        );
    }
    let pod = at("10.224.0.21");
    assert_eq!(
        (&pod["ip_workload"], &pod["ip_services"]),
        (&Value::from("web"), &serde_json::json!(["shop/web"])),
        "{pod}"
    );
    assert!(pod["reason"].as_str().unwrap().starts_with("10.224.0.21 (pod shop/web-7d9f8b6c4-fghij of Deployment shop/web on node aks-flat-12345678-vmss000000; exposed by Service shop/web, frontend 20.50.60.70 backed by Deployment shop/web)"), "{pod}");
}

#[test]
fn the_workloads_report_is_the_traffic_matrix_with_new_edges_as_findings() {
    let d = tempfile::tempdir().unwrap();
    let lake = d.path().join("lake");
    imported(&lake, &DAY);
    let day_before = 1_793_694_600 - 86_400;
    let blob = nsg_blob(&[
        // shop/db (db-0, up since 2026-11-01) to the same /24 the day before and on the day.
        (day_before, "10.224.0.30", "185.220.101.45"),
        (1_793_694_600, "10.224.0.30", "185.220.101.45"),
        // billing/reports to a /24 nobody reached before.
        (1_793_699_100, "10.224.0.20", "198.51.100.7"),
        // The node to shop/db.
        (1_793_699_100, "10.224.0.4", "10.224.0.30"),
    ])
    .replace(",10,1000,10,5000", ",1000,2000000,1000,1000");
    let src = write(d.path(), "src/y=2026/m=11/d=03/h=09/m=00/PT1H.json", &blob);
    ingest(&src, &lake);
    let r = report("workloads", &lake, &["--baseline", "1d"]);
    let edge = |src: &str, dst: &str| {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["src"] == src && f["dst"] == dst)
            .unwrap_or_else(|| panic!("no edge {src} → {dst}: {r}"))
            .clone()
    };
    let f = edge("billing/reports", "198.51.100.0/24");
    assert_eq!(
        (&f["kind"], &f["severity"], &f["new"]),
        (
            &Value::from("new_edge"),
            &Value::from("medium"),
            &Value::from(true)
        ),
        "{f}"
    );
    assert_eq!(
        (&f["src_side"], &f["dst_side"], &f["bytes"]),
        (
            &Value::from("internal"),
            &Value::from("outside"),
            &Value::from(2_001_000)
        ),
        "{f}"
    );
    assert!(
        f["reason"]
            .as_str()
            .unwrap()
            .starts_with("billing/reports → 198.51.100.0/24 (outside) on tcp/443: 2.0 MB in "),
        "{f}"
    );
    let f = edge("shop/db", "185.220.101.0/24");
    assert_eq!(
        (&f["kind"], &f["severity"]),
        (&Value::from("edge"), &Value::from("info")),
        "{f}"
    );
    let f = edge("node:aks-flat-12345678-vmss000000", "shop/db");
    assert_eq!(f["dst_side"], "internal", "{f}");
    assert_eq!(
        (&f["kind"], &f["severity"]),
        (&Value::from("new_edge"), &Value::from("medium")),
        "{f}"
    );
    assert_eq!(r["counts"]["medium"], 2, "{r}");
}

/// Fifty workloads in five namespaces, each talking to the next, to the outside, and reached
/// from it: the workloads page draws them as a graph that headless Chromium renders cleanly.
#[test]
fn the_workloads_graph_stays_legible_with_fifty_workloads() {
    let bin = crate::need!(
        crate::reports::chromium_binary(),
        "headless Chromium (Debian: apt-get install chromium; scripts/test.sh installs it)"
    );
    let d = tempfile::tempdir().unwrap();
    let lake = d.path().join("lake");
    let ip = |i: usize| format!("10.224.2.{}", 10 + i);
    let pods: Vec<String> = (0..50)
        .map(|i| {
            format!(
                r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"svc{i}-0","namespace":"team{}","uid":"u{i}","ownerReferences":[{{"apiVersion":"apps/v1","kind":"StatefulSet","name":"svc{i}","uid":"s{i}","controller":true}}]}},"status":{{"phase":"Running","podIP":"{}","startTime":"2026-11-01T00:00:00Z"}}}}"#,
                i % 5,
                ip(i)
            )
        })
        .collect();
    let list = write(
        d.path(),
        "inv/pods.json",
        &format!(
            r#"{{"apiVersion":"v1","kind":"List","items":[{}]}}"#,
            pods.join(",")
        ),
    );
    let (code, s, err) = import(&lake, &list, "2026-11-03T12:00:00Z");
    assert_eq!(code, 0, "{s} {err}");
    let mut tuples = Vec::new();
    for i in 0..50 {
        for (day, when) in [(1, 1_793_694_600), (0, 1_793_694_600 - 86_400)] {
            if day == 0 && i % 2 == 0 {
                continue; // half the edges are new on the day
            }
            let t = when + i as i64;
            tuples.push(format!(
                "{t},{},{},40000,8080,T,O,A,E,10,{},10,5000",
                ip(i),
                ip((i + 1) % 50),
                1_000_000 * (i + 1)
            ));
            tuples.push(format!(
                "{t},{},52.{}.1.1,40001,443,T,O,A,E,10,200000,10,5000",
                ip(i),
                i % 7
            ));
            tuples.push(format!(
                "{t},198.51.100.{i},{},40002,443,T,I,A,E,10,3000,10,90000",
                ip(i)
            ));
        }
    }
    let src = write(
        d.path(),
        "src/y=2026/m=11/d=03/h=09/m=00/PT1H.json",
        &nsg_blob_of(&tuples),
    );
    ingest(&src, &lake);
    let page = d.path().join("workloads.html");
    let out = flowlake(
        &[
            "report",
            "workloads",
            "--lake",
            &lake.display().to_string(),
            "--since",
            "2026-11-03",
            "--until",
            "2026-11-04",
            "--baseline",
            "1d",
            "--format",
            "html",
            "-o",
            page.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = crate::reports::chromium(bin, &page, d.path());
    assert!(dom.contains("Who talks to whom"), "the graph section");
    for ns in ["team0", "team4"] {
        assert!(dom.contains(&format!(">{ns}</text>")), "namespace box {ns}");
    }
    // 50 internal edges, 50 to the outside, 50 from it: every one drawn.
    let graph = &dom[dom.find("Who talks to whom").unwrap()..];
    let graph = &graph[..graph.find("</svg>").unwrap()];
    assert_eq!(graph.matches("<path ").count(), 150, "one curve per edge");
    assert_eq!(
        graph.matches("stroke=\"#c62828\"").count(),
        75,
        "the new edges in red"
    );
}

/// A file refused as a whole was recorded as imported, so a re-import after the shape was
/// fixed skipped it as unchanged. ARM bodies (`{"value": [...]}`, fields under
/// `properties`) were refused or gave 0 bindings silently.
#[test]
fn refused_files_are_read_again_and_arm_nic_bodies_bind_their_addresses() {
    let d = tempfile::tempdir().unwrap();
    let lake = d.path().join("lake");
    let bad = write(d.path(), "in/nics.json", "{\"nics\": 1}");
    let (code, s, err) = import(&lake, &bad, "2026-11-01T00:00:00Z");
    assert_eq!(code, 3, "{err}");
    assert_eq!(
        (s["imported"].as_u64(), s["refused"].as_u64()),
        (Some(0), Some(1)),
        "{s}"
    );
    assert!(err.contains("not read") || err.contains("refused"), "{err}");
    // The same name, now an ARM REST body of one NIC: read, not skipped as unchanged.
    std::fs::write(
        &bad,
        r#"{"value": [{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/pg-prod-01-nic",
            "name": "pg-prod-01-nic",
            "properties": {"macAddress": "00-0D-3A-AA-BB-CC",
              "ipConfigurations": [{"name": "ipconfig1", "properties": {"privateIPAddress": "10.1.0.9"}},
                                   {"name": "ipconfig2", "properties": {"privateIPAddress": "***HIDDEN***"}}],
              "virtualMachine": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/pg-prod-01"}}}]}"#,
    )
    .unwrap();
    let (code, s, err) = import(&lake, &bad, "2026-11-01T00:00:00Z");
    assert_eq!(code, 0, "{err}");
    assert_eq!(s["imported"].as_u64(), Some(1), "{s}");
    assert_eq!(s["shapes"]["az_nic_list"].as_u64(), Some(1), "{s}");
    assert_eq!(s["unreadable_addresses"].as_u64(), Some(1), "{s}");
    assert!(err.contains("1 address fields were not addresses"), "{err}");
    let held = resolve(&lake, "10.1.0.9", "2026-11-01T00:00:00Z");
    assert!(held.contains("pg-prod-01-nic"), "{held}");
    // Listed only now, with no time of its own: it held the address before too (last
    // week's flows are named), from a start `inventory show` calls unknown.
    let before = resolve(&lake, "10.1.0.9", "2026-10-25T12:00:00Z");
    assert!(before.contains("pg-prod-01-nic"), "{before}");
    let (code, shown) = show(&lake, &["--ip", "10.1.0.9"]);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains(",unknown,"), "{shown}");
    // A list of NICs without any address: a warning naming the file and why.
    let empty = write(
        d.path(),
        "in/empty.json",
        r#"[{"id": "/x/nic-a", "name": "nic-a"}]"#,
    );
    let (code, _, err) = import(&lake, &empty, "2026-11-01T00:00:00Z");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("empty.json: 1 NICs but no address"), "{err}");
}

/// `kubectl get … -o yaml` was refused; the same objects as YAML give the same inventory as
/// their JSON (a List, and a watch stream of `---`-separated events).
#[test]
fn yaml_output_gives_the_same_inventory_as_json() {
    let d = tempfile::tempdir().unwrap();
    let as_yaml = |name: &str| {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        let docs: Vec<Value> = serde_json::Deserializer::from_str(&text)
            .into_iter::<Value>()
            .map(Result::unwrap)
            .collect();
        let yaml: Vec<String> = docs
            .iter()
            .map(|v| serde_norway::to_string(v).unwrap())
            .collect();
        write(d.path(), &format!("yaml/{name}.yaml"), &yaml.join("---\n"))
    };
    let (json_lake, yaml_lake) = (d.path().join("json"), d.path().join("yaml-lake"));
    imported(&json_lake, &DAY);
    for (file, at) in DAY {
        let (code, s, err) = import(&yaml_lake, &as_yaml(file), at);
        assert_eq!(code, 0, "{file}: {s} {err}");
        assert_eq!(s["imported"], 1, "{file}: {s}");
    }
    let (a, b) = (show(&json_lake, &[]), show(&yaml_lake, &[]));
    assert_eq!(a.0, 0, "{}", a.1);
    assert!(a.1.lines().count() > 5, "{}", a.1);
    assert_eq!(a, b);
}

/// `kind,namespace,name,workload_kind,workload` of every Service binding in the lake.
fn services(lake: &Path) -> String {
    sql(
        lake,
        "SELECT kind, namespace, name, workload_kind, workload FROM inventory \
         WHERE kind IN ('service_cluster_ip', 'load_balancer_ip', 'external_ip') ORDER BY 1, 2, 3",
    )
}

/// A support bundle holds one file per kind and namespace: a Service's pods and EndpointSlices
/// are in other files of the same import, or came in an earlier import. Its workload is
/// named as when one List held them all; with the slices in neither, its selector picks the
/// pods the inventory holds at the Service's time.
#[test]
fn services_are_named_from_pods_and_slices_in_other_files() {
    let d = tempfile::tempdir().unwrap();
    let whole: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("snapshot-0800.json")).unwrap())
            .unwrap();
    let mut files: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for item in whole["items"].as_array().unwrap() {
        let kind = item["kind"].as_str().unwrap().to_lowercase();
        let ns = item["metadata"]["namespace"].as_str().unwrap_or("cluster");
        files
            .entry(format!("{ns}/{kind}s.json"))
            .or_default()
            .push(item.clone());
    }
    let bundle = d.path().join("bundle");
    for (name, items) in &files {
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        write(&bundle, name, &list.to_string());
    }
    let at = "2026-11-03T08:00:00Z";
    let one = d.path().join("one");
    imported(&one, &[("snapshot-0800.json", at)]);
    let want = services(&one);
    assert!(want.contains(",shop,web,Deployment,web"), "{want}");

    let split = d.path().join("split");
    let (code, s, err) = import(&split, &bundle, at);
    assert_eq!(code, 0, "{s} {err}");
    assert_eq!(s["imported"].as_u64(), Some(files.len() as u64), "{s}");
    assert_eq!(s["services_named_across_files"].as_u64(), Some(1), "{s}");
    assert_eq!(services(&split), want);

    // Pods imported an hour before; the Service file (no EndpointSlices) alone now: its
    // selector picks the pods the inventory already holds.
    let later = d.path().join("later");
    let (code, s, err) = import(
        &later,
        &bundle.join("shop/pods.json"),
        "2026-11-03T07:50:00Z",
    );
    assert_eq!(code, 0, "{s} {err}");
    let (code, s, err) = import(&later, &bundle.join("shop/services.json"), at);
    assert_eq!(code, 0, "{s} {err}");
    assert_eq!(s["services_named_across_files"].as_u64(), Some(1), "{s}");
    assert_eq!(services(&later), want);

    // Without the pods anywhere, nothing names it: unnamed, not guessed.
    let alone = d.path().join("alone");
    let (code, s, err) = import(&alone, &bundle.join("shop/services.json"), at);
    assert_eq!(code, 0, "{s} {err}");
    assert_eq!(s["services_named_across_files"].as_u64(), Some(0), "{s}");
    assert!(
        services(&alone).contains(",shop,web,,\n"),
        "{}",
        services(&alone)
    );
}
