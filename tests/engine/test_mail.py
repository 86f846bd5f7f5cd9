"""Resources over SSH and the customer mail, end to end: the real engine polls a real sshd
(per-host /proc/loadavg and nproc), opens resource incidents, and its outbox delivers the
exact contract mails to a real SMTP server; a down SMTP server and a killed engine lose and
repeat nothing."""
import email
import email.policy
import json
import mailbox
import os
import signal
import subprocess
import time

import pytest

from conftest import Engine, anshin

NORMAL = "0.10 0.20 0.30 1/100 1234"


def fleet_text(f, tmp_path, smtp_addr, **kw):
    text = f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2, **kw)
    ssh = 'ssh = { user = "anshin", key = %s, known_hosts = %s, trust_on_first_use = true }' % (
        json.dumps(f.key), json.dumps(str(tmp_path / "known_hosts")))
    text = text.replace("timeout_secs = 2\n", "timeout_secs = 2\n%s\n" % ssh, 1)
    text += '\n[smtp]\nurl = "smtp://%s"\n' % smtp_addr
    path = str(tmp_path / "fleet.toml")
    with open(path, "w") as fh:
        fh.write(text)
    return path


def is_event(kind, host=None, check=None):
    return lambda e: e["event"] == kind and (host is None or e.get("host") == host) and \
        (check is None or e.get("check") == check)


