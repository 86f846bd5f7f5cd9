//! What changed between two validated fleets: the one description a live reload applies
//! (contract §6: the engine applies a changed fleet without a restart) and the audit log records.
//!
//! Owns: which hosts came and went, which checks start, stop or restart (same key, other
//! address, port or expectation), which servers and customers changed otherwise (contacts,
//! plans, access), whether `[noc]` or `[smtp]` changed; a one-line summary.
//! Must not know: how the engine applies it (tasks, incidents, mails).

use std::collections::{BTreeMap, HashMap, HashSet};

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
    // Sets and maps: a fleet of 10,000 servers has 50,000 checks (no quadratic look-ups).
    let (old_set, new_set): (HashSet<&String>, HashSet<&String>) =
        (old_hosts.iter().collect(), new_hosts.iter().collect());
    let old_checks: BTreeMap<CheckKey, CheckSpec> = old.checks().into_iter().map(|c| (c.key.clone(), c)).collect();
    let new_checks = new.checks();
    let mut d = FleetDiff {
        hosts_added: new_hosts.iter().filter(|h| !old_set.contains(h)).cloned().collect(),
        hosts_removed: old_hosts.iter().filter(|h| !new_set.contains(h)).cloned().collect(),
        noc_changed: old.noc != new.noc
            || old.secrets_dir != new.secrets_dir
            || old.backup != new.backup
            || old.updates != new.updates
            || old.retention != new.retention,
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
    let kept: HashSet<&CheckKey> = new_checks.iter().map(|c| &c.key).collect();
    d.checks_removed = old.checks().into_iter().map(|c| c.key).filter(|k| !kept.contains(&k)).collect();
    let old_servers: HashMap<&str, &crate::fleet::Server> = old.servers.iter().map(|s| (s.label.as_str(), s)).collect();
    for s in &new.servers {
        if let Some(before) = old_servers.get(s.label.as_str()) {
            // Checks are compared above; everything else about the server here.
            let same = before.customer == s.customer
                && before.os == s.os
                && before.ssh == s.ssh
                && before.reboot == s.reboot
                && before.restart_units == s.restart_units
                && before.gateway == s.gateway
                && before.plesk == s.plesk
                && before.backup == s.backup
                && before.updates == s.updates;
            if !same {
                d.servers_changed.push(s.label.clone());
            }
        }
    }
    let old_customers: HashMap<&str, &crate::fleet::Customer> =
        old.customers.iter().map(|c| (c.id.as_str(), c)).collect();
    let new_ids: HashSet<&str> = new.customers.iter().map(|c| c.id.as_str()).collect();
    for c in &new.customers {
        if old_customers.get(c.id.as_str()) != Some(&c) {
            d.customers_changed.push(c.id.clone());
        }
    }
    for c in &old.customers {
        if !new_ids.contains(c.id.as_str()) {
            d.customers_changed.push(c.id.clone());
        }
    }
    d
}

/// Names a summary lists per kind of change; beyond, a count (a whole fleet swapped stays one
/// readable line).
const SUMMARY_NAMES: usize = 20;

/// Up to [`SUMMARY_NAMES`] names, comma-separated, and how many more.
fn names(list: &[String]) -> String {
    let shown = list[..list.len().min(SUMMARY_NAMES)].join(",");
    match list.len().saturating_sub(SUMMARY_NAMES) {
        0 => shown,
        more => format!("{shown} (+{more} more)"),
    }
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
        parts.extend(self.hosts_added.iter().take(SUMMARY_NAMES).map(|h| format!("+{h}")));
        if let Some(more) = self.hosts_added.len().checked_sub(SUMMARY_NAMES).filter(|n| *n > 0) {
            parts.push(format!("(+{more} more added)"));
        }
        parts.extend(self.hosts_removed.iter().take(SUMMARY_NAMES).map(|h| format!("−{h}")));
        if let Some(more) = self.hosts_removed.len().checked_sub(SUMMARY_NAMES).filter(|n| *n > 0) {
            parts.push(format!("(+{more} more removed)"));
        }
        let keys = |v: &mut dyn Iterator<Item = &CheckKey>| {
            v.map(|k| format!("{}:{}", k.host, k.kind.id())).collect::<Vec<_>>()
        };
        let (added, removed): (HashSet<&String>, HashSet<&String>) =
            (self.hosts_added.iter().collect(), self.hosts_removed.iter().collect());
        let started = keys(&mut self.checks_added.iter().map(|c| &c.key).filter(|k| !added.contains(&k.host)));
        let stopped = keys(&mut self.checks_removed.iter().filter(|k| !removed.contains(&k.host)));
        let changed = keys(&mut self.checks_changed.iter().map(|c| &c.key));
        for (word, list) in [("+checks", started), ("−checks", stopped), ("~checks", changed)] {
            if !list.is_empty() {
                parts.push(format!("{word} {}", names(&list)));
            }
        }
        for (word, list) in [("~servers", &self.servers_changed), ("~customers", &self.customers_changed)] {
            if !list.is_empty() {
                parts.push(format!("{word} {}", names(list)));
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

    #[test]
    fn a_whole_fleet_swapped_is_summarised_in_one_readable_line() {
        let many = |from: usize| -> String {
            let servers: String = (from..from + 25)
                .map(|i| {
                    format!(
                        "\n[[server]]\nlabel = \"s{i}\"\ncustomer = \"c1\"\nfqdn = \"s{i}.c1.example.jp\"\nip = \"127.78.1.{}\"\n",
                        i % 250 + 1
                    )
                })
                .collect();
            format!("{}{servers}", &BASE[..BASE.find("[[server]]").unwrap()])
        };
        let d = diff(&fleet(&many(0)), &fleet(&many(100)));
        assert_eq!((d.hosts_added.len(), d.hosts_removed.len()), (25, 25));
        let summary = d.summary();
        assert!(summary.contains("+s100 ") && summary.contains("(+5 more added)"), "{summary}");
        assert!(summary.contains("−s0 ") && summary.contains("(+5 more removed)"), "{summary}");
        assert!(!summary.contains("s124") && !summary.contains("checks"), "{summary}");
    }
}
