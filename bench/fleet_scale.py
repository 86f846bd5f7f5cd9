#!/usr/bin/env python3
"""The whole engine at fleet scale, beside Icinga 2 with monitoring-plugins on the same simulated
fleet, in one run (issue 16). Every server has ping, SSH and three services (HTTP, SMTP, POP3)
at a 60 s interval, served on loopback by the release `scale_sim` with real greetings.

For each size in BENCH_SCALE_SIZES (default 2,000 and 10,000 servers):
- the fleet file: `anshin validate` time and peak memory (median of 3);
- the engine: start → every check scheduled (/health), then after BENCH_SCALE_WARMUP s, over the
  measured window: CPU (% of one core), RSS (peak), threads, the checks' start lateness (the
  engine's own p50/p99 of actual minus scheduled start, worst seen), attempts decided against
  those due, slots skipped, TCP connections the simulator answered;
- at the largest size, 1 server in BENCH_FAIL_EVERY (100: 1 %) has its HTTP go down for good
  during the window, with a real SMTP server (aiosmtpd) and a real console in chromium (ui/tests/
  tile_watch.mjs) attached: hard-state decision (the incident's opened_at) → mail accepted,
  and → that server's tile changed in the browser (median, p99); first paint of every tile and
  the page's memory.
Then Icinga 2 (Debian's icinga2 + monitoring-plugins, configured here from the same fleet:
check_ping -p 1, check_ssh/http/smtp/pop, 3 attempts, retry interval = check interval,
notifications, perfdata, event handlers and flapping off) on BENCH_ICINGA_SERVERS servers: CPU of
its process tree including the forked plugins (own and reaped children's times), RSS of the tree,
TCP checks answered by the simulator against those due.

Prints a Markdown section on stdout (bench/run.sh appends it to bench/results.md). Exits 1 when a
check was lost (a slot skipped, or fewer attempts decided than due) or the engine missed an
outage — never because a figure is slow. Loopback only; everything started is stopped by PID
(process group).

Usage: /usr/bin/python3 bench/fleet_scale.py   (as root; env: CARGO_TARGET_DIR, ANSHIN_BIN,
BENCH_SCALE_SIZES="2000:60,10000:180" (servers:measured seconds), BENCH_SCALE_WARMUP=45,
BENCH_ICINGA_SERVERS=2000, BENCH_ICINGA_SECS=60, BENCH_FAIL_EVERY=100)
"""
import email
import email.policy
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import TOKEN, free_port, health, parse_time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/anshin-target")
ANSHIN = os.environ.get("ANSHIN_BIN") or os.path.join(TARGET, "release", "anshin")
SIM = os.path.join(TARGET, "release", "examples", "scale_sim")
SIZES = [tuple(int(x) for x in s.split(":")) for s in
         os.environ.get("BENCH_SCALE_SIZES", "2000:60,10000:180").split(",")]
WARMUP = int(os.environ.get("BENCH_SCALE_WARMUP", "45"))
ICINGA_SERVERS = int(os.environ.get("BENCH_ICINGA_SERVERS", "2000"))
ICINGA_SECS = int(os.environ.get("BENCH_ICINGA_SECS", "60"))
FAIL_EVERY = int(os.environ.get("BENCH_FAIL_EVERY", "100"))
INTERVAL = 60
SERVICES = "http,smtp,pop"
CHECKS_PER_SERVER = 5  # ping, ssh, http, smtp, pop
TCP_PER_SERVER = 4
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
LABEL = re.compile(r"s\d{5}")


