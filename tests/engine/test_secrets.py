"""Secrets never travel in clear, and come from where the operator put them: the `anshin`
binary against a real SMTP server (aiosmtpd on 127.0.0.1, behind a relay that records every
byte the client sent) and a real OS keyring (Debian's gnome-keyring on a private session bus
under dbus-run-session).

- a server that offers AUTH without STARTTLS never receives the password; `mail-test` says why;
- `anshin secret set smtp` stores the password in the keyring, and a mail to a server with
  STARTTLS then authenticates with it, inside TLS; `anshin secret delete smtp` removes it;
- the order variable > systemd credential > secrets_dir file, and a secrets_dir file that
  others may read is refused;
- `validate` refuses insecure_auth beyond loopback, a reboot token over http:// beyond
  loopback and a token_env the project reads itself.
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from conftest import anshin, anshin_bin

USER = "alerts"
PASSWORD = "pw-from-the-keyring-7f3a"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    """aiosmtpd offering AUTH (with STARTTLS when given a certificate, else on the plain
    connection), a relay in front of it recording what the client sent, and what the server
    saw: AUTH attempts (password, TLS or not) and mails."""

    def __init__(self, cert=None):
        self.auth, self.mails, self.wire = [], [], bytearray()
        kw = dict(authenticator=self._authenticate, auth_required=False)
        if cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*cert)
            kw.update(tls_context=ctx, require_starttls=False)
        else:
            kw.update(auth_require_tls=False)
        self.inner = Controller(self, hostname="127.0.0.1", port=free_port(), **kw)
        self.inner.start()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        self.auth.append({"login": auth_data.login.decode(), "password": auth_data.password.decode(),
                          "tls": session.ssl is not None})
        return AuthResult(success=True)

    async def handle_DATA(self, server, session, envelope):
        self.mails.append({"from": envelope.mail_from, "tls": session.ssl is not None})
        return "250 2.0.0 Ok: queued"

    def _accept(self):
        self.listener.settimeout(0.5)
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            upstream = socket.create_connection(("127.0.0.1", self.inner.port), timeout=10)
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src, dst, record):
        src.settimeout(30)
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record:
                    self.wire.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def text(self):
        return self.wire.decode("latin-1")

    def stop(self):
        self._stop = True
        self.listener.close()
        self.inner.stop()


@pytest.fixture
def servers():
    started = []
    yield started
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A CA and a certificate for 127.0.0.1 signed by it; the CA file is what anshin trusts
    (SSL_CERT_FILE)."""
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", *ec, "-days", "2", "-subj", "/CN=anshin test CA", "-keyout", str(d / "ca.key"),
        "-out", str(d / "ca.pem"))
    run("req", *ec, "-subj", "/CN=127.0.0.1", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.csr"))
    (d / "leaf.ext").write_text("basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\n"
                                "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", str(d / "cert.csr"), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"),
        "-CAcreateserial", "-days", "2", "-extfile", str(d / "leaf.ext"), "-out", str(d / "cert.pem"))
    return {"ca": str(d / "ca.pem"), "cert": (str(d / "cert.pem"), str(d / "key.pem"))}


FLEET = """
[noc]
brand = "Speever"
mail_from = "mail_alert@hosting-srv.net"
{noc}
[[customer]]
id = "c1"
name = "株式会社テスト"
plan = "150"
notify = ["ops@example.jp"]

[[server]]
label = "web01"
customer = "c1"
fqdn = "web01.example.jp"
ip = "127.78.250.2"
{server}
[smtp]
{smtp}
"""


def write_fleet(tmp_path, smtp, noc="", server=""):
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET.format(noc=noc, server=server, smtp=smtp))
    return str(path)


