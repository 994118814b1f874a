//! The same SQL on a Ballista cluster: in-process standalone mode against a local session.

use std::path::Path;

use datafusion::arrow::util::pretty::pretty_format_batches;
use flowlake::cluster::Cluster;
use flowlake::enrich::SetSpec;
use flowlake::query::{LakeSession, QueryOptions, session};
use flowlake::store::Location;

use crate::common::{gen_tree, ingest_lib, write};

async fn query(s: &LakeSession, sql: &str) -> String {
    let df = s
        .ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let batches = df.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    pretty_format_batches(&batches).unwrap().to_string()
}

/// Queries a cluster must answer exactly as one process does: aggregations over both
/// tables with time pruning, a join, window functions, address and set functions.
pub const QUERIES: &[&str] = &[
    "SELECT count(*) AS n, sum(bytes_src_to_dst) AS b, min(time) AS t0, max(time) AS t1 FROM flows",
    "SELECT date, direction, decision, count(*) AS n FROM flows WHERE time >= TIMESTAMP '2026-11-01T02:00:00Z' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    "SELECT direction, sum(tuples) AS tuples, sum(flows_begun) AS begun FROM hourly GROUP BY 1 ORDER BY 1",
    "SELECT ip_class(dst_ip) AS class, is_public(dst_ip) AS public, count(*) AS n FROM flows GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT ip_network(src_ip, 24) AS net, count(DISTINCT dst_ip) AS peers FROM flows WHERE ip_in_cidr(src_ip, '10.0.0.0/8') GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
    "SELECT ip_set_label(dst_ip, 'watch') AS label, count(*) AS n FROM flows WHERE ip_in_set(dst_ip, 'watch') GROUP BY 1 ORDER BY 1",
    "WITH per_src AS (SELECT src_ip, sum(coalesce(bytes_src_to_dst, 0)) AS b FROM flows GROUP BY 1) \
     SELECT src_ip, b, rank() OVER (ORDER BY b DESC, src_ip) AS r, sum(b) OVER () AS total FROM per_src ORDER BY r LIMIT 10",
    "SELECT f.mac, count(*) AS n, max(h.tuples) AS most FROM flows f JOIN hourly h \
     ON f.mac = h.mac AND f.src_ip = h.src_ip AND f.dst_ip = h.dst_ip AND f.dst_port = h.dst_port \
     WHERE f.time < TIMESTAMP '2026-11-01T02:00:00Z' AND h.hour < TIMESTAMP '2026-11-01T02:00:00Z' \
     GROUP BY 1 ORDER BY 1",
];

/// A small synthetic lake (two NICs, four hours) and an IP set over some of its peers.
pub fn lake_and_sets(dir: &Path) -> (std::path::PathBuf, Vec<SetSpec>) {
    let src = dir.join("src");
    gen_tree(&src, 1, 4, 2, 300, 7);
    let lake = dir.join("lake");
    ingest_lib(&[&src], &lake);
    let set = write(
        dir,
        "watch.txt",
        "# peers to watch\n0.0.0.0/1 low-half\n128.0.0.0/1 high-half\n10.0.0.0/8 inside\n",
    );
    (
        lake,
        vec![SetSpec {
            name: "watch".into(),
            path: set,
        }],
    )
}

