#!/usr/bin/python3
"""A full backup of a 1 GiB tree over loopback SSH beside the same archive taken by hand, in the
same run (issue 14). One loopback fleet host (tests/fleet: a real OpenSSH sshd on NET) gets a
tree in its /srv/data — many small files, some medium, a few large; part compressible text, part
random bytes; made from a fixed seed, so runs compare — and each of these runs RUNS times,
alternating a b c, after one warm-up of each:

  (a) `anshin backup FLEET --db DB --host web01 --full` (release build): GNU tar over the
      russh session, zstd -3 on one thread on this machine, into the backup store;
  (b) by hand: `ssh -i KEY -p PORT anshin@HOST 'tar -C / -cpf - --listed-incremental=SNAR
      ./srv/data' | zstd -q -T1 -3 -o OUT.tar.zst` with the same key;
  (c) the same without zstd (`ssh … > /dev/null`): the transport alone.

Measured per run: wall time (→ MiB/s of the tree's bytes), the archive's size, CPU seconds of
the client side (anshin's own process, or OpenSSH's client), of zstd, and of the rest of the
machine (its busy CPU from /proc/stat minus those two: the server side, sshd and tar, with the
idle fleet and this script), and the peak RSS of the anshin process (VmHWM, sampled every
50 ms) beside what wait4 reports (the larger of anshin and its zstd, as `/usr/bin/time -v`).

Prints a Markdown section on stdout (bench/run.sh appends it to bench/results.md), progress on
stderr. Exits 1 when a backup (or the reference) fails or the archive does not hold every file of
the tree; never because a figure is slow. Holds /tmp/anshin-fleet.lock while its fleet is up
(as the tests do with flock); loopback only; everything it starts is stopped by PID and the
tree, fleet and outputs are deleted.

Usage (root, Debian's python): /usr/bin/python3 bench/backup.py
  env: CARGO_TARGET_DIR or ANSHIN_BIN; BENCH_BACKUP_RUNS (3); BENCH_BACKUP_MIB (1024: a smaller
  tree for a quick try); BENCH_BACKUP_SEED (14)
"""
import fcntl
import json
import math
import os
import platform
import pwd
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "fleet"))

from fleet import Fleet  # noqa: E402

TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/anshin-target")
ANSHIN = os.environ.get("ANSHIN_BIN") or os.path.join(TARGET, "release", "anshin")
NET = "127.78.87"
HOST = "web01"
RUNS = int(os.environ.get("BENCH_BACKUP_RUNS", "3"))
TREE_BYTES = int(os.environ.get("BENCH_BACKUP_MIB", "1024")) << 20
SEED = int(os.environ.get("BENCH_BACKUP_SEED", "14"))
LOCK = "/tmp/anshin-fleet.lock"
CLK = os.sysconf("SC_CLK_TCK")
MIB = 1 << 20
SNAR = "/var/backups/bench-reference.snar"
REMOTE_TAR = "rm -f %s && tar -C / -cpf - --listed-incremental=%s ./srv/data" % (SNAR, SNAR)


def say(*a):
    print("[bench/backup]", *a, file=sys.stderr, flush=True)


class BenchFailed(RuntimeError):
    pass


# ---------------------------------------------------------------- the tree

