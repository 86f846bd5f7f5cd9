//! What is checked: the services of contract §2, the kinds of check, and the check list of a fleet.
//!
//! Owns: the service catalogue — one row per service: fleet spelling, display name in triggers,
//! default port, transport, the unit per OS family ([`OsFamily`]) — trigger names, and the
//! (host, check) key every state and incident hangs on.
//! Must not know: how a probe talks to a port (that is the engine's `probe` module).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::level::Level;

/// A monitored service (contract §2 table). SSH is not here: every server gets it (see [`CheckKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Http,
    Https,
    Dns,
    Pop,
    Pops,
    Imap,
    Imaps,
    Smtp,
    Smtps,
    Submission,
    Mysql,
    Postgresql,
    Plesk,
    Ftp,
}

impl Service {
    pub const ALL: [Service; 14] = [
        Service::Http,
        Service::Https,
        Service::Dns,
        Service::Pop,
        Service::Pops,
        Service::Imap,
        Service::Imaps,
        Service::Smtp,
        Service::Smtps,
        Service::Submission,
        Service::Mysql,
        Service::Postgresql,
        Service::Plesk,
        Service::Ftp,
    ];

    /// The fleet-file spelling (`services = ["http", ...]`) and the `check` field of the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Http => "http",
            Service::Https => "https",
            Service::Dns => "dns",
            Service::Pop => "pop",
            Service::Pops => "pops",
            Service::Imap => "imap",
            Service::Imaps => "imaps",
            Service::Smtp => "smtp",
            Service::Smtps => "smtps",
            Service::Submission => "submission",
            Service::Mysql => "mysql",
            Service::Postgresql => "postgresql",
            Service::Plesk => "plesk",
            Service::Ftp => "ftp",
        }
    }

    /// The name as it appears in trigger names and mail subjects (contract §2).
    pub fn display_name(self) -> &'static str {
        match self {
            Service::Http => "HTTP",
            Service::Https => "HTTPS",
            Service::Dns => "DNS",
            Service::Pop => "POP",
            Service::Pops => "POPS",
            Service::Imap => "IMAP",
            Service::Imaps => "IMAPS",
            Service::Smtp => "SMTP",
            Service::Smtps => "SMTPS",
            Service::Submission => "Submission",
            Service::Mysql => "MySQL",
            Service::Postgresql => "PostgreSQL",
            Service::Plesk => "Plesk Panel",
            Service::Ftp => "FTP",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Service::Http => 80,
            Service::Https => 443,
            Service::Dns => 53,
            Service::Pop => 110,
            Service::Pops => 995,
            Service::Imap => 143,
            Service::Imaps => 993,
            Service::Smtp => 25,
            Service::Smtps => 465,
            Service::Submission => 587,
            Service::Mysql => 3306,
            Service::Postgresql => 5432,
            Service::Plesk => 8443,
            Service::Ftp => 21,
        }
    }

    /// Whether the protocol starts with a TLS handshake (implicit TLS).
    pub fn implicit_tls(self) -> bool {
        matches!(self, Service::Https | Service::Pops | Service::Imaps | Service::Smtps | Service::Plesk)
    }

    /// The unit (systemd) or init script (SysV) restarted when the fleet file names none.
    pub fn default_unit(self, family: OsFamily) -> &'static str {
        match self {
            Service::Http | Service::Https => match family {
                OsFamily::RedHat6 | OsFamily::RedHat => "httpd",
                OsFamily::Debian => "apache2",
            },
            Service::Smtp | Service::Smtps | Service::Submission => "postfix",
            Service::Pop | Service::Pops | Service::Imap | Service::Imaps => "dovecot",
            Service::Mysql => match family {
                OsFamily::RedHat6 => "mysqld",
                OsFamily::RedHat | OsFamily::Debian => "mariadb",
            },
            Service::Postgresql => "postgresql",
            Service::Dns => "named",
            Service::Ftp => "vsftpd",
            Service::Plesk => "sw-cp-server",
        }
    }

    /// How the check reaches it (contract §2.2's "transport" column): `udp` (DNS), `tls`
    /// (implicit TLS), or `tcp`.
    pub fn transport(self) -> &'static str {
        match self {
            Service::Dns => "udp",
            _ if self.implicit_tls() => "tls",
            _ => "tcp",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a server names and restarts its services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OsFamily {
    /// CentOS/RHEL 6 and their rebuilds: SysV init, `service X restart`.
    RedHat6,
    /// The Red Hat family with systemd (7 and later, Fedora): `systemctl restart X`, Red Hat names.
    RedHat,
    /// Debian, Ubuntu, and anything unrecognised: `systemctl restart X`, Debian names.
    Debian,
}

impl OsFamily {
    pub const ALL: [OsFamily; 3] = [OsFamily::RedHat6, OsFamily::RedHat, OsFamily::Debian];

    /// The stable identifier consoles get: `redhat6`, `redhat`, `debian`.
    pub fn id(self) -> &'static str {
        match self {
            OsFamily::RedHat6 => "redhat6",
            OsFamily::RedHat => "redhat",
            OsFamily::Debian => "debian",
        }
    }
}

/// The error of an unknown service name; lists the names that exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown service \"{0}\": use one of {names}", names = Service::names())]
pub struct UnknownService(pub String);

impl Service {
    /// Every service's fleet spelling, space-separated, for error messages.
    pub fn names() -> String {
        Service::ALL.map(Service::as_str).join(" ")
    }
}

impl FromStr for Service {
    type Err = UnknownService;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Service::ALL.into_iter().find(|svc| svc.as_str() == s).ok_or_else(|| UnknownService(s.to_string()))
    }
}

