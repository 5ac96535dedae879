#!/usr/bin/env python3
"""`dataset stage` of compressed references (#13/#14) on a single-node Garage: one build against
another (e.g. main before a change), side by side with s5cmd fetching the same stored bytes.

The run: a bf16-like safetensors-sized file (`--mib`, default 256) held twice
(`checkpoint-1/model.safetensors`, `best/model.safetensors`), uploaded with
`--dedup=refs --compress auto` (one byte-plane content object, two references), snapshotted.
Each row stages it into a fresh folder (`--verify checksum`, the default), alternating the
builds and s5cmd, median of `--repeat`:

- `trainctl dataset stage` with `--trainctl` and with `--baseline`: two decoded files of
  `--mib` MiB each, verified against the references' size and CRC64NVME, durable.
- `s5cmd cp 's3://…/run/*'`: the stored objects as they are (references and the compressed
  content, decoded by nobody): the bytes a stage must fetch, as fast as s5cmd fetches them.

Usage: benches/dataset_zrefs_bench.py --trainctl PATH [--baseline PATH] [--mib N] [--repeat R]
Prints a Markdown table (docs/benchmarks.md).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dataset_bench import S5CMD, run, start_garage  # noqa: E402
from watch import create_bench_bucket, s3_client  # noqa: E402

# bf16 N(0, 0.02): the high byte is the sign and the top of a narrow exponent range, the low
# byte nearly random (the exponent's last bit and the mantissa).
HIGH = bytes((0x80 if b & 1 else 0) | (0x3c if b < 100 else 0x3b if b < 170 else 0x3a if b < 215 else 0x39 if b < 240 else 0x3d) for b in range(256))


def write_bf16(path, mib):
    with open(path, "wb") as f:
        for _ in range(mib):
            n = 1 << 19  # elements per MiB
            out = bytearray(2 * n)
            out[0::2] = os.urandom(n)
            out[1::2] = os.urandom(n).translate(HIGH)
            f.write(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainctl", required=True)
    ap.add_argument("--baseline")
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="trainctl-zrefbench-", dir=os.environ.get("TRAINCTL_BENCH_DIR"))
    g, log, env = start_garage(work)
    rows = []
    try:
        create_bench_bucket(s3_client(g))
        src = os.path.join(work, "src", "run")
        for d in ("checkpoint-1", "best"):
            os.makedirs(os.path.join(src, d))
        first = os.path.join(src, "checkpoint-1", "model.safetensors")
        write_bf16(first, a.mib)
        shutil.copy(first, os.path.join(src, "best", "model.safetensors"))
        run([a.trainctl, "-q", "s3", "upload", "-r", src, "s3://bench/run/", "--dedup=refs", "--compress", "auto"], env, log)
        run([a.trainctl, "dataset", "snapshot", "s3://bench/run/", "--name", "zrun", "--version", "v1"], env, log)
        shutil.rmtree(os.path.join(work, "src"))
        stored = sum(o["Size"] for o in s3_client(g).list_objects_v2(Bucket="bench", Prefix="run/")["Contents"])
        print(f"seeded 2 × {a.mib} MiB as {stored / 2**20:.1f} MiB stored", file=sys.stderr, flush=True)

        staged = os.path.join(work, "staged")
        tools = {"trainctl dataset stage (this build)": lambda d: [a.trainctl, "dataset", "stage", "zrun@v1", d, "-q"]}
        if a.baseline:
            tools["trainctl dataset stage (baseline)"] = lambda d: [a.baseline, "dataset", "stage", "zrun@v1", d, "-q"]
        s5 = "s5cmd cp (stored bytes, not decoded)"
        tools[s5] = lambda d: [S5CMD, "--endpoint-url", g.endpoint, "cp", "s3://bench/run/*", d + "/"]
        times = {t: [] for t in tools}
        rss = {t: [] for t in tools}
        for r in range(a.repeat):
            order = list(tools) if r % 2 == 0 else list(reversed(tools))
            for t in order:
                shutil.rmtree(staged, ignore_errors=True)
                subprocess.run(["sync"])
                wall, peak = run(tools[t](staged), env, log)
                times[t].append(wall)
                rss[t].append(peak)
                print((t, round(wall, 2), round(peak)), file=sys.stderr, flush=True)
        base = statistics.median(times[s5])
        for t in tools:
            m = statistics.median(times[t])
            rows.append((t, m, m / base, max(rss[t]), " / ".join(f"{x:.2f}" for x in times[t])))
    finally:
        g.stop()
    print()
    print(f"2 × {a.mib} MiB bf16-like, stored as {stored / 2**20:.1f} MiB (`--dedup=refs --compress auto`)")
    print()
    print("| tool | wall s (median) | vs s5cmd cp | decoded MB/s | peak RSS MB | runs |")
    print("|---|---:|---:|---:|---:|---|")
    for t, m, ratio, peak, runs in rows:
        mbs = "–" if t == s5 else f"{2 * a.mib * 1.048576 / m:.0f}"
        print(f"| {t} | {m:.2f} | {ratio:.2f} | {mbs} | {peak:.0f} | {runs} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
