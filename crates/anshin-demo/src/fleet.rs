//! Reads fleet text (the shape of `assets/demo-fleet.toml`) into the endpoints to simulate.
//!
//! Owns: the mapping from each `[[server]]` to (address, port, protocol) — SSH, every listed
//! service and every custom check — and the well-known default ports.
//! Must not know: how a protocol is spoken, the outage schedule, or the engine's own fleet types
//! (the file is read with the generic `toml` crate, as any other reader could).

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};

use toml::{Table, Value};

use crate::DemoError;

/// The wire protocol a simulated endpoint speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Protocol {
    Ssh,
    Http,
    /// SMTP and Submission (plain text, no STARTTLS).
    Smtp,
    Pop,
    Imap,
    Ftp,
    Mysql,
    Postgresql,
    /// UDP.
    Dns,
    /// Operator-defined TCP check; sends `expect` (if any) as its greeting.
    Custom {
        expect: Option<String>,
    },
}

/// One simulated listener.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// Server label.
    pub host: String,
    pub fqdn: String,
    /// Service key (`"ssh"`, `"http"`, …) or custom check name; the key outages refer to.
    pub service: String,
    pub addr: SocketAddr,
    pub protocol: Protocol,
}

/// Everything the simulator needs from a fleet file.
#[derive(Debug)]
pub(crate) struct Fleet {
    pub endpoints: Vec<Endpoint>,
    /// Every server's FQDN (lower case) and address: what the simulated DNS servers answer.
    pub zone: HashMap<String, Ipv4Addr>,
}

/// The standard port of a fleet service key.
pub(crate) fn default_port(service: &str) -> Option<u16> {
    Some(match service {
        "ssh" => 22,
        "ftp" => 21,
        "smtp" => 25,
        "dns" => 53,
        "http" => 80,
        "pop" => 110,
        "imap" => 143,
        "https" => 443,
        "smtps" => 465,
        "submission" => 587,
        "imaps" => 993,
        "pops" => 995,
        "mysql" => 3306,
        "postgresql" => 5432,
        "plesk" => 8443,
        _ => return None,
    })
}

fn protocol_of(service: &str) -> Result<Protocol, String> {
    Ok(match service {
        "http" => Protocol::Http,
        "smtp" | "submission" => Protocol::Smtp,
        "pop" => Protocol::Pop,
        "imap" => Protocol::Imap,
        "ftp" => Protocol::Ftp,
        "mysql" => Protocol::Mysql,
        "postgresql" => Protocol::Postgresql,
        "dns" => Protocol::Dns,
        "https" | "pops" | "imaps" | "smtps" | "plesk" => {
            return Err(format!("service \"{service}\" needs TLS, which the demo simulator does not speak"))
        }
        other => return Err(format!("unknown service \"{other}\"")),
    })
}

