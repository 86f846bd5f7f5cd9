//! What a console may ask of the engine, what it gets back, and why a request is refused.
//!
//! Owns: the one request type every transport carries (the API's routes, the desktop's `act`
//! command, the remote desktop's HTTP calls — `ActionRequest::route`), the answers, and the
//! refusal codes (docs/console-actions.md is the contract).
//! Must not know: how the engine decides or performs an action (the decider does), or HTTP.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::store::ledger::{ConfigWorkRecord, ResourceUpRecord, ResourceUpState};
use crate::store::maintenance::MaintenanceRecord;
use crate::store::recovery::{CallRecord, ConsentRecord, RecoveryRecord};
use crate::store::updates::{UpdatePlan, UpdateRun};

/// The customer's consent to a billable spot recovery (contract §1: 20,000 yen and up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct SpotConsent {
    pub customer_person: String,
    pub amount_yen: u32,
}

/// What a pause covers: `{"kind": "server", "id": "web01"}` or `{"kind": "customer", "id": "c1001"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct PauseScope {
    pub kind: String,
    pub id: String,
}

/// A console's request. Who asks is not part of it: the transport knows the caller. Fields
/// with a default may be left out (`?` in TypeScript).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionRequest {
    Acknowledge {
        incident: i64,
        #[serde(default)]
        #[ts(as = "Option<String>", optional)]
        note: String,
    },
    Note {
        incident: i64,
        text: String,
    },
    /// The recovery that fits the incident: a service restart, or a reboot for ping/SSH.
    Recover {
        incident: i64,
        #[serde(default)]
        #[ts(optional = nullable)]
        consent: Option<SpotConsent>,
    },
    Reboot {
        host: String,
        #[serde(default)]
        #[ts(optional = nullable)]
        consent: Option<SpotConsent>,
    },
    Restart {
        host: String,
        service: String,
        #[serde(default)]
        #[ts(optional = nullable)]
        consent: Option<SpotConsent>,
    },
    LogCall {
        incident: i64,
        number: String,
        #[serde(default)]
        #[ts(optional = nullable)]
        started_at: Option<DateTime<Utc>>,
        #[serde(default)]
        #[ts(optional = nullable)]
        rings: Option<u32>,
        /// `answered`, `no_answer`, `busy` or `voicemail`.
        outcome: String,
        #[serde(default)]
        #[ts(optional = nullable)]
        answered_by: Option<String>,
        #[serde(default)]
        #[ts(as = "Option<String>", optional)]
        notes: String,
    },
    Consent {
        incident: i64,
        /// `investigation` or `spot_recovery`.
        kind: String,
        amount_yen: u32,
        customer_person: String,
        #[serde(default)]
        #[ts(as = "Option<String>", optional)]
        note: String,
        /// Why the charge arose (contract §9.8): `customer_change`, `traffic_surge`, `attack` or
        /// `other` (the catalogue's `charge_causes`). Required: a missing or unknown cause is
        /// refused `invalid`, naming the four (so it is read as empty here, not refused by serde).
        #[serde(default)]
        #[ts(as = "String")]
        cause: String,
    },
    StatusReport {
        incident: i64,
        subject: String,
        body: String,
    },
    Pause {
        scope: PauseScope,
        #[serde(default)]
        #[ts(optional = nullable)]
        starts_at: Option<DateTime<Utc>>,
        #[serde(default)]
        #[ts(optional = nullable)]
        ends_at: Option<DateTime<Utc>>,
        #[serde(default)]
        #[ts(optional = nullable)]
        minutes: Option<u32>,
        reason: String,
    },
    EndPause {
        maintenance: i64,
    },
    ExtendPause {
        maintenance: i64,
        #[serde(default)]
        #[ts(optional = nullable)]
        ends_at: Option<DateTime<Utc>>,
        #[serde(default)]
        #[ts(optional = nullable)]
        minutes: Option<u32>,
    },
    /// The NOC starts work on a down network (contract §9.6): recorded, and the customers behind
    /// the gateway get the 対応開始 mail.
    RecoverNetwork {
        gateway: String,
    },
    /// A backup of a server now (contract §7): a differential against its latest full, or a
    /// full when asked (or when it has none). The engine runs it as one of its backup jobs.
    Backup {
        host: String,
        #[serde(default)]
        full: bool,
    },
    /// Restores a generation of a server (contract §7): into `to` (a new directory on the server;
    /// default `/var/restore/YYYYMMDD-HHMM`) or, with `in_place`, over the live files; `path`
    /// restores only that path. The engine runs it as a job; its end is logged
    /// (`restore_finished`, with what the server said).
    Restore {
        host: String,
        generation: i64,
        #[serde(default)]
        #[ts(optional = nullable)]
        path: Option<String>,
        #[serde(default)]
        #[ts(optional = nullable)]
        to: Option<String>,
        #[serde(default)]
        in_place: bool,
        /// Who asked on the customer's side (contract §7: recorded; the customer is mailed when
        /// the restore is done).
        #[serde(default)]
        #[ts(optional = nullable)]
        requested_by: Option<String>,
    },
    /// Detects a server's pending security updates now (contract §8); the answer shows on its
    /// tile and in `GET /api/v1/updates?host=`.
    RefreshUpdates {
        host: String,
    },
    /// Sets the planned date of a server's update work (contract §8; the notice names it).
    PlanUpdates {
        host: String,
        planned_at: DateTime<Utc>,
    },
    /// Applies a server's pending security updates (contract §8): the OS packages named, or all
    /// of them; with `cms`, its pending WordPress updates (the names chosen among them, or all).
    /// One audited job: the server paused while it runs, its output in the audit log.
    ApplyUpdates {
        host: String,
        #[serde(default)]
        #[ts(as = "Option<Vec<String>>", optional)]
        packages: Vec<String>,
        #[serde(default)]
        #[ts(as = "Option<bool>", optional)]
        cms: bool,
    },
    /// A temporary resource-up request (contract §9.4): `from`/`until` are Japan days
    /// (`YYYY-MM-DD`, inclusive).
    RequestResourceUp {
        host: String,
        from: String,
        until: String,
        what: String,
    },
    /// A resource-up request moves on: `raised`, `restored` or `cancelled`.
    SetResourceUpState {
        request: i64,
        state: ResourceUpState,
    },
    /// Configuration work done for a customer (contract §9.5): a Japan day, minutes, who did
    /// what; `billable` beyond the month's included minutes.
    RecordConfigWork {
        customer: String,
        day: String,
        minutes: u32,
        who: String,
        what: String,
        #[serde(default)]
        #[ts(as = "Option<bool>", optional)]
        billable: bool,
    },
}

