#!/usr/bin/python3
"""Resource polling over 2,000 persistent SSH sessions to real OpenSSH servers (issue 16).

The loopback test fleet (tests/fleet: real sshd, each in its own mount namespace with its own
/proc/loadavg) runs BENCH_SSH_HOSTS sshd; the engine's fleet names BENCH_SSH_SESSIONS servers, each
logging in to one of them (a server is its label: one session per label, so 2,000 servers make
2,000 sessions, 250 to each sshd when there are 8). Every server is polled once per 60 s check
interval (contract §2.4: load, CPU count, disk, inodes, mail queue in one shell command).

Measured over BENCH_SSH_SECS after every session is up: the engine's own CPU per poll (sessions
live in its process: no client is forked), its RSS, threads and open descriptors, polls stored
against those due. Beside it, in the same run and against the same sshd, the same command the
two ways OpenSSH offers: (a) a new `ssh` per poll (what Nagios/Icinga's check_by_ssh does: a
TCP connection, key exchange and login each time), (b) OpenSSH's own persistent sessions
(`ControlMaster`: a master process per server, each poll a mux client), BENCH_SSH_REF polls each:
client CPU per poll, and per session the master's memory.

Prints a Markdown section on stdout (bench/run.sh appends it to bench/results.md). Exits 1 when
a session did not come up, fewer polls were stored than due (less 1 %), or an incident opened
(every server is healthy); never because a figure is slow. Holds /tmp/anshin-fleet.lock while
its fleet is up; loopback only; everything it starts is stopped by PID and its files deleted.

Usage (root, Debian's python): /usr/bin/python3 bench/ssh_sessions.py
  env: CARGO_TARGET_DIR or ANSHIN_BIN; BENCH_SSH_SESSIONS (2000), BENCH_SSH_HOSTS (8),
  BENCH_SSH_SECS (90), BENCH_SSH_REF (50)
"""
import fcntl
import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "fleet"))

from benchlib import TOKEN, free_port, health  # noqa: E402
from fleet import Fleet  # noqa: E402
from fleet_scale import ANSHIN, more_files, stop, tree_usage  # noqa: E402

SESSIONS = int(os.environ.get("BENCH_SSH_SESSIONS", "2000"))
HOSTS = int(os.environ.get("BENCH_SSH_HOSTS", "8"))
SECS = int(os.environ.get("BENCH_SSH_SECS", "90"))
REF_POLLS = int(os.environ.get("BENCH_SSH_REF", "50"))
NET = "127.78.86"
INTERVAL = 60
LOCK = "/tmp/anshin-fleet.lock"
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def say(*a):
    print("[bench/ssh_sessions]", *a, file=sys.stderr, flush=True)


class BenchFailed(RuntimeError):
    pass


class ManyLogins(Fleet):
    """The test fleet with sshd taking a few thousand connections at once (its MaxStartups
    refuses unauthenticated connections beyond 200 to 400)."""

    def _host_prepare(self, h):
        super()._host_prepare(h)
        path = os.path.join(self.hostdir(h), "sshd_config")
        with open(path) as fh:
            text = fh.read()
        text, n = re.subn(r"^MaxStartups .*$", "MaxStartups 3000:30:6000", text, flags=re.M)
        if n != 1:
            raise BenchFailed("the fleet's sshd_config has no MaxStartups line to raise")
        with open(path, "w") as fh:
            fh.write(text)


def poll_command():
    """The engine's poll command, read from its source (contract §2.4)."""
    src = open(os.path.join(ROOT, "crates", "anshin-core", "src", "resource.rs"), encoding="utf-8").read()
    m = re.search(r'pub const POLL_COMMAND: &str = r#"(.*?)"#;', src, re.S)
    if not m:
        raise BenchFailed("POLL_COMMAND not found in anshin-core/src/resource.rs")
    return m.group(1)


