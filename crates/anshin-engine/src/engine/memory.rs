//! The decider's memory between batches: one record per open incident, one per server.
//!
//! Owns: [`OpenIncident`] (what an incident is about, when it opened, who took it, the alert a
//! pause holds back, the prompt consoles show, when its automatic recovery is looked at again),
//! [`ServerState`] (its resources' three-in-a-row states and their open incidents, its host-key
//! incident, when each of its checks began failing, its running recovery), and the maintenance
//! windows with the pauses they make now. Check states and which checks have an incident are the
//! core's [`Monitor`], kept here beside them. [`Memory::open`] and [`Memory::close`] are the only
//! places an incident record is created or dropped; server records are made once, for every host
//! the fleet checks, by [`Memory::new`].
//! Must not know: the store, probes, consoles, mails (the decider and `resume` fill it in).

use std::collections::HashMap;

use anshin_core::mail::Problem;
use anshin_core::resource::{Resource, ResourceState};
use anshin_core::{CheckKey, CheckKind, Fleet, Level, Monitor};
use chrono::{DateTime, Utc};

use crate::action::MaintenanceWindow;
use crate::store::maintenance::MaintenanceRecord;
use crate::store::recovery::RecoveryRecord;
use crate::store::timestamp;
use crate::view::{OtherIncident, Prompt};

/// What an open incident is about.
#[derive(Debug, Clone)]
pub(super) enum Subject {
    /// A check that is hard down (the core's `Monitor` decided it).
    Check(CheckKind),
    /// A resource over its threshold, with the problem its mails name (updated when it rises).
    Resource { resource: Resource, problem: Problem },
    /// The server's SSH host key changed: the NOC must look (no customer mail).
    HostKey,
    /// Backups failed or were missed in a row (contract §7): NOC-internal, never mailed; its
    /// level follows the count.
    Backup { level: Level },
}

/// One open incident, as the decider remembers it.
#[derive(Debug, Clone)]
pub(super) struct OpenIncident {
    pub host: String,
    pub subject: Subject,
    /// When it opened (its mails' イベント発報日時).
    pub opened_at: DateTime<Utc>,
    /// The operator who took it.
    pub acknowledged_by: Option<String>,
    /// Its alert, held back by a maintenance pause.
    pub held: Option<Held>,
    /// What consoles are told about its recovery when the engine does not perform it.
    pub prompt: Option<Prompt>,
    /// When to look at its automatic recovery again (check incidents only).
    pub next_look: Option<DateTime<Utc>>,
}

impl OpenIncident {
    /// The check of a check incident.
    pub fn check_key(&self) -> Option<CheckKey> {
        match &self.subject {
            Subject::Check(kind) => Some(CheckKey::new(&self.host, kind.clone())),
            _ => None,
        }
    }
}

/// One server (or gateway) of the fleet, as the decider remembers it.
#[derive(Debug, Default)]
pub(super) struct ServerState {
    /// Each polled resource's three-in-a-row state.
    pub resources: HashMap<Resource, ResourceState>,
    /// The open incident of each raised resource (kept by `Memory::open`/`close`).
    resource_incidents: HashMap<Resource, i64>,
    /// The open host-key incident (kept by `Memory::open`/`close`).
    host_key_incident: Option<i64>,
    /// The open backup incident (kept by `Memory::open`/`close`).
    backup_incident: Option<i64>,
    /// When each failing check first failed (a reboot counts 15 minutes from there).
    pub failing_since: HashMap<CheckKind, DateTime<Utc>>,
    /// The recovery running on the server (the store allows one).
    pub running: Option<RecoveryRecord>,
}

/// Everything the decider remembers between batches.
pub(super) struct Memory {
    /// Check states and check incidents (the core's rules).
    pub monitor: Monitor,
    incidents: HashMap<i64, OpenIncident>,
    servers: HashMap<String, ServerState>,
    /// Maintenance windows running now or later.
    pub windows: Vec<Window>,
    /// Which window pauses each server now.
    pub paused: HashMap<String, i64>,
    /// When to look for due resource-up reminders next (None: at the first tick).
    pub next_ledger_look: Option<DateTime<Utc>>,
}

impl Memory {
    /// An empty memory for `fleet`: a record for every host it checks, no incident.
    pub fn new(fleet: &Fleet) -> Memory {
        let mut servers: HashMap<String, ServerState> = HashMap::new();
        for host in fleet.servers.iter().map(|s| s.label.clone()).chain(fleet.checks().into_iter().map(|c| c.key.host))
        {
            servers.entry(host).or_default();
        }
        Memory {
            monitor: Monitor::new(fleet),
            incidents: HashMap::new(),
            servers,
            windows: Vec::new(),
            paused: HashMap::new(),
            next_ledger_look: None,
        }
    }

