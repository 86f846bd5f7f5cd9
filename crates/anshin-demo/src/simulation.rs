//! Runs a simulated fleet: one task per endpoint that holds its listener, closes it while the
//! endpoint is `Down` and reopens it afterwards, and hands accepted connections to `protocol`
//! under one global cap.
//!
//! Owns: sockets, tasks, the connection cap, and the fault switchboard ([`Simulation::apply`]).
//! Must not know: the schedule's timing (the caller says which outages are active) or the bytes
//! any protocol sends.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout};

use crate::fleet::{self, Endpoint, Protocol};
use crate::protocol::{self, MAX_CONNECTION};
use crate::schedule::{Fault, Outage};
use crate::{dns, DemoError};

/// Most connections served at once across the whole fleet; more are closed on accept.
pub(crate) const MAX_CONNECTIONS: usize = 256;
/// Pause before trying again to reopen a port that could not be bound after a `Down` fault.
const REBIND_RETRY: Duration = Duration::from_secs(1);
/// How long [`Simulation::wait`] gives the tasks to finish after shutdown.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// State shared by all endpoint tasks.
struct Shared {
    permits: Arc<Semaphore>,
    next_conn_id: AtomicU32,
    zone: HashMap<String, Ipv4Addr>,
}

/// A running simulated fleet. Every listener is bound when [`Simulation::start`] returns.
pub(crate) struct Simulation {
    switches: HashMap<(String, String), watch::Sender<Option<Fault>>>,
    tasks: JoinSet<()>,
    shared: Arc<Shared>,
}

impl Simulation {
    /// Parses `fleet_toml`, binds every endpoint (all or nothing), and starts serving them until
    /// `shutdown` turns true (or its sender goes away).
    pub(crate) async fn start(fleet_toml: &str, shutdown: watch::Receiver<bool>) -> Result<Self, DemoError> {
        Self::start_with(fleet_toml, MAX_CONNECTIONS, shutdown).await
    }

    /// As [`Simulation::start`], serving at most `max_connections` connections at once (the
    /// fleet-scale simulator needs thousands; the demo keeps its small cap).
    pub(crate) async fn start_with(
        fleet_toml: &str,
        max_connections: usize,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self, DemoError> {
        let fleet = fleet::parse(fleet_toml)?;
        let mut bound = Vec::with_capacity(fleet.endpoints.len());
        for ep in fleet.endpoints {
            let socket = if ep.protocol == Protocol::Dns {
                Socket::Udp(bind_udp(ep.addr).map_err(|source| DemoError::Bind {
                    addr: ep.addr,
                    proto: "udp",
                    source,
                })?)
            } else {
                Socket::Tcp(bind_tcp(ep.addr).map_err(|source| DemoError::Bind {
                    addr: ep.addr,
                    proto: "tcp",
                    source,
                })?)
            };
            bound.push((ep, socket));
        }
        let shared = Arc::new(Shared {
            permits: Arc::new(Semaphore::new(max_connections)),
            next_conn_id: AtomicU32::new(1),
            zone: fleet.zone,
        });
        let mut switches = HashMap::new();
        let mut tasks = JoinSet::new();
        for (ep, socket) in bound {
            let (tx, rx) = watch::channel(None);
            switches.insert((ep.host.clone(), ep.service.clone()), tx);
            let ep = Arc::new(ep);
            let (shared, shutdown) = (shared.clone(), shutdown.clone());
            match socket {
                Socket::Tcp(l) => tasks.spawn(serve_tcp(ep, l, rx, shutdown, shared)),
                Socket::Udp(s) => tasks.spawn(serve_udp(ep, s, rx, shutdown, shared)),
            };
        }
        tracing::info!(endpoints = switches.len(), "demo fleet listening");
        Ok(Simulation { switches, tasks, shared })
    }

    /// Connections served since the start (every service of every server; closed ones past the
    /// cap or from outside loopback not counted): what a benchmark compares with the checks due.
    pub(crate) fn served(&self) -> u64 {
        u64::from(self.shared.next_conn_id.load(Ordering::Relaxed).saturating_sub(1))
    }

    /// Makes exactly `outages` active: their endpoints misbehave, every other endpoint is healthy.
    /// Outages naming an unknown host or service are ignored. Cheap to call every second.
    pub(crate) fn apply(&self, outages: &[Outage]) {
        self.apply_faults(&outages.iter().map(|o| ((o.host, o.service), o.fault)).collect());
    }

    /// Makes exactly the faults in `wanted` (by server label and service) active.
    pub(crate) fn apply_faults(&self, wanted: &HashMap<(&str, &str), Fault>) {
        for ((host, service), switch) in &self.switches {
            let fault = wanted.get(&(host.as_str(), service.as_str())).copied();
            switch.send_if_modified(|current| {
                if *current == fault {
                    return false;
                }
                match fault {
                    Some(fault) => tracing::info!(host = %host, service = %service, ?fault, "demo outage begins"),
                    None => tracing::info!(host = %host, service = %service, "demo outage ends"),
                }
                *current = fault;
                true
            });
        }
    }

    /// Waits for every endpoint task to stop after shutdown (abandoning them after a grace period);
    /// their sockets are closed when this returns.
    pub(crate) async fn wait(mut self) {
        let all_done = async { while self.tasks.join_next().await.is_some() {} };
        if timeout(STOP_GRACE, all_done).await.is_err() {
            tracing::warn!("demo endpoints did not stop in time; aborting them");
        }
        self.tasks.shutdown().await;
    }
}

enum Socket {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?; // reopen at once after a Down fault despite TIME_WAIT
    socket.bind(addr)?;
    socket.listen(128)
}

fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = std::net::UdpSocket::bind(addr)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

/// Resolves when the shutdown flag is raised or its sender is gone.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|&stop| stop).await;
}

