#!/bin/sh
# Installs what a fresh Debian (bookworm) machine lacks to build, run or test Anshin NOC.
#   scripts/install-deps.sh build   Rust check + the C libraries Tauri links (WebKitGTK, …)
#   scripts/install-deps.sh test    build + a headless display, session bus, notification
#                                   daemon, screenshots, and the loopback fleet's daemons
#   scripts/install-deps.sh bench   build + the reference tools benchmarks compare against
# Idempotent and quick when everything is present. Needs root to install anything.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
GROUP=${1:-build}

BUILD_PKGS="build-essential pkg-config libssl-dev libwebkit2gtk-4.1-dev libxdo-dev \
libayatana-appindicator3-dev librsvg2-dev"
TEST_PKGS="xvfb xauth dbus-x11 dunst imagemagick x11-utils sqlite3 webkit2gtk-driver"

need_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "install-deps: cargo is not installed. Install Rust 1.95 or newer with rustup" >&2
        echo "  (https://rustup.rs: curl --proto '=https' -sSf https://sh.rustup.rs | sh), then run make again." >&2
        exit 1
    fi
    v=$(rustc --version | sed -n 's/^rustc \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
    set -- $v
    if [ "${1:-0}" -lt 1 ] || { [ "$1" -eq 1 ] && [ "${2:-0}" -lt 95 ]; }; then
        echo "install-deps: $(rustc --version) is too old: Rust 1.95 or newer is needed (rustup update)" >&2
        exit 1
    fi
}

install_missing() {
    missing=""
    for p in "$@"; do
        st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [ "$st" = "install ok installed" ] || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: missing Debian packages:$missing" >&2
        echo "  run as root: apt-get install$missing" >&2
        exit 1
    fi
    echo "install-deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    APT="apt-get -o DPkg::Lock::Timeout=600"
    $APT update -q || true
    # shellcheck disable=SC2086
    $APT install -y -q --no-install-recommends $missing
}

need_rust
case "$GROUP" in
    build) install_missing $BUILD_PKGS ;;
    test)
        install_missing $BUILD_PKGS $TEST_PKGS
        sh "$ROOT/tests/fleet/install-deps.sh"
        # tauri-driver: the WebDriver bridge to the real window (built from crates.io)
        command -v tauri-driver >/dev/null 2>&1 || cargo install tauri-driver --locked
        ;;
    bench) install_missing $BUILD_PKGS fping bc ;;
    *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac
