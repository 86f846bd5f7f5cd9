//! The SMTP side: settings from the `[smtp]` URL, messages from outbox rows, one send.
//!
//! Owns: the connection kept between mails (TCP_NODELAY, NOOP before reuse), URL parsing (`smtps://` = implicit TLS; `smtp://` = STARTTLS, *required* when a user
//! is named so the password never crosses a plain connection, only when offered otherwise;
//! optional `user@`), the rule that `insecure_auth` is for a loopback relay only, the
//! password (asked of `crate::secrets`, never the fleet file), header checks, and the
//! classification of lettre's errors. Must not know: the store or the retry policy.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use lettre::address::Envelope;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::{Category, Severity};
use lettre::transport::smtp::Error as SmtpError;
use lettre::{Address, Message};
use rand::Rng as _;

use super::MailError;
use crate::secrets::Secrets;
use crate::store::{OutboxKind, OutboxRecord, OutboxState};

/// The environment variable that holds the SMTP password (the first of its sources).
pub const PASSWORD_ENV: &str = crate::secrets::SMTP_PASSWORD_ENV;

/// Default for every SMTP step (connect, each command); a whole send gets a few of these.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// A whole send (connect, TLS, auth, MAIL, RCPT×3, DATA) at most this many step timeouts.
const SEND_TIMEOUT_STEPS: u32 = 4;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtp://` without a user (or with `insecure_auth` to a loopback relay): plain, upgraded
    /// with STARTTLS when the server offers it.
    StartTlsWhenOffered,
    /// `smtp://user@…`: STARTTLS or nothing. A server that does not offer it never sees AUTH.
    StartTlsRequired,
    /// `smtps://`: TLS from the first byte (port 465).
    ImplicitTls,
}

