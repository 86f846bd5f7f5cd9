//! The decider: the only writer of incidents and the only one who queues their mails. It runs
//! on its own thread, drains inputs in batches, decides each batch in one store transaction
//! (check results through the core's `Monitor`, resource samples in `resources`, recovery steps
//! and console requests in `recovery` and `actions`), and only after the commit publishes events,
//! repaints the consoles' view, wakes the outbox and hands recoveries to the runner. A batch the
//! store refuses waits in memory; what it changed in memory is read back (`resume`).
//!
//! Must not know: how probes are scheduled, transports, Tauri, the UI.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anshin_core::incident::Suppression;
use anshin_core::mail::MailKind;
use anshin_core::resource::Resource;
use anshin_core::{CheckKey, CheckKind, Decision, Fleet, Level, Transition};
use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Notify};

use super::memory::{Memory, Subject};
use super::probing::Tasks;
use super::runner::{Job, Runner};
use super::{health, resume, ActionDone, ActionError, Clock, EngineError, Input, HOST_KEY_CHECK};
use crate::alert_mail::AlertMailer;
use crate::event::EngineEvent;
use crate::mail::SmtpSettings;
use crate::probe::ProbeResult;
use crate::shared_fleet::SharedFleet;
use crate::ssh::SshTarget;
use crate::store::{timestamp, Store, StoreTx};
use crate::view::{FleetView, ResourceView};

/// Results applied in one transaction at most.
pub(super) const MAX_BATCH: usize = 1024;
/// How long the decider waits for another writer's lock before it keeps its batch in memory and
/// tries again (the outbox runner's and report schedule's writes take milliseconds).
pub(super) const DECIDER_BUSY_WAIT: Duration = Duration::from_millis(500);
/// Inputs kept in memory while the store refuses writes; past it, only the latest result per
/// check (10,000 servers × 5 checks leave 50,000).
const MAX_WAITING: usize = 200_000;

/// The decider: the only writer of incidents and the only one who queues their mails.
pub(super) struct Decider {
    pub(super) fleet: Fleet,
    /// The servers whose resources are polled (resumed incidents of others are closed).
    pub(super) polled: Vec<SshTarget>,
    /// What it knows between batches: check states, open incidents, servers, pauses.
    pub(super) memory: Memory,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) events: broadcast::Sender<EngineEvent>,
    pub(super) view: Arc<RwLock<FleetView>>,
    pub(super) mailer: AlertMailer,
    /// Wakes the outbox runner after a commit that queued mail.
    pub(super) wake: Arc<Notify>,
    /// Performs recoveries after the commit that started them.
    pub(super) runner: Runner,
    /// The last interval's attempts: local failures, late ones, scheduling lag (engine alarms).
    pub(super) attempts: health::Attempts,
    /// The last stored value of slow-changing readings (stored on change).
    pub(super) slow_readings: anshin_core::retention::SlowReadings,
    /// The business hours and Japan day the servers' `actions` were painted for: what an
    /// operator may do changes with them (a plan 60 recovery, spot work, a renewed plan).
    pub(super) actions_for: Option<(bool, chrono::NaiveDate)>,
    /// Whether the store takes the decider's writes (an engine alarm while it does not).
    pub(super) store_health: health::StoreHealth,
    /// The probe and poll tasks of the fleet in force.
    pub(super) tasks: Tasks,
    /// The fleet in force as the API, the reports and the shell read it.
    pub(super) shared: SharedFleet,
    /// The outbox runner's SMTP settings (it starts again with new ones).
    pub(super) smtp: watch::Sender<Option<SmtpSettings>>,
    /// Backups as jobs: the runs known per server, the ones running.
    pub(super) backups: super::backup_jobs::Backups,
    /// Security updates: what each server has pending, the jobs going.
    pub(super) updates: super::update_jobs::Updates,
}

/// A batch the store did not take.
struct Refused {
    /// What to decide again once the store takes writes (console requests were answered).
    inputs: Vec<Input>,
    error: EngineError,
    /// The decider's memory was changed before the failure (it must be read back).
    touched: bool,
}