def clean_env(**extra):
    """The environment without any secret source the test did not ask for."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ANSHIN_SMTP_PASSWORD", "ANSHIN_SSH_PASSPHRASE", "CREDENTIALS_DIRECTORY",
                        "DBUS_SESSION_BUS_ADDRESS", "SSL_CERT_FILE", "SSL_CERT_DIR")}
    env.update(extra)
    return env


def mail_test(fleet, env, timeout=60):
    return subprocess.run([anshin_bin(), "mail-test", fleet, "--to", "ops@example.jp"],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_a_server_without_starttls_never_receives_the_password(tmp_path, servers):
    server = SmtpServer()
    servers.append(server)
    fleet = write_fleet(tmp_path, 'url = "smtp://%s@127.0.0.1:%d"' % (USER, server.port))
    r = mail_test(fleet, clean_env(ANSHIN_SMTP_PASSWORD=PASSWORD))
    assert r.returncode == 1, r
    assert "does not offer STARTTLS, so the password was not sent" in r.stderr, r.stderr
    assert "insecure_auth" in r.stderr and "smtps://" in r.stderr, r.stderr
    wire = server.text()
    assert wire.startswith("EHLO "), wire
    assert "AUTH" not in wire and "MAIL FROM" not in wire, wire
    assert PASSWORD not in wire, wire
    assert server.auth == [] and server.mails == []

    # The loopback relay opt-in: the same server, now allowed to take it without TLS.
    fleet = write_fleet(tmp_path, 'url = "smtp://%s@127.0.0.1:%d"\ninsecure_auth = true' % (USER, server.port))
    r = mail_test(fleet, clean_env(ANSHIN_SMTP_PASSWORD=PASSWORD))
    assert r.returncode == 0, r
    assert server.auth == [{"login": USER, "password": PASSWORD, "tls": False}]


def test_validate_refuses_secrets_in_clear_and_borrowed_variables(tmp_path):
    fleet = write_fleet(tmp_path, 'url = "smtp://%s@mail.example.jp:587"\ninsecure_auth = true' % USER)
    r = anshin("validate", fleet)
    assert r.returncode == 2 and "fleet.toml:20:17: insecure_auth = true sends the SMTP password without TLS" \
        in r.stderr, r.stderr
    for reboot, msg in [
        ('{ url = "http://api.example.jp/{label}", token_env = "VPS_TOKEN" }', "would send its token in clear"),
        ('{ url = "https://api.example.jp/{label}", token_env = "ANSHIN_SMTP_PASSWORD" }',
         "names a variable Anshin NOC reads for itself"),
        ('{ url = "https://api.example.jp/{label}", token_env = "vps token" }', "capitals, digits and '_'"),
    ]:
        fleet = write_fleet(tmp_path, 'url = "smtp://127.0.0.1:25"', server="reboot = %s\n" % reboot)
        r = anshin("validate", fleet)
        assert r.returncode == 2 and "fleet.toml:17:" in r.stderr and msg in r.stderr, (reboot, r.stderr)
    fleet = write_fleet(tmp_path, 'url = "smtp://127.0.0.1:25"',
                        server='reboot = { url = "https://api.example.jp/{label}", token_env = "VPS_TOKEN" }\n')
    assert anshin("validate", fleet).returncode == 0


def test_sources_in_order_and_an_exposed_file_is_refused(tmp_path, servers, tls):
    server = SmtpServer(cert=tls["cert"])
    servers.append(server)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    fleet = write_fleet(tmp_path, 'url = "smtp://%s@127.0.0.1:%d"' % (USER, server.port),
                        noc='secrets_dir = "secrets"')
    (secrets / "smtp").write_text("from-the-dir\n")
    os.chmod(secrets / "smtp", 0o644)
    r = mail_test(fleet, clean_env(SSL_CERT_FILE=tls["ca"]))
    assert r.returncode == 1 and "group or others may access it (mode 0644): run `chmod 600" in r.stderr, r.stderr
    assert server.auth == []

    os.chmod(secrets / "smtp", 0o600)
    assert mail_test(fleet, clean_env(SSL_CERT_FILE=tls["ca"])).returncode == 0
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "smtp").write_text("from-the-credential")
    assert mail_test(fleet, clean_env(SSL_CERT_FILE=tls["ca"], CREDENTIALS_DIRECTORY=str(creds))).returncode == 0
    r = mail_test(fleet, clean_env(SSL_CERT_FILE=tls["ca"], CREDENTIALS_DIRECTORY=str(creds),
                                   ANSHIN_SMTP_PASSWORD="from-the-variable"))
    assert r.returncode == 0, r
    assert [a["password"] for a in server.auth] == ["from-the-dir", "from-the-credential", "from-the-variable"]
    assert all(a["tls"] for a in server.auth) and len(server.mails) == 3
    for p in ("from-the-dir", "from-the-credential", "from-the-variable"):
        assert p not in server.text(), "a password readable on the wire"


KEYRING_SESSION = r"""
set -e
# A keyring daemon of this session only, its login keyring unlocked with a password on stdin.
eval "$(printf 'test-login-password' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
printf '%s\n' "$SECRET" | "$ANSHIN" secret set smtp
echo "--- lookup: $(secret-tool lookup service anshin-noc username smtp)"
set +e
"$ANSHIN" mail-test "$FLEET" --to ops@example.jp
echo "--- mail-test exit $?"
"$ANSHIN" secret delete smtp
echo "--- delete exit $?"
"$ANSHIN" mail-test "$FLEET" --to ops@example.jp
echo "--- after delete exit $?"
printf 'x' | "$ANSHIN" secret set password
echo "--- bad name exit $?"
kill "$GNOME_KEYRING_PID" 2>/dev/null || true
"""


def test_secret_set_stores_in_the_keyring_and_the_mail_authenticates_with_it(tmp_path, servers, tls):
    for tool in ("gnome-keyring-daemon", "dbus-run-session", "secret-tool"):
        assert shutil.which(tool), "%s is missing: run scripts/install-deps.sh test" % tool
    server = SmtpServer(cert=tls["cert"])
    servers.append(server)
    fleet = write_fleet(tmp_path, 'url = "smtp://%s@127.0.0.1:%d"' % (USER, server.port))
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_RUNTIME_DIR=str(home / "run"),
                    ANSHIN=anshin_bin(), FLEET=fleet, SECRET=PASSWORD, SSL_CERT_FILE=tls["ca"])
    os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700)
    r = subprocess.run(["dbus-run-session", "--", "sh", "-c", KEYRING_SESSION], capture_output=True,
                       text=True, timeout=120, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "stored smtp in the OS keyring (anshin-noc/smtp)" in out, out
    assert "--- lookup: %s\n" % PASSWORD in out, "another Secret Service client reads the entry back: " + out
    assert "--- mail-test exit 0" in out, out
    assert "removed smtp from the OS keyring" in out and "--- delete exit 0" in out, out
    assert "--- after delete exit 1" in out, out
    assert "no OS keyring entry anshin-noc/smtp" in out and "anshin secret set smtp" in out, out
    assert "\"password\" is not a secret name" in out and "--- bad name exit 2" in out, out
    # The one mail: authenticated with the keyring's password, inside TLS.
    assert server.auth == [{"login": USER, "password": PASSWORD, "tls": True}], server.auth
    assert len(server.mails) == 1 and server.mails[0]["tls"]
    assert PASSWORD not in server.text()


def test_an_encrypted_ssh_key_opens_with_the_passphrase_from_secrets_dir(fleet_factory, tmp_path):
    """The resource poll over a real sshd of the loopback fleet, with the fleet's key
    re-encrypted under a passphrase that only the secrets_dir file knows."""
    f = fleet_factory("127.78.61", ["web01:http"])
    f.set_command("web01", "nproc", "echo 2")
    f.set_loadavg("web01", "0.10 0.20 0.30 1/100 1234")
    key = tmp_path / "id_encrypted"
    shutil.copy(f.key, key)
    os.chmod(key, 0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", "ssh-secret", "-f", str(key)], check=True)
    text = f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2)
    extra = 'ssh = { user = "anshin", key = "%s", known_hosts = "%s", trust_on_first_use = true }\n' \
            'secrets_dir = "secrets"\n' % (key, tmp_path / "known_hosts")
    path = tmp_path / "fleet.toml"
    path.write_text(text.replace("timeout_secs = 2\n", "timeout_secs = 2\n" + extra, 1))
    (tmp_path / "secrets").mkdir()

    def poll():
        r = subprocess.run([anshin_bin(), "check", str(path), "--json"], capture_output=True, text=True,
                           timeout=60, env=clean_env())
        return {row["check"]: row for row in map(json.loads, r.stdout.splitlines())}

    row = poll()["resources"]
    assert not row["ok"], row
    assert "protected by a passphrase, but the SSH key passphrase was not found" in row["detail"], row
    assert "no file %s" % (tmp_path / "secrets" / "ssh-passphrase") in row["detail"], row
    (tmp_path / "secrets" / "ssh-passphrase").write_text("ssh-secret\n")
    os.chmod(tmp_path / "secrets" / "ssh-passphrase", 0o600)
    rows = poll()
    assert "resources" not in rows and rows["load"]["ok"] and rows["load"]["value"] == 0.1, rows