/// Where and how to send, from the fleet's `[smtp] url` plus the password from the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: Option<String>,
    password: Option<String>,
    /// Per SMTP step; a whole send is bounded by a few of these.
    pub timeout: Duration,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl SmtpSettings {
    /// The fleet's `[smtp]` (`None` without one), the password asked of `secrets` when the URL
    /// names a user.
    pub fn for_fleet(fleet: &anshin_core::Fleet, secrets: &Secrets) -> Result<Option<SmtpSettings>, MailError> {
        let Some(smtp) = &fleet.smtp else { return Ok(None) };
        let url = &smtp.url;
        let user = SmtpSettings::parse(url)?.user;
        let password = match &user {
            Some(user) => Some(
                secrets
                    .smtp_password()
                    .map_err(|e| MailError::NoPassword { user: user.clone(), why: e.to_string() })?
                    .into_value(),
            ),
            None => None,
        };
        let settings = SmtpSettings::from_url(url, password)?;
        Ok(Some(if smtp.insecure_auth { settings.allow_insecure_auth()? } else { settings }))
    }

    /// Reads `smtp://[user@]host[:port]` or `smtps://[user@]host[:port]`. A password written
    /// into the URL is refused: secrets do not belong in the fleet file. `password` (from
    /// [`Secrets`]) is required when a user is named, and then `smtp://` requires STARTTLS.
    pub fn from_url(url: &str, password: Option<String>) -> Result<SmtpSettings, MailError> {
        let parsed = SmtpSettings::parse(url)?;
        if let (Some(user), None) = (&parsed.user, &password) {
            return Err(MailError::NoPassword {
                user: user.clone(),
                why: format!("no password was given ({PASSWORD_ENV}, a credential or secrets_dir file \"smtp\", or `anshin secret set smtp`)"),
            });
        }
        Ok(SmtpSettings { password, ..parsed })
    }

    /// Lets the password go without TLS when the server offers none: only to a relay on
    /// loopback (the fleet's `insecure_auth = true`, which validation allows only there).
    pub fn allow_insecure_auth(mut self) -> Result<SmtpSettings, MailError> {
        if !anshin_core::fleet::is_loopback_host(&self.host) {
            return Err(MailError::Url {
                url: format!("{}:{}", self.host, self.port),
                reason: "insecure_auth is allowed only for a relay on loopback (127.0.0.0/8, ::1, localhost)".into(),
            });
        }
        if self.security == Security::StartTlsRequired {
            self.security = Security::StartTlsWhenOffered;
        }
        Ok(self)
    }

    /// The URL's parts; no password yet.
    fn parse(url: &str) -> Result<SmtpSettings, MailError> {
        let bad = |reason: &str| MailError::Url { url: url.to_string(), reason: reason.to_string() };
        let (security, rest, default_port) = if let Some(r) = url.strip_prefix("smtp://") {
            (Security::StartTlsWhenOffered, r, 25)
        } else if let Some(r) = url.strip_prefix("smtps://") {
            (Security::ImplicitTls, r, 465)
        } else {
            return Err(bad("must start with smtp:// (STARTTLS) or smtps:// (implicit TLS)"));
        };
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("contains spaces or control characters"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(bad("write only smtp://[user@]host[:port]; paths and ?options are not supported"));
        }
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((userinfo, hp)) => {
                if userinfo.contains(':') {
                    return Err(bad(&format!(
                        "has a password in it; remove it and give it as a secret ({PASSWORD_ENV}, a credential or secrets_dir file \"smtp\", or `anshin secret set smtp`)"
                    )));
                }
                if userinfo.is_empty() {
                    return Err(bad("has an empty user before @"));
                }
                (Some(percent_decode(userinfo).ok_or_else(|| bad("has a malformed %-escape in the user"))?), hp)
            }
            None => (None, rest),
        };
        let (host, port) =
            split_host_port(hostport).ok_or_else(|| bad("has no host, or a port that is not 1–65535"))?;
        let port = port.unwrap_or(default_port);
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        // A password goes only where no one on the way can read it.
        let security = if user.is_some() && security == Security::StartTlsWhenOffered {
            Security::StartTlsRequired
        } else {
            security
        };
        Ok(SmtpSettings { host, port, security, user, password: None, timeout: DEFAULT_TIMEOUT })
    }

    pub fn with_timeout(mut self, timeout: Duration) -> SmtpSettings {
        self.timeout = timeout;
        self
    }

    /// The transport (nothing is connected yet).
    pub fn transport(&self) -> Result<SmtpTransport, MailError> {
        let tls = TlsParameters::new(self.host.clone()).map_err(|e| MailError::Url {
            url: format!("{}:{}", self.host, self.port),
            reason: format!("cannot set up TLS for this host name: {e}"),
        })?;
        let credentials = match (&self.user, &self.password) {
            (Some(user), Some(password)) => Some(Credentials::new(user.clone(), password.clone())),
            _ => None,
        };
        Ok(SmtpTransport {
            host: self.host.clone(),
            port: self.port,
            security: self.security,
            tls,
            credentials,
            hello: ClientId::default(),
            step_timeout: self.timeout,
            send_timeout: self.timeout * SEND_TIMEOUT_STEPS,
            server: format!("{}:{}", self.host, self.port),
            kept: Arc::new(tokio::sync::Mutex::new(None)),
        })
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(r) = s.strip_prefix('[') {
        let (h, after) = r.split_once(']')?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':')?)),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => None,
    };
    Some((host.to_string(), port))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A kept connection is dropped after this long unused (servers close theirs after 5 minutes).
const KEEP_IDLE: Duration = Duration::from_secs(60);

/// A ready SMTP client: one connection kept between mails (tested with NOOP before reuse), every
/// send under a timeout. Its own connections have TCP_NODELAY: lettre writes a message's body
/// and its closing dot in two writes, and with Nagle's algorithm the dot waited for the server's
/// delayed ACK of the body, about 40 ms a mail (1,000 mails of a network outage took 45 s).
/// `smtps://` connections are opened by lettre, which leaves Nagle on.
#[derive(Clone)]
pub struct SmtpTransport {
    host: String,
    port: u16,
    security: Security,
    tls: TlsParameters,
    credentials: Option<Credentials>,
    hello: ClientId,
    step_timeout: Duration,
    send_timeout: Duration,
    /// `host:port`, for messages.
    server: String,
    kept: Arc<tokio::sync::Mutex<Option<(AsyncSmtpConnection, Instant)>>>,
}

