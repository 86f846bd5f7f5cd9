//! Probes: one attempt of one check, against the real thing on the wire.
//!
//! Owns: how each check talks to its target (ICMP echo, the SSH banner, each service's own
//! greeting over TCP or TLS, a DNS answer), the per-attempt timeout, and a `detail` an operator
//! can read (what was expected, what came back, with control characters made visible).
//! Must not know: attempts, states or incidents (one probe is one attempt; `anshin-core`
//! decides what a run of them means), storage, or schedules.

mod dns;
mod greeting;
mod icmp;
mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anshin_core::{CheckKind, CheckSpec};

pub use icmp::{IcmpError, Pinger};

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    pub ok: bool,
    /// What was seen: the banner or status line on success, the reason on failure.
    pub detail: String,
    /// Wall time of the attempt in milliseconds.
    pub ms: f64,
    /// The attempt failed for a reason on the NOC's side (no file descriptor, no buffer, no
    /// local port, the prober itself ran late): it says nothing about the server and must be
    /// judged neither a failure nor a success. `ok` is false when this is true.
    pub unknown: bool,
}

impl ProbeResult {
    /// An attempt that could not be made properly on our side (see [`ProbeResult::unknown`]).
    pub fn unknown(detail: String, ms: f64) -> ProbeResult {
        ProbeResult { ok: false, detail, ms, unknown: true }
    }
}

/// Why an attempt did not succeed: the server's doing, or ours.
#[derive(Debug)]
pub enum Failure {
    /// The server (or the network to it) failed the check.
    Remote(String),
    /// The NOC machine could not make the attempt (see [`is_local_error`]).
    Local(String),
}

impl From<String> for Failure {
    fn from(detail: String) -> Failure {
        Failure::Remote(detail)
    }
}

impl From<&str> for Failure {
    fn from(detail: &str) -> Failure {
        Failure::Remote(detail.to_string())
    }
}

/// Whether a socket error is the NOC machine's own shortage rather than the target's answer:
/// out of file descriptors (per process or system-wide), out of kernel buffers or memory, or no
/// local address/port to bind. Such an attempt is unknown, never a failure of the server.
pub fn is_local_error(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EADDRNOTAVAIL | libc::EADDRINUSE)
    )
}

/// A socket error as a probe failure: ours (unknown) or the target's, with the detail `remote`
/// builds for the target's case.
pub(crate) fn socket_failure(e: &std::io::Error, remote: impl FnOnce(&std::io::Error) -> String) -> Failure {
    if is_local_error(e) {
        Failure::Local(format!("local failure on the NOC machine, not the server's: {e}"))
    } else {
        Failure::Remote(remote(e))
    }
}

/// Runs probes. One per engine: it holds the single shared ICMP socket and the TLS config.
#[derive(Clone)]
pub struct Prober {
    pinger: Pinger,
    tls: Arc<tokio_rustls::TlsConnector>,
    timeout: Duration,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Prober {
    /// Opens the ICMP socket. Must be called inside a tokio runtime.
    pub fn new(timeout: Duration) -> Result<Self, IcmpError> {
        Ok(Prober { pinger: Pinger::new()?, tls: Arc::new(tls::connector()), timeout })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// One attempt of one check, bounded by the timeout.
    pub async fn probe(&self, spec: &CheckSpec) -> ProbeResult {
        let started = Instant::now();
        let outcome = match &spec.key.kind {
            CheckKind::Ping => self.pinger.ping(spec.ip, self.timeout).await,
            CheckKind::Service(anshin_core::Service::Dns) => dns::query(spec, self.timeout).await,
            kind => greeting::check(kind, spec, self.timeout, &self.tls).await,
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match outcome {
            Ok(detail) => ProbeResult { ok: true, detail, ms, unknown: false },
            Err(Failure::Remote(detail)) => ProbeResult { ok: false, detail, ms, unknown: false },
            Err(Failure::Local(detail)) => ProbeResult::unknown(detail, ms),
        }
    }
}

/// Makes untrusted bytes (banners, replies) safe to log and show: decoded as UTF-8 (invalid
/// sequences become U+FFFD), the trailing line end dropped, hidden characters escaped by
/// [`anshin_core::text`]'s rule, and the length capped.
pub fn visible(bytes: &[u8]) -> String {
    const MAX: usize = 160;
    anshin_core::text::visible_capped(String::from_utf8_lossy(bytes).trim_end_matches(['\r', '\n']), MAX)
}

#[cfg(test)]
mod tests {
    use super::visible;

    #[test]
    fn visible_escapes_controls_and_caps() {
        assert_eq!(visible(b"220 ok\r\n"), "220 ok");
        assert_eq!(visible(b"a\x1b[31mred\x07"), "a\\u{1b}[31mred\\u{7}");
        assert_eq!(visible(b"x\r\ny"), "x\\ry".replace("\\ry", "\\r\\ny"));
        let long = vec![b'a'; 1000];
        assert!(visible(&long).chars().count() <= 162);
    }
}
