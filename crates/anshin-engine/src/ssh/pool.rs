//! The session pool: one persistent session per target, shared by every command to it.
//!
//! Owns: the per-target state (the live session, consecutive connect failures and the time
//! before which no reconnect is tried, a refusal after a changed host key), the global
//! semaphore that caps concurrent handshakes, and the count of sessions established.
//! Must not know: the wire (that is `session`), or what the commands are for.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, Semaphore};

use super::error::SshError;
use super::known_hosts::{self, Verdict};
use super::session::{self, describe, Session};
use super::{ExecOutput, SshTarget};

/// Runs commands over persistent SSH sessions. Cheap to clone; clones share sessions.
///
/// Reconnects back off per target: after `n` consecutive failed connects, none is tried for
/// `first × 2^(n-1)` (capped at `max`), and [`SshPool::exec`] fails at once with
/// [`SshError::Backoff`]. A session that merely drops (server restart) is re-established on
/// the next call without waiting. A changed or revoked host key refuses the target without
/// any connection until the known_hosts file no longer pins another key for it, or the
/// process restarts.
#[derive(Clone)]
pub struct SshPool {
    inner: Arc<Inner>,
}

struct Inner {
    handshakes: Semaphore,
    step: Duration,
    backoff_first: Duration,
    backoff_max: Duration,
    targets: std::sync::Mutex<HashMap<Key, Arc<Mutex<State>>>>,
    established: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    host: String,
    ip: IpAddr,
    port: u16,
    user: String,
}

impl Key {
    fn of(t: &SshTarget) -> Key {
        Key { host: t.host.clone(), ip: t.ip, port: t.port, user: t.user.clone() }
    }
}

#[derive(Default)]
struct State {
    session: Option<Arc<Session>>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
    /// A changed or revoked host key: no connection until known_hosts is fixed.
    refused: Option<SshError>,
}

impl std::fmt::Debug for SshPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshPool")
            .field("step_timeout", &self.inner.step)
            .field("handshakes_available", &self.inner.handshakes.available_permits())
            .field("established", &self.established())
            .finish_non_exhaustive()
    }
}

impl SshPool {
    /// `max_concurrent_handshakes` caps connects in progress across all targets (at least 1);
    /// `step_timeout` bounds each step: TCP connect, handshake, authentication, channel open,
    /// and a command's whole output. Backoff starts at 1 s and doubles up to 5 min.
    pub fn new(max_concurrent_handshakes: usize, step_timeout: Duration) -> Self {
        SshPool {
            inner: Arc::new(Inner {
                handshakes: Semaphore::new(max_concurrent_handshakes.max(1)),
                step: step_timeout,
                backoff_first: Duration::from_secs(1),
                backoff_max: Duration::from_secs(300),
                targets: std::sync::Mutex::new(HashMap::new()),
                established: AtomicU64::new(0),
            }),
        }
    }

