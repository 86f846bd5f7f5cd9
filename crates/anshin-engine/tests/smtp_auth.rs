//! The SMTP password never travels in clear, against a real SMTP server (Python's aiosmtpd on
//! 127.0.0.1) behind a recording relay that keeps every byte the client sent:
//! - a server that offers AUTH but no STARTTLS never sees AUTH, the password or a mail, the
//!   send fails saying why, and the outbox keeps the mail pending with that reason;
//! - a server that offers STARTTLS (a certificate from a CA made for the test, trusted through
//!   `SSL_CERT_FILE`) gets the password only inside TLS: nothing of it is readable on the wire;
//! - `insecure_auth` (a relay on loopback) is the one way to send it without TLS;
//! - `smtps://` speaks TLS from the first byte.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anshin_core::{CheckKey, CheckKind, Level};
use anshin_engine::mail::{run_outbox, send_test, MailError, RetryPolicy, Security, SmtpSettings};
use anshin_engine::store::{NewMail, OutboxKind, OutboxState, Store};
use anshin_engine::SystemClock;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::{watch, Notify};

const USER: &str = "alerts";
const PASSWORD: &str = "correct-horse-battery-staple";
/// `AUTH PLAIN`'s argument for USER/PASSWORD: what a leak looks like on the wire.
const PLAIN_B64: &str = "AGFsZXJ0cwBjb3JyZWN0LWhvcnNlLWJhdHRlcnktc3RhcGxl";

const SERVER: &str = r#"
import asyncio, json, os, ssl, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

host, port, inner, out, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]

def record(name, obj):
    with open(os.path.join(out, name), "a") as f:
        f.write(json.dumps(obj) + "\n")

def authenticator(server, session, envelope, mechanism, auth_data):
    record("auth.jsonl", {"mechanism": mechanism, "login": auth_data.login.decode(),
                          "password": auth_data.password.decode(), "tls": session.ssl is not None})
    return AuthResult(success=True)

class Sink:
    async def handle_DATA(self, server, session, envelope):
        record("mail.jsonl", {"from": envelope.mail_from, "tls": session.ssl is not None})
        return "250 2.0.0 Ok: queued"

kw = dict(authenticator=authenticator, auth_required=False)
if mode == "starttls":
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[6], sys.argv[7])
    kw.update(tls_context=ctx, require_starttls=False)
elif mode == "smtps":
    # TLS from the first byte (port 465's way). aiosmtpd does not count an implicit TLS session
    # as TLS for AUTH (session.ssl stays unset), so it is told to offer AUTH anyway: the test
    # reads the wire to see that nothing went in clear.
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[6], sys.argv[7])
    kw.update(ssl_context=ctx, auth_require_tls=False)
else:
    # The finding's server: AUTH offered on a plain connection, no STARTTLS.
    kw.update(auth_require_tls=False)
c = Controller(Sink(), hostname=host, port=inner, **kw)
c.start()

# The recording relay in front: every byte from the client, in order, to wire.bin.
async def pipe(reader, writer, log):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if log:
                with open(os.path.join(out, "wire.bin"), "ab") as f:
                    f.write(data)
            writer.write(data)
            await writer.drain()
    except Exception:
        pass
    finally:
        writer.close()

async def relay(creader, cwriter):
    sreader, swriter = await asyncio.open_connection(host, inner)
    await asyncio.gather(pipe(creader, swriter, True), pipe(sreader, cwriter, False))

