//! The decider's side of recovery and maintenance: whether an open incident is recovered by
//! the engine now (contract §4, through `anshin-core::recovery`), starting a recovery (automatic or
//! an operator's), the prompt an operator sees when the engine does not act — and, an hour after
//! primary recovery work began on a still open incident, the prompt for the phone escalation
//! (contract §9.8; the hour's start is read from the store, so it survives a restart) — and
//! maintenance pauses (alerts held while a server is paused, released when the pause ends).
//!
//! Everything here runs inside the decider's batch transaction; jobs and events take effect
//! after its commit (`Effects`).
//! Must not know: SSH, processes, HTTP (the runner performs), how consoles show a prompt.

use std::collections::HashMap;

use anshin_core::mail::Problem;
use anshin_core::recovery::{self, AutoDecision, PrimaryHour, RecoveryKind, Refusal, Situation};
use anshin_core::{CheckKey, CheckKind};
use chrono::{DateTime, Utc};

use super::decider::{Decider, Effects};
use super::memory::{Held, Subject};
use super::runner::Job;
use super::EngineError;
use crate::action::{ActionError, SpotConsent};
use crate::event::EngineEvent;
use crate::store::maintenance::MaintenanceScope;
use crate::store::outbox::OutboxKind;
use crate::store::recovery::{NewRecovery, RecoveryRecord, StartRecovery};
use crate::store::{timestamp, StoreTx};
use crate::view::{ActionsView, FleetView, MaintenanceView, Prompt, RecoveryView};

/// How often an open incident's automatic recovery is looked at again (hours change, a pause
/// ends, a limit expires).
const LOOK_AGAIN_SECS: i64 = 15;

/// How often the ledger is looked at for due reminders (they are due at a given hour).
const LEDGER_LOOK_SECS: i64 = 60;

impl Decider {
    /// The servers each window pauses at `now`: server label → window id.
    pub(super) fn pauses_at(&self, now: DateTime<Utc>) -> HashMap<String, i64> {
        let mut out = HashMap::new();
        for w in self.memory.windows.iter().filter(|w| w.active(now)) {
            match &w.record.scope {
                MaintenanceScope::Server(s) => {
                    out.entry(s.clone()).or_insert(w.record.id);
                }
                MaintenanceScope::Customer(c) => {
                    for s in self.fleet.servers.iter().filter(|s| &s.customer == c) {
                        out.entry(s.label.clone()).or_insert(w.record.id);
                    }
                }
            }
        }
        out
    }

    pub(super) fn is_paused(&self, host: &str) -> bool {
        self.memory.paused.contains_key(host)
    }

    /// Whether a tick has anything to do (so an idle engine does not open a transaction a second).
    pub(super) fn tick_due(&self, now: DateTime<Utc>) -> bool {
        let pauses = self.pauses_at(now);
        self.memory.next_ledger_look.is_none_or(|t| t <= now)
            || pauses != self.memory.paused
            || self.memory.incidents().any(|(_, i)| {
                i.held.as_ref().is_some_and(|h| !pauses.contains_key(&h.host)) || i.next_look.is_some_and(|t| t <= now)
            })
    }

    /// A tick: pauses that began or ended, and open incidents whose recovery is due a new look.
    pub(super) fn tick(&mut self, tx: &StoreTx<'_>, now: DateTime<Utc>, fx: &mut Effects) -> Result<(), EngineError> {
        self.apply_pauses(tx, now, fx)?;
        if self.memory.next_ledger_look.is_none_or(|t| t <= now) {
            // contract §9.4: remind every console the day before a resource-up and after it.
            for (request, reminder) in tx.due_resource_up_reminders(now)? {
                fx.events.push(EngineEvent::ResourceUpReminder { request, reminder, at: timestamp(now) });
            }
            self.memory.next_ledger_look = Some(now + chrono::Duration::seconds(LEDGER_LOOK_SECS));
        }
        let due: Vec<i64> =
            self.memory.incidents().filter(|(_, i)| i.next_look.is_some_and(|t| t <= now)).map(|(id, _)| id).collect();
        for id in due {
            self.consider(tx, id, now, fx)?;
        }
        Ok(())
    }

