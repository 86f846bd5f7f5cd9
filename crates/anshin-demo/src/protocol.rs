//! The simulated services' side of one accepted TCP connection: the greeting each real daemon
//! sends (OpenSSH, nginx, Postfix, Dovecot, vsftpd, MariaDB, PostgreSQL), a few sensible replies,
//! and the wrong greeting or the silence of a faulty one.
//!
//! Owns: the bytes on the wire and the per-connection limits (read timeouts, line and byte caps).
//! Must not know: listeners, the schedule, or which fleet the endpoint came from.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::fleet::{Endpoint, Protocol};
use crate::schedule::Fault;

/// Longest wait for one read or write of a conversation.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection may live, whatever the peer does (the caller enforces it).
pub(crate) const MAX_CONNECTION: Duration = Duration::from_secs(60);
const MAX_LINE: u64 = 1024;
const MAX_COMMANDS: usize = 32;
const MAX_HTTP_HEAD: usize = 8 * 1024;
const MAX_DRAIN: usize = 64 * 1024;

pub(crate) const SSH_BANNER: &str = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
const MYSQL_VERSION: &str = "10.11.6-MariaDB";
const PG_SSL_REQUEST: u32 = 80_877_103;
const PG_GSSENC_REQUEST: u32 = 80_877_104;

/// Plays `ep`'s service on `stream`, healthy (`fault` `None`) or faulty, until either side closes.
pub(crate) async fn converse(
    mut stream: TcpStream,
    ep: &Endpoint,
    fault: Option<Fault>,
    conn_id: u32,
) -> io::Result<()> {
    let wrong = match fault {
        None => false,
        Some(Fault::Wrong) => true,
        // Down never gets here (nothing listens); Silent accepts and never says a word.
        Some(Fault::Down | Fault::Silent) => return drain(&mut stream).await,
    };
    let fqdn = ep.fqdn.as_str();
    match &ep.protocol {
        Protocol::Ssh if wrong => send(&mut stream, b"Exceeded MaxStartups\r\n").await,
        Protocol::Ssh => {
            send(&mut stream, SSH_BANNER.as_bytes()).await?;
            drain(&mut stream).await
        }
        Protocol::Http => http(&mut stream, fqdn, wrong).await,
        Protocol::Smtp if wrong => {
            send(
                &mut stream,
                format!("421 4.3.2 {fqdn} Service not available, closing transmission channel\r\n").as_bytes(),
            )
            .await
        }
        Protocol::Smtp => line_session(&mut stream, &format!("220 {fqdn} ESMTP Postfix\r\n"), |l| smtp(fqdn, l)).await,
        Protocol::Pop if wrong => send(&mut stream, b"-ERR [SYS/TEMP] Internal error occurred.\r\n").await,
        Protocol::Pop => line_session(&mut stream, "+OK Dovecot ready.\r\n", pop).await,
        Protocol::Imap if wrong => send(&mut stream, b"* BYE Internal error occurred.\r\n").await,
        Protocol::Imap => line_session(&mut stream, "* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n", imap).await,
        Protocol::Ftp if wrong => {
            send(&mut stream, b"421 Service not available, remote server has closed connection.\r\n").await
        }
        Protocol::Ftp => line_session(&mut stream, "220 (vsFTPd 3.0.3)\r\n", ftp).await,
        Protocol::Mysql if wrong => send(&mut stream, &mysql_error(1040, "Too many connections")).await,
        Protocol::Mysql => mysql(&mut stream, conn_id).await,
        Protocol::Postgresql => postgresql(&mut stream, wrong).await,
        Protocol::Custom { .. } if wrong => send(&mut stream, b"500 internal error\r\n").await,
        Protocol::Custom { expect } => {
            if let Some(expect) = expect {
                send(&mut stream, format!("{expect}\r\n").as_bytes()).await?;
            }
            drain(&mut stream).await
        }
        // DNS is served over UDP by the simulation, never handed a TCP stream.
        Protocol::Dns => Ok(()),
    }
}

fn timed_out(_: tokio::time::error::Elapsed) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "peer too slow")
}

