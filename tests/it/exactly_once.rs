//! Exactly once: reruns, growing blobs, rewritten blobs, crashes at every commit step.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::common::*;

const NSG_ID: &str =
    "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG1/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1";

/// A v2 NSG record for minute `m` with `n` tuples.
fn record(m: u32, n: u32, salt: u32) -> String {
    let tuples: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "\"{},10.0.0.4,52.1.{}.{},{},443,T,O,A,E,{},{},1,60\"",
                1_700_000_000 + m * 60 + i,
                salt % 250,
                i % 250,
                40_000 + i,
                i + 1,
                100 * (i + 1)
            )
        })
        .collect();
    format!(
        r#"{{"time":"2023-11-14T22:{m:02}:00.0000000Z","systemId":"x","category":"NetworkSecurityGroupFlowEvent","resourceId":"{NSG_ID}","operationName":"NetworkSecurityGroupFlowEvents","properties":{{"Version":2,"flows":[{{"rule":"DefaultRule_AllowInternetOutBound","flows":[{{"mac":"000D3AF87856","flowTuples":[{}]}}]}}]}}}}"#,
        tuples.join(",")
    )
}

/// A blob in Azure's block layout: opening block, records (each after the first led by `,`),
/// closing block.
fn blob(records: &[String]) -> String {
    let mut s = String::from("{\"records\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            s.push_str("\r\n,");
        }
        s.push_str(r);
    }
    s.push_str("\r\n]}");
    s
}

const REL: &str = "insights-logs-networksecuritygroupflowevent/resourceId=/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG1/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1/y=2023/m=11/d=14/h=22/m=00/macAddress=000D3AF87856/PT1H.json";

fn set_mtime_later(p: &Path) {
    // Make sure a rewrite within the same clock tick is still seen as a change.
    let f = std::fs::File::options().write(true).open(p).unwrap();
    let t = f.metadata().unwrap().modified().unwrap() + Duration::from_secs(5);
    f.set_modified(t).unwrap();
}

#[test]
fn rerun_adds_nothing() {
    let d = tempfile::tempdir().unwrap();
    let lake = d.path().join("lake");
    let src = crate::need!(samples(), SAMPLES);
    let first = ingest_lib(&[&src], &lake);
    assert!(first.tuples > 0);
    let rows = read_lake(&lake);
    let v = flowlake::lake::load_manifest(&lake).unwrap().version;
    let second = ingest_lib(&[&src], &lake);
    assert_eq!((second.tuples, second.commits, second.blobs_new), (0, 0, 0));
    assert_eq!(second.blobs_unchanged, first.blobs_found);
    assert_eq!(read_lake(&lake), rows);
    assert_eq!(
        flowlake::lake::load_manifest(&lake).unwrap().version,
        v,
        "no empty commit"
    );
}

#[test]
fn grown_blob_adds_only_new_records() {
    let d = tempfile::tempdir().unwrap();
    let (src, lake) = (d.path().join("src"), d.path().join("lake"));
    let recs: Vec<String> = (0..3).map(|m| record(m, 5, m)).collect();
    let p = write(&src, REL, &blob(&recs[..1]));
    let s1 = ingest_lib(&[&src], &lake);
    assert_eq!((s1.blobs_new, s1.tuples), (1, 5));
    // Azure inserts the next record blocks before the closing block.
    std::fs::write(&p, blob(&recs[..3])).unwrap();
    let s2 = ingest_lib(&[&src], &lake);
    assert_eq!(
        (s2.blobs_grown, s2.records, s2.tuples, s2.rows_replaced),
        (1, 2, 10, 0)
    );
    // Same bytes, touched: nothing new.
    set_mtime_later(&p);
    let s3 = ingest_lib(&[&src], &lake);
    assert_eq!((s3.blobs_unchanged, s3.tuples), (1, 0));
    let rows = read_lake(&lake);
    assert_eq!(rows.len(), 15);
    let records: Vec<i64> = rows
        .iter()
        .map(|r| r["source_record"].as_i64().unwrap())
        .collect();
    assert_eq!(records.iter().filter(|r| **r == 2).count(), 5);
    // Same result as a single clean ingest of the final blob.
    let clean = d.path().join("clean");
    ingest_lib(&[&src], &clean);
    assert_eq!(read_lake(&clean), rows);
    // The rollup holds the new tuples too, and nothing twice.
    assert_rollup_matches(&lake);
}

