//! One SSH connection: TCP connect, handshake with the host key check, key authentication,
//! and one command on a fresh channel of an established connection.
//!
//! Owns: the russh client configuration (nodelay on, TCP_QUICKACK re-armed after each read),
//! the host key decision during the handshake (known_hosts verdict, trust-on-first-use),
//! loading the private key (an encrypted key's passphrase asked of `crate::secrets`), and the
//! per-step timeouts.
//! Must not know: pooling, reuse, backoff or the handshake cap (that is `pool`), nor what the
//! commands mean.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use russh::client::{self, AuthResult, Handle};
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::ChannelMsg;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::error::{SshError, Step};
use super::known_hosts::{self, Verdict};
use super::{ExecOutput, SshTarget, Streamed};

pub(crate) type Session = Handle<Client>;

/// `web01 (127.78.1.2:22)`.
pub(crate) fn describe(target: &SshTarget) -> String {
    format!("{} ({})", target.host, SocketAddr::new(target.ip, target.port))
}

/// The russh handler: it only decides whether to trust the server's host key. A refusal is
/// left in `refusal` because russh reports it to the caller as a bare "unknown key".
pub(crate) struct Client {
    target: SshTarget,
    refusal: Arc<Mutex<Option<SshError>>>,
}

impl Client {
    fn refuse(&self, error: SshError) -> Result<bool, russh::Error> {
        tracing::warn!(host = %self.target.host, code = error.code(), "{error}");
        *self.refusal.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
        Ok(false)
    }
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, server_key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let t = &self.target;
        let PublicKeyOrCertificate::PublicKey { key, .. } = server_key else {
            // No certificate algorithms are offered, so a certificate here is a protocol oddity.
            return self.refuse(SshError::Handshake {
                target: describe(t),
                detail: "the server presented a host certificate, which is not supported".into(),
            });
        };
        let fingerprint = known_hosts::fingerprint(key);
        let verdict = match known_hosts::check(&t.known_hosts, t.ip, t.port, key) {
            Ok(v) => v,
            Err(detail) => return self.refuse(SshError::KnownHosts { path: t.known_hosts.clone(), detail }),
        };
        match verdict {
            Verdict::Known => Ok(true),
            Verdict::Unknown if t.trust_on_first_use => {
                if let Err(detail) = known_hosts::record(&t.known_hosts, t.ip, t.port, key) {
                    return self.refuse(SshError::KnownHosts { path: t.known_hosts.clone(), detail });
                }
                tracing::info!(
                    host = %t.host, ip = %t.ip, port = t.port, %fingerprint,
                    known_hosts = %t.known_hosts.display(),
                    "trusted a new host key on first use and recorded it"
                );
                Ok(true)
            }
            Verdict::Unknown => self.refuse(SshError::UnknownHostKey {
                target: describe(t),
                fingerprint,
                known_hosts: t.known_hosts.clone(),
                ip: t.ip.to_string(),
                port: t.port,
            }),
            Verdict::Changed { expected, line } => self.refuse(SshError::HostKeyChanged {
                target: describe(t),
                expected,
                got: fingerprint,
                known_hosts: t.known_hosts.clone(),
                line,
                pattern: known_hosts::host_pattern(t.ip, t.port),
            }),
            Verdict::Revoked { line } => self.refuse(SshError::HostKeyRevoked {
                target: describe(t),
                fingerprint,
                known_hosts: t.known_hosts.clone(),
                line,
            }),
        }
    }
}

/// A TCP stream that re-arms `TCP_QUICKACK` after every read. Linux falls back to delayed ACKs
/// after a while; OpenSSH writes small post-auth messages with Nagle on, so a delayed ACK here
/// stalls the first channel by ~40 ms (TESTING-NOTES.md, "Probe speed and its traps").
struct QuickAck(TcpStream);

impl AsyncRead for QuickAck {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.0).poll_read(cx, buf);
        if poll.is_ready() {
            // Best effort: only a latency optimisation.
            let _ = socket2::SockRef::from(&this.0).set_tcp_quickack(true);
        }
        poll
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

fn config(target: &SshTarget) -> client::Config {
    let mut preferred = russh::Preferred::default();
    // Ask first for the host key types we pinned, so a server with several host keys presents
    // the pinned one instead of one that would look "changed".
    let pinned = known_hosts::pinned_algorithms(&target.known_hosts, target.ip, target.port);
    if !pinned.is_empty() {
        let mut keys = pinned;
        for a in preferred.key.iter() {
            if !keys.contains(a) {
                keys.push(a.clone());
            }
        }
        preferred.key = keys.into();
    }
    client::Config {
        nodelay: true,
        preferred,
        // A persistent session idles between polls: notice a dead peer (no RST, e.g. a
        // powered-off server) within about a minute and a half.
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 3,
        inactivity_timeout: None,
        ..Default::default()
    }
}