    /// Changes the reconnect backoff (first delay, cap). Only before the pool is shared.
    pub fn with_backoff(mut self, first: Duration, max: Duration) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.backoff_first = first;
            inner.backoff_max = max.max(first);
        }
        self
    }

    /// Sessions established (handshake and authentication succeeded) since the pool was made.
    pub fn established(&self) -> u64 {
        self.inner.established.load(Ordering::Relaxed)
    }

    /// Runs `command` on the target's session (opening it if needed) on a new channel.
    /// stdout is kept up to `max_output` bytes; past that the channel is closed and the rest
    /// discarded (`truncated`). A non-zero exit status is not an error.
    pub async fn exec(&self, target: &SshTarget, command: &str, max_output: usize) -> Result<ExecOutput, SshError> {
        self.exec_within(target, command, max_output, self.inner.step).await
    }

    /// Like [`SshPool::exec`], with `run_for` instead of the step timeout as the limit of the
    /// command's whole output (a job that runs for minutes: an update); connecting keeps the
    /// step timeouts.
    pub async fn exec_within(
        &self,
        target: &SshTarget,
        command: &str,
        max_output: usize,
        run_for: Duration,
    ) -> Result<ExecOutput, SshError> {
        let state = self.state(target);
        let session = {
            let mut st = state.lock().await;
            self.session(&mut st, target).await?
        };
        let started = Instant::now();
        match session::exec(&session, target, command, max_output, self.inner.step, run_for).await {
            Ok(out) => {
                tracing::trace!(host = %target.host, ms = started.elapsed().as_secs_f64() * 1e3, "ssh exec");
                Ok(out)
            }
            Err(failure) => {
                if failure.transport {
                    let mut st = state.lock().await;
                    if st.session.as_ref().is_some_and(|s| Arc::ptr_eq(s, &session)) {
                        st.session = None;
                    }
                    tracing::warn!(host = %target.host, code = failure.error.code(), error = %failure.error,
                        "ssh session dropped; reconnecting on the next call");
                }
                Err(failure.error)
            }
        }
    }

    /// Drops the target's session and state (a server removed from the fleet). A refusal
    /// after a changed host key is re-established on the next contact unless known_hosts was
    /// fixed, so this is no way around pinning.
    /// Runs a command whose output is a stream (a backup): see `session::exec_stream`. Use a
    /// pool of its own, never the one of the polls: a stream holds its session's connection.
    #[allow(clippy::too_many_arguments)]
    pub async fn exec_stream<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        target: &SshTarget,
        command: &str,
        stdin: &mut (dyn tokio::io::AsyncRead + Unpin + Send),
        sink: &mut W,
        max_stderr: usize,
        idle: Duration,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<super::Streamed, SshError> {
        let state = self.state(target);
        let session = {
            let mut st = state.lock().await;
            self.session(&mut st, target).await?
        };
        match session::exec_stream(&session, target, command, stdin, sink, max_stderr, self.inner.step, idle, progress)
            .await
        {
            Ok(out) => Ok(out),
            Err(failure) => {
                if failure.transport {
                    let mut st = state.lock().await;
                    if st.session.as_ref().is_some_and(|s| Arc::ptr_eq(s, &session)) {
                        st.session = None;
                    }
                    tracing::warn!(host = %target.host, error = %failure.error, "ssh session dropped during a stream");
                }
                Err(failure.error)
            }
        }
    }

    pub async fn forget(&self, target: &SshTarget) {
        let state = self.inner.targets.lock().unwrap_or_else(|e| e.into_inner()).remove(&Key::of(target));
        if let Some(state) = state {
            let session = state.lock().await.session.take();
            if let Some(s) = session {
                let _ = tokio::time::timeout(self.inner.step, s.disconnect(russh::Disconnect::ByApplication, "", "en"))
                    .await;
            }
        }
    }

    fn state(&self, target: &SshTarget) -> Arc<Mutex<State>> {
        let mut targets = self.inner.targets.lock().unwrap_or_else(|e| e.into_inner());
        targets.entry(Key::of(target)).or_default().clone()
    }

    /// The live session, or a new one if allowed. Called with the target's lock held, so one
    /// target never has two handshakes at once.
    async fn session(&self, st: &mut State, target: &SshTarget) -> Result<Arc<Session>, SshError> {
        if let Some(refused) = &st.refused {
            match still_refused(refused, target) {
                Some(error) => return Err(error),
                None => {
                    tracing::info!(host = %target.host, known_hosts = %target.known_hosts.display(),
                        "known_hosts no longer pins another key; contacting the server again");
                    st.refused = None;
                    st.failures = 0;
                    st.retry_at = None;
                }
            }
        }
        if let Some(s) = &st.session {
            if !s.is_closed() {
                return Ok(s.clone());
            }
            tracing::info!(host = %target.host, "ssh session closed by the peer; reconnecting");
            st.session = None;
        }
        if let Some(at) = st.retry_at {
            if Instant::now() < at {
                return Err(SshError::Backoff {
                    target: describe(target),
                    until: at,
                    last_error: st.last_error.clone(),
                });
            }
        }

        // Waiting here is bounded: each holder finishes within three step timeouts.
        let permit = self.inner.handshakes.acquire().await;
        let started = Instant::now();
        let result = session::connect(target, self.inner.step).await;
        drop(permit);
        match result {
            Ok(s) => {
                self.inner.established.fetch_add(1, Ordering::Relaxed);
                tracing::info!(host = %target.host, ip = %target.ip, port = target.port,
                    ms = started.elapsed().as_secs_f64() * 1e3, after_failures = st.failures, "ssh session established");
                st.failures = 0;
                st.retry_at = None;
                st.last_error.clear();
                let s = Arc::new(s);
                st.session = Some(s.clone());
                Ok(s)
            }
            Err(e) if e.is_security() => {
                tracing::error!(host = %target.host, code = e.code(), error = %e, "ssh target refused");
                st.refused = Some(e.clone());
                Err(e)
            }
            Err(e) => {
                st.failures = st.failures.saturating_add(1);
                let delay = backoff(self.inner.backoff_first, self.inner.backoff_max, st.failures);
                st.retry_at = Some(Instant::now() + delay);
                st.last_error = e.to_string();
                tracing::warn!(host = %target.host, code = e.code(), error = %e, failures = st.failures,
                    retry_in_s = delay.as_secs_f64(), "ssh connect failed");
                Err(e)
            }
        }
    }
}

/// `first × 2^(failures-1)`, capped at `max`.
fn backoff(first: Duration, max: Duration, failures: u32) -> Duration {
    let factor = 1u32.checked_shl(failures.saturating_sub(1).min(31)).unwrap_or(u32::MAX);
    first.checked_mul(factor).unwrap_or(max).min(max)
}

/// Re-reads known_hosts for a refused target: `None` once no line pins another key (the
/// presented key was added, or the old line removed), else the refusal, refreshed.
fn still_refused(refused: &SshError, target: &SshTarget) -> Option<SshError> {
    let got = match refused {
        SshError::HostKeyChanged { got, .. } => got,
        SshError::HostKeyRevoked { fingerprint, .. } => fingerprint,
        other => return Some(other.clone()),
    };
    match known_hosts::check_fingerprint(&target.known_hosts, target.ip, target.port, got) {
        Ok(Verdict::Known | Verdict::Unknown) => None,
        Ok(Verdict::Changed { expected, line }) => Some(SshError::HostKeyChanged {
            target: describe(target),
            expected,
            got: got.clone(),
            known_hosts: target.known_hosts.clone(),
            line,
            pattern: known_hosts::host_pattern(target.ip, target.port),
        }),
        Ok(Verdict::Revoked { line }) => Some(SshError::HostKeyRevoked {
            target: describe(target),
            fingerprint: got.clone(),
            known_hosts: target.known_hosts.clone(),
            line,
        }),
        Err(_) => Some(refused.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_to_the_cap() {
        let s = Duration::from_secs;
        let rows = [(1, s(1)), (2, s(2)), (3, s(4)), (9, s(256)), (10, s(300)), (40, s(300)), (u32::MAX, s(300))];
        for (failures, want) in rows {
            assert_eq!(backoff(s(1), s(300), failures), want, "failures {failures}");
        }
    }
}
