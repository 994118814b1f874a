//! Ingest straight from object storage, against real servers on loopback started by each
//! test: Azurite (the Azure Blob Storage emulator, npm package `azurite`) and moto's S3
//! server (PyPI `moto[server]`). Blobs are put there by `tests/remote/blobs.py` with the
//! Azure and AWS SDKs, in the real container layout, and grown the way Azure grows them.
//! `scripts/test.sh` installs the servers and the SDKs when they are missing.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::common::{flowlake, gen_tree, ingest_cli, read_lake};

/// Azurite's well-known development account key (public, documented by Microsoft).
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A server process on a loopback port, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Finds a test tool: `$FLOWLAKE_TOOLS/node_modules/.bin`, `~/.cache/flowlake-tools/...`, or PATH.
fn tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Ok(t) = std::env::var("FLOWLAKE_TOOLS") {
        dirs.push(Path::new(&t).join("node_modules/.bin"));
    }
    if let Ok(h) = std::env::var("HOME") {
        dirs.push(Path::new(&h).join(".cache/flowlake-tools/node_modules/.bin"));
    }
    if let Ok(p) = std::env::var("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} not found: scripts/test.sh installs it (npm azurite, pip moto[server])")
        })
}

fn start(cmd: &mut Command, port: u16, dir: TempDir) -> Server {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let server = Server {
        child,
        port,
        _dir: dir,
    };
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{cmd:?} did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

fn azurite() -> Server {
    let dir = TempDir::new().unwrap();
    let port = free_port();
    let mut cmd = Command::new(tool("azurite-blob"));
    cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
        .args(["--silent", "--skipApiVersionCheck", "--loose", "--location"])
        .arg(dir.path());
    start(&mut cmd, port, dir)
}

fn moto() -> Server {
    let dir = TempDir::new().unwrap();
    let port = free_port();
    let mut cmd = Command::new(tool("moto_server"));
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    start(&mut cmd, port, dir)
}

fn azure_env(s: &Server) -> Vec<(&'static str, String)> {
    vec![
        ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
        (
            "AZURITE_BLOB_STORAGE_URL",
            format!("http://127.0.0.1:{}", s.port),
        ),
    ]
}

fn s3_env(s: &Server) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{}", s.port)),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

fn connection_string(s: &Server) -> String {
    format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{}/devstoreaccount1;",
        s.port
    )
}