/// Keeps, of the waiting results, only the latest per check and per polled server (recovery
/// steps all stay): the bound on memory while the store refuses writes for long.
fn coalesce(queue: &mut VecDeque<Input>) {
    let before = queue.len();
    let mut seen_checks = HashSet::new();
    let mut seen_hosts = HashSet::new();
    let mut kept: Vec<Input> = Vec::with_capacity(queue.len());
    for input in queue.drain(..).rev() {
        let keep = match &input {
            Input::Check { key, .. } => seen_checks.insert(key.clone()),
            Input::Resources { host, .. } => seen_hosts.insert(host.clone()),
            Input::Tick | Input::BackupProgress { .. } => false,
            _ => true,
        };
        if keep {
            kept.push(input);
        }
    }
    queue.extend(kept.into_iter().rev());
    tracing::warn!(
        before,
        after = queue.len(),
        "too many results wait for the store: only the latest per check is kept"
    );
}

/// What one batch produced, applied after its commit.
#[derive(Default)]
pub(super) struct Effects {
    pub(super) events: Vec<EngineEvent>,
    pub(super) mail: bool,
    /// Hosts whose pause, recovery or prompts changed (repainted in the view).
    pub(super) hosts: HashSet<String>,
    /// Recoveries to perform.
    pub(super) jobs: Vec<Job>,
    /// Acknowledgements to show: host, incident, who.
    pub(super) acknowledged: Vec<(String, i64, String)>,
    /// Files of deleted backup generations, removed once the store no longer lists them.
    pub(super) remove_files: Vec<std::path::PathBuf>,
}

impl Decider {
    /// A written mail to a customer (a notice, a 作業完了) for the outbox, or None when it could
    /// not be written (logged with `what` and the server: the work itself is not undone).
    pub(super) fn customer_mail(
        &self,
        kind: crate::store::outbox::OutboxKind,
        notify: &[String],
        host: &str,
        what: &str,
        written: Result<anshin_core::mail::RenderedMail, anshin_core::mail::MailError>,
    ) -> Option<crate::store::outbox::NewMail> {
        match written {
            Ok(m) => Some(crate::store::outbox::NewMail {
                kind,
                incident_id: None,
                from: self.fleet.noc.mail_from.clone(),
                to: notify.to_vec(),
                subject: m.subject,
                body: m.body,
            }),
            Err(e) => {
                tracing::error!(host, error = %e, "the {what} mail cannot be written");
                None
            }
        }
    }

    /// Runs on a blocking thread until every probe and poll task has ended.
    ///
    /// A store that refuses a batch (locked by another process, busy, full, read-only) never
    /// stops the engine: the batch's inputs wait in memory (bounded: past [`MAX_WAITING`] only
    /// the latest result per check is kept) and are decided once the store takes them again;
    /// nothing is decided before its commit. Console requests meanwhile are answered at once
    /// with `store_unavailable`. Every console shows the wait as an engine alarm.
    pub(super) fn run(mut self, mut store: Store, mut results: mpsc::Receiver<Input>) -> Result<(), EngineError> {
        {
            // Paint what was resumed: pauses, prompts to come.
            let hosts: Vec<String> = self.memory.paused.keys().cloned().collect();
            if let Ok(mut v) = self.view.write() {
                for h in &hosts {
                    self.paint(&mut v, h);
                }
            }
        }
        let mut queue: VecDeque<Input> = VecDeque::new();
        // When the store may be tried again, and whether memory must be read back first (a
        // batch failed after it had changed it).
        let (mut next_try, mut reload) = (None::<DateTime<Utc>>, false);
        loop {
            let now = self.clock.now();
            let may_try = next_try.is_none_or(|t| now >= t);
            if queue.is_empty() || !may_try {
                match results.blocking_recv() {
                    Some(input) => queue.push_back(input),
                    None => break,
                }
            }
            while let Ok(input) = results.try_recv() {
                queue.push_back(input);
            }
            if queue.len() > MAX_WAITING {
                coalesce(&mut queue);
            }
            let now = self.clock.now();
            if next_try.is_some_and(|t| now < t) {
                self.hold_while_store_waits(&mut queue, now);
                continue;
            }
            if reload {
                match self.reload(&mut store, now) {
                    Ok(()) => {
                        reload = false;
                        tracing::warn!(
                            "the decider's memory was read back from the store after a batch it could not store"
                        );
                    }
                    Err(e) => {
                        self.store_refused(&e, &mut queue, now, &mut next_try);
                        continue;
                    }
                }
            }
            // A fleet change is applied on its own, between the batches before and after it.
            let until = match queue.iter().position(|i| matches!(i, Input::Fleet(_))) {
                Some(0) => {
                    if let Some(Input::Fleet(change)) = queue.pop_front() {
                        self.fleet_change(&mut store, change, now);
                    }
                    continue;
                }
                Some(at) => at,
                None => queue.len(),
            };
            let batch: Vec<Input> = queue.drain(..until.min(MAX_BATCH)).collect();
            match self.apply(&mut store, batch, now) {
                Ok(()) => {
                    if next_try.take().is_some() {
                        self.store_health.stored();
                    }
                    self.store_health.pending = queue.len();
                    self.publish_health(now);
                }
                Err(refused) => {
                    reload = refused.touched;
                    for input in refused.inputs.into_iter().rev() {
                        queue.push_front(input);
                    }
                    self.store_refused(&refused.error, &mut queue, now, &mut next_try);
                }
            }
        }
        let now = self.clock.now();
        if !queue.is_empty() {
            tracing::warn!(
                waiting = queue.len(),
                "stopping while the store refused writes: these results were never decided (the next start probes again)"
            );
        }
        let tx = store.begin()?;
        tx.append_event("engine_stopped", None, None, "", now)?;
        tx.commit()?;
        let _ = self.events.send(EngineEvent::EngineStopped { at: timestamp(now) });
        Ok(())
    }

