"""Backups, eligibility first (contract §7): a running `anshin serve` measures the backed-up
file systems in its resource poll (`df -Pk` / `df -Pi` of each included path, over the real
SSH session of the loopback fleet) and says per server whether it is backed up and why not,
with the numbers: a server above 500,000 inodes is refused, then accepted once below; a plan-30
server is not in the plan. `anshin backup` / `backups` / `restore` against the fleet's sshd and
GNU tar. (The engine's own schedule is not built yet: see README.)"""
import hashlib
import json
import os
import shutil
import stat
import subprocess
import time

from conftest import anshin_bin
from test_fleet_reload import api, wait_for
from test_serve import OPERATOR, VIEWER, post, serving

NET = "127.78.92"


def df_script(used_inodes):
    """A `df` that answers like coreutils for / and any path: 2 GB used, `used_inodes` inodes."""
    return """case "$*" in
  *-Pi*) echo 'Filesystem      Inodes  IUsed   IFree IUse%% Mounted on'
         echo '/dev/vda1      1000000 %(inodes)d %(free)d %(pct)d%% /' ;;
  *) echo 'Filesystem     1024-blocks    Used Available Capacity Mounted on'
     echo '/dev/vda1         10000000 2000000   8000000      20%% /' ;;
esac
""" % {"inodes": used_inodes, "free": 1000000 - used_inodes, "pct": used_inodes // 10000}


def backup_fleet_text(f, tmp_path, store, include=None):
    """The fleet's text with SSH access for every server, `[noc] backup` in `store`, and (when
    given) web01's backed-up paths."""
    text = f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2, plan="150")
    ssh = 'ssh = { user = "anshin", key = %s, known_hosts = %s, trust_on_first_use = true }' % (
        json.dumps(f.key), json.dumps(str(tmp_path / "known_hosts")))
    text = text.replace("timeout_secs = 2\n", 'timeout_secs = 2\n%s\nbackup = { store = "%s" }\n' % (ssh, store), 1)
    if include:
        text = text.replace('services = ["http"]', 'services = ["http"]\nbackup = { include = %s }' % json.dumps(include), 1)
    return text


def web01_with_data(f, tmp_path):
    """web01 backing up /srv/data (made, owned by the SSH user): the fleet file, the store file
    and the data folder."""
    path = tmp_path / "fleet.toml"
    path.write_text(backup_fleet_text(f, tmp_path, "store", ["/srv/data"]))
    data = os.path.join(f.srv("web01"), "data")
    os.makedirs(data, exist_ok=True)
    shutil.chown(data, "anshin", "anshin")
    return str(path), str(tmp_path / "log.db"), data


def test_a_server_over_the_inode_limit_is_not_backed_up_and_says_why(fleet_factory, tmp_path):
    f = fleet_factory(NET, ["web01:http", "web02:http"])
    text = backup_fleet_text(f, tmp_path, "backups")
    # web02 belongs to a plan-30 customer: no backups in its plan.
    blocks = text.split("\n\n")
    blocks = [b.replace('customer = "c1001"', 'customer = "c2002"') if 'label = "web02"' in b else b for b in blocks]
    text = "\n\n".join(blocks) + '\n[[customer]]\nid = "c2002"\nname = "三十商店"\nplan = "30"\nnotify = ["ops@c2.example.jp"]\n'
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    f.set_command("web01", "df", df_script(600000))
    with serving(str(path), tmp_path, "operator %s yamada\nviewer %s\n" % (OPERATOR, VIEWER)) as (port, _):
        def backup_of(label, code):
            s = next(s for s in api(port, "/api/v1/servers") if s["label"] == label)
            return s["backup"] if s["backup"] and s["backup"]["code"] == code else None

        refused = wait_for("web01 refused over the inode limit", lambda: backup_of("web01", "too_many_inodes"))
        assert refused["used_inodes"] == 600000, refused
        assert backup_of("web02", "not_in_plan"), "a plan-30 server has no backups"
        limits = api(port, "/api/v1/catalogue")["backup_limits"]
        assert limits == {"max_used_bytes": 50_000_000_000, "max_used_inodes": 500_000}

        f.set_command("web01", "df", df_script(120000))
        ok = wait_for("web01 backed up once below", lambda: backup_of("web01", "eligible"))
        assert ok["used_bytes"] == 2000000 * 1024 and ok["used_inodes"] == 120000, ok


