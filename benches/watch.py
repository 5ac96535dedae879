#!/usr/bin/env python3
"""Watch benchmark (#6): what an idle `trainctl s3 watch` costs on a 100,000-object prefix, and
how fast it sees a new checkpoint.

- LIST requests per idle poll, counted by the SERVER: moto_server's own request log (one werkzeug
  line per request; `list-type=2` marks ListObjectsV2). No client instrumentation.
- Detection latency: a new checkpoint (4 shards, put by boto3) → the `watch_checkpoint` JSON line,
  measured from the moment its last shard was stored. Target: <= interval + 2 s.
- Watcher CPU while idle: utime+stime from /proc/<pid>/stat over the idle window.

The prefix: 25,000 checkpoint directories `step_NNNNNN/` x 4 safetensors shards = 100,000
objects, uploaded once with `s5cmd cp` of a local tree of tiny files (the fastest way in).
Usage: benches/watch.sh [--trainctl PATH] [--interval S] [--objects N]. Prints a Markdown table.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from botocore.config import Config

SHARDS = 4


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trainctl", required=True)
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--objects", type=int, default=100_000)
    p.add_argument("--idle-polls", type=int, default=12)
    p.add_argument("--checkpoints", type=int, default=3, help="new checkpoints for the latency figure")
    a = p.parse_args()

    work = tempfile.mkdtemp(prefix="trainctl-watch-bench-")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench-secret", AWS_REGION="us-east-1",
               AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint, AWS_EC2_METADATA_DISABLED="true")
    log_path = os.path.join(work, "moto.log")
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    watch = None
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                          aws_secret_access_key="bench-secret", config=Config(s3={"addressing_style": "path"}))
        for _ in range(100):
            try:
                s3.create_bucket(Bucket="bench")
                break
            except Exception:
                time.sleep(0.2)
        dirs = a.objects // SHARDS
        tree = os.path.join(work, "tree")
        t0 = time.time()
        for d in range(1, dirs + 1):
            dd = os.path.join(tree, f"step_{d:06d}")
            os.makedirs(dd)
            for s in range(1, SHARDS + 1):
                with open(os.path.join(dd, f"model-{s:05d}-of-{SHARDS:05d}.safetensors"), "wb") as f:
                    f.write(b"x")
        subprocess.run(["s5cmd", "--endpoint-url", endpoint, "--numworkers", "64", "cp", tree + "/", "s3://bench/run/"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"seeded {dirs * SHARDS} objects in {time.time() - t0:.0f}s", file=sys.stderr)

        out_path = os.path.join(work, "watch.jsonl")
        watch = subprocess.Popen([a.trainctl, "--json", "s3", "watch", "s3://bench/run/", "--interval", str(a.interval),
                                  "--stall-after", "1000000"], env=env, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        events = []
        cond = threading.Condition()

        def reader():
            for line in watch.stdout:
                v = json.loads(line)
                v["_t"] = time.time()
                with cond:
                    events.append(v)
                    cond.notify_all()

        threading.Thread(target=reader, daemon=True).start()

        def wait_for(pred, timeout):
            deadline = time.time() + timeout
            with cond:
                while True:
                    for v in events:
                        if pred(v):
                            return v
                    left = deadline - time.time()
                    if left <= 0:
                        raise SystemExit(f"timed out; events: {events[-5:]}")
                    cond.wait(left)

        t_start = time.time()
        started = wait_for(lambda v: v["event"] == "watch_started", 600)
        first_look = started["_t"] - t_start
        lists_at_start = count_lists(log_path)

        # Idle: let a couple of polls pass, then count over a whole number of polls.
        time.sleep(a.interval * 1.5)
        l0, c0, w0 = count_lists(log_path), cpu_secs(watch.pid), time.time()
        time.sleep(a.interval * a.idle_polls)
        l1, c1, w1 = count_lists(log_path), cpu_secs(watch.pid), time.time()
        polls = round((w1 - w0) / a.interval)
        per_poll = (l1 - l0) / polls
        cpu_pct = 100.0 * (c1 - c0) / (w1 - w0)

        latencies = []
        for i in range(a.checkpoints):
            time.sleep(a.interval * (0.3 + 0.3 * i))  # land at different points of the poll cycle
            step = dirs + 1 + i
            for s in range(1, SHARDS + 1):
                s3.put_object(Bucket="bench", Key=f"run/step_{step:06d}/model-{s:05d}-of-{SHARDS:05d}.safetensors", Body=b"x")
            stored = time.time()
            seen = wait_for(lambda v, st=step: v["event"] == "watch_checkpoint" and v.get("step") == st, a.interval + 60)
            latencies.append(seen["_t"] - stored)
        mode = started["mode"]
        print("| figure | value | target |")
        print("|---|---|---|")
        print(f"| objects under the watched prefix | {dirs * SHARDS:,} | |")
        print(f"| polling mode | `{mode}` | `start_after` |")
        print(f"| first look (baseline listing + detection) | {first_look:.1f} s, {lists_at_start} LIST requests | |")
        print(f"| LIST requests per idle poll (server log, {polls} polls) | {per_poll:.2f} | 1 |")
        print(f"| watcher CPU while idle (interval {a.interval:g} s) | {cpu_pct:.2f} % of one core | ~0 |")
        print(f"| detection latency, {len(latencies)} new checkpoints (max / mean) | {max(latencies):.2f} s / {sum(latencies) / len(latencies):.2f} s | <= {a.interval + 2:g} s |")
    finally:
        if watch:
            watch.terminate()
        moto.terminate()


def count_lists(log_path):
    with open(log_path, errors="replace") as f:
        return sum(1 for line in f if "list-type=2" in line)


def cpu_secs(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


if __name__ == "__main__":
    main()