    /// A batch could not be stored: say so on every console and wait before trying again.
    fn store_refused(
        &mut self,
        error: &EngineError,
        queue: &mut VecDeque<Input>,
        now: DateTime<Utc>,
        next_try: &mut Option<DateTime<Utc>>,
    ) {
        let transient = error.is_store_busy();
        if !transient && !error.is_store_failure() {
            // Neither a lock nor a failing disk: a batch the store can never take (a bug). Its
            // probe results are dropped (the next cycle brings new ones) rather than retried
            // for ever; recovery outcomes stay.
            tracing::error!(error = %error, "the store refused a batch for a reason waiting does not cure: its results are dropped");
            queue.retain(|i| !matches!(i, Input::Check { .. } | Input::Resources { .. }));
        }
        self.store_health.refused(now, &error.to_string(), transient);
        *next_try = Some(now + self.store_health.retry_after(now));
        self.hold_while_store_waits(queue, now);
    }

    /// While the store refuses writes: console requests are answered at once, ticks dropped (a
    /// new one comes every second), results wait.
    fn hold_while_store_waits(&mut self, queue: &mut VecDeque<Input>, now: DateTime<Utc>) {
        let mut kept = VecDeque::with_capacity(queue.len());
        for input in queue.drain(..) {
            match input {
                Input::Action { reply, .. } => {
                    let _ = reply.send(Err(ActionError::StoreUnavailable(
                        "the store does not accept writes at the moment (see the engine alarm): try again shortly"
                            .into(),
                    )));
                }
                Input::Tick => {}
                other => kept.push_back(other),
            }
        }
        *queue = kept;
        self.store_health.pending = queue.len();
        self.publish_health(now);
    }

    /// Puts the engine's alarms into the consoles' health line.
    fn publish_health(&mut self, now: DateTime<Utc>) {
        let mut alarms = self.attempts.alarms(now);
        alarms.extend(self.store_health.alarm(now));
        alarms.extend(self.backups.store_alarm());
        let lag = self.attempts.lag_p99_ms(now);
        let median = self.attempts.lag_p50_ms(now);
        let (decided, skipped) = (self.attempts.decided(), self.tasks.slots_skipped());
        if let Ok(mut v) = self.view.write() {
            if v.health.alarms != alarms {
                v.health.alarms = alarms;
            }
            v.health.probe_lag_p99_ms = lag;
            v.health.probe_lag_p50_ms = median;
            v.health.attempts_decided = decided;
            v.health.slots_skipped = skipped;
            v.health.business_hours = anshin_core::calendar::in_business_hours(now);
        }
        let actions_for = (anshin_core::calendar::in_business_hours(now), anshin_core::contract::jst_day(now));
        if self.actions_for != Some(actions_for) {
            self.actions_for = Some(actions_for);
            let labels: Vec<String> = self.fleet.servers.iter().map(|s| s.label.clone()).collect();
            if let Ok(mut v) = self.view.write() {
                for label in &labels {
                    self.paint(&mut v, label);
                }
            }
        }
    }

