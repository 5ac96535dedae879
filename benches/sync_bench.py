#!/usr/bin/env python3
"""Two-way sync benchmark (#12): `trainctl s3 sync --direction both` side by side with
`rclone bisync` on the same trees, on a single-node Garage, direct and through the testkit's
latency proxy (20 ms RTT).

Each tool gets its own folder and prefix with the same N files (`dNNN/fNNNNNN.bin`, 64 bytes):
the first pass (trainctl: a union; rclone: `--resync`) uploads them. Then, per tool:
- a no-change pass (wall time; requests counted by the SERVER: Garage's admin /metrics
  `api_s3_request_counter` per endpoint; peak RSS from /usr/bin/time);
- a pass after C files changed locally (new content, same names).
Both again through the proxy (wall time shows the round trips; rclone first gets an untimed
`--resync` there, as it keys its saved listings by the endpoint).

Usage: benches/sync.sh [--trainctl PATH] [--files N] [--changed C] [--skip-latency]
Prints Markdown tables (docs/benchmarks.md).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from watch import Garage, create_bench_bucket, env_for, free_port, s3_client  # noqa: E402


def counts(g):
    """Requests per S3 endpoint so far, from Garage's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{g.admin}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("api_s3_request_counter{"):
            ep = line.split('api_endpoint="', 1)[1].split('"', 1)[0]
            out[ep] = out.get(ep, 0) + float(line.rsplit(" ", 1)[1])
    return out


def delta(a, b):
    return {k: int(b.get(k, 0) - a.get(k, 0)) for k in set(a) | set(b) if b.get(k, 0) - a.get(k, 0) > 0}


def make_tree(root, n):
    for i in range(n):
        d = os.path.join(root, f"d{i // 1000:03d}")
        if i % 1000 == 0:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
            f.write(f"{i:063d}\n".encode())


def change(root, n, round_):
    for i in range(0, n):
        with open(os.path.join(root, f"d{i // 1000:03d}", f"f{i:06d}.bin"), "wb") as f:
            f.write(f"changed {round_} {i:054d}\n".encode())


class Proxy:
    def __init__(self, proxy_bin, upstream, rtt_ms):
        port = free_port()
        host = upstream.split("//", 1)[1]
        self.proc = subprocess.Popen([proxy_bin, "--listen", f"127.0.0.1:{port}", "--upstream", host, "--rtt-ms", str(rtt_ms)],
                                     stdout=subprocess.PIPE, text=True)
        self.proc.stdout.readline()
        self.endpoint = f"http://127.0.0.1:{port}"

    def stop(self):
        self.proc.terminate()


def timed(cmd, env, log):
    """Runs `cmd` under /usr/bin/time; returns (wall seconds, peak RSS MB)."""
    rss_file = log + ".rss"
    t0 = time.time()
    with open(log, "ab") as out:
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file, *cmd], env=env, stdout=out, stderr=subprocess.STDOUT)
    wall = time.time() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}): see {log}")
    with open(rss_file) as f:
        rss = int(f.read().split()[-1]) / 1024
    return wall, rss


