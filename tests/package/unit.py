"""A systemd service unit read as systemd reads it, and its ExecStart started by hand.

systemd is not PID 1 on the machines that run these tests, so `systemctl start` cannot run the
unit. `ServiceUnit.spawn()` starts the unit's own ExecStart line (its environment expanded the
way systemd expands it) with what can be reproduced without systemd, each taken from the unit
file, never restated here:

- User=/Group= (with the user's groups), NoNewPrivileges=, AmbientCapabilities=,
  CapabilityBoundingSet= through `setpriv`;
- LimitNOFILE= through `prlimit` (capped at this process's hard limit: raising it needs
  CAP_SYS_RESOURCE, which root lacks in some sandboxes; the value used is reported);
- Environment=, EnvironmentFile=, WorkingDirectory=, UMask=, and the variables systemd sets
  (HOME, USER, LOGNAME, SHELL, PATH, STATE_DIRECTORY, CONFIGURATION_DIRECTORY);
- ProtectSystem=strict with ReadWritePaths=/StateDirectory=, PrivateTmp=, ProtectHome= in a
  private mount namespace (`unshare --mount`): every mount read-only but the API file systems
  and the unit's writable paths, fresh /tmp and /var/tmp, home directories hidden.

Everything else (system call filter, address families, kernel protections, …) only a real
systemd enforces; those are checked by `systemd-analyze security` in the tests.
The process keeps one PID through the whole chain (each tool execs the next).
"""
import os
import pwd
import re
import resource
import shlex
import subprocess

# systemd's default PATH for system services (sbin first).
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
API_FILE_SYSTEMS = ("/dev", "/proc", "/sys")


def _unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def read_environment_file(path):
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (comments, optional quotes)."""
    env = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            key, sep, value = line.partition("=")
            if sep:
                env[key.strip()] = _unquote(value)
    return env


def expand(line, env):
    """An Exec*= command line as systemd expands it: `${VAR}` is replaced inside its word,
    a word that is exactly `$VAR` becomes the value split at whitespace (zero or more words)."""
    words = []
    for word in shlex.split(line):
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if m:
            words.extend(env.get(m.group(1), "").split())
            continue
        words.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda v: env.get(v.group(1), ""), word))
    return words


def mountpoints():
    """Every mount point of this process's namespace (octal escapes of /proc/self/mounts decoded)."""
    points = []
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        for line in fh:
            target = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[1])
            if target not in points:
                points.append(target)
    return points


