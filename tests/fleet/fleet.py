#!/usr/bin/python3
"""Anshin NOC loopback test fleet.

Starts real protocol servers (OpenSSH, nginx, dnsmasq, dovecot, vsftpd, mariadb,
postgresql, aiosmtpd) for several simulated hosts, each bound to its own 127.x
address, plus an SMTP sink, and offers fault injection (stop a service, silent or
wrong greeting, nftables drops).  Traffic goes only to 127.0.0.0/8.

Run with Debian's /usr/bin/python3 (stdlib + python3-aiosmtpd).  Must run as root.

    with Fleet("/tmp/f", hosts=["web01:http,https,smtp"]) as f:
        f.stop_service("web01", "http")

Like a real server, each host's SSH sessions find mariadb's socket at /run/mysqld/mysqld.sock
(root gets in by unix_socket) and postgresql's in /run/postgresql (peer authentication), may
log in as root with the fleet key, and may run anything through `sudo` without a password
(a sudoers.d rule seen only inside the host's sshd mount namespace, when sudo is installed).

See README.md in this directory.  CLI: ``fleet.py --help``.
"""

import argparse
import atexit
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SELF = os.path.abspath(__file__)
PY = "/usr/bin/python3"
PGBIN = "/usr/lib/postgresql/15/bin"
SSH_USER = "anshin"
STATE_FILE = "fleet-state.json"
HELPER_MAX_SECONDS = int(os.environ.get("FLEET_HELPER_MAX_SECONDS", "14400"))

# service -> default port
PORTS = {
    "ssh": 22, "http": 80, "https": 443, "plesk": 8443, "dns": 53,
    "imap": 143, "pop": 110, "imaps": 993, "pops": 995,
    "smtp": 25, "submission": 587, "smtps": 465,
    "ftp": 21, "mysql": 3306, "postgresql": 5432,
}
SERVICES = [s for s in PORTS if s != "ssh"]
TLS_SERVICES = {"https", "plesk", "imaps", "pops", "smtps"}
# what the "wrong" fault sends on each port
WRONG = {
    "ssh": "220 not an ssh server\r\n",
    "http": "+OK wrong\r\n", "https": "+OK wrong\r\n", "plesk": "+OK wrong\r\n",
    "imap": "220 not what you expected\r\n", "imaps": "220 not what you expected\r\n",
    "pop": "* OK not a pop3 server\r\n", "pops": "* OK not a pop3 server\r\n",
    "smtp": "+OK wrong\r\n", "submission": "+OK wrong\r\n", "smtps": "+OK wrong\r\n",
    "ftp": "* OK wrong\r\n", "mysql": "+OK wrong\r\n", "postgresql": "220 wrong\r\n",
    "dns": "garbage",
}
SINK_HOST_OCTET = 250
SINK_PORT = 2525



# `apt list --upgradable` with nothing pending (apt 2.x prints its header only).
DEFAULT_APT = "#!/bin/sh\necho 'Listing...'\n"

# What every fleet host's `df` prints until a test replaces it: 40 % of blocks and 10 % of
# inodes used on /, the POSIX format the poll reads (`df -P /`, `df -Pi /`).
DEFAULT_DF = """#!/bin/sh
case "$*" in
*-Pi*) printf 'Filesystem Inodes IUsed IFree IUse%% Mounted on\\n/dev/vda 1000000 100000 900000 10%% /\\n' ;;
*) printf 'Filesystem 1024-blocks Used Available Capacity Mounted on\\n/dev/vda 100000000 40000000 60000000 40%% /\\n' ;;
esac
"""

class FleetError(RuntimeError):
    pass


def log(*a):
    if os.environ.get("FLEET_VERBOSE"):
        print("[fleet]", *a, file=sys.stderr, flush=True)


def run(cmd, check=True, **kw):
    log("run", cmd)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=kw.pop("timeout", 120), **kw)
    if check and r.returncode != 0:
        raise FleetError("%s failed (%d): %s %s" % (cmd, r.returncode, r.stdout, r.stderr))
    return r


# ---------------------------------------------------------------- process helpers

def _stat(pid):
    """(state, ppid, pgid, starttime) or None."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            data = fh.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2]), int(rest[19])


def _alive(pid):
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def _mntns(pid):
    try:
        return os.readlink("/proc/%d/ns/mnt" % pid)
    except OSError:
        return None


def _all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _tree(rec):
    """All live processes belonging to a started process record."""
    pid = rec["pid"]
    st = _stat(pid)
    if st is None or st[3] != rec["start"]:
        root_ok = False
    else:
        root_ok = True
    pids = set()
    table = {}
    for p in _all_pids():
        s = _stat(p)
        if s:
            table[p] = s
    if root_ok:
        pids.add(pid)
        # descendants
        changed = True
        rounds = 0
        while changed and rounds < 50:
            changed = False
            rounds += 1
            for p, s in table.items():
                if p not in pids and s[1] in pids:
                    pids.add(p)
                    changed = True
    # same process group (we start every service in a new session: pgid == pid)
    for p, s in table.items():
        # a pid is not handed out while a process group with that id exists, so the
        # group members are ours unless the pid itself was reused by someone else
        if s[2] == pid and (root_ok or pid not in table):
            pids.add(p)
    ns = rec.get("mntns")
    if ns and ns != _mntns(1) and ns != _mntns(os.getpid()):
        for p in table:
            if _mntns(p) == ns:
                pids.add(p)
    return {p for p in pids if table.get(p) and table[p][0] not in ("Z", "X")}


def kill_record(rec, popen=None, root_first=True, term_wait=1.5, kill_wait=3.0):
    """TERM the main process (it shuts its children down), then TERM what is left of
    its tree, then KILL. Bounded in time (about term_wait + 1 + kill_wait at most)."""
    pids = _tree(rec)
    if not pids:
        if popen is not None:
            popen.poll()
        return
    root = rec["pid"] if rec["pid"] in pids else None
    steps = [(signal.SIGTERM, None, 1.0), (signal.SIGKILL, None, kill_wait)]
    if root and root_first:
        steps.insert(0, (signal.SIGTERM, [root], term_wait))
    for sig, targets, wait in steps:
        for p in (targets or pids):
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if popen is not None:
                popen.poll()
            pids = {p for p in pids if _alive(p)} | _tree(rec)
            if not pids:
                return
            time.sleep(0.02)
        log("kill", rec["cmd"], "after", sig, "left", sorted(pids))
    if popen is not None:
        try:
            popen.wait(1)
        except subprocess.TimeoutExpired:
            pass
    left = {p for p in pids if _alive(p)}
    if left:
        raise FleetError("processes survived SIGKILL: %s" % sorted(left))


# ---------------------------------------------------------------- socket helpers

def port_state(addr, port, timeout=0.5):
    """'open', 'refused' or 'timeout'."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except (socket.timeout, OSError):
        return "timeout"
    finally:
        s.close()