    /// Brings `paused` up to date, and mails the held alerts of servers no longer paused (also
    /// those whose pause ended while the engine was stopped). The store is written first, the
    /// decider's memory changed after, so a failed write leaves both as they were.
    pub(super) fn apply_pauses(
        &mut self,
        tx: &StoreTx<'_>,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        let pauses = self.pauses_at(now);
        let mut released: Vec<i64> = self
            .memory
            .incidents()
            .filter(|(_, i)| i.held.as_ref().is_some_and(|h| !pauses.contains_key(&h.host)))
            .map(|(id, _)| id)
            .collect();
        released.sort_unstable();
        let mut events = Vec::new();
        let mut mailed = false;
        for id in &released {
            let Some(h) = self.memory.incident(*id).and_then(|i| i.held.as_ref()) else { continue };
            let trigger = h.problem.trigger(&h.host);
            tx.append_event_by("alert_released", Some(*id), Some(&h.host), Some(&h.check), &trigger, "engine", now)?;
            if let Some(mail) = self.mailer.released_alert(&h.host, *id, &h.problem, h.detected_at, now) {
                tx.enqueue_mail(&mail, now)?;
                mailed = true;
            }
            events.push(EngineEvent::AlertReleased {
                id: *id,
                host: h.host.clone(),
                check: h.check.clone(),
                level: h.level,
                trigger,
                at: timestamp(now),
            });
        }
        for host in self.memory.paused.keys().chain(pauses.keys()) {
            if self.memory.paused.get(host) != pauses.get(host) {
                fx.hosts.insert(host.clone());
            }
        }
        self.memory.paused = pauses;
        self.memory.windows.retain(|w| w.ends > now);
        for id in released {
            if let Some(i) = self.memory.incident_mut(id) {
                i.held = None;
                if matches!(i.subject, Subject::Check(_)) {
                    i.next_look = Some(now);
                }
            }
        }
        fx.mail |= mailed;
        fx.events.extend(events);
        Ok(())
    }

    /// Mails an alert, or holds it while the server is paused (logged, so a restart keeps it).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn alert_or_hold(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        check: &str,
        id: i64,
        level: u8,
        problem: &Problem,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<bool, EngineError> {
        if self.is_paused(host) {
            let detected_at = self.memory.opened_at(id).unwrap_or(now);
            let held = Held { host: host.into(), check: check.into(), level, problem: problem.clone(), detected_at };
            let first = self.memory.incident_mut(id).is_none_or(|i| i.held.replace(held).is_none());
            if first {
                tx.append_event_by(
                    "alert_held",
                    Some(id),
                    Some(host),
                    Some(check),
                    "maintenance pause",
                    "engine",
                    now,
                )?;
            }
            return Ok(true);
        }
        if let Some(mail) = self.mailer.alert(host, id, problem, now) {
            tx.enqueue_mail(&mail, now)?;
            fx.mail = true;
        }
        Ok(false)
    }

