//! What can go wrong with an SSH session, worded for the operator who has to fix it.
//!
//! Owns: the error enum, its stable codes (for the UI and the engine) and its messages.
//! Must not know: how the errors are produced (sessions, known_hosts) or what the engine does
//! with them (a changed host key becomes a Lv.4 security incident there, not here).

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// One step of setting up or using a session, each with its own timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// TCP connect to the server's SSH port.
    Connect,
    /// Version exchange, key exchange and host key check.
    Handshake,
    /// Public key authentication.
    Auth,
    /// Opening a session channel on an established connection.
    ChannelOpen,
    /// Sending the command and reading its output until the channel closes.
    ExecRead,
    /// A streamed command's output: no data for the idle timeout (a stream has no total deadline).
    StreamIdle,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Connect => "TCP connect",
            Step::Handshake => "SSH handshake",
            Step::Auth => "authentication",
            Step::ChannelOpen => "channel open",
            Step::ExecRead => "command output",
            Step::StreamIdle => "streamed output (no data)",
        })
    }
}

/// `target` fields read like `web01 (127.78.1.2:22)`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SshError {
    #[error("cannot connect to {target}: {detail}. Is sshd running there and the port reachable from this machine?")]
    Connect { target: String, detail: String },

    #[error("{step} with {target} timed out after {:.1} s", after.as_secs_f64())]
    Timeout { target: String, step: Step, after: Duration },

    #[error("SSH handshake with {target} failed: {detail}")]
    Handshake { target: String, detail: String },

    #[error("host key of {target} is unknown: {fingerprint} is not in {}. If that is the server's key (on the server: `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), add it with `ssh-keyscan -p {port} {ip} >> {}`, or allow trust-on-first-use for this server", known_hosts.display(), known_hosts.display())]
    UnknownHostKey {
        target: String,
        /// As OpenSSH prints it: `SHA256:…`.
        fingerprint: String,
        known_hosts: PathBuf,
        ip: String,
        port: u16,
    },

    #[error("HOST KEY CHANGED for {target}: {} line {line} pins {expected} but the server presented {got}. This may be a man-in-the-middle attack; this server is not contacted again until the line is fixed (if the change is legitimate, remove it with `ssh-keygen -R {pattern} -f {}` and add the new key) or the process restarts", known_hosts.display(), known_hosts.display())]
    HostKeyChanged {
        target: String,
        /// Fingerprint of the pinned key (`SHA256:…`).
        expected: String,
        /// Fingerprint of the key the server presented (`SHA256:…`).
        got: String,
        known_hosts: PathBuf,
        line: usize,
        /// The known_hosts host pattern of this server (`127.78.1.2` or `[127.78.1.2]:2222`).
        pattern: String,
    },

    #[error("host key {fingerprint} of {target} is marked @revoked in {} line {line}; refusing to connect", known_hosts.display())]
    HostKeyRevoked { target: String, fingerprint: String, known_hosts: PathBuf, line: usize },

    #[error("cannot use known_hosts file {}: {detail}", path.display())]
    KnownHosts { path: PathBuf, detail: String },

    #[error("cannot load SSH key {}: {detail}", path.display())]
    Key { path: PathBuf, detail: String },

    #[error("authentication as {user} refused by {target}: is {}.pub in ~{user}/.ssh/authorized_keys?", key_path.display())]
    AuthRefused { user: String, target: String, key_path: PathBuf },

    #[error("cannot open a channel to {target}: {detail}")]
    Channel { target: String, detail: String },

    #[error("SSH session with {target} was lost: {detail}")]
    Transport { target: String, detail: String },

    /// Writing a streamed command's output on this machine failed (a full disk, a closed file):
    /// the NOC's failure, never the server's.
    #[error("cannot write the output of {target} on this machine: {detail}")]
    LocalWrite { target: String, detail: String },

    #[error("not reconnecting to {target} before {:.1} s from now (backoff after: {last_error})", until.saturating_duration_since(Instant::now()).as_secs_f64())]
    Backoff { target: String, until: Instant, last_error: String },
}

impl SshError {
    /// A stable code for programs (the UI's `{code, message}`); never match on messages.
    pub fn code(&self) -> &'static str {
        match self {
            SshError::Connect { .. } => "ssh_connect",
            SshError::Timeout { .. } => "ssh_timeout",
            SshError::Handshake { .. } => "ssh_handshake",
            SshError::UnknownHostKey { .. } => "ssh_unknown_host_key",
            SshError::HostKeyChanged { .. } => "ssh_host_key_changed",
            SshError::HostKeyRevoked { .. } => "ssh_host_key_revoked",
            SshError::KnownHosts { .. } => "ssh_known_hosts",
            SshError::Key { .. } => "ssh_key",
            SshError::AuthRefused { .. } => "ssh_auth_refused",
            SshError::Channel { .. } => "ssh_channel",
            SshError::Transport { .. } => "ssh_transport",
            SshError::Backoff { .. } => "ssh_backoff",
            SshError::LocalWrite { .. } => "local_write",
        }
    }

    /// True when the server's identity is in doubt (a changed or revoked host key): the
    /// engine opens a security incident and stops polling, it does not just retry.
    pub fn is_security(&self) -> bool {
        matches!(self, SshError::HostKeyChanged { .. } | SshError::HostKeyRevoked { .. })
    }
}