impl fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("server", &self.server)
            .field("security", &self.security)
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpTransport {
    /// Sends one message. `Ok` only when the server answered 250 to DATA.
    pub async fn send(&self, message: Message) -> Result<(), MailError> {
        let envelope = message.envelope().clone();
        let bytes = message.formatted();
        match tokio::time::timeout(self.send_timeout, self.send_on_kept(&envelope, &bytes)).await {
            Err(_) => Err(MailError::Unreachable(format!("no answer within {:?}", self.send_timeout))),
            Ok(Ok(())) => Ok(()),
            Ok(Err(Failed::Smtp(e))) => Err(classify(&e, &self.server)),
            // No SMTP status: as lettre words its own connection errors.
            Ok(Err(Failed::Socket(e))) => Err(MailError::Unreachable(format!("Connection error: {e}"))),
        }
    }

    /// The kept connection when it is fresh and answers NOOP, else a new one; kept again only
    /// after a mail it carried was accepted.
    async fn send_on_kept(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), Failed> {
        let mut kept = self.kept.lock().await;
        let reusable = match kept.take() {
            Some((mut conn, since)) => {
                if since.elapsed() < KEEP_IDLE && !conn.has_broken() && conn.test_connected().await {
                    Some(conn)
                } else {
                    conn.abort().await;
                    None
                }
            }
            None => None,
        };
        let mut conn = match reusable {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        match conn.send(envelope, bytes).await {
            Ok(_) => {
                *kept = Some((conn, Instant::now()));
                Ok(())
            }
            Err(e) => {
                conn.abort().await;
                Err(Failed::Smtp(e))
            }
        }
    }

    /// Connects, greets, upgrades to TLS as the settings say, and authenticates (as lettre's own
    /// transport does, with TCP_NODELAY on the socket it opens itself).
    async fn connect(&self) -> Result<AsyncSmtpConnection, Failed> {
        let mut conn = if self.security == Security::ImplicitTls {
            let target = (self.host.as_str(), self.port);
            AsyncSmtpConnection::connect_tokio1(
                target,
                Some(self.step_timeout),
                &self.hello,
                Some(self.tls.clone()),
                None,
            )
            .await?
        } else {
            let tcp = tokio::time::timeout(
                self.step_timeout,
                tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
            )
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out"))
            .and_then(|r| r)
            .map_err(Failed::Socket)?;
            tcp.set_nodelay(true).map_err(Failed::Socket)?;
            let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?;
            if self.security == Security::StartTlsRequired || conn.can_starttls() {
                conn.starttls(self.tls.clone(), &self.hello).await?;
            }
            conn
        };
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        Ok(conn)
    }
}

/// Why a send failed: lettre's error (with the server's status when it answered), or our own
/// socket's before lettre had it.
enum Failed {
    Smtp(SmtpError),
    Socket(std::io::Error),
}

impl From<SmtpError> for Failed {
    fn from(e: SmtpError) -> Failed {
        Failed::Smtp(e)
    }
}

/// 5xx to the mail itself is final; no answer at all is "unreachable"; a 4xx, and a 5xx
/// about authentication (53x: bad or missing credentials, a configuration problem the operator
/// can fix) is worth retrying: a mail is never dropped because of our own setup. Neither is it
/// when the server offers no STARTTLS where it is required (lettre's client error, raised
/// after EHLO and before anything else is sent).
fn classify(e: &SmtpError, server: &str) -> MailError {
    let text = e.to_string();
    if e.is_client() && text.contains("STARTTLS") {
        return MailError::NoStartTls { server: server.to_string() };
    }
    match e.status() {
        Some(code) if code.severity == Severity::PermanentNegativeCompletion => {
            if code.category == Category::Unspecified3 {
                MailError::Transient(format!("authentication refused, fix the credentials: {text}"))
            } else {
                MailError::Permanent(text)
            }
        }
        Some(_) => MailError::Transient(text),
        None => MailError::Unreachable(text),
    }
}

/// Refuses a header value with a control character (CR, LF, TAB, NUL, DEL, C1) or a Unicode
/// line/paragraph separator, or an empty one. Defence in depth: `anshin_core::mail` already
/// refuses them when rendering; this runs again on what the store hands the transport.
pub fn check_header(field: &'static str, value: &str) -> Result<(), MailError> {
    // The rule is the renderer's (anshin-core::mail); here it is applied once more, to what is
    // about to leave, whoever wrote it.
    use anshin_core::mail::{check_header as rule, MailError as Refused};
    rule(field, value).map_err(|e| MailError::Header {
        field,
        reason: match e {
            Refused::ControlCharacter { code, .. } => format!("contains control character U+{code:04X}"),
            Refused::Empty { .. } => "is empty".into(),
            other => other.to_string(),
        },
    })
}

fn mailbox(field: &'static str, value: &str) -> Result<Mailbox, MailError> {
    check_header(field, value)?;
    let address: Address = value
        .trim()
        .parse()
        .map_err(|e| MailError::Header { field, reason: format!("{value:?} is not a mail address: {e}") })?;
    Ok(Mailbox::new(None, address))
}

/// The body as sent: `\n` and `\r\n` line ends become CRLF (lettre), and any other control
/// character (an escape sequence copied from a server's output) becomes U+FFFD, so the mail
/// still goes out and the oddity stays visible.
fn clean_body(body: &str) -> String {
    body.replace("\r\n", "\n")
        .chars()
        .map(|c| if c.is_control() && c != '\n' && c != '\t' { '\u{FFFD}' } else { c })
        .collect()
}

/// Turns an outbox row into the message to send. Every header is checked first; an error here
/// is permanent (the same row would fail the same way forever).
pub fn build_message(mail: &OutboxRecord) -> Result<Message, MailError> {
    check_header("Message-ID", &mail.message_id)?;
    let id = &mail.message_id;
    if !(id.starts_with('<') && id.ends_with('>') && id.contains('@') && !id.contains(' ')) {
        return Err(MailError::Header { field: "Message-ID", reason: format!("{id:?} is not <local@domain>") });
    }
    check_header("Subject", &mail.subject)?;
    if mail.to.is_empty() {
        return Err(MailError::Header { field: "To", reason: "has no address".into() });
    }
    let date = DateTime::parse_from_rfc3339(&mail.created_at)
        .map(|t| SystemTime::from(t.with_timezone(&Utc)))
        .unwrap_or_else(|_| SystemTime::now());
    let mut builder = Message::builder()
        .message_id(Some(mail.message_id.clone()))
        .from(mailbox("From", &mail.from)?)
        .date(date)
        .subject(mail.subject.clone());
    for to in &mail.to {
        builder = builder.to(mailbox("To", to)?);
    }
    if let Some(html) = &mail.html {
        // multipart/alternative: the text, then multipart/related (the HTML and its cid: parts).
        use lettre::message::{Attachment, MultiPart, SinglePart};
        let mut related = MultiPart::related().singlepart(SinglePart::html(html.html.clone()));
        for part in &html.parts {
            check_header("Content-ID", &part.cid)?;
            let kind = ContentType::parse(&part.content_type).map_err(|e| MailError::Header {
                field: "Content-Type",
                reason: format!("{:?}: {e}", part.content_type),
            })?;
            related = related.singlepart(Attachment::new_inline(part.cid.clone()).body(part.data.clone(), kind));
        }
        let body = MultiPart::alternative().singlepart(SinglePart::plain(clean_body(&mail.body))).multipart(related);
        return builder.multipart(body).map_err(|e| MailError::Header { field: "message", reason: e.to_string() });
    }
    builder
        .header(ContentType::TEXT_PLAIN)
        .body(clean_body(&mail.body))
        .map_err(|e| MailError::Header { field: "message", reason: e.to_string() })
}

/// `anshin mail-test`: sends one short mail now, outside the outbox, and reports what the server
/// said. Returns the Message-ID sent.
pub async fn send_test(settings: &SmtpSettings, from: &str, to: &[String]) -> Result<String, MailError> {
    let domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or("anshin.invalid");
    let random: u64 = rand::rng().random();
    let now = Utc::now();
    let record = OutboxRecord {
        id: 0,
        message_id: format!("<anshin.0.test.{random:016x}@{domain}>"),
        kind: OutboxKind::Test,
        incident_id: None,
        from: from.to_string(),
        to: to.to_vec(),
        subject: "[Anshin NOC] テストメール (test mail)".into(),
        body: format!(
            "Anshin NOC からのテストメールです。\nThis is a test mail from Anshin NOC.\n\nSMTP: {}:{} ({:?})\n",
            settings.host, settings.port, settings.security
        ),
        state: OutboxState::Pending,
        attempts: 0,
        next_attempt_at: crate::store::timestamp(now),
        last_error: None,
        created_at: crate::store::timestamp(now),
        sent_at: None,
        html: None,
    };
    let message = build_message(&record)?;
    settings.transport()?.send(message).await?;
    tracing::info!(message_id = %record.message_id, host = %settings.host, port = settings.port, "test mail accepted");
    Ok(record.message_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let s = SmtpSettings::from_url("smtp://127.0.0.1:2525", None).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.security, s.user.as_deref()),
            ("127.0.0.1", 2525, Security::StartTlsWhenOffered, None)
        );
        let s = SmtpSettings::from_url("smtps://alerts%40x.jp@mail.x.jp", Some("pw".into())).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.security, s.user.as_deref()),
            ("mail.x.jp", 465, Security::ImplicitTls, Some("alerts@x.jp"))
        );
        assert!(!format!("{s:?}").contains("pw"), "the password never reaches a log");
        let s = SmtpSettings::from_url("smtp://[::1]:25/", None).unwrap();
        assert_eq!((s.host.as_str(), s.port), ("::1", 25));
        let err = SmtpSettings::from_url("smtp://u@h", None).unwrap_err();
        assert!(matches!(&err, MailError::NoPassword { user, .. } if user == "u"), "{err}");
        assert!(err.to_string().contains("anshin secret set smtp"), "{err}");
        for bad in [
            "http://h",
            "smtp://",
            "smtp://u:secret@h",
            "smtp://h:0",
            "smtp://h:99999",
            "smtp://h/x",
            "smtp://h?tls=required",
            "smtp://h\r\n:25",
        ] {
            assert!(matches!(SmtpSettings::from_url(bad, Some("p".into())), Err(MailError::Url { .. })), "{bad:?}");
        }
        let err = SmtpSettings::from_url("smtp://u:secret@h", None).unwrap_err().to_string();
        assert!(err.contains(PASSWORD_ENV), "{err}");
    }

    /// A password means TLS: `smtp://` with a user requires STARTTLS, unless the fleet allows a
    /// loopback relay without it.
    #[test]
    fn a_user_requires_tls() {
        let with_user = SmtpSettings::from_url("smtp://alerts@mail.example.jp:587", Some("pw".into())).unwrap();
        assert_eq!(with_user.security, Security::StartTlsRequired);
        let anonymous = SmtpSettings::from_url("smtp://mail.example.jp:25", None).unwrap();
        assert_eq!(anonymous.security, Security::StartTlsWhenOffered);
        let implicit = SmtpSettings::from_url("smtps://alerts@mail.example.jp", Some("pw".into())).unwrap();
        assert_eq!(implicit.clone().allow_insecure_auth().ok(), None, "not loopback");
        let err = with_user.allow_insecure_auth().unwrap_err().to_string();
        assert!(err.contains("only for a relay on loopback"), "{err}");
        let relay = SmtpSettings::from_url("smtp://alerts@127.0.0.1:2525", Some("pw".into())).unwrap();
        assert_eq!(relay.security, Security::StartTlsRequired);
        assert_eq!(relay.allow_insecure_auth().unwrap().security, Security::StartTlsWhenOffered);
    }

    #[test]
    fn headers_refuse_control_characters() {
        for evil in ["a\r\nBcc: x@evil", "a\nb", "a\rb", "a\tb", "a\0b", "a\u{7f}", "a\u{85}b", "a\u{2028}b", " "] {
            assert!(check_header("Subject", evil).is_err(), "{evil:?}");
        }
        assert!(check_header("Subject", "[Speever][Lv.4]web01 Load avg.が 24 以上（現在：25.31）").is_ok());
    }

    #[test]
    fn messages_carry_the_stored_id_and_crlf_bodies() {
        let rec = OutboxRecord {
            id: 1,
            message_id: "<anshin.1.alert.00@x.jp>".into(),
            kind: OutboxKind::Alert,
            incident_id: Some(1),
            from: "a@x.jp".into(),
            to: vec!["b@x.jp".into(), "c@x.jp".into()],
            subject: "件名".into(),
            body: "一\n二\n\u{1b}[31m\n".into(),
            state: OutboxState::Pending,
            attempts: 0,
            next_attempt_at: "2026-11-25T01:00:00.000Z".into(),
            last_error: None,
            created_at: "2026-11-25T01:00:00.000Z".into(),
            sent_at: None,
            html: None,
        };
        let text = String::from_utf8(build_message(&rec).unwrap().formatted()).unwrap();
        assert!(text.contains("Message-ID: <anshin.1.alert.00@x.jp>\r\n"), "{text}");
        assert!(text.contains("Date: Wed, 25 Nov 2026 01:00:00 +0000\r\n"), "{text}");
        assert!(text.to_ascii_lowercase().contains("content-type: text/plain; charset=utf-8\r\n"), "{text}");
        for field in ["subject", "from", "to", "message_id"] {
            let mut r = rec.clone();
            match field {
                "subject" => r.subject = "x\r\nBcc: evil@x.jp".into(),
                "from" => r.from = "a@x.jp\r\nBcc: evil@x.jp".into(),
                "to" => r.to[1] = "c@x.jp\nBcc: evil@x.jp".into(),
                _ => r.message_id = "<a@x>\r\nBcc: evil@x.jp".into(),
            }
            let err = build_message(&r).unwrap_err();
            assert!(err.is_permanent() && err.to_string().contains("control character"), "{field}: {err}");
        }
    }
}
