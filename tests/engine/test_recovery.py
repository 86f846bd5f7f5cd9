"""Recovery against the loopback fleet (issue 5): the engine restarts a killed service over real
SSH by itself on a plan-150 host (mails: alert → 対応開始 → 復旧), tries once and hands over when
the restart does not help, waits for the operator on a plan-30 host, runs one of two
simultaneous recover requests, reboots a host that stayed unreachable (or whose SSH stayed
down) through the fleet file's reboot command, and holds every mail and recovery of a paused
server until the pause ends.

The fleet hosts have no systemd: a `systemctl` on the SSH account's PATH records the request in a
spool file, and the test plays init (it starts the real service the engine asked to restart).
That stand-in is the only part that is not the real thing: the SSH session, the allow-listed
command, the probes, the SMTP server and the mails are.
"""
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from conftest import anshin, anshin_bin

OPERATOR = "op-0123456789abcdef"
OPERATOR2 = "op2-0123456789abcdef"

FAKE_SYSTEMCTL = """#!/bin/sh
# The test fleet's systemctl: records the request; the test plays init.
echo "$*" >> {spool}/requests
sleep {delay}
exit 0
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, method, path, token=OPERATOR, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method, data=data,
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


def wait_until(pred, seconds, what):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.3)
    pytest.fail("%s: not within %ss (last: %r)" % (what, seconds, last))


class Init:
    """Plays init for one host: a restart request in the spool starts the real service again."""

    def __init__(self, fleet, label, service, delay=0, revive=True):
        h = fleet.host(label)
        self.spool = os.path.join(fleet.pubhostdir(h), "spool")
        os.makedirs(self.spool, exist_ok=True)
        os.chmod(self.spool, 0o1777)
        fleet.set_command(label, "systemctl", FAKE_SYSTEMCTL.format(spool=self.spool, delay=delay))
        self.fleet, self.label, self.service, self.revive = fleet, label, service, revive
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def requests(self):
        try:
            with open(os.path.join(self.spool, "requests")) as fh:
                return [line.strip() for line in fh if line.strip()]
        except FileNotFoundError:
            return []

    def _run(self):
        handled = 0
        deadline = time.monotonic() + 600
        while not self.stop.is_set() and time.monotonic() < deadline:
            reqs = self.requests()
            if len(reqs) > handled:
                handled = len(reqs)
                if reqs[-1].startswith("restart ") and self.revive:
                    self.fleet.start_service(self.label, self.service)
            time.sleep(0.2)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)


def write_fleet(f, tmp_path, plans, reboot_script=None, reboot_after=None):
    """The fleet file: one customer per host (`plans`: label → plan), SSH access, restart of
    http by the nginx unit, the SMTP sink, optionally a reboot command."""
    text = f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2)
    extra_noc = 'ssh = { user = "anshin", key = %s, known_hosts = %s, trust_on_first_use = true }\n' % (
        json.dumps(f.key), json.dumps(str(tmp_path / "known_hosts")))
    if reboot_script:
        extra_noc += 'reboot = { command = [%s, "{label}", "{ip}"] }\n' % json.dumps(reboot_script)
    if reboot_after:
        extra_noc += "reboot_after_secs = %d\n" % reboot_after
    text = text.replace("timeout_secs = 2\n", "timeout_secs = 2\n" + extra_noc, 1)
    customers = ""
    for i, (label, plan) in enumerate(sorted(plans.items())):
        cid = "c%d" % (3001 + i)
        customers += ('\n[[customer]]\nid = "%s"\nname = "顧客%s"\nplan = "%s"\nnotify = ["ops-%s@example.jp"]\n'
                      'phones = ["03-0000-1001", "03-0000-1002", "03-0000-1003"]\n' % (cid, label, plan, label))
        text = text.replace('label = "%s"\ncustomer = "c1001"' % label,
                            'label = "%s"\ncustomer = "%s"\nrestart = { http = "nginx" }' % (label, cid))
    text = text.replace("\n[[server]]", customers + "\n[[server]]", 1)
    text += '\n[smtp]\nurl = "smtp://%s.250:2525"\n' % f.net
    path = str(tmp_path / "fleet.toml")
    with open(path, "w") as fh:
        fh.write(text)
    assert anshin("validate", path).returncode == 0, anshin("validate", path).stderr
    return path


class Serve:
    def __init__(self, path, tmp_path):
        tokens = tmp_path / "tokens"
        tokens.write_text("operator %s yamada\noperator %s suzuki\n" % (OPERATOR, OPERATOR2))
        self.db = str(tmp_path / "log.db")
        self.port = free_port()
        self.proc = subprocess.Popen([anshin_bin(), "serve", path, "--db", self.db,
                                      "--listen", "127.0.0.1:%d" % self.port, "--tokens", str(tokens)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: self._up(), 15, "serve listening")

    def _up(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def server(self, label):
        _, servers = call(self.port, "GET", "/api/v1/servers")
        return next(s for s in servers if s["label"] == label)

    def check(self, label, check):
        return next(c for c in self.server(label)["checks"] if c["check"] == check)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode


@pytest.fixture
def stack(fleet_factory, tmp_path):
    """A fleet, its engine behind `anshin serve`, and init players; all stopped afterwards."""
    made = {"serve": None, "inits": []}
    yield made
    for i in made["inits"]:
        i.close()
    if made["serve"]:
        assert made["serve"].stop() == 0


def subjects_for(f, label):
    return [m["Subject"] for m in f.sink_messages() if m["To"] == "ops-%s@example.jp" % label]


def test_plan_150_restarts_by_itself_plan_30_waits_and_two_requests_run_one(fleet_factory, tmp_path, stack):
    f = fleet_factory("127.78.71", ["web01:http", "web02:http", "web03:http", "web04:http"])
    path = write_fleet(f, tmp_path, {"web01": "150", "web02": "30", "web03": "150", "web04": "150"})
    init1 = Init(f, "web01", "http")
    init2 = Init(f, "web02", "http")
    init3 = Init(f, "web03", "http", delay=4)
    init4 = Init(f, "web04", "http", revive=False)  # the restart "works" but nginx stays down
    stack["inits"] += [init1, init2, init3, init4]
    srv = stack["serve"] = Serve(path, tmp_path)
    wait_until(lambda: srv.check("web01", "http")["ok"] and srv.check("web02", "http")["ok"], 20, "first checks")

    f.stop_service("web01", "http")
    f.stop_service("web02", "http")
    f.stop_service("web04", "http")

    # plan 150: nobody clicks; the engine logs in and runs the allow-listed command.
    wait_until(lambda: "restart nginx" in init1.requests(), 30, "the engine's restart of web01")
    rec = wait_until(lambda: [r for r in call(srv.port, "GET", "/api/v1/recoveries?host=web01")[1]
                              if r["finished_at"]], 40, "web01's recovery finished")[0]
    assert rec["automatic"] and rec["requested_by"] == "rule:auto-restart" and rec["action"] == "restart:http"
    assert rec["outcome"] == "recovered", rec
    wait_until(lambda: srv.check("web01", "http")["incident"] is None, 20, "web01's incident closed")
    want = ["[Speever][Lv.4]web01 HTTP サービスダウン", "[Speever][対応開始]web01 HTTP サービスダウン",
            "[Speever][復旧]web01 HTTP サービスダウン"]
    got = wait_until(lambda: (lambda s: s if len(s) >= 3 else None)(subjects_for(f, "web01")), 30, "web01's mails")
    assert got == want, got

    # plan 30: service recovery is not in the plan; the engine waits for people and says why.
    c2 = srv.check("web02", "http")
    assert c2["incident"] is not None and c2["prompt"]["code"] == "not_included", c2
    assert init2.requests() == [] and subjects_for(f, "web02") == ["[Speever][Lv.4]web02 HTTP サービスダウン"]
    status, refused = call(srv.port, "POST", "/api/v1/incidents/%d/recover" % c2["incident"], body={})
    assert status == 409 and refused["code"] == "not_included", refused
    assert init2.requests() == []

    # plan 150, but the restart does not bring it back: one automatic attempt, then people.
    c4 = wait_until(lambda: (lambda c: c if c["prompt"] and c["prompt"]["code"] == "already_tried" else None)(
        srv.check("web04", "http")), 60, "web04 handed to the operator after its one attempt")
    [failed] = call(srv.port, "GET", "/api/v1/recoveries?host=web04")[1]
    assert failed["outcome"] == "failed" and "still down" in failed["detail"], failed
    time.sleep(3)
    assert init4.requests() == ["restart nginx"], init4.requests()
    assert subjects_for(f, "web04")[:2] == ["[Speever][Lv.4]web04 HTTP サービスダウン",
                                            "[Speever][対応開始]web04 HTTP サービスダウン"], subjects_for(f, "web04")
    assert c4["incident"] is not None

    # two operators ask at once to restart web03 (healthy, slow to restart): one runs.
    answers = []
    threads = [threading.Thread(target=lambda t=t: answers.append(
        call(srv.port, "POST", "/api/v1/servers/web03/restart/http", token=t, body={}))) for t in (OPERATOR, OPERATOR2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    codes = sorted(a[0] for a in answers)
    assert codes == [200, 409], answers
    busy = next(a[1] for a in answers if a[0] == 409)
    first = next(a[1] for a in answers if a[0] == 200)
    assert busy["code"] == "busy" and busy["recovery"]["requested_by"] == first["requested_by"], busy
    assert first["requested_by"] in busy["message"] and busy["recovery"]["started_at"] == first["started_at"]
    wait_until(lambda: len(init3.requests()) == 1, 20, "one restart request on web03")
    time.sleep(1)
    assert init3.requests() == ["restart nginx"]

    # the audit log holds every step, and verifies.
    _, audit = call(srv.port, "GET", "/api/v1/audit?limit=500")
    kinds = [(e["kind"], e["actor"], e["incident_id"]) for e in audit["entries"]]
    assert ("recovery_started", "rule:auto-restart", rec["incident_id"]) in kinds
    assert ("recovery_needs_operator", "engine", c2["incident"]) in kinds
    assert not [k for k in kinds if k[0] == "recovery_needs_operator" and k[2] == rec["incident_id"]], \
        "web01 was recovered: nobody should have been asked"
    assert audit["verify"]["ok"], audit["verify"]


def test_a_host_down_or_without_ssh_is_rebooted_once_by_the_fleet_command(fleet_factory, tmp_path, stack):
    """db01 stops answering at all (ping), db02 answers ping but its SSH is down: after
    `reboot_after_secs` of failure each is rebooted once through the fleet's reboot command,
    and the outcome is judged on the check that failed."""
    f = fleet_factory("127.78.72", ["db01:http", "db02:http"])
    marker = tmp_path / "reboots"
    script = tmp_path / "vps-reboot"
    # The hosting platform's reboot, as a command without a shell: records its arguments.
    script.write_text("#!/bin/sh\necho \"$@\" >> %s\n" % marker)
    script.chmod(0o755)
    # 15 minutes in the contract (contract §4.2); 6 seconds here (reboot_after_secs) so the test stays short.
    path = write_fleet(f, tmp_path, {"db01": "150", "db02": "150"}, reboot_script=str(script), reboot_after=6)
    srv = stack["serve"] = Serve(path, tmp_path)
    wait_until(lambda: srv.check("db01", "ping")["ok"] and srv.check("db02", "ssh")["ok"], 20, "first checks")

    def reboots():
        return marker.read_text().splitlines() if marker.exists() else []

    f.drop_host("db01")
    f.stop_service("db02", "ssh")
    down_at = time.monotonic()
    try:
        wait_until(lambda: len(reboots()) == 2, 40, "both reboot commands ran")
        assert time.monotonic() - down_at >= 6, "rebooted before reboot_after_secs of failure"
        assert sorted(line.split()[0] for line in reboots()) == ["db01", "db02"], reboots()
        assert "db01 %s" % f.addr("db01") in reboots()
    finally:
        # the platform brings both back
        f.restore_host("db01")
        f.start_service("db02", "ssh")
    done = wait_until(lambda: (lambda r: r if len(r) == 2 else None)(
        [r for r in call(srv.port, "GET", "/api/v1/recoveries")[1] if r["finished_at"]]), 90, "both outcomes")
    for rec in done:
        assert rec["action"] == "reboot" and rec["automatic"] and rec["outcome"] == "recovered", rec
    assert any("ssh answers" in r["detail"] for r in done if r["host"] == "db02"), done
    wait_until(lambda: srv.check("db01", "ping")["incident"] is None and srv.check("db02", "ssh")["incident"] is None,
               30, "incidents closed")
    time.sleep(3)
    assert len(reboots()) == 2, "each rebooted once: %s" % reboots()


def test_a_paused_server_sends_nothing_during_the_pause_and_alerts_after_it(fleet_factory, tmp_path, stack):
    f = fleet_factory("127.78.73", ["app01:http"])
    path = write_fleet(f, tmp_path, {"app01": "150"})
    init = Init(f, "app01", "http")
    stack["inits"].append(init)
    srv = stack["serve"] = Serve(path, tmp_path)
    wait_until(lambda: srv.check("app01", "http")["ok"], 20, "first checks")
    until = (datetime.now(timezone.utc) + timedelta(seconds=25)).isoformat()
    status, pause = call(srv.port, "POST", "/api/v1/maintenance",
                         body={"scope": {"kind": "server", "id": "app01"}, "ends_at": until, "reason": "OS更新"})
    assert status == 200 and pause["active"] and pause["who"] == "yamada", pause
    assert srv.server("app01")["maintenance"]["reason"] == "OS更新"

    f.stop_service("app01", "http")
    c = wait_until(lambda: (lambda c: c if c["incident"] else None)(srv.check("app01", "http")), 20, "incident")
    # checks still run and record; no mail, no automatic restart while paused
    assert srv.server("app01")["maintenance"] is not None
    wait_until(lambda: (srv.check("app01", "http")["prompt"] or {}).get("code") == "paused", 10, "paused prompt")
    time.sleep(3)
    assert f.sink_messages() == [], [m["Subject"] for m in f.sink_messages()]
    assert init.requests() == []

    # The pause ends by itself; the problem is still there: its alert goes out now, then the
    # plan's automatic restart runs as it would have.
    want = ["[Speever][Lv.4]app01 HTTP サービスダウン", "[Speever][対応開始]app01 HTTP サービスダウン",
            "[Speever][復旧]app01 HTTP サービスダウン"]
    got = wait_until(lambda: (lambda s: s if len(s) >= 3 else None)(subjects_for(f, "app01")), 60,
                     "the held alert, then the recovery, after the pause")
    assert got == want, got
    assert init.requests() == ["restart nginx"]
    assert srv.server("app01")["maintenance"] is None
    _, story = call(srv.port, "GET", "/api/v1/incidents?limit=5")
    kinds = [e["kind"] for e in next(i for i in story if i["id"] == c["incident"])["events"]]
    assert kinds.index("alert_held") < kinds.index("alert_released") < kinds.index("recovery_started"), kinds


def test_a_plesk_service_waits_one_interval_for_the_watchdog_then_is_restarted(fleet_factory, tmp_path, stack):
    """contract §9.3: on a `plesk = true` server the engine first leaves the restart to Plesk's
    own watchdog for one check interval (prompt `watchdog` with its moment), then restarts."""
    f = fleet_factory("127.78.39", ["web01:http"])
    path = write_fleet(f, tmp_path, {"web01": "150"})
    text = open(path).read().replace("interval_secs = 1\n", "interval_secs = 4\n", 1)
    text = text.replace('restart = { http = "nginx" }', 'restart = { http = "nginx" }\nplesk = true', 1)
    assert "plesk = true" in text and "interval_secs = 4" in text
    with open(path, "w") as fh:
        fh.write(text)
    assert anshin("validate", path).returncode == 0, anshin("validate", path).stderr
    init = Init(f, "web01", "http")
    stack["inits"].append(init)
    srv = stack["serve"] = Serve(path, tmp_path)
    wait_until(lambda: srv.check("web01", "http")["ok"], 30, "first check")
    f.stop_service("web01", "http")
    c = wait_until(lambda: (lambda c: c if c["prompt"] and c["prompt"]["code"] == "watchdog" else None)(
        srv.check("web01", "http")), 40, "the watchdog prompt")
    assert c["prompt"]["at"], c["prompt"]
    assert init.requests() == [], "no restart while Plesk's watchdog has its interval"
    wait_until(lambda: "restart nginx" in init.requests(), 30, "the engine's restart after the interval")
    rec = wait_until(lambda: [r for r in call(srv.port, "GET", "/api/v1/recoveries?host=web01")[1]
                              if r["finished_at"]], 40, "web01's recovery finished")[0]
    assert rec["automatic"] and rec["outcome"] == "recovered", rec
