"""Backups in the browser console (contract §7), end to end: Debian chromium against a real
`anshin serve` watching its own loopback fleet on 127.78.98.x with a backup store.

web01 (plan 150, /srv/data backed up) is eligible: its detail says so with the numbers, the
engine takes its first full by itself and the detail lists it; the operator asks for a backup
now and a differential appears, with the engine's live numbers on the detail while it streams;
a backup whose tar fails marks the tile (BK失敗) and the detail until a good run; the operator
restores the differential into a new directory of the server from the detail's form, naming who
asked on the customer's side: the restore's end is logged with the re-check of the server's
services, and the customer's mail that it is done reaches the fleet's SMTP sink once; a viewer's
detail lists the runs and offers no button.

Screenshots (1440×900) in $ARTIFACTS/browser/: backup-detail.png (the detail with its backups)
and backup-restore.png (the restore form filled in), with ANSHIN_UPDATE_SCREENSHOTS=1 also
copied into assets/screenshots/ for the README; backup-running.png (the live line) and
backup-tile.png (the tile's BK失敗) for the eyes.
"""
import contextlib
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
from anshin_browser import http, scrolled_shot, start_console  # noqa: E402

NET = "127.78.98"  # this file's own addresses (127.78.98.x)
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
OPERATOR = "op-backup-0123456789abcdef"
VIEWER = "wall-backup-0123456789abcdef"
ASKED_BY = "サンプル株式会社 山田様"
DONE_SUBJECT = "[Speever]バックアップデータのリストア完了のお知らせ（web01）"
# New data for the differential (random: zstd cannot shrink it), streamed from web01's sshd at
# most THROTTLE_MB a second (an nftables policer in the fleet's own table), so the run lasts
# several seconds on any machine and the engine tells its progress more than once (at most
# once a second).
BIG_FILES, BIG_FILE_BYTES = 15, 4_000_000
THROTTLE_MB = 8


def nft(script):
    subprocess.run(["nft", "-f", "-"], input=script, text=True, check=True, timeout=20)


@contextlib.contextmanager
def throttled(fleet, label):
    """What `label`'s sshd sends, policed to THROTTLE_MB/s (a chain of its own in the fleet's
    nftables table, removed on the way out)."""
    t, h = fleet.nft_table, fleet.host(label)
    nft("add chain inet %s throttle { type filter hook input priority -5; policy accept; }\n"
        "add rule inet %s throttle ip saddr %s tcp sport %d limit rate over %d mbytes/second drop\n"
        % (t, t, h.addr, h.port("ssh"), THROTTLE_MB))
    try:
        yield
    finally:
        nft("flush chain inet %s throttle\ndelete chain inet %s throttle\n" % (t, t))


def shot(b, page, name, selector, publish=False):
    """The detail scrolled to `selector` (see `scrolled_shot`)."""
    return scrolled_shot(b, page, name, selector, publish)


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
        text += '\n[smtp]\nurl = "smtp://%s:%d"\n' % (fleet.sink_addr, fleet.sink_port)
        fleet_path = os.path.join(work, "fleet.toml")
        with open(fleet_path, "w") as fh:
            fh.write(text)
        serve, browser = start_console(work, fleet_path, "operator %s 佐藤\nviewer %s wall\n" % (OPERATOR, VIEWER))
        yield {"browser": browser, "base": "http://127.0.0.1:%d" % serve.port, "port": serve.port,
               "srv": fleet.srv("web01"), "fleet": fleet}
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


def audit(port, kind):
    _, _, page = http(port, "GET", "/api/v1/audit?limit=500", OPERATOR)
    return [e for e in page["entries"] if e["kind"] == kind]


