"""Live fleet changes (contract §6): a running `anshin serve` follows its fleet file. Against the
loopback fleet, an edit adds a server, changes a phone number and removes a server: the new
server's checks run within an interval, the removed server's open incident closes `removed`
with no mail, nothing else restarts (no second `incident_opened`, the acknowledgement kept); an
invalid edit changes nothing and every console is shown FILE:LINE:COL; SIGHUP reads it again."""
import json
import signal
import time

from test_serve import OPERATOR, VIEWER, get, post, serving, wait_open_incident

NET = "127.78.41"


def without_server(toml, label):
    """The fleet text without one `[[server]]` table (tables are separated by blank lines)."""
    blocks = toml.split("\n\n")
    return "\n\n".join(b for b in blocks if 'label = "%s"' % label not in b)


def api(port, path):
    status, body = get(port, path, OPERATOR)
    assert status == 200, (path, status, body)
    return json.loads(body)


def wait_for(what, pred, seconds=20):
    """Polls `pred` (bounded) until it returns something true; fails naming `what`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.25)
    raise AssertionError("%s: not within %s s" % (what, seconds))


def audit(port, kind):
    entries = api(port, "/api/v1/audit?limit=500")["entries"]
    return [e for e in entries if e["kind"] == kind]


def test_a_running_engine_follows_its_fleet_file(fleet_factory, tmp_path):
    f = fleet_factory(NET, ["web01:http", "web02:http", "web03:http"])
    full = (f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2)
            + '\n[smtp]\nurl = "smtp://%s:%d"\n' % (f.sink_addr, f.sink_port))
    comment = "# The NOC's fleet. Comments like this one survive every change.\n"
    path = tmp_path / "fleet.toml"
    path.write_text(comment + without_server(full, "web03"))
    with serving(str(path), tmp_path, "operator %s yamada\nviewer %s\n" % (OPERATOR, VIEWER)) as (port, proc):
        f.stop_service("web01", "http")
        f.stop_service("web02", "http")
        kept = wait_open_incident(port, lambda i: i["host"] == "web01" and i["check"] == "http", "web01 incident")
        gone = wait_open_incident(port, lambda i: i["host"] == "web02" and i["check"] == "http", "web02 incident")
        status, _ = post(port, "/api/v1/incidents/%d/acknowledge" % kept["id"], OPERATOR, {"note": "見ています"})
        assert status == 200
        f.sink_wait(count=2, timeout=20)  # the two alerts
        f.sink_clear()
        opened_before = len(audit(port, "incident_opened"))

        # The operator edits the file: web03 added, web02 removed, the phone number changed.
        edited = comment + without_server(full, "web02").replace('"03-0000-0001"', '"03-1111-2222"')
        path.write_text(edited)

        def web03_checked():
            s = next((s for s in api(port, "/api/v1/servers") if s["label"] == "web03"), None)
            return s if s and all(c["last_at"] for c in s["checks"]) else None
        # Within one interval of the reload (1 s) plus the settling of the file (0.5 s) and
        # the watcher's look (1 s): bounded generously for a loaded CI machine.
        web03 = wait_for("web03's checks ran", web03_checked, seconds=15)
        assert {c["check"] for c in web03["checks"]} == {"ping", "ssh", "http"}
        assert "web02" not in [s["label"] for s in api(port, "/api/v1/servers")]

        [closed] = [i for i in api(port, "/api/v1/incidents?open=false&limit=50") if i["id"] == gone["id"]]
        assert closed["closed_at"], closed
        last = closed["events"][-1]
        assert last["kind"] == "incident_closed" and last["detail"].startswith("removed"), last

        [customer] = api(port, "/api/v1/customers")
        assert customer["phones"] == ["03-1111-2222"]

        # Nothing else restarted: web01's incident is the same one, still taken by yamada.
        still = [i for i in api(port, "/api/v1/incidents?open=true") if i["host"] == "web01" and i["check"] == "http"]
        assert [i["id"] for i in still] == [kept["id"]]
        tile = next(s for s in api(port, "/api/v1/servers") if s["label"] == "web01")
        assert tile["acknowledged"] is True
        assert len(audit(port, "incident_opened")) == opened_before
        [reloaded] = audit(port, "fleet_reloaded")
        assert reloaded["actor"] == "file" and "web03" in reloaded["detail"] and "web02" in reloaded["detail"], reloaded
        # A removed server is not "recovered": no mail about web02.
        time.sleep(2)
        assert not [m for m in f.sink_messages() if "web02" in m["Subject"]], [m["Subject"] for m in f.sink_messages()]

        # An invalid edit changes nothing; every console is told where the problem is.
        broken = edited.replace('plan = "150"', 'plan = "999"')
        path.write_text(broken)
        line = broken.splitlines().index('plan = "999"') + 1

        def refused():
            errors = api(port, "/api/v1/health")["fleet_errors"]
            return errors if errors else None
        errors = wait_for("the refusal on the health line", refused, seconds=15)
        assert any(e.startswith("%s:%d:" % (path, line)) for e in errors), errors
        assert "web03" in [s["label"] for s in api(port, "/api/v1/servers")]
        assert len(audit(port, "fleet_reloaded")) == 1

        # Put right, then a SIGHUP reads it again (no change: nothing logged, the error cleared).
        path.write_text(edited)
        wait_for("the error cleared", lambda: not api(port, "/api/v1/health")["fleet_errors"], seconds=15)
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        assert proc.poll() is None, "SIGHUP must not end the engine"
        assert path.read_text().startswith(comment)
        f.start_service("web01", "http")
