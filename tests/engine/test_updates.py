"""Security updates (contract §8) against the loopback fleet's real sshd, with the package
manager and wp-cli as recording stand-ins on the SSH account's PATH that print real captured
outputs (tests/fleet/update_standins.py says which and why: no AlmaLinux dnf or WordPress site
can run on this machine, and the machine's own apt must not be touched).

web01 (plan 150, AlmaLinux 9, one WordPress site) and web02 (plan 60, Debian 12) have updates
pending; web03 (plan zero) is not handled. A running `anshin serve` detects by itself: the rows
show in `anshin updates --json` and on the tiles; each entitled server's notice reaches the real
SMTP sink once, and not again on the next detection of the same set; web03 is refused
`not_included`, web02's CMS `not_included`; an apply of web01's OS updates runs `dnf … upgrade
--security`-style by name, pauses the server while it runs (an HTTP failure meanwhile is held,
not mailed), puts dnf's output in the audit log (`--verify` still OK), mails 作業完了, clears the
badge and asks for the reboot the new detection says is needed; web01's CMS updates are applied
as the site's owner."""
import json
import os
import shutil
import subprocess
import sys
import time

from conftest import anshin_bin
from test_fleet_reload import api, wait_for
from test_serve import OPERATOR, VIEWER, post, serving

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fleet"))
import update_standins  # noqa: E402

NET = "127.78.66"
NOTICE = "[Speever]セキュリティ情報のご案内（%s）"
DONE = "[Speever]セキュリティアップデート作業完了のお知らせ（web01）"


def updates_fleet(f, tmp_path):
    """web01 plan 150 AlmaLinux 9 with a WordPress site, web02 plan 60 Debian 12, web03 plan
    zero; SSH for all; mail to the fleet's sink."""
    text = f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2, plan="150")
    ssh = 'ssh = { user = "anshin", key = %s, known_hosts = %s, trust_on_first_use = true }' % (
        json.dumps(f.key), json.dumps(str(tmp_path / "known_hosts")))
    text = text.replace("timeout_secs = 2\n", "timeout_secs = 2\n%s\nupdates = { every_hours = 24, job_minutes = 5 }\n" % ssh, 1)
    blocks = text.split("\n\n")
    out = []
    for b in blocks:
        if 'label = "web01"' in b:
            b = b.replace('os = "%s"' % f.host("web01").os, 'os = "AlmaLinux 9.4"')
            b += '\ncms = [{ kind = "wordpress", path = "/srv/www" }]'
        if 'label = "web02"' in b:
            b = b.replace('customer = "c1001"', 'customer = "c6006"').replace('os = "%s"' % f.host("web02").os, 'os = "Debian 12"')
        if 'label = "web03"' in b:
            b = b.replace('customer = "c1001"', 'customer = "c0000"')
        out.append(b)
    text = "\n\n".join(out)
    text += ('\n[[customer]]\nid = "c6006"\nname = "六十商事"\nplan = "60"\nnotify = ["ops@c6.example.jp"]\n'
             '\n[[customer]]\nid = "c0000"\nname = "ゼロ工房"\nplan = "zero"\nnotify = ["ops@c0.example.jp"]\n'
             '\n[smtp]\nurl = "smtp://%s:%d"\n' % (f.sink_addr, f.sink_port))
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return str(path)


def server(port, label):
    return next(s for s in api(port, "/api/v1/servers") if s["label"] == label)


def subjects(f):
    return [m["Subject"] for m in f.sink_messages()]


def audit(port, kind):
    return [e for e in api(port, "/api/v1/audit?limit=1000")["entries"] if e["kind"] == kind]


