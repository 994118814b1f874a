"""The DuckDB peer of `flowlake ingest`: the same Azure blob tree to Hive-partitioned Parquet.

Usage: duckdb_convert.py SRC_DIR OUT_DIR [THREADS]
Reads NSG (v1/v2) and VNet (v4) containers with read_json, unnests records -> rule groups ->
tuples, splits each tuple into typed columns (the same columns flowlake writes, minus the
address classes DuckDB has no function for) and writes them with COPY ... PARTITION_BY (date).
Prints the number of tuples written.
"""
import os
import sys

import duckdb

src, out = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else os.cpu_count()
con = duckdb.connect()
con.execute(f"SET threads={threads}")
con.execute("SET preserve_insertion_order=false")

NSG_TYPE = ("STRUCT(time VARCHAR, resourceId VARCHAR, properties STRUCT(\"Version\" INTEGER, "
            "flows STRUCT(rule VARCHAR, flows STRUCT(mac VARCHAR, flowTuples VARCHAR[])[])[]))[]")
VNET_TYPE = ("STRUCT(time VARCHAR, flowLogVersion INTEGER, macAddress VARCHAR, flowLogResourceID VARCHAR, "
             "targetResourceID VARCHAR, flowRecords STRUCT(flows STRUCT(aclID VARCHAR, "
             "flowGroups STRUCT(rule VARCHAR, flowTuples VARCHAR[])[])[]))[]")


def source(container, ty):
    path = f"{src}/{container}/**/*.json"
    has = con.execute(f"SELECT count(*) FROM glob('{path}')").fetchone()[0] > 0
    return has, (f"read_json('{path}', columns={{'records': '{ty}'}}, filename=true, "
                 f"format='auto', maximum_object_size=1073741824)")


parts = []
has_nsg, nsg = source("insights-logs-networksecuritygroupflowevent", NSG_TYPE)
if has_nsg:
    parts.append(f"""
    SELECT r.time AS record_time, 'azure_nsg' AS provider, r.properties."Version" AS log_version,
           r.resourceId AS resource_id, NULL::VARCHAR AS target_resource_id, NULL::VARCHAR AS acl_id,
           m.mac AS mac, g.rule AS rule, string_split(t, ',') AS f, filename
    FROM (SELECT unnest(records) AS r, filename FROM {nsg}) rr,
         unnest(rr.r.properties.flows) AS gg(g), unnest(gg.g.flows) AS mm(m), unnest(mm.m.flowTuples) AS tt(t)""")
has_vnet, vnet = source("insights-logs-flowlogflowevent", VNET_TYPE)
if has_vnet:
    parts.append(f"""
    SELECT r.time, 'azure_vnet', r.flowLogVersion, r.flowLogResourceID, r.targetResourceID, a.aclID,
           r.macAddress, g.rule, string_split(t, ','), filename
    FROM (SELECT unnest(records) AS r, filename FROM {vnet}) rr,
         unnest(rr.r.flowRecords.flows) AS aa(a), unnest(aa.a.flowGroups) AS gg(g), unnest(gg.g.flowTuples) AS tt(t)""")

union = " UNION ALL ".join(parts)
query = f"""
COPY (
  WITH t AS ({union}),
  typed AS (
    SELECT
      CASE WHEN provider = 'azure_vnet' AND length(f[1]) >= 12 THEN make_timestamp(f[1]::BIGINT * 1000)
           ELSE make_timestamp(f[1]::BIGINT * 1000000) END AS time,
      record_time::TIMESTAMPTZ AS record_time, provider, log_version, resource_id, target_resource_id,
      acl_id, mac, rule,
      f[2] AS src_ip, f[3] AS dst_ip, f[4]::INTEGER AS src_port, f[5]::INTEGER AS dst_port,
      CASE f[6] WHEN 'T' THEN 6 WHEN 'U' THEN 17 ELSE TRY_CAST(f[6] AS INTEGER) END AS protocol_number,
      CASE f[7] WHEN 'I' THEN 'inbound' ELSE 'outbound' END AS direction,
      CASE WHEN provider = 'azure_vnet' THEN (CASE f[8] WHEN 'D' THEN 'deny' ELSE 'allow' END)
           ELSE (CASE f[8] WHEN 'D' THEN 'deny' ELSE 'allow' END) END AS decision,
      CASE WHEN provider = 'azure_vnet' THEN f[8] ELSE f[9] END AS flow_state,
      CASE WHEN provider = 'azure_vnet' THEN f[9] END AS encryption,
      NULLIF(f[10], '')::BIGINT AS packets_src_to_dst, NULLIF(f[11], '')::BIGINT AS bytes_src_to_dst,
      NULLIF(f[12], '')::BIGINT AS packets_dst_to_src, NULLIF(f[13], '')::BIGINT AS bytes_dst_to_src,
      filename AS source_blob
    FROM t
  )
  SELECT *, strftime(time, '%Y-%m-%d') AS date FROM typed
) TO '{out}' (FORMAT parquet, PARTITION_BY (date), COMPRESSION zstd, OVERWRITE_OR_IGNORE true)
"""
con.execute(query)
n = con.execute(f"SELECT count(*) FROM read_parquet('{out}/*/*.parquet')").fetchone()[0]
print(n)
