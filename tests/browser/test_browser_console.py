"""The browser console of `anshin serve`, end to end: Debian chromium (playwright-core, through
driver.mjs) against a real `anshin serve` watching the loopback test fleet on 127.78.61.x.

A service stopped on a fleet host turns its tile red within seconds of the engine opening the
incident, and green again after it returns; a viewer token cannot act; no token gets 401; a
console that lost the engine says so and comes back by itself.

The tests run in file order and share one fleet, one engine and one browser.
"""
import functools
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fleet"))

from fleet import Fleet  # noqa: E402
from anshin_browser import Browser, DriverError, Serve, artifacts_dir, free_port, http, parse_time  # noqa: E402

NET = "127.78.61"  # this suite's own addresses (127.78.61.x – 127.78.63.x)
HOSTS = ["web01:http,smtp", "web02:http", "mail01:imap,pop"]
LABELS = sorted(h.split(":")[0] for h in HOSTS)
OPERATOR = "op-browser-0123456789abcdef"
VIEWER = "wall-browser-0123456789abcdef"
TILE = '[data-testid="tile"][data-label="%s"]'
# The longest the tile may lag behind the engine's incident (issue: "within seconds").
MAX_TILE_LAG_S = 10.0

TIMINGS = {}


def record(key, value):
    TIMINGS[key] = value
    print("timing %s = %s" % (key, value))


@pytest.fixture(scope="module")
def stack():
    if os.geteuid() != 0:
        pytest.skip("the loopback fleet needs root (CI runs as root)")
    for old in os.listdir(artifacts_dir()):
        if old.startswith("FAILED-"):
            os.remove(os.path.join(artifacts_dir(), old))
    work = tempfile.mkdtemp(prefix="anshin-browser-")
    fleet = serve = browser = None
    try:
        fleet = Fleet(os.path.join(work, "fleet"), net=NET, hosts=HOSTS)
        fleet.up()
        fleet_path = os.path.join(work, "fleet.toml")
        with open(fleet_path, "w") as fh:
            fh.write(fleet.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2))
        tokens = os.path.join(work, "tokens")
        port = free_port()
        # Named tokens (`ROLE TOKEN NAME`) where this build knows them, else `ROLE TOKEN`.
        for lines in ("operator %s 田中\nviewer %s wall\n", "operator %s\nviewer %s\n"):
            with open(tokens, "w") as fh:
                fh.write(lines % (OPERATOR, VIEWER))
            serve = Serve(fleet_path, os.path.join(work, "log.db"), port, tokens, work)
            try:
                serve.start()
                break
            except RuntimeError as e:
                if "tokens" not in str(e) and "TOKEN" not in str(e):
                    raise
                print("three-field token lines refused, using two fields:", str(e)[-300:])
        browser = Browser(work)
        # The console's page (no token needed: it holds no fleet data).
        try:
            page = urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=10)
            console = (page.status, page.read(4000).decode(errors="replace"))
        except urllib.error.HTTPError as e:
            console = (e.code, e.read(4000).decode(errors="replace"))
        yield {"console": console, "fleet": fleet, "serve": serve, "browser": browser, "port": port,
               "base": "http://127.0.0.1:%d" % port, "shots": artifacts_dir(), "work": work}
    finally:
        if browser:
            browser.close()
        if serve:
            serve.kill()
        if fleet:
            fleet.down()
        if TIMINGS:
            with open(os.path.join(artifacts_dir(), "timings.json"), "w") as fh:
                json.dump(TIMINGS, fh, indent=2, sort_keys=True)
        shutil.rmtree(work, ignore_errors=True)