/// Why a key could not be loaded.
enum KeyFailure {
    Load(russh::keys::Error),
    /// Encrypted, and no source had the passphrase (where it was looked for).
    NoPassphrase(String),
    /// Encrypted, and the passphrase found (in that source) did not open it.
    WithPassphrase(russh::keys::Error, String),
}

/// Reads the private key. An encrypted key's passphrase is asked of `crate::secrets` (the
/// variable, credentials, secrets_dir, the OS keyring), never of the fleet file; a key without
/// one never causes a lookup.
async fn load_key(target: &SshTarget) -> Result<russh::keys::PrivateKey, SshError> {
    let path = target.key_path.clone();
    // Decrypting a passphrase-protected key runs bcrypt-pbkdf, and the keyring blocks: keep
    // both off the async workers.
    let loaded = tokio::task::spawn_blocking(move || match russh::keys::load_secret_key(&path, None) {
        Err(russh::keys::Error::KeyIsEncrypted) => {
            let passphrase = crate::secrets::Secrets::active()
                .ssh_passphrase()
                .map_err(|e| KeyFailure::NoPassphrase(e.to_string()))?;
            russh::keys::load_secret_key(&path, Some(passphrase.expose()))
                .map_err(|e| KeyFailure::WithPassphrase(e, passphrase.source.to_string()))
        }
        plain => plain.map_err(KeyFailure::Load),
    })
    .await
    .map_err(|e| SshError::Key { path: target.key_path.clone(), detail: e.to_string() })?;
    loaded.map_err(|failure| {
        let detail = match failure {
            KeyFailure::NoPassphrase(missing) => format!("it is protected by a passphrase, but {missing}"),
            KeyFailure::Load(russh::keys::Error::IO(io)) if io.kind() == std::io::ErrorKind::NotFound => {
                "no such file: check `key` in the fleet file".into()
            }
            KeyFailure::Load(other) => other.to_string(),
            KeyFailure::WithPassphrase(e, source) => {
                format!("{e} (is the passphrase from {source} the right passphrase for this key?)")
            }
        };
        SshError::Key { path: target.key_path.clone(), detail }
    })
}

/// TCP connect, handshake (host key checked), authentication. Every step has `step` as its
/// timeout; nothing else waits.
pub(crate) async fn connect(target: &SshTarget, step: Duration) -> Result<Session, SshError> {
    let who = describe(target);
    let key = load_key(target).await?;
    let addr = SocketAddr::new(target.ip, target.port);

    let tcp = match timeout(step, TcpStream::connect(addr)).await {
        Err(_) => return Err(SshError::Timeout { target: who, step: Step::Connect, after: step }),
        Ok(Err(e)) => return Err(SshError::Connect { target: who, detail: e.to_string() }),
        Ok(Ok(tcp)) => tcp,
    };
    // russh's `connect` sets this from `Config::nodelay`; `connect_stream` leaves it to us.
    let _ = tcp.set_nodelay(true);

    let refusal = Arc::new(Mutex::new(None));
    let handler = Client { target: target.clone(), refusal: refusal.clone() };
    let cfg = Arc::new(config(target));
    let handshake = timeout(step, client::connect_stream(cfg, QuickAck(tcp), handler)).await;
    let mut session = match handshake {
        Err(_) => return Err(SshError::Timeout { target: who, step: Step::Handshake, after: step }),
        Ok(Err(e)) => {
            if let Some(refused) = refusal.lock().unwrap_or_else(|e| e.into_inner()).take() {
                return Err(refused);
            }
            return Err(SshError::Handshake { target: who, detail: e.to_string() });
        }
        Ok(Ok(session)) => session,
    };

    let auth = async {
        let hash = if key.algorithm().is_rsa() {
            // OpenSSH >= 7.2 announces rsa-sha2-* in server-sig-algs; a server that announces
            // nothing predates it (CentOS 6) and only verifies ssh-rsa (SHA-1), as OpenSSH's
            // own client assumes.
            session.best_supported_rsa_hash().await?.flatten()
        } else {
            None
        };
        session.authenticate_publickey(target.user.clone(), PrivateKeyWithHashAlg::new(Arc::new(key), hash)).await
    };
    match timeout(step, auth).await {
        Err(_) => Err(SshError::Timeout { target: who, step: Step::Auth, after: step }),
        Ok(Err(e)) => Err(SshError::Handshake { target: who, detail: format!("during authentication: {e}") }),
        Ok(Ok(AuthResult::Success)) => Ok(session),
        Ok(Ok(AuthResult::Failure { .. })) => {
            Err(SshError::AuthRefused { user: target.user.clone(), target: who, key_path: target.key_path.clone() })
        }
    }
}

