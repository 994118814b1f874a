//! A flowlake cluster of real processes on loopback (a scheduler and two executors) over a
//! lake on Azurite with an inventory, the nodes loading the location databases: every report
//! and a set of SQL queries (the inventory and location functions among them) answer exactly
//! as one process, on the small scenario and on a lake shaped like production (8 days,
//! several files per partition, 2 M tuples, windows on and off the hour); a client whose
//! databases the nodes lack is refused; an executor killed during a query gives a correct
//! answer or a clear error; a job that cannot progress fails within --stall-timeout and is
//! cancelled on the scheduler, as is one whose client is stopped with Ctrl-C; an executor
//! that cannot listen exits at once.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::*;

/// A node process, killed when dropped.
struct Node {
    child: Child,
    log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn start(args: &[&str], env: &[(&str, String)], log: PathBuf) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowlake"));
        cmd.args(["cluster"])
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap());
        let child = cmd.spawn().expect("start a cluster node");
        Node { child, log }
    }

    fn log(&self) -> String {
        let mut s = String::new();
        let _ = File::open(&self.log).and_then(|mut f| f.read_to_string(&mut s));
        s
    }

    /// Waits until the log shows `line` (the node is up), or fails with the log.
    fn wait_for(&mut self, line: &str) {
        let t0 = Instant::now();
        while !self.log().contains(line) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("node exited ({status}):\n{}", self.log());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "no '{line}' within 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A scheduler and `executors` executors on free loopback ports, every node loading the
/// location databases `geo`; the `df://` URL. Executors are lost after ten seconds without
/// asking for work (the least the scheduler allows), so that a killed one is noticed quickly.
fn cluster(
    dir: &Path,
    env: &[(&str, String)],
    executors: usize,
    geo: &[String],
) -> (String, Vec<Node>) {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut args = vec!["scheduler", "--bind", &bind, "--executor-timeout", "10s"];
    args.extend(geo.iter().map(String::as_str));
    let mut scheduler = Node::start(&args, env, dir.join("scheduler.log"));
    scheduler.wait_for("listening on");
    let mut nodes = vec![scheduler];
    for i in 0..executors {
        // A free Flight port each, picked by the executor.
        let mut args = vec![
            "executor",
            "--scheduler",
            &bind,
            "--bind-host",
            "127.0.0.1",
            "--port",
            "0",
            "--slots",
            "2",
        ];
        args.extend(geo.iter().map(String::as_str));
        let mut e = Node::start(&args, env, dir.join(format!("executor{i}.log")));
        e.wait_for("Starting poll work loop with scheduler");
        nodes.push(e);
    }
    (format!("df://{bind}"), nodes)
}

/// The size of a scenario lake.
struct Shape {
    days: u32,
    nics: u32,
    tuples_per_hour: u32,
    /// Blob bytes per ingest commit (each commit writes its own files).
    commit_bytes: Option<u64>,
}

/// The small scenario: 2 days, 8 NICs, 60 tuples per NIC-hour (23 k tuples), one commit.
const SMALL: Shape = Shape {
    days: 2,
    nics: 8,
    tuples_per_hour: 60,
    commit_bytes: None,
};

/// A scenario (AKS traffic with incidents on its last day) with its inventory, ingested into
/// a local lake and put on Azurite as is (ingest from Azure is tested in `source`); its
/// config file and the lake URL.
fn scenario_on_azurite(tmp: &Path, az: &Server, shape: &Shape) -> (PathBuf, String) {
    let (blobs, files) = (tmp.join("blobs"), tmp.join("scenario"));
    let opts = flowlake::synth::GenOptions {
        scenario: Some(files.clone()),
        ..crate::common::gen_options(&blobs, shape.days, 24, shape.nics, shape.tuples_per_hour, 7)
    };
    flowlake::synth::generate(&opts).unwrap();
    let local = tmp.join("lake");
    let mut ingest =
        flowlake::ingest::IngestOptions::new(vec![blobs.clone().into()], local.clone());
    ingest.workers = 2;
    if let Some(b) = shape.commit_bytes {
        ingest.commit_bytes = b;
    }
    flowlake::ingest::ingest(&ingest).unwrap();
    std::fs::remove_dir_all(&blobs).unwrap();
    let key: Value =
        serde_json::from_str(&std::fs::read_to_string(files.join("scenario.json")).unwrap())
            .unwrap();
    let inventory = files.join(key["inventory"].as_str().unwrap());
    run_ok(
        &[
            "inventory",
            "import",
            inventory.to_str().unwrap(),
            "--lake",
            local.to_str().unwrap(),
            "--cluster",
            key["cluster"].as_str().unwrap(),
        ],
        &[],
    );
    blobs_py(&[
        "azure-put-tree",
        &connection_string(az),
        "flowlogs",
        local.to_str().unwrap(),
        "lake",
    ]);
    (
        files.join("flowlake.toml"),
        "az://flowlogs/lake".to_string(),
    )
}

/// The test location databases as `--geo-db` arguments, with their paths; none (said on
/// stderr, or a failure in CI) without Python's mmdb-writer.
fn geo_dbs(dir: &Path) -> (Vec<String>, Vec<PathBuf>) {
    match crate::geo::databases(dir) {
        Some((paths, _)) => (crate::geo::geo_args(&paths[..2]), paths),
        None => {
            crate::common::missing(module_path!(), crate::geo::PYTHON);
            (vec![], vec![])
        }
    }
}

/// Queries over the inventory and with its functions.
const INVENTORY_QUERIES: &[&str] = &[
    "SELECT kind, count(*) AS n, count(DISTINCT address) AS addresses FROM inventory GROUP BY 1 ORDER BY 1",
    "SELECT k8s_subject(src_ip, time) AS src, k8s_kind(dst_ip, time) AS dst_kind, count(*) AS n, sum(bytes_src_to_dst) AS b \
     FROM flows GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT src_namespace, src_workload, dst_namespace, dst_workload, count(*) AS n FROM flows_k8s GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
];

/// Queries with the location functions and a set of autonomous systems.
const GEO_QUERIES: &[&str] = &[
    "SELECT geo_country(dst_ip) AS c, geo_city(dst_ip) AS city, asn(dst_ip) AS a, as_org(dst_ip) AS o, \
     sum(bytes_src_to_dst) AS b FROM flows WHERE is_public(dst_ip) GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    "SELECT ip_set_label(dst_ip, 'networks') AS l, count(*) AS n FROM flows WHERE ip_in_set(dst_ip, 'networks') GROUP BY 1 ORDER BY 1",
];

/// A report's JSON without `generated_at`, and its stderr.
fn report(args: &[&str], env: &[(&str, String)]) -> (Value, String) {
    let out = run(args, env);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(4),
        "{args:?}: {err}"
    );
    let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_object_mut().unwrap().remove("generated_at");
    (v, err)
}