/// Runs `tests/remote/blobs.py ARGS` and returns its output.
fn blobs_py(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/remote/blobs.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "blobs.py {}: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `flowlake ARGS` with `env` (as the `*_env` helpers give it).
fn run(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    flowlake(args, &env)
}

/// Puts the blob tree `src` into Azurite's `container` as block blobs.
fn azure_upload(az: &Server, container: &str, src: &Path) -> String {
    blobs_py(&[
        "azure-upload",
        &connection_string(az),
        container,
        src.to_str().unwrap(),
    ])
}

/// `flowlake ingest SOURCE --lake LAKE --json EXTRA`, with `env`: exit code and summary.
fn ingest_remote(
    source: &str,
    lake: &Path,
    extra: &[&str],
    env: &[(&str, String)],
) -> (i32, Value) {
    ingest_to(source, &lake.display().to_string(), extra, env)
}

/// [`ingest_remote`] into a lake given as a directory or a URL.
fn ingest_to(source: &str, lake: &str, extra: &[&str], env: &[(&str, String)]) -> (i32, Value) {
    let mut args = vec!["ingest", source, "--lake", lake, "--json"];
    args.extend(extra);
    let out = run(&args, env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("ingest {source}: {e}; stderr: {stderr}"));
    (out.status.code().unwrap(), summary)
}

/// A lake's rows with `source_blob` cut to the blob's path in the container layout, so a
/// lake ingested from a server compares with one ingested from the same files on disk.
fn rows(lake: &Path) -> Vec<crate::common::Row> {
    relative_blobs(read_lake(lake))
}

/// `rows` with `source_blob` cut to the path in the container layout, sorted.
fn relative_blobs(mut rows: Vec<crate::common::Row>) -> Vec<crate::common::Row> {
    for r in &mut rows {
        let b = r["source_blob"].as_str().unwrap();
        let rel = &b[b.find("insights-logs-").expect("container layout")..];
        r.insert("source_blob".into(), Value::from(rel));
    }
    rows.sort_by_cached_key(|r| serde_json::to_string(r).unwrap());
    rows
}

#[test]
fn azure_ingest_equals_local_and_a_grown_blob_adds_exactly_its_new_tuples() {
    let tmp = TempDir::new().unwrap();
    let (src, lake, local) = (
        tmp.path().join("src"),
        tmp.path().join("lake"),
        tmp.path().join("local"),
    );
    gen_tree(&src, 2, 3, 2, 60, 11);
    let az = azurite();
    let (cs, env) = (connection_string(&az), azure_env(&az));
    assert_eq!(azure_upload(&az, "flowlogs", &src), "12");

    let (code, first) = ingest_remote("az://flowlogs", &lake, &[], &env);
    assert_eq!(code, 0, "{first}");
    assert_eq!(first["blobs_new"], 12);
    let (_, want) = ingest_cli(&[&src], &local, &[]);
    assert_eq!(first["tuples"], want["tuples"]);
    assert_eq!(rows(&lake), rows(&local));

    // nothing changed: every blob is recognised by its ETag, nothing is read
    let (_, again) = ingest_remote("az://flowlogs", &lake, &[], &env);
    assert_eq!(
        (
            again["blobs_unchanged"].as_u64(),
            again["bytes_read"].as_u64()
        ),
        (Some(12), Some(0))
    );

    // Azure appends a record block before the closing block: only it is read and added
    let mut names: Vec<String> = walkdir::WalkDir::new(&src)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(&src)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    let grown = names.last().unwrap();
    let size = std::fs::metadata(src.join(grown)).unwrap().len();
    let added: u64 = blobs_py(&["azure-grow", &cs, "flowlogs", grown])
        .parse()
        .unwrap();
    assert!(added > 0);
    let (code, second) = ingest_remote("az://flowlogs", &lake, &[], &env);
    assert_eq!(code, 0, "{second}");
    assert_eq!(second["blobs_grown"], 1, "{second}");
    assert_eq!(second["blobs_unchanged"], 11, "{second}");
    assert_eq!(second["tuples"].as_u64(), Some(added), "{second}");
    let read = second["bytes_read"].as_u64().unwrap();
    assert!(
        read < size,
        "a range read, not the whole blob: {read} of {size} bytes"
    );

    // the lake equals a clean ingest of the grown container
    let copy = tmp.path().join("copy");
    blobs_py(&["azure-get", &cs, "flowlogs", copy.to_str().unwrap()]);
    let clean = tmp.path().join("clean");
    ingest_cli(&[&copy], &clean, &[]);
    assert_eq!(rows(&lake), rows(&clean));
}

#[test]
fn azure_since_lists_only_the_hour_prefixes_of_the_window() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 3, 4, 3, 30, 5);
    let az = azurite();
    let env = azure_env(&az);
    assert_eq!(azure_upload(&az, "logs", &src), "36");

    let window = [
        "--since",
        "2026-11-03T01:00:00Z",
        "--until",
        "2026-11-03T03:00:00Z",
    ];
    let (code, part) = ingest_remote("az://logs", &tmp.path().join("part"), &window, &env);
    assert_eq!(code, 0, "{part}");
    // 3 NICs x 2 hours, and only they were listed
    assert_eq!(
        (
            part["blobs_found"].as_u64(),
            part["objects_listed"].as_u64()
        ),
        (Some(6), Some(6))
    );
    let (_, all) = ingest_remote("az://logs", &tmp.path().join("all"), &[], &env);
    assert_eq!(all["objects_listed"], 36);

    // the same window on the local copy gives the same rows
    let local = tmp.path().join("local");
    let (_, l) = ingest_cli(&[&src], &local, &window);
    assert_eq!(l["blobs_found"], 6);
    assert_eq!(rows(&tmp.path().join("part")), rows(&local));
}

