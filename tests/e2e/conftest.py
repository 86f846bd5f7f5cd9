"""The real desktop app under Xvfb, driven through tauri-driver + WebKitWebDriver.

`desktop_session(args)` starts, each by PID in its own process group: an Xvfb display of
1920x1080 (number chosen by Xvfb itself), a private D-Bus session bus, dunst (the notification
server) on that display and bus, a dbus-monitor logging every org.freedesktop.Notifications
call, and tauri-driver with its own free ports; then a WebDriver session that launches
`anshin-desktop ARGS` with a fresh XDG data/cache/config home. Everything is stopped and removed
on exit, even when a step fails. Only loopback addresses are used: the demo fleet is 127.77.0.x,
the drivers listen on 127.0.0.1.

Screenshots go to $ARTIFACTS only (default artifacts/); set ANSHIN_UPDATE_SCREENSHOTS=1 to also
copy the published ones into assets/screenshots/ (tracked files: a plain `make test` leaves them alone).
"""
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ARTIFACTS = os.environ.get("ARTIFACTS", os.path.join(ROOT, "artifacts"))
SCREENSHOTS = os.path.join(ROOT, "assets", "screenshots")
# Only with ANSHIN_UPDATE_SCREENSHOTS=1 do screenshots replace the tracked ones in assets/screenshots.
UPDATE_SCREENSHOTS = os.environ.get("ANSHIN_UPDATE_SCREENSHOTS") == "1"
SCREEN = (1920, 1080)
W3C_ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def app_binary():
    """ANSHIN_DESKTOP_BIN, else the debug build in CARGO_TARGET_DIR (the Makefile's default:
    ~/.cache/anshin-target)."""
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "anshin-target")
    path = os.environ.get("ANSHIN_DESKTOP_BIN") or os.path.join(target, "debug", "anshin-desktop")
    if not os.access(path, os.X_OK):
        pytest.fail("anshin-desktop not built at %s (make build)" % path)
    return path


def anshin_bin():
    """ANSHIN_BIN, else the debug `anshin` in CARGO_TARGET_DIR (the Makefile's default)."""
    path = os.environ.get("ANSHIN_BIN")
    if not path:
        target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "anshin-target")
        path = os.path.join(target, "debug", "anshin")
    if not os.access(path, os.X_OK):
        pytest.fail("anshin not built at %s (make build, or set ANSHIN_BIN)" % path)
    return path


def demo_labels():
    """The labels of the demo fleet (the file the desktop app embeds)."""
    text = open(os.path.join(ROOT, "assets", "demo-fleet.toml"), encoding="utf-8").read()
    servers = text.split("[[server]]")[1:]
    return [re.search(r'^label\s*=\s*"([^"]+)"', s, re.M).group(1) for s in servers]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def spawn(argv, env, log, **kw):
    """A process in its own session, so teardown can signal its whole group by its PID."""
    stdout = kw.pop("stdout", log)
    stderr = log if stdout is subprocess.PIPE else subprocess.STDOUT
    return subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr, start_new_session=True, **kw)


