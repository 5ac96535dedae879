#!/usr/bin/env bash
# Builds release binaries and runs the side-by-side transfer benchmark on Garage.
# Usage: benches/run.sh [--quick] [--only small,medium,large] [--skip-latency] [--repeat N]
# Writes the report to target/bench-report.md; copy the figures into docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p trainctl-cli -p trainctl-bench -p trainctl-testkit --bins
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/trainctl-bench" --trainctl "$target_dir/release/trainctl" --out "$target_dir/bench-report.md" "$@"
