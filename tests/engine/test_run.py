"""`anshin run` against the loopback fleet with interval_secs = 1: incidents open after the third
failed attempt and close on recovery, unreachable hosts and gateways suppress the incidents
behind them, and a kill -9 of the engine loses or repeats nothing."""
import json
import os
import signal

import pytest

from conftest import Engine, anshin

ATTEMPTS = 3


def write_fleet(fleet, tmp_path, **kw):
    path = os.path.join(str(tmp_path), "fleet.toml")
    with open(path, "w") as fh:
        fh.write(fleet.fleet_toml(interval_secs=1, attempts=ATTEMPTS, timeout_secs=2, **kw))
    return path


def is_event(kind, host=None, check=None):
    return lambda e: e["event"] == kind and (host is None or e.get("host") == host) and \
        (check is None or e.get("check") == check)


def start_engine(engines, fleet_path, db):
    e = Engine(fleet_path, db)
    engines.append(e)
    e.wait_for(is_event("engine_started"), 10)
    return e


def test_stopped_service_opens_lv4_on_the_third_attempt_and_closes_when_back(fleet_factory, tmp_path, engines):
    f = fleet_factory("127.78.21", ["web01:http,smtp"])
    db = str(tmp_path / "log.db")
    eng = start_engine(engines, write_fleet(f, tmp_path), db)
    eng.drain(2.5)  # every check has run at least once
    assert eng.events("incident_opened") == []

    f.stop_service("web01", "http")
    opened = eng.wait_for(is_event("incident_opened", "web01", "http"), 20)
    assert opened["level"] == 4
    assert opened["trigger"] == "web01 HTTP サービスダウン"
    states = [(e["state"], e["attempt"]) for e in eng.lines
              if e["event"] == "check_state" and e["host"] == "web01" and e["check"] == "http"]
    assert states == [("soft", 1), ("soft", 2), ("hard", 3)]
    # the incident opened with the third failure, not before
    idx = eng.lines.index(opened)
    assert eng.lines[idx - 1]["event"] == "check_state" and eng.lines[idx - 1]["state"] == "hard"

    f.start_service("web01", "http")
    closed = eng.wait_for(is_event("incident_closed", "web01", "http"), 20)
    assert closed["id"] == opened["id"]
    assert [e for e in eng.events("incident_opened") if e["check"] != "http"] == []

    assert eng.stop() == 0
    assert eng.lines[-1]["event"] == "engine_stopped"
    log = [json.loads(l) for l in anshin("incidents", "--db", db, "--json").stdout.splitlines()]
    assert len(log) == 1 and log[0]["closed_at"] is not None
    assert [ev["kind"] for ev in log[0]["events"] if ev["kind"].startswith("incident_")] == \
        ["incident_opened", "incident_closed"]
    # no [smtp] section: the alert and recovery mails wait in the outbox, nothing is lost
    mails = [json.loads(l) for l in anshin("outbox", "--db", db, "--json").stdout.splitlines()]
    assert sorted((m["kind"], m["state"]) for m in mails) == [("alert", "pending"), ("recovery", "pending")]


def test_dropped_icmp_opens_lv5_and_suppresses_the_hosts_service_incidents(fleet_factory, tmp_path, engines):
    f = fleet_factory("127.78.22", ["web01:http,smtp"])
    eng = start_engine(engines, write_fleet(f, tmp_path), str(tmp_path / "log.db"))
    eng.drain(2.5)

    f.drop_icmp("web01")
    f.stop_service("web01", "smtp")
    opened = eng.wait_for(is_event("incident_opened", "web01", "ping"), 25)
    assert opened["level"] == 5 and opened["trigger"] == "web01 ping 疎通不可"
    # smtp has been hard down all along, but the unreachable host holds it back
    eng.wait_for(lambda e: e["event"] == "check_state" and e["check"] == "smtp" and e["state"] == "hard", 10)
    eng.drain(4)
    assert [e["check"] for e in eng.events("incident_opened")] == ["ping"]

    f.restore_icmp("web01")
    eng.wait_for(is_event("incident_closed", "web01", "ping"), 20)
    # once ping answers again, the service that is still down opens at its next failure
    smtp = eng.wait_for(is_event("incident_opened", "web01", "smtp"), 20)
    assert smtp["level"] == 4
    f.start_service("web01", "smtp")
    eng.wait_for(is_event("incident_closed", "web01", "smtp"), 20)
    assert eng.stop() == 0


