//! Object storage against real servers on loopback started by each test: Azurite (the Azure
//! Blob Storage emulator, npm package `azurite`) and moto's S3 server (PyPI `moto[server]`).
//! Blobs are put there by `tests/remote/blobs.py` with the Azure and AWS SDKs, in the real
//! container layout, and grown the way Azure grows them. `scripts/test.sh` installs the
//! servers and the SDKs when they are missing; without them a test says it skipped (and
//! fails in CI).
//!
//! This file is the harness (servers, environments, helpers); [`source`] tests ingest from
//! containers and buckets, [`lake`] tests lakes written to them.

mod cluster;
mod lake;
mod source;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::common::{flowlake, python_has, read_lake};

/// Azurite's well-known development account key (public, documented by Microsoft).
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A server process on a loopback port, killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the servers need; a test without them says it skipped (and fails in CI).
pub const SERVERS: &str = "Azurite, moto's S3 server and the Azure and AWS SDKs for Python (scripts/test.sh installs them)";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Finds a test tool: `$FLOWLAKE_TOOLS/node_modules/.bin`, `~/.cache/flowlake-tools/...`, or PATH.
fn tool(name: &str) -> Option<PathBuf> {
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
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Whether the Python SDKs `blobs.py` uses are installed.
fn sdks() -> bool {
    python_has(&["azure.storage.blob", "boto3"])
}

/// Starts the server `command(port)` builds on a free loopback port and waits until it
/// listens. A port is free when picked but may be taken before the server binds it: a
/// server that exits before listening is started again on another port.
fn start(mut command: impl FnMut(u16) -> Command, dir: TempDir) -> Server {
    for _ in 0..5 {
        let port = free_port();
        let mut cmd = command(port);
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let t0 = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                break; // it exited: most likely the port was taken meanwhile
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Server {
                    child,
                    port,
                    _dir: dir,
                };
            }
            if t0.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("{cmd:?} did not listen on {port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("the server exited before listening, five times");
}

/// Azurite on a free port, or `None` when it or the SDKs are not installed.
pub fn azurite() -> Option<Server> {
    let bin = tool("azurite-blob")?;
    if !sdks() {
        return None;
    }
    let dir = TempDir::new().unwrap();
    let location = dir.path().to_path_buf();
    Some(start(
        |port| {
            let mut cmd = Command::new(&bin);
            cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                .args(["--silent", "--skipApiVersionCheck", "--loose", "--location"])
                .arg(&location);
            cmd
        },
        dir,
    ))
}

/// moto's S3 server on a free port, or `None` when it or the SDKs are not installed.
pub fn moto() -> Option<Server> {
    let bin = tool("moto_server")?;
    if !sdks() {
        return None;
    }
    Some(start(
        |port| {
            let mut cmd = Command::new(&bin);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            cmd
        },
        TempDir::new().unwrap(),
    ))
}

pub fn azure_env(s: &Server) -> Vec<(&'static str, String)> {
    vec![
        ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
        (
            "AZURITE_BLOB_STORAGE_URL",
            format!("http://127.0.0.1:{}", s.port),
        ),
    ]
}

pub fn s3_env(s: &Server) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{}", s.port)),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

pub fn connection_string(s: &Server) -> String {
    format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{}/devstoreaccount1;",
        s.port
    )
}

/// Runs `tests/remote/blobs.py ARGS` and returns its output.
pub fn blobs_py(args: &[&str]) -> String {
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
pub fn run(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    flowlake(args, &env)
}

/// Puts the blob tree `src` into Azurite's `container` as block blobs.
pub fn azure_upload(az: &Server, container: &str, src: &Path) -> String {
    blobs_py(&[
        "azure-upload",
        &connection_string(az),
        container,
        src.to_str().unwrap(),
    ])
}

/// `flowlake ingest SOURCE --lake LAKE --json EXTRA`, with `env`: exit code and summary.
pub fn ingest_remote(
    source: &str,
    lake: &Path,
    extra: &[&str],
    env: &[(&str, String)],
) -> (i32, Value) {
    ingest_to(source, &lake.display().to_string(), extra, env)
}

/// [`ingest_remote`] into a lake given as a directory or a URL.
pub fn ingest_to(source: &str, lake: &str, extra: &[&str], env: &[(&str, String)]) -> (i32, Value) {
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
pub fn rows(lake: &Path) -> Vec<crate::common::Row> {
    relative_blobs(read_lake(lake))
}

/// `rows` with `source_blob` cut to the path in the container layout, sorted.
pub fn relative_blobs(mut rows: Vec<crate::common::Row>) -> Vec<crate::common::Row> {
    for r in &mut rows {
        let b = r["source_blob"].as_str().unwrap();
        let rel = &b[b.find("insights-logs-").expect("container layout")..];
        r.insert("source_blob".into(), Value::from(rel));
    }
    rows.sort_by_cached_key(|r| serde_json::to_string(r).unwrap());
    rows
}

/// `tests/remote/faulty_proxy.py` on a free port in front of `upstream`; returns the proxy
/// and the file where it counts the faults it injected.
pub fn faulty_proxy(upstream: &Server, args: &[&str]) -> (Server, PathBuf) {
    let dir = TempDir::new().unwrap();
    let stats = dir.path().join("faults");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/remote/faulty_proxy.py");
    let upstream = upstream.port.to_string();
    let server = start(
        |port| {
            let mut cmd = Command::new("python3");
            cmd.arg(&script)
                .args([port.to_string(), upstream.clone()])
                .arg(&stats)
                .args(args);
            cmd
        },
        dir,
    );
    (server, stats)
}

pub fn faults(stats: &Path) -> u64 {
    std::fs::read_to_string(stats)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `flowlake ARGS` with `env`; stdout, after checking it succeeded.
pub fn run_ok(args: &[&str], env: &[(&str, String)]) -> String {
    let out = run(args, env);
    assert!(
        out.status.success(),
        "flowlake {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Starts `flowlake ingest az://logs --lake LAKE` committing every MiB with one worker, in
/// the background.
pub fn spawn_ingest(lake: &str, env: &[(&str, String)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_flowlake"))
        .args(["ingest", "az://logs", "--lake", lake])
        .args(["--commit-mib", "1", "--workers", "1", "--quiet"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Every row of the `flows` table of `lake` (a directory or a URL), through `flowlake sql`,
/// with `source_blob` cut as [`rows`] does.
pub fn lake_rows(lake: &str, env: &[(&str, String)]) -> Vec<crate::common::Row> {
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
pub fn info(lake: &str, env: &[(&str, String)]) -> Value {
    serde_json::from_str(&run_ok(&["info", "--lake", lake, "--json"], env)).unwrap()
}

/// The names under `prefix` in a container (`az`) or bucket (`s3`).
pub fn list(store: (&str, &str), container: &str, prefix: &str) -> Vec<String> {
    blobs_py(&[store.0, store.1, container, prefix])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The lake under `prefix` holds exactly its manifest's data files, no lock and no intent.
pub fn assert_tidy(
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

/// What `blobs.py` needs to reach a server: a connection string or an endpoint.
pub fn store_arg(kind: &str, server: &Server) -> String {
    if kind == "az" {
        connection_string(server)
    } else {
        format!("http://127.0.0.1:{}", server.port)
    }
}
