#!/usr/bin/env bash
# Desktop start-up and idle-memory benchmark (not a test): cold start to first paint, and idle
# memory of the whole process tree (app + WebKit processes) with a 100,000-object listing open.
# Targets (issue #3): <= 1.5 s and <= 200 MB. Details: benches/desktop_startup.py.
#   benches/desktop_startup.sh [RUNS] [--trace] [--no-listing]
#     uses the RELEASE build (cargo build -p trainctl-desktop --release); --trace prints the app's
#     start-up trace per run (TRAINCTL_STARTUP_TRACE); --no-listing skips the 100k listing run.
# Env: TRAINCTL_DESKTOP_BIN=<path> measures another binary (e.g. the old build, for an A/B);
#      TRAINCTL_WEBKIT_TUNING=accel|cache|pagecache|all|none picks the app's WebKit settings.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export TRAINCTL_DESKTOP_BIN="${TRAINCTL_DESKTOP_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/trainctl-desktop}"
[ -x "$TRAINCTL_DESKTOP_BIN" ] || { echo "build the app first: cargo build -p trainctl-desktop --release" >&2; exit 1; }
for tool in xvfb-run dbus-run-session xdotool import WebKitWebDriver; do
  command -v "$tool" >/dev/null || { echo "desktop bench: $tool missing: run scripts/setup.sh" >&2; exit 1; }
done
exec xvfb-run -a -s '-screen 0 1280x800x24' dbus-run-session -- python3 "$ROOT/benches/desktop_startup.py" "$@"