def more_files():
    """A listener per server and service (40,000 at 10,000 servers): the open-file limit raised
    to what the kernel allows a process (root may raise the hard limit too), in a session of its
    own (stopped as a group)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        with open("/proc/sys/fs/nr_open") as fh:
            most = int(fh.read())
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(most, 262144), min(most, 262144)))
    except (OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.setsid()



def group_pids(pgid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as fh:
                    f = fh.read().rsplit(")", 1)[1].split()
                if int(f[2]) == pgid:
                    out.append(int(d))
            except OSError:
                pass
    return out


def tree_usage(pgid):
    """(CPU seconds, RSS MiB, threads) of a process group: each process's own and reaped
    children's CPU times (a plugin that ended is counted in its parent), resident memory."""
    cpu, rss, threads = 0.0, 0, 0
    for pid in group_pids(pgid):
        try:
            with open("/proc/%d/stat" % pid) as fh:
                f = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu += sum(int(x) for x in f[11:15]) / CLK
        threads += int(f[17])
        rss += int(f[21]) * PAGE
    return cpu, rss / 1048576, threads


def stop(proc, grace=10):
    """SIGTERM to the process group, SIGKILL after `grace` seconds."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except (OSError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait(timeout=10)


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


class Simulator:
    """`scale_sim` in sessions of their own, as many processes as the open-file limit asks (each
    serves a slice of the servers: 4 listeners a server); reads their per-second counts of
    connections served."""

    def __init__(self, work, servers, fail_every=0, smtp=None, fail_after=None, services=SERVICES,
                 interval=INTERVAL):
        self.fleet = os.path.join(work, "fleet-%d.toml" % servers)
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        per_server = 1 + len(services.split(","))
        slices = max(1, -(-servers * per_server // max(1000, limit - 2000)))
        self.procs, self.counts = [], [0] * slices
        for k in range(slices):
            args = [SIM, self.fleet if k == 0 else "/dev/null", str(servers), services, str(interval),
                    str(fail_every), smtp or "-"]
            if fail_after is not None:
                args.append(str(fail_after))
            env = dict(os.environ, SCALE_SIM_SLICE="%d/%d" % (k, slices))
            self.procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env,
                                               preexec_fn=more_files))
        readies = [json.loads(p.stdout.readline() or "{}") for p in self.procs]
        self.ready = readies[0]
        if not all(r.get("ready") for r in readies):
            self.stop()
            sys.exit("bench/fleet_scale.py: the simulator did not start")
        self.t_ready = time.time()
        for k, p in enumerate(self.procs):
            threading.Thread(target=self._read, args=(k, p), daemon=True).start()

    def _read(self, k, proc):
        for line in proc.stdout:
            try:
                self.counts[k] = json.loads(line)["served"]
            except (ValueError, KeyError):
                pass

    @property
    def served(self):
        return sum(self.counts)

    def stop(self):
        for p in self.procs:
            stop(p)


class MailSink:
    """A real SMTP server (aiosmtpd) that stamps each message when its DATA is accepted."""

    def __init__(self):
        from aiosmtpd.controller import Controller
        self.received = []  # (epoch seconds, labels named in the subject or body)
        self.messages = []  # (epoch seconds, recipients, subject)
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                at = time.time()
                msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
                body = msg.get_body(preferencelist=("plain",))
                text = str(msg["Subject"] or "") + (body.get_content() if body else "")
                sink.received.append((at, set(LABEL.findall(text))))
                sink.messages.append((at, list(envelope.rcpt_tos), str(msg["Subject"] or "")))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self):
        self.controller.stop()


class TileWatch:
    """ui/tests/tile_watch.mjs: a console in chromium, its tile changes as they happen."""

    def __init__(self, url, tiles, secs):
        self.proc = subprocess.Popen(["node", "tests/tile_watch.mjs", url, str(tiles), str(secs)],
                                     cwd=os.path.join(ROOT, "ui"), stdout=subprocess.PIPE, text=True,
                                     stdin=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                pass

    def finish(self):
        """Closes its input: it prints the page's memory and ends."""
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            stop(self.proc)
        time.sleep(0.5)

    def find(self, key):
        return next((l for l in self.lines if key in l), None)

    def changes(self):
        return {l["label"]: l["at"] / 1000 for l in self.lines if "label" in l}



