"""The CLI contract without a fleet: validate's exit codes and located errors, and clear errors
for bad input files."""
import os

from conftest import anshin

GOOD = """[noc]
interval_secs = 1
[[customer]]
id = "c1"
name = "サンプル株式会社"
plan = "150"
notify = ["ops@example.jp"]
[[server]]
label = "web01"
customer = "c1"
fqdn = "web01.example.jp"
ip = "127.78.99.2"
services = ["http"]
"""


def write(tmp_path, text, name="fleet.toml"):
    p = os.path.join(str(tmp_path), name)
    with open(p, "w") as fh:
        fh.write(text)
    return p


def test_validate_ok_prints_one_line(tmp_path):
    r = anshin("validate", write(tmp_path, GOOD))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 1 and "1 servers" in r.stdout


def test_validate_error_names_file_line_column(tmp_path):
    p = write(tmp_path, GOOD.replace('plan = "150"', 'plan = "999"'))
    r = anshin("validate", p)
    assert r.returncode == 2
    assert r.stderr.startswith("%s:6:8: unknown plan \"999\"" % p), r.stderr


def test_validate_missing_file(tmp_path):
    r = anshin("validate", os.path.join(str(tmp_path), "nope.toml"))
    assert r.returncode == 2 and "cannot read the fleet file" in r.stderr


def test_check_unknown_host(tmp_path):
    r = anshin("check", write(tmp_path, GOOD), "--host", "nosuch", "--json")
    assert r.returncode == 2 and "nosuch" in r.stderr


def test_incidents_refuses_a_file_that_is_not_a_log(tmp_path):
    p = write(tmp_path, "not a database at all\n" * 50, "x.db")
    before = open(p, "rb").read()
    r = anshin("incidents", "--db", p)
    assert r.returncode == 2 and r.stderr.strip(), r.stderr
    assert open(p, "rb").read() == before
    r = anshin("incidents", "--db", os.path.join(str(tmp_path), "missing.db"))
    assert r.returncode == 2
    assert not os.path.exists(os.path.join(str(tmp_path), "missing.db"))
