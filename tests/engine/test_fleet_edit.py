"""Editing the fleet from a console (issue 13): a running `anshin serve` on the loopback fleet
gets a server added, a phone number changed and a server removed through the console API. Each
edit is written into the fleet file (its comments kept byte for byte) and applied at once: the
new server's checks run, the removed server's open incident closes; an edit against an old
revision is refused `409 stale`, a viewer `403`, a plan change by an operator `403` naming the
admin role (an admin may); an invalid edit answers the fleet file's FILE:LINE:COL message and
changes nothing; the audit log names who edited what."""
import hashlib
import json
import re

from test_fleet_reload import wait_for, without_server
from test_recovery import call
from test_serve import OPERATOR, VIEWER, get, serving, wait_open_incident

NET = "127.78.93"
ADMIN = "adm-0123456789abcdef"

HEAD = "# テスト用フリート: このコメントは編集の後も残る。\n\n"
NIGHT = '  # 夜間はこちら'


def revision(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_console_edits_the_fleet_file_of_a_running_engine(fleet_factory, tmp_path):
    f = fleet_factory(NET, ["web01:http", "web02:smtp"])
    text = HEAD + without_server(f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2), "web02")
    text = text.replace('phones = ["03-0000-0001"]', 'phones = ["03-0000-0001"]' + NIGHT)
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    path.chmod(0o640)
    tokens = "operator %s yamada\nviewer %s\nadmin %s boss\n" % (OPERATOR, VIEWER, ADMIN)
    with serving(str(path), tmp_path, tokens) as (port, _):
        # The source: a viewer may not read it, an operator reads the file's own values.
        assert call(port, "GET", "/api/v1/fleet/source", VIEWER)[0] == 403
        status, source = call(port, "GET", "/api/v1/fleet/source", OPERATOR)
        assert status == 200 and source["revision"] == revision(path), source
        [c1001] = source["customers"]
        assert c1001["phones"] == ["03-0000-0001"] and c1001["plan"] == "150", c1001
        assert [s["label"] for s in source["servers"]] == ["web01"]

        # Add web02 (a real host of the loopback fleet): its checks run within an interval.
        web02 = f.host("web02")
        server = {"label": "web02", "customer": "c1001", "ip": web02.addr, "fqdn": web02.fqdn, "os": web02.os,
                  "services": web02.services, "ports": {k: int(v) for k, v in web02.ports.items()},
                  "gateway": None, "plesk": False}
        assert call(port, "POST", "/api/v1/fleet/servers", VIEWER, {"revision": source["revision"], "server": server})[0] == 403
        status, added = call(port, "POST", "/api/v1/fleet/servers", OPERATOR, {"revision": source["revision"], "server": server})
        assert status == 200 and "web02" in added["summary"], added
        assert added["revision"] == revision(path) != source["revision"]
        after_add = path.read_text()
        assert after_add.startswith(text), "everything before the new table is the file as it was"
        assert 'label = "web02"' in after_add and (path.stat().st_mode & 0o777) == 0o640
        wait_for("web02's ping checked", lambda: any(
            c["check"] == "ping" and c["ok"] for c in json.loads(get(port, "/api/v1/servers/web02", OPERATOR)[1]).get("checks", [])))

        # An edit made against the old revision: refused, nothing written.
        status, body = call(port, "POST", "/api/v1/fleet/servers", OPERATOR,
                            {"revision": source["revision"], "server": dict(server, label="web03")})
        assert status == 409 and body["code"] == "stale", body
        assert path.read_text() == after_add

        # Change the phone numbers: the value changes, its comment stays, the console sees it.
        phones = ["090-1111-2222", "03-0000-0001"]
        status, changed = call(port, "PUT", "/api/v1/fleet/customers/c1001", OPERATOR,
                               {"revision": added["revision"], "customer": dict(c1001, phones=phones)})
        assert status == 200, changed
        assert path.read_text() == after_add.replace(
            'phones = ["03-0000-0001"]' + NIGHT, 'phones = ["090-1111-2222", "03-0000-0001"]' + NIGHT)
        [view] = json.loads(get(port, "/api/v1/customers", OPERATOR)[1])
        assert view["phones"] == phones, view

        # A plan change needs an admin; the operator's is refused naming the role.
        plan = dict(c1001, phones=phones, plan="200", plan_from="2026-06-01",
                    contract={"start": "2026-01-01", "months": 12, "end": None})
        status, body = call(port, "PUT", "/api/v1/fleet/customers/c1001", OPERATOR, {"revision": changed["revision"], "customer": plan})
        assert status == 403 and body["code"] == "forbidden" and "admin" in body["message"], body
        status, by_admin = call(port, "PUT", "/api/v1/fleet/customers/c1001", ADMIN, {"revision": changed["revision"], "customer": plan})
        assert status == 200, by_admin
        assert 'plan_history = [{ plan = "150", from = "2026-01-01" }, { plan = "200", from = "2026-06-01" }]' in path.read_text()
        [view] = json.loads(get(port, "/api/v1/customers", OPERATOR)[1])
        assert [h["plan"] for h in view["plan_history"]] == ["150", "200"], view

        # An invalid edit: the fleet file's own message, at its place; nothing changes.
        before = path.read_text()
        status, body = call(port, "PUT", "/api/v1/fleet/servers/web01", OPERATOR,
                            {"revision": by_admin["revision"], "server": dict(source["servers"][0], ip="not-an-ip")})
        assert status == 400 and body["code"] == "invalid", body
        assert re.fullmatch(r'.*fleet\.toml:\d+:\d+: "not-an-ip" is not an IP address.*', body["message"]), body
        assert path.read_text() == before
        assert call(port, "DELETE", "/api/v1/fleet/servers/nope", OPERATOR, {"revision": by_admin["revision"]})[0] == 404

        # Remove web02 while it is down: it leaves the view, its incident is no longer open.
        f.drop_host("web02")
        try:
            down = wait_open_incident(port, lambda i: i["host"] == "web02" and i["check"] == "ping", "web02 ping incident")
            status, removed = call(port, "DELETE", "/api/v1/fleet/servers/web02", OPERATOR, {"revision": by_admin["revision"]})
            assert status == 200, removed
        finally:
            f.restore_host("web02")
        assert get(port, "/api/v1/servers/web02", OPERATOR)[0] == 404
        open_now = json.loads(get(port, "/api/v1/incidents?open=true", OPERATOR)[1])
        assert all(i["id"] != down["id"] for i in open_now), open_now
        final = path.read_text()
        assert final.startswith(HEAD) and NIGHT in final and 'label = "web02"' not in final

        # The audit log names who edited what: the editor, and the reload's summary of the change.
        entries = json.loads(get(port, "/api/v1/audit?limit=500", OPERATOR)[1])["entries"]
        reloads = [(e["actor"], e["detail"]) for e in entries if e["kind"] == "fleet_reloaded"]
        assert any(a == "yamada" and "web02" in d for a, d in reloads), reloads
        assert any(a == "boss" and "c1001" in d for a, d in reloads), reloads
        assert sum(1 for a, _ in reloads if a == "yamada") >= 3, reloads
