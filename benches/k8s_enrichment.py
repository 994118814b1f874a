"""Reports with Kubernetes enrichment against the same reports without it, on one lake.

Usage: python3 benches/k8s_enrichment.py [--out bench-out/k8s] [--flowlake target/release/flowlake]
                                         [--days 14 --nics 60 --tuples-per-hour 2400] [--runs 3]
                                         [--restarts-per-day 4]

The lake is generated once (`flowlake gen --scenario`, then `flowlake ingest`) and copied; the
copy gets an inventory: every private address seen in the lake is held by a pod of its own
Deployment, replaced `--restarts-per-day` times a day (a new pod, its own exact start and
deletion time), written as one `kubectl get pods -A -o json` List and imported with `flowlake
inventory import`. Each report then runs as a whole process (`--format json`) on both lakes;
with the inventory every finding's addresses are resolved and `exfil` keys its sources by
workload at each tuple's time. Prints per-run times, medians, the ratio (target <= 1.3x) and the
same as JSON on the last line; also the intervals and the findings per report on both lakes.
"""
import argparse
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)

ap = argparse.ArgumentParser()
ap.add_argument("--out", default=os.path.join(root, "bench-out/k8s"))
ap.add_argument("--flowlake", default=os.path.join(root, "target/release/flowlake"))
ap.add_argument("--days", type=int, default=14)
ap.add_argument("--nics", type=int, default=60)
ap.add_argument("--tuples-per-hour", type=int, default=2400)
ap.add_argument("--restarts-per-day", type=int, default=4)
ap.add_argument("--runs", type=int, default=3)
a = ap.parse_args()

START = datetime(2026, 11, 1, tzinfo=timezone.utc)


def run(args, **kw):
    return subprocess.run([a.flowlake] + args, check=True, capture_output=True, text=True, **kw)


os.makedirs(a.out, exist_ok=True)
plain = os.path.join(a.out, "lake")
files = os.path.join(a.out, "scenario")
if not os.path.exists(os.path.join(plain, "_flowlake", "manifest.json")):
    blobs = os.path.join(a.out, "blobs")
    run(["gen", "--out", blobs, "--days", str(a.days), "--nics", str(a.nics),
         "--tuples-per-hour", str(a.tuples_per_hour), "--scenario", files])
    run(["ingest", blobs, "--lake", plain, "-q"])
    shutil.rmtree(blobs)

enriched = os.path.join(a.out, "lake-k8s")
shutil.rmtree(enriched, ignore_errors=True)
shutil.copytree(plain, enriched)
addrs = run(["sql", "--lake", plain, "--format", "csv",
             "SELECT DISTINCT src_ip AS ip FROM flows WHERE is_private(src_ip) "
             "UNION SELECT DISTINCT dst_ip FROM flows WHERE is_private(dst_ip) ORDER BY 1"]).stdout
addrs = [r["ip"] for r in csv.DictReader(io.StringIO(addrs))]


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


items = []
step = timedelta(hours=24 / a.restarts_per_day)
for i, ip in enumerate(addrs):
    t = START - timedelta(days=7)
    n = 0
    while t < START + timedelta(days=a.days):
        end = t + step
        items.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"w{i}-5f6d7c8b9-{n:05d}", "namespace": f"ns{i % 20}",
                         "uid": f"uid-{i}-{n}", "labels": {"pod-template-hash": "5f6d7c8b9"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": f"w{i}-5f6d7c8b9", "uid": f"rs-{i}",
                                              "controller": True}],
                         "deletionTimestamp": ts(end)},
            "spec": {"nodeName": f"aks-pool-12345678-vmss{i % 16:06d}"},
            "status": {"phase": "Running", "podIP": ip, "startTime": ts(t)},
        })
        t, n = end, n + 1
inventory = os.path.join(a.out, "pods.json")
with open(inventory, "w") as f:
    json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)
s = json.loads(run(["inventory", "import", inventory, "--lake", enriched, "--cluster", "bench",
                    "--at", ts(START + timedelta(days=a.days)), "--json"]).stdout)
print(f"{len(addrs)} private addresses, {s['intervals_after']} intervals in the inventory", flush=True)

config = os.path.join(files, "flowlake.toml")
result = {"addresses": len(addrs), "intervals": s["intervals_after"], "reports": {}}
for kind in ["exfil", "exposure", "rules", "summary"]:
    times = {"plain": [], "k8s": []}
    findings = {}
    for _ in range(a.runs):
        for name, lake in [("plain", plain), ("k8s", enriched)]:
            t0 = time.perf_counter()
            out = run(["report", kind, "--lake", lake, "--config", config, "--format", "json"]).stdout
            times[name].append(time.perf_counter() - t0)
            findings[name] = len(json.loads(out)["findings"])
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["k8s"] / med["plain"]
    print(f"{kind:9} without {med['plain']:.2f} s, with inventory {med['k8s']:.2f} s: {ratio:.2f}x "
          f"(runs {[round(x, 2) for x in times['plain']]} / {[round(x, 2) for x in times['k8s']]}; "
          f"findings {findings['plain']} / {findings['k8s']})", flush=True)
    result["reports"][kind] = {"plain_s": med["plain"], "k8s_s": med["k8s"], "ratio": ratio,
                               "findings_plain": findings["plain"], "findings_k8s": findings["k8s"]}
tuples = json.loads(run(["info", "--lake", plain, "--json"]).stdout)["rows"]
result["tuples"] = tuples
print(json.dumps(result))
sys.exit(0)
