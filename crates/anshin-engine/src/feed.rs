//! The console feed: what every console (a browser over WebSocket, the desktop window) receives
//! from one engine — a snapshot, then only what changed.
//!
//! Messages (a contract; README "Console API"), serialized as `{"type": ...}`:
//! * `snapshot` — every host, the view revision and the engine's health; first, and again when
//!   the console fell behind (it replaces everything the console had).
//! * `delta` — only the hosts whose shown state changed since the previous delta, once per
//!   [`DELTA_EVERY`], and within [`URGENT_WITHIN`] of an incident opened, closed or changing level
//!   (one delta for a burst); sent at least every [`HEARTBEAT_EVERY`] so the health line stays live.
//! * `event` — each `EngineEvent` as it happens (after the view already shows its effect).
//!
//! Consoles cost little, however many there are: one hub per engine builds each delta and event
//! once and serializes it once; every console gets the same bytes (`Bytes`, shared). Snapshots
//! are serialized once per view revision and shared by every console that connects meanwhile.
//! A console that falls behind the hub gets a new snapshot at most once per
//! [`RESYNC_AT_MOST_EVERY`]; falling behind again sooner ends its feed ([`FeedEnd::TooSlow`]),
//! and the console reconnects.
//!
//! Owns: pacing, batching and sharing for consoles. Must not know: transports (WebSocket,
//! Tauri IPC).

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio::time::Instant;
use ts_rs::TS;
use utoipa::ToSchema;

use crate::engine::Console;
use crate::event::EngineEvent;
use crate::feed_hub::Feed;
pub use crate::feed_hub::FeedFrame;
use crate::view::{Health, ServerView};

/// Changed hosts are gathered for this long into one delta.
pub const DELTA_EVERY: Duration = Duration::from_secs(1);
/// A delta (possibly empty) goes out at least this often.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// A console that falls behind again within this time of its last snapshot is dropped.
pub const RESYNC_AT_MOST_EVERY: Duration = Duration::from_secs(10);
/// The messages, as serialized (the shape consoles parse).
#[derive(Debug, Clone, Serialize, TS, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConsoleMessage<'a> {
    Snapshot { rev: u64, servers: &'a [ServerView], health: &'a Health },
    Delta { rev: u64, servers: Vec<&'a ServerView>, health: &'a Health },
    Event { event: &'a EngineEvent },
}

/// Why a console's feed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEnd {
    /// The engine stopped.
    Stopped,
    /// The console fell behind twice within [`RESYNC_AT_MOST_EVERY`].
    TooSlow,
}

impl FeedEnd {
    /// What the console is told (a WebSocket close reason).
    pub fn reason(self) -> &'static str {
        match self {
            FeedEnd::Stopped => "the engine stopped",
            FeedEnd::TooSlow => "this console fell behind the feed twice in 10 s and was dropped: reconnect",
        }
    }
}

/// A snapshot for a console that subscribed already: the cached one when no delta went out
/// after it was built (so the deltas to come cover everything after it), else a new one
/// (built once, under the lock, for every console asking meanwhile).
fn snapshot(feed: &Feed, console: &Console) -> FeedFrame {
    let mut cache = feed.snapshot.lock().unwrap_or_else(|e| e.into_inner());
    let hub_rev = feed.hub_rev.load(Ordering::Acquire);
    let (rev, json) = match cache.as_ref() {
        Some((rev, json)) if *rev >= hub_rev => (*rev, json.clone()),
        _ => {
            let built = console.with_view(|rev, servers, health| {
                let mut health = health.clone();
                health.consoles = feed.stats();
                let message = ConsoleMessage::Snapshot { rev, servers, health: &health };
                // Sized from the last one (or counted first): a buffer grown by doubling keeps
                // up to twice the snapshot (17 MB at 10,000 servers) for as long as it is cached.
                let last = feed.snapshot_len.load(Ordering::Relaxed);
                let json = to_bytes_sized(&message, if last > 0 { last + last / 16 } else { json_len(&message) });
                feed.snapshot_len.store(json.len(), Ordering::Relaxed);
                (rev, json)
            });
            feed.snapshots_built.fetch_add(1, Ordering::Relaxed);
            *cache = Some(built.clone());
            built
        }
    };
    feed.snapshots_sent.fetch_add(1, Ordering::Relaxed);
    FeedFrame { rev: Some(rev), json }
}

