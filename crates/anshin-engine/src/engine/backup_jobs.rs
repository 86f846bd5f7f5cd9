//! The engine's backup jobs (contract §7): which runs it knows per server, which are going, when
//! what is due is looked at next, and starting a backup or a restore as a task of its own on
//! SSH sessions of their own (never the polls'); each backup is `backup_run::run_backup`, which
//! records itself in the store from its start, and its end comes back as `Input::BackupDone`
//! (a restore's as `Input::RestoreDone`). A run the last engine left `running` was cut off: it is
//! marked `interrupted` at start (never a generation) and retried at the next slot.
//! Must not know: the decider, consoles, the commands and archives (`backup_run`).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use anshin_core::backup::{self as rules, BackupSettings, Due, RestoreTarget, Run, RunState};
use anshin_core::Fleet;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::{Clock, Input};
use crate::backup_run::{self, BackupTarget};
use crate::ssh::SshPool;
use crate::store::Store;

/// How often what is due is looked at.
const LOOK_EVERY_SECS: i64 = 30;
/// A server whose backup could not even start (no SSH access, the store folder, a missing
/// snapshot) is tried again only after this long: the reason is in the log, not repeated.
const HOLD_AFTER_REFUSAL_SECS: i64 = 3600;

/// The engine's backups: the runs it knows per server, the ones running now.
pub(super) struct Backups {
    runs: HashMap<String, Vec<Run>>,
    running: HashSet<String>,
    /// Servers whose last attempt could not start a run, until when they wait.
    held: HashMap<String, DateTime<Utc>>,
    next_look: Option<DateTime<Utc>>,
    pool: SshPool,
    db: PathBuf,
    results: mpsc::WeakSender<Input>,
    clock: Arc<dyn Clock>,
}

impl Backups {
    /// At start: runs the last engine left `running` were cut off (interrupted, logged), then
    /// every server's runs are read.
    pub fn start(
        store: &mut Store,
        results: mpsc::WeakSender<Input>,
        clock: Arc<dyn Clock>,
    ) -> Result<Backups, crate::store::StoreError> {
        let now = clock.now();
        let tx = store.begin()?;
        for run in tx.interrupt_running_backups("the engine stopped while it ran; retried at the next slot", now)? {
            tracing::warn!(host = %run.host, run = run.id, "a backup was cut off by the engine's stop: interrupted");
        }
        tx.commit()?;
        let mut runs: HashMap<String, Vec<Run>> = HashMap::new();
        for r in store.backups(None, usize::MAX >> 1)? {
            runs.entry(r.host.clone()).or_default().push(backup_run::core_run(&r));
        }
        Ok(Backups {
            runs,
            running: HashSet::new(),
            held: HashMap::new(),
            next_look: None,
            pool: backup_run::ssh_pool(),
            db: store.path().to_path_buf(),
            results,
            clock,
        })
    }

    /// Whether it is time to look at what is due (twice a minute); notes the next look.
    pub fn look_now(&mut self, now: DateTime<Utc>) -> bool {
        if self.next_look.is_some_and(|t| now < t) {
            return false;
        }
        self.next_look = Some(now + chrono::Duration::seconds(LOOK_EVERY_SECS));
        true
    }

    /// Of the `eligible` servers, the backups due now (label, full), within `max_running` with
    /// those going: the core's schedule of each, skipping servers running or held.
    pub fn due(&self, settings: &BackupSettings, eligible: Vec<String>, now: DateTime<Utc>) -> Vec<(String, bool)> {
        let room = (settings.max_running as usize).saturating_sub(self.running.len());
        eligible
            .into_iter()
            .filter(|label| !self.running.contains(label) && self.held.get(label).is_none_or(|t| now >= *t))
            .filter_map(|label| {
                let runs = self.runs.get(&label).map(Vec::as_slice).unwrap_or_default();
                match rules::schedule(settings, &label, runs, now).due {
                    Due::Nothing => None,
                    Due::Full => Some((label, true)),
                    Due::Differential { .. } => Some((label, false)),
                }
            })
            .take(room)
            .collect()
    }

    /// A backup or a restore of the server is going.
    pub fn is_running(&self, host: &str) -> bool {
        self.running.contains(host)
    }

    /// The server's generation `generation` is kept (restorable).
    pub fn kept(&self, host: &str, generation: i64) -> bool {
        self.runs
            .get(host)
            .is_some_and(|runs| runs.iter().any(|r| r.generation == generation && r.state == RunState::Ok))
    }

    /// Starts a backup of `label` (its end comes back as `Input::BackupDone`).
    pub fn spawn_backup(&mut self, fleet: Arc<Fleet>, label: String, full: bool, by: String) {
        let Some(results) = self.results.upgrade() else { return };
        self.running.insert(label.clone());
        let (pool, db, clock) = (self.pool.clone(), self.db.clone(), self.clock.clone());
        tokio::spawn(async move {
            let outcome = match BackupTarget::of(&fleet, &label) {
                Ok(t) => backup_run::run_backup(&db, &t, &pool, full, &by, || clock.now(), &mut |_| {})
                    .await
                    .map(|run| format!("#{} {} {}", run.id, run.kind.as_str(), run.state)),
                Err(e) => Err(e),
            };
            match &outcome {
                Ok(summary) => tracing::info!(host = %label, summary, "backup finished"),
                Err(e) => tracing::warn!(host = %label, error = %e, "backup could not run"),
            }
            let _ = results.send(Input::BackupDone { host: label, started: outcome.is_ok() }).await;
        });
    }

    /// Starts a restore of `label` (its end comes back as `Input::RestoreDone`); false when the
    /// engine is stopping.
    pub fn spawn_restore(
        &mut self,
        fleet: Arc<Fleet>,
        label: String,
        generation: i64,
        path: Option<String>,
        target: RestoreTarget,
        by: String,
    ) -> bool {
        let Some(results) = self.results.upgrade() else { return false };
        self.running.insert(label.clone());
        let (pool, db) = (self.pool.clone(), self.db.clone());
        tokio::spawn(async move {
            let outcome = match BackupTarget::of(&fleet, &label) {
                Ok(t) => backup_run::restore(&db, &t, &pool, generation, path.as_deref(), &target)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let _ = results.send(Input::RestoreDone { host: label, generation, by, outcome }).await;
        });
        true
    }

    /// A backup ended: its server's runs are read again (the store has the outcome); a server
    /// whose run could not even start waits before the next try.
    pub fn backup_done(&mut self, store: &Store, host: &str, started: bool, now: DateTime<Utc>) {
        self.running.remove(host);
        if started {
            self.held.remove(host);
        } else {
            self.held.insert(host.to_string(), now + chrono::Duration::seconds(HOLD_AFTER_REFUSAL_SECS));
        }
        match store.backups(Some(host), usize::MAX >> 1) {
            Ok(runs) => {
                self.runs.insert(host.to_string(), runs.iter().map(backup_run::core_run).collect());
            }
            Err(e) => tracing::warn!(host, error = %e, "cannot read the backup runs back"),
        }
    }

    /// A restore ended.
    pub fn restore_done(&mut self, host: &str) {
        self.running.remove(host);
    }
}
