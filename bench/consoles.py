#!/usr/bin/env python3
"""Consoles must not change a verdict: the release engine watching a simulated fleet of
BENCH_SERVERS (2,000) loopback servers, 5 % of them flapping HTTP on a known timetable, while
300 consoles connect at the same instant and, later, 200 heavy readers page through the log.
Each loaded phase is measured beside the idle engine in the same run:

- false incidents (any incident but a flapping server's HTTP; must be 0), and the flapping
  outages that opened an incident (of those that began and ended within the phase);
- the probes' lateness (the engine's own p99, the worst value /health showed in the phase);
- engine CPU (% of one core), RSS peak in the phase and at its end;
- /health answer time (p50/p99, every 250 ms);
- snapshots re-sent (snapshots beyond each console's first) and consoles dropped.

Prints a Markdown section on stdout (bench/run.sh appends it to bench/results.md); exits 1 if a
false incident opened. Loopback only; everything started is stopped by PID.

Usage: bench/consoles.py  (env: CARGO_TARGET_DIR, ANSHIN_BIN, BENCH_SERVERS, BENCH_PHASE_SECS,
BENCH_WARMUP_SECS, BENCH_CONSOLES, BENCH_READERS: smaller values for a quick try)
"""
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import TOKEN, free_port, health, parse_time

TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/anshin-target")
ANSHIN = os.environ.get("ANSHIN_BIN") or os.path.join(TARGET, "release", "anshin")
SIM = os.path.join(TARGET, "release", "examples", "scale_sim")
STORM = os.path.join(TARGET, "release", "examples", "console_storm")
SERVERS = int(os.environ.get("BENCH_SERVERS", "2000"))
PHASE = int(os.environ.get("BENCH_PHASE_SECS", "60"))
WARMUP = int(os.environ.get("BENCH_WARMUP_SECS", "60"))
CONSOLES = int(os.environ.get("BENCH_CONSOLES", "300"))
READERS = int(os.environ.get("BENCH_READERS", "200"))
INTERVAL = 10
FLAP_EVERY = 20
CLK = os.sysconf("SC_CLK_TCK")


def more_files():
    """The simulator holds one listener per server and service: raise the soft open-file limit
    to the hard one (a fresh machine's soft limit is often 1024)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))



def cpu_secs(pid):
    with open("/proc/%d/stat" % pid) as fh:
        f = fh.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / CLK


def status(pid, key):
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0



def stop(p):
    if p and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def phase(name, pid, addr, load=None):
    """Runs `load` (argv of console_storm, or None: idle) for PHASE seconds beside the health
    sampler; returns the measurements."""
    h0 = health(addr)
    t0, c0 = time.time(), cpu_secs(pid)
    sampler = subprocess.Popen([STORM, "health", addr, TOKEN, str(PHASE)], stdout=subprocess.PIPE, text=True)
    loader = subprocess.Popen(load, stdout=subprocess.PIPE, text=True) if load else None
    peak = 0
    deadline = time.time() + PHASE + 60
    while sampler.poll() is None and time.time() < deadline:
        peak = max(peak, status(pid, "VmRSS"))
        time.sleep(0.2)
    h_out = json.loads(sampler.communicate(timeout=30)[0])
    l_out = json.loads(loader.communicate(timeout=PHASE + 60)[0]) if loader else {}
    t1, c1 = time.time(), cpu_secs(pid)
    h1 = health(addr)
    sent = h1["consoles"]["snapshots_sent"] - h0["consoles"]["snapshots_sent"]
    firsts = l_out.get("got_snapshot", 0)
    return {
        "name": name, "t0": t0, "t1": t1, "cpu_pct": 100.0 * (c1 - c0) / (t1 - t0),
        "rss_peak_mib": peak / 1024.0, "rss_end_mib": status(pid, "VmRSS") / 1024.0,
        "threads": status(pid, "Threads"), "health": h_out, "load": l_out,
        "resent": max(0, sent - firsts),
        "dropped": h1["consoles"]["dropped"] - h0["consoles"]["dropped"],
    }


def outage_starts(flapping, t_ready, down, up):
    """(label, start time) of every flapping outage, from the simulator's timetable."""
    period = down + up
    out = []
    for label in flapping:
        i = int(label[1:])
        offset = (i * 7919) % period
        k = 0
        while k < 100:
            start = t_ready + offset + k * period
            out.append((label, start))
            k += 1
    return out