async fn send<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> io::Result<()> {
    timeout(IO_TIMEOUT, w.write_all(bytes)).await.map_err(timed_out)?
}

/// Reads and discards until the peer closes (or sends too much, or the connection times out).
async fn drain<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<()> {
    let mut buf = [0u8; 1024];
    let mut total = 0;
    loop {
        let n = timeout(MAX_CONNECTION, r.read(&mut buf)).await.map_err(timed_out)??;
        total += n;
        if n == 0 || total > MAX_DRAIN {
            return Ok(());
        }
    }
}

/// What a line protocol does after a command: answer and go on, or answer and hang up.
enum Reply {
    More(String),
    Close(String),
}

async fn line_session(stream: &mut TcpStream, greeting: &str, mut answer: impl FnMut(&str) -> Reply) -> io::Result<()> {
    let (rd, mut wr) = stream.split();
    let mut rd = BufReader::new(rd);
    send(&mut wr, greeting.as_bytes()).await?;
    let mut line = Vec::new();
    for _ in 0..MAX_COMMANDS {
        line.clear();
        let n =
            timeout(IO_TIMEOUT, (&mut rd).take(MAX_LINE).read_until(b'\n', &mut line)).await.map_err(timed_out)??;
        if n == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        match answer(text.trim_end_matches(['\r', '\n'])) {
            Reply::More(r) => send(&mut wr, r.as_bytes()).await?,
            Reply::Close(r) => return send(&mut wr, r.as_bytes()).await,
        }
    }
    Ok(())
}

fn verb(line: &str) -> String {
    line.split_ascii_whitespace().next().unwrap_or("").to_ascii_uppercase()
}

fn smtp(fqdn: &str, line: &str) -> Reply {
    Reply::More(match verb(line).as_str() {
        "QUIT" => return Reply::Close("221 2.0.0 Bye\r\n".into()),
        "EHLO" => format!("250-{fqdn}\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"),
        "HELO" => format!("250 {fqdn}\r\n"),
        "NOOP" | "RSET" => "250 2.0.0 Ok\r\n".into(),
        "" => "500 5.5.2 Error: bad syntax\r\n".into(),
        _ => "502 5.5.2 Error: command not recognized\r\n".into(),
    })
}

fn pop(line: &str) -> Reply {
    Reply::More(match verb(line).as_str() {
        "QUIT" => return Reply::Close("+OK Logging out.\r\n".into()),
        "CAPA" => "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nUSER\r\n.\r\n".into(),
        "NOOP" => "+OK\r\n".into(),
        _ => "-ERR Unknown command.\r\n".into(),
    })
}

