#!/usr/bin/env bash
# Dedup-on-upload benchmark (--dedup): a run whose checkpoints share 30% of their bytes, uploaded
# with and without --dedup to Garage, direct and through the 20 ms RTT proxy (time and bytes
# sent). Release builds.
# Usage: benches/dedup.sh [dedup_bench flags]   (prints a markdown table; copy it into docs/benchmarks.md)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p trainctl-cli -p trainctl-bench -p trainctl-testkit --bins
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/dedup_bench" --trainctl "$target_dir/release/trainctl" "$@"