impl ActionRequest {
    /// The console API route that carries this request, and its body (the remote desktop).
    pub fn route(&self) -> (String, serde_json::Value) {
        use serde_json::json;
        match self {
            ActionRequest::Acknowledge { incident, note } => {
                (format!("api/v1/incidents/{incident}/acknowledge"), json!({ "note": note }))
            }
            ActionRequest::Note { incident, text } => {
                (format!("api/v1/incidents/{incident}/notes"), json!({ "text": text }))
            }
            ActionRequest::Recover { incident, consent } => {
                (format!("api/v1/incidents/{incident}/recover"), json!({ "consent": consent }))
            }
            ActionRequest::Reboot { host, consent } => {
                (format!("api/v1/servers/{}/reboot", path_part(host)), json!({ "consent": consent }))
            }
            ActionRequest::Restart { host, service, consent } => (
                format!("api/v1/servers/{}/restart/{}", path_part(host), path_part(service)),
                json!({ "consent": consent }),
            ),
            ActionRequest::LogCall { incident, number, started_at, rings, outcome, answered_by, notes } => (
                format!("api/v1/incidents/{incident}/calls"),
                json!({ "number": number, "started_at": started_at, "rings": rings, "outcome": outcome,
                        "answered_by": answered_by, "notes": notes }),
            ),
            ActionRequest::Consent { incident, kind, amount_yen, customer_person, note, cause } => (
                format!("api/v1/incidents/{incident}/consents"),
                json!({ "kind": kind, "amount_yen": amount_yen, "customer_person": customer_person, "note": note,
                        "cause": cause }),
            ),
            ActionRequest::StatusReport { incident, subject, body } => {
                (format!("api/v1/incidents/{incident}/status-report"), json!({ "subject": subject, "body": body }))
            }
            ActionRequest::Pause { scope, starts_at, ends_at, minutes, reason } => (
                "api/v1/maintenance".into(),
                json!({ "scope": scope, "starts_at": starts_at, "ends_at": ends_at, "minutes": minutes,
                        "reason": reason }),
            ),
            ActionRequest::EndPause { maintenance } => (format!("api/v1/maintenance/{maintenance}/end"), json!({})),
            ActionRequest::ExtendPause { maintenance, ends_at, minutes } => {
                (format!("api/v1/maintenance/{maintenance}/extend"), json!({ "ends_at": ends_at, "minutes": minutes }))
            }
            ActionRequest::RecoverNetwork { gateway } => {
                (format!("api/v1/gateways/{}/recover", path_part(gateway)), json!({}))
            }
            ActionRequest::Backup { host, full } => {
                (format!("api/v1/servers/{}/backup", path_part(host)), json!({ "full": full }))
            }
            ActionRequest::Restore { host, generation, path, to, in_place, requested_by } => (
                format!("api/v1/servers/{}/restore", path_part(host)),
                json!({ "generation": generation, "path": path, "to": to, "in_place": in_place, "requested_by": requested_by }),
            ),
            ActionRequest::RefreshUpdates { host } => {
                (format!("api/v1/servers/{}/updates/refresh", path_part(host)), json!({}))
            }
            ActionRequest::PlanUpdates { host, planned_at } => {
                (format!("api/v1/servers/{}/updates/plan", path_part(host)), json!({ "planned_at": planned_at }))
            }
            ActionRequest::ApplyUpdates { host, packages, cms } => (
                format!("api/v1/servers/{}/updates/apply", path_part(host)),
                json!({ "packages": packages, "cms": cms }),
            ),
            ActionRequest::RequestResourceUp { host, from, until, what } => (
                "api/v1/ledger/resource-ups".into(),
                json!({ "host": host, "from": from, "until": until, "what": what }),
            ),
            ActionRequest::SetResourceUpState { request, state } => {
                (format!("api/v1/ledger/resource-ups/{request}/state"), json!({ "state": state }))
            }
            ActionRequest::RecordConfigWork { customer, day, minutes, who, what, billable } => (
                "api/v1/ledger/config-work".into(),
                json!({ "customer": customer, "day": day, "minutes": minutes, "who": who, "what": what,
                        "billable": billable }),
            ),
        }
    }

