//! Anshin NOC's runtime: it performs what `anshin-core` decides.
//!
//! Owns: probes on the wire (`probe`), the engine loop that schedules them and applies their
//! results (`engine`), the store (`store`: SQLite check states, incidents, the append-only
//! event log), the events it publishes (`event`) and the live read model for consoles (`view`).
//! Must not know: Tauri, the UI's shapes, or whether the fleet is a demo.

pub mod engine;
pub mod event;
pub mod probe;
pub mod store;
pub mod view;

pub use engine::{start, Clock, EngineError, EngineHandle, SystemClock};
pub use event::EngineEvent;
pub use store::Store;
pub use view::{CheckView, ServerView};
