"""Backups in the browser console (contract §7), end to end: Debian chromium against a real
`anshin serve` watching its own loopback fleet on 127.78.98.x with a backup store.

web01 (plan 150, /srv/data backed up) is eligible: its detail says so with the numbers, the
engine takes its first full by itself and the detail lists it; the operator asks for a backup
now and a differential appears, then restores it into a new directory of the server from the
detail's form; a viewer's detail lists the runs and offers no button.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fleet"))

from fleet import Fleet  # noqa: E402
from anshin_browser import Browser, Serve, anshin_bin, artifacts_dir, free_port  # noqa: E402

NET = "127.78.98"  # this file's own addresses (127.78.98.x)
OPERATOR = "op-backup-0123456789abcdef"
VIEWER = "wall-backup-0123456789abcdef"


@pytest.fixture(scope="module")
def stack():
    if os.geteuid() != 0:
        pytest.skip("the loopback fleet needs root (CI runs as root)")
    work = tempfile.mkdtemp(prefix="anshin-browser-backup-")
    fleet = serve = browser = None
    try:
        fleet = Fleet(os.path.join(work, "fleet"), net=NET, hosts=["web01:http"])
        fleet.up()
        data = os.path.join(fleet.srv("web01"), "data")
        os.makedirs(data, exist_ok=True)
        with open(os.path.join(data, "index.html"), "w") as fh:
            fh.write("<h1>サンプル</h1>\n")
        for p in (data, os.path.join(data, "index.html")):
            shutil.chown(p, "anshin", "anshin")
        text = fleet.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2, plan="150")
        ssh = 'ssh = { user = "anshin", key = %s, known_hosts = %s, trust_on_first_use = true }' % (
            json.dumps(fleet.key), json.dumps(os.path.join(work, "known_hosts")))
        text = text.replace("timeout_secs = 2\n", 'timeout_secs = 2\n%s\nbackup = { store = "store" }\n' % ssh, 1)
        text = text.replace('services = ["http"]', 'services = ["http"]\nbackup = { include = ["/srv/data"] }', 1)
        fleet_path = os.path.join(work, "fleet.toml")
        with open(fleet_path, "w") as fh:
            fh.write(text)
        check = subprocess.run([anshin_bin(), "validate", fleet_path], capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        tokens = os.path.join(work, "tokens")
        with open(tokens, "w") as fh:
            fh.write("operator %s 佐藤\nviewer %s wall\n" % (OPERATOR, VIEWER))
        serve = Serve(fleet_path, os.path.join(work, "log.db"), free_port(), tokens, work)
        serve.start()
        browser = Browser(work)
        yield {"browser": browser, "base": "http://127.0.0.1:%d" % serve.port, "srv": fleet.srv("web01")}
    finally:
        if browser:
            browser.close()
        if serve:
            serve.kill()
        if fleet:
            fleet.down()
        shutil.rmtree(work, ignore_errors=True)


def rows(b, page):
    return b("eval", page=page, expr="[...document.querySelectorAll('[data-testid=\"backup-panel\"] tbody tr')]"
                                     ".map(r => [r.dataset.state, r.children[1].textContent.trim()])")


def wait_rows(b, page, pred, what, timeout=40):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = rows(b, page)
        if pred(got):
            return got
        time.sleep(0.3)
    pytest.fail("%s: rows %r" % (what, got))


def test_the_detail_lists_backups_and_an_operator_takes_one_now(stack):
    b, base = stack["browser"], stack["base"]
    b("open", page="op", viewport={"width": 1440, "height": 900})
    b("goto", page="op", url=base + "/?token=" + OPERATOR + "&open=web01")
    b("wait", page="op", selector='[data-testid="detail"][data-label="web01"]', timeout=20)
    b("wait", page="op", selector='[data-testid="backup-panel"]', timeout=20)
    said = b("text", page="op", selector='[data-testid="backup-eligibility"]')
    assert said.startswith("バックアップ対象（使用量") and "/ 50.0 GB" in said, said
    wait_rows(b, "op", lambda r: r and r[0] == ["ok", "フル"], "the engine's first full")
    b("click", page="op", selector='[data-testid="backup-now"]')
    got = wait_rows(b, "op", lambda r: len(r) == 2 and r[0] == ["ok", "差分"], "the operator's differential")
    assert got[1] == ["ok", "フル"]
    # A restore from the detail: the newest generation into a new directory on the server.
    b("click", page="op", selector='[data-testid="restore-open"]')
    b("fill", page="op", selector='[data-testid="restore-to"]', value="/srv/from-browser")
    b("screenshot", page="op", path=os.path.join(artifacts_dir(), "backup-detail.png"))
    b("click", page="op", selector='[data-testid="restore-send"]')
    restored = os.path.join(stack["srv"], "from-browser", "srv", "data", "index.html")
    deadline = time.monotonic() + 30
    while not os.path.exists(restored) and time.monotonic() < deadline:
        time.sleep(0.3)
    with open(restored, encoding="utf-8") as fh:
        assert fh.read() == "<h1>サンプル</h1>\n"

    b("open", page="wall", viewport={"width": 1440, "height": 900})
    b("goto", page="wall", url=base + "/?token=" + VIEWER + "&open=web01")
    b("wait", page="wall", selector='[data-testid="backup-panel"]', timeout=20)
    wait_rows(b, "wall", lambda r: len(r) == 2, "the viewer's list")
    assert b("count", page="wall", selector='[data-testid="backup-now"]') == 0
