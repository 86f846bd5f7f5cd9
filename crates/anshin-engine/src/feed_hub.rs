//! The shared state of one engine's console feed: the channel of frames every console reads,
//! the cached snapshot, and the counters of the health line. The engine keeps one per `Console`
//! family; `feed` drives it.
//!
//! Owns: that state and its counters. Must not know: the engine, what frames hold.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::view::ConsoleStats;

/// Frames the hub keeps for slow consoles (about two minutes of deltas and events at a normal
/// pace); a console further behind has fallen behind.
const FRAMES: usize = 1024;

/// One serialized message for every console.
#[derive(Debug, Clone)]
pub struct FeedFrame {
    /// The view revision a snapshot or delta brings the console to (None for events).
    pub rev: Option<u64>,
    /// The message as JSON text (UTF-8), shared by every console.
    pub json: Bytes,
}

/// The feed of one engine: the hub that builds frames and what every console shares.
#[derive(Debug)]
pub(crate) struct Feed {
    pub(crate) frames: Mutex<Option<broadcast::Sender<FeedFrame>>>,
    pub(crate) hub_started: AtomicBool,
    /// The revision the hub's deltas have covered: a delta carries the hosts changed after it.
    pub(crate) hub_rev: AtomicU64,
    /// The last snapshot serialized (its revision and bytes).
    pub(crate) snapshot: Mutex<Option<(u64, Bytes)>>,
    /// The last snapshot's length (the next one's buffer is sized from it).
    pub(crate) snapshot_len: AtomicUsize,
    pub(crate) connected: AtomicU64,
    pub(crate) snapshots_sent: AtomicU64,
    pub(crate) snapshots_built: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

impl Default for Feed {
    fn default() -> Feed {
        let (frames, _) = broadcast::channel(FRAMES);
        Feed {
            frames: Mutex::new(Some(frames)),
            hub_started: AtomicBool::new(false),
            hub_rev: AtomicU64::new(0),
            snapshot: Mutex::new(None),
            snapshot_len: AtomicUsize::new(0),
            connected: AtomicU64::new(0),
            snapshots_sent: AtomicU64::new(0),
            snapshots_built: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }
}

impl Feed {
    /// How the consoles are doing (for the health line).
    pub(crate) fn stats(&self) -> ConsoleStats {
        ConsoleStats {
            connected: self.connected.load(Ordering::Relaxed),
            snapshots_sent: self.snapshots_sent.load(Ordering::Relaxed),
            snapshots_built: self.snapshots_built.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}
