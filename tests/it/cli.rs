//! The command line: exit statuses, JSON summaries, clear errors, docs in sync with the code.

use serde_json::json;

use crate::common::*;

#[test]
fn ingest_exit_status_tells_clean_from_rejects_from_failure() {
    let d = tempfile::tempdir().unwrap();
    let lake = d.path().join("lake");
    let (code, s) = ingest_cli(
        &[&crate::need!(samples(), SAMPLES).join("azure-nsg-v2-docs-sample.json")],
        &lake,
        &[],
    );
    assert_eq!(
        (code, s["tuples"].clone(), s["rejected"].clone()),
        (0, json!(11), json!(0))
    );
    let bad = write(d.path(), "bad/PT1H.json", "{\"records\":[{\"x\":1}]}");
    let (code, _) = ingest_cli(&[&bad], &lake, &[]);
    assert_eq!(code, 3);
    let out = flowlake(
        &[
            "ingest",
            "/does/not/exist",
            "--lake",
            lake.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/does/not/exist") && !err.contains("panicked"),
        "{err}"
    );
    let usage = flowlake(&["ingest"], &[]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn human_summary_names_rejects_with_file_and_position() {
    let d = tempfile::tempdir().unwrap();
    let bad = write(
        d.path(),
        "src/PT1H.json",
        &std::fs::read_to_string(
            crate::need!(samples(), SAMPLES).join("azure-nsg-v2-docs-sample.json"),
        )
        .unwrap()
        .replace("59831", "99999"),
    );
    let out = flowlake(
        &[
            "ingest",
            bad.to_str().unwrap(),
            "--lake",
            d.path().join("lake").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ingested 10 tuples"), "{text}");
    assert!(text.contains("invalid_port 1"), "{text}");
    assert!(
        text.contains("PT1H.json: byte ")
            && text.contains("record 0, tuple 3: invalid_port: source port 99999 is above 65535"),
        "{text}"
    );
}

#[test]
fn info_gen_and_compact_commands() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let out = flowlake(
        &[
            "gen",
            "--out",
            src.to_str().unwrap(),
            "--nics",
            "3",
            "--hours",
            "2",
            "--days",
            "2",
            "--tuples-per-hour",
            "100",
            "--json",
        ],
        &[],
    );
    assert!(out.status.success());
    let g: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (g["blobs"].clone(), g["tuples"].clone()),
        (json!(12), json!(1200))
    );
    let lake = d.path().join("lake");
    let (code, s) = ingest_cli(&[&src], &lake, &[]);
    assert_eq!(
        (code, s["tuples"].clone(), s["blobs_new"].clone()),
        (0, json!(1200), json!(12))
    );
    let info = flowlake(&["info", "--lake", lake.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.contains("1200 rows")
            && text.contains("date=2026-11-01")
            && text.contains("date=2026-11-02"),
        "{text}"
    );
    let c = flowlake(&["compact", "--lake", lake.to_str().unwrap()], &[]);
    assert!(c.status.success());
    assert_eq!(read_lake(&lake).len(), 1200);
    let not_lake = flowlake(&["info", "--lake", d.path().to_str().unwrap()], &[]);
    assert_eq!(not_lake.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&not_lake.stderr).contains("not a flowlake lake"));
}

#[test]
fn generated_blobs_use_the_azure_container_layout() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    gen_tree(&src, 1, 1, 2, 50, 1);
    let files: Vec<String> = walkdir::WalkDir::new(&src)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(&src).unwrap().display().to_string())
        .collect();
    assert!(
        files.iter().any(|f| f
            .starts_with("insights-logs-networksecuritygroupflowevent/resourceId=/SUBSCRIPTIONS/")
            && f.ends_with("/y=2026/m=11/d=01/h=00/m=00/macAddress=000D3A100000/PT1H.json")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f
            .starts_with("insights-logs-flowlogflowevent/flowLogResourceID=/SUBSCRIPTIONS/")
            && f.contains("/FLOWLOGS/")),
        "{files:?}"
    );
}

#[test]
fn schema_doc_matches_the_code() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/SCHEMA.md")).unwrap();
    assert!(
        doc.contains(&flowlake::schema::markdown()),
        "docs/SCHEMA.md is out of date: run `flowlake schema --markdown`"
    );
    assert!(
        doc.contains(&flowlake::inventory::table::markdown()),
        "docs/SCHEMA.md is out of date: run `flowlake schema --table inventory --markdown`"
    );
    assert!(
        doc.contains(&flowlake::lake::hourly::markdown()),
        "docs/SCHEMA.md is out of date: run `flowlake schema --table hourly --markdown`"
    );
    assert!(
        doc.contains(&flowlake::lake::coverage::markdown()),
        "docs/SCHEMA.md is out of date: run `flowlake schema --table coverage --markdown`"
    );
}

#[test]
fn progress_bar_only_on_a_terminal() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    gen_tree(&src, 1, 12, 4, 4000, 1);
    let bin = env!("CARGO_BIN_EXE_flowlake");
    let ingest = |lake: &str, extra: &str| {
        format!(
            "{bin} ingest {} --lake {} --workers 1 {extra}",
            src.display(),
            d.path().join(lake).display()
        )
    };
    // Under a pseudo-terminal (util-linux `script`), the bar is drawn on stderr.
    let tty = std::process::Command::new("script")
        .args(["-qec", &ingest("a", ""), "/dev/null"])
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&tty.stdout);
    assert!(
        tty.status.success() && text.contains("eta") && text.contains("MiB"),
        "{text}"
    );
    // --quiet on a terminal, and any run without one, draw nothing.
    let quiet = std::process::Command::new("script")
        .args(["-qec", &ingest("b", "--quiet"), "/dev/null"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&quiet.stdout).contains("eta"));
    let piped = flowlake(
        &[
            "ingest",
            src.to_str().unwrap(),
            "--lake",
            d.path().join("c").to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        piped.status.success() && piped.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
}
