"""Remote ingest benchmark: `flowlake ingest az://...` from Azurite against `flowlake ingest DIR`
of the same blobs on local disk, in the same run; the same into a lake on Azurite, and its
compaction against a local one; and the cost of listing a window versus the whole container.

Usage: python3 benches/remote_ingest.py [--out bench-out/remote] [--flowlake target/release/flowlake]
                                        [--days 3 --nics 20 --tuples-per-hour 2400] [--runs 3]

Steps: generate the blob tree (`flowlake gen`), start Azurite (from $FLOWLAKE_TOOLS or
~/.cache/flowlake-tools, as scripts/test.sh installs it) on a free loopback port, upload the
tree as Azure block blobs (tests/remote/blobs.py), then per run:
  - local: `ingest DIR` into a new lake;
  - Azurite: `ingest az://CONTAINER` into a new lake;
  - lake on Azurite: `ingest az://CONTAINER --lake az://CONTAINER/lake-N`, then `compact` it and
    a local lake (the same query must give the same answer on both);
  - listing: on the Azurite lake (everything unchanged, so only listing and planning happen),
    `ingest az://CONTAINER` again with and without `--since` for the last day.
Prints medians, the ratio, list calls and objects listed, and the same as JSON on the last line.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
ap = argparse.ArgumentParser()
ap.add_argument("--out", default=os.path.join(root, "bench-out/remote"))
ap.add_argument("--flowlake", default=os.path.join(root, "target/release/flowlake"))
ap.add_argument("--days", type=int, default=3)
ap.add_argument("--nics", type=int, default=20)
ap.add_argument("--tuples-per-hour", type=int, default=2400)
ap.add_argument("--runs", type=int, default=3)
args = ap.parse_args()

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
tools = os.environ.get("FLOWLAKE_TOOLS", os.path.expanduser("~/.cache/flowlake-tools"))
azurite = os.path.join(tools, "node_modules/.bin/azurite-blob")
if not os.path.exists(azurite):
    sys.exit(f"{azurite} not found: run scripts/test.sh once, or npm install --prefix {tools} azurite")
if not os.path.exists(args.flowlake):
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=root, check=True)

shutil.rmtree(args.out, ignore_errors=True)
src = os.path.join(args.out, "blobs")
subprocess.run([args.flowlake, "gen", "--out", src, "--days", str(args.days), "--nics", str(args.nics),
                "--tuples-per-hour", str(args.tuples_per_hour)], check=True, stdout=subprocess.DEVNULL)
json_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(src) for f in fs)

s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
store = os.path.join(args.out, "azurite")
os.makedirs(store)
server = subprocess.Popen([azurite, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--silent",
                           "--skipApiVersionCheck", "--loose", "--location", store],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            break
        except OSError:
            time.sleep(0.1)
    cs = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};"
          f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    t0 = time.perf_counter()
    # whole blobs (not block by block as the growth test does: that is one request per record)
    subprocess.run([sys.executable, os.path.join(root, "tests/remote/blobs.py"), "azure-put-tree", cs, "logs", src, "flowlogs"],
                   check=True)
    n = sum(len(fs) for _, _, fs in os.walk(src))
    print(f"{n} blobs, {json_bytes / 1e6:.0f} MB of JSON, uploaded in {time.perf_counter() - t0:.0f} s", flush=True)
    env = dict(os.environ, AZURE_STORAGE_USE_EMULATOR="true", AZURITE_BLOB_STORAGE_URL=f"http://127.0.0.1:{port}")

    def ingest(source, lake, *extra):
        t = time.perf_counter()
        out = subprocess.run([args.flowlake, "ingest", source, "--lake", lake, "--json", *extra],
                             check=True, capture_output=True, text=True, env=env).stdout
        return time.perf_counter() - t, json.loads(out)

    last_day = subprocess.run(["date", "-u", "-d", f"2026-11-01 + {args.days - 1} days", "+%Y-%m-%d"],
                              check=True, capture_output=True, text=True).stdout.strip()
    def run(*argv):
        t = time.perf_counter()
        out = subprocess.run([args.flowlake, *argv], check=True, capture_output=True, text=True, env=env).stdout
        return time.perf_counter() - t, out

    check = ("SELECT date, count(*) AS n, sum(bytes_src_to_dst) AS b, count(DISTINCT src_ip) AS s "
             "FROM flows GROUP BY date ORDER BY date")
    local_s, remote_s, list_all_s, list_day_s = [], [], [], []
    lake_s, compact_local_s, compact_remote_s = [], [], []
    for i in range(args.runs):
        a = os.path.join(args.out, f"lake-local-{i}")
        b = os.path.join(args.out, f"lake-azurite-{i}")
        t, sl = ingest(src, a)
        local_s.append(t)
        t, sr = ingest("az://logs/flowlogs", b)
        remote_s.append(t)
        assert sl["tuples"] == sr["tuples"], (sl["tuples"], sr["tuples"])
        t, la = ingest("az://logs/flowlogs", b)
        list_all_s.append(t)
        t, ld = ingest("az://logs/flowlogs", b, "--since", last_day)
        list_day_s.append(t)
        c = f"az://logs/lake-{i}"
        t, sc = ingest("az://logs/flowlogs", c)
        lake_s.append(t)
        assert sc["tuples"] == sl["tuples"], (sc["tuples"], sl["tuples"])
        t, _ = run("compact", "--lake", a)
        compact_local_s.append(t)
        t, _ = run("compact", "--lake", c)
        compact_remote_s.append(t)
        want = run("sql", "--lake", a, "--format", "csv", check)[1]
        got = run("sql", "--lake", c, "--format", "csv", check)[1]
        assert want == got, (want, got)
        info = json.loads(run("info", "--lake", c, "--json")[1])
        shutil.rmtree(a)
        shutil.rmtree(b)
        print(f"run {i + 1}: local {local_s[-1]:.2f} s, azurite {remote_s[-1]:.2f} s, "
              f"listing all {list_all_s[-1]:.2f} s, listing {last_day} {list_day_s[-1]:.2f} s, "
              f"into a lake on azurite {lake_s[-1]:.2f} s, compact local {compact_local_s[-1]:.2f} s, "
              f"compact on azurite {compact_remote_s[-1]:.2f} s", flush=True)
    med = statistics.median
    result = {
        "blobs": int(n), "json_mb": json_bytes / 1e6, "tuples": sr["tuples"],
        "local_s": med(local_s), "azurite_s": med(remote_s), "ratio_local_over_azurite": med(local_s) / med(remote_s),
        "azurite_mb_per_s": json_bytes / 1e6 / med(remote_s), "local_mb_per_s": json_bytes / 1e6 / med(local_s),
        "list_all": {"s": med(list_all_s), "requests": la["list_requests"], "objects": la["objects_listed"]},
        "list_last_day": {"s": med(list_day_s), "requests": ld["list_requests"], "objects": ld["objects_listed"]},
        "lake_on_azurite_s": med(lake_s), "ratio_local_over_lake_on_azurite": med(local_s) / med(lake_s),
        "compact_local_s": med(compact_local_s), "compact_azurite_s": med(compact_remote_s),
        "ratio_compact_local_over_azurite": med(compact_local_s) / med(compact_remote_s),
        "lake_files_after_compact": info["files"],
        "largest_file_mb": max(f["bytes"] for fs in info["partitions"].values() for f in fs) / 1e6,
    }
    print(f"ingest {result['tuples']:,} tuples: local {result['local_s']:.2f} s ({result['local_mb_per_s']:.0f} MB/s), "
          f"Azurite {result['azurite_s']:.2f} s ({result['azurite_mb_per_s']:.0f} MB/s): "
          f"Azurite runs at {result['ratio_local_over_azurite']:.2f} of local speed")
    print(f"listing the whole container: {la['list_requests']} list calls, {la['objects_listed']} objects, {med(list_all_s):.2f} s; "
          f"the last day (--since {last_day}): {ld['list_requests']} calls, {ld['objects_listed']} objects, {med(list_day_s):.2f} s")
    print(f"into a lake on Azurite: {result['lake_on_azurite_s']:.2f} s ({result['ratio_local_over_lake_on_azurite']:.2f} of the "
          f"all-local speed); compaction: local {result['compact_local_s']:.2f} s, on Azurite {result['compact_azurite_s']:.2f} s "
          f"({result['ratio_compact_local_over_azurite']:.2f})")
    print(json.dumps(result))
finally:
    server.terminate()
    server.wait()