def main():
    for exe in (ANSHIN, SIM, STORM):
        if not os.access(exe, os.X_OK):
            sys.exit("bench/consoles.py: %s is missing (bench/run.sh builds it)" % exe)
    work = tempfile.mkdtemp(prefix="anshin-bench-consoles-")
    fleet, db, tokens = (os.path.join(work, n) for n in ("fleet.toml", "log.db", "tokens"))
    with open(tokens, "w") as fh:
        fh.write("viewer %s wall\n" % TOKEN)
    os.chmod(tokens, 0o600)
    sim = eng = None
    try:
        sim = subprocess.Popen([SIM, fleet, str(SERVERS), "http,smtp", str(INTERVAL), str(FLAP_EVERY)],
                               stdout=subprocess.PIPE, text=True, preexec_fn=more_files)
        ready = json.loads(sim.stdout.readline() or "{}")
        if not ready.get("ready"):
            sys.exit("bench/consoles.py: the simulator did not start")
        # Its per-second counts are not used here; read them so its pipe never fills.
        threading.Thread(target=lambda: sum(1 for _ in sim.stdout), daemon=True).start()
        t_ready = time.time()
        addr = "127.0.0.1:%d" % free_port()
        log = open(os.path.join(work, "engine.log"), "w")
        eng = subprocess.Popen([ANSHIN, "serve", fleet, "--db", db, "--listen", addr, "--tokens", tokens],
                               stdout=subprocess.DEVNULL, stderr=log)
        for _ in range(100):
            try:
                health(addr)
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(WARMUP)
        phases = [
            phase("idle", eng.pid, addr),
            phase("20 consoles connected", eng.pid, addr, [STORM, "consoles", addr, TOKEN, "20", str(PHASE)]),
            phase("%d consoles connecting at once" % CONSOLES, eng.pid, addr,
                  [STORM, "consoles", addr, TOKEN, str(CONSOLES), str(PHASE)]),
            phase("idle again", eng.pid, addr),
            phase("%d heavy readers" % READERS, eng.pid, addr,
                  [STORM, "readers", addr, TOKEN, str(READERS), str(PHASE)]),
            phase("after the load", eng.pid, addr),
        ]
        out = subprocess.run([ANSHIN, "incidents", "--db", db, "--json", "--limit", "100000"],
                             capture_output=True, text=True, check=True).stdout
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    finally:
        stop(eng)
        stop(sim)
    flapping = set(ready["flapping"])
    starts = outage_starts(flapping, t_ready, ready["down_secs"], ready["up_secs"])
    opened = [(r["host"], r["check"], parse_time(r["opened_at"])) for r in rows]
    false_total = 0
    for p in phases:
        inside = [o for o in opened if p["t0"] <= o[2] < p["t1"]]
        p["false"] = [o for o in inside if not (o[0] in flapping and o[1] == "http")]
        false_total += len(p["false"])
        # Outages that began in the phase early enough for three failed attempts (and their
        # timeouts) to fall inside it; opened means an incident of that server's HTTP opened
        # while it was down.
        due = [(l, s) for l, s in starts if p["t0"] <= s <= p["t1"] - 3 * INTERVAL - 5]
        p["outages"] = len(due)
        p["detected"] = sum(1 for l, s in due
                            if any(h == l and c == "http" and s <= t <= s + ready["down_secs"] + 5
                                   for h, c, t in opened))
    print_report(phases, false_total)
    shutil.rmtree(work, ignore_errors=True)
    return 1 if false_total else 0


def print_report(phases, false_total):
    ms = lambda d: "%.0f / %.0f ms" % (d["p50"], d["p99"])
    print("\nConsoles beside verdicts (`python3 bench/consoles.py`, release build): the engine watches "
          "%d simulated servers (ping, SSH, HTTP, SMTP every %d s; one in %d flaps HTTP 60 s down / 60 s up), "
          "%d s per phase, after %d s of warm-up.\n" % (SERVERS, INTERVAL, FLAP_EVERY, PHASE, WARMUP))
    print("| phase | false incidents | flapping outages opened | probe lag p99 (worst) | engine CPU | RSS peak / end | threads | /health p50 / p99 | snapshots re-sent | consoles dropped | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for p in phases:
        h, l = p["health"], p["load"]
        if l.get("mode") == "consoles":
            load = "%d/%d connected, first snapshot p50/p99 %.0f/%.0f ms%s" % (
                l["connected"], l["consoles"], l["first_snapshot_ms"]["p50"], l["first_snapshot_ms"]["p99"],
                "; closed: " + ", ".join(l["close_reasons"]) if l["close_reasons"] else "")
        elif l.get("mode") == "readers":
            load = "%d answers (%.1f MiB), %d busy 503, %d failed%s; p50/p99 %.0f/%.0f ms" % (
                l["answered"], l["bytes"] / 2**20, l["busy_503"], l["failed"],
                " (%s)" % ", ".join("%s: %d" % kv for kv in l["failures"].items()) if l["failures"] else "",
                l["answer_ms"]["p50"], l["answer_ms"]["p99"])
        else:
            load = "none"
        alarms = ", ".join(h["alarms_seen"]) or "no alarm"
        print("| %s | %d | %d of %d | %d ms (%s) | %.0f %% | %.0f / %.0f MiB | %d | %s | %d | %d | %s |" % (
            p["name"], len(p["false"]), p["detected"], p["outages"], h["probe_lag_p99_ms_max"], alarms,
            p["cpu_pct"], p["rss_peak_mib"], p["rss_end_mib"], p["threads"], ms(h["health_ms"]),
            p["resent"], p["dropped"], load))
    idle = next((p for p in phases if p["name"] == "idle"), None)
    twenty = next((p for p in phases if p["name"] == "20 consoles connected"), None)
    if idle and twenty:
        each = (twenty["cpu_pct"] - idle["cpu_pct"]) / 20
        print("\n20 consoles connected at once (each fed the picture and its deltas): engine CPU %.1f %% beside "
              "%.1f %% idle: %s." % (twenty["cpu_pct"], idle["cpu_pct"],
                                    "%.2f %% of one core per console" % each if each > 0 else
                                    "no CPU per console measurable above the idle engine's variation"))
    for p in phases:
        for host, check, t in p["false"][:10]:
            print("\nfalse incident in %s: %s %s at %s" % (p["name"], host, check, time.strftime("%H:%M:%S", time.gmtime(t))))
    if false_total:
        print("\n**%d false incidents**" % false_total)


if __name__ == "__main__":
    sys.exit(main())
