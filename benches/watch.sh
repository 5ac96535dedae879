#!/usr/bin/env bash
# Watch benchmark (#6): idle-poll LIST requests on a 100,000-object prefix counted by the server
# (Garage's admin /metrics, or moto's request log with --server moto), detection latency of a new
# checkpoint, watcher CPU while idle; with --sqs-objects N also the SQS event mode (on moto).
# Usage: benches/watch.sh [--trainctl PATH] [--interval S] [--objects N] [--server garage|moto]
#        [--sqs-objects N]   (default binary: the release build)
# Needs garage (or moto_server), s5cmd, python3 + boto3. Prints Markdown tables (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"
trainctl="$target_dir/release/trainctl"
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --trainctl) trainctl="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ -x "$trainctl" ]] || cargo build --release -p trainctl-cli
exec python3 benches/watch.py --trainctl "$trainctl" "${args[@]}"
