#!/usr/bin/env python3
"""A mail storm: one gateway in front of 1,000 customers goes down and comes back (issue 16).

The release `scale_sim` serves BENCH_STORM_CUSTOMERS servers on loopback (ping, SSH banner, HTTP),
one server per customer, every server behind the gateway `gw-a` (127.79.254.1, a loopback address
that answers ping until this script drops its echo requests with an nftables rule of its own).
The engine checks everything every 10 s (3 attempts) and mails a real SMTP server (aiosmtpd).
When the gateway's ping is dropped, the engine opens one Lv.5 incident and sends each customer
one network-outage mail (contract §9.6); when it answers again, one recovery mail each.

Measured, for the outage and for the recovery: the decision (the gateway incident's opened_at,
closed_at) → the first, the median and the last mail accepted by the SMTP server; mails accepted
per second; the engine's CPU over the storm; its check lateness (p99 from /health) and attempts
decided against those due while it mails. Beside it, in the same run, the same SMTP server fed by
Python's smtplib with the same number of messages of the same size over one connection: the
pace of the server and of one client, with no store and no retry bookkeeping.

Prints a Markdown section on stdout (bench/run.sh appends it to bench/results.md). Exits 1 when a
customer got no mail or two of the same kind, or an incident other than the gateway's opened
(a server behind a down gateway must not alert); never because a figure is slow. Loopback only;
everything it starts is stopped by PID (process group), the nftables table is deleted.

Usage: /usr/bin/python3 bench/storm.py   (as root; env: CARGO_TARGET_DIR, ANSHIN_BIN,
BENCH_STORM_CUSTOMERS=1000)
"""
import json
import os
import re
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage

from benchlib import TOKEN, free_port, health, parse_time
from fleet_scale import ANSHIN, SIM, MailSink, Simulator, more_files, stop, tree_usage, pct

CUSTOMERS = int(os.environ.get("BENCH_STORM_CUSTOMERS", "1000"))
INTERVAL = 10
CHECKS_PER_SERVER = 3  # ping, ssh, http
GATEWAY = ("gw-a", "127.79.254.1")
NFT_TABLE = "anshin_bench_storm"
PLANS = ("30", "60", "150", "200")


def fleet_text(sim_text):
    """The simulator's fleet, one customer per server, every server behind the gateway."""
    head, *servers = sim_text.split("[[server]]")
    head = re.sub(r"\[\[customer\]\].*", "", head, flags=re.S)
    out = [head.rstrip(), ""]
    for k in range(len(servers)):
        out += ["[[customer]]", 'id = "k%05d"' % k, 'name = "顧客%05d株式会社"' % k,
                'plan = "%s"' % PLANS[k % len(PLANS)], 'notify = ["ops%d@example.jp"]' % k,
                'phones = ["03-0000-%04d"]' % k, ""]
    out += ["[[gateway]]", 'label = "%s"' % GATEWAY[0], 'ip = "%s"' % GATEWAY[1], ""]
    for k, block in enumerate(servers):
        block = re.sub(r'customer = "c\d+"', 'customer = "k%05d"\ngateway = "%s"' % (k, GATEWAY[0]), block)
        out.append("[[server]]" + block)
    return "\n".join(out)


def nft(script, check=True):
    return subprocess.run(["nft", "-f", "-"], input=script, text=True, check=check, capture_output=True)


def drop_gateway_ping():
    nft("""table inet %s {
  chain in {
    type filter hook input priority -10; policy accept;
    ip daddr %s icmp type echo-request drop
  }
}
""" % (NFT_TABLE, GATEWAY[1]))


def restore_gateway_ping():
    nft("delete table inet %s\n" % NFT_TABLE, check=False)


def gateway_incident(db):
    """(the gateway's incident or None, other incidents)."""
    out = subprocess.run([ANSHIN, "incidents", "--db", db, "--json", "--limit", "100000"],
                         capture_output=True, text=True).stdout
    gw, others = None, []
    for row in (json.loads(l) for l in out.splitlines() if l.strip()):
        if row["host"] == GATEWAY[0]:
            gw = row
        else:
            others.append("%s %s" % (row["host"], row["check"]))
    return gw, others


def gateway_time(db, field):
    """The gateway incident's `opened_at` or `closed_at` as epoch seconds (None: not yet), read
    once from the store."""
    gw = gateway_incident(db)[0]
    return parse_time(gw[field]) if gw and gw.get(field) else None


