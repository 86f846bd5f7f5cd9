//! Pruning resource samples and their rollups past their windows (`[noc] retention`, issue 16):
//! a task of its own beside the decider, with its own store connection, deleting at most
//! [`BATCH`] rows of each resolution every [`EVERY`] in short transactions, so that it never holds
//! the decider (which waits at most its busy time for the write lock) and keeps up with 10,000
//! servers' readings (50,000 a minute) while it catches up on a backlog batch by batch.
//! Incidents, events and the audit log are never pruned.
//! Must not know: what the samples mean, the decider.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Clock;
use crate::shared_fleet::SharedFleet;
use crate::store::Store;

/// Rows of each resolution deleted per transaction.
pub(super) const BATCH: usize = 5_000;
/// How often a batch runs.
const EVERY: Duration = Duration::from_secs(5);
/// How long a batch waits for the write lock before it gives up until the next one.
const LOCK_WAIT: Duration = Duration::from_millis(250);

/// Starts the pruning task of the store at `path`.
pub(super) fn spawn(path: PathBuf, fleet: SharedFleet, clock: Arc<dyn Clock>, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut store: Option<Store> = None;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.changed() => break,
            }
            let (path, kept, retention, now) = (path.clone(), store.take(), fleet.get().retention, clock.now());
            let pruned = tokio::task::spawn_blocking(move || {
                let mut s = match kept {
                    Some(s) => s,
                    None => {
                        let s = Store::open(&path)?;
                        s.set_busy_timeout(LOCK_WAIT)?;
                        s
                    }
                };
                let gone = {
                    let tx = s.begin()?;
                    let gone = tx.prune_samples(&retention, now, BATCH)?;
                    tx.commit()?;
                    gone
                };
                Ok::<_, crate::store::StoreError>((s, gone))
            })
            .await;
            match pruned {
                Ok(Ok((s, gone))) => {
                    store = Some(s);
                    if gone > 0 {
                        tracing::debug!(rows = gone, "samples past their retention pruned");
                    }
                }
                // Locked or busy: the next batch tries again; nothing is lost by waiting.
                Ok(Err(e)) => tracing::debug!(error = %e, "samples not pruned this time"),
                Err(_) => break,
            }
        }
    });
}
