//! Anshin NOC's runtime: it performs what `anshin-core` decides.
//!
//! Owns: probes on the wire (`probe`), the engine loop that schedules them and applies their
//! results (`engine`), the store (`store`: SQLite check states, incidents, the append-only
//! event log, the mail outbox), the events it publishes (`event`), the live read model for
//! consoles (`view`) and what each console is sent (`feed`), SSH sessions for resource polling (`ssh`), which mail an incident sends
//! (`alert_mail`) and how the outbox reaches the SMTP server (`mail`); the console contract's
//! TypeScript, generated from those types for the UI (`contract`).
//! Must not know: Tauri, the UI's shapes, or whether the fleet is a demo.

pub mod action;
mod alert_mail;
pub mod api;
pub mod backup_run;
pub mod catalogue;
pub mod contract;
pub mod engine;
/// `anshin backup`/`restore` asking a running engine (`engine::control`).
pub use engine::control;
pub mod event;
pub mod feed;
mod feed_hub;
pub mod fleet_edits;
pub mod fleet_file;
pub mod mail;
pub mod probe;
mod problem;
pub mod reads;
pub mod review_query;
pub mod secrets;
mod shared_fleet;
pub mod ssh;
pub mod store;
pub mod update_run;
pub mod view;

pub use action::{Acknowledged, ActionDone, ActionError, ActionRequest};
pub use engine::{start, Clock, Console, EngineError, EngineHandle, SystemClock};
pub use event::EngineEvent;
pub use feed::{subscribe_feed, ConsoleMessage, FeedEnd, FeedFrame, FeedReceiver};
pub use shared_fleet::SharedFleet;
pub use store::Store;
pub use view::{CheckView, Health, ServerView};