def wait_port(addr, port, want, deadline):
    while time.monotonic() < deadline:
        if port_state(addr, port) == want:
            return True
        time.sleep(0.05)
    return port_state(addr, port) == want


# ---------------------------------------------------------------- host spec

class Host:
    def __init__(self, label, services, addr, fqdn=None, ports=None, os_name="Debian 12",
                 customer="c1001"):
        self.label = label
        self.services = [s for s in services if s != "ssh"]
        for s in self.services:
            if s not in PORTS:
                raise FleetError("unknown service %r (known: %s)" % (s, ", ".join(SERVICES)))
        self.addr = addr
        self.fqdn = fqdn or "%s.example.jp" % label
        self.ports = dict(ports or {})
        self.os = os_name
        self.customer = customer

    def port(self, svc):
        return int(self.ports.get(svc, PORTS[svc]))

    def all_services(self):
        return ["ssh"] + self.services

    def to_json(self):
        return {"label": self.label, "services": self.services, "addr": self.addr,
                "fqdn": self.fqdn, "ports": self.ports, "os": self.os,
                "customer": self.customer}

    @classmethod
    def from_json(cls, d):
        return cls(d["label"], d["services"], d["addr"], d["fqdn"], d["ports"], d["os"],
                   d["customer"])


def parse_host_spec(spec):
    """'web01:http,https,smtp' -> (label, [services])"""
    if ":" in spec:
        label, svcs = spec.split(":", 1)
        return label, [s for s in svcs.split(",") if s]
    return spec, []


# ---------------------------------------------------------------- the fleet