async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

async fn recv_from(socket: Option<&UdpSocket>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

async fn serve_tcp(
    ep: Arc<Endpoint>,
    listener: TcpListener,
    mut fault: watch::Receiver<Option<Fault>>,
    mut shutdown: watch::Receiver<bool>,
    shared: Arc<Shared>,
) {
    let mut listener = Some(listener);
    let mut conns = JoinSet::new();
    loop {
        let current = *fault.borrow_and_update();
        let mut retry = false;
        if current == Some(Fault::Down) {
            if listener.take().is_some() {
                conns.abort_all(); // a stopped daemon drops its connections too
            }
        } else if listener.is_none() {
            match bind_tcp(ep.addr) {
                Ok(l) => listener = Some(l),
                Err(error) => {
                    tracing::warn!(addr = %ep.addr, %error, "demo cannot reopen port; retrying");
                    retry = true;
                }
            }
        }
        tokio::select! {
            () = stopped(&mut shutdown) => break,
            changed = fault.changed() => if changed.is_err() { break },
            () = sleep(REBIND_RETRY), if retry => {}
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = accept(listener.as_ref()) => match accepted {
                Ok((stream, peer)) => converse(&mut conns, &shared, &ep, stream, peer, current),
                Err(error) => {
                    tracing::debug!(addr = %ep.addr, %error, "demo accept failed");
                    sleep(Duration::from_millis(50)).await; // e.g. out of file descriptors: do not spin
                }
            },
        }
    }
}

/// Serves one accepted connection in its own task, within the fleet-wide cap: past the cap, or
/// from anywhere but loopback, the connection is closed at once.
fn converse(
    conns: &mut JoinSet<()>,
    shared: &Shared,
    ep: &Arc<Endpoint>,
    stream: TcpStream,
    peer: SocketAddr,
    fault: Option<Fault>,
) {
    let Ok(permit) = shared.permits.clone().try_acquire_owned() else {
        return;
    };
    if !peer.ip().is_loopback() {
        return;
    }
    let _ = stream.set_nodelay(true);
    let (ep, id) = (ep.clone(), shared.next_conn_id.fetch_add(1, Ordering::Relaxed));
    conns.spawn(async move {
        let _permit = permit;
        let _ = timeout(MAX_CONNECTION, protocol::converse(stream, &ep, fault, id)).await;
    });
}

async fn serve_udp(
    ep: Arc<Endpoint>,
    socket: UdpSocket,
    mut fault: watch::Receiver<Option<Fault>>,
    mut shutdown: watch::Receiver<bool>,
    shared: Arc<Shared>,
) {
    let mut socket = Some(socket);
    let mut buf = [0u8; 512];
    loop {
        let current = *fault.borrow_and_update();
        let mut retry = false;
        if current == Some(Fault::Down) {
            socket = None;
        } else if socket.is_none() {
            match bind_udp(ep.addr) {
                Ok(s) => socket = Some(s),
                Err(error) => {
                    tracing::warn!(addr = %ep.addr, %error, "demo cannot reopen port; retrying");
                    retry = true;
                }
            }
        }
        tokio::select! {
            () = stopped(&mut shutdown) => break,
            changed = fault.changed() => if changed.is_err() { break },
            () = sleep(REBIND_RETRY), if retry => {}
            received = recv_from(socket.as_ref(), &mut buf) => match received {
                Ok((n, peer)) if peer.ip().is_loopback() && current != Some(Fault::Silent) => {
                    let reply = dns::reply(&buf[..n], &shared.zone, current == Some(Fault::Wrong));
                    if let (Some(reply), Some(s)) = (reply, socket.as_ref()) {
                        let _ = timeout(Duration::from_secs(1), s.send_to(&reply, peer)).await;
                    }
                }
                Ok(_) => {}
                Err(_) => sleep(Duration::from_millis(50)).await,
            },
        }
    }
}
