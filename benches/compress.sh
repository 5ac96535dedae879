#!/usr/bin/env bash
# Compression benchmark (--compress): trainctl's zstd and byte-plane codecs vs the zstd CLI at
# -1/-3 on bf16 and fp32 safetensors (64 MiB each) and the framework fixtures; then uploads with
# and without --compress auto through the 20 ms RTT proxy. Release builds.
# Usage: benches/compress.sh   (prints markdown tables; copy them into docs/benchmarks.md)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p trainctl-cli -p trainctl-bench -p trainctl-testkit --bins
target_dir="${CARGO_TARGET_DIR:-target}"
"$target_dir/release/compress_bench" --mib 64
exec "$target_dir/release/compress_bench" --upload --mib 256 --trainctl "$target_dir/release/trainctl"