/// A session on `cluster`, watched with the default stall bound.
async fn on(
    cluster: &Cluster,
    lake: &Location,
    opts: &QueryOptions,
) -> flowlake::Result<LakeSession> {
    flowlake::cluster::session(cluster, flowlake::cluster::job::DEFAULT_STALL, lake, opts).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_cluster_answers_as_one_process() {
    let d = tempfile::tempdir().unwrap();
    let (lake, sets) = lake_and_sets(d.path());
    let lake = Location::Local(lake);
    let local_opts = QueryOptions {
        sets: sets.clone(),
        ..QueryOptions::default()
    };
    let local = session(&lake, &local_opts).await.unwrap();
    let cluster_opts = QueryOptions {
        sets,
        ..QueryOptions::default()
    };
    let cluster = on(&Cluster::Standalone, &lake, &cluster_opts)
        .await
        .unwrap();
    let plan = cluster
        .ctx
        .sql(QUERIES[0])
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let plan = datafusion::physical_plan::displayable(plan.as_ref())
        .indent(false)
        .to_string();
    assert!(
        plan.contains("DistributedQueryExec"),
        "Ballista runs it:\n{plan}"
    );
    for q in QUERIES {
        let (want, got) = (query(&local, q).await, query(&cluster, q).await);
        assert!(want.lines().count() > 4, "{q} finds rows:\n{want}");
        assert_eq!(got, want, "{q}");
    }
}

#[tokio::test]
async fn a_local_lake_is_refused_for_a_remote_cluster_and_an_unreachable_one_fails_fast() {
    let d = tempfile::tempdir().unwrap();
    let (lake, _) = lake_and_sets(d.path());
    let opts = QueryOptions::default();
    let cluster = |url: &str| -> Cluster { url.parse().unwrap() };
    let e = on(
        &cluster("df://127.0.0.1:9"),
        &Location::Local(lake.clone()),
        &opts,
    )
    .await
    .err()
    .expect("refused")
    .to_string();
    assert!(
        e.contains("local directory") && e.contains("--cluster standalone"),
        "{e}"
    );
    // A lake on object storage with no scheduler listening: a clear error, fast.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let remote = Location::parse("s3://bucket/lake", &Default::default()).unwrap();
    let t0 = std::time::Instant::now();
    let e = on(&cluster(&format!("df://127.0.0.1:{port}")), &remote, &opts)
        .await
        .err()
        .expect("unreachable")
        .to_string();
    assert!(t0.elapsed() < std::time::Duration::from_secs(10));
    assert!(e.contains("no scheduler reachable"), "{e}");
}

/// The AKS manifests of docs/CLUSTER.md: `kubectl apply --dry-run=client` accepts them (with
/// the discovery documents of an API server served on loopback), and the objects it prints
/// fit together: executors find the scheduler's Service, every pod uses the workload
/// identity's service account.
#[test]
fn aks_manifests_pass_a_kubectl_dry_run_and_fit_together() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Service;

    let kubectl = crate::need!(
        std::process::Command::new("kubectl")
            .arg("version")
            .arg("--client")
            .output()
            .ok()
            .filter(|o| o.status.success()),
        "kubectl (Debian package kubectl; scripts/test.sh installs it)"
    );
    drop(kubectl);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut stub = std::process::Command::new("python3")
        .arg(root.join("tests/cluster/kube_discovery.py"))
        .arg(port.to_string())
        .spawn()
        .expect("python3");
    let d = tempfile::tempdir().unwrap();
    let kubeconfig = write(
        d.path(),
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: stub, cluster: {{server: \"http://127.0.0.1:{port}\"}}}}]\ncontexts: [{{name: stub, context: {{cluster: stub, user: stub}}}}]\nusers: [{{name: stub, user: {{}}}}]\ncurrent-context: stub\n"
        ),
    );
    let t0 = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(20));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "apply",
            "--dry-run=client",
            "--validate=false",
            "-o",
            "json",
            "-f",
        ])
        .arg(root.join("deploy/aks/flowlake-cluster.yaml"))
        .output()
        .unwrap();
    let _ = stub.kill();
    let _ = stub.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = list["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "Deployment",
            "Service",
            "Deployment",
            "NetworkPolicy",
            "NetworkPolicy"
        ]
    );
    let deployment = |i: usize| -> Deployment { serde_json::from_value(items[i].clone()).unwrap() };
    let (scheduler, executor) = (deployment(2), deployment(4));
    let service: Service = serde_json::from_value(items[3].clone()).unwrap();
    let svc_port = service.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].port;
    let name = service.metadata.name.as_deref().unwrap();
    let ns = service.metadata.namespace.as_deref().unwrap();
    let args = |d: &Deployment| -> Vec<String> {
        d.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .args
            .clone()
            .unwrap()
    };
    let target = format!("{name}.{ns}.svc.cluster.local:{svc_port}");
    assert!(args(&executor).contains(&target), "{:?}", args(&executor));
    // Nodes bind loopback by default: the manifests say where to listen.
    assert!(
        args(&executor)
            .windows(2)
            .any(|w| w == ["--bind-host", "0.0.0.0"]),
        "{:?}",
        args(&executor)
    );
    // The scheduler's port is fenced to labelled clients and the executors.
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    let fence: NetworkPolicy = serde_json::from_value(items[5].clone()).unwrap();
    let spec = fence.spec.unwrap();
    let selected = spec.pod_selector.unwrap().match_labels.unwrap();
    assert_eq!(
        selected
            .get("app.kubernetes.io/component")
            .map(String::as_str),
        Some("scheduler")
    );
    let rule = &spec.ingress.unwrap()[0];
    assert_eq!(
        rule.ports.as_ref().unwrap()[0].port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(svc_port))
    );
    assert!(
        args(&scheduler).contains(&format!("0.0.0.0:{svc_port}")),
        "{:?}",
        args(&scheduler)
    );
    for d in [&scheduler, &executor] {
        let pod = &d.spec.as_ref().unwrap().template;
        assert_eq!(
            pod.spec.as_ref().unwrap().service_account_name.as_deref(),
            Some("flowlake")
        );
        let labels = pod.metadata.as_ref().unwrap().labels.as_ref().unwrap();
        assert_eq!(
            labels
                .get("azure.workload.identity/use")
                .map(String::as_str),
            Some("true")
        );
    }
}

