//! The console feed: what every console (a browser over WebSocket, the desktop window) receives
//! from one engine — a snapshot, then only what changed.
//!
//! Messages (a contract; README "Console API"), serialized as `{"type": ...}`:
//! * `snapshot` — every host, the view revision and the engine's health; first, and again when
//!   the console fell behind the event stream (it replaces everything the console had).
//! * `delta` — only the hosts changed since the previous message, at most one per
//!   [`DELTA_EVERY`]; sent at least every [`HEARTBEAT_EVERY`] so the health line stays live.
//! * `event` — each `EngineEvent` as it happens (after the view already shows its effect).
//!
//! Owns: pacing and batching for consoles. Must not know: transports (WebSocket, Tauri IPC).

use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::engine::Console;
use crate::event::EngineEvent;
use crate::view::{Health, ServerView};

/// Changed hosts are gathered for this long into one delta.
pub const DELTA_EVERY: Duration = Duration::from_secs(1);
/// A delta (possibly empty) goes out at least this often.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// Messages waiting for a slow console; past this it waits (and may get a snapshot later).
const QUEUE: usize = 256;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConsoleMessage {
    Snapshot { rev: u64, servers: Vec<ServerView>, health: Health },
    Delta { rev: u64, servers: Vec<ServerView>, health: Health },
    Event { event: EngineEvent },
}

/// Starts a feed for one console; it ends when the receiver is dropped.
pub fn spawn_feed(console: Console) -> mpsc::Receiver<ConsoleMessage> {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(run_feed(console, tx));
    rx
}

fn snapshot(console: &Console) -> (u64, ConsoleMessage) {
    let (rev, servers, health) = console.snapshot();
    (rev, ConsoleMessage::Snapshot { rev, servers, health })
}

async fn run_feed(console: Console, tx: mpsc::Sender<ConsoleMessage>) {
    // Subscribe before the snapshot, so nothing falls between the two.
    let mut events = console.subscribe();
    let (mut seen, first) = snapshot(&console);
    if tx.send(first).await.is_err() {
        return;
    }
    let mut ticks = tokio::time::interval(DELTA_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sent = Instant::now();
    loop {
        let message = tokio::select! {
            _ = ticks.tick() => {
                let (rev, servers, health) = console.changed_since(seen);
                if servers.is_empty() && last_sent.elapsed() < HEARTBEAT_EVERY {
                    continue;
                }
                seen = rev;
                ConsoleMessage::Delta { rev, servers, health }
            }
            e = events.recv() => match e {
                Ok(event) => ConsoleMessage::Event { event },
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "a console fell behind: sending a new snapshot");
                    let (rev, message) = snapshot(&console);
                    seen = rev;
                    message
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        if tx.send(message).await.is_err() {
            break;
        }
        last_sent = Instant::now();
    }
}
