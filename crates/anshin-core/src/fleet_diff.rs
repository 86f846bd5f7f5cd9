//! What changed between two validated fleets: the one description a live reload applies
//! (contract §6: the engine applies a changed fleet without a restart) and the audit log records.
//!
//! Owns: which hosts came and went, which checks start, stop or restart (same key, other
//! address, port or expectation), which servers and customers changed otherwise (contacts,
//! plans, access), whether `[noc]` or `[smtp]` changed; a one-line summary.
//! Must not know: how the engine applies it (tasks, incidents, mails).

use std::collections::BTreeMap;

use crate::check::{CheckKey, CheckSpec};
use crate::fleet::Fleet;

/// The difference from an old fleet to a new one. Lists are in the new (or old, for removals)
/// fleet's order. A renamed label is a removal and an addition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetDiff {
    /// Servers and gateways new in the fleet.
    pub hosts_added: Vec<String>,
    /// Servers and gateways no longer in the fleet: their open incidents close (`removed`).
    pub hosts_removed: Vec<String>,
    /// Checks to start (of new hosts, or new on a host that stays).
    pub checks_added: Vec<CheckSpec>,
    /// Checks to stop (of removed hosts, or dropped from a host that stays).
    pub checks_removed: Vec<CheckKey>,
    /// Checks that stay but probe something else now (address, port, FQDN, expected greeting):
    /// restarted with the new spec.
    pub checks_changed: Vec<CheckSpec>,
    /// Servers that stay with other settings besides their checks (customer, OS, SSH access,
    /// reboot action, restart units, gateway, Plesk).
    pub servers_changed: Vec<String>,
    /// Customers added, removed or changed (name, plan, contacts, contract, root).
    pub customers_changed: Vec<String>,
    pub noc_changed: bool,
    pub smtp_changed: bool,
}

/// The difference from `old` to `new`.
pub fn diff(old: &Fleet, new: &Fleet) -> FleetDiff {
    let hosts = |f: &Fleet| -> Vec<String> {
        f.gateways.iter().map(|g| g.label.clone()).chain(f.servers.iter().map(|s| s.label.clone())).collect()
    };
    let (old_hosts, new_hosts) = (hosts(old), hosts(new));
    let old_checks: BTreeMap<CheckKey, CheckSpec> = old.checks().into_iter().map(|c| (c.key.clone(), c)).collect();
    let new_checks = new.checks();
    let mut d = FleetDiff {
        hosts_added: new_hosts.iter().filter(|h| !old_hosts.contains(h)).cloned().collect(),
        hosts_removed: old_hosts.iter().filter(|h| !new_hosts.contains(h)).cloned().collect(),
        noc_changed: old.noc != new.noc || old.secrets_dir != new.secrets_dir,
        smtp_changed: old.smtp != new.smtp,
        ..FleetDiff::default()
    };
    for spec in &new_checks {
        match old_checks.get(&spec.key) {
            None => d.checks_added.push(spec.clone()),
            Some(before) if before != spec => d.checks_changed.push(spec.clone()),
            Some(_) => {}
        }
    }
    let kept: Vec<&CheckKey> = new_checks.iter().map(|c| &c.key).collect();
    d.checks_removed = old.checks().into_iter().map(|c| c.key).filter(|k| !kept.contains(&k)).collect();
    for s in &new.servers {
        if let Some(before) = old.server(&s.label) {
            // Checks are compared above; everything else about the server here.
            let same = before.customer == s.customer
                && before.os == s.os
                && before.ssh == s.ssh
                && before.reboot == s.reboot
                && before.restart_units == s.restart_units
                && before.gateway == s.gateway
                && before.plesk == s.plesk;
            if !same {
                d.servers_changed.push(s.label.clone());
            }
        }
    }
    for c in &new.customers {
        if old.customer(&c.id) != Some(c) {
            d.customers_changed.push(c.id.clone());
        }
    }
    for c in &old.customers {
        if new.customer(&c.id).is_none() {
            d.customers_changed.push(c.id.clone());
        }
    }
    d
}

impl FleetDiff {
    /// Nothing to apply.
    pub fn is_empty(&self) -> bool {
        *self == FleetDiff::default()
    }

