"""The incident log review (`/review`) and the monthly reports (`/reports`) of the browser console,
end to end: Debian chromium (playwright-core, through driver.mjs) against a real `anshin serve`
watching its own loopback test fleet on 127.78.64.x (SMTP sink on 127.78.64.250:2525).

Review: two incidents opened and closed on the fleet (a service stopped, then started) are listed
with their story (detected … closed) and their customer; the server and text filters narrow the
list; the CSV export is a real browser download, UTF-8 with a BOM, with the trigger in it; the API
refuses a date that is not YYYY-MM-DD with 400.

Monthly reports: the customer is on plan 150, so the engine drafts the previous month's report at
start (schedule.rs `tick`: every tick, from the 1st, a draft of the previous JST month per entitled
customer). Resource samples of that month are written into the store beforehand (this fleet has no
SSH, so the engine polls none), so the report has a chart. A viewer sees no action and gets 403
from the send route; the operator previews (月次稼働レポート), holds, releases and sends (with the
in-page confirmation), and the mail reaches the sink as multipart/related with the chart inline.

The tests run in file order and share one fleet, one engine and one browser. Screenshots go to
$ARTIFACTS/browser/ only (never into assets/).
"""
import csv
import datetime
import functools
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fleet"))

from fleet import Fleet  # noqa: E402
from anshin_browser import Browser, DriverError, Serve, anshin_bin, artifacts_dir, free_port, http  # noqa: E402

NET = "127.78.64"  # this file's own addresses (127.78.64.x – 127.78.65.x)
HOSTS = ["web01:http", "web02:http"]
CUSTOMER = "サンプル株式会社"
OPERATOR = "op-review-0123456789abcdef"
VIEWER = "wall-review-0123456789abcdef"
TRIGGER = "%s HTTP サービスダウン"
ROW = '[data-testid="review-row"][data-id="%d"]'
REPORT_ROW = '[data-testid="report-row"][data-id="%d"]'
JST = datetime.timezone(datetime.timedelta(hours=9))


def previous_month(now=None):
    """The JST month before the current one, as YYYY-MM."""
    today = datetime.datetime.now(JST) if now is None else now
    first = today.replace(day=1)
    return (first - datetime.timedelta(days=1)).strftime("%Y-%m")


def seed_event(db, at, kind, detail):
    """Appends an event the way the store does, hash chain and head included (the recipe of
    crates/anshin-engine/src/store/audit.rs), so the seeded log still verifies."""
    def f(v):
        if v is None:
            return b"-"
        b = str(v).encode()
        return str(len(b)).encode() + b":" + b
    con = sqlite3.connect(db, timeout=10)
    with con:
        last_id, prev = con.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
        row = (last_id + 1, at, kind, None, None, None, detail, "test")
        digest = hashlib.sha256(prev.encode() + b"".join(f(v) for v in row)).hexdigest()
        con.execute("INSERT INTO events (id, at, kind, incident_id, host, check_id, detail, actor, hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row + (digest,))
        con.execute("UPDATE audit_head SET last_event = ?, hash = ? WHERE id = 1", (row[0], digest))
    con.close()


@pytest.fixture(scope="module")
def stack():
    if os.geteuid() != 0:
        pytest.skip("the loopback fleet needs root (CI runs as root)")
    for old in os.listdir(artifacts_dir()):
        if old.startswith("FAILED-review-") or old.startswith("FAILED-reports-"):
            os.remove(os.path.join(artifacts_dir(), old))
    work = tempfile.mkdtemp(prefix="anshin-browser-rr-")
    fleet = serve = browser = None
    try:
        fleet = Fleet(os.path.join(work, "fleet"), net=NET, hosts=HOSTS)
        fleet.up()
        fleet_path = os.path.join(work, "fleet.toml")
        with open(fleet_path, "w") as fh:
            fh.write(fleet.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2, plan="150"))
            fh.write('\n[smtp]\nurl = "smtp://%s:%d"\n' % (fleet.sink_addr, fleet.sink_port))
        tokens = os.path.join(work, "tokens")
        with open(tokens, "w") as fh:
            fh.write("operator %s 田中\nviewer %s wall\n" % (OPERATOR, VIEWER))
        db = os.path.join(work, "log.db")
        serve = Serve(fleet_path, db, free_port(), tokens, work)
        # The engine "has watched since the 1st of last month": a report covers only watched
        # time, and the schedule drafts no month that ended before monitoring began. So the store
        # is made by a first start, then gets an engine_started of that day (the log is
        # append-only: inserts only), and the second start drafts last month's report.
        serve.start()
        assert serve.stop()[0] == 0
        first = datetime.datetime.strptime(previous_month() + "-01", "%Y-%m-%d").replace(tzinfo=JST)
        at = first.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        seed_event(db, at, "engine_started", "seeded by the test")
        # The auditor's recipe of the hash is the store's: the seeded log still verifies.
        verified = subprocess.run([anshin_bin(), "incidents", "--verify", "--db", db], capture_output=True, text=True)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        serve.start()
        browser = Browser(work)
        yield {"fleet": fleet, "serve": serve, "browser": browser, "port": serve.port, "db": db,
               "base": "http://127.0.0.1:%d" % serve.port, "shots": artifacts_dir(), "work": work}
    finally:
        if browser:
            browser.close()
        if serve:
            serve.kill()
        if fleet:
            fleet.down()
        shutil.rmtree(work, ignore_errors=True)


