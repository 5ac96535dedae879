#!/bin/sh
# Builds the UI, serves ui/dist under the app's CSP, and screenshots each view in mock mode with
# headless Chromium. Output: ${OUT:-../docs/screenshots}/ui-*.png. Needs the apt package chromium.
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-../docs/screenshots}
PORT=${PORT:-4173}
mkdir -p "$OUT"
[ "${SKIP_BUILD:-}" = 1 ] || npx vite build >/dev/null
node scripts/serve-dist.mjs "$PORT" >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER' EXIT
sleep 0.5
shot() { # name url [extra chromium flags]
  name=$1; url=$2; shift 2
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --no-first-run --hide-scrollbars --window-size=1280,800 --virtual-time-budget=3000 "$@" \
    --screenshot="$OUT/ui-$name.png" "http://127.0.0.1:$PORT/$url" >/dev/null 2>&1
  echo "$OUT/ui-$name.png"
}
B='#/browser/demo-training'
shot first-run '?mock=firstrun'
shot dashboard '?mock#/dashboard'
shot connections '?mock#/connections'
shot connections-test-failed '?mock=addform#/connections'
shot buckets "?mock#/browser"
shot browser "?mock$B/runs/llama3-8b-sft-2026-11/checkpoint-2000/"
shot browser-100k "?mock$B/datasets/tokenized-100k/"
shot browser-selected "?mock=selected$B/runs/resnet50-ablation-lr3e-4/lightning_logs/version_0/checkpoints/"
shot delete-confirm "?mock=confirm$B/runs/llama3-8b-sft-2026-11/checkpoint-500/"
shot drop-overlay "?mock=drop$B/runs/"
shot connection-lost "?mock=lost$B/runs/"
shot transfers '?mock#/transfers'
shot notifications '?mock#/notifications'
shot dashboard-dark '?mock#/dashboard' --force-dark-mode --blink-settings=preferredColorScheme=0
shot browser-dark "?mock$B/runs/llama3-8b-sft-2026-11/checkpoint-2000/" --force-dark-mode --blink-settings=preferredColorScheme=0
