"""Ingest benchmark: flowlake vs DuckDB converting the same Azure NSG blobs to partitioned Parquet.

Usage: python3 benches/ingest_vs_duckdb.py [--workdir DIR] [--nics 40] [--tuples-per-hour 10500]
                                            [--flowlake target/release/flowlake] [--threads 2] [--heavy]

Generates an NSG v2 blob tree with `flowlake gen` (default 40 NICs x 24 h x 10 500 = 10.08 M
tuples), then in the same run:
  1. flowlake ingest (with its hourly rollup) of a quarter of the blobs (the first 6 hours),
  2. DuckDB, lean (benches/duckdb_convert_lean.py) of the same quarter: the best conversion we
     can write, one read_json, unnest, string_split, COPY ... PARTITION_BY (date): the peer,
  3. both again on all blobs (two sizes: speed at each, and whether peak RSS grows with input),
  4. with --heavy, DuckDB, heavy (benches/duckdb_convert.py): both containers unioned and the
     file name per row, as flowlake keeps it; a heavier query (280 s, 16 GB), reported as such,
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
ap.add_argument("--heavy", action="store_true", help="also run the heavy DuckDB query")
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
duck = os.path.join(args.workdir, "duck")
quarter_list = os.path.join(args.workdir, "quarter.txt")
with open(quarter_list, "w") as f:
    f.write("\n".join(quarter))


def flowlake_run(name, inputs):
    fresh(lake)
    warm()
    s, rss, out = measured([args.flowlake, "ingest", *inputs, "--lake", lake, "--json", "--workers", str(args.threads)])
    results[name] = {"blobs": len(quarter) if inputs is quarter else len(blobs),
                     "tuples": json.loads(out)["tuples"], "seconds": s, "rss_mib": rss}


def duckdb_run(name, script, extra):
    fresh(duck)
    warm()
    s, rss, out = measured([sys.executable, os.path.join(here, script), src, duck, str(args.threads), *extra])
    results[name] = {"blobs": len(quarter) if extra else len(blobs), "tuples": int(out.split()[-1]),
                     "seconds": s, "rss_mib": rss}
    fresh(duck)


flowlake_run("flowlake_quarter", quarter)
duckdb_run("duckdb_lean_quarter", "duckdb_convert_lean.py", [quarter_list])
flowlake_run("flowlake", [src])
duckdb_run("duckdb_lean", "duckdb_convert_lean.py", [])
if args.heavy:
    duckdb_run("duckdb_heavy", "duckdb_convert.py", [])

for k, r in results.items():
    r["tuples_per_s"] = r["tuples"] / r["seconds"]
runs = list(results)
pairs = [("flowlake_quarter", "duckdb_lean_quarter"), ("flowlake", "duckdb_lean")]
if args.heavy:
    pairs.append(("flowlake", "duckdb_heavy"))
for mine, peer in pairs:
    f, d = results[mine], results[peer]
    assert f["tuples"] == d["tuples"], (mine, peer, f["tuples"], d["tuples"])
    results[f"ratio_throughput_{peer}"] = f["tuples_per_s"] / d["tuples_per_s"]
    results[f"ratio_rss_{peer}"] = f["rss_mib"] / d["rss_mib"]
assert results["flowlake"]["tuples"] == want
results["rss_growth_4x_blobs"] = results["flowlake"]["rss_mib"] / results["flowlake_quarter"]["rss_mib"]
results["threads"] = args.threads

print(f"{'run':<22}{'blobs':>7}{'tuples':>12}{'seconds':>10}{'tuples/s':>14}{'peak RSS MiB':>14}")
for k in runs:
    r = results[k]
    print(f"{k:<22}{r['blobs']:>7}{r['tuples']:>12}{r['seconds']:>10.2f}{r['tuples_per_s']:>14.0f}{r['rss_mib']:>14.0f}")
for mine, peer in pairs:
    print(f"{mine} vs {peer}: {results[f'ratio_throughput_{peer}']:.1f}x the throughput, "
          f"{results[f'ratio_rss_{peer}']:.3f} of its peak RSS")
print(f"flowlake RSS with 4x the blobs: {results['rss_growth_4x_blobs']:.2f}x")
print(json.dumps(results))
