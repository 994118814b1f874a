"""Ingest benchmark: flowlake vs DuckDB converting the same Azure NSG blobs to partitioned Parquet.

Usage: python3 benches/ingest_vs_duckdb.py [--workdir DIR] [--nics 40] [--tuples-per-hour 10500]
                                            [--flowlake target/release/flowlake] [--threads 2]

Generates an NSG v2 blob tree with `flowlake gen` (default 40 NICs x 24 h x 10 500 = 10.08 M
tuples), then in the same run:
  1. flowlake ingest of a quarter of the blobs (to show peak RSS does not grow with blob count),
  2. flowlake ingest of all blobs,
  3. DuckDB, lean (benches/duckdb_convert_lean.py): the best conversion we can write, one
     read_json, unnest, string_split, COPY ... PARTITION_BY (date): the honest peer,
  4. DuckDB, heavy (benches/duckdb_convert.py): both containers unioned and the file name per
     row, as flowlake keeps it; a heavier query, reported as such,
each as a child process whose wall time and peak RSS (wait4) are measured. Prints a table, the
ratios against both, and the same as JSON on the last line.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)

ap = argparse.ArgumentParser()
ap.add_argument("--workdir", default=os.path.join(root, "bench-out"))
ap.add_argument("--nics", type=int, default=40)
ap.add_argument("--tuples-per-hour", type=int, default=10500)
ap.add_argument("--flowlake", default=os.path.join(root, "target/release/flowlake"))
ap.add_argument("--threads", type=int, default=os.cpu_count())
args = ap.parse_args()

src = os.path.join(args.workdir, "src")


def measured(cmd):
    """Runs cmd as a child and measures wall time and peak RSS (MiB) with wait4."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        out = os.open(os.path.join(args.workdir, "last.out"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(devnull, 2)
        os.execvp(cmd[0], cmd)
    _, status, ru = os.wait4(pid, 0)
    secs = time.perf_counter() - t0
    text = open(os.path.join(args.workdir, "last.out")).read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed: {text[-2000:]}")
    return secs, ru.ru_maxrss / 1024, text


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)


def warm():
    """Reads every blob once, so each run finds them in the page cache (a DuckDB run with a
    16 GiB peak evicts them, and the next run would otherwise pay for the disk)."""
    for b in blobs:
        with open(b, "rb") as f:
            while f.read(1 << 20):
                pass


os.makedirs(args.workdir, exist_ok=True)
if not os.path.exists(args.flowlake):
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=root, check=True)
want = args.nics * 24 * args.tuples_per_hour
marker = os.path.join(src, f".gen-nsg-{args.nics}-{args.tuples_per_hour}")
if not os.path.exists(marker):
    fresh(src)
    subprocess.run([args.flowlake, "gen", "--out", src, "--nics", str(args.nics), "--hours", "24",
                    "--tuples-per-hour", str(args.tuples_per_hour), "--format", "nsg-v2"], check=True)
    open(marker, "w").close()
blobs = sorted(os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs if f.endswith(".json"))
quarter = [b for b in blobs if any(f"/h={h:02d}/" in b for h in range(6))]

results = {}
lake = os.path.join(args.workdir, "lake")
fresh(lake)
warm()
s, rss, out = measured([args.flowlake, "ingest", *quarter, "--lake", lake, "--json", "--workers", str(args.threads)])
results["flowlake_quarter"] = {"blobs": len(quarter), "tuples": json.loads(out)["tuples"], "seconds": s, "rss_mib": rss}
fresh(lake)
warm()
s, rss, out = measured([args.flowlake, "ingest", src, "--lake", lake, "--json", "--workers", str(args.threads)])
n = json.loads(out)["tuples"]
results["flowlake"] = {"blobs": len(blobs), "tuples": n, "seconds": s, "rss_mib": rss}
duck = os.path.join(args.workdir, "duck")
for name, script in (("duckdb_lean", "duckdb_convert_lean.py"), ("duckdb_heavy", "duckdb_convert.py")):
    fresh(duck)
    warm()
    s, rss, out = measured([sys.executable, os.path.join(here, script), src, duck, str(args.threads)])
    results[name] = {"blobs": len(blobs), "tuples": int(out.split()[-1]), "seconds": s, "rss_mib": rss}
fresh(duck)

for k, r in results.items():
    r["tuples_per_s"] = r["tuples"] / r["seconds"]
f = results["flowlake"]
for peer in ("duckdb_lean", "duckdb_heavy"):
    d = results[peer]
    assert f["tuples"] == d["tuples"] == want, (peer, f["tuples"], d["tuples"], want)
    results[f"ratio_throughput_{peer}"] = f["tuples_per_s"] / d["tuples_per_s"]
    results[f"ratio_rss_{peer}"] = f["rss_mib"] / d["rss_mib"]
results["rss_growth_4x_blobs"] = f["rss_mib"] / results["flowlake_quarter"]["rss_mib"]
results["threads"] = args.threads

print(f"{'run':<18}{'blobs':>7}{'tuples':>12}{'seconds':>10}{'tuples/s':>14}{'peak RSS MiB':>14}")
for k in ("flowlake_quarter", "flowlake", "duckdb_lean", "duckdb_heavy"):
    r = results[k]
    print(f"{k:<18}{r['blobs']:>7}{r['tuples']:>12}{r['seconds']:>10.2f}{r['tuples_per_s']:>14.0f}{r['rss_mib']:>14.0f}")
for peer, label in (("duckdb_lean", "lean DuckDB (the honest peer)"), ("duckdb_heavy", "heavy DuckDB (file name per row, two sources)")):
    print(f"flowlake vs {label}: {results[f'ratio_throughput_{peer}']:.1f}x the throughput, "
          f"{results[f'ratio_rss_{peer}']:.3f} of its peak RSS")
print(f"flowlake RSS with 4x the blobs: {results['rss_growth_4x_blobs']:.2f}x")
print(json.dumps(results))
