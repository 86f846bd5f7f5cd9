//! Live tests: the simulators over real loopback sockets (127.77.250.x, high ports, so they
//! cannot clash with a running demo). Every loop is bounded in count and time.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::time::{sleep, timeout};

use crate::simulation::Simulation;
use crate::{run, DemoError, Fault, Outage};

const STEP: Duration = Duration::from_secs(3);

const RUN_FLEET: &str = r#"
[[server]]
label = "t-all"
customer = "c1"
fqdn = "all.test.example.jp"
ip = "127.77.250.2"
services = ["http", "smtp", "submission", "pop", "imap", "ftp", "mysql", "postgresql", "dns"]
ports = { ssh = 22222, http = 28080, smtp = 22525, submission = 22587, pop = 20110, imap = 20143, ftp = 22121, mysql = 23306, postgresql = 25432, dns = 20053 }
custom = [{ name = "app", port = 23000, expect = "OK" }, { name = "raw", port = 23001 }]

[[server]]
label = "t-two"
customer = "c1"
fqdn = "two.test.example.jp"
ip = "127.77.250.3"
ports = { ssh = 22222 }
"#;

fn addr(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}").parse().unwrap()
}

async fn connect(a: SocketAddr) -> std::io::Result<TcpStream> {
    timeout(STEP, TcpStream::connect(a)).await?
}