def validate(fleet):
    """`anshin validate` on the fleet file: (seconds, peak RSS MiB), median of 3."""
    runs = []
    for _ in range(3):
        t0 = time.monotonic()
        p = subprocess.Popen([ANSHIN, "validate", fleet], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(p.pid, 0)
        runs.append((time.monotonic() - t0, usage.ru_maxrss / 1024))
        if status != 0:
            sys.exit("bench/fleet_scale.py: anshin validate refused the generated fleet: %s" % p.stderr.read())
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)



def engine_run(work, servers, secs, latency):
    """One engine over a simulated fleet of `servers`; with `latency`, 1 in FAIL_EVERY fails."""
    sink = watch = eng = sim = None
    r = {"servers": servers, "secs": secs, "checks_due_per_min": servers * CHECKS_PER_SERVER}
    db = os.path.join(work, "log-%d.db" % servers)
    tokens = os.path.join(work, "tokens")
    with open(tokens, "w") as fh:
        fh.write("viewer %s wall\n" % TOKEN)
    os.chmod(tokens, 0o600)
    try:
        if latency:
            sink = MailSink()
        # The failing share goes down as the measured window begins (counted from the simulator's
        # start: its fleet checked, the engine loaded, the warm-up), so its three attempts a minute
        # apart and the hard-state decisions fall inside the window.
        fail_after = None
        if latency:
            fail_after = WARMUP + 20
        sim = Simulator(work, servers, FAIL_EVERY if latency else 0,
                        "smtp://127.0.0.1:%d" % sink.port if sink else None, fail_after)
        r["validate_s"], r["validate_mib"] = validate(sim.fleet)
        addr = "127.0.0.1:%d" % free_port()
        log = open(os.path.join(work, "engine-%d.log" % servers), "w")
        t0 = time.monotonic()
        eng = subprocess.Popen([ANSHIN, "serve", sim.fleet, "--db", db, "--listen", addr, "--tokens", tokens],
                               stdout=subprocess.DEVNULL, stderr=log, preexec_fn=more_files)
        for _ in range(1200):
            try:
                if health(addr)["checks"] >= servers * CHECKS_PER_SERVER:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        r["load_s"] = time.monotonic() - t0
        if latency:
            total = WARMUP + secs + 240
            watch = TileWatch("http://%s/?token=%s&view=wall" % (addr, TOKEN), servers, total)
        time.sleep(WARMUP)
        h0, cpu0, served0, t_start = health(addr), tree_usage(eng.pid)[0], sim.served, time.monotonic()
        rss, threads, lag50, lag99 = [], [], [], []
        while time.monotonic() - t_start < secs:
            time.sleep(1)
            _, m, n = tree_usage(eng.pid)
            rss.append(m)
            threads.append(n)
            if len(rss) % 5 == 0:
                h = health(addr)
                lag50.append(h["probe_lag_p50_ms"] or 0)
                lag99.append(h["probe_lag_p99_ms"] or 0)
        elapsed = time.monotonic() - t_start
        h1, cpu1, served1 = health(addr), tree_usage(eng.pid)[0], sim.served
        r.update(cpu_pct=100 * (cpu1 - cpu0) / elapsed, rss_peak=max(rss), rss_end=rss[-1], threads=max(threads),
                 lag_p50=max(lag50 or [0]), lag_p99=max(lag99 or [0]),
                 decided=h1["attempts_decided"] - h0["attempts_decided"],
                 due=servers * CHECKS_PER_SERVER * elapsed / INTERVAL,
                 skipped=h1["slots_skipped"] - h0["slots_skipped"],
                 served=served1 - served0,
                 tcp_due=servers * TCP_PER_SERVER * elapsed / INTERVAL,
                 cpu_ms_per_check=1000 * (cpu1 - cpu0) / max(1, h1["attempts_decided"] - h0["attempts_decided"]),
                 alarms=[a["code"] for a in h1["alarms"]])
        if latency:
            failing = set(sim.ready["flapping"])
            # Three failed attempts a minute apart after the outage began, and the mail after.
            deadline = sim.t_ready + fail_after + 4 * INTERVAL + 30
            opened, false = {}, []
            while time.time() < deadline:
                out = subprocess.run([ANSHIN, "incidents", "--db", db, "--json", "--limit", "100000"],
                                     capture_output=True, text=True).stdout
                opened, false = {}, []
                for row in (json.loads(l) for l in out.splitlines() if l.strip()):
                    if row["check"] == "http" and row["host"] in failing:
                        opened.setdefault(row["host"], parse_time(row["opened_at"]))
                    else:
                        false.append("%s %s" % (row["host"], row["check"]))
                if len(opened) == len(failing):
                    break
                time.sleep(5)
            time.sleep(15)  # the last mails and deltas
            mailed = {}
            for at, labels in sink.received:
                for l in labels & set(opened):
                    mailed.setdefault(l, at)
            tiles = watch.changes()
            r.update(failing=len(failing), opened=len(opened),
                     to_mail=[1000 * (mailed[h] - t) for h, t in opened.items() if h in mailed],
                     to_tile=[1000 * (tiles[h] - t) for h, t in opened.items() if h in tiles],
                     false_incidents=false)
            drawn = watch.find("all_tiles_drawn_ms")
            r["first_paint_ms"] = drawn["all_tiles_drawn_ms"] if drawn else None
        return r
    finally:
        if watch:
            watch.finish()
            mem = watch.find("js_heap_used_mib")
            r["page_heap_mib"] = mem["js_heap_used_mib"] if mem else None
        stop(eng)
        if sim:
            sim.stop()
        if sink:
            sink.close()


