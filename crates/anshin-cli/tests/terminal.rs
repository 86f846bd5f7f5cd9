//! The `anshin` binary as a shell and a terminal meet it, run as a process through real pipes:
//! text that operators, servers or files wrote reaches the terminal escaped (never as escape
//! sequences that retitle the window, move the cursor or erase lines), and a reader that leaves
//! early (`| head -1`) ends every printer quietly with exit 0 — `run` after stopping its engine
//! cleanly, `serve` not at all (its consoles go on).
//!
//! Needs what the engine needs: an ICMP socket (root, CAP_NET_RAW or ping_group_range) for the
//! `run` and `serve` cases. Everything listens on 127.0.0.1 with ports the kernel picks.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anshin_core::Level;
use anshin_engine::store::outbox::{NewMail, OutboxKind};
use anshin_engine::Store;
use chrono::Utc;

const BIN: &str = env!("CARGO_BIN_EXE_anshin");

/// Operator text as an attacker would type it: set the window title, clear the screen, home
/// the cursor, forge a line (CR LF, U+2028), and a C1 CSI (U+009B).
const HOSTILE: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[H消去\r\n偽の行\u{2028}\u{9b}31m赤";
/// The same text as the terminal must show it.
const SHOWN: &str = "\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{1b}[H消去\\r\\n偽の行\\u{2028}\\u{9b}31m赤";

const OPERATOR: &str = "op-terminal-0123456789";

/// A scratch directory, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let p = std::env::temp_dir().join(format!("anshin-cli-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A store with one incident whose trigger, opening detail, note and note author are hostile,
/// `more` plain incidents after it, and `mails` queued mails with hostile subjects: enough
/// output (well over a pipe's 64 KiB) that a reader leaving early makes the writer hit EPIPE.
fn hostile_store(dir: &Dir, more: usize, mails: usize) -> PathBuf {
    let db = dir.path("log.db");
    let mut store = Store::open(&db).unwrap();
    let at = Utc::now();
    let tx = store.begin().unwrap();
    for i in 0..more {
        let host = format!("srv{i:04}");
        tx.open_incident_on(&host, "ping", Level::Unreachable, &format!("{host} ping 疎通不可"), "timeout", at)
            .unwrap();
    }
    let id =
        tx.open_incident_on("web01", "http", Level::Severe, &format!("web01 HTTP {HOSTILE}"), HOSTILE, at).unwrap();
    tx.add_note(id, "web01", "http", HOSTILE, &format!("ops{HOSTILE}"), at).unwrap();
    for i in 0..mails {
        let mail = NewMail {
            kind: OutboxKind::Alert,
            incident_id: Some(id),
            from: "mail_alert@hosting-srv.net".into(),
            to: vec!["ops@example.jp".into()],
            subject: format!("[Speever][Lv.4]web01 {HOSTILE} {i}"),
            body: "本文\n".into(),
        };
        tx.enqueue_mail(&mail, at).unwrap();
    }
    tx.commit().unwrap();
    db
}

/// Nothing a terminal would act on: no C0 or C1 control but the line ends, no U+2028/2029.
fn assert_terminal_safe(what: &str, out: &str) {
    for (n, line) in out.lines().enumerate() {
        assert!(
            !line.chars().any(anshin_core::text::is_hidden),
            "{what}: line {} holds a hidden character: {line:?}",
            n + 1
        );
    }
    assert!(!out.contains('\r'), "{what}: a raw CR");
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn operator_and_server_text_reaches_the_terminal_escaped() {
    let dir = Dir::new("escape");
    let db = hostile_store(&dir, 0, 1);
    let db = db.to_str().unwrap();
    for args in [vec!["review", "--db", db], vec!["incidents", "--db", db], vec!["outbox", "--db", db]] {
        let out = run(&args);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_terminal_safe(&format!("{args:?}"), &text);
        assert!(text.contains(SHOWN), "{args:?} does not show the text escaped:\n{text}");
    }
    // Forged line breaks stay inside their entry: the incident, then its story (opened, the
    // note, the queued mail), one line each.
    let out = String::from_utf8(run(&["review", "--db", db]).stdout).unwrap();
    assert_eq!(out.lines().count(), 4, "{out}");
    assert_eq!(out.lines().filter(|l| l.contains(SHOWN)).count(), 3, "{out}");
    // A search term the store could not run (SQLite's LIKE limit) is bad input, not a failure.
    let long = "a".repeat(60_000);
    let out = run(&["review", "--db", db, "--text", &long]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--text is 60000 characters long: search with at most 200"));
    // JSON stays JSON (serde's escapes) and carries the text exactly.
    let out = run(&["review", "--db", db, "--json"]);
    let row: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(row["trigger"], format!("web01 HTTP {HOSTILE}"));
}

/// `bash -c 'anshin … | head -1'`: the exit status of anshin (PIPESTATUS) and its stderr.
fn through_head(args: &[&str]) -> (i32, String, String) {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!("timeout 60 '{BIN}' {} 2>\"$ERR\" | head -1; exit ${{PIPESTATUS[0]}}", quoted.join(" "));
    let dir = Dir::new("stderr");
    let err = dir.path("stderr");
    let out = Command::new("bash").arg("-c").arg(&script).env("ERR", &err).output().unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

#[test]
fn a_reader_that_leaves_early_ends_every_printer_quietly() {
    let dir = Dir::new("pipe");
    let db = hostile_store(&dir, 3000, 3000);
    let db = db.to_str().unwrap();
    for args in [
        vec!["review", "--db", db],
        vec!["review", "--db", db, "--json"],
        vec!["review", "--db", db, "--csv"],
        vec!["incidents", "--db", db],
        vec!["incidents", "--db", db, "--json"],
        vec!["outbox", "--db", db],
        vec!["outbox", "--db", db, "--json"],
    ] {
        let (code, first, stderr) = through_head(&args);
        assert_eq!((code, stderr.as_str()), (0, ""), "{args:?}");
        assert_eq!(first.lines().count(), 1, "{args:?}: {first}");
    }
}

/// A fleet of one server on 127.0.0.1 whose custom check talks to `port` (expecting `OK`).
fn fleet(dir: &Dir, port: u16) -> PathBuf {
    let path = dir.path("fleet.toml");
    std::fs::write(
        &path,
        format!(
            "[noc]\ninterval_secs = 1\nattempts = 3\ntimeout_secs = 2\n\
             [[customer]]\nid = \"c1\"\nname = \"テスト\"\nplan = \"150\"\nnotify = [\"ops@example.jp\"]\n\
             [[server]]\nlabel = \"web01\"\ncustomer = \"c1\"\nfqdn = \"web01.example.jp\"\nip = \"127.0.0.1\"\n\
             custom = [{{ name = \"app\", port = {port}, expect = \"OK\" }}]\n"
        ),
    )
    .unwrap();
    path
}

/// A port on 127.0.0.1 where nothing listens (bound by the kernel's choice, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn run_stops_its_engine_and_exits_0_when_its_reader_leaves() {
    let dir = Dir::new("run");
    let fleet = fleet(&dir, closed_port());
    let db = dir.path("run.db");
    let started = Instant::now();
    let (code, first, stderr) = through_head(&["run", fleet.to_str().unwrap(), "--db", db.to_str().unwrap(), "--json"]);
    assert_eq!((code, stderr.as_str()), (0, ""), "run --json | head -1");
    assert!(first.contains("\"engine_started\""), "{first}");
    // The custom check fails every second: the next line hits the closed pipe within seconds.
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    // A clean stop: the engine logged its own end.
    let store = Store::open_read_only(&db).unwrap();
    let kinds: Vec<String> = store.events().unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.last().map(String::as_str), Some("engine_stopped"), "{kinds:?}");
}

/// Sends one HTTP/1.1 request with the operator token; returns the status code.
fn http(port: u16, method: &str, path: &str, body: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {OPERATOR}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// `anshin serve` with text output on stdout (piped to the test).
fn serve(dir: &Dir) -> (Child, u16) {
    let fleet = fleet(dir, closed_port());
    let tokens = dir.path("tokens");
    std::fs::write(&tokens, format!("operator {OPERATOR} yamada\n")).unwrap();
    let port = closed_port();
    let child = Command::new(BIN)
        .args(["serve", fleet.to_str().unwrap(), "--db", dir.path("serve.db").to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--tokens", tokens.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not listen within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, port)
}

/// A pause of web01 with the hostile reason, through the console API.
fn pause(port: u16) -> u16 {
    let ends = (Utc::now() + chrono::Duration::minutes(30)).to_rfc3339();
    let body = serde_json::json!({ "scope": { "kind": "server", "id": "web01" }, "ends_at": ends, "reason": HOSTILE });
    http(port, "POST", "/api/v1/maintenance", &body.to_string())
}

/// SIGTERM by pid, then the exit code (SIGKILL after 20 s, and the test fails).
fn stop(mut child: Child) -> (i32, String) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return (status.code().unwrap_or(-1), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve did not stop within 20 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_prints_a_pause_reason_escaped() {
    let dir = Dir::new("serve-text");
    let (mut child, port) = serve(&dir);
    assert_eq!(pause(port), 200);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    let mut line = String::new();
    while Instant::now() < deadline && out.read_line(&mut line).unwrap_or(0) > 0 {
        seen.push_str(&line);
        if line.contains("PAUSE") {
            break;
        }
        line.clear();
    }
    let (code, _) = stop(child);
    assert!(line.contains("PAUSE") && line.contains(SHOWN), "no escaped pause line in:\n{seen}");
    assert_terminal_safe("serve", &seen);
    assert_eq!(code, 0);
}

#[test]
fn serve_goes_on_serving_when_its_output_is_gone() {
    let dir = Dir::new("serve-pipe");
    let (mut child, port) = serve(&dir);
    drop(child.stdout.take());
    assert_eq!(pause(port), 200, "the pause is taken");
    // The pause's event hit the closed pipe; the consoles are still served.
    std::thread::sleep(Duration::from_secs(2));
    assert!(child.try_wait().unwrap().is_none(), "serve ended with its output");
    assert_eq!(http(port, "GET", "/api/v1/whoami", ""), 200);
    let (code, stderr) = stop(child);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("events are no longer printed"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn validate_refuses_what_mails_refuse_and_escapes_what_it_quotes() {
    let dir = Dir::new("validate");
    let path = dir.path("fleet\u{1b}[2J.toml");
    let fleet = |extra_noc: &str, label: &str, os: &str| {
        format!(
            "[noc]\n{extra_noc}\n[[customer]]\nid = \"c1\"\nname = \"テスト\"\nplan = \"150\"\nnotify = [\"ops@example.jp\"]\n\
             [[server]]\nlabel = \"{label}\"\ncustomer = \"c1\"\nfqdn = \"web01.example.jp\"\nip = \"127.0.0.1\"\nos = \"{os}\"\n"
        )
    };
    let validate = |text: &str| {
        std::fs::write(&path, text).unwrap();
        let out = run(&["validate", path.to_str().unwrap()]);
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert_eq!(validate(&fleet("", "web01", "CentOS 7")).0, Some(0));
    for (text, want) in [
        (fleet("brand = \"\"", "web01", "CentOS 7"), "brand is empty"),
        (fleet("", "web01", "CentOS\\u2028 7"), "OS contains a line break or control character (U+2028)"),
        (fleet("", "web01", "CentOS\\u001b[2J"), "OS contains a line break or control character (U+001B)"),
        (fleet("", "--help", "CentOS 7"), "server label \"--help\" is not a plain name"),
        (fleet("", "..", "CentOS 7"), "server label \"..\" is not a plain name"),
        (
            fleet("", "web\\r\\n\\u001b]0;owned\\u0007", "CentOS 7"),
            "server label \"web\\r\\n\\u{1b}]0;owned\\u{7}\" is not a plain name",
        ),
    ] {
        let (code, stderr) = validate(&text);
        assert_eq!(code, Some(2), "{text}");
        assert!(stderr.contains(want), "{text}\n{stderr}");
        assert!(stderr.contains("fleet\\u{1b}[2J.toml:"), "the file name is escaped too: {stderr}");
        assert_terminal_safe("validate", &stderr);
    }
}
