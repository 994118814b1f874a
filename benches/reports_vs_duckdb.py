"""Report benchmark: each `flowlake report` on a month-long lake of >= 100 M tuples, against the
same core queries run by DuckDB on the same Parquet files, in the same run.

Four variants per report, each timed the same way:
  - flowlake          `flowlake report` as shipped: it reads the hourly rollup;
  - flowlake --raw    the same report over the raw tuples;
  - DuckDB raw        DuckDB running the SQL of `flowlake report --raw --print-sql` on the raw
                      Parquet (`flows`): the same SQL on the raw tuples;
  - DuckDB rollup     DuckDB running the SQL flowlake runs by default on the rollup's Parquet
                      (`hourly`, and `coverage` for the coverage query): the leanest peer, given
                      the same rollup.

Usage: python3 benches/reports_vs_duckdb.py [--out bench-out/reports] [--flowlake target/release/flowlake]
                                            [--days 30 --nics 60 --tuples-per-hour 2400] [--runs 3] [--threads 2]
                                            [--rollup-only] [--cases "exfil,summary"]

--rollup-only times flowlake and DuckDB on the rollup only (the headline comparison), skipping
both raw-tuple variants; --cases runs only the named cases (their labels as printed).

The lake is generated once (`flowlake gen --scenario`, so the reports have incidents to find,
then `flowlake ingest`; the JSON blobs are deleted afterwards to save disk) and reused.

For each report:
  - flowlake: `flowlake report KIND --format json` as a whole process (start-up, coverage query,
    the report's queries, findings, reasons, rendering);
  - DuckDB: the Python module in-process, running the same queries: the exact SQL flowlake runs
    (`flowlake report --print-sql`), with flowlake's set functions replaced by DuckDB
    expressions over the scenario's threat list and date_bin by DuckDB's time_bucket, over a
    `flows` view of read_parquet with Hive partitions.
The answers are compared (the SQL-made findings per kind; for the summary, the top talkers)
and the script fails if they differ. Prints per-run times, medians,
ratios, and the same as JSON on the last line.
"""
import argparse
import collections
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)

ap = argparse.ArgumentParser()
ap.add_argument("--out", default=os.path.join(root, "bench-out/reports"))
ap.add_argument("--flowlake", default=os.path.join(root, "target/release/flowlake"))
ap.add_argument("--days", type=int, default=30)
ap.add_argument("--nics", type=int, default=60)
ap.add_argument("--tuples-per-hour", type=int, default=2400)
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--rollup-only", action="store_true",
                help="time flowlake and DuckDB on the rollup only (skip both raw-tuple variants)")
ap.add_argument("--cases", default="", help="comma-separated case labels to run (default: all)")
args = ap.parse_args()

lake = os.path.join(args.out, "lake")
scenario = os.path.join(args.out, "scenario")
config = os.path.join(scenario, "flowlake.toml")

if not os.path.exists(args.flowlake):
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=root, check=True)
if not os.path.exists(os.path.join(lake, "_flowlake/manifest.json")):
    src = os.path.join(args.out, "blobs")
    t0 = time.perf_counter()
    subprocess.run([args.flowlake, "gen", "--out", src, "--days", str(args.days), "--nics", str(args.nics),
                    "--tuples-per-hour", str(args.tuples_per_hour), "--scenario", scenario], check=True)
    t1 = time.perf_counter()
    subprocess.run([args.flowlake, "ingest", src, "--lake", lake, "-q"], check=True)
    t2 = time.perf_counter()
    print(f"generated in {t1 - t0:.0f} s, ingested in {t2 - t1:.0f} s", flush=True)
    shutil.rmtree(src)

manifest = json.load(open(os.path.join(lake, "_flowlake/manifest.json")))
rows_in_lake = sum(f["rows"] for files in manifest["partitions"].values() for f in files)
last_day = json.load(open(os.path.join(scenario, "scenario.json")))["incident_day"]
first_day = min(manifest["partitions"]).split("=")[1]
month_end = subprocess.run(["date", "-u", "-d", f"{last_day} + 1 day", "+%Y-%m-%d"],
                           check=True, capture_output=True, text=True).stdout.strip()

