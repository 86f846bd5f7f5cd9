"""Database dumps in backups (contract §7, issue 14 settled: "servers whose services include mysql
or postgresql get a dump first"), against the loopback fleet's real mariadb and postgresql.

The host runs both, reachable the way a real Debian server's are: mariadb's socket at
/run/mysqld/mysqld.sock with root by unix_socket, postgresql's socket in /run/postgresql with
peer authentication. `anshin backup` (the CLI, no engine) dumps both through `sudo` (and through a
root login), the archive holds the dumps, `anshin restore` brings back SQL text holding the rows
of that day. A database that cannot be dumped fails the run naming the program, and an account
without root cannot dump at all."""
import datetime
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import anshin_bin
from test_backup import backup_fleet_text, write

NET = "127.78.88"
HOST = "db01"


@pytest.fixture(scope="module")
def fleet(fleet_factory):
    f = fleet_factory(NET, [HOST + ":mysql,postgresql"])
    data = os.path.join(f.srv(HOST), "data")
    os.makedirs(data, exist_ok=True)
    shutil.chown(data, "anshin", "anshin")
    write(os.path.join(data, "site.txt"), b"the site\n")
    mysql(f, "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(80)) "
             "DEFAULT CHARSET=utf8mb4")
    psql(f, "postgres", "CREATE DATABASE shop")
    psql(f, "shop", "CREATE TABLE orders (id INT PRIMARY KEY, item TEXT)")
    return f


def mysql(f, sql):
    """The mariadb client as this machine's root over the host's socket (unix_socket login)."""
    r = subprocess.run(["mariadb", "--no-defaults", "--socket=" + f.mysql_socket(HOST), "-u", "root",
                        "-e", sql], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def psql(f, db, sql):
    r = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-h", f.addr(HOST), "-U", "postgres",
                        "-d", db, "-c", sql], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def add_rows(f, n):
    """One new row in each database, with a text never seen before; returns (id, text)."""
    item = "急須-%s" % uuid.uuid4().hex[:12]
    mysql(f, "INSERT INTO shop.orders VALUES (%d, '%s')" % (n, item))
    psql(f, "shop", "INSERT INTO orders VALUES (%d, '%s')" % (n, item))
    return n, item


def fleet_file(f, tmp_path, user="anshin", sudo=False):
    """db01 backing up /srv/data (the dumps' folder is added by the command itself)."""
    text = backup_fleet_text(f, tmp_path, "store")
    text = text.replace('services = ["mysql", "postgresql"]',
                        'services = ["mysql", "postgresql"]\nbackup = { include = ["/srv/data"] }', 1)
    text = text.replace('ssh = { user = "anshin",', 'ssh = { user = "%s", sudo = %s,' % (user, json.dumps(sudo)), 1)
    assert 'backup = { include' in text and 'user = "%s"' % user in text
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return str(path), str(tmp_path / "log.db")


def backup(path, db):
    return subprocess.run([anshin_bin(), "backup", path, "--db", db, "--host", HOST],
                          capture_output=True, text=True, timeout=180)