    /// One line for the audit log and the consoles: `+web05 −web03 ~checks web01:http
    /// ~servers web02 ~customers c1001 ~noc`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.hosts_added.iter().map(|h| format!("+{h}")));
        parts.extend(self.hosts_removed.iter().map(|h| format!("−{h}")));
        let keys = |v: &mut dyn Iterator<Item = &CheckKey>| {
            v.map(|k| format!("{}:{}", k.host, k.kind.id())).collect::<Vec<_>>()
        };
        let started =
            keys(&mut self.checks_added.iter().map(|c| &c.key).filter(|k| !self.hosts_added.contains(&k.host)));
        let stopped = keys(&mut self.checks_removed.iter().filter(|k| !self.hosts_removed.contains(&k.host)));
        let changed = keys(&mut self.checks_changed.iter().map(|c| &c.key));
        for (word, list) in [("+checks", started), ("−checks", stopped), ("~checks", changed)] {
            if !list.is_empty() {
                parts.push(format!("{word} {}", list.join(",")));
            }
        }
        for (word, list) in [("~servers", &self.servers_changed), ("~customers", &self.customers_changed)] {
            if !list.is_empty() {
                parts.push(format!("{word} {}", list.join(",")));
            }
        }
        if self.noc_changed {
            parts.push("~noc".into());
        }
        if self.smtp_changed {
            parts.push("~smtp".into());
        }
        if parts.is_empty() {
            "no change".into()
        } else {
            parts.join(" ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::parse;

    const BASE: &str = r#"
# the NOC's fleet: comments stay where they are
[noc]
brand = "Speever"
mail_from = "mail_alert@hosting-srv.net"

[[customer]]
id = "c1"
name = "一号商事"
plan = "150"
notify = ["ops@c1.example.jp"]
phones = ["03-0000-0001"]

[[server]]
label = "web01"
customer = "c1"
fqdn = "web01.c1.example.jp"
ip = "127.78.0.2"
services = ["http", "smtp"]

[[server]]
label = "web02"
customer = "c1"
fqdn = "web02.c1.example.jp"
ip = "127.78.0.3"
"#;

    fn fleet(text: &str) -> Fleet {
        parse(text, "fleet.toml").unwrap().fleet
    }

    #[test]
    fn the_same_fleet_differs_in_nothing() {
        let d = diff(&fleet(BASE), &fleet(BASE));
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(d.summary(), "no change");
    }

    #[test]
    fn an_added_removed_and_edited_fleet_is_described_exactly() {
        let new = BASE
            .replace(
                "label = \"web02\"\ncustomer = \"c1\"\nfqdn = \"web02.c1.example.jp\"\nip = \"127.78.0.3\"",
                "label = \"web03\"\ncustomer = \"c1\"\nfqdn = \"web03.c1.example.jp\"\nip = \"127.78.0.4\"",
            )
            .replace("services = [\"http\", \"smtp\"]", "services = [\"http\", \"imap\"]\nports = { http = 8080 }")
            .replace("phones = [\"03-0000-0001\"]", "phones = [\"03-0000-0009\"]");
        let d = diff(&fleet(BASE), &fleet(&new));
        assert_eq!(d.hosts_added, ["web03"]);
        assert_eq!(d.hosts_removed, ["web02"]);
        let ids = |v: &[CheckSpec]| v.iter().map(|c| format!("{}:{}", c.key.host, c.key.kind.id())).collect::<Vec<_>>();
        assert_eq!(ids(&d.checks_added), ["web01:imap", "web03:ping", "web03:ssh"]);
        assert_eq!(ids(&d.checks_changed), ["web01:http"], "a new port restarts the check");
        let removed: Vec<String> = d.checks_removed.iter().map(|k| format!("{}:{}", k.host, k.kind.id())).collect();
        assert_eq!(removed, ["web01:smtp", "web02:ping", "web02:ssh"]);
        assert_eq!(d.customers_changed, ["c1"], "a phone number changed");
        assert!(d.servers_changed.is_empty() && !d.noc_changed && !d.smtp_changed);
        assert_eq!(d.summary(), "+web03 −web02 +checks web01:imap −checks web01:smtp ~checks web01:http ~customers c1");
    }

    #[test]
    fn a_plan_without_service_monitoring_stops_the_service_checks() {
        let zero = BASE.replace("plan = \"150\"", "plan = \"zero\"");
        let d = diff(&fleet(BASE), &fleet(&zero));
        let removed: Vec<String> = d.checks_removed.iter().map(|k| k.kind.id()).collect();
        assert_eq!(removed, ["http", "smtp"]);
        assert!(diff(&fleet(BASE), &fleet(&BASE.replace("Speever", "Other"))).noc_changed);
    }
}