def test_unreachable_host_opens_only_lv5(fleet_factory, tmp_path, engines):
    f = fleet_factory("127.78.23", ["web01:http,smtp"])
    eng = start_engine(engines, write_fleet(f, tmp_path), str(tmp_path / "log.db"))
    eng.drain(2.5)
    f.drop_host("web01")  # every packet to the host is dropped: ping, SSH and services time out
    eng.wait_for(is_event("incident_opened", "web01", "ping"), 25)
    eng.drain(8)
    hard = {e["check"] for e in eng.lines if e["event"] == "check_state" and e["state"] == "hard"}
    assert {"ping", "ssh", "http", "smtp"} <= hard
    assert [e["check"] for e in eng.events("incident_opened")] == ["ping"]
    f.restore_host("web01")
    eng.wait_for(is_event("incident_closed", "web01", "ping"), 25)
    eng.drain(6)
    assert [e["check"] for e in eng.events("incident_opened")] == ["ping"]
    assert eng.stop() == 0


def test_down_gateway_opens_one_network_incident(fleet_factory, tmp_path, engines):
    f = fleet_factory("127.78.24", ["web01:http", "web02:smtp"], gateway=True)
    path = write_fleet(f, tmp_path)
    assert 'gateway = "gw-a"' in open(path).read()
    eng = start_engine(engines, path, str(tmp_path / "log.db"))
    eng.drain(2.5)
    # The network in front of both servers fails: the gateway and everything behind it go dark.
    f.drop_icmp("gw-a")
    f.drop_host("web01")
    f.drop_host("web02")
    gw = eng.wait_for(is_event("incident_opened", "gw-a", "ping"), 25)
    assert gw["level"] == 5 and gw["trigger"] == "gw-a ping 疎通不可"
    eng.drain(8)
    assert [(e["host"], e["check"]) for e in eng.events("incident_opened")] == [("gw-a", "ping")]
    for h in ("web01", "web02"):
        f.restore_host(h)
    f.restore_icmp("gw-a")
    eng.wait_for(is_event("incident_closed", "gw-a", "ping"), 20)
    assert eng.stop() == 0


def test_kill_9_and_restart_keep_the_incident_open_without_a_duplicate(fleet_factory, tmp_path, engines):
    f = fleet_factory("127.78.25", ["web01:http,imap"])
    path = write_fleet(f, tmp_path)
    db = str(tmp_path / "log.db")
    eng = start_engine(engines, path, db)
    f.stop_service("web01", "imap")
    opened = eng.wait_for(is_event("incident_opened", "web01", "imap"), 25)
    eng.stop(signal.SIGKILL)

    again = start_engine(engines, path, db)
    started = again.lines[-1]
    assert started["event"] == "engine_started" and started["resumed_open"] == 1
    again.drain(6)  # several more failed attempts of the same problem
    assert again.events("incident_opened") == []

    f.start_service("web01", "imap")
    closed = again.wait_for(is_event("incident_closed", "web01", "imap"), 20)
    assert closed["id"] == opened["id"]
    assert again.stop() == 0
    log = [json.loads(l) for l in anshin("incidents", "--db", db, "--json").stdout.splitlines()]
    assert len(log) == 1
    kinds = [ev["kind"] for ev in log[0]["events"]]
    assert kinds.count("incident_opened") == 1 and kinds.count("incident_closed") == 1


def test_incidents_is_readable_while_the_engine_runs(fleet_factory, tmp_path, engines):
    f = fleet_factory("127.78.26", ["web01:http"])
    db = str(tmp_path / "log.db")
    eng = start_engine(engines, write_fleet(f, tmp_path), db)
    f.stop_service("web01", "http")
    opened = eng.wait_for(is_event("incident_opened", "web01", "http"), 25)
    r = anshin("incidents", "--db", db, "--open", "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert [row["id"] for row in rows] == [opened["id"]]
    human = anshin("incidents", "--db", db)
    assert "web01 HTTP サービスダウン" in human.stdout and "JST" in human.stdout
    f.start_service("web01", "http")
    assert eng.stop() == 0