    /// Reads the decider's memory back from the store after a batch that failed half-way (what
    /// it changed in memory was never stored), or for a changed fleet. Running recoveries keep
    /// running; prompts already shown stay.
    pub(super) fn reload(&mut self, store: &mut Store, now: DateTime<Utc>) -> Result<(), EngineError> {
        let r = resume::resume(&self.fleet, &self.polled, store, now, resume::Mode::Reload)?;
        let mut memory = r.memory;
        for rec in store.running_recoveries()? {
            if let Some(server) = memory.server_mut(&rec.host) {
                server.running = Some(rec);
            }
        }
        let old = std::mem::replace(&mut self.memory, memory);
        self.memory.keep_unstored(old);
        self.memory.paused = self.pauses_at(now);
        if let Ok(mut v) = self.view.write() {
            v.replace_hosts(r.view);
            let hosts: Vec<String> = v.hosts().iter().map(|h| h.label.clone()).collect();
            for h in &hosts {
                self.paint(&mut v, h);
            }
        }
        tracing::debug!("the decider's memory was read back from the store");
        Ok(())
    }

    /// Decides one batch in one transaction and, after its commit, publishes what it did. On
    /// failure the inputs to try again come back (console requests are answered with the
    /// reason instead), and `touched` says whether memory was changed before the failure.
    fn apply(&mut self, store: &mut Store, received: Vec<Input>, now: DateTime<Utc>) -> Result<(), Refused> {
        // Console requests are decided after the batch's results, in the same transaction;
        // a tick only opens a transaction when something is due.
        let (mut batch, mut requests, mut done, mut tick) =
            (Vec::with_capacity(received.len()), Vec::new(), Vec::new(), false);
        let mut acting = Vec::new();
        for input in received {
            match input {
                Input::Action { request, by, reply } => requests.push((request, by, reply)),
                Input::RecoveryActing { id } => acting.push(id),
                Input::RecoveryDone { id, outcome, detail } => done.push((id, outcome, detail)),
                Input::Tick => tick = true,
                Input::BackupProgress { host, progress } => self.backup_progress(&host, &progress, now),
                Input::BackupDone { host, started } => self.backup_done(store, &host, started, now),
                Input::RestoreDone(ended) => self.restore_done(store, *ended, now),
                Input::UpdatesDetected { host, detected } => self.updates_detected(store, &host, *detected, now),
                Input::UpdatesApplied(ended) => self.updates_applied(store, *ended, now),
                other => batch.push(other),
            }
        }
        if tick {
            self.backup_look(now);
            self.updates_look(now);
        }
        let tick = tick && self.tick_due(now);
        let judge_backups = self.backups.take_judge();
        if batch.is_empty() && requests.is_empty() && done.is_empty() && acting.is_empty() && !tick && !judge_backups {
            return Ok(());
        }
        // What goes back to the queue when the store refuses (requests are answered instead).
        let give_back = |batch: Vec<Input>, acting: &[i64], done: &[(i64, String, String)]| -> Vec<Input> {
            let mut inputs = batch;
            inputs.extend(acting.iter().map(|id| Input::RecoveryActing { id: *id }));
            inputs.extend(done.iter().map(|(id, outcome, detail)| Input::RecoveryDone {
                id: *id,
                outcome: outcome.clone(),
                detail: detail.clone(),
            }));
            inputs
        };
        let refuse = |requests: Vec<oneshot::Sender<Result<ActionDone, ActionError>>>, e: &EngineError| {
            for reply in requests {
                let _ = reply.send(Err(ActionError::StoreUnavailable(format!(
                    "the store did not take it ({e}): nothing was done, try again shortly"
                ))));
            }
        };
        let tx = match store.begin() {
            Ok(tx) => tx,
            Err(e) => {
                let error = EngineError::from(e);
                refuse(requests.into_iter().map(|(_, _, reply)| reply).collect(), &error);
                return Err(Refused { inputs: give_back(batch, &acting, &done), error, touched: false });
            }
        };
        let mut fx = Effects::default();
        let mut answers = Vec::with_capacity(requests.len());
        let decided = (|| -> Result<(), EngineError> {
            for input in &batch {
                match input {
                    Input::Check { key, result, lag_ms, late } => {
                        self.check(&tx, key, result, *lag_ms, *late, now, &mut fx)?
                    }
                    Input::Resources { host, poll } => self.resources(&tx, host, poll, now, &mut fx)?,
                    _ => {}
                }
            }
            for id in &acting {
                self.recovery_acting(&tx, *id, now, &mut fx)?;
            }
            for (id, outcome, detail) in &done {
                self.recovery_done(&tx, *id, outcome, detail, now, &mut fx)?;
            }
            if tick {
                self.tick(&tx, now, &mut fx)?;
            }
            if judge_backups {
                self.judge_backups(&tx, now, &mut fx)?;
            }
            // Each request in a savepoint: one the store refuses is undone alone and answered
            // with the reason; it never stops the engine.
            for (request, by, reply) in requests.drain(..) {
                tx.savepoint()?;
                let name = request.name();
                let answer = match self.act(&tx, request, &by, now, &mut fx) {
                    Ok(answer) => {
                        tx.release_savepoint()?;
                        answer
                    }
                    Err(e) => {
                        tx.rollback_to_savepoint()?;
                        tracing::error!(action = name, error = %e, "the store refused a console action");
                        Err(ActionError::Invalid(format!("the store refused it: {e}")))
                    }
                };
                answers.push((reply, answer));
            }
            Ok(tx.commit()?)
        })();
        if let Err(error) = decided {
            // Whatever the transaction held is rolled back; the memory it changed is read back
            // before the next batch.
            let replies = requests.into_iter().map(|(_, _, reply)| reply).chain(answers.into_iter().map(|(r, _)| r));
            refuse(replies.collect(), &error);
            return Err(Refused { inputs: give_back(batch, &acting, &done), error, touched: true });
        }
        self.refresh_view(&batch, now);
        if let Ok(mut v) = self.view.write() {
            for (host, id, by) in &fx.acknowledged {
                v.set_acknowledged(host, *id, by);
            }
            for host in &fx.hosts {
                self.paint(&mut v, host);
            }
        }
        for (reply, answer) in answers {
            let _ = reply.send(answer);
        }
        for job in fx.jobs {
            self.runner.spawn(job);
        }
        for file in fx.remove_files {
            if let Err(e) = std::fs::remove_file(&file) {
                tracing::warn!(file = %file.display(), error = %e, "a deleted backup generation's file could not be removed");
            }
        }
        if fx.mail {
            self.wake.notify_one();
        }
        for e in fx.events {
            let _ = self.events.send(e);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn check(
        &mut self,
        tx: &StoreTx<'_>,
        key: &CheckKey,
        result: &ProbeResult,
        lag_ms: u32,
        late: bool,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        // The result of a check that left the fleet (its task was stopped on the way).
        if !self.tasks.runs(key) {
            return Ok(());
        }
        // An attempt that failed on our side (or ran late) says nothing about the server: the
        // check keeps its state and count, nothing opens, nothing is mailed; the tile shows it
        // unknown.
        let local = (result.unknown && !late).then_some(result.detail.as_str());
        self.attempts.record(now, health::Attempt { lag_ms, local, late });
        if result.unknown {
            return Ok(());
        }
        let at = timestamp(now);
        let obs = self.memory.monitor.observe(key, result.ok);
        let state_name = match obs.transition {
            Transition::Unchanged => None,
            Transition::SoftFailure { .. } => Some("soft"),
            Transition::HardDown => Some("hard"),
            Transition::SoftRecovery | Transition::Recovered => Some("ok"),
        };
        if let Some(state) = state_name {
            tx.save_check_state(key, &obs.state, &result.detail, now)?;
            tx.append_event(
                &format!("check_{state}"),
                self.memory.monitor.incident(key),
                Some(key),
                &result.detail,
                now,
            )?;
            fx.events.push(EngineEvent::CheckState {
                host: key.host.clone(),
                check: key.kind.id(),
                state,
                attempt: obs.state.failures,
                detail: result.detail.clone(),
                at: at.clone(),
            });
        }
        // The first failed attempt starts the clock of a reboot (contract §4: 15 minutes from it).
        if let Some(server) = self.memory.server_mut(&key.host) {
            if obs.state.failing() {
                server.failing_since.entry(key.kind.clone()).or_insert(now);
            } else {
                server.failing_since.remove(&key.kind);
            }
        }
        for decision in obs.decisions {
            match decision {
                Decision::Open { key, level, trigger } => {
                    self.open_check_incident(tx, &key, level, &trigger, &result.detail, now, fx)?
                }
                Decision::Close { key, incident } => {
                    self.close_check_incident(tx, &key, incident, &result.detail, now, fx)?
                }
            }
        }
        Ok(())
    }

    /// A hard-down check nothing suppresses: its incident opens, its alert is mailed (or held
    /// by a pause), and its automatic recovery is looked at.
    #[allow(clippy::too_many_arguments)]
    fn open_check_incident(
        &mut self,
        tx: &StoreTx<'_>,
        key: &CheckKey,
        level: Level,
        trigger: &str,
        detail: &str,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        let id = tx.open_incident(key, level, trigger, detail, now)?;
        self.memory.open(id, &key.host, Subject::Check(key.kind.clone()), now);
        fx.hosts.insert(key.host.clone());
        let problem = self.check_problem(key);
        let (host, check, level, trigger) =
            (key.host.clone(), key.kind.id(), key.kind.level().number(), key.kind.trigger(&key.host));
        let paused = self.alert_or_hold(tx, &host, &check, id, level, &problem, now, fx)?;
        if self.is_gateway_ping(key) {
            self.network_mails(tx, &key.host, id, now, now, &MailKind::Alert, fx)?;
        }
        fx.events.push(EngineEvent::IncidentOpened { id, host, check, level, trigger, at: timestamp(now), paused });
        self.consider(tx, id, now, fx)
    }

    /// A gateway's ping: its incident is a network outage, mailed to the customers behind it
    /// (contract §9.6).
    fn is_gateway_ping(&self, key: &CheckKey) -> bool {
        matches!(key.kind, CheckKind::Ping) && self.fleet.gateway(&key.host).is_some()
    }

    /// The mails of a network outage: one per customer with servers behind `gateway` that are
    /// not in a maintenance pause now (a customer whose servers are all paused gets none).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn network_mails(
        &self,
        tx: &StoreTx<'_>,
        gateway: &str,
        id: i64,
        detected_at: DateTime<Utc>,
        now: DateTime<Utc>,
        kind: &MailKind,
        fx: &mut Effects,
    ) -> Result<usize, EngineError> {
        let affected: Vec<&str> = self
            .fleet
            .servers
            .iter()
            .filter(|s| s.gateway.as_deref() == Some(gateway) && !self.memory.paused.contains_key(&s.label))
            .map(|s| s.label.as_str())
            .collect();
        let mails = self.mailer.network(gateway, id, &affected, detected_at, now, kind);
        for mail in &mails {
            tx.enqueue_mail(mail, now)?;
            fx.mail = true;
        }
        Ok(mails.len())
    }

    /// A check incident whose check recovered: it closes, and the customer gets the recovery
    /// mail unless its alert was held (never sent).
    fn close_check_incident(
        &mut self,
        tx: &StoreTx<'_>,
        key: &CheckKey,
        id: i64,
        detail: &str,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        tx.close_incident(id, key, detail, now)?;
        let closed = self.memory.close(id);
        fx.hosts.insert(key.host.clone());
        let (host, check, level, trigger) =
            (key.host.clone(), key.kind.id(), key.kind.level().number(), key.kind.trigger(&key.host));
        fx.events.push(EngineEvent::IncidentClosed {
            id,
            host,
            check,
            level,
            trigger,
            at: timestamp(now),
            reason: None,
        });
        let detected_at = closed.as_ref().map_or(now, |c| c.opened_at);
        // A held alert was never sent: its recovery mail is not sent either.
        if closed.is_none_or(|c| c.held.is_none()) {
            let problem = self.check_problem(key);
            if let Some(mail) = self.mailer.recovery(&key.host, id, &problem, detected_at, now, None) {
                tx.enqueue_mail(&mail, now)?;
                fx.mail = true;
            }
        }
        if self.is_gateway_ping(key) {
            let recovered = MailKind::Recovery { recovered_at: now, value: None };
            self.network_mails(tx, &key.host, id, detected_at, now, &recovered, fx)?;
        }
        Ok(())
    }

    /// Brings the consoles' read model up to date with a committed batch.
    fn refresh_view(&self, batch: &[Input], now: DateTime<Utc>) {
        let Ok(mut v) = self.view.write() else { return };
        let at = timestamp(now);
        let mut hosts = HashSet::new();
        for input in batch {
            match input {
                Input::Check { key, result, .. } if result.unknown => {
                    v.update_check(key, |c| {
                        c.unknown = Some(result.detail.clone());
                        c.last_at = Some(at.clone());
                    });
                    hosts.insert(key.host.as_str());
                }
                Input::Check { key, result, .. } => {
                    let state = self.memory.monitor.state(key).unwrap_or_default();
                    let suppressed = if state.failing() {
                        self.memory.monitor.suppression(key).map(|s| match s {
                            Suppression::HostUnreachable => "host_unreachable".to_string(),
                            Suppression::GatewayDown(g) => format!("gateway_down:{g}"),
                            Suppression::Unconfirmed(h) => format!("awaiting_ping:{h}"),
                        })
                    } else {
                        None
                    };
                    let incident = self.memory.monitor.incident(key);
                    v.update_check(key, |c| {
                        c.ok = Some(result.ok);
                        c.hard = state.hard_down;
                        c.failures = state.failures;
                        c.detail = result.detail.clone();
                        c.ms = result.ms;
                        c.last_at = Some(at.clone());
                        c.incident = incident;
                        c.level = incident.map(|_| key.kind.level().number());
                        c.since = incident.and_then(|id| self.memory.opened_at(id)).map(timestamp);
                        c.acknowledged_by = incident.and_then(|id| self.memory.acknowledged_by(id));
                        c.suppressed = suppressed;
                        c.unknown = None;
                    });
                    hosts.insert(key.host.as_str());
                }
                Input::Action { .. }
                | Input::RecoveryActing { .. }
                | Input::RecoveryDone { .. }
                | Input::Tick
                | Input::Fleet(_)
                | Input::BackupProgress { .. }
                | Input::BackupDone { .. }
                | Input::RestoreDone(_)
                | Input::UpdatesDetected { .. }
                | Input::UpdatesApplied(_) => {}
                Input::Resources { host, poll } => {
                    let Some(h) = v.host_mut(host) else { continue };
                    match poll {
                        Err(e) => h.resource_error = Some(e.message.clone()),
                        Ok(sample) => {
                            h.resource_error = None;
                            if self.fleet.backup.store.is_some() {
                                if let Some(server) = self.fleet.server(host) {
                                    let judged =
                                        anshin_core::backup::eligibility_at(&self.fleet, server, now, &sample.paths);
                                    let mut backup = crate::view::BackupEligibilityView::of(&judged);
                                    backup.attention = self.backups.attention(host);
                                    backup.running = self.backups.progress(host);
                                    h.backup = Some(backup);
                                }
                            }
                            h.resources = Resource::ALL
                                .into_iter()
                                .filter_map(|r| {
                                    let reading = sample.reading(r).ok().flatten()?;
                                    Some(ResourceView {
                                        resource: r.as_str().into(),
                                        value: reading.text,
                                        sample_level: sample.level(r).ok().flatten().map(Level::number),
                                        level: None,
                                        at: at.clone(),
                                    })
                                })
                                .collect();
                        }
                    }
                    let m = &self.memory;
                    let resources = Resource::ALL.into_iter().filter_map(|r| {
                        let id = m.resource_incident(host, r)?;
                        let level = m.server(host).and_then(|s| s.resources.get(&r)?.level).map_or(0, Level::number);
                        Some((r.as_str().to_string(), m.other_incident(id, level)))
                    });
                    let host_key = m
                        .host_key_incident(host)
                        .map(|id| (HOST_KEY_CHECK.to_string(), m.other_incident(id, Level::Severe.number())));
                    let backup = m.backup_incident(host).map(|(id, level)| {
                        (anshin_core::backup::CHECK_ID.to_string(), m.other_incident(id, level.number()))
                    });
                    h.other_incidents = resources.chain(host_key).chain(backup).collect();
                    hosts.insert(host.as_str());
                }
            }
        }
        for host in hosts {
            v.refresh_host(host);
        }
        v.health.last_cycle_at = Some(at);
    }
}
