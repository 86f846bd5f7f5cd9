"""Recording stand-ins for a package manager and wp-cli on one loopback fleet host's SSH PATH.

The test fleet's hosts are this Debian machine: their real apt would touch the machine's own
packages, and dnf, yum and wp-cli are not there at all. So the tests put stand-ins first on the
SSH account's PATH (`Fleet.set_command`) that print real captured outputs — the sections of the
project's own detection fixtures (crates/anshin-core/tests/fixtures/updates, each labelled with
its origin in that folder's README) — record every call with its arguments, and after an apply
answer as the "nothing pending" fixture does. A mock only because no real peer can run here:
an AlmaLinux dnf with security metadata and a WordPress site cannot run on this machine.

    s = install(fleet, "web01", tool="dnf", wordpress=True)
    s.calls()      # ["dnf -q --setopt=exit_on_lock=True -C updateinfo list --security", ...]
    s.applied()    # True after `dnf … upgrade …`
"""
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "crates", "anshin-core", "tests", "fixtures", "updates")
SSH_USER = "anshin"

# needs-restarting -r as yum-utils/dnf-plugins-core document it (exit 0 / exit 1).
NO_REBOOT = ("No core libraries or services have been updated since boot-up.\n"
             "Reboot should not be necessary.\n")
REBOOT = ("Core libraries or services have been updated since boot-up:\n  * openssl-libs\n\n"
          "Reboot is required to fully utilize these updates.\n"
          "More information: https://access.redhat.com/solutions/27943\n")
# What dnf prints at the end of a transaction (dnf 4), shortened.
DNF_APPLIED = ("Dependencies resolved.\nUpgrading:\n openssl-libs  x86_64  1:3.0.7-27.el9_4  baseos\n"
               "Transaction Summary\nUpgrade  2 Packages\n\nUpgraded:\n  openssl-libs-1:3.0.7-27.el9_4.x86_64\n\n"
               "Complete!\n")
WP_APPLIED = "Success: WordPress updated successfully.\nSuccess: Updated 1 of 1 plugins.\n"


def sections(fixture):
    """{name: (text, status)} of a fixture file's `@@anshin-updates begin/end` sections."""
    out, name, lines = {}, None, []
    with open(os.path.join(FIXTURES, fixture), encoding="utf-8") as fh:
        for line in fh.read().splitlines():
            m = re.match(r"@@anshin-updates begin (.+)$", line)
            e = re.match(r"@@anshin-updates end (.+) (\d+)$", line)
            if m:
                name, lines = m.group(1), []
            elif e and name is not None:
                out[name] = ("".join(l + "\n" for l in lines), int(e.group(2)))
                name = None
            elif name is not None:
                lines.append(line)
    return out


class Standins:
    def __init__(self, state):
        self.state = state

    def calls(self):
        p = os.path.join(self.state, "calls.log")
        if not os.path.exists(p):
            return []
        with open(p, encoding="utf-8") as fh:
            return [l for l in fh.read().splitlines() if l]

    def applied(self):
        return os.path.exists(os.path.join(self.state, "applied"))


# The stand-ins: `S` is the state folder; `answer NAME` prints the section NAME of the current
# state (`updates`, or `none` once applied) and exits with its status.
PRELUDE = r"""#!/bin/sh
S=%(state)s
echo "$(basename "$0") $*" >> "$S/calls.log"
st=updates; [ -e "$S/applied" ] && st=none
answer() { cat "$S/$st.$1" 2>/dev/null; exit "$(cat "$S/$st.$1.rc" 2>/dev/null || echo 0)"; }
"""

DNF = PRELUDE + r"""
case " $* " in
  *" updateinfo "*) answer advisories ;;
  *" check-update "*) answer pending ;;
  *" needs-restarting "*) exec needs-restarting -r ;;
  *" upgrade "*) cat "$S/applied-output"; touch "$S/applied"; exit 0 ;;
esac
echo "No such command: $*" >&2; exit 1
"""