#[test]
fn a_scheduler_and_two_executors_answer_every_report_and_query_as_one_process() {
    let tmp = TempDir::new().unwrap();
    let az = crate::need!(azurite(), SERVERS);
    let env = azure_env(&az);
    let (config, lake) = scenario_on_azurite(tmp.path(), &az, &SMALL);
    let (geo, dbs) = geo_dbs(tmp.path());
    let (url, _nodes) = cluster(tmp.path(), &env, 2, &geo);
    let config = config.to_str().unwrap();
    let mut findings = 0;
    for kind in ["summary", "exfil", "exposure", "rules", "workloads"] {
        let mut args = vec![
            "report", kind, "--lake", &lake, "--config", config, "--format", "json",
        ];
        args.extend(geo.iter().map(String::as_str));
        let (alone, _) = report(&args, &env);
        let mut on_cluster = args.to_vec();
        on_cluster.extend(["--cluster", &url]);
        let (clustered, said) = report(&on_cluster, &env);
        assert_eq!(clustered, alone, "{kind}");
        assert!(
            said.contains(&format!("report ran on cluster {url}")),
            "{said}"
        );
        findings += alone["findings"].as_array().map_or(0, Vec::len);
        if kind == "exfil" {
            let text = alone.to_string();
            assert!(
                text.contains("\"src_workload\":\""),
                "the inventory names workloads: {text}"
            );
            if !geo.is_empty() {
                assert!(text.contains("\"dst_country\":\"DE\""), "places: {text}");
            }
        }
    }
    assert!(findings > 0, "the scenario's incidents are found");

    let watch = crate::common::write(
        tmp.path(),
        "watch.txt",
        "0.0.0.0/1 low-half\n128.0.0.0/1 high-half\n10.0.0.0/8 inside\n",
    );
    let networks = crate::common::write(
        tmp.path(),
        "networks.txt",
        "AS208294 example-ltd\nAS8075 microsoft\n52.100.0.0/16 saas\n",
    );
    let mut sets = vec!["--set".to_string(), format!("watch={}", watch.display())];
    let mut queries: Vec<&str> = crate::cluster::QUERIES.to_vec();
    queries.extend(INVENTORY_QUERIES);
    if !geo.is_empty() {
        sets.extend([
            "--set".to_string(),
            format!("networks={}", networks.display()),
        ]);
        sets.extend(geo.iter().cloned());
        queries.extend(GEO_QUERIES);
    }
    for q in queries {
        let mut args = vec!["sql", "--lake", &lake, "--format", "json"];
        args.extend(sets.iter().map(String::as_str));
        args.push(q);
        let alone = run_ok(&args, &env);
        let mut on_cluster = args.to_vec();
        on_cluster.extend(["--cluster", &url]);
        assert_eq!(run_ok(&on_cluster, &env), alone, "{q}");
        assert!(alone.contains('{'), "{q} finds rows: {alone}");
        if GEO_QUERIES.contains(&q) {
            assert!(
                alone.contains("\"DE\"") || alone.contains("saas"),
                "{q} places peers: {alone}"
            );
        }
    }

    // A client asking a database the nodes did not load is refused, naming it.
    if let Some(ipinfo) = dbs.get(2) {
        let q = "SELECT geo_country(dst_ip) AS c, count(*) AS n FROM flows GROUP BY 1";
        let args = [
            "sql",
            "--lake",
            &lake,
            "--geo-db",
            ipinfo.to_str().unwrap(),
            "--cluster",
            &url,
            q,
        ];
        let out = run(&args, &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("ipinfo lite.mmdb built")
                && err.contains("not loaded on this node")
                && err.contains("--geo-db"),
            "{err}"
        );
    }
}

