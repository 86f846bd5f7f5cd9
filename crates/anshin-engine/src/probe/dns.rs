//! DNS check: one UDP query for the server's own FQDN (type A); the service is up when an
//! answer with our id comes back and is not SERVFAIL. NXDOMAIN and REFUSED still prove a
//! working DNS server, and are shown in the detail.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anshin_core::CheckSpec;
use tokio::net::UdpSocket;

use super::{socket_failure, Failure};

pub(super) async fn query(spec: &CheckSpec, timeout: Duration) -> Result<String, Failure> {
    let target = SocketAddr::new(spec.ip, spec.port);
    let local: SocketAddr = match spec.ip {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let id: u16 = rand::random();
    let packet = build_query(id, &spec.fqdn)?;
    let exchange = async {
        let sock = UdpSocket::bind(local)
            .await
            .map_err(|e| socket_failure(&e, |e| format!("cannot open a UDP socket: {e}")))?;
        sock.connect(target).await.map_err(|e| socket_failure(&e, |e| format!("cannot reach {target}: {e}")))?;
        sock.send(&packet).await.map_err(|e| socket_failure(&e, |e| format!("cannot send to {target}: {e}")))?;
        let mut buf = [0u8; 1500];
        // Bounded: a flood of foreign datagrams cannot keep the probe here past the timeout.
        for _ in 0..16 {
            let n = sock.recv(&mut buf).await.map_err(|e| match e.kind() {
                std::io::ErrorKind::ConnectionRefused => format!("nothing listens on {target} (ICMP port unreachable)"),
                _ => format!("receive from {target} failed: {e}"),
            })?;
            if let Some(verdict) = judge(id, &buf[..n]) {
                return Ok(verdict?);
            }
        }
        Err(Failure::Remote(format!("no answer with our query id from {target}")))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(Failure::Remote(format!("timeout after {} s waiting for a DNS answer", timeout.as_secs_f64()))),
    }
}

/// A standard query with recursion desired, one question `fqdn IN A`.
fn build_query(id: u16, fqdn: &str) -> Result<Vec<u8>, String> {
    let mut p = Vec::with_capacity(32 + fqdn.len());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in fqdn.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("\"{fqdn}\" cannot be asked in DNS"));
        }
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.extend_from_slice(&[0, 0, 1, 0, 1]);
    Ok(p)
}

/// `None` when the datagram is not our answer (ignore it), else the verdict.
fn judge(id: u16, answer: &[u8]) -> Option<Result<String, String>> {
    if answer.len() < 12 || answer[0..2] != id.to_be_bytes() || answer[2] & 0x80 == 0 {
        return None;
    }
    let rcode = answer[3] & 0x0f;
    let answers = u16::from_be_bytes([answer[6], answer[7]]);
    let name = match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "rcode",
    };
    Some(if rcode == 2 {
        Err(format!("DNS answered SERVFAIL ({answers} answers)"))
    } else {
        Ok(format!("DNS answered {name} with {answers} answer(s)"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encodes_the_name() {
        let q = build_query(0x1234, "web01.example.jp").unwrap();
        assert_eq!(&q[..2], &[0x12, 0x34]);
        assert_eq!(&q[12..18], b"\x05web01");
        assert_eq!(&q[q.len() - 5..], &[0, 0, 1, 0, 1]);
        assert!(build_query(1, "a..b").is_err());
    }

    #[test]
    fn judge_matches_id_and_rcode() {
        let mut a = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        assert_eq!(judge(0x1234, &a), Some(Ok("DNS answered NOERROR with 1 answer(s)".into())));
        assert_eq!(judge(0x9999, &a), None);
        a[3] = 0x82;
        assert!(matches!(judge(0x1234, &a), Some(Err(_))));
        a[2] = 0x01; // a query, not an answer
        assert_eq!(judge(0x1234, &a), None);
    }
}
