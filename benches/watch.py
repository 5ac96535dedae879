#!/usr/bin/env python3
"""Watch benchmark (#6): what an idle `trainctl s3 watch` costs on a 100,000-object prefix, and
how fast it sees a new checkpoint — by polling, and (optionally) from S3 Event Notifications.

Polling (default server: Garage, which seeds 100k objects with s5cmd in ~2 min; moto took 16):
- LIST requests per idle poll, counted by the SERVER: Garage's admin /metrics
  (`api_s3_request_counter{api_endpoint="ListObjectsV2"}`), or moto's request log with
  `--server moto`. No client instrumentation.
- Detection latency: a new checkpoint (4 shards, put by boto3) → the `watch_checkpoint` JSON
  line, measured from the moment its last shard was stored. Target: <= interval + 2 s.
- Watcher CPU while idle: utime+stime from /proc/<pid>/stat over the idle window.

The prefix: N/4 checkpoint directories `step_NNNNNN/` x 4 safetensors shards, uploaded once
with `s5cmd cp` of a local tree of 1-byte files.

`--sqs-objects N` (N > 0) adds the event mode on moto_server (Garage has no notifications):
`--setup-events` wires bucket → queue, then the latency of the same kind of new checkpoint and
the LIST requests while idle (counted in moto's log; the target is 0).

Usage: benches/watch.sh [--trainctl PATH] [--interval S] [--objects N] [--server garage|moto]
       [--sqs-objects N]. Prints Markdown tables.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3
from botocore.config import Config

SHARDS = 4


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Garage:
    """A throwaway single-node Garage with its admin API (for /metrics)."""

    def __init__(self, work):
        self.bin = os.environ.get("GARAGE_BIN") or shutil.which("garage") or os.path.expanduser("~/.cargo/bin/garage")
        s3p, rpcp, self.admin = free_port(), free_port(), free_port()
        self.conf = os.path.join(work, "garage.toml")
        with open(self.conf, "w") as f:
            f.write(f"""metadata_dir = "{work}/meta"
