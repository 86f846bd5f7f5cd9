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

# GStreamer's base and good plugins: the window's Web Audio alarm (WebKitGTK plays through them).
BUILD_PKGS="build-essential pkg-config libssl-dev libwebkit2gtk-4.1-dev libxdo-dev \
libayatana-appindicator3-dev librsvg2-dev fontconfig fonts-noto-cjk \
gstreamer1.0-plugins-base gstreamer1.0-plugins-good"
TEST_PKGS="xvfb xauth dbus-x11 dunst imagemagick x11-utils sqlite3 webkit2gtk-driver poppler-utils chromium xdotool \
gnome-keyring libsecret-tools dbus-daemon openssl zstd sudo"
# The package test (tests/package): systemd-analyze, and what the two .deb files depend on, so
# that `dpkg -i` needs no registry (the desktop's sound plays through GStreamer).
PACKAGE_PKGS="systemd adduser gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
libayatana-appindicator3-1 libwebkit2gtk-4.1-0 libgtk-3-0 zstd"

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

# The UI (ui/) is built with Node.js >= 20.19 and npm (Vite 7).
need_node() {
    if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
        v=$(node -p 'process.versions.node.split(".").slice(0, 2).join(" ")')
        set -- $v
        if [ "$1" -gt 20 ] || { [ "$1" -eq 20 ] && [ "$2" -ge 19 ]; }; then
            return 0
        fi
        echo "install-deps: Node.js $(node --version) is too old for the UI build: 20.19 or newer is needed" >&2
        exit 1
    fi
    # Debian's own nodejs is older than 20.19 on bookworm; take it only where it is new enough.
    install_missing nodejs npm
    need_node
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
    build)
        install_missing $BUILD_PKGS
        need_node
        ;;
    test)
        install_missing $BUILD_PKGS $TEST_PKGS $PACKAGE_PKGS
        need_node
        sh "$ROOT/tests/fleet/install-deps.sh"
        # tauri-driver: the WebDriver bridge to the real window (built from crates.io)
        command -v tauri-driver >/dev/null 2>&1 || cargo install tauri-driver --locked
        ;;
    bench)
        install_missing $BUILD_PKGS fping bc zstd icinga2-bin icinga2-common monitoring-plugins-basic chromium
        need_node
        ;;
    *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac
