#!/usr/bin/env bash
# Two-way sync benchmark (#12): `trainctl s3 sync --direction both` vs `rclone bisync` on the same
# trees on Garage, direct and through the testkit proxy at 20 ms RTT: a no-change pass over N files
# (requests counted by the server) and a pass with C changed files; peak RSS.
# Usage: benches/sync.sh [--trainctl PATH] [--files N] [--changed C] [--skip-latency]
#        (default binaries: the release build of trainctl and trainctl-proxy)
# Needs garage, rclone (Debian's package), python3 + boto3. Prints Markdown tables (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"
trainctl="$target_dir/release/trainctl"
proxy="$target_dir/release/trainctl-proxy"
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --trainctl) trainctl="$2"; shift 2 ;;
    --proxy) proxy="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ -x "$trainctl" ]] || cargo build --release -p trainctl-cli
[[ -x "$proxy" ]] || cargo build --release -p trainctl-testkit --bin trainctl-proxy
command -v rclone >/dev/null || { echo "sync bench: rclone missing (apt-get install rclone)" >&2; exit 1; }
exec python3 benches/sync_bench.py --trainctl "$trainctl" --proxy "$proxy" "${args[@]}"