/// Bad node flags are refused before anything listens: a usage error (exit 2) for values
/// out of range and, naming the file, for a location database that cannot be opened.
#[test]
fn bad_node_flags_are_refused_before_the_node_starts() {
    let out = crate::common::flowlake(
        &[
            "cluster",
            "scheduler",
            "--bind",
            "127.0.0.1:0",
            "--executor-timeout",
            "5s",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("at least 10s"), "{err}");
    let out = crate::common::flowlake(
        &["cluster", "executor", "--scheduler", "http://host:50050"],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("expected HOST[:PORT]"), "{err}");
    for node in [
        vec!["scheduler", "--bind", "127.0.0.1:0"],
        vec!["executor", "--scheduler", "127.0.0.1:9", "--port", "0"],
    ] {
        let mut args = vec!["cluster"];
        args.extend(node);
        args.extend(["--geo-db", "/nonexistent/GeoLite2-City.mmdb"]);
        let out = crate::common::flowlake(&args, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("/nonexistent/GeoLite2-City.mmdb"), "{err}");
    }
}

/// `report KIND --format json` on `lake` with the scenario's config and `extra`; the JSON
/// without `generated_at`.
fn report_json(lake: &Path, kind: &str, extra: &[&str]) -> serde_json::Value {
    let s = crate::reports::scenario();
    let (lake, config) = (
        lake.display().to_string(),
        s.files.join("flowlake.toml").display().to_string(),
    );
    let mut args = vec!["report", kind, "--lake", &lake, "--config", &config];
    args.extend(["--format", "json"]);
    args.extend(extra);
    let out = crate::common::flowlake(&args, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_object_mut().unwrap().remove("generated_at");
    v
}

/// Bounds inside hours and a baseline reaching before the lake: a report's rows are the
/// rollup and, in a `UNION ALL`, the raw tuples of the split hours, one of them before the
/// lake's first file (a scan of no files). Ballista's scheduler dropped the status of tasks
/// whose metrics had another shape than their stage's and the job never ended; every
/// report now answers as one process does (a hang would fail within --stall-timeout).
#[test]
fn every_report_with_split_hours_answers_on_a_standalone_cluster_as_one_process() {
    let s = crate::reports::scenario();
    let split = [
        "--since",
        "2026-11-04T00:30:00Z",
        "--until",
        "2026-11-04T23:45:00Z",
        "--baseline",
        "8d",
    ];
    for kind in ["exfil", "exposure", "rules", "summary", "workloads"] {
        let alone = report_json(&s.lake, kind, &split);
        let mut on_cluster = split.to_vec();
        on_cluster.extend(["--cluster", "standalone", "--stall-timeout", "60s"]);
        assert_eq!(report_json(&s.lake, kind, &on_cluster), alone, "{kind}");
    }
}
