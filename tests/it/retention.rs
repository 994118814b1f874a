//! Retention: whole days dropped in one commit (raw tuples and their rejects, then the
//! rollup), reports past the raw horizon answered from the rollup with the same findings,
//! nothing answered from part of the data, crashes at every commit step, and raw tuples
//! without a rollup never dropped until `compact` writes it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

/// Rows of the rollup per hour.
const PER_HOUR: &str = "SELECT hour, sum(tuples) AS t FROM hourly GROUP BY hour ORDER BY hour";

/// The second day's window.
const DAY_2: [&str; 4] = ["--since", "2026-11-02", "--until", "2026-11-03"];

/// "Now" for every retention run here: the spans below count back from it.
const NOW: &str = "2026-12-02T10:00:00Z";

/// A lake of 4 days (2026-11-01..04) with a rejects file from the 1st (one unreadable blob)
/// and another from the 4th, each from its own ingest. Returns (source, lake).
fn four_days(dir: &Path) -> (PathBuf, PathBuf) {
    let src = dir.join("src");
    gen_tree(&src, 4, 6, 3, 400, 11);
    write(
        &src,
        "bad/y=2026/m=11/d=01/h=05/m=00/macAddress=000000000001/PT1H.json",
        "this is not json",
    );
    let lake = dir.join("lake");
    let (code, _) = ingest_cli(&[&src], &lake, &[]);
    assert_eq!(code, 3, "the unreadable blob is rejected");
    write(
        &src,
        "bad/y=2026/m=11/d=04/h=05/m=00/macAddress=000000000001/PT1H.json",
        "this is not json either",
    );
    let (code, _) = ingest_cli(&[&src], &lake, &[]);
    assert_eq!(code, 3);
    (src, lake)
}

/// `flowlake retain --lake LAKE --now NOW ARGS... --json` with `env`.
fn retain(lake: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut all = vec!["retain", "--lake", lake.to_str().unwrap(), "--now", NOW];
    all.extend(args);
    flowlake(&all, env)
}

