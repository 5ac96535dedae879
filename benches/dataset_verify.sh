#!/usr/bin/env bash
# `trainctl dataset verify --level checksum` of N objects (issue 13): requests by kind (LIST should
# be ⌈N/1000⌉, HEAD of an object 0) and wall time against `s5cmd du` of the same prefix, both
# served by `benches/list_fixture.py` (a synthetic ListObjectsV2 endpoint that logs requests).
# Usage: benches/dataset_verify.sh TRAINCTL N [RUNS]      (Markdown on stdout)
set -euo pipefail
cd "$(dirname "$0")/.."
trainctl=$(realpath "$1"); n=$2; runs=${3:-3}
s5cmd=${S5CMD:-$(command -v s5cmd)}
work=$(mktemp -d); trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LIST_FIXTURE_LOG="$work/requests" python3 benches/list_fixture.py "$port" "$n" bench many/ & server=$!
sleep 1
export HOME="$work/home" XDG_CACHE_HOME="$work/home/.cache" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench \
  AWS_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_EC2_METADATA_DISABLED=true
mkdir -p "$HOME/.aws"; : > "$HOME/.aws/config"; : > "$HOME/.aws/credentials"
export AWS_CONFIG_FILE="$HOME/.aws/config" AWS_SHARED_CREDENTIALS_FILE="$HOME/.aws/credentials"
"$trainctl" dataset snapshot s3://bench/many/ --name bench --version v1 --store s3://bench 2>/dev/null
secs() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null 2>&1 || true; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
count() { sort "$work/requests" | uniq -c | awk '{printf "%s%s %s=%s", sep, $2, $3, $1; sep=","}'; }
: > "$work/requests"
"$trainctl" dataset verify bench@v1 s3://bench/many/ --level checksum --store s3://bench > /dev/null 2>&1
echo "requests of one verify at $n keys: $(count)"
tv=(); ts=()
for _ in $(seq "$runs"); do
  tv+=("$(secs "$trainctl" dataset verify bench@v1 s3://bench/many/ --level checksum --store s3://bench)")
  ts+=("$(secs "$s5cmd" --endpoint-url "http://127.0.0.1:$port" du 's3://bench/many/*')")
done
: > "$work/requests"; "$s5cmd" --endpoint-url "http://127.0.0.1:$port" du 's3://bench/many/*'
echo "requests of one s5cmd du: $(count)"
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mv=$(median "${tv[@]}"); ms=$(median "${ts[@]}")
echo "| $n | trainctl dataset verify --level checksum | $mv | $(echo "scale=2; $mv / $ms" | bc) | ${tv[*]} |"
echo "| $n | s5cmd du | $ms | 1.00 | ${ts[*]} |"
