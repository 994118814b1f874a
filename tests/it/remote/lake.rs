//! Lakes written to Azurite and moto: exactly once through growth and rewrites, crashes at
//! each commit step, faults and lost answers, one writer at a time.

use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::*;
use crate::common::{gen_tree, ingest_cli};

#[test]
fn s3_ingest_writes_the_lake_into_the_bucket_it_reads_and_reruns_add_nothing() {
    let tmp = TempDir::new().unwrap();
    let (src, local) = (tmp.path().join("src"), tmp.path().join("local"));
    gen_tree(&src, 2, 3, 2, 40, 5);
    let s3 = crate::need!(moto(), SERVERS);
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
    let az = crate::need!(azurite(), SERVERS);
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
    let az = crate::need!(azurite(), SERVERS);
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
        let server = crate::need!(if kind == "az" { azurite() } else { moto() }, SERVERS);
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
    let az = crate::need!(azurite(), SERVERS);
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

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_lock() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 1, 6, 4, 2000, 17);
    let az = crate::need!(azurite(), SERVERS);
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

/// Defect: when opening a lake on object storage failed after its lock was taken (fencing or
/// recovery), the lock stayed behind and every writer waited 5 minutes for it to lapse.
#[test]
fn a_writer_that_fails_to_open_the_lake_releases_its_lock() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 1, 2, 2, 40, 3);
    let az = crate::need!(azurite(), SERVERS);
    let cs = connection_string(&az);
    azure_upload(&az, "logs", &src);
    let env = azure_env(&az);
    let mut failing = env.clone();
    failing.push(("FLOWLAKE_FAILPOINT", "open-error".into()));
    let out = run(
        &["ingest", "az://logs", "--lake", "az://logs/lake"],
        &failing,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("failpoint open-error"), "{err}");
    assert!(
        !list(("azure-list", &cs), "logs", "lake/_flowlake/")
            .iter()
            .any(|n| n.ends_with("lock.json")),
        "the lock was left behind"
    );
    let t0 = Instant::now();
    let (code, s) = ingest_to("az://logs", "az://logs/lake", &[], &env);
    assert_eq!(code, 0, "{s}");
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "the next writer waited"
    );
    assert_eq!(s["blobs_new"], 4, "{s}");
}

#[test]
fn inventory_imports_from_and_into_object_storage_like_a_local_lake() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("aks-shop")).unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/k8s/snapshot-0800.json");
    std::fs::copy(&fixture, src.join("aks-shop/snapshot-0800.json")).unwrap();
    let import = |from: &str, lake: &str, env: &[(&str, String)]| {
        let out = run_ok(
            &[
                "inventory",
                "import",
                from,
                "--lake",
                lake,
                "--cluster",
                "aks-shop",
                "--at",
                "2026-11-03T08:00:00Z",
                "--json",
            ],
            env,
        );
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let show = |lake: &str, env: &[(&str, String)]| {
        run_ok(
            &["inventory", "show", "--lake", lake, "--format", "csv"],
            env,
        )
    };
    let local = tmp.path().join("lake");
    let local = local.to_str().unwrap();
    import(src.to_str().unwrap(), local, &[]);
    let want = show(local, &[]);
    assert_eq!(want.lines().count(), 8, "{want}");

    let az = crate::need!(azurite(), SERVERS);
    blobs_py(&[
        "azure-put-tree",
        &connection_string(&az),
        "inventory",
        src.to_str().unwrap(),
        "snapshots",
    ]);
    let env = azure_env(&az);
    let lake = "az://inventory/lake";
    let s = import("az://inventory/snapshots/aks-shop", lake, &env);
    assert_eq!(s["imported"], 1, "{s}");
    assert_eq!(show(lake, &env), want);
    let q = "SELECT k8s_workload('10.224.0.20', TIMESTAMP '2026-11-03T08:30:00Z') AS w";
    assert_eq!(
        run_ok(&["sql", "--lake", lake, "--format", "csv", q], &env),
        "w\nweb\n"
    );
    // Exactly once on object storage too.
    let s = import("az://inventory/snapshots/aks-shop", lake, &env);
    assert_eq!(
        (&s["imported"], &s["unchanged"]),
        (&Value::from(0), &Value::from(1)),
        "{s}"
    );
}