fn retain_json(lake: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = retain(lake, &all, &[]);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `date=` directories of a table on disk.
fn days_on_disk(lake: &Path, table: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(lake.join(table))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn one_number(lake: &Path, sql: &str) -> i64 {
    let rows = sql_json(lake, sql);
    rows[0]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .as_i64()
        .unwrap_or(0)
}

/// `report KIND --format json ARGS` on `lake`: (exit status, JSON or the error text).
fn report(lake: &Path, kind: &str, args: &[&str]) -> (i32, String) {
    let mut all = vec![
        "report",
        kind,
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "json",
    ];
    all.extend(args);
    let out = flowlake(&all, &[]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("panicked"), "{text}");
    (out.status.code().unwrap_or(-1), text)
}

/// A report's JSON without its generation time and source.
fn comparable(text: &str) -> Value {
    let mut v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v.as_object_mut().unwrap().remove("generated_at");
    v.as_object_mut().unwrap().remove("source");
    v
}

#[test]
fn retain_drops_whole_days_and_reports_read_the_rollup_past_the_raw_horizon() {
    let d = tempfile::tempdir().unwrap();
    let (src, lake) = four_days(d.path());
    let m = flowlake::lake::load_manifest(&lake).unwrap();
    assert_eq!(m.rejects.len(), 2);
    let rollup_tuples = one_number(&lake, "SELECT sum(tuples) FROM hourly");
    let raw_late = one_number(
        &lake,
        "SELECT count(*) FROM flows WHERE time >= TIMESTAMP '2026-11-03T00:00:00Z'",
    );
    let window = DAY_2;
    let (code, before) = report(&lake, "summary", &window);
    assert_eq!(code, 0, "{before}");

    // A dry run says what would go and changes nothing.
    let dry = retain_json(&lake, &["--raw", "29d", "--hourly", "30d", "--dry-run"]);
    assert_eq!(
        dry["raw_days"],
        serde_json::json!(["2026-11-01", "2026-11-02"])
    );
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        flowlake::lake::load_manifest(&lake).unwrap().version,
        m.version
    );
    assert_eq!(days_on_disk(&lake, "flows").len(), 4);

    // Raw tuples before 2026-11-03 (29 days before NOW, to midnight) go in one commit.
    let s = retain_json(&lake, &["--raw", "29d"]);
    assert_eq!(s["raw_before"], "2026-11-03T00:00:00Z");
    assert_eq!(
        s["raw_days"],
        serde_json::json!(["2026-11-01", "2026-11-02"])
    );
    assert_eq!(s["hourly_days"], serde_json::json!([]));
    assert_eq!(s["lake_version"].as_u64(), Some(m.version + 1));
    assert_eq!(
        days_on_disk(&lake, "flows"),
        ["date=2026-11-03", "date=2026-11-04"]
    );
    assert_eq!(days_on_disk(&lake, "hourly").len(), 4);
    assert_eq!(days_on_disk(&lake, "coverage").len(), 4);
    // The rejects of the 1st went with its raw tuples; those of the 4th stay.
    let after = flowlake::lake::load_manifest(&lake).unwrap();
    assert_eq!(s["rejects"].as_array().unwrap().len(), 1);
    assert_eq!(after.rejects.len(), 1);
    assert!(
        !after
            .rejects
            .contains(&s["rejects"][0].as_str().unwrap().to_string())
    );
    let rejects_on_disk = std::fs::read_dir(lake.join("rejects")).unwrap().count();
    assert_eq!(rejects_on_disk, 1);
    // What is left is exactly the later days; the rollup is whole.
    assert_eq!(one_number(&lake, "SELECT count(*) FROM flows"), raw_late);
    assert_eq!(
        one_number(&lake, "SELECT sum(tuples) FROM hourly"),
        rollup_tuples
    );
    assert_no_staging(&lake);

    // A report over the dropped days reads the rollup and finds what it found before.
    let (code, again) = report(&lake, "summary", &window);
    assert_eq!(code, 0, "{again}");
    assert_eq!(comparable(&again), comparable(&before));
    // It refuses what needs the gone raw tuples: --raw, or a bound inside an hour.
    let (code, text) = report(&lake, "summary", &[&window[..], &["--raw"]].concat());
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("raw tuples of 2026-11-01 .. 2026-11-02 (2 days) are gone"),
        "{text}"
    );
    let (code, text) = report(
        &lake,
        "exfil",
        &["--since", "2026-11-02T10:30:00Z", "--until", "2026-11-03"],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("inside the hour 2026-11-02T10:00Z"), "{text}");

    // The blobs of dropped days are remembered: a rerun of the ingest reads nothing again.
    let (code, rerun) = ingest_cli(&[&src], &lake, &[]);
    assert_eq!(code, 0, "{rerun}");
    assert_eq!(rerun["tuples"], 0, "{rerun}");
    assert_eq!(
        days_on_disk(&lake, "flows"),
        ["date=2026-11-03", "date=2026-11-04"]
    );

    // Then the rollup's own horizon; a second run has nothing left to do and commits nothing.
    let s = retain_json(&lake, &["--raw", "29d", "--hourly", "30d"]);
    assert_eq!(s["hourly_days"], serde_json::json!(["2026-11-01"]));
    assert_eq!(days_on_disk(&lake, "hourly").len(), 3);
    assert_eq!(
        days_on_disk(&lake, "coverage"),
        days_on_disk(&lake, "hourly"),
        "coverage goes with the rollup"
    );
    let version = flowlake::lake::load_manifest(&lake).unwrap().version;
    let s = retain_json(&lake, &["--raw", "29d", "--hourly", "30d"]);
    assert_eq!(s["files"], 0);
    assert_eq!(
        flowlake::lake::load_manifest(&lake).unwrap().version,
        version
    );

    // Spans from the config file; a rollup kept shorter than raw tuples is a usage error.
    let config = write(
        d.path(),
        "flowlake.toml",
        "[retain]\nraw = \"28d\"\nhourly = \"400d\"\n",
    );
    let s = retain_json(&lake, &["--config", config.to_str().unwrap()]);
    assert_eq!(s["raw_days"], serde_json::json!(["2026-11-03"]));
    let out = retain(&lake, &["--raw", "30d", "--hourly", "7d"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--hourly must keep at least as long as --raw")
    );
    let out = retain(&lake, &[], &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = retain(&lake, &["--raw", "thirty days"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--raw 'thirty days'"));
}

#[test]
fn a_crash_at_any_step_of_retain_leaves_the_old_lake_or_the_new_one() {
    let d = tempfile::tempdir().unwrap();
    let (_, lake) = four_days(d.path());
    let clean = d.path().join("clean");
    copy_dir(&lake, &clean);
    retain_json(&clean, &["--raw", "29d", "--hourly", "30d"]);
    let want_rows = read_lake(&clean);
    let want = flowlake::lake::load_manifest(&clean).unwrap();
    for point in CRASH_POINTS {
        let l = d.path().join(format!("lake-{point}"));
        copy_dir(&lake, &l);
        let out = retain(
            &l,
            &["--raw", "29d", "--hourly", "30d"],
            &[("FLOWLAKE_FAILPOINT", point)],
        );
        assert!(
            !out.status.success(),
            "retain should have aborted at {point}"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains(point));
        // Whatever the crash left, readers see every day of the rollup or the same as before.
        let tuples = one_number(
            &l,
            "SELECT sum(tuples) FROM hourly WHERE hour >= TIMESTAMP '2026-11-02T00:00:00Z'",
        );
        assert!(tuples > 0, "{point}");
        // The next writer finishes (or the rerun redoes) it: the lake equals a clean run's.
        retain_json(&l, &["--raw", "29d", "--hourly", "30d"]);
        let got = flowlake::lake::load_manifest(&l).unwrap();
        assert_eq!(read_lake(&l), want_rows, "rows after a crash at {point}");
        assert_eq!(
            got.partitions.keys().collect::<Vec<_>>(),
            want.partitions.keys().collect::<Vec<_>>(),
            "{point}"
        );
        assert_eq!(
            got.tables.keys().collect::<Vec<_>>(),
            want.tables.keys().collect::<Vec<_>>(),
            "{point}"
        );
        assert_eq!(got.rejects.len(), want.rejects.len(), "{point}");
        assert_no_staging(&l);
        assert_eq!(
            days_on_disk(&l, "flows"),
            days_on_disk(&clean, "flows"),
            "{point}"
        );
        assert_eq!(
            days_on_disk(&l, "hourly"),
            days_on_disk(&clean, "hourly"),
            "{point}"
        );
        assert_eq!(
            std::fs::read_dir(l.join("rejects")).unwrap().count(),
            want.rejects.len(),
            "{point}"
        );
        assert_eq!(
            sql_json(&l, PER_HOUR),
            sql_json(&clean, PER_HOUR),
            "{point}"
        );
    }
}

#[test]
fn raw_tuples_without_a_rollup_are_never_dropped_and_compact_writes_it() {
    let d = tempfile::tempdir().unwrap();
    let lake = two_day_lake(d.path());
    let want = sql_json(&lake, PER_HOUR);
    // The lake as a version without the rollup left it: no `hourly` (nor `coverage`) files
    // or entries.
    strip_table(&lake, "hourly");
    strip_table(&lake, "coverage");

    // Reports read the raw tuples and say why.
    let (code, text) = report(&lake, "summary", &DAY_2);
    assert_eq!(code, 0, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["source"]["table"], "flows");
    assert!(
        v["source"]["why"]
            .as_str()
            .unwrap()
            .contains("flowlake compact"),
        "{}",
        v["source"]
    );
    // Retention refuses to drop them: a state of the lake (exit 1), not bad usage.
    let out = retain(&lake, &["--raw", "29d"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without an hourly rollup") && err.contains("flowlake compact"),
        "{err}"
    );
    assert_eq!(days_on_disk(&lake, "flows").len(), 2);

    // Compaction writes the rollup of every partition, even one of a single file.
    compact_every_partition(&lake);
    assert_eq!(sql_json(&lake, PER_HOUR), want);
    assert_rollup_matches(&lake);
    let (code, text) = report(&lake, "summary", &DAY_2);
    assert_eq!(code, 0, "{text}");
    let after: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(after["source"]["table"], "hourly");
    assert_eq!(
        comparable(&text),
        comparable(&serde_json::to_string(&v).unwrap())
    );
    let s = retain_json(&lake, &["--raw", "29d"]);
    assert_eq!(
        s["raw_days"],
        serde_json::json!(["2026-11-01", "2026-11-02"])
    );
}

/// Removes the table `name` (a twin of `flows`) from a lake, files and manifest entries: the
/// lake as a version before that table existed left it.
fn strip_table(lake: &Path, name: &str) {
    let path = lake.join("_flowlake/manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let prefix = format!("{name}/");
    m["tables"]
        .as_object_mut()
        .unwrap()
        .retain(|k, _| !k.starts_with(&prefix));
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    std::fs::remove_dir_all(lake.join(name)).unwrap();
}

#[test]
fn a_lake_without_the_coverage_table_reports_the_same_and_compact_writes_it() {
    let d = tempfile::tempdir().unwrap();
    let lake = two_day_lake(d.path());
    let report_of = |lake: &Path| {
        let (code, text) = report(lake, "summary", &DAY_2);
        assert_eq!(code, 0, "{text}");
        text
    };
    let want = report_of(&lake);
    // A lake from the version before `coverage`: coverage is counted from the rollup.
    strip_table(&lake, "coverage");
    let before = report_of(&lake);
    assert_eq!(comparable(&before), comparable(&want));
    let v: Value = serde_json::from_str(&before).unwrap();
    assert_eq!(v["source"]["table"], "hourly");
    // Compaction writes the twins of every partition, even one of a single file.
    compact_every_partition(&lake);
    assert_eq!(days_on_disk(&lake, "coverage").len(), 2);
    assert_rollup_matches(&lake);
    assert_eq!(comparable(&report_of(&lake)), comparable(&want));
}

/// Compacts every partition of `lake`, even one of a single file.
fn compact_every_partition(lake: &Path) {
    let lake = lake.to_str().unwrap();
    let out = flowlake(&["compact", "--lake", lake, "--min-files", "1000"], &[]);
    assert!(out.status.success(), "{out:?}");
}

/// A lake of two days (2026-11-01..02, 4 hours a day, 2 NICs) ingested under `dir`.
fn two_day_lake(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    gen_tree(&src, 2, 4, 2, 300, 5);
    let lake = dir.join("lake");
    let (code, _) = ingest_cli(&[&src], &lake, &[]);
    assert_eq!(code, 0);
    lake
}
