"""The desktop as a console of a remote engine: `anshin-desktop --connect URL --token T`.

A real `anshin serve` watches a one-server loopback fleet on 127.78.67.x (tests/fleet). The
window (under Xvfb, through tauri-driver) shows that server's tile; when its HTTP service is
stopped the tile turns Lv.4 and the desktop pops a native notification (captured on the
session bus); the operator takes the incident from the window and the engine records the
token's name; the native window title names the worst open level (the tray's tooltip text);
when the engine goes away the window says so (disconnected banner, stale tiles)
and comes back by itself when the engine is started again on the same port.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from conftest import ROOT, anshin_bin, desktop_session, free_port, notify_calls, wait_for, wait_port

sys.path.insert(0, os.path.join(ROOT, "tests", "fleet"))

NET = "127.78.67"  # this file's own addresses
TOKEN = "desk-remote-0123456789abcdef"
TILES = """return Array.from(document.querySelectorAll('[data-testid=tile]'))
    .map(t => [t.dataset.label, t.dataset.level, t.dataset.stale]);"""
BANNER = "return !!document.querySelector('[data-testid=disconnected]');"


class Serve:
    """`anshin serve` in its own process group, stopped by SIGTERM to that group."""

    def __init__(self, fleet_path, db, port, tokens, log):
        self.log = open(log, "a")
        self.proc = subprocess.Popen([anshin_bin(), "serve", fleet_path, "--db", db, "--listen",
                                      "127.0.0.1:%d" % port, "--tokens", tokens], stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        assert wait_port(port, 20), "anshin serve did not listen"

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()
        return self.proc.returncode


def window_names(display):
    """The names of the X windows on `display` (xwininfo), as one text."""
    r = subprocess.run(["xwininfo", "-display", display, "-root", "-tree"], capture_output=True, text=True, timeout=10)
    return r.stdout


def api(port, path):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read().decode())


def test_the_window_is_a_live_console_of_a_remote_engine():
    if os.geteuid() != 0:
        pytest.skip("the loopback fleet needs root (CI runs as root)")
    from fleet import Fleet
    work = tempfile.mkdtemp(prefix="anshin-e2e-remote-")
    fleet = serve = None
    try:
        fleet = Fleet(os.path.join(work, "fleet"), net=NET, hosts=["web01:http"], sink=False)
        fleet.up()
        fleet_path = os.path.join(work, "fleet.toml")
        with open(fleet_path, "w") as fh:
            fh.write(fleet.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2))
        tokens = os.path.join(work, "tokens")
        with open(tokens, "w") as fh:
            fh.write("operator %s suzuki\n" % TOKEN)
        port = free_port()
        db, log = os.path.join(work, "log.db"), os.path.join(work, "serve.log")
        serve = Serve(fleet_path, db, port, tokens, log)
        url = "http://127.0.0.1:%d/" % port
        with desktop_session("remote", ["--connect", url, "--token", TOKEN], fill_screen=True) as desk:
            tiles = desk.poll(TILES, lambda t: t and t[0][1] == "ok" and t[0][2] == "false", 60)
            assert [t[0] for t in tiles] == ["web01"] and tiles[0][1] == "ok", tiles
            info = desk.js("return window.__TAURI_INTERNALS__.invoke('app_info');")
            assert info["mode"] == "remote" and info["role"] == "operator" and info["source"] == url, info

            fleet.stop_service("web01", "http")
            try:
                tiles = desk.poll(TILES, lambda t: t and t[0][1] == "4", 40)
                assert tiles[0][1] == "4", tiles
                # The native window title (what the tray's tooltip also says) names the worst level.
                titles = wait_for(lambda: "Anshin NOC — Lv.4×1" in window_names(desk.display), 10)
                assert titles, window_names(desk.display)
                calls = wait_for(lambda: notify_calls(desk.monitor_log), 20)
                assert calls, "no Notify on the session bus"
                assert any("web01" in " ".join(map(str, c)) and "Lv.4" in " ".join(map(str, c)) for c in calls), calls
                # The operator takes it in the window; the engine records the token's name.
                desk.poll("return !!document.querySelector('[data-testid=ack]');", bool, 20)
                desk.click("[data-testid=ack]")
                acked = wait_for(lambda: [c for s in api(port, "/api/v1/servers") for c in s["checks"]
                                          if c["acknowledged_by"]], 20)
                assert acked and acked[0]["acknowledged_by"] == "suzuki", acked
            finally:
                fleet.start_service("web01", "http")
            desk.poll(TILES, lambda t: t and t[0][1] == "ok", 40)
            desk.screenshot("desktop-remote.png")

            # The engine goes away: the window must not show its last picture as live.
            assert serve.stop() == 0
            assert desk.poll(BANNER, bool, 30), "no disconnected banner"
            tiles = desk.poll(TILES, lambda t: t and t[0][2] == "true", 10)
            assert tiles[0][2] == "true", tiles
            desk.screenshot("desktop-remote-disconnected.png")
            # ... and comes back by itself when the engine is started again.
            serve = Serve(fleet_path, db, port, tokens, log)
            assert desk.poll(BANNER, lambda b: not b, 40) is False, "the banner stayed after the engine returned"
            tiles = desk.poll(TILES, lambda t: t and t[0][2] == "false", 20)
            assert tiles[0][2] == "false", tiles
    finally:
        if serve:
            serve.stop()
        if fleet:
            fleet.down()
        shutil.rmtree(work, ignore_errors=True)
