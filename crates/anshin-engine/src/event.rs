//! What the engine tells consoles and the CLI, as it happens.
//!
//! Owns: the `EngineEvent` shapes (serialized as `{"event": "...", ...}`; the `incident_*`
//! lines are a contract of `anshin run --json`).
//! Must not know: who listens (CLI, Tauri shell, later the console API).

use serde::Serialize;
use ts_rs::TS;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, TS, ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EngineEvent {
    /// The engine is running: how many checks, how many incidents it resumed open.
    EngineStarted {
        checks: usize,
        resumed_open: usize,
        at: String,
    },
    /// A changed fleet is in force (a live reload): what changed, who or what asked.
    FleetReloaded {
        summary: String,
        by: String,
        at: String,
    },
    /// A changed fleet file was refused: nothing changed (the problems, `FILE:LINE:COL: message`).
    FleetRejected {
        errors: Vec<String>,
        by: String,
        at: String,
    },
    IncidentOpened {
        id: i64,
        host: String,
        check: String,
        level: u8,
        trigger: String,
        at: String,
        /// The server is in a maintenance pause: the alert is held, consoles do not notify.
        paused: bool,
    },
    IncidentClosed {
        id: i64,
        host: String,
        check: String,
        level: u8,
        trigger: String,
        at: String,
        /// Why it closed when not by its own recovery: `removed` (its server or check left the
        /// fleet; no mail). None: it recovered.
        reason: Option<String>,
    },
    /// An open resource incident moved to another level (each rise also mails the customer).
    IncidentLevelChanged {
        id: i64,
        host: String,
        check: String,
        level: u8,
        trigger: String,
        at: String,
        /// The server is in a maintenance pause (a rise is not notified).
        paused: bool,
    },
    /// An operator took an open incident (it stops blinking and sounding on every console).
    IncidentAcknowledged {
        id: i64,
        host: String,
        check: String,
        by: String,
        note: String,
        at: String,
    },
    /// A check changed state: `state` is `soft` (failing, below the limit), `hard` or `ok`.
    CheckState {
        host: String,
        check: String,
        state: &'static str,
        attempt: u32,
        detail: String,
        at: String,
    },
    /// A recovery began (automatic, or an operator's request).
    RecoveryStarted {
        id: i64,
        host: String,
        incident_id: Option<i64>,
        action: String,
        by: String,
        automatic: bool,
        at: String,
    },
    /// A recovery ended: `recovered`, `failed`, `already_up` or `interrupted`.
    RecoveryFinished {
        id: i64,
        host: String,
        incident_id: Option<i64>,
        action: String,
        outcome: String,
        detail: String,
        at: String,
    },
    NoteAdded {
        incident: i64,
        host: String,
        by: String,
        text: String,
        at: String,
    },
    CallLogged {
        incident: i64,
        host: String,
        call: crate::store::recovery::CallRecord,
    },
    StatusReportQueued {
        incident: i64,
        host: String,
        by: String,
        at: String,
    },
    /// A resource-up request needs the NOC (contract §9.4): raise it tomorrow, or put it back.
    ResourceUpReminder {
        request: crate::store::ledger::ResourceUpRecord,
        reminder: crate::store::ledger::Reminder,
        at: String,
    },
    /// A maintenance window was added, ended or extended.
    MaintenanceChanged {
        maintenance: crate::action::MaintenanceWindow,
    },
    /// A pause ended with the problem still there: its held alert goes out now.
    AlertReleased {
        id: i64,
        host: String,
        check: String,
        level: u8,
        trigger: String,
        at: String,
    },
    /// The engine's prompt about an incident changed (an operator must decide, or `None`).
    RecoveryPrompt {
        incident: i64,
        host: String,
        prompt: Option<crate::view::Prompt>,
        at: String,
    },
    /// The engine stopped cleanly.
    EngineStopped {
        at: String,
    },
}