async def main():
    server = await asyncio.start_server(relay, host, port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"#;

/// aiosmtpd with its relay, killed (by its PID, through `Child`) when dropped.
struct Server {
    child: Child,
    out: PathBuf,
    addr: SocketAddr,
}

impl Server {
    fn start(dir: &Path, mode: &str, cert: Option<(&Path, &Path)>) -> Server {
        let addr = free_addr();
        let inner = free_addr().port();
        let out = dir.join(format!("smtp-{}", addr.port()));
        std::fs::create_dir_all(&out).unwrap();
        let script = dir.join("smtp_auth_server.py");
        std::fs::File::create(&script).unwrap().write_all(SERVER.as_bytes()).unwrap();
        let log = std::fs::File::create(dir.join(format!("server-{}.log", addr.port()))).unwrap();
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(&script).args([addr.ip().to_string(), addr.port().to_string(), inner.to_string()]).arg(&out).arg(mode);
        if let Some((c, k)) = cert {
            cmd.arg(c).arg(k);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("python3 with aiosmtpd (Debian: python3-aiosmtpd)");
        let server = Server { child, out, addr };
        for _ in 0..200 {
            let inner_up =
                TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], inner)), Duration::from_millis(200));
            if inner_up.is_ok() && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                // Those probe connections wrote nothing; start the record from here.
                std::thread::sleep(Duration::from_millis(100));
                let _ = std::fs::remove_file(server.out.join("wire.bin"));
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the SMTP server did not listen on {addr}");
    }

    /// Every byte the client sent, as text (lossy).
    fn wire(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.out.join("wire.bin")).unwrap_or_default()).into_owned()
    }

    fn records(&self, name: &str) -> Vec<Value> {
        std::fs::read_to_string(self.out.join(name))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn with_password(addr: SocketAddr) -> SmtpSettings {
    SmtpSettings::from_url(&format!("smtp://{USER}@{addr}"), Some(PASSWORD.into()))
        .unwrap()
        .with_timeout(Duration::from_secs(5))
}

/// A CA and a leaf certificate for 127.0.0.1 signed by it (openssl); returns (ca, cert, key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (ca, ca_key, cert, key, csr, ext) =
        (path("ca.pem"), path("ca.key"), path("cert.pem"), path("key.pem"), path("cert.csr"), path("leaf.ext"));
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        &[&["req", "-x509"], &ec[..], &["-days", "2", "-subj", "/CN=anshin test CA", "-keyout", &ca_key, "-out", &ca]]
            .concat(),
    );
    openssl(&[&["req"], &ec[..], &["-subj", "/CN=127.0.0.1", "-keyout", &key, "-out", &csr]].concat());
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &ext,
        "-out",
        &cert,
    ]);
    (ca.into(), cert.into(), key.into())
}

fn assert_no_password(wire: &str) {
    assert!(!wire.contains(PASSWORD), "the password crossed the wire readable:\n{wire}");
    assert!(!wire.contains(PLAIN_B64), "AUTH PLAIN's argument crossed the wire readable:\n{wire}");
}

