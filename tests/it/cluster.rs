//! The same SQL on a Ballista cluster: in-process standalone mode against a local session.

use std::path::Path;

use datafusion::arrow::util::pretty::pretty_format_batches;
use flowlake::cluster::Cluster;
use flowlake::query::{LakeSession, QueryOptions, SetSpec, session};
use flowlake::store::Location;

use crate::common::{gen_tree, ingest_lib, write};

async fn query(s: &LakeSession, sql: &str) -> String {
    let df = s
        .ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let batches = df.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    pretty_format_batches(&batches).unwrap().to_string()
}

/// Queries a cluster must answer exactly as one process does: aggregations over both
/// tables with time pruning, a join, window functions, address and set functions.
pub const QUERIES: &[&str] = &[
    "SELECT count(*) AS n, sum(bytes_src_to_dst) AS b, min(time) AS t0, max(time) AS t1 FROM flows",
    "SELECT date, direction, decision, count(*) AS n FROM flows WHERE time >= TIMESTAMP '2026-11-01T02:00:00Z' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    "SELECT direction, sum(tuples) AS tuples, sum(flows_begun) AS begun FROM hourly GROUP BY 1 ORDER BY 1",
    "SELECT ip_class(dst_ip) AS class, is_public(dst_ip) AS public, count(*) AS n FROM flows GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT ip_network(src_ip, 24) AS net, count(DISTINCT dst_ip) AS peers FROM flows WHERE ip_in_cidr(src_ip, '10.0.0.0/8') GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
    "SELECT ip_set_label(dst_ip, 'watch') AS label, count(*) AS n FROM flows WHERE ip_in_set(dst_ip, 'watch') GROUP BY 1 ORDER BY 1",
    "WITH per_src AS (SELECT src_ip, sum(coalesce(bytes_src_to_dst, 0)) AS b FROM flows GROUP BY 1) \
     SELECT src_ip, b, rank() OVER (ORDER BY b DESC, src_ip) AS r, sum(b) OVER () AS total FROM per_src ORDER BY r LIMIT 10",
    "SELECT f.mac, count(*) AS n, max(h.tuples) AS most FROM flows f JOIN hourly h \
     ON f.mac = h.mac AND f.src_ip = h.src_ip AND f.dst_ip = h.dst_ip AND f.dst_port = h.dst_port \
     WHERE f.time < TIMESTAMP '2026-11-01T02:00:00Z' AND h.hour < TIMESTAMP '2026-11-01T02:00:00Z' \
     GROUP BY 1 ORDER BY 1",
];

/// A small synthetic lake (two NICs, four hours) and an IP set over some of its peers.
pub fn lake_and_sets(dir: &Path) -> (std::path::PathBuf, Vec<SetSpec>) {
    let src = dir.join("src");
    gen_tree(&src, 1, 4, 2, 300, 7);
    let lake = dir.join("lake");
    ingest_lib(&[&src], &lake);
    let set = write(
        dir,
        "watch.txt",
        "# peers to watch\n0.0.0.0/1 low-half\n128.0.0.0/1 high-half\n10.0.0.0/8 inside\n",
    );
    (
        lake,
        vec![SetSpec {
            name: "watch".into(),
            path: set,
        }],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_cluster_answers_as_one_process() {
    let d = tempfile::tempdir().unwrap();
    let (lake, sets) = lake_and_sets(d.path());
    let lake = Location::Local(lake);
    let local_opts = QueryOptions {
        sets: sets.clone(),
        ..QueryOptions::default()
    };
    let local = session(&lake, &local_opts).await.unwrap();
    let cluster_opts = QueryOptions {
        sets,
        cluster: Some(Cluster::Standalone),
        ..QueryOptions::default()
    };
    let cluster = session(&lake, &cluster_opts).await.unwrap();
    let plan = cluster
        .ctx
        .sql(QUERIES[0])
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let plan = datafusion::physical_plan::displayable(plan.as_ref())
        .indent(false)
        .to_string();
    assert!(
        plan.contains("DistributedQueryExec"),
        "Ballista runs it:\n{plan}"
    );
    for q in QUERIES {
        let (want, got) = (query(&local, q).await, query(&cluster, q).await);
        assert!(want.lines().count() > 4, "{q} finds rows:\n{want}");
        assert_eq!(got, want, "{q}");
    }
}

#[tokio::test]
async fn a_local_lake_is_refused_for_a_remote_cluster_and_an_unreachable_one_fails_fast() {
    let d = tempfile::tempdir().unwrap();
    let (lake, _) = lake_and_sets(d.path());
    let opts = |cluster: &str| QueryOptions {
        cluster: Some(cluster.parse().unwrap()),
        ..QueryOptions::default()
    };
    let e = session(&Location::Local(lake.clone()), &opts("df://127.0.0.1:9"))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("local directory") && e.contains("--cluster standalone"),
        "{e}"
    );
    // A lake on object storage with no scheduler listening: a clear error, fast.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let remote = Location::parse("s3://bucket/lake", &Default::default()).unwrap();
    let t0 = std::time::Instant::now();
    let e = session(&remote, &opts(&format!("df://127.0.0.1:{port}")))
        .await
        .err()
        .expect("unreachable")
        .to_string();
    assert!(t0.elapsed() < std::time::Duration::from_secs(10));
    assert!(e.contains("no scheduler reachable"), "{e}");
}