    /// Remembers an incident the store just opened (or holds open, at resume).
    pub fn open(&mut self, id: i64, host: &str, subject: Subject, opened_at: DateTime<Utc>) -> &mut OpenIncident {
        if let Some(server) = self.servers.get_mut(host) {
            match &subject {
                Subject::Check(kind) => self.monitor.set_incident(&CheckKey::new(host, kind.clone()), id),
                Subject::Resource { resource, .. } => {
                    server.resource_incidents.insert(*resource, id);
                }
                Subject::HostKey => server.host_key_incident = Some(id),
                Subject::Backup { .. } => server.backup_incident = Some(id),
            }
        }
        let record = OpenIncident {
            host: host.to_string(),
            subject,
            opened_at,
            acknowledged_by: None,
            held: None,
            prompt: None,
            next_look: None,
        };
        self.incidents.entry(id).insert_entry(record).into_mut()
    }

    /// Forgets an incident the store just closed, and gives back what was remembered of it.
    pub fn close(&mut self, id: i64) -> Option<OpenIncident> {
        let record = self.incidents.remove(&id)?;
        if let Some(server) = self.servers.get_mut(&record.host) {
            match &record.subject {
                Subject::Check(_) => {}
                Subject::Resource { resource, .. } => {
                    if server.resource_incidents.get(resource) == Some(&id) {
                        server.resource_incidents.remove(resource);
                    }
                }
                Subject::HostKey => {
                    if server.host_key_incident == Some(id) {
                        server.host_key_incident = None;
                    }
                }
                Subject::Backup { .. } => {
                    if server.backup_incident == Some(id) {
                        server.backup_incident = None;
                    }
                }
            }
        }
        Some(record)
    }

    pub fn incident(&self, id: i64) -> Option<&OpenIncident> {
        self.incidents.get(&id)
    }

    pub fn incident_mut(&mut self, id: i64) -> Option<&mut OpenIncident> {
        self.incidents.get_mut(&id)
    }

    /// Every open incident, by id.
    pub fn incidents(&self) -> impl Iterator<Item = (i64, &OpenIncident)> {
        self.incidents.iter().map(|(id, i)| (*id, i))
    }

    pub fn open_count(&self) -> usize {
        self.incidents.len()
    }

    /// The check of an open check incident.
    pub fn check_of(&self, id: i64) -> Option<CheckKey> {
        self.incident(id).and_then(OpenIncident::check_key)
    }

    /// When an open incident opened.
    pub fn opened_at(&self, id: i64) -> Option<DateTime<Utc>> {
        self.incident(id).map(|i| i.opened_at)
    }

    /// Who took an open incident.
    pub fn acknowledged_by(&self, id: i64) -> Option<String> {
        self.incident(id).and_then(|i| i.acknowledged_by.clone())
    }

    pub fn server(&self, host: &str) -> Option<&ServerState> {
        self.servers.get(host)
    }

    /// A host's record; `None` for a host the fleet does not check.
    pub fn server_mut(&mut self, host: &str) -> Option<&mut ServerState> {
        self.servers.get_mut(host)
    }

    /// The open incident of a server's resource.
    pub fn resource_incident(&self, host: &str, r: Resource) -> Option<i64> {
        self.server(host).and_then(|s| s.resource_incidents.get(&r).copied())
    }

    /// The open host-key incident of a server.
    pub fn host_key_incident(&self, host: &str) -> Option<i64> {
        self.server(host).and_then(|s| s.host_key_incident)
    }

    /// The open backup incident of a server and its level.
    pub fn backup_incident(&self, host: &str) -> Option<(i64, Level)> {
        let id = self.server(host)?.backup_incident?;
        match self.incident(id)?.subject {
            Subject::Backup { level } => Some((id, level)),
            _ => None,
        }
    }

    /// The recovery running on a server.
    pub fn running(&self, host: &str) -> Option<&RecoveryRecord> {
        self.server(host).and_then(|s| s.running.as_ref())
    }

    /// A running recovery by its id.
    pub fn running_by_id(&self, id: i64) -> Option<&RecoveryRecord> {
        self.servers.values().filter_map(|s| s.running.as_ref()).find(|r| r.id == id)
    }

    /// An open resource or host-key incident as a host's tile lists it.
    pub fn other_incident(&self, id: i64, level: u8) -> OtherIncident {
        let since = self.opened_at(id).map(timestamp).unwrap_or_default();
        OtherIncident { id, level, since, acknowledged_by: self.acknowledged_by(id) }
    }

