"""The wall display: `anshin-desktop --kiosk` on the built-in demo shows the whole fleet on one
full screen with no controls (readable from across the room)."""
import time

import pytest

from conftest import SCREEN, demo_labels, desktop_session

WALL = """const w = document.querySelector('[data-testid=wall]');
    if (!w) return null;
    const tiles = Array.from(w.querySelectorAll('[data-testid=tile]'));
    const out = tiles.filter(t => { const r = t.getBoundingClientRect();
        return r.width < 1 || r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight; });
    return {tiles: tiles.map(t => [t.dataset.label, t.dataset.level]),
            outside: out.map(t => t.dataset.label),
            controls: Array.from(document.querySelectorAll(
                'input, select, textarea, button:not([disabled]), a[href], [data-testid=lang], [data-testid=detail]'))
                .map(e => e.outerHTML.slice(0, 120)),
            operator: !!document.querySelector('[data-testid=incident], .grid'),
            size: [innerWidth, innerHeight],
            scroll: [document.documentElement.scrollWidth, document.documentElement.scrollHeight]};"""


@pytest.fixture(scope="module")
def kiosk():
    with desktop_session("wall", args=["--kiosk"]) as desk:
        desk.started = time.monotonic()
        yield desk


def test_kiosk_window_fills_the_screen_by_itself(kiosk):
    assert kiosk.poll(WALL, lambda v: v is not None, 30), "no [data-testid=wall] with --kiosk"
    rect = kiosk.webdriver("GET", "/session/%s/window/rect" % kiosk.session)
    assert (rect["width"], rect["height"]) == SCREEN, "kiosk window is %s, not full screen" % rect


def test_kiosk_shows_the_whole_fleet_on_one_screen_without_controls(kiosk):
    labels = demo_labels()
    # full screen as a window manager would grant it (Xvfb has none; see the test above)
    kiosk.webdriver("POST", "/session/%s/window/rect" % kiosk.session,
                    {"x": 0, "y": 0, "width": SCREEN[0], "height": SCREEN[1]})
    wall = kiosk.poll(WALL, lambda v: v and len(v["tiles"]) == len(labels)
                      and all(t[1] != "unknown" for t in v["tiles"]) and v["size"] == list(SCREEN), 60)
    assert wall, "no [data-testid=wall] with --kiosk"
    assert sorted(t[0] for t in wall["tiles"]) == sorted(labels), wall["tiles"]
    assert all(t[1] != "unknown" for t in wall["tiles"]), wall["tiles"]
    assert kiosk.js("return !!document.querySelector('[data-testid=summary]');")
    assert wall["controls"] == [], "controls on the wall: %s" % wall["controls"]
    assert not wall["operator"], "the operator view is shown too"
    # everything on the screen, nothing to scroll
    assert wall["size"] == list(SCREEN), wall["size"]
    assert wall["outside"] == [], "tiles off the screen: %s" % wall["outside"]
    assert wall["scroll"][0] <= SCREEN[0] and wall["scroll"][1] <= SCREEN[1], wall["scroll"]

    # the demo's first outage (web01 HTTP, Lv.4) comes first, as a large tile
    left = max(5, 150 - (time.monotonic() - kiosk.started))
    wall = kiosk.poll(WALL, lambda v: v and dict(v["tiles"]).get("web01") == "4", left)
    assert dict(wall["tiles"]).get("web01") == "4", wall["tiles"]
    assert wall["tiles"][0][0] == "web01", "the problem is not first: %s" % wall["tiles"]
    big = kiosk.js("""const t = document.querySelector('[data-testid=wall] [data-testid=tile][data-label=web01]');
        const o = document.querySelector('[data-testid=wall] [data-testid=tile]:not([data-label=web01])');
        const a = t.getBoundingClientRect(), b = o.getBoundingClientRect();
        return [a.width * a.height, b.width * b.height, t.textContent];""")
    assert big[0] > 2 * big[1], "the problem tile is not larger than the others: %s" % big
    assert "Lv.4" in big[2] and "HTTP" in big[2], big
    assert wall["outside"] == [] and wall["controls"] == [], wall
    kiosk.dunstctl("set-paused", "true")  # the notification popup would cover the clock's line
    kiosk.screenshot("desktop-wall.png", publish="desktop-wall.png")