#[test]
fn rewritten_or_shrunk_blob_replaces_its_rows() {
    let d = tempfile::tempdir().unwrap();
    let (src, lake) = (d.path().join("src"), d.path().join("lake"));
    let p = write(&src, REL, &blob(&[record(0, 4, 1), record(1, 4, 1)]));
    let other = write(
        &src,
        &REL.replace("h=22", "h=21"),
        &blob(&[record(2, 3, 9)]),
    );
    ingest_lib(&[&src], &lake);
    assert_eq!(read_lake(&lake).len(), 11);
    // Rewritten: the first record changed (different destination).
    std::fs::write(
        &p,
        blob(&[record(0, 4, 2), record(1, 4, 1), record(3, 2, 1)]),
    )
    .unwrap();
    set_mtime_later(&p);
    let s = ingest_lib(&[&src], &lake);
    assert_eq!((s.blobs_rewritten, s.rows_replaced, s.tuples), (1, 8, 10));
    let rows = read_lake(&lake);
    assert_eq!(rows.len(), 13);
    assert_eq!(
        rows.iter()
            .filter(|r| r["dst_ip"].as_str().unwrap().starts_with("52.1.1."))
            .count(),
        4 + 2
    );
    // Shrunk: back to one record.
    std::fs::write(&p, blob(&[record(0, 4, 2)])).unwrap();
    set_mtime_later(&p);
    let s = ingest_lib(&[&src], &lake);
    assert_eq!((s.blobs_rewritten, s.rows_replaced, s.tuples), (1, 10, 4));
    let clean = d.path().join("clean");
    ingest_lib(&[&src], &clean);
    assert_eq!(read_lake(&lake), read_lake(&clean));
    assert!(other.exists());
    // The rewritten blob's rollup rows were replaced with its raw rows.
    assert_rollup_matches(&lake);
}

/// Runs the CLI ingest with a failpoint; it must abort there.
fn crash_at(src: &Path, lake: &Path, point: &str) {
    let out = flowlake(
        &[
            "ingest",
            src.to_str().unwrap(),
            "--lake",
            lake.to_str().unwrap(),
            "--commit-mib",
            "1",
            "--quiet",
        ],
        &[("FLOWLAKE_FAILPOINT", point)],
    );
    assert!(
        !out.status.success(),
        "ingest should have aborted at {point}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(point));
}

#[test]
fn crash_at_every_commit_step_then_rerun_equals_clean_run() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    gen_tree(&src, 2, 4, 3, 3000, 7);
    let clean = d.path().join("clean");
    let (code, s) = ingest_cli(&[&src], &clean, &["--commit-mib", "1"]);
    assert_eq!(code, 0);
    assert!(s["commits"].as_u64().unwrap() > 2, "several commits: {s}");
    let want = read_lake(&clean);
    for point in CRASH_POINTS {
        let lake = d.path().join(format!("lake-{point}"));
        // Crash twice (the second run first recovers what the first left), then finish.
        crash_at(&src, &lake, point);
        crash_at(&src, &lake, point);
        let (code, _) = ingest_cli(&[&src], &lake, &["--commit-mib", "1"]);
        assert_eq!(code, 0);
        assert_eq!(
            read_lake(&lake).len(),
            want.len(),
            "row count after crash at {point}"
        );
        assert_eq!(read_lake(&lake), want, "rows after crash at {point}");
        assert_rollup_matches(&lake);
        let m = flowlake::lake::load_manifest(&lake).unwrap();
        assert_eq!(m.rows() as usize, want.len());
        assert_no_staging(&lake);
    }
}

#[test]
fn kill_9_mid_ingest_then_rerun_equals_clean_run() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    gen_tree(&src, 2, 6, 4, 4000, 7);
    let clean = d.path().join("clean");
    ingest_cli(&[&src], &clean, &["--commit-mib", "2"]);
    let want = read_lake(&clean);
    let lake = d.path().join("lake");
    let mut killed = 0;
    for delay_ms in [30u64, 80, 150, 250, 400, 600] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flowlake"))
            .args([
                "ingest",
                src.to_str().unwrap(),
                "--lake",
                lake.to_str().unwrap(),
                "--commit-mib",
                "2",
                "--quiet",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        // Whatever state the kill left, the committed lake is consistent: no duplicate rows.
        let rows = read_lake(&lake);
        let mut dedup = rows.clone();
        dedup.dedup();
        assert_eq!(
            dedup.len(),
            rows.len(),
            "duplicates after kill at {delay_ms} ms"
        );
    }
    assert!(killed > 0, "at least one run was killed mid-way");
    let (code, _) = ingest_cli(&[&src], &lake, &["--commit-mib", "2"]);
    assert_eq!(code, 0);
    assert_eq!(read_lake(&lake), want);
    assert_rollup_matches(&lake);
}