def keep_evidence(test):
    """On failure: a screenshot, the address and the browser log of every open page, in artifacts."""
    @functools.wraps(test)
    def run(stack):
        try:
            return test(stack)
        except pytest.xfail.Exception:
            raise
        except (AssertionError, pytest.fail.Exception, DriverError):
            b = stack["browser"]
            ok, names = b.try_call("pages")
            for name in names if ok else []:
                base = os.path.join(stack["shots"], "FAILED-%s-%s" % (test.__name__, name))
                b.try_call("screenshot", page=name, path=base + ".png")
                with open(base + ".txt", "w") as fh:
                    fh.write("url: %s\n" % (b.try_call("url", page=name)[1],))
                    fh.write("\n".join(page_log(stack, name)) + "\n")
                    fh.write("serve log:\n" + stack["serve"].log())
            raise
    return run


def need_console(s):
    """Fails with the server's own words when `anshin serve` does not serve the console page."""
    status, text = s["console"]
    if status != 200 or "<html" not in text.lower():
        pytest.fail("GET / on anshin serve answered %s, not the console page: %s" % (status, text[:300]))


def shot(s, page, name, timeout=10):
    path = os.path.join(s["shots"], name)
    s["browser"]("screenshot", page=page, path=path, timeout=timeout)
    return path


def open_incident(port, host, check):
    status, _, body = http(port, "GET", "/api/v1/incidents?open=true", OPERATOR)
    assert status == 200, status
    found = [i for i in body if i["host"] == host and i.get("check") == check]
    return found[0] if found else None