def test_updates_are_detected_announced_once_applied_and_audited(fleet_factory, tmp_path):
    f = fleet_factory(NET, ["web01:http", "web02:http", "web03:http"])
    site = os.path.join(f.srv("web01"), "www")
    os.makedirs(site, exist_ok=True)
    shutil.chown(site, "anshin", "anshin")
    alma = update_standins.install(f, "web01", tool="dnf", wordpress=True)
    debian = update_standins.install(f, "web02", tool="apt")
    path = updates_fleet(f, tmp_path)
    db = str(tmp_path / "log.db")
    with serving(path, tmp_path, "operator %s yamada\nviewer %s\n" % (OPERATOR, VIEWER)) as (port, _):
        # Detected by the engine itself, shown on the tiles.
        web01 = wait_for("web01's updates detected", lambda: (u := server(port, "web01")["updates"]) and u["count"] and u, 60)
        assert web01["code"] == "included" and web01["cms"] is True, web01
        assert web01["severity"] == "critical" and web01["security"] > 0, web01
        assert web01["planned_at"], "the notice set the planned date"
        web02 = wait_for("web02's updates detected", lambda: (u := server(port, "web02")["updates"]) and u["count"] and u, 60)
        assert web02["cms"] is False
        assert server(port, "web03")["updates"]["code"] == "not_included"

        # The JSON rows of `anshin updates`, the same as the API's.
        r = subprocess.run([anshin_bin(), "updates", "--db", db, "--json"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        assert rows == api(port, "/api/v1/updates")
        assert set(rows[0]) == {"host", "source", "site", "package", "installed", "candidate", "advisory",
                                "severity", "class", "since"}
        by_host = {h: [x for x in rows if x["host"] == h] for h in ("web01", "web02", "web03")}
        assert not by_host["web03"]
        assert {x["source"] for x in by_host["web01"]} >= {"os", "wordpress-plugin"}, by_host["web01"]
        assert all(x["site"] == "/srv/www" for x in by_host["web01"] if x["source"] != "os")
        assert all(x["advisory"].startswith("Debian-Security") and x["class"] == "security" for x in by_host["web02"])
        assert web01["count"] == len(by_host["web01"]) and web02["count"] == len(by_host["web02"])
        assert any("updateinfo list --security" in c for c in alma.calls()), alma.calls()
        assert any(c.startswith("apt ") and "--upgradable" in c for c in debian.calls()), debian.calls()

        # One notice per entitled server, and none for web03.
        wait_for("the notices", lambda: {NOTICE % "web01", NOTICE % "web02"} <= set(subjects(f)), 30)
        notice = next(m for m in f.sink_messages() if m["Subject"] == NOTICE % "web01")
        body = notice.get_content()
        assert "作業予定日時：" in body and "サンプル株式会社" in body, body
        assert NOTICE % "web03" not in subjects(f)

        # The next detection of the same set mails nothing.
        before = server(port, "web01")["updates"]["checked_at"]
        status, answer = post(port, "/api/v1/servers/web01/updates/refresh", OPERATOR)
        assert status == 200, answer
        wait_for("the second detection", lambda: server(port, "web01")["updates"]["checked_at"] != before, 60)
        time.sleep(2)
        assert subjects(f).count(NOTICE % "web01") == 1, subjects(f)

        # Refusals by plan.
        status, answer = post(port, "/api/v1/servers/web03/updates/apply", OPERATOR, {})
        assert (status, answer["code"]) == (409, "not_included"), answer
        status, answer = post(port, "/api/v1/servers/web02/updates/apply", OPERATOR, {"cms": True})
        assert (status, answer["code"]) == (409, "not_included"), answer
        status, answer = post(port, "/api/v1/servers/web01/updates/apply", VIEWER, {})
        assert status == 403, answer

        # The apply: dnf takes a while; web01's HTTP fails meanwhile and the alert is held.
        f.set_command("web01", "dnf", open(os.path.join(f.pubhostdir(f.host("web01")), "bin", "dnf")).read()
                      .replace('*" upgrade "*) cat', '*" upgrade "*) sleep 8; cat'))
        status, answer = post(port, "/api/v1/servers/web01/updates/apply", OPERATOR, {})
        assert status == 200, answer
        assert server(port, "web01")["maintenance"], "paused while the job runs"
        status, again = post(port, "/api/v1/servers/web01/updates/apply", OPERATOR, {})
        assert (status, again["code"]) == (409, "busy"), again
        f.stop_service("web01", "http")
        wait_for("the held alert", lambda: audit(port, "alert_held"), 30)
        f.start_service("web01", "http")
        done = wait_for("the job's end", lambda: [e for e in audit(port, "update_finished") if e["host"] == "web01"], 90)
        upgrade = [c for c in alma.calls() if c.startswith("dnf ") and " upgrade " in c]
        assert len(upgrade) == 1 and "-y" in upgrade[0] and "openssl-libs" in upgrade[0], alma.calls()
        assert "Complete!" in done[0]["detail"] and "ok" in done[0]["detail"], done[0]
        assert done[0]["actor"] == "yamada"
        wait_for("the 作業完了 mail", lambda: DONE in subjects(f), 30)
        after = wait_for("the badge cleared", lambda: (u := server(port, "web01")["updates"]) and
                         not [x for x in api(port, "/api/v1/updates?host=web01") if x["source"] == "os"] and u, 30)
        assert after["reboot_needed"] is True, "needs-restarting -r says so after the update"
        assert not [m for m in f.sink_messages() if "[障害]" in m["Subject"] and "web01" in m["Subject"]], subjects(f)
        runs = api(port, "/api/v1/updates/runs?host=web01")
        assert runs[0]["state"] == "ok" and runs[0]["reboot_needed"] is True, runs

        # CMS as the site's owner.
        status, answer = post(port, "/api/v1/servers/web01/updates/apply", OPERATOR, {"cms": True})
        assert status == 200, answer
        wait_for("the CMS job's end", lambda: len([e for e in audit(port, "update_finished") if e["host"] == "web01"]) == 2, 90)
        wp = [c for c in alma.calls() if c.startswith("wp ") and " update" in c]
        assert any("plugin update" in c for c in wp), alma.calls()
        assert not any("--allow-root" in c for c in wp), "the site's owner, never root"
        wait_for("no CMS row left", lambda: not api(port, "/api/v1/updates?host=web01"), 30)
        dones = wait_for("both 作業完了 mails", lambda: len(d := [m for m in f.sink_messages() if m["Subject"] == DONE]) == 2 and d, 30)
        os_done, cms_done = sorted((m.get_content() for m in dones), key=lambda b: "WordPress" in b)
        assert "openssl-libs" in os_done and "再起動が必要" in os_done, os_done
        assert "WordPress プラグイン akismet" in cms_done and "再起動が必要" not in cms_done, cms_done

    r = subprocess.run([anshin_bin(), "incidents", "--db", db, "--verify"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_anshin_update_without_an_engine_prints_then_applies(fleet_factory, tmp_path):
    """No engine: `anshin updates FLEET --refresh` detects over SSH itself; `anshin update`
    without --yes prints the command and exits 2; with --yes applies, logs and exits 0."""
    f = fleet_factory("127.78.67", ["web01:http", "web02:http", "web03:http"])
    os.makedirs(os.path.join(f.srv("web01"), "www"), exist_ok=True)
    shutil.chown(os.path.join(f.srv("web01"), "www"), "anshin", "anshin")
    update_standins.install(f, "web01", tool="dnf", wordpress=True)
    debian = update_standins.install(f, "web02", tool="apt")
    path = updates_fleet(f, tmp_path)
    db = str(tmp_path / "log.db")
    r = subprocess.run([anshin_bin(), "updates", path, "--db", db, "--refresh", "--host", "web02", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert rows and all(x["host"] == "web02" for x in rows)
    first = rows[0]["package"]
    r = subprocess.run([anshin_bin(), "update", path, "--db", db, "--host", "web02", "--packages", first],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "apt-get install --only-upgrade" in r.stdout and "--yes" in r.stderr, r.stdout + r.stderr
    assert not [c for c in debian.calls() if c.startswith("apt-get")], "nothing runs without --yes"
    r = subprocess.run([anshin_bin(), "update", path, "--db", db, "--host", "web02", "--packages", first, "--yes"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    [call] = [c for c in debian.calls() if c.startswith("apt-get")]
    assert "--only-upgrade" in call and call.endswith(first) and "--force-confold" in call, call
    r = subprocess.run([anshin_bin(), "update", path, "--db", db, "--host", "web03", "--yes"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not_included" in r.stderr, r.stderr
