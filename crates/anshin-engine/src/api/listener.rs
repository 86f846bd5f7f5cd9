//! The console server's connections: accepted, limited and timed out so that nobody who
//! reaches the port can exhaust what the engine needs to probe (file descriptors, tasks) or
//! keep real consoles waiting.
//!
//! Rules (defaults in [`ConsoleLimits`], documented in the README):
//! * at most `max_connections` connections at once (the port stops accepting beyond it), and
//!   `max_per_peer` per peer address except loopback (more are closed at once);
//! * a connection that has not completed its TLS handshake and its first request head is
//!   *pending*: at most `max_pending` of them, each for at most `handshake` + `header_read`; when
//!   a new one arrives and the pending pool is full, the OLDEST pending one is closed — a flood
//!   of silent connections only ever holds `max_pending` slots, and a real console (which sends
//!   its request at once) always gets one. Only a connection pending for [`EVICT_AFTER`] is
//!   closed so: while the pool is full of younger ones (a burst of real consoles whose requests
//!   are on their way, as when every wall reconnects at once) the next waits in the backlog;
//! * every connection is closed after `idle` without a byte read or written (consoles' feeds
//!   send a heartbeat every 5 s, so only dead ones go), and hyper's `header_read` bounds each
//!   request head.
//!
//! Owns: the accept loop, the pools and the per-connection timers. Must not know: routes,
//! tokens, what is served.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

/// How much the console server may take, and how long it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleLimits {
    /// A request head must arrive within this (from the connection's start, or the next
    /// request's first byte).
    pub header_read: Duration,
    /// A connection with no byte read or written for this long is closed.
    pub idle: Duration,
    /// A TLS handshake must complete within this.
    pub handshake: Duration,
    /// Connections at once (consoles, browsers' parallel requests, walls).
    pub max_connections: usize,
    /// Connections still in their handshake or before their first request (oldest evicted).
    pub max_pending: usize,
    /// Connections from one address at once; loopback is not limited.
    pub max_per_peer: usize,
    /// The largest WebSocket message a console may send.
    pub ws_message: usize,
}

impl Default for ConsoleLimits {
    fn default() -> Self {
        ConsoleLimits {
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            handshake: Duration::from_secs(10),
            max_connections: 512,
            max_pending: 64,
            max_per_peer: 64,
            ws_message: 1 << 20,
        }
    }
}

impl ConsoleLimits {
    /// File descriptors the console server may hold at most (for the engine's budget).
    pub fn descriptors(&self) -> u64 {
        (self.max_connections + self.max_pending) as u64 + 8
    }
}