def tools(a, g, work, endpoint):
    env = dict(env_for(g), AWS_ENDPOINT_URL=endpoint, XDG_STATE_HOME=os.path.join(work, "state"), HOME=work)
    env.update(RCLONE_CONFIG_G_TYPE="s3", RCLONE_CONFIG_G_PROVIDER="Other", RCLONE_CONFIG_G_ACCESS_KEY_ID=g.key,
               RCLONE_CONFIG_G_SECRET_ACCESS_KEY=g.secret, RCLONE_CONFIG_G_ENDPOINT=endpoint, RCLONE_CONFIG_G_REGION=g.region,
               RCLONE_CONFIG_G_FORCE_PATH_STYLE="true", RCLONE_CONFIG="/dev/null")
    # rclone's S3 client refuses a custom CA bundle with its own transport (loopback is plain HTTP).
    env.pop("AWS_CA_BUNDLE", None)
    wanted = [t.strip() for t in a.tools.split(",")]
    tl = os.path.join(work, "t-local")
    rl = os.path.join(work, "r-local")
    wrap = []
    if a.heaptrack:
        os.makedirs(a.heaptrack, exist_ok=True)
        wrap = ["heaptrack", "-o"]
    runs = iter(range(1, 1000))
    cmds = {
        "trainctl": lambda extra=(): [*wrap, *([os.path.join(a.heaptrack, f"trainctl.{next(runs)}")] if wrap else []), a.trainctl, "s3", "sync", tl, "s3://bench/t/", "--direction", "both", "--yes", "-q", *extra],
        "rclone bisync": lambda extra=(): ["rclone", "bisync", rl, "g:bench/r", "--workdir", os.path.join(work, "rclone-bisync"), *extra],
    }
    return env, {k: v for k, v in cmds.items() if k in wanted}, {"trainctl": tl, "rclone bisync": rl}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainctl", required=True)
    ap.add_argument("--proxy", required=True)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--changed", type=int, default=1_000)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--tools", default="trainctl,rclone bisync", help="comma-separated subset of: trainctl, rclone bisync")
    ap.add_argument("--heaptrack", metavar="DIR", help="run trainctl under heaptrack, profiles in DIR (memory hunts; wall times then mean nothing)")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="trainctl-syncbench-")
    os.makedirs(os.path.join(work, "garage"))
    g = Garage(os.path.join(work, "garage"))
    rows = []
    try:
        create_bench_bucket(s3_client(g))
        env, cmd, local = tools(a, g, work, g.endpoint)
        for d in [local[n] for n in cmd]:
            make_tree(d, a.files)
        log = os.path.join(work, "runs.log")
        first = {"trainctl": (), "rclone bisync": ("--resync",)}
        for name in cmd:
            c0 = counts(g)
            wall, rss = timed(cmd[name](first[name]), env, log)
            rows.append(("direct", f"first pass ({a.files:,} new files up)", name, wall, rss, delta(c0, counts(g))))
            print(rows[-1], flush=True)
        links = [("direct", g.endpoint)]
        if not a.skip_latency:
            links.append(("20 ms RTT", None))
        for round_, (link, endpoint) in enumerate(links):
            proxy = None
            if endpoint is None:
                proxy = Proxy(a.proxy, g.endpoint, 20)
                endpoint = proxy.endpoint
            env, cmd, local = tools(a, g, work, endpoint)
            if proxy:
                # rclone bisync names its saved listings after the remote's config, endpoint
                # included: through the proxy it finds none and refuses ("must run --resync").
                # One untimed --resync (both sides equal: nothing copied) gives it them again.
                if "rclone bisync" in cmd:
                    timed(cmd["rclone bisync"](("--resync",)), env, log)
                # trainctl keys a pair by (folder, endpoint, bucket, prefix) too: through the
                # proxy its first pass is a first pass (both sides compared, nothing copied).
                # That pass is a row of its own (a first pass with both sides equal: every file
                # compared, nothing copied); it leaves the snapshot, so the next row is a no-change pass.
                if "trainctl" in cmd:
                    c0 = counts(g)
                    wall, rss = timed(cmd["trainctl"](), env, log)
                    rows.append((link, f"first pass, both sides equal ({a.files:,} files)", "trainctl", wall, rss, delta(c0, counts(g))))
                    print(rows[-1], flush=True)
            for name in cmd:
                c0 = counts(g)
                wall, rss = timed(cmd[name](), env, log)
                rows.append((link, f"no change ({a.files:,} files)", name, wall, rss, delta(c0, counts(g))))
                print(rows[-1], flush=True)
            for name in cmd:
                change(local[name], a.changed, round_)
                c0 = counts(g)
                wall, rss = timed(cmd[name](), env, log)
                rows.append((link, f"{a.changed:,} files changed locally", name, wall, rss, delta(c0, counts(g))))
                print(rows[-1], flush=True)
            if proxy:
                proxy.stop()
    finally:
        g.stop()
    print()
    print("| link | pass | tool | wall s | vs rclone | peak RSS MB | LIST | HEAD | PUT | GET | other requests |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    by = {(r[0], r[1], r[2]): r for r in rows}
    for link, what, name, wall, rss, req in rows:
        other = by.get((link, what, "rclone bisync"))
        ratio = f"{wall / other[3]:.2f}" if other and other[3] > 0 else "–"
        rest = {k: v for k, v in req.items() if k not in ("ListObjectsV2", "HeadObject", "PutObject", "GetObject")}
        print(f"| {link} | {what} | {name} | {wall:.2f} | {ratio} | {rss:.0f} | {req.get('ListObjectsV2', 0)} | {req.get('HeadObject', 0)} | "
              f"{req.get('PutObject', 0)} | {req.get('GetObject', 0)} | {', '.join(f'{k} {v}' for k, v in sorted(rest.items())) or '–'} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
