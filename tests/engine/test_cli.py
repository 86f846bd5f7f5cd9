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


# What mails refuse, validate refuses (one rule, anshin_core::mail::check_fleet_text): before, these
# fleets validated and the engine then opened incidents without queueing a single mail.
REFUSED = [
    ('[noc]\n', '[noc]\nbrand = ""\n', ":2:9: brand is empty"),
    ('name = "サンプル株式会社"', 'name = "サンプル\\u2028株式会社"', ":5:8: customer name contains a line break"),
    ('services = ["http"]', 'services = ["http"]\nos = "CentOS\\u2028 7"', ":14:6: OS contains a line break"),
    ('services = ["http"]', 'services = ["http"]\nos = "CentOS\\u001b[2J"', ":14:6: OS contains a line break or control"),
    ('label = "web01"', 'label = "--help"', ':9:9: server label "--help" is not a plain name'),
    ('label = "web01"', 'label = ".."', ':9:9: server label ".." is not a plain name'),
    ('id = "c1"', 'id = "-c1"', ':4:6: customer id "-c1" is not a plain name'),
]


def test_validate_refuses_what_a_mail_cannot_carry_and_names_that_are_not_plain(tmp_path):
    for old, new, want in REFUSED:
        assert old in GOOD, old
        p = write(tmp_path, GOOD.replace(old, new, 1))
        r = anshin("validate", p)
        assert r.returncode == 2, (new, r.stdout)
        assert r.stderr.startswith(p + want), (new, r.stderr)


def test_diagnostics_never_echo_raw_control_characters(tmp_path):
    # A label with escaped CR/LF/ESC, and a raw ESC and CR in the file itself.
    text = GOOD.replace('label = "web01"', 'label = "web\\r\\n\\u001b]0;owned\\u0007"')
    p = write(tmp_path, text)
    r = anshin("validate", p)
    assert r.returncode == 2
    assert '"web\\r\\n\\u{1b}]0;owned\\u{7}" is not a plain name' in r.stderr, r.stderr
    raw = write(tmp_path, GOOD + "\x1b[2J\x1b]0;owned\x07 = 1\r\n", "raw.toml")
    r = anshin("validate", raw)
    assert r.returncode == 2 and r.stderr.startswith(raw + ":"), r.stderr
    for out in (anshin("validate", p).stderr, r.stderr):
        assert not any(c in out for c in "\x1b\x07\r\u2028"), repr(out)
        assert out.count("\n") == 1, repr(out)
