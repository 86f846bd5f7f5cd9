//! TCP (and implicit-TLS) checks that judge a service by what its real server says first.
//!
//! Each dialogue is the minimum a real client would do to know the service works, then a polite
//! goodbye (QUIT, LOGOUT) so the server does not log an aborted session:
//! SSH banner `SSH-2.0-`; HTTP status line below 500; SMTP/Submission/FTP `220`; POP `+OK`;
//! IMAP `* OK` (or `* PREAUTH`); MySQL's protocol-10 handshake packet; PostgreSQL's answer to
//! SSLRequest (`S` or `N`); a custom check's expected prefix.

use std::net::SocketAddr;
use std::time::Duration;

use anshin_core::{CheckKind, CheckSpec, Service};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{socket_failure, visible, Failure};

/// Longest line or packet a probe reads: enough for any greeting, small enough for a hostile peer.
const MAX_READ: usize = 2048;
/// How long the goodbye may take after the verdict is in. It never changes the verdict.
const GOODBYE: Duration = Duration::from_millis(500);

/// Where an attempt was when it ran out of time; `Done` holds a verdict already reached.
enum Stage {
    Connecting,
    Handshake,
    Greeting,
    Done(String),
}

pub(super) async fn check(
    kind: &CheckKind,
    spec: &CheckSpec,
    timeout: Duration,
    tls: &tokio_rustls::TlsConnector,
) -> Result<String, Failure> {
    let mut stage = Stage::Connecting;
    let outcome = tokio::time::timeout(timeout, attempt(kind, spec, tls, &mut stage)).await;
    match (outcome, stage) {
        (Ok(result), _) => result,
        (Err(_), Stage::Done(detail)) => Ok(detail),
        (Err(_), stage) => Err(Failure::Remote(format!(
            "timeout after {} s {}",
            timeout.as_secs_f64(),
            match stage {
                Stage::Connecting => "connecting",
                Stage::Handshake => "in the TLS handshake",
                _ => "waiting for the greeting (the port accepts but the service does not answer)",
            }
        ))),
    }
}

async fn attempt(
    kind: &CheckKind,
    spec: &CheckSpec,
    tls: &tokio_rustls::TlsConnector,
    stage: &mut Stage,
) -> Result<String, Failure> {
    let addr = SocketAddr::new(spec.ip, spec.port);
    let tcp = TcpStream::connect(addr).await.map_err(|e| {
        socket_failure(&e, |e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => format!("connection refused by {addr} (nothing listens)"),
            _ => format!("cannot connect to {addr}: {e}"),
        })
    })?;
    let _ = tcp.set_nodelay(true);
    let tls_needed = matches!(kind, CheckKind::Service(s) if s.implicit_tls());
    if tls_needed {
        *stage = Stage::Handshake;
        let name = ServerName::try_from(spec.fqdn.clone()).unwrap_or_else(|_| ServerName::IpAddress(spec.ip.into()));
        let stream = tls.connect(name, tcp).await.map_err(|e| format!("TLS handshake with {addr} failed: {e}"))?;
        *stage = Stage::Greeting;
        let version = stream.get_ref().1.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default();
        let detail = talk(Conn::new(stream), kind, spec, stage).await?;
        Ok(format!("{detail} ({})", version.replace('_', "")))
    } else {
        *stage = Stage::Greeting;
        Ok(talk(Conn::new(tcp), kind, spec, stage).await?)
    }
}

/// A stream with a small read buffer, for line-oriented greetings.
struct Conn<S> {
    s: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(s: S) -> Self {
        Conn { s, buf: Vec::with_capacity(256) }
    }

    /// Reads one line (without its end), at most `MAX_READ` bytes.
    async fn line(&mut self) -> Result<Vec<u8>, String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() >= MAX_READ {
                return Ok(std::mem::take(&mut self.buf));
            }
            self.fill().await?;
        }
    }

    /// Reads exactly `n` bytes (n ≤ MAX_READ).
    async fn exact(&mut self, n: usize) -> Result<Vec<u8>, String> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 512];
        let n = self.s.read(&mut chunk).await.map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            return Err(if self.buf.is_empty() {
                "the server closed the connection without a greeting".to_string()
            } else {
                format!("the server closed the connection after \"{}\"", visible(&self.buf))
            });
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.s.write_all(bytes).await.map_err(|e| format!("write failed: {e}"))?;
        self.s.flush().await.map_err(|e| format!("write failed: {e}"))
    }

    /// Reads a reply of a numbered protocol (SMTP, FTP): continuation lines `220-…` until `220 …`.
    async fn numbered_reply(&mut self) -> Result<Vec<u8>, String> {
        let first = self.line().await?;
        let mut last = first.clone();
        for _ in 0..50 {
            if last.len() < 4 || last[3] != b'-' {
                break;
            }
            last = self.line().await?;
        }
        Ok(first)
    }

    /// Says goodbye and waits briefly for the answer; the verdict is already taken.
    async fn goodbye(&mut self, bytes: &[u8]) {
        let _ = tokio::time::timeout(GOODBYE, async {
            self.send(bytes).await?;
            self.line().await
        })
        .await;
        let _ = tokio::time::timeout(GOODBYE, self.s.shutdown()).await;
    }
}

fn starts(line: &[u8], prefix: &str) -> bool {
    line.starts_with(prefix.as_bytes())
}

fn wrong(what: &str, got: &[u8]) -> String {
    format!("expected {what}, got \"{}\"", visible(got))
}