def stop(proc, sig=signal.SIGTERM):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def wait_for(check, seconds, step=0.5):
    """Calls `check` until it returns something true or `seconds` pass; returns its last value."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def read_line(fd, seconds):
    """One line from a pipe, waiting at most `seconds`."""
    import select
    deadline = time.monotonic() + seconds
    data = b""
    while not data.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 256)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def notify_calls(path):
    """Every org.freedesktop.Notifications.Notify call in a dbus-monitor log, as
    (app_name, summary, body): the top-level string arguments in order are app_name,
    app_icon, summary, body (replaces_id is a uint32 between the first two)."""
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except FileNotFoundError:
        return []
    calls = []
    for block in re.split(r"\n(?=\S)", text):
        if "member=Notify" not in block.split("\n", 1)[0]:
            continue
        strings = re.findall(r'^   string "(.*)"$', block, re.M)
        if len(strings) >= 4:
            calls.append((strings[0], strings[2], strings[3]))
    return calls


class Desktop:
    """A running app: its WebDriver session, display, bus and logs."""

    def __init__(self, tmp, display, port, bus, env):
        self.tmp, self.display, self.port, self.bus, self.env = tmp, display, port, bus, env
        self.session = None
        self.monitor_log = os.path.join(ARTIFACTS, "desktop-dbus-monitor-%s.log" % os.path.basename(tmp))

    def webdriver(self, method, path, body=None, timeout=60, retry=None):
        """One WebDriver call. A call that changes nothing (a GET, finding an element, setting the
        window's rect) whose connection was dropped before any answer is retried, at most twice:
        WebKitWebDriver was seen to drop one now and then while the session lived on (a GET
        window/rect once, a click once in CI). `retry` overrides the choice for other calls."""
        data = json.dumps(body).encode() if body is not None else None
        if retry is None:
            retry = method == "GET" or path.endswith(("/element", "/window/rect"))
        for attempt in range(3 if retry else 1):
            req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data, method=method,
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    return json.loads(r.read() or b"{}").get("value")
            except urllib.error.HTTPError as e:
                raise AssertionError("WebDriver %s %s: %s %s" % (method, path, e.code, e.read()[:500])) from None
            except (ConnectionError, http.client.HTTPException) as e:
                if not retry or attempt == 2:
                    raise
                print("WebDriver %s %s dropped (%s), retrying" % (method, path, e))
                time.sleep(1)

    def js(self, script, *args):
        """Runs a read-only script (retried when its connection is dropped, see webdriver)."""
        return self.webdriver("POST", "/session/%s/execute/sync" % self.session,
                              {"script": script, "args": list(args)}, retry=True)

    def poll(self, script, accept, seconds, *args):
        """Runs `script` every second until `accept(value)`; returns the last value."""
        deadline = time.monotonic() + seconds
        value = None
        while True:
            value = self.js(script, *args)
            if accept(value) or time.monotonic() >= deadline:
                return value
            time.sleep(1)

    def find(self, css):
        el = self.webdriver("POST", "/session/%s/element" % self.session, {"using": "css selector", "value": css})
        return el.get(W3C_ELEMENT) or next(iter(el.values()))

    def click(self, css):
        """A real WebDriver click (pointer events through WebKit), not a synthetic el.click().
        A click whose connection was dropped may or may not have landed: it is tried once more on
        the element found again, and an error of that second try (the element gone or covered,
        because the first one landed) is left to the caller's check of what the click does."""
        path = "/session/%s/element/%s/click"
        try:
            self.webdriver("POST", path % (self.session, self.find(css)), {})
        except (ConnectionError, http.client.HTTPException) as e:
            print("WebDriver click on %s dropped (%s), trying once more" % (css, e))
            time.sleep(1)
            try:
                self.webdriver("POST", path % (self.session, self.find(css)), {})
            except AssertionError as again:
                print("second click on %s: %s" % (css, again))

    def screenshot(self, name, publish=None):
        """The X screen as the operator sees it (ImageMagick, not WebDriver: WebKitWebDriver's
        own screenshot call was seen to drop its connection under load). Saved to $ARTIFACTS and,
        with `publish` and ANSHIN_UPDATE_SCREENSHOTS=1, copied to assets/screenshots/PUBLISH."""
        out = os.path.join(ARTIFACTS, name)
        time.sleep(1.5)  # let WebKit paint what the DOM already says
        subprocess.run(["import", "-display", self.display, "-window", "root", out], check=True, timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert os.path.getsize(out) > 10_000, "screenshot looks empty"
        if publish and UPDATE_SCREENSHOTS:
            os.makedirs(SCREENSHOTS, exist_ok=True)
            shutil.copyfile(out, os.path.join(SCREENSHOTS, publish))
        return out

    def has_owner(self, name):
        r = subprocess.run(["dbus-send", "--session", "--print-reply=literal", "--dest=org.freedesktop.DBus",
                            "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:" + name],
                           env=self.env, capture_output=True, text=True, timeout=10)
        return r.stdout.split() == ["boolean", "true"]

    def dunstctl(self, *args):
        r = subprocess.run(["dunstctl", *args], env=self.env, capture_output=True, text=True, timeout=10)
        return r.stdout.strip()


DUNSTRC = """[global]
    font = Noto Sans CJK JP 11
    origin = top-right
    offset = 20x70
    width = 420
    frame_width = 2
[urgency_critical]
    background = "#3a0b0b"
    foreground = "#ffffff"
    frame_color = "#ff5555"
"""


@contextlib.contextmanager
def desktop_session(name, args=(), fill_screen=False, screen=SCREEN):
    """`fill_screen`: size the window to the whole screen through WebDriver, as a window
    manager would maximize it (Xvfb has none, so the window's "maximized" does nothing).
    `screen`: the X screen's size (the operator's session uses the window's default size,
    1440×900, so the README's pictures show what a new user sees)."""
    for tool in ("Xvfb", "tauri-driver", "WebKitWebDriver", "dbus-daemon", "dbus-monitor", "dbus-send", "dunst",
                 "dunstctl", "import"):
        if not shutil.which(tool):
            pytest.fail("%s is not installed (make deps-test)" % tool)
    os.makedirs(ARTIFACTS, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="anshin-%s-" % name)
    log = open(os.path.join(ARTIFACTS, "desktop-%s.log" % name), "w")
    procs = []  # stopped in reverse order
    desk = None
    try:
        # Xvfb picks a free display number and writes it to the pipe.
        rfd, wfd = os.pipe()
        xvfb = spawn(["Xvfb", "-displayfd", str(wfd), "-screen", "0", "%dx%dx24" % screen, "-nolisten", "tcp"],
                     os.environ.copy(), log, pass_fds=(wfd,))
        procs.append(xvfb)
        os.close(wfd)
        number = read_line(rfd, 20)
        os.close(rfd)
        assert number.isdigit(), "Xvfb did not start (see desktop-%s.log)" % name
        display = ":" + number

        # A private session bus: the app, dunst and the monitor see only each other.
        env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
        env.update(DISPLAY=display, XDG_DATA_HOME=os.path.join(tmp, "data"),
                   XDG_CACHE_HOME=os.path.join(tmp, "cache"), XDG_CONFIG_HOME=os.path.join(tmp, "config"),
                   ANSHIN_LOG="info", NO_AT_BRIDGE="1")
        # WebKitGTK's DMA-BUF renderer stops updating the X window under Xvfb once the page
        # composites a layer (the detail overlay): the screen froze while the DOM moved on.
        env.setdefault("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
        for d in ("data", "cache", "config"):
            os.makedirs(os.path.join(tmp, d))
        bus = spawn(["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"], env, log,
                    stdout=subprocess.PIPE)
        procs.append(bus)
        address = read_line(bus.stdout.fileno(), 10)
        assert re.fullmatch(r"unix:\S+,guid=[0-9a-f]{32}", address), "dbus-daemon gave no address: %r" % address
        env["DBUS_SESSION_BUS_ADDRESS"] = address

        desk = Desktop(tmp, display, free_port(), address, env)
        monitor_out = open(desk.monitor_log, "w")
        procs.append(spawn(["dbus-monitor", "--session", "interface='org.freedesktop.Notifications'"], env,
                           monitor_out))
        monitor_out.close()
        rc = os.path.join(tmp, "dunstrc")
        with open(rc, "w") as f:
            f.write(DUNSTRC)
        procs.append(spawn(["dunst", "-config", rc], env, log))
        native = free_port()
        procs.append(spawn([shutil.which("tauri-driver"), "--port", str(desk.port), "--native-port", str(native)],
                           env, log))
        # both drivers listen before the session is asked for (tauri-driver forwards to the other)
        assert wait_port(desk.port, 20), "tauri-driver did not listen"
        assert wait_port(native, 20), "WebKitWebDriver did not listen"
        # dunst owns the notification name before the app can pop anything (asked without
        # activating it: the bus would start a second dunst)
        assert wait_for(lambda: desk.has_owner("org.freedesktop.Notifications"), 10), "dunst did not start"

        caps = {"capabilities": {"alwaysMatch": {"browserName": "wry", "tauri:options": {
            "application": app_binary(), "args": list(args)}}}}
        desk.session = desk.webdriver("POST", "/session", caps, timeout=120)["sessionId"]
        # From here on the calls go to WebKitWebDriver itself: tauri-driver only maps the
        # session's capabilities, and its pooled proxy client (no retry of a request sent on a
        # connection the other side had closed) was one more place a call could be dropped.
        desk.port = native
        if fill_screen:
            desk.webdriver("POST", "/session/%s/window/rect" % desk.session,
                           {"x": 0, "y": 0, "width": screen[0], "height": screen[1]})
        yield desk
    finally:
        if desk is not None and desk.session:
            try:
                desk.webdriver("DELETE", "/session/%s" % desk.session, timeout=20)
            except (OSError, AssertionError):
                pass
        for p in reversed(procs):
            stop(p)
            if p.stdout:
                p.stdout.close()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
