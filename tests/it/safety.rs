//! Reliability and security defects found by trying flowlake as a new user would (issue 31,
//! section 6): each test failed before its fix.

use std::path::Path;

use crate::common::*;

fn count(lake: &Path) -> u64 {
    sql_json(lake, "SELECT count(*) AS n FROM flows")[0]["n"]
        .as_u64()
        .unwrap()
}

/// `rm LAKE/_flowlake/manifest.json; flowlake ingest OTHER --lake LAKE` exited 0 as version 1
/// and replaced the lake's partitions. Now: refused, the data kept, the way back named; the
/// backup copy restores the lake whole.
#[test]
fn a_lake_without_its_manifest_is_never_written_over_and_its_backup_restores_it() {
    let d = tempfile::tempdir().unwrap();
    let lake = gen_lake(d.path());
    let before = count(&lake);
    let other = d.path().join("other");
    gen_tree(&other, 1, 2, 1, 50, 9);
    let manifest = lake.join("_flowlake/manifest.json");
    let backup = lake.join("_flowlake/manifest.backup.json");
    assert_eq!(
        std::fs::read(&manifest).unwrap(),
        std::fs::read(&backup).unwrap(),
        "each commit leaves a copy"
    );
    std::fs::remove_file(&manifest).unwrap();
    let files_before = data_files(&lake);
    let (l, o) = (lake.to_str().unwrap(), other.to_str().unwrap());
    for args in [
        vec!["ingest", o, "--lake", l],
        vec!["info", "--lake", l],
        vec!["sql", "--lake", l, "SELECT 1"],
    ] {
        let out = flowlake(&args, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("manifest is missing")
                && err.contains("cp ")
                && err.contains("manifest.backup.json"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(data_files(&lake), files_before, "nothing replaced");
    // Damaged in place: the same way back.
    std::fs::write(&manifest, b"{\"format\": ").unwrap();
    let err = stderr(&flowlake(&["info", "--lake", l], &[]));
    assert!(
        err.contains("is damaged") && err.contains("manifest.backup.json"),
        "{err}"
    );
    std::fs::copy(&backup, &manifest).unwrap();
    assert_eq!(count(&lake), before, "restored whole");
    let (code, s) = ingest_cli(&[&other], &lake, &[]);
    assert_eq!(code, 0, "{s}");
    assert!(count(&lake) > before);

    // Without a backup (a lake from before backups, or another directory): refused too.
    std::fs::remove_file(&manifest).unwrap();
    std::fs::remove_file(&backup).unwrap();
    let out = flowlake(&["ingest", o, "--lake", l], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not a flowlake lake") && err.contains("not empty") && err.contains("flows"),
        "{err}"
    );
    let foreign = d.path().join("photos");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("cat.jpg"), b"jpeg").unwrap();
    let out = flowlake(&["ingest", o, "--lake", foreign.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cat.jpg"), "{}", stderr(&out));
    assert!(!foreign.join("_flowlake").exists() && !foreign.join("flows").exists());
}

/// `ingest /nonexistent --lake X` failed but created an empty lake at X.
#[test]
fn a_missing_source_creates_no_lake() {
    let d = tempfile::tempdir().unwrap();
    let lake = d.path().join("lake");
    let out = flowlake(
        &[
            "ingest",
            "/nonexistent/blobs",
            "--lake",
            lake.to_str().unwrap(),
        ],
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("/nonexistent/blobs"), "{err}");
    assert!(!lake.exists(), "no lake created");
}

/// `--baseline 0s` was accepted and the kinds judged against a baseline silently vanished.
#[test]
fn a_baseline_shorter_than_an_hour_is_bad_usage() {
    let d = tempfile::tempdir().unwrap();
    let lake = gen_lake(d.path());
    for span in ["0s", "59m"] {
        let out = flowlake(
            &[
                "report",
                "exfil",
                "--lake",
                lake.to_str().unwrap(),
                "--baseline",
                span,
            ],
            &[],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{span}: {err}");
        assert!(
            err.contains(&format!("--baseline '{span}'")) && err.contains("1h"),
            "{err}"
        );
    }
}

/// `-o` replaced a device node or a symbolic link by a regular file, and made an existing
/// 0644 file 0600.
#[test]
fn output_files_keep_links_devices_and_modes() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let lake = gen_lake(d.path());
    let l = lake.to_str().unwrap();
    let sql = |out: &str| {
        let o = flowlake(
            &[
                "sql",
                "--lake",
                l,
                "--format",
                "csv",
                "-o",
                out,
                "SELECT count(*) AS n FROM flows",
            ],
            &[],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    };
    let target = d.path().join("counts.csv");
    std::fs::write(&target, "old").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = d.path().join("latest.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    sql(link.to_str().unwrap());
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(std::fs::read_to_string(&target).unwrap().starts_with("n\n"));
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    sql("/dev/null");
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

/// Exit codes by kind, as the README says: a config file that cannot be used is bad usage
/// (2, it exited 1); an ingest whose summary cannot be written after its commit reports what
/// it did (0 and a warning; it exited 1, which means nothing was committed).
#[test]
fn exit_codes_follow_the_kind_of_error() {
    let d = tempfile::tempdir().unwrap();
    let lake = gen_lake(d.path());
    let l = lake.to_str().unwrap();
    for text in ["[report]\nno_such_key = 1\n", "[report]\nbaseline = 7\n"] {
        let config = write(d.path(), "flowlake.toml", text);
        let out = flowlake(
            &[
                "report",
                "exfil",
                "--lake",
                l,
                "--config",
                config.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{text}: {}", stderr(&out));
        assert!(stderr(&out).contains("flowlake.toml"), "{}", stderr(&out));
    }
    let more = d.path().join("more");
    gen_tree(&more, 1, 2, 1, 50, 11);
    let full = std::fs::File::create("/dev/full").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flowlake"))
        .args(["ingest", more.to_str().unwrap(), "--lake", l])
        .stdout(full)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("the lake is committed") && err.contains("could not be written"),
        "{err}"
    );
}

/// One symbolic-link loop in a source tree failed the whole ingest (exit 1) and the good
/// blobs beside it were not read; it is now that path's `read_error` reject.
#[test]
fn a_symlink_loop_in_a_source_tree_is_one_reject() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    gen_tree(&src, 1, 2, 2, 50, 13);
    let sub = src.join("extra");
    std::fs::create_dir_all(&sub).unwrap();
    std::os::unix::fs::symlink("..", sub.join("back")).unwrap();
    let lake = d.path().join("lake");
    let (code, s) = ingest_cli(&[&src], &lake, &[]);
    assert_eq!(code, 3, "{s}");
    assert!(s["tuples"].as_u64().unwrap() > 0, "{s}");
    let text = s.to_string();
    assert!(
        text.contains("read_error") && text.contains("back") && text.contains("loop"),
        "{text}"
    );
}

/// Local reads listed directories: a deleted file silently shrank `sql` and `report --raw`
/// (29,000 rows against `info`'s 38,400), a stray copy was counted, and `compact` deleted it.
/// Readers now take the manifest's file list, as on object storage.
#[test]
fn local_readers_follow_the_manifest_and_compact_keeps_foreign_files() {
    let d = tempfile::tempdir().unwrap();
    let lake = gen_lake(d.path());
    let l = lake.to_str().unwrap();
    let all = count(&lake);
    let files = data_files(&lake);
    let stray = files[0].parent().unwrap().join("stray-copy.parquet");
    std::fs::copy(&files[0], &stray).unwrap();
    assert_eq!(count(&lake), all, "a stray copy is not counted");
    // Compact keeps the stray file where it was, and its readers still ignore it.
    let out = flowlake(&["compact", "--lake", l], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stray.exists(), "compact deleted a file it does not own");
    assert_eq!(count(&lake), all);
    // A listed file deleted by hand: a warning when the session opens, and queries that
    // need it fail naming it instead of answering from what is left.
    let listed = data_files(&lake).into_iter().find(|f| f != &stray).unwrap();
    std::fs::remove_file(&listed).unwrap();
    let name = listed.file_name().unwrap().to_string_lossy().into_owned();
    for args in [
        vec!["sql", "--lake", l, "SELECT count(*) FROM flows"],
        vec!["report", "summary", "--lake", l, "--raw"],
    ] {
        let out = flowlake(&args, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("files its manifest lists are missing") && err.contains(&name),
            "{args:?}: {err}"
        );
    }
}

/// A corrupt Parquet footer in the lake: `sql` said `Corrupt footer` without naming the file.
#[test]
fn a_corrupt_footer_names_its_file() {
    let d = tempfile::tempdir().unwrap();
    let lake = gen_lake(d.path());
    let file = data_files(&lake).pop().unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(b"XXXX");
    std::fs::write(&file, bytes).unwrap();
    let out = flowlake(
        &[
            "sql",
            "--lake",
            lake.to_str().unwrap(),
            "SELECT count(*) FROM flows",
        ],
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(err.contains("footer") && err.contains(&name), "{err}");
}