def keep_evidence(prefix):
    """On failure: a screenshot, the address and the browser log of every open page, in artifacts."""
    def wrap(test):
        @functools.wraps(test)
        def run(stack, **fixtures):
            try:
                return test(stack, **fixtures)
            except pytest.xfail.Exception:
                raise
            except (AssertionError, pytest.fail.Exception, DriverError):
                b = stack["browser"]
                ok, names = b.try_call("pages")
                for name in names if ok else []:
                    base = os.path.join(stack["shots"], "FAILED-%s-%s-%s" % (prefix, test.__name__, name))
                    b.try_call("screenshot", page=name, path=base + ".png")
                    with open(base + ".txt", "w") as fh:
                        fh.write("url: %s\n" % (b.try_call("url", page=name)[1],))
                        fh.write("\n".join(b.try_call("log", page=name)[1] or []) + "\n")
                        fh.write("serve log:\n" + stack["serve"].log())
                raise
        return run
    return wrap


def shot(s, page, name):
    path = os.path.join(s["shots"], name)
    s["browser"]("screenshot", page=page, path=path, timeout=10)
    return path


def wait_api(port, path, token, accept, timeout, what):
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        status, _, body = http(port, "GET", path, token)
        if status == 200 and accept(body):
            return body
        time.sleep(0.25)
    pytest.fail("%s: not within %ss (last answer: %s)" % (what, timeout, json.dumps(body, ensure_ascii=False)[:600]))


def count_is(b, page, selector, n, timeout=10):
    """Waits (bounded) until `selector` matches exactly n elements; returns the count."""
    deadline = time.monotonic() + timeout
    c = None
    while time.monotonic() < deadline:
        c = b("count", page=page, selector=selector)
        if c == n:
            return c
        time.sleep(0.1)
    return c


# ------------------------------------------------------------------ review

@pytest.fixture(scope="module")
def incidents(stack):
    """Two incidents, opened and closed: web01 and web02 HTTP down, then back."""
    fleet, port = stack["fleet"], stack["port"]
    wait_api(port, "/api/v1/servers", OPERATOR,
             lambda b: b and all(c.get("ok") is True for s in b for c in s.get("checks", []))
             and len(b) == len(HOSTS), 30, "every check ok")
    for label in ("web01", "web02"):
        fleet.stop_service(label, "http")
    try:
        wait_api(port, "/api/v1/incidents?open=true", OPERATOR,
                 lambda b: {(i["host"], i["check"]) for i in b} >= {("web01", "http"), ("web02", "http")},
                 30, "both HTTP incidents open")
    finally:
        for label in ("web01", "web02"):
            fleet.start_service(label, "http")
    rows = wait_api(port, "/api/v1/review", OPERATOR,
                    lambda b: b and len([r for r in b if r["check"] == "http" and r.get("closed_at")]) == 2,
                    30, "both HTTP incidents closed")
    return {r["host"]: r for r in rows if r["check"] == "http"}