    /// Looks at an open check incident: starts its automatic recovery, or tells the operator
    /// why not (and when to look again).
    pub(super) fn consider(
        &mut self,
        tx: &StoreTx<'_>,
        id: i64,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        let Some(record) = self.memory.incident_mut(id) else { return Ok(()) };
        record.next_look = None;
        let (Some(key), opened) = (record.check_key(), record.opened_at) else { return Ok(()) };
        let Some(kind) = RecoveryKind::for_check(&key.kind) else { return Ok(()) };
        let Some(server) = self.fleet.server(&key.host) else { return Ok(()) };
        if self.memory.running(&key.host).is_some() {
            // Whatever runs now may fix it; look again once it ended.
            self.look_again(id, now + chrono::Duration::seconds(LOOK_AGAIN_SECS));
            return Ok(());
        }
        let first_failure = self.memory.server(&key.host).and_then(|s| s.failing_since.get(&key.kind).copied());
        let failing_since = recovery::problem_began(first_failure, opened);
        let reboots = match kind {
            RecoveryKind::Reboot => tx.automatic_restarts_since(&key.host, &kind.id(), failing_since)?,
            RecoveryKind::RestartService(_) => 0,
        };
        let attempts = recovery::attempts_counted(&kind, tx.automatic_attempts(id)?, reboots);
        let restarts_24h = match kind {
            RecoveryKind::RestartService(_) => {
                tx.automatic_restarts_since(&key.host, &kind.id(), now - chrono::Duration::hours(24))?
            }
            RecoveryKind::Reboot => 0,
        };
        let situation = Situation {
            plan: self.fleet.plan_of_at(server, now),
            kind: kind.clone(),
            now,
            failing_since,
            reboot_after_secs: self.fleet.noc.reboot_after_secs,
            automatic_attempts: attempts,
            automatic_restarts_24h: restarts_24h,
            paused: self.is_paused(&key.host),
            watchdog_until: server
                .plesk
                .then(|| opened + chrono::Duration::seconds(self.fleet.noc.interval_secs.min(86_400) as i64)),
        };
        let has_access = match kind {
            RecoveryKind::Reboot => server.reboot.is_some(),
            RecoveryKind::RestartService(_) => server.ssh.is_some(),
        };
        // contract §9.8: an hour after the work began, the phone escalation is what to do next;
        // it takes the place of any other prompt.
        let hour = recovery::primary_hour(situation.plan, tx.primary_recovery_began(id)?, now);
        let escalation = escalation_prompt(hour);
        let prompt = |code: &str, message: String, at: Option<DateTime<Utc>>| {
            escalation.clone().unwrap_or_else(|| Prompt {
                action: kind.id(),
                code: code.into(),
                message,
                at: at.map(timestamp),
            })
        };
        match recovery::decide_automatic(&situation) {
            AutoDecision::Run if !has_access => {
                let what = match kind {
                    RecoveryKind::Reboot => "no reboot action in the fleet file",
                    RecoveryKind::RestartService(_) => "no SSH access in the fleet file",
                };
                self.set_prompt(
                    tx,
                    id,
                    &key,
                    Some(prompt("no_access", format!("{what}: recover by hand"), None)),
                    now,
                    fx,
                )?;
            }
            AutoDecision::Run => {
                let by = match kind {
                    RecoveryKind::Reboot => "rule:auto-reboot",
                    RecoveryKind::RestartService(_) => "rule:auto-restart",
                };
                let check = key.kind.clone();
                match self.start_recovery(tx, &key.host, Some(id), kind.clone(), check, by, true, None, now, fx)? {
                    StartRecovery::Started(_) => self.set_prompt(tx, id, &key, None, now, fx)?,
                    StartRecovery::Busy(_) => {
                        self.look_again(id, now + chrono::Duration::seconds(LOOK_AGAIN_SECS));
                    }
                }
            }
            AutoDecision::WaitForWatchdog { until } => {
                let message = format!(
                    "Plesk's watchdog restarts the service itself: the NOC restarts it at {} if still down",
                    anshin_core::mail::format_jst(until)
                );
                self.set_prompt(tx, id, &key, Some(prompt("watchdog", message, Some(until))), now, fx)?;
                self.look_again(id, until.min(now + chrono::Duration::seconds(LOOK_AGAIN_SECS)));
            }
            AutoDecision::Wait { until } => {
                let message = format!("automatic reboot at {} if still down", anshin_core::mail::format_jst(until));
                self.set_prompt(tx, id, &key, Some(prompt("waiting", message, Some(until))), now, fx)?;
                self.look_again(id, until.min(now + chrono::Duration::seconds(LOOK_AGAIN_SECS)));
            }
            AutoDecision::AskOperator(refusal) => {
                let (message, at) = match refusal {
                    // The plan includes it in hours: the engine does it then, if still needed.
                    Refusal::OutsideHours => {
                        let from = anshin_core::calendar::next_business_hours_start(now);
                        let text = format!(
                            "{}; automatic from {} (JST) if still down",
                            refusal.message(),
                            anshin_core::mail::format_jst(from)
                        );
                        (text, Some(from))
                    }
                    _ => (refusal.message().into(), None),
                };
                self.set_prompt(tx, id, &key, Some(prompt(refusal.code(), message, at)), now, fx)?;
                // Hours, pauses and the 24-hour limit change with time; the plan and a done
                // attempt do not.
                if !matches!(refusal, Refusal::AlreadyTried | Refusal::NotInPlan) {
                    self.look_again(id, now + chrono::Duration::seconds(LOOK_AGAIN_SECS));
                }
            }
        }
        if let PrimaryHour::Running { ends } = hour {
            if let Some(i) = self.memory.incident_mut(id) {
                i.next_look = Some(i.next_look.map_or(ends, |t| t.min(ends)));
            }
        }
        Ok(())
    }