def storm_phase(addr, eng, sink, kind, since, decided_at):
    """Waits for CUSTOMERS mails of `kind` ("alert": 疎通不可, "recovery": 復旧) accepted after
    `since`; measures the engine meanwhile. `decided_at()` gives the decision's time once known."""
    h0, cpu0, t0 = health(addr), tree_usage(eng.pid)[0], time.monotonic()
    lag99 = []
    deadline = time.monotonic() + 6 * INTERVAL + 180
    mails = []
    while time.monotonic() < deadline:
        time.sleep(1)
        lag99.append(health(addr)["probe_lag_p99_ms"] or 0)
        mails = [m for m in sink.messages if m[0] >= since and kind_of(m[2]) == kind]
        if len(mails) >= CUSTOMERS:
            break
    time.sleep(3)  # a duplicate would come now
    elapsed = time.monotonic() - t0
    h1, cpu1 = health(addr), tree_usage(eng.pid)[0]
    mails = [m for m in sink.messages if m[0] >= since and kind_of(m[2]) == kind]
    decided = decided_at()
    times = sorted(m[0] for m in mails)
    per_rcpt = {}
    for _, rcpts, _ in mails:
        for r in rcpts:
            per_rcpt[r] = per_rcpt.get(r, 0) + 1
    r = {"kind": kind, "mails": len(mails), "customers_mailed": len(per_rcpt),
         "twice": sorted(k for k, v in per_rcpt.items() if v > 1),
         "cpu_s": cpu1 - cpu0, "elapsed": elapsed, "lag_p99": max(lag99 or [0]),
         "decided": h1["attempts_decided"] - h0["attempts_decided"],
         "due": CUSTOMERS * CHECKS_PER_SERVER * elapsed / INTERVAL,
         "skipped": h1["slots_skipped"] - h0["slots_skipped"]}
    if decided and times:
        r.update(first_ms=1000 * (times[0] - decided), median_ms=1000 * (statistics.median(times) - decided),
                 last_ms=1000 * (times[-1] - decided),
                 per_s=(len(times) - 1) / max(1e-3, times[-1] - times[0]))
    return r


def kind_of(subject):
    if "ネットワーク疎通不可" not in subject:
        return None
    return "recovery" if "復旧" in subject else ("start" if "対応開始" in subject else "alert")


def reference(sink, size, n):
    """smtplib: n messages of `size` bytes over one connection to the same server (seconds)."""
    msg = EmailMessage()
    msg["From"] = "mail_alert@hosting-srv.net"
    msg["Subject"] = "[Speever][Lv.5]gw-ref ネットワーク疎通不可"
    msg.set_content("x" * size)
    t0 = time.monotonic()
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=30) as s:
        for k in range(n):
            del msg["To"]
            msg["To"] = "ref%d@example.jp" % k
            s.send_message(msg)
    return time.monotonic() - t0


def run(work):
    sink = MailSink()
    sim = eng = None
    tokens = os.path.join(work, "tokens")
    with open(tokens, "w") as fh:
        fh.write("viewer %s wall\n" % TOKEN)
    os.chmod(tokens, 0o600)
    try:
        sim = Simulator(work, CUSTOMERS, 0, "smtp://127.0.0.1:%d" % sink.port, None, services="http",
                        interval=INTERVAL)
        path = os.path.join(work, "storm.toml")
        with open(sim.fleet, encoding="utf-8") as fh:
            text = fleet_text(fh.read())
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        db = os.path.join(work, "storm.db")
        addr = "127.0.0.1:%d" % free_port()
        log = open(os.path.join(work, "engine.log"), "w")
        eng = subprocess.Popen([ANSHIN, "serve", path, "--db", db, "--listen", addr, "--tokens", tokens],
                               stdout=subprocess.DEVNULL, stderr=log, preexec_fn=more_files)
        for _ in range(600):
            try:
                if health(addr)["checks"] >= 1 + CUSTOMERS * CHECKS_PER_SERVER:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        time.sleep(3 * INTERVAL)  # every check answered a few times: nothing open
        gw, others = gateway_incident(db)
        if gw or others:
            raise RuntimeError("incidents before the outage: %s" % ([gw] if gw else []) + others)

        since = time.time()
        drop_gateway_ping()
        alert = storm_phase(addr, eng, sink, "alert", since, lambda: gateway_time(db, "opened_at"))
        since = time.time()
        restore_gateway_ping()
        recovery = storm_phase(addr, eng, sink, "recovery", since, lambda: gateway_time(db, "closed_at"))
        _, others = gateway_incident(db)
        body = mail_size(db)
        ref_s = reference(sink, body or 2000, CUSTOMERS)
        return {"alert": alert, "recovery": recovery, "false_incidents": others, "ref_s": ref_s,
                "mail_bytes": body}
    finally:
        restore_gateway_ping()
        stop(eng)
        if sim:
            sim.stop()
        sink.close()


