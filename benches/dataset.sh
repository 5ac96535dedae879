#!/usr/bin/env bash
# Dataset staging and full verification (#13): `trainctl dataset stage` vs `s5cmd cp` (1000 × 1 MiB,
# 1 × 2 GiB) and `dataset verify --level full` per core vs md5sum, on Garage. See dataset_bench.py.
# Usage: benches/dataset.sh [--trainctl PATH] [--repeat R] [--skip-stage] [--skip-full]
set -euo pipefail
cd "$(dirname "$0")/.."
trainctl="${CARGO_TARGET_DIR:-target}/release/trainctl"
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --trainctl) trainctl="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ -x "$trainctl" ]] || cargo build --release -p trainctl-cli
exec python3 benches/dataset_bench.py --trainctl "$trainctl" "${args[@]}"
