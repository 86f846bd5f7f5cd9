"""Self-test of the loopback fleet harness.

Run as root with Debian's python:  /usr/bin/python3 -m pytest -q tests/fleet
"""
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet as fleetmod  # noqa: E402
from fleet import Fleet  # noqa: E402

NET = "127.78.201"
CLI_NET = "127.78.202"
ALL = ["http", "https", "plesk", "dns", "imap", "pop", "imaps", "pops", "smtp",
       "submission", "smtps", "ftp"]
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the fleet needs root")


@pytest.fixture(scope="module")
def fleet():
    wd = tempfile.mkdtemp(prefix="anshin-fleet-test-")
    f = Fleet(wd, net=NET, hosts=["web01:" + ",".join(ALL),
                                 {"label": "db01", "services": ["mysql", "postgresql"],
                                  "ports": {"ssh": 2222}, "os": "AlmaLinux 9"}],
              gateway=True)
    t0 = time.monotonic()
    f.up()
    print("fleet up in %.2fs" % (time.monotonic() - t0))
    yield f
    f.down()
    shutil.rmtree(wd, ignore_errors=True)


# ------------------------------------------------------------------ probes

def connect(addr, port, timeout=3.0):
    s = socket.create_connection((addr, port), timeout=timeout)
    s.settimeout(timeout)
    return s


def tls(sock, addr):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(sock, server_hostname=None)


def read_line(s, limit=4096):
    buf = b""
    while b"\n" not in buf and len(buf) < limit:
        chunk = s.recv(limit)
        if not chunk:
            break
        buf += chunk
    return buf


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def http_status(s, host):
    s.sendall(b"GET / HTTP/1.0\r\nHost: " + host.encode() + b"\r\n\r\n")
    return read_line(s)


def dns_query(addr, name, port=53, timeout=2.0):
    qid = 0x4e4f
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", 1, 1)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(timeout)
    try:
        u.sendto(q, (addr, port))
        data, _ = u.recvfrom(4096)
    finally:
        u.close()
    rid, flags, qd, an = struct.unpack(">HHHH", data[:8])
    assert rid == qid
    assert flags & 0x8000 and flags & 0xF == 0, "not a NOERROR response"
    assert an >= 1
    # the A record's rdata is the last 4 bytes for a single-answer reply
    return socket.inet_ntoa(data[-4:])


def greeting(f, label, svc):
    """Speak just enough of each protocol to see the real server's greeting."""
    h = f.host(label)
    addr, port = h.addr, h.port(svc)
    if svc == "dns":
        return dns_query(addr, h.fqdn, port)
    s = connect(addr, port)
    try:
        if svc in ("https", "plesk", "imaps", "pops", "smtps"):
            s = tls(s, addr)
        if svc in ("http", "https", "plesk"):
            return http_status(s, h.fqdn)
        if svc == "mysql":
            hdr = recv_exact(s, 4)
            n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
            return recv_exact(s, n)
        if svc == "postgresql":
            s.sendall(struct.pack(">II", 8, 80877103))
            return recv_exact(s, 1)
        return read_line(s)
    finally:
        s.close()


EXPECT = {
    "ssh": lambda g: g.startswith(b"SSH-2.0-OpenSSH"),
    "http": lambda g: g.startswith(b"HTTP/1.1 200"),
    "https": lambda g: g.startswith(b"HTTP/1.1 200"),
    "plesk": lambda g: g.startswith(b"HTTP/1.1 200"),
    "imap": lambda g: g.startswith(b"* OK"),
    "imaps": lambda g: g.startswith(b"* OK"),
    "pop": lambda g: g.startswith(b"+OK"),
    "pops": lambda g: g.startswith(b"+OK"),
    "smtp": lambda g: g.startswith(b"220 web01.example.jp"),
    "submission": lambda g: g.startswith(b"220 "),
    "smtps": lambda g: g.startswith(b"220 "),
    "ftp": lambda g: g.startswith(b"220"),
    "mysql": lambda g: g[0] == 10 and b"MariaDB" in g,
    "postgresql": lambda g: g in (b"S", b"N"),
}


