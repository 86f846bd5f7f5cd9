//! The decider's side of resource polls (contract §3): a changed SSH host key opens a security
//! incident, closed when a poll goes through again; each sample's readings are kept as history
//! and judged three in a row (`anshin-core::resource`), which raises, lowers or closes the
//! resource's incident; each rise mails once (or is held by a pause), and a close mails the
//! recovery unless its alert was held.
//!
//! Everything here runs inside the decider's batch transaction; events take effect after its
//! commit (`Effects`).
//! Must not know: SSH, the poll command and its parsing (done before the sample gets here),
//! consoles.

use anshin_core::mail::Problem;
use anshin_core::resource::{Reading, Resource, ResourceSample, ResourceTransition};
use anshin_core::Level;
use chrono::{DateTime, Utc};

use super::decider::{Decider, Effects};
use super::memory::Subject;
use super::{EngineError, PollError, HOST_KEY_CHECK};
use crate::event::EngineEvent;
use crate::problem::metric;
use crate::store::{timestamp, StoreTx};

/// A host-key incident's level: Lv.4, for the NOC only (no customer mail).
const HOST_KEY_LEVEL: Level = Level::Severe;

impl Decider {
    /// One poll of a server's resources: its host key, then each reading of its sample.
    pub(super) fn resources(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        poll: &Result<ResourceSample, PollError>,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        // A poll of a server that left the fleet (or is no longer polled) on its way in.
        if !self.tasks.polls(host) {
            return Ok(());
        }
        let sample = match poll {
            Err(PollError { message, security: true }) => return self.host_key_changed(tx, host, message, now, fx),
            Err(_) => return Ok(()),
            Ok(sample) => sample,
        };
        self.host_key_matches(tx, host, now, fx)?;
        if !self.memory.monitor.takes_resource_samples(host) {
            return Ok(());
        }
        let cpus = sample.cpus.clone().unwrap_or(1);
        // The CPU count beside the load, so history can show load per CPU (the monthly report).
        if let Ok(n) = &sample.cpus {
            if self.slow_readings.keep(host, "cpus", f64::from(*n), now) {
                tx.add_sample(host, "cpus", f64::from(*n), now)?;
            }
        }
        for r in Resource::ALL {
            // No reading (no MTA) or an unreadable one: nothing to judge this time.
            let Ok(Some(reading)) = sample.reading(r) else { continue };
            if self.slow_readings.keep(host, r.as_str(), reading.value, now) {
                tx.add_sample(host, r.as_str(), reading.value, now)?;
            }
            let level = sample.level(r).ok().flatten();
            self.judge_resource(tx, host, &reading, level, cpus, now, fx)?;
        }
        Ok(())
    }

    /// The server's host key changed (or was revoked): the SSH layer refuses this server from now
    /// on (no silent acceptance) and the NOC must look. One incident until it matches again.
    fn host_key_changed(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        message: &str,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        if self.memory.host_key_incident(host).is_some() {
            return Ok(());
        }
        let trigger = host_key_trigger(host);
        let id = tx.open_incident_on(host, HOST_KEY_CHECK, HOST_KEY_LEVEL, &trigger, message, now)?;
        self.memory.open(id, host, Subject::HostKey, now);
        fx.events.push(EngineEvent::IncidentOpened {
            id,
            host: host.into(),
            check: HOST_KEY_CHECK.into(),
            level: HOST_KEY_LEVEL.number(),
            trigger,
            at: timestamp(now),
            paused: false,
        });
        Ok(())
    }

    /// A poll went through: the operator has fixed known_hosts, the host-key incident closes.
    fn host_key_matches(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        let Some(id) = self.memory.host_key_incident(host) else { return Ok(()) };
        tx.close_incident_on(id, host, HOST_KEY_CHECK, "the pinned host key matches again", now)?;
        self.memory.close(id);
        fx.events.push(EngineEvent::IncidentClosed {
            id,
            host: host.into(),
            check: HOST_KEY_CHECK.into(),
            level: HOST_KEY_LEVEL.number(),
            trigger: host_key_trigger(host),
            at: timestamp(now),
            reason: None,
        });
        Ok(())
    }

