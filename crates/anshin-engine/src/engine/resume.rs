//! The decider's memory read back from the store: at start (after a stop or a crash: open
//! incidents stay open, check states continue their count, who took what, alerts a pause
//! still holds), and after a batch the store refused half-way (what that batch changed in memory
//! is thrown away and read back, so memory never holds what the store lost).
//!
//! Owns: turning stored incidents, check states and maintenance windows into the decider's
//! `Memory` (a record per open incident) and the consoles' view. At start only: closing
//! incidents nothing could close any more (checks no longer in the fleet, resource and host-key
//! incidents of servers no longer polled; backup incidents are judged again by the decider), marking recoveries the last run left running as
//! interrupted, the `engine_started` entry.
//! Must not know: probes, consoles, transports.

use std::collections::HashMap;

use anshin_core::resource::{Resource, ResourceState};
use anshin_core::{Fleet, Level};
use chrono::{DateTime, Utc};

use super::memory::{Held, Memory, Subject, Window};
use super::{EngineError, HOST_KEY_CHECK};
use crate::problem::{incident_problem, resumed_problem};
use crate::ssh::SshTarget;
use crate::store::acks::ack_by;
use crate::store::{timestamp, IncidentRecord, Store};
use crate::view::{FleetView, OtherIncident};

/// Why the memory is read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// The engine starts: also tidy what the last run left (and say so in the log).
    Start,
    /// A batch failed half-way: read only, the engine keeps running.
    Reload,
}

/// The decider's memory as the store has it, and the consoles' view of it.
pub(super) struct Resumed {
    pub memory: Memory,
    pub view: FleetView,
    /// Open incidents carried over.
    pub resumed_open: usize,
}

/// When a stored incident opened; a time the store cannot read (an edited file) is taken as
/// `now`, so the incident is still resumed (and closed, and mailed) rather than forgotten.
fn opened_at(inc: &IncidentRecord, now: DateTime<Utc>) -> DateTime<Utc> {
    match DateTime::parse_from_rfc3339(&inc.opened_at) {
        Ok(t) => t.with_timezone(&Utc),
        Err(e) => {
            tracing::warn!(incident = inc.id, opened_at = %inc.opened_at, error = %e, "an open incident's opening time is unreadable: taken as now");
            now
        }
    }
}