RPM = PRELUDE + r"""
case " $* " in
  *" -qa "*) answer installed ;;
esac
exit 0
"""

NEEDS_RESTARTING = PRELUDE + r"""
if [ -e "$S/applied" ]; then cat "$S/reboot-yes"; exit 1; fi
cat "$S/reboot-no"; exit 0
"""

APT = PRELUDE + r"""
case " $* " in
  *" list "*) answer pending ;;
esac
exit 0
"""

APT_CACHE = PRELUDE + r"""
case " $* " in
  *" policy "*) answer origins ;;
esac
exit 0
"""

APT_GET = PRELUDE + r"""
case " $* " in
  *" install "*) echo "Reading package lists..."; echo "Setting up libexpat1 ..."; touch "$S/applied"; exit 0 ;;
esac
exit 0
"""

# wp-cli: the site index is 0 (one site). Options before the command are skipped.
WP = PRELUDE + r"""
wst=updates; [ -e "$S/wp-applied" ] && wst=none
wanswer() { cat "$S/wp-$wst.$1" 2>/dev/null; exit "$(cat "$S/wp-$wst.$1.rc" 2>/dev/null || echo 0)"; }
args=""
for a in "$@"; do case "$a" in --*) ;; *) args="$args $a" ;; esac; done
case "$args " in
  " core version "*) wanswer "core-version 0" ;;
  " core check-update "*) wanswer "core 0" ;;
  " plugin list "*) wanswer "plugins 0" ;;
  " theme list "*) wanswer "themes 0" ;;
  " core update "*|" core update-db "*|" plugin update "*|" theme update "*)
    echo "Success: $args"; touch "$S/wp-applied"; exit 0 ;;
esac
echo "Error: '$args' is not a registered wp command." >&2; exit 1
"""


def _write(path, text, mode=0o644):
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, mode)


def _state_files(state, prefix, fixture):
    for name, (text, status) in sections(fixture).items():
        _write(os.path.join(state, "%s.%s" % (prefix, name)), text)
        _write(os.path.join(state, "%s.%s.rc" % (prefix, name)), "%d\n" % status)


def install(fleet, label, tool="dnf", wordpress=False):
    """Stand-ins for `tool` (`dnf`: AlmaLinux 9 style, fixture dnf-updates.txt then dnf-none.txt;
    `apt`: Debian 12, debian12-updates.txt then debian12-none.txt) and, with `wordpress`, wp-cli
    (wp-updates.txt's first site, then wp-none.txt) on `label`'s SSH PATH."""
    state = os.path.join(fleet.pubhostdir(fleet.host(label)), "update-standins")
    os.makedirs(state, exist_ok=True)
    os.chmod(state, 0o777)
    fixtures = {"dnf": ("dnf-updates.txt", "dnf-none.txt"), "apt": ("debian12-updates.txt", "debian12-none.txt")}
    updates, none = fixtures[tool]
    _state_files(state, "updates", updates)
    _state_files(state, "none", none)
    _write(os.path.join(state, "reboot-no"), NO_REBOOT)
    _write(os.path.join(state, "reboot-yes"), REBOOT)
    _write(os.path.join(state, "applied-output"), DNF_APPLIED)
    _write(os.path.join(state, "calls.log"), "", 0o666)
    fill = {"state": state}
    if tool == "dnf":
        fleet.set_command(label, "dnf", DNF % fill)
        fleet.set_command(label, "rpm", RPM % fill)
        fleet.set_command(label, "needs-restarting", NEEDS_RESTARTING % fill)
    else:
        fleet.set_command(label, "apt", APT % fill)
        fleet.set_command(label, "apt-cache", APT_CACHE % fill)
        fleet.set_command(label, "apt-get", APT_GET % fill)
    if wordpress:
        _state_files(state, "wp-updates", "wp-updates.txt")
        _state_files(state, "wp-none", "wp-none.txt")
        fleet.set_command(label, "wp", WP % fill)
    return Standins(state)
