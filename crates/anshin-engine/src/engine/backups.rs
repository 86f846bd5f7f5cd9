//! Backups as jobs of the engine (contract §7): what is due is the core's `backup::schedule`,
//! looked at twice a minute for every server the latest poll found eligible; at most
//! `[noc] backup.max_running` run at once, on SSH sessions of their own (never the polls'); each
//! run is `backup_run::run_backup`, which records itself in the store from its start. A run the
//! last engine left `running` was cut off: it is marked `interrupted` at start (never a
//! generation) and retried at the next slot.
//! Must not know: the commands, archives or the store's SQL (that is `backup_run` and
//! `store::backups`), consoles.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use anshin_core::backup::{self as rules, Due, RestoreTarget, Run};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::decider::Decider;
use super::{ActionDone, ActionError, Clock, EngineError, Input};
use crate::action::{BackupRequested, RestoreRequested};
use crate::backup_run::{self, BackupTarget};
use crate::ssh::SshPool;
use crate::store::{timestamp, Store, StoreTx};

/// What a restore's log entry keeps of the server's output.
const MAX_RESTORE_OUTPUT: usize = 4000;

/// `: output` capped at [`MAX_RESTORE_OUTPUT`] characters, or nothing.
fn capped(said: &str) -> String {
    let said = said.trim();
    if said.is_empty() {
        return String::new();
    }
    let kept: String = said.chars().take(MAX_RESTORE_OUTPUT).collect();
    let cut = if kept.len() < said.len() { " …(cut)" } else { "" };
    format!(": {kept}{cut}")
}

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
}

impl Decider {
    /// Starts the backups that are due (at most `max_running` at once).
    pub(super) fn backup_look(&mut self, now: DateTime<Utc>) {
        if self.fleet.backup.store.is_none() || self.backups.next_look.is_some_and(|t| now < t) {
            return;
        }
        self.backups.next_look = Some(now + chrono::Duration::seconds(LOOK_EVERY_SECS));
        let settings = self.fleet.backup.clone();
        let eligible: Vec<String> = match self.view.read() {
            Ok(v) => v
                .hosts()
                .iter()
                .filter(|h| h.backup.as_ref().is_some_and(|b| b.code == "eligible"))
                .map(|h| h.label.clone())
                .collect(),
            Err(_) => return,
        };
        for label in eligible {
            if self.backups.running.len() >= settings.max_running as usize {
                break;
            }
            if self.backups.running.contains(&label) || self.backups.held.get(&label).is_some_and(|t| now < *t) {
                continue;
            }
            let runs = self.backups.runs.get(&label).map(Vec::as_slice).unwrap_or_default();
            let full = match rules::schedule(&settings, &label, runs, now).due {
                Due::Nothing => continue,
                Due::Full => true,
                Due::Differential { .. } => false,
            };
            self.spawn_backup(label, full, "schedule".into());
        }
    }

