//! Customer mail on the wire: the SMTP transport (lettre) and the outbox runner that delivers
//! what the store's outbox holds.
//!
//! Owns: the `[smtp]` URL and its password source ([`SmtpSettings`]), turning an outbox row into
//! an RFC 5322 message (the stored Message-ID, From, To, UTF-8 Subject, Date, `text/plain;
//! charset=utf-8`, CRLF body), the last check that no header carries CR, LF or another control
//! character, the split of SMTP failures into "retry" and "never", the retry backoff, and the
//! delivery loop ([`run_outbox`]) with its own store connection.
//! Must not know: what a mail says (`anshin_core::mail` renders it), why it was written (the
//! engine enqueues it with the incident change, in one transaction), or SQL (it calls `Store`).
//!
//! # Delivery guarantee: at least once, never lost
//!
//! A mail exists only as an outbox row committed with the incident that caused it. The runner
//! marks a row `sent` only after the server answered 250 to DATA. If the process dies between
//! that 250 and the mark, the row is still pending and the mail is sent again on restart: the
//! customer may see it twice, but both copies carry the same Message-ID (generated once, at
//! enqueue), so a mail client or the operator recognizes the duplicate. The window is one SQLite
//! commit wide. The alternative (mark first, then send) could lose an alert, which is worse.

mod outbox;
mod smtp;

pub use outbox::{run_outbox, OutboxError, RetryPolicy};
pub use smtp::{build_message, check_header, send_test, Security, SmtpSettings, SmtpTransport, PASSWORD_ENV};

/// Why a mail was not sent, split the way the outbox needs it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The `[smtp]` URL cannot be used; the message says how to fix it.
    #[error("[smtp] url {url:?}: {reason}")]
    Url { url: String, reason: String },
    /// A user is named but no password is available (`why`: where it was looked for).
    #[error("[smtp] url names user {user:?} but {why} (the password never goes in the fleet file)")]
    NoPassword { user: String, why: String },
    /// The server did not offer STARTTLS where the password requires it: nothing was sent
    /// after EHLO. Worth retrying (a relay being fixed), and the other mails would fail alike.
    #[error("the SMTP server {server} does not offer STARTTLS, so the password was not sent (nothing after EHLO): enable STARTTLS on the server, use smtps://, or (a relay on loopback only) set [smtp] insecure_auth = true")]
    NoStartTls { server: String },
    /// A header value that must never be sent (CR/LF injection, empty, malformed address).
    #[error("refused to send: {field} {reason}")]
    Header { field: &'static str, reason: String },
    /// The server could not be reached or stopped answering (refused, reset, timeout, TLS): worth
    /// trying again later, and the other mails due now would fail the same way.
    #[error("SMTP server unreachable: {0}")]
    Unreachable(String),
    /// The server answered but not now (4xx), or refused our credentials: worth trying again.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The server refused the mail for good (5xx to MAIL, RCPT or DATA).
    #[error("refused by the SMTP server: {0}")]
    Permanent(String),
}

impl MailError {
    /// True when retrying the same mail cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, MailError::Header { .. } | MailError::Permanent(_))
    }
}