def fleet_text(f, work):
    q = json.dumps
    lines = ["[noc]", 'brand = "Speever"', 'mail_from = "mail_alert@hosting-srv.net"',
             "interval_secs = %d" % INTERVAL, "attempts = 3", "timeout_secs = 10",
             "ssh = { user = \"anshin\", key = %s, known_hosts = %s, trust_on_first_use = true }" % (
                 q(f.key), q(os.path.join(work, "known_hosts"))), ""]
    for c in range(-(-SESSIONS // 10)):
        lines += ["[[customer]]", 'id = "p%04d"' % c, 'name = "顧客%04d"' % c, 'plan = "150"',
                  'notify = ["ops%d@example.jp"]' % c, 'phones = ["03-0000-%04d"]' % c, ""]
    for i in range(SESSIONS):
        h = f.hosts[i % len(f.hosts)]
        lines += ["[[server]]", 'label = "p%05d"' % i, 'customer = "p%04d"' % (i // 10),
                  'fqdn = "p%05d.example.jp"' % i, "ip = %s" % q(h.addr), 'os = "Debian 12"',
                  "services = []", "ports = { ssh = %d }" % h.port("ssh"), ""]
    return "\n".join(lines)


def proc_stat(pid):
    with open("/proc/%d/stat" % pid) as fh:
        f = fh.read().rsplit(")", 1)[1].split()
    return {"cpu": (int(f[11]) + int(f[12])) / CLK, "threads": int(f[17]), "rss_mib": int(f[21]) * PAGE / 1048576}


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def machine_busy():
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK


def stored(db, since, until=None):
    """(polls stored between `since` and `until` (ISO, UTC), servers polled at all)."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    try:
        q = "SELECT count(*), count(DISTINCT host) FROM samples WHERE resource = 'load' AND at >= ?"
        args = [since]
        if until:
            q += " AND at < ?"
            args.append(until)
        return con.execute(q, args).fetchone()
    except sqlite3.OperationalError:
        return (0, 0)
    finally:
        con.close()


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))


def engine_run(f, work):
    path = os.path.join(work, "fleet.toml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(fleet_text(f, work))
    db = os.path.join(work, "log.db")
    tokens = os.path.join(work, "tokens")
    with open(tokens, "w") as fh:
        fh.write("viewer %s wall\n" % TOKEN)
    os.chmod(tokens, 0o600)
    addr = "127.0.0.1:%d" % free_port()
    log = open(os.path.join(work, "engine.log"), "w")
    start = time.time()
    eng = subprocess.Popen([ANSHIN, "serve", path, "--db", db, "--listen", addr, "--tokens", tokens],
                           stdout=subprocess.DEVNULL, stderr=log, preexec_fn=more_files)
    try:
        # Every server polled once (its session up): at most two intervals.
        deadline = time.monotonic() + 2 * INTERVAL + 60
        polled = 0
        while time.monotonic() < deadline:
            time.sleep(5)
            if eng.poll() is not None:
                raise BenchFailed("the engine exited (%s); see its log" % eng.returncode)
            polled = stored(db, iso(start))[1]
            if polled >= SESSIONS:
                break
        up_s = time.time() - start
        if polled < SESSIONS:
            raise BenchFailed("%d of %d servers polled within %.0f s" % (polled, SESSIONS, up_s))
        say("all %d servers polled after %.0f s; measuring %d s" % (SESSIONS, up_s, SECS))
        s0, b0, t0 = proc_stat(eng.pid), machine_busy(), time.time()
        rss, threads, nfd = [], [], []
        while time.time() - t0 < SECS:
            time.sleep(2)
            s = proc_stat(eng.pid)
            rss.append(s["rss_mib"])
            threads.append(s["threads"])
            nfd.append(fds(eng.pid))
        t1 = time.time()
        s1, b1 = proc_stat(eng.pid), machine_busy()
        time.sleep(3)  # polls of the window's last seconds reach the store
        polls = stored(db, iso(t0), iso(t1))[0]
        out = subprocess.run([ANSHIN, "incidents", "--db", db, "--json", "--limit", "100000"],
                             capture_output=True, text=True).stdout
        incidents = ["%s %s" % (r["host"], r["check"]) for r in (json.loads(l) for l in out.splitlines() if l.strip())]
        h = health(addr)
        return {"up_s": up_s, "cpu_s": s1["cpu"] - s0["cpu"], "secs": t1 - t0, "polls": polls,
                "due": SESSIONS * (t1 - t0) / INTERVAL, "rss_peak": max(rss), "threads": max(threads),
                "fds": max(nfd), "machine_busy_s": b1 - b0, "incidents": incidents,
                "lag_p99": h.get("probe_lag_p99_ms")}
    finally:
        stop(eng)
        log.close()


def ssh_base(f, h):
    return ["ssh", "-i", f.key, "-p", str(h.port("ssh")), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]


def children_cpu():
    """CPU seconds of this script's waited-for children so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def reference_fresh(f, cmd):
    """(a) a new `ssh` per poll: client CPU seconds per poll, wall seconds per poll."""
    h = f.hosts[0]
    c0, t0 = children_cpu(), time.monotonic()
    for _ in range(REF_POLLS):
        r = subprocess.run(ssh_base(f, h) + ["anshin@%s" % h.addr, cmd], capture_output=True, text=True, timeout=60)
        if "@@anshin end" not in r.stdout:
            raise BenchFailed("the reference poll failed: %s" % r.stderr[-300:])
    return (children_cpu() - c0) / REF_POLLS, (time.monotonic() - t0) / REF_POLLS


def reference_master(f, cmd, work):
    """(b) OpenSSH's persistent sessions: REF_POLLS masters (ControlMaster), then one poll through
    each: (mux client + master CPU per poll, master RSS MiB per session, master descriptors)."""
    masters = []
    try:
        for k in range(REF_POLLS):
            h = f.hosts[k % len(f.hosts)]
            sock = os.path.join(work, "mux-%d" % k)
            p = subprocess.Popen(ssh_base(f, h) + ["-M", "-S", sock, "-N", "anshin@%s" % h.addr],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            masters.append((p, sock, h))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(os.path.exists(s) for _, s, _ in masters):
            time.sleep(0.2)
        if not all(os.path.exists(s) for _, s, _ in masters):
            raise BenchFailed("OpenSSH masters did not all come up")
        m0 = sum(proc_stat(p.pid)["cpu"] for p, _, _ in masters)
        c0 = children_cpu()
        for p, sock, h in masters:
            r = subprocess.run(["ssh", "-S", sock, "-o", "BatchMode=yes", "anshin@%s" % h.addr, cmd],
                               capture_output=True, text=True, timeout=60)
            if "@@anshin end" not in r.stdout:
                raise BenchFailed("a poll through an OpenSSH master failed: %s" % r.stderr[-300:])
        client = children_cpu() - c0
        master = sum(proc_stat(p.pid)["cpu"] for p, _, _ in masters) - m0
        rss = sum(proc_stat(p.pid)["rss_mib"] for p, _, _ in masters) / len(masters)
        nfd = sum(fds(p.pid) for p, _, _ in masters) / len(masters)
        return (client + master) / len(masters), rss, nfd
    finally:
        for p, _, _ in masters:
            stop(p)


def report(r, fresh, master, f):
    ms = 1000 * r["cpu_s"] / max(1, r["polls"])
    lines = ["", "### Resource polling over %d persistent SSH sessions" % SESSIONS, "",
             "Reproduce: `make bench` (this part: `/usr/bin/python3 bench/ssh_sessions.py`, as root). "
             "%d real OpenSSH sshd of the loopback test fleet (%s), %d servers in the engine's fleet "
             "(one session each), the poll command of contract §2.4 every %d s; release build. "
             "Measured over %.0f s after every server had been polled (%.0f s after the start)." % (
                 len(f.hosts), platform_ssh(), SESSIONS, INTERVAL, r["secs"], r["up_s"]), "",
             "| what | anshin (russh, in the engine) | OpenSSH, same run, same sshd |",
             "|---|---|---|",
             "| CPU per poll (client side) | %.2f ms (the engine's whole CPU over the window, its pings and SSH checks included, ÷ %d polls stored of %.0f due; %.1f %% of a core) | "
             "a new `ssh` per poll (check_by_ssh): %.1f ms, %.0f ms wall; through a ControlMaster: %.1f ms (mux client + master) |" % (
                 ms, r["polls"], r["due"], 100 * r["cpu_s"] / r["secs"], 1000 * fresh[0], 1000 * fresh[1], 1000 * master[0]),
             "| memory for %d sessions | RSS %.0f MiB for the whole engine (%.0f KiB a session at most) | "
             "a ControlMaster process per session: %.1f MiB RSS each (%.1f GiB for %d) |" % (
                 SESSIONS, r["rss_peak"], 1024 * r["rss_peak"] / SESSIONS, master[1], master[1] * SESSIONS / 1024, SESSIONS),
             "| descriptors | %d for the engine | %.0f per master process |" % (r["fds"], master[2]),
             "| threads | %d | a process per session |" % r["threads"],
             "", "The machine's busy CPU over the window (sshd forking a shell and its commands per poll, "
             "the engine, this script): %.1f of %d cores. Check lateness p99 at the end: %s ms. Incidents: %s." % (
                 r["machine_busy_s"] / r["secs"], os.cpu_count(), r["lag_p99"], ", ".join(r["incidents"][:5]) or "none")]
    print("\n".join(lines))


def platform_ssh():
    r = subprocess.run(["ssh", "-V"], capture_output=True, text=True)
    return (r.stderr or r.stdout).strip().split(",")[0]


def main():
    if os.geteuid() != 0:
        raise BenchFailed("run as root (the loopback fleet starts sshd and nftables rules)")
    if not os.access(ANSHIN, os.X_OK):
        raise BenchFailed("%s is missing (bench/run.sh builds it)" % ANSHIN)
    more_files_here()
    work = tempfile.mkdtemp(prefix="anshin-bench-ssh-")
    os.chmod(work, 0o755)
    lock = open(LOCK, "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    f = None
    try:
        f = ManyLogins(os.path.join(work, "fleet"), net=NET, hosts=["h%d" % (k + 1) for k in range(HOSTS)], sink=False)
        f.up(timeout=120)
        cmd = poll_command()
        r = engine_run(f, work)
        fresh = reference_fresh(f, cmd)
        master = reference_master(f, cmd, work)
        report(r, fresh, master, f)
        bad = []
        if r["polls"] < 0.99 * r["due"]:
            bad.append("%d polls stored of %.0f due" % (r["polls"], r["due"]))
        if r["incidents"]:
            bad.append("incidents on healthy servers: %s" % r["incidents"][:10])
        return bad
    finally:
        if f is not None:
            f.down()
        shutil.rmtree(work, ignore_errors=True)
        fcntl.flock(lock, fcntl.LOCK_UN)


def more_files_here():
    """2,000 sessions plus the fleet: the open-file limit of this script (and what it starts)
    raised to what the kernel allows."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        failed = main()
    except BenchFailed as e:
        failed = [str(e)]
    for b in failed:
        say("FAILED: %s" % b)
    sys.exit(1 if failed else 0)
