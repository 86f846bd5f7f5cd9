"""The request ledger in the browser console (contract §9.4, §9.5), end to end: Debian chromium
(playwright-core, through driver.mjs) against a real `anshin serve` watching its own loopback
fleet on 127.78.75.x.

One host, web01, of a plan-150 customer. The operator opens web01's detail: the customer's
configuration work of this month shows the month's included minutes left; the operator records
45 minutes (included), then 20 minutes, which the engine refuses (over the allowance: the panel
says to record it as billable), then the same 20 minutes as billable; the panel shows 15 minutes
left and the billable minutes, and the store agrees (the API's month). A resource-up request is
recorded and moved to 増強中. The audit log has every entry. A viewer's detail offers no form.
"""
import os
import shutil
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fleet"))

from fleet import Fleet  # noqa: E402
from anshin_browser import artifacts_dir, http, start_console  # noqa: E402

NET = "127.78.75"  # this file's own addresses (127.78.75.x)
HOSTS = ["web01:http"]
OPERATOR = "op-ledger-0123456789abcdef"
VIEWER = "wall-ledger-0123456789abcdef"


@pytest.fixture(scope="module")
def stack():
    if os.geteuid() != 0:
        pytest.skip("the loopback fleet needs root (CI runs as root)")
    work = tempfile.mkdtemp(prefix="anshin-browser-ledger-")
    fleet = serve = browser = None
    try:
        fleet = Fleet(os.path.join(work, "fleet"), net=NET, hosts=HOSTS)
        fleet.up()
        fleet_path = os.path.join(work, "fleet.toml")
        with open(fleet_path, "w") as fh:
            fh.write(fleet.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2, plan="150"))
        serve, browser = start_console(work, fleet_path, "operator %s 佐藤\nviewer %s wall\n" % (OPERATOR, VIEWER))
        yield {"fleet": fleet, "serve": serve, "browser": browser, "port": serve.port,
               "base": "http://127.0.0.1:%d" % serve.port}
    finally:
        if browser:
            browser.close()
        if serve:
            serve.kill()
        if fleet:
            fleet.down()
        shutil.rmtree(work, ignore_errors=True)


def wait_attr(b, page, selector, name, want, timeout=10):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        attrs = b("attrs", page=page, selector=selector, names=[name])
        got = attrs[0][name] if attrs else None
        if got == want:
            return got
        time.sleep(0.1)
    pytest.fail("%s[%s]: %r, wanted %r" % (selector, name, got, want))


def record(b, minutes, billable=False):
    b("fill", page="op", selector='[data-testid="config-work-minutes"]', value=str(minutes))
    b("fill", page="op", selector='[data-testid="config-work-who"]', value="鈴木")
    b("fill", page="op", selector='[data-testid="config-work-what"]', value="php.ini の memory_limit 変更")
    checked = b("eval", page="op", expr="document.querySelector('[data-testid=\"config-work-billable\"]').checked")
    if checked != billable:
        b("click", page="op", selector='[data-testid="config-work-billable"]')
    b("click", page="op", selector='[data-testid="config-work-save"]')


def test_configuration_work_reaches_the_allowance_and_then_only_billable_work_is_recorded(stack):
    s, b, port = stack, stack["browser"], stack["port"]
    b("open", page="op", viewport={"width": 1440, "height": 900})
    b("goto", page="op", url=s["base"] + "/?token=" + OPERATOR + "&open=web01")
    b("wait", page="op", selector='[data-testid="detail"][data-label="web01"]', timeout=20)
    b("wait", page="op", selector='[data-testid="config-work-left"]', timeout=10)
    wait_attr(b, "op", '[data-testid="config-work-left"]', "data-minutes", "60")

    record(b, 45)
    wait_attr(b, "op", '[data-testid="config-work-left"]', "data-minutes", "15")
    record(b, 20)
    b("wait", page="op", selector='[data-testid="ledger-error"]', timeout=10)
    error = b("text", page="op", selector='[data-testid="ledger-error"]')
    assert "有償作業として記録してください" in error, error
    assert b("count", page="op", selector='[data-testid="config-work-row"]') == 1
    record(b, 20, billable=True)
    b("wait", page="op", selector='[data-testid="ledger-saved"]', timeout=10)
    deadline = time.monotonic() + 10
    while b("count", page="op", selector='[data-testid="config-work-row"]') != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert b("count", page="op", selector='[data-testid="config-work-row"]') == 2
    left = b("text", page="op", selector='[data-testid="config-work-left"]')
    assert "残り 15 分" in left and "有償 20 分" in left, left

    month = time.strftime("%Y-%m", time.gmtime(time.time() + 9 * 3600))
    status, _, body = http(port, "GET", "/api/v1/ledger/config-work?customer=c1001&month=" + month, OPERATOR)
    assert status == 200 and (body["used_minutes"], body["remaining_minutes"], body["billable_minutes"]) == (45, 15, 20), body
    assert [e["who"] for e in body["entries"]] == ["鈴木", "鈴木"] and body["entries"][0]["recorded_by"] == "佐藤"

    # A resource-up request, recorded and raised.
    b("fill", page="op", selector='[data-testid="resource-up-what"]', value="メモリ 4 GB → 8 GB")
    b("eval", page="op", expr="[...document.querySelectorAll('[data-testid=\"ledger\"] button')].find(x => x.textContent.includes('依頼を記録')).click()")
    b("wait", page="op", selector='[data-testid="resource-up-row"]', timeout=10)
    b("eval", page="op", expr="[...document.querySelectorAll('[data-testid=\"resource-up-row\"] button')].find(x => x.textContent.includes('増強した')).click()")
    deadline = time.monotonic() + 10
    row = ""
    while "増強中" not in row and time.monotonic() < deadline:
        row = b("text", page="op", selector='[data-testid="resource-up-row"]')
        time.sleep(0.1)
    assert "増強中" in row, row
    b("screenshot", page="op", path=os.path.join(artifacts_dir(), "ledger-detail.png"))

    kinds = [e["kind"] for e in http(port, "GET", "/api/v1/audit?limit=50", OPERATOR)[2]["entries"]]
    assert kinds.count("config_work_recorded") == 2, kinds
    assert "resource_up_requested" in kinds and "resource_up_changed" in kinds, kinds


def test_a_viewer_sees_the_ledger_without_forms(stack):
    s, b = stack, stack["browser"]
    b("open", page="wall", viewport={"width": 1366, "height": 768})
    b("goto", page="wall", url=s["base"] + "/?token=" + VIEWER + "&open=web01")
    b("wait", page="wall", selector='[data-testid="config-work-left"]', timeout=20)
    wait_attr(b, "wall", '[data-testid="config-work-left"]', "data-minutes", "15")
    assert b("count", page="wall", selector='[data-testid="config-work-save"]') == 0
