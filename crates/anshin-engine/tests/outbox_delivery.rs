//! The outbox against a real SMTP server (Python's aiosmtpd on 127.0.0.1): what is queued
//! arrives exactly, a server that is down delays mail without losing it (across a killed and
//! restarted runner), refused mails are never sent, and without `[smtp]` nothing is sent.
//!
//! The sink parses each received message with Python's `email` package (an independent MIME
//! decoder) and writes what it saw as JSON, one file per message.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anshin_core::{CheckKey, CheckKind, Level};
use anshin_engine::mail::{run_outbox, send_test, OutboxError, RetryPolicy, SmtpSettings};
use anshin_engine::store::{NewMail, OutboxKind, OutboxRecord, OutboxState, Store};
use anshin_engine::SystemClock;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

const SUBJECT: &str = "[Speever][Lv.4]web01 Load avg.が 24 以上（現在：25.31）";
const FROM: &str = "mail_alert@hosting-srv.net";
const SINK: &str = r#"
import email, email.policy, json, os, sys, threading
from aiosmtpd.controller import Controller

host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]

class Sink:
    n = 0
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        Sink.n += 1
        raw = envelope.original_content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        rec = {
            "subject": str(msg["subject"]),
            "from": [a.addr_spec for a in msg["from"].addresses],
            "to": [a.addr_spec for a in msg["to"].addresses],
            "message_id": str(msg["message-id"]),
            "date": str(msg["date"]),
            "content_type": msg.get_content_type(),
            "charset": msg.get_content_charset(),
            "body": msg.get_content(),
            "envelope_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "raw": raw.decode("ascii", "replace"),
            "peer": "%s:%s" % tuple(session.peer[:2]),
        }
        tmp = os.path.join(out, "%04d.tmp" % Sink.n)
        with open(tmp, "w") as f:
            json.dump(rec, f, ensure_ascii=False)
        os.rename(tmp, os.path.join(out, "%04d.json" % Sink.n))
        return "250 2.0.0 Ok: queued"

c = Controller(Sink(), hostname=host, port=port)
c.start()
print("ready", flush=True)
threading.Event().wait()
"#;

/// A real SMTP server on loopback, killed (by its PID, through `Child`) when dropped.
struct SmtpSink {
    child: Child,
    out: PathBuf,
}

