#!/bin/sh
# Builds the two Debian packages of Anshin NOC into OUTDIR from the debug build `make build`
# made (nothing is compiled here):
#   anshin-noc_VERSION_ARCH.deb          the `anshin` binary, anshin-noc.service, /etc/anshin-noc
#   anshin-noc-desktop_VERSION_ARCH.deb  the desktop app, by Tauri's bundler (`tauri bundle`)
# Usage: packaging/build-debs.sh OUTDIR   (CARGO_TARGET_DIR as for the build; run as root or
# not: the archive records root ownership either way)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
OUT=${1:?usage: $0 OUTDIR}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/debug
TAURI=$HERE/node_modules/.bin/tauri

for f in "$BIN/anshin" "$BIN/anshin-desktop"; do
    [ -x "$f" ] || { echo "build-debs: $f is missing: run 'make build' first (same CARGO_TARGET_DIR)" >&2; exit 1; }
done
[ -x "$TAURI" ] || { echo "build-debs: the Tauri CLI is missing: run 'cd packaging && npm ci'" >&2; exit 1; }

VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$ROOT/Cargo.toml")
[ -n "$VERSION" ] || { echo "build-debs: no version in [workspace.package] of Cargo.toml" >&2; exit 1; }
ARCH=$(dpkg --print-architecture)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# ---------------------------------------------------------------- anshin-noc (the service)
PKG=anshin-noc
SRC=$HERE/$PKG
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/anshin-noc-deb.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
R=$STAGE/root
install -d -m 0755 "$R/DEBIAN" "$R/usr/bin" "$R/lib/systemd/system" "$R/etc/default" \
    "$R/usr/share/doc/$PKG"
install -d -m 0750 "$R/etc/anshin-noc"
install -d -m 0700 "$R/etc/anshin-noc/credentials"
# The debug profile's code without its debug info (a third of the size; backtraces keep names).
objcopy --strip-debug "$BIN/anshin" "$R/usr/bin/anshin"
chmod 0755 "$R/usr/bin/anshin"
install -m 0644 "$SRC/anshin-noc.service" "$R/lib/systemd/system/anshin-noc.service"
install -m 0640 "$SRC/fleet.toml" "$R/etc/anshin-noc/fleet.toml"
install -m 0640 "$SRC/tokens" "$R/etc/anshin-noc/tokens"
install -m 0644 "$SRC/default" "$R/etc/default/anshin-noc"
install -m 0644 "$ROOT/README.md" "$R/usr/share/doc/$PKG/README.md"
for s in postinst prerm postrm; do install -m 0755 "$SRC/$s" "$R/DEBIAN/$s"; done
printf '%s\n' /etc/anshin-noc/fleet.toml /etc/anshin-noc/tokens /etc/default/anshin-noc >"$R/DEBIAN/conffiles"

# The C libraries a binary links, as Debian package names with versions (dpkg-shlibdeps wants
# a debian/control beside it; this one exists only for that question).
shlibs() {
    mkdir -p "$STAGE/shlibs/debian" "$STAGE/shlibs/usr/bin"
    printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$PKG" "$PKG" >"$STAGE/shlibs/debian/control"
    ln -sf "$1" "$STAGE/shlibs/usr/bin/$(basename "$1")"
    deps=$(cd "$STAGE/shlibs" && dpkg-shlibdeps -O "usr/bin/$(basename "$1")" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
    [ -n "$deps" ] || { echo "build-debs: dpkg-shlibdeps found no library dependencies of $1" >&2; exit 1; }
    echo "$deps"
}
SHLIBS=$(shlibs "$R/usr/bin/anshin")
SIZE=$(du -sk --exclude=DEBIAN "$R" | cut -f1)
cat >"$R/DEBIAN/control" <<EOF
Package: $PKG
Version: $VERSION
Architecture: $ARCH
Maintainer: Anshin NOC
Installed-Size: $SIZE
Depends: $SHLIBS, adduser, fontconfig, fonts-noto-cjk, zstd
Section: net
Priority: optional
Description: Anshin NOC monitoring engine and console server
 The anshin command and the anshin-noc systemd service (anshin serve): watches the
 contracted servers of the fleet file, opens incidents, mails customers through the
 outbox and serves the browser console and the console API. State lives in
 /var/lib/anshin-noc, configuration in /etc/anshin-noc.
EOF
# gzip: the debug binary is large and xz would take a minute on two cores for little gain.
dpkg-deb --root-owner-group -Zgzip --build "$R" "$OUT/${PKG}_${VERSION}_${ARCH}.deb" >/dev/null
echo "build-debs: $OUT/${PKG}_${VERSION}_${ARCH}.deb"

# ---------------------------------------------------------------- anshin-noc-desktop
# `tauri bundle` packs the binary the build already made (no second compile). The deb's package
# name comes from productName: the overlay names it so it does not take the service's name.
BUNDLE=$BIN/bundle/deb
rm -rf "$BUNDLE"
# Depends: tauri.conf.json's list (fonts, GStreamer) plus what the binary links, with versions.
# Tauri adds WebKitGTK, GTK and the tray library by itself.
DESKTOP_SHLIBS=$(shlibs "$BIN/anshin-desktop")
node -e '
const fs = require("fs");
const [conf, overlay, shlibs, out] = process.argv.slice(1);
const o = JSON.parse(fs.readFileSync(overlay, "utf8"));
const listed = JSON.parse(fs.readFileSync(conf, "utf8")).bundle.linux.deb.depends;
o.bundle = { linux: { deb: { depends: [...listed, ...shlibs.split(/, */)] } } };
fs.writeFileSync(out, JSON.stringify(o, null, 2));
' "$ROOT/src-tauri/tauri.conf.json" "$HERE/desktop/tauri.bundle.json" "$DESKTOP_SHLIBS" "$STAGE/tauri.bundle.json"
(cd "$ROOT/src-tauri" && CARGO_TARGET_DIR=$TARGET "$TAURI" bundle --debug --bundles deb --ci \
    --no-binary-patching --config "$STAGE/tauri.bundle.json")
DESKTOP=$BUNDLE/anshin-noc-desktop_${VERSION}_${ARCH}.deb
[ -f "$DESKTOP" ] || { echo "build-debs: tauri bundle made no $DESKTOP" >&2; ls "$BUNDLE" >&2; exit 1; }
cp "$DESKTOP" "$OUT/"
echo "build-debs: $OUT/$(basename "$DESKTOP")"