@keep_evidence("review")
def test_review_lists_the_closed_incident_with_its_story_and_customer(stack, incidents):
    s, b = stack, stack["browser"]
    web01, web02 = incidents["web01"], incidents["web02"]
    # The API has the customer of each incident.
    assert web01["customer"] == "c1001" and web01["customer_name"] == CUSTOMER, web01
    assert web01["trigger"] == TRIGGER % "web01", web01
    kinds = [st["kind"] for st in web01["story"]]
    assert kinds[0] == "incident_opened" and "incident_closed" in kinds, kinds

    b("open", page="review")
    b("goto", page="review", url=s["base"] + "/review?token=" + OPERATOR)
    b("wait", page="review", selector='[data-testid="review"]', timeout=15)
    b("wait", page="review", selector=ROW % web01["id"], timeout=15)
    b("wait", page="review", selector=ROW % web02["id"], timeout=15)
    assert "token" not in b("url", page="review")
    assert b("count", page="review", selector='[data-testid="review-row"]') == 2
    row = " ".join(b("text", page="review", selector=ROW % web01["id"]).split())
    assert TRIGGER % "web01" in row and "web01" in row, row
    assert "#%d" % web01["id"] in row, row

    # A click on the row shows its story, from the detection to the closing.
    b("click", page="review", selector=ROW % web01["id"])
    story = '[data-testid="story"][data-id="%d"]' % web01["id"]
    b("wait", page="review", selector=story, timeout=10)
    steps = b("attrs", page="review", selector=story + " li[data-kind]", names=["data-kind"])
    steps = [x["data-kind"] for x in steps]
    # every step of the log, in its order (the recovery mail may have been logged since)
    _, _, now = http(s["port"], "GET", "/api/v1/review?server=web01", OPERATOR)
    assert steps in (kinds, [st["kind"] for st in now[0]["story"]]), (steps, kinds)
    assert steps[0] == "incident_opened" and "incident_closed" in steps, steps
    text = " ".join(b("text", page="review", selector=story).split())
    assert TRIGGER % "web01" in text, text
    assert text.index("検知") < text.index("復旧・クローズ"), text
    shot(s, "review", "review-story.png")


@keep_evidence("review")
def test_review_filters_narrow_the_list(stack, incidents):
    b = stack["browser"]
    web01, web02 = incidents["web01"], incidents["web02"]
    if not b.try_call("count", page="review", selector=ROW % web01["id"])[0]:
        b("open", page="review")
        b("goto", page="review", url=stack["base"] + "/review?token=" + OPERATOR)
    b("wait", page="review", selector=ROW % web01["id"], timeout=15)

    b("fill", page="review", selector='[data-testid="review-filter-server"]', value="web02")
    b("press", page="review", selector='[data-testid="review-filter-server"]', key="Enter")
    assert count_is(b, "review", '[data-testid="review-row"]', 1) == 1
    assert b("count", page="review", selector=ROW % web02["id"]) == 1
    b("fill", page="review", selector='[data-testid="review-filter-server"]', value="")
    b("press", page="review", selector='[data-testid="review-filter-server"]', key="Enter")
    assert count_is(b, "review", '[data-testid="review-row"]', 2) == 2

    b("fill", page="review", selector='[data-testid="review-filter-text"]', value="web01 HTTP")
    assert count_is(b, "review", '[data-testid="review-row"]', 1) == 1
    assert b("count", page="review", selector=ROW % web01["id"]) == 1
    b("fill", page="review", selector='[data-testid="review-filter-text"]', value="nothing-like-this")
    assert count_is(b, "review", '[data-testid="review-row"]', 0) == 0
    b("fill", page="review", selector='[data-testid="review-filter-text"]', value="web01 HTTP")
    assert count_is(b, "review", '[data-testid="review-row"]', 1) == 1
    assert b("count", page="review", selector=ROW % web01["id"]) == 1