class Text:
    """Compressible text from the seed: words with Zipf-like frequencies, lines of about a dozen
    words (zstd -3 leaves about 30 % of it)."""

    def __init__(self, rng):
        letters = "etaoinshrdlcumwfgypbvkjxqz"
        freq = [12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4, 2.2,
                2.0, 2.0, 1.9, 1.5, 1.0, 0.8, 0.15, 0.15, 0.1, 0.07]
        words = sorted({"".join(rng.choices(letters, weights=freq, k=rng.randint(1, 9)))
                        for _ in range(6000)})
        rng.shuffle(words)
        # A bag where word i appears about 3000/(i+1) times: a uniform pick is a Zipf pick.
        self.bag = []
        for i, w in enumerate(words):
            self.bag += [w + " "] * max(1, 3000 // (i + 1))
        self.bag += ["\n"] * (len(self.bag) // 11)
        self.rng = rng

    def bytes(self, n):
        out = bytearray()
        while len(out) < n:
            out += "".join(self.rng.choices(self.bag, k=max(64, (n - len(out)) // 5))).encode()
        return bytes(out[:n])


def plan_tree(rng, total):
    """[(relative path, size, "text"|"random", "small"|"medium"|"large")] summing to exactly `total` bytes: about 17 % in
    small files (1–64 KiB, a web site's pages, scripts and images), 25 % in medium ones
    (256 KiB–8 MiB: logs, PDFs, photos), the rest in four large files (a database dump, a log,
    an archive, a video)."""
    files = []

    def fill(budget, lo, hi, name, text_share, cls):
        used = 0
        while used < budget:
            size = min(int(math.exp(rng.uniform(math.log(lo), math.log(hi)))), budget - used)
            i = len(files)
            kind = "text" if rng.random() < text_share else "random"
            ext = {"text": ("html", "php", "css", "js", "txt"), "random": ("jpg", "png", "gz")}[kind]
            files.append((name(i) + "." + rng.choice(ext), size, kind, cls))
            used += size
        return used

    small = fill(int(total * 0.17), 1024, 64 << 10,
                 lambda i: "site%02d/dir%03d/f%06d" % (i % 16, (i // 16) % 40, i), 0.6, "small")
    medium = fill(int(total * 0.25), 256 << 10, 8 << 20,
                  lambda i: "site%02d/media/m%06d" % (i % 16, i), 0.5, "medium")
    rest = total - small - medium
    large = [("db/dump.sql", 0.30, "text"), ("backups/site-archive.tar.gz", 0.30, "random"),
             ("logs/access.log", 0.20, "text"), ("media/video.mp4", 0.20, "random")]
    for k, (path, share, kind) in enumerate(large):
        last = k == len(large) - 1
        files.append((path, total - sum(f[1] for f in files) if last else int(rest * share), kind, "large"))
    return files


def write_tree(root, total, seed):
    """Writes the planned tree under `root`, owned by the SSH user; returns its description."""
    rng = random.Random(seed)
    text = Text(rng)
    pw = pwd.getpwnam("anshin")
    files = plan_tree(rng, total)
    made = set()
    chunk = 8 << 20
    for path, size, kind, _ in files:
        full = os.path.join(root, path)
        d = os.path.dirname(full)
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        with open(full, "wb") as fh:
            left = size
            while left:
                n = min(chunk, left)
                fh.write(text.bytes(n) if kind == "text" else rng.randbytes(n))
                left -= n
        os.chown(full, pw.pw_uid, pw.pw_gid)
    for dirpath, _, _ in os.walk(root):
        os.chmod(dirpath, 0o755)
        os.chown(dirpath, pw.pw_uid, pw.pw_gid)
    os.sync()
    tree = {"files": len(files), "bytes": sum(f[1] for f in files),
            "dirs": sum(len(ds) for _, ds, _ in os.walk(root)),
            "text": sum(f[1] for f in files if f[2] == "text")}
    for cls in ("small", "medium", "large"):
        tree[cls] = [f[1] for f in files if f[3] == cls]
    return tree


# ---------------------------------------------------------------- measuring

def proc_cpu(pid):
    """CPU seconds of a process so far (its own threads)."""
    with open("/proc/%d/stat" % pid) as fh:
        f = fh.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / CLK


def machine_busy():
    """Busy CPU seconds of the whole machine so far (all cores)."""
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / CLK


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as fh:
            return fh.read().split()
    except OSError:
        return []


def rusage_cpu(ru):
    return ru.ru_utime + ru.ru_stime


def sessions_gone(sshd):
    """Waits until the sshd listener reaped every connection: a run ends before the next one."""
    deadline = time.monotonic() + 15
    while children_of(sshd) and time.monotonic() < deadline:
        time.sleep(0.05)
    if children_of(sshd):
        raise BenchFailed("an SSH connection of the benchmark did not end within 15 s")


class Sampler(threading.Thread):
    """The anshin process's peak RSS (VmHWM) and own CPU, read every 50 ms until it exits."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.hwm_kib, self.cpu = pid, 0, 0.0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                with open("/proc/%d/status" % self.pid) as fh:
                    for line in fh:
                        if line.startswith("VmHWM:"):
                            self.hwm_kib = max(self.hwm_kib, int(line.split()[1]))
                self.cpu = proc_cpu(self.pid)
            except (OSError, ValueError, IndexError):
                pass  # exited (a zombie has no VmHWM line) or already reaped
            time.sleep(0.05)


def wait(pid):
    _, status, ru = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), ru


def run_anshin(fleet_path, work, sshd):
    store = os.path.join(work, "store")
    db = os.path.join(work, "bench.db")
    shutil.rmtree(store, ignore_errors=True)
    for p in (db, db + "-wal", db + "-shm"):
        if os.path.exists(p):
            os.remove(p)
    out_path = os.path.join(work, "anshin.out")
    busy0 = machine_busy()
    with open(out_path, "w+") as out:
        t0 = time.monotonic()
        p = subprocess.Popen([ANSHIN, "backup", fleet_path, "--db", db, "--host", HOST, "--full"],
                             stdout=out, stderr=subprocess.STDOUT)
        s = Sampler(p.pid)
        s.start()
        rc, ru = wait(p.pid)
        wall = time.monotonic() - t0
        p.returncode = rc
        s.done.set()
        s.join()
        out.seek(0)
        said = out.read().strip()
    busy = machine_busy() - busy0
    sessions_gone(sshd)
    if rc != 0 or "(full) ok" not in said:
        raise BenchFailed("anshin backup failed (exit %d): %s" % (rc, said))
    archives = [os.path.join(dp, n) for dp, _, ns in os.walk(store) for n in ns if n.endswith("-full.tar.zst")]
    if len(archives) != 1:
        raise BenchFailed("expected one full archive in the store, found %s" % archives)
    listing = subprocess.run([ANSHIN, "backups", "--db", db, "--host", HOST, "--json"],
                             capture_output=True, text=True, timeout=60)
    runs = [json.loads(line) for line in listing.stdout.splitlines() if line.strip()]
    total = rusage_cpu(ru)
    return {
        "wall": wall, "archive": os.path.getsize(archives[0]), "said": said,
        "files": runs[0]["files"] if runs else None, "client": s.cpu, "zstd": max(0.0, total - s.cpu),
        "server": busy - total, "busy": busy,
        "rss": s.hwm_kib / 1024, "rss_wait4": ru.ru_maxrss / 1024,
    }


def run_by_hand(f, work, sshd, compress):
    out = os.path.join(work, "reference.tar.zst")
    if os.path.exists(out):
        os.remove(out)
    ssh = f.ssh_argv(HOST, REMOTE_TAR)
    busy0 = machine_busy()
    t0 = time.monotonic()
    if compress:
        r, w = os.pipe()
        a = subprocess.Popen(ssh, stdin=subprocess.DEVNULL, stdout=w)
        b = subprocess.Popen(["zstd", "-q", "-T1", "-3", "-o", out], stdin=r)
        os.close(r)
        os.close(w)
        (rc_a, ru_a), (rc_b, ru_b) = wait(a.pid), wait(b.pid)
        a.returncode, b.returncode = rc_a, rc_b
    else:
        a = subprocess.Popen(ssh, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        rc_a, ru_a = wait(a.pid)
        a.returncode, rc_b, ru_b = rc_a, 0, None
    wall = time.monotonic() - t0
    busy = machine_busy() - busy0
    sessions_gone(sshd)
    if rc_a != 0 or rc_b != 0:
        raise BenchFailed("the reference failed: ssh/tar exit %d, zstd exit %d" % (rc_a, rc_b))
    size = os.path.getsize(out) if compress else None
    if compress:
        os.remove(out)
    return {
        "wall": wall, "archive": size, "client": rusage_cpu(ru_a),
        "zstd": rusage_cpu(ru_b) if ru_b else None,
        "server": busy - rusage_cpu(ru_a) - (rusage_cpu(ru_b) if ru_b else 0.0), "busy": busy,
        "rss": ru_a.ru_maxrss / 1024, "rss_zstd": ru_b.ru_maxrss / 1024 if ru_b else None,
    }


# ---------------------------------------------------------------- the report

def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def spread(xs, fmt):
    return "%s (%s–%s)" % (fmt % median(xs), fmt % min(xs), fmt % max(xs))


def first_line(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (r.stdout or r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def report(tree, results, f, fleet_path):
    tb = tree["bytes"]
    h = f.host(HOST)
    a, b, c = results["a"], results["b"], results["c"]

    def col(rs, key, fmt):
        xs = [r[key] for r in rs if r.get(key) is not None]
        return spread(xs, fmt) if xs else "—"

    def rate(rs):
        return spread([tb / MIB / r["wall"] for r in rs], "%.0f")

    def cpu(rs):
        parts = [col(rs, "client", "%.1f"), col(rs, "zstd", "%.1f"), col(rs, "server", "%.1f")]
        return " / ".join(p.split(" (")[0] for p in parts)

    ssh_shown = "ssh -i KEY -p %d anshin@%s '%s'" % (h.port("ssh"), h.addr,
                                                    REMOTE_TAR.replace(SNAR, "SNAR"))
    ratio_ab = [x["wall"] / y["wall"] for x, y in zip(a, b)]
    ratio_ac = [x["wall"] / y["wall"] for x, y in zip(a, c)]
    lines = []
    parts = ", ".join("%d %s (%.0f MiB)" % (len(tree[k]), what, sum(tree[k]) / MIB) for k, what in (
        ("small", "small of 1–64 KiB"), ("medium", "medium of 256 KiB–8 MiB"), ("large", "large")))
    lines.append("\n## Full backup of a %.0f MiB tree over loopback SSH\n" % (tb / MIB))
    lines.append("`/usr/bin/python3 bench/backup.py` as root (release build), %s; %d cores, %s; %s "
                 "(sshd and client), %s, %s. One host of the loopback fleet (%s, a real sshd) with "
                 "a tree of %d files in %d directories: %s; %.0f %% compressible text, %.0f %% random "
                 "bytes; seed %d; read from the page cache. %d runs of each, alternating a b c, after one "
                 "warm-up of each: median (min–max); ratios are the median of the runs' pairs."
                 % (time.strftime("%Y-%m-%d", time.gmtime()), os.cpu_count(), platform.release(),
                    first_line(["ssh", "-V"]).split(",")[0], first_line(["tar", "--version"]),
                    first_line(["zstd", "-V"]).replace("*", "").strip().split(",")[0],
                    h.addr, tree["files"], tree["dirs"], parts, 100 * tree["text"] / tb,
                    100 - 100 * tree["text"] / tb, SEED, RUNS))
    lines.append("")
    lines.append("| run | wall s | tree MiB/s | wall ÷ (b) | archive MiB | CPU s: client / zstd / rest (sshd + tar) | machine CPU busy s (of %d × wall) | peak RSS MiB |" % os.cpu_count())
    lines.append("|---|---|---|---|---|---|---|---|")
    lines.append("| (a) `anshin backup FLEET --db DB --host %s --full` | %s | %s | %s | %s | %s | %s | anshin %s; the larger of anshin and its zstd (wait4, as `time -v`): %s |" % (
        HOST, col(a, "wall", "%.1f"), rate(a), spread(ratio_ab, "%.2f"),
        spread([r["archive"] / MIB for r in a], "%.0f"), cpu(a), col(a, "busy", "%.1f"),
        col(a, "rss", "%.0f"), col(a, "rss_wait4", "%.0f")))
    lines.append("| (b) by hand: `%s \\| zstd -q -T1 -3 -o OUT.tar.zst` | %s | %s | 1 | %s | %s | %s | ssh %s, zstd %s |" % (
        ssh_shown, col(b, "wall", "%.1f"), rate(b), spread([r["archive"] / MIB for r in b], "%.0f"),
        cpu(b), col(b, "busy", "%.1f"), col(b, "rss", "%.0f"), col(b, "rss_zstd", "%.0f")))
    lines.append("| (c) the transport alone: `%s > /dev/null` | %s | %s | %s | — | %s | %s | ssh %s |" % (
        ssh_shown, col(c, "wall", "%.1f"), rate(c),
        spread([y["wall"] / x["wall"] for x, y in zip(b, c)], "%.2f"), cpu(c), col(c, "busy", "%.1f"),
        col(c, "rss", "%.0f")))
    ma, mb, mc = (median([r["wall"] for r in rs]) for rs in (a, b, c))
    za, zb = median([r["zstd"] for r in a]), median([r["zstd"] for r in b])
    lines.append("")
    lines.append(
        "Where the time goes (medians): (a) takes %.2f× the reference's time and %.2f× the bare "
        "transport's; zstd -3 on one thread is busy %.0f %% of (b)'s wall time (%.1f of %.1f s) and "
        "about %.0f %% of (a)'s (%.1f of %.1f s, anshin's CPU minus its own process's), while the "
        "transport alone (c) moves the tree at %.0f MiB/s; the server side (sshd encrypting, tar "
        "reading: the machine's busy CPU less client and zstd) uses %.1f CPU s in (a) and %.1f in "
        "(b), and anshin's own process (russh decrypting, the tar headers counted, the pipe into zstd) %.1f CPU s beside OpenSSH's "
        "client's %.1f. Server and client share this machine's %d cores, %.0f %% busy in (a) and %.0f %% "
        "in (b) (on a real NOC the server's part runs on the server)."
        % (median(ratio_ab), median(ratio_ac), 100 * zb / mb, zb, mb, 100 * za / ma, za, ma,
           tb / MIB / mc, median([r["server"] for r in a]), median([r["server"] for r in b]),
           median([r["client"] for r in a]), median([r["client"] for r in b]), os.cpu_count(),
           median([100 * r["busy"] / (os.cpu_count() * r["wall"]) for r in a]),
           median([100 * r["busy"] / (os.cpu_count() * r["wall"]) for r in b])))
    lines.append("")
    lines.append("(a) is the whole command: its eligibility check (the resource poll over SSH), the "
                 "archive, the snapshot file fetched after it and the runs recorded in the store; "
                 "its archive held %s of the tree's %d files (from the tar headers). Both clients ask "
                 "sshd for chacha20-poly1305 first. Reproduce: `make bench`, or this part alone "
                 "`CARGO_TARGET_DIR=… /usr/bin/python3 bench/backup.py` after "
                 "`cargo build --release -p anshin-cli --locked`." % (
                     "all" if all(r["files"] == tree["files"] for r in a) else "not all",
                     tree["files"]))
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def main():
    if os.geteuid() != 0:
        raise BenchFailed("run as root (the loopback fleet starts sshd and nftables rules)")
    if not os.access(ANSHIN, os.X_OK):
        raise BenchFailed("no anshin binary at %s: cargo build --release -p anshin-cli --locked" % ANSHIN)
    if shutil.which("zstd") is None:
        raise BenchFailed("zstd is missing on this machine (anshin compresses with it): apt-get install zstd")
    lock = open(LOCK, "a")
    say("waiting for %s" % LOCK)
    fcntl.flock(lock, fcntl.LOCK_EX)
    work = tempfile.mkdtemp(prefix="anshin-bench-backup-")
    f = None
    try:
        f = Fleet(os.path.join(work, "fleet"), net=NET, hosts=[HOST + ":http"], sink=False)
        f.up()
        sshd = f.procs[HOST + "/ssh"]["pid"]
        fleet_path = os.path.join(work, "fleet.toml")
        with open(fleet_path, "w") as fh:
            fh.write(fleet_text(f, work))
        data = os.path.join(f.srv(HOST), "data")
        t0 = time.monotonic()
        tree = write_tree(data, TREE_BYTES, SEED)
        say("tree: %d files, %.0f MiB, written in %.0f s" % (tree["files"], tree["bytes"] / MIB,
                                                           time.monotonic() - t0))
        results = {"a": [], "b": [], "c": []}
        steps = {
            "a": lambda: run_anshin(fleet_path, work, sshd),
            "b": lambda: run_by_hand(f, work, sshd, compress=True),
            "c": lambda: run_by_hand(f, work, sshd, compress=False),
        }
        for i in range(RUNS + 1):
            for name in "abc":
                os.sync()
                time.sleep(1)
                r = steps[name]()
                say("%s %s: %.1f s, %.0f MiB/s" % ("warm-up" if i == 0 else "run %d" % i, name,
                                                   r["wall"], tree["bytes"] / MIB / r["wall"]))
                if i > 0:
                    results[name].append(r)
        for r in results["a"]:
            if r["files"] != tree["files"]:
                raise BenchFailed("the archive counted %s files of the tree's %d" % (r["files"], tree["files"]))
        print(report(tree, results, f, fleet_path))
    finally:
        if f is not None:
            f.down()
        shutil.rmtree(work, ignore_errors=True)
        fcntl.flock(lock, fcntl.LOCK_UN)


def fleet_text(f, work):
    """The fleet's text with SSH access and a backup store in `work`; web01 backs up /srv/data."""
    text = f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2, plan="150")
    ssh = "ssh = { user = \"anshin\", key = %s, known_hosts = %s, trust_on_first_use = true }" % (
        json.dumps(f.key), json.dumps(os.path.join(work, "known_hosts")))
    store = "backup = { store = %s }" % json.dumps(os.path.join(work, "store"))
    edited = text.replace("timeout_secs = 2\n", "timeout_secs = 2\n%s\n%s\n" % (ssh, store), 1)
    edited = edited.replace('services = ["http"]', 'services = ["http"]\nbackup = { include = ["/srv/data"] }', 1)
    if edited.count("backup = ") != 2:
        raise BenchFailed("the fleet file did not take the backup settings:\n" + edited)
    return edited


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    except BenchFailed as e:
        say("FAILED: %s" % e)
        sys.exit(1)