/// Sends `request` (if any), then reads until `want` bytes have arrived or the peer closes.
async fn talk(a: SocketAddr, request: &[u8], want: usize) -> Vec<u8> {
    let mut s = connect(a).await.unwrap_or_else(|e| panic!("connect {a}: {e}"));
    if !request.is_empty() {
        s.write_all(request).await.unwrap();
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    for _ in 0..50 {
        if got.len() >= want {
            break;
        }
        match timeout(STEP, s.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

async fn text(a: SocketAddr, request: &str, want: usize) -> String {
    String::from_utf8_lossy(&talk(a, request.as_bytes(), want).await).into_owned()
}

async fn dns(a: SocketAddr, name: &str) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&crate::dns::tests::query(name, 1), a).await.unwrap();
    let mut buf = [0u8; 512];
    match timeout(Duration::from_millis(500), sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

/// Polls `probe` every 50 ms, at most 60 times, until it returns true.
async fn eventually<F: std::future::Future<Output = bool>>(mut probe: impl FnMut() -> F) -> bool {
    for _ in 0..60 {
        if probe().await {
            return true;
        }
        sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn run_speaks_every_protocol_then_releases_its_ports() {
    let (stop, shutdown) = watch::channel(false);
    let demo = tokio::spawn(async move { run(RUN_FLEET, shutdown).await });
    let ip = "127.77.250.2";
    assert!(eventually(|| async { connect(addr("127.77.250.3", 22222)).await.is_ok() }).await, "demo came up");

    assert_eq!(text(addr(ip, 22222), "", 32).await, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
    assert_eq!(text(addr("127.77.250.3", 22222), "", 32).await, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");

    let page = text(addr(ip, 28080), "GET / HTTP/1.1\r\nHost: all.test.example.jp\r\n\r\n", usize::MAX).await;
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("Content-Length: ") && page.ends_with("</html>\n"), "{page}");

    for port in [22525, 22587] {
        let smtp = text(addr(ip, port), "EHLO noc\r\nQUIT\r\n", usize::MAX).await;
        assert!(smtp.starts_with("220 all.test.example.jp ESMTP Postfix\r\n250-all.test.example.jp\r\n"), "{smtp}");
        assert!(smtp.ends_with("221 2.0.0 Bye\r\n"), "{smtp}");
    }
    assert_eq!(text(addr(ip, 20110), "QUIT\r\n", usize::MAX).await, "+OK Dovecot ready.\r\n+OK Logging out.\r\n");
    assert_eq!(
        text(addr(ip, 20143), "a1 LOGOUT\r\n", usize::MAX).await,
        "* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n* BYE Logging out\r\na1 OK Logout completed.\r\n"
    );
    assert_eq!(text(addr(ip, 22121), "QUIT\r\n", usize::MAX).await, "220 (vsFTPd 3.0.3)\r\n221 Goodbye.\r\n");

    let mysql = talk(addr(ip, 23306), b"", crate::protocol::mysql_handshake(1).len()).await;
    let len = usize::from(mysql[0]) | usize::from(mysql[1]) << 8 | usize::from(mysql[2]) << 16;
    assert_eq!(mysql.len(), len + 4, "one whole packet");
    assert_eq!((mysql[3], mysql[4]), (0, 0x0a), "sequence 0, protocol 10");
    assert!(mysql[5..].starts_with(b"10.11.6-MariaDB\0"));

    let ssl_request = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    assert_eq!(talk(addr(ip, 25432), &ssl_request, 1).await, b"N");
    let startup = [&ssl_request[..], &[0, 0, 0, 9, 0, 3, 0, 0, 0]].concat();
    let refused = talk(addr(ip, 25432), &startup, usize::MAX).await;
    assert_eq!((refused[0], refused[1]), (b'N', b'E'), "SSL refused, then an ErrorResponse");

    assert_eq!(text(addr(ip, 23000), "", 4).await, "OK\r\n");
    assert!(connect(addr(ip, 23001)).await.is_ok(), "custom check without expect: a bare port");

    let answer = dns(addr(ip, 20053), "all.test.example.jp").await.expect("DNS answers");
    assert_eq!((answer[3] & 0x0f, &answer[answer.len() - 4..]), (0, &[127, 77, 250, 2][..]));
    let other = dns(addr(ip, 20053), "two.test.example.jp").await.unwrap();
    assert_eq!(&other[other.len() - 4..], &[127, 77, 250, 3]);
    assert_eq!(dns(addr(ip, 20053), "nowhere.example.org").await.unwrap()[3] & 0x0f, 3, "NXDOMAIN");

    stop.send(true).unwrap();
    let result = timeout(Duration::from_secs(10), demo).await.expect("run returns after shutdown").unwrap();
    assert!(result.is_ok(), "{result:?}");
    for port in [22222, 28080, 22525, 22587, 20110, 20143, 22121, 23306, 25432, 23000, 23001] {
        std::net::TcpListener::bind(addr(ip, port)).unwrap_or_else(|e| panic!("port {port} released: {e}"));
    }
    std::net::UdpSocket::bind(addr(ip, 20053)).expect("udp port released");
}

const FAULT_FLEET: &str = r#"
[[server]]
label = "t-f"
customer = "c1"
fqdn = "f.test.example.jp"
ip = "127.77.250.10"
services = ["http", "smtp", "imap", "dns"]
ports = { ssh = 22222, http = 28080, smtp = 22525, imap = 20143, dns = 20053 }
custom = [{ name = "app", port = 23000, expect = "OK" }]
"#;

#[tokio::test]
async fn faults_close_silence_and_garble_services_then_heal() {
    let (stop, shutdown) = watch::channel(false);
    let sim = Simulation::start(FAULT_FLEET, shutdown).await.unwrap();
    let ip = "127.77.250.10";
    let http = addr(ip, 28080);
    let get = "GET / HTTP/1.0\r\n\r\n";
    assert!(text(http, get, usize::MAX).await.starts_with("HTTP/1.1 200 OK"));

    // Down: the port closes, connects are refused; other services stay up.
    sim.apply(&[Outage { host: "t-f", service: "http", fault: Fault::Down }]);
    let refused = eventually(|| async {
        matches!(connect(http).await, Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
    })
    .await;
    assert!(refused, "http refuses connections while Down");
    assert!(text(addr(ip, 22525), "QUIT\r\n", usize::MAX).await.starts_with("220 "), "smtp unaffected");

    // Healed: the port reopens.
    sim.apply(&[]);
    assert!(eventually(|| async { connect(http).await.is_ok() }).await, "http listens again");
    assert!(text(http, get, usize::MAX).await.starts_with("HTTP/1.1 200 OK"));

    // Wrong: an error instead of the greeting.
    sim.apply(&[
        Outage { host: "t-f", service: "smtp", fault: Fault::Wrong },
        Outage { host: "t-f", service: "http", fault: Fault::Wrong },
        Outage { host: "t-f", service: "app", fault: Fault::Wrong },
        Outage { host: "t-f", service: "dns", fault: Fault::Wrong },
    ]);
    sleep(Duration::from_millis(100)).await; // let the endpoint tasks see the switch
    assert!(text(addr(ip, 22525), "", usize::MAX).await.starts_with("421 "));
    assert!(text(http, get, usize::MAX).await.starts_with("HTTP/1.1 500 "));
    assert_eq!(text(addr(ip, 23000), "", usize::MAX).await, "500 internal error\r\n");
    assert_eq!(dns(addr(ip, 20053), "f.test.example.jp").await.unwrap()[3] & 0x0f, 2, "SERVFAIL");

    // Silent: accepts, never answers.
    sim.apply(&[
        Outage { host: "t-f", service: "imap", fault: Fault::Silent },
        Outage { host: "t-f", service: "ssh", fault: Fault::Silent },
        Outage { host: "t-f", service: "dns", fault: Fault::Silent },
    ]);
    sleep(Duration::from_millis(100)).await;
    for port in [20143, 22222] {
        let mut s = connect(addr(ip, port)).await.expect("silent still accepts");
        let mut buf = [0u8; 64];
        assert!(timeout(Duration::from_millis(400), s.read(&mut buf)).await.is_err(), "port {port} says nothing");
    }
    assert!(dns(addr(ip, 20053), "f.test.example.jp").await.is_none());
    assert!(text(addr(ip, 22525), "QUIT\r\n", usize::MAX).await.starts_with("220 "), "smtp healthy again");

    // DNS down and back up.
    sim.apply(&[Outage { host: "t-f", service: "dns", fault: Fault::Down }]);
    sleep(Duration::from_millis(100)).await;
    assert!(dns(addr(ip, 20053), "f.test.example.jp").await.is_none());
    sim.apply(&[]);
    assert!(eventually(|| async { dns(addr(ip, 20053), "f.test.example.jp").await.is_some() }).await);

    stop.send(true).unwrap();
    timeout(Duration::from_secs(10), sim.wait()).await.expect("stops");
    std::net::TcpListener::bind(http).expect("port released");
}

#[tokio::test]
async fn a_taken_port_is_a_clear_error_naming_it() {
    let squatter = std::net::TcpListener::bind("127.77.250.20:22222").unwrap();
    let fleet = FAULT_FLEET.replace("127.77.250.10", "127.77.250.20");
    let (_stop, shutdown) = watch::channel(false);
    let err = timeout(Duration::from_secs(10), run(&fleet, shutdown)).await.expect("fails fast").unwrap_err();
    assert!(matches!(err, DemoError::Bind { .. }), "{err:?}");
    assert!(err.to_string().contains("127.77.250.20:22222"), "{err}");
    drop(squatter);
    // Nothing of the failed start is left listening.
    std::net::TcpListener::bind("127.77.250.20:28080").expect("no leftovers");
}

#[tokio::test]
async fn refuses_a_fleet_off_loopback() {
    let (_stop, shutdown) = watch::channel(false);
    let fleet = FAULT_FLEET.replace("127.77.250.10", "10.0.0.1");
    let err = run(&fleet, shutdown).await.unwrap_err();
    assert!(err.to_string().contains("not loopback"), "{err}");
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_at_once() {
    let (stop, shutdown) = watch::channel(false);
    let fleet = FAULT_FLEET.replace("127.77.250.10", "127.77.250.30");
    let sim = Simulation::start(&fleet, shutdown).await.unwrap();
    sim.apply(&[Outage { host: "t-f", service: "ssh", fault: Fault::Silent }]);
    sleep(Duration::from_millis(100)).await;
    let ssh = addr("127.77.250.30", 22222);
    let mut held = Vec::new();
    for _ in 0..crate::simulation::MAX_CONNECTIONS {
        held.push(connect(ssh).await.unwrap());
    }
    sleep(Duration::from_millis(300)).await; // let the server accept them all
    let mut extra = connect(ssh).await.unwrap();
    let mut buf = [0u8; 8];
    let closed = timeout(Duration::from_secs(2), extra.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "over the cap: closed, got {closed:?}");
    drop(held);
    sleep(Duration::from_millis(300)).await;
    let mut again = connect(ssh).await.unwrap();
    assert!(timeout(Duration::from_millis(300), again.read(&mut buf)).await.is_err(), "served (silently) again");
    stop.send(true).unwrap();
    timeout(Duration::from_secs(10), sim.wait()).await.expect("stops");
}
