"""`anshin serve`: one engine, consoles over HTTP and WebSocket behind bearer tokens. A stopped
service on a fleet host shows in the API and arrives on the WebSocket (an event, then a delta
with the host's new tile state); without a valid token the answer is 401 and nothing of the
fleet; a viewer cannot act; an operator takes the incident once; HTTPS with a certificate."""
import base64
import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import anshin_bin

OPERATOR = "op-0123456789abcdef"
VIEWER = "wall-0123456789abcdef"
OPERATOR2 = "op2-0123456789abcdef"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, token=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def post(port, path, token=None, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method="POST",
                                 data=json.dumps(body or {}).encode(), headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


@contextlib.contextmanager
def serving(path, tmp_path, tokens_text):
    """`anshin serve` of `path` on a free loopback port with these tokens, until the block ends
    (terminated, killed if it does not stop within 15 s). Yields the port and the process."""
    tokens = tmp_path / "tokens"
    tokens.write_text(tokens_text)
    port = free_port()
    proc = subprocess.Popen([anshin_bin(), "serve", path, "--db", str(tmp_path / "log.db"),
                             "--listen", "127.0.0.1:%d" % port, "--tokens", str(tokens)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()  # never leave a server behind
            proc.wait(timeout=5)


def wait_open_incident(port, pred, what, seconds=30):
    """The first open incident (over the API) that `pred` accepts, waited for, bounded."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = next((i for i in json.loads(get(port, "/api/v1/incidents?open=true", OPERATOR)[1]) if pred(i)), None)
        if found:
            return found
        time.sleep(0.3)
    pytest.fail("no %s within %s s" % (what, seconds))


class WebSocket:
    """The smallest RFC 6455 client the test needs: handshake, read server text frames."""

    def __init__(self, port, path):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=15)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, port, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.s.recv(1)
            if not chunk:
                break
            head += chunk
        self.status = int(head.split(b" ")[1]) if head else 0

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def recv(self):
        b1, b2 = self._exact(2)
        n = b2 & 0x7F
        if n == 126:
            n = int.from_bytes(self._exact(2), "big")
        elif n == 127:
            n = int.from_bytes(self._exact(8), "big")
        payload = self._exact(n)
        return json.loads(payload.decode()) if b1 & 0x0F == 1 else None

    def close(self):
        self.s.close()


@pytest.fixture(scope="module")
def served(fleet_factory, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("serve")
    f = fleet_factory("127.78.35", ["web01:http,smtp"])
    path = str(tmp_path / "fleet.toml")
    with open(path, "w") as fh:
        fh.write(f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2))
    with serving(path, tmp_path, "operator %s yamada\nviewer %s\noperator %s suzuki\n" % (OPERATOR, VIEWER, OPERATOR2)) as (port, proc):
        yield f, port
        proc.terminate()
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            code = "no exit within 15 s of SIGTERM"
    assert code == 0


def test_no_token_gets_401_and_nothing_of_the_fleet(served):
    _, port = served
    for path in ("/api/v1/servers", "/api/v1/incidents", "/api/v1/whoami"):
        for token in (None, "wrong-token-0123456789"):
            status, body = get(port, path, token)
            assert status == 401, (path, status)
            assert json.loads(body)["code"] == "unauthorized"
            assert "web01" not in body and "127.78" not in body
    ws = WebSocket(port, "/api/v1/events")
    assert ws.status == 401
    ws.close()


def test_tokens_carry_their_role(served):
    _, port = served
    assert json.loads(get(port, "/api/v1/whoami", VIEWER)[1]) == {"role": "viewer", "name": "viewer"}
    assert json.loads(get(port, "/api/v1/whoami", OPERATOR)[1]) == {"role": "operator", "name": "yamada"}


def test_the_browser_console_is_served_without_a_token_and_holds_no_fleet_data(served):
    _, port = served
    for path in ("/", "/wall", "/review"):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read().decode()
            assert r.status == 200 and "<html" in body.lower(), path
            assert "default-src 'self'" in r.headers["Content-Security-Policy"]
            assert "web01" not in body
    assert get(port, "/api/v1/nothing-here", OPERATOR)[0] == 404
    assert get(port, "/api/v1/nothing-here")[0] == 401


def test_the_openapi_document_needs_no_token_and_names_only_real_routes(served):
    """The API's description is public (shapes, no fleet data); every GET it names without a path
    parameter answers on the running server (not the API's 404 for unknown routes), and nothing
    else became public."""
    _, port = served
    status, body = get(port, "/api/v1/openapi.json")
    assert status == 200, body
    doc = json.loads(body)
    assert doc["info"]["title"] == "Anshin NOC console API"
    # Nothing of this fleet (its addresses and names; its labels and customer ids are also the
    # examples of the documentation) nor of its tokens.
    for server in json.loads(get(port, "/api/v1/servers", OPERATOR)[1]):
        for value in (server["ip"], server["fqdn"]):
            assert not value or value not in body, value
    assert "127.78" not in body and OPERATOR not in body and VIEWER not in body
    paths = doc["paths"]
    assert "/api/v1/servers" in paths and "/api/v1/incidents/{id}/acknowledge" in paths
    # The monthly reports' routes (another crate's) are described too.
    assert "post" in paths["/api/v1/reports/{id}/send"]
    assert "ServerView" in doc["components"]["schemas"]
    for path, item in paths.items():
        for method in item:
            assert method in ("get", "post", "put", "delete"), (path, method)
        if "get" not in item or "{" in path or path in ("/api/v1/events", "/api/v1/openapi.json"):
            continue
        # Without a token: refused like every other API route.
        assert get(port, path)[0] == 401, path
        customer = json.loads(get(port, "/api/v1/customers", OPERATOR)[1])[0]["id"]
        query = {
            "/api/v1/samples": "?host=web01&resource=load",
            "/api/v1/ledger/config-work": f"?customer={customer}&month=2026-12",
        }.get(path, "")
        status, answer = get(port, path + query, OPERATOR)
        assert status == 200, (path, status, answer)
    # Only that path: the same name elsewhere, or a POST to it, gives nothing without a token.
    assert get(port, "/api/v1/openapi.json/x")[0] == 401
    assert post(port, "/api/v1/openapi.json")[0] == 405


def test_a_stopped_service_shows_in_the_api_and_on_the_websocket(served):
    f, port = served
    status, body = get(port, "/api/v1/servers", VIEWER)
    assert status == 200
    [web01] = [s for s in json.loads(body) if s["label"] == "web01"]
    assert {c["check"] for c in web01["checks"]} == {"ping", "ssh", "http", "smtp"}

    ws = WebSocket(port, "/api/v1/events?token=" + VIEWER)
    assert ws.status == 101
    first = ws.recv()
    assert first["type"] == "snapshot" and any(s["label"] == "web01" for s in first["servers"])
    time.sleep(2.5)
    f.stop_service("web01", "http")
    try:
        deadline = time.monotonic() + 25
        opened = tile = None
        while time.monotonic() < deadline and (opened is None or tile is None):
            m = ws.recv()
            if not m:
                continue
            if m["type"] == "event" and m["event"]["event"] == "incident_opened" and m["event"]["check"] == "http":
                opened = m["event"]
            if opened and m["type"] == "delta":
                tile = next((s for s in m["servers"] if s["label"] == "web01" and s["worst_level"] == 4), None)
        assert opened and opened["level"] == 4
        # The delta carries only what changed, with the tile's new state.
        assert tile is not None, "no delta showed web01 at Lv.4"
        [http] = [c for c in tile["checks"] if c["check"] == "http"]
        assert http["incident"] == opened["id"] and http["level"] == 4 and http["since"] == opened["at"]
        assert tile["problem_since"] == opened["at"] and tile["acknowledged"] is False
        status, body = get(port, "/api/v1/incidents?open=true", OPERATOR)
        assert status == 200 and [i["id"] for i in json.loads(body)] == [opened["id"]]
        [web01] = [s for s in json.loads(get(port, "/api/v1/servers", VIEWER)[1]) if s["label"] == "web01"]
        assert web01["worst_level"] == 4

        # A viewer cannot act; an operator takes the incident; a second operator is told who has it.
        path = "/api/v1/incidents/%d/acknowledge" % opened["id"]
        status, body = post(port, path, VIEWER, {"note": "x"})
        assert status == 403 and body["code"] == "forbidden"
        assert post(port, path, None)[0] == 401
        status, body = post(port, path, OPERATOR, {"note": "再起動を確認中"})
        assert status == 200 and body["by"] == "yamada", body
        status, body = post(port, path, OPERATOR2)
        assert status == 409 and "yamada" in body["message"]
        assert post(port, "/api/v1/incidents/999999/acknowledge", OPERATOR)[0] == 404
        deadline = time.monotonic() + 10
        acked = None
        while time.monotonic() < deadline and acked is None:
            m = ws.recv()
            if m and m["type"] == "event" and m["event"]["event"] == "incident_acknowledged":
                acked = m["event"]
        assert acked and acked["by"] == "yamada" and acked["id"] == opened["id"]
        [web01] = [s for s in json.loads(get(port, "/api/v1/servers", VIEWER)[1]) if s["label"] == "web01"]
        assert web01["acknowledged"] is True
        [http] = [c for c in web01["checks"] if c["check"] == "http"]
        assert http["acknowledged_by"] == "yamada"

        # The review route tells the incident's story, the acknowledgement included.
        status, body = get(port, "/api/v1/review?server=web01&check=http", VIEWER)
        assert status == 200, body
        [inc] = json.loads(body)
        kinds = [step["kind"] for step in inc["story"]]
        assert inc["id"] == opened["id"] and "incident_opened" in kinds and "acknowledged" in kinds
        assert get(port, "/api/v1/review?from=10/01", VIEWER)[0] == 400
    finally:
        ws.close()
        f.start_service("web01", "http")


def test_serve_refuses_a_non_loopback_address(tmp_path):
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[noc]\n[[customer]]\nid = "c1"\nname = "C"\nplan = "150"\nnotify = ["ops@example.jp"]\n')
    tokens = tmp_path / "tokens"
    tokens.write_text("operator %s\n" % OPERATOR)
    r = subprocess.run([anshin_bin(), "serve", str(fleet), "--db", str(tmp_path / "db"), "--listen", "0.0.0.0:8470",
                        "--tokens", str(tokens)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "requires TLS" in r.stderr, r.stderr


def test_https_with_a_certificate_from_files(tmp_path):
    """Beyond loopback the API needs TLS; here the same TLS listener is proven on loopback with a
    self-signed certificate for 127.0.0.1: HTTPS answers, plain HTTP on that port does not."""
    import ssl
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=anshin-test",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[noc]\n[[customer]]\nid = "c1"\nname = "C"\nplan = "150"\nnotify = ["ops@example.jp"]\n')
    port = free_port()
    proc = subprocess.Popen([anshin_bin(), "serve", str(fleet), "--db", str(tmp_path / "db"),
                             "--listen", "127.0.0.1:%d" % port, "--tls-cert", str(cert), "--tls-key", str(key)],
                            env=dict(os.environ, ANSHIN_TOKENS="operator " + OPERATOR),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 15
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                req = urllib.request.Request("https://127.0.0.1:%d/api/v1/whoami" % port,
                                             headers={"Authorization": "Bearer " + OPERATOR})
                with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
                    body = json.loads(r.read().decode())
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert body == {"role": "operator", "name": "operator"}
        # Without TLS the same port answers nothing usable.
        try:
            get(port, "/api/v1/whoami", OPERATOR)
            plain = "answered"
        except Exception:  # noqa: BLE001 - any failure is the expected outcome
            plain = "refused"
        assert plain == "refused"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    r = subprocess.run([anshin_bin(), "serve", str(fleet), "--db", str(tmp_path / "db2"), "--listen",
                        "127.0.0.1:%d" % free_port(), "--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(key)],
                       env=dict(os.environ, ANSHIN_TOKENS="operator " + OPERATOR), capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1 and "missing.pem" in r.stderr, r.stderr


def test_zero_plan_has_no_phone_escalation(fleet_factory, tmp_path):
    """contract §9.9: on plan zero the engine refuses to log an escalation call (not_included);
    its customer view says the plan includes no phone call."""
    f = fleet_factory("127.78.37", ["web01:http"])
    path = str(tmp_path / "fleet.toml")
    with open(path, "w") as fh:
        fh.write(f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2, plan="zero"))
    with serving(path, tmp_path, "operator %s yamada\n" % OPERATOR) as (port, _):
        [customer] = json.loads(get(port, "/api/v1/customers", OPERATOR)[1])
        assert customer["plan"] == "zero" and customer["entitlements"]["phone_call"] is False
        f.drop_host("web01")
        incident = wait_open_incident(port, lambda i: i["check"] == "ping", "ping incident")
        status, body = post(port, "/api/v1/incidents/%d/calls" % incident["id"], OPERATOR,
                            {"number": "03-0000-0001", "outcome": "no_answer"})
        assert status == 409 and body["code"] == "not_included", (status, body)
        f.restore_host("web01")


def test_the_ledger_spends_the_months_allowance_and_then_only_billable_work(served):
    """contract §9.4, §9.5 through the console API: configuration work against the 60 minutes of
    the month (an entry crossing it is refused unless billable), a resource-up request moving on,
    every entry in the audit log."""
    f, port = served
    work = {"customer": "c1001", "day": "2026-11-05", "who": "鈴木", "what": "php.ini の memory_limit 変更"}
    status, done = post(port, "/api/v1/ledger/config-work", OPERATOR, dict(work, minutes=45))
    assert status == 200 and done["type"] == "record_config_work" and done["minutes"] == 45, done
    status, refused = post(port, "/api/v1/ledger/config-work", OPERATOR, dict(work, minutes=20))
    assert status == 409 and refused["code"] == "over_allowance" and "15 of the month's 60" in refused["message"], refused
    status, done = post(port, "/api/v1/ledger/config-work", OPERATOR, dict(work, minutes=20, billable=True))
    assert status == 200 and done["billable"] is True, done
    assert post(port, "/api/v1/ledger/config-work", VIEWER, dict(work, minutes=5))[0] == 403
    month = json.loads(get(port, "/api/v1/ledger/config-work?customer=c1001&month=2026-11", OPERATOR)[1])
    assert (month["used_minutes"], month["remaining_minutes"], month["billable_minutes"]) == (45, 15, 20), month
    status, up = post(port, "/api/v1/ledger/resource-ups", OPERATOR,
                      {"host": "web01", "from": "2026-12-10", "until": "2026-12-20", "what": "メモリ 4 GB → 8 GB"})
    assert status == 200 and up["state"] == "requested", up
    status, raised = post(port, "/api/v1/ledger/resource-ups/%d/state" % up["id"], OPERATOR, {"state": "raised"})
    assert status == 200 and raised["state"] == "raised", raised
    assert post(port, "/api/v1/ledger/resource-ups", OPERATOR,
                {"host": "web01", "from": "2026-12-20", "until": "2026-12-10", "what": "x"})[0] == 400
    [listed] = json.loads(get(port, "/api/v1/ledger/resource-ups?open=true", OPERATOR)[1])
    assert listed["id"] == up["id"] and listed["state"] == "raised"
    kinds = [e["kind"] for e in json.loads(get(port, "/api/v1/audit?limit=50", OPERATOR)[1])["entries"]]
    assert kinds.count("config_work_recorded") == 2 and "resource_up_requested" in kinds and "resource_up_changed" in kinds


def test_network_work_mails_the_customers_behind_the_gateway(fleet_factory, tmp_path):
    """contract §9.6: the operator starts network work on a down gateway; it is logged and each
    customer behind it gets the 対応開始 mail; a gateway that answers has nothing to recover."""
    f = fleet_factory("127.78.38", ["web01:http", "web02:smtp"], gateway=True)
    path = str(tmp_path / "fleet.toml")
    with open(path, "w") as fh:
        fh.write(f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2)
                 + '\n[smtp]\nurl = "smtp://%s:%d"\n' % (f.sink_addr, f.sink_port))
    with serving(path, tmp_path, "operator %s yamada\nviewer %s\n" % (OPERATOR, VIEWER)) as (port, _):
        time.sleep(2.5)
        status, body = post(port, "/api/v1/gateways/gw-a/recover", OPERATOR)
        assert status == 409 and body["code"] == "no_action", (status, body)
        f.drop_icmp("gw-a")
        f.drop_host("web01")
        f.drop_host("web02")
        wait_open_incident(port, lambda i: i["host"] == "gw-a", "gateway incident")
        assert post(port, "/api/v1/gateways/gw-a/recover", VIEWER)[0] == 403
        status, done = post(port, "/api/v1/gateways/gw-a/recover", OPERATOR)
        assert status == 200 and done["type"] == "recover_network" and done["mails"] == 1, (status, done)
        subject = "[Speever][対応開始]gw-a ネットワーク疎通不可"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(m["Subject"] == subject for m in f.sink_messages()):
            time.sleep(0.2)
        [started] = [m for m in f.sink_messages() if m["Subject"] == subject]
        assert "ネットワークの復旧作業を行います。" in started.get_content()
        kinds = [e["kind"] for e in json.loads(get(port, "/api/v1/audit?limit=50", OPERATOR)[1])["entries"]]
        assert "network_work_started" in kinds
        for h in ("web01", "web02"):
            f.restore_host(h)
        f.restore_icmp("gw-a")

