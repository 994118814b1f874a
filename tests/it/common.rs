//! Helpers shared by the integration tests: reading a lake back as plain rows, running the CLI.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, Once};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int32Type, Int64Type, TimestampMicrosecondType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

/// One row of `flows` as column name → JSON value (timestamps as µs; `date` from the path).
pub type Row = BTreeMap<String, Value>;

/// What a test needs that a clone may lack: `../shared/samples` beside the repository.
pub const SAMPLES: &str = "the shared samples (../shared/samples beside the repository)";

/// Whether every test must run (CI is set): then a missing prerequisite fails the test.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// A test cannot run because `what` is missing: in CI that fails it; elsewhere it says on
/// stderr (past the test harness's capture) that it skipped, and why.
pub fn missing(module: &str, what: &str) {
    // The test harness names each test's thread after the test.
    let thread = std::thread::current();
    let test = match thread.name() {
        Some(name) if name != "main" => format!("it::{name}"),
        _ => module.to_string(),
    };
    assert!(
        !in_ci(),
        "{test} needs {what}, which is not here, and CI is set (every test must run there; .ci/run installs it)"
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: it needs {what}, which is not here"
    );
}

/// `need!(option, what)`: the value, or (outside CI) a skipped test that says why.
#[macro_export]
macro_rules! need {
    ($e:expr, $what:expr) => {
        match $e {
            Some(v) => v,
            None => {
                $crate::common::missing(module_path!(), $what);
                return;
            }
        }
    };
}

/// The shared samples folder (`../shared/samples` from the repository root), if it is there.
pub fn samples() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/samples");
    p.is_dir().then_some(p)
}

