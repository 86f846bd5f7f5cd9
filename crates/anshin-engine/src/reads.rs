//! What consoles read beside the live view for the actions of docs/console-actions.md: an
//! incident's phone escalation (calls, consents, the prefilled status report), maintenance
//! windows, recoveries and the audit log with its verification.
//!
//! Owns: the shapes of those reads and the round logic of the phone escalation (contract §4: call
//! the numbers in order; the first answer ends the round; nobody answered → status report).
//! Must not know: transports (the API and the desktop call these with a read-only store).

use std::sync::Arc;

use anshin_core::mail::{CallAttempt, CallOutcome};
use anshin_core::recovery;
use anshin_core::Fleet;
use chrono::{DateTime, Utc};
use serde::Serialize;
use ts_rs::TS;
use utoipa::ToSchema;

use crate::action::MaintenanceWindow;
use crate::alert_mail::AlertMailer;
use crate::problem::incident_problem;
use crate::store::recovery::{CallRecord, ConsentRecord};
use crate::store::{EventRecord, IncidentRecord, Store, StoreError};
use crate::view::{customer_view, CustomerView};

/// The prefilled 状況報告 the operator edits before sending.
#[derive(Debug, Clone, Serialize, TS, ToSchema)]
pub struct StatusReportDraft {
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// Everything the phone escalation panel of one incident shows.
#[derive(Debug, Clone, Serialize, TS, ToSchema)]
pub struct Escalation {
    pub incident: IncidentRecord,
    pub customer: Option<CustomerView>,
    pub calls: Vec<CallRecord>,
    pub consents: Vec<ConsentRecord>,
    /// Investigation cost the customer agreed to (the largest investigation consent).
    pub consented_yen: u32,
    /// Up to this many yen an investigation consent is recorded now; beyond it the engine refuses
    /// `needs_call` until a call the customer answers is logged (contract §4.6, §9.8). None: the
    /// customer was asked again since the latest consent, any amount is recorded.
    pub consent_without_call_yen: Option<u32>,
    /// A call of the current round was answered (the round is over).
    pub answered: bool,
    /// Every emergency number was called in the current round without an answer.
    pub exhausted: bool,
    /// The next number to call in this round, if any.
    pub next_number: Option<String>,
    pub status_report: Option<StatusReportDraft>,
    pub status_reports_sent: u32,
}

/// Errors of a read: the incident is unknown, or the store failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("incident #{0} does not exist")]
    NotFound(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The calls of the current round: those after the last answered call, unless the last call
/// was answered (then that answer closes the round that is shown).
fn current_round(calls: &[CallRecord]) -> &[CallRecord] {
    let answered = |c: &CallRecord| c.outcome == "answered";
    match calls.iter().rposition(answered) {
        Some(i) if i + 1 == calls.len() => {
            let start = calls[..i].iter().rposition(answered).map_or(0, |j| j + 1);
            &calls[start..]
        }
        Some(i) => &calls[i + 1..],
        None => calls,
    }
}

fn attempt(c: &CallRecord) -> CallAttempt {
    let at = DateTime::parse_from_rfc3339(&c.started_at).map(|t| t.with_timezone(&Utc)).unwrap_or_default();
    let outcome = match c.outcome.as_str() {
        "answered" => CallOutcome::Answered,
        "busy" => CallOutcome::Busy,
        _ => CallOutcome::NoAnswer,
    };
    CallAttempt { number: c.number.clone(), at, rings: Some(c.rings), outcome }
}

/// The escalation panel of an incident at `now`.
pub fn escalation(store: &Store, fleet: &Arc<Fleet>, id: i64, now: DateTime<Utc>) -> Result<Escalation, ReadError> {
    let incident = store.incident_record(id)?.ok_or(ReadError::NotFound(id))?;
    let calls = store.calls(id)?;
    let consents = store.consents(id)?;
    let server = fleet.server(&incident.host);
    let customer = server.and_then(|s| fleet.customer(&s.customer)).map(|c| customer_view(c, now));
    let phones = customer.as_ref().map(|c| c.phones.clone()).unwrap_or_default();
    let round = current_round(&calls);
    let answered = round.last().is_some_and(|c| c.outcome == "answered");
    let tried = |n: &String| round.iter().any(|c| &c.number == n);
    let exhausted = !answered && !phones.is_empty() && phones.iter().all(tried);
    let next_number = if answered { None } else { phones.iter().find(|n| !tried(n)).cloned() };
    let consented_yen = consents.iter().filter(|c| c.kind == "investigation").map(|c| c.amount_yen).max().unwrap_or(0);
    let time = |s: &str| DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc));
    let answered_calls: Vec<DateTime<Utc>> =
        calls.iter().filter(|c| c.outcome == "answered").filter_map(|c| time(&c.started_at)).collect();
    let consent_without_call_yen = recovery::investigation_limit_without_call(
        consents.iter().filter(|c| c.kind == "investigation").map(|c| c.amount_yen).max(),
        consents.iter().filter_map(|c| time(&c.at)).max(),
        &answered_calls,
    );
    let status_report = incident_problem(fleet, &incident).and_then(|problem| {
        let opened = DateTime::parse_from_rfc3339(&incident.opened_at).map(|t| t.with_timezone(&Utc)).ok()?;
        let mailer = AlertMailer::new(fleet.clone());
        let (to, mail) =
            mailer.status_report_draft(&incident.host, &problem, opened, round.iter().map(attempt).collect(), now)?;
        Some(StatusReportDraft { to, subject: mail.subject, body: mail.body })
    });
    let status_reports_sent = store.status_reports_sent(id)?;
    Ok(Escalation {
        incident,
        customer,
        calls,
        consents,
        consented_yen,
        consent_without_call_yen,
        answered,
        exhausted,
        next_number,
        status_report,
        status_reports_sent,
    })
}

