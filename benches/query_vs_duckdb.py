"""Query benchmark: egress bytes to public addresses by destination /24, flowlake vs DuckDB.

Usage: python3 benches/query_vs_duckdb.py [--lake DIR] [--flowlake target/release/flowlake]
                                          [--runs 3] [--threads 2]

Both engines read the same Parquet files of a flowlake lake (default: the lake the ingest
benchmark leaves in bench-out/lake; one is generated and ingested if it is missing) in the same
run with the same number of threads:
  - flowlake: `flowlake sql` (a whole process: start-up, planning, scan) with its own functions
    `is_public` and `ip_network`;
  - DuckDB: the Python module in-process (no start-up cost), the same question written with its
    string functions (split_part, casts, range tests for the IANA special-purpose blocks).
The two answers must be equal, or the script fails. Prints per-run times, medians, the ratio,
and the same as JSON on the last line.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)

ap = argparse.ArgumentParser()
ap.add_argument("--lake", default=os.path.join(root, "bench-out/lake"))
ap.add_argument("--flowlake", default=os.path.join(root, "target/release/flowlake"))
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--threads", type=int, default=os.cpu_count())
args = ap.parse_args()

if not os.path.exists(args.flowlake):
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=root, check=True)
if not os.path.exists(os.path.join(args.lake, "_flowlake/manifest.json")):
    src = os.path.join(os.path.dirname(args.lake), "query-src")
    subprocess.run([args.flowlake, "gen", "--out", src, "--nics", "40", "--tuples-per-hour", "10500"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([args.flowlake, "ingest", src, "--lake", args.lake, "-q"], check=True,
                   stdout=subprocess.DEVNULL)

FLOWLAKE_SQL = """
SELECT ip_network(dst_ip, 24) AS net, sum(bytes_src_to_dst) AS bytes
FROM flows
WHERE direction = 'outbound' AND decision = 'allow' AND is_public(dst_ip)
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 20
"""

DUCKDB_SQL = """
WITH e AS (
  SELECT dst_ip, bytes_src_to_dst AS b,
         CAST(split_part(dst_ip, '.', 1) AS INTEGER) AS o1,
         CAST(split_part(dst_ip, '.', 2) AS INTEGER) AS o2,
         CAST(split_part(dst_ip, '.', 3) AS INTEGER) AS o3
  FROM read_parquet('{files}', hive_partitioning = true)
  WHERE direction = 'outbound' AND decision = 'allow' AND dst_ip NOT LIKE '%:%'
)
SELECT o1 || '.' || o2 || '.' || o3 || '.0/24' AS net, sum(b) AS bytes
FROM e
WHERE NOT (o1 IN (0, 10, 127) OR o1 >= 224
        OR (o1 = 100 AND o2 BETWEEN 64 AND 127)
        OR (o1 = 169 AND o2 = 254)
        OR (o1 = 172 AND o2 BETWEEN 16 AND 31)
        OR (o1 = 192 AND o2 = 168)
        OR (o1 = 192 AND o2 = 0 AND o3 IN (0, 2))
        OR (o1 = 192 AND o2 = 88 AND o3 = 99)
        OR (o1 = 198 AND o2 IN (18, 19))
        OR (o1 = 198 AND o2 = 51 AND o3 = 100)
        OR (o1 = 203 AND o2 = 0 AND o3 = 113)
        OR dst_ip = '168.63.129.16')
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 20
"""


def flowlake_once():
    t0 = time.perf_counter()
    out = subprocess.run(
        [args.flowlake, "sql", "--lake", args.lake, "--format", "csv", FLOWLAKE_SQL],
        check=True, capture_output=True, text=True,
        env=dict(os.environ, DATAFUSION_EXECUTION_TARGET_PARTITIONS=str(args.threads)),
    ).stdout
    secs = time.perf_counter() - t0
    rows = [tuple(l.split(",")) for l in out.strip().splitlines()[1:]]
    return secs, [(n, int(b)) for n, b in rows]


def duckdb_once(con):
    files = os.path.join(args.lake, "flows/*/*.parquet")
    t0 = time.perf_counter()
    rows = con.sql(DUCKDB_SQL.format(files=files)).fetchall()
    secs = time.perf_counter() - t0
    return secs, [(n, int(b)) for n, b in rows]


import duckdb  # noqa: E402

con = duckdb.connect()
con.sql(f"SET threads = {args.threads}")
manifest = json.load(open(os.path.join(args.lake, "_flowlake/manifest.json")))
rows_in_lake = sum(f["rows"] for files in manifest["partitions"].values() for f in files)

# One warm-up each, so both read from the page cache.
_, want = duckdb_once(con)
_, got = flowlake_once()
if got != want:
    sys.exit(f"answers differ:\nflowlake {got}\nduckdb   {want}")

fl, dk = [], []
for _ in range(args.runs):
    fl.append(flowlake_once()[0])
    dk.append(duckdb_once(con)[0])
f_med, d_med = statistics.median(fl), statistics.median(dk)
print(f"lake: {args.lake} ({rows_in_lake:,} rows), threads: {args.threads}, runs: {args.runs}")
print(f"{'engine':<10} {'runs (s)':<30} {'median s':>9} {'M rows/s':>9}")
for name, t, m in [("flowlake", fl, f_med), ("duckdb", dk, d_med)]:
    print(f"{name:<10} {' '.join(f'{x:.3f}' for x in t):<30} {m:>9.3f} {rows_in_lake / m / 1e6:>9.1f}")
print(f"answers equal ({len(want)} rows); flowlake is {d_med / f_med:.2f}x DuckDB's speed")
print(json.dumps({
    "rows": rows_in_lake, "threads": args.threads, "flowlake_s": fl, "duckdb_s": dk,
    "flowlake_median_s": f_med, "duckdb_median_s": d_med, "speedup": d_med / f_med,
}))
