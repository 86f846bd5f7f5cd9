//! The decider's answers to console actions (docs/console-actions.md): each request is checked
//! against the store inside the batch's transaction, recorded (with the operator as the audit
//! log's actor), and answered after the commit.
//!
//! Must not know: transports (the API and the desktop carry `ActionRequest`s here).

use anshin_core::calendar::jst_at;
use anshin_core::contract::parse_day;
use anshin_core::ledger::LedgerRefusal;
use anshin_core::mail::{MailKind, RecoveryAction};
use anshin_core::recovery::{ChargeCause, RecoveryKind};
use anshin_core::{CheckKey, CheckKind, Service};
use chrono::{DateTime, Utc};

use super::decider::{Decider, Effects};
use super::memory::Window;
use super::EngineError;
use crate::action::{
    Acknowledged, ActionDone, ActionError, ActionRequest, NetworkWork, NoteAdded, PauseScope, StatusReportQueued,
};
use crate::event::EngineEvent;
use crate::store::acks::IncidentState;
use crate::store::ledger::{LedgerError, NewConfigWork, NewResourceUp};
use crate::store::maintenance::{MaintenanceError, MaintenanceRecord, MaintenanceScope, NewMaintenance};
use crate::store::recovery::{ConsentError, NewCall, NewConsent};
use crate::store::{timestamp, IncidentRecord, StoreTx};

/// Call outcomes an operator may log.
const CALL_OUTCOMES: [&str; 4] = ["answered", "no_answer", "busy", "voicemail"];
/// Rings one may log for a call (the default is 10).
const MAX_RINGS: u32 = 60;
/// Longest note, call note or reason kept (characters).
const MAX_TEXT: usize = 4000;
/// Longest name of a person (who answered, who agreed).
const MAX_NAME: usize = 100;
/// Longest pause one request may set (a maintenance, not a way to switch monitoring off).
const MAX_PAUSE_DAYS: i64 = 31;
/// How far ahead a pause may be scheduled.
const MAX_SCHEDULE_DAYS: i64 = 366;

type Answer = Result<ActionDone, ActionError>;

