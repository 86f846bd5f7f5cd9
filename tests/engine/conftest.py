"""Shared pieces of the engine tests: the built `anshin` binary and a running engine.

The tests drive the real binary against the real loopback fleet (tests/fleet): real sshd,
nginx, dovecot, aiosmtpd, mariadb, postgresql, vsftpd, dnsmasq on 127.78.x addresses.
"""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fleet"))

from fleet import Fleet  # noqa: E402


def anshin_bin():
    path = os.environ.get("ANSHIN_BIN")
    if not path:
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "..", "target"))
        path = os.path.join(target, "debug", "anshin")
    if not os.access(path, os.X_OK):
        pytest.fail("anshin binary not found at %s: run `make build` (or set ANSHIN_BIN)" % path)
    return path


def anshin(*args, timeout=60):
    """Runs the CLI to completion; returns CompletedProcess with text output."""
    return subprocess.run([anshin_bin(), *args], capture_output=True, text=True, timeout=timeout)


class Engine:
    """`anshin run --json` in the background; its JSON lines are collected as they come."""

    def __init__(self, fleet_path, db_path):
        self.lines = []
        self._q = queue.Queue()
        self.proc = subprocess.Popen(
            [anshin_bin(), "run", fleet_path, "--db", db_path, "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            if line:
                self._q.put(json.loads(line))
        self._q.put(None)

    def wait_for(self, pred, timeout):
        """Returns the first event (in arrival order) matching pred, or fails after timeout s."""
        for e in self.lines:
            if pred(e):
                return e
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                e = self._q.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            if e is None:
                break
            self.lines.append(e)
            if pred(e):
                return e
        pytest.fail("no matching event within %ss; events so far:\n%s\nstderr: %s" % (
            timeout, "\n".join(json.dumps(e, ensure_ascii=False) for e in self.lines[-30:]),
            self._stderr_now()))

    def drain(self, seconds):
        """Collects events for a while (to show that something does NOT happen)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                e = self._q.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                continue
            if e is None:
                break
            self.lines.append(e)

    def events(self, kind):
        return [e for e in self.lines if e.get("event") == kind]

    def _stderr_now(self):
        if self.proc.poll() is None:
            return "(running)"
        return self.proc.stderr.read()

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Sends sig and waits; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(timeout=5)
        self._reader.join(timeout=5)
        while True:
            try:
                e = self._q.get_nowait()
            except queue.Empty:
                break
            if e is not None:
                self.lines.append(e)
        return rc


@pytest.fixture
def engines():
    """Engines started by a test; any still running at the end are killed."""
    started = []
    yield started
    for e in started:
        if e.proc.poll() is None:
            e.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def fleet_factory(tmp_path_factory):
    """Starts loopback fleets, torn down at the end of the session."""
    fleets = []

    def make(net, hosts, gateway=False):
        f = Fleet(str(tmp_path_factory.mktemp("fleet")), net=net, hosts=hosts, gateway=gateway)
        f.up()
        fleets.append(f)
        return f

    yield make
    for f in fleets:
        f.down()