#[test]
fn s3_ingest_equals_local_and_reruns_read_nothing() {
    let tmp = TempDir::new().unwrap();
    let (src, lake, local) = (
        tmp.path().join("src"),
        tmp.path().join("lake"),
        tmp.path().join("local"),
    );
    gen_tree(&src, 1, 3, 2, 40, 3);
    let s3 = moto();
    let endpoint = format!("http://127.0.0.1:{}", s3.port);
    assert_eq!(
        blobs_py(&["s3-upload", &endpoint, "flowlogs", src.to_str().unwrap()]),
        "6"
    );
    let env = s3_env(&s3);

    let (code, first) = ingest_remote("s3://flowlogs", &lake, &[], &env);
    assert_eq!(code, 0, "{first}");
    ingest_cli(&[&src], &local, &[]);
    assert_eq!(rows(&lake), rows(&local));
    let (_, again) = ingest_remote("s3://flowlogs", &lake, &[], &env);
    assert_eq!(
        (
            again["blobs_unchanged"].as_u64(),
            again["bytes_read"].as_u64()
        ),
        (Some(6), Some(0))
    );
}

#[test]
fn a_sas_token_in_the_url_never_appears_in_output() {
    let az = azurite();
    let tmp = TempDir::new().unwrap();
    let lake = tmp.path().join("lake").display().to_string();
    let out = run(
        &[
            "ingest",
            "az://no-such-container/x?sv=2022-11-02&sig=TOPSECRET",
            "--lake",
            &lake,
        ],
        &azure_env(&az),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("az://no-such-container/x"),
        "names the source: {text}"
    );
    assert!(!text.contains("TOPSECRET"), "{text}");
}

/// `tests/remote/faulty_proxy.py` on a free port in front of `upstream`; returns the proxy
/// and the file where it counts the faults it injected.
fn faulty_proxy(upstream: &Server, args: &[&str]) -> (Server, PathBuf) {
    let dir = TempDir::new().unwrap();
    let stats = dir.path().join("faults");
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/remote/faulty_proxy.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .args([port.to_string(), upstream.port.to_string()])
        .arg(&stats)
        .args(args);
    (start(&mut cmd, port, dir), stats)
}

fn faults(stats: &Path) -> u64 {
    std::fs::read_to_string(stats)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn dropped_connections_and_503s_mid_ingest_are_retried_to_a_lake_equal_to_a_clean_run() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 1, 4, 3, 40, 21);
    let local = tmp.path().join("local");
    ingest_cli(&[&src], &local, &[]);

    // Azure: every 3rd request fails, alternately a 503 and a connection closed unanswered
    let az = azurite();
    azure_upload(&az, "logs", &src);
    let (proxy, stats) = faulty_proxy(&az, &["--every", "3", "--mode", "mixed"]);
    let env = azure_env(&proxy);
    let lake = tmp.path().join("az-lake");
    let (code, s) = ingest_remote("az://logs", &lake, &["--since", "2026-11-01"], &env);
    assert_eq!(code, 0, "{s}");
    assert!(faults(&stats) >= 5, "faults injected: {}", faults(&stats));
    assert_eq!(rows(&lake), rows(&local));

    // S3: the same through moto
    let s3 = moto();
    let endpoint = format!("http://127.0.0.1:{}", s3.port);
    blobs_py(&["s3-upload", &endpoint, "logs", src.to_str().unwrap()]);
    let (proxy, stats) = faulty_proxy(&s3, &["--every", "3", "--mode", "mixed"]);
    let lake = tmp.path().join("s3-lake");
    let (code, s) = ingest_remote("s3://logs", &lake, &[], &s3_env(&proxy));
    assert_eq!(code, 0, "{s}");
    assert!(faults(&stats) >= 3, "faults injected: {}", faults(&stats));
    assert_eq!(rows(&lake), rows(&local));
}