class ServiceUnit:
    def __init__(self, path):
        self.path = path
        self.sections = {}
        section = None
        with open(path, encoding="utf-8") as fh:
            text = fh.read().replace("\\\n", " ")
        for line in text.splitlines():
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = self.sections.setdefault(line[1:-1], {})
                continue
            key, _, value = line.partition("=")
            section.setdefault(key.strip(), []).append(value.strip())

    def values(self, key, section="Service"):
        return self.sections.get(section, {}).get(key, [])

    def one(self, key, section="Service"):
        """The setting's effective value (the last assignment wins), or None."""
        v = self.values(key, section)
        return v[-1] if v else None

    def words(self, key):
        """A list setting (AmbientCapabilities=, ReadWritePaths=, …): every word of every line."""
        return [w for v in self.values(key) for w in v.split()]

    def environment(self):
        """Environment= then EnvironmentFile= (a leading `-`: the file may be missing)."""
        env = {}
        for v in self.values("Environment"):
            for assignment in shlex.split(v):
                key, _, value = assignment.partition("=")
                env[key] = value
        for v in self.values("EnvironmentFile"):
            optional, path = v.startswith("-"), v.lstrip("-")
            if os.path.exists(path):
                env.update(read_environment_file(path))
            elif not optional:
                raise FileNotFoundError("EnvironmentFile=%s of %s is missing" % (path, self.path))
        return env

    def service_env(self):
        """What systemd hands the service: its own variables plus the unit's."""
        user = pwd.getpwnam(self.one("User"))
        env = {"PATH": SERVICE_PATH, "HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name,
               "SHELL": user.pw_shell, "LANG": "C.UTF-8"}
        if self.one("StateDirectory"):
            env["STATE_DIRECTORY"] = ":".join("/var/lib/" + d for d in self.words("StateDirectory"))
        if self.one("ConfigurationDirectory"):
            env["CONFIGURATION_DIRECTORY"] = ":".join("/etc/" + d for d in self.words("ConfigurationDirectory"))
        env.update(self.environment())
        return env

    def command(self, key="ExecStart", extra=None):
        """The expanded command line of ExecStart= (or another Exec*= setting)."""
        line = self.one(key)
        assert line and line[0] not in "-@+!:", "%s=%s: prefixes are not handled here" % (key, line)
        env = self.service_env()
        env.update(extra or {})
        return expand(line, env)

    def nofile(self):
        """LimitNOFILE= as it can be applied here: (applied, asked)."""
        asked = int(self.one("LimitNOFILE"))
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        return (asked if hard == resource.RLIM_INFINITY else min(asked, hard)), asked

    def caps(self, key):
        return ",".join("+" + c.lower().removeprefix("cap_") for c in self.words(key))

    def privileges(self, ambient=True):
        """setpriv's arguments for User=, Group=, NoNewPrivileges=, AmbientCapabilities=,
        CapabilityBoundingSet= (ambient=False: as if AmbientCapabilities= were not set)."""
        args = ["setpriv", "--reuid=" + self.one("User"), "--regid=" + self.one("Group"), "--init-groups"]
        if ambient and self.words("AmbientCapabilities"):
            caps = self.caps("AmbientCapabilities")
            args += ["--inh-caps=-all," + caps, "--ambient-caps=-all," + caps]
        if self.words("CapabilityBoundingSet"):
            args.append("--bounding-set=-all," + self.caps("CapabilityBoundingSet"))
        if self.one("NoNewPrivileges") == "yes":
            args.append("--no-new-privs")
        return args + ["--"]

    def sandbox_script(self):
        """Shell commands (run as root in a fresh mount namespace) for ProtectSystem=strict,
        ReadWritePaths=, StateDirectory=, PrivateTmp=, ProtectHome=, then WorkingDirectory= and
        UMask=; ends with `exec "$@"`."""
        q = shlex.quote
        lines = ["set -e"]
        writable = self.words("ReadWritePaths") + ["/var/lib/" + d for d in self.words("StateDirectory")]
        if self.one("ProtectSystem") == "strict":
            points = mountpoints()
            for p in dict.fromkeys(writable):
                lines.append("mount --bind %s %s" % (q(p), q(p)))
            for m in points:
                if m in writable or any(m == a or m.startswith(a + "/") for a in API_FILE_SYSTEMS):
                    continue
                lines.append("mount -o remount,bind,ro %s" % q(m))
        if self.one("PrivateTmp") == "yes":
            for d in ("/tmp", "/var/tmp"):
                lines.append("mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs %s" % d)
        if self.one("ProtectHome") == "yes":
            for d in ("/home", "/root", "/run/user"):
                lines.append("if [ -d %s ]; then mount -t tmpfs -o mode=000,ro tmpfs %s; fi" % (d, d))
        if self.one("WorkingDirectory"):
            lines.append("cd %s" % q(self.one("WorkingDirectory")))
        if self.one("UMask"):
            lines.append("umask %s" % q(self.one("UMask")))
        lines.append('exec "$@"')
        return "\n".join(lines)

    def spawn(self, log, ambient=True, extra_env=None):
        """Starts ExecStart= as described in the module's docstring; returns (Popen, nofile used)."""
        nofile, _ = self.nofile()
        env = self.service_env()
        env.update(extra_env or {})
        argv = (["unshare", "--mount", "--propagation", "private", "sh", "-c", self.sandbox_script(), "sh",
                 "prlimit", "--nofile=%d:%d" % (nofile, nofile)]
                + self.privileges(ambient)
                + ["env", "-i"] + ["%s=%s" % kv for kv in sorted(env.items())]
                + self.command("ExecStart", extra_env))
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env={"PATH": SERVICE_PATH})
        return proc, nofile

    def reload(self, pid):
        """Runs ExecReload= as the unit's user with $MAINPID set, as `systemctl reload` would."""
        argv = self.privileges() + self.command("ExecReload", {"MAINPID": str(pid)})
        return subprocess.run(argv, capture_output=True, text=True, timeout=30)
