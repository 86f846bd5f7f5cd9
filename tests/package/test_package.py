"""The two Debian packages of `make package`, installed on this machine and used.

In order (the tests share one installation; each needs the ones before it):
- the packages hold what README "Install" says (files, conffiles, dependencies, no missing
  library), installed with `dpkg -i` only (no registry traffic: their dependencies are already
  installed by scripts/install-deps.sh);
- the unit passes `systemd-analyze verify` and `systemd-analyze security --offline=true` (and the
  same unit stripped of its hardening does not, so the check can fail);
- the postinst made the service's own system user, its state directory and the permissions of
  the configuration;
- the unit's ExecStart, started by hand as its user with its limits (tests/package/unit.py:
  setpriv, prlimit, the file-system protections in a private mount namespace), refuses to start
  on the placeholder tokens file and without CAP_NET_RAW, and with tokens answers
  `GET /api/v1/health` (200 with a token, 401 without) while it watches a loopback fleet
  (tests/fleet, 127.78.150.x: real nginx, sshd, SMTP sink): ping works through the ambient
  capability, a stopped nginx opens an incident and its alert reaches the SMTP server, all as
  the unprivileged user with every state file in /var/lib/anshin-noc; SIGTERM to its PID stops
  it cleanly;
- the installed desktop app opens the service's log (`--review`) and lists that incident;
- `systemctl reload` (the unit's ExecReload, SIGHUP) re-reads the tokens file: a revoked token is
  refused at once and the service goes on;
- a reinstall keeps the admin's tokens and their permissions; `dpkg --remove` keeps the
  configuration, the state and the user; `dpkg --purge` leaves the machine as it was (user,
  group, directories gone).

Needs root (dpkg, setpriv, the fleet), the fleet lock when run by hand:
  flock /tmp/anshin-fleet.lock /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/package
"""
import contextlib
import glob
import grp
import importlib.util
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "fleet"))

from unit import ServiceUnit  # noqa: E402