#[test]
fn a_blob_that_keeps_failing_is_reported_skipped_and_read_by_the_next_run() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 1, 3, 2, 40, 8);
    let az = azurite();
    azure_upload(&az, "logs", &src);
    // every read of hour 01 answers 500, through all retries
    let (proxy, _stats) = faulty_proxy(&az, &["--fail-path", "h=01/"]);
    let lake = tmp.path().join("lake");
    let (code, s) = ingest_remote("az://logs", &lake, &["--retries", "2"], &azure_env(&proxy));
    assert_eq!(code, 3, "ingested with rejects: {s}");
    assert_eq!(
        (s["blobs_new"].as_u64(), s["blobs_failed"].as_u64()),
        (Some(4), Some(2)),
        "{s}"
    );
    assert_eq!(s["rejected_by_reason"]["read_error"], 2, "{s}");
    let sample = s["reject_samples"][0].to_string();
    assert!(
        sample.contains("h=01") && sample.contains("500"),
        "names the blob and the error: {sample}"
    );

    // the store is healthy again: the next run reads the two failed blobs, nothing else
    let (code, s) = ingest_remote("az://logs", &lake, &[], &azure_env(&az));
    assert_eq!(code, 0, "{s}");
    assert_eq!(
        (s["blobs_new"].as_u64(), s["blobs_unchanged"].as_u64()),
        (Some(2), Some(4)),
        "{s}"
    );
    let local = tmp.path().join("local");
    ingest_cli(&[&src], &local, &[]);
    assert_eq!(rows(&lake), rows(&local));
}

