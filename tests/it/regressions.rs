//! Regression tests, each named after the defect it pins (issue 12's list).

use std::io::Read;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::common::*;

/// Defect 2: huge spans panicked in chrono; they are usage errors naming the value.
#[test]
fn huge_spans_are_usage_errors_not_panics() {
    let d = tempfile::tempdir().unwrap();
    let lake = gen_lake(d.path());
    let l = lake.to_str().unwrap();
    for (flag, value) in [
        ("--since", "100000000d"),
        ("--baseline", "99999999999999w"),
        ("--baseline", "100000000d"),
        ("--until", "99999999999999999999d"),
    ] {
        let out = flowlake(&["report", "exfil", "--lake", l, flag, value], &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(&format!("{flag} '{value}'")), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let conf = write(
        d.path(),
        "flowlake.toml",
        "[report]\nbaseline = \"99999999999999w\"\n",
    );
    let out = flowlake(
        &[
            "report",
            "exfil",
            "--lake",
            l,
            "--config",
            conf.to_str().unwrap(),
        ],
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("[report] baseline: '99999999999999w'"),
        "{err}"
    );
    let out = flowlake(&["ingest", "x", "--lake", l, "--since", "100000000d"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// Runs `flowlake ARGS` with its stdout closed after `keep` bytes were read: the command must
/// end quietly with status 0.
fn with_closed_stdout(args: &[&str], keep: usize) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowlake"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = vec![0u8; keep];
    stdout.read_exact(&mut buf).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    assert!(err.is_empty(), "{args:?} printed: {err}");
}

/// Defect 3: `flowlake sql ... | head -2` said "Broken pipe" and exited 1; a closed stdout
/// ends every command quietly with status 0.
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let d = tempfile::tempdir().unwrap();
    let lake = gen_lake(d.path());
    let l = lake.to_str().unwrap();
    for format in ["table", "csv", "json", "ndjson"] {
        let max = if format == "table" { "0" } else { "1000" };
        with_closed_stdout(
            &[
                "sql",
                "--lake",
                l,
                "--format",
                format,
                "--max-rows",
                max,
                "SELECT * FROM flows",
            ],
            100,
        );
    }
    with_closed_stdout(&["report", "summary", "--lake", l, "--format", "json"], 10);
    with_closed_stdout(&["report", "exfil", "--lake", l, "--print-sql"], 10);
    with_closed_stdout(&["info", "--lake", l], 10);
    with_closed_stdout(&["schema"], 10);
    with_closed_stdout(&["--help"], 10);
    // The shell reading a script: results and its own lines.
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowlake"))
        .args(["shell", "--lake", l, "--max-rows", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"\\d\nSELECT * FROM flows;\n\\df\n").unwrap();
    drop(stdin);
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 10];
    stdout.read_exact(&mut buf).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Defect 4: when several ingest workers failed, only the last error was reported.
#[test]
fn every_failed_worker_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    gen_tree(&src, 1, 2, 2, 50, 1);
    let out = flowlake(
        &[
            "ingest",
            src.to_str().unwrap(),
            "--lake",
            d.path().join("lake").to_str().unwrap(),
            "--workers",
            "2",
        ],
        &[("FLOWLAKE_FAILPOINT", "worker-error")],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("2 workers failed"), "{err}");
    assert!(
        err.contains("in worker 0") && err.contains("in worker 1"),
        "{err}"
    );
}

/// Defect 5: without `renameat2(RENAME_EXCHANGE)` the swap fell back to two renames
/// silently; ingest warns and `info` says so, and the lake is still right.
#[test]
fn partition_swaps_without_rename_exchange_are_announced() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    gen_tree(&src, 1, 2, 2, 50, 1);
    let lake = d.path().join("lake");
    let l = lake.to_str().unwrap();
    let no_exchange = [("FLOWLAKE_FAILPOINT", "no-rename-exchange")];
    let ingest = |extra: &str, env: &[(&str, &str)]| {
        let mut args = vec!["ingest", src.to_str().unwrap(), "--lake", l];
        if !extra.is_empty() {
            args.push(extra);
        }
        flowlake(&args, env)
    };
    let out = ingest("", &no_exchange);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot swap directories atomically"),
        "{}",
        stderr(&out)
    );
    // A second commit replaces the existing partition by two renames: rows stay right.
    gen_tree(&src, 1, 3, 2, 50, 1);
    let out = ingest("", &no_exchange);
    assert!(out.status.success(), "{}", stderr(&out));
    let clean = d.path().join("clean");
    ingest_cli(&[&src], &clean, &[]);
    assert_eq!(read_lake(&lake).len(), read_lake(&clean).len());
    let info = flowlake(&["info", "--lake", l], &no_exchange);
    assert!(
        String::from_utf8_lossy(&info.stdout).contains("cannot swap directories atomically"),
        "{}",
        String::from_utf8_lossy(&info.stdout)
    );
    // Where the file system can exchange, nothing is said.
    let out = ingest("", &[]);
    assert!(!stderr(&out).contains("atomically"), "{}", stderr(&out));
    let info = flowlake(&["info", "--lake", l, "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(v["atomic_partition_swap"], json!(true));
}

/// Defect 6: the shell's banner listed tables in a different order at each start.
#[tokio::test]
async fn table_names_are_sorted() {
    let d = tempfile::tempdir().unwrap();
    let lake = gen_lake(d.path());
    let s = flowlake::query::session(&flowlake::store::Location::Local(lake), &Default::default())
        .await
        .unwrap();
    for v in ["zz_last", "aa_first", "mm_middle"] {
        s.ctx
            .sql(&format!("CREATE VIEW {v} AS SELECT 1 AS x"))
            .await
            .unwrap();
    }
    let names = flowlake::query::run::table_names(&s.ctx);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.len() >= 6, "{names:?}");
}

/// Defect 7: release builds carried line tables (a 583 MB binary); profiling builds keep them.
#[test]
fn release_builds_carry_no_debug_info() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let t: toml::Table = text.parse().unwrap();
    let profiles = &t["profile"];
    let debug = profiles["release"].get("debug").cloned();
    assert!(
        matches!(
            debug,
            Some(toml::Value::Boolean(false)) | Some(toml::Value::Integer(0)) | None
        ),
        "{debug:?}"
    );
    assert_eq!(profiles["profiling"]["inherits"].as_str(), Some("release"));
    assert_eq!(
        profiles["profiling"]["debug"].as_str(),
        Some("line-tables-only")
    );
}

/// Defect 8: the test build resolved other features than `cargo run` (through
/// dev-dependencies), so the README's second command rebuilt DataFusion from scratch.
#[test]
fn tests_and_the_binary_share_one_build_of_the_dependencies() {
    let features = |edges: &str| -> std::collections::BTreeSet<String> {
        let out = Command::new(env!("CARGO"))
            .args([
                "tree",
                "--offline",
                "--prefix",
                "none",
                "-f",
                "{p} {f}",
                "-e",
                edges,
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo runs");
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim_end_matches(" (*)").to_string())
            .collect()
    };
    let build = features("normal,build");
    let test = features("normal,build,dev");
    let differ: Vec<&String> = build.iter().filter(|p| !test.contains(*p)).collect();
    assert!(
        differ.is_empty(),
        "packages built with other features for the tests: {differ:?}"
    );
}

/// Defect 9: a blob read while a copy tool rewrote it in place left `truncated_blob` /
/// `empty_blob` rejects (exit 3) that stayed after the blob was complete. A torn end of a
/// blob that may be mid-write is pending; the blob is read on once complete.
#[test]
fn torn_reads_of_blobs_being_written_are_pending_not_rejected() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    gen_tree(&src, 1, 3, 2, 300, 9);
    let clean = d.path().join("clean");
    ingest_cli(&[&src], &clean, &[]);
    let blobs: Vec<std::path::PathBuf> = walkdir::WalkDir::new(&src)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() == "PT1H.json")
        .map(|e| e.into_path())
        .collect();
    let full: Vec<Vec<u8>> = blobs.iter().map(|b| std::fs::read(b).unwrap()).collect();
    let lake = d.path().join("lake");
    // A copy tool mid-way: one blob empty, one cut inside a record, just now.
    std::fs::write(&blobs[0], b"").unwrap();
    std::fs::write(&blobs[1], &full[1][..full[1].len() * 2 / 3]).unwrap();
    let (code, s) = ingest_cli(&[&src], &lake, &[]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(
        (s["rejected"].clone(), s["blobs_pending"].clone()),
        (json!(0), json!(2)),
        "{s}"
    );
    assert!(
        !lake.join("rejects").exists()
            || std::fs::read_dir(lake.join("rejects")).unwrap().count() == 0
    );
    // Unchanged and still fresh: read again, still pending, still nothing rejected.
    let (code, s) = ingest_cli(&[&src], &lake, &[]);
    assert_eq!((code, s["rejected"].clone()), (0, json!(0)), "{s}");
    // The copies complete: the lake equals a clean ingest, with no reject anywhere.
    for (b, bytes) in blobs.iter().zip(&full) {
        std::fs::write(b, bytes).unwrap();
    }
    let (code, s) = ingest_cli(&[&src], &lake, &[]);
    assert_eq!((code, s["blobs_pending"].clone()), (0, json!(0)), "{s}");
    assert_eq!(read_lake(&lake), read_lake(&clean));
    let m = flowlake::lake::load_manifest(&lake).unwrap();
    assert!(
        m.blobs
            .values()
            .all(|b| b.rejected == 0 && !b.pending && !b.broken)
    );
    assert!(m.rejects.is_empty(), "{:?}", m.rejects);

    // An old blob, unchanged for long, that is cut short is bad input: rejected as before.
    std::fs::write(&blobs[2], &full[2][..full[2].len() / 2]).unwrap();
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&blobs[2])
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    let (code, s) = ingest_cli(&[&src], &lake, &[]);
    assert_eq!(
        (code, s["rejected_by_reason"]["truncated_blob"].clone()),
        (3, json!(1)),
        "{s}"
    );
}

/// Found by `exactly_once::kill_9_mid_ingest_then_rerun_equals_clean_run`: a kill while a new
/// lake's first manifest was written left `manifest.json` empty, and every later run refused
/// the lake. The first manifest is now written aside and renamed; what a kill can leave is
/// the aside file, which the next run drops.
#[test]
fn a_kill_while_a_lake_is_created_leaves_it_usable() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    gen_tree(&src, 1, 1, 1, 20, 1);
    let lake = d.path().join("lake");
    write(&lake, "_flowlake/manifest.json.tmp", "");
    let (code, s) = ingest_cli(&[&src], &lake, &[]);
    assert_eq!(code, 0, "{s}");
    assert!(!lake.join("_flowlake/manifest.json.tmp").exists());
    assert_eq!(s["tuples"], json!(20));
}