def wait_incident(port, host, check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inc = open_incident(port, host, check)
        if inc:
            return inc
        time.sleep(0.2)
    pytest.fail("no open %s/%s incident within %ss" % (host, check, timeout))


def wait_all_ok(s, page, timeout=40):
    b = s["browser"]
    for label in LABELS:
        b("wait_attr", page=page, selector=TILE % label, attr="data-level", value="ok", timeout=timeout)


def page_log(s, page):
    ok, log = s["browser"].try_call("log", page=page)
    return log if ok else []


# ------------------------------------------------------------------ (1) no token

@keep_evidence
def test_no_token_gets_401_and_the_login_form(stack):
    s, b, port = stack, stack["browser"], stack["port"]
    for path in ("/api/v1/servers", "/api/v1/incidents", "/api/v1/whoami", "/api/v1/customers"):
        for token in (None, "wrong-token-0123456789abcdef"):
            status, text, body = http(port, "GET", path, token)
            assert status == 401, (path, token, status, text[:200])
            assert body and body.get("code") == "unauthorized", text[:200]
            for secret in LABELS + [NET, "サンプル"]:
                assert secret not in text, (path, secret)

    need_console(s)
    b("open", page="anon")
    b("goto", page="anon", url=s["base"] + "/")
    b("wait", page="anon", selector='[data-testid="login"]', timeout=15)
    assert b("count", page="anon", selector='[data-testid="tile"]') == 0
    html = b("eval", page="anon", expr="document.documentElement.outerHTML")
    for secret in LABELS + [NET]:
        assert secret not in html, secret

    # A wrong token: the form comes back with the reason, nothing of the fleet shows.
    b("fill", page="anon", selector='[data-testid="login"] input[name="token"]', value="wrong-token-0123456789abcdef")
    b("click", page="anon", selector='[data-testid="login"] button[type="submit"]')
    b("wait", page="anon", selector='[data-testid="login-error"]', timeout=15)
    assert b("text", page="anon", selector='[data-testid="login-error"]').strip()
    assert b("count", page="anon", selector='[data-testid="tile"]') == 0
    assert b("eval", page="anon", expr="localStorage.getItem('anshin.token')") is None
    shot(s, "anon", "login-refused.png")

    # The right token in the same form: the console opens.
    b("fill", page="anon", selector='[data-testid="login"] input[name="token"]', value=OPERATOR)
    b("click", page="anon", selector='[data-testid="login"] button[type="submit"]')
    b("wait", page="anon", selector=TILE % "web01", timeout=15)
    b("close", page="anon")

    # The wall without a token asks for one too.
    b("open", page="anon")
    b("goto", page="anon", url=s["base"] + "/wall")
    b("wait", page="anon", selector='[data-testid="login"]', timeout=15)
    assert b("count", page="anon", selector='[data-testid="tile"]') == 0
    b("close", page="anon")


# ------------------------------------------------------------------ (2) operator: red and back

@keep_evidence
def test_stopped_service_turns_the_tile_red_and_green_again(stack):
    s, b, port, fleet = stack, stack["browser"], stack["port"], stack["fleet"]
    need_console(s)
    b("open", page="op")
    b("goto", page="op", url=s["base"] + "/?token=" + OPERATOR)
    b("wait", page="op", selector='[data-testid="summary"]', timeout=15)
    for label in LABELS:
        b("wait", page="op", selector=TILE % label, timeout=15)
    assert b("count", page="op", selector='[data-testid="tile"]') == len(LABELS)
    # The token left the address bar (it is remembered instead).
    assert "token" not in b("url", page="op")
    assert b("eval", page="op", expr="localStorage.getItem('anshin.token')") == OPERATOR
    wait_all_ok(s, "op")
    tiles = b("attrs", page="op", selector='[data-testid="tile"]', names=["data-label", "data-level", "data-stale"])
    assert all(t["data-stale"] == "false" for t in tiles), tiles

    fleet.stop_service("web01", "http")
    t_stop = time.time()
    try:
        t_tile = b("wait_attr", page="op", selector=TILE % "web01", attr="data-level", value="4", timeout=40) / 1000
        inc = wait_incident(port, "web01", "http", 10)
        t_open = parse_time(inc["opened_at"])
        record("stop_to_incident_s", round(t_open - t_stop, 3))
        record("incident_to_red_tile_s", round(t_tile - t_open, 3))
        assert inc["level"] == 4
        assert -1.0 <= t_tile - t_open <= MAX_TILE_LAG_S, (t_tile - t_open, inc)
        # Only web01 is red.
        levels = {t["data-label"]: t["data-level"] for t in
                  b("attrs", page="op", selector='[data-testid="tile"]', names=["data-label", "data-level"])}
        assert levels == {"web01": "4", "web02": "ok", "mail01": "ok"}, levels

        # The incident row appears in the panel.
        row = '[data-testid="incident"][data-id="%d"]' % inc["id"]
        t_row = b("wait", page="op", selector=row, timeout=10) / 1000
        record("incident_to_panel_row_s", round(t_row - t_open, 3))
        assert b("attrs", page="op", selector=row, names=["data-level"]) == [{"data-level": "4"}]
        assert "web01" in b("text", page="op", selector=row)
        b("wait", page="op", selector='[data-testid="summary"]')
        shot(s, "op", "operator-red-tile.png")

        # A click on the tile opens the server's detail.
        b("click", page="op", selector=TILE % "web01")
        b("wait", page="op", selector='[data-testid="detail"][data-label="web01"]', timeout=10)
        time.sleep(0.5)  # charts and the incident list of the detail load asynchronously
        shot(s, "op", "operator-detail-web01.png")
        b("press", page="op", key="Escape")
        b("wait", page="op", selector='[data-testid="detail"]', state="detached", timeout=10)

        # The operator acts from the incident panel: "対応する" takes the incident.
        assert b("attrs", page="op", selector=TILE % "web01", names=["data-acknowledged"]) == [
            {"data-acknowledged": "false"}]
        b("click", page="op", selector='[data-testid="ack"][data-id="%d"]' % inc["id"])
        b("wait", page="op", selector='[data-testid="acked"][data-id="%d"]' % inc["id"], timeout=10)
        b("wait_attr", page="op", selector=TILE % "web01", attr="data-acknowledged", value="true", timeout=10)
        acked = open_incident(port, "web01", "http")
        assert "acknowledged" in json.dumps(acked), acked
        shot(s, "op", "operator-acknowledged.png")
    finally:
        fleet.start_service("web01", "http")
    t_start = time.time()
    t_green = b("wait_attr", page="op", selector=TILE % "web01", attr="data-level", value="ok", timeout=40) / 1000
    record("service_back_to_green_tile_s", round(t_green - t_start, 3))
    _, _, closed = http(port, "GET", "/api/v1/incidents?limit=20", OPERATOR)
    [mine] = [i for i in closed if i["id"] == inc["id"]]
    assert mine.get("closed_at"), mine
    record("incident_closed_to_green_tile_s", round(t_green - parse_time(mine["closed_at"]), 3))
    assert t_green - parse_time(mine["closed_at"]) <= MAX_TILE_LAG_S
    b("wait", page="op", selector='[data-testid="incident"][data-id="%d"]' % inc["id"], state="detached", timeout=10)
    errors = [l for l in page_log(s, "op") if "pageerror" in l]
    assert not errors, errors


# ------------------------------------------------------------------ (3) viewer: the wall, no acting

# What acting looks like in the console: the acknowledge controls, and any other control outside
# the summary bar (the wall's summary keeps its level chips and the language toggle).
ACTION = ('[data-testid="ack"], [data-testid="ack-note-toggle"], [data-testid*="recover"], '
          '[data-testid*="pause"], [data-action], button:not([data-testid="summary"] button)')


@keep_evidence
def test_viewer_sees_the_wall_without_controls(stack):
    s, b, port, fleet = stack, stack["browser"], stack["port"], stack["fleet"]
    need_console(s)
    fleet.stop_service("web02", "http")
    try:
        inc = wait_incident(port, "web02", "http", 30)
        b("open", page="wall", viewport={"width": 1920, "height": 1080})
        b("goto", page="wall", url=s["base"] + "/wall?token=" + VIEWER)
        b("wait", page="wall", selector='[data-testid="wall"]', timeout=15)
        for label in LABELS:
            b("wait", page="wall", selector=TILE % label, state="attached", timeout=15)
        b("wait_attr", page="wall", selector=TILE % "web02", attr="data-level", value="4", timeout=15)
        assert "token" not in b("url", page="wall")
        assert b("attrs", page="wall", selector=TILE % "web02", names=["data-stale"]) == [{"data-stale": "false"}]
        # The wall has no controls: nothing to click but the language toggle.
        actions = b("eval", page="wall", expr="[...document.querySelectorAll(%s)].map(e => e.outerHTML.slice(0, 160))"
                    % json.dumps(ACTION))
        assert actions == [], actions
        shot(s, "wall", "wall-viewer.png")

        # The viewer token on the operator's page: the incident shows, nothing to act with.
        b("open", page="vop")
        b("goto", page="vop", url=s["base"] + "/?token=" + VIEWER)
        b("wait", page="vop", selector='[data-testid="incident"][data-id="%d"]' % inc["id"], timeout=15)
        actions = b("eval", page="vop", expr="[...document.querySelectorAll(%s)].map(e => e.outerHTML.slice(0, 160))"
                    % json.dumps('[data-testid="ack"], [data-testid="ack-note-toggle"]'))
        assert actions == [], actions
        b("click", page="vop", selector=TILE % "web02")
        b("wait", page="vop", selector='[data-testid="detail"][data-label="web02"]', timeout=10)
        assert b("count", page="vop", selector='[data-testid="ack"], [data-testid="ack-note-toggle"]') == 0
        b("close", page="vop")
    finally:
        fleet.start_service("web02", "http")
    b("wait_attr", page="wall", selector=TILE % "web02", attr="data-level", value="ok", timeout=40)


@keep_evidence
def test_viewer_cannot_act(stack):
    """Acting over HTTP: no token 401, viewer 403, operator 200."""
    port, fleet = stack["port"], stack["fleet"]
    fleet.stop_service("web02", "http")
    try:
        inc = wait_incident(port, "web02", "http", 30)
        path = "/api/v1/incidents/%d/acknowledge" % inc["id"]
        note = {"note": "browser test"}
        status, text, body = http(port, "POST", path, None, note)
        assert status == 401 and body and body.get("code") == "unauthorized", (status, text[:200])
        assert "web02" not in text
        status, text, body = http(port, "POST", path, VIEWER, {"note": "viewer was here"})
        viewer = (status, body, text[:300])
        assert not 200 <= status < 300, viewer
        status, text, body = http(port, "POST", path, OPERATOR, note)
        record("acknowledge_status_none_viewer_operator", [401, viewer[0], status])
        assert status == 200, (status, text[:300])
        assert viewer[0] == 403 and viewer[1] and viewer[1].get("code") == "forbidden", viewer
        _, text, _ = http(port, "GET", "/api/v1/incidents?limit=20", VIEWER)
        assert "browser test" in text  # the operator's note is in the log
        assert "viewer was here" not in text  # the viewer's is not
    finally:
        fleet.start_service("web02", "http")
    deadline = time.monotonic() + 40
    while open_incident(port, "web02", "http") and time.monotonic() < deadline:
        time.sleep(0.3)


# ------------------------------------------------------------------ (4) engine away and back

@keep_evidence
def test_lost_engine_shows_the_banner_and_reconnects_by_itself(stack):
    s, b = stack, stack["browser"]
    serve = s["serve"]
    need_console(s)
    if not b.try_call("count", page="op", selector="body")[0]:  # the operator test did not leave it open
        b("open", page="op")
        b("goto", page="op", url=s["base"] + "/?token=" + OPERATOR)
    b("wait", page="op", selector=TILE % "web01", timeout=15)
    b("wait_attr", page="op", selector=TILE % "web01", attr="data-stale", value="false", timeout=15)
    assert b("count", page="op", selector='[data-testid="disconnected"]') == 0
    t_kill = time.time()
    rc, took = serve.stop(wait=10)
    record("serve_sigterm_exit_s", round(took, 3))
    t_banner = b("wait", page="op", selector='[data-testid="disconnected"]', timeout=15) / 1000
    record("sigterm_to_banner_s", round(t_banner - t_kill, 3))
    record("serve_exit_to_banner_s", round(t_banner - (t_kill + took), 3))
    b("wait_attr", page="op", selector=TILE % "web01", attr="data-stale", value="true", timeout=5)
    stale = {t["data-stale"] for t in b("attrs", page="op", selector='[data-testid="tile"]', names=["data-stale"])}
    assert stale == {"true"}, stale
    assert b("attrs", page="op", selector='[data-testid="summary"]', names=["data-stale"]) == [{"data-stale": "true"}]
    shot(s, "op", "operator-disconnected.png")
    wall = b.try_call("count", page="wall", selector='[data-testid="wall"]')[0]  # the wall test opened it
    if wall:
        b("wait", page="wall", selector='[data-testid="disconnected"]', timeout=15)
        shot(s, "wall", "wall-disconnected.png")

    time.sleep(2)  # the console is retrying meanwhile (1 s, 2 s, 4 s …)
    t_up = serve.start()
    t_gone = b("wait", page="op", selector='[data-testid="disconnected"]', state="detached", timeout=30) / 1000
    record("serve_back_to_banner_gone_s", round(t_gone - t_up, 3))
    b("wait_attr", page="op", selector=TILE % "web01", attr="data-stale", value="false", timeout=10)
    if wall:
        b("wait", page="wall", selector='[data-testid="disconnected"]', state="detached", timeout=30)
    assert {t["data-stale"] for t in b("attrs", page="op", selector='[data-testid="tile"]', names=["data-stale"])} == {"false"}
    # Live again, not just a snapshot: a service stopped now still turns its tile red.
    s["fleet"].stop_service("mail01", "imap")
    try:
        b("wait_attr", page="op", selector=TILE % "mail01", attr="data-level", value="4", timeout=40)
    finally:
        s["fleet"].start_service("mail01", "imap")
    b("wait_attr", page="op", selector=TILE % "mail01", attr="data-level", value="ok", timeout=40)
    # Stopping serve with consoles connected must be clean and quick (SIGTERM → exit 0).
    assert rc == 0, "anshin serve did not exit on SIGTERM within 10 s with a console connected (rc %s): %s" % (
        rc, serve.log())
