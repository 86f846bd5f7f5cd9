//! Anshin NOC's pure domain.
//!
//! Owns: the fleet file (parsing and validation, console edits written back into its text), contracts and plans, the list of checks a
//! server gets, alert levels and trigger names, the soft/hard check state machine, and the
//! incident decisions (open, close, suppression by unreachable servers and gateways), backups'
//! rules and commands (`backup`), counting a tar stream's files (`tar_count`), how a value
//! becomes one `sh` word (`shell`), how untrusted text is shown (`text`), and security updates —
//! the OS's tooling and end of life, the detection and apply commands, their parsers, the
//! customer notice (`updates`).
//!
//! Must not know: sockets, files, clocks, tokio, SQLite, Tauri. Everything here is a function of
//! its inputs; time, when needed, is a parameter. That is what keeps every rule of the service
//! specification unit-testable.

pub mod alert;
pub mod backup;
pub mod backup_settings;
pub mod calendar;
pub mod check;
pub mod contract;
pub mod fleet;
pub mod fleet_diff;
pub mod fleet_edit;
pub mod incident;
pub mod ledger;
pub mod level;
pub mod mail;
pub mod mail_text;
pub mod plan;
pub mod recovery;
pub mod resource;
pub mod retention;
pub mod shell;
pub mod tar_count;
pub mod text;
pub mod update_settings;
pub mod updates;

pub use alert::{CheckState, Transition};
pub use check::{CheckKey, CheckKind, CheckSpec, Service};
pub use fleet::{Diagnostic, Fleet, ParsedFleet};
pub use incident::{Decision, Monitor};
pub use level::Level;
pub use plan::Plan;
