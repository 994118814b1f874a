"""Reports with location databases against the same reports without them, on one lake.

Usage: python3 benches/geo_reports.py [--out bench-out/geo] [--flowlake target/release/flowlake]
                                      [--days 7 --nics 40 --tuples-per-hour 2400] [--runs 3]

The lake is generated once (`flowlake gen --scenario`, then `flowlake ingest`). The databases
are the GeoLite2 City file PyPI's maxminddb-geolite2 ships (every public address of the lake
gets a country and a city) and a small ASN file built by tests/geo/make_mmdb.py. With them,
`exfil` locates every pair's destination (new_country / new_asn) and every finding's peers, and
`summary` adds egress by country and AS. Each report runs as a whole process (`--format json`)
without and with `--geo-db`; prints per-run times, medians, the ratio and the findings, and the
same as JSON on the last line.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)

ap = argparse.ArgumentParser()
ap.add_argument("--out", default=os.path.join(root, "bench-out/geo"))
ap.add_argument("--flowlake", default=os.path.join(root, "target/release/flowlake"))
ap.add_argument("--days", type=int, default=7)
ap.add_argument("--nics", type=int, default=40)
ap.add_argument("--tuples-per-hour", type=int, default=2400)
ap.add_argument("--runs", type=int, default=3)
a = ap.parse_args()


def run(args):
    return subprocess.run([a.flowlake] + args, check=True, capture_output=True, text=True)


try:
    import _maxminddb_geolite2
except ImportError:
    sys.exit("needs PyPI's maxminddb-geolite2: pip install -r tests/geo/requirements.txt")
city = os.path.join(os.path.dirname(_maxminddb_geolite2.__file__), "GeoLite2-City.mmdb")

os.makedirs(a.out, exist_ok=True)
lake = os.path.join(a.out, "lake")
files = os.path.join(a.out, "scenario")
if not os.path.exists(os.path.join(lake, "_flowlake", "manifest.json")):
    blobs = os.path.join(a.out, "blobs")
    run(["gen", "--out", blobs, "--days", str(a.days), "--nics", str(a.nics),
         "--tuples-per-hour", str(a.tuples_per_hour), "--scenario", files])
    run(["ingest", blobs, "--lake", lake, "-q"])
    shutil.rmtree(blobs)
dbs = os.path.join(a.out, "dbs")
subprocess.run([sys.executable, os.path.join(root, "tests/geo/make_mmdb.py"), dbs],
               check=True, capture_output=True)
geo = ["--geo-db", city, "--geo-db", os.path.join(dbs, "asn.mmdb")]

config = os.path.join(files, "flowlake.toml")
result = {"reports": {}}
for kind in ["exfil", "summary"]:
    times = {"plain": [], "geo": []}
    findings = {}
    for _ in range(a.runs):
        for name, extra in [("plain", []), ("geo", geo)]:
            t0 = time.perf_counter()
            out = run(["report", kind, "--lake", lake, "--config", config, "--format", "json"]
                      + extra).stdout
            times[name].append(time.perf_counter() - t0)
            findings[name] = len(json.loads(out)["findings"])
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["geo"] / med["plain"]
    print(f"{kind:8} without {med['plain']:.2f} s, with location databases {med['geo']:.2f} s: "
          f"{ratio:.2f}x (runs {[round(x, 2) for x in times['plain']]} / "
          f"{[round(x, 2) for x in times['geo']]}; findings {findings['plain']} / "
          f"{findings['geo']})", flush=True)
    result["reports"][kind] = {"plain_s": med["plain"], "geo_s": med["geo"], "ratio": ratio,
                               "findings_plain": findings["plain"], "findings_geo": findings["geo"]}
result["tuples"] = json.loads(run(["info", "--lake", lake, "--json"]).stdout)["rows"]
print(json.dumps(result))
