#!/usr/bin/env bash
# Desktop start-up benchmark (not a test): cold start to first painted window and idle memory of
# `trainctl-desktop --demo` under Xvfb. First paint = the first screenshot of the window that is not
# a single flat colour. Memory = VmRSS summed over the app and its WebKit child processes after
# 10 s idle. Usage: benches/desktop_startup.sh [RUNS]   (run inside nothing: it starts its own Xvfb)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
APP="${TRAINCTL_DESKTOP_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/trainctl-desktop}"
RUNS="${1:-3}"
[ -x "$APP" ] || { echo "build the app first: cargo build -p trainctl-desktop" >&2; exit 1; }
if [ -z "${TRAINCTL_BENCH_INNER:-}" ]; then
  TRAINCTL_BENCH_INNER=1 exec xvfb-run -a -s '-screen 0 1280x800x24' dbus-run-session -- "$0" "$@"
fi
tree_rss_kb() { # pid → VmRSS of it and all descendants, in kB
  local total=0 p
  for p in $1 $(pgrep -P "$1" 2>/dev/null; for c in $(pgrep -P "$1" 2>/dev/null); do pgrep -P "$c" 2>/dev/null; done); do
    total=$((total + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
for run in $(seq "$RUNS"); do
  home=$(mktemp -d)
  start=$(date +%s.%N)
  HOME="$home" XDG_CONFIG_HOME="$home/.config" "$APP" --demo >/dev/null 2>&1 &
  pid=$!
  painted=""
  for _ in $(seq 600); do
    if wid=$(xdotool search --onlyvisible --name trainctl 2>/dev/null | head -1) && [ -n "$wid" ]; then
      colours=$(import -window "$wid" -format '%k' info: 2>/dev/null || echo 1)
      if [ "${colours:-1}" -gt 8 ]; then painted=$(date +%s.%N); break; fi
    fi
    sleep 0.05
  done
  sleep 10
  rss=$(tree_rss_kb "$pid")
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  rm -rf "$home"
  printf 'run %d: first paint %.2f s, idle RSS (app + WebKit processes) %d MB\n' "$run" "$(echo "${painted:-0} - $start" | bc)" $((rss / 1024))
done