/// Serves `app` on `tcp` (through `tls` when given) until `shutdown`, within `limits`.
pub async fn serve(
    tcp: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    limits: ConsoleLimits,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let pending = Arc::new(Pending::new(limits.max_pending.max(1)));
    let peers = Arc::new(Peers::default());
    let (closing, closing_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    'accept: loop {
        // A free connection slot first (the port waits in the kernel's backlog meanwhile).
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s { Ok(s) => s, Err(_) => break },
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        // Room in the pending pool, or a pending connection old enough to be closed.
        while let Some(wait) = pending.wait_before_entering() {
            tokio::select! {
                () = tokio::time::sleep(wait.min(Duration::from_millis(20))) => {}
                _ = shutdown.wait_for(|stop| *stop) => break 'accept,
            }
        }
        let accepted = tokio::select! {
            a = tcp.accept() => a,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        // Reap finished connection tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors (or another transient accept error): the backlog waits.
                tracing::warn!(error = %e, "accepting a console connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(peer_slot) = peers.enter(peer.ip(), limits.max_per_peer) else {
            tracing::debug!(%peer, "too many connections from this address: closed");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (ticket, evicted) = pending.enter();
        let conn = Conn {
            app: app.clone(),
            tls: tls.clone(),
            limits,
            pending: pending.clone(),
            ticket,
            evicted,
            closing: closing_rx.clone(),
        };
        tasks.spawn(async move {
            let _slots = (slot, peer_slot);
            conn.run(stream, peer).await;
        });
    }
    // Stop: no new connections; the open ones finish their request (feeds end with the engine)
    // and are cut after a short grace.
    drop(tcp);
    let _ = closing.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    Ok(())
}

/// One accepted connection on its way to being served.
struct Conn {
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ConsoleLimits,
    pending: Arc<Pending>,
    ticket: u64,
    /// Notified when this connection is evicted from the pending pool.
    evicted: Arc<Notify>,
    closing: watch::Receiver<bool>,
}

impl Conn {
    async fn run(self, stream: TcpStream, peer: SocketAddr) {
        let evicted = self.evicted.clone();
        tokio::select! {
            () = self.serve(stream, peer) => {}
            () = evicted.notified() => tracing::debug!(%peer, "a pending console connection was evicted by a newer one"),
        }
    }

    async fn serve(self, stream: TcpStream, peer: SocketAddr) {
        match self.tls.clone() {
            Some(acceptor) => match tokio::time::timeout(self.limits.handshake, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => self.http(tls, peer).await,
                Ok(Err(e)) => {
                    self.pending.leave(self.ticket);
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    self.pending.leave(self.ticket);
                    tracing::debug!(%peer, "TLS handshake timed out");
                }
            },
            None => self.http(stream, peer).await,
        }
    }

    async fn http<S>(self, stream: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(IdleIo::new(stream, self.limits.idle));
        let (pending, ticket) = (self.pending.clone(), self.ticket);
        let app = self.app.clone();
        // The first request head completes the connection: it leaves the pending pool.
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            pending.leave(ticket);
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(self.limits.header_read).keep_alive(true);
        let conn = builder.serve_connection(io, service).with_upgrades();
        tokio::pin!(conn);
        let mut closing = self.closing.clone();
        let stopping = tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "console connection ended");
                }
                false
            }
            r = closing.wait_for(|c| *c) => r.is_ok(),
        };
        if stopping {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
        self.pending.leave(self.ticket);
    }
}

/// A pending connection younger than this is never closed for a newer one: it has not had
/// the time to send its request (its task may not even have run during a burst of accepts).
const EVICT_AFTER: Duration = Duration::from_millis(250);

/// Connections still before their first request, oldest first; each can be told to go.
struct Pending {
    cap: usize,
    next: AtomicU64,
    queue: Mutex<VecDeque<(u64, Arc<Notify>, Instant)>>,
}

impl Pending {
    fn new(cap: usize) -> Pending {
        Pending { cap, next: AtomicU64::new(0), queue: Mutex::new(VecDeque::with_capacity(cap)) }
    }

    /// Registers a new connection; when the pool is full the oldest is told to go.
    fn enter(&self) -> (u64, Arc<Notify>) {
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        while q.len() >= self.cap {
            if let Some((_, oldest, _)) = q.pop_front() {
                // notify_one stores a permit: the eviction is seen even before the task waits.
                oldest.notify_one();
            }
        }
        q.push_back((ticket, notify.clone(), Instant::now()));
        (ticket, notify)
    }

    /// How long the next connection must wait before it may enter: None when there is room or
    /// the oldest pending one has had [`EVICT_AFTER`] to send its request.
    fn wait_before_entering(&self) -> Option<Duration> {
        let q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() < self.cap {
            return None;
        }
        let age = q.front().map_or(EVICT_AFTER, |(_, _, entered)| entered.elapsed());
        EVICT_AFTER.checked_sub(age).filter(|w| !w.is_zero())
    }

    /// The connection is served (or gone): it no longer counts as pending. Idempotent.
    fn leave(&self, ticket: u64) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = q.iter().position(|(t, _, _)| *t == ticket) {
            q.remove(i);
        }
    }
}

/// Connections per peer address.
#[derive(Default)]
struct Peers(Mutex<HashMap<IpAddr, usize>>);

/// One connection's place in its peer's count; dropping it gives the place back.
struct PeerSlot {
    peers: Arc<Peers>,
    ip: IpAddr,
}

