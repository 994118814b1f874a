"""Check that real clients read a flowlake lake with nothing but its path.

Usage: check_lake.py LAKE_DIR EXPECTED_ROWS [EXPORT.parquet]
Reads `flows` (EXPECTED_ROWS rows) and its `hourly` rollup (whose `tuples` add up to them). With
EXPORT (a `flowlake sql --format parquet -o` file of the whole table), checks that the
clients read it too. Prints "<client> ok" per check; exits non-zero on the first mismatch.
"""
import sys

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

lake, expected = sys.argv[1], int(sys.argv[2])
export = sys.argv[3] if len(sys.argv) > 3 else None
flows = f"{lake}/flows"

INTS = {"log_version": pa.int32(), "src_port": pa.int32(), "dst_port": pa.int32(),
        "protocol_number": pa.int32(), "source_record": pa.int32(),
        "packets_src_to_dst": pa.int64(), "bytes_src_to_dst": pa.int64(),
        "packets_dst_to_src": pa.int64(), "bytes_dst_to_src": pa.int64()}


def check(cond, msg):
    if not cond:
        print(f"FAIL: {msg}")
        sys.exit(1)


# pyarrow: dataset with Hive partitioning inferred from the path.
t = ds.dataset(flows, format="parquet", partitioning="hive").to_table()
check(t.num_rows == expected, f"pyarrow rows {t.num_rows} != {expected}")
check(t.schema.field("time").type == pa.timestamp("us", tz="UTC"), f"pyarrow time type {t.schema.field('time').type}")
for name, ty in INTS.items():
    check(t.schema.field(name).type == ty, f"pyarrow {name} type {t.schema.field(name).type}")
check("date" in t.schema.names, "pyarrow sees the date partition")
meta = ds.dataset(flows, format="parquet").files
import pyarrow.parquet as pq
kv = pq.read_metadata(meta[0]).metadata
check(kv.get(b"flowlake.schema_version") == b"1", f"schema version metadata {kv}")
print("pyarrow ok", t.num_rows)

# pandas: read_parquet on the directory.
df = pd.read_parquet(flows)
check(len(df) == expected, f"pandas rows {len(df)} != {expected}")
check(str(df["time"].dtype) in ("datetime64[us, UTC]", "datetime64[ns, UTC]"), f"pandas time dtype {df['time'].dtype}")
check(str(df["dst_port"].dtype) == "int32", f"pandas dst_port dtype {df['dst_port'].dtype}")
check(str(df["bytes_src_to_dst"].dtype) in ("Int64", "float64", "int64"), f"pandas bytes dtype {df['bytes_src_to_dst'].dtype}")
check(df["bytes_src_to_dst"].isna().sum() > 0, "absent counters are missing values, not zeros")
check(set(df["provider"].unique()) == {"azure_nsg", "azure_vnet"}, "providers")
print("pandas ok", len(df))

# DuckDB: read_parquet with a glob and hive partitioning.
con = duckdb.connect()
n = con.execute(f"SELECT count(*) FROM read_parquet('{flows}/*/*.parquet', hive_partitioning=true)").fetchone()[0]
check(n == expected, f"duckdb rows {n} != {expected}")
types = dict(con.execute(f"DESCRIBE SELECT * FROM read_parquet('{flows}/*/*.parquet', hive_partitioning=true)").fetchall()[i][:2] for i in range(31))
check(types["time"] == "TIMESTAMP WITH TIME ZONE", f"duckdb time type {types['time']}")
check(types["dst_port"] == "INTEGER" and types["bytes_src_to_dst"] == "BIGINT", f"duckdb int types {types}")
days = con.execute(f"SELECT count(DISTINCT date) FROM read_parquet('{flows}/*/*.parquet', hive_partitioning=true)").fetchone()[0]
check(days >= 3, f"duckdb partitions {days}")
print("duckdb ok", n)

# The hourly rollup, by path alone: its tuples add up to the raw rows.
hourly = f"{lake}/hourly"
t = ds.dataset(hourly, format="parquet", partitioning="hive").to_table()
check(sum(t.column("tuples").to_pylist()) == expected, "pyarrow hourly tuples")
check(t.schema.field("hour").type == pa.timestamp("us", tz="UTC"), f"hourly hour type {t.schema.field('hour').type}")
df = pd.read_parquet(hourly)
check(int(df["tuples"].sum()) == expected, "pandas hourly tuples")
n = con.execute(f"SELECT sum(tuples) FROM read_parquet('{hourly}/*/*.parquet', hive_partitioning=true)").fetchone()[0]
check(n == expected, f"duckdb hourly tuples {n} != {expected}")
pf = pl.read_parquet(f"{hourly}/*/*.parquet", hive_partitioning=True)
check(int(pf["tuples"].sum()) == expected and "date" in pf.columns, "polars hourly tuples")
pf = pl.read_parquet(f"{flows}/*/*.parquet", hive_partitioning=True)
check(pf.height == expected, f"polars rows {pf.height} != {expected}")
print("hourly ok", len(df), "rows for", expected, "tuples")

if export:
    t = pq.read_table(export)
    check(t.num_rows == expected, f"export rows {t.num_rows} != {expected}")
    check(t.schema.field("src_ip").type == pa.string(), f"export string type {t.schema.field('src_ip').type}")
    check(t.schema.field("time").type == pa.timestamp("us", tz="UTC"), f"export time type {t.schema.field('time').type}")
    df = pd.read_parquet(export)
    check(len(df) == expected and df["dst_port"].dtype == "int32", "pandas reads the export")
    n = con.execute(f"SELECT count(DISTINCT src_ip) FROM read_parquet('{export}')").fetchone()[0]
    check(n > 0, "duckdb reads the export")
    print("export ok", t.num_rows)
