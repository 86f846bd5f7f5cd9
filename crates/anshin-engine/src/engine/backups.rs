//! The decider's steps for backups (contract §7): starting what is due for the servers the latest
//! poll found eligible, an operator's backup or restore (checked, answered, logged), a restore's
//! end in the log, and the backup incident (`{label} バックアップ失敗`: Lv.2 after two failed or
//! missed slots in a row, Lv.3 after four, closed by the next good run; NOC-internal, never
//! mailed) with the tile's badge. The jobs themselves, the runs known and the schedule's bookkeeping are
//! `backup_jobs`.
//! Must not know: the commands, archives or the store's SQL (`backup_run`, `store::backups`).

use std::collections::HashSet;

use anshin_core::backup::{self as rules, RestoreTarget, RunState};
use anshin_core::Level;
use chrono::{DateTime, Utc};

use super::backup_jobs::{RestoreEnded, RestoreJob};
use super::decider::{Decider, Effects};
use super::memory::Subject;
use super::{ActionDone, ActionError, EngineError};
use crate::action::{BackupRequested, RestoreRequested};
use crate::backup_run;
use crate::event::EngineEvent;
use crate::store::outbox::{NewMail, OutboxKind};
use crate::store::{timestamp, Store, StoreTx};
use crate::view::BackupProgressView;

/// What the operator asked of a restore (the action's fields).
pub(super) struct RestoreAsked {
    pub generation: i64,
    pub path: Option<String>,
    pub to: Option<String>,
    pub in_place: bool,
    pub requested_by: Option<String>,
}