/// The check id of the security incident a changed SSH host key opens (resource polling of that
/// server stops until the operator fixes its known_hosts line).
pub const HOST_KEY_CHECK: &str = "ssh_hostkey";

/// The check id of the backup incident (contract §7; `backup::CHECK_ID`).
pub const BACKUP_CHECK: &str = "backup";

/// Whether an incident's check id is not a check of the fleet's but a reading or a job of the
/// NOC's: a resource (`load`, `disk`…), the host key, the backup. Such incidents are resumed and
/// closed by their own rules, never as checks that left the fleet.
pub fn is_other_incident(check_id: &str) -> bool {
    check_id == HOST_KEY_CHECK || check_id == BACKUP_CHECK || crate::resource::Resource::from_id(check_id).is_some()
}

/// The kind of one check of one host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckKind {
    /// ICMP echo to the host's address.
    Ping,
    /// TCP and the `SSH-2.0-` banner.
    Ssh,
    /// A service's own protocol greeting.
    Service(Service),
    /// An operator-defined TCP check, by its name.
    Custom(String),
}

impl CheckKind {
    /// The level of the incident this check opens when it goes hard down.
    pub fn level(&self) -> Level {
        match self {
            CheckKind::Ping => Level::Unreachable,
            CheckKind::Ssh | CheckKind::Service(_) | CheckKind::Custom(_) => Level::Severe,
        }
    }

    /// The trigger name of contract §2 for this check of `label`.
    pub fn trigger(&self, label: &str) -> String {
        match self {
            CheckKind::Ping => format!("{label} ping 疎通不可"),
            CheckKind::Ssh => format!("{label} SSH サービスダウン"),
            CheckKind::Service(s) => format!("{label} {} サービスダウン", s.display_name()),
            CheckKind::Custom(name) => format!("{label} {name} サービスダウン"),
        }
    }

    /// The stable identifier used in the store, the CLI's `check` field and the API:
    /// `ping`, `ssh`, a service name, or `custom:NAME`.
    pub fn id(&self) -> String {
        match self {
            CheckKind::Ping => "ping".into(),
            CheckKind::Ssh => "ssh".into(),
            CheckKind::Service(s) => s.as_str().into(),
            CheckKind::Custom(name) => format!("custom:{name}"),
        }
    }

    /// Inverse of [`CheckKind::id`].
    pub fn from_id(id: &str) -> Option<CheckKind> {
        match id {
            "ping" => Some(CheckKind::Ping),
            "ssh" => Some(CheckKind::Ssh),
            _ => match id.strip_prefix("custom:") {
                Some(name) if !name.is_empty() => Some(CheckKind::Custom(name.to_string())),
                Some(_) => None,
                None => id.parse().ok().map(CheckKind::Service),
            },
        }
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

/// The identity of a check: host label and check kind. States and incidents hang on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckKey {
    pub host: String,
    pub kind: CheckKind,
}

impl CheckKey {
    pub fn new(host: impl Into<String>, kind: CheckKind) -> Self {
        CheckKey { host: host.into(), kind }
    }
}

impl fmt::Display for CheckKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.kind)
    }
}

/// Everything a probe needs to run one check: where, which protocol, what to expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    pub key: CheckKey,
    pub ip: IpAddr,
    /// TCP or UDP port; unused for ping.
    pub port: u16,
    /// The host's FQDN (HTTP Host header, DNS question).
    pub fqdn: String,
    /// For custom checks: the prefix the greeting must start with.
    pub expect: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_follow_spec_names() {
        let table = [
            (CheckKind::Ping, "web01 ping 疎通不可", 5),
            (CheckKind::Ssh, "web01 SSH サービスダウン", 4),
            (CheckKind::Service(Service::Http), "web01 HTTP サービスダウン", 4),
            (CheckKind::Service(Service::Plesk), "web01 Plesk Panel サービスダウン", 4),
            (CheckKind::Service(Service::Submission), "web01 Submission サービスダウン", 4),
            (CheckKind::Service(Service::Postgresql), "web01 PostgreSQL サービスダウン", 4),
            (CheckKind::Custom("app".into()), "web01 app サービスダウン", 4),
        ];
        for (kind, trigger, level) in table {
            assert_eq!(kind.trigger("web01"), trigger);
            assert_eq!(kind.level().number(), level, "{kind}");
        }
    }

    #[test]
    fn ids_round_trip() {
        let mut kinds: Vec<CheckKind> = Service::ALL.into_iter().map(CheckKind::Service).collect();
        kinds.extend([CheckKind::Ping, CheckKind::Ssh, CheckKind::Custom("app".into())]);
        for k in kinds {
            assert_eq!(CheckKind::from_id(&k.id()), Some(k.clone()), "{k}");
        }
        assert_eq!(CheckKind::from_id("custom:"), None);
        assert_eq!(CheckKind::from_id("gopher"), None);
    }

    #[test]
    fn default_ports_match_spec_table() {
        let table = [
            ("http", 80),
            ("https", 443),
            ("dns", 53),
            ("pop", 110),
            ("pops", 995),
            ("imap", 143),
            ("imaps", 993),
            ("smtp", 25),
            ("smtps", 465),
            ("submission", 587),
            ("mysql", 3306),
            ("postgresql", 5432),
            ("plesk", 8443),
            ("ftp", 21),
        ];
        assert_eq!(table.len(), Service::ALL.len());
        for (name, port) in table {
            assert_eq!(name.parse::<Service>().unwrap().default_port(), port, "{name}");
        }
    }
}