/// How an exec failed: `transport` means the connection itself is gone or stuck, so the pool
/// must drop it; otherwise the session stays usable.
pub(crate) struct ExecFailure {
    pub error: SshError,
    pub transport: bool,
}

/// A new session channel within `step`. A refused channel leaves the session usable; a timeout
/// or any other failure means the connection is gone (`transport`).
async fn open_channel(
    session: &Session,
    target: &SshTarget,
    step: Duration,
) -> Result<russh::Channel<client::Msg>, ExecFailure> {
    match timeout(step, session.channel_open_session()).await {
        Err(_) => Err(ExecFailure {
            error: SshError::Timeout { target: describe(target), step: Step::ChannelOpen, after: step },
            transport: true,
        }),
        Ok(Err(e)) => {
            let transport = session.is_closed() || !matches!(e, russh::Error::ChannelOpenFailure(_));
            let detail = e.to_string();
            let error = if transport {
                SshError::Transport { target: describe(target), detail }
            } else {
                SshError::Channel { target: describe(target), detail }
            };
            Err(ExecFailure { error, transport })
        }
        Ok(Ok(channel)) => Ok(channel),
    }
}

/// Runs `command` on a new channel of `session`: channel open within `step`, then the whole
/// output within `run_for` (the step timeout, or a job's limit). stdout and stderr are each kept up to `max_output` bytes; past that
/// the channel is closed and the rest discarded.
pub(crate) async fn exec(
    session: &Session,
    target: &SshTarget,
    command: &str,
    max_output: usize,
    step: Duration,
    run_for: Duration,
) -> Result<ExecOutput, ExecFailure> {
    let who = || describe(target);
    let mut channel = open_channel(session, target, step).await?;

    let deadline = tokio::time::Instant::now() + run_for;
    // Our side still has to close the channel unless the server closed it or we did.
    let mut open = true;
    let run = async {
        channel.exec(true, command).await.map_err(|e| ExecFailure {
            error: SshError::Transport { target: who(), detail: e.to_string() },
            transport: true,
        })?;
        let mut out = ExecOutput::default();
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        // Ends when the server closes the channel (or the connection goes); bounded in time by
        // the deadline around it and in memory by `max_output`.
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => {
                    keep(&mut stdout, &data, max_output, &mut out.truncated);
                }
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    let mut ignored = false;
                    keep(&mut stderr, &data, max_output, &mut ignored);
                }
                ChannelMsg::ExitStatus { exit_status } => out.exit_status = Some(exit_status),
                ChannelMsg::Failure => {
                    return Err(ExecFailure {
                        error: SshError::Channel {
                            target: who(),
                            detail: "the server refused to run the command".into(),
                        },
                        transport: false,
                    })
                }
                ChannelMsg::Close => {
                    open = false;
                    break;
                }
                _ => {}
            }
            if out.truncated {
                // Past the cap: close our side and stop reading. russh forgets the channel at
                // once; sshd closes the command's pipes (it dies of SIGPIPE) and the channel.
                let _ = channel.close().await;
                open = false;
                break;
            }
        }
        if session.is_closed() && out.exit_status.is_none() && !out.truncated {
            return Err(ExecFailure {
                error: SshError::Transport { target: who(), detail: "connection closed during the command".into() },
                transport: true,
            });
        }
        out.stdout = String::from_utf8_lossy(&stdout).into_owned();
        out.stderr = String::from_utf8_lossy(&stderr).into_owned();
        Ok(out)
    };
    match tokio::time::timeout_at(deadline, run).await {
        Ok(result) => {
            if open {
                let _ = timeout(step, channel.close()).await;
            }
            result
        }
        Err(_) => {
            // The command hangs (e.g. `df` on a dead NFS mount); the connection may be fine.
            let _ = timeout(step, channel.close()).await;
            Err(ExecFailure {
                error: SshError::Timeout { target: who(), step: Step::ExecRead, after: run_for },
                transport: session.is_closed(),
            })
        }
    }
}

/// An input that notes when it was last read (the idle timeout of a stream's input).
struct Watched<'a> {
    inner: &'a mut (dyn AsyncRead + Unpin + Send),
    at: Arc<Mutex<tokio::time::Instant>>,
}