data_dir = "{work}/data"
db_engine = "lmdb"
replication_factor = 1
compression_level = "none"
rpc_bind_addr = "127.0.0.1:{rpcp}"
rpc_public_addr = "127.0.0.1:{rpcp}"
rpc_secret = "{secrets.token_hex(32)}"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3p}"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:{self.admin}"
""")
        self.proc = subprocess.Popen([self.bin, "-c", self.conf, "server"], stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "garage.log"), "w"),
                                     env=dict(os.environ, RUST_LOG="garage=warn"))
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/health", timeout=1)
                break
            except Exception:
                time.sleep(0.2)
        node = self.g("node", "id", "-q").split("@")[0].strip()
        self.g("layout", "assign", "-z", "dc1", "-c", "10G", node)
        self.g("layout", "apply", "--version", "1")
        info = self.g("key", "create", "bench")
        self.g("key", "allow", "--create-bucket", "bench")
        self.key = re.search(r"Key ID:\s*(\S+)", info).group(1)
        self.secret = re.search(r"Secret key:\s*(\S+)", info).group(1)
        self.endpoint = f"http://127.0.0.1:{s3p}"
        self.region = "garage"

    def g(self, *args):
        return subprocess.run([self.bin, "-c", self.conf, *args], check=True, capture_output=True, text=True).stdout

    def lists(self):
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=5).read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("api_s3_request_counter{") and 'api_endpoint="ListObjectsV2"' in line)

    def stop(self):
        self.proc.terminate()


class Moto:
    """moto_server with its request log (one line per request; `list-type=2` = ListObjectsV2)."""

    def __init__(self, work):
        port = free_port()
        self.log = os.path.join(work, "moto.log")
        self.proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        self.endpoint = f"http://127.0.0.1:{port}"
        self.key, self.secret, self.region = "bench", "bench-secret", "us-east-1"

    def lists(self):
        with open(self.log, errors="replace") as f:
            return sum(1 for line in f if "list-type=2" in line)

    def stop(self):
        self.proc.terminate()


def env_for(server):
    return dict(os.environ, AWS_ACCESS_KEY_ID=server.key, AWS_SECRET_ACCESS_KEY=server.secret, AWS_REGION=server.region,
                AWS_DEFAULT_REGION=server.region, AWS_ENDPOINT_URL=server.endpoint, AWS_EC2_METADATA_DISABLED="true",
                AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")


def s3_client(server):
    return boto3.client("s3", endpoint_url=server.endpoint, region_name=server.region, aws_access_key_id=server.key,
                        aws_secret_access_key=server.secret, config=Config(s3={"addressing_style": "path"}))


def create_bench_bucket(s3):
    """Creates the bucket `bench`, retrying while a just-started server is not ready yet."""
    for _ in range(100):
        try:
            s3.create_bucket(Bucket="bench")
            return
        except Exception:
            time.sleep(0.2)


def seed(server, s3, work, objects):
    create_bench_bucket(s3)
    dirs = objects // SHARDS
    tree = os.path.join(work, "tree")
    t0 = time.time()
    for d in range(1, dirs + 1):
        dd = os.path.join(tree, f"step_{d:06d}")
        os.makedirs(dd)
        for s in range(1, SHARDS + 1):
            with open(os.path.join(dd, f"model-{s:05d}-of-{SHARDS:05d}.safetensors"), "wb") as f:
                f.write(b"x")
    s5 = os.environ.get("TRAINCTL_S5CMD") or shutil.which("s5cmd")
    subprocess.run([s5, "--endpoint-url", server.endpoint, "--numworkers", "64", "cp", tree + "/", "s3://bench/run/"],
                   env=env_for(server), check=True, stdout=subprocess.DEVNULL)
    print(f"seeded {dirs * SHARDS} objects in {time.time() - t0:.0f}s", file=sys.stderr)
    return dirs


class WatchProc:
    def __init__(self, trainctl, server, extra):
        self.p = subprocess.Popen([trainctl, "--json", "s3", "watch", "s3://bench/run/", *extra], env=env_for(server),
                                  stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        self.events = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            v = json.loads(line)
            v["_t"] = time.time()
            with self.cond:
                self.events.append(v)
                self.cond.notify_all()

    def wait_for(self, pred, timeout):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for v in self.events:
                    if pred(v):
                        return v
                left = deadline - time.time()
                if left <= 0:
                    raise SystemExit(f"timed out; events: {self.events[-5:]}")
                self.cond.wait(left)

    def stop(self):
        self.p.terminate()


def measure(a, server, s3, dirs, extra, label):
    """Start a watch, measure first look, idle LISTs and CPU, and latency of new checkpoints."""
    w = WatchProc(a.trainctl, server, ["--interval", str(a.interval), "--stall-after", "1000000", *extra])
    try:
        lists_before = server.lists()
        t_start = time.time()
        started = w.wait_for(lambda v: v["event"] == "watch_started", 900)
        first_look = started["_t"] - t_start
        lists_at_start = server.lists() - lists_before
        time.sleep(a.interval * 1.5)
        l0, c0, w0 = server.lists(), cpu_secs(w.p.pid), time.time()
        time.sleep(a.interval * a.idle_polls)
        l1, c1, w1 = server.lists(), cpu_secs(w.p.pid), time.time()
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
            seen = w.wait_for(lambda v, st=step: v["event"] == "watch_checkpoint" and v.get("step") == st, a.interval + 60)
            latencies.append(seen["_t"] - stored)
        return dict(label=label, objects=dirs * SHARDS, mode=started["mode"], first_look=first_look, lists_at_start=lists_at_start,
                    polls=polls, per_poll=per_poll, cpu=cpu_pct, lat=latencies)
    finally:
        w.stop()


def table(r, a, server_name):
    print(f"\n{r['label']}\n")
    print("| figure | value | target |")
    print("|---|---|---|")
    print(f"| objects under the watched prefix | {r['objects']:,} | |")
    print(f"| mode | `{r['mode']}` | |")
    print(f"| first look (baseline listing + detection) | {r['first_look']:.1f} s, {r['lists_at_start']:.0f} LIST requests | |")
    target = "0" if r["mode"] == "events" else "1"
    print(f"| LIST requests per idle interval ({server_name}, {r['polls']} intervals) | {r['per_poll']:.2f} | {target} |")
    print(f"| watcher CPU while idle (interval {a.interval:g} s) | {r['cpu']:.2f} % of one core | ~0 |")
    lat = r["lat"]
    print(f"| detection latency, {len(lat)} new checkpoints (max / mean) | {max(lat):.2f} s / {sum(lat) / len(lat):.2f} s | <= {a.interval + 2:g} s |")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trainctl", required=True)
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--objects", type=int, default=100_000)
    p.add_argument("--server", choices=["garage", "moto"], default="garage")
    p.add_argument("--idle-polls", type=int, default=12)
    p.add_argument("--checkpoints", type=int, default=3, help="new checkpoints for the latency figure")
    p.add_argument("--sqs-objects", type=int, default=0, help="also measure the SQS event mode on moto with this many objects")
    a = p.parse_args()

    if a.objects > 0:
        work = tempfile.mkdtemp(prefix="trainctl-watch-bench-")
        server = Garage(work) if a.server == "garage" else Moto(work)
        try:
            s3 = s3_client(server)
            dirs = seed(server, s3, work, a.objects)
            r = measure(a, server, s3, dirs, [], f"Polling on {a.server}")
            table(r, a, "Garage /metrics" if a.server == "garage" else "moto log")
        finally:
            server.stop()
            shutil.rmtree(work, ignore_errors=True)

    if a.sqs_objects > 0:
        work = tempfile.mkdtemp(prefix="trainctl-watch-bench-sqs-")
        server = Moto(work)
        try:
            s3 = s3_client(server)
            dirs = seed(server, s3, work, a.sqs_objects)
            sqs = boto3.client("sqs", endpoint_url=server.endpoint, region_name=server.region, aws_access_key_id=server.key, aws_secret_access_key=server.secret)
            queue = sqs.create_queue(QueueName="bench-events")["QueueUrl"]
            subprocess.run([a.trainctl, "s3", "watch", "s3://bench/run/", "--events", queue, "--setup-events", "--yes"],
                           env=env_for(server), check=True, stdout=subprocess.DEVNULL)
            r = measure(a, server, s3, dirs, ["--events", queue], "Events (SQS) on moto")
            table(r, a, "moto log")
        finally:
            server.stop()
            shutil.rmtree(work, ignore_errors=True)


def cpu_secs(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


if __name__ == "__main__":
    main()
