"""The monthly report end to end: a store written by the real engine, a maintenance window,
`anshin report --send` delivers the HTML mail with its charts inline (multipart/related,
cid: parts) to a real SMTP server, and writes the PDF, which poppler renders."""
import os
import shutil
import sqlite3
import subprocess
import time

from conftest import Engine, anshin


def is_event(kind, host=None, check=None):
    return lambda e: e["event"] == kind and (host is None or e.get("host") == host) and \
        (check is None or e.get("check") == check)


def test_monthly_report_mail_reaches_the_smtp_server_with_inline_charts(fleet_factory, tmp_path, engines):
    f = fleet_factory("127.78.52", ["web01:http,smtp"])
    text = f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2)
    text += '\n[smtp]\nurl = "smtp://%s:%d"\n' % (f.sink_addr, f.sink_port)
    path = str(tmp_path / "fleet.toml")
    with open(path, "w") as fh:
        fh.write(text)
    db = str(tmp_path / "log.db")
    eng = Engine(path, db)
    engines.append(eng)
    try:
        eng.wait_for(is_event("engine_started"), 10)
        f.stop_service("web01", "http")
        eng.wait_for(is_event("incident_opened", "web01", "http"), 25)
        f.start_service("web01", "http")
        eng.wait_for(is_event("incident_closed", "web01", "http"), 25)
        assert eng.stop() == 0
    finally:
        f.start_service("web01", "http")
    # resource samples for the charts (the engine polls none here: no SSH in this fleet)
    con = sqlite3.connect(db)
    now = time.time()
    for n in range(48):
        at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now - n * 1800))
        for res, v in (("load", 0.3 + n % 5 * 0.2), ("disk", 60 + n * 0.1), ("inode", 22.0), ("mailq", n % 7)):
            con.execute("INSERT INTO samples (host, resource, at, value) VALUES ('web01', ?, ?, ?)", (res, at, v))
    con.commit()
    con.close()
    before = len(f.sink_messages())
    month = time.strftime("%Y-%m", time.gmtime(now + 9 * 3600))
    out = tmp_path / "report"
    r = anshin("report", "--db", db, "--fleet", path, "--customer", "c1001", "--month", month,
               "--out", str(out), "--send", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    msgs = f.sink_wait(before + 1, 20)[before:]
    [m] = [m for m in msgs if "月次稼働レポート" in m["Subject"]]
    assert m["To"] == "ops@example.jp" and m["From"] == "mail_alert@hosting-srv.net"
    assert m.get_content_type() == "multipart/alternative"
    related = [p for p in m.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1
    html = [p for p in related[0].iter_parts() if p.get_content_type() == "text/html"][0].get_content()
    images = [p for p in related[0].iter_parts() if p.get_content_type() == "image/png"]
    assert images, "charts inline"
    for img in images:
        cid = img["Content-ID"].strip("<>")
        assert "cid:%s" % cid in html
        assert img.get_content().startswith(b"\x89PNG")
    assert "稼働率" in html and "web01 HTTP サービスダウン" in html
    # the outbox row is sent, the report recorded
    # (the engine's schedule also drafted the previous month at start: that row stays a draft)
    rows = subprocess.run(["sqlite3", db, "SELECT state, sent_by FROM reports WHERE month = '%s'" % month],
                          capture_output=True, text=True).stdout
    assert rows.strip() == "sent|cli", rows
    # the PDF renders (poppler) and is kept with the charts as artifacts
    pdf = out / ("c1001-%s.pdf" % month)
    assert pdf.exists()
    art = os.path.join(os.environ.get("ARTIFACTS", os.path.join(os.path.dirname(__file__), "..", "..", "artifacts")),
                       "report-engine")
    os.makedirs(art, exist_ok=True)
    for p in out.iterdir():
        shutil.copy(str(p), art)
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), os.path.join(art, "page")], check=True, timeout=60)
    assert os.path.exists(os.path.join(art, "page-1.png"))