ICINGA_HEAD = """const PluginDir = "/usr/lib/nagios/plugins"
const NodeName = "anshin-bench"
const ZoneName = "anshin-bench"
include <itl>
include <plugins>
object CheckerComponent "checker" { }
object IcingaApplication "app" {
  enable_notifications = false
  enable_perfdata = false
  enable_event_handlers = false
  enable_flapping = false
}
template Host "sim" {
  check_command = "ping4"
  vars.ping_packets = 1
  max_check_attempts = 3
  check_interval = %(i)ds
  retry_interval = %(i)ds
  enable_notifications = false
  enable_perfdata = false
}
template Service "sim" {
  max_check_attempts = 3
  check_interval = %(i)ds
  retry_interval = %(i)ds
  enable_notifications = false
  enable_perfdata = false
}
apply Service "ssh" { import "sim"; check_command = "ssh"; vars.ssh_port = host.vars.ssh_port; assign where true }
apply Service "http" { import "sim"; check_command = "http"; vars.http_port = host.vars.http_port; assign where true }
apply Service "smtp" { import "sim"; check_command = "smtp"; vars.smtp_port = host.vars.smtp_port; assign where true }
apply Service "pop" { import "sim"; check_command = "pop"; vars.pop_port = host.vars.pop_port; assign where true }
"""


def icinga_config(fleet_text):
    """Icinga 2 objects for the same servers and ports as the engine's fleet file."""
    out = [ICINGA_HEAD % {"i": INTERVAL}]
    for block in fleet_text.split("[[server]]")[1:]:
        label = re.search(r'label = "([^"]+)"', block).group(1)
        ip = re.search(r'ip = "([^"]+)"', block).group(1)
        ports = dict(re.findall(r"(\w+) = (\d+)", re.search(r"ports = \{([^}]*)\}", block).group(1)))
        out.append('object Host "%s" { import "sim"; address = "%s"; vars.ssh_port = %s; vars.http_port = %s; '
                   'vars.smtp_port = %s; vars.pop_port = %s }' % (label, ip, ports["ssh"], ports["http"],
                                                               ports["smtp"], ports["pop"]))
    return "\n".join(out) + "\n"


