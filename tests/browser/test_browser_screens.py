"""The console at every size a NOC uses, buttons only where the engine can act, and its sound
(issue 17).

Debian chromium (playwright-core, driver.mjs) against `anshin demo --listen` (its simulated
servers on 127.77.0.x; web01 has no SSH access and goes down about 20 s after the start):

- every view (operator, a server's detail, the fleet editor, wall, review, reports, maintenance,
  audit, updates) in Japanese and English at 1366×768, 1440×900, 1920×1080 and 2560×1440, and the
  wall at 3840×2160 too: the header is one row, no two interactive elements overlap, no text is
  cut off without an ellipsis and a title (bounding boxes and styles from the DOM), and at
  1440×900 axe-core finds no serious or critical accessibility violation; each screenshot is
  kept in artifacts/browser/sizes/;
- web01 (no SSH access) shows the reason where the restart button would be;
- a server of a fleet file with SSH access and a reboot action (`anshin serve`, loopback
  127.78.66.x where nothing listens, checks once a minute so no incident opens meanwhile) shows
  the reboot and the restart button enabled;
- a new Lv.4 incident starts the alarm (tones counted by an instrumented AudioContext), the
  operator's acknowledgement stops it, and a muted console stays muted after a reload.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from anshin_browser import Browser, DriverError, Serve, _kill_group, anshin_bin, artifacts_dir, free_port

OPERATOR = "op-sizes-0123456789abcdef"
SIZES = [(1366, 768), (1440, 900), (1920, 1080), (2560, 1440)]
WALL_SIZES = SIZES + [(3840, 2160)]
TILE = '[data-testid="tile"][data-label="%s"]'

# Runs in the page: the layout problems an operator would see. Interactive elements count where
# they are visible (inside the viewport and every ancestor that clips); an open modal dialog is
# the only scope then (what is under it cannot be reached). Text is "cut" when an element clips
# its horizontal overflow; that is fine only with an ellipsis and a title to read it in full.
LAYOUT = r"""(() => {
  const vw = innerWidth, vh = innerHeight;
  const name = (el) => {
    const id = el.getAttribute('data-testid');
    const cls = typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\s+/).slice(0, 2).join('.') : '';
    return el.tagName.toLowerCase() + (id ? '[data-testid=' + id + ']' : '') + cls + ' "' + (el.textContent || '').trim().slice(0, 40) + '"';
  };
  const shown = (el) => {
    for (let a = el; a; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.display === 'none' || s.visibility === 'hidden' || s.opacity === '0') return null;
    }
    const r = el.getBoundingClientRect();
    let box = { l: r.left, t: r.top, r: r.right, b: r.bottom };
    for (let a = el.parentElement; a; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX !== 'visible' || s.overflowY !== 'visible') {
        const q = a.getBoundingClientRect();
        box = { l: Math.max(box.l, q.left), t: Math.max(box.t, q.top), r: Math.min(box.r, q.right), b: Math.min(box.b, q.bottom) };
      }
    }
    box = { l: Math.max(box.l, 0), t: Math.max(box.t, 0), r: Math.min(box.r, vw), b: Math.min(box.b, vh) };
    return box.r - box.l >= 2 && box.b - box.t >= 2 ? box : null;
  };
  const modals = [...document.querySelectorAll('[aria-modal="true"]')].filter((m) => shown(m));
  const scope = modals.length ? modals[modals.length - 1] : document.body;
  const sel = 'a[href], button, input, select, textarea, summary, [role="button"], [tabindex]:not([tabindex="-1"])';
  const items = [...scope.querySelectorAll(sel)].map((el) => ({ el, box: shown(el) })).filter((x) => x.box);
  const overlaps = [];
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      const a = items[i], b = items[j];
      if (a.el.contains(b.el) || b.el.contains(a.el)) continue;
      const w = Math.min(a.box.r, b.box.r) - Math.max(a.box.l, b.box.l);
      const h = Math.min(a.box.b, b.box.b) - Math.max(a.box.t, b.box.t);
      if (w > 2 && h > 2) overlaps.push(name(a.el) + ' × ' + name(b.el));
    }
  }
  const cut = [];
  for (const el of scope.querySelectorAll('*')) {
    if (!(el.textContent || '').trim() || el.scrollWidth <= el.clientWidth + 1) continue;
    const s = getComputedStyle(el);
    if (s.overflowX !== 'hidden' && s.overflowX !== 'clip') continue;
    if (!shown(el)) continue;
    // a container whose clipped content is all elements that carry their own ellipsis is fine
    const ellipsis = s.textOverflow === 'ellipsis';
    const titled = !!el.closest('[title]');
    if (!ellipsis || !titled) cut.push(name(el) + (ellipsis ? ' (no title)' : ' (no ellipsis)'));
  }
  // One row: the vertical centres of the header's chips, links, buttons and clock within a
  // band narrower than the smallest of them.
  const bar = document.querySelector('[data-testid="summary"]');
  let header = null;
  if (bar) {
    const centres = [];
    for (const el of bar.querySelectorAll('.chip, a, button, .clock')) {
      const r = el.getBoundingClientRect();
      if (shown(el)) centres.push((r.top + r.bottom) / 2);
    }
    if (centres.length) header = { spread: Math.round(Math.max(...centres) - Math.min(...centres)), height: Math.round(bar.getBoundingClientRect().height) };
  }
  return { overlaps: overlaps.slice(0, 15), cut: cut.slice(0, 15), interactive: items.length, header };
})()"""


HERE = os.path.dirname(os.path.abspath(__file__))
# axe-core (npm, this suite's package.json) run in the page: serious and critical violations.
AXE_SOURCE = os.path.join(HERE, "node_modules", "axe-core", "axe.min.js")
AXE_RUN = """(async () => {
  const r = await axe.run(document, { resultTypes: ['violations'] });
  return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(', '));
})()"""
AXE_SIZE = (1440, 900)


class Demo:
    """`anshin demo --listen` in its own process group, its store in `work`."""

    def __init__(self, work):
        self.port = free_port()
        tokens = os.path.join(work, "tokens")
        with open(tokens, "w") as fh:
            fh.write("operator %s 田中\n" % OPERATOR)
        self.log = open(os.path.join(work, "demo.log"), "w")
        self.proc = subprocess.Popen(
            [anshin_bin(), "demo", "--db", os.path.join(work, "demo.db"), "--listen", "127.0.0.1:%d" % self.port,
             "--tokens", tokens],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.base = "http://127.0.0.1:%d/?token=%s" % (self.port, OPERATOR)

    def stop(self):
        if _kill_group(self.proc, signal.SIGTERM, 10) is None:
            _kill_group(self.proc, signal.SIGKILL, 5)
        self.log.close()


@pytest.fixture(scope="module")
def demo():
    work = tempfile.mkdtemp(prefix="anshin-sizes-")
    d = browser = None
    try:
        d = Demo(work)
        browser = Browser(work)
        browser("open", page="main")
        deadline = time.monotonic() + 30
        while True:
            ok, _ = browser.try_call("goto", page="main", url=d.base)
            if ok or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        # the demo's first outage (web01) is open: the views have something to show
        browser("wait", page="main", selector='[data-testid="incident"]', timeout=90)
        yield {"demo": d, "browser": browser, "work": work}
    finally:
        if browser:
            browser.close()
        if d:
            d.stop()
        shutil.rmtree(work, ignore_errors=True)


def shots_dir():
    d = os.path.join(artifacts_dir(), "sizes")
    os.makedirs(d, exist_ok=True)
    return d


def test_a_demo_server_without_ssh_shows_the_reason_instead_of_a_restart(demo):
    b = demo["browser"]
    b("wait", page="main", selector='[data-testid="incident"]', timeout=60)
    # the incident panel's row of web01's HTTP incident: no restart button, the reason instead
    row = "li:has([data-testid=incident]) :is([data-testid=unavailable][data-what='restart:http'])"
    b("wait", page="main", selector=row, timeout=30)
    reasons = b("attrs", page="main", selector="[data-testid=unavailable]", names=["data-code", "data-what", "title"])
    assert any(r["data-code"] == "no_access" and r["data-what"] == "restart:http" for r in reasons), reasons
    assert b("count", page="main", selector="[data-testid=recover-btn][data-what='restart:http'][data-host=web01]") == 0
    # the tile says it too, where its button was, and nothing overlaps it
    tile_reason = b("attrs", page="main", selector=TILE % "web01" + " [data-testid=unavailable]", names=["data-code"])
    assert tile_reason == [{"data-code": "no_access"}], tile_reason
    b("screenshot", page="main", path=os.path.join(shots_dir(), "no-ssh-reason.png"))


def one_server_fleet(label, ip, interval, services, ports, noc_extra=""):
    """A fleet file of one plan-200 server on loopback (nothing listens there but what `ports`
    names)."""
    return """[noc]
