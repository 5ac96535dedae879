#!/usr/bin/env bash
# Desktop e2e suite: the real app in the real webview under Xvfb, with a private session D-Bus
# (dbus-run-session) so notification popups can be captured. One command for the Makefile.
#   tests/desktop/run.sh        builds what is missing (ui/dist, the debug app), then runs e2e.py
# Env: TRAINCTL_DESKTOP_BIN (app binary), TRAINCTL_E2E_KEEP=1 (keep the temp dir with logs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
cd "$ROOT"
for tool in tauri-driver WebKitWebDriver xvfb-run dbus-run-session dbus-monitor dunst moto_server; do
  command -v "$tool" >/dev/null || { echo "e2e: $tool missing: run scripts/setup.sh" >&2; exit 1; }
done
# ui/dist is rebuilt when any UI source is newer: a stale bundle tests yesterday's page.
if [ ! -f ui/dist/index.html ] || [ -n "$(find ui/src ui/index.html -newer ui/dist/index.html -print -quit)" ]; then
  (cd ui && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build)
fi
if [ -z "${TRAINCTL_DESKTOP_BIN:-}" ]; then
  # The CLI too: the Dashboard case compares the app with `trainctl s3 review --json` from the
  # same target dir, and a stale CLI there would fail it for the wrong reason.
  # The app's e2e build: the test-only drop command and folder-dialog stand-in (feature e2e;
  # never in a release or `make run` build).
  cargo build -p trainctl-desktop -p trainctl-cli --features trainctl-desktop/e2e --quiet
  export TRAINCTL_DESKTOP_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/trainctl-desktop"
  export TRAINCTL_CLI_BIN="${TRAINCTL_CLI_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/trainctl}"
fi
exec xvfb-run -a -s '-screen 0 1280x800x24' dbus-run-session -- python3 tests/desktop/e2e.py "$@"