/// `flowlake ARGS` with `env`; stdout, after checking it succeeded.
fn run_ok(args: &[&str], env: &[(&str, String)]) -> String {
    let out = run(args, env);
    assert!(
        out.status.success(),
        "flowlake {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn sql_report_and_info_read_a_lake_on_azure_and_s3() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 2, 3, 2, 40, 13);
    let local = tmp.path().join("lake");
    ingest_cli(&[&src], &local, &[]);
    let l = local.to_str().unwrap();
    let sql = "SELECT date, count(*) AS n, sum(bytes_src_to_dst) AS b, count(DISTINCT dst_ip) AS d FROM flows WHERE time >= '2026-11-02T01:00:00Z' GROUP BY date ORDER BY date";
    let want_sql = run_ok(&["sql", "--lake", l, "--format", "csv", sql], &[]);
    let report = |lake: &str, env: &[(&str, String)]| {
        let out = run_ok(
            &["report", "summary", "--lake", lake, "--format", "json"],
            env,
        );
        let mut v: Value = serde_json::from_str(&out).unwrap();
        v.as_object_mut().unwrap().remove("generated_at");
        v
    };
    let want_report = report(l, &[]);
    let want_rows = |info: &str| serde_json::from_str::<Value>(info).unwrap()["rows"].clone();
    let want_info = want_rows(&run_ok(&["info", "--lake", l, "--json"], &[]));

    let az = azurite();
    blobs_py(&[
        "azure-put-tree",
        &connection_string(&az),
        "data",
        l,
        "lakes/flows-lake",
    ]);
    let s3 = moto();
    let endpoint = format!("http://127.0.0.1:{}", s3.port);
    blobs_py(&["s3-put-tree", &endpoint, "data", l, "lakes/flows-lake"]);
    for (url, env) in [
        ("az://data/lakes/flows-lake", azure_env(&az)),
        ("s3://data/lakes/flows-lake", s3_env(&s3)),
    ] {
        assert_eq!(
            run_ok(&["sql", "--lake", url, "--format", "csv", sql], &env),
            want_sql,
            "{url}"
        );
        assert_eq!(report(url, &env), want_report, "{url}");
        let info = run_ok(&["info", "--lake", url, "--json"], &env);
        assert_eq!(want_rows(&info), want_info, "{url}");
    }
}

/// Starts `flowlake ingest az://logs --lake LAKE` committing every MiB with one worker, in
/// the background.
fn spawn_ingest(lake: &str, env: &[(&str, String)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_flowlake"))
        .args(["ingest", "az://logs", "--lake", lake])
        .args(["--commit-mib", "1", "--workers", "1", "--quiet"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn kill_9_mid_remote_ingest_then_rerun_resumes_and_equals_a_clean_run() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 1, 6, 4, 2000, 17);
    let az = azurite();
    azure_upload(&az, "logs", &src);
    // a slow link, so the run is still going after its first commits
    let (proxy, _) = faulty_proxy(&az, &["--delay-ms", "150"]);
    let lake = tmp.path().join("lake");
    let env = azure_env(&proxy);
    let mut child = spawn_ingest(lake.to_str().unwrap(), &env);
    let t0 = Instant::now();
    let committed = loop {
        let v = flowlake::lake::load_manifest(&lake).map_or(0, |m| m.version);
        if v >= 2 || child.try_wait().unwrap().is_some() {
            break v;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no commit seen");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before it could be killed"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(committed >= 2);

    let (code, s) = ingest_remote("az://logs", &lake, &[], &azure_env(&az));
    assert_eq!(code, 0, "{s}");
    assert!(
        s["blobs_unchanged"].as_u64().unwrap() >= 2,
        "committed blobs are not read again: {s}"
    );
    assert!(s["blobs_new"].as_u64().unwrap() >= 1, "{s}");
    let local = tmp.path().join("local");
    ingest_cli(&[&src], &local, &[]);
    assert_eq!(rows(&lake), rows(&local));
}

/// Every row of the `flows` table of `lake` (a directory or a URL), through `flowlake sql`,
/// with `source_blob` cut as [`rows`] does.
fn lake_rows(lake: &str, env: &[(&str, String)]) -> Vec<crate::common::Row> {
    let out = run_ok(
        &[
            "sql",
            "--lake",
            lake,
            "--format",
            "ndjson",
            "SELECT * FROM flows",
        ],
        env,
    );
    relative_blobs(
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    )
}

/// `info --json` of a lake: version, files, rows.
fn info(lake: &str, env: &[(&str, String)]) -> Value {
    serde_json::from_str(&run_ok(&["info", "--lake", lake, "--json"], env)).unwrap()
}

/// The names under `prefix` in a container (`az`) or bucket (`s3`).
fn list(store: (&str, &str), container: &str, prefix: &str) -> Vec<String> {
    blobs_py(&[store.0, store.1, container, prefix])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The lake under `prefix` holds exactly its manifest's data files, no lock and no intent.
fn assert_tidy(
    store: (&str, &str),
    container: &str,
    prefix: &str,
    lake: &str,
    env: &[(&str, String)],
) {
    let names = list(store, container, prefix);
    let data = names
        .iter()
        .filter(|n| n.starts_with(&format!("{prefix}flows/")))
        .count();
    assert_eq!(
        data as u64,
        info(lake, env)["files"].as_u64().unwrap(),
        "data files on the store are the manifest's: {names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.contains("/_flowlake/pending/") || n.ends_with("/lock.json")),
        "{names:?}"
    );
}

#[test]
fn s3_ingest_writes_the_lake_into_the_bucket_it_reads_and_reruns_add_nothing() {
    let tmp = TempDir::new().unwrap();
    let (src, local) = (tmp.path().join("src"), tmp.path().join("local"));
    gen_tree(&src, 2, 3, 2, 40, 5);
    let s3 = moto();
    let endpoint = format!("http://127.0.0.1:{}", s3.port);
    blobs_py(&["s3-upload", &endpoint, "flowlogs", src.to_str().unwrap()]);
    let env = s3_env(&s3);
    // the lake inside the prefix the source lists: its objects are never taken for flow logs
    let lake = "s3://flowlogs/lakes/flows";
    let (code, first) = ingest_to("s3://flowlogs", lake, &[], &env);
    assert_eq!(code, 0, "{first}");
    assert_eq!(first["blobs_new"], 12, "{first}");
    assert_eq!(first["lake"], lake);
    ingest_cli(&[&src], &local, &[]);
    let want = lake_rows(local.to_str().unwrap(), &[]);
    assert_eq!(lake_rows(lake, &env), want);

    let (code, again) = ingest_to("s3://flowlogs", lake, &[], &env);
    assert_eq!(code, 0, "{again}");
    assert_eq!(
        (
            again["blobs_found"].as_u64(),
            again["blobs_unchanged"].as_u64(),
            again["commits"].as_u64()
        ),
        (Some(12), Some(12), Some(0)),
        "{again}"
    );
    assert_eq!(lake_rows(lake, &env), want);
    assert_eq!(info(lake, &env)["version"], 1);
    assert_tidy(
        ("s3-list", &endpoint),
        "flowlogs",
        "lakes/flows/",
        lake,
        &env,
    );
}

#[test]
fn a_lake_on_azurite_takes_growth_and_rewrites_exactly_once() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 1, 3, 2, 60, 23);
    let az = azurite();
    let (cs, env) = (connection_string(&az), azure_env(&az));
    azure_upload(&az, "flowlogs", &src);
    let lake = "az://flowlogs/lake";
    let (code, first) = ingest_to("az://flowlogs", lake, &["--commit-mib", "1"], &env);
    assert_eq!(code, 0, "{first}");
    assert_eq!(first["blobs_new"], 6, "{first}");

    // growth: only the new record's tuples are added
    let names = list(("azure-list", &cs), "flowlogs", "insights-logs-");
    let grown = names.last().unwrap();
    let added: u64 = blobs_py(&["azure-grow", &cs, "flowlogs", grown])
        .parse()
        .unwrap();
    let (code, second) = ingest_to("az://flowlogs", lake, &[], &env);
    assert_eq!(code, 0, "{second}");
    assert_eq!(
        (second["blobs_grown"].as_u64(), second["tuples"].as_u64()),
        (Some(1), Some(added)),
        "{second}"
    );

    // a rewritten blob: its old rows are replaced, the file that held them is kept as garbage
    let first_blob = &names[0];
    let other = tmp.path().join("other");
    gen_tree(&other, 1, 3, 2, 25, 99);
    let replacement = std::fs::read_to_string(other.join(first_blob)).unwrap();
    blobs_py(&["azure-put", &cs, "flowlogs", first_blob, &replacement]);
    let (code, third) = ingest_to("az://flowlogs", lake, &[], &env);
    assert_eq!(code, 0, "{third}");
    assert_eq!(third["blobs_rewritten"], 1, "{third}");
    assert!(third["rows_replaced"].as_u64().unwrap() > 0, "{third}");

    let copy = tmp.path().join("copy");
    blobs_py(&["azure-get", &cs, "flowlogs", copy.to_str().unwrap()]);
    std::fs::remove_dir_all(copy.join("lake")).unwrap();
    let clean = tmp.path().join("clean");
    ingest_cli(&[&copy], &clean, &[]);
    assert_eq!(
        lake_rows(lake, &env),
        lake_rows(clean.to_str().unwrap(), &[])
    );
    let on_store = list(("azure-list", &cs), "flowlogs", "lake/flows/").len() as u64;
    let files = info(lake, &env)["files"].as_u64().unwrap();
    assert!(
        on_store > files,
        "the replaced file stays a while: {on_store} vs {files}"
    );

    // once the grace period is over, the next writer deletes it
    let mut env0 = env.clone();
    env0.push(("FLOWLAKE_GARBAGE_GRACE_SECS", "0".into()));
    let (code, _) = ingest_to("az://flowlogs", lake, &[], &env0);
    assert_eq!(code, 0);
    assert_tidy(("azure-list", &cs), "flowlogs", "lake/", lake, &env);
    assert_eq!(
        lake_rows(lake, &env),
        lake_rows(clean.to_str().unwrap(), &[])
    );
}

#[test]
fn a_crash_at_any_commit_step_on_object_storage_leaves_the_last_commit_and_a_rerun_finishes() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 2, 2, 2, 40, 31);
    let local = tmp.path().join("local");
    ingest_cli(&[&src], &local, &[]);
    let want = lake_rows(local.to_str().unwrap(), &[]);
    let az = azurite();
    let (cs, env) = (connection_string(&az), azure_env(&az));
    azure_upload(&az, "flowlogs", &src);
    for (i, point) in ["before-commit", "after-commit-point"].iter().enumerate() {
        let lake = format!("az://flowlogs/lake{i}");
        let mut crash = env.clone();
        crash.push(("FLOWLAKE_FAILPOINT", point.to_string()));
        let out = run(
            &["ingest", "az://flowlogs", "--lake", &lake, "--quiet"],
            &crash,
        );
        assert_eq!(out.status.code(), None, "{point}: killed by abort");
        // files were uploaded; readers see only what the manifest names
        let uploaded = list(("azure-list", &cs), "flowlogs", &format!("lake{i}/flows/"));
        assert!(!uploaded.is_empty(), "{point}");
        let seen = lake_rows(&lake, &env);
        if *point == "before-commit" {
            assert!(seen.is_empty(), "{point}: nothing committed, nothing seen");
        } else {
            assert_eq!(seen, want, "{point}: committed");
        }
        // the rerun takes over the dead process's lock, removes uncommitted uploads, finishes
        let (code, s) = ingest_to("az://flowlogs", &lake, &[], &env);
        assert_eq!(code, 0, "{point}: {s}");
        assert_eq!(lake_rows(&lake, &env), want, "{point}");
        assert_tidy(
            ("azure-list", &cs),
            "flowlogs",
            &format!("lake{i}/"),
            &lake,
            &env,
        );
    }
}

#[test]
fn faults_on_the_lakes_store_are_retried_and_commits_stay_exactly_once() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 1, 4, 3, 3000, 41);
    let local = tmp.path().join("local");
    ingest_cli(&[&src], &local, &[]);
    let want = lake_rows(local.to_str().unwrap(), &[]);
    for kind in ["az", "s3"] {
        let server = if kind == "az" { azurite() } else { moto() };
        let store = store_arg(kind, &server);
        let lister = if kind == "az" {
            azure_upload(&server, "flowlogs", &src);
            "azure-list"
        } else {
            blobs_py(&["s3-upload", &store, "flowlogs", src.to_str().unwrap()]);
            "s3-list"
        };
        // every 4th request fails: a 503, or the connection closed without an answer
        let (proxy, stats) = faulty_proxy(&server, &["--every", "4", "--mode", "mixed"]);
        let env = if kind == "az" {
            azure_env(&proxy)
        } else {
            s3_env(&proxy)
        };
        let lake = format!("{kind}://flowlogs/lake");
        let (code, s) = ingest_to(
            &format!("{kind}://flowlogs"),
            &lake,
            &["--commit-mib", "1", "--workers", "1"],
            &env,
        );
        assert_eq!(code, 0, "{kind}: {s}");
        assert!(s["commits"].as_u64().unwrap() >= 3, "{kind}: {s}");
        assert!(
            faults(&stats) >= 5,
            "{kind}: faults injected: {}",
            faults(&stats)
        );
        let direct = if kind == "az" {
            azure_env(&server)
        } else {
            s3_env(&server)
        };
        assert_eq!(lake_rows(&lake, &direct), want, "{kind}");
        assert_tidy((lister, &store), "flowlogs", "lake/", &lake, &direct);
    }
}

