//! SSH sessions to monitored servers: run a command, get its output.
//!
//! Owns: one persistent, authenticated session per target, reused for every command (a new
//! channel per command; text commands capped, streamed ones — backups — written to a sink with
//! backpressure and an idle timeout instead of a cap and a deadline) and re-established with exponential backoff when it drops; a global
//! cap on concurrent handshakes; a timeout on every step (TCP connect, handshake, auth,
//! channel open, command output); key authentication from a key file (ed25519, RSA, ECDSA);
//! host keys pinned in an OpenSSH known_hosts file (trust-on-first-use only where the operator
//! allows it; a changed key refuses the target for the life of the process, or until the
//! known_hosts line is fixed).
//! Must not know: what commands mean or how their output is parsed (resource polling), fleet
//! files, incidents or the store. A changed host key is returned as
//! [`SshError::HostKeyChanged`] (see [`SshError::is_security`]); the engine turns it into a
//! security incident.
//!
//! Secrets: an encrypted key's passphrase (one for all keys) is asked of `crate::secrets`
//! (`ANSHIN_SSH_PASSPHRASE`, a systemd credential or secrets_dir file `ssh-passphrase`, the OS
//! keyring), never of the fleet file. There is no ssh-agent support.

mod error;
mod known_hosts;
mod pool;
mod session;

use std::net::IpAddr;
use std::path::PathBuf;

pub use error::{SshError, Step};
pub use pool::SshPool;

/// The environment variable holding the passphrase of encrypted private keys (the first of
/// its sources, see `crate::secrets`).
pub const PASSPHRASE_ENV: &str = crate::secrets::SSH_PASSPHRASE_ENV;

/// Where and how to log in. Sessions are keyed by (`host`, `ip`, `port`, `user`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// The server's label in the fleet, for messages and logs.
    pub host: String,
    pub ip: IpAddr,
    pub port: u16,
    pub user: String,
    /// OpenSSH private key file (ed25519, RSA or ECDSA; encrypted ones need the passphrase as a
    /// secret, see `crate::secrets`).
    pub key_path: PathBuf,
    /// OpenSSH known_hosts file pinning the server's host key (looked up by `ip`, or
    /// `[ip]:port` when the port is not 22).
    pub known_hosts: PathBuf,
    /// Record an unknown host key on first contact instead of refusing it.
    pub trust_on_first_use: bool,
}

/// What a streamed command left besides its output (which went to the caller's writer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Streamed {
    /// Bytes of standard output written to the sink.
    pub bytes: u64,
    /// Standard error, at most the cap given (then lossy UTF-8): per-file warnings of `tar`.
    pub stderr: String,
    /// True when stderr went past its cap.
    pub stderr_truncated: bool,
    /// The command's exit status; `None` when the server sent none (killed by a signal).
    pub exit_status: Option<u32>,
}

/// What one command printed. Untrusted: capped, lossily decoded, not yet stripped of control
/// characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Standard output, at most `max_output` bytes (then lossy UTF-8).
    pub stdout: String,
    /// Standard error, at most `max_output` bytes; handy to tell "command not found".
    pub stderr: String,
    /// The command's exit status; `None` when the server sent none (killed by a signal, or the
    /// channel was closed early because the output went past the cap).
    pub exit_status: Option<u32>,
    /// True when stdout went past `max_output` and the rest was discarded.
    pub truncated: bool,
}