def icinga_run(work, servers, secs):
    r = {"servers": servers, "secs": secs}
    base = os.path.join(work, "icinga")
    dirs = {d: os.path.join(base, d) for d in ("data", "log", "cache", "spool", "run")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    sim = ic = None
    try:
        sim = Simulator(work, servers)
        conf = os.path.join(base, "icinga2.conf")
        with open(sim.fleet) as fh, open(conf, "w") as out:
            out.write(icinga_config(fh.read()))
        defines = ["RunAsUser=root", "RunAsGroup=root", "DataDir=" + dirs["data"], "LogDir=" + dirs["log"],
                   "CacheDir=" + dirs["cache"], "SpoolDir=" + dirs["spool"], "InitRunDir=" + dirs["run"]]
        args = ["icinga2", "daemon", "-c", conf]
        for d in defines:
            args += ["-D", "Configuration." + d]
        version = subprocess.run(["icinga2", "--version"], capture_output=True, text=True).stdout
        r["version"] = "Icinga 2 " + (re.search(r"version: (\S+?)\)", version) or re.search(r"(.*)", version)).group(1)
        log = open(os.path.join(base, "icinga2.out"), "w")
        t0 = time.monotonic()
        ic = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, preexec_fn=more_files)
        # Started: its checker running (the log says so) — then the same warm-up as the engine.
        for _ in range(1200):
            with open(os.path.join(base, "icinga2.out")) as fh:
                if "'checker' started" in fh.read():
                    break
            if ic.poll() is not None:
                sys.exit("bench/fleet_scale.py: icinga2 exited (see %s)" % log.name)
            time.sleep(0.05)
        r["load_s"] = time.monotonic() - t0
        time.sleep(WARMUP)
        cpu0, served0, t_start = tree_usage(ic.pid)[0], sim.served, time.monotonic()
        rss = []
        while time.monotonic() - t_start < secs:
            time.sleep(1)
            rss.append(tree_usage(ic.pid)[1])
        elapsed = time.monotonic() - t_start
        cpu1, served1 = tree_usage(ic.pid)[0], sim.served
        served = served1 - served0
        r.update(cpu_pct=100 * (cpu1 - cpu0) / elapsed, rss_peak=max(rss), rss_median=statistics.median(rss),
                 served=served, tcp_due=servers * TCP_PER_SERVER * elapsed / INTERVAL,
                 # Pings are not seen by the simulator: counted at the rate of the TCP checks
                 # (one host check beside four service checks, on the same schedule).
                 cpu_ms_per_check=1000 * (cpu1 - cpu0) / max(1, served * CHECKS_PER_SERVER / TCP_PER_SERVER))
        return r
    finally:
        stop(ic, grace=5)
        if sim:
            sim.stop()


def fmt_ms(values):
    if not values:
        return "—"
    return "%.0f / %.0f ms" % (statistics.median(values), pct(values, 99))