fn imap(line: &str) -> Reply {
    let mut words = line.split_ascii_whitespace();
    // The tag is echoed back: keep it short and plain, whatever the peer sent.
    let tag = words
        .next()
        .filter(|t| t.len() <= 32 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'))
        .unwrap_or("*");
    Reply::More(match words.next().unwrap_or("").to_ascii_uppercase().as_str() {
        "LOGOUT" => return Reply::Close(format!("* BYE Logging out\r\n{tag} OK Logout completed.\r\n")),
        "CAPABILITY" => format!("* CAPABILITY IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE AUTH=PLAIN\r\n{tag} OK Pre-login capabilities listed.\r\n"),
        "NOOP" => format!("{tag} OK NOOP completed.\r\n"),
        _ => format!("{tag} BAD Error in IMAP command received by server.\r\n"),
    })
}

fn ftp(line: &str) -> Reply {
    Reply::More(match verb(line).as_str() {
        "QUIT" => return Reply::Close("221 Goodbye.\r\n".into()),
        "USER" => "331 Please specify the password.\r\n".into(),
        "PASS" => "530 Login incorrect.\r\n".into(),
        "SYST" => "215 UNIX Type: L8\r\n".into(),
        "NOOP" => "200 NOOP ok.\r\n".into(),
        _ => "530 Please login with USER and PASS.\r\n".into(),
    })
}

/// Reads the request head, answers one page (or a 500 when `wrong`), and closes.
async fn http(stream: &mut TcpStream, fqdn: &str, wrong: bool) -> io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while head.len() < MAX_HTTP_HEAD
        && !head.windows(4).any(|w| w == b"\r\n\r\n")
        && !head.windows(2).any(|w| w == b"\n\n")
    {
        let n = timeout(IO_TIMEOUT, stream.read(&mut chunk)).await.map_err(timed_out)??;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    if head.is_empty() {
        return Ok(());
    }
    let (status, body) = if wrong {
        ("500 Internal Server Error", "<html><head><title>500 Internal Server Error</title></head><body><h1>500 Internal Server Error</h1></body></html>\n".to_owned())
    } else {
        ("200 OK", format!("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{fqdn}</title></head><body><h1>{fqdn}</h1><p>It works.</p></body></html>\n"))
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nServer: nginx/1.24.0\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head.starts_with(b"HEAD ") {
        response.push_str(&body);
    }
    send(stream, response.as_bytes()).await?;
    timeout(IO_TIMEOUT, stream.shutdown()).await.map_err(timed_out)?
}

/// Answers an SSLRequest (or GSSENCRequest) with `N`, as a server without TLS does.
async fn postgresql(stream: &mut TcpStream, wrong: bool) -> io::Result<()> {
    let mut request = [0u8; 8];
    timeout(IO_TIMEOUT, stream.read_exact(&mut request)).await.map_err(timed_out)??;
    let len = u32::from_be_bytes([request[0], request[1], request[2], request[3]]);
    let code = u32::from_be_bytes([request[4], request[5], request[6], request[7]]);
    if wrong {
        return send(stream, &pg_error("57P03", "the database system is starting up")).await;
    }
    if len == 8 && (code == PG_SSL_REQUEST || code == PG_GSSENC_REQUEST) {
        send(stream, b"N").await?;
        // A client that goes on sends its StartupMessage: turn it away as pg_hba.conf would.
        let mut first = [0u8; 1];
        if timeout(MAX_CONNECTION, stream.read(&mut first)).await.map_err(timed_out)?? == 0 {
            return Ok(());
        }
    }
    send(stream, &pg_error("28000", "no pg_hba.conf entry for this host, user and database, no encryption")).await
}

/// A PostgreSQL ErrorResponse message, severity FATAL.
fn pg_error(sqlstate: &str, message: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (kind, value) in [(b'S', "FATAL"), (b'V', "FATAL"), (b'C', sqlstate), (b'M', message)] {
        fields.push(kind);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&u32::try_from(fields.len() + 4).unwrap_or(u32::MAX).to_be_bytes());
    msg.extend_from_slice(&fields);
    msg
}

/// Sends the handshake; a client that goes on to log in is refused as an unknown user would be.
async fn mysql(stream: &mut TcpStream, conn_id: u32) -> io::Result<()> {
    send(stream, &mysql_handshake(conn_id)).await?;
    let mut header = [0u8; 4];
    match timeout(MAX_CONNECTION, stream.read_exact(&mut header)).await.map_err(timed_out)? {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()), // checked and left
        other => other?,
    };
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut rest = vec![0u8; len.min(MAX_DRAIN)];
    timeout(IO_TIMEOUT, stream.read_exact(&mut rest)).await.map_err(timed_out)??;
    let mut refusal = mysql_error(1045, "#28000Access denied for user");
    refusal[3] = header[3].wrapping_add(1); // the reply's sequence id follows the client's
    send(stream, &refusal).await
}

/// Wraps a MySQL payload in its packet header: 3-byte little-endian length, sequence id 0.
fn mysql_packet(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(0).to_le_bytes();
    let mut p = vec![len[0], len[1], len[2], 0];
    p.extend_from_slice(payload);
    p
}

/// The protocol-10 initial handshake a MariaDB server sends on connect.
pub(crate) fn mysql_handshake(conn_id: u32) -> Vec<u8> {
    // LONG_PASSWORD … SECURE_CONNECTION without COMPRESS and SSL; then MULTI_STATEMENTS,
    // MULTI_RESULTS, PS_MULTI_RESULTS, PLUGIN_AUTH, CONNECT_ATTRS, PLUGIN_AUTH_LENENC_DATA,
    // SESSION_TRACK, DEPRECATE_EOF.
    const CAPABILITIES: u32 = 0xf7df | (0x01bf << 16);
    // 20 bytes of printable "scramble", varied per connection (not a secret: no one logs in).
    let mut seed = conn_id.wrapping_mul(2_654_435_761).wrapping_add(0x9e37_79b9);
    let scramble: Vec<u8> = (0..20)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            b'!' + u8::try_from((seed >> 16) % 94).unwrap_or(0)
        })
        .collect();
    let mut p = vec![0x0a];
    p.extend_from_slice(MYSQL_VERSION.as_bytes());
    p.push(0);
    p.extend_from_slice(&conn_id.to_le_bytes());
    p.extend_from_slice(&scramble[..8]);
    p.push(0); // filler
    p.extend_from_slice(&CAPABILITIES.to_le_bytes()[..2]);
    p.push(45); // utf8mb4_general_ci
    p.extend_from_slice(&0x0002u16.to_le_bytes()); // SERVER_STATUS_AUTOCOMMIT
    p.extend_from_slice(&CAPABILITIES.to_le_bytes()[2..]);
    p.push(21); // length of the auth plugin data
    p.extend_from_slice(&[0; 10]); // reserved
    p.extend_from_slice(&scramble[8..]);
    p.push(0);
    p.extend_from_slice(b"mysql_native_password\0");
    mysql_packet(&p)
}

