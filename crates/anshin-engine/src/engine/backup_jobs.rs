//! The engine's backup jobs (contract §7): which runs it knows per server, which are going, when
//! what is due is looked at next, and starting a backup or a restore as a task of its own on
//! SSH sessions of their own (never the polls'); each backup is `backup_run::run_backup`, which
//! records itself in the store from its start, and its end comes back as `Input::BackupDone`
//! (a restore's as `Input::RestoreDone`). A run the last engine left `running` was cut off: it is
//! marked `interrupted` at start (never a generation) and retried at the next slot.
//! Must not know: the decider, consoles, the commands and archives (`backup_run`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anshin_core::backup::{self as rules, BackupSettings, Due, RestoreTarget, Run, RunState};
use anshin_core::Fleet;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::{Clock, Input};
use crate::backup_run::{self, BackupTarget};
use crate::probe::Prober;
use crate::ssh::SshPool;
use crate::store::Store;
use crate::view::{BackupProgressView, HealthAlarm};

/// How often what is due is looked at.
const LOOK_EVERY_SECS: i64 = 30;
/// A server whose backup could not even start (no SSH access, the store folder, a missing
/// snapshot) is tried again only after this long: the reason is in the log, not repeated.
const HOLD_AFTER_REFUSAL_SECS: i64 = 3600;

/// A restore the engine runs.
#[derive(Debug, Clone)]
pub struct RestoreJob {
    pub host: String,
    pub generation: i64,
    pub path: Option<String>,
    pub target: RestoreTarget,
    /// The operator.
    pub by: String,
    /// Who asked on the customer's side (mailed when done).
    pub requested_by: Option<String>,
}

/// One check of the server probed after a restore.
#[derive(Debug, Clone)]
pub struct RecheckedCheck {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

/// A restore's end: what the server said or why it failed, and the re-check.
#[derive(Debug)]
pub struct RestoreEnded {
    pub job: RestoreJob,
    pub outcome: Result<String, String>,
    pub recheck: Vec<RecheckedCheck>,
    pub finished: DateTime<Utc>,
}

/// The engine's backups: the runs it knows per server, the ones running now.
pub(super) struct Backups {
    runs: HashMap<String, Vec<Run>>,
    running: HashSet<String>,
    /// Servers whose last attempt could not start a run, until when they wait.
    held: HashMap<String, DateTime<Utc>>,
    /// The tile's badge of each backed-up server that has one (`rules::attention`).
    attention: HashMap<String, &'static str>,
    /// How each backup going now is doing.
    progress: HashMap<String, BackupProgressView>,
    /// The backup store's file system at or above 80 % used: the engine-health warning.
    store_alarm: Option<HealthAlarm>,
    /// The backup incidents are to be judged in the next batch.
    judge: bool,
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
            attention: HashMap::new(),
            progress: HashMap::new(),
            store_alarm: None,
            judge: true,
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

    /// The backup incidents are to be judged in the next batch.
    pub fn judge_soon(&mut self) {
        self.judge = true;
    }

    /// Whether they are to be judged now (and then not again until asked).
    pub fn take_judge(&mut self) -> bool {
        std::mem::take(&mut self.judge)
    }

    /// The runs the engine knows of a server, oldest first.
    pub fn runs_of(&self, host: &str) -> &[Run] {
        self.runs.get(host).map(Vec::as_slice).unwrap_or_default()
    }

    /// Notes a server's badge; true when it changed.
    pub fn set_attention(&mut self, host: &str, badge: Option<&'static str>) -> bool {
        let was = match badge {
            Some(b) => self.attention.insert(host.to_string(), b),
            None => self.attention.remove(host),
        };
        was != badge
    }

    /// Notes how a server's backup is going (None: it ended).
    pub fn set_progress(&mut self, host: &str, p: Option<BackupProgressView>) {
        match p {
            Some(p) => self.progress.insert(host.to_string(), p),
            None => self.progress.remove(host),
        };
    }

    /// How a server's backup going now is doing.
    pub fn progress(&self, host: &str) -> Option<BackupProgressView> {
        self.progress.get(host).cloned()
    }