@keep_evidence("review")
def test_review_csv_export_downloads_utf8_with_bom(stack, incidents):
    s, b = stack, stack["browser"]
    web01 = incidents["web01"]
    # the previous test left the text filter on web01
    b("wait", page="review", selector=ROW % web01["id"], timeout=15)
    assert count_is(b, "review", '[data-testid="review-row"]', 1) == 1
    path = os.path.join(s["work"], "review-export.csv")
    got = b("download", page="review", selector='[data-testid="export-csv"]', path=path, timeout=15)
    assert got["name"].endswith(".csv"), got
    raw = open(path, "rb").read()
    shutil.copyfile(path, os.path.join(s["shots"], "review-export.csv"))
    assert raw.startswith(b"\xef\xbb\xbf"), raw[:20]
    text = raw[3:].decode("utf-8")
    table = list(csv.reader(io.StringIO(text)))
    head, rows = table[0], table[1:]
    assert "障害名" in head and "顧客" in head, head
    assert len(rows) == 1, rows
    rec = dict(zip(head, rows[0]))
    assert rec["ID"] == str(web01["id"]) and rec["サーバー"] == "web01", rec
    assert rec["障害名"] == TRIGGER % "web01", rec
    assert "検知" in rec["経過"] and "復旧・クローズ" in rec["経過"], rec
    s["csv"] = rec


def test_review_names_the_customer_on_the_page_and_in_the_csv(stack, incidents):
    b = stack["browser"]
    b("wait", page="review", selector=ROW % incidents["web01"]["id"], timeout=15)
    rec = stack.get("csv")
    assert rec is not None, "needs the CSV of the test above"
    page_text = b("eval", page="review", expr="document.body.innerText")
    assert CUSTOMER in page_text, "the customer's name is not on /review"
    assert rec["顧客"] == CUSTOMER, "the CSV's 顧客 column: %r" % rec["顧客"]


def test_review_api_refuses_a_bad_date(stack):
    port = stack["port"]
    status, text, body = http(port, "GET", "/api/v1/review?from=10/01", OPERATOR)
    assert status == 400, (status, text[:300])
    assert body and body.get("code") == "invalid" and "10/01" in body.get("message", ""), text[:300]
    status, _, _ = http(port, "GET", "/api/v1/review?from=10/01", None)
    assert status == 401
    status, _, body = http(port, "GET", "/api/v1/review?from=2026-10-02&to=2026-10-01", OPERATOR)
    assert status == 400, body
    status, _, body = http(port, "GET", "/api/v1/review?server=web01", VIEWER)
    assert status == 200 and body and {r["host"] for r in body} == {"web01"}, body


# ------------------------------------------------------------------ monthly reports

@pytest.fixture(scope="module")
def draft(stack):
    """The previous month's draft the schedule made at the second start, with resource samples of
    that month."""
    port, month = stack["port"], previous_month()
    rows = wait_api(port, "/api/v1/reports?month=" + month, OPERATOR, lambda b: b, 20,
                    "the draft of %s (drafted at start for plan 150)" % month)
    assert len(rows) == 1, rows
    [rep] = rows
    assert rep["customer"] == "c1001" and rep["state"] == "draft" and rep["month"] == month, rep
    # Samples of that month for the chart (as an engine with SSH access would have written them).
    first = datetime.datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=JST)
    con = sqlite3.connect(stack["db"], timeout=10)
    for day in range(20):
        for hour in (3, 9, 15, 21):
            at = (first + datetime.timedelta(days=day, hours=hour)).astimezone(datetime.timezone.utc)
            at = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            for res, v in (("load", 0.2 + (day + hour) % 5 * 0.3), ("disk", 55 + day * 0.5), ("inode", 20.0),
                           ("mailq", (day * hour) % 6)):
                con.execute("INSERT INTO samples (host, resource, at, value) VALUES ('web01', ?, ?, ?)", (res, at, v))
    con.commit()
    con.close()
    return rep


def overdue_now():
    """A report of the previous month is overdue from the 10th 00:00 JST of this month."""
    return datetime.datetime.now(JST).day >= 10


