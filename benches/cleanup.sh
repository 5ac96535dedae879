#!/usr/bin/env bash
# Checkpoint cleanup benchmark (#4): plan + apply of `trainctl s3 cleanup` on 10,000 checkpoint
# objects on a fresh single-node Garage, vs `s5cmd rm` of exactly the same keys; and a local
# `trainctl checkpoint cleanup` of 10,000 files vs `rm -rf` of the same directories.
#
# DeleteObjects calls are counted by the server itself: Garage's admin API exports
# `api_s3_request_counter{api_endpoint="DeleteObjects"}` on /metrics; the script reads it before
# and after each tool. No client instrumentation, no proxy.
#
# Usage: benches/cleanup.sh [--repeat N] [--trainctl PATH]   (default: release build, N=3)
# Needs: garage, s5cmd, curl, python3 on PATH. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=3
target_dir="${CARGO_TARGET_DIR:-target}"
trainctl="$target_dir/release/trainctl"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --repeat) repeat="$2"; shift 2 ;;
    --trainctl) trainctl="$2"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
[[ -x "$trainctl" ]] || cargo build --release -p trainctl-cli
garage_bin="${GARAGE_BIN:-$(command -v garage || echo "$HOME/.cargo/bin/garage")}"
s5cmd_bin="${TRAINCTL_S5CMD:-$(command -v s5cmd)}"

