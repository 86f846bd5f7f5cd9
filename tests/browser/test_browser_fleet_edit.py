"""Editing the fleet from the browser console (issue 13), end to end: Debian chromium
(playwright-core, through driver.mjs) against a real `anshin serve` watching its own loopback
fleet on 127.78.94.x (web01, web02 of one plan-150 customer).

The operator opens web01's detail and changes the customer's phone numbers in its form (the plan
and contract fields are an admin's: disabled for an operator); the fleet file has the new numbers
with its comment kept and the engine's customer says so. An invalid address in the server form is
answered with the fleet file's own FILE:LINE:COL message and changes nothing. web02 is removed
from its detail (confirmed): its tile goes and the file no longer names it. A viewer is offered
no edit.
"""
import os
import re
import shutil
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fleet"))

from fleet import Fleet  # noqa: E402
from anshin_browser import artifacts_dir, http, start_console  # noqa: E402

NET = "127.78.94"  # this file's own addresses (127.78.94.x)
HOSTS = ["web01:http", "web02:smtp"]
OPERATOR = "op-edit-0123456789abcdef"
VIEWER = "wall-edit-0123456789abcdef"
COMMENT = "# 顧客とサーバー: このコメントはコンソールからの編集の後も残る。\n"


@pytest.fixture(scope="module")
def stack():
    if os.geteuid() != 0:
        pytest.skip("the loopback fleet needs root (CI runs as root)")
    work = tempfile.mkdtemp(prefix="anshin-browser-edit-")
    fleet = serve = browser = None
    try:
        fleet = Fleet(os.path.join(work, "fleet"), net=NET, hosts=HOSTS)
        fleet.up()
        fleet_path = os.path.join(work, "fleet.toml")
        with open(fleet_path, "w") as fh:
            fh.write(COMMENT + fleet.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2, plan="150"))
        serve, browser = start_console(work, fleet_path, "operator %s 佐藤\nviewer %s wall\n" % (OPERATOR, VIEWER))
        yield {"fleet": fleet, "serve": serve, "browser": browser, "port": serve.port, "path": fleet_path,
               "base": "http://127.0.0.1:%d" % serve.port}
    finally:
        if browser:
            browser.close()
        if serve:
            serve.kill()
        if fleet:
            fleet.down()
        shutil.rmtree(work, ignore_errors=True)


def file_text(s):
    with open(s["path"]) as fh:
        return fh.read()


def until(what, pred, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    pytest.fail("%s: not within %s s" % (what, seconds))


def test_an_operator_edits_the_customer_and_the_servers_from_the_detail(stack):
    s, b, port = stack, stack["browser"], stack["port"]
    b("open", page="op", viewport={"width": 1440, "height": 900})
    b("goto", page="op", url=s["base"] + "/?token=" + OPERATOR + "&open=web01")
    b("wait", page="op", selector='[data-testid="detail"][data-label="web01"]', timeout=20)

    # The customer's phone numbers, in calling order.
    b("click", page="op", selector='[data-testid="edit-customer-btn"]')
    b("wait", page="op", selector='[data-testid="customer-phones"]', timeout=10)
    until("the form filled from the file",
          lambda: b("eval", page="op", expr="document.querySelector('[data-testid=\"customer-phones\"]').value") == "03-0000-0001")
    assert b("eval", page="op", expr="document.querySelector('[data-testid=\"customer-contract\"]').disabled") is True
    b("fill", page="op", selector='[data-testid="customer-phones"]', value="090-1111-2222\n03-0000-0001")
    b("click", page="op", selector='[data-testid="customer-form-save"]')
    b("wait", page="op", selector='[data-testid="fleet-edited"]', timeout=15)
    assert b("count", page="op", selector='[data-testid="customer-form"]') == 0
    text = file_text(s)
    assert text.startswith(COMMENT) and 'phones = ["090-1111-2222", "03-0000-0001"]' in text, text
    [customer] = http(port, "GET", "/api/v1/customers", OPERATOR)[2]
    assert customer["phones"] == ["090-1111-2222", "03-0000-0001"], customer

    # An invalid address: the fleet file's own message, nothing written.
    before = file_text(s)
    b("click", page="op", selector='[data-testid="edit-server-btn"]')
    b("wait", page="op", selector='[data-testid="server-ip"]', timeout=10)
    until("the server form filled", lambda: b("eval", page="op", expr="document.querySelector('[data-testid=\"server-ip\"]').value"))
    b("fill", page="op", selector='[data-testid="server-ip"]', value="not-an-ip")
    b("click", page="op", selector='[data-testid="server-form-save"]')
    b("wait", page="op", selector='[data-testid="server-form-error"]', timeout=10)
    error = b("text", page="op", selector='[data-testid="server-form-error"]')
    assert re.search(r'fleet\.toml:\d+:\d+: "not-an-ip" is not an IP address', error), error
    b("screenshot", page="op", path=os.path.join(artifacts_dir(), "fleet-edit-invalid.png"))
    b("click", page="op", selector='[data-testid="server-form-cancel"]')
    assert file_text(s) == before

    # web02 removed from its detail, confirmed.
    b("goto", page="op", url=s["base"] + "/?token=" + OPERATOR + "&open=web02")
    b("wait", page="op", selector='[data-testid="detail"][data-label="web02"]', timeout=20)
    b("click", page="op", selector='[data-testid="remove-server-btn"]')
    b("wait", page="op", selector='[data-testid="confirm-ok"]', timeout=10)
    b("click", page="op", selector='[data-testid="confirm-ok"]')
    until("web02's tile gone", lambda: b("count", page="op", selector='[data-testid="tile"][data-label="web02"]') == 0, 15)
    assert b("count", page="op", selector='[data-testid="tile"][data-label="web01"]') == 1
    assert 'label = "web02"' not in file_text(s) and file_text(s).startswith(COMMENT)
    assert http(port, "GET", "/api/v1/servers/web02", OPERATOR)[0] == 404


def test_a_viewer_is_offered_no_edit(stack):
    s, b = stack, stack["browser"]
    b("open", page="wall", viewport={"width": 1366, "height": 768})
    b("goto", page="wall", url=s["base"] + "/?token=" + VIEWER + "&open=web01")
    b("wait", page="wall", selector='[data-testid="detail"][data-label="web01"]', timeout=20)
    for testid in ("edit-customer-btn", "edit-server-btn", "remove-server-btn", "add-server-btn"):
        assert b("count", page="wall", selector='[data-testid="%s"]' % testid) == 0, testid