ACTIONS = ('[data-testid="report-send"], [data-testid="report-hold"], [data-testid="report-release"], '
           '[data-testid="report-send-all"], [data-testid="report-confirm"]')


@keep_evidence("reports")
def test_viewer_sees_the_reports_without_actions_and_cannot_send(stack, draft):
    s, b, port = stack, stack["browser"], stack["port"]
    b("open", page="vrep")
    b("goto", page="vrep", url=s["base"] + "/reports?token=" + VIEWER)
    b("wait", page="vrep", selector='[data-testid="reports"]', timeout=15)
    b("wait", page="vrep", selector=REPORT_ROW % draft["id"], timeout=15)
    assert b("attrs", page="vrep", selector='[data-testid="reports"]', names=["data-month"]) == [
        {"data-month": draft["month"]}]
    assert b("count", page="vrep", selector=ACTIONS) == 0
    b("wait", page="vrep", selector='[data-testid="report-preview"]', timeout=30)
    assert "月次稼働レポート" in b("frame_text", page="vrep", selector='[data-testid="report-preview"]', timeout=15)
    time.sleep(0.5)  # let the frame paint
    shot(s, "vrep", "reports-viewer.png")
    b("close", page="vrep")

    before = len(s["fleet"].sink_messages())
    for action in ("send", "hold", "release"):
        status, text, body = http(port, "POST", "/api/v1/reports/%d/%s" % (draft["id"], action), VIEWER)
        assert status == 403 and body and body.get("code") == "forbidden", (action, status, text[:300])
    status, text, _ = http(port, "POST", "/api/v1/reports/send-all?month=" + draft["month"], VIEWER)
    assert status == 403, (status, text[:300])
    status, _, _ = http(port, "POST", "/api/v1/reports/%d/send" % draft["id"], None)
    assert status == 401
    _, _, rows = http(port, "GET", "/api/v1/reports?month=" + draft["month"], VIEWER)
    assert [r["state"] for r in rows] == ["draft"], rows
    time.sleep(1)
    assert len(s["fleet"].sink_messages()) == before, "a viewer's request mailed something"


