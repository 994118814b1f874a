"""Rollup size: rows and bytes of the hourly rollup (and of the coverage table) against the raw
tuples, for two kinds of traffic from `flowlake gen`: servers (the default mix: egress to a
pool of destinations, DNS, east-west calls, some inbound web, denied scans from random
addresses) and web front ends
(`--mix web-clients`: mostly short inbound HTTPS connections from returning clients, each
from a new ephemeral port).

Usage: python3 benches/rollup_rows.py [--out bench-out/rollup] [--flowlake target/release/flowlake]
                                      [--days 1 --nics 40 --tuples-per-hour 10500]

Prints one line per mix and the same as JSON on the last line.
"""
import argparse
import json
import os
import shutil
import subprocess

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
ap = argparse.ArgumentParser()
ap.add_argument("--out", default=os.path.join(root, "bench-out/rollup"))
ap.add_argument("--flowlake", default=os.path.join(root, "target/release/flowlake"))
ap.add_argument("--days", type=int, default=1)
ap.add_argument("--nics", type=int, default=40)
ap.add_argument("--tuples-per-hour", type=int, default=10500)
args = ap.parse_args()

results = []
for mix in ["servers", "web-clients"]:
    base = os.path.join(args.out, mix)
    shutil.rmtree(base, ignore_errors=True)
    src, lake = os.path.join(base, "src"), os.path.join(base, "lake")
    subprocess.run([args.flowlake, "gen", "--out", src, "--days", str(args.days), "--nics", str(args.nics),
                    "--tuples-per-hour", str(args.tuples_per_hour), "--mix", mix, "--format", "nsg-v2"],
                   check=True, capture_output=True)
    subprocess.run([args.flowlake, "ingest", src, "--lake", lake, "-q"], check=True)
    shutil.rmtree(src)
    m = json.load(open(os.path.join(lake, "_flowlake/manifest.json")))
    raw = [f for fs in m["partitions"].values() for f in fs]
    hourly = [f for d, fs in m["tables"].items() if d.startswith("hourly/") for f in fs]
    coverage = [f for d, fs in m["tables"].items() if d.startswith("coverage/") for f in fs]
    r = {"mix": mix, "raw_rows": sum(f["rows"] for f in raw), "raw_bytes": sum(f["bytes"] for f in raw),
         "hourly_rows": sum(f["rows"] for f in hourly), "hourly_bytes": sum(f["bytes"] for f in hourly),
         "coverage_rows": sum(f["rows"] for f in coverage), "coverage_bytes": sum(f["bytes"] for f in coverage)}
    r["row_ratio"] = r["raw_rows"] / r["hourly_rows"]
    r["byte_ratio"] = r["raw_bytes"] / r["hourly_bytes"]
    results.append(r)
    print(f"{mix:<12} raw {r['raw_rows']:>12,} rows {r['raw_bytes'] / 1e6:>8.1f} MB   "
          f"hourly {r['hourly_rows']:>11,} rows {r['hourly_bytes'] / 1e6:>7.1f} MB   "
          f"{r['row_ratio']:>5.1f}x fewer rows, {r['byte_ratio']:>5.1f}x fewer bytes   "
          f"coverage {r['coverage_rows']:,} rows {r['coverage_bytes'] / 1e3:.0f} kB", flush=True)
    shutil.rmtree(base)
print(json.dumps(results))
