# Anshin NOC — one entry point. `make run` opens the desktop app on the demo fleet;
# `make test` runs every test (unit, engine against the loopback fleet, desktop window).
# The cargo target directory lives outside the clone so builds are reused between clones/CI runs.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/anshin-target
BIN := $(CARGO_TARGET_DIR)/debug
PYTHON := /usr/bin/python3
ARTIFACTS ?= $(CURDIR)/artifacts

.PHONY: bench contract-types ui-fixtures help deps deps-test build ui run demo serve-demo test test-unit test-ui test-fleet test-engine test-browser test-desktop package test-package lint fmt clean

help:
	@echo "make run    install what is missing, build, open the desktop app on the demo fleet"
	@echo "make serve-demo  the demo with the browser console on http://127.0.0.1:8470/ (set ANSHIN_TOKENS)"
	@echo "make demo   the same demo in the terminal (anshin demo)"
	@echo "make test   every test: unit, engine against real servers on loopback, desktop window"
	@echo "make package  the Debian packages anshin-noc and anshin-noc-desktop into dist/ (README: Install)"
	@echo "make lint   clippy and rustfmt check"
	@echo "make bench  speed beside reference tools (fping), written to bench/results.md"
	@echo "make contract-types  refresh ui/src/lib/backend/generated/ from the Rust types (commit the result)"
	@echo "make ui-fixtures  re-record ui/tests/fixtures/ from the real engine (anshin demo); re-run when the contract changes, commit the result"

deps:
	@sh scripts/install-deps.sh build

deps-test:
	@sh scripts/install-deps.sh test

# The UI (Svelte + Vite) is built before cargo: the desktop binary and `anshin serve` embed ui/dist.
UI_SOURCES := $(shell find ui/src -type f 2>/dev/null) ui/index.html ui/package.json ui/package-lock.json \
	ui/vite.config.ts ui/svelte.config.js ui/tsconfig.json

ui/node_modules/.package-lock.json: ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund

ui/dist/index.html: ui/node_modules/.package-lock.json $(UI_SOURCES)
	cd ui && npm run build

ui: deps ui/dist/index.html

build: deps ui/dist/index.html
	cargo build --workspace --locked

run: build
	@if [ -z "$$DISPLAY" ] && [ -z "$$WAYLAND_DISPLAY" ]; then \
		echo "make run: no display (DISPLAY is not set). Run it in a desktop session, or try 'make demo' in a terminal."; exit 1; fi
	$(BIN)/anshin-desktop

demo: build
	$(BIN)/anshin demo

# The demo with the browser console on http://127.0.0.1:8470/ (token: the ANSHIN_TOKENS variable).
serve-demo: build
	$(BIN)/anshin demo --listen 127.0.0.1:8470

test: deps-test build test-unit test-ui test-fleet test-engine test-browser test-desktop test-package
	@echo "make test: all suites passed"

test-unit:
	cargo test --workspace --locked

# What consoles get from the real engine, recorded for the UI's unit tests (and the perf page's
# generated fleet): re-run when the console contract changes (after make contract-types), commit
# ui/tests/fixtures/. Needs the built engine (make build; ANSHIN_BIN overrides) and about 3 minutes
# (it follows the demo's scripted outages).
ui-fixtures:
	cd ui && ANSHIN_BIN=$${ANSHIN_BIN:-$(BIN)/anshin} node scripts/record-fixtures.mjs

test-ui: ui/node_modules/.package-lock.json
	cd ui && npm test && npm run check

tests/browser/node_modules/.package-lock.json: tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund

test-browser: tests/browser/node_modules/.package-lock.json
	ARTIFACTS=$(ARTIFACTS) ANSHIN_BIN=$(BIN)/anshin $(PYTHON) -m pytest -q -p no:cacheprovider tests/browser

test-fleet:
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/fleet

test-engine:
	ANSHIN_BIN=$(BIN)/anshin $(PYTHON) -m pytest -q -p no:cacheprovider tests/engine

test-desktop:
	ARTIFACTS=$(ARTIFACTS) ANSHIN_DESKTOP_BIN=$(BIN)/anshin-desktop $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e

# The Debian packages (README: Install), from the debug build above: nothing is compiled again.
DIST ?= $(CURDIR)/dist

packaging/node_modules/.package-lock.json: packaging/package-lock.json
	cd packaging && npm ci --no-audit --no-fund

package: build packaging/node_modules/.package-lock.json
	sh packaging/build-debs.sh $(DIST)

# Installs both packages on this machine, runs the service as its unit says, purges them.
test-package: package
	ARTIFACTS=$(ARTIFACTS) ANSHIN_DIST=$(DIST) $(PYTHON) -m pytest -q -p no:cacheprovider tests/package

# The console contract's TypeScript, generated from the Rust types and committed (the UI builds
# before cargo). Tests fail when it is stale (`contract` tests of anshin-engine and anshin-report).
contract-types:
	ANSHIN_REFRESH_CONTRACT=1 cargo test -p anshin-engine -p anshin-report --lib --locked contract

lint:
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo fmt --all -- --check

fmt:
	cargo fmt --all

clean:
	cargo clean

bench:
	@sh scripts/install-deps.sh bench
	@sh tests/fleet/install-deps.sh
	sh bench/run.sh
