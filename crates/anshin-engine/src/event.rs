//! What the engine tells consoles and the CLI, as it happens.
//!
//! Owns: the `EngineEvent` shapes (serialized as `{"event": "...", ...}`; the `incident_*`
//! lines are a contract of `anshin run --json`).
//! Must not know: who listens (CLI, Tauri shell, later the console API).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EngineEvent {
    /// The engine is running: how many checks, how many incidents it resumed open.
    EngineStarted {
        checks: usize,
        resumed_open: usize,
        at: String,
    },
    IncidentOpened {
        id: i64,
        host: String,
        check: String,
        level: u8,
        trigger: String,
        at: String,
    },
    IncidentClosed {
        id: i64,
        host: String,
        check: String,
        level: u8,
        trigger: String,
        at: String,
    },
    /// An open resource incident moved to another level (each rise also mails the customer).
    IncidentLevelChanged {
        id: i64,
        host: String,
        check: String,
        level: u8,
        trigger: String,
        at: String,
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
    /// The engine stopped cleanly.
    EngineStopped {
        at: String,
    },
}
