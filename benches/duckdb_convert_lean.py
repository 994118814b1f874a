"""The leanest DuckDB peer of `flowlake ingest` for NSG flow logs: the honest comparison.

Usage: duckdb_convert_lean.py SRC_DIR OUT_DIR [THREADS] [LIST_FILE]
(LIST_FILE: read only the blobs it names, one path a line.)
One read_json over the NSG container, unnest records -> rule groups -> MAC groups -> tuples,
string_split each tuple into the 13 tuple fields (typed), plus rule, MAC and resource id, and
COPY ... PARTITION_BY (date) to zstd Parquet. No file name per row, no second source, no
address classes: the least work that still yields the same rows. Prints the tuples written.

The unnests are one per step, in the SELECT list of a chain of CTEs: written as lateral joins
(`FROM r, unnest(...) AS g(g), ...`) the same query ran 6-8x slower in 25x the memory
(DuckDB 2.0.1, 840 k tuples: 10-13 s and 2 GB against 1.6 s and 82 MB), and the date as a
DATE cast is a sixth faster than strftime. Most of the remaining time is DuckDB's Parquet
writer: counting the same rows takes a third of the time of writing them.
"""
import os
import sys

import duckdb

src, out = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else os.cpu_count()
only = open(sys.argv[4]).read().split() if len(sys.argv) > 4 else None
con = duckdb.connect()
con.execute(f"SET threads={threads}")
con.execute("SET preserve_insertion_order=false")

NSG_TYPE = ("STRUCT(time VARCHAR, resourceId VARCHAR, properties STRUCT(\"Version\" INTEGER, "
            "flows STRUCT(rule VARCHAR, flows STRUCT(mac VARCHAR, flowTuples VARCHAR[])[])[]))[]")
path = f"{src}/insights-logs-networksecuritygroupflowevent/**/*.json"
if only is not None:
    path = "[" + ", ".join(f"'{p}'" for p in only) + "]"
con.execute(f"""
COPY (
  WITH r AS (
    SELECT unnest(records) AS r
    FROM read_json({path if only is not None else repr(path)}, columns={{'records': '{NSG_TYPE}'}}, format='auto',
                   maximum_object_size=268435456)
  ),
  g AS (SELECT r.resourceId AS resource_id, unnest(r.properties.flows) AS g FROM r),
  m AS (SELECT resource_id, g.rule AS rule, unnest(g.flows) AS m FROM g),
  t AS (SELECT resource_id, rule, m.mac AS mac, string_split(unnest(m.flowTuples), ',') AS f FROM m)
  SELECT make_timestamp(f[1]::BIGINT * 1000000) AS time,
         f[2] AS src_ip, f[3] AS dst_ip, f[4]::INTEGER AS src_port, f[5]::INTEGER AS dst_port,
         f[6] AS protocol, f[7] AS direction, f[8] AS decision, f[9] AS flow_state,
         NULLIF(f[10], '')::BIGINT AS packets_src_to_dst, NULLIF(f[11], '')::BIGINT AS bytes_src_to_dst,
         NULLIF(f[12], '')::BIGINT AS packets_dst_to_src, NULLIF(f[13], '')::BIGINT AS bytes_dst_to_src,
         rule, mac, resource_id,
         make_timestamp(f[1]::BIGINT * 1000000)::DATE AS date
  FROM t
) TO '{out}' (FORMAT parquet, PARTITION_BY (date), COMPRESSION zstd, OVERWRITE_OR_IGNORE true)
""")
n = con.execute(f"SELECT count(*) FROM read_parquet('{out}/*/*.parquet')").fetchone()[0]
print(n)
