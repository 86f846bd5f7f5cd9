//! Property test of the probes' greeting parsers, driven through the real code: a loopback
//! listener (127.0.0.1, a port the kernel picks) serves arbitrary bytes — often behind a
//! plausible start (`220 `, `+OK`, `* OK`, `SSH-2.0-`, `HTTP/1.1 `, a MySQL packet header) —
//! and `Prober::probe` runs every check kind against it: SSH, each service (implicit-TLS ones
//! get the bytes as their handshake; DNS gets them as a UDP answer, with or without our query
//! id), custom checks with and without an expected prefix. Whatever a hostile or broken server
//! sends: no panic, done within the probe timeout plus a margin, a detail of bounded length with
//! no control character.
//!
//! Needs an ICMP socket for `Prober::new` (root, CAP_NET_RAW or ping_group_range), like the engine.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anshin_core::{CheckKey, CheckKind, CheckSpec, Service};
use anshin_engine::probe::Prober;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Short, so that a peer that never finishes costs little; the property is that it is kept.
const TIMEOUT: Duration = Duration::from_millis(150);
/// Room for a loaded 2-core machine to schedule the task after its deadline.
const MARGIN: Duration = Duration::from_millis(1500);
/// A detail is a sentence and at most 160 bytes quoted from the peer (plus escapes).
const MAX_DETAIL: usize = 400;

/// What the fake server does after sending its bytes.
#[derive(Debug, Clone, Copy)]
enum Then {
    /// Closes the connection.
    Close,
    /// Keeps it open and reads whatever comes (the probe must give up by its timeout).
    Hold,
    /// Sends the bytes again after the probe's first write (a second reply).
    Echo,
}

#[derive(Debug, Clone)]
struct Peer {
    bytes: Vec<u8>,
    then: Then,
    /// For DNS: put the query's id in front of the answer (reaches the rcode branches).
    dns_id: bool,
}

fn peer() -> impl Strategy<Value = Peer> {
    let prefix = prop::sample::select(vec![
        b"".to_vec(),
        b"220 ".to_vec(),
        b"220-".to_vec(),
        b"+OK".to_vec(),
        b"* OK".to_vec(),
        b"* PREAUTH".to_vec(),
        b"SSH-2.0-".to_vec(),
        b"SSH-1.0-".to_vec(),
        b"HTTP/1.1 ".to_vec(),
        b"HTTP/1.0 503".to_vec(),
        b"S".to_vec(),
        b"N".to_vec(),
        b"OK".to_vec(),
        vec![0x20, 0, 0, 0, 10],
        vec![0xff, 0xff, 0xff, 0],
        vec![0x10, 0, 0, 0, 0xff, 0x15, 0x04],
        vec![0x16, 0x03, 0x03, 0x00, 0x31, 0x02],
        vec![0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0],
    ]);
    let byte = prop_oneof![
        6 => any::<u8>(),
        2 => prop::sample::select(b"\r\n\x1b\x07\x00 0123456789-".to_vec()),
    ];
    let tail = prop_oneof![
        4 => prop::collection::vec(byte, 0..300),
        1 => prop::collection::vec(any::<u8>(), 2000..5000),
    ];
    let then = prop::sample::select(vec![Then::Close, Then::Close, Then::Echo, Then::Hold]);
    (prefix, tail, then, any::<bool>()).prop_map(|(mut bytes, tail, then, dns_id)| {
        bytes.extend(tail);
        Peer { bytes, then, dns_id }
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

fn prober() -> &'static Prober {
    static PROBER: OnceLock<Prober> = OnceLock::new();
    PROBER.get_or_init(|| {
        runtime().block_on(async { Prober::new(TIMEOUT).expect("an ICMP socket: run the tests as root") })
    })
}

/// Serves `peer` to every connection until the returned handle is aborted.
async fn serve_tcp(peer: Peer) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            let peer = peer.clone();
            tokio::spawn(async move {
                let _ = s.write_all(&peer.bytes).await;
                let mut buf = [0u8; 1024];
                match peer.then {
                    Then::Close => {}
                    Then::Echo => {
                        if matches!(s.read(&mut buf).await, Ok(n) if n > 0) {
                            let _ = s.write_all(&peer.bytes).await;
                        }
                    }
                    Then::Hold => {
                        let _ = tokio::time::timeout(Duration::from_secs(5), async {
                            while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
                        })
                        .await;
                    }
                }
            });
        }
    });
    (port, task)
}

