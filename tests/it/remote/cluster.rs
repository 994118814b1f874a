//! A flowlake cluster of real processes on loopback (a scheduler and two executors) over a
//! lake on Azurite: every report and a set of SQL queries answer exactly as one process; an
//! executor killed during a query gives a correct answer or a clear error.

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

/// A scheduler and `executors` executors on free loopback ports; the `df://` URL.
fn cluster(dir: &Path, env: &[(&str, String)], executors: usize) -> (String, Vec<Node>) {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut scheduler = Node::start(
        &["scheduler", "--bind", &bind],
        env,
        dir.join("scheduler.log"),
    );
    scheduler.wait_for("listening on");
    let mut nodes = vec![scheduler];
    for i in 0..executors {
        let (flight, grpc) = (free_port().to_string(), free_port().to_string());
        let mut e = Node::start(
            &[
                "executor",
                "--scheduler",
                &bind,
                "--bind-host",
                "127.0.0.1",
                "--port",
                &flight,
                "--grpc-port",
                &grpc,
                "--slots",
                "2",
            ],
            env,
            dir.join(format!("executor{i}.log")),
        );
        e.wait_for("Executor registration succeed");
        nodes.push(e);
    }
    (format!("df://{bind}"), nodes)
}

/// A small scenario (AKS traffic with incidents on its last day, no inventory) ingested into
/// Azurite; its config file and the lake URL.
fn scenario_on_azurite(tmp: &Path, az: &Server) -> (PathBuf, String) {
    let (blobs, files) = (tmp.join("blobs"), tmp.join("scenario"));
    let opts = flowlake::synth::GenOptions {
        scenario: Some(files.clone()),
        ..crate::common::gen_options(&blobs, 2, 24, 8, 60, 7)
    };
    flowlake::synth::generate(&opts).unwrap();
    azure_upload(az, "flowlogs", &blobs);
    let lake = "az://flowlogs/lake".to_string();
    let (code, summary) = ingest_to("az://flowlogs", &lake, &[], &azure_env(az));
    assert_eq!(code, 0, "{summary}");
    (files.join("flowlake.toml"), lake)
}

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
    let (config, lake) = scenario_on_azurite(tmp.path(), &az);
    let (url, _nodes) = cluster(tmp.path(), &env, 2);
    let config = config.to_str().unwrap();
    let mut findings = 0;
    for kind in ["summary", "exfil", "exposure", "rules", "workloads"] {
        let args = [
            "report", kind, "--lake", &lake, "--config", config, "--format", "json",
        ];
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
    }
    assert!(findings > 0, "the scenario's incidents are found");

    let watch = crate::common::write(
        tmp.path(),
        "watch.txt",
        "0.0.0.0/1 low-half\n128.0.0.0/1 high-half\n10.0.0.0/8 inside\n",
    );
    let set = format!("watch={}", watch.display());
    for q in crate::cluster::QUERIES {
        let args = ["sql", "--lake", &lake, "--set", &set, "--format", "json", q];
        let alone = run_ok(&args, &env);
        let mut on_cluster = args.to_vec();
        on_cluster.extend(["--cluster", &url]);
        assert_eq!(run_ok(&on_cluster, &env), alone, "{q}");
        assert!(alone.len() > 2, "{q}: {alone}");
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
    let (_, lake) = scenario_on_azurite(tmp.path(), &az);
    let (url, mut nodes) = cluster(tmp.path(), &env, 2);
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
