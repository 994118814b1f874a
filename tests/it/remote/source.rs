//! Ingest from containers on Azurite and buckets on moto: equal to a local ingest, windowed
//! listing, secrets kept out of output, faults retried, reading lakes there.

use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::*;
use crate::common::{gen_tree, ingest_cli};

#[test]
fn azure_ingest_equals_local_and_a_grown_blob_adds_exactly_its_new_tuples() {
    let tmp = TempDir::new().unwrap();
    let (src, lake, local) = (
        tmp.path().join("src"),
        tmp.path().join("lake"),
        tmp.path().join("local"),
    );
    gen_tree(&src, 2, 3, 2, 60, 11);
    let az = crate::need!(azurite(), SERVERS);
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
    let az = crate::need!(azurite(), SERVERS);
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
    let s3 = crate::need!(moto(), SERVERS);
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
    let az = crate::need!(azurite(), SERVERS);
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

#[test]
fn dropped_connections_and_503s_mid_ingest_are_retried_to_a_lake_equal_to_a_clean_run() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 1, 4, 3, 40, 21);
    let local = tmp.path().join("local");
    ingest_cli(&[&src], &local, &[]);

    // Azure: every 3rd request fails, alternately a 503 and a connection closed unanswered
    let az = crate::need!(azurite(), SERVERS);
    azure_upload(&az, "logs", &src);
    let (proxy, stats) = faulty_proxy(&az, &["--every", "3", "--mode", "mixed"]);
    let env = azure_env(&proxy);
    let lake = tmp.path().join("az-lake");
    let (code, s) = ingest_remote("az://logs", &lake, &["--since", "2026-11-01"], &env);
    assert_eq!(code, 0, "{s}");
    assert!(faults(&stats) >= 5, "faults injected: {}", faults(&stats));
    assert_eq!(rows(&lake), rows(&local));

    // S3: the same through moto
    let s3 = crate::need!(moto(), SERVERS);
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
    let az = crate::need!(azurite(), SERVERS);
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

    let az = crate::need!(azurite(), SERVERS);
    blobs_py(&[
        "azure-put-tree",
        &connection_string(&az),
        "data",
        l,
        "lakes/flows-lake",
    ]);
    let s3 = crate::need!(moto(), SERVERS);
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

#[test]
fn kill_9_mid_remote_ingest_then_rerun_resumes_and_equals_a_clean_run() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 1, 6, 4, 2000, 17);
    let az = crate::need!(azurite(), SERVERS);
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

#[test]
fn s3_credentials_region_and_endpoint_come_from_a_named_aws_profile() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    gen_tree(&src, 1, 2, 2, 40, 3);
    let s3 = crate::need!(moto(), SERVERS);
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
