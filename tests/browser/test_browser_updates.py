"""Security updates in the browser console (contract §8), end to end: Debian chromium against a
real `anshin serve` watching its own loopback fleet on 127.78.68.x, with the package managers
and wp-cli as the recording stand-ins of tests/fleet/update_standins.py on the SSH account's
PATH (they print real captured outputs: no AlmaLinux dnf or WordPress site can run here).

web01 (plan 150, AlmaLinux 9, one WordPress site at /srv/www), web02 (plan 60, Debian 12) and
web04 (plan 200, CentOS 8: past its end of life) have updates pending; web03 (plan zero) is not
handled. The engine detects by itself: web01's tile gets its updates badge (count and highest
severity, as the engine says), web04's an EOL badge naming the release and its last day; the
fleet-wide updates page (`/updates`) lists web01, web02 and web04, most pending first, and not
web03; a row opens
web01's detail, which lists the pending packages the API has (the OS's, then the site's). The
operator applies the OS updates from the detail (apply, then the confirmation that says the
server is paused and that there is no backup): dnf's upgrade runs once on the server (the
stand-in's log), the server shows paused while it runs, the audit log gets `update_finished`
with dnf's output (also on `/audit`), the OS rows go and the detail says the reboot the new
detection asks for; the CMS updates the same way, and then the tile's badge and the page's row
are gone. A viewer's detail lists the jobs and offers no button.

Screenshots (1440×900) in $ARTIFACTS/browser/: updates-view.png (the fleet-wide page) and
updates-detail.png (web01's pending packages), with ANSHIN_UPDATE_SCREENSHOTS=1 also copied
into assets/screenshots/ for the README; updates-confirm.png (the confirmation),
updates-running.png (the job going), updates-done.png (after the apply: the reboot asked for)
and updates-tile.png (the tiles' badges) for the eyes.
"""
import json
import os
import shutil
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fleet"))

from fleet import Fleet  # noqa: E402
import update_standins  # noqa: E402
from anshin_browser import http, scrolled_shot, start_console  # noqa: E402

NET = "127.78.68"  # this file's own addresses (127.78.68.x)
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
OPERATOR = "op-updates-0123456789abcdef"
VIEWER = "wall-updates-0123456789abcdef"
# How long the stand-in's `dnf upgrade` takes: long enough to see the server paused.
APPLY_SECS = 8


def updates_fleet(f, work):
    """web01 plan 150 AlmaLinux 9 with a WordPress site, web02 plan 60 Debian 12, web03 plan
    zero, web04 plan 200 CentOS 8; SSH for all; detection every 24 h (and at start); mail to the
    fleet's sink (as tests/engine/test_updates.py's, with web04 added)."""
    text = f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2, plan="150")
    ssh = 'ssh = { user = "anshin", key = %s, known_hosts = %s, trust_on_first_use = true }' % (
        json.dumps(f.key), json.dumps(os.path.join(work, "known_hosts")))
    text = text.replace("timeout_secs = 2\n", "timeout_secs = 2\n%s\nupdates = { every_hours = 24, job_minutes = 5 }\n" % ssh, 1)
    out = []
    for b in text.split("\n\n"):
        if 'label = "web01"' in b:
            b = b.replace('os = "%s"' % f.host("web01").os, 'os = "AlmaLinux 9.4"')
            b += '\ncms = [{ kind = "wordpress", path = "/srv/www" }]'
        if 'label = "web02"' in b:
            b = b.replace('customer = "c1001"', 'customer = "c6006"').replace('os = "%s"' % f.host("web02").os, 'os = "Debian 12"')
        if 'label = "web03"' in b:
            b = b.replace('customer = "c1001"', 'customer = "c0000"')
        if 'label = "web04"' in b:
            b = b.replace('customer = "c1001"', 'customer = "c2002"').replace('os = "%s"' % f.host("web04").os, 'os = "CentOS Linux 8.5"')
        out.append(b)
    text = "\n\n".join(out)
    text += ('\n[[customer]]\nid = "c6006"\nname = "六十商事"\nplan = "60"\nnotify = ["ops@c6.example.jp"]\n'
             '\n[[customer]]\nid = "c0000"\nname = "ゼロ工房"\nplan = "zero"\nnotify = ["ops@c0.example.jp"]\n'
             '\n[[customer]]\nid = "c2002"\nname = "株式会社ひまわり食品"\nplan = "200"\nnotify = ["ops@c2.example.jp"]\n'
             '\n[smtp]\nurl = "smtp://%s:%d"\n' % (f.sink_addr, f.sink_port))
    path = os.path.join(work, "fleet.toml")
    with open(path, "w") as fh:
        fh.write(text)
    return path