    /// Takes over what is not in the store from the memory this one replaces (read back after a
    /// batch the store refused): when checks began failing.
    pub fn keep_unstored(&mut self, old: Memory) {
        for (host, s) in old.servers {
            if let Some(new) = self.servers.get_mut(&host) {
                new.failing_since = s.failing_since;
            }
        }
        // The prompt consoles were shown stays (not logged again); when to look again too.
        for (id, before) in old.incidents {
            if let Some(now) = self.incidents.get_mut(&id) {
                now.prompt = before.prompt;
                now.next_look = before.next_look.min(now.next_look).or(now.next_look);
            }
        }
    }
}

/// A maintenance window the decider keeps (running now or later).
#[derive(Debug, Clone)]
pub(super) struct Window {
    pub record: MaintenanceRecord,
    pub starts: DateTime<Utc>,
    pub ends: DateTime<Utc>,
}

impl Window {
    pub fn new(record: MaintenanceRecord) -> Option<Window> {
        let (starts, ends) = record.interval()?;
        Some(Window { record, starts, ends })
    }

    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.starts <= now && now < self.ends
    }

    pub fn console(&self, now: DateTime<Utc>) -> MaintenanceWindow {
        MaintenanceWindow { record: self.record.clone(), active: self.active(now) }
    }
}

/// An alert a pause held back: mailed when the pause ends if the incident is still open.
#[derive(Debug, Clone)]
pub(super) struct Held {
    pub host: String,
    pub check: String,
    pub level: u8,
    pub problem: Problem,
    pub detected_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use anshin_core::fleet;
    use anshin_core::Level;

    use super::*;

    const FLEET: &str = r#"
[noc]
mail_from = "noc@example.jp"
[[customer]]
id = "c1"
name = "C"
plan = "150"
notify = ["ops@example.jp"]
[[gateway]]
label = "gw"
ip = "127.77.0.1"
[[server]]
label = "web01"
customer = "c1"
fqdn = "web01.example.jp"
ip = "127.77.0.2"
gateway = "gw"
os = "debian"
services = ["http"]
"#;

    fn memory() -> Memory {
        Memory::new(&fleet::parse(FLEET, "f").unwrap().fleet)
    }

    fn problem() -> Problem {
        Problem::Resource {
            metric: anshin_core::mail::Metric::Disk,
            level: Level::Warning,
            fragment: "ディスク使用率 上昇".into(),
            item: "disk".into(),
            value: "91%".into(),
        }
    }

    #[test]
    fn every_host_the_fleet_checks_has_a_record_and_no_other() {
        let m = memory();
        assert!(m.server("web01").is_some());
        assert!(m.server("gw").is_some(), "a gateway's ping has a first failure too");
        assert!(m.server("gone").is_none());
    }

    #[test]
    fn open_and_close_keep_the_server_indexes() {
        let mut m = memory();
        let t = Utc::now();
        let subject = Subject::Resource { resource: Resource::Disk, problem: problem() };
        m.open(7, "web01", subject, t).acknowledged_by = Some("sato".into());
        m.open(8, "web01", Subject::HostKey, t);
        assert_eq!(m.resource_incident("web01", Resource::Disk), Some(7));
        assert_eq!(m.host_key_incident("web01"), Some(8));
        assert_eq!(m.other_incident(7, 3).acknowledged_by.as_deref(), Some("sato"));
        assert_eq!(m.open_count(), 2);
        let closed = m.close(7).unwrap();
        assert_eq!(closed.acknowledged_by.as_deref(), Some("sato"), "what it knew comes back once");
        assert!(m.close(7).is_none());
        assert_eq!(m.resource_incident("web01", Resource::Disk), None);
        m.close(8);
        assert_eq!(m.host_key_incident("web01"), None);
        assert_eq!(m.open_count(), 0);
    }

    #[test]
    fn a_check_incident_is_known_to_the_monitor_and_names_its_check() {
        let mut m = memory();
        let key = CheckKey::new("web01", CheckKind::Ping);
        // The monitor decides the opening first (three failures, the gateway answering after
        // the first).
        m.monitor.observe(&key, false);
        m.monitor.observe(&CheckKey::new("gw", CheckKind::Ping), true);
        m.monitor.observe(&key, false);
        m.monitor.observe(&key, false);
        m.open(3, "web01", Subject::Check(CheckKind::Ping), Utc::now());
        assert_eq!(m.monitor.incident(&key), Some(3));
        assert_eq!(m.check_of(3), Some(key));
        assert_eq!(m.check_of(4), None);
    }
}