#[test]
fn a_commit_whose_answer_is_lost_is_recognised_as_made() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 1, 4, 3, 3000, 43);
    let local = tmp.path().join("local");
    ingest_cli(&[&src], &local, &[]);
    let az = azurite();
    azure_upload(&az, "flowlogs", &src);
    // every write of the lock, the manifest and the intents takes effect, but its answer
    // never comes back: the retry is refused (the condition no longer holds) or repeats it
    let (proxy, stats) = faulty_proxy(&az, &["--lose-put", "/_flowlake/"]);
    let lake = "az://flowlogs/lake";
    let (code, s) = ingest_to(
        "az://flowlogs",
        lake,
        &["--commit-mib", "1", "--workers", "1"],
        &azure_env(&proxy),
    );
    assert_eq!(code, 0, "{s}");
    let commits = s["commits"].as_u64().unwrap();
    assert!(commits >= 3, "{s}");
    assert!(faults(&stats) >= 2 * commits, "faults: {}", faults(&stats));
    let env = azure_env(&az);
    assert_eq!(info(lake, &env)["version"].as_u64(), Some(commits));
    assert_eq!(
        lake_rows(lake, &env),
        lake_rows(local.to_str().unwrap(), &[])
    );
    let cs = connection_string(&az);
    assert_tidy(("azure-list", &cs), "flowlogs", "lake/", lake, &env);
}

