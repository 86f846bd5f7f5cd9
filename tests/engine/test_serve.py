"""`anshin serve`: one engine, consoles over HTTP and WebSocket behind bearer tokens. A stopped
service on a fleet host shows in the API and arrives as an event on the WebSocket; without a
valid token the answer is 401 and nothing of the fleet."""
import base64
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
    tokens = tmp_path / "tokens"
    tokens.write_text("operator %s\nviewer %s\n" % (OPERATOR, VIEWER))
    port = free_port()
    proc = subprocess.Popen([anshin_bin(), "serve", path, "--db", str(tmp_path / "log.db"),
                             "--listen", "127.0.0.1:%d" % port, "--tokens", str(tokens)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f, port
    proc.terminate()
    assert proc.wait(timeout=15) == 0


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
    assert json.loads(get(port, "/api/v1/whoami", VIEWER)[1]) == {"role": "viewer"}
    assert json.loads(get(port, "/api/v1/whoami", OPERATOR)[1]) == {"role": "operator"}


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
        opened = None
        while time.monotonic() < deadline and opened is None:
            e = ws.recv()
            if e and e.get("event") == "incident_opened" and e["check"] == "http":
                opened = e
        assert opened and opened["level"] == 4
        status, body = get(port, "/api/v1/incidents?open=true", OPERATOR)
        assert status == 200 and [i["id"] for i in json.loads(body)] == [opened["id"]]
        [web01] = [s for s in json.loads(get(port, "/api/v1/servers", VIEWER)[1]) if s["label"] == "web01"]
        assert web01["worst_level"] == 4
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