#[test]
fn compaction_keeps_rows_and_swaps_atomically_for_readers() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    gen_tree(&src, 2, 4, 4, 2000, 7);
    let lake = d.path().join("lake");
    ingest_cli(&[&src], &lake, &["--commit-mib", "1"]);
    let before = read_lake(&lake);
    let m = flowlake::lake::load_manifest(&lake).unwrap();
    let part = m.partitions.keys().next().unwrap().clone();
    let part_rows: u64 = m.partitions[&part].iter().map(|f| f.rows).sum();
    assert!(m.partitions[&part].len() > 1);
    // A reader that lists the partition and reads every file's row count, over and over.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let dir = lake.join("flows").join(&part);
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut views = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || views == 0 {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                let names: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
                let mut total = 0;
                let mut complete = true;
                for p in names
                    .iter()
                    .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
                {
                    match std::fs::File::open(p) {
                        Ok(f) => {
                            total += parquet::file::reader::SerializedFileReader::new(f)
                                .map(|r| {
                                    use parquet::file::reader::FileReader;
                                    r.metadata().file_metadata().num_rows() as u64
                                })
                                .unwrap_or(0)
                        }
                        Err(_) => complete = false, // listed before the swap, opened after: retry
                    }
                }
                if complete {
                    assert_eq!(
                        total, part_rows,
                        "a reader saw {total} rows instead of {part_rows} in {names:?}"
                    );
                    views += 1;
                }
            }
            views
        })
    };
    let out = flowlake(
        &["compact", "--lake", lake.to_str().unwrap(), "--json"],
        &[],
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(reader.join().unwrap() > 0);
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["files_after"], json!(m.partitions.len()));
    assert_eq!(read_lake(&lake), before);
    // Growth after compaction still replaces and appends correctly.
    let m2 = flowlake::lake::load_manifest(&lake).unwrap();
    assert!(m2.partitions.values().all(|f| f.len() == 1));
    let again = ingest_lib(&[&src], &lake);
    assert_eq!(again.tuples, 0);
    // Compaction merged each hour's rollup rows to one per key, still equal to the raw rows,
    // and each key's source ports are counted exactly.
    let keys = assert_rollup_matches(&lake);
    let q = "WITH p AS (SELECT date_trunc('hour', time) AS hour, resource_id, mac, rule, \
          direction, decision, protocol_number, src_ip, dst_ip, dst_port, \
          count(DISTINCT src_port) AS ports FROM flows \
          GROUP BY date_trunc('hour', time), resource_id, mac, rule, direction, decision, \
          protocol_number, src_ip, dst_ip, dst_port) \
        SELECT (SELECT count(*) FROM hourly) AS rows, (SELECT count(*) FROM hourly h JOIN p \
          ON h.hour = p.hour AND h.resource_id = p.resource_id \
          AND (h.mac IS NOT DISTINCT FROM p.mac) AND h.rule = p.rule \
          AND h.direction = p.direction AND h.decision = p.decision \
          AND h.protocol_number = p.protocol_number AND h.src_ip = p.src_ip \
          AND h.dst_ip = p.dst_ip AND h.dst_port = p.dst_port \
          WHERE h.src_ports <> p.ports) AS off";
    let v = sql_json(&lake, q);
    assert_eq!(v[0]["rows"], json!(keys), "one row per key and hour");
    assert_eq!(v[0]["off"], json!(0), "exact source-port counts");
}

#[test]
fn the_rollup_of_web_client_traffic_is_an_order_of_magnitude_smaller() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let opts = flowlake::synth::GenOptions {
        mix: flowlake::synth::GenMix::WebClients,
        ..gen_options(&src, 1, 2, 2, 6000, 3)
    };
    flowlake::synth::generate(&opts).unwrap();
    let lake = d.path().join("lake");
    let (code, _) = ingest_cli(&[&src], &lake, &[]);
    assert_eq!(code, 0);
    let rows = sql_json(
        &lake,
        "SELECT (SELECT count(*) FROM flows) AS raw, (SELECT count(*) FROM hourly) AS rollup, \
         (SELECT max(src_ports) FROM hourly) AS ports",
    );
    let (raw, rollup) = (
        rows[0]["raw"].as_u64().unwrap(),
        rows[0]["rollup"].as_u64().unwrap(),
    );
    assert_eq!(raw, 2 * 2 * 6000);
    assert!(rollup * 10 <= raw, "{rollup} rollup rows for {raw} tuples");
    assert!(rows[0]["ports"].as_u64().unwrap() > 5, "{rows:?}");
    assert_rollup_matches(&lake);
}