/// A MySQL ERR packet sent instead of the handshake (a server refusing the connection).
fn mysql_error(code: u16, message: &str) -> Vec<u8> {
    let mut p = vec![0xff];
    p.extend_from_slice(&code.to_le_bytes());
    p.extend_from_slice(message.as_bytes());
    mysql_packet(&p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_handshake_is_a_protocol_10_packet() {
        let p = mysql_handshake(7);
        let len = usize::from(p[0]) | usize::from(p[1]) << 8 | usize::from(p[2]) << 16;
        assert_eq!(len, p.len() - 4);
        assert_eq!(p[3], 0, "sequence id");
        assert_eq!(p[4], 0x0a, "protocol version 10");
        let version_end = 5 + MYSQL_VERSION.len();
        assert_eq!(&p[5..version_end], MYSQL_VERSION.as_bytes());
        assert_eq!(p[version_end], 0);
        assert_eq!(&p[version_end + 1..version_end + 5], &7u32.to_le_bytes());
        let caps_low = u16::from_le_bytes([p[version_end + 14], p[version_end + 15]]);
        assert_ne!(caps_low & 0x0200, 0, "CLIENT_PROTOCOL_41");
        assert_eq!(caps_low & 0x0800, 0, "no SSL offered");
        assert!(p.ends_with(b"mysql_native_password\0"));
        assert!(p[version_end + 5..version_end + 13].iter().all(|&b| b != 0), "scramble has no NUL");
    }

    #[test]
    fn line_protocol_replies() {
        let close = |r: Reply| match r {
            Reply::Close(s) => s,
            Reply::More(s) => panic!("expected close, got {s:?}"),
        };
        let more = |r: Reply| match r {
            Reply::More(s) => s,
            Reply::Close(s) => panic!("expected more, got {s:?}"),
        };
        assert_eq!(close(smtp("h", "quit")), "221 2.0.0 Bye\r\n");
        assert!(more(smtp("h.example.jp", "EHLO x")).starts_with("250-h.example.jp\r\n"));
        assert!(more(smtp("h", "MAIL FROM:<a@b>")).starts_with("502 "));
        assert_eq!(close(pop("QUIT")), "+OK Logging out.\r\n");
        assert_eq!(close(imap("a1 LOGOUT")), "* BYE Logging out\r\na1 OK Logout completed.\r\n");
        assert_eq!(more(imap("\u{1b}[2J x")), "* BAD Error in IMAP command received by server.\r\n");
        assert_eq!(close(ftp("QUIT")), "221 Goodbye.\r\n");
    }
}