/// A query that runs for seconds on the small scenario (a self-join on coarse keys).
const LONG_QUERY: &str = "SELECT f.direction, count(*) AS n, sum(g.src_port + f.dst_port) AS s \
     FROM flows f JOIN flows g ON f.direction = g.direction AND f.decision = g.decision \
     AND f.src_port % 3 = g.src_port % 3 GROUP BY 1 ORDER BY 1";

#[test]
fn an_executor_killed_during_a_query_gives_the_right_answer_or_a_clear_error() {
    let tmp = TempDir::new().unwrap();
    let az = crate::need!(azurite(), SERVERS);
    let env = azure_env(&az);
    let (_, lake) = scenario_on_azurite(tmp.path(), &az, &SMALL);
    let (url, mut nodes) = cluster(tmp.path(), &env, 2, &[]);
    let args = ["sql", "--lake", &lake, "--format", "csv", LONG_QUERY];
    let alone = run_ok(&args, &env);
    let mut query = Command::new(env!("CARGO_BIN_EXE_flowlake"));
    query
        .args(args)
        .args(["--cluster", &url])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = query.spawn().unwrap();
    // Kill an executor once the scheduler has handed out the query's tasks.
    let t0 = Instant::now();
    while !nodes[0].log().contains("Job submitted") {
        assert!(t0.elapsed() < Duration::from_secs(60), "{}", nodes[0].log());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let killed = nodes.pop().unwrap();
    drop(killed);
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    eprintln!(
        "query with a killed executor: exit {:?} in {:.1?}",
        out.status.code(),
        t0.elapsed()
    );
    match out.status.code() {
        Some(0) => assert_eq!(stdout, alone, "a retried answer is the right one"),
        Some(1) => assert!(stderr.starts_with("flowlake: error:"), "{stderr}"),
        other => panic!("exit {other:?}: {stderr}"),
    }
}

#[test]
fn bad_cluster_urls_and_unreachable_schedulers_fail_fast_with_exit_1_or_2() {
    let az = crate::need!(azurite(), SERVERS);
    let env = azure_env(&az);
    let lake = "az://nowhere/lake";
    let t0 = Instant::now();
    let out = run(
        &[
            "sql",
            "--lake",
            lake,
            "--cluster",
            &format!("df://127.0.0.1:{}", free_port()),
            "SELECT 1",
        ],
        &env,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no scheduler reachable"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    for bad in ["http://host:50050", "df://", "df://host:70000"] {
        let out = run(&["sql", "--lake", lake, "--cluster", bad, "SELECT 1"], &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("df://HOST[:PORT]"), "{bad}: {err}");
    }
}

/// A lake shaped like production: 8 days of 10 NICs at 1,100 tuples per NIC-hour (2.1 M
/// tuples), committed in chunks of 24 MiB of blobs so that partitions hold several files.
const PRODUCTION: Shape = Shape {
    days: 8,
    nics: 10,
    tuples_per_hour: 1100,
    commit_bytes: Some(24 << 20),
};

/// Every report on the production-shaped lake, with the default window (whole hours) and
/// with bounds inside hours and a baseline reaching before the lake (the rollup with raw
/// tuples for the split hours, one of which has no file): the cluster's answer is the single
/// process's, within the stall bound (a job that hangs fails instead of hanging the test).
#[test]
fn every_report_on_a_production_shaped_lake_answers_on_the_cluster_as_one_process() {
    let tmp = TempDir::new().unwrap();
    let az = crate::need!(azurite(), SERVERS);
    let env = azure_env(&az);
    let (config, lake) = scenario_on_azurite(tmp.path(), &az, &PRODUCTION);
    let info: Value =
        serde_json::from_str(&run_ok(&["info", "--lake", &lake, "--json"], &env)).unwrap();
    let rows = info["rows"].as_u64().unwrap_or_default();
    let (partitions, files) = (
        info["partitions"].as_object().map_or(0, |p| p.len()),
        info["files"].as_u64().unwrap_or_default(),
    );
    assert!(rows >= 2_000_000, "{info}");
    assert!(partitions >= 8 && files >= 2 * partitions as u64, "{info}");
    let (url, _nodes) = cluster(tmp.path(), &env, 2, &[]);
    let config = config.to_str().unwrap();
    let windows: [&[&str]; 2] = [
        &[],
        &[
            "--since",
            "2026-11-08T00:30:00Z",
            "--until",
            "2026-11-08T23:30:00Z",
            "--baseline",
            "8d",
        ],
    ];
    for window in windows {
        for kind in ["summary", "exfil", "exposure", "rules", "workloads"] {
            let mut args = vec![
                "report", kind, "--lake", &lake, "--config", config, "--format", "json",
            ];
            args.extend(window);
            let (alone, _) = report(&args, &env);
            let mut on_cluster = args.to_vec();
            on_cluster.extend(["--cluster", &url, "--stall-timeout", "60s"]);
            let t0 = Instant::now();
            let (clustered, said) = report(&on_cluster, &env);
            eprintln!("{kind} {window:?} on the cluster: {:.1?}", t0.elapsed());
            assert_eq!(clustered, alone, "{kind} {window:?}: {said}");
            if kind != "workloads" {
                let found = alone["findings"].as_array().map_or(0, Vec::len);
                assert!(found > 0, "{kind} {window:?} finds something");
            }
        }
    }
}

/// A scheduler with no executor: a job submitted to it never starts.
fn lone_scheduler(dir: &Path, env: &[(&str, String)]) -> (String, Node) {
    let bind = format!("127.0.0.1:{}", free_port());
    let mut scheduler = Node::start(
        &["scheduler", "--bind", &bind],
        env,
        dir.join("scheduler.log"),
    );
    scheduler.wait_for("listening on");
    (format!("df://{bind}"), scheduler)
}

/// The job id a client's error names ("cluster job ID made no progress ...").
fn job_named(stderr: &str) -> String {
    let rest = stderr
        .split("cluster job ")
        .nth(1)
        .unwrap_or_else(|| panic!("no job named: {stderr}"));
    rest.split_whitespace().next().unwrap().to_string()
}

#[test]
fn a_job_without_progress_fails_within_the_stall_timeout_and_is_cancelled_on_the_scheduler() {
    let tmp = TempDir::new().unwrap();
    let az = crate::need!(azurite(), SERVERS);
    let env = azure_env(&az);
    let (_, lake) = scenario_on_azurite(tmp.path(), &az, &SMALL);
    let (url, scheduler) = lone_scheduler(tmp.path(), &env);
    let sql = |stall: &str, q: &str| {
        run(
            &[
                "sql",
                "--lake",
                &lake,
                "--cluster",
                &url,
                "--stall-timeout",
                stall,
                q,
            ],
            &env,
        )
    };
    let t0 = Instant::now();
    let out = sql("3s", "SELECT count(*) FROM flows");
    let took = t0.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(30), "{took:?}: {err}");
    assert!(
        err.contains("made no progress for 3s")
            && err.contains("the scheduler's last word:")
            && err.contains("cancelled it on the scheduler")
            && err.contains("--stall-timeout"),
        "{err}"
    );
    let job = job_named(&err);
    assert!(
        scheduler
            .log()
            .contains(&format!("Received cancellation request for job {job}")),
        "{}",
        scheduler.log()
    );
    // A bad span is bad usage.
    let out = sql("0s", "SELECT 1");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ctrl_c_cancels_the_running_report_on_the_scheduler() {
    let tmp = TempDir::new().unwrap();
    let az = crate::need!(azurite(), SERVERS);
    let env = azure_env(&az);
    let (config, lake) = scenario_on_azurite(tmp.path(), &az, &SMALL);
    let (url, scheduler) = lone_scheduler(tmp.path(), &env);
    let child = Command::new(env!("CARGO_BIN_EXE_flowlake"))
        .args(["report", "exfil", "--lake", &lake, "--cluster", &url])
        .args(["--config", config.to_str().unwrap()])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !scheduler.log().contains("Job submitted") && !scheduler.log().contains("queued") {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{}",
            scheduler.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Past submission: the client knows the job's id.
    std::thread::sleep(Duration::from_millis(1500));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    // Cancelled while the session read the inventory, or during the report's queries.
    assert!(err.contains("cancelled"), "{err}");
    let t0 = Instant::now();
    while !scheduler
        .log()
        .contains("Received cancellation request for job")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the job is cancelled: {}",
            scheduler.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_executor_that_cannot_listen_exits_at_once_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_flowlake"))
        .args(["cluster", "executor", "--scheduler", "127.0.0.1:9"])
        .args(["--bind-host", "127.0.0.1", "--port", &port])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("flowlake: error:")
            && last.contains(&format!("cannot listen on 127.0.0.1:{port}"))
            && last.to_lowercase().contains("address already in use"),
        "{err}"
    );
}

/// Through `--cluster df://…` a client read the executor host's files with `CREATE EXTERNAL
/// TABLE … LOCATION '/…'` and wrote files there with `COPY`. The nodes refuse both.
#[test]
fn cluster_nodes_refuse_local_files_writes_and_definitions() {
    let tmp = TempDir::new().unwrap();
    let az = crate::need!(azurite(), SERVERS);
    let env = azure_env(&az);
    let (_, lake) = scenario_on_azurite(tmp.path(), &az, &SMALL);
    let (url, _nodes) = cluster(tmp.path(), &env, 1, &[]);
    let secret = crate::common::write(tmp.path(), "secret.csv", "a\nsecret-value\n");
    let out_file = tmp.path().join("written.csv");
    for script in [
        format!(
            "CREATE EXTERNAL TABLE s STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true'); SELECT * FROM s",
            secret.display()
        ),
        format!(
            "COPY (SELECT 1 AS a) TO '{}' STORED AS CSV",
            out_file.display()
        ),
        format!(
            "COPY (SELECT src_ip FROM flows LIMIT 1) TO '{}' STORED AS CSV",
            out_file.display()
        ),
    ] {
        let out = run(&["sql", "--lake", &lake, "--cluster", &url, &script], &env);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(1), "{script}: {stdout} {stderr}");
        assert!(
            stderr.contains("not run on a flowlake cluster"),
            "{script}: {stderr}"
        );
        assert!(!stdout.contains("secret-value"), "{script}: {stdout}");
        assert!(!out_file.exists(), "{script} wrote a file");
    }
    // Lake queries still run.
    let n = run_ok(
        &[
            "sql",
            "--lake",
            &lake,
            "--cluster",
            &url,
            "--format",
            "csv",
            "SELECT count(*) AS n FROM flows",
        ],
        &env,
    );
    assert!(n.starts_with("n\n") && !n.contains("\n0\n"), "{n}");
}
