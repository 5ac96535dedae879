#!/usr/bin/env python3
"""A/B lab of one download row: trainctl builds against raw s5cmd, alternating, with the CPU of
each tool *and* of the Garage server while it ran (on a 2-core machine the server's CPU is wall
time too). Used for issue 15's small-file work (docs/benchmarks.md, "Our own HTTP client").

    python3 benches/download_lab.py BUILD_A [BUILD_B …] [--repeat 11] [--big] [--md5] [--rtt MS]

A "build" is a trainctl binary or a wrapper script (e.g. one that sets an environment variable
and execs a binary). Each round runs every tool once, in alternating order; "paired" is the
median of the per-round ratios to s5cmd. Data: 1000 × 1 MiB (or 1 × 2 GiB with --big), uploaded
by the first build with a CRC64NVME checksum, as trainctl writes it (--md5: with none, as other
tools leave a bucket). --rtt puts the testkit's trainctl-proxy (from the release target dir, or
$TRAINCTL_PROXY) in front of Garage.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dataset_bench import S5CMD, start_garage, write_random  # noqa: E402
from watch import create_bench_bucket, s3_client  # noqa: E402


def garage_cpu():
    """User+sys seconds of every running garage process."""
    total = 0
    for pid in subprocess.run(["pgrep", "-x", "garage"], capture_output=True, text=True).stdout.split():
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("builds", nargs="+")
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--big", action="store_true", help="1 × 2 GiB instead of 1000 × 1 MiB")
    ap.add_argument("--md5", action="store_true", help="objects uploaded without a checksum: trainctl verifies them by MD5")
    ap.add_argument("--rtt", type=int, default=0, help="round-trip time in ms through trainctl-proxy")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="trainctl-dllab-")
    g, log, env = start_garage(work)
    proxy = None

    def run(cmd):
        t0, g0 = time.time(), garage_cpu()
        with open(log, "ab") as out:
            p = subprocess.Popen(cmd, env=env, stdout=out, stderr=out)
            _, status, usage = os.wait4(p.pid, 0)
        if status != 0:
            sys.exit(f"{cmd[0]} failed: see {log}")
        return time.time() - t0, usage.ru_utime + usage.ru_stime, garage_cpu() - g0

    try:
        create_bench_bucket(s3_client(g))
        name = "big" if a.big else "small"
        src = os.path.join(work, "src", name)
        os.makedirs(src)
        if a.big:
            write_random(os.path.join(src, "train.bin"), 2048 << 20)
        else:
            for i in range(1000):
                write_random(os.path.join(src, f"shard-{i:05d}.bin"), 1 << 20)
        subprocess.run([a.builds[0], "-q", "s3", "upload", src, f"s3://bench/lab/{name}/", "--recursive", "--upload-checksum", "off" if a.md5 else "crc64nvme"], env=env, check=True)
        shutil.rmtree(src)
        endpoint = g.endpoint
        if a.rtt:
            here = os.path.dirname(os.path.abspath(__file__))
            target = os.environ.get("CARGO_TARGET_DIR", os.path.join(here, "..", "target"))
            binary = os.environ.get("TRAINCTL_PROXY") or os.path.join(target, "release", "trainctl-proxy")
            proxy = subprocess.Popen([binary, "--upstream", g.endpoint.split("//")[1], "--rtt-ms", str(a.rtt)], stdout=subprocess.PIPE, text=True)
            endpoint = "http://" + proxy.stdout.readline().split()[-1]
            env["AWS_ENDPOINT_URL"] = endpoint
        dest = os.path.join(work, "out")
        # The benchmark's settings: 16 requests at a time, 32 MiB parts, for every tool.
        tools = {f"build {i}": [b, "-q", "s3", "download", f"s3://bench/lab/{name}/", dest, "--recursive", "--engine", "native", "--concurrency", "16", "--part-size", "32"] for i, b in enumerate(a.builds)}
        per_file = "16" if a.big else "2"
        tools["s5cmd"] = [S5CMD, "--endpoint-url", endpoint, "--numworkers", "16", "cp", "--concurrency", per_file, "--part-size", "32", f"s3://bench/lab/{name}/*", dest + "/"]
        results = {t: [] for t in tools}
        for r in range(a.repeat):
            for t in list(tools) if r % 2 == 0 else list(reversed(list(tools))):
                shutil.rmtree(dest, ignore_errors=True)
                subprocess.run(["sync"])
                time.sleep(0.5)
                results[t].append(run(tools[t]))
        ref = [x[0] for x in results["s5cmd"]]
        for i, b in enumerate(a.builds):
            print(f"build {i} = {b}")
        print("| tool | wall s (median) | paired vs s5cmd | tool CPU s | Garage CPU s |\n|---|---:|---:|---:|---:|")
        for t, rs in results.items():
            walls = [x[0] for x in rs]
            paired = statistics.median(w / s for w, s in zip(walls, ref))
            print(f"| {t} | {statistics.median(walls):.2f} | {paired:.3f} | {statistics.median(x[1] for x in rs):.2f} | {statistics.median(x[2] for x in rs):.2f} |", flush=True)
    finally:
        if proxy:
            proxy.kill()
        g.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
