"""Export and review end to end: an export taken while `anshin run` writes to the store is a
valid Anshin store that the review reader opens, and it holds the incident still open; a
damaged file is refused with a clear error and left unchanged."""
import csv
import io
import json
import os
import sqlite3

from conftest import Engine, anshin


def is_event(kind, host=None, check=None):
    return lambda e: e["event"] == kind and (host is None or e.get("host") == host) and \
        (check is None or e.get("check") == check)


def test_export_while_the_engine_writes_opens_in_review(fleet_factory, tmp_path, engines):
    f = fleet_factory("127.78.51", ["web01:http", "web02:http"])
    path = str(tmp_path / "fleet.toml")
    with open(path, "w") as fh:
        fh.write(f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2))
    db = str(tmp_path / "live.db")
    eng = Engine(path, db)
    engines.append(eng)
    try:
        eng.wait_for(is_event("engine_started"), 10)
        eng.drain(2)
        f.stop_service("web01", "http")
        opened = eng.wait_for(is_event("incident_opened", "web01", "http"), 25)

        # The engine keeps writing (every check, every second) while the export reads.
        out = str(tmp_path / "review.db")
        r = anshin("export", "--db", db, "--out", out, "--customer", "c1001", "--fleet", path)
        assert r.returncode == 0, r.stderr
        assert "incidents" in r.stdout
        assert not os.path.exists(out + "-wal") and not os.path.exists(out + ".partial")
        con = sqlite3.connect("file:%s?mode=ro" % out, uri=True)
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x414E5348
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        live_version = sqlite3.connect("file:%s?mode=ro" % db, uri=True).execute("PRAGMA user_version").fetchone()[0]
        assert con.execute("PRAGMA user_version").fetchone()[0] == live_version
        con.close()

        r = anshin("review", "--db", out, "--json", "--open")
        assert r.returncode == 0, r.stderr
        rows = [json.loads(l) for l in r.stdout.splitlines()]
        [inc] = [x for x in rows if x["id"] == opened["id"]]
        assert inc["host"] == "web01" and inc["check"] == "http" and inc["closed_at"] is None
        assert inc["story"][0]["kind"] == "incident_opened"
        assert inc["trigger"] == "web01 HTTP サービスダウン"

        # the same listing filtered, and as CSV
        r = anshin("review", "--db", out, "--text", "HTTP サービス", "--server", "web01", "--csv")
        assert r.returncode == 0, r.stderr
        table = list(csv.DictReader(io.StringIO(r.stdout)))
        assert [int(t["id"]) for t in table] == [opened["id"]]
        r = anshin("review", "--db", out, "--server", "web02", "--json")
        assert r.returncode == 0 and r.stdout == ""
        # the live store reviews too, while the engine runs
        r = anshin("review", "--db", db)
        assert r.returncode == 0 and "web01 HTTP サービスダウン" in r.stdout, r.stderr

        # an existing --out is refused unless --force
        r = anshin("export", "--db", db, "--out", out)
        assert r.returncode == 2 and "--force" in r.stderr
        r = anshin("export", "--db", db, "--out", out, "--force")
        assert r.returncode == 0, r.stderr
        assert eng.stop() == 0
    finally:
        f.start_service("web01", "http")


def test_a_damaged_file_gets_a_clear_error_and_stays_unchanged(tmp_path):
    bad = tmp_path / "damaged.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\xa5" * 8000)
    before = bad.read_bytes()
    r = anshin("review", "--db", str(bad))
    assert r.returncode == 2
    assert "damaged.db" in r.stderr and ("damaged" in r.stderr or "not an SQLite" in r.stderr), r.stderr
    assert bad.read_bytes() == before

    other = tmp_path / "other.db"
    con = sqlite3.connect(str(other))
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    r = anshin("review", "--db", str(other))
    assert r.returncode == 2 and "not an Anshin NOC log" in r.stderr, r.stderr
    r = anshin("export", "--db", str(other), "--out", str(tmp_path / "x.db"))
    assert r.returncode == 2 and not (tmp_path / "x.db").exists()


def test_export_never_replaces_the_log_it_reads_or_a_live_store(tmp_path):
    """`--force` onto the source, or onto a store with a write-ahead log beside it (an engine may
    have it open), is refused with exit 2 and both files are left as they were."""
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[noc]\n[[customer]]\nid = "c1"\nname = "C"\nplan = "150"\nnotify = ["ops@example.jp"]\n')
    db = str(tmp_path / "live.db")
    eng = Engine(str(fleet), db)
    try:
        eng.wait_for(is_event("engine_started"), 15)
        before = os.stat(db).st_ino  # the running engine writes on: its bytes may move, its file may not
        r = anshin("export", "--db", db, "--out", db, "--force")
        assert r.returncode == 2 and "is the log being exported" in r.stderr, r.stderr
        other = str(tmp_path / "other.db")
        assert anshin("export", "--db", db, "--out", other).returncode == 0
        open(other + "-wal", "wb").close()  # as if an engine had it open
        r = anshin("export", "--db", db, "--out", other, "--force")
        assert r.returncode == 2 and "write-ahead log" in r.stderr, r.stderr
        assert os.stat(db).st_ino == before and os.path.exists(db + "-wal"), "the live store was replaced"
        assert anshin("incidents", "--db", db).returncode == 0
    finally:
        assert eng.stop() == 0
