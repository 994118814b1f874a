//! Real readers: DataFusion (in process) and pyarrow, pandas and DuckDB (Python) read the lake
//! with nothing but its path, with the right types and row counts.

use std::process::Command;

use datafusion::prelude::*;

use crate::common::*;

fn sample_lake() -> Option<(tempfile::TempDir, std::path::PathBuf, usize)> {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    gen_tree(&src, 2, 3, 4, 500, 3);
    let lake = d.path().join("lake");
    ingest_lib(
        &[
            &src,
            &samples()?.join("azure-vnet-v4-docs-sample.json"),
            &samples()?.join("azure-nsg-v1-docs-sample.json"),
        ],
        &lake,
    );
    let rows = read_lake(&lake).len();
    Some((d, lake, rows))
}

#[tokio::test]
async fn datafusion_reads_the_lake_by_path() {
    let (_d, lake, rows) = crate::need!(sample_lake(), SAMPLES);
    let ctx = SessionContext::new();
    let path = format!("{}/flows/", lake.display());
    ctx.sql(&format!(
        "CREATE EXTERNAL TABLE flows STORED AS PARQUET LOCATION '{path}'"
    ))
    .await
    .unwrap();
    let batches = ctx
        .sql("SELECT date, count(*) AS n FROM flows GROUP BY date ORDER BY date")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    assert!(
        text.contains("2026-11-01") && text.contains("2022-09-14") && text.contains("2017-02-16"),
        "{text}"
    );
    let total = ctx
        .sql("SELECT count(*) FROM flows")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let n = total[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n as usize, rows);
    let schema = ctx
        .table("flows")
        .await
        .unwrap()
        .schema()
        .as_arrow()
        .clone();
    assert!(
        matches!(schema.field_with_name("time").unwrap().data_type(), arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some(tz)) if tz.as_ref() == "UTC")
    );
}

#[test]
fn python_clients_read_the_lake() {
    let (_d, lake, rows) = crate::need!(sample_lake(), SAMPLES);
    crate::need!(
        python_has(&["pyarrow", "pandas", "duckdb", "polars"]).then_some(()),
        "Python's pyarrow, pandas, duckdb and polars (pip install -r tests/clients/requirements.txt)"
    );
    // The whole table exported with `flowlake sql`, for notebooks.
    let export = lake.parent().unwrap().join("export.parquet");
    let out = flowlake(
        &[
            "sql",
            "--lake",
            lake.to_str().unwrap(),
            "--format",
            "parquet",
            "-o",
            export.to_str().unwrap(),
            "SELECT * FROM flows",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/check_lake.py");
    let out = Command::new("python3")
        .args([
            script,
            lake.to_str().unwrap(),
            &rows.to_string(),
            export.to_str().unwrap(),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python clients failed (install them with `pip install -r tests/clients/requirements.txt`):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for client in [
        "pyarrow ok",
        "pandas ok",
        "duckdb ok",
        "hourly ok",
        "export ok",
    ] {
        assert!(text.contains(client), "{text}");
    }
}
