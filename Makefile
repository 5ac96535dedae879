# trainctl: the two commands are `make run` and `make test`; the rest are their helpers.
# Every target installs what is missing first (scripts/setup.sh is quick when all is there).
# CARGO_TARGET_DIR is honoured when set (keep it persistent to avoid rebuilding).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
CARGO_BIN := $(or $(CARGO_HOME),$(HOME)/.cargo)/bin
export PATH := $(CARGO_BIN):$(PATH)
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
TRAINCTL := $(TARGET_DIR)/debug/trainctl

.PHONY: setup build test run bench package

## setup: install missing system packages, moto, awscli, s5cmd and garage
setup:
	@echo "==> [setup] scripts/setup.sh"
	@scripts/setup.sh

## build: compile the workspace binaries (debug)
build: setup
	@echo "==> [build] cargo build --workspace --bins (target dir: $(TARGET_DIR))"
	cargo build --workspace --bins

## test: setup, then every suite (unit, core against moto+garage, CLI conformance)
test: setup
	@echo "==> [test] cargo test --workspace (target dir: $(TARGET_DIR))"
	@echo "    the suites start moto_server and garage themselves on free loopback ports"
	cargo test --workspace --no-fail-fast
	@echo "==> [test] all suites passed"

## run: build, then start the CLI demo (TODO(lead): wire `trainctl demo` / the desktop app)
run: build
	@if "$(TRAINCTL)" demo --help >/dev/null 2>&1; then \
	  echo "==> [run] trainctl demo"; exec "$(TRAINCTL)" demo; \
	else \
	  echo "==> [run] built $(TRAINCTL)"; \
	  echo "    Try it against a local moto server:"; \
	  echo "      moto_server -H 127.0.0.1 -p 5000 &"; \
	  echo "      export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1"; \
	  echo "      export AWS_ENDPOINT_URL=http://127.0.0.1:5000"; \
	  echo "      aws s3 mb s3://demo"; \
	  echo "      $(TRAINCTL) s3 upload ./some-dir s3://demo/run1/ --recursive"; \
	  echo "      $(TRAINCTL) s3 ls s3://demo/run1/"; \
	  echo "      $(TRAINCTL) s3 download s3://demo/run1/ ./back --recursive"; \
	fi

## bench: side-by-side transfer benchmarks (trainctl vs s5cmd vs aws-cli)
bench: setup
	@if [ -x benches/run.sh ]; then exec benches/run.sh; else echo "benches/run.sh not present yet"; fi

## package: the desktop .deb (app + `trainctl` CLI + s5cmd sidecars, desktop entry, icons)
package: setup
	@echo "==> [package] scripts/package-deb.sh (tauri build --bundles deb; not part of make test)"
	@scripts/package-deb.sh