fn to_bytes<T: Serialize>(message: &T) -> Bytes {
    to_bytes_sized(message, 128) // serde_json::to_vec's start
}

/// The message serialized into a buffer of `capacity` bytes (grown if it is too small).
fn to_bytes_sized<T: Serialize>(message: &T, capacity: usize) -> Bytes {
    let mut buf = Vec::with_capacity(capacity);
    if serde_json::to_writer(&mut buf, message).is_err() {
        buf.clear();
    }
    Bytes::from(buf)
}

/// How many bytes the message serializes to (nothing kept).
fn json_len<T: Serialize>(message: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, message).map_or(0, |()| count.0)
}

/// One console's end of the feed.
#[derive(Debug)]
pub struct FeedReceiver {
    console: Console,
    frames: Option<broadcast::Receiver<FeedFrame>>,
    /// The snapshot to send first (taken after subscribing, so nothing falls between).
    first: Option<FeedFrame>,
    /// Deltas at or below this revision are older than the console's snapshot: skipped.
    at_rev: u64,
    last_snapshot: Instant,
}

impl Drop for FeedReceiver {
    fn drop(&mut self) {
        self.console.feed().connected.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Starts a console's feed: its snapshot first, then the hub's frames.
pub fn subscribe_feed(console: &Console) -> FeedReceiver {
    let feed = console.feed();
    feed.connected.fetch_add(1, Ordering::Relaxed);
    ensure_hub(console);
    let frames = feed.frames.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|f| f.subscribe());
    let first = snapshot(feed, console);
    FeedReceiver {
        console: console.clone(),
        at_rev: first.rev.unwrap_or(0),
        first: Some(first),
        frames,
        last_snapshot: Instant::now(),
    }
}

impl FeedReceiver {
    /// The next message for this console.
    pub async fn recv(&mut self) -> Result<FeedFrame, FeedEnd> {
        if let Some(first) = self.first.take() {
            return Ok(first);
        }
        let Some(frames) = self.frames.as_mut() else { return Err(FeedEnd::Stopped) };
        loop {
            match frames.recv().await {
                Ok(frame) => {
                    if frame.rev.is_some_and(|r| r <= self.at_rev) {
                        continue;
                    }
                    return Ok(frame);
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let feed = self.console.feed();
                    if self.last_snapshot.elapsed() < RESYNC_AT_MOST_EVERY {
                        feed.dropped.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(missed, "a console fell behind the feed twice within 10 s: dropped");
                        return Err(FeedEnd::TooSlow);
                    }
                    tracing::debug!(missed, "a console fell behind the feed: sending a new snapshot");
                    let snapshot = snapshot(feed, &self.console);
                    self.at_rev = snapshot.rev.unwrap_or(self.at_rev);
                    self.last_snapshot = Instant::now();
                    return Ok(snapshot);
                }
                Err(broadcast::error::RecvError::Closed) => return Err(FeedEnd::Stopped),
            }
        }
    }
}

/// Starts the engine's hub on the caller's runtime the first time a console subscribes.
fn ensure_hub(console: &Console) {
    let feed = console.feed();
    if feed.hub_started.swap(true, Ordering::AcqRel) {
        return;
    }
    let Some(frames) = feed.frames.lock().unwrap_or_else(|e| e.into_inner()).clone() else { return };
    // The hub covers changes from the current revision on; a snapshot is always at or after it.
    feed.hub_rev.store(console.rev(), Ordering::Release);
    tokio::spawn(run_hub(console.clone(), frames));
}

/// The delta of what changed since the hub's last one (None: nothing, and no heartbeat due).
fn delta_frame(feed: &crate::feed_hub::Feed, console: &Console, last_sent: Instant) -> Option<FeedFrame> {
    let since = feed.hub_rev.load(Ordering::Acquire);
    let (rev, json) = console.with_changed_since(since, |rev, servers, health| {
        if servers.is_empty() && last_sent.elapsed() < HEARTBEAT_EVERY {
            return None;
        }
        let mut health = health.clone();
        health.consoles = feed.stats();
        Some((rev, to_bytes(&ConsoleMessage::Delta { rev, servers, health: &health })))
    })?;
    feed.hub_rev.store(rev, Ordering::Release);
    drop_stale_snapshot(feed, rev);
    Some(FeedFrame { rev: Some(rev), json })
}

/// Lets go of the cached snapshot once the deltas cover a later revision: no console can be
/// given it again, and at 10,000 servers it is 17 MB. A snapshot being built right now (the lock
/// is held) is left alone.
fn drop_stale_snapshot(feed: &crate::feed_hub::Feed, rev: u64) {
    if let Ok(mut cached) = feed.snapshot.try_lock() {
        if cached.as_ref().is_some_and(|(at, _)| *at < rev) {
            *cached = None;
        }
    }
}

/// An event that changes a tile's level at once (an incident opened or closed, a level changed):
/// its delta goes out within [`URGENT_WITHIN`] instead of waiting for the next [`DELTA_EVERY`].
fn urgent(event: &EngineEvent) -> bool {
    matches!(
        event,
        EngineEvent::IncidentOpened { .. }
            | EngineEvent::IncidentClosed { .. }
            | EngineEvent::IncidentLevelChanged { .. }
    )
}

/// How long an urgent delta waits for others to join it (one delta for a burst).
pub const URGENT_WITHIN: Duration = Duration::from_millis(100);

/// Builds each delta and event once for every console, until the engine stops.
async fn run_hub(console: Console, frames: broadcast::Sender<FeedFrame>) {
    let feed = console.feed();
    let mut events = console.subscribe();
    let mut ticks = tokio::time::interval(DELTA_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sent = Instant::now();
    let mut membership = console.membership();
    // When the urgent delta is due (an incident opened, closed or changed level).
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        let urgent_due = async {
            match due {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let frame = tokio::select! {
            _ = ticks.tick() => {
                due = None;
                // Hosts came or went (a live reload): a delta cannot say a host is gone, so
                // every console gets the whole fleet again.
                if console.membership() != membership {
                    membership = console.membership();
                    feed.snapshot.lock().unwrap_or_else(|e| e.into_inner()).take();
                    let frame = snapshot(feed, &console);
                    if let Some(rev) = frame.rev {
                        feed.hub_rev.store(rev, Ordering::Release);
                    }
                    let _ = frames.send(frame);
                    last_sent = Instant::now();
                    continue;
                }
                let Some(frame) = delta_frame(feed, &console, last_sent) else { continue };
                frame
            }
            _ = urgent_due => {
                due = None;
                if console.membership() != membership {
                    continue; // the next tick sends the whole fleet
                }
                let Some(frame) = delta_frame(feed, &console, last_sent) else { continue };
                frame
            }
            e = events.recv() => match e {
                Ok(event) => {
                    if urgent(&event) && due.is_none() {
                        due = Some(tokio::time::Instant::now() + URGENT_WITHIN);
                    }
                    FeedFrame { rev: None, json: to_bytes(&ConsoleMessage::Event { event: &event }) }
                }
                // The hub itself fell behind the engine's events (it only serializes): the view
                // and the next delta still carry their effect; the store has every event.
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the console feed fell behind the engine's events: they are in the store");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        // No console listening is fine: the frame is simply not kept.
        let _ = frames.send(frame);
        last_sent = Instant::now();
    }
    // The engine stopped: consoles' feeds end once the last sender is gone.
    feed.frames.lock().unwrap_or_else(|e| e.into_inner()).take();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed_hub::Feed;

    #[test]
    fn a_sized_snapshot_is_the_same_json_whatever_its_buffer() {
        let health = Health::default();
        let message = ConsoleMessage::Snapshot { rev: 7, servers: &[], health: &health };
        let plain = serde_json::to_vec(&message).unwrap();
        assert_eq!(json_len(&message), plain.len());
        for capacity in [0, 1, plain.len(), plain.len() * 3] {
            assert_eq!(&to_bytes_sized(&message, capacity)[..], &plain[..], "capacity {capacity}");
        }
    }

    #[test]
    fn the_cached_snapshot_goes_once_the_deltas_are_past_it() {
        let feed = Feed::default();
        *feed.snapshot.lock().unwrap() = Some((5, Bytes::from_static(b"{}")));
        drop_stale_snapshot(&feed, 5);
        assert!(feed.snapshot.lock().unwrap().is_some(), "still current: kept for the next console");
        drop_stale_snapshot(&feed, 6);
        assert!(feed.snapshot.lock().unwrap().is_none(), "older than the deltas: let go");
    }
}