brand = "Speever"
mail_from = "mail_alert@hosting-srv.net"
interval_secs = %d
attempts = 3
timeout_secs = 1
%s
[[customer]]
id = "c1"
name = "サンプル株式会社"
plan = "200"
notify = ["ops@example.jp"]
phones = ["03-0000-0001"]

[[server]]
label = "%s"
customer = "c1"
fqdn = "%s.example.jp"
ip = "%s"
os = "Debian 12"
services = %s
ports = { %s }
""" % (interval, noc_extra, label, label, ip, json.dumps(services), ports)


def test_a_server_with_ssh_and_a_reboot_action_shows_both_buttons_enabled(tmp_path):
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    fleet = tmp_path / "fleet.toml"
    access = 'ssh = { user = "anshin", key = %s, known_hosts = %s, trust_on_first_use = true }\n' % (
        json.dumps(str(key)), json.dumps(str(tmp_path / "known_hosts")))
    access += 'reboot = { command = ["/bin/true", "{label}"] }\n'
    # checks once a minute: no incident (and so no automatic recovery) opens during the test
    fleet.write_text(one_server_fleet("full01", "127.78.66.2", 60, ["http"], "ssh = 22, http = 80", access),
                     encoding="utf-8")
    tokens = tmp_path / "tokens"
    tokens.write_text("operator %s\n" % OPERATOR)
    serve = Serve(str(fleet), str(tmp_path / "log.db"), free_port(), str(tokens), str(tmp_path))
    serve.start()
    b = None
    try:
        b = Browser(str(tmp_path))
        b("open", page="main")
        b("goto", page="main", url="http://127.0.0.1:%d/?token=%s" % (serve.port, OPERATOR))
        b("click", page="main", selector=TILE % "full01", timeout=30)
        b("wait", page="main", selector="[data-testid=detail]")
        reboot = "[data-testid=server-actions] [data-testid=recover-btn][data-what=reboot]"
        restart = "[data-testid=detail] [data-testid=recover-btn][data-what='restart:http']"
        b("wait", page="main", selector=reboot)
        b("wait", page="main", selector=restart)
        for sel in (reboot, restart):
            assert b("eval", page="main", expr="document.querySelector(%s).disabled" % json.dumps(sel)) is False, sel
        assert b("count", page="main", selector="[data-testid=detail] [data-testid=unavailable]") == 0
        b("screenshot", page="main", path=os.path.join(shots_dir(), "ssh-and-reboot-buttons.png"))
    finally:
        if b:
            b.close()
        serve.kill()


def views(base):
    """(name, url, what to do on the page first) for each view."""
    return [
        ("operator", base, None),
        ("detail", base, ("click", TILE % "web01", "[data-testid=detail]")),
        ("editor", base, ("click", "[data-testid=add-server-btn]", "[aria-modal=true]")),
        ("wall", base + "&view=wall", None),
        ("review", base + "&view=review", None),
        ("reports", base + "&view=reports", None),
        ("maintenance", base + "&view=maintenance", None),
        ("audit", base + "&view=audit", None),
        ("updates", base + "&view=updates", None),
    ]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_view_at_every_size_has_one_header_row_and_nothing_overlapping_or_cut(demo, lang):
    b, d = demo["browser"], demo["demo"]
    problems = []
    for name, url, first in views(d.base):
        for w, h in (WALL_SIZES if name == "wall" else SIZES):
            page = "sz"
            b("open", page=page, viewport={"width": w, "height": h})
            try:
                b("goto", page=page, url=url, timeout=30)
                if lang == "en":
                    b("eval", page=page, expr="localStorage.setItem('anshin.lang', 'en')")
                    b("goto", page=page, url=url, timeout=30)
                b("wait", page=page, selector="[data-testid=summary], main, h1", timeout=30)
                if first:
                    action, sel, ready = first
                    b(action, page=page, selector=sel, timeout=30)
                    b("wait", page=page, selector=ready, timeout=15)
                time.sleep(1.2)  # fonts, the first delta, transitions
                out = b("eval", page=page, expr=LAYOUT, timeout=30)
                if (w, h) == AXE_SIZE:
                    with open(AXE_SOURCE, encoding="utf-8") as fh:
                        b("eval", page=page, expr=fh.read() + ";true", timeout=30)
                    out["axe"] = b("eval", page=page, expr=AXE_RUN, timeout=60)
                shot = os.path.join(shots_dir(), "%s-%s-%dx%d.png" % (name, lang, w, h))
                b("screenshot", page=page, path=shot)
            except DriverError as e:
                problems.append("%s %s %dx%d: %s" % (name, lang, w, h, e))
                continue
            finally:
                b.try_call("close", page=page)
            where = "%s %s %dx%d" % (name, lang, w, h)
            for o in out["overlaps"]:
                problems.append("%s: overlapping %s" % (where, o))
            for c in out["cut"]:
                problems.append("%s: cut %s" % (where, c))
            for v in out.get("axe", []):
                problems.append("%s: axe %s" % (where, v))
            header = out["header"]
            if header and header["spread"] > 14:
                problems.append("%s: the header is not one row (%s)" % (where, header))
    assert not problems, "\n".join(problems[:60])


# Counts the tones the console starts (an instrumented AudioContext: heard by no one, counted).
COUNT_TONES = """(() => {
  window.__tones = 0;
  const proto = (window.AudioContext || window.webkitAudioContext).prototype;
  const make = proto.createOscillator;
  proto.createOscillator = function () { window.__tones++; return make.call(this); };
  return true;
})()"""


class SshGreeter:
    """A listener on loopback that greets like an SSH server and hangs up (the engine's SSH check
    passes), until `stop()`: then the port refuses and the check fails."""

    def __init__(self, addr):
        self.sock = socket.socket()
        self.sock.bind((addr, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
                except OSError:
                    pass

    def stop(self):
        self.running = False
        self.thread.join(timeout=5)
        self.sock.close()


def test_a_new_lv4_incident_sounds_until_acknowledged_and_mute_is_remembered(tmp_path):
    """snd01's SSH answers until the page is up, then its port refuses: the Lv.4 incident that
    opens is a new one, not one the console found open when it connected."""
    greeter = SshGreeter("127.78.66.3")
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(one_server_fleet("snd01", "127.78.66.3", 2, [], "ssh = %d" % greeter.port), encoding="utf-8")
    tokens = tmp_path / "tokens"
    tokens.write_text("operator %s\n" % OPERATOR)
    serve = Serve(str(fleet), str(tmp_path / "log.db"), free_port(), str(tokens), str(tmp_path))
    b = None
    url = "http://127.0.0.1:%d/?token=%s" % (serve.port, OPERATOR)
    try:
        serve.start()
        b = Browser(str(tmp_path))
        b("open", page="main")
        b("goto", page="main", url=url)
        # the tile is up and healthy (its checks answered) before the SSH port goes away
        b("wait", page="main", selector=TILE % "snd01" + "[data-live=ok]", timeout=40)
        greeter.stop()
        assert b("eval", page="main", expr=COUNT_TONES) is True
        # a browser plays only after the page is touched: the console says so until then (a
        # chromium started to allow autoplay, as the kiosk is, runs from the start)
        state = b("attrs", page="main", selector="[data-testid=sound]", names=["data-enabled"])
        if state[0]["data-enabled"] != "true":
            b("click", page="main", selector="[data-testid=sound-enable]")
        b("wait", page="main", selector="[data-testid=sound][data-enabled=true]")
        b("wait", page="main", selector="[data-testid=sound][data-ringing=true][data-level='4']", timeout=40)
        deadline = time.monotonic() + 10
        while b("eval", page="main", expr="window.__tones") == 0 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert b("eval", page="main", expr="window.__tones") > 0, "the alarm rang but no tone started"
        # the operator takes it: the alarm stops
        b("click", page="main", selector="[data-testid=incident-panel] [data-testid=ack], [data-testid=ack]")
        b("wait", page="main", selector="[data-testid=sound][data-ringing=false]", timeout=15)
        # muted, and still muted after a reload (this console remembers)
        b("click", page="main", selector="[data-testid=sound-mute]")
        b("wait", page="main", selector="[data-testid=sound][data-muted=true]")
        b("goto", page="main", url=url)
        b("wait", page="main", selector="[data-testid=sound][data-muted=true]", timeout=15)
    finally:
        greeter.stop()
        if b:
            b.close()
        serve.kill()


# The element with the keyboard's focus, and whether its focus is drawn (an outline or a ring).
FOCUSED = r"""(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  // A date field's last Tab stop is chromium's own calendar button inside it, which draws its
  // own ring (the field's :focus does not match then): the field's other stops are checked.
  const picker = /^(date|time|datetime-local)$/.test(el.type || '') && !el.matches(':focus');
  const drawn = picker || (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || (s.boxShadow && s.boxShadow !== 'none');
  const id = el.getAttribute('data-testid') || '';
  return [el.tagName.toLowerCase() + (id ? '[' + id + ']' : '') + ' "' + (el.textContent || el.value || '').trim().slice(0, 30) + '"', drawn];
})()"""


@pytest.mark.parametrize("view", ["operator", "detail"])
def test_every_control_is_reached_by_tab_with_a_visible_focus(demo, view):
    """Tab from the top of the page: each stop is a control whose focus is drawn, and the walk
    reaches the controls of the incident panel (operator) or the detail's actions."""
    b, d = demo["browser"], demo["demo"]
    b("open", page="kb", viewport={"width": 1440, "height": 900})
    try:
        b("goto", page="kb", url=d.base)
        b("wait", page="kb", selector="[data-testid=incident]", timeout=60)
        if view == "detail":
            b("click", page="kb", selector=TILE % "web01")
            b("wait", page="kb", selector="[data-testid=detail]")
        else:
            b("eval", page="kb", expr="document.activeElement && document.activeElement.blur()")
        seen, undrawn = [], []
        for _ in range(60):
            b("press", page="kb", key="Tab")
            got = b("eval", page="kb", expr=FOCUSED)
            if not got:
                continue
            seen.append(got[0])
            if not got[1]:
                undrawn.append(got[0])
        assert len(set(seen)) >= 10, "Tab reached only %s" % seen
        assert not undrawn, "focus not drawn on %s" % sorted(set(undrawn))
        want = "[ack]" if view == "operator" else "[pause-btn]"
        assert any(want in s for s in seen), "Tab never reached %s: %s" % (want, seen)
    finally:
        b.try_call("close", page="kb")