def wait_for(what, look, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = look()
        if got:
            return got
        time.sleep(0.3)
    pytest.fail("%s: not within %ss" % (what, timeout))


def test_the_detail_lists_backups_and_an_operator_takes_one_now(stack):
    b, base, port = stack["browser"], stack["base"], stack["port"]
    b("open", page="op", viewport={"width": 1440, "height": 900})
    b("goto", page="op", url=base + "/?token=" + OPERATOR + "&open=web01")
    b("wait", page="op", selector='[data-testid="detail"][data-label="web01"]', timeout=20)
    b("wait", page="op", selector='[data-testid="backup-panel"]', timeout=20)
    said = b("text", page="op", selector='[data-testid="backup-eligibility"]')
    assert said.startswith("バックアップ対象（使用量") and "/ 50.0 GB" in said, said
    wait_rows(b, "op", lambda r: r and r[0] == ["ok", "フル"], "the engine's first full")
    # A healthy server: the engine flags nothing, the detail says nothing more.
    assert b("count", page="op", selector='[data-testid="backup-attention-line"]') == 0

    # New data, then a backup now: the detail shows the engine's numbers while it streams.
    data = os.path.join(stack["srv"], "data")
    for i in range(BIG_FILES):
        big = os.path.join(data, "big-%02d.bin" % i)
        with open(big, "wb") as fh:
            fh.write(os.urandom(BIG_FILE_BYTES))
        shutil.chown(big, "anshin", "anshin")
    with throttled(stack["fleet"], "web01"):
        b("click", page="op", selector='[data-testid="backup-now"]')
        b("wait", page="op", selector='[data-testid="backup-running"]', timeout=30)
        first = b("attrs", page="op", selector='[data-testid="backup-running"]', names=["data-bytes", "data-files"])[0]
        kind = b("text", page="op", selector='[data-testid="backup-running-kind"]')
        assert kind == "差分バックアップ実行中", kind

        def grown():
            now = b("attrs", page="op", selector='[data-testid="backup-running"]', names=["data-bytes", "data-files"])
            return now and int(now[0]["data-bytes"]) > int(first["data-bytes"]) and now[0]
        later = wait_for("the live line's bytes growing with the feed", grown, timeout=20)
        assert 0 < int(later["data-files"]) <= BIG_FILES + 2, later  # the new files, and their directory
        assert int(later["data-bytes"]) < BIG_FILES * BIG_FILE_BYTES * 1.1, later
        shot(b, "op", "backup-running.png", '[data-testid="backup-panel"]')
        got = wait_rows(b, "op", lambda r: len(r) == 2 and r[0] == ["ok", "差分"], "the operator's differential", timeout=90)
    assert got[1] == ["ok", "フル"]
    # Its end: the live line goes (the engine stopped sending it).
    wait_for("the live line's end", lambda: b("count", page="op", selector='[data-testid="backup-running"]') == 0)

    # A run whose tar fails on the server: the engine flags the server, the tile and the detail say so.
    fake_tar = stack["fleet"].set_command("web01", "tar", "echo 'tar: ./srv/data: Cannot open: Input/output error' >&2\nexit 2\n")
    b("click", page="op", selector='[data-testid="backup-now"]')
    wait_rows(b, "op", lambda r: len(r) == 3 and r[0] == ["failed", "差分"], "the failed run")
    os.remove(fake_tar)
    badge = '[data-testid="tile"][data-label="web01"] [data-testid="backup-attention"]'
    b("wait", page="op", selector=badge + '[data-code="last_failed"]', timeout=20)
    assert b("text", page="op", selector=badge) == "BK失敗"
    assert "失敗" in b("attrs", page="op", selector=badge, names=["title"])[0]["title"]
    line = b("text", page="op", selector='[data-testid="backup-attention-line"]')
    assert "失敗" in line and "最新の世代 #" in line, line
    # The same tile in a viewer's console, for the eyes (artifact only).
    b("open", page="wall", viewport={"width": 1440, "height": 900})
    b("goto", page="wall", url=base + "/?token=" + VIEWER)
    b("wait", page="wall", selector=badge + '[data-code="last_failed"]', timeout=20)
    shot(b, "wall", "backup-tile.png", '[data-testid="tile"][data-label="web01"]')
    shot(b, "op", "backup-detail.png", '[data-testid="backup-panel"]', publish=True)
    # The newest good generation is the differential (the failed run offers no restore).
    assert b("count", page="op", selector='[data-testid="restore-open"]') == 2

    # A restore from the detail: the newest generation into a new directory on the server, asked
    # for by the customer (who is then mailed that it is done).
    b("click", page="op", selector='[data-testid="restore-open"]')
    b("fill", page="op", selector='[data-testid="restore-to"]', value="/srv/from-browser")
    b("fill", page="op", selector='[data-testid="restore-path"]', value="/srv/data/index.html")
    b("fill", page="op", selector='[data-testid="restore-requested-by"]', value=ASKED_BY)
    hint = b("text", page="op", selector='[data-testid="restore-requested-by-hint"]')
    assert "メール" in hint and "完了" in hint, hint
    shot(b, "op", "backup-restore.png", '[data-testid="backup-panel"]', publish=True)
    b("click", page="op", selector='[data-testid="restore-send"]')
    said = b("text", page="op", selector='[data-testid="backup-said"]')
    assert "リストアを開始しました（/srv/from-browser）" in said and "お客様へメール" in said, said
    restored = os.path.join(stack["srv"], "from-browser", "srv", "data", "index.html")
    deadline = time.monotonic() + 30
    while not os.path.exists(restored) and time.monotonic() < deadline:
        time.sleep(0.3)
    with open(restored, encoding="utf-8") as fh:
        assert fh.read() == "<h1>サンプル</h1>\n"
    assert os.listdir(os.path.dirname(restored)) == ["index.html"], "only the path asked for"

    # The log: who asked, and the end with the re-check of the server's services.
    [started] = audit(port, "restore_started")
    assert started["detail"].endswith(", asked by " + ASKED_BY) and started["actor"] == "佐藤", started
    [ended] = wait_for("restore_finished in the log", lambda: audit(port, "restore_finished"))
    assert " restored; re-check: " in ended["detail"], ended
    assert "http ok" in ended["detail"].split("re-check:")[1], ended
    # The customer's mail, through the engine's outbox to the fleet's real SMTP sink, once.
    fleet = stack["fleet"]
    done = lambda: [m for m in fleet.sink_messages() if m["Subject"] == DONE_SUBJECT]  # noqa: E731
    [mail] = wait_for("the restore-done mail in the sink", done)
    assert mail["To"] == "ops@example.jp", mail["To"]
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "ご依頼者：" + ASKED_BY in body and "リストア先：/srv/from-browser" in body, body
    assert "対象パス：/srv/data/index.html" in body, body
    time.sleep(3)  # a second copy (a retry of a mail the sink took) would be here by now
    assert len(done()) == 1, [m["Subject"] for m in fleet.sink_messages()]

    # A good run ends the flag, on every console.
    b("click", page="op", selector='[data-testid="backup-now"]')
    wait_rows(b, "op", lambda r: len(r) == 4 and r[0] == ["ok", "差分"], "the good run after the failed one")
    wait_for("the tile's flag gone", lambda: b("count", page="wall", selector=badge) == 0, timeout=20)
    assert b("count", page="op", selector='[data-testid="backup-attention-line"]') == 0

    b("goto", page="wall", url=base + "/?token=" + VIEWER + "&open=web01")
    b("wait", page="wall", selector='[data-testid="backup-panel"]', timeout=20)
    wait_rows(b, "wall", lambda r: len(r) == 4, "the viewer's list")
    assert b("count", page="wall", selector='[data-testid="backup-now"]') == 0
