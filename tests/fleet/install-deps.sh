#!/bin/sh
# Install the Debian packages the loopback test fleet needs (tests/fleet/packages.txt).
# Run as root on Debian bookworm. Idempotent: exits at once when everything is present.
# Packages are installed WITHOUT starting their system daemons (policy-rc.d exits 101);
# the fleet starts its own private instances.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PKGS=$(grep -v '^[[:space:]]*#' "$HERE/packages.txt" | tr -s ' \n' '  ')

missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$st" = "install ok installed" ] || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all fleet packages present"
    exit 0
fi
echo "install-deps: installing:$missing"
[ "$(id -u)" = 0 ] || { echo "install-deps: must run as root" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
# debconf preseeds (harmless if the package is not installed)
{
    echo "postfix postfix/main_mailer_type select Local only"
    echo "postfix postfix/mailname string localhost"
    echo "dovecot-core dovecot-core/create-ssl-cert boolean true"
    echo "dovecot-core dovecot-core/ssl-cert-name string localhost"
    echo "mariadb-server mariadb-server/feedback boolean false"
} | debconf-set-selections

# Keep daemons from auto-starting; restore whatever policy-rc.d existed before.
POL=/usr/sbin/policy-rc.d
BAK=""
if [ -e "$POL" ]; then BAK=$(mktemp /tmp/policy-rc.d.XXXXXX); cp -p "$POL" "$BAK"; fi
restore() {
    if [ -n "$BAK" ]; then cp -p "$BAK" "$POL"; rm -f "$BAK"; else rm -f "$POL"; fi
}
trap restore EXIT INT TERM
printf '#!/bin/sh\nexit 101\n' > "$POL"
chmod 0755 "$POL"

APT="apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
$APT update -q || true
# shellcheck disable=SC2086
$APT install -y -q --no-install-recommends $missing
echo "install-deps: done"
