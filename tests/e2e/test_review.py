"""The desktop's review mode: `anshin-desktop --review FILE` on an `anshin export` file.

The file is made for real: `anshin run` watches a one-server loopback fleet on 127.78.66.x
(tests/fleet) while its HTTP service is stopped and started again (one Lv.4 incident, opened and
closed), then `anshin export` writes the store file. The window shows the review (read-only, the
file named in the header as 閲覧専用), lists that incident, and a click on it shows its story; no
engine runs (no tiles, no live view, no internet socket in the app's process) and the file is not
changed; File → Open… (Ctrl+O) opens the native chooser, and cancelling it keeps the file. A
garbage file is refused at start: exit 1, its name on stderr, its bytes unchanged.

Screenshot: $ARTIFACTS/desktop-review.png (and assets/screenshots/desktop-review.png with
ANSHIN_UPDATE_SCREENSHOTS=1).
"""
import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import ROOT, anshin_bin, app_binary, desktop_session, wait_for

sys.path.insert(0, os.path.join(ROOT, "tests", "fleet"))

NET = "127.78.66"  # this file's own addresses
TRIGGER = "web01 HTTP サービスダウン"
REVIEW = """const r = document.querySelector('[data-testid=review]');
    if (!r) return null;
    return {rows: Array.from(document.querySelectorAll('[data-testid=review-row]'))
                .map(e => [e.dataset.id, e.textContent.replace(/\\s+/g, ' ').trim()]),
            source: (document.querySelector('[data-testid=review-source]') || {}).textContent || null,
            tiles: document.querySelectorAll('[data-testid=tile]').length,
            live: !!document.querySelector('[data-testid=summary], [data-testid=wall], [data-testid=incident]'),
            open: !!document.querySelector('[data-testid=review-open]'),
            back: !!document.querySelector('[data-testid=review-back]'),
            reportsLink: !!document.querySelector('[data-testid=reports-link]'),
            error: (document.querySelector('[data-testid=review-error]') || {}).textContent || null};"""
STORY = """const s = document.querySelector('[data-testid=story]');
    return s ? {id: s.dataset.id, kinds: Array.from(s.querySelectorAll('li[data-kind]')).map(l => l.dataset.kind),
                text: s.textContent.replace(/\\s+/g, ' ').trim()} : null;"""


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


class Run:
    """`anshin run FLEET --db DB --json` in its own process group; its JSON lines on a queue."""

    def __init__(self, fleet_path, db, log_path):
        self._err = open(log_path, "w")
        self.proc = subprocess.Popen([anshin_bin(), "run", fleet_path, "--db", db, "--json"],
                                     stdout=subprocess.PIPE, stderr=self._err, stdin=subprocess.DEVNULL,
                                     text=True, start_new_session=True)
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.q.put(json.loads(line))
            except ValueError:
                pass
        self.q.put(None)

    def wait_for(self, pred, seconds):
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail("anshin run: no such event within %ss" % seconds)
            try:
                e = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if e is None:
                pytest.fail("anshin run exited (rc %s)" % self.proc.poll())
            if pred(e):
                return e

    def stop(self):
        """SIGTERM to its group (a clean shutdown); SIGKILL if it lingers. Returns the exit code."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._err.close()
        return self.proc.returncode


def event(kind, host=None, check=None):
    return lambda e: e.get("event") == kind and (host is None or e.get("host") == host) and \
        (check is None or e.get("check") == check)


@pytest.fixture(scope="module")
def export():
    """An `anshin export` file holding one closed web01 HTTP incident; yields (path, incident)."""
    if os.geteuid() != 0:
        pytest.skip("the loopback fleet needs root (CI runs as root)")
    from fleet import Fleet
    work = tempfile.mkdtemp(prefix="anshin-e2e-review-")
    fleet = run = None
    try:
        fleet = Fleet(os.path.join(work, "fleet"), net=NET, hosts=["web01:http"], sink=False)
        fleet.up()
        fleet_path = os.path.join(work, "fleet.toml")
        with open(fleet_path, "w") as fh:
            fh.write(fleet.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2))
        db = os.path.join(work, "live.db")
        run = Run(fleet_path, db, os.path.join(work, "run.log"))
        run.wait_for(event("engine_started"), 15)
        time.sleep(2)  # a couple of good checks first
        fleet.stop_service("web01", "http")
        try:
            opened = run.wait_for(event("incident_opened", "web01", "http"), 30)
        finally:
            fleet.start_service("web01", "http")
        closed = run.wait_for(event("incident_closed", "web01", "http"), 30)
        assert closed["id"] == opened["id"]
        assert run.stop() == 0
        run = None
        out = os.path.join(work, "review-export.db")
        r = subprocess.run([anshin_bin(), "export", "--db", db, "--out", out], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        yield out, opened
    finally:
        if run:
            run.stop()
        if fleet:
            fleet.down()
        shutil.rmtree(work, ignore_errors=True)


def inspector_port(pid):
    """The port of WebKit's automation inspector server (WEBKIT_INSPECTOR_SERVER, set by
    WebKitWebDriver: the test harness's own channel into the app), or None."""
    with open("/proc/%d/environ" % pid, "rb") as fh:
        for var in fh.read().split(b"\0"):
            if var.startswith(b"WEBKIT_INSPECTOR_SERVER="):
                return int(var.rsplit(b":", 1)[1])
    return None


