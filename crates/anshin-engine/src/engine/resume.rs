//! The decider's memory read back from the store: at start (after a stop or a crash: open
//! incidents stay open, check states continue their count, who took what, alerts a pause
//! still holds), and after a batch the store refused half-way (what that batch changed in memory
//! is thrown away and read back, so memory never holds what the store lost).
//!
//! Owns: turning stored incidents, check states and maintenance windows into the decider's maps
//! and the consoles' view. At start only: closing incidents the fleet no longer has, marking
//! recoveries the last run left running as interrupted, the `engine_started` entry.
//! Must not know: probes, consoles, transports.

use std::collections::HashMap;

use anshin_core::resource::{Resource, ResourceState};
use anshin_core::{CheckKey, Fleet, Level, Monitor};
use chrono::{DateTime, Utc};

use super::recovery::{Held, Window};
use super::{resumed_problem, EngineError, ResourceTrack, HOST_KEY_CHECK};
use crate::ssh::SshTarget;
use crate::store::acks::ack_by;
use crate::store::{timestamp, Store};
use crate::view::{FleetView, OtherIncident};

/// Why the memory is read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// The engine starts: also tidy what the last run left (and say so in the log).
    Start,
    /// A batch failed half-way: read only, the engine keeps running.
    Reload,
}

/// The decider's memory as the store has it.
pub(super) struct Resumed {
    pub monitor: Monitor,
    pub view: FleetView,
    pub opened_at: HashMap<i64, DateTime<Utc>>,
    pub resources: HashMap<(String, Resource), ResourceTrack>,
    pub host_key_incidents: HashMap<String, i64>,
    pub acks: HashMap<i64, String>,
    pub held: HashMap<i64, Held>,
    pub incident_keys: HashMap<i64, CheckKey>,
    pub windows: Vec<Window>,
    /// Open incidents carried over.
    pub resumed_open: usize,
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
    let mut monitor = Monitor::new(fleet);
    let mut view = FleetView::new(fleet);
    let saved = store.saved_checks()?;
    let open = store.incidents(true, usize::MAX >> 1)?;
    let mut opened_at = HashMap::new();
    let mut resources = HashMap::new();
    let mut host_key_incidents = HashMap::new();
    let mut acks = HashMap::new();
    let mut held = HashMap::new();
    let mut incident_keys = HashMap::new();
    let mut resumed_open = 0;
    for inc in &open {
        if let Ok(t) = DateTime::parse_from_rfc3339(&inc.opened_at) {
            opened_at.insert(inc.id, t.with_timezone(&Utc));
        }
    }
    let tx = store.begin()?;
    let start = mode == Mode::Start;
    for s in saved {
        if monitor.is_known(&s.key) {
            resumed_open += usize::from(s.open_incident.is_some());
            monitor.resume(s.key.clone(), s.state, s.open_incident);
            if let Some(id) = s.open_incident {
                incident_keys.insert(id, s.key.clone());
            }
            if let Some(v) = view.check_mut(&s.key) {
                v.ok = s.state.last_ok;
                v.hard = s.state.hard_down;
                v.failures = s.state.failures;
                v.detail = s.detail.clone();
                v.incident = s.open_incident;
                v.level = s.open_incident.map(|_| s.key.kind.level().number());
                v.since = s.open_incident.and_then(|id| opened_at.get(&id)).map(|t| timestamp(*t));
            }
            view.refresh_host(&s.key.host);
        } else if let (Some(id), true) = (s.open_incident, start) {
            tx.close_incident(id, &s.key, "the check is no longer in the fleet file", now)?;
        }
    }
    for inc in &open {
        if !opened_at.contains_key(&inc.id) {
            continue;
        }
        let by = inc.events.iter().rev().find(|e| e.kind == "acknowledged").map(|e| ack_by(&e.detail).to_string());
        // An alert a pause held, not yet released: it still waits for the pause's end (unless
        // the incident was closed just above).
        let still_open = incident_keys.contains_key(&inc.id)
            || inc.check == HOST_KEY_CHECK
            || (Resource::from_id(&inc.check).is_some() && polled.iter().any(|t| t.host == inc.host));
        let held_at = inc.events.iter().rposition(|e| e.kind == "alert_held");
        let released_at = inc.events.iter().rposition(|e| e.kind == "alert_released");
        if still_open && held_at.is_some() && released_at < held_at {
            if let Some(problem) = crate::reads::incident_problem(fleet, inc) {
                let detected_at = opened_at[&inc.id];
                let h =
                    Held { host: inc.host.clone(), check: inc.check.clone(), level: inc.level, problem, detected_at };
                held.insert(inc.id, h);
            }
        }
        if let Some(by) = &by {
            acks.insert(inc.id, by.clone());
            view.set_acknowledged(&inc.host, inc.id, by);
        }
        let other = OtherIncident { id: inc.id, level: inc.level, since: inc.opened_at.clone(), acknowledged_by: by };
        if inc.check == HOST_KEY_CHECK {
            resumed_open += 1;
            host_key_incidents.insert(inc.host.clone(), inc.id);
            if let Some(h) = view.host_mut(&inc.host) {
                h.other_incidents.insert(HOST_KEY_CHECK.into(), other);
            }
            view.refresh_host(&inc.host);
            continue;
        }
        let Some(r) = Resource::from_id(&inc.check) else { continue };
        let level = Level::from_number(inc.level).unwrap_or(Level::Warning);
        if polled.iter().any(|t| t.host == inc.host) {
            resumed_open += 1;
            let problem = resumed_problem(r, level, &inc.host, &inc.trigger);
            resources.insert(
                (inc.host.clone(), r),
                ResourceTrack { state: ResourceState::resumed(level, attempts), open: Some((inc.id, problem)) },
            );
            if let Some(h) = view.host_mut(&inc.host) {
                h.other_incidents.insert(r.as_str().into(), other);
            }
            view.refresh_host(&inc.host);
        } else if start {
            tx.close_incident_on(inc.id, &inc.host, &inc.check, "resource monitoring no longer applies", now)?;
        }
    }
    let windows: Vec<Window> = tx.maintenance_active_or_future(now)?.into_iter().filter_map(Window::new).collect();
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
    Ok(Resumed {
        monitor,
        view,
        opened_at,
        resources,
        host_key_incidents,
        acks,
        held,
        incident_keys,
        windows,
        resumed_open,
    })
}