def report(runs, icinga):
    largest = runs[-1]
    print()
    print("## The whole engine at fleet scale, beside Icinga 2 (`/usr/bin/python3 bench/fleet_scale.py`)")
    print()
    print("Release build; each server has ping, SSH, HTTP, SMTP and POP3 checks every %d s on loopback "
          "(`scale_sim`, real greetings); %d s of warm-up, then the window below. CPU is %% of one core "
          "(the process and, for Icinga, every plugin it forked); lateness is the engine's own measure of "
          "each attempt's start after its slot (histogram bucket bounds, the worst seen). At %d servers "
          "1 in %d servers' HTTP goes down for good inside the window, with a real SMTP server and a wall "
          "console in chromium attached." % (INTERVAL, WARMUP, largest["servers"], FAIL_EVERY))
    print()
    print("| servers × 5 checks | window | validate fleet (s, peak MiB) | engine start → all scheduled | CPU % | CPU per check | RSS peak / end | threads | lateness p50 / p99 | attempts decided / due | slots skipped | TCP answered / due |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        print("| %d | %d s | %.2f s, %.0f MiB | %.2f s | %.1f %% | %.3f ms | %.0f / %.0f MiB | %d | ≤ %d / ≤ %d ms | %d / %.0f | %d | %d / %.0f |" % (
            r["servers"], r["secs"], r["validate_s"], r["validate_mib"], r["load_s"], r["cpu_pct"], r["cpu_ms_per_check"],
            r["rss_peak"], r["rss_end"], r["threads"], r["lag_p50"], r["lag_p99"], r["decided"], r["due"],
            r["skipped"], r["served"], r["tcp_due"]))
    if icinga:
        ic = icinga
        kept = ic["served"] >= 0.95 * ic["tcp_due"]
        print()
        print("| reference | servers × 5 checks | window | CPU % (tree) | CPU per check | RSS peak / median (tree) | TCP answered / due | kept up |")
        print("|---|---|---|---|---|---|---|---|")
        print("| %s + monitoring-plugins | %d | %d s | %.1f %% | %.3f ms | %.0f / %.0f MiB | %d / %.0f | %s |" % (
            ic["version"], ic["servers"], ic["secs"], ic["cpu_pct"], ic["cpu_ms_per_check"], ic["rss_peak"],
            ic["rss_median"], ic["served"], ic["tcp_due"], "yes" if kept else "no"))
        same = next((r for r in runs if r["servers"] == ic["servers"]), None)
        if same:
            print()
            print("At %d servers the engine uses %.3f× Icinga 2's CPU per check and %.2f× its memory (RSS peak)." % (
                ic["servers"], same["cpu_ms_per_check"] / ic["cpu_ms_per_check"], same["rss_peak"] / ic["rss_peak"]))
    if "to_mail" in largest:
        print()
        print("At %d servers with %d of them failing: incidents opened %d of %d (false incidents: %d); hard-state decision → mail "
              "accepted by the SMTP server (median / p99): %s (%d mails); → the tile changed in the wall "
              "console in chromium: %s (%d tiles); first paint of all %d tiles from navigation: %s ms; "
              "page JS heap: %s MiB." % (
                  largest["servers"], largest["failing"], largest["opened"], largest["failing"],
                  len(largest["false_incidents"]), fmt_ms(largest["to_mail"]), len(largest["to_mail"]), fmt_ms(largest["to_tile"]),
                  len(largest["to_tile"]), largest["servers"], largest.get("first_paint_ms"),
                  largest.get("page_heap_mib")))


def main():
    for exe in (ANSHIN, SIM):
        if not os.access(exe, os.X_OK):
            sys.exit("bench/fleet_scale.py: %s is missing (bench/run.sh builds it)" % exe)
    work = tempfile.mkdtemp(prefix="anshin-bench-scale-")
    failed = []
    try:
        runs = []
        for i, (n, secs) in enumerate(SIZES):
            try:
                runs.append(engine_run(work, n, secs, latency=(i == len(SIZES) - 1)))
            except (SystemExit, Exception) as e:  # the others are still reported
                failed.append("%d servers: %s" % (n, e))
        icinga = icinga_run(work, ICINGA_SERVERS, ICINGA_SECS) if shutil.which("icinga2") and ICINGA_SERVERS else None
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    if runs:
        report(runs, icinga)
    for f in failed:
        print("\n**The run at %s failed.**" % f)
        print("bench: the run at %s failed" % f, file=sys.stderr)
    lost = [r for r in runs if r["skipped"] or r["decided"] < 0.99 * r["due"]]
    missed = [r for r in runs if "opened" in r and (r["opened"] < r["failing"] or r["false_incidents"])]
    for r in lost:
        print("bench: %d servers: checks lost (%d slots skipped, %d of %.0f attempts decided)" % (
            r["servers"], r["skipped"], r["decided"], r["due"]), file=sys.stderr)
    for r in missed:
        print("bench: %d servers: %d of %d outages opened no incident; false incidents: %s" % (
            r["servers"], r["failing"] - r["opened"], r["failing"], r["false_incidents"] or "none"), file=sys.stderr)
    return 1 if lost or missed or failed or not runs else 0


if __name__ == "__main__":
    sys.exit(main())