/// Reads the decider's memory from `store`. `checks` and `polled` are the fleet's counts for
/// the `engine_started` entry (Start mode).
pub(super) fn resume(
    fleet: &Fleet,
    polled: &[SshTarget],
    store: &mut Store,
    now: DateTime<Utc>,
    mode: Mode,
) -> Result<Resumed, EngineError> {
    let attempts = fleet.noc.attempts;
    let mut memory = Memory::new(fleet);
    let mut view = FleetView::new(fleet, now);
    let saved = store.saved_checks()?;
    let open = store.incidents(true, usize::MAX >> 1)?;
    let open_by_id: HashMap<i64, &IncidentRecord> = open.iter().map(|inc| (inc.id, inc)).collect();
    let is_polled = |host: &str| polled.iter().any(|t| t.host == host);
    let tx = store.begin()?;
    let start = mode == Mode::Start;
    for s in saved {
        if memory.monitor.is_known(&s.key) {
            memory.monitor.resume(s.key.clone(), s.state, s.open_incident);
            if let Some(id) = s.open_incident {
                let since = open_by_id.get(&id).map_or(now, |inc| opened_at(inc, now));
                // Its automatic recovery is looked at again at once.
                memory.open(id, &s.key.host, Subject::Check(s.key.kind.clone()), since).next_look = Some(now);
            }
            if let Some(v) = view.check_mut(&s.key) {
                v.ok = s.state.last_ok;
                v.hard = s.state.hard_down;
                v.failures = s.state.failures;
                v.detail = s.detail.clone();
                v.incident = s.open_incident;
                v.level = s.open_incident.map(|_| s.key.kind.level().number());
                v.since = s.open_incident.and_then(|id| memory.opened_at(id)).map(timestamp);
            }
            view.refresh_host(&s.key.host);
        } else if let (Some(id), true) = (s.open_incident, start) {
            tx.close_incident(id, &s.key, "the check is no longer in the fleet file", now)?;
        }
    }
    for inc in &open {
        // The backup incident: kept (judged again at the first look: closed there if the
        // server is no longer backed up, or by its next good run).
        if inc.check == anshin_core::backup::CHECK_ID {
            let level = Level::from_number(inc.level).unwrap_or(Level::Warning);
            memory.open(inc.id, &inc.host, Subject::Backup { level }, opened_at(inc, now));
        }
        // Resource and host-key incidents: kept while their server is polled, closed at start
        // otherwise (nothing could ever close them).
        if inc.check == HOST_KEY_CHECK || Resource::from_id(&inc.check).is_some() {
            if !is_polled(&inc.host) {
                if start {
                    let why = if inc.check == HOST_KEY_CHECK {
                        "the server's SSH is no longer polled"
                    } else {
                        "resource monitoring no longer applies"
                    };
                    tx.close_incident_on(inc.id, &inc.host, &inc.check, why, now)?;
                }
                continue;
            }
            let subject = match Resource::from_id(&inc.check) {
                Some(r) => {
                    let level = Level::from_number(inc.level).unwrap_or(Level::Warning);
                    if let Some(server) = memory.server_mut(&inc.host) {
                        server.resources.insert(r, ResourceState::resumed(level, attempts));
                    }
                    Subject::Resource { resource: r, problem: resumed_problem(r, level, &inc.host, &inc.trigger) }
                }
                None => Subject::HostKey,
            };
            memory.open(inc.id, &inc.host, subject, opened_at(inc, now));
        }
        // Check incidents were resumed above (or closed): only what all records share is left.
        let Some(record) = memory.incident_mut(inc.id) else { continue };
        let by = inc.events.iter().rev().find(|e| e.kind == "acknowledged").map(|e| ack_by(&e.detail).to_string());
        // An alert a pause held, not yet released: it still waits for the pause's end.
        let held_at = inc.events.iter().rposition(|e| e.kind == "alert_held");
        let released_at = inc.events.iter().rposition(|e| e.kind == "alert_released");
        if held_at.is_some() && released_at < held_at {
            if let Some(problem) = incident_problem(fleet, inc) {
                let (host, check, level, detected_at) =
                    (inc.host.clone(), inc.check.clone(), inc.level, record.opened_at);
                record.held = Some(Held { host, check, level, problem, detected_at });
            }
        }
        record.acknowledged_by.clone_from(&by);
        if let Some(by) = &by {
            view.set_acknowledged(&inc.host, inc.id, by);
        }
        if anshin_core::check::is_other_incident(&inc.check) {
            let other =
                OtherIncident { id: inc.id, level: inc.level, since: inc.opened_at.clone(), acknowledged_by: by };
            if let Some(h) = view.host_mut(&inc.host) {
                h.other_incidents.insert(inc.check.clone(), other);
            }
            view.refresh_host(&inc.host);
        }
    }
    memory.windows = tx.maintenance_active_or_future(now)?.into_iter().filter_map(Window::new).collect();
    let resumed_open = memory.open_count();
    if start {
        // A recovery the last run left running is not repeated: it is marked interrupted.
        for r in tx.interrupt_running_recoveries(now)? {
            tracing::warn!(host = %r.host, action = %r.action, "a recovery was interrupted by the engine's stop; not repeated");
        }
        tx.append_event(
            "engine_started",
            None,
            None,
            &format!(
                "{} checks, {} resource polls, {resumed_open} open incidents resumed",
                fleet.checks().len(),
                polled.len()
            ),
            now,
        )?;
        tx.commit()?;
    }
    // Reload: the transaction only read; dropping it rolls back nothing.
    Ok(Resumed { memory, view, resumed_open })
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    fn fleet() -> Fleet {
        let toml = r#"
[noc]
mail_from = "noc@example.jp"
[[customer]]
id = "c1"
name = "顧客"
plan = "150"
notify = ["a@example.jp"]
[[server]]
label = "web01"
customer = "c1"
fqdn = "web01.example.jp"
ip = "127.0.0.2"
os = "debian"
services = ["http"]
[[server]]
label = "web02"
customer = "c1"
fqdn = "web02.example.jp"
ip = "127.0.0.3"
os = "debian"
services = ["http"]
"#;
        anshin_core::fleet::parse(toml, "t.toml").unwrap().fleet
    }

    /// web01's resources are polled; web02's are not.
    fn polled() -> Vec<SshTarget> {
        vec![SshTarget {
            host: "web01".into(),
            ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            port: 22,
            user: "anshin".into(),
            key_path: "/nonexistent/key".into(),
            known_hosts: "/nonexistent/known_hosts".into(),
            trust_on_first_use: false,
        }]
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Opens a host-key incident on `host` and returns its id.
    fn host_key_incident(store: &mut Store, host: &str) -> i64 {
        let tx = store.begin().unwrap();
        let trigger = format!("{host} SSH ホスト鍵変更");
        let id = tx
            .open_incident_on(host, HOST_KEY_CHECK, Level::Severe, &trigger, "changed", at("2026-11-25T01:00:00Z"))
            .unwrap();
        tx.commit().unwrap();
        id
    }

    #[test]
    fn host_key_incidents_of_servers_no_longer_polled_are_closed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("log.db")).unwrap();
        let kept = host_key_incident(&mut store, "web01");
        let unpolled = host_key_incident(&mut store, "web02");
        let removed = host_key_incident(&mut store, "gone");
        let now = at("2026-11-25T02:00:00Z");

        // A reload (mid-run) closes nothing: it only reads.
        let r = resume(&fleet(), &polled(), &mut store, now, Mode::Reload).unwrap();
        assert_eq!(r.memory.host_key_incident("web01"), Some(kept));
        assert_eq!(store.incidents(true, 10).unwrap().len(), 3);

        let r = resume(&fleet(), &polled(), &mut store, now, Mode::Start).unwrap();
        assert_eq!(r.resumed_open, 1);
        assert_eq!(r.memory.host_key_incident("web01"), Some(kept));
        assert_eq!(r.memory.host_key_incident("web02"), None);
        let open: Vec<i64> = store.incidents(true, 10).unwrap().iter().map(|i| i.id).collect();
        assert_eq!(open, [kept], "#{unpolled} (not polled) and #{removed} (not in the fleet) are closed");
        let closed = store.incidents(false, 10).unwrap();
        let gone = closed.iter().find(|i| i.id == removed).unwrap();
        assert!(gone.closed_at.is_some());
        assert!(gone.events.iter().any(|e| e.kind == "incident_closed" && e.detail.contains("no longer polled")));
    }

    #[test]
    fn an_incident_whose_opening_time_is_unreadable_is_still_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        let mut store = Store::open(&path).unwrap();
        let id = host_key_incident(&mut store, "web01");
        {
            let tx = store.begin().unwrap();
            let state = tx.incident_state(id).unwrap().unwrap();
            tx.acknowledge(id, &state, "sato", "", at("2026-11-25T01:10:00Z")).unwrap();
            tx.commit().unwrap();
        }
        let edited = rusqlite::Connection::open(&path).unwrap();
        edited.execute("UPDATE incidents SET opened_at = 'yesterday' WHERE id = ?1", [id]).unwrap();
        drop(edited);
        let now = at("2026-11-25T02:00:00Z");
        let r = resume(&fleet(), &polled(), &mut store, now, Mode::Start).unwrap();
        // Remembered (so the next good poll closes it, and a changed key does not open a second
        // one the store would refuse), with its operator, since now.
        assert_eq!(r.resumed_open, 1);
        assert_eq!(r.memory.host_key_incident("web01"), Some(id));
        let record = r.memory.incident(id).unwrap();
        assert_eq!(record.opened_at, now);
        assert_eq!(record.acknowledged_by.as_deref(), Some("sato"));
        let other = &r.view.host("web01").unwrap().other_incidents[HOST_KEY_CHECK];
        assert_eq!(other.acknowledged_by.as_deref(), Some("sato"));
    }
}