def load_e2e():
    """The desktop tests' helpers (wait_for; desktop_session: Xvfb, private bus, tauri-driver),
    loaded under their own module name (this folder has no conftest of that name to clash with)."""
    spec = importlib.util.spec_from_file_location("e2e_conftest", os.path.join(ROOT, "tests", "e2e", "conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = load_e2e()
wait_for = e2e.wait_for

DIST = os.environ.get("ANSHIN_DIST", os.path.join(ROOT, "dist"))
ARTIFACTS = os.environ.get("ARTIFACTS", os.path.join(ROOT, "artifacts"))
PACKAGES = ("anshin-noc", "anshin-noc-desktop")
USER = "anshin-noc"
UNIT = "/lib/systemd/system/anshin-noc.service"
STATE = "/var/lib/anshin-noc"
CONF = "/etc/anshin-noc"
NET = "127.78.150"  # this file's own addresses
LISTEN = NET + ".240:8470"
OPERATOR = "op-" + "7f3a9c1e5b2d8f4a6c0e"
VIEWER = "view-" + "2b8d4f6a0c1e3a5b7d9f"
# Left by the test right after it installs: a later run may purge an installation it finds
# only when this is there (a real installation on this machine is never touched).
MARKER = os.path.join(CONF, ".installed-by-package-test")
# What the packages add; none of it may exist before the test or after the purge.
FOOTPRINT = ("/usr/bin/anshin", "/usr/bin/anshin-desktop", UNIT, CONF, STATE, "/etc/default/anshin-noc",
             "/usr/share/applications/anshin-noc-desktop.desktop", "/usr/share/doc/anshin-noc")
HARDENING = {  # what the unit must say, as README "Install" documents it
    "User": "anshin-noc", "Group": "anshin-noc", "LimitNOFILE": "65536",
    "AmbientCapabilities": "CAP_NET_RAW", "CapabilityBoundingSet": "CAP_NET_RAW",
    "ExecReload": "/bin/kill -HUP $MAINPID", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
    "ReadWritePaths": STATE, "PrivateTmp": "yes", "ProtectHome": "yes", "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK", "RestrictNamespaces": "yes",
    "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "StateDirectory": "anshin-noc",
    "ConfigurationDirectory": "anshin-noc",
}


def run(argv, timeout=120, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def installed(pkg):
    r = run(["dpkg-query", "-W", "-f=${Status}", pkg])
    return r.returncode == 0 and r.stdout.strip() == "install ok installed"


def dpkg(*args):
    """dpkg, waiting (bounded) while another dpkg/apt holds its lock."""
    deadline = time.monotonic() + 300
    while True:
        r = run(["dpkg", *args], timeout=600)
        if r.returncode == 0 or "lock" not in r.stderr or time.monotonic() > deadline:
            return r
        time.sleep(3)


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def leftovers():
    return [p for p in FOOTPRINT if os.path.lexists(p)] + \
        ["user " + USER] * user_exists(USER) + ["group " + USER] * group_exists(USER)


def purge():
    return dpkg("--purge", *PACKAGES)


def deb(name):
    found = sorted(glob.glob(os.path.join(DIST, "%s_*.deb" % name)))
    if len(found) != 1:
        pytest.fail("expected one %s_*.deb in %s, found %s: run `make package`" % (name, DIST, found))
    return found[0]


def http(path, token=None, timeout=5):
    req = urllib.request.Request("http://%s%s" % (LISTEN, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
    except (urllib.error.URLError, OSError) as e:  # not listening (yet)
        return None, str(e)


def write_conf(path, text):
    """Writes a configuration file as the admin would, keeping the owner and mode the package set."""
    st = os.stat(path)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chown(path, st.st_uid, st.st_gid)
    os.chmod(path, stat.S_IMODE(st.st_mode))


def proc_status(pid):
    with open("/proc/%d/status" % pid) as fh:
        return dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)


@pytest.fixture(scope="module")
def packages():
    """Both packages installed with dpkg -i; purged at the end whatever happened."""
    if os.geteuid() != 0:
        pytest.fail("the package test installs packages and needs root (CI runs as root)")
    debs = [deb(p) for p in PACKAGES]
    os.makedirs(ARTIFACTS, exist_ok=True)
    if any(installed(p) for p in PACKAGES) or leftovers():
        if not os.path.exists(MARKER):
            pytest.fail("anshin-noc is already installed or left files here (%s): this test installs and "
                        "purges it; remove it first (dpkg --purge anshin-noc anshin-noc-desktop)" % leftovers())
        purge()  # a crashed earlier run of this test
        assert not leftovers(), leftovers()
    r = dpkg("-i", *debs)
    try:
        assert r.returncode == 0, "dpkg -i failed:\n" + r.stdout + r.stderr
        with open(MARKER, "w") as fh:
            fh.write("installed by tests/package for a test run; purged when it ends\n")
        yield debs
    finally:
        if any(installed(p) for p in PACKAGES) or os.path.exists(MARKER):
            purge()


@pytest.fixture(scope="module")
def unit(packages):
    return ServiceUnit(UNIT)


@pytest.fixture(scope="module")
def fleet():
    """web01 on 127.78.150.2 (nginx on :80, sshd) and the SMTP sink on 127.78.150.250:2525."""
    from fleet import Fleet
    work = tempfile.mkdtemp(prefix="anshin-package-fleet-")
    f = Fleet(work, net=NET, hosts=["web01:http"])
    try:
        f.up()
        yield f
    finally:
        f.down()
        shutil.rmtree(work, ignore_errors=True)


class Service:
    """The unit's ExecStart started by hand (unit.py); its output in $ARTIFACTS."""

    def __init__(self, unit, name, ambient=True):
        self.log_path = os.path.join(ARTIFACTS, "package-%s.log" % name)
        self.log = open(self.log_path, "w")
        self.proc, self.nofile = unit.spawn(self.log, ambient=ambient)
        self.pid = self.proc.pid

    def output(self):
        self.log.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def wait(self, seconds):
        try:
            return self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, seconds=20):
        """SIGTERM to its PID, as systemd's stop does; SIGKILL if it lingers. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(seconds) is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
        return self.proc.returncode


@contextlib.contextmanager
def service(unit, name, ambient=True):
    s = Service(unit, name, ambient)
    try:
        yield s
    finally:
        s.stop()


# ---------------------------------------------------------------------------------------------

def test_packages_hold_what_the_readme_says(packages):
    for pkg in PACKAGES:
        assert installed(pkg), pkg
    files = run(["dpkg", "-L", "anshin-noc"]).stdout.split("\n")
    for path in ("/usr/bin/anshin", UNIT, CONF + "/fleet.toml", CONF + "/tokens", "/etc/default/anshin-noc"):
        assert path in files, path
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "anshin-noc"]).stdout
    for path in (CONF + "/fleet.toml", CONF + "/tokens", "/etc/default/anshin-noc"):
        assert path in conffiles, conffiles
    depends = {pkg: run(["dpkg-query", "-W", "-f=${Depends}", pkg]).stdout for pkg in PACKAGES}
    for dep in ("fonts-noto-cjk", "fontconfig", "libc6", "adduser", "zstd"):
        assert dep in depends["anshin-noc"], depends
    for dep in ("fonts-noto-cjk", "fontconfig", "gstreamer1.0-plugins-base", "gstreamer1.0-plugins-good",
                "libwebkit2gtk-4.1-0", "zstd"):
        assert dep in depends["anshin-noc-desktop"], depends
    desktop_files = run(["dpkg", "-L", "anshin-noc-desktop"]).stdout.split("\n")
    assert "/usr/bin/anshin-desktop" in desktop_files
    assert "/usr/share/applications/anshin-noc-desktop.desktop" in desktop_files
    with open("/usr/share/applications/anshin-noc-desktop.desktop", encoding="utf-8") as fh:
        entry = fh.read()
    assert "Name=Anshin NOC\n" in entry and "Exec=anshin-desktop" in entry, entry
    # every library the binaries link is there (declared dependencies, all installed)
    for binary in ("/usr/bin/anshin", "/usr/bin/anshin-desktop"):
        ldd = run(["ldd", binary]).stdout
        assert "not found" not in ldd, ldd
    r = run(["/usr/bin/anshin", "--version"])
    assert r.returncode == 0 and r.stdout.startswith("anshin "), r.stdout + r.stderr


def test_example_fleet_is_valid_and_loopback_only(packages):
    r = run(["/usr/bin/anshin", "validate", CONF + "/fleet.toml"])
    assert r.returncode == 0, r.stdout + r.stderr
    with open(CONF + "/fleet.toml", "rb") as fh:
        example = tomllib.load(fh)
    assert example["server"] and all(s["ip"].startswith("127.") for s in example["server"]), example["server"]
    assert "smtp" not in example  # no mail leaves before the admin says where


def test_unit_passes_systemd_analyze_verify(unit):
    for key, value in HARDENING.items():
        assert unit.one(key) == value, "%s=%r in %s" % (key, unit.one(key), UNIT)
    assert "@system-service" in unit.values("SystemCallFilter"), unit.values("SystemCallFilter")
    r = run(["systemd-analyze", "verify", UNIT])
    ours = [line for line in (r.stdout + r.stderr).splitlines() if "anshin-noc" in line]
    assert r.returncode == 0 and not ours, r.stdout + r.stderr


def exposure(path):
    r = run(["systemd-analyze", "security", "--offline=true", "--no-pager", path])
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    assert m, r.stdout + r.stderr
    return float(m.group(1)), r.stdout


def test_unit_security_is_low_exposure(unit, tmp_path):
    score, report = exposure(UNIT)
    with open(os.path.join(ARTIFACTS, "package-security.txt"), "w") as fh:
        fh.write(report)
    assert score <= 2.0, report
    for setting in ("NoNewPrivileges=", "ProtectSystem=", "ProtectHome=", "PrivateTmp=", "PrivateDevices=",
                    "ProtectKernelTunables=", "ProtectKernelModules=", "ProtectControlGroups=",
                    "MemoryDenyWriteExecute=", "LockPersonality=", "RestrictNamespaces=~user",
                    "SystemCallFilter=~@privileged", "CapabilityBoundingSet=~CAP_SYS_ADMIN", "User=/DynamicUser="):
        line = next((l for l in report.splitlines() if setting in l), "")
        assert line.lstrip().startswith("✓"), "%s not held:\n%s" % (setting, report)
    # The same service without its hardening scores far worse: the check above can fail.
    bare = tmp_path / "anshin-noc.service"
    with open(UNIT, encoding="utf-8") as fh:
        keep = [l for l in fh if not re.match(r"(Protect|Private|Restrict|NoNew|Memory|Lock|SystemCall|"
                                              r"Capability|Remove|UMask)", l)]
    bare.write_text("".join(keep))
    assert exposure(str(bare))[0] > 5.0


def test_postinst_made_the_user_and_the_permissions(packages):
    u = pwd.getpwnam(USER)
    assert u.pw_uid < 1000 and u.pw_dir == STATE and u.pw_shell == "/usr/sbin/nologin", u
    g = grp.getgrnam(USER)
    assert u.pw_gid == g.gr_gid
    for path, owner, group, mode in ((STATE, USER, USER, 0o750), (STATE + "/reports", USER, USER, 0o750),
                                     (STATE + "/backups", USER, USER, 0o750), (CONF, "root", USER, 0o750),
                                     (CONF + "/fleet.toml", "root", USER, 0o640),
                                     (CONF + "/tokens", "root", USER, 0o640),
                                     (CONF + "/credentials", "root", "root", 0o700)):
        st = os.stat(path)
        got = (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, stat.S_IMODE(st.st_mode))
        assert got == (owner, group, mode), (path, got)


def test_service_refuses_the_placeholder_tokens(unit):
    with service(unit, "no-tokens") as s:
        rc = s.wait(30)
        out = s.output()
    assert rc == 2, "exit %s:\n%s" % (rc, out)  # bad input: RestartPreventExitStatus=2, no restart loop
    assert "no tokens" in out, out


@pytest.fixture(scope="module")
def configured(unit, fleet):
    """The admin's part of README "Install": the fleet file, tokens, the listen address."""
    toml = fleet.fleet_toml(interval_secs=1, attempts=2, timeout_secs=2)
    toml += '\n[smtp]\nurl = "smtp://%s.250:2525"\n' % NET
    write_conf(CONF + "/fleet.toml", toml)
    write_conf(CONF + "/tokens", "operator %s yamada\nviewer %s wall\n" % (OPERATOR, VIEWER))
    write_conf("/etc/default/anshin-noc", "ANSHIN_NOC_LISTEN=%s\nANSHIN_NOC_ARGS=\n" % LISTEN)
    r = run(["/usr/bin/anshin", "validate", CONF + "/fleet.toml"])
    assert r.returncode == 0, r.stdout + r.stderr
    return fleet


def test_service_needs_its_ambient_net_raw(unit, configured):
    with open("/proc/sys/net/ipv4/ping_group_range") as fh:
        low, high = map(int, fh.read().split())
    if low <= grp.getgrnam(USER).gr_gid <= high:
        pytest.skip("unprivileged ping is allowed here (net.ipv4.ping_group_range): no capability needed")
    with service(unit, "no-net-raw", ambient=False) as s:
        rc = s.wait(30)
        out = s.output()
    assert rc not in (None, 0), out
    assert "ICMP" in out and "net_raw" in out.lower(), out


def test_service_answers_health_and_watches_the_fleet(unit, configured):
    fleet = configured
    fleet.sink_clear()
    with service(unit, "serve") as s:
        up = wait_for(lambda: s.proc.poll() is not None or http("/api/v1/health", OPERATOR)[0] == 200, 60)
        assert up and s.proc.poll() is None, "not serving:\n" + s.output()
        status, health = http("/api/v1/health", OPERATOR)
        assert status == 200 and {"started_at", "checks", "interval_secs"} <= set(health), health
        assert http("/api/v1/health")[0] == 401
        assert http("/api/v1/health", "not-a-token-at-all-0000")[0] == 401

        # It runs as the unit says: its user, only CAP_NET_RAW (ambient), no new privileges, its limit.
        st = proc_status(s.pid)
        uid, gid = pwd.getpwnam(USER).pw_uid, grp.getgrnam(USER).gr_gid
        assert st["Uid"].split() == [str(uid)] * 4 and st["Gid"].split() == [str(gid)] * 4, st
        net_raw = "%016x" % (1 << 13)
        assert (st["CapEff"], st["CapAmb"], st["CapBnd"]) == (net_raw,) * 3, st
        assert st["NoNewPrivs"] == "1"
        with open("/proc/%d/limits" % s.pid) as fh:
            limit = next(line for line in fh if line.startswith("Max open files")).split()[3:5]
        assert limit == [str(s.nofile)] * 2, limit
        print("LimitNOFILE applied: %d (unit asks %d)" % (s.nofile, unit.nofile()[1]))
        # ... and sees the file system as ProtectSystem=strict, PrivateTmp= and ProtectHome= make it.
        def as_service(*cmd):
            return run(["nsenter", "--target", str(s.pid), "--mount", "--setuid", str(uid), "--setgid", str(gid),
                        *cmd], timeout=30)
        for path in (CONF + "/probe", "/usr/local/probe", "/var/anshin-probe"):
            r = as_service("touch", path)
            assert r.returncode != 0 and "Read-only file system" in r.stderr, (path, r.stderr)
        assert as_service("touch", STATE + "/.probe").returncode == 0
        os.unlink(STATE + "/.probe")
        assert as_service("test", "-e", fleet.workdir).returncode == 1  # a fresh /tmp
        assert as_service("ls", "/root").returncode != 0

        # Ping needs the raw socket (unprivileged ping is off here); nginx answers on :80.
        def checks():
            status, servers = http("/api/v1/servers", VIEWER)
            web = next((v for v in servers if v["label"] == "web01"), None) if status == 200 else None
            return web and {c["check"]: c for c in web["checks"]}
        ok = wait_for(lambda: (c := checks()) and all(c[k]["ok"] is True for k in ("ping", "ssh", "http")), 30)
        assert ok, checks()

        # A stopped service: an incident, and its alert mailed through the SMTP server.
        fleet.stop_service("web01", "http")
        try:
            mails = fleet.sink_wait(1, timeout=30)
        finally:
            fleet.start_service("web01", "http")
        subjects = [m["Subject"] for m in mails]
        assert "[Speever][Lv.4]web01 HTTP サービスダウン" in subjects, subjects
        status, incidents = http("/api/v1/incidents?limit=10", VIEWER)
        assert status == 200 and any(i["host"] == "web01" and i["check"] == "http" for i in incidents), incidents
        rc = s.stop()
    assert rc == 0, "exit %s after SIGTERM:\n%s" % (rc, s.output())
    # everything it wrote is in its state directory, owned by it, not readable by others (UMask=0027)
    db = os.path.join(STATE, "anshin.db")
    st = os.stat(db)
    assert pwd.getpwuid(st.st_uid).pw_name == USER and stat.S_IMODE(st.st_mode) & 0o007 == 0, oct(st.st_mode)


def test_installed_desktop_reviews_the_service_log(configured, monkeypatch, tmp_path):
    """The packaged desktop app (not the build tree's) opens what the packaged service wrote."""
    out = str(tmp_path / "service-log.db")
    r = run(["/usr/bin/anshin", "export", "--db", os.path.join(STATE, "anshin.db"), "--out", out])
    assert r.returncode == 0, r.stdout + r.stderr
    monkeypatch.setenv("ANSHIN_DESKTOP_BIN", "/usr/bin/anshin-desktop")
    rows = "return Array.from(document.querySelectorAll('[data-testid=review-row]'))" \
           ".map(e => e.textContent.replace(/\\s+/g, ' ').trim());"
    with e2e.desktop_session("package-review", ["--review", out]) as desk:
        listed = desk.poll(rows, lambda v: v and any("web01" in t and "HTTP" in t for t in v), 60)
        desk.screenshot("package-desktop-review.png")
    assert listed and any("web01" in t and "HTTP" in t for t in listed), listed


def test_reload_rereads_the_tokens_file(unit, configured):
    with service(unit, "reload") as s:
        assert wait_for(lambda: s.proc.poll() is not None or http("/api/v1/health", VIEWER)[0] == 200, 60), \
            s.output()
        write_conf(CONF + "/tokens", "operator %s yamada\n" % OPERATOR)  # the viewer token revoked
        r = unit.reload(s.pid)
        assert r.returncode == 0, r.stderr
        assert wait_for(lambda: s.proc.poll() is not None or http("/api/v1/health", VIEWER)[0] == 401, 10)
        assert s.proc.poll() is None, "the service ended on SIGHUP:\n" + s.output()
        assert http("/api/v1/health", OPERATOR)[0] == 200


def test_reinstall_keeps_the_admins_configuration(packages, configured):
    """An upgrade path (the same version again): the admin's files and their permissions stay."""
    with open(CONF + "/tokens", encoding="utf-8") as fh:
        tokens = fh.read()
    uid = pwd.getpwnam(USER).pw_uid
    r = dpkg("-i", "--force-confold", deb("anshin-noc"))
    assert r.returncode == 0, r.stdout + r.stderr
    with open(CONF + "/tokens", encoding="utf-8") as fh:
        assert fh.read() == tokens
    st = os.stat(CONF + "/tokens")
    assert (st.st_uid, grp.getgrgid(st.st_gid).gr_name, stat.S_IMODE(st.st_mode)) == (0, USER, 0o640)
    assert pwd.getpwnam(USER).pw_uid == uid


def test_remove_keeps_configuration_state_and_user(packages):
    r = dpkg("--remove", *PACKAGES)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not os.path.exists("/usr/bin/anshin") and not os.path.exists(UNIT)
    assert os.path.exists(os.path.join(STATE, "anshin.db")) and os.path.exists(CONF + "/tokens")
    assert user_exists(USER)


def test_purge_leaves_the_machine_as_it_was(packages):
    r = purge()
    assert r.returncode == 0, r.stdout + r.stderr
    assert not any(installed(p) for p in PACKAGES)
    assert not leftovers(), leftovers()