# ------------------------------------------------------------------ tests

@pytest.mark.parametrize("label,svc", [("web01", s) for s in ["ssh"] + ALL if s != "dns"]
                         + [("db01", "mysql"), ("db01", "postgresql"), ("db01", "ssh")])
def test_real_greeting(fleet, label, svc):
    g = greeting(fleet, label, svc)
    assert EXPECT[svc](g), (svc, g)


def test_dns_answers_fqdn(fleet):
    assert greeting(fleet, "web01", "dns") == fleet.addr("web01")


def test_fleet_toml_shape(fleet):
    import tomllib
    d = tomllib.loads(fleet.fleet_toml(plan="300"))
    assert d["noc"] == {"brand": "Speever", "mail_from": "mail_alert@hosting-srv.net",
                        "interval_secs": 1, "attempts": 3, "timeout_secs": 2}
    assert d["customer"][0]["id"] == "c1001" and d["customer"][0]["plan"] == "300"
    assert d["customer"][0]["name"] == "サンプル株式会社"
    assert d["gateway"] == [{"label": "gw-a", "ip": NET + ".1"}]
    web, db = d["server"]
    assert web["ip"] == NET + ".2" and db["ip"] == NET + ".3"
    assert web["services"] == ALL and web["gateway"] == "gw-a" and web["ports"] == {}
    assert db["services"] == ["mysql", "postgresql"]
    assert db["ports"] == {"ssh": 2222} and db["os"] == "AlmaLinux 9"
    assert "gateway" not in tomllib.loads(fleet.fleet_toml(gateway=False))
    assert os.path.exists(fleet.toml_path)


def test_stop_start(fleet):
    addr = fleet.addr("web01")
    fleet.stop_service("web01", "http")
    try:
        assert fleetmod.port_state(addr, 80) == "refused"
        assert EXPECT["https"](greeting(fleet, "web01", "https"))  # the others stay up
    finally:
        fleet.start_service("web01", "http")
    assert EXPECT["http"](greeting(fleet, "web01", "http"))
    fleet.stop_service("web01", "imaps")
    try:
        assert fleetmod.port_state(addr, 993) == "refused"
        assert EXPECT["imap"](greeting(fleet, "web01", "imap"))
    finally:
        fleet.start_service("web01", "imaps")
    assert EXPECT["imaps"](greeting(fleet, "web01", "imaps"))


def test_fault_silent(fleet):
    addr = fleet.addr("web01")
    fleet.fault("web01", "imap", "silent")
    try:
        s = connect(addr, 143, timeout=0.7)
        with pytest.raises(socket.timeout):
            s.recv(100)
        s.close()
    finally:
        fleet.clear_fault("web01", "imap")
    assert EXPECT["imap"](greeting(fleet, "web01", "imap"))


def test_fault_wrong(fleet):
    fleet.fault("web01", "imap", "wrong")
    fleet.fault("web01", "https", "wrong")
    try:
        assert greeting(fleet, "web01", "imap") == b"220 not what you expected\r\n"
        s = tls(connect(fleet.addr("web01"), 443), None)
        assert read_line(s) == b"+OK wrong\r\n"
        s.close()
    finally:
        fleet.clear_fault("web01", "imap")
        fleet.clear_fault("web01", "https")
    assert EXPECT["imap"](greeting(fleet, "web01", "imap"))
    assert EXPECT["https"](greeting(fleet, "web01", "https"))


def fping(addr):
    return subprocess.run(["fping", "-c1", "-t300", addr], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=10).returncode == 0