def shot(b, page, name, selector, publish=False, above=90):
    """The page scrolled to `selector` (see `scrolled_shot`)."""
    return scrolled_shot(b, page, name, selector, publish, above)


@pytest.fixture(scope="module")
def stack():
    if os.geteuid() != 0:
        pytest.skip("the loopback fleet needs root (CI runs as root)")
    work = tempfile.mkdtemp(prefix="anshin-browser-updates-")
    fleet = serve = browser = None
    try:
        fleet = Fleet(os.path.join(work, "fleet"), net=NET, hosts=["web01:http", "web02:http", "web03:http", "web04:http"])
        fleet.up()
        site = os.path.join(fleet.srv("web01"), "www")
        os.makedirs(site, exist_ok=True)
        shutil.chown(site, "anshin", "anshin")
        alma = update_standins.install(fleet, "web01", tool="dnf", wordpress=True)
        update_standins.install(fleet, "web02", tool="apt")
        update_standins.install(fleet, "web04", tool="dnf")
        # dnf's upgrade takes a while (the server stays paused meanwhile).
        dnf = os.path.join(fleet.pubhostdir(fleet.host("web01")), "bin", "dnf")
        with open(dnf) as fh:
            slow = fh.read().replace('*" upgrade "*) cat', '*" upgrade "*) sleep %d; cat' % APPLY_SECS)
        assert "sleep %d" % APPLY_SECS in slow
        fleet.set_command("web01", "dnf", slow)
        fleet_path = updates_fleet(fleet, work)
        serve, browser = start_console(work, fleet_path, "operator %s 佐藤\nviewer %s wall\n" % (OPERATOR, VIEWER))
        yield {"browser": browser, "base": "http://127.0.0.1:%d" % serve.port, "port": serve.port,
               "fleet": fleet, "alma": alma, "serve": serve}
    finally:
        if browser:
            browser.close()
        if serve:
            serve.kill()
        if fleet:
            fleet.down()
        shutil.rmtree(work, ignore_errors=True)


def api(port, path, token=OPERATOR):
    status, text, parsed = http(port, "GET", path, token)
    assert status == 200, (path, status, text)
    return parsed


def server(port, label):
    return next(s for s in api(port, "/api/v1/servers") if s["label"] == label)


def audit(port, kind, host=None):
    page = api(port, "/api/v1/audit?limit=1000")
    return [e for e in page["entries"] if e["kind"] == kind and (host is None or e["host"] == host)]


def wait_for(what, look, timeout=30):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = look()
        if got:
            return got
        time.sleep(0.3)
    pytest.fail("%s: not within %ss (last: %r)" % (what, timeout, got))


def jst_minute(offset_secs):
    """A `datetime-local` value: Japan's time now (plus `offset_secs`), to the minute."""
    return time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + offset_secs + 9 * 3600))


def rows(b, page):
    """The detail's pending rows: (source, package)."""
    got = b("attrs", page=page, selector='[data-testid="updates-panel"] [data-testid="update-row"]',
            names=["data-source", "data-package"])
    return [(r["data-source"], r["data-package"]) for r in got]


def view_rows(b, page):
    got = b("attrs", page=page, selector='[data-testid="updates-view-row"]', names=["data-host", "data-count"])
    return [(r["data-host"], int(r["data-count"])) for r in got]


def tile_badge(b, page, label):
    return b("attrs", page=page, selector='[data-testid="tile"][data-label="%s"] [data-testid="updates-badge"]' % label,
             names=["data-count", "data-severity", "title"])