def mail_size(db):
    """The median size of the mails the engine sent (from its outbox), bytes."""
    out = subprocess.run([ANSHIN, "outbox", "--db", db, "--json", "--limit", "100000"],
                         capture_output=True, text=True).stdout
    sizes = [len(json.loads(l).get("body", "").encode()) for l in out.splitlines() if l.strip()]
    return int(statistics.median(sizes)) if sizes else None


def report(r):
    lines = ["", "### A mail storm: one gateway in front of %d customers" % CUSTOMERS, "",
             "Reproduce: `make bench` (this part: `/usr/bin/python3 bench/storm.py`, as root). %d servers "
             "on loopback (release `scale_sim`: ping, SSH, HTTP), one per customer, all behind `gw-a`; "
             "checks every %d s, 3 attempts; the gateway's ping dropped by nftables, then answered again; "
             "a real SMTP server (aiosmtpd). Times from the engine's decision (the incident's "
             "opened_at / closed_at)." % (CUSTOMERS, INTERVAL), "",
             "| phase | mails accepted | customers (one each) | decision → first / median / last mail | mails/s | engine CPU s (the phase: detection, then mails) | check lateness p99 | attempts decided / due |",
             "|---|---|---|---|---|---|---|---|"]
    for p in (r["alert"], r["recovery"]):
        times = ("%.0f / %.0f / %.0f ms" % (p["first_ms"], p["median_ms"], p["last_ms"])) if "first_ms" in p else "—"
        lines.append("| %s | %d | %d%s | %s | %s | %.2f | %d ms | %d / %.0f |" % (
            "outage (疎通不可)" if p["kind"] == "alert" else "recovery (復旧)", p["mails"], p["customers_mailed"],
            (", **%d twice**" % len(p["twice"])) if p["twice"] else "", times,
            ("%.0f" % p["per_s"]) if "per_s" in p else "—", p["cpu_s"], p["lag_p99"], p["decided"], p["due"]))
    lines += ["", "Reference, same run: Python's smtplib sending %d messages of %s bytes to the same SMTP "
              "server over one connection: %.2f s (%.0f mails/s) — the server's and one client's pace, "
              "with no store and no retry bookkeeping. Incidents other than the gateway's: %s." % (
                  CUSTOMERS, r["mail_bytes"] or "2000", r["ref_s"], CUSTOMERS / r["ref_s"],
                  ", ".join(r["false_incidents"]) or "none")]
    print("\n".join(lines))


def failures(r):
    out = []
    for p in (r["alert"], r["recovery"]):
        if p["customers_mailed"] < CUSTOMERS:
            out.append("%s: %d of %d customers mailed" % (p["kind"], p["customers_mailed"], CUSTOMERS))
        if p["twice"]:
            out.append("%s: mailed twice: %s" % (p["kind"], p["twice"][:10]))
        if p["skipped"]:
            out.append("%s: %d check slots skipped" % (p["kind"], p["skipped"]))
    if r["false_incidents"]:
        out.append("incidents behind the down gateway: %s" % r["false_incidents"][:10])
    return out


def main():
    if os.geteuid() != 0:
        sys.exit("bench/storm.py: run as root (nftables)")
    for exe in (ANSHIN, SIM):
        if not os.access(exe, os.X_OK):
            sys.exit("bench/storm.py: %s is missing (bench/run.sh builds it)" % exe)
    work = tempfile.mkdtemp(prefix="anshin-bench-storm-")
    try:
        r = run(work)
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    report(r)
    bad = failures(r)
    for b in bad:
        print("bench/storm.py: %s" % b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