/// The longest `requested_by` kept.
const MAX_REQUESTED_BY: usize = 200;

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
    /// The servers backed up now: a store set, eligible by their latest poll.
    fn backed_up(&self) -> Vec<String> {
        self.backup_codes().into_iter().filter(|(_, code)| *code == "eligible").map(|(label, _)| label).collect()
    }

    /// Each server's eligibility code as the latest poll judged it (none without a store).
    fn backup_codes(&self) -> Vec<(String, &'static str)> {
        if self.fleet.backup.store.is_none() {
            return Vec::new();
        }
        match self.view.read() {
            Ok(v) => v.hosts().iter().filter_map(|h| Some((h.label.clone(), h.backup.as_ref()?.code))).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Starts the backups that are due (at most `max_running` at once), twice a minute; the
    /// backup incidents are judged again at the same pace (a slot can pass without a run).
    pub(super) fn backup_look(&mut self, now: DateTime<Utc>) {
        if !self.backups.look_now(now) {
            return;
        }
        self.backups.judge_soon();
        let Some(store) = self.fleet.backup.store.clone() else {
            self.backups.measure_store(None, now);
            return;
        };
        self.backups.measure_store(Some(std::path::Path::new(&store)), now);
        let eligible = self.backed_up();
        for (label, full) in self.backups.due(&self.fleet.backup, eligible, now) {
            self.backups.spawn_backup(self.shared.get(), label, full, "schedule".into());
        }
    }

    /// The backup incident of every server (contract §7), inside the batch's transaction: opened
    /// at Lv.2 after [`rules::LV2_AFTER`] failed or missed slots in a row, raised to Lv.3 after
    /// [`rules::LV3_AFTER`], closed by the next good run, or when the server is no longer backed
    /// up. Never mailed, never downtime. The tiles' badges are worked out at the same time.
    pub(super) fn judge_backups(
        &mut self,
        tx: &StoreTx<'_>,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        let codes = self.backup_codes();
        let backed_up: HashSet<String> =
            codes.iter().filter(|(_, c)| *c == "eligible").map(|(label, _)| label.clone()).collect();
        // Not measured yet (a restarted engine before its first poll, SSH down): not known to be
        // off backups, so its incident stays as it is.
        let unknown: HashSet<&str> =
            codes.iter().filter(|(_, c)| *c == "not_measured").map(|(label, _)| label.as_str()).collect();
        let open: Vec<(String, i64, Level)> = self
            .memory
            .incidents()
            .filter_map(|(id, inc)| match inc.subject {
                Subject::Backup { level } => Some((inc.host.clone(), id, level)),
                _ => None,
            })
            .collect();
        for (host, id, level) in open.iter().filter(|(h, ..)| !backed_up.contains(h) && !unknown.contains(h.as_str())) {
            self.close_backup_incident(tx, host, *id, *level, "the server is no longer backed up", now, fx)?;
        }
        self.expire_generations(tx, now, fx)?;
        let at = timestamp(now);
        let paused = |d: &Decider, host: &str| d.is_paused(host);
        for host in &backed_up {
            let runs = self.backups.runs_of(host);
            let failures = rules::consecutive_failures(&self.fleet.backup, host, runs, now);
            let level = rules::incident_level(failures);
            let badge = rules::attention(runs, now).map(rules::Attention::as_str);
            let newest_good = runs
                .iter()
                .filter(|r| r.state == RunState::Ok && r.finished.is_some())
                .max_by_key(|r| r.started)
                .map(|r| (r.generation, r.finished));
            if self.backups.set_attention(host, badge) {
                fx.hosts.insert(host.clone());
            }
            let trigger = rules::trigger(host);
            match (self.memory.backup_incident(host), level) {
                (None, Some(to)) => {
                    let detail = format!("{failures} backup slots in a row failed or were missed");
                    let id = tx.open_incident_on(host, rules::CHECK_ID, to, &trigger, &detail, now)?;
                    self.memory.open(id, host, Subject::Backup { level: to }, now);
                    fx.events.push(EngineEvent::IncidentOpened {
                        id,
                        host: host.clone(),
                        check: rules::CHECK_ID.into(),
                        level: to.number(),
                        trigger,
                        at: at.clone(),
                        paused: paused(self, host),
                    });
                    fx.hosts.insert(host.clone());
                }
                (Some((id, was)), Some(to)) if to != was => {
                    tx.change_incident_level(id, host, rules::CHECK_ID, to, &trigger, to > was, now)?;
                    if let Some(open) = self.memory.incident_mut(id) {
                        open.subject = Subject::Backup { level: to };
                    }
                    fx.events.push(EngineEvent::IncidentLevelChanged {
                        id,
                        host: host.clone(),
                        check: rules::CHECK_ID.into(),
                        level: to.number(),
                        trigger,
                        at: at.clone(),
                        paused: paused(self, host),
                    });
                    fx.hosts.insert(host.clone());
                }
                (Some((id, was)), None) => {
                    // Only a good run closes it (a run going stops the count but proves nothing).
                    let opened = self.memory.opened_at(id).unwrap_or(now);
                    if let Some((generation, Some(finished))) =
                        newest_good.filter(|(_, f)| f.is_some_and(|f| f >= opened))
                    {
                        let why = format!("generation #{generation} completed at {}", timestamp(finished));
                        self.close_backup_incident(tx, host, id, was, &why, now, fx)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The generations of servers no longer entitled to backups (removed from the fleet, or
    /// their plan in force has none), kept 30 days after their last run, are deleted (logged
    /// `backup_pruned` with the reason; their files go after the commit).
    fn expire_generations(
        &mut self,
        tx: &StoreTx<'_>,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        let Some(store) = self.fleet.backup.store.clone() else { return Ok(()) };
        for host in self.backups.hosts() {
            let entitled = self.fleet.server(&host).is_some_and(|s| self.fleet.plan_of_at(s, now).backup());
            let ids = rules::expired_generations(self.backups.runs_of(&host), entitled, now);
            if ids.is_empty() {
                continue;
            }
            let why = format!(
                "{host} is no longer entitled to backups (left the fleet or its plan): kept {} days after its last run",
                rules::KEEP_AFTER_LEAVING_DAYS
            );
            for run in tx.prune_backups(&ids, &why, now)? {
                for f in [run.archive.as_deref(), run.snapshot.as_deref()].into_iter().flatten() {
                    fx.remove_files.push(std::path::Path::new(&store).join(&host).join(f));
                }
            }
            self.backups.mark_pruned(&host, &ids);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn close_backup_incident(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        id: i64,
        level: Level,
        why: &str,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        tx.close_incident_on(id, host, rules::CHECK_ID, why, now)?;
        self.memory.close(id);
        fx.events.push(EngineEvent::IncidentClosed {
            id,
            host: host.into(),
            check: rules::CHECK_ID.into(),
            level: level.number(),
            trigger: rules::trigger(host),
            at: timestamp(now),
            reason: None,
        });
        fx.hosts.insert(host.into());
        Ok(())
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

    /// An operator's restore of a generation (contract §7): a server of the fleet whose plan in
    /// force includes backups, a generation of it that is kept, a checked target and sub-path,
    /// no backup of it running. Logged `restore_started` now (with who asked) and
    /// `restore_finished` at its end.
    pub(super) fn request_restore(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        asked: RestoreAsked,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<ActionDone, ActionError>, EngineError> {
        let RestoreAsked { generation, path, to, in_place, requested_by } = asked;
        let Some(server) = self.fleet.server(host) else {
            return Ok(Err(ActionError::NotFound(format!("server {host}"))));
        };
        if self.fleet.backup.store.is_none() {
            return Ok(Err(ActionError::NoAction("the fleet keeps no backups".into())));
        }
        if !self.fleet.plan_of_at(server, now).backup() {
            return Ok(Err(ActionError::NotIncluded(format!("{host}: the plan in force has no backups or restores"))));
        }
        if !self.backups.kept(host, generation) {
            return Ok(Err(ActionError::NotFound(format!("generation {generation} of {host}"))));
        }
        let requested_by = requested_by.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
        if let Some(r) = &requested_by {
            if r.chars().count() > MAX_REQUESTED_BY || r.chars().any(anshin_core::text::is_hidden) {
                return Ok(Err(ActionError::Invalid(format!(
                    "requested_by: one line of at most {MAX_REQUESTED_BY} characters, no control character"
                ))));
            }
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
            "generation #{generation} into {place}{}{}{}",
            if in_place { " (in place)" } else { "" },
            path.as_deref().map(|p| format!(", only {p}")).unwrap_or_default(),
            requested_by.as_deref().map(|r| format!(", asked by {r}")).unwrap_or_default()
        );
        tx.append_event_by("restore_started", None, Some(host), Some("backup"), &detail, by, now)?;
        let job = RestoreJob {
            host: host.to_string(),
            generation,
            path: path.clone(),
            target,
            by: by.into(),
            requested_by: requested_by.clone(),
        };
        if !self.backups.spawn_restore(self.shared.get(), job, self.tasks.prober().clone()) {
            return Ok(Err(ActionError::Stopped));
        }
        Ok(Ok(ActionDone::Restore(RestoreRequested {
            host: host.into(),
            generation,
            target: place,
            path,
            requested_by,
            by: by.into(),
            at: timestamp(now),
        })))
    }

    /// A restore ended: logged with what the server said (capped) or why it failed, and the
    /// re-check of the server's services; the customer is mailed when one they asked for is done.
    pub(super) fn restore_done(&mut self, store: &mut Store, ended: RestoreEnded, now: DateTime<Utc>) {
        let RestoreEnded { job, outcome, recheck, finished } = ended;
        let host = job.host.as_str();
        self.backups.restore_done(host);
        let rechecked = if recheck.is_empty() {
            String::new()
        } else {
            let each: Vec<String> = recheck
                .iter()
                .map(|c| if c.ok { format!("{} ok", c.check) } else { format!("{} DOWN ({})", c.check, c.detail) })
                .collect();
            format!("; re-check: {}", each.join(", "))
        };
        let generation = job.generation;
        let detail = match &outcome {
            Ok(said) => format!("generation #{generation} restored{rechecked}{}", capped(said)),
            Err(why) => format!("generation #{generation} not restored: {why}{rechecked}"),
        };
        let mail = match (&outcome, &job.requested_by) {
            (Ok(_), Some(asked)) => self.restore_mail(&job, asked, finished),
            _ => None,
        };
        let by = job.by.as_str();
        let logged = store.begin().and_then(|tx| {
            tx.append_event_by("restore_finished", None, Some(host), Some("backup"), &detail, by, now)?;
            if let Some(mail) = &mail {
                tx.enqueue_mail(mail, now)?;
            }
            tx.commit()
        });
        match logged {
            Ok(()) if mail.is_some() => self.wake.notify_one(),
            Ok(()) => {}
            Err(e) => tracing::error!(host, error = %e, detail, "cannot log the end of a restore"),
        }
    }

    /// The customer's restore-done mail (contract §7), or None (logged) when it cannot be written.
    fn restore_mail(&self, job: &RestoreJob, asked: &str, finished: DateTime<Utc>) -> Option<NewMail> {
        let server = self.fleet.server(&job.host)?;
        let customer = self.fleet.customer(&server.customer)?;
        let run = self.backups.runs_of(&job.host).iter().find(|r| r.generation == job.generation)?;
        let done = rules::RestoreDone {
            brand: &self.fleet.noc.brand,
            customer: &customer.name,
            label: &server.label,
            fqdn: &server.fqdn,
            taken: run.started,
            kind: run.kind,
            path: job.path.as_deref(),
            target: &job.target,
            finished,
            requested_by: asked,
        };
        self.customer_mail(
            OutboxKind::WorkDone,
            &customer.notify,
            &job.host,
            "restore-done",
            rules::restore_done_mail(&done),
        )
    }

    /// How a backup is going: shown on the server's detail (the feed carries it).
    pub(super) fn backup_progress(&mut self, host: &str, p: &backup_run::Progress, now: DateTime<Utc>) {
        let secs = (now - p.started).num_seconds().max(1) as u64;
        let running = BackupProgressView {
            run: p.run,
            kind: p.kind.as_str(),
            started: timestamp(p.started),
            bytes: p.bytes,
            files: p.files,
            rate: p.bytes / secs,
        };
        self.backups.set_progress(host, Some(running));
        if let Ok(mut v) = self.view.write() {
            if let Some(b) = v.host_mut(host).and_then(|h| h.backup.as_mut()) {
                b.running = self.backups.progress(host);
            }
            v.touch_host(host);
        }
    }

    /// A backup ended (see `Backups::backup_done`); its incident is judged in this batch.
    pub(super) fn backup_done(&mut self, store: &Store, host: &str, started: bool, now: DateTime<Utc>) {
        self.backups.backup_done(store, host, started, now);
        self.backups.set_progress(host, None);
        if let Ok(mut v) = self.view.write() {
            if let Some(b) = v.host_mut(host).and_then(|h| h.backup.as_mut()) {
                b.running = None;
            }
            v.touch_host(host);
        }
        self.backups.judge_soon();
    }
}
