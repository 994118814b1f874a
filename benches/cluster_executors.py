"""Cluster benchmark: the same reports on one process, and on a flowlake cluster of one and
two executors, over a lake on S3 (moto's server on loopback).

Usage: python3 benches/cluster_executors.py [--flowlake target/release/flowlake] [--out bench-out/cluster]
                                          [--days 4] [--nics 16] [--tuples-per-hour 2400] [--runs 3]

Generates the scenario (`flowlake gen --scenario`), ingests it into s3://flowbench/lake, then for
each layout starts `flowlake cluster scheduler` and its executors on free loopback ports and
times each report (`flowlake report KIND --format json`, whole process) three times; every
layout's JSON must equal the single process's (but `generated_at`). Layouts: one process (no
cluster), 1 executor x 1 slot, 1 executor x 2 slots, 2 executors x 1 slot. Prints a table of
medians and the same as JSON on the last line.
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
ap.add_argument("--flowlake", default=os.path.join(root, "target/release/flowlake"))
ap.add_argument("--out", default=os.path.join(root, "bench-out/cluster"))
ap.add_argument("--days", type=int, default=4)
ap.add_argument("--nics", type=int, default=16)
ap.add_argument("--tuples-per-hour", type=int, default=2400)
ap.add_argument("--runs", type=int, default=3)
args = ap.parse_args()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what):
    t0 = time.time()
    while True:
        if proc.poll() is not None:
            sys.exit(f"{what} exited")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.time() - t0 > 60:
            sys.exit(f"{what} did not listen on {port}")
        time.sleep(0.1)


shutil.rmtree(args.out, ignore_errors=True)
os.makedirs(args.out)
moto_port = free_port()
moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
procs = [moto]
try:
    wait_port(moto_port, moto, "moto")
    env = dict(os.environ, AWS_ENDPOINT=f"http://127.0.0.1:{moto_port}", AWS_ALLOW_HTTP="true",
               AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1",
               RUST_LOG="warn")
    import boto3
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT"], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test").create_bucket(Bucket="flowbench")
    blobs, scenario = os.path.join(args.out, "blobs"), os.path.join(args.out, "scenario")
    subprocess.run([args.flowlake, "gen", "--out", blobs, "--days", str(args.days), "--nics", str(args.nics),
                    "--tuples-per-hour", str(args.tuples_per_hour), "--scenario", scenario],
                   check=True, stdout=subprocess.DEVNULL)
    lake = "s3://flowbench/lake"
    ing = json.loads(subprocess.run([args.flowlake, "ingest", blobs, "--lake", lake, "--json"], env=env,
                                    check=True, capture_output=True, text=True).stdout)
    config = os.path.join(scenario, "flowlake.toml")
    kinds = ["summary", "exfil", "exposure", "rules"]

    def report(kind, cluster):
        cmd = [args.flowlake, "report", kind, "--lake", lake, "--config", config, "--format", "json"]
        if cluster:
            cmd += ["--cluster", cluster]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        secs = time.perf_counter() - t0
        if out.returncode not in (0, 4):
            sys.exit(f"{' '.join(cmd)}: {out.stderr}")
        doc = json.loads(out.stdout)
        doc.pop("generated_at", None)
        return secs, doc

    def start_cluster(executors, slots):
        port = free_port()
        s = subprocess.Popen([args.flowlake, "cluster", "scheduler", "--bind", f"127.0.0.1:{port}"], env=env,
                             stderr=subprocess.DEVNULL)
        nodes = [s]
        wait_port(port, s, "scheduler")
        for _ in range(executors):
            flight = free_port()
            e = subprocess.Popen([args.flowlake, "cluster", "executor", "--scheduler", f"127.0.0.1:{port}",
                                  "--bind-host", "127.0.0.1", "--port", str(flight),
                                  "--slots", str(slots)], env=env, stderr=subprocess.DEVNULL)
            nodes.append(e)
            wait_port(flight, e, "executor")
        time.sleep(1)  # the executors' first polls
        return f"df://127.0.0.1:{port}", nodes

    layouts = [("one process", 0, 0), ("1 executor x 1 slot", 1, 1), ("1 executor x 2 slots", 1, 2),
               ("2 executors x 1 slot", 2, 1)]
    want = {k: report(k, None)[1] for k in kinds}
    results = {}
    for name, executors, slots in layouts:
        cluster, nodes = (None, []) if executors == 0 else start_cluster(executors, slots)
        procs.extend(nodes)
        try:
            for k in kinds:
                times = []
                for _ in range(args.runs):
                    secs, doc = report(k, cluster)
                    assert doc == want[k], (name, k)
                    times.append(secs)
                results.setdefault(name, {})[k] = statistics.median(times)
        finally:
            for n in nodes:
                n.kill()
                n.wait()
    print(f"lake: {ing['tuples']} tuples, {args.days} days, {args.nics} NICs on S3 (moto); "
          f"medians of {args.runs} runs, seconds; every layout's reports equal the single process's")
    print(f"{'layout':<24}" + "".join(f"{k:>10}" for k in kinds))
    for name, _, _ in layouts:
        print(f"{name:<24}" + "".join(f"{results[name][k]:>10.2f}" for k in kinds))
    print(json.dumps({"tuples": ing["tuples"], "medians_s": results}))
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
