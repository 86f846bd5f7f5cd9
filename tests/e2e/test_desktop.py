"""The real desktop window under Xvfb, driven through tauri-driver + WebKitWebDriver.

The app starts with no fleet file, so it embeds the demo fleet and the engine. The test reads
the rendered page through WebDriver: all 18 demo servers have a tile, every tile leaves the
"unknown" state once its checks ran, and the demo's first scripted outage (web01 HTTP) turns
web01's tile into a Lv.4 problem. Screenshots go to $ARTIFACTS (default ./artifacts).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ARTIFACTS = os.environ.get("ARTIFACTS", os.path.join(ROOT, "artifacts"))
DRIVER_PORT = 4444


def app_binary():
    path = os.environ.get("ANSHIN_DESKTOP_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "anshin-desktop")
    if not os.access(path, os.X_OK):
        pytest.fail("anshin-desktop not built at %s (make build)" % path)
    return path


def demo_labels():
    text = open(os.path.join(ROOT, "assets", "demo-fleet.toml"), encoding="utf-8").read()
    servers = text.split("[[server]]")[1:]
    return [re.search(r'^label\s*=\s*"([^"]+)"', s, re.M).group(1) for s in servers]


def wait_port(port, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def webdriver(method, path, body=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (DRIVER_PORT, path), data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"{}").get("value")


def spawn(argv, env, log):
    """A process in its own session, so teardown can signal its whole group by its PID."""
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.fixture
def desktop():
    for tool in ("Xvfb", "tauri-driver", "WebKitWebDriver"):
        if not shutil.which(tool):
            pytest.fail("%s is not installed (make deps-test)" % tool)
    os.makedirs(ARTIFACTS, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="anshin-desktop-")
    display = ":%d" % (90 + os.getpid() % 9)
    log = open(os.path.join(ARTIFACTS, "desktop-test.log"), "w")
    xvfb = spawn(["Xvfb", display, "-screen", "0", "1440x900x24", "-nolisten", "tcp"], os.environ.copy(), log)
    env = dict(os.environ, DISPLAY=display, XDG_DATA_HOME=tmp, ANSHIN_LOG="info")
    driver = None
    session = None
    try:
        time.sleep(1)
        driver = spawn([shutil.which("tauri-driver"), "--port", str(DRIVER_PORT)], env, log)
        assert wait_port(DRIVER_PORT, 20), "tauri-driver did not listen"
        caps = {"capabilities": {"alwaysMatch": {"browserName": "wry",
                                                 "tauri:options": {"application": app_binary()}}}}
        session = webdriver("POST", "/session", caps, timeout=120)["sessionId"]
        yield session, display
    finally:
        if session:
            try:
                webdriver("DELETE", "/session/%s" % session, timeout=20)
            except OSError:
                pass
        for p in (driver, xvfb):
            if p is not None:
                stop(p)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def run_js(session, script):
    return webdriver("POST", "/session/%s/execute/sync" % session, {"script": script, "args": []})


def poll(session, script, accept, seconds):
    deadline = time.monotonic() + seconds
    value = None
    while time.monotonic() < deadline:
        value = run_js(session, script)
        if accept(value):
            return value
        time.sleep(1)
    return value


def screenshot(display, name):
    """The X screen as the operator sees it (ImageMagick, not WebDriver: WebKitWebDriver's own
    screenshot call was seen to drop its connection under load)."""
    out = os.path.join(ARTIFACTS, name)
    time.sleep(2)  # let WebKit paint what the DOM already says
    subprocess.run(["import", "-display", display, "-window", "root", out], check=True, timeout=30)
    assert os.path.getsize(out) > 10_000, "screenshot looks empty"


TILES = "return Array.from(document.querySelectorAll('.tile')).map(t => [t.dataset.label, t.dataset.state]);"


def test_window_lists_the_demo_fleet_with_live_state(desktop):
    session, display = desktop
    labels = demo_labels()
    assert len(labels) == 18

    tiles = poll(session, TILES, lambda v: v and len(v) == len(labels), 60)
    assert sorted(t[0] for t in tiles) == sorted(labels)
    assert "Anshin NOC" in run_js(session, "return document.title;")

    # every tile leaves "unknown" once all its checks have a result (demo interval: 10 s)
    tiles = poll(session, TILES, lambda v: v and all(s != "unknown" for _, s in v), 60)
    assert all(s != "unknown" for _, s in tiles), tiles
    screenshot(display, "desktop-operator.png")

    # the demo's first scripted outage: web01 HTTP refuses from 20 s; Lv.4 after 3 attempts
    tiles = poll(session, TILES, lambda v: v and dict(v).get("web01") == "lv4", 120)
    assert dict(tiles).get("web01") == "lv4", tiles
    text = run_js(session, "return document.querySelector('.tile[data-label=\"web01\"]').textContent;")
    assert "HTTP" in text and "Lv.4" in text, text
    screenshot(display, "desktop-problem.png")
