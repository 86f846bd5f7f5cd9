//! The decider's steps for backups (contract §7): starting what is due for the servers the latest
//! poll found eligible, an operator's backup or restore (checked, answered, logged), a restore's
//! end in the log. The jobs themselves, the runs known and the schedule's bookkeeping are
//! `backup_jobs`.
//! Must not know: the commands, archives or the store's SQL (`backup_run`, `store::backups`).

use anshin_core::backup::{self as rules, RestoreTarget};
use chrono::{DateTime, Utc};

use super::decider::Decider;
use super::{ActionDone, ActionError, EngineError};
use crate::action::{BackupRequested, RestoreRequested};
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

impl Decider {
    /// Starts the backups that are due (at most `max_running` at once), twice a minute.
    pub(super) fn backup_look(&mut self, now: DateTime<Utc>) {
        if self.fleet.backup.store.is_none() || !self.backups.look_now(now) {
            return;
        }
        let eligible: Vec<String> = match self.view.read() {
            Ok(v) => v
                .hosts()
                .iter()
                .filter(|h| h.backup.as_ref().is_some_and(|b| b.code == "eligible"))
                .map(|h| h.label.clone())
                .collect(),
            Err(_) => return,
        };
        for (label, full) in self.backups.due(&self.fleet.backup, eligible, now) {
            self.backups.spawn_backup(self.shared.get(), label, full, "schedule".into());
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
        if self.backups.is_running(host) {
            return Err(ActionError::Invalid(format!("a backup of {host} is running: wait for its end")));
        }
        self.backups.spawn_backup(self.shared.get(), host.to_string(), full, by.to_string());
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
        if !self.backups.kept(host, generation) {
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
        if self.backups.is_running(host) {
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
        if !self.backups.spawn_restore(self.shared.get(), host.to_string(), generation, path.clone(), target, by.into())
        {
            return Ok(Err(ActionError::Stopped));
        }
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
        self.backups.restore_done(host);
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

    /// A backup ended (see `Backups::backup_done`).
    pub(super) fn backup_done(&mut self, store: &Store, host: &str, started: bool, now: DateTime<Utc>) {
        self.backups.backup_done(store, host, started, now);
    }
}