    /// Looks at the backup store's file system (at each look): the `backup_store_full` warning
    /// while it is at least 80 % used, or the reason it cannot be looked at.
    pub fn measure_store(&mut self, dir: Option<&Path>, now: DateTime<Utc>) {
        let since = |a: &Option<HealthAlarm>, code: &str| {
            a.as_ref().filter(|a| a.code == code).map_or_else(|| crate::store::timestamp(now), |a| a.since.clone())
        };
        let Some(dir) = dir.filter(|d| d.exists()) else {
            // Not made yet (the first run makes it): nothing to warn about.
            self.store_alarm = None;
            return;
        };
        self.store_alarm = match backup_run::store_space(dir) {
            Ok(space) if space.warns() => Some(HealthAlarm {
                code: "backup_store_full",
                since: since(&self.store_alarm, "backup_store_full"),
                detail: format!(
                    "the backup store {} is {} % used ({} free of {})",
                    dir.display(),
                    space.used_percent(),
                    rules::human_bytes(space.free),
                    rules::human_bytes(space.total)
                ),
                count: space.used_percent(),
                total: 100,
            }),
            Ok(_) => None,
            Err(e) => Some(HealthAlarm {
                code: "backup_store_full",
                since: since(&self.store_alarm, "backup_store_full"),
                detail: format!("the backup store cannot be looked at: {e}"),
                count: 0,
                total: 0,
            }),
        };
    }

    /// The backup store's warning, if any.
    pub fn store_alarm(&self) -> Option<HealthAlarm> {
        self.store_alarm.clone()
    }

    /// The servers the engine knows runs of (those of the fleet and those that left it).
    pub fn hosts(&self) -> Vec<String> {
        self.runs.keys().cloned().collect()
    }

    /// Marks generations deleted in the runs it knows.
    pub fn mark_pruned(&mut self, host: &str, ids: &[i64]) {
        for r in self.runs.get_mut(host).into_iter().flatten().filter(|r| ids.contains(&r.generation)) {
            r.state = RunState::Pruned;
        }
    }

    /// A server's badge (`last_failed`, `stale`), if it has one.
    pub fn attention(&self, host: &str) -> Option<&'static str> {
        self.attention.get(host).copied()
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
                Ok(t) => {
                    let mut tell = |p: &backup_run::Progress| {
                        let _ = results.try_send(Input::BackupProgress { host: label.clone(), progress: p.clone() });
                    };
                    backup_run::run_backup(&db, &t, &pool, full, &by, || clock.now(), &mut tell)
                        .await
                        .map(|run| format!("#{} {} {}", run.id, run.kind.as_str(), run.state))
                }
                Err(e) => Err(e),
            };
            match &outcome {
                Ok(summary) => tracing::info!(host = %label, summary, "backup finished"),
                Err(e) => tracing::warn!(host = %label, error = %e, "backup could not run"),
            }
            let _ = results.send(Input::BackupDone { host: label, started: outcome.is_ok() }).await;
        });
    }

    /// Starts a restore (its end comes back as `Input::RestoreDone`): the restore, then one probe
    /// of each of the server's checks (`prober`). False when the engine is stopping.
    pub fn spawn_restore(&mut self, fleet: Arc<Fleet>, restore: RestoreJob, prober: Prober) -> bool {
        let Some(results) = self.results.upgrade() else { return false };
        self.running.insert(restore.host.clone());
        let (pool, db, clock) = (self.pool.clone(), self.db.clone(), self.clock.clone());
        tokio::spawn(async move {
            let outcome = match BackupTarget::of(&fleet, &restore.host) {
                Ok(t) => {
                    backup_run::restore(&db, &t, &pool, restore.generation, restore.path.as_deref(), &restore.target)
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            // The services answer as before? Each check of the server once, side by side.
            let mut probes = tokio::task::JoinSet::new();
            for spec in fleet.checks().into_iter().filter(|c| c.key.host == restore.host) {
                let prober = prober.clone();
                probes.spawn(async move {
                    let r = prober.probe(&spec).await;
                    RecheckedCheck { check: spec.key.kind.id(), ok: r.ok, detail: r.detail }
                });
            }
            let mut recheck: Vec<RecheckedCheck> = probes.join_all().await;
            recheck.sort_by(|a, b| a.check.cmp(&b.check));
            let ended = RestoreEnded { job: restore, outcome, recheck, finished: clock.now() };
            let _ = results.send(Input::RestoreDone(Box::new(ended))).await;
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
