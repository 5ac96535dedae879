#!/usr/bin/env bash
# Builds the desktop .deb (`make package`): the UI, the `trainctl` CLI and s5cmd as sidecars
# (bundle.externalBin, files named `<name>-<target triple>` in src-tauri/binaries/), then
# `tauri build --bundles deb`. Output: target/release/bundle/deb/*.deb. Not part of `make test`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
S5CMD=${TRAINCTL_S5CMD:-$(command -v s5cmd || true)}
[ -x "$S5CMD" ] || { echo "package: s5cmd not found (run scripts/setup.sh)" >&2; exit 1; }
(cd ui && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build)
cargo build --release -p trainctl-cli --bin trainctl
mkdir -p src-tauri/binaries
install -m 0755 "$TARGET_DIR/release/trainctl" "src-tauri/binaries/trainctl-$TRIPLE"
install -m 0755 "$S5CMD" "src-tauri/binaries/s5cmd-$TRIPLE"
cd src-tauri
npx --yes @tauri-apps/cli@^2 build --bundles deb \
  --config '{"bundle":{"externalBin":["binaries/s5cmd","binaries/trainctl"]}}'
ls -l "$TARGET_DIR"/release/bundle/deb/*.deb