    /// The action's name in logs and answers (`log_call`).
    pub fn name(&self) -> &'static str {
        match self {
            ActionRequest::Acknowledge { .. } => "acknowledge",
            ActionRequest::Note { .. } => "note",
            ActionRequest::Recover { .. } => "recover",
            ActionRequest::Reboot { .. } => "reboot",
            ActionRequest::Restart { .. } => "restart",
            ActionRequest::LogCall { .. } => "log_call",
            ActionRequest::Consent { .. } => "consent",
            ActionRequest::StatusReport { .. } => "status_report",
            ActionRequest::Pause { .. } => "pause",
            ActionRequest::EndPause { .. } => "end_pause",
            ActionRequest::ExtendPause { .. } => "extend_pause",
            ActionRequest::RecoverNetwork { .. } => "recover_network",
            ActionRequest::Backup { .. } => "backup",
            ActionRequest::Restore { .. } => "restore",
            ActionRequest::RefreshUpdates { .. } => "refresh_updates",
            ActionRequest::PlanUpdates { .. } => "plan_updates",
            ActionRequest::ApplyUpdates { .. } => "apply_updates",
            ActionRequest::RequestResourceUp { .. } => "request_resource_up",
            ActionRequest::SetResourceUpState { .. } => "set_resource_up_state",
            ActionRequest::RecordConfigWork { .. } => "record_config_work",
        }
    }
}

/// A server label or service name in a URL path: validated fleet names are plain, but encode
/// anything else rather than let it change the path.
fn path_part(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A detection of a server's updates the engine started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct UpdatesRefreshing {
    pub host: String,
    pub by: String,
    pub at: String,
}

/// An acknowledgement the engine recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct Acknowledged {
    pub incident: i64,
    pub host: String,
    pub check: String,
    pub by: String,
    pub at: String,
}

/// A note the engine recorded on an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct NoteAdded {
    pub incident: i64,
    pub by: String,
    pub text: String,
    pub at: String,
}

/// A status report mail queued in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct StatusReportQueued {
    pub incident: i64,
    pub outbox_id: i64,
    pub at: String,
}

/// A maintenance window as consoles see it: the record and whether it is running now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct MaintenanceWindow {
    #[serde(flatten)]
    pub record: MaintenanceRecord,
    pub active: bool,
}

/// Network work the NOC started on a gateway's incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct NetworkWork {
    pub gateway: String,
    pub incident: i64,
    /// 対応開始 mails queued (one per customer behind the gateway, not paused).
    pub mails: usize,
    pub by: String,
    pub at: String,
}

/// A backup the engine started on request (its run appears in `GET /api/v1/backups` as soon as
/// it recorded its start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct BackupRequested {
    pub host: String,
    pub full: bool,
    pub by: String,
    pub at: String,
}

