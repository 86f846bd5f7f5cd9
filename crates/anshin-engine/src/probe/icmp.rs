//! ICMP echo through one shared socket for every target (surge-ping `Client`).
//!
//! The kernel's default receive buffer drops echo replies when many arrive at once, which would
//! show healthy servers as "ping down"; the buffer is enlarged, and on a raw socket an ICMP
//! filter keeps our own echo requests (seen on loopback) and other noise out of it.
//! An unprivileged datagram socket is used where `net.ipv4.ping_group_range` allows it, a raw
//! socket otherwise (root or CAP_NET_RAW); without either, the error says how to fix it.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use surge_ping::{Client, Config, PingIdentifier, PingSequence, ICMP};

use super::{socket_failure, Failure};

/// Receive buffer asked for the shared socket: room for thousands of replies in a burst.
const RECV_BUFFER: libc::c_int = 8 << 20;

#[derive(Debug, thiserror::Error)]
#[error("cannot open an ICMP socket for ping checks: {reason}. Allow unprivileged ping with `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`, or run as root, or `setcap cap_net_raw+ep` on the binary")]
pub struct IcmpError {
    /// The system's reason only: the ping library's own message repeats advice with literal
    /// `\n`s, and this error gives the advice once.
    reason: String,
}

impl IcmpError {
    fn new(e: &std::io::Error) -> Self {
        let reason = e
            .raw_os_error()
            .map_or_else(|| e.kind().to_string(), |code| std::io::Error::from_raw_os_error(code).to_string());
        IcmpError { reason }
    }
}

/// The shared pinger. Cloning shares the sockets.
#[derive(Clone)]
pub struct Pinger {
    v4: Client,
    v6: Option<Client>,
    seq: Arc<AtomicU16>,
    ident: u16,
}

impl Pinger {
    pub fn new() -> Result<Self, IcmpError> {
        let v4 = Client::new(&Config::default()).map_err(|e| IcmpError::new(&e))?;
        tune(&v4, false);
        let v6 = Client::new(&Config::builder().kind(ICMP::V6).build()).ok();
        if let Some(c) = &v6 {
            tune(c, true);
        }
        Ok(Pinger { v4, v6, seq: Arc::new(AtomicU16::new(rand::random())), ident: rand::random() })
    }

    /// One echo request; `Ok` with the round trip when the reply arrives in time.
    pub async fn ping(&self, ip: IpAddr, timeout: Duration) -> Result<String, Failure> {
        let client = match ip {
            IpAddr::V4(_) => &self.v4,
            IpAddr::V6(_) => self
                .v6
                .as_ref()
                .ok_or_else(|| Failure::Local("no IPv6 ICMP socket could be opened on this machine".into()))?,
        };
        // Sequence numbers are unique across concurrent pings, so replies never mix.
        let seq = PingSequence(self.seq.fetch_add(1, Ordering::Relaxed));
        let mut pinger = client.pinger(ip, PingIdentifier(self.ident)).await;
        pinger.timeout(timeout);
        match pinger.ping(seq, &[0x41; 16]).await {
            Ok((_, rtt)) => Ok(format!("echo reply in {:.2} ms", rtt.as_secs_f64() * 1000.0)),
            Err(surge_ping::SurgeError::Timeout { .. }) => {
                Err(Failure::Remote(format!("no echo reply within {} s", timeout.as_secs_f64())))
            }
            Err(surge_ping::SurgeError::IOError(e)) => Err(socket_failure(&e, |e| format!("ping failed: {e}"))),
            Err(e) => Err(Failure::Remote(format!("ping failed: {e}"))),
        }
    }
}

/// Enlarges the receive buffer and, on a raw IPv4 socket, filters everything but echo replies.
/// Failures are harmless (smaller buffer, more noise), so they are only logged.
#[allow(unsafe_code)]
fn tune(client: &Client, v6: bool) {
    let socket = client.get_socket();
    let fd = socket.get_native_sock();
    let set = |level: libc::c_int, name: libc::c_int, value: &[u8]| -> bool {
        // SAFETY: `fd` is the client's open socket for the duration of this call (the client
        // holds it), and `value` points to `value.len()` initialised bytes.
        unsafe { libc::setsockopt(fd, level, name, value.as_ptr().cast(), value.len() as libc::socklen_t) == 0 }
    };
    let size = RECV_BUFFER.to_ne_bytes();
    if !set(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &size) && !set(libc::SOL_SOCKET, libc::SO_RCVBUF, &size) {
        tracing::warn!(fd, "could not enlarge the ICMP receive buffer; bursts of replies may be lost");
    }
    if !v6 && socket.get_type() == socket2::Type::RAW {
        // linux/icmp.h: ICMP_FILTER on SOL_RAW takes a bit mask of types to DROP.
        const SOL_RAW: libc::c_int = 255;
        const ICMP_FILTER: libc::c_int = 1;
        let drop_all_but_echo_reply: u32 = !(1 << 0);
        if !set(SOL_RAW, ICMP_FILTER, &drop_all_but_echo_reply.to_ne_bytes()) {
            tracing::warn!("could not set the ICMP filter on the raw socket");
        }
    }
}
