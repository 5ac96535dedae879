#!/usr/bin/env bash
# Compression benchmark (--compress): trainctl's zstd and byte-plane codecs vs the zstd CLI at
# -1/-3 on bf16 and fp32 safetensors (64 MiB each) and the framework fixtures; then 256 MiB
# uploads plain, --compress auto and zstd:1 through the 20 ms RTT proxy, a 20 ms link capped at
# 50 MB/s, and direct. Release builds.
# Usage: [BASELINE=path/to/other/trainctl] benches/compress.sh   (prints markdown tables; copy
# them into docs/benchmarks.md). BASELINE: another build's trainctl (e.g. main before a change),
# run side by side with this one.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p trainctl-cli -p trainctl-bench -p trainctl-testkit --bins
target_dir="${CARGO_TARGET_DIR:-target}"
"$target_dir/release/compress_bench" --mib 64
exec "$target_dir/release/compress_bench" --upload --mib 256 --links 20,20x50,direct --modes plain,auto,zstd:1 \
  --trainctl "$target_dir/release/trainctl" ${BASELINE:+--baseline "$BASELINE"}
