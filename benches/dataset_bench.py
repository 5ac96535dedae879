#!/usr/bin/env python3
"""Dataset staging and full verification (#13) on a single-node Garage, side by side with s5cmd.

- `trainctl dataset stage NAME@v1 DIR` (verification `checksum`, the default: every file's
  ETag checked; and `--verify full`: every byte re-hashed) against `s5cmd cp 's3://…/*' DIR/`
  (which verifies nothing), for 1000 × 1 MiB and 1 × 2 GiB. Each run stages into a fresh folder
  on the same disk; the tools alternate; median of `--repeat` runs.
- `trainctl dataset verify big@v1 DIR --level full` of the staged 2 GiB copy with the hash cache
  removed: pinned to one core (`taskset -c 0`) and on every core, with `md5sum` of the same file
  as "one core's hashing speed". The issue's bar: ≥ 80% of one core's speed per core used.
- The same verify again (the cache remembers (path, size, mtime, file id)): should be instant.

Usage: benches/dataset.sh [--trainctl PATH] [--repeat R] [--skip-stage] [--skip-full] [--seed s5cmd|trainctl]
(`--seed trainctl`: the objects carry a stored CRC64NVME, so `checksum` verification costs no
hashing; with s5cmd's uploads it is an MD5 of every byte.)
Prints Markdown tables (docs/benchmarks.md); "paired" is the median of the per-round ratios to
s5cmd cp (each round runs every tool back to back).
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
from watch import Garage, create_bench_bucket, env_for, s3_client  # noqa: E402

S5CMD = os.environ.get("TRAINCTL_S5CMD") or shutil.which("s5cmd") or os.path.expanduser("~/.cargo/bin/s5cmd")


def run(cmd, env, log, quiet=True):
    """Runs `cmd`; returns (wall seconds, peak RSS MB). Exits on failure."""
    rss_file = log + ".rss"
    t0 = time.time()
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file, *cmd], env=env, stdout=out if quiet else None, stderr=out)
    wall = time.time() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}): see {log}")
    with open(rss_file) as f:
        return wall, int(f.read().split()[-1]) / 1024


def write_random(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 16 << 20)
            f.write(os.urandom(n))
            left -= n


def start_garage(work):
    """A Garage under `work`, the runs' log file, and the environment the tools run in: the
    server's credentials and a fresh HOME/XDG folders, so no user config or cache (trainctl's
    link rates, dataset cache) is read or left behind."""
    os.makedirs(os.path.join(work, "garage"))
    g = Garage(os.path.join(work, "garage"))
    home = os.path.join(work, "home")
    os.makedirs(home)
    env = dict(env_for(g), HOME=home, XDG_CACHE_HOME=os.path.join(home, ".cache"), XDG_STATE_HOME=os.path.join(home, ".state"))
    env.pop("AWS_CA_BUNDLE", None)
    return g, os.path.join(work, "runs.log"), env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainctl", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big-mib", type=int, default=2048)
    ap.add_argument("--small", type=int, default=1000, help="number of 1 MiB files")
    ap.add_argument("--skip-stage", action="store_true")
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--seed", choices=["s5cmd", "trainctl"], default="s5cmd",
                    help="who uploads the data: s5cmd (MD5/ETag only, as another tool leaves a bucket) or trainctl (a stored CRC64NVME on every object)")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="trainctl-dsbench-")
    g, log, env = start_garage(work)
    s5 = [S5CMD, "--endpoint-url", g.endpoint]
    rows = []
    try:
        create_bench_bucket(s3_client(g))
        src = os.path.join(work, "src")
        os.makedirs(os.path.join(src, "small"))
        os.makedirs(os.path.join(src, "big"))
        for i in range(a.small):
            write_random(os.path.join(src, "small", f"shard-{i:05d}.bin"), 1 << 20)
        write_random(os.path.join(src, "big", "train.bin"), a.big_mib << 20)
        for name in ("small", "big"):
            if a.seed == "trainctl":
                # An endpoint given by URL alone is provider "other", for which trainctl writes no
                # checksum by default: ask for the one Garage keeps.
                run([a.trainctl, "-q", "s3", "upload", os.path.join(src, name), f"s3://bench/ds/{name}/", "--recursive", "--upload-checksum", "crc64nvme"], env, log)
            else:
                run([*s5, "cp", os.path.join(src, name) + "/", f"s3://bench/ds/{name}/"], env, log)
            run([a.trainctl, "dataset", "snapshot", f"s3://bench/ds/{name}/", "--name", name, "--version", "v1"], env, log)
        shutil.rmtree(src)
        print(f"seeded {a.small} × 1 MiB and 1 × {a.big_mib} MiB", file=sys.stderr, flush=True)

        staged = os.path.join(work, "staged")
        if not a.skip_stage:
            tools = {
                "trainctl dataset stage (verify checksum)": lambda name, d: [a.trainctl, "dataset", "stage", f"{name}@v1", d, "-q"],
                "trainctl dataset stage --verify full": lambda name, d: [a.trainctl, "dataset", "stage", f"{name}@v1", d, "--verify", "full", "-q"],
                "s5cmd cp (no verification)": lambda name, d: [*s5, "cp", f"s3://bench/ds/{name}/*", d + "/"],
            }
            for name, what in (("small", f"{a.small} × 1 MiB"), ("big", f"1 × {a.big_mib} MiB")):
                times = {t: [] for t in tools}
                rss = {t: [] for t in tools}
                for r in range(a.repeat):
                    order = list(tools) if r % 2 == 0 else list(reversed(tools))
                    for t in order:
                        shutil.rmtree(staged, ignore_errors=True)
                        shutil.rmtree(os.path.join(env["XDG_CACHE_HOME"], "trainctl", "hashes"), ignore_errors=True)
                        subprocess.run(["sync"])
                        wall, peak = run(tools[t](name, staged), env, log)
                        times[t].append(wall)
                        rss[t].append(peak)
                        print((what, t, round(wall, 2), round(peak)), file=sys.stderr, flush=True)
                ref = times["s5cmd cp (no verification)"]
                base = statistics.median(ref)
                for t in tools:
                    m = statistics.median(times[t])
                    # Each round runs the tools back to back, so a slow spell of the shared machine
                    # lands on both sides of that round's ratio: the median of those is steadier.
                    paired = statistics.median(x / y for x, y in zip(times[t], ref))
                    rows.append(("stage", what, t, m, m / base, paired, max(rss[t]), " / ".join(f"{x:.2f}" for x in times[t])))

        if not a.skip_full:
            shutil.rmtree(staged, ignore_errors=True)
            run([a.trainctl, "dataset", "stage", "big@v1", staged, "--verify", "count", "-q"], env, log)
            path = os.path.join(staged, "train.bin")
            subprocess.run(["cat", path], stdout=subprocess.DEVNULL)  # page cache warm for every row alike
            size_mb = os.path.getsize(path) / 1e6
            hashes = os.path.join(env["XDG_CACHE_HOME"], "trainctl", "hashes")
            full = [a.trainctl, "dataset", "verify", "big@v1", staged, "--level", "full", "-q"]
            res = {}
            for r in range(a.repeat):
                for label, cmd in (("md5sum (one core)", ["md5sum", path]), ("trainctl verify --level full, 1 core", ["taskset", "-c", "0", *full]),
                                   ("trainctl verify --level full, all cores", full)):
                    shutil.rmtree(hashes, ignore_errors=True)
                    wall, peak = run(cmd, env, log)
                    res.setdefault(label, []).append(wall)
                    print(("full", label, round(wall, 2)), file=sys.stderr, flush=True)
            cores = os.cpu_count()
            one = statistics.median(res["md5sum (one core)"])
            for label, ts in res.items():
                m = statistics.median(ts)
                used = cores if "all cores" in label else 1
                per_core = (size_mb / m) / used / (size_mb / one)
                rows.append(("full", f"1 × {a.big_mib} MiB local copy", label, m, per_core, used, " / ".join(f"{x:.2f}" for x in ts)))
            wall, _ = run(full, env, log)  # cache now holds the file: a second verify reads nothing
            rows.append(("full", f"1 × {a.big_mib} MiB local copy", "trainctl verify --level full again (hash cache)", wall, None, cores, f"{wall:.3f}"))
    finally:
        g.stop()
    print()
    print("| what | data | tool | wall s (median) | vs s5cmd cp | paired | peak RSS MB | runs |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for kind, what, t, m, ratio, paired, rss, runs in (r for r in rows if r[0] == "stage"):
        print(f"| stage | {what} | {t} | {m:.2f} | {ratio:.2f} | {paired:.2f} | {rss:.0f} | {runs} |")
    print()
    print("| data | tool | wall s (median) | MB/s | cores used | speed per core vs md5sum | runs |")
    print("|---|---|---:|---:|---:|---:|---|")
    for kind, what, t, m, ratio, used, runs in (r for r in rows if r[0] == "full"):
        mbs = a.big_mib * 1.048576 / m if m > 0 else float("inf")
        print(f"| {what} | {t} | {m:.2f} | {mbs:.0f} | {used} | {'–' if ratio is None else f'{ratio:.2f}'} | {runs} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
