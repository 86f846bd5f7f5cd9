"""Pieces of the browser tests: `anshin serve` as a process, the Node browser driver, HTTP.

Everything started here runs in its own process group and is killed by that group's id;
every wait is bounded.
"""
import datetime
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def anshin_bin():
    path = os.environ.get("ANSHIN_BIN")
    if not path:
        for target in (os.environ.get("CARGO_TARGET_DIR"), "/root/.cache/anshin-target",
                       os.path.join(ROOT, "target")):
            if target and os.access(os.path.join(target, "debug", "anshin"), os.X_OK):
                path = os.path.join(target, "debug", "anshin")
                break
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("anshin binary not found (%s): run `make build` or set ANSHIN_BIN" % path)
    return path


def artifacts_dir():
    d = os.path.join(os.environ.get("ARTIFACTS", os.path.join(ROOT, "artifacts")), "browser")
    os.makedirs(d, exist_ok=True)
    return d


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_time(text):
    """RFC 3339 (…Z or offset) → epoch seconds."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def http(port, method, path, token=None, body=None, timeout=10):
    """(status, text, parsed JSON or None)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return status, text, parsed


def _kill_group(proc, sig, wait):
    """Signals the process group `proc` leads; returns the exit code or None if still running."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        return None


class Serve:
    """`anshin serve FLEET --db DB --listen 127.0.0.1:PORT --tokens FILE` in its own session."""

    def __init__(self, fleet_path, db, port, tokens_file, logdir):
        self.argv = [anshin_bin(), "serve", fleet_path, "--db", db,
                     "--listen", "127.0.0.1:%d" % port, "--tokens", tokens_file]
        self.port = port
        self.logdir = logdir
        self.proc = None
        self.runs = 0

    def start(self, timeout=30):
        """Starts and waits until the port accepts; returns the time it did (epoch s)."""
        self.runs += 1
        self.log_path = os.path.join(self.logdir, "serve-%d.log" % self.runs)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                raise RuntimeError("anshin serve exited %s: %s" % (self.proc.returncode, self.log()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return time.time()
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError("anshin serve did not listen within %ss: %s" % (timeout, self.log()))

    def log(self):
        try:
            with open(self.log_path, errors="replace") as fh:
                return fh.read()[-4000:]
        except OSError:
            return ""

    def stop(self, wait=10):
        """SIGTERM (a clean shutdown); returns (exit code or None if it had to be killed, seconds)."""
        t0 = time.monotonic()
        rc = _kill_group(self.proc, signal.SIGTERM, wait)
        took = time.monotonic() - t0
        if rc is None:
            _kill_group(self.proc, signal.SIGKILL, 5)
        self._log.close()
        return rc, took

    def kill(self):
        if self.proc and self.proc.poll() is None:
            _kill_group(self.proc, signal.SIGKILL, 5)
        if self.proc:
            self._log.close()


class DriverError(AssertionError):
    pass


class Browser:
    """tests/browser/driver.mjs: one JSON command per line in, one answer per line out."""

    def __init__(self, logdir):
        if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
            raise RuntimeError("playwright-core missing: run `npm ci` in tests/browser")
        node = shutil.which("node") or "/usr/bin/node"
        self._err = open(os.path.join(logdir, "driver.log"), "w")
        self.proc = subprocess.Popen([node, os.path.join(HERE, "driver.mjs")], cwd=HERE,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, text=True, start_new_session=True)
        self._q = queue.Queue()
        self._id = 0
        threading.Thread(target=self._read, daemon=True).start()
        hello = self._answer(0, 60)
        self.version = hello["version"]

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            if line:
                try:
                    self._q.put(json.loads(line))
                except ValueError:
                    self._q.put({"id": None, "ok": False, "error": "not JSON: " + line[:200]})
        self._q.put(None)

    def _answer(self, want, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DriverError("browser driver: no answer to command %d within %ss" % (want, timeout))
            try:
                a = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if a is None:
                raise DriverError("browser driver exited (rc %s)" % self.proc.poll())
            if a.get("id") == want:
                if not a["ok"]:
                    raise DriverError(a["error"])
                return a["value"]

    def __call__(self, cmd, timeout=10.0, **args):
        """Runs one command; `timeout` (s) bounds the command in the browser, plus a margin here."""
        self._id += 1
        msg = dict(args, id=self._id, cmd=cmd, timeout=int(timeout * 1000))
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        return self._answer(self._id, timeout + 30)

    def try_call(self, cmd, timeout=10.0, **args):
        """(True, value) or (False, error message) instead of raising."""
        try:
            return True, self(cmd, timeout=timeout, **args)
        except DriverError as e:
            return False, str(e)

    def close(self):
        try:
            if self.proc.poll() is None:
                self("quit", timeout=5)
        except (DriverError, BrokenPipeError, OSError):
            pass
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        if _kill_group(self.proc, signal.SIGTERM, 10) is None:
            _kill_group(self.proc, signal.SIGKILL, 5)
        self._err.close()


ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

SCROLL_TO = """(() => {
  const el = document.querySelector(%s);
  el.scrollIntoView({block: 'start'});
  let box = el.parentElement;
  while (box && box.scrollHeight <= box.clientHeight) box = box.parentElement;
  if (box) box.scrollBy(0, -%d);
})()"""


def scrolled_shot(b, page, name, selector, publish=False, above=90):
    """`selector` scrolled to the top of what scrolls it (`above` pixels below its top: under a
    detail's header), then the page as the operator sees it, saved in the artifacts;
    `publish`ed ones with ANSHIN_UPDATE_SCREENSHOTS=1 also copied into assets/screenshots/ (the
    README's)."""
    b("eval", page=page, expr=SCROLL_TO % (json.dumps(selector), above))
    time.sleep(0.4)
    path = os.path.join(artifacts_dir(), name)
    b("screenshot", page=page, path=path)
    if publish and os.environ.get("ANSHIN_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, os.path.join(ROOT, "assets", "screenshots", name))
    return path


def start_console(work, fleet_path, tokens_text, db=None):
    """The fleet file checked by `anshin validate`, the tokens written, `anshin serve` started on
    a free loopback port with its store (`db`, default WORK/log.db) and a browser: (serve,
    browser). The caller stops both (serve.kill(), browser.close())."""
    check = subprocess.run([anshin_bin(), "validate", fleet_path], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    tokens = os.path.join(work, "tokens")
    with open(tokens, "w") as fh:
        fh.write(tokens_text)
    serve = Serve(fleet_path, db or os.path.join(work, "log.db"), free_port(), tokens, work)
    serve.start()
    try:
        return serve, Browser(work)
    except BaseException:
        serve.kill()
        raise

