#!/usr/bin/env bash
# Dataset memory benchmark (issue 13): peak RSS of `trainctl dataset snapshot` (from a listing,
# and from an S3 Inventory report of the same keys) and `dataset verify --level checksum`, at N
# keys, through the real code path against `benches/list_fixture.py` (a synthetic ListObjectsV2
# endpoint: moto and Garage are far too slow to hold a million keys). Memory must stay flat in N.
# Usage: benches/dataset_memory.sh TRAINCTL N...      (prints one Markdown row per command and N)
set -euo pipefail
cd "$(dirname "$0")/.."
trainctl=$(realpath "$1"); shift
work=$(mktemp -d); trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
echo "| keys | command | wall s | peak RSS MB | digest |"
echo "|---:|---|---:|---:|---|"
for n in "$@"; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  python3 benches/list_fixture.py "$port" "$n" bench many/ & server=$!
  # The inventory S3 would write of the same keys (gzip CSV, URL-encoded keys, 4 data files).
  python3 - "$work/inv" "$n" <<'PY'
import gzip, hashlib, json, os, sys
root, n = sys.argv[1], int(sys.argv[2])
keys = sorted(f"many/shard-{i:06d}.jsonl" for i in range(n))
etag = hashlib.md5(b"x").hexdigest()
base = os.path.join(root, "inventory/bench/cfg")
os.makedirs(f"{base}/data", exist_ok=True); os.makedirs(f"{base}/2026-01-01T00-00Z", exist_ok=True)
files, per = [], (n + 3) // 4
for f in range(4):
    part = keys[f * per:(f + 1) * per][::-1]  # a report promises no order
    path = f"{base}/data/part-{f}.csv.gz"
    with gzip.open(path, "wt") as out:
        for k in part:
            i = int(k[len("many/shard-"):][:6]); size = 1_000 + (i * 7919) % 5_000_000
            out.write(f'"bench","{k}","{size}","2026-11-29T12:00:00.000Z","{etag}","STANDARD"\n')
    files.append({"key": f"inventory/bench/cfg/data/part-{f}.csv.gz", "size": os.path.getsize(path), "MD5checksum": ""})
json.dump({"sourceBucket": "bench", "destinationBucket": "arn:aws:s3:::bench", "version": "2016-11-30", "fileFormat": "CSV",
           "fileSchema": "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass", "files": files},
          open(f"{base}/2026-01-01T00-00Z/manifest.json", "w"))
PY
  sleep 1
  export HOME="$work/home" XDG_CACHE_HOME="$work/home/.cache" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench \
    AWS_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_EC2_METADATA_DISABLED=true
  mkdir -p "$HOME/.aws"; : > "$HOME/.aws/config"; : > "$HOME/.aws/credentials"
  export AWS_CONFIG_FILE="$HOME/.aws/config" AWS_SHARED_CREDENTIALS_FILE="$HOME/.aws/credentials"
  measure() { # label, then the trainctl arguments
    local label=$1; shift
    /usr/bin/time -v -o "$work/time" "$trainctl" --json "$@" > "$work/out" 2>/dev/null || true
    local rss wall digest
    rss=$(awk -F': ' '/Maximum resident/ {printf "%.1f", $2/1024}' "$work/time")
    wall=$(awk -F': ' '/Elapsed \(wall/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%.1f", s}' "$work/time")
    digest=$(grep -o '"digest":"sha256:[0-9a-f]\{12\}' "$work/out" | head -1 | cut -d: -f3 || true)
    echo "| $n | $label | $wall | $rss | ${digest:-(see report)} |"
  }
  measure "snapshot (listing)" dataset snapshot s3://bench/many/ --name mem --version list
  measure "snapshot --inventory" dataset snapshot s3://bench/many/ --name mem --version inv \
    --inventory "$work/inv/inventory/bench/cfg/2026-01-01T00-00Z/manifest.json"
  measure "verify --level checksum" dataset verify mem@list s3://bench/many/ --level checksum --store s3://bench
  grep -o '"ok":[0-9]*' "$work/out" | head -1 >&2 || true
  kill $server; wait $server 2>/dev/null || true
  rm -rf "$work/inv" "$work/home"
done