/// What `blobs.py` needs to reach a server: a connection string or an endpoint.
fn store_arg(kind: &str, server: &Server) -> String {
    if kind == "az" {
        connection_string(server)
    } else {
        format!("http://127.0.0.1:{}", server.port)
    }
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_lock() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 1, 6, 4, 2000, 17);
    let az = azurite();
    let cs = connection_string(&az);
    azure_upload(&az, "logs", &src);
    let (proxy, _) = faulty_proxy(&az, &["--delay-ms", "100"]);
    let slow = azure_env(&proxy);
    let mut first = spawn_ingest("az://logs/lake", &slow);
    let t0 = Instant::now();
    while !list(("azure-list", &cs), "logs", "lake/_flowlake/")
        .iter()
        .any(|n| n.ends_with("lock.json"))
    {
        assert!(t0.elapsed() < Duration::from_secs(60), "no lock taken");
        std::thread::sleep(Duration::from_millis(50));
    }
    let env = azure_env(&az);
    let out = run(&["ingest", "az://logs", "--lake", "az://logs/lake"], &env);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("locked by flowlake on") && err.contains(&format!("(pid {})", first.id())),
        "{err}"
    );
    assert!(first.wait().unwrap().success());
    let local = tmp.path().join("local");
    ingest_cli(&[&src], &local, &[]);
    assert_eq!(
        lake_rows("az://logs/lake", &env),
        lake_rows(local.to_str().unwrap(), &[])
    );
    assert_tidy(("azure-list", &cs), "logs", "lake/", "az://logs/lake", &env);
}