def runs(db):
    out = subprocess.run([anshin_bin(), "backups", "--db", db, "--host", HOST, "--json"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def restore(f, path, db, generation, name):
    """The generation restored into the new folder /srv/NAME; returns where its
    /var/backups/anshin-noc is, as this machine sees it."""
    r = subprocess.run([anshin_bin(), "restore", path, "--db", db, "--host", HOST,
                        "--generation", str(generation), "--to", "/srv/" + name],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    return os.path.join(f.srv(HOST), name, "var", "backups", "anshin-noc")


def work_dir(f):
    """The host's /var/backups/anshin-noc as this machine sees it."""
    return os.path.join(os.path.dirname(f.srv(HOST)), "var-backups", "anshin-noc")


def read(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def has_mysql_row(dump, n, item):
    return "INSERT INTO `orders` VALUES" in dump and "(%d,'%s')" % (n, item) in dump


def has_pg_row(dump, n, item):
    return "COPY public.orders (id, item) FROM stdin;" in dump and "\n%d\t%s\n" % (n, item) in dump


def at(rfc3339):
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def test_sudo_dumps_both_databases_into_every_generation(fleet, tmp_path):
    """`ssh.sudo = true`: the full holds dumps of both databases with the day's rows (SQL text,
    all databases and roles), made during the run; a differential after new rows holds fresh
    dumps with them; the full restored alone still holds only its own day."""
    f = fleet
    path, db = fleet_file(f, tmp_path, sudo=True)
    day1 = add_rows(f, 1)
    r = backup(path, db)
    assert r.returncode == 0 and "(full) ok" in r.stdout, r.stdout + r.stderr
    assert sorted(os.listdir(work_dir(f))) == ["mysql.sql", "postgresql.sql"], "no .part, no snapshot left"
    day2 = add_rows(f, 2)
    time.sleep(1.1)  # tar compares modification times in whole seconds
    r = backup(path, db)
    assert r.returncode == 0 and "(differential) ok" in r.stdout, r.stdout + r.stderr
    diff, full = runs(db)
    assert (diff["kind"], full["kind"]) == ("differential", "full")

    got = restore(f, path, db, diff["generation"], "restored-diff")
    with open(os.path.join(f.srv(HOST), "restored-diff", "srv", "data", "site.txt"), "rb") as fh:
        assert fh.read() == b"the site\n", "the files come back beside the dumps"
    my, pg = read(os.path.join(got, "mysql.sql")), read(os.path.join(got, "postgresql.sql"))
    assert "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop`" in my, my[:2000]
    assert has_mysql_row(my, *day1) and has_mysql_row(my, *day2), my[-3000:]
    assert "CREATE ROLE postgres;" in pg and "CREATE DATABASE shop" in pg, pg[:2000]
    assert has_pg_row(pg, *day1) and has_pg_row(pg, *day2), pg[-3000:]
    for name in ("mysql.sql", "postgresql.sql"):
        made = os.stat(os.path.join(got, name)).st_mtime
        assert at(diff["started"]) - 1 <= made <= at(diff["finished"]) + 1, (name, made, diff)

    first = restore(f, path, db, full["generation"], "restored-full")
    my, pg = read(os.path.join(first, "mysql.sql")), read(os.path.join(first, "postgresql.sql"))
    assert has_mysql_row(my, *day1) and not has_mysql_row(my, *day2)
    assert has_pg_row(pg, *day1) and not has_pg_row(pg, *day2)
    made = os.stat(os.path.join(first, "mysql.sql")).st_mtime
    assert at(full["started"]) - 1 <= made <= at(full["finished"]) + 1, (made, full)


def test_a_root_login_dumps_the_same_way(fleet, tmp_path):
    """`user = "root"` without sudo: the same command, root's own session."""
    f = fleet
    path, db = fleet_file(f, tmp_path, user="root")
    row = add_rows(f, 3)
    r = backup(path, db)
    assert r.returncode == 0 and "(full) ok" in r.stdout, r.stdout + r.stderr
    [full] = runs(db)
    got = restore(f, path, db, full["generation"], "restored-root")
    assert has_mysql_row(read(os.path.join(got, "mysql.sql")), *row)
    assert has_pg_row(read(os.path.join(got, "postgresql.sql")), *row)


def test_a_dump_that_fails_fails_the_run_and_names_the_program(fleet, tmp_path):
    """postgresql stopped: the run fails with pg_dumpall's reason; mariadb stopped: with
    mysqldump's, which says it looked on the default socket; no generation, no half dump. An
    account that is not root (no sudo) cannot dump: the run fails, it does not archive without
    the databases."""
    f = fleet
    path, db = fleet_file(f, tmp_path, sudo=True)
    try:
        f.stop_service(HOST, "postgresql")
        r = backup(path, db)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "pg_dumpall failed (exit 73)" in r.stderr and "accepting connections" in r.stderr, r.stderr
        f.start_service(HOST, "postgresql")
        f.stop_service(HOST, "mysql")
        r = backup(path, db)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "mysqldump --single-transaction --all-databases failed (exit 72)" in r.stderr, r.stderr
        assert "/run/mysqld/mysqld.sock" in r.stderr, r.stderr
    finally:
        f.start_service(HOST, "postgresql")
        f.start_service(HOST, "mysql")
    assert not [n for n in os.listdir(work_dir(f)) if n.endswith(".part")]

    # A server never backed up as root (the root-owned work folder of the runs above put aside).
    (tmp_path / "plain").mkdir()
    plain, plain_db = fleet_file(f, tmp_path / "plain")
    aside = work_dir(f) + ".aside"
    os.rename(work_dir(f), aside)
    try:
        r = backup(plain, plain_db)
    finally:
        shutil.rmtree(work_dir(f), ignore_errors=True)
        os.rename(aside, work_dir(f))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "mysqldump --single-transaction --all-databases failed (exit 72)" in r.stderr, r.stderr
    assert "Access denied for user 'anshin'@'localhost'" in r.stderr, r.stderr
    assert [x["state"] for x in runs(db) + runs(plain_db)] == ["failed"] * 3

    # Both servers back: the same fleet file backs up again.
    r = backup(path, db)
    assert r.returncode == 0 and "(full) ok" in r.stdout, r.stdout + r.stderr