impl AsyncRead for Watched<'_> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut *self.inner).poll_read(cx, buf);
        if polled.is_ready() {
            *self.at.lock().unwrap_or_else(|e| e.into_inner()) = tokio::time::Instant::now();
        }
        polled
    }
}

/// Runs `command` on a new channel, sends it `stdin` (then end of file), and writes its whole
/// standard output to `sink` as it comes (no cap: a backup stream), waiting on a slow sink
/// rather than buffering (russh holds a bounded number of messages per channel, then stops
/// reading the connection: the server is slowed through TCP). The only time limit is `idle`: no data for that long ends it (a big
/// stream has no total deadline). Standard error is kept up to `max_stderr`. `progress` is
/// called with the bytes written so far after each write. A failing sink is
/// [`SshError::LocalWrite`] (the NOC's side), never the server's.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn exec_stream<W: AsyncWrite + Unpin>(
    session: &Session,
    target: &SshTarget,
    command: &str,
    stdin: &mut (dyn AsyncRead + Unpin + Send),
    sink: &mut W,
    max_stderr: usize,
    step: Duration,
    idle: Duration,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<Streamed, ExecFailure> {
    let who = || describe(target);
    let transport =
        |detail: String| ExecFailure { error: SshError::Transport { target: who(), detail }, transport: true };
    let mut channel = open_channel(session, target, step).await?;
    let mut out = Streamed::default();
    let mut stderr = Vec::new();
    let result: Result<(), ExecFailure> = async {
        timeout(step, channel.exec(true, command))
            .await
            .map_err(|_| ExecFailure {
                error: SshError::Timeout { target: who(), step: Step::ExecRead, after: step },
                transport: false,
            })?
            .map_err(|e| transport(e.to_string()))?;
        // The input (a restore's archive, a differential's snapshot) goes first, bounded by the
        // idle time between two reads the server takes (a large input has no total deadline).
        let progress_at = Arc::new(Mutex::new(tokio::time::Instant::now()));
        let watched = Watched { inner: stdin, at: progress_at.clone() };
        {
            let send = channel.data(watched);
            tokio::pin!(send);
            loop {
                tokio::select! {
                    sent = &mut send => {
                        sent.map_err(|e| transport(e.to_string()))?;
                        break;
                    }
                    _ = tokio::time::sleep(idle / 4) => {
                        let last = *progress_at.lock().unwrap_or_else(|e| e.into_inner());
                        if last.elapsed() > idle {
                            return Err(ExecFailure {
                                error: SshError::Timeout { target: who(), step: Step::StreamIdle, after: idle },
                                transport: false,
                            });
                        }
                    }
                }
            }
        }
        channel.eof().await.map_err(|e| transport(e.to_string()))?;
        loop {
            let msg = match timeout(idle, channel.wait()).await {
                Err(_) => {
                    return Err(ExecFailure {
                        error: SshError::Timeout { target: who(), step: Step::StreamIdle, after: idle },
                        transport: session.is_closed(),
                    })
                }
                Ok(None) => break,
                Ok(Some(msg)) => msg,
            };
            match msg {
                ChannelMsg::Data { data } => {
                    sink.write_all(&data).await.map_err(|e| ExecFailure {
                        error: SshError::LocalWrite { target: who(), detail: e.to_string() },
                        transport: false,
                    })?;
                    out.bytes += data.len() as u64;
                    progress(out.bytes);
                }
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    keep(&mut stderr, &data, max_stderr, &mut out.stderr_truncated)
                }
                ChannelMsg::ExitStatus { exit_status } => out.exit_status = Some(exit_status),
                ChannelMsg::Failure => {
                    return Err(ExecFailure {
                        error: SshError::Channel {
                            target: who(),
                            detail: "the server refused to run the command".into(),
                        },
                        transport: false,
                    })
                }
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        sink.flush().await.map_err(|e| ExecFailure {
            error: SshError::LocalWrite { target: who(), detail: e.to_string() },
            transport: false,
        })?;
        if session.is_closed() && out.exit_status.is_none() {
            return Err(transport("connection closed during the command".into()));
        }
        Ok(())
    }
    .await;
    // Closing our side also stops a command whose output we no longer read (it gets SIGPIPE).
    let _ = timeout(step, channel.close()).await;
    result?;
    out.stderr = String::from_utf8_lossy(&stderr).into_owned();
    Ok(out)
}

fn keep(buf: &mut Vec<u8>, data: &[u8], max: usize, truncated: &mut bool) {
    let room = max.saturating_sub(buf.len());
    if data.len() > room {
        *truncated = true;
    }
    buf.extend_from_slice(&data[..data.len().min(room)]);
}