    /// An operator's backup now: a server of the fleet, backups kept, eligible by its latest
    /// poll, none of its runs going.
    pub(super) fn request_backup(
        &mut self,
        host: &str,
        full: bool,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<ActionDone, ActionError> {
        if self.fleet.server(host).is_none() {
            return Err(ActionError::NotFound(format!("server {host}")));
        }
        if self.fleet.backup.store.is_none() {
            return Err(ActionError::NoAction(
                "the fleet keeps no backups: set [noc] backup = { store = \"DIR\" } in the fleet file".into(),
            ));
        }
        let judged = self.view.read().ok().and_then(|v| v.host(host).and_then(|h| h.backup.clone()));
        match judged {
            Some(b) if b.code == "eligible" => {}
            Some(b) if b.code == "not_in_plan" => {
                return Err(ActionError::NotIncluded(format!("{host}: the plan has no backups")))
            }
            Some(b) => {
                return Err(ActionError::Invalid(format!(
                    "{host} is not backed up ({}){}",
                    b.code,
                    b.why.map(|w| format!(": {w}")).unwrap_or_default()
                )))
            }
            None => return Err(ActionError::Invalid(format!("{host} is not backed up"))),
        }
        if self.backups.running.contains(host) {
            return Err(ActionError::Invalid(format!("a backup of {host} is running: wait for its end")));
        }
        self.spawn_backup(host.to_string(), full, by.to_string());
        Ok(ActionDone::Backup(BackupRequested { host: host.into(), full, by: by.into(), at: timestamp(now) }))
    }

    /// An operator's restore of a generation (contract §7): a server of the fleet with backups,
    /// a generation of it that is kept, a checked target and sub-path, no backup of it running.
    /// Logged `restore_started` now and `restore_finished` at its end.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn request_restore(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        generation: i64,
        path: Option<String>,
        to: Option<String>,
        in_place: bool,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<ActionDone, ActionError>, EngineError> {
        if self.fleet.server(host).is_none() {
            return Ok(Err(ActionError::NotFound(format!("server {host}"))));
        }
        if self.fleet.backup.store.is_none() {
            return Ok(Err(ActionError::NoAction("the fleet keeps no backups".into())));
        }
        let kept = self.backups.runs.get(host).is_some_and(|runs| {
            runs.iter().any(|r| r.generation == generation && r.state == anshin_core::backup::RunState::Ok)
        });
        if !kept {
            return Ok(Err(ActionError::NotFound(format!("generation {generation} of {host}"))));
        }
        let target = if in_place {
            if to.is_some() {
                return Ok(Err(ActionError::Invalid("either a target directory or in place, not both".into())));
            }
            RestoreTarget::InPlace
        } else {
            match RestoreTarget::dir(&to.unwrap_or_else(|| rules::default_restore_dir(now))) {
                Ok(t) => t,
                Err(e) => return Ok(Err(ActionError::Invalid(e))),
            }
        };
        let path = match path.filter(|p| !p.trim().is_empty()).map(|p| rules::check_path(&p)).transpose() {
            Ok(p) => p,
            Err(e) => return Ok(Err(ActionError::Invalid(e))),
        };
        if self.backups.running.contains(host) {
            return Ok(Err(ActionError::Invalid(format!("a backup of {host} is running: wait for its end"))));
        }
        let place = match &target {
            RestoreTarget::Dir(d) => d.clone(),
            RestoreTarget::InPlace => "/".into(),
        };
        let detail = format!(
            "generation #{generation} into {place}{}{}",
            if in_place { " (in place)" } else { "" },
            path.as_deref().map(|p| format!(", only {p}")).unwrap_or_default()
        );
        tx.append_event_by("restore_started", None, Some(host), Some("backup"), &detail, by, now)?;
        self.backups.running.insert(host.to_string());
        let Some(results) = self.backups.results.upgrade() else { return Ok(Err(ActionError::Stopped)) };
        let (fleet, pool, db) = (self.shared.get(), self.backups.pool.clone(), self.backups.db.clone());
        let (label, who, sub) = (host.to_string(), by.to_string(), path.clone());
        tokio::spawn(async move {
            let outcome = match BackupTarget::of(&fleet, &label) {
                Ok(t) => backup_run::restore(&db, &t, &pool, generation, sub.as_deref(), &target)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let _ = results.send(Input::RestoreDone { host: label, generation, by: who, outcome }).await;
        });
        Ok(Ok(ActionDone::Restore(RestoreRequested {
            host: host.into(),
            generation,
            target: place,
            path,
            by: by.into(),
            at: timestamp(now),
        })))
    }

    /// A restore ended: logged with what the server said (capped) or why it failed.
    pub(super) fn restore_done(
        &mut self,
        store: &mut Store,
        host: &str,
        generation: i64,
        by: &str,
        outcome: Result<String, String>,
        now: DateTime<Utc>,
    ) {
        self.backups.running.remove(host);
        let detail = match &outcome {
            Ok(said) => format!("generation #{generation} restored{}", capped(said)),
            Err(why) => format!("generation #{generation} not restored: {why}"),
        };
        let logged = store.begin().and_then(|tx| {
            tx.append_event_by("restore_finished", None, Some(host), Some("backup"), &detail, by, now)?;
            tx.commit()
        });
        if let Err(e) = logged {
            tracing::error!(host, error = %e, detail, "cannot log the end of a restore");
        }
    }

    fn spawn_backup(&mut self, label: String, full: bool, by: String) {
        let Some(results) = self.backups.results.upgrade() else { return };
        self.backups.running.insert(label.clone());
        let (fleet, pool, db, clock) =
            (self.shared.get(), self.backups.pool.clone(), self.backups.db.clone(), self.backups.clock.clone());
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

    /// A run ended: its server's runs are read again (the store has the outcome).
    pub(super) fn backup_done(&mut self, store: &Store, host: &str, started: bool, now: DateTime<Utc>) {
        self.backups.running.remove(host);
        if started {
            self.backups.held.remove(host);
        } else {
            self.backups.held.insert(host.to_string(), now + chrono::Duration::seconds(HOLD_AFTER_REFUSAL_SECS));
        }
        match store.backups(Some(host), usize::MAX >> 1) {
            Ok(runs) => {
                self.backups.runs.insert(host.to_string(), runs.iter().map(backup_run::core_run).collect());
            }
            Err(e) => tracing::warn!(host, error = %e, "cannot read the backup runs back"),
        }
    }
}