    /// When to look at an open check incident's automatic recovery again.
    fn look_again(&mut self, id: i64, at: DateTime<Utc>) {
        if let Some(i) = self.memory.incident_mut(id) {
            i.next_look = Some(at);
        }
    }

    /// Records a new prompt for an incident (logged and sent only when it changed).
    fn set_prompt(
        &mut self,
        tx: &StoreTx<'_>,
        id: i64,
        key: &CheckKey,
        prompt: Option<Prompt>,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        let before = self.memory.incident(id).and_then(|i| i.prompt.as_ref());
        let same = match (&prompt, before) {
            (Some(p), Some(b)) => p.code == b.code && (p.code != "waiting" || p.message == b.message),
            (None, None) => true,
            _ => false,
        };
        if same {
            return Ok(());
        }
        if let Some(p) = &prompt {
            if p.code != "waiting" {
                tx.recovery_needs_operator(id, &key.host, &key.kind.id(), &p.action, &p.code, now)?;
            }
        }
        if let Some(i) = self.memory.incident_mut(id) {
            i.prompt.clone_from(&prompt);
        }
        fx.hosts.insert(key.host.clone());
        fx.events.push(EngineEvent::RecoveryPrompt {
            incident: id,
            host: key.host.clone(),
            prompt,
            at: timestamp(now),
        });
        Ok(())
    }

    /// Records a recovery and queues its job; the store refuses a second running recovery of
    /// one server. The 対応開始 mail waits for the runner's word that it acts
    /// ([`Decider::recovery_acting`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_recovery(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        incident: Option<i64>,
        kind: RecoveryKind,
        check: CheckKind,
        by: &str,
        automatic: bool,
        billable_yen: Option<u32>,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<StartRecovery, EngineError> {
        let new = NewRecovery {
            host: host.into(),
            incident_id: incident,
            action: kind.id(),
            requested_by: by.into(),
            automatic,
            billable_yen,
        };
        let started = tx.start_recovery(&new, now)?;
        let StartRecovery::Started(rec) = &started else { return Ok(started) };
        if let Some(server) = self.memory.server_mut(host) {
            server.running = Some(rec.clone());
        }
        fx.hosts.insert(host.to_string());
        fx.jobs.push(Job { id: rec.id, host: host.into(), kind, check, reconfirm: automatic });
        fx.events.push(EngineEvent::RecoveryStarted {
            id: rec.id,
            host: host.into(),
            incident_id: incident,
            action: rec.action.clone(),
            by: by.into(),
            automatic,
            at: timestamp(now),
        });
        Ok(started)
    }

