//! The address functions through the real engine, over a real lake.

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::*;

use crate::common::*;

async fn query(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

#[tokio::test]
async fn address_functions_over_the_lake() {
    let d = tempfile::tempdir().unwrap();
    let lake = d.path().join("lake");
    ingest_lib(&[&samples().join("azure-vnet-v4-docs-sample.json")], &lake);
    let ctx = SessionContext::new();
    flowlake::query::register_all(&ctx);
    ctx.sql(&format!(
        "CREATE EXTERNAL TABLE flows STORED AS PARQUET LOCATION '{}/flows/'",
        lake.display()
    ))
    .await
    .unwrap();
    // The SQL function agrees with the class stored at ingest, on Utf8View columns.
    let text = query(&ctx, "SELECT count(*) AS n FROM flows WHERE ip_class(dst_ip) <> dst_class OR ip_class(src_ip) <> src_class").await;
    assert!(text.contains("| 0 "), "{text}");
    let text = query(&ctx, "SELECT ip_network(dst_ip, 24) AS net, count(*) AS n FROM flows WHERE is_public(dst_ip) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1").await;
    assert!(
        text.contains("40.74.146.0/24") && text.contains("| 6 "),
        "{text}"
    );
    let text = query(
        &ctx,
        "SELECT count(*) AS n FROM flows WHERE ip_in_cidr(src_ip, '20.0.0.0/8')",
    )
    .await;
    assert!(text.contains("| 6 "), "{text}");
    // NULL in, NULL out; invalid text gives NULL, not an error; IPv4-mapped IPv6 is IPv4.
    let text = query(&ctx, "SELECT ip_class(NULL) AS a, ip_class('nonsense') AS b, ip_class('::ffff:10.0.0.1') AS c, ip_version('2001:db8::1') AS v, is_private('172.32.0.1') AS p, ip_network('2001:db8::1', 32) AS n").await;
    assert!(
        text.contains("|   |   | private | 6 | false | 2001:db8::/32 |"),
        "{text}"
    );
}