impl Peers {
    /// A place for one more connection from `ip`, unless it already holds `cap` (loopback is
    /// never limited: the NOC's own consoles and tests).
    fn enter(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<PeerSlot> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= cap && !ip.is_loopback() {
            return None;
        }
        *n += 1;
        Some(PeerSlot { peers: self.clone(), ip })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut map = self.peers.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// A stream that fails with `TimedOut` once nothing was read or written for `idle`.
struct IdleIo<S> {
    inner: S,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> IdleIo<S> {
    fn new(inner: S, idle: Duration) -> IdleIo<S> {
        IdleIo { inner, idle, deadline: Box::pin(tokio::time::sleep(idle)) }
    }

    fn touched(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    /// While the inner stream waits: has the connection been idle too long?
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn idle_error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "console connection idle for too long")
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleIo<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.touched();
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleIo<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.touched();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(e) => Poll::Ready(e),
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits() -> ConsoleLimits {
        ConsoleLimits {
            header_read: Duration::from_millis(500),
            idle: Duration::from_secs(2),
            max_pending: 4,
            ..ConsoleLimits::default()
        }
    }

    async fn server(limits: ConsoleLimits) -> (SocketAddr, watch::Sender<bool>) {
        let app = Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(serve(tcp, None, app, limits, stop_rx));
        (addr, stop)
    }

    async fn get(addr: SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out)).await.unwrap().unwrap();
        out
    }

    /// Reads until the peer closes (Ok(0)) or errors; None when it stays open past `within`.
    async fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
        let started = Instant::now();
        let mut buf = [0u8; 256];
        loop {
            match tokio::time::timeout_at(started + within, s.read(&mut buf)).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
                Ok(Ok(_)) => {}
            }
        }
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_after_the_header_timeout() {
        let (addr, _stop) = server(limits()).await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let closed = closed_within(&mut silent, Duration::from_secs(5)).await.expect("still open after 5 s");
        assert!(closed >= Duration::from_millis(400), "closed too early: {closed:?}");
        // A half-sent request head is cut the same way.
        let mut half = TcpStream::connect(addr).await.unwrap();
        half.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        assert!(closed_within(&mut half, Duration::from_secs(5)).await.is_some(), "a half-sent head stayed open");
    }

    #[tokio::test]
    async fn silent_connections_never_keep_a_real_console_waiting() {
        let (addr, _stop) = server(ConsoleLimits { header_read: Duration::from_secs(30), ..limits() }).await;
        // Far more silent connections than the pending pool holds.
        let mut silent = Vec::new();
        for _ in 0..40 {
            silent.push(TcpStream::connect(addr).await.unwrap());
        }
        let started = Instant::now();
        let answer = get(addr).await;
        assert!(answer.contains("200 OK") && answer.ends_with("pong"), "{answer}");
        assert!(started.elapsed() < Duration::from_secs(3), "a real request waited {:?}", started.elapsed());
        // The oldest silent ones were evicted: at most the pool's size stays open.
        let mut open = 0;
        for s in &mut silent {
            if closed_within(s, Duration::from_millis(50)).await.is_none() {
                open += 1;
            }
        }
        assert!(open <= 4, "{open} silent connections still held");
    }

    #[tokio::test]
    async fn a_burst_of_real_consoles_is_served_not_evicted() {
        // Ten times the pending pool connecting at the same instant, each sending its request
        // at once (every wall reconnecting after a restart): all are answered.
        let (addr, _stop) = server(limits()).await;
        let mut burst = tokio::task::JoinSet::new();
        for _ in 0..40 {
            burst.spawn(get(addr));
        }
        let answers = burst.join_all().await;
        let ok = answers.iter().filter(|a| a.contains("200 OK")).count();
        assert_eq!(ok, 40, "{} of 40 answered", ok);
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed() {
        let (addr, _stop) = server(limits()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).contains("200 OK"));
        // Kept alive, then idle: closed after about `idle` (2 s), not kept for ever.
        let closed = closed_within(&mut s, Duration::from_secs(6)).await.expect("idle connection kept open");
        assert!(closed >= Duration::from_millis(400), "{closed:?}");
    }

    #[test]
    fn peers_beyond_their_cap_are_refused_except_loopback() {
        let peers = Arc::new(Peers::default());
        let far: IpAddr = "192.0.2.7".parse().unwrap(); // TEST-NET-1: never contacted, only counted
        let a = peers.enter(far, 2).unwrap();
        let _b = peers.enter(far, 2).unwrap();
        assert!(peers.enter(far, 2).is_none());
        drop(a);
        assert!(peers.enter(far, 2).is_some());
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..10).map(|_| peers.enter(lo, 2).unwrap()).collect();
        assert_eq!(held.len(), 10);
    }
}