/// Maintenance windows: running and future ones first, then the most recent ended ones.
pub fn maintenance(store: &Store, now: DateTime<Utc>) -> Result<Vec<MaintenanceWindow>, StoreError> {
    Ok(store
        .maintenance_current(now, 50)?
        .into_iter()
        .map(|record| {
            let active = record.interval().is_some_and(|(s, e)| s <= now && now < e);
            MaintenanceWindow { record, active }
        })
        .collect())
}

/// The chain's verification, as consoles show it on top of the audit log.
#[derive(Debug, Clone, Serialize, TS, ToSchema)]
pub struct Verification {
    pub ok: bool,
    pub entries: u64,
    pub error: Option<String>,
}

/// A page of the audit log, newest first, with the chain verified.
#[derive(Debug, Clone, Serialize, TS, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<EventRecord>,
    pub verify: Verification,
}

pub fn audit(store: &Store, limit: usize, before: Option<i64>) -> Result<AuditPage, StoreError> {
    Ok(AuditPage { entries: store.audit(limit.clamp(1, 5000), before)?, verify: verification(store)? })
}

/// The last verification, by store file and the entry it ended at, for a few seconds: paging
/// through the audit log does not hash the whole log for every page, and an edit by hand still
/// shows within that time.
static VERIFIED: std::sync::Mutex<Option<Verified>> = std::sync::Mutex::new(None);

/// A verification: of which file, up to which entry (id, hash), when, and its result.
type Verified = (std::path::PathBuf, (i64, Option<String>), std::time::Instant, Verification);
const VERIFIED_FOR: std::time::Duration = std::time::Duration::from_secs(10);

fn verification(store: &Store) -> Result<Verification, StoreError> {
    let last = store.audit(1, None)?.into_iter().next().map(|e| (e.id, e.hash)).unwrap_or((0, None));
    if let Ok(cache) = VERIFIED.lock() {
        if let Some((path, at, when, v)) = cache.as_ref() {
            if path == store.path() && *at == last && when.elapsed() < VERIFIED_FOR {
                return Ok(v.clone());
            }
        }
    }
    let report = store.verify_chain()?;
    let v = Verification { ok: report.ok, entries: report.entries, error: report.error };
    if let Ok(mut cache) = VERIFIED.lock() {
        *cache = Some((store.path().to_path_buf(), last, std::time::Instant::now(), v.clone()));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: i64, number: &str, outcome: &str) -> CallRecord {
        CallRecord {
            id,
            incident_id: 1,
            number: number.into(),
            started_at: "2026-11-25T01:00:00.000Z".into(),
            rings: 10,
            outcome: outcome.into(),
            answered_by: None,
            notes: String::new(),
            operator: "yamada".into(),
        }
    }

    #[test]
    fn a_round_ends_at_the_first_answer() {
        let calls = vec![call(1, "a", "no_answer"), call(2, "b", "answered")];
        assert_eq!(current_round(&calls).len(), 2);
        let calls = vec![call(1, "a", "no_answer"), call(2, "b", "answered"), call(3, "a", "busy")];
        assert_eq!(current_round(&calls).iter().map(|c| c.id).collect::<Vec<_>>(), [3]);
        let calls = vec![call(1, "a", "answered"), call(2, "a", "busy"), call(3, "b", "answered")];
        assert_eq!(current_round(&calls).iter().map(|c| c.id).collect::<Vec<_>>(), [2, 3]);
        assert!(current_round(&[]).is_empty());
    }
}