#[test]
fn retention_on_object_storage_drops_days_in_one_commit_and_the_rollup_answers_for_them() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 3, 2, 2, 40, 13);
    let local = tmp.path().join("local");
    ingest_cli(&[&src], &local, &[]);
    let az = crate::need!(azurite(), SERVERS);
    let (cs, env) = (connection_string(&az), azure_env(&az));
    azure_upload(&az, "flowlogs", &src);
    let lake = "az://flowlogs/retained";
    let (code, s) = ingest_to("az://flowlogs", lake, &[], &env);
    assert_eq!(code, 0, "{s}");
    let per_hour = "SELECT hour, sum(tuples) AS t FROM hourly GROUP BY hour ORDER BY hour";
    let hours = run_ok(&["sql", "--lake", lake, "--format", "json", per_hour], &env);
    let day2 = [
        "--since",
        "2026-11-02",
        "--until",
        "2026-11-03",
        "--format",
        "json",
    ];
    let report = |args: &[&str]| {
        let mut all = vec!["report", "summary", "--lake", lake];
        all.extend(args);
        run(&all, &env)
    };
    let before: Value = serde_json::from_slice(&report(&day2).stdout).unwrap();
    let hourly_objects = list(("azure-list", &cs), "flowlogs", "retained/hourly/");

    // The same retention on disk and on the store: the same rows left, the rollup whole.
    let retain = ["--raw", "29d", "--now", "2026-12-02T10:00:00Z", "--json"];
    let on_disk = run_ok(
        &[&["retain", "--lake", local.to_str().unwrap()][..], &retain].concat(),
        &[],
    );
    let on_store = run_ok(&[&["retain", "--lake", lake][..], &retain].concat(), &env);
    let (a, b): (Value, Value) = (
        serde_json::from_str(&on_disk).unwrap(),
        serde_json::from_str(&on_store).unwrap(),
    );
    assert_eq!(
        a["raw_days"],
        serde_json::json!(["2026-11-01", "2026-11-02"])
    );
    // (the two ingests may split the tuples into files differently, not into rows)
    assert_eq!((&a["raw_days"], &a["rows"]), (&b["raw_days"], &b["rows"]));
    assert_eq!(
        lake_rows(lake, &env),
        lake_rows(local.to_str().unwrap(), &[])
    );
    assert_eq!(
        run_ok(&["sql", "--lake", lake, "--format", "json", per_hour], &env),
        hours
    );
    // Past the raw horizon the report reads the rollup and finds the same; --raw refuses.
    let mut after: Value = serde_json::from_slice(&report(&day2).stdout).unwrap();
    assert_eq!(after["source"]["table"], "hourly");
    let mut before = before;
    for v in [&mut before, &mut after] {
        v.as_object_mut().unwrap().remove("generated_at");
    }
    assert_eq!(after, before);
    let refused = report(&[&day2[..], &["--raw"]].concat());
    assert_eq!(refused.status.code(), Some(2));
    // The dropped files stay for readers until the grace period is over; then the next
    // writer deletes them.
    let mut env0 = env.clone();
    env0.push(("FLOWLAKE_GARBAGE_GRACE_SECS", "0".into()));
    let (code, _) = ingest_to("az://flowlogs", lake, &[], &env0);
    assert_eq!(code, 0);
    assert_tidy(("azure-list", &cs), "flowlogs", "retained/", lake, &env);
    assert_eq!(
        list(("azure-list", &cs), "flowlogs", "retained/hourly/"),
        hourly_objects,
        "every day's rollup stays"
    );
}