def inet_sockets(pid):
    """The TCP/UDP/raw/ICMP sockets (v4 and v6) among the open files of process `pid`, as
    (kind, local, remote) in /proc/net hex; the automation inspector's connections left out."""
    skip = inspector_port(pid)
    table = {}
    for name in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6", "icmp", "icmp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, name)) as fh:
                for line in fh.readlines()[1:]:
                    parts = line.split()
                    if len(parts) > 9:
                        table[parts[9]] = (name, parts[1], parts[2])
        except OSError:
            pass
    mine = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in table:
            kind, local, remote = table[link[8:-1]]
            ports = {int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)}
            if kind.startswith("tcp") and skip in ports:
                continue
            mine.append(table[link[8:-1]])
    return mine


def app_pids(marker):
    """PIDs of anshin-desktop processes whose command line holds `marker` (the export's path)."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0].decode(errors="replace")) == "anshin-desktop" \
                and marker.encode() in argv:
            found.append(int(p))
    return found


def test_review_window_lists_the_exported_incident_and_its_story(export):
    path, inc = export
    before = sha256(path)
    with desktop_session("review", args=["--review", path], fill_screen=True) as desk:
        view = desk.poll(REVIEW, lambda v: v and v["rows"], 60)
        assert view, "no [data-testid=review] in --review mode"
        ids = [r[0] for r in view["rows"]]
        assert ids == [str(inc["id"])], view["rows"]
        assert TRIGGER in view["rows"][0][1] and "web01" in view["rows"][0][1], view["rows"]
        assert view["error"] is None, view["error"]

        # read-only: the file is named as 閲覧専用, and nothing live is drawn
        assert view["source"] and view["source"].startswith("閲覧専用") and os.path.basename(path) in view["source"], \
            view["source"]
        assert view["tiles"] == 0 and not view["live"], view
        assert not view["back"] and not view["reportsLink"], view

        # a click on the row shows its story
        desk.click('[data-testid=review-row][data-id="%d"] td.trig' % inc["id"])  # a cell: WebKitWebDriver finds a <tr> "not interactable"
        story = desk.poll(STORY, lambda v: v and v["id"] == str(inc["id"]), 10)
        assert story and story["id"] == str(inc["id"]), story
        assert story["kinds"][0] == "incident_opened" and "incident_closed" in story["kinds"], story
        assert TRIGGER in story["text"], story["text"]
        assert story["text"].index("検知") < story["text"].index("復旧・クローズ"), story["text"]

        # no engine, no network: the app's process holds no internet socket (an engine would
        # hold its ICMP socket and probe connections), and there are still no tiles later on
        pids = app_pids(path)
        assert len(pids) == 1, "anshin-desktop --review %s: processes %s" % (path, pids)
        assert inet_sockets(pids[0]) == [], "internet sockets in review mode: %s" % inet_sockets(pids[0])
        time.sleep(2)
        again = desk.js(REVIEW)
        assert again["tiles"] == 0 and not again["live"] and [r[0] for r in again["rows"]] == ids, again
        assert inet_sockets(pids[0]) == []
        desk.screenshot("desktop-review.png", publish="desktop-review.png")

        # File → Open… (its accelerator Ctrl+O, pressed on the X display) opens the native chooser;
        # cancelling it keeps the file that is open.
        env = dict(os.environ, DISPLAY=desk.display)
        window = subprocess.run(["xdotool", "search", "--name", "^Anshin NOC"], env=env, capture_output=True,
                                text=True, timeout=10).stdout.split()
        assert window, "no Anshin NOC window on %s" % desk.display
        subprocess.run(["xdotool", "windowfocus", "--sync", window[0]], env=env, check=True, timeout=10)
        subprocess.run(["xdotool", "key", "ctrl+o"], env=env, check=True, timeout=10)
        def chooser():
            """The visible windows of the file chooser (an unmapped one may linger in the tree)."""
            return subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "インシデントログを開く"], env=env,
                                  capture_output=True, text=True, timeout=10).stdout.split()
        opened = wait_for(chooser, 15)
        assert opened, "File → Open did not open the chooser"
        # no window manager here: give the chooser the keyboard, then cancel it
        subprocess.run(["xdotool", "windowfocus", "--sync", opened[-1]], env=env, check=True, timeout=10)
        subprocess.run(["xdotool", "key", "Escape"], env=env, check=True, timeout=10)
        assert wait_for(lambda: not chooser(), 15), "the chooser stayed open"
        kept = desk.js(REVIEW)
        assert [r[0] for r in kept["rows"]] == ids and os.path.basename(path) in kept["source"], kept
    assert sha256(path) == before, "the reviewed file changed"


def test_review_of_a_garbage_file_exits_1_naming_it_and_changes_nothing(tmp_path):
    bad = tmp_path / "garbage-review.db"
    bad.write_bytes(b"this is not an Anshin NOC log\n" + bytes(range(256)) * 40)
    before = bad.read_bytes()
    listing = sorted(os.listdir(tmp_path))
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.Popen([app_binary(), "--review", str(bad)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=5)
        pytest.fail("anshin-desktop --review on a garbage file did not exit within 30 s")
    err = err.decode(errors="replace")
    assert proc.returncode == 1, (proc.returncode, err, out[:300])
    assert str(bad) in err or bad.name in err, err
    assert err.strip().count("\n") < 5 and "panicked" not in err, err
    assert bad.read_bytes() == before, "the garbage file was changed"
    assert sorted(os.listdir(tmp_path)) == listing, "files appeared beside it: %s" % sorted(os.listdir(tmp_path))