#[test]
fn s3_credentials_region_and_endpoint_come_from_a_named_aws_profile() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 1, 2, 2, 40, 3);
    let s3 = moto();
    let endpoint = format!("http://127.0.0.1:{}", s3.port);
    blobs_py(&["s3-upload", &endpoint, "flowlogs", src.to_str().unwrap()]);
    let aws = tmp.path().join("aws");
    let credentials = crate::common::write(
        &aws,
        "credentials",
        "[default]\naws_access_key_id = nope\naws_secret_access_key = nope\n\n[flowlake]\naws_access_key_id = test\naws_secret_access_key = test\n",
    );
    let config = crate::common::write(
        &aws,
        "config",
        &format!(
            "[profile flowlake]\nregion = us-east-1\nendpoint_url = {endpoint}\n\n[profile corp]\nsso_session = corp\n"
        ),
    );
    let files = |profile: &str| {
        vec![
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                credentials.display().to_string(),
            ),
            ("AWS_CONFIG_FILE", config.display().to_string()),
            ("AWS_PROFILE", profile.to_string()),
            // no instance metadata service to fall back on here
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ]
    };
    let lake = tmp.path().join("lake");
    let (code, s) = ingest_remote("s3://flowlogs", &lake, &[], &files("flowlake"));
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["blobs_new"], 4, "{s}");

    for (profile, want) in [
        ("corp", "gets its credentials through sso_session"),
        (
            "missing",
            "AWS profile \"missing\" (AWS_PROFILE) is in neither",
        ),
    ] {
        let l = lake.display().to_string();
        let out = run(&["ingest", "s3://flowlogs", "--lake", &l], &files(profile));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(want), "{profile}: {err}");
    }
}
