"""Every protocol check of `anshin check` against real servers on loopback: it passes on a
healthy peer and fails on a closed port, a silent port (at the timeout) and a wrong greeting."""
import json
import os

import pytest

from conftest import anshin
from fleet import WRONG

SERVICES = ["http", "https", "plesk", "dns", "imap", "pop", "imaps", "pops", "smtp",
            "submission", "smtps", "ftp", "mysql", "postgresql"]
TIMEOUT = 2


@pytest.fixture(scope="module")
def fleet(fleet_factory, tmp_path_factory):
    f = fleet_factory("127.78.11", ["all01:" + ",".join(SERVICES)])
    path = os.path.join(str(tmp_path_factory.mktemp("probes")), "fleet.toml")
    with open(path, "w") as fh:
        fh.write(f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=TIMEOUT))
    f.path = path
    return f


def check(fleet):
    r = anshin("check", fleet.path, "--host", "all01", "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    for row in rows:
        assert set(row) == {"host", "check", "ok", "detail", "ms"}, row
        assert row["host"] == "all01"
    return {row["check"]: row for row in rows}


def test_healthy_peers_pass(fleet):
    rows = check(fleet)
    assert sorted(rows) == sorted(SERVICES + ["ping", "ssh"])
    failed = {k: v["detail"] for k, v in rows.items() if not v["ok"]}
    assert failed == {}
    assert rows["ssh"]["detail"].startswith("SSH-2.0-OpenSSH")
    assert rows["http"]["detail"].startswith("HTTP/1.1 ")
    assert "TLS" in rows["https"]["detail"]
    assert rows["imap"]["detail"].startswith("* OK")
    assert rows["pop"]["detail"].startswith("+OK")
    assert rows["smtp"]["detail"].startswith("220")
    assert rows["ftp"]["detail"].startswith("220")
    assert "MySQL protocol 10" in rows["mysql"]["detail"]
    assert "SSLRequest" in rows["postgresql"]["detail"]
    assert "NOERROR with 1 answer" in rows["dns"]["detail"]


def check_with_every_service(fleet, fault):
    """Runs the checks while every service is stopped ("closed") or replaced by a silent or
    lying listener, and puts the real servers back afterwards."""
    try:
        for svc in SERVICES:
            if fault == "closed":
                fleet.stop_service("all01", svc)
            else:
                fleet.fault("all01", svc, fault)
        return check(fleet)
    finally:
        for svc in SERVICES:
            fleet.start_service("all01", svc)


def test_closed_ports_fail_at_once(fleet):
    rows = check_with_every_service(fleet, "closed")
    for svc in SERVICES:
        assert not rows[svc]["ok"], svc
        assert rows[svc]["ms"] < 1000, rows[svc]
    for svc in [s for s in SERVICES if s != "dns"]:
        assert "connection refused" in rows[svc]["detail"], rows[svc]
    assert rows["ssh"]["ok"] and rows["ping"]["ok"]


def test_silent_ports_fail_at_the_timeout(fleet):
    rows = check_with_every_service(fleet, "silent")
    for svc in SERVICES:
        row = rows[svc]
        assert not row["ok"], row
        assert "timeout" in row["detail"], row
        assert TIMEOUT * 1000 * 0.9 <= row["ms"] <= TIMEOUT * 1000 + 1500, row


def test_wrong_greetings_fail_with_the_greeting_in_detail(fleet):
    rows = check_with_every_service(fleet, "wrong")
    for svc in SERVICES:
        row = rows[svc]
        assert not row["ok"], row
        if svc != "dns":  # a DNS "wrong" answer is a datagram, not a greeting line
            assert 'got "%s"' % WRONG[svc].strip() in row["detail"], row