/// Parses fleet text and lists its endpoints. Refuses anything that is not loopback.
pub(crate) fn parse(text: &str) -> Result<Fleet, DemoError> {
    let root: Table = toml::from_str(text).map_err(|e| DemoError::Fleet(e.to_string()))?;
    let servers = match root.get("server") {
        None => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Err(DemoError::Fleet("`server` must be an array of tables ([[server]])".into())),
    };
    let mut endpoints = Vec::new();
    let mut zone = HashMap::new();
    for (i, server) in servers.iter().enumerate() {
        let at = |msg: String| DemoError::Fleet(format!("server #{}: {msg}", i + 1));
        let s = server.as_table().ok_or_else(|| at("not a table".into()))?;
        let text = |key: &str| s.get(key).and_then(Value::as_str).ok_or_else(|| at(format!("missing string `{key}`")));
        let host = text("label")?.to_owned();
        let at = |msg: String| DemoError::Fleet(format!("server {host}: {msg}"));
        let fqdn = text("fqdn")?.to_ascii_lowercase();
        if fqdn.is_empty() || !fqdn.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
            return Err(at(format!("fqdn {fqdn:?} is not a host name")));
        }
        let ip: Ipv4Addr = text("ip")?.parse().map_err(|_| at("`ip` is not an IPv4 address".into()))?;
        if !ip.is_loopback() {
            return Err(at(format!("ip {ip} is not loopback; the demo only listens on 127.0.0.0/8")));
        }
        zone.insert(fqdn.clone(), ip);

        let ports = s.get("ports").and_then(Value::as_table);
        let port_of = |service: &str| -> Result<u16, DemoError> {
            match ports.and_then(|p| p.get(service)) {
                Some(v) => v
                    .as_integer()
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|&n| n != 0)
                    .ok_or_else(|| at(format!("ports.{service} is not a port number"))),
                None => default_port(service).ok_or_else(|| at(format!("no port for \"{service}\""))),
            }
        };
        let mut add = |service: String, port: u16, protocol: Protocol| {
            let addr = SocketAddr::from((ip, port));
            endpoints.push(Endpoint { host: host.clone(), fqdn: fqdn.clone(), service, addr, protocol });
        };

        add("ssh".into(), port_of("ssh")?, Protocol::Ssh);
        let services = match s.get("services") {
            None => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => return Err(at("`services` must be a list".into())),
        };
        for service in services {
            let service = service.as_str().ok_or_else(|| at("`services` holds a non-string".into()))?;
            let protocol = protocol_of(service).map_err(at)?;
            add(service.to_owned(), port_of(service)?, protocol);
        }
        let customs = match s.get("custom") {
            None => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => return Err(at("`custom` must be a list of tables".into())),
        };
        for custom in customs {
            let c = custom.as_table().ok_or_else(|| at("a `custom` entry is not a table".into()))?;
            let name = c.get("name").and_then(Value::as_str).ok_or_else(|| at("custom check without `name`".into()))?;
            let port = c
                .get("port")
                .and_then(Value::as_integer)
                .and_then(|n| u16::try_from(n).ok())
                .filter(|&n| n != 0)
                .ok_or_else(|| at(format!("custom check {name}: `port` missing or not a port number")))?;
            let expect = match c.get("expect") {
                None => None,
                Some(Value::String(e)) if !e.contains(['\r', '\n']) => Some(e.clone()).filter(|e| !e.is_empty()),
                Some(_) => return Err(at(format!("custom check {name}: `expect` must be one line of text"))),
            };
            add(name.to_owned(), port, Protocol::Custom { expect });
        }
    }

    let mut keys = HashSet::new();
    let mut sockets = HashMap::new();
    for e in &endpoints {
        if !keys.insert((e.host.as_str(), e.service.as_str())) {
            return Err(DemoError::Fleet(format!("server {}: service \"{}\" listed twice", e.host, e.service)));
        }
        let udp = e.protocol == Protocol::Dns;
        if let Some(other) = sockets.insert((e.addr, udp), e) {
            return Err(DemoError::Fleet(format!(
                "{} {} and {} {} both use {}",
                other.host, other.service, e.host, e.service, e.addr
            )));
        }
    }
    Ok(Fleet { endpoints, zone })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
        [[server]]
        label = "a"
        fqdn = "A.example.jp"
        ip = "127.77.250.200"
        services = ["http", "dns"]
        ports = { http = 18080 }
        custom = [{ name = "app", port = 13000, expect = "OK" }, { name = "raw", port = 13001 }]
    "#;

    #[test]
    fn lists_ssh_services_and_custom_checks_with_ports() {
        let fleet = parse(SMALL).unwrap();
        let got: Vec<(&str, u16, &Protocol)> =
            fleet.endpoints.iter().map(|e| (e.service.as_str(), e.addr.port(), &e.protocol)).collect();
        assert_eq!(
            got,
            vec![
                ("ssh", 22, &Protocol::Ssh),
                ("http", 18080, &Protocol::Http),
                ("dns", 53, &Protocol::Dns),
                ("app", 13000, &Protocol::Custom { expect: Some("OK".into()) }),
                ("raw", 13001, &Protocol::Custom { expect: None }),
            ]
        );
        assert_eq!(fleet.zone.get("a.example.jp"), Some(&Ipv4Addr::new(127, 77, 250, 200)));
    }

    #[test]
    fn refuses_non_loopback_tls_and_clashes() {
        let cases = [
            (SMALL.replace("127.77.250.200", "192.168.0.1"), "not loopback"),
            (SMALL.replace("\"dns\"", "\"https\""), "needs TLS"),
            (SMALL.replace("13001", "13000"), "both use 127.77.250.200:13000"),
            (SMALL.replace("\"dns\"", "\"gopher\""), "unknown service"),
            ("server = 1".to_owned(), "array of tables"),
        ];
        for (text, want) in cases {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} should mention {want:?}");
        }
    }
}