def wait_mail(messages, pred, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [m for m in messages() if pred(m)]
        if found:
            return found
        time.sleep(0.2)
    pytest.fail("no such mail within %ss; got: %s" % (seconds, [m["Subject"] for m in messages()]))


def test_load_alert_and_recovery_mails_reach_the_customer(fleet_factory, tmp_path, engines):
    f = fleet_factory("127.78.31", ["web01:http"])
    f.set_command("web01", "nproc", "echo 2")
    f.set_loadavg("web01", NORMAL)
    path = fleet_text(f, tmp_path, "%s.250:2525" % f.net)
    r = anshin("check", path, "--json")
    rows = {row["check"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert rows["load"]["value"] == 0.1 and rows["cpus"]["value"] == 2, rows
    assert rows["disk"]["ok"] and rows["inode"]["ok"], rows

    eng = Engine(path, str(tmp_path / "log.db"))
    engines.append(eng)
    eng.wait_for(is_event("engine_started"), 10)
    eng.drain(3)
    f.set_loadavg("web01", "25.31 10.00 5.00 3/120 4321")
    opened = eng.wait_for(is_event("incident_opened", "web01", "load"), 20)
    assert opened["level"] == 4
    assert opened["trigger"] == "web01 Load avg.が 24 以上（現在：25.31）"

    subject = "[Speever][Lv.4]web01 Load avg.が 24 以上（現在：25.31）"
    [alert] = wait_mail(f.sink_messages, lambda m: m["Subject"] == subject, 20)
    assert alert["To"] == "ops@example.jp" and alert["From"] == "mail_alert@hosting-srv.net"
    body = alert.get_content()
    assert "監視サービスにて、Load Average の閾値超過を検知いたしました。" in body
    assert "アイテム名／値　 ：Load average：25.31" in body
    assert "トリガー名　　　　　：web01 Load avg.が 24 以上（現在：25.31）" in body
    assert "IP アドレス　　　　　：%s" % f.addr("web01") in body

    f.set_loadavg("web01", NORMAL)
    closed = eng.wait_for(is_event("incident_closed", "web01", "load"), 20)
    assert closed["id"] == opened["id"]
    [rec] = wait_mail(f.sink_messages, lambda m: m["Subject"] == "[Speever][復旧]web01 Load avg.が 24 以上", 20)
    assert "Load average：0.10" in rec.get_content()
    # once per rise and once per recovery: exactly two mails, never one per minute
    eng.drain(3)
    assert len(f.sink_messages()) == 2
    assert eng.stop() == 0
    # every reading is kept for the history (charts, monthly report)
    loads = subprocess.run(["sqlite3", str(tmp_path / "log.db"),
                            "SELECT value FROM samples WHERE host = 'web01' AND resource = 'load' ORDER BY at"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert "25.31" in loads and len(loads) >= 6, loads


def start_smtp(addr, maildir):
    host, port = addr.rsplit(":", 1)
    return subprocess.Popen(["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", "%s:%s" % (host, port),
                             "-c", "aiosmtpd.handlers.Mailbox", maildir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_down_gateway_mails_its_customer_once_and_the_recovery_after(fleet_factory, tmp_path, engines):
    """contract §9.6: the network in front of two servers fails; the customer gets one mail
    naming both servers (not one per server, none for their suppressed checks), then one
    recovery mail when the gateway answers again."""
    f = fleet_factory("127.78.36", ["web01:http", "web02:smtp"], gateway=True)
    path = fleet_text(f, tmp_path, "%s.250:2525" % f.net)
    eng = Engine(path, str(tmp_path / "log.db"))
    engines.append(eng)
    eng.wait_for(is_event("engine_started"), 10)
    eng.drain(2.5)
    f.drop_icmp("gw-a")
    f.drop_host("web01")
    f.drop_host("web02")
    eng.wait_for(is_event("incident_opened", "gw-a", "ping"), 25)
    subject = "[Speever][Lv.5]gw-a ネットワーク疎通不可"
    [alert] = wait_mail(f.sink_messages, lambda m: m["Subject"] == subject, 20)
    body = alert.get_content().replace("\r\n", "\n")
    assert alert["To"] == "ops@example.jp"
    assert body.startswith("監視サービスにて、お客様サーバーが接続されているネットワークの障害を検知いたしました。\n"), body
    assert "ネットワーク（gw-a）：0" in body and "gw-a ネットワーク疎通不可" in body
    assert "：web01, web02\n" in body and "：%s, %s\n" % (f.addr("web01"), f.addr("web02")) in body, body
    assert "15 分" not in body
    eng.drain(5)
    assert [m["Subject"] for m in f.sink_messages()] == [subject], "one mail for the outage, none per server"
    for h in ("web01", "web02"):
        f.restore_host(h)
    f.restore_icmp("gw-a")
    eng.wait_for(is_event("incident_closed", "gw-a", "ping"), 25)
    wait_mail(f.sink_messages, lambda m: m["Subject"] == "[Speever][復旧]gw-a ネットワーク疎通不可", 20)
    eng.drain(3)
    assert [m["Subject"] for m in f.sink_messages()] == [subject, "[Speever][復旧]gw-a ネットワーク疎通不可"]
    assert eng.stop() == 0


def test_down_smtp_and_a_killed_engine_deliver_every_mail_exactly_once(fleet_factory, tmp_path, engines):
    f = fleet_factory("127.78.32", ["web01:http,smtp,imap"])
    smtp_addr = "%s.251:2525" % f.net  # nothing listens there yet
    # Plan 30: service monitoring without automatic service recovery, so the only mails are the
    # three alerts (recovery and its 対応開始 mail are test_recovery.py's business).
    path = fleet_text(f, tmp_path, smtp_addr, plan="30")
    db = str(tmp_path / "log.db")
    eng = Engine(path, db)
    engines.append(eng)
    eng.wait_for(is_event("engine_started"), 10)
    eng.drain(2.5)
    for svc in ("http", "smtp", "imap"):
        f.stop_service("web01", svc)
    for svc in ("http", "smtp", "imap"):
        eng.wait_for(is_event("incident_opened", "web01", svc), 25)
    time.sleep(2)  # the outbox tries and fails
    rows = [json.loads(l) for l in anshin("outbox", "--db", db, "--json").stdout.splitlines()]
    assert len(rows) == 3 and all(r["state"] == "pending" and r["attempts"] >= 1 and r["last_error"] for r in rows), rows
    eng.stop(signal.SIGKILL)

    maildir = str(tmp_path / "maildir")
    server = start_smtp(smtp_addr, maildir)
    try:
        again = Engine(path, db)
        engines.append(again)
        started = again.wait_for(is_event("engine_started"), 10)
        assert started["resumed_open"] == 3
        policy = email.policy.default
        box = lambda: list(mailbox.Maildir(maildir, create=True,
                                           factory=lambda fh: email.message_from_binary_file(fh, policy=policy)))
        wait_mail(box, lambda m: True, 60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(box()) < 3:
            time.sleep(0.5)
        again.drain(3)
        got = box()
        subjects = sorted(m["Subject"] for m in got)
        assert subjects == sorted("[Speever][Lv.4]web01 %s サービスダウン" % s for s in ("HTTP", "SMTP", "IMAP")), subjects
        assert len({m["Message-ID"] for m in got}) == 3
        assert again.events("incident_opened") == []
        rows = [json.loads(l) for l in anshin("outbox", "--db", db, "--json").stdout.splitlines()]
        assert sorted(r["state"] for r in rows) == ["sent"] * 3
        assert {r["message_id"] for r in rows} == {m["Message-ID"] for m in got}
        assert again.stop() == 0
    finally:
        server.terminate()
        server.wait(timeout=10)
        for svc in ("http", "smtp", "imap"):
            f.start_service("web01", svc)


def test_a_changed_host_key_opens_a_security_incident_and_stops_polling(fleet_factory, tmp_path, engines):
    f = fleet_factory("127.78.33", ["web01:http"])
    f.set_command("web01", "nproc", "echo 2")
    f.set_loadavg("web01", NORMAL)
    # known_hosts pins another key for web01: what a swapped or hijacked server looks like
    other = str(tmp_path / "other")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True)
    with open(other + ".pub") as fh:
        pub = " ".join(fh.read().split()[:2])
    path = fleet_text(f, tmp_path, "%s.250:2525" % f.net)
    path_text = open(path).read().replace("trust_on_first_use = true", "trust_on_first_use = false")
    open(path, "w").write(path_text)
    with open(tmp_path / "known_hosts", "w") as fh:
        fh.write("%s %s\n" % (f.addr("web01"), pub))

    eng = Engine(path, str(tmp_path / "log.db"))
    engines.append(eng)
    opened = eng.wait_for(is_event("incident_opened", "web01", "ssh_hostkey"), 20)
    assert opened["level"] == 4 and opened["trigger"] == "web01 SSH ホスト鍵変更"
    # polling stopped: a load that would raise Lv.4 in three polls raises nothing
    f.set_loadavg("web01", "25.31 10.00 5.00 3/120 4321")
    eng.drain(6)
    assert [e["check"] for e in eng.events("incident_opened")] == ["ssh_hostkey"]
    assert open(tmp_path / "known_hosts").read().count("\n") == 1  # nothing silently accepted
    assert eng.stop() == 0


def test_mail_test_sends_one_mail_or_says_why_not(tmp_path):
    addr = "127.78.34.251:2525"
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[noc]\n[[customer]]\nid = "c1"\nname = "C"\nplan = "150"\nnotify = ["ops@example.jp"]\n'
                     '[smtp]\nurl = "smtp://%s"\n' % addr)
    down = anshin("mail-test", str(fleet), "--to", "noc@example.jp")
    assert down.returncode == 1 and down.stderr.strip(), down
    maildir = str(tmp_path / "maildir")
    server = start_smtp(addr, maildir)
    try:
        deadline = time.monotonic() + 10
        r = None
        while time.monotonic() < deadline:
            r = anshin("mail-test", str(fleet), "--to", "noc@example.jp")
            if r.returncode == 0:
                break
            time.sleep(0.3)
        assert r.returncode == 0, r.stderr
        [m] = list(mailbox.Maildir(maildir, create=True))
        assert m["To"] == "noc@example.jp" and m["Message-ID"] in r.stdout
    finally:
        server.terminate()
        server.wait(timeout=10)