class Fleet:
    """A loopback fleet. hosts: list of 'label:svc,svc' strings, (label, [svcs]) tuples or
    dicts {label, services, fqdn?, ports?, os?}.  gateway: None, True (label 'gw-a') or a
    label; its address is {net}.1."""

    def __init__(self, workdir, net="127.78.1", hosts=(), gateway=None, sink=True,
                 _state=None):
        self.workdir = os.path.abspath(workdir)
        self.procs = {}      # key -> record {pid, start, cmd, mntns?}
        self.popens = {}     # key -> Popen (only in the process that started it)
        self.status = {}     # "host/svc" -> running|stopped|silent|wrong
        self.icmp_dropped = []
        self.hosts_dropped = []
        self._up = False
        if _state is not None:
            self._load(_state)
            return
        if not net.startswith("127.") or len(net.split(".")) != 3:
            raise FleetError("net must look like 127.A.B (loopback only)")
        self.net = net
        self.hosts = []
        for i, h in enumerate(hosts):
            addr = "%s.%d" % (net, i + 2)
            if isinstance(h, str):
                label, svcs = parse_host_spec(h)
                self.hosts.append(Host(label, svcs, addr))
            elif isinstance(h, (tuple, list)):
                self.hosts.append(Host(h[0], list(h[1]), addr))
            else:
                self.hosts.append(Host(h["label"], list(h.get("services", [])), addr,
                                       h.get("fqdn"), h.get("ports"), h.get("os", "Debian 12"),
                                       h.get("customer", "c1001")))
        if len({h.label for h in self.hosts}) != len(self.hosts):
            raise FleetError("duplicate host labels")
        if gateway is True:
            gateway = "gw-a"
        self.gateway = {"label": gateway, "ip": "%s.1" % net} if gateway else None
        self.sink = sink
        self.sink_addr = "%s.%d" % (net, SINK_HOST_OCTET)
        self.sink_port = SINK_PORT
        tag = hashlib.sha1(self.workdir.encode()).hexdigest()[:10]
        self.nft_table = "anshin_fleet_" + tag
        self.pub = None
        self.key = os.path.join(self.workdir, "ssh", "id_ed25519")
        self.toml_path = os.path.join(self.workdir, "fleet.toml")

    # ---- state -------------------------------------------------------------
    def _state_path(self):
        return os.path.join(self.workdir, STATE_FILE)

    def _save(self):
        st = {
            "workdir": self.workdir, "net": self.net,
            "hosts": [h.to_json() for h in self.hosts], "gateway": self.gateway,
            "sink": self.sink, "sink_addr": self.sink_addr, "sink_port": self.sink_port,
            "nft_table": self.nft_table, "pub": self.pub, "key": self.key,
            "toml_path": self.toml_path, "procs": self.procs, "status": self.status,
            "icmp_dropped": self.icmp_dropped, "hosts_dropped": self.hosts_dropped,
            "up": self._up,
        }
        tmp = self._state_path() + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(st, fh, indent=1)
        os.replace(tmp, self._state_path())

    def _load(self, st):
        self.net = st["net"]
        self.hosts = [Host.from_json(h) for h in st["hosts"]]
        self.gateway = st["gateway"]
        self.sink = st["sink"]
        self.sink_addr = st["sink_addr"]
        self.sink_port = st["sink_port"]
        self.nft_table = st["nft_table"]
        self.pub = st["pub"]
        self.key = st["key"]
        self.toml_path = st["toml_path"]
        self.procs = st["procs"]
        self.status = st["status"]
        self.icmp_dropped = st["icmp_dropped"]
        self.hosts_dropped = st["hosts_dropped"]
        self._up = st["up"]

    @classmethod
    def attach(cls, workdir):
        """Re-open a fleet started elsewhere (e.g. by the CLI) from its state file."""
        path = os.path.join(os.path.abspath(workdir), STATE_FILE)
        with open(path) as fh:
            st = json.load(fh)
        return cls(st["workdir"], _state=st)

    # ---- lookup ------------------------------------------------------------
    def host(self, label):
        for h in self.hosts:
            if h.label == label or h.addr == label:
                return h
        raise FleetError("no host %r" % label)

    def hostdir(self, h):
        return os.path.join(self.workdir, "hosts", h.label)

    def pubhostdir(self, h):
        return os.path.join(self.pub, "hosts", h.label)

    def addr(self, label):
        return self.host(label).addr

    def port(self, label, svc):
        return self.host(label).port(svc)

    # ---- lifecycle ---------------------------------------------------------
    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()

    def up(self, timeout=60.0):
        if os.geteuid() != 0:
            raise FleetError("the fleet must run as root")
        t0 = time.monotonic()
        if self.procs:
            raise FleetError("fleet is already up")
        os.makedirs(self.workdir, exist_ok=True)
        if os.path.exists(self._state_path()):
            # a fleet left running in this workdir (crashed test, CLI): stop it first
            try:
                old = Fleet.attach(self.workdir)
                old.down()
            except Exception as e:
                log("could not stop the old fleet in", self.workdir, e)
        busy = ["%s:%d" % (h.addr, h.port(s)) for h in self.hosts for s in h.all_services()
                if port_state(h.addr, h.port(s), 0.3) != "refused"]
        if self.sink and port_state(self.sink_addr, self.sink_port, 0.3) != "refused":
            busy.append("%s:%d" % (self.sink_addr, self.sink_port))
        if busy:
            raise FleetError("ports already in use (another fleet on net %s?): %s"
                             % (self.net, ", ".join(busy)))
        os.makedirs(os.path.join(self.workdir, "mail"), exist_ok=True)
        atexit.register(self.down)
        self._up = True
        self._choose_pub()
        self._save()
        try:
            self._nft_setup()
            self._ssh_prepare()
            self._templates()
            for h in self.hosts:
                self._host_prepare(h)
            if self.sink:
                self._start_sink()
            for h in self.hosts:
                for svc in h.all_services():
                    self._start(h, svc)
            self._save()
            deadline = t0 + timeout
            pending = [(h, s) for h in self.hosts for s in h.all_services()]
            if self.sink:
                pending.append((None, "sink"))
            for h, s in pending:
                addr, port = (self.sink_addr, self.sink_port) if h is None else (h.addr, h.port(s))
                if not wait_port(addr, port, "open", deadline):
                    key = "sink" if h is None else "%s/%s" % (h.label, s)
                    raise FleetError("%s (%s:%d) did not come up within %.0fs; logs in %s"
                                     % (key, addr, port, timeout, self.workdir))
            dead = [k for k, r in self.procs.items() if not _tree(r)]
            if dead:
                raise FleetError("exited right after start: %s; logs in %s"
                                 % (", ".join(dead), self.workdir))
            with open(self.toml_path, "w") as fh:
                fh.write(self.fleet_toml())
        except BaseException:
            self.down()
            raise
        self.up_seconds = time.monotonic() - t0
        return self

    def down(self):
        """Stop everything we started; idempotent."""
        if not getattr(self, "procs", None) and not self._up:
            return
        errors = []
        # TERM every main process at once, give them a moment together, then clean up
        # each tree (TERM leftovers, KILL) one by one
        roots = []
        for key, rec in self.procs.items():
            st = _stat(rec["pid"])
            if st and st[3] == rec["start"] and st[0] not in ("Z", "X"):
                try:
                    os.kill(rec["pid"], signal.SIGTERM)
                    roots.append(key)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 1.5
        while roots and time.monotonic() < deadline:
            for key in roots:
                if key in self.popens:
                    self.popens[key].poll()
            if not any(_tree(self.procs[k]) for k in roots):
                break
            time.sleep(0.05)
        for key in list(self.procs):
            try:
                kill_record(self.procs[key], self.popens.get(key), root_first=False)
            except Exception as e:  # keep going, report at the end
                errors.append(str(e))
            self.procs.pop(key, None)
            self.popens.pop(key, None)
        self._nft_teardown()
        for h in self.hosts if self.pub else []:
            rd = self._rundir(h)
            if rd.startswith("/run/anshin-fleet/") and not rd.startswith(self.pub + "/"):
                shutil.rmtree(rd, ignore_errors=True)
        if self.pub and self.pub != self.workdir and os.path.isdir(self.pub):
            shutil.rmtree(self.pub, ignore_errors=True)
        try:
            os.rmdir("/run/anshin-fleet")   # only when empty
        except OSError:
            pass
        self.status = {}
        self.icmp_dropped = []
        self.hosts_dropped = []
        self._up = False
        if os.path.isdir(self.workdir):
            self._save()
        if errors:
            raise FleetError("; ".join(errors))

    # ---- public dir --------------------------------------------------------
    def _choose_pub(self):
        """sshd reads authorized_keys and runs the per-host bin/ as user anshin, and
        postgres runs as user postgres: those files must sit in a directory that other
        users can traverse.  Use workdir when possible, else a private dir under /run."""
        if self.pub:
            return
        p = self.workdir
        ok = True
        while True:
            if not os.stat(p).st_mode & 0o001:
                if p == self.workdir:
                    os.chmod(p, os.stat(p).st_mode | 0o055)
                else:
                    ok = False
                    break
            parent = os.path.dirname(p)
            if parent == p:
                break
            p = parent
        if ok:
            self.pub = self.workdir
        else:
            self.pub = os.path.join("/run/anshin-fleet", self.nft_table)
            os.makedirs(self.pub, exist_ok=True)
            os.chmod("/run/anshin-fleet", 0o755)
            os.chmod(self.pub, 0o755)

    # ---- nftables ----------------------------------------------------------
    def _nft(self, script, check=True):
        return run(["nft", "-f", "-"], input=script, check=check)

    def _nft_setup(self):
        t = self.nft_table
        self._nft("delete table inet %s\n" % t, check=False)
        self._nft("""table inet %s {
  set icmp_drop { type ipv4_addr; }
  set host_drop { type ipv4_addr; }
  chain in {
    type filter hook input priority -10; policy accept;
    ip daddr @host_drop drop
    ip daddr @icmp_drop icmp type echo-request drop
  }
}
""" % t)

    def _nft_teardown(self):
        if run(["nft", "list", "table", "inet", self.nft_table], check=False).returncode == 0:
            self._nft("delete table inet %s\n" % self.nft_table, check=False)

    @staticmethod
    def _check_addr(addr):
        if not addr.startswith("127."):
            raise FleetError("refusing non-loopback address %r" % addr)
        socket.inet_aton(addr)

    def _resolve_addr(self, x):
        if self.gateway and x == self.gateway["label"]:
            return self.gateway["ip"]
        try:
            return self.host(x).addr
        except FleetError:
            self._check_addr(x)
            return x

    def drop_icmp(self, addr):
        addr = self._resolve_addr(addr)
        self._nft("add element inet %s icmp_drop { %s }\n" % (self.nft_table, addr))
        if addr not in self.icmp_dropped:
            self.icmp_dropped.append(addr)
        self._save()

    def restore_icmp(self, addr):
        addr = self._resolve_addr(addr)
        self._nft("delete element inet %s icmp_drop { %s }\n" % (self.nft_table, addr),
                  check=False)
        if addr in self.icmp_dropped:
            self.icmp_dropped.remove(addr)
        self._save()

    def drop_host(self, addr):
        addr = self._resolve_addr(addr)
        self._nft("add element inet %s host_drop { %s }\n" % (self.nft_table, addr))
        if addr not in self.hosts_dropped:
            self.hosts_dropped.append(addr)
        self._save()

    def restore_host(self, addr):
        addr = self._resolve_addr(addr)
        self._nft("delete element inet %s host_drop { %s }\n" % (self.nft_table, addr),
                  check=False)
        if addr in self.hosts_dropped:
            self.hosts_dropped.remove(addr)
        self._save()

    # ---- preparation -------------------------------------------------------
    def _ssh_prepare(self):
        try:
            pwd.getpwnam(SSH_USER)
        except KeyError:
            run(["useradd", "-m", "-s", "/bin/sh", SSH_USER])
        run(["usermod", "-p", "*", SSH_USER])
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        os.makedirs(os.path.dirname(self.key), exist_ok=True)
        if not os.path.exists(self.key):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "anshin-fleet",
                 "-f", self.key])
        ak = os.path.join(self.pub, "authorized_keys")
        shutil.copyfile(self.key + ".pub", ak)
        os.chmod(ak, 0o644)
        # What a server set up for the NOC's `ssh.sudo = true` has: a NOPASSWD rule for its
        # account. Bind-mounted over /etc/sudoers.d in sshd's mount namespace only (when sudo is
        # installed), never the machine's own.
        sd = os.path.join(self.pub, "sudoers.d")
        os.makedirs(sd, exist_ok=True)
        os.chmod(sd, 0o755)
        rule = os.path.join(sd, "anshin-fleet")
        with open(rule, "w") as fh:
            fh.write("%s ALL=(ALL:ALL) NOPASSWD: ALL\n" % SSH_USER)
        os.chmod(rule, 0o440)

    def _templates(self):
        """Initialise the mariadb and postgresql data dir templates (once per workdir),
        both at the same time."""
        import threading
        jobs = []
        if any("mysql" in h.services for h in self.hosts):
            jobs.append(self._mysql_template)
        if any("postgresql" in h.services for h in self.hosts):
            jobs.append(self._pg_template)
        errors = []

        def runjob(fn):
            try:
                fn()
            except Exception as e:
                errors.append(e)
        threads = [threading.Thread(target=runjob, args=(j,)) for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        if errors:
            raise errors[0]

    def _mysql_template(self):
        tpl = os.path.join(self.workdir, "_mysql_template")
        if os.path.exists(os.path.join(tpl, ".done")):
            return
        shutil.rmtree(tpl, ignore_errors=True)
        os.makedirs(tpl)
        run(["mariadb-install-db", "--no-defaults", "--datadir=" + tpl, "--user=root",
             "--auth-root-authentication-method=socket", "--skip-test-db",
             "--skip-name-resolve", "--innodb-log-file-size=8M",
             "--innodb-buffer-pool-size=16M", "--performance-schema=OFF"], timeout=120)
        open(os.path.join(tpl, ".done"), "w").close()

    def _pg_template(self):
        tpl = os.path.join(self.pub, "_pg_template")
        if os.path.exists(os.path.join(tpl, "PG_VERSION")) and \
                os.path.exists(os.path.join(self.pub, "_pg_template.done")):
            return
        shutil.rmtree(tpl, ignore_errors=True)
        os.makedirs(tpl, mode=0o700)
        shutil.chown(tpl, "postgres", "postgres")
        run([PGBIN + "/initdb", "-D", tpl, "-U", "postgres", "-A", "trust", "--no-sync",
             "-E", "UTF8", "--locale=C"], user="postgres", group="postgres", cwd="/",
            timeout=120)
        with open(os.path.join(tpl, "pg_hba.conf"), "w") as fh:
            fh.write("local all postgres peer\nlocal all all peer\nhost all all 127.0.0.0/8 trust\n")
        shutil.chown(os.path.join(tpl, "pg_hba.conf"), "postgres", "postgres")
        open(os.path.join(self.pub, "_pg_template.done"), "w").close()

    def _host_prepare(self, h):
        d = self.hostdir(h)
        pd = self.pubhostdir(h)
        for x in (d, pd, os.path.join(pd, "bin"), os.path.join(d, "log")):
            os.makedirs(x, exist_ok=True)
        os.chmod(pd, 0o755)
        os.chmod(os.path.join(pd, "bin"), 0o755)
        la = os.path.join(pd, "loadavg")
        if not os.path.exists(la):
            with open(la, "w") as fh:
                fh.write("0.10 0.20 0.30 1/100 1000\n")
        os.chmod(la, 0o644)
        # The host's disk is the fleet's, not the machine's: a real `df` would report the test
        # machine's own disk (a CI disk 82 % full made every host raise a Lv.2 disk alert and
        # an extra mail). set_command(h, "df", ...) replaces it for tests about disks.
        # The host's own /var/backups and /srv (bind-mounted in sshd's mount namespace, writable
        # by the SSH user): backups keep their work in /var/backups/anshin-noc and tests put the
        # tree to back up and the restores under /srv, never the machine's own.
        for x in ("var-backups", "srv"):
            os.makedirs(os.path.join(pd, x), exist_ok=True)
            shutil.chown(os.path.join(pd, x), SSH_USER, SSH_USER)
        # The host's /run/mysqld and /run/postgresql (bind-mounted there in sshd's namespace):
        # its database servers' sockets where a real server's clients look by default.
        rd = self._rundir(h)
        for x, owner, mode in (("mysqld", "root", 0o755), ("postgresql", "postgres", 0o2775)):
            os.makedirs(os.path.join(rd, x), exist_ok=True)
            shutil.chown(os.path.join(rd, x), owner, owner)
            os.chmod(os.path.join(rd, x), mode)
        df = os.path.join(pd, "bin", "df")
        with open(df, "w") as fh:
            fh.write(DEFAULT_DF)
        os.chmod(df, 0o755)
        # The host's packages are this machine's, not a customer's: its apt lists nothing
        # pending, so no test is mailed a security notice about the machine it runs on (the
        # tests of updates put their own stand-ins here: update_standins.py).
        apt = os.path.join(pd, "bin", "apt")
        with open(apt, "w") as fh:
            fh.write(DEFAULT_APT)
        os.chmod(apt, 0o755)
        # TLS cert for this host
        crt, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
        if not os.path.exists(crt):
            run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                 "-keyout", key, "-out", crt, "-subj", "/CN=%s" % h.fqdn,
                 "-addext", "subjectAltName=DNS:%s,IP:%s" % (h.fqdn, h.addr)])
        hk = os.path.join(d, "ssh_host_ed25519_key")
        if not os.path.exists(hk):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hk])
        with open(os.path.join(d, "sshd_config"), "w") as fh:
            fh.write("""ListenAddress {addr}:{port}
HostKey {hk}
PidFile none
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowUsers {user} root
AuthorizedKeysFile {ak}
SetEnv PATH={bin}:/usr/local/bin:/usr/bin:/bin
MaxStartups 200:30:400
MaxSessions 50
LogLevel ERROR
PrintMotd no
Subsystem sftp internal-sftp
""".format(addr=h.addr, port=h.port("ssh"), hk=hk, user=SSH_USER,
                ak=os.path.join(self.pub, "authorized_keys"), bin=os.path.join(pd, "bin")))
        if "mysql" in h.services:
            dd = os.path.join(d, "mysql")
            if not os.path.exists(os.path.join(dd, ".done")):
                shutil.rmtree(dd, ignore_errors=True)
                shutil.copytree(os.path.join(self.workdir, "_mysql_template"), dd,
                                symlinks=True)
            with open(os.path.join(d, "mysql-init.sql"), "w") as fh:
                fh.write("CREATE USER IF NOT EXISTS 'anshin'@'%' IDENTIFIED BY 'anshin';\n"
                         "GRANT USAGE ON *.* TO 'anshin'@'%';\n")
        if "postgresql" in h.services:
            dd = os.path.join(pd, "pgdata")
            if not os.path.exists(os.path.join(dd, "PG_VERSION")):
                shutil.rmtree(dd, ignore_errors=True)
                shutil.copytree(os.path.join(self.pub, "_pg_template"), dd, symlinks=True)
                run(["chown", "-R", "postgres:postgres", dd])
                os.chmod(dd, 0o700)

    # ---- per-service commands ----------------------------------------------
    def _svc_cmd(self, h, svc):
        """-> (argv, kwargs for Popen, extra record fields)"""
        d = self.hostdir(h)
        pd = self.pubhostdir(h)
        port = h.port(svc)
        crt, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
        sd = os.path.join(d, svc)
        os.makedirs(sd, exist_ok=True)
        kw = {}
        if svc == "ssh":
            inner = ('mount --bind "$1" /proc/loadavg && mount --bind "$3" /var/backups && '
                     'mount --bind "$4" /srv && mkdir -p /run/mysqld /run/postgresql && '
                     'mount --bind "$5/mysqld" /run/mysqld && '
                     'mount --bind "$5/postgresql" /run/postgresql && '
                     '{ [ ! -d /etc/sudoers.d ] || mount --bind "$6" /etc/sudoers.d; } && '
                     'exec /usr/sbin/sshd -D -e -f "$2"')
            argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", inner, "sh",
                    os.path.join(pd, "loadavg"), os.path.join(d, "sshd_config"),
                    os.path.join(pd, "var-backups"), os.path.join(pd, "srv"),
                    self._rundir(h), os.path.join(self.pub, "sudoers.d")]
        elif svc in ("http", "https", "plesk"):
            tls = svc != "http"
            conf = os.path.join(sd, "nginx.conf")
            for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                os.makedirs(os.path.join(sd, t), exist_ok=True)
            with open(conf, "w") as fh:
                fh.write("""daemon off;
master_process off;
worker_processes 1;
pid {sd}/nginx.pid;
error_log {sd}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {sd}/client_body;
  proxy_temp_path {sd}/proxy;
  fastcgi_temp_path {sd}/fastcgi;
  uwsgi_temp_path {sd}/uwsgi;
  scgi_temp_path {sd}/scgi;
  server {{
    listen {addr}:{port}{ssl};
    server_name {fqdn};
    {tls}
    location / {{ default_type text/plain; return 200 "anshin fleet {label} {svc}\\n"; }}
  }}
}}
""".format(sd=sd, addr=h.addr, port=port, ssl=" ssl" if tls else "", fqdn=h.fqdn,
                    label=h.label, svc=svc,
                    tls=("ssl_certificate %s; ssl_certificate_key %s;" % (crt, key)) if tls else ""))
            argv = ["/usr/sbin/nginx", "-p", sd, "-e", os.path.join(sd, "error.log"),
                    "-c", conf]
        elif svc == "dns":
            argv = ["/usr/sbin/dnsmasq", "-k", "-C", "/dev/null",
                    "--listen-address=" + h.addr, "--bind-interfaces", "--port=%d" % port,
                    "--no-resolv", "--no-hosts", "--user=root", "--group=root",
                    "--host-record=%s,%s" % (h.fqdn, h.addr),
                    "--pid-file=" + os.path.join(sd, "dnsmasq.pid"),
                    "--log-facility=" + os.path.join(sd, "dnsmasq.log")]
        elif svc in ("imap", "imaps", "pop", "pops"):
            proto = "imap" if svc.startswith("imap") else "pop3"
            names = {"imap": ("imap", "imaps"), "pop3": ("pop3", "pop3s")}[proto]
            ports = {names[0]: port if svc in ("imap", "pop") else 0,
                     names[1]: port if svc in ("imaps", "pops") else 0}
            # mailboxes are read by the imap/pop3 process as user dovecot: keep them in pub
            md = os.path.join(pd, svc + "-mail")
            os.makedirs(md, exist_ok=True)
            for x in ("run", "state"):
                os.makedirs(os.path.join(sd, x), exist_ok=True)
            dh = "/usr/share/dovecot/dh.pem"
            conf = os.path.join(sd, "dovecot.conf")
            with open(conf, "w") as fh:
                fh.write("""instance_name = fleet-{label}-{svc}
base_dir = {sd}/run
state_dir = {sd}/state
log_path = {sd}/dovecot.log
protocols = {proto}
listen = {addr}
ssl = yes
ssl_cert = <{crt}
ssl_key = <{key}
{dh}
login_greeting = Dovecot ready.
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{md}/%u
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
first_valid_gid = 1
passdb {{
  driver = static
  args = password=anshin
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={md}/%u
}}
service {proto}-login {{
  inet_listener {n0} {{
    port = {p0}
  }}
  inet_listener {n1} {{
    port = {p1}
  }}
}}
service anvil {{
  chroot =
}}
""".format(label=h.label, svc=svc, sd=sd, md=md, proto=proto, addr=h.addr, crt=crt, key=key,
                    dh=("ssl_dh = <%s" % dh) if os.path.exists(dh) else "",
                    n0=names[0], p0=ports[names[0]], n1=names[1], p1=ports[names[1]]))
            run(["chown", "-R", "dovecot:dovecot", md])
            argv = ["/usr/sbin/dovecot", "-F", "-c", conf]
        elif svc == "ftp":
            os.makedirs("/var/run/vsftpd/empty", exist_ok=True)
            conf = os.path.join(sd, "vsftpd.conf")
            with open(conf, "w") as fh:
                fh.write("""listen=YES
listen_ipv6=NO
listen_address={addr}
listen_port={port}
background=NO
anonymous_enable=NO
local_enable=YES
pam_service_name=vsftpd
secure_chroot_dir=/var/run/vsftpd/empty
xferlog_enable=NO
seccomp_sandbox=NO
max_clients=200
max_per_ip=200
vsftpd_log_file={sd}/vsftpd.log
""".format(addr=h.addr, port=port, sd=sd))
            os.chmod(conf, 0o600)
            argv = ["/usr/sbin/vsftpd", conf]
        elif svc == "mysql":
            dd = os.path.join(d, "mysql")
            argv = ["/usr/sbin/mariadbd", "--no-defaults", "--datadir=" + dd, "--user=root",
                    "--bind-address=" + h.addr, "--port=%d" % port,
                    "--socket=" + self._mysql_socket(h),
                    "--pid-file=" + os.path.join(sd, "mysqld.pid"),
                    "--log-error=" + os.path.join(sd, "error.log"),
                    "--skip-log-bin", "--skip-name-resolve", "--innodb-buffer-pool-size=16M",
                    "--performance-schema=OFF", "--innodb-use-native-aio=0",
                    "--innodb-log-file-size=8M", "--max-connections=200",
                    "--init-file=" + os.path.join(d, "mysql-init.sql")]
        elif svc == "postgresql":
            dd = os.path.join(pd, "pgdata")
            argv = [PGBIN + "/postgres", "-D", dd, "-c", "listen_addresses=" + h.addr,
                    "-c", "port=%d" % port,
                    "-c", "unix_socket_directories=" + os.path.join(self._rundir(h), "postgresql"),
                    "-c", "shared_buffers=8MB", "-c", "max_connections=50",
                    "-c", "fsync=off", "-c", "logging_collector=off",
                    "-c", "log_min_messages=warning"]
            kw = {"user": "postgres", "group": "postgres", "cwd": "/"}
        elif svc in ("smtp", "submission", "smtps"):
            argv = [PY, SELF, "_smtp", "--addr", h.addr, "--port", str(port),
                    "--hostname", h.fqdn, "--cert", crt, "--key", key,
                    "--mode", {"smtp": "starttls", "submission": "starttls",
                               "smtps": "implicit"}[svc]]
        else:
            raise FleetError("no server for %s" % svc)
        return argv, kw

    def _rundir(self, h):
        """The folder holding the host's mysqld/ and postgresql/ socket folders: in the public
        dir (postgres creates its socket there), or under /run/anshin-fleet when that path is
        too long for a socket's name (sun_path is 108 bytes)."""
        p = os.path.join(self.pubhostdir(h), "run")
        if len(p) > 70:
            os.makedirs("/run/anshin-fleet", mode=0o755, exist_ok=True)
            p = "/run/anshin-fleet/%s-%s" % (self.nft_table[-10:], h.label[:40])
        return p

    def _mysql_socket(self, h):
        return os.path.join(self._rundir(h), "mysqld", "mysqld.sock")

    def mysql_socket(self, label):
        """The host's mariadb socket, as this machine sees it (its SSH sessions see it at
        /run/mysqld/mysqld.sock); root logs in over it by unix_socket."""
        return self._mysql_socket(self.host(label))

    def _spawn(self, key, argv, logname, **kw):
        logf = open(logname, "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                             start_new_session=True, close_fds=True, **kw)
        logf.close()
        st = None
        for _ in range(100):
            st = _stat(p.pid)
            if st:
                break
            time.sleep(0.01)
        rec = {"pid": p.pid, "start": st[3] if st else 0, "cmd": argv[:3]}
        self.procs[key] = rec
        self.popens[key] = p
        log("started", key, p.pid, argv)
        return rec

    def _start(self, h, svc):
        argv, kw = self._svc_cmd(h, svc)
        key = "%s/%s" % (h.label, svc)
        rec = self._spawn(key, argv, os.path.join(self.hostdir(h), "log", svc + ".log"), **kw)
        if svc == "ssh":
            # remember the mount namespace so session processes are found at teardown
            ns0 = _mntns(1)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                ns = _mntns(rec["pid"])
                cmd = ""
                try:
                    with open("/proc/%d/comm" % rec["pid"]) as fh:
                        cmd = fh.read().strip()
                except OSError:
                    break
                if ns and ns != ns0 and cmd == "sshd":
                    rec["mntns"] = ns
                    break
                time.sleep(0.02)
        self.status[key] = "running"
        self._save()

    def _start_sink(self):
        maildir = os.path.join(self.workdir, "mail")
        argv = [PY, SELF, "_smtp", "--addr", self.sink_addr, "--port", str(self.sink_port),
                "--hostname", "sink.example.jp", "--mode", "plain", "--save", maildir]
        self._spawn("sink", argv, os.path.join(self.workdir, "sink.log"))

    def _kill(self, key):
        rec = self.procs.pop(key, None)
        if rec:
            kill_record(rec, self.popens.pop(key, None))
        self._save()

    # ---- service control -----------------------------------------------------
    def _check_svc(self, label, svc):
        h = self.host(label)
        if svc not in h.all_services():
            raise FleetError("%s does not run %s" % (h.label, svc))
        return h, "%s/%s" % (h.label, svc)

    def stop_service(self, label, svc, timeout=10.0):
        """Stop the real server (or fault listener): the port then refuses connections."""
        h, key = self._check_svc(label, svc)
        self._kill(key)
        self._kill("fault:" + key)
        self.status[key] = "stopped"
        self._save()
        if h.addr not in self.hosts_dropped and \
                not wait_port(h.addr, h.port(svc), "refused", time.monotonic() + timeout):
            raise FleetError("%s still accepts connections after stop" % key)

    def start_service(self, label, svc, timeout=30.0):
        h, key = self._check_svc(label, svc)
        self._kill("fault:" + key)
        if key not in self.procs:
            self._start(h, svc)
        self.status[key] = "running"
        self._save()
        if h.addr not in self.hosts_dropped and \
                not wait_port(h.addr, h.port(svc), "open", time.monotonic() + timeout):
            raise FleetError("%s did not come back" % key)

    def restart_service(self, label, svc):
        self.stop_service(label, svc)
        self.start_service(label, svc)

    def fault(self, label, svc, mode, text=None, timeout=10.0):
        """mode 'silent': accepts and never sends; 'wrong': sends a wrong greeting
        (after the TLS handshake on TLS ports).  Replaces the real server on that port."""
        if mode not in ("silent", "wrong"):
            raise FleetError("fault mode must be silent or wrong")
        h, key = self._check_svc(label, svc)
        self.stop_service(label, svc)
        d = self.hostdir(h)
        argv = [PY, SELF, "_listen", "--addr", h.addr, "--port", str(h.port(svc)),
                "--mode", mode, "--text", text if text is not None else WRONG[svc]]
        if svc in TLS_SERVICES:
            argv += ["--cert", os.path.join(d, "tls.crt"), "--key", os.path.join(d, "tls.key")]
        if svc == "dns":
            argv += ["--udp"]
        self._spawn("fault:" + key, argv, os.path.join(d, "log", "fault-%s.log" % svc))
        self.status[key] = mode
        self._save()
        if h.addr not in self.hosts_dropped and \
                not wait_port(h.addr, h.port(svc), "open", time.monotonic() + timeout):
            raise FleetError("fault listener for %s did not start" % key)

    def clear_fault(self, label, svc):
        self.start_service(label, svc)

    # ---- per-host values over ssh -------------------------------------------
    def set_loadavg(self, label, text):
        """Write the per-host /proc/loadavg (in place: the bind mount follows the inode)."""
        h = self.host(label)
        if not text.endswith("\n"):
            text += "\n"
        with open(os.path.join(self.pubhostdir(h), "loadavg"), "r+") as fh:
            fh.seek(0)
            fh.write(text)
            fh.truncate()

    def set_command(self, label, name, script):
        """Install a fake command (e.g. nproc, df, postqueue) first on the ssh PATH of
        one host. script: shell script body (a '#!/bin/sh' line is added if missing)."""
        h = self.host(label)
        if not script.startswith("#!"):
            script = "#!/bin/sh\n" + script
        p = os.path.join(self.pubhostdir(h), "bin", name)
        with open(p, "w") as fh:
            fh.write(script)
        os.chmod(p, 0o755)
        return p

    def srv(self, label):
        """The host's /srv as its SSH sessions see it (a folder of the fleet's workdir)."""
        return os.path.join(self.pubhostdir(self.host(label)), "srv")

    def ssh_argv(self, label, *command):
        h = self.host(label)
        return ["ssh", "-i", self.key, "-p", str(h.port("ssh")), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
                "%s@%s" % (SSH_USER, h.addr)] + list(command)

    # ---- sink ------------------------------------------------------------------
    def sink_files(self):
        d = os.path.join(self.workdir, "mail")
        if not os.path.isdir(d):
            return []
        return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".eml"))

    def sink_messages(self):
        import email
        import email.policy
        out = []
        for f in self.sink_files():
            with open(f, "rb") as fh:
                out.append(email.message_from_binary_file(fh, policy=email.policy.default))
        return out

    def sink_wait(self, count=1, timeout=10.0):
        """Wait (bounded) until at least `count` messages are in the sink; return them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.sink_files()) < count:
            time.sleep(0.05)
        return self.sink_messages()

    def sink_clear(self):
        for f in self.sink_files():
            os.unlink(f)

    # ---- fleet file ------------------------------------------------------------
    def fleet_toml(self, interval_secs=1, attempts=3, timeout_secs=2, plan="150",
                   brand="Speever", gateway=None):
        """gateway: None = the fleet's declared gateway (if any); a label = declare a
        gateway with that label at {net}.1; False = no gateway."""
        if gateway is None:
            gw = self.gateway
        elif gateway is False:
            gw = None
        else:
            gw = {"label": gateway, "ip": "%s.1" % self.net}
        q = json.dumps  # TOML basic strings are compatible with JSON strings
        lines = [
            "[noc]",
            "brand = %s" % q(brand, ensure_ascii=False),
            'mail_from = "mail_alert@hosting-srv.net"',
            "interval_secs = %d" % interval_secs,
            "attempts = %d" % attempts,
            "timeout_secs = %d" % timeout_secs,
            "",
            "[[customer]]",
            'id = "c1001"',
            'name = "サンプル株式会社"',
            "plan = %s" % q(str(plan)),
            'notify = ["ops@example.jp"]',
            'phones = ["03-0000-0001"]',
            "",
        ]
        if gw:
            lines += ["[[gateway]]", "label = %s" % q(gw["label"]), "ip = %s" % q(gw["ip"]), ""]
        for h in self.hosts:
            lines += [
                "[[server]]",
                "label = %s" % q(h.label),
                "customer = %s" % q(h.customer),
                "fqdn = %s" % q(h.fqdn),
                "ip = %s" % q(h.addr),
                "os = %s" % q(h.os),
            ]
            if gw:
                lines.append("gateway = %s" % q(gw["label"]))
            lines.append("services = [%s]" % ", ".join(q(s) for s in h.services))
            ports = ", ".join("%s = %d" % (k, int(v)) for k, v in sorted(h.ports.items()))
            lines.append("ports = { %s }" % ports if ports else "ports = { }")
            lines.append("")
        return "\n".join(lines)

    def summary(self):
        return {
            "workdir": self.workdir, "toml": self.toml_path, "ssh_key": self.key,
            "ssh_user": SSH_USER, "nft_table": self.nft_table,
            "sink": "%s:%d" % (self.sink_addr, self.sink_port) if self.sink else None,
            "gateway": self.gateway,
            "hosts": [{"label": h.label, "addr": h.addr, "fqdn": h.fqdn,
                       "services": {s: h.port(s) for s in h.all_services()}}
                      for h in self.hosts],
            "pids": {k: r["pid"] for k, r in self.procs.items()},
            "status": self.status,
        }


# ============================================================== helper processes

def _tls_ctx(cert, key):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def helper_smtp(a):
    """aiosmtpd server: real SMTP on 25/587 (STARTTLS offered), 465 (implicit TLS),
    or the sink (plain, saves .eml files)."""
    import asyncio
    from aiosmtpd.smtp import SMTP

    class Handler:
        count = 0

        async def handle_DATA(self, server, session, envelope):
            if a.save:
                Handler.count += 1
                name = "%d-%06d-%d.eml" % (time.time_ns(), Handler.count, os.getpid())
                tmp = os.path.join(a.save, "." + name + ".tmp")
                data = envelope.original_content or envelope.content
                if isinstance(data, str):
                    data = data.encode("utf-8", "surrogateescape")
                with open(tmp, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, os.path.join(a.save, name))
            return "250 Message accepted for delivery"

    ctx = _tls_ctx(a.cert, a.key) if a.mode in ("starttls", "implicit") else None
    handler = Handler()

    def factory():
        kw = {"hostname": a.hostname, "ident": "Anshin fleet ESMTP",
              "decode_data": False, "enable_SMTPUTF8": True}
        if a.mode == "starttls":
            kw.update(tls_context=ctx, require_starttls=False)
        return SMTP(handler, **kw)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(
        factory, host=a.addr, port=a.port, reuse_address=True,
        ssl=ctx if a.mode == "implicit" else None))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.call_later(HELPER_MAX_SECONDS, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()


def helper_listen(a):
    """Fault listener: 'silent' accepts and never sends; 'wrong' sends a wrong greeting."""
    import threading
    ctx = _tls_ctx(a.cert, a.key) if a.cert else None
    text = a.text.encode()
    t_end = time.monotonic() + HELPER_MAX_SECONDS

    def serve(conn):
        try:
            conn.settimeout(30)
            if ctx is not None:
                conn = ctx.wrap_socket(conn, server_side=True)
            if a.mode == "wrong":
                conn.sendall(text)
            # hold the connection until the peer leaves (bounded)
            conn.settimeout(1)
            for _ in range(120):
                try:
                    if not conn.recv(4096):
                        break
                except socket.timeout:
                    continue
        except (OSError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def udp():
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((a.addr, a.port))
        u.settimeout(1)
        while time.monotonic() < t_end:
            try:
                data, peer = u.recvfrom(4096)
            except socket.timeout:
                continue
            if a.mode == "wrong":
                u.sendto(data[:2] + b"\x00" * 10 + text, peer)

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.addr, a.port))
    s.listen(128)
    if a.udp:
        threading.Thread(target=udp, daemon=True).start()
    s.settimeout(1)
    live = []
    while time.monotonic() < t_end:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        live = [t for t in live if t.is_alive()]
        if len(live) > 500:
            c.close()
            continue
        t = threading.Thread(target=serve, args=(c,), daemon=True)
        t.start()
        live.append(t)


# ============================================================== CLI

def _cli():
    ap = argparse.ArgumentParser(description="Anshin NOC loopback test fleet")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up")
    p.add_argument("--dir", required=True)
    p.add_argument("--net", default="127.78.1")
    p.add_argument("--hosts", nargs="+", required=True, help="label:svc,svc ...")
    p.add_argument("--gateway", nargs="?", const="gw-a", default=None,
                   help="declare a gateway at {net}.1 (optional label, default gw-a)")
    p.add_argument("--no-sink", action="store_true")
    p.add_argument("--timeout", type=float, default=60)
    p = sub.add_parser("down")
    p.add_argument("--dir", required=True)
    p = sub.add_parser("status")
    p.add_argument("dir")
    for name in ("stop", "start", "clear-fault"):
        p = sub.add_parser(name)
        p.add_argument("dir")
        p.add_argument("host")
        p.add_argument("svc")
    p = sub.add_parser("fault")
    p.add_argument("dir")
    p.add_argument("host")
    p.add_argument("svc")
    p.add_argument("mode", choices=["silent", "wrong"])
    p.add_argument("--text")
    for name in ("drop-icmp", "restore-icmp", "drop-host", "restore-host"):
        p = sub.add_parser(name)
        p.add_argument("dir")
        p.add_argument("addr")
    p = sub.add_parser("loadavg")
    p.add_argument("dir")
    p.add_argument("host")
    p.add_argument("value")
    p = sub.add_parser("toml")
    p.add_argument("dir")
    p.add_argument("--interval-secs", type=int, default=1)
    p.add_argument("--attempts", type=int, default=3)
    p.add_argument("--timeout-secs", type=int, default=2)
    p.add_argument("--plan", default="150")
    p.add_argument("--brand", default="Speever")
    # internal helpers
    p = sub.add_parser("_smtp")
    p.add_argument("--addr", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--hostname", required=True)
    p.add_argument("--mode", choices=["plain", "starttls", "implicit"], default="plain")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--save")
    p = sub.add_parser("_listen")
    p.add_argument("--addr", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["silent", "wrong"], required=True)
    p.add_argument("--text", default="")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--udp", action="store_true")
    a = ap.parse_args()

    if a.cmd == "_smtp":
        return helper_smtp(a)
    if a.cmd == "_listen":
        return helper_listen(a)
    if a.cmd == "up":
        hosts = [parse_host_spec(s) for s in a.hosts]
        f = Fleet(a.dir, net=a.net, hosts=hosts, gateway=a.gateway, sink=not a.no_sink)
        f.up(timeout=a.timeout)
        atexit.unregister(f.down)   # the fleet outlives this CLI call
        print(f.toml_path)
        print(json.dumps(dict(f.summary(), up_seconds=round(f.up_seconds, 2)), indent=1,
                         ensure_ascii=False))
        return 0
    d = a.dir
    if not os.path.exists(os.path.join(d, STATE_FILE)):
        if a.cmd == "down":
            return 0
        raise SystemExit("no fleet state in %s" % d)
    f = Fleet.attach(d)
    if a.cmd == "down":
        f.down()
    elif a.cmd == "status":
        print(json.dumps(f.summary(), indent=1, ensure_ascii=False))
    elif a.cmd == "stop":
        f.stop_service(a.host, a.svc)
    elif a.cmd == "start":
        f.start_service(a.host, a.svc)
    elif a.cmd == "clear-fault":
        f.clear_fault(a.host, a.svc)
    elif a.cmd == "fault":
        f.fault(a.host, a.svc, a.mode, a.text)
    elif a.cmd == "drop-icmp":
        f.drop_icmp(a.addr)
    elif a.cmd == "restore-icmp":
        f.restore_icmp(a.addr)
    elif a.cmd == "drop-host":
        f.drop_host(a.addr)
    elif a.cmd == "restore-host":
        f.restore_host(a.addr)
    elif a.cmd == "loadavg":
        f.set_loadavg(a.host, a.value)
    elif a.cmd == "toml":
        sys.stdout.write(f.fleet_toml(a.interval_secs, a.attempts, a.timeout_secs, a.plan,
                                      a.brand))
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