/// Polls `cond` every 50 ms for at most `secs` seconds.
async fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_starttls_never_receives_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "plain", None);
    let settings = with_password(server.addr);
    assert_eq!(settings.security, Security::StartTlsRequired);

    // `anshin mail-test`'s path: the send fails and says why.
    let err = send_test(&settings, "noc@example.jp", &["ops@example.jp".into()]).await.unwrap_err();
    assert_eq!(err, MailError::NoStartTls { server: server.addr.to_string() });
    assert!(!err.is_permanent(), "the mail is kept and retried, never dropped");
    let text = err.to_string();
    assert!(text.contains("does not offer STARTTLS") && text.contains("insecure_auth"), "{text}");
    let wire = server.wire();
    assert!(wire.starts_with("EHLO "), "{wire}");
    assert!(!wire.contains("AUTH") && !wire.contains("MAIL FROM"), "only EHLO (and QUIT) may go:\n{wire}");
    assert_no_password(&wire);
    assert!(server.records("auth.jsonl").is_empty() && server.records("mail.jsonl").is_empty());

    // The outbox: the mail stays pending with the reason, tried again later, never lost.
    let db = dir.path().join("log.db");
    let mut store = Store::open(&db).unwrap();
    let tx = store.begin().unwrap();
    let incident = tx
        .open_incident(&CheckKey::new("web01", CheckKind::Ping), Level::Severe, "web01 ping", "", Utc::now())
        .unwrap();
    let mail = NewMail {
        kind: OutboxKind::Alert,
        incident_id: Some(incident),
        from: "noc@example.jp".into(),
        to: vec!["ops@example.jp".into()],
        subject: "[Speever][Lv.5]web01 ping 疎通不可".into(),
        body: "本文\n".into(),
    };
    let id = tx.enqueue_mail(&mail, Utc::now()).unwrap();
    tx.commit().unwrap();
    let policy = RetryPolicy {
        first: Duration::from_millis(100),
        max: Duration::from_millis(300),
        batch: 16,
        idle_check: Duration::from_millis(200),
    };
    let (shutdown, rx) = watch::channel(false);
    let runner = tokio::spawn(run_outbox(
        db.clone(),
        Some(settings),
        policy,
        Arc::new(SystemClock),
        rx,
        Arc::new(Notify::new()),
    ));
    let row = || store.outbox(10).unwrap().into_iter().find(|r| r.id == id).unwrap();
    wait_for("two attempts", 10, || row().attempts >= 2).await;
    let _ = shutdown.send(true);
    tokio::time::timeout(Duration::from_secs(10), runner).await.unwrap().unwrap().unwrap();
    let r = row();
    assert_eq!(r.state, OutboxState::Pending);
    assert!(r.last_error.as_deref().unwrap_or("").contains("does not offer STARTTLS"), "{:?}", r.last_error);
    let wire = server.wire();
    assert!(!wire.contains("AUTH") && !wire.contains("MAIL FROM"), "{wire}");
    assert_no_password(&wire);
    assert!(server.records("auth.jsonl").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_starttls_the_password_goes_only_inside_tls_and_insecure_auth_is_the_loopback_opt_in() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    // lettre reads its roots (rustls-native-certs) when it builds the TLS settings: this file
    // only. No other test in this binary uses TLS.
    std::env::set_var("SSL_CERT_FILE", &ca);
    let server = Server::start(dir.path(), "starttls", Some((&cert, &key)));
    send_test(&with_password(server.addr), "noc@example.jp", &["ops@example.jp".into()]).await.unwrap();
    let auth = server.records("auth.jsonl");
    assert_eq!(auth.len(), 1, "{auth:?}");
    assert_eq!((auth[0]["login"].as_str(), auth[0]["password"].as_str()), (Some(USER), Some(PASSWORD)));
    assert_eq!(auth[0]["tls"], true, "AUTH came inside TLS");
    assert_eq!(server.records("mail.jsonl")[0]["tls"], true);
    let wire = server.wire();
    assert!(wire.contains("STARTTLS\r\n"), "{wire}");
    let clear = &wire[..wire.find("STARTTLS\r\n").unwrap()];
    assert!(!clear.contains("AUTH"), "{clear}");
    assert_no_password(&wire);

    // The same mail to a loopback relay without STARTTLS: refused by default, sent with the
    // fleet's `insecure_auth` (the password is then on loopback only).
    let plain = Server::start(dir.path(), "plain", None);
    assert!(send_test(&with_password(plain.addr), "noc@example.jp", &["ops@example.jp".into()]).await.is_err());
    let relay = with_password(plain.addr).allow_insecure_auth().unwrap();
    send_test(&relay, "noc@example.jp", &["ops@example.jp".into()]).await.unwrap();
    let auth = plain.records("auth.jsonl");
    assert_eq!((auth.len(), auth[0]["password"].as_str(), &auth[0]["tls"]), (1, Some(PASSWORD), &Value::Bool(false)));
    assert_eq!(plain.records("mail.jsonl").len(), 1);

    // smtps://: TLS from the first byte, so not even the greeting is readable on the wire.
    let smtps = Server::start(dir.path(), "smtps", Some((&cert, &key)));
    let url = format!("smtps://{USER}@{}", smtps.addr);
    let settings = SmtpSettings::from_url(&url, Some(PASSWORD.into())).unwrap();
    assert_eq!(settings.security, Security::ImplicitTls);
    send_test(&settings, "noc@example.jp", &["ops@example.jp".into()]).await.unwrap();
    let auth = smtps.records("auth.jsonl");
    assert_eq!((auth.len(), auth[0]["password"].as_str()), (1, Some(PASSWORD)));
    assert_eq!(smtps.records("mail.jsonl").len(), 1);
    let wire = smtps.wire();
    assert!(!wire.is_empty() && !wire.contains("EHLO") && !wire.contains("AUTH"), "{wire}");
    assert_no_password(&wire);
}