    /// One reading judged three in a row: its incident raised, lowered or closed.
    #[allow(clippy::too_many_arguments)]
    fn judge_resource(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        reading: &Reading,
        level: Option<Level>,
        cpus: u32,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        let (attempts, r) = (self.fleet.noc.attempts, reading.resource);
        let Some(server) = self.memory.server_mut(host) else { return Ok(()) };
        let state = server.resources.entry(r).or_default();
        let (next, transition) = state.observe(level, attempts);
        *state = next;
        match transition {
            ResourceTransition::Unchanged => Ok(()),
            ResourceTransition::Raised { to, .. } => {
                self.raise_resource(tx, host, reading, to, resource_problem(reading, to, cpus), now, fx)
            }
            ResourceTransition::Lowered { to: Some(to), .. } => {
                self.lower_resource(tx, host, r, to, &resource_problem(reading, to, cpus), now, fx)
            }
            ResourceTransition::Lowered { to: None, from } => self.close_resource(tx, host, reading, from, now, fx),
        }
    }

    /// The resource rose: its incident opens, or its level rises; each rise mails once (contract
    /// §2), its time the rise.
    #[allow(clippy::too_many_arguments)]
    fn raise_resource(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        reading: &Reading,
        to: Level,
        problem: Problem,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        let (r, check) = (reading.resource, reading.resource.as_str());
        let trigger = problem.trigger(host);
        let (paused, at) = (self.is_paused(host), timestamp(now));
        let id = match self.memory.resource_incident(host, r) {
            Some(id) => {
                tx.change_incident_level(id, host, check, to, &trigger, true, now)?;
                if let Some(open) = self.memory.incident_mut(id) {
                    open.subject = Subject::Resource { resource: r, problem: problem.clone() };
                }
                let (host, check, level) = (host.into(), check.into(), to.number());
                fx.events.push(EngineEvent::IncidentLevelChanged { id, host, check, level, trigger, at, paused });
                id
            }
            None => {
                let id = tx.open_incident_on(host, check, to, &trigger, &reading.text, now)?;
                self.memory.open(id, host, Subject::Resource { resource: r, problem: problem.clone() }, now);
                let (host, check, level) = (host.into(), check.into(), to.number());
                fx.events.push(EngineEvent::IncidentOpened { id, host, check, level, trigger, at, paused });
                id
            }
        };
        self.alert_or_hold(tx, host, check, id, to.number(), &problem, now, fx)?;
        Ok(())
    }

    /// The resource fell to a lower level that still alerts: its incident says so (no mail).
    #[allow(clippy::too_many_arguments)]
    fn lower_resource(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        r: Resource,
        to: Level,
        problem: &Problem,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        let Some(id) = self.memory.resource_incident(host, r) else { return Ok(()) };
        let trigger = problem.trigger(host);
        tx.change_incident_level(id, host, r.as_str(), to, &trigger, false, now)?;
        fx.events.push(EngineEvent::IncidentLevelChanged {
            id,
            host: host.into(),
            check: r.as_str().into(),
            level: to.number(),
            trigger,
            at: timestamp(now),
            paused: self.is_paused(host),
        });
        Ok(())
    }

    /// The resource is back under every threshold: its incident closes, and the customer gets
    /// the recovery mail unless its alert was held (never sent).
    fn close_resource(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        reading: &Reading,
        from: Level,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        let (r, check) = (reading.resource, reading.resource.as_str());
        let Some(id) = self.memory.resource_incident(host, r) else { return Ok(()) };
        tx.close_incident_on(id, host, check, &reading.text, now)?;
        let Some(closed) = self.memory.close(id) else { return Ok(()) };
        let Subject::Resource { problem, .. } = &closed.subject else { return Ok(()) };
        fx.events.push(EngineEvent::IncidentClosed {
            id,
            host: host.into(),
            check: check.into(),
            level: from.number(),
            trigger: problem.trigger(host),
            at: timestamp(now),
            reason: None,
        });
        if closed.held.is_none() {
            let value = Some(reading.text.clone());
            if let Some(mail) = self.mailer.recovery(host, id, problem, closed.opened_at, now, value) {
                tx.enqueue_mail(&mail, now)?;
                fx.mail = true;
            }
        }
        Ok(())
    }
}

/// The trigger of a host-key incident.
fn host_key_trigger(host: &str) -> String {
    format!("{host} SSH ホスト鍵変更")
}

/// What a resource's mails name at `level`.
fn resource_problem(reading: &Reading, level: Level, cpus: u32) -> Problem {
    let r = reading.resource;
    Problem::Resource {
        metric: metric(r),
        level,
        fragment: r.subject_fragment(level, cpus, &reading.text),
        item: r.item_name().into(),
        value: reading.text.clone(),
    }
}
