#!/usr/bin/env bash
# Compression benchmark (--compress): trainctl's zstd and byte-plane codecs vs the zstd CLI at
# -1/-3 on bf16 and fp32 safetensors (64 MiB each) and the framework fixtures. Release build.
# Usage: benches/compress.sh [--mib N]   (prints a markdown table; copy it into docs/benchmarks.md)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p trainctl-bench --bin compress_bench
exec "${CARGO_TARGET_DIR:-target}/release/compress_bench" "$@"