# (label, report, extra flags): the default window (the last day, 7-day baseline), the same
# with the whole month as baseline, and the summary over the whole month.
CASES = [
    ("exfil", "exfil", []),
    ("exfil, 29 d baseline", "exfil", ["--baseline", "29d"]),
    ("exposure", "exposure", []),
    ("rules", "rules", []),
    ("summary", "summary", []),
    ("summary, whole month", "summary", ["--since", first_day, "--until", month_end]),
]
SQL_KINDS = {"threat_intel", "dns_to_external", "unexpected_port", "new_destination", "volume_anomaly",
             "sensitive_port_exposed", "endpoint_exposed", "scan_pressure", "broad_allow", "rule_hits"}
env = dict(os.environ, DATAFUSION_EXECUTION_TARGET_PARTITIONS=str(args.threads))


def flowlake_report(kind, extra):
    t0 = time.perf_counter()
    out = subprocess.run([args.flowlake, "report", kind, "--lake", lake, "--config", config,
                          "--format", "json", *extra], check=True, capture_output=True, text=True, env=env).stdout
    return time.perf_counter() - t0, json.loads(out)


def threat_sql():
    """flowlake's set functions over the scenario's threat list, as DuckDB expressions."""
    entries = []
    for line in open(os.path.join(scenario, "threat-intel.txt")):
        line = line.split("#")[0].split()
        if not line:
            continue
        net, label = line[0], (line[1] if len(line) > 1 else "threat")
        if net.endswith("/24"):
            cond = "{col} LIKE '" + ".".join(net[:-3].split(".")[:3]) + ".%'"
        else:
            cond = "{col} = '" + net.split("/")[0] + "'"
        entries.append((cond, label))
    return entries


THREAT = threat_sql()