def tree(root):
    """Every file, directory and link under `root`: relative path → (kind, mode, content)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), None)
            else:
                with open(p, "rb") as fh:
                    out[rel] = ("file", stat.S_IMODE(st.st_mode), hashlib.sha256(fh.read()).hexdigest())
    return out


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)
    shutil.chown(path, "anshin", "anshin")


def test_a_full_and_two_differentials_restore_the_tree_of_their_day(fleet_factory, tmp_path):
    """contract §7 against the fleet's real sshd and GNU tar: a full, changes (a file added, one
    modified, one removed), two differentials; the listing shows 1 full + 2 differentials; the
    second differential restored into a new directory is exactly the tree at its time (content
    and mode, file by file); an existing target is refused."""
    f = fleet_factory("127.78.97", ["web01:http"])
    path, db, data = web01_with_data(f, tmp_path)
    write(os.path.join(data, "a.txt"), b"first\n")
    write(os.path.join(data, "blob.bin"), os.urandom(300_000), 0o600)
    write(os.path.join(data, "sub", "c.txt"), b"to be removed\n", 0o640)
    shutil.chown(os.path.join(data, "sub"), "anshin", "anshin")

    def backup(*extra):
        return subprocess.run([anshin_bin(), "backup", path, "--db", db, "--host", "web01", *extra],
                              capture_output=True, text=True, timeout=120)

    r = backup()
    assert r.returncode == 0 and "(full) ok" in r.stdout, r.stdout + r.stderr
    write(os.path.join(data, "d.txt"), b"added\n", 0o600)
    write(os.path.join(data, "a.txt"), b"modified\n")
    os.remove(os.path.join(data, "sub", "c.txt"))
    time.sleep(1.1)  # tar compares modification times in whole seconds
    r = backup()
    assert r.returncode == 0 and "(differential) ok" in r.stdout, r.stdout + r.stderr
    write(os.path.join(data, "e.txt"), b"second day\n", 0o755)
    time.sleep(1.1)
    r = backup()
    assert r.returncode == 0 and "(differential) ok" in r.stdout, r.stdout + r.stderr
    expected = tree(data)
    # The live tree moves on after the backup.
    write(os.path.join(data, "a.txt"), b"changed after the backup\n")
    write(os.path.join(data, "later.txt"), b"not in any backup\n")

    listed = subprocess.run([anshin_bin(), "backups", "--db", db, "--host", "web01", "--json"],
                            capture_output=True, text=True, timeout=30)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["kind"], r["state"]) for r in rows] == [("differential", "ok"), ("differential", "ok"), ("full", "ok")]
    full, second = rows[2]["generation"], rows[0]["generation"]
    assert rows[0]["base"] == full and rows[1]["base"] == full
    assert os.stat(str(tmp_path / "store" / "web01")).st_mode & 0o777 == 0o700

    def restore(generation, to):
        return subprocess.run([anshin_bin(), "restore", path, "--db", db, "--host", "web01",
                               "--generation", str(generation), "--to", to],
                              capture_output=True, text=True, timeout=120)

    r = restore(second, "/srv/restored")
    assert r.returncode == 0, r.stdout + r.stderr
    got = tree(os.path.join(f.srv("web01"), "restored", "srv", "data"))
    assert got == expected, {"missing": sorted(set(expected) - set(got)), "extra": sorted(set(got) - set(expected)),
                             "differ": sorted(k for k in expected if k in got and got[k] != expected[k])}
    # The full alone restores the first day.
    r = restore(full, "/srv/first-day")
    assert r.returncode == 0, r.stdout + r.stderr
    first = tree(os.path.join(f.srv("web01"), "first-day", "srv", "data"))
    assert "d.txt" not in first and "sub/c.txt" in first
    # A target that exists is refused, nothing written.
    r = restore(second, "/srv/restored")
    assert r.returncode == 1 and "exists" in r.stderr, r.stdout + r.stderr


def test_the_engine_takes_a_new_servers_first_full_and_a_kill_leaves_no_half_generation(fleet_factory, tmp_path):
    """Runs are jobs of the engine (contract §7): a server new to backups gets its first full at
    once, by the engine (`requested_by` schedule). `kill -9` of the engine during a run: after
    the restart the run is `interrupted`, no generation is listed for it, and it is not retried
    at once (the next night's slot takes it)."""
    f = fleet_factory("127.78.95", ["web01:http"])
    path, db, data = web01_with_data(f, tmp_path)
    write(os.path.join(data, "a.txt"), b"kept\n")
    # tar that takes its time: the run is still going when the engine is killed.
    f.set_command("web01", "tar", 'sleep 20\nexec /usr/bin/tar "$@"\n')

    def runs():
        out = subprocess.run([anshin_bin(), "backups", "--db", db, "--json"], capture_output=True, text=True, timeout=30)
        return [json.loads(line) for line in out.stdout.splitlines()]

    tokens = "operator %s yamada\nviewer %s\n" % (OPERATOR, VIEWER)
    with serving(path, tmp_path, tokens) as (port, proc):
        [running] = wait_for("the engine starts the first full", lambda: [r for r in runs() if r["state"] == "running"] or None)
        assert running["kind"] == "full"
        proc.kill()
        proc.wait(timeout=10)
    f.set_command("web01", "tar", 'exec /usr/bin/tar "$@"\n')
    with serving(path, tmp_path, tokens) as (port, proc):
        [cut] = wait_for("the cut-off run marked interrupted",
                         lambda: [r for r in runs() if r["generation"] == running["generation"] and r["state"] == "interrupted"] or None)
        assert "engine stopped" in cut["detail"], cut
        time.sleep(4)
        assert [r["state"] for r in runs()] == ["interrupted"], "no half generation, no retry before the next slot"
    audit = subprocess.run([anshin_bin(), "incidents", "--db", db, "--json"], capture_output=True, text=True, timeout=30)
    assert audit.returncode == 0


def test_a_server_new_to_backups_gets_its_full_from_the_engine(fleet_factory, tmp_path):
    f = fleet_factory("127.78.96", ["web01:http"])
    path, db, data = web01_with_data(f, tmp_path)
    write(os.path.join(data, "a.txt"), b"first\n")
    with serving(path, tmp_path, "operator %s yamada\nviewer %s\n" % (OPERATOR, VIEWER)) as (port, _):
        def done():
            out = subprocess.run([anshin_bin(), "backups", "--db", db, "--json"], capture_output=True, text=True, timeout=30)
            rows = [json.loads(line) for line in out.stdout.splitlines()]
            return rows if rows and rows[0]["state"] == "ok" else None
        [full] = wait_for("the engine's first full", done, seconds=30)
        assert full["kind"] == "full" and full["bytes"] > 0, full
        entries = api(port, "/api/v1/audit?limit=200")["entries"]
        started = [e for e in entries if e["kind"] == "backup_started"]
        assert started and started[0]["actor"] == "schedule", started
        # An operator asks for one now through the console API (a viewer may not).
        write(os.path.join(data, "b.txt"), b"second\n")
        assert post(port, "/api/v1/servers/web01/backup", VIEWER, {})[0] == 403
        assert post(port, "/api/v1/servers/nope/backup", OPERATOR, {})[0] == 404
        status, done = post(port, "/api/v1/servers/web01/backup", OPERATOR, {})
        assert status == 200 and done["type"] == "backup" and done["full"] is False and done["by"] == "yamada", done

        def differential():
            rows = api(port, "/api/v1/backups?host=web01")
            return rows if rows[0]["kind"] == "differential" and rows[0]["state"] == "ok" else None
        rows = wait_for("the operator's differential", differential, seconds=30)
        assert rows[0]["requested_by"] == "yamada" and rows[0]["base"] == full["generation"], rows[0]

        # A restore through the API: the differential with its full, into a new directory.
        second = rows[0]["id"]
        body = {"generation": second, "to": "/srv/restored"}
        assert post(port, "/api/v1/servers/web01/restore", VIEWER, body)[0] == 403
        assert post(port, "/api/v1/servers/web01/restore", OPERATOR, {"generation": 99999})[0] == 404
        status, bad = post(port, "/api/v1/servers/web01/restore", OPERATOR, {"generation": second, "to": "/"})
        assert status == 400 and bad["code"] == "invalid", bad
        status, done = post(port, "/api/v1/servers/web01/restore", OPERATOR, body)
        assert status == 200 and done["type"] == "restore" and done["target"] == "/srv/restored", done

        def finished(n):
            def look():
                got = [e for e in api(port, "/api/v1/audit?limit=300")["entries"] if e["kind"] == "restore_finished"]
                return got if len(got) >= n else None
            return look
        [ended] = wait_for("the restore's end in the audit log", finished(1), seconds=30)
        assert ended["detail"].startswith("generation #%d restored" % second) and ended["actor"] == "yamada", ended
        restored = os.path.join(f.srv("web01"), "restored", "srv", "data")
        with open(os.path.join(restored, "b.txt"), "rb") as fh:
            assert fh.read() == b"second\n"
        # The same target again: refused by the server, said in the log; nothing overwritten.
        assert post(port, "/api/v1/servers/web01/restore", OPERATOR, body)[0] == 200
        again = wait_for("the second restore's end", finished(2), seconds=30)
        assert "not restored" in again[0]["detail"] and "exists" in again[0]["detail"], again[0]

        # The CLI on the same store asks the running engine (its control socket) instead of
        # running a second job beside it; who asked is recorded, and the CLI waits for the end.
        write(os.path.join(data, "c.txt"), b"third\n")
        r = subprocess.run([anshin_bin(), "backup", path, "--db", db, "--host", "web01"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "the engine running" in r.stderr and "(differential) ok" in r.stdout, \
            r.stdout + r.stderr
        rows = api(port, "/api/v1/backups?host=web01")
        assert len(rows) == 3 and rows[0]["requested_by"].startswith("cli:"), rows[0]
        r = subprocess.run([anshin_bin(), "restore", path, "--db", db, "--host", "web01", "--generation",
                            str(rows[0]["id"]), "--to", "/srv/by-cli", "--requested-by", "山田様（電話）"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "restored" in r.stdout, r.stdout + r.stderr
        with open(os.path.join(f.srv("web01"), "by-cli", "srv", "data", "c.txt"), "rb") as fh:
            assert fh.read() == b"third\n"
        entries = api(port, "/api/v1/audit?limit=400")["entries"]
        began = [e for e in entries if e["kind"] == "restore_started" and "/srv/by-cli" in e["detail"]]
        assert began and "asked by 山田様（電話）" in began[0]["detail"] and began[0]["actor"].startswith("cli:"), began
        ended = [e for e in entries if e["kind"] == "restore_finished"]
        assert "re-check: " in ended[0]["detail"] and "http ok" in ended[0]["detail"], ended[0]
        # The customer who asked is mailed (through the outbox) once the restore is done.
        out = subprocess.run([anshin_bin(), "outbox", "--db", db, "--json"], capture_output=True, text=True, timeout=30)
        mails = [json.loads(line) for line in out.stdout.splitlines()]
        done = [m for m in mails if "リストア完了のお知らせ（web01）" in m["subject"]]
        assert len(done) == 1 and done[0]["kind"] == "work_done", mails