    /// The runner confirmed the problem and acts: logged (`recovery_acting`, the start of the
    /// hour of primary recovery), and the customer gets the 対応開始 mail, once per incident,
    /// unless the server is paused.
    pub(super) fn recovery_acting(
        &mut self,
        tx: &StoreTx<'_>,
        id: i64,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        let Some(rec) = self.memory.running_by_id(id).cloned() else { return Ok(()) };
        let Some(incident) = rec.incident_id else { return Ok(()) };
        let Some(key) = self.memory.check_of(incident) else { return Ok(()) };
        // 対応開始: the hour of primary recovery counts from the first (contract §9.8).
        tx.recovery_acting(&rec, now)?;
        if self.is_paused(&rec.host) || tx.mails_about(incident, OutboxKind::ResponseStarted)? > 0 {
            return Ok(());
        }
        let problem = self.check_problem(&key);
        let detected_at = self.memory.opened_at(incident).unwrap_or(now);
        if let Some(mail) = self.mailer.response_started(&rec.host, incident, &problem, detected_at, now) {
            tx.enqueue_mail(&mail, now)?;
            fx.mail = true;
        }
        Ok(())
    }

    /// An operator's recovery: allowed by the plan now, or billable spot work with the
    /// customer's consent; refused with the reason otherwise.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn operator_recovery(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        incident: Option<i64>,
        kind: RecoveryKind,
        check: CheckKind,
        consent: Option<SpotConsent>,
        by: &str,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<Result<RecoveryRecord, ActionError>, EngineError> {
        let Some(server) = self.fleet.server(host) else {
            return Ok(Err(ActionError::NotFound(format!("server {host}"))));
        };
        let plan = self.fleet.plan_of_at(server, now);
        // The reboot security updates need, with no ping/SSH incident: part of the update
        // service (contract §8), not a recovery to bill.
        let after_update = kind == RecoveryKind::Reboot && incident.is_none() && self.update_reboot_due(host, now);
        let entitlement =
            if after_update { recovery::Entitlement::Included } else { recovery::entitlement(plan, &kind, now) };
        let billable = match entitlement {
            recovery::Entitlement::Included => None,
            recovery::Entitlement::Spot => match consent {
                Some(c) if c.amount_yen >= recovery::SPOT_MIN_YEN && !c.customer_person.trim().is_empty() => {
                    Some(c.amount_yen)
                }
                _ => {
                    return Ok(Err(ActionError::NeedsConsent(format!(
                        "plan {plan} includes {} now only as billable spot work ({} yen and up): record the customer's consent (who agreed, the amount) first",
                        kind.id(),
                        recovery::SPOT_MIN_YEN
                    ))))
                }
            },
            recovery::Entitlement::NotIncluded(r) => {
                return Ok(Err(ActionError::NotIncluded(format!("plan {plan}: {} ({})", r.message(), kind.id()))))
            }
        };
        let missing = match kind {
            RecoveryKind::Reboot if server.reboot.is_none() => Some("no reboot action in the fleet file"),
            RecoveryKind::RestartService(_) if server.ssh.is_none() => Some("no SSH access in the fleet file"),
            _ => None,
        };
        if let Some(m) = missing {
            return Ok(Err(ActionError::NoAction(format!("{host}: {m}"))));
        }
        Ok(match self.start_recovery(tx, host, incident, kind, check, by, false, billable, now, fx)? {
            StartRecovery::Started(rec) => Ok(rec),
            StartRecovery::Busy(rec) => Err(ActionError::Busy(Box::new(rec))),
        })
    }