/// Whether `python3` can import every module of `modules`.
pub fn python_has(modules: &[&str]) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {}", modules.join(", "))])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A temporary directory for a fixture shared by the tests of one process (held in a
/// static): statics are never dropped, so a `TempDir` there would never be removed (each
/// test process left its scenario behind, 40 MB a run). The directory is removed when the
/// process exits instead.
pub fn fixture_dir() -> PathBuf {
    static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    static REGISTER: Once = Once::new();
    extern "C" fn remove_all() {
        if let Ok(dirs) = DIRS.lock() {
            for d in dirs.iter() {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
    // SAFETY: `remove_all` is an `extern "C"` function that neither unwinds nor depends on
    // anything torn down before `atexit` handlers run.
    REGISTER.call_once(|| unsafe {
        libc::atexit(remove_all);
    });
    let dir = tempfile::tempdir().unwrap().keep();
    DIRS.lock().unwrap().push(dir.clone());
    dir
}

/// Every data file under `lake/flows`, sorted.
pub fn data_files(lake: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(lake.join("flows"))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        .map(|e| e.into_path())
        .collect();
    out.sort();
    out
}

/// Reads all rows of a lake, sorted for comparison.
pub fn read_lake(lake: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    for path in data_files(lake) {
        let date = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .strip_prefix("date=")
            .unwrap()
            .to_string();
        let file = std::fs::File::open(&path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let schema = batch.schema();
            for i in 0..batch.num_rows() {
                let mut row = Row::new();
                row.insert("date".into(), Value::from(date.clone()));
                for (c, field) in schema.fields().iter().enumerate() {
                    let col = batch.column(c);
                    let v = if col.is_null(i) {
                        Value::Null
                    } else {
                        match field.data_type() {
                            DataType::Utf8 => Value::from(col.as_string::<i32>().value(i)),
                            DataType::Int32 => {
                                Value::from(col.as_primitive::<Int32Type>().value(i))
                            }
                            DataType::Int64 => {
                                Value::from(col.as_primitive::<Int64Type>().value(i))
                            }
                            DataType::Timestamp(_, _) => {
                                Value::from(col.as_primitive::<TimestampMicrosecondType>().value(i))
                            }
                            other => panic!("unexpected type {other}"),
                        }
                    };
                    row.insert(field.name().clone(), v);
                }
                rows.push(row);
            }
        }
    }
    rows.sort_by_cached_key(|r| serde_json::to_string(r).unwrap());
    rows
}

/// A lake of synthetic data (2 days, 4 NICs, 400 tuples per NIC-hour), ingested by the CLI.
pub fn gen_lake(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    gen_tree(&src, 2, 24, 4, 400, 5);
    let lake = dir.join("lake");
    let (code, s) = ingest_cli(&[&src], &lake, &[]);
    assert_eq!(code, 0, "{s}");
    lake
}

/// A command's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs the flowlake binary.
pub fn flowlake(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowlake"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run flowlake")
}

/// Runs `flowlake ingest SRC --lake LAKE --json` and returns (exit code, summary).
pub fn ingest_cli(src: &[&Path], lake: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args: Vec<String> = vec!["ingest".into()];
    args.extend(src.iter().map(|p| p.display().to_string()));
    args.extend(["--lake".into(), lake.display().to_string(), "--json".into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = flowlake(&refs, &[]);
    let code = out.status.code().unwrap_or(-1);
    let summary = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "summary JSON ({e}): stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, summary)
}

/// Library ingest with defaults and 2 workers.
pub fn ingest_lib(src: &[&Path], lake: &Path) -> flowlake::ingest::IngestSummary {
    let mut opts = flowlake::ingest::IngestOptions::new(
        src.iter().map(|p| p.to_path_buf().into()).collect(),
        lake.to_path_buf(),
    );
    opts.workers = 2;
    flowlake::ingest::ingest(&opts).unwrap()
}

/// A copy of a local lake's directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dst = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// The crash points of a commit (`FLOWLAKE_FAILPOINT`), in the order a commit passes them.
pub const CRASH_POINTS: [&str; 4] = [
    "before-commit",
    "after-commit-point",
    "mid-apply",
    "before-cleanup",
];

/// A local lake has no staging left behind (every transaction finished or dropped).
pub fn assert_no_staging(lake: &Path) {
    let staging = lake.join("_flowlake/staging");
    assert!(
        !staging.exists() || std::fs::read_dir(&staging).unwrap().next().is_none(),
        "staging left in {}",
        lake.display()
    );
}

/// Writes `text` to `dir/rel`, creating folders.
pub fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

/// Generator options for a tree of mixed NSG v2 / VNet v4 server traffic from 2026-11-01.
pub fn gen_options(
    dir: &Path,
    days: u32,
    hours: u32,
    nics: u32,
    tuples_per_hour: u32,
    seed: u64,
) -> flowlake::synth::GenOptions {
    flowlake::synth::GenOptions {
        out: dir.to_path_buf(),
        start: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        days,
        hours,
        nics,
        tuples_per_hour,
        format: flowlake::synth::GenFormat::Mixed,
        mix: flowlake::synth::GenMix::Servers,
        seed,
        scenario: None,
    }
}

/// Writes a synthetic blob tree ([`gen_options`]) with the generator.
pub fn gen_tree(dir: &Path, days: u32, hours: u32, nics: u32, tuples_per_hour: u32, seed: u64) {
    let opts = gen_options(dir, days, hours, nics, tuples_per_hour, seed);
    flowlake::synth::generate(&opts).unwrap();
}

/// Writes Microsoft's VNet bandwidth example (one flow: B, C, E tuples) as a v4 blob under
/// `dir` and returns its path. Its documented totals: 9,125 packets and 5,256,000 bytes.
pub fn bandwidth_blob(dir: &Path) -> Option<PathBuf> {
    let base = samples()?.join("thirdparty/microsoft-docs-vnet-v4");
    let tuples = std::fs::read_to_string(base.join("vnet-bandwidth-example-tuples.txt")).unwrap();
    let list: Vec<String> = tuples
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| format!("\"{l}\""))
        .collect();
    let blob = format!(
        r#"{{"records":[{{"time":"2024-02-26T20:11:00.0000000Z","flowLogVersion":4,"macAddress":"00224871C205","flowLogResourceID":"/SUBSCRIPTIONS/0/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NW/FLOWLOGS/FL","flowRecords":{{"flows":[{{"aclID":"a","flowGroups":[{{"rule":"DefaultRule_AllowInternetInBound","flowTuples":[{}]}}]}}]}}}}]}}"#,
        list.join(",")
    );
    Some(write(dir, "bandwidth/PT1H.json", &blob))
}

/// Runs `flowlake sql --format json` on `lake`; the rows.
pub fn sql_json(lake: &Path, query: &str) -> Vec<Value> {
    let out = flowlake(
        &[
            "sql",
            "--lake",
            lake.to_str().unwrap(),
            "--format",
            "json",
            query,
        ],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every row group of the lake's `hourly` files holds one direction and one decision (their
/// statistics' minimum is their maximum), so that reports' predicates skip the others.
pub fn assert_rollup_row_groups_are_one_kind(lake: &Path) {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let mut groups = 0;
    for e in walkdir::WalkDir::new(lake.join("hourly")) {
        let p = e.unwrap().into_path();
        if p.extension().is_none_or(|x| x != "parquet") {
            continue;
        }
        let reader = SerializedFileReader::new(std::fs::File::open(&p).unwrap()).unwrap();
        let meta = reader.metadata();
        let schema = meta.file_metadata().schema_descr();
        for rg in meta.row_groups() {
            for name in ["direction", "decision"] {
                let i = (0..schema.num_columns())
                    .find(|&i| schema.column(i).name() == name)
                    .unwrap();
                let stats = rg.column(i).statistics().expect("statistics");
                assert_eq!(
                    stats.min_bytes_opt(),
                    stats.max_bytes_opt(),
                    "{}: a row group mixes values of {name}",
                    p.display()
                );
            }
            groups += 1;
        }
    }
    assert!(groups > 0, "{} has rollup row groups", lake.display());
}

/// The `hourly` rollup of a lake holds exactly its raw tuples aggregated by hour and key:
/// per key and hour, the rollup's rows summed equal the raw tuples' figures (checked with
/// `EXCEPT` both ways), and the `coverage` table is right too ([`assert_coverage_matches`]).
/// Returns the number of keys.
pub fn assert_rollup_matches(lake: &Path) -> u64 {
    const KEY: &str = "resource_id, nsg_name, acl_id, mac, rule, direction, decision, \
        protocol, protocol_number, src_ip, dst_ip, dst_port, src_class, dst_class";
    let query = format!(
        "WITH r AS (SELECT date_trunc('hour', time) AS hour, {KEY}, count(*) AS tuples, \
           sum(CASE WHEN flow_state IS NULL OR flow_state = 'begin' THEN 1 ELSE 0 END) AS begun, \
           sum(CASE WHEN flow_state = 'end' THEN 1 ELSE 0 END) AS ended, \
           sum(packets_src_to_dst) AS p1, sum(bytes_src_to_dst) AS b1, \
           sum(packets_dst_to_src) AS p2, sum(bytes_dst_to_src) AS b2, \
           min(time) AS first_seen, max(time) AS last_seen \
         FROM flows GROUP BY date_trunc('hour', time), {KEY}), \
         h AS (SELECT hour, {KEY}, sum(tuples) AS tuples, sum(flows_begun) AS begun, \
           sum(flows_ended) AS ended, sum(packets_src_to_dst) AS p1, \
           sum(bytes_src_to_dst) AS b1, sum(packets_dst_to_src) AS p2, \
           sum(bytes_dst_to_src) AS b2, min(first_seen) AS first_seen, \
           max(last_seen) AS last_seen FROM hourly GROUP BY hour, {KEY}) \
         SELECT (SELECT count(*) FROM r) AS keys, \
           (SELECT count(*) FROM (SELECT * FROM r EXCEPT SELECT * FROM h)) AS only_raw, \
           (SELECT count(*) FROM (SELECT * FROM h EXCEPT SELECT * FROM r)) AS only_hourly"
    );
    assert_rollup_row_groups_are_one_kind(lake);
    let rows = sql_json(lake, &query);
    let r = &rows[0];
    assert_eq!(
        (&r["only_raw"], &r["only_hourly"]),
        (&Value::from(0), &Value::from(0)),
        "rollup differs from the raw tuples of {}: {r}",
        lake.display()
    );
    assert_coverage_matches(lake);
    r["keys"].as_u64().unwrap()
}

/// Asserts that the `coverage` table holds exactly the raw tuples of `flows` counted per hour
/// and NIC, with their first and last time, and that each `flows` file has its twin.
pub fn assert_coverage_matches(lake: &Path) {
    const KEY: &str = "resource_id, nsg_name, mac";
    let query = format!(
        "WITH r AS (SELECT date_trunc('hour', time) AS hour, {KEY}, count(*) AS tuples, \
           min(time) AS first_seen, max(time) AS last_seen \
         FROM flows GROUP BY date_trunc('hour', time), {KEY}), \
         c AS (SELECT hour, {KEY}, sum(tuples) AS tuples, min(first_seen) AS first_seen, \
           max(last_seen) AS last_seen FROM coverage GROUP BY hour, {KEY}) \
         SELECT (SELECT count(*) FROM r) AS keys, \
           (SELECT count(*) FROM (SELECT * FROM r EXCEPT SELECT * FROM c)) AS only_raw, \
           (SELECT count(*) FROM (SELECT * FROM c EXCEPT SELECT * FROM r)) AS only_coverage"
    );
    let rows = sql_json(lake, &query);
    let r = &rows[0];
    assert_eq!(
        (&r["only_raw"], &r["only_coverage"]),
        (&Value::from(0), &Value::from(0)),
        "coverage differs from the raw tuples of {}: {r}",
        lake.display()
    );
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(lake.join("_flowlake/manifest.json")).unwrap(),
    )
    .unwrap();
    for (partition, files) in manifest["partitions"].as_object().unwrap() {
        let twins = &manifest["tables"][format!("coverage/{partition}")];
        for f in files.as_array().unwrap() {
            let name = f["name"].as_str().unwrap();
            assert!(
                twins
                    .as_array()
                    .is_some_and(|t| t.iter().any(|c| c["name"] == name)),
                "{partition}/{name} has no coverage twin in {}",
                lake.display()
            );
            assert!(lake.join("coverage").join(partition).join(name).is_file());
        }
    }
}