impl SmtpSink {
    fn start(addr: SocketAddr, dir: &Path) -> SmtpSink {
        let out = dir.join(format!("mail-{}", addr.port()));
        std::fs::create_dir_all(&out).unwrap();
        let script = dir.join("sink.py");
        std::fs::File::create(&script).unwrap().write_all(SINK.as_bytes()).unwrap();
        let log = std::fs::File::create(dir.join(format!("sink-{}.log", addr.port()))).unwrap();
        let child = Command::new("/usr/bin/python3")
            .arg(&script)
            .args([addr.ip().to_string(), addr.port().to_string()])
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("python3 with aiosmtpd (Debian: python3-aiosmtpd)");
        let sink = SmtpSink { child, out };
        for _ in 0..200 {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return sink;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the SMTP sink did not listen on {addr}");
    }

    /// Every message received so far, in arrival order.
    fn mails(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names.iter().map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()).collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn settings(addr: SocketAddr) -> SmtpSettings {
    SmtpSettings::from_url(&format!("smtp://{addr}"), None).unwrap().with_timeout(Duration::from_secs(5))
}

/// Short waits so a test sees several retries in about a second.
fn quick() -> RetryPolicy {
    RetryPolicy {
        first: Duration::from_millis(100),
        max: Duration::from_millis(400),
        batch: 16,
        idle_check: Duration::from_millis(200),
    }
}

struct Runner {
    shutdown: watch::Sender<bool>,
    wake: Arc<Notify>,
    task: JoinHandle<Result<(), OutboxError>>,
}

impl Runner {
    fn start(db: &Path, smtp: Option<SmtpSettings>) -> Runner {
        let (shutdown, rx) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(run_outbox(db.to_path_buf(), smtp, quick(), Arc::new(SystemClock), rx, wake.clone()));
        Runner { shutdown, wake, task }
    }

    async fn stop(self) {
        let _ = self.shutdown.send(true);
        let r = tokio::time::timeout(Duration::from_secs(10), self.task).await.expect("the runner stops on shutdown");
        r.unwrap().unwrap();
    }
}

/// Opens an incident and queues its alert mail in one transaction, as the engine does.
fn enqueue(store: &mut Store, host: &str, subject: &str, to: &[&str]) -> i64 {
    let tx = store.begin().unwrap();
    let key = CheckKey::new(host, CheckKind::Ping);
    let incident = tx.open_incident(&key, Level::Severe, subject, "", Utc::now()).unwrap();
    let mail = NewMail {
        kind: OutboxKind::Alert,
        incident_id: Some(incident),
        from: FROM.into(),
        to: to.iter().map(|s| s.to_string()).collect(),
        subject: subject.into(),
        body: format!("{host} の監視で障害を検知しました。\nイベント発報日時：2026/11/25 10:00:00\n\n本メールは送信専用メールアドレスからの自動送信で送信しております。\n"),
    };
    let id = tx.enqueue_mail(&mail, Utc::now()).unwrap();
    tx.commit().unwrap();
    id
}

fn row(store: &Store, id: i64) -> OutboxRecord {
    store.outbox(1000).unwrap().into_iter().find(|r| r.id == id).unwrap()
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
async fn a_queued_mail_arrives_exactly_and_a_resend_keeps_its_message_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.db");
    let addr = free_addr();
    let sink = SmtpSink::start(addr, dir.path());
    let mut store = Store::open(&db).unwrap();
    let to = ["ops@example.jp", "cto@example.co.jp", "night-duty@example.ne.jp"];
    let id = enqueue(&mut store, "web01", SUBJECT, &to);
    let queued = row(&store, id);

    let runner = Runner::start(&db, Some(settings(addr)));
    runner.wake.notify_one();
    wait_for("the mail to arrive", 10, || sink.mails().len() == 1).await;
    wait_for("the row to be marked sent", 5, || row(&store, id).state == OutboxState::Sent).await;

    let m = &sink.mails()[0];
    assert_eq!(m["subject"], SUBJECT, "{}", m["raw"]);
    assert_eq!(m["from"], serde_json::json!([FROM]));
    assert_eq!(m["to"], serde_json::json!(to));
    assert_eq!(m["rcpt_tos"], serde_json::json!(to));
    assert_eq!(m["envelope_from"], FROM);
    assert_eq!(m["message_id"], queued.message_id.as_str());
    assert_eq!((m["content_type"].as_str(), m["charset"].as_str()), (Some("text/plain"), Some("utf-8")));
    assert_eq!(m["body"].as_str().unwrap().replace("\r\n", "\n"), queued.body);
    assert!(!m["date"].as_str().unwrap().is_empty());
    let raw = m["raw"].as_str().unwrap();
    assert!(raw.contains("\r\n\r\n") && !raw.replace("\r\n", "").contains('\n'), "CRLF only on the wire");
    assert!(raw.is_ascii(), "headers and body are encoded for 7-bit transport");

    let sent = row(&store, id);
    assert_eq!((sent.attempts, sent.last_error.as_deref()), (1, None));
    let events = store.events().unwrap();
    let mail_sent: Vec<_> = events.iter().filter(|e| e.kind == "mail_sent").collect();
    assert_eq!(mail_sent.len(), 1);
    assert_eq!(
        (mail_sent[0].detail.as_str(), mail_sent[0].incident_id),
        (queued.message_id.as_str(), queued.incident_id)
    );

    // A crash after the server's 250 but before the mark leaves the row pending: the mail goes
    // out again, recognizable by the same Message-ID (at least once, never lost).
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("UPDATE outbox SET state = 'pending', sent_at = NULL WHERE id = ?1", [id])
        .unwrap();
    runner.wake.notify_one();
    wait_for("the resend", 10, || sink.mails().len() == 2).await;
    assert_eq!(sink.mails()[1]["message_id"], sink.mails()[0]["message_id"]);
    // on the connection kept from the first mail (it answered NOOP), not a new one
    assert_eq!(sink.mails()[1]["peer"], sink.mails()[0]["peer"]);
    wait_for("the row to be marked sent again", 5, || row(&store, id).state == OutboxState::Sent).await;
    runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_delays_mail_across_a_killed_runner_and_delivers_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.db");
    let addr = free_addr(); // nothing listens here yet: connection refused
    let mut store = Store::open(&db).unwrap();
    let ids: Vec<i64> = ["web01", "web02", "db01"]
        .iter()
        .map(|h| enqueue(&mut store, h, &format!("[Speever][Lv.5]{h} ping 疎通不可"), &["ops@example.jp"]))
        .collect();

    let runner = Runner::start(&db, Some(settings(addr)));
    wait_for("every mail to be tried twice and fail", 10, || {
        ids.iter().all(|&id| {
            let r = row(&store, id);
            r.attempts >= 2 && r.last_error.is_some()
        })
    })
    .await;
    for &id in &ids {
        let r = row(&store, id);
        assert_eq!(r.state, OutboxState::Pending);
        let error = r.last_error.unwrap();
        assert!(error.contains("unreachable"), "{error}");
    }
    // Kill: no shutdown, no goodbye.
    runner.task.abort();
    assert!(runner.task.await.unwrap_err().is_cancelled());
    let attempts_before: Vec<u32> = ids.iter().map(|&id| row(&store, id).attempts).collect();

    let sink = SmtpSink::start(addr, dir.path());
    let runner = Runner::start(&db, Some(settings(addr)));
    wait_for("all three to arrive", 15, || sink.mails().len() >= 3).await;
    wait_for("all three to be marked sent", 5, || ids.iter().all(|&id| row(&store, id).state == OutboxState::Sent))
        .await;
    // Give a wrong second delivery time to show itself.
    tokio::time::sleep(Duration::from_millis(800)).await;
    runner.stop().await;

    let mails = sink.mails();
    assert_eq!(mails.len(), 3, "each mail exactly once");
    let mut got: Vec<&str> = mails.iter().map(|m| m["message_id"].as_str().unwrap()).collect();
    let mut want: Vec<String> = ids.iter().map(|&id| row(&store, id).message_id).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    for (i, &id) in ids.iter().enumerate() {
        let r = row(&store, id);
        assert_eq!(r.attempts, attempts_before[i] + 1);
    }
    // Oldest first.
    assert_eq!(mails[0]["subject"], "[Speever][Lv.5]web01 ping 疎通不可");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_headers_and_refused_recipients_fail_for_good_and_are_never_sent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.db");
    let addr = free_addr();
    let sink = SmtpSink::start(addr, dir.path());
    let mut store = Store::open(&db).unwrap();
    let evil = enqueue(&mut store, "web01", "[Speever][Lv.4]web01\r\nBcc: victim@example.com", &["ops@example.jp"]);
    let evil_lf = enqueue(&mut store, "web02", "[Speever][Lv.4]web02\nX-Evil: 1", &["ops@example.jp"]);
    let evil_to =
        enqueue(&mut store, "web03", "[Speever][Lv.4]web03", &["ops@example.jp\r\nRCPT TO:<victim@example.com>"]);
    let refused = enqueue(&mut store, "web04", "[Speever][Lv.4]web04", &["reject-me@example.jp"]);
    let fine = enqueue(&mut store, "web05", "[Speever][Lv.4]web05 SSH サービスダウン", &["ops@example.jp"]);

    let runner = Runner::start(&db, Some(settings(addr)));
    wait_for("the good mail to be sent", 10, || row(&store, fine).state == OutboxState::Sent).await;
    wait_for("the bad ones to fail", 5, || {
        [evil, evil_lf, evil_to, refused].iter().all(|&id| row(&store, id).state == OutboxState::FailedPermanent)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    runner.stop().await;

    for id in [evil, evil_lf, evil_to] {
        let e = row(&store, id).last_error.unwrap();
        assert!(e.contains("control character U+000"), "{e}");
    }
    let e = row(&store, refused).last_error.unwrap();
    assert!(e.contains("550"), "{e}");
    assert_eq!(row(&store, refused).attempts, 1, "a 5xx is not retried");
    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "only the good mail reached the server");
    assert_eq!(mails[0]["subject"], "[Speever][Lv.4]web05 SSH サービスダウン");
    assert!(!mails[0]["raw"].as_str().unwrap().contains("victim"));
    let failed = store.events().unwrap().iter().filter(|e| e.kind == "mail_failed").count();
    assert_eq!(failed, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_settings_nothing_is_sent_and_mail_waits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.db");
    let addr = free_addr();
    let sink = SmtpSink::start(addr, dir.path());
    let mut store = Store::open(&db).unwrap();
    let id = enqueue(&mut store, "web01", SUBJECT, &["ops@example.jp"]);
    let runner = Runner::start(&db, None);
    runner.wake.notify_one();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    runner.stop().await;
    assert!(sink.mails().is_empty());
    let r = row(&store, id);
    assert_eq!((r.state, r.attempts, r.last_error), (OutboxState::Pending, 0, None));

    // The same store, later run with settings, delivers what waited.
    let runner = Runner::start(&db, Some(settings(addr)));
    wait_for("the waiting mail to go out", 10, || sink.mails().len() == 1).await;
    runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_test_sends_one_mail_and_reports_a_dead_server() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let err = send_test(&settings(addr), FROM, &["ops@example.jp".into()]).await.unwrap_err();
    assert!(!err.is_permanent(), "{err}");
    let sink = SmtpSink::start(addr, dir.path());
    let id = send_test(&settings(addr), FROM, &["ops@example.jp".into()]).await.unwrap();
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0]["message_id"], id.as_str());
    assert!(mails[0]["subject"].as_str().unwrap().contains("テストメール"));
}