work="$(mktemp -d -t trainctl-cleanup-bench-XXXX)"
cleanup_all() { [[ -n "${garage_pid:-}" ]] && kill "$garage_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup_all EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
s3_port=$(port); rpc_port=$(port); admin_port=$(port)
cat > "$work/garage.toml" <<TOML
metadata_dir = "$work/meta"
data_dir = "$work/data"
db_engine = "lmdb"
replication_factor = 1
compression_level = "none"
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:$admin_port"
TOML
g() { "$garage_bin" -c "$work/garage.toml" "$@"; }
RUST_LOG=garage=warn "$garage_bin" -c "$work/garage.toml" server >"$work/garage.log" 2>&1 &
garage_pid=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$admin_port/health" >/dev/null 2>&1 && break; sleep 0.2; done
node=$(g node id -q | cut -d@ -f1)
g layout assign -z dc1 -c 10G "$node" >/dev/null
g layout apply --version 1 >/dev/null
keyinfo=$(g key create bench)
g key allow --create-bucket bench >/dev/null
export AWS_ACCESS_KEY_ID=$(sed -n 's/^Key ID: *//p' <<<"$keyinfo")
export AWS_SECRET_ACCESS_KEY=$(sed -n 's/^Secret key: *//p' <<<"$keyinfo")
export AWS_REGION=garage AWS_ENDPOINT_URL="http://127.0.0.1:$s3_port"
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null HOME="$work/home"
mkdir -p "$HOME"
s5() { "$s5cmd_bin" --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }
deletes() { curl -s "127.0.0.1:$admin_port/metrics" | awk '/^api_s3_request_counter\{api_endpoint="DeleteObjects"\}/ {print $2}' | awk '{s+=$1} END {print s+0}'; }
now() { date +%s.%N; }

# 2,000 HF-Trainer checkpoints x 5 files = 10,000 objects; keep the last 10 -> 9,950 deleted.
steps=${BENCH_STEPS:-2000}; keep=10
tree="$work/tree/exp/run1"
for s in $(seq 1 $steps); do
  d="$tree/checkpoint-$s"; mkdir -p "$d"
  for f in model.safetensors optimizer.pt scheduler.pt rng_state.pth; do printf 'x%.0s' {1..64} >"$d/$f"; done
  printf '{"global_step": %d}' "$s" >"$d/trainer_state.json"
done
doomed="$work/doomed.txt"
for s in $(seq 1 $((steps - keep))); do
  for f in model.safetensors optimizer.pt scheduler.pt rng_state.pth trainer_state.json; do echo "exp/run1/checkpoint-$s/$f"; done
done >"$doomed"
n=$(wc -l <"$doomed")
batches=$(( (n + 999) / 1000 ))

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t_tc=(); t_s5=(); d_tc=(); d_s5=()
for r in $(seq 1 "$repeat"); do
  for tool in trainctl s5cmd; do
    bucket="bench-$tool-$r"
    s5 mb "s3://$bucket" >/dev/null
    s5 cp "$work/tree/*" "s3://$bucket/" >/dev/null
    before=$(deletes); t0=$(now)
    if [[ $tool == trainctl ]]; then
      "$trainctl" s3 cleanup "s3://$bucket/exp/" --keep-last-n "$keep" --yes --grace 0s -q >/dev/null
    else
      # one s5cmd process for all keys (-s: xargs would otherwise split the ~600 KB argument list)
      sed "s|^|s3://$bucket/|" "$doomed" | xargs -s 1500000 "$s5cmd_bin" --endpoint-url "$AWS_ENDPOINT_URL" rm >/dev/null
    fi
    t1=$(now); after=$(deletes)
    left=$(s5 ls "s3://$bucket/*" | wc -l)
    [[ $left -eq $((keep * 5)) ]] || { echo "$tool left $left objects, expected $((keep * 5))" >&2; exit 1; }
    secs=$(python3 -c "print(f'{$t1-$t0:.3f}')"); calls=$((after - before))
    if [[ $tool == trainctl ]]; then t_tc+=("$secs"); d_tc+=("$calls"); else t_s5+=("$secs"); d_s5+=("$calls"); fi
  done
done
tc=$(printf '%s\n' "${t_tc[@]}" | median); s5m=$(printf '%s\n' "${t_s5[@]}" | median)

# Local: the same 10,000 files on disk.
loc_tc=(); loc_rm=()
for r in $(seq 1 "$repeat"); do
  rm -rf "$work/local"; cp -r "$work/tree" "$work/local"
  t0=$(now); "$trainctl" checkpoint cleanup "$work/local/exp" --keep-last-n "$keep" --yes --grace 0s -q >/dev/null; t1=$(now)
  loc_tc+=("$(python3 -c "print(f'{$t1-$t0:.3f}')")")
  left=$(find "$work/local" -type f | wc -l); [[ $left -eq $((keep * 5)) ]] || { echo "local cleanup left $left files" >&2; exit 1; }
  rm -rf "$work/local"; cp -r "$work/tree" "$work/local"
  t0=$(now); (cd "$work/local/exp/run1" && for s in $(seq 1 $((steps - keep))); do echo "checkpoint-$s"; done | xargs rm -rf); t1=$(now)
  loc_rm+=("$(python3 -c "print(f'{$t1-$t0:.3f}')")")
done
ltc=$(printf '%s\n' "${loc_tc[@]}" | median); lrm=$(printf '%s\n' "${loc_rm[@]}" | median)

cat <<MD
Checkpoint cleanup, $n of $((steps * 5)) objects deleted ($steps HF checkpoints x 5 files, keep last $keep), Garage $(g --version 2>/dev/null | head -1 | awk '{print $2}') single node on loopback, median of $repeat runs.
DeleteObjects calls counted from Garage's own /metrics (api_s3_request_counter{api_endpoint="DeleteObjects"}).

| what | wall time (s) | DeleteObjects calls | runs (s) |
|---|---:|---:|---|
| \`trainctl s3 cleanup --keep-last-n $keep\` (list + plan + apply) | $tc | ${d_tc[0]} (bound ⌈n/1000⌉ = $batches) | ${t_tc[*]} |
| \`s5cmd rm\` of the same $n keys (no listing) | $s5m | ${d_s5[0]} | ${t_s5[*]} |
| ratio trainctl / s5cmd | $(python3 -c "print(f'{$tc/$s5m:.2f}')") | | |
| \`trainctl checkpoint cleanup\` local, $n of $((steps * 5)) files | $ltc | – | ${loc_tc[*]} |
| \`rm -rf\` of the same $((steps - keep)) directories | $lrm | – | ${loc_rm[*]} |
MD