def test_icmp_drop_restore(fleet):
    web, gw = fleet.addr("web01"), fleet.gateway["ip"]
    assert fping(web) and fping(gw)
    fleet.drop_icmp(gw)
    try:
        assert not fping(gw)
        assert fping(web)
        assert EXPECT["http"](greeting(fleet, "web01", "http"))
    finally:
        fleet.restore_icmp(gw)
    assert fping(gw)
    fleet.drop_icmp("web01")
    try:
        assert not fping(web)
        assert EXPECT["ssh"](greeting(fleet, "web01", "ssh"))  # TCP still fine
    finally:
        fleet.restore_icmp("web01")
    assert fping(web)


def test_drop_host(fleet):
    db = fleet.addr("db01")
    fleet.drop_host(db)
    try:
        assert not fping(db)
        assert fleetmod.port_state(db, 3306, timeout=0.5) == "timeout"
    finally:
        fleet.restore_host(db)
    assert fping(db)
    assert fleetmod.port_state(db, 3306) == "open"


def test_ssh_key_login_sees_per_host_loadavg(fleet):
    fleet.set_loadavg("web01", "25.31 1.00 0.50 1/100 1234")
    fleet.set_loadavg("db01", "0.01 0.02 0.03 2/200 4321")
    fleet.set_command("web01", "nproc", "echo 16\n")
    r = subprocess.run(["ssh", "-i", fleet.key, "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                        "anshin@" + fleet.addr("web01"), "cat /proc/loadavg; nproc"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["25.31 1.00 0.50 1/100 1234", "16"]
    r = subprocess.run(fleet.ssh_argv("db01", "cat", "/proc/loadavg"), capture_output=True,
                       text=True, timeout=20)
    assert r.stdout == "0.01 0.02 0.03 2/200 4321\n", r.stderr
    fleet.set_loadavg("web01", "1.5 1.0 0.5 1/100 1")   # in place, seen at once
    r = subprocess.run(fleet.ssh_argv("web01", "cat", "/proc/loadavg"), capture_output=True,
                       text=True, timeout=20)
    assert r.stdout == "1.5 1.0 0.5 1/100 1\n"
    # the host itself is untouched
    with open("/proc/loadavg") as fh:
        assert not fh.read().startswith("1.5 1.0 0.5 1/100 1")


def test_sink_receives_mail(fleet):
    fleet.sink_clear()
    r = subprocess.run(["swaks", "--server", fleet.sink_addr, "--port", str(fleet.sink_port),
                        "--from", "mail_alert@hosting-srv.net", "--to", "ops@example.jp",
                        "--header", "Subject: [Speever] web01 DOWN", "--body", "ping lost",
                        "--timeout", "10"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    msgs = fleet.sink_messages()
    assert len(msgs) == 1
    assert msgs[0]["Subject"] == "[Speever] web01 DOWN"
    assert "ping lost" in msgs[0].get_content()


def test_smtp_starttls_on_submission(fleet):
    import smtplib
    with smtplib.SMTP(fleet.addr("web01"), 587, timeout=5) as c:
        c.ehlo()
        assert c.has_extn("starttls")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c.starttls(context=ctx)
        assert c.ehlo()[0] == 250


def test_logins(fleet):
    """The mail and database servers are real: a login works (credentials in README)."""
    import imaplib
    import poplib
    addr = fleet.addr("web01")
    m = imaplib.IMAP4(addr, timeout=5)
    assert m.login("anshin", "anshin")[0] == "OK"
    assert m.select("INBOX")[0] == "OK"
    m.logout()
    p = poplib.POP3(addr, timeout=5)
    p.user("anshin")
    assert p.pass_("anshin").startswith(b"+OK")
    p.quit()
    db = fleet.addr("db01")
    if shutil.which("mariadb"):
        r = subprocess.run(["mariadb", "-h", db, "-u", "anshin", "-panshin", "-Nse",
                            "select 1"], capture_output=True, text=True, timeout=20)
        assert r.stdout.strip() == "1", r.stderr
    if shutil.which("psql"):
        r = subprocess.run(["psql", "-h", db, "-U", "postgres", "-tAc", "select 1"],
                           capture_output=True, text=True, timeout=20)
        assert r.stdout.strip() == "1", r.stderr


# ------------------------------------------------------------------ CLI + teardown

def _alive(pid):
    return fleetmod._alive(pid)


def test_cli_and_down_leaves_nothing():
    wd = tempfile.mkdtemp(prefix="anshin-fleet-cli-")
    cli = ["/usr/bin/python3", fleetmod.SELF]
    try:
        r = subprocess.run(cli + ["up", "--dir", wd, "--net", CLI_NET,
                                  "--hosts", "web01:http,imap,smtp", "db01:pop"],
                           capture_output=True, text=True, timeout=90)
        assert r.returncode == 0, r.stderr
        toml_path, js = r.stdout.split("\n", 1)
        assert os.path.exists(toml_path)
        summary = json.loads(js)
        web = CLI_NET + ".2"
        assert fleetmod.port_state(web, 80) == "open"
        f = Fleet.attach(wd)
        # every process of every service, children included
        pids = set()
        for rec in f.procs.values():
            pids |= fleetmod._tree(rec)
        assert set(summary["pids"].values()) <= pids

        def cli_ok(*args):
            rr = subprocess.run(cli + list(args), capture_output=True, text=True, timeout=60)
            assert rr.returncode == 0, rr.stderr
        cli_ok("stop", wd, "web01", "http")
        assert fleetmod.port_state(web, 80) == "refused"
        cli_ok("start", wd, "web01", "http")
        assert fleetmod.port_state(web, 80) == "open"
        cli_ok("fault", wd, "web01", "smtp", "wrong")
        s = connect(web, 25)
        assert read_line(s) == b"+OK wrong\r\n"
        s.close()
        cli_ok("clear-fault", wd, "web01", "smtp")
        s = connect(web, 25)
        assert read_line(s).startswith(b"220 ")
        s.close()
        cli_ok("drop-icmp", wd, web)
        assert not fping(web)
        cli_ok("restore-icmp", wd, web)
        assert fping(web)
        cli_ok("drop-icmp", wd, web)   # left dropped on purpose: down must clean it
        # an ssh session that is still open at teardown must be cleaned up too
        sess = subprocess.Popen(Fleet.attach(wd).ssh_argv("web01", "sleep", "60"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        f = Fleet.attach(wd)
        while time.monotonic() < deadline:
            now = set()
            for rec in f.procs.values():
                now |= fleetmod._tree(rec)
            if any(open("/proc/%d/comm" % p).read().strip() == "sleep"
                   for p in now if _alive(p)):
                break
            time.sleep(0.1)
        for rec in f.procs.values():
            pids |= fleetmod._tree(rec)
        t0 = time.monotonic()
        cli_ok("down", "--dir", wd)
        print("CLI down in %.2fs" % (time.monotonic() - t0))
        cli_ok("down", "--dir", wd)   # idempotent
        sess.wait(15)
        left = [p for p in pids if _alive(p)]
        assert left == [], left
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
        assert f.nft_table not in tables.stdout
        assert fping(web)
        assert fleetmod.port_state(web, 80) == "refused"
        with open("/proc/self/mountinfo") as fh:
            assert "loadavg" not in fh.read()
    finally:
        subprocess.run(cli + ["down", "--dir", wd], capture_output=True, timeout=60)
        shutil.rmtree(wd, ignore_errors=True)


def test_module_down_leaves_nothing(fleet):
    """Runs last (file order): tear the shared fleet down and look for leftovers."""
    pids = set()
    for rec in fleet.procs.values():
        pids |= fleetmod._tree(rec)
    assert len(pids) >= 20
    fleet.drop_host("db01")
    fleet.down()
    fleet.down()
    left = [p for p in pids if _alive(p)]
    assert left == [], left
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    assert fleet.nft_table not in tables.stdout
    for h in fleet.hosts:
        assert fleetmod.port_state(h.addr, h.port("ssh")) == "refused"