def apply_from_the_detail(b, page, button, expect_words):
    """Clicks the apply button, checks the confirmation's words, confirms; returns its text."""
    b("click", page=page, selector='[data-testid="%s"]' % button)
    b("wait", page=page, selector='[data-testid="confirm-dialog"]', timeout=10)
    # The last backup's age is read when the dialog opens.
    wait_for("the backup line", lambda: "確認中" not in b("text", page=page, selector='[data-testid="confirm-dialog"]'), 10)
    said = b("text", page=page, selector='[data-testid="confirm-dialog"]')
    for w in expect_words:
        assert w in said, (w, said)
    return said


def test_updates_are_shown_applied_from_the_browser_and_audited(stack):
    b, base, port, alma = stack["browser"], stack["base"], stack["port"], stack["alma"]

    # The engine's detection, on the tiles (a viewer's console: the badges are for everyone).
    b("open", page="wall", viewport={"width": 1440, "height": 900})
    b("goto", page="wall", url=base + "/?token=" + VIEWER)
    badge = '[data-testid="tile"][data-label="web01"] [data-testid="updates-badge"]'
    b("wait", page="wall", selector=badge, timeout=90)
    web01 = wait_for("web01's updates in the view", lambda: (u := server(port, "web01")["updates"]) and u["count"] and u, 30)
    [got] = tile_badge(b, "wall", "web01")
    assert int(got["data-count"]) == web01["count"] and got["data-severity"] == web01["severity"] == "critical", (got, web01)
    text = b("text", page="wall", selector=badge)
    assert text == "更新 %d緊" % web01["count"], text  # the count, and the severity as a word's letter
    assert "緊急" in got["title"], got
    b("wait", page="wall", selector='[data-testid="tile"][data-label="web02"] [data-testid="updates-badge"]', timeout=60)
    assert server(port, "web03")["updates"]["code"] == "not_included"
    assert b("count", page="wall", selector='[data-testid="tile"][data-label="web03"] [data-testid="updates-badge"]') == 0
    # web04's release is past its end of life: the tile says so, naming it and its last day.
    eol = '[data-testid="tile"][data-label="web04"] [data-testid="eol-badge"]'
    b("wait", page="wall", selector=eol, timeout=60)
    [title] = b("attrs", page="wall", selector=eol, names=["title"])
    assert "CentOS 8" in title["title"] and "2021-12-31" in title["title"], title
    assert b("count", page="wall", selector='[data-testid="eol-badge"]') == 1, "only web04's"
    shot(b, "wall", "updates-tile.png", '[data-testid="tile"][data-label="web01"]')

    # The fleet-wide page: from the console's header, most pending first, web03 not listed.
    b("open", page="op", viewport={"width": 1440, "height": 900})
    b("goto", page="op", url=base + "/?token=" + OPERATOR)
    b("wait", page="op", selector='[data-testid="updates-tab"]', timeout=20)
    b("click", page="op", selector='[data-testid="updates-tab"]')
    b("wait", page="op", selector='[data-testid="updates-view-row"][data-host="web02"]', timeout=20)
    b("wait", page="op", selector='[data-testid="updates-view-row"][data-host="web04"]', timeout=60)
    views = {h: server(port, h)["updates"] for h in ("web01", "web02", "web04")}
    want = sorted(views, key=lambda h: (-views[h]["count"], views[h]["oldest_since"], h))
    assert view_rows(b, "op") == [(h, views[h]["count"]) for h in want], (view_rows(b, "op"), views)
    assert views["web04"]["eol_os"] == "CentOS 8", views["web04"]
    assert b("url", page="op").split("?")[0].endswith("/updates")
    shot(b, "op", "updates-view.png", '[data-testid="updates-view"]', publish=True)

    # A row opens the server's detail: the pending packages are the API's, the OS's first.
    b("click", page="op", selector='[data-testid="updates-view-row"][data-host="web01"]')
    b("wait", page="op", selector='[data-testid="detail"][data-label="web01"] [data-testid="updates-panel"]', timeout=20)
    pending = api(port, "/api/v1/updates?host=web01")
    wait_for("the detail's rows", lambda: len(rows(b, "op")) == len(pending), 20)
    listed = rows(b, "op")
    assert sorted(listed) == sorted((r["source"], r["package"]) for r in pending), (listed, pending)
    sources = [s for s, _ in listed]
    assert sources == sorted(sources, key=lambda s: s != "os"), sources  # the OS's, then the site's
    assert {"os", "wordpress-plugin"} <= set(sources), sources
    [sudo] = b("attrs", page="op", selector='[data-testid="update-row"][data-package="sudo"]', names=["class"])
    assert "sev-critical" in sudo["class"], sudo
    assert b("count", page="op", selector='[data-testid="updates-apply-cms"]') == 1  # plan 150 with a site
    planned = b("text", page="op", selector='[data-testid="updates-planned"]')
    assert planned and planned[:2] == "20", planned  # the notice set it

    # The planned date, changed from the detail (Japan time): a past one is refused by the engine,
    # this very minute is taken — and is then past: overdue, on the detail and on the tile.
    b("click", page="op", selector='[data-testid="updates-plan"]')
    b("fill", page="op", selector='[data-testid="updates-plan-input"]', value=jst_minute(-86400))
    b("click", page="op", selector='[data-testid="updates-plan-save"]')
    refused = b("text", page="op", selector='[data-testid="updates-plan-error"]')
    assert "入力内容が正しくありません" in refused, refused
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)  # not across a minute's end
    now_minute = jst_minute(0)
    b("fill", page="op", selector='[data-testid="updates-plan-input"]', value=now_minute)
    b("click", page="op", selector='[data-testid="updates-plan-save"]')
    b("wait", page="op", selector='[data-testid="updates-overdue"]', timeout=10)
    planned = b("text", page="op", selector='[data-testid="updates-planned"]')
    assert planned == now_minute.replace("-", "/").replace("T", " ") + ":00", (planned, now_minute)
    assert server(port, "web01")["updates"]["overdue"] is True
    b("wait", page="wall", selector=badge + '[data-overdue="true"]', timeout=10)
    assert "期限超過" in b("text", page="wall", selector=badge)
    shot(b, "op", "updates-detail.png", '[data-testid="updates-panel"]', publish=True, above=8)

    # The OS updates, chosen (the OS group's box) and applied from the detail after the
    # confirmation, which names them.
    os_names = [r["package"] for r in pending if r["source"] == "os"]
    b("click", page="op", selector='[data-testid="updates-group"][data-site=""] [data-testid="updates-choose-group"]')
    label = b("text", page="op", selector='[data-testid="updates-apply"]')
    assert label.strip() == "選択した %d 件のOSアップデートを適用" % len(os_names), label
    said = apply_from_the_detail(b, "op", "updates-apply", ["web01", "%d 件" % len(os_names), "一時停止", "バックアップなし"])
    assert all(n in said for n in os_names), (os_names, said)
    shot(b, "op", "updates-confirm.png", '[data-testid="updates-panel"]', above=8)
    b("click", page="op", selector='[data-testid="updates-confirm"]')
    b("wait", page="op", selector='[data-testid="confirm-dialog"]', state="hidden", timeout=10)
    # While dnf runs: the server paused on every console, the job on the detail.
    b("wait", page="op", selector='[data-testid="updates-panel"][data-running="apply"]', timeout=10)
    b("wait", page="op", selector='[data-testid="detail"] header [data-testid="maintenance-badge"]', timeout=10)
    b("wait", page="wall", selector='[data-testid="tile"][data-label="web01"][data-paused="true"]', timeout=10)
    assert server(port, "web01")["maintenance"], "paused while the job runs"
    b("wait", page="op", selector='[data-testid="update-run"][data-state="running"]', timeout=20)
    shot(b, "op", "updates-running.png", '[data-testid="updates-panel"]', above=8)
    # The buttons wait for the job.
    assert b("eval", page="op", expr="document.querySelector('[data-testid=\"updates-apply\"]').disabled") is True

    [done] = wait_for("update_finished in the log", lambda: audit(port, "update_finished", "web01"), 90)
    assert "Complete!" in done["detail"], done
    assert done["actor"] == "佐藤", done
    upgrade = [c for c in alma.calls() if c.startswith("dnf ") and " upgrade " in c]
    assert len(upgrade) == 1 and "-y" in upgrade[0], alma.calls()
    assert all(n in upgrade[0].split() for n in os_names), (os_names, upgrade)
    # The pause ends with the job; the next detection finds no OS update and a reboot needed.
    b("wait", page="wall", selector='[data-testid="tile"][data-label="web01"][data-paused="false"]', timeout=30)
    wait_for("no OS row left", lambda: [s for s, _ in rows(b, "op")] and "os" not in [s for s, _ in rows(b, "op")], 60)
    b("wait", page="op", selector='[data-testid="updates-reboot-needed"]', timeout=30)
    reboot = b("text", page="op", selector='[data-testid="updates-reboot-needed"]')
    assert "再起動が必要" in reboot, reboot
    assert b("count", page="op", selector='[data-testid="updates-reboot-needed"] button') == 1, "the reboot action offered"
    b("wait", page="op", selector='[data-testid="update-run"][data-state="ok"][data-scope="os"]', timeout=20)
    assert b("count", page="op", selector='[data-testid="updates-apply"][disabled]') == 1  # nothing left for the OS
    shot(b, "op", "updates-done.png", '[data-testid="updates-panel"]', above=8)

    # The CMS updates the same way: then nothing is pending and the badge goes.
    apply_from_the_detail(b, "op", "updates-apply-cms", ["CMS", "一時停止", "バックアップなし"])
    b("click", page="op", selector='[data-testid="updates-confirm"]')
    wait_for("the CMS job's end", lambda: len(audit(port, "update_finished", "web01")) == 2, 90)
    wp = [c for c in alma.calls() if c.startswith("wp ") and " update" in c]
    assert any("plugin update" in c for c in wp), alma.calls()
    b("wait", page="op", selector='[data-testid="updates-none"]', timeout=60)
    wait_for("the tile's badge gone", lambda: b("count", page="wall", selector=badge) == 0, 30)
    b("click", page="op", selector='[data-testid="detail"] button.close')
    wait_for("web01 off the page", lambda: "web01" not in [h for h, _ in view_rows(b, "op")], 30)
    assert sorted(h for h, _ in view_rows(b, "op")) == ["web02", "web04"], view_rows(b, "op")

    # The audit page shows the job's end with dnf's output.
    b("goto", page="op", url=base + "/audit")
    b("wait", page="op", selector='[data-testid="audit-row"][data-kind="update_finished"]', timeout=20)
    texts = b("eval", page="op", expr="[...document.querySelectorAll('[data-testid=\"audit-row\"][data-kind=\"update_finished\"]')]"
                                        ".map(r => r.textContent)")
    assert any("Complete!" in t for t in texts), texts

    # A viewer: the jobs and the state, no button.
    b("goto", page="wall", url=base + "/?token=" + VIEWER + "&open=web01")
    b("wait", page="wall", selector='[data-testid="updates-panel"]', timeout=20)
    wait_for("the viewer's jobs", lambda: b("count", page="wall", selector='[data-testid="update-run"]') == 2, 20)
    for testid in ("updates-apply", "updates-apply-cms", "updates-refresh", "updates-plan", "update-choose"):
        assert b("count", page="wall", selector='[data-testid="%s"]' % testid) == 0, testid
    status, _, answer = http(port, "POST", "/api/v1/servers/web01/updates/refresh", VIEWER, {})
    assert status == 403, answer

    # web04's detail in English, for the eyes (artifact only).
    b("goto", page="wall", url=base + "/?token=" + VIEWER + "&open=web04")
    b("wait", page="wall", selector='[data-testid="updates-panel"] [data-testid="update-row"]', timeout=20)
    b("eval", page="wall", expr="document.querySelector('[data-testid=\"lang\"]').click()")
    b("wait", page="wall", selector='[data-testid="updates-panel"] h4', timeout=5)
    shot(b, "wall", "updates-detail-en.png", '[data-testid="updates-panel"]', above=8)
    b("eval", page="wall", expr="document.querySelector('[data-testid=\"lang\"]').click()")
