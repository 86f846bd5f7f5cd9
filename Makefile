# Anshin NOC — one entry point. `make run` opens the desktop app on the demo fleet;
# `make test` runs every test (unit, engine against the loopback fleet, desktop window).
# The cargo target directory lives outside the clone so builds are reused between clones/CI runs.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/anshin-target
BIN := $(CARGO_TARGET_DIR)/debug
PYTHON := /usr/bin/python3
ARTIFACTS ?= $(CURDIR)/artifacts

.PHONY: bench help deps deps-test build run demo test test-unit test-fleet test-engine test-desktop lint fmt clean

help:
	@echo "make run    install what is missing, build, open the desktop app on the demo fleet"
	@echo "make demo   the same demo in the terminal (anshin demo)"
	@echo "make test   every test: unit, engine against real servers on loopback, desktop window"
	@echo "make lint   clippy and rustfmt check"
	@echo "make bench  speed beside reference tools (fping), written to bench/results.md"

deps:
	@sh scripts/install-deps.sh build

deps-test:
	@sh scripts/install-deps.sh test

build: deps
	cargo build --workspace --locked

run: build
	@if [ -z "$$DISPLAY" ] && [ -z "$$WAYLAND_DISPLAY" ]; then \
		echo "make run: no display (DISPLAY is not set). Run it in a desktop session, or try 'make demo' in a terminal."; exit 1; fi
	$(BIN)/anshin-desktop

demo: build
	$(BIN)/anshin demo

test: deps-test build test-unit test-fleet test-engine test-desktop
	@echo "make test: all suites passed"

test-unit:
	cargo test --workspace --locked

test-fleet:
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/fleet

test-engine:
	ANSHIN_BIN=$(BIN)/anshin $(PYTHON) -m pytest -q -p no:cacheprovider tests/engine

test-desktop:
	ARTIFACTS=$(ARTIFACTS) ANSHIN_DESKTOP_BIN=$(BIN)/anshin-desktop $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e

lint:
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo fmt --all -- --check

fmt:
	cargo fmt --all

clean:
	cargo clean

bench:
	@sh scripts/install-deps.sh bench
	sh bench/run.sh