def to_duckdb(sql):
    def in_set(m):
        col = m.group(1)
        return "(" + " OR ".join(c.format(col=col) for c, _ in THREAT) + ")"

    def label(m):
        col = m.group(1)
        return "(CASE " + " ".join(f"WHEN {c.format(col=col)} THEN '{l}'" for c, l in THREAT) + " END)"

    def in_cidr(m):
        col, net, bits = m.group(1), m.group(2), int(m.group(3))
        if bits not in (8, 16, 24):
            sys.exit(f"the benchmark translates only /8, /16 and /24 prefixes for DuckDB, not {net}/{bits}")
        return f"({col} LIKE '" + ".".join(net.split(".")[: bits // 8]) + ".%')"

    sql = re.sub(r"ip_in_cidr\((\w+), '([\d.]+)/(\d+)'\)", in_cidr, sql)
    sql = re.sub(r"coalesce\(ip_set_label\((\w+), 'threat'\), 'threat'\)", label, sql)
    sql = re.sub(r"ip_in_set\((\w+), 'threat'\)", in_set, sql)
    sql = re.sub(r"TIMESTAMP '([^']+)'", r"TIMESTAMPTZ '\1'", sql)
    # date_bin (PostgreSQL, DataFusion) is time_bucket in DuckDB.
    sql = sql.replace("date_bin(INTERVAL '1 hour', time)", "time_bucket(INTERVAL '1 hour', time)")
    code = "\n".join(l for l in sql.splitlines() if not l.lstrip().startswith("--"))
    left = re.findall(r"\b(ip_\w+|is_\w+|service_tag)\(", code)
    if left:
        sys.exit(f"flowlake functions left for DuckDB: {left}")
    return sql


def queries(kind, extra):
    """The report's queries as flowlake runs them with `extra` flags, translated for DuckDB."""
    out = subprocess.run([args.flowlake, "report", kind, "--lake", lake, "--config", config, "--print-sql", *extra],
                         check=True, capture_output=True, text=True, env=env).stdout
    parts = re.split(r"^-- (\w+\.sql)\n", out, flags=re.M)
    return [(parts[i], to_duckdb(parts[i + 1].strip().rstrip(";"))) for i in range(1, len(parts), 2)]


def duckdb_report(con, qs):
    t0 = time.perf_counter()
    results = {name: con.sql(sql).fetchall() for name, sql in qs}
    return time.perf_counter() - t0, results


def summarise_flowlake(kind, rep):
    if kind == "summary":
        return sorted((t["ip"], t["bytes"]) for t in rep["top_talkers"])
    # Findings about one subject are merged into one listing its `kinds` (report::subjects),
    # each kind once: count kinds, as the SQL rows are one per kind.
    return sorted(collections.Counter(k for f in rep["findings"] for k in (f.get("kinds") or [f["kind"]])
                                      if k in SQL_KINDS).items())


def summarise_duckdb(kind, results):
    if kind == "summary":
        return sorted((r[0], int(r[3])) for r in results["top_talkers.sql"])
    c = collections.Counter()
    for name, rows in results.items():
        if name in ("coverage.sql", "nsg_coverage.sql"):
            continue
        for r in rows:
            c[r[0]] += 1
    return sorted(c.items())


import duckdb  # noqa: E402

con = duckdb.connect()
con.sql(f"SET threads = {args.threads}")
con.sql("SET TimeZone = 'UTC'")
con.sql(f"CREATE VIEW flows AS SELECT * FROM read_parquet('{lake}/flows/*/*.parquet', hive_partitioning = true)")
con.sql(f"CREATE VIEW hourly AS SELECT * FROM read_parquet('{lake}/hourly/*/*.parquet', hive_partitioning = true)")
if os.path.isdir(os.path.join(lake, "coverage")):
    con.sql(f"CREATE VIEW coverage AS SELECT * FROM read_parquet('{lake}/coverage/*/*.parquet', hive_partitioning = true)")
hourly_rows = sum(f["rows"] for d, files in manifest.get("tables", {}).items() if d.startswith("hourly/")
                  for f in files)

results = []
print(f"lake: {lake} ({rows_in_lake:,} raw rows, {hourly_rows:,} rollup rows, {len(manifest['partitions'])} days, "
      f"last {last_day}), threads: {args.threads}, runs: {args.runs}", flush=True)
print(f"{'report':<22} {'flowlake':>9} {'fl --raw':>9} {'DuckDB raw':>11} {'DuckDB rollup':>14}"
      f" {'raw/fl':>7} {'DuckDB raw/fl':>14} {'DuckDB rollup/fl':>17}  findings")
wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
for label, kind, extra in CASES:
    if wanted and label not in wanted:
        continue
    raw = not args.rollup_only
    qs_rollup = queries(kind, extra)
    qs_raw = queries(kind, extra + ["--raw"]) if raw else []
    # Warm-up (page cache) and the equality checks: every variant finds the same.
    _, rep = flowlake_report(kind, extra)
    if rep["source"]["table"] != "hourly":
        sys.exit(f"{label}: read {rep['source']}")
    got = summarise_flowlake(kind, rep)
    checks = [("DuckDB rollup", summarise_duckdb(kind, duckdb_report(con, qs_rollup)[1]))]
    if raw:
        _, rep_raw = flowlake_report(kind, extra + ["--raw"])
        if rep_raw["source"]["table"] != "flows":
            sys.exit(f"{label}: --raw read {rep_raw['source']}")
        checks += [("flowlake --raw", summarise_flowlake(kind, rep_raw)),
                   ("DuckDB raw", summarise_duckdb(kind, duckdb_report(con, qs_raw)[1]))]
    for name, g in checks:
        if g != got:
            sys.exit(f"{label}: answers differ\nflowlake {got}\n{name} {g}")
    times = {"flowlake": [], "flowlake_raw": [], "duckdb_raw": [], "duckdb_rollup": []}
    for _ in range(args.runs):
        times["flowlake"].append(flowlake_report(kind, extra)[0])
        times["duckdb_rollup"].append(duckdb_report(con, qs_rollup)[0])
        if raw:
            times["flowlake_raw"].append(flowlake_report(kind, extra + ["--raw"])[0])
            times["duckdb_raw"].append(duckdb_report(con, qs_raw)[0])
    med = {k: (statistics.median(v) if v else float("nan")) for k, v in times.items()}
    counts = rep["counts"]
    found = f"{counts['high']} high, {counts['medium']} medium, {counts['low']} low, {counts['info']} info"
    fl = med["flowlake"]
    print(f"{label:<22} {fl:>8.2f}s {med['flowlake_raw']:>8.2f}s {med['duckdb_raw']:>10.2f}s "
          f"{med['duckdb_rollup']:>13.2f}s {med['flowlake_raw'] / fl:>6.2f}x {med['duckdb_raw'] / fl:>13.2f}x "
          f"{med['duckdb_rollup'] / fl:>16.2f}x  {found}", flush=True)
    results.append({"case": label, "report": kind, "args": extra, "runs_s": times, "median_s": med,
                    "window_tuples": rep["coverage"]["tuples"], "baseline_tuples": rep["coverage"]["baseline_tuples"],
                    "counts": counts})
print("answers equal for every report and variant (ratios: the variant's median / flowlake's; above 1 = flowlake faster)")
print(json.dumps({"rows": rows_in_lake, "hourly_rows": hourly_rows, "threads": args.threads, "results": results}))
