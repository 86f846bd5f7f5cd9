//! SSH sessions against a real OpenSSH sshd from the loopback test fleet (tests/fleet), no
//! mocks: persistent sessions reused, host key pinning (unknown, trust-on-first-use, hashed,
//! changed), authentication failures and passphrases, reconnection with backoff after an sshd
//! restart, the output cap and timeouts.
//!
//! Needs root (the fleet runs sshd in its own mount namespace) and Debian's /usr/bin/python3.
//! Each test brings up its own one-host fleet on 127.78.41–49.x and tears it down on drop, also
//! when the test panics.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anshin_engine::ssh::{SshError, SshPool, Step};

mod common;
use common::sshd_fleet::Fleet;

const STEP: Duration = Duration::from_secs(5);
const LOADAVG: &str = "cat /proc/loadavg";

/// `SHA256:…` of a public key file, as ssh-keygen prints it.
fn fingerprint_of(pub_file: &Path) -> String {
    let out = Command::new("ssh-keygen").arg("-lf").arg(pub_file).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1).unwrap().to_string()
}

fn keygen(path: &Path, kind: &str, passphrase: &str) {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", passphrase, "-C", "anshin-test", "-f"]).arg(path);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    assert!(cmd.status().unwrap().success());
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_is_reused_for_every_exec() {
    let fleet = Fleet::up("127.78.41");
    let kh = fleet.dir.path().join("known_hosts");
    let target = fleet.target(&kh, true);
    let pool = SshPool::new(4, STEP);

    let t0 = Instant::now();
    let first = pool.exec(&target, LOADAVG, 4096).await.unwrap();
    let first_ms = t0.elapsed().as_secs_f64() * 1e3;
    assert_eq!(first.stdout, "0.10 0.20 0.30 1/100 1000\n");
    assert_eq!(first.exit_status, Some(0));
    assert!(!first.truncated);

    fleet.fleet(&["loadavg", &fleet.path_str(), "web01", "25.31 1.00 0.50 1/100 1234"]);
    let mut round_trips = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let out = pool.exec(&target, LOADAVG, 4096).await.unwrap();
        round_trips.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(out.stdout.trim_end(), "25.31 1.00 0.50 1/100 1234");
    }
    assert_eq!(pool.established(), 1, "20 execs must reuse the first session");
    assert_eq!(fleet.ssh_connections(), 1, "exactly one TCP connection to sshd");

    // Concurrent execs share the session too (one channel each).
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (pool, target) = (pool.clone(), target.clone());
            tokio::spawn(async move { pool.exec(&target, "nproc", 64).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().unwrap().stdout.trim().parse::<u32>().unwrap() >= 1);
    }

    // Exit status and stderr of a failing command; not an error of the session.
    let missing = pool.exec(&target, "no-such-command-anshin", 4096).await.unwrap();
    assert_eq!(missing.exit_status, Some(127));
    assert!(missing.stderr.contains("not found"), "{missing:?}");

    // The output cap: 1 MB of zeros, 1000 bytes kept, the session survives.
    let t = Instant::now();
    let big = pool.exec(&target, "head -c 1000000 /dev/zero", 1000).await.unwrap();
    let big_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(big.stdout.len(), 1000);
    assert!(big.stdout.bytes().all(|b| b == 0));
    assert!(big.truncated);
    // Closing the channel early ends the command on the server (no leaked `head`).
    let mut leaked = true;
    for _ in 0..40 {
        let ps = Command::new("pgrep").args(["-u", "anshin", "-f", "head -c 1000000 /dev/zero"]).output().unwrap();
        if ps.stdout.is_empty() {
            leaked = false;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!leaked, "the capped command still runs on the server");
    let whole = pool.exec(&target, "head -c 100000 /dev/zero", 200_000).await.unwrap();
    assert_eq!((whole.stdout.len(), whole.truncated, whole.exit_status), (100_000, false, Some(0)));

    // A hanging command times out; the session stays and is reused.
    let quick = SshPool::new(1, Duration::from_millis(700));
    quick.exec(&target, "true", 64).await.unwrap();
    let err = quick.exec(&target, "sleep 5", 64).await.unwrap_err();
    assert!(matches!(err, SshError::Timeout { step: Step::ExecRead, .. }), "{err}");
    assert_eq!(quick.exec(&target, "echo ok", 64).await.unwrap().stdout, "ok\n");
    assert_eq!(quick.established(), 1);

    // The handshake cap: with one permit, a server that accepts TCP but never speaks SSH holds
    // it until the handshake timeout, and the real server's handshake waits for it.
    let silent = tokio::net::TcpListener::bind("127.78.41.9:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..4 {
            if let Ok((conn, _)) = silent.accept().await {
                held.push(conn);
            }
        }
    });
    let capped = SshPool::new(1, Duration::from_secs(1));
    let mut mute = target.clone();
    (mute.host, mute.ip, mute.port) = ("mute01".into(), "127.78.41.9".parse().unwrap(), silent_port);
    let stuck = {
        let capped = capped.clone();
        tokio::spawn(async move { capped.exec(&mute, LOADAVG, 64).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    capped.exec(&target, LOADAVG, 4096).await.unwrap();
    let waited = t.elapsed();
    let err = stuck.await.unwrap().unwrap_err();
    assert!(matches!(err, SshError::Timeout { step: Step::Handshake, .. }), "{err}");
    assert!(waited >= Duration::from_millis(800), "the second handshake did not wait for the permit: {waited:?}");
    hold.abort();

    assert_eq!(pool.established(), 1);
    eprintln!(
        "first exec (connect+auth+exec) {first_ms:.1} ms; exec on the persistent session: median {:.2} ms, max {:.2} ms; 1 MB capped to 1000 B in {big_ms:.1} ms",
        median_ms(round_trips.clone()),
        round_trips.iter().cloned().fold(0.0, f64::max)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_keys_are_pinned() {
    let fleet = Fleet::up("127.78.42");
    let kh = fleet.dir.path().join("pins").join("known_hosts");
    let server_fp = fingerprint_of(&fleet.host_key_pub());

    // Unknown host, no trust-on-first-use: refused with the fingerprint, nothing written.
    let err = SshPool::new(2, STEP).exec(&fleet.target(&kh, false), LOADAVG, 4096).await.unwrap_err();
    match &err {
        SshError::UnknownHostKey { fingerprint, .. } => assert_eq!(fingerprint, &server_fp),
        other => panic!("expected UnknownHostKey, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&server_fp) && msg.contains("ssh-keyscan -p 22 127.78.42.2") && msg.contains("trust-on-first-use"),
        "{msg}"
    );
    assert!(!kh.exists());

    // Trust-on-first-use records it (creating the file) in OpenSSH's format...
    let pool = SshPool::new(2, STEP);
    pool.exec(&fleet.target(&kh, true), LOADAVG, 4096).await.unwrap();
    let recorded = std::fs::read_to_string(&kh).unwrap();
    assert!(recorded.starts_with("127.78.42.2 ssh-ed25519 AAAA"), "{recorded}");
    assert_eq!(recorded.lines().count(), 1);
    // ...OpenSSH's own client accepts that file...
    let ssh = Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .arg("-i")
        .arg(&fleet.key)
        .args(["anshin@127.78.42.2", "true"])
        .status()
        .unwrap();
    assert!(ssh.success(), "OpenSSH rejects the recorded known_hosts line");
    // ...and the second run matches without trust-on-first-use.
    SshPool::new(2, STEP).exec(&fleet.target(&kh, false), LOADAVG, 4096).await.unwrap();
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), recorded, "a known key is not recorded twice");

    // Hashed entries (`ssh-keygen -H`) match too.
    assert!(Command::new("ssh-keygen").arg("-q").arg("-H").arg("-f").arg(&kh).output().unwrap().status.success());
    assert!(std::fs::read_to_string(&kh).unwrap().starts_with("|1|"));
    SshPool::new(2, STEP).exec(&fleet.target(&kh, false), LOADAVG, 4096).await.unwrap();

    // A changed key: the line now pins another key.
    let other = fleet.dir.path().join("other_host_key");
    keygen(&other, "ed25519", "");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let other_fields: Vec<&str> = other_pub.split_whitespace().collect();
    std::fs::write(&kh, format!("# pinned by hand\n127.78.42.2 {} {}\n", other_fields[0], other_fields[1])).unwrap();
    let other_fp = fingerprint_of(&other.with_extension("pub"));
    let pool = SshPool::new(2, STEP);
    // Trust-on-first-use does not apply to a changed key.
    let target = fleet.target(&kh, true);
    let err = pool.exec(&target, LOADAVG, 4096).await.unwrap_err();
    match &err {
        SshError::HostKeyChanged { expected, got, line, .. } => {
            assert_eq!((expected, got, *line), (&other_fp, &server_fp, 2));
        }
        other => panic!("expected HostKeyChanged, got {other}"),
    }
    assert!(err.is_security());
    assert!(err.to_string().contains("ssh-keygen -R 127.78.42.2"), "{err}");
    assert!(std::fs::read_to_string(&kh).unwrap().contains(other_fields[1]), "the pin is not overwritten");

    // It does not connect again: with sshd stopped the answer is still the refusal, at once,
    // not a connection error.
    fleet.stop_ssh();
    let t = Instant::now();
    for _ in 0..3 {
        let again = pool.exec(&target, LOADAVG, 4096).await.unwrap_err();
        assert!(matches!(again, SshError::HostKeyChanged { .. }), "{again}");
    }
    assert!(t.elapsed() < Duration::from_millis(200));
    fleet.start_ssh();
    let again = pool.exec(&target, LOADAVG, 4096).await.unwrap_err();
    assert!(matches!(again, SshError::HostKeyChanged { .. }), "{again}");
    assert_eq!(pool.established(), 0);

    // Fixing the known_hosts line lets the same pool connect again.
    std::fs::write(&kh, recorded).unwrap();
    pool.exec(&target, LOADAVG, 4096).await.unwrap();
    assert_eq!(pool.established(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_failures_say_what_to_fix() {
    let fleet = Fleet::up("127.78.43");
    let kh = fleet.dir.path().join("known_hosts");
    let keys = fleet.dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();

    // A key the server does not know.
    let stranger = keys.join("id_ed25519");
    keygen(&stranger, "ed25519", "");
    let mut target = fleet.target(&kh, true);
    target.key_path = stranger.clone();
    let pool = SshPool::new(2, STEP);
    let err = pool.exec(&target, LOADAVG, 4096).await.unwrap_err();
    assert!(matches!(err, SshError::AuthRefused { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "authentication as anshin refused by web01 (127.78.43.2:22): is {}.pub in ~anshin/.ssh/authorized_keys?",
            stranger.display()
        )
    );
    // No hammering: the next call is refused by the backoff without a connection.
    let err = pool.exec(&target, LOADAVG, 4096).await.unwrap_err();
    assert!(matches!(err, SshError::Backoff { .. }), "{err}");
    assert!(err.to_string().contains("authentication as anshin refused"), "{err}");

    // A missing key file.
    target.key_path = keys.join("nope");
    let err = SshPool::new(2, STEP).exec(&target, LOADAVG, 4096).await.unwrap_err();
    assert!(matches!(err, SshError::Key { .. }) && err.to_string().contains("no such file"), "{err}");

    // An RSA key protected by a passphrase, authorized on the server.
    let rsa = keys.join("id_rsa");
    keygen(&rsa, "rsa", "correct horse");
    let authorized = fleet.public.join("authorized_keys");
    let mut ak = std::fs::read_to_string(&authorized).unwrap();
    ak.push_str(&std::fs::read_to_string(rsa.with_extension("pub")).unwrap());
    std::fs::write(&authorized, ak).unwrap();
    target.key_path = rsa.clone();

    // The only test that touches the variable; no other test uses encrypted keys.
    std::env::remove_var("ANSHIN_SSH_PASSPHRASE");
    let err = SshPool::new(2, STEP).exec(&target, LOADAVG, 4096).await.unwrap_err();
    assert!(matches!(err, SshError::Key { .. }) && err.to_string().contains("ANSHIN_SSH_PASSPHRASE"), "{err}");
    std::env::set_var("ANSHIN_SSH_PASSPHRASE", "wrong");
    let err = SshPool::new(2, STEP).exec(&target, LOADAVG, 4096).await.unwrap_err();
    assert!(matches!(err, SshError::Key { .. }) && err.to_string().contains("right passphrase"), "{err}");
    std::env::set_var("ANSHIN_SSH_PASSPHRASE", "correct horse");
    let out = SshPool::new(2, STEP).exec(&target, LOADAVG, 4096).await;
    std::env::remove_var("ANSHIN_SSH_PASSPHRASE");
    assert_eq!(out.unwrap().stdout, "0.10 0.20 0.30 1/100 1000\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_comes_back_after_sshd_restart_with_backoff() {
    let fleet = Fleet::up("127.78.44");
    let kh = fleet.dir.path().join("known_hosts");
    let target = fleet.target(&kh, true);
    let pool = SshPool::new(2, STEP);
    pool.exec(&target, LOADAVG, 4096).await.unwrap();
    assert_eq!(pool.established(), 1);

    fleet.stop_ssh();
    // The dropped session is noticed and a reconnect tried at once: refused, backoff starts.
    let err = pool.exec(&target, LOADAVG, 4096).await.unwrap_err();
    assert!(matches!(err, SshError::Connect { .. } | SshError::Transport { .. }), "{err}");
    let err = if matches!(err, SshError::Transport { .. }) {
        pool.exec(&target, LOADAVG, 4096).await.unwrap_err()
    } else {
        err
    };
    assert!(matches!(err, SshError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("Is sshd running"), "{err}");
    let SshError::Backoff { until: first_until, .. } = pool.exec(&target, LOADAVG, 4096).await.unwrap_err() else {
        panic!("expected Backoff")
    };
    let wait = first_until.saturating_duration_since(Instant::now());
    assert!(wait > Duration::from_millis(500) && wait <= Duration::from_secs(1), "first backoff {wait:?}");

    // Still down after the first backoff: the next delay doubles.
    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    let err = pool.exec(&target, LOADAVG, 4096).await.unwrap_err();
    assert!(matches!(err, SshError::Connect { .. }), "{err}");
    let SshError::Backoff { until, last_error, .. } = pool.exec(&target, LOADAVG, 4096).await.unwrap_err() else {
        panic!("expected Backoff")
    };
    assert!(last_error.contains("cannot connect"), "{last_error}");
    let wait = until.saturating_duration_since(Instant::now());
    assert!(wait > Duration::from_millis(1500) && wait <= Duration::from_secs(2), "second backoff {wait:?}");

    // sshd comes back; while the backoff lasts nothing is tried, then the session returns.
    fleet.start_ssh();
    let err = pool.exec(&target, LOADAVG, 4096).await.unwrap_err();
    assert!(matches!(err, SshError::Backoff { .. }), "{err}");
    tokio::time::sleep(until.saturating_duration_since(Instant::now()) + Duration::from_millis(20)).await;
    let out = pool.exec(&target, LOADAVG, 4096).await.unwrap();
    assert_eq!(out.stdout, "0.10 0.20 0.30 1/100 1000\n");
    assert_eq!(pool.established(), 2);
    for _ in 0..5 {
        pool.exec(&target, LOADAVG, 4096).await.unwrap();
    }
    assert_eq!(pool.established(), 2);
    assert_eq!(fleet.ssh_connections(), 1);
}

/// A sink whose every write fails (the NOC's disk is full).
struct FullDisk;

impl tokio::io::AsyncWrite for FullDisk {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Err(std::io::Error::other("No space left on device")))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// A streamed command (a backup's output): all of it reaches the sink in order however big (no
/// cap), its input is delivered, a slow sink slows the stream instead of failing it, silence ends
/// it after the idle time (no total deadline), and a sink that fails is the NOC's failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reaches_its_sink_whole_with_an_idle_timeout_and_no_cap() {
    use tokio::io::AsyncReadExt;
    let fleet = Fleet::up("127.78.45");
    let kh = fleet.dir.path().join("known_hosts");
    let target = fleet.target(&kh, true);
    let pool = SshPool::new(2, STEP);
    let idle = Duration::from_secs(5);

    // 14 MB of numbered lines, far past any text cap.
    let expected: String = (1..=2_000_000).map(|i| format!("{i}\n")).collect();
    let (mut sink, mut calls) = (Vec::new(), 0u32);
    let out = pool
        .exec_stream(&target, "seq 1 2000000", &mut &b""[..], &mut sink, 4096, idle, &mut |_| calls += 1)
        .await
        .unwrap();
    assert_eq!((out.bytes as usize, out.exit_status), (expected.len(), Some(0)));
    assert!(sink == expected.as_bytes(), "the stream arrived changed ({} bytes)", sink.len());
    assert!(calls > 1, "progress is told as the bytes come");

    // Its input reaches the command; standard error and the exit status come back.
    let mut sink = Vec::new();
    let input = vec![b'x'; 300_000];
    let out = pool
        .exec_stream(&target, "wc -c; echo oops >&2; exit 3", &mut &input[..], &mut sink, 4096, idle, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&sink).trim(), "300000");
    assert_eq!((out.exit_status, out.stderr.as_str()), (Some(3), "oops\n"));

    // A slow reader on the other side of a small pipe: the stream waits for it and is whole.
    let (mut writer, mut reader) = tokio::io::duplex(16 * 1024);
    let slow = tokio::spawn(async move {
        let (mut got, mut buf) = (Vec::new(), vec![0u8; 16 * 1024]);
        loop {
            let n = reader.read(&mut buf).await.unwrap();
            if n == 0 {
                break got;
            }
            got.extend_from_slice(&buf[..n]);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let out =
        pool.exec_stream(&target, "seq 1 200000", &mut &b""[..], &mut writer, 4096, idle, &mut |_| {}).await.unwrap();
    drop(writer);
    let got = slow.await.unwrap();
    let small: String = (1..=200_000).map(|i| format!("{i}\n")).collect();
    assert!(got == small.as_bytes() && out.bytes as usize == small.len(), "{} bytes", got.len());

    // Silence past the idle time ends the stream, well before the command would.
    let started = Instant::now();
    let err = pool
        .exec_stream(
            &target,
            "echo start; sleep 30",
            &mut &b""[..],
            &mut Vec::new(),
            4096,
            Duration::from_secs(1),
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::Timeout { step: Step::StreamIdle, .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

    // Our disk full: said as ours, and the session stays usable.
    let err = pool
        .exec_stream(&target, "seq 1 1000", &mut &b""[..], &mut FullDisk, 4096, idle, &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::LocalWrite { .. }) && err.code() == "local_write", "{err}");
    assert!(err.to_string().contains("on this machine") && err.to_string().contains("No space left"), "{err}");
    assert_eq!(pool.exec(&target, LOADAVG, 4096).await.unwrap().stdout, "0.10 0.20 0.30 1/100 1000\n");
    assert_eq!(pool.established(), 1, "one session for all of it");
}
