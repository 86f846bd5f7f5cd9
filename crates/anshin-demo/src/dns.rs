//! The simulated DNS server's answer to one UDP query (RFC 1035 wire format), as a pure function.
//!
//! Owns: parsing a standard query and building its response (A records from the zone,
//! NXDOMAIN for names outside it, SERVFAIL when told to misbehave).
//! Must not know: sockets, the schedule, or the fleet file.

use std::collections::HashMap;
use std::net::Ipv4Addr;

const TYPE_A: u16 = 1;
const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;
const RCODE_FORMERR: u8 = 1;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;
const RCODE_NOTIMP: u8 = 4;
const TTL_SECS: u32 = 300;

/// The response to `query`, or `None` when it is not worth answering (too short, or itself a
/// response). `zone` maps lower-case names without the final dot to their address; with
/// `servfail` every query is answered SERVFAIL.
pub(crate) fn reply(query: &[u8], zone: &HashMap<String, Ipv4Addr>, servfail: bool) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    let opcode = (query[2] >> 3) & 0x0f;
    let qdcount = u16::from_be_bytes([query[4], query[5]]);
    let header = |rcode: u8, qd: u16, an: u16| {
        let mut h = Vec::with_capacity(64);
        h.extend_from_slice(&query[0..2]); // same id
        h.push(0x80 | (opcode << 3) | 0x04 | (query[2] & 0x01)); // QR, opcode, AA, RD echoed
        h.push(rcode); // RA off: an authoritative server, not a resolver
        for n in [qd, an, 0, 0] {
            h.extend_from_slice(&n.to_be_bytes());
        }
        h
    };
    if opcode != 0 {
        return Some(header(RCODE_NOTIMP, 0, 0));
    }
    let Some((name, question_end)) = (qdcount == 1).then(|| read_question(query)).flatten() else {
        return Some(header(RCODE_FORMERR, 0, 0));
    };
    let question = &query[12..question_end];
    let qtype = u16::from_be_bytes([query[question_end - 4], query[question_end - 3]]);
    let qclass = u16::from_be_bytes([query[question_end - 2], query[question_end - 1]]);

    let mut out = if servfail {
        header(RCODE_SERVFAIL, 1, 0)
    } else {
        match zone.get(&name) {
            None => header(RCODE_NXDOMAIN, 1, 0),
            Some(ip) if qclass == CLASS_IN && (qtype == TYPE_A || qtype == TYPE_ANY) => {
                let mut out = header(0, 1, 1);
                out.extend_from_slice(question);
                out.extend_from_slice(&[0xc0, 0x0c]); // name: pointer to the question's name
                out.extend_from_slice(&TYPE_A.to_be_bytes());
                out.extend_from_slice(&CLASS_IN.to_be_bytes());
                out.extend_from_slice(&TTL_SECS.to_be_bytes());
                out.extend_from_slice(&4u16.to_be_bytes());
                out.extend_from_slice(&ip.octets());
                return Some(out);
            }
            Some(_) => header(0, 1, 0), // the name exists, but has no record of that type
        }
    };
    out.extend_from_slice(question);
    Some(out)
}

/// Reads the single question at offset 12: its name (lower case, dotted) and where it ends.
fn read_question(query: &[u8]) -> Option<(String, usize)> {
    let mut pos = 12;
    let mut name = String::new();
    loop {
        let len = usize::from(*query.get(pos)?);
        pos += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 || name.len() + len > 253 {
            return None; // no compression in a question; names are at most 253 characters
        }
        let label = query.get(pos..pos + len)?;
        if !name.is_empty() {
            name.push('.');
        }
        name.extend(label.iter().map(|b| char::from(b.to_ascii_lowercase())));
        pos += len;
    }
    let end = pos + 4;
    (end <= query.len()).then_some((name, end))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A standard recursive query for `name`, type `qtype`, id 0x1234.
    pub(crate) fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, qtype as u8, 0, 1]);
        q
    }

    fn zone() -> HashMap<String, Ipv4Addr> {
        HashMap::from([("ns01.example.jp".to_owned(), Ipv4Addr::new(127, 77, 0, 11))])
    }

    #[test]
    fn answers_a_query_for_a_known_name() {
        let q = query("NS01.example.jp", 1);
        let r = reply(&q, &zone(), false).unwrap();
        assert_eq!(&r[0..2], &[0x12, 0x34], "same id");
        assert_eq!(r[2], 0x85, "QR, AA, RD");
        assert_eq!(r[3], 0, "NOERROR");
        assert_eq!(&r[4..12], &[0, 1, 0, 1, 0, 0, 0, 0]);
        assert_eq!(&r[12..q.len()], &q[12..], "question echoed");
        assert_eq!(&r[r.len() - 4..], &[127, 77, 0, 11]);
        assert_eq!(r.len(), q.len() + 16);
    }

    #[test]
    fn nxdomain_nodata_servfail_formerr() {
        let cases: [(Vec<u8>, bool, u8, u16); 4] = [
            (query("www.example.org", 1), false, RCODE_NXDOMAIN, 0),
            (query("ns01.example.jp", 28), false, 0, 0),
            (query("ns01.example.jp", 1), true, RCODE_SERVFAIL, 0),
            (query("ns01.example.jp", 1)[..20].to_vec(), false, RCODE_FORMERR, 0),
        ];
        for (q, servfail, rcode, answers) in cases {
            let r = reply(&q, &zone(), servfail).unwrap();
            assert_eq!((r[3] & 0x0f, u16::from_be_bytes([r[6], r[7]])), (rcode, answers), "{q:?}");
        }
        assert!(reply(&[0; 5], &zone(), false).is_none());
        let mut response = query("ns01.example.jp", 1);
        response[2] |= 0x80;
        assert!(reply(&response, &zone(), false).is_none(), "never answer a response");
    }
}