async fn talk<S: AsyncRead + AsyncWrite + Unpin>(
    mut c: Conn<S>,
    kind: &CheckKind,
    spec: &CheckSpec,
    stage: &mut Stage,
) -> Result<String, String> {
    let service = match kind {
        CheckKind::Ssh => return ssh(c, stage).await,
        CheckKind::Custom(_) => return custom(c, spec, stage).await,
        CheckKind::Service(s) => *s,
        CheckKind::Ping => return Err("ping is not a TCP check".into()),
    };
    match service {
        Service::Http | Service::Https | Service::Plesk => {
            let request = format!(
                "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: AnshinNOC-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                spec.fqdn
            );
            c.send(request.as_bytes()).await?;
            let line = c.line().await?;
            let code = std::str::from_utf8(&line)
                .ok()
                .filter(|l| l.starts_with("HTTP/"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|code| code.parse::<u16>().ok());
            match code {
                Some(code) if code < 500 => Ok(visible(&line)),
                Some(_) => Err(format!("server error: \"{}\"", visible(&line))),
                None => Err(wrong("an HTTP status line", &line)),
            }
        }
        Service::Smtp | Service::Smtps | Service::Submission | Service::Ftp => {
            let reply = c.numbered_reply().await?;
            if !starts(&reply, "220") {
                return Err(wrong("a 220 greeting", &reply));
            }
            *stage = Stage::Done(visible(&reply));
            c.goodbye(b"QUIT\r\n").await;
            Ok(visible(&reply))
        }
        Service::Pop | Service::Pops => {
            let line = c.line().await?;
            if !starts(&line, "+OK") {
                return Err(wrong("a +OK greeting", &line));
            }
            *stage = Stage::Done(visible(&line));
            c.goodbye(b"QUIT\r\n").await;
            Ok(visible(&line))
        }
        Service::Imap | Service::Imaps => {
            let line = c.line().await?;
            if !(starts(&line, "* OK") || starts(&line, "* PREAUTH")) {
                return Err(wrong("a \"* OK\" greeting", &line));
            }
            *stage = Stage::Done(visible(&line));
            c.goodbye(b"a1 LOGOUT\r\n").await;
            Ok(visible(&line))
        }
        Service::Mysql => mysql(c).await,
        Service::Postgresql => {
            // SSLRequest: length 8, code 80877103. Every PostgreSQL since 7.2 answers one byte.
            c.send(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]).await?;
            let reply = c.exact(1).await?;
            match reply[0] {
                b'S' => Ok("PostgreSQL answered SSLRequest with S (TLS available)".into()),
                b'N' => Ok("PostgreSQL answered SSLRequest with N (no TLS)".into()),
                _ => {
                    let mut seen = reply;
                    seen.extend_from_slice(&c.buf);
                    Err(wrong("PostgreSQL's S or N", &seen))
                }
            }
        }
        Service::Dns => Err("DNS is checked over UDP".into()),
    }
}

async fn ssh<S: AsyncRead + AsyncWrite + Unpin>(mut c: Conn<S>, stage: &mut Stage) -> Result<String, String> {
    // RFC 4253 §4.2: a server may send other lines before its identification string.
    for _ in 0..10 {
        let line = c.line().await?;
        if starts(&line, "SSH-") {
            if !(starts(&line, "SSH-2.0-") || starts(&line, "SSH-1.99-")) {
                return Err(wrong("an SSH-2.0- banner", &line));
            }
            *stage = Stage::Done(visible(&line));
            let _ = tokio::time::timeout(GOODBYE, c.send(b"SSH-2.0-AnshinNOC_probe\r\n")).await;
            return Ok(visible(&line));
        }
        if line.is_empty() && c.buf.is_empty() {
            continue;
        }
    }
    Err("no SSH identification string in the first 10 lines".into())
}

async fn custom<S: AsyncRead + AsyncWrite + Unpin>(
    mut c: Conn<S>,
    spec: &CheckSpec,
    stage: &mut Stage,
) -> Result<String, String> {
    let Some(expect) = &spec.expect else {
        return Ok(format!("port {} accepts connections", spec.port));
    };
    let line = c.line().await?;
    if !starts(&line, expect) {
        return Err(wrong(&format!("a greeting starting with \"{expect}\""), &line));
    }
    *stage = Stage::Done(visible(&line));
    Ok(visible(&line))
}

/// MySQL/MariaDB: the server speaks first with a packet: 3-byte length, sequence id, then
/// protocol version 10 and a NUL-terminated server version. 0xff is an error packet
/// (e.g. "Host is not allowed to connect"), which is reported as such.
async fn mysql<S: AsyncRead + AsyncWrite + Unpin>(mut c: Conn<S>) -> Result<String, String> {
    let header = c.exact(4).await?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if len == 0 || len > MAX_READ {
        let mut seen = header;
        seen.extend_from_slice(&c.buf);
        return Err(wrong("a MySQL handshake packet", &seen));
    }
    let payload = c.exact(len).await?;
    match payload[0] {
        10 => {
            let version_end = payload[1..].iter().position(|&b| b == 0).map(|i| i + 1).unwrap_or(payload.len());
            Ok(format!("MySQL protocol 10, server {}", visible(&payload[1..version_end])))
        }
        0xff => Err(format!("MySQL refused the connection: {}", visible(payload.get(3..).unwrap_or_default()))),
        _ => Err(wrong("a MySQL protocol-10 handshake", &payload)),
    }
}