/// Answers every datagram with `peer`'s bytes (its id first when `dns_id`).
async fn serve_udp(peer: Peer) -> (u16, tokio::task::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else { return };
            let mut answer = if peer.dns_id && n >= 2 { buf[..2].to_vec() } else { Vec::new() };
            answer.extend_from_slice(&peer.bytes);
            answer.truncate(1400);
            if !matches!(peer.then, Then::Hold) {
                let _ = sock.send_to(&answer, from).await;
            }
        }
    });
    (port, task)
}

fn spec(kind: CheckKind, port: u16, expect: Option<&str>) -> CheckSpec {
    CheckSpec {
        key: CheckKey::new("web01", kind),
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port,
        fqdn: "web01.example.jp".into(),
        expect: expect.map(String::from),
    }
}

/// Every kind the prober speaks over TCP or UDP.
fn kinds() -> Vec<(CheckKind, Option<&'static str>)> {
    let mut out = vec![
        (CheckKind::Ssh, None),
        (CheckKind::Custom("app".into()), Some("OK")),
        (CheckKind::Custom("bare".into()), None),
    ];
    out.extend(Service::ALL.iter().map(|s| (CheckKind::Service(*s), None)));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn any_greeting_is_judged_in_time_with_a_bounded_safe_detail(peer in peer()) {
        let prober = prober();
        let results = runtime().block_on(async {
            let (tcp, tcp_task) = serve_tcp(peer.clone()).await;
            let (udp, udp_task) = serve_udp(peer.clone()).await;
            let probes = kinds().into_iter().map(|(kind, expect)| {
                let port = if kind == CheckKind::Service(Service::Dns) { udp } else { tcp };
                let spec = spec(kind, port, expect);
                async move {
                    let started = Instant::now();
                    let r = prober.probe(&spec).await;
                    (spec.key.kind.id(), r, started.elapsed())
                }
            });
            let results: Vec<_> = all_at_once(probes.collect()).await;
            tcp_task.abort();
            udp_task.abort();
            results
        });
        for (kind, r, took) in results {
            prop_assert!(took <= TIMEOUT + MARGIN, "{kind}: {took:?} for {peer:?}");
            prop_assert!(r.detail.len() <= MAX_DETAIL, "{kind}: {} bytes: {:?}", r.detail.len(), r.detail);
            prop_assert!(!r.detail.chars().any(anshin_core::text::is_hidden), "{kind}: {:?}", r.detail);
            prop_assert!(!r.detail.is_empty(), "{kind}: an empty detail");
        }
    }
}

/// Runs the futures concurrently, each on its own task; a panic in one fails the test.
async fn all_at_once<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("a probe panicked"));
    }
    out
}

/// The harness itself: a well-behaved peer passes, so the property is not vacuous.
#[test]
fn a_real_greeting_passes_through_the_same_harness() {
    let prober = prober();
    let peer = Peer { bytes: b"220 mail.example.jp ESMTP\r\n".to_vec(), then: Then::Echo, dns_id: false };
    let r = runtime().block_on(async {
        let (port, task) = serve_tcp(peer).await;
        let r = prober.probe(&spec(CheckKind::Service(Service::Smtp), port, None)).await;
        task.abort();
        r
    });
    assert!(r.ok, "{r:?}");
    assert_eq!(r.detail, "220 mail.example.jp ESMTP");
}