/// A restore the engine started on request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct RestoreRequested {
    pub host: String,
    pub generation: i64,
    /// The directory on the server, or `/` for a restore in place.
    pub target: String,
    pub path: Option<String>,
    /// Who asked on the customer's side.
    pub requested_by: Option<String>,
    pub by: String,
    pub at: String,
}

/// What the engine did for a request (`{"type": …, …the record}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionDone {
    Acknowledge(Acknowledged),
    Note(NoteAdded),
    Recover(RecoveryRecord),
    Reboot(RecoveryRecord),
    Restart(RecoveryRecord),
    LogCall(CallRecord),
    Consent(ConsentRecord),
    StatusReport(StatusReportQueued),
    Pause(MaintenanceWindow),
    EndPause(MaintenanceWindow),
    ExtendPause(MaintenanceWindow),
    RecoverNetwork(NetworkWork),
    Backup(BackupRequested),
    Restore(RestoreRequested),
    RefreshUpdates(UpdatesRefreshing),
    PlanUpdates(UpdatePlan),
    ApplyUpdates(UpdateRun),
    RequestResourceUp(ResourceUpRecord),
    SetResourceUpState(ResourceUpRecord),
    RecordConfigWork(ConfigWorkRecord),
}

/// Why the engine refused a console's request. `code()` is the stable name consoles translate.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ActionError {
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("incident #{0} is already closed")]
    Closed(i64),
    #[error("incident #{incident} is already taken by {by}")]
    Taken { incident: i64, by: String },
    #[error("a recovery of {} is running: {} asked for {} at {}", .0.host, .0.requested_by, .0.action, .0.started_at)]
    Busy(Box<RecoveryRecord>),
    /// Another update job (a detection or an apply) of the server is going.
    #[error("{0}")]
    JobRunning(String),
    #[error("{0}")]
    NeedsConsent(String),
    /// Beyond the consented investigation amount: log an answered call with the customer after
    /// the latest consent first (contract §9.8).
    #[error("{0}")]
    NeedsCall(String),
    #[error("{0}")]
    NotIncluded(String),
    #[error("{0}")]
    NoAction(String),
    #[error("{0}")]
    Invalid(String),
    /// The month's included configuration work would be exceeded: record it as billable.
    #[error("{0}")]
    OverAllowance(String),
    #[error("the engine is not running")]
    Stopped,
    /// The store refuses writes for now (locked, busy, full): nothing was done.
    #[error("{0}")]
    StoreUnavailable(String),
}

impl ActionError {
    pub fn code(&self) -> &'static str {
        match self {
            ActionError::NotFound(_) => "not_found",
            ActionError::Closed(_) => "closed",
            ActionError::Taken { .. } => "taken",
            ActionError::Busy(_) | ActionError::JobRunning(_) => "busy",
            ActionError::NeedsConsent(_) => "needs_consent",
            ActionError::NeedsCall(_) => "needs_call",
            ActionError::NotIncluded(_) => "not_included",
            ActionError::NoAction(_) => "no_action",
            ActionError::Invalid(_) => "invalid",
            ActionError::OverAllowance(_) => "over_allowance",
            ActionError::Stopped => "stopped",
            ActionError::StoreUnavailable(_) => "store_unavailable",
        }
    }

    /// The HTTP status the console API answers with.
    pub fn status(&self) -> u16 {
        match self {
            ActionError::NotFound(_) => 404,
            ActionError::Invalid(_) => 400,
            ActionError::Stopped | ActionError::StoreUnavailable(_) => 503,
            _ => 409,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_read_the_documented_json() {
        let r: ActionRequest = serde_json::from_str(
            r#"{"type":"log_call","incident":7,"number":"03-0000-0001","outcome":"no_answer","rings":10}"#,
        )
        .unwrap();
        assert_eq!(r.name(), "log_call");
        assert_eq!(r.route().0, "api/v1/incidents/7/calls");
        let r: ActionRequest = serde_json::from_str(
            r#"{"type":"pause","scope":{"kind":"server","id":"web01"},"minutes":30,"reason":"OS更新"}"#,
        )
        .unwrap();
        assert_eq!(r.route().0, "api/v1/maintenance");
        assert!(serde_json::from_str::<ActionRequest>(r#"{"type":"recover","incident":1,"sudo":true}"#).is_err());
        let r = ActionRequest::Restart { host: "web01".into(), service: "../x".into(), consent: None };
        assert_eq!(r.route().0, "api/v1/servers/web01/restart/..%2Fx");
    }
}
