#!/usr/bin/env bash
# Review benchmark: trainctl s3 review vs s5cmd du vs aws s3 ls --recursive --summarize on Garage,
# 10k and 100k objects, direct and through a 20 ms RTT proxy. Release builds; run once.
# Usage: benches/review.sh   (writes target/bench-review.md; copy the figures into docs/benchmarks.md)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p trainctl-cli -p trainctl-bench -p trainctl-testkit --bins
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/review_bench" --trainctl "$target_dir/release/trainctl" --out "$target_dir/bench-review.md" "$@"