impl Decider {
    /// Decides one console request. `Err` only for a store failure (the batch rolls back).
    pub(super) fn act(
        &mut self,
        tx: &StoreTx<'_>,
        request: ActionRequest,
        by: &str,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<Answer, EngineError> {
        let at = timestamp(now);
        Ok(match request {
            ActionRequest::Acknowledge { incident, note } => {
                if note.chars().count() > MAX_TEXT {
                    return Ok(Err(invalid(format!("a note may have at most {MAX_TEXT} characters"))));
                }
                self.acknowledge(tx, incident, by, note, now, fx)?
            }
            ActionRequest::Note { incident, text } => {
                let text = text.trim().to_string();
                if text.is_empty() || text.chars().count() > MAX_TEXT {
                    return Ok(Err(invalid(format!("a note needs 1 to {MAX_TEXT} characters"))));
                }
                let inc = match brief(tx, incident)? {
                    Ok(i) => i,
                    Err(e) => return Ok(Err(e)),
                };
                tx.add_note(incident, &inc.host, &inc.check, &text, by, now)?;
                fx.events.push(EngineEvent::NoteAdded {
                    incident,
                    host: inc.host,
                    by: by.into(),
                    text: text.clone(),
                    at: at.clone(),
                });
                Ok(ActionDone::Note(NoteAdded { incident, by: by.into(), text, at }))
            }
            ActionRequest::Recover { incident, consent } => {
                let inc = match open_incident(tx, incident)? {
                    Ok(i) => i,
                    Err(e) => return Ok(Err(e)),
                };
                let check = CheckKind::from_id(&inc.check);
                let kind = check.as_ref().and_then(RecoveryKind::for_check);
                let (Some(kind), Some(check)) = (kind, check) else {
                    return Ok(Err(ActionError::NoAction(format!(
                        "incident #{incident} ({}) has no recovery action: investigate by hand",
                        inc.check
                    ))));
                };
                self.operator_recovery(tx, &inc.host, Some(incident), kind, check, consent, by, now, fx)?
                    .map(ActionDone::Recover)
            }
            ActionRequest::Reboot { host, consent } => {
                let open = self.open_incident_of(&host, &[CheckKind::Ping, CheckKind::Ssh]);
                let (incident, check) = open.map_or((None, CheckKind::Ping), |(id, k)| (Some(id), k));
                self.operator_recovery(tx, &host, incident, RecoveryKind::Reboot, check, consent, by, now, fx)?
                    .map(ActionDone::Reboot)
            }
            ActionRequest::Restart { host, service, consent } => {
                let Ok(svc) = service.parse::<Service>() else {
                    return Ok(Err(invalid(format!("unknown service \"{service}\""))));
                };
                if !self.fleet.server(&host).is_some_and(|s| s.services.contains(&svc)) {
                    return Ok(Err(ActionError::NotFound(format!("service {service} on {host}"))));
                }
                let incident = self.open_incident_of(&host, &[CheckKind::Service(svc)]).map(|(id, _)| id);
                let (kind, check) = (RecoveryKind::RestartService(svc), CheckKind::Service(svc));
                self.operator_recovery(tx, &host, incident, kind, check, consent, by, now, fx)?.map(ActionDone::Restart)
            }
            ActionRequest::LogCall { incident, number, started_at, rings, outcome, answered_by, notes } => {
                let inc = match brief(tx, incident)? {
                    Ok(i) => i,
                    Err(e) => return Ok(Err(e)),
                };
                // contract §9.9: the phone escalation belongs to the plans that include the call.
                let plan = self.fleet.server(&inc.host).map(|s| self.fleet.plan_of_at(s, now));
                if let Some(plan) = plan.filter(|p| !p.phone_call()) {
                    return Ok(Err(ActionError::NotIncluded(format!(
                        "the customer's plan ({plan}) includes no phone escalation: the NOC does not call"
                    ))));
                }
                let number = number.trim().to_string();
                if number.is_empty() || number.len() > 40 || number.chars().any(char::is_control) {
                    return Ok(Err(invalid("the number called is missing or not a phone number")));
                }
                if !CALL_OUTCOMES.contains(&outcome.as_str()) {
                    return Ok(Err(invalid(format!("outcome must be one of {}", CALL_OUTCOMES.join(", ")))));
                }
                let rings = rings.unwrap_or(10);
                if rings > MAX_RINGS || notes.chars().count() > MAX_TEXT {
                    return Ok(Err(invalid(format!("rings at most {MAX_RINGS}, notes at most {MAX_TEXT} characters"))));
                }
                let answered_by = answered_by.map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
                if answered_by.as_ref().is_some_and(|a| a.chars().count() > MAX_NAME) {
                    return Ok(Err(invalid(format!("who answered: at most {MAX_NAME} characters"))));
                }
                let call = NewCall {
                    incident_id: incident,
                    host: inc.host.clone(),
                    number,
                    started_at: started_at.unwrap_or(now).min(now),
                    rings,
                    outcome,
                    answered_by,
                    notes,
                    operator: by.into(),
                };
                let record = tx.log_call(&call, now)?;
                fx.events.push(EngineEvent::CallLogged { incident, host: inc.host, call: record.clone() });
                Ok(ActionDone::LogCall(record))
            }
            ActionRequest::Consent { incident, kind, amount_yen, customer_person, note, cause } => {
                let inc = match brief(tx, incident)? {
                    Ok(i) => i,
                    Err(e) => return Ok(Err(e)),
                };
                if !matches!(kind.as_str(), "investigation" | "spot_recovery") {
                    return Ok(Err(invalid("kind must be investigation or spot_recovery")));
                }
                // contract §9.8: every consent records why the charge arose.
                let Some(cause) = ChargeCause::from_id(&cause) else {
                    return Ok(Err(invalid(format!("cause must be one of {}", ChargeCause::ids()))));
                };
                if customer_person.chars().count() > MAX_NAME || note.chars().count() > MAX_TEXT {
                    return Ok(Err(invalid(format!(
                        "who agreed: at most {MAX_NAME} characters; note: at most {MAX_TEXT}"
                    ))));
                }
                if customer_person.trim().is_empty() || amount_yen == 0 {
                    return Ok(Err(invalid("a consent needs who agreed (the customer's person) and an amount")));
                }
                let consent = NewConsent {
                    incident_id: incident,
                    host: inc.host,
                    kind,
                    amount_yen,
                    customer_person: customer_person.trim().into(),
                    note,
                    operator: by.into(),
                    cause,
                };
                match tx.add_consent(&consent, now) {
                    Ok(record) => Ok(ActionDone::Consent(record)),
                    Err(ConsentError::Store(e)) => return Err(e.into()),
                    Err(e @ ConsentError::NeedsCall { .. }) => Err(ActionError::NeedsCall(e.to_string())),
                    Err(e @ ConsentError::TooSmall) => Err(invalid(e.to_string())),
                }
            }
            ActionRequest::StatusReport { incident, subject, body } => {
                let inc = match brief(tx, incident)? {
                    Ok(i) => i,
                    Err(e) => return Ok(Err(e)),
                };
                let mail = match self.mailer.status_report(&inc.host, incident, &subject, &body) {
                    Ok(m) => m,
                    Err(e) => return Ok(Err(invalid(e))),
                };
                let outbox_id = tx.enqueue_mail(&mail, now)?;
                tx.record_status_report(incident, &inc.host, outbox_id, by, now)?;
                fx.mail = true;
                fx.events.push(EngineEvent::StatusReportQueued {
                    incident,
                    host: inc.host,
                    by: by.into(),
                    at: at.clone(),
                });
                Ok(ActionDone::StatusReport(StatusReportQueued { incident, outbox_id, at }))
            }
            ActionRequest::Pause { scope, starts_at, ends_at, minutes, reason } => {
                let scope = match self.scope(&scope) {
                    Ok(s) => s,
                    Err(e) => return Ok(Err(e)),
                };
                let starts = starts_at.unwrap_or(now).max(now - chrono::Duration::minutes(1));
                if starts > now + chrono::Duration::days(MAX_SCHEDULE_DAYS) {
                    return Ok(Err(invalid(format!("a pause may start at most {MAX_SCHEDULE_DAYS} days ahead"))));
                }
                let ends = match (ends_at, minutes) {
                    (Some(e), None) => e,
                    (None, Some(m)) if m > 0 => starts + chrono::Duration::minutes(i64::from(m)),
                    _ => return Ok(Err(invalid("give the pause's end (ends_at) or its length (minutes), not both"))),
                };
                if ends <= now || ends <= starts || ends - starts > chrono::Duration::days(MAX_PAUSE_DAYS) {
                    return Ok(Err(invalid(format!(
                        "a pause must end after it starts, in the future, and last at most {MAX_PAUSE_DAYS} days"
                    ))));
                }
                let reason = reason.trim().to_string();
                if reason.is_empty() || reason.chars().count() > MAX_TEXT {
                    return Ok(Err(invalid("a pause needs a reason")));
                }
                let new = NewMaintenance { scope, starts_at: starts, ends_at: ends, reason, who: by.into() };
                let id = match tx.add_maintenance(&new, now) {
                    Ok(id) => id,
                    Err(MaintenanceError::Store(e)) => return Err(e.into()),
                    Err(e) => return Ok(Err(invalid(e.to_string()))),
                };
                match tx.maintenance_by_id(id)? {
                    Some(record) => Ok(ActionDone::Pause(self.window_changed(tx, record, now, fx)?)),
                    None => Err(ActionError::NotFound(format!("maintenance #{id}"))),
                }
            }
            ActionRequest::EndPause { maintenance } => match tx.end_maintenance(maintenance, by, now) {
                Ok(record) => Ok(ActionDone::EndPause(self.window_changed(tx, record, now, fx)?)),
                Err(MaintenanceError::Store(e)) => return Err(e.into()),
                Err(e) => Err(maintenance_refusal(e)),
            },
            ActionRequest::ExtendPause { maintenance, ends_at, minutes } => {
                let Some(current) = tx.maintenance_by_id(maintenance)? else {
                    return Ok(Err(ActionError::NotFound(format!("maintenance #{maintenance}"))));
                };
                let Some((_, end)) = current.interval() else {
                    return Ok(Err(invalid("the window's times are unreadable")));
                };
                let new_end = match (ends_at, minutes) {
                    (Some(e), None) => e,
                    (None, Some(m)) if m > 0 && m <= 60 * 24 * MAX_PAUSE_DAYS as u32 => {
                        end + chrono::Duration::minutes(i64::from(m))
                    }
                    _ => return Ok(Err(invalid("give the new end (ends_at) or the minutes to add, not both"))),
                };
                if new_end <= end || new_end - now > chrono::Duration::days(MAX_PAUSE_DAYS) {
                    return Ok(Err(invalid(format!(
                        "an extension must end later than now's end, at most {MAX_PAUSE_DAYS} days ahead"
                    ))));
                }
                match tx.extend_maintenance(maintenance, new_end, by, now) {
                    Ok(record) => Ok(ActionDone::ExtendPause(self.window_changed(tx, record, now, fx)?)),
                    Err(MaintenanceError::Store(e)) => return Err(e.into()),
                    Err(e) => Err(maintenance_refusal(e)),
                }
            }
            ActionRequest::Backup { host, full } => self.request_backup(&host, full, by, now),
            ActionRequest::RefreshUpdates { host } => self.request_update_refresh(&host, by, now),
            ActionRequest::PlanUpdates { host, planned_at } => {
                self.request_update_plan(tx, &host, planned_at, by, now, fx)?
            }
            ActionRequest::ApplyUpdates { host, packages, cms } => {
                self.request_update_apply(tx, &host, packages, cms, by, now, fx)?
            }
            ActionRequest::Restore { host, generation, path, to, in_place, requested_by } => {
                let asked = super::backups::RestoreAsked { generation, path, to, in_place, requested_by };
                self.request_restore(tx, &host, asked, by, now)?
            }
            ActionRequest::RecoverNetwork { gateway } => {
                if self.fleet.gateway(&gateway).is_none() {
                    return Ok(Err(ActionError::NotFound(format!("gateway {gateway}"))));
                }
                let Some((id, _)) = self.open_incident_of(&gateway, &[CheckKind::Ping]) else {
                    return Ok(Err(ActionError::NoAction(format!(
                        "gateway {gateway} has no open incident: its network answers"
                    ))));
                };
                let opened = self.memory.incident(id).map_or(now, |i| i.opened_at);
                let detail = format!("network work on {gateway} started by {by}");
                tx.append_event_by("network_work_started", Some(id), Some(&gateway), Some("ping"), &detail, by, now)?;
                let mails = self.network_mails(
                    tx,
                    &gateway,
                    id,
                    opened,
                    now,
                    &MailKind::ResponseStarted { action: RecoveryAction::NetworkWork },
                    fx,
                )?;
                Ok(ActionDone::RecoverNetwork(NetworkWork { gateway, incident: id, mails, by: by.into(), at }))
            }
            ActionRequest::RequestResourceUp { host, from, until, what } => {
                let Some(server) = self.fleet.server(&host) else {
                    return Ok(Err(ActionError::NotFound(format!("server {host}"))));
                };
                let plan = self.fleet.plan_of_at(server, now);
                if !plan.resource_up() {
                    return Ok(Err(ActionError::NotIncluded(format!(
                        "the customer's plan ({plan}) includes no temporary resource-up (plans 150 and 200)"
                    ))));
                }
                let (Some(from), Some(until)) = (parse_day(&from), parse_day(&until)) else {
                    return Ok(Err(invalid("from and until are days written YYYY-MM-DD")));
                };
                let new = NewResourceUp {
                    host: host.clone(),
                    customer: server.customer.clone(),
                    from,
                    until,
                    what: what.chars().take(MAX_TEXT).collect(),
                    recorded_by: by.into(),
                };
                ledger_answer(tx.add_resource_up(&new, now), ActionDone::RequestResourceUp)?
            }
            ActionRequest::SetResourceUpState { request, state } => {
                ledger_answer(tx.set_resource_up_state(request, state, by, now), ActionDone::SetResourceUpState)?
            }
            ActionRequest::RecordConfigWork { customer, day, minutes, who, what, billable } => {
                let Some(c) = self.fleet.customer(&customer) else {
                    return Ok(Err(ActionError::NotFound(format!("customer {customer}"))));
                };
                let Some(day) = parse_day(&day) else {
                    return Ok(Err(invalid("day is written YYYY-MM-DD")));
                };
                let plan = c.plan_at(jst_at(day, 12));
                if !plan.config_work() {
                    return Ok(Err(ActionError::NotIncluded(format!(
                        "the customer's plan ({plan}) includes no configuration work (plans 150 and 200)"
                    ))));
                }
                if minutes > 24 * 60 || who.chars().count() > MAX_NAME || what.chars().count() > MAX_TEXT {
                    return Ok(Err(invalid(format!(
                        "minutes at most a day, who at most {MAX_NAME} and what at most {MAX_TEXT} characters"
                    ))));
                }
                let new = NewConfigWork { customer, day, minutes, who, what, billable, recorded_by: by.into() };
                ledger_answer(tx.add_config_work(&new, now), ActionDone::RecordConfigWork)?
            }
        })
    }

    fn acknowledge(
        &mut self,
        tx: &StoreTx<'_>,
        id: i64,
        by: &str,
        note: String,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<Answer, EngineError> {
        Ok(match tx.incident_state(id)? {
            None => Err(ActionError::NotFound(format!("incident #{id}"))),
            Some(s) if !s.open => Err(ActionError::Closed(id)),
            Some(IncidentState { acknowledged_by: Some(owner), .. }) if owner != by => {
                Err(ActionError::Taken { incident: id, by: owner })
            }
            // Taking again what one holds already changes nothing (no second audit entry: a
            // console that retries, or 200 that click, cannot flood the log); a note given with
            // it is kept as a note.
            Some(s) if s.acknowledged_by.as_deref() == Some(by) => {
                let at = timestamp(now);
                let note = note.trim();
                if !note.is_empty() {
                    tx.add_note(id, &s.host, &s.check, note, by, now)?;
                    fx.events.push(EngineEvent::NoteAdded {
                        incident: id,
                        host: s.host.clone(),
                        by: by.into(),
                        text: note.to_string(),
                        at: at.clone(),
                    });
                }
                Ok(ActionDone::Acknowledge(Acknowledged {
                    incident: id,
                    host: s.host,
                    check: s.check,
                    by: by.into(),
                    at,
                }))
            }
            Some(s) => {
                tx.acknowledge(id, &s, by, &note, now)?;
                if let Some(i) = self.memory.incident_mut(id) {
                    i.acknowledged_by = Some(by.to_string());
                }
                let at = timestamp(now);
                fx.events.push(EngineEvent::IncidentAcknowledged {
                    id,
                    host: s.host.clone(),
                    check: s.check.clone(),
                    by: by.into(),
                    note,
                    at: at.clone(),
                });
                fx.acknowledged.push((s.host.clone(), id, by.to_string()));
                Ok(ActionDone::Acknowledge(Acknowledged {
                    incident: id,
                    host: s.host,
                    check: s.check,
                    by: by.into(),
                    at,
                }))
            }
        })
    }

    /// The open incident of one of a server's checks, if any, and that check.
    fn open_incident_of(&self, host: &str, kinds: &[CheckKind]) -> Option<(i64, CheckKind)> {
        kinds
            .iter()
            .find_map(|k| self.memory.monitor.incident(&CheckKey::new(host, k.clone())).map(|id| (id, k.clone())))
    }

    fn scope(&self, scope: &PauseScope) -> Result<MaintenanceScope, ActionError> {
        match scope.kind.as_str() {
            "server" if self.fleet.server(&scope.id).is_some() => Ok(MaintenanceScope::Server(scope.id.clone())),
            "customer" if self.fleet.customer(&scope.id).is_some() => Ok(MaintenanceScope::Customer(scope.id.clone())),
            "server" | "customer" => Err(ActionError::NotFound(format!("{} {}", scope.kind, scope.id))),
            _ => Err(invalid("scope kind must be server or customer")),
        }
    }

    /// Applies a window that was added, ended or extended at once (a pause that ended releases
    /// its held alerts in this transaction) and tells consoles. A store failure is the batch's:
    /// the request's savepoint undoes it, and the decider's windows are left as they were.
    pub(super) fn window_changed(
        &mut self,
        tx: &StoreTx<'_>,
        record: MaintenanceRecord,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<crate::action::MaintenanceWindow, EngineError> {
        let before = self.memory.windows.clone();
        self.memory.windows.retain(|w| w.record.id != record.id);
        let answer = match Window::new(record.clone()) {
            Some(window) => {
                let answer = window.console(now);
                self.memory.windows.push(window);
                answer
            }
            // Times the store itself wrote are readable; an unreadable window pauses nothing.
            None => crate::action::MaintenanceWindow { record, active: false },
        };
        if let Err(e) = self.apply_pauses(tx, now, fx) {
            self.memory.windows = before;
            return Err(e);
        }
        // A window that stays in force with other times (extended, shortened): the servers it
        // pauses show its new end, though which window pauses them did not change.
        let changed = answer.record.id;
        fx.hosts.extend(self.memory.paused.iter().filter(|(_, id)| **id == changed).map(|(h, _)| h.clone()));
        fx.events.push(EngineEvent::MaintenanceChanged { maintenance: answer.clone() });
        Ok(answer)
    }
}

fn invalid(message: impl Into<String>) -> ActionError {
    ActionError::Invalid(message.into())
}

fn maintenance_refusal(e: MaintenanceError) -> ActionError {
    match e {
        MaintenanceError::NotFound(id) => ActionError::NotFound(format!("maintenance #{id}")),
        other => invalid(other.to_string()),
    }
}

/// An incident (open or closed) by id, without its events.
fn brief(tx: &StoreTx<'_>, id: i64) -> Result<Result<IncidentRecord, ActionError>, EngineError> {
    Ok(tx.incident_brief(id)?.ok_or_else(|| ActionError::NotFound(format!("incident #{id}"))))
}

/// An open incident by id.
fn open_incident(tx: &StoreTx<'_>, id: i64) -> Result<Result<IncidentRecord, ActionError>, EngineError> {
    Ok(brief(tx, id)?.and_then(|i| if i.closed_at.is_some() { Err(ActionError::Closed(id)) } else { Ok(i) }))
}

/// A ledger entry's answer: the record, or why it was refused (a store failure is the engine's).
fn ledger_answer<T>(
    result: Result<T, LedgerError>,
    done: impl FnOnce(T) -> ActionDone,
) -> Result<Result<ActionDone, ActionError>, EngineError> {
    Ok(match result {
        Ok(record) => Ok(done(record)),
        Err(LedgerError::Store(e)) => return Err(e.into()),
        Err(LedgerError::Refused(e @ LedgerRefusal::OverAllowance { .. })) => {
            Err(ActionError::OverAllowance(e.to_string()))
        }
        Err(LedgerError::Refused(e)) => Err(invalid(e.to_string())),
        Err(LedgerError::NotFound(id)) => Err(ActionError::NotFound(format!("resource-up request #{id}"))),
        Err(LedgerError::Invalid(m)) => Err(invalid(m)),
    })
}