    /// A recovery's outcome from the runner: recorded, and its incident looked at again.
    pub(super) fn recovery_done(
        &mut self,
        tx: &StoreTx<'_>,
        id: i64,
        outcome: &str,
        detail: &str,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        let Some(rec) = tx.finish_recovery(id, outcome, detail, now)? else { return Ok(()) };
        if let Some(server) = self.memory.server_mut(&rec.host) {
            server.running = None;
        }
        fx.hosts.insert(rec.host.clone());
        if let Some(incident) = rec.incident_id.filter(|i| self.memory.check_of(*i).is_some()) {
            // After a recovery that worked (or found nothing to do) the probes close the incident
            // within a cycle: look again only after that, not to prompt in between.
            let wait = match outcome {
                "recovered" | "already_up" => {
                    chrono::Duration::seconds((self.fleet.noc.interval_secs + self.fleet.noc.timeout_secs + 1) as i64)
                }
                _ => chrono::Duration::zero(),
            };
            self.look_again(incident, now + wait);
        }
        fx.events.push(EngineEvent::RecoveryFinished {
            id,
            host: rec.host.clone(),
            incident_id: rec.incident_id,
            action: rec.action.clone(),
            outcome: outcome.into(),
            detail: detail.into(),
            at: timestamp(now),
        });
        Ok(())
    }

    /// The problem of a check incident, as its mails name it.
    pub(super) fn check_problem(&self, key: &CheckKey) -> Problem {
        Problem::Down { kind: key.kind.clone(), port: self.mailer.port_of(&key.host, &key.kind) }
    }

    /// Paints a host's pause, running recovery and prompts into the consoles' view.
    pub(super) fn paint(&self, v: &mut FleetView, host: &str) {
        let Some(h) = v.host_mut(host) else { return };
        h.maintenance =
            self.memory.paused.get(host).and_then(|id| self.memory.windows.iter().find(|w| w.record.id == *id)).map(
                |w| MaintenanceView {
                    id: w.record.id,
                    until: Some(w.record.ends_at.clone()),
                    reason: w.record.reason.clone(),
                    by: w.record.who.clone(),
                },
            );
        if let Some(server) = self.fleet.server(host) {
            h.actions = ActionsView::of(&self.fleet, server, self.clock.now(), self.memory.running(host).is_some());
        }
        h.recovery = self.memory.running(host).map(|r| RecoveryView {
            id: r.id,
            incident_id: r.incident_id,
            action: r.action.clone(),
            requested_by: r.requested_by.clone(),
            automatic: r.automatic,
            started_at: r.started_at.clone(),
        });
        for c in &mut h.checks {
            c.prompt = c.incident.and_then(|id| self.memory.incident(id)?.prompt.clone());
        }
        // The backup incident and badge (judged by `judge_backups`).
        let backup_check = anshin_core::backup::CHECK_ID;
        match self.memory.backup_incident(host) {
            Some((id, level)) => {
                h.other_incidents.insert(backup_check.into(), self.memory.other_incident(id, level.number()));
            }
            None => {
                h.other_incidents.remove(backup_check);
            }
        }
        if let Some(b) = &mut h.backup {
            b.attention = self.backups.attention(host);
        }
        h.updates = self.updates_view(host, self.clock.now());
        v.refresh_host(host);
    }
}

/// The prompt of the hour of primary recovery once it ended (contract §9.8): the phone
/// escalation (`escalate`), or on a plan without it `escalation_not_included`; `at` is when the
/// hour ended. None while the hour runs or no work began.
fn escalation_prompt(hour: PrimaryHour) -> Option<Prompt> {
    let (code, at) = match hour {
        PrimaryHour::Escalate { at } | PrimaryHour::NotIncluded { at } => (hour.code()?, at),
        PrimaryHour::NotStarted | PrimaryHour::Running { .. } => return None,
    };
    let message = match hour {
        PrimaryHour::Escalate { .. } => format!(
            "an hour of primary recovery since {} without recovery: start the phone escalation",
            anshin_core::mail::format_jst(at - chrono::Duration::seconds(recovery::PRIMARY_RECOVERY_SECS))
        ),
        _ => "an hour of primary recovery without recovery; the plan includes no phone escalation".to_string(),
    };
    Some(Prompt { action: "phone".into(), code: code.into(), message, at: Some(timestamp(at)) })
}