@keep_evidence("reports")
def test_operator_previews_holds_releases_and_sends_the_report(stack, draft):
    s, b, port, fleet = stack, stack["browser"], stack["port"], stack["fleet"]
    rid, month = draft["id"], draft["month"]
    row = REPORT_ROW % rid
    b("open", page="rep")
    b("goto", page="rep", url=s["base"] + "/reports?token=" + OPERATOR)
    b("wait", page="rep", selector='[data-testid="reports"]', timeout=15)
    b("wait", page="rep", selector=row, timeout=15)
    assert "token" not in b("url", page="rep")
    assert b("eval", page="rep", expr="document.querySelector('[data-testid=report-month]').value") == month
    assert b("attrs", page="rep", selector=row, names=["data-state", "data-overdue"]) == [
        {"data-state": "draft", "data-overdue": "true" if overdue_now() else "false"}]
    assert draft["overdue"] == overdue_now(), draft
    assert CUSTOMER in b("text", page="rep", selector=row)

    # The preview: the report as it will be mailed, charts inlined, in a sandboxed frame.
    b("click", page="rep", selector=row)
    b("wait", page="rep", selector='[data-testid="report-preview"]', timeout=30)
    frame = b("attrs", page="rep", selector='[data-testid="report-preview"]', names=["srcdoc", "sandbox"])[0]
    assert "月次稼働レポート" in (frame["srcdoc"] or ""), (frame["srcdoc"] or "")[:300]
    assert "data:image/png;base64," in frame["srcdoc"], "no chart in the preview"
    assert frame["sandbox"] is not None and "allow-scripts" not in frame["sandbox"], frame["sandbox"]
    title = b("frame_text", page="rep", selector='[data-testid="report-preview"]', timeout=15)
    assert "月次稼働レポート" in title, title[:300]
    time.sleep(0.5)  # let the frame paint
    shot(s, "rep", "reports-preview.png")

    # Hold, then release.
    b("click", page="rep", selector='[data-testid="report-hold"][data-id="%d"]' % rid)
    b("wait_attr", page="rep", selector=row, attr="data-state", value="held", timeout=10)
    _, _, rows = http(port, "GET", "/api/v1/reports?month=" + month, OPERATOR)
    assert [(r["state"], r.get("held_by")) for r in rows] == [("held", "田中")], rows
    b("wait", page="rep", selector='[data-testid="report-release"][data-id="%d"]' % rid, timeout=10)
    shot(s, "rep", "reports-held.png")
    b("click", page="rep", selector='[data-testid="report-release"][data-id="%d"]' % rid)
    b("wait_attr", page="rep", selector=row, attr="data-state", value="draft", timeout=10)

    # Send: the page asks first; Esc cancels, nothing is sent.
    before = len(fleet.sink_messages())
    b("wait", page="rep", selector='[data-testid="report-send"][data-id="%d"]' % rid, timeout=10)
    b("click", page="rep", selector='[data-testid="report-send"][data-id="%d"]' % rid)
    b("wait", page="rep", selector='[data-testid="report-confirm"]', timeout=10)
    b("press", page="rep", key="Escape")
    b("wait", page="rep", selector='[data-testid="report-confirm"]', state="detached", timeout=10)
    assert b("attrs", page="rep", selector=row, names=["data-state"]) == [{"data-state": "draft"}]
    b("click", page="rep", selector='[data-testid="report-send"][data-id="%d"]' % rid)
    b("wait", page="rep", selector='[data-testid="report-confirm"]', timeout=10)
    shot(s, "rep", "reports-confirm.png")
    b("click", page="rep", selector='[data-testid="report-confirm"]')
    b("wait_attr", page="rep", selector=row, attr="data-state", value="sent", timeout=60)
    assert b("attrs", page="rep", selector=row, names=["data-overdue"]) == [{"data-overdue": "false"}]
    b("wait", page="rep", selector='[data-testid="report-status"]', timeout=10)
    assert b("count", page="rep", selector='[data-testid="report-send"][data-id="%d"]' % rid) == 0
    shot(s, "rep", "reports-sent.png")
    _, _, rows = http(port, "GET", "/api/v1/reports?month=" + month, OPERATOR)
    assert [(r["state"], r.get("sent_by")) for r in rows] == [("sent", "田中")], rows

    # The mail reaches the customer: HTML with the chart inline (multipart/related, cid:).
    deadline = time.monotonic() + 30
    mails = []
    while time.monotonic() < deadline and not mails:
        mails = [m for m in fleet.sink_messages()[before:] if "月次稼働レポート" in str(m["Subject"])]
        time.sleep(0.2)
    assert len(mails) == 1, [str(m["Subject"]) for m in fleet.sink_messages()]
    m = mails[0]
    assert CUSTOMER in str(m["Subject"]), m["Subject"]
    assert m["To"] == "ops@example.jp", m["To"]
    assert m.is_multipart(), m.get_content_type()
    related = [p for p in m.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1, [p.get_content_type() for p in m.walk()]
    html = [p for p in related[0].iter_parts() if p.get_content_type() == "text/html"][0].get_content()
    images = [p for p in related[0].iter_parts() if p.get_content_type() == "image/png"]
    assert images, "no inline chart"
    for img in images:
        assert img.get_content().startswith(b"\x89PNG")
        assert "cid:%s" % img["Content-ID"].strip("<>") in html
        assert (img.get("Content-Disposition") or "inline").startswith("inline"), img["Content-Disposition"]
    assert "月次稼働レポート" in html
    with open(os.path.join(s["shots"], "report-mail.eml"), "wb") as fh:
        fh.write(bytes(m))

    # Sending it again is refused (it is sent), and nothing more is mailed.
    status, text, _ = http(port, "POST", "/api/v1/reports/%d/send" % rid, OPERATOR)
    assert status == 409, (status, text[:300])
    time.sleep(1)
    assert len([m for m in fleet.sink_messages()[before:] if "月次稼働レポート" in str(m["Subject"])]) == 1
    errors = [l for l in b("log", page="rep") if "pageerror" in l]
    assert not errors, errors
