//! Security updates as the engine does them (contract §8): a detection per server every
//! `[noc] updates.every_hours` (and on demand), its answer stored and announced to the customer
//! once per new set (セキュリティ情報のご案内, the planned date the next business day 10:00 JST
//! unless an operator set one), an operator's apply as one audited job (the server paused for
//! its duration so alerts are held, the output in the audit log, the services re-checked, a new
//! detection, the 作業完了 mail), automatic applies for customers who opted in, inside business
//! hours, once the planned date has come, and the tile's badge.
//!
//! Owns: the decider's steps for them (what the engine remembers and the jobs going are
//! `update_jobs`).
//! Must not know: the commands and their parsers (`anshin-core::updates`), SSH (`update_run`),
//! SQL (`store::updates`).

use std::time::Duration;

use anshin_core::mail::MailHost;
use anshin_core::update_settings::AutoUpdates;
use anshin_core::updates::{self as rules, NoticeContext, PendingUpdate, Severity, UpdateClass};
use chrono::{DateTime, Utc};
use chrono_tz::Asia::Tokyo;

use super::decider::{Decider, Effects};
use super::update_jobs::{
    parse_time, ApplyEnded, Applying, MAX_DETECTING, PAUSE_MARGIN_MINUTES, RETRY_AFTER_ERROR_SECS,
};
use super::{ActionDone, ActionError, EngineError, Input};
use crate::action::UpdatesRefreshing;
use crate::store::maintenance::{MaintenanceScope, NewMaintenance};
use crate::store::outbox::{NewMail, OutboxKind};
use crate::store::updates::{PendingUpdateRow, ScanToRecord, UpdateRun, UpdateRunEnd};
use crate::store::{timestamp, Store, StoreTx};
use crate::update_run::{self, Detected, UpdateTarget};
use crate::view::UpdatesView;

impl Decider {
    /// The server's update target now, or why it has none.
    fn update_target(&self, host: &str, now: DateTime<Utc>) -> Result<UpdateTarget, update_run::NotHandled> {
        UpdateTarget::of(&self.fleet, host, now)
    }

    /// Twice a minute: the detections due (every `every_hours` after the last, at most
    /// [`MAX_DETECTING`] at once), and the automatic applies due.
    pub(super) fn updates_look(&mut self, now: DateTime<Utc>) {
        let first = self.updates.next_look.is_none();
        if !self.updates.look_now(now) {
            return;
        }
        if first {
            // What the store knew at start, on every tile.
            let labels: Vec<String> = self.fleet.servers.iter().map(|s| s.label.clone()).collect();
            if let Ok(mut v) = self.view.write() {
                for label in &labels {
                    self.paint(&mut v, label);
                }
            }
        }
        // Applies first: a server due both is applied (its job detects again afterwards).
        self.auto_apply(now);
        let every = chrono::Duration::hours(i64::from(self.fleet.updates.every_hours));
        let labels: Vec<String> = self.fleet.servers.iter().map(|s| s.label.clone()).collect();
        for label in &labels {
            if self.updates.detecting.len() >= MAX_DETECTING {
                break;
            }
            if self.updates.busy(label) {
                continue;
            }
            let due = match self.updates.next_detect.get(label) {
                None => true,
                Some(last) => {
                    let failed =
                        self.updates.known.get(label).and_then(|k| k.scan.as_ref()).is_some_and(|s| s.error.is_some());
                    let wait =
                        if failed { chrono::Duration::seconds(RETRY_AFTER_ERROR_SECS).min(every) } else { every };
                    *last + wait <= now
                }
            };
            if !due {
                continue;
            }
            match self.update_target(label, now) {
                Ok(target) => {
                    self.updates.next_detect.insert(label.clone(), now);
                    self.updates.spawn_detect(target);
                }
                Err(_) => {
                    // Not handled (plan, access, OS): looked at again when the fleet changes.
                    self.updates.next_detect.insert(label.clone(), now + every);
                }
            }
        }
    }

    /// Customers with `auto_updates = "security"`: inside business hours, once the planned date
    /// has come, the pending OS updates are applied by the engine (once per planned date).
    fn auto_apply(&mut self, now: DateTime<Utc>) {
        if !anshin_core::calendar::in_business_hours(now) {
            return;
        }
        let due: Vec<(String, String)> = self
            .fleet
            .servers
            .iter()
            .filter(|s| self.fleet.customer(&s.customer).is_some_and(|c| c.auto_updates == AutoUpdates::Security))
            .filter_map(|s| {
                let k = self.updates.known.get(&s.label)?;
                let plan = k.plan.as_ref()?;
                let planned = parse_time(&plan.planned_at)?;
                let pending = k.rows.iter().any(|r| r.source == "os");
                let tried = self.updates.auto_tried.get(&s.label) == Some(&plan.planned_at);
                (pending && planned <= now && !tried && !self.updates.busy(&s.label))
                    .then(|| (s.label.clone(), plan.planned_at.clone()))
            })
            .collect();
        for (host, planned) in due {
            self.updates.auto_tried.insert(host.clone(), planned);
            // Not detected in this look: the apply would find the server busy.
            self.updates.next_detect.insert(host.clone(), now);
            let request =
                crate::action::ActionRequest::ApplyUpdates { host: host.clone(), packages: Vec::new(), cms: false };
            // Through the same path as an operator's, so it is checked, paused and logged alike.
            if let Some(tx) = self.updates.results.upgrade() {
                let (reply, _) = tokio::sync::oneshot::channel();
                let _ = tx.try_send(Input::Action { request, by: "rule:auto-updates".into(), reply });
            }
        }
    }

    /// A detection ended: stored (in its own transaction), the customer's notice queued when the
    /// set grew, the badge repainted.
    pub(super) fn updates_detected(&mut self, store: &mut Store, host: &str, detected: Detected, now: DateTime<Utc>) {
        self.updates.detecting.remove(host);
        match self.record_detection(store, host, &detected, now) {
            Ok(mailed) => {
                if mailed {
                    self.wake.notify_one();
                }
            }
            Err(e) => {
                tracing::error!(host, error = %e, "cannot store a detection of updates: tried again at the next look");
                self.updates.next_detect.remove(host);
            }
        }
        self.repaint(host);
    }

    fn repaint(&mut self, host: &str) {
        if let Ok(mut v) = self.view.write() {
            self.paint(&mut v, host);
        }
    }

    /// Stores a detection and queues the notice; true when a mail was queued.
    fn record_detection(
        &mut self,
        store: &mut Store,
        host: &str,
        d: &Detected,
        now: DateTime<Utc>,
    ) -> Result<bool, EngineError> {
        let scan = ScanToRecord {
            updates: d.updates.clone(),
            error: d.error.clone(),
            reboot_needed: d.reboot_needed,
            pending_total: d.pending_total,
            notes: d.notes.join("\n"),
        };
        let tx = store.begin()?;
        tx.record_update_scan(host, &scan, now)?;
        let rows = tx.pending_updates(Some(host))?;
        let mut plan = tx.update_plan(host)?;
        let mut mailed = false;
        if d.error.is_none() && self.fleet.server(host).is_some_and(|s| self.fleet.plan_of_at(s, now).os_updates()) {
            let notified = tx.notified_updates(host)?;
            // Every stored row is one the notice covers: detection keeps only those (security
            // rows; an end-of-life system's and WordPress's unclassified ones).
            let pending: Vec<PendingUpdate> = rows.iter().map(PendingUpdateRow::update).collect();
            let diff = rules::notice_diff(&notified, &pending);
            if diff.send {
                let planned_at = plan
                    .as_ref()
                    .and_then(|p| parse_time(&p.planned_at))
                    .filter(|t| *t > now)
                    .unwrap_or_else(|| rules::default_planned_at(now));
                if plan.as_ref().and_then(|p| parse_time(&p.planned_at)) != Some(planned_at) {
                    plan = Some(tx.set_update_plan(host, planned_at, "engine", now)?);
                }
                if let Some(mail) = self.notice_mail(host, &diff.rows, planned_at) {
                    tx.enqueue_mail(&mail, now)?;
                    mailed = true;
                }
                let new = diff.rows.iter().filter(|r| r.new).count();
                let summary =
                    format!("{} updates announced ({new} new), planned for {}", diff.rows.len(), timestamp(planned_at));
                tx.remember_update_notice(host, &diff.keys, &summary, now)?;
            }
        }
        tx.commit()?;
        let known = self.updates.known.entry(host.to_string()).or_default();
        known.rows = rows;
        known.plan = plan;
        known.scan = store.update_scans(Some(host))?.into_iter().next();
        Ok(mailed)
    }

    /// The notice mail (contract §8), or None (logged) when it cannot be written.
    fn notice_mail(&self, host: &str, rows: &[rules::NoticeRow], planned_at: DateTime<Utc>) -> Option<NewMail> {
        let server = self.fleet.server(host)?;
        let customer = self.fleet.customer(&server.customer)?;
        let mail_host = MailHost::from(server);
        let ctx = NoticeContext { noc: &self.fleet.noc, host: &mail_host, customer: &customer.name, planned_at };
        self.customer_mail(
            OutboxKind::SecurityNotice,
            &customer.notify,
            host,
            "security notice",
            rules::render_notice(&ctx, rows),
        )
    }

    /// An operator's detection now.
    pub(super) fn request_update_refresh(
        &mut self,
        host: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<ActionDone, ActionError> {
        let target = self.update_target(host, now).map_err(refusal)?;
        if self.updates.busy(host) {
            return Err(ActionError::JobRunning(format!("an update job is already running on {host}")));
        }
        self.updates.next_detect.insert(host.to_string(), now);
        self.updates.spawn_detect(target);
        self.repaint(host);
        Ok(ActionDone::RefreshUpdates(UpdatesRefreshing { host: host.into(), by: by.into(), at: timestamp(now) }))
    }

    /// An operator sets the planned date of a server's update work.
    pub(super) fn request_update_plan(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        planned_at: DateTime<Utc>,
        by: &str,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<Result<ActionDone, ActionError>, EngineError> {
        if let Err(e) = self.update_target(host, now) {
            return Ok(Err(refusal(e)));
        }
        if planned_at < now - chrono::Duration::minutes(1) || planned_at > now + chrono::Duration::days(90) {
            return Ok(Err(ActionError::Invalid("the planned date must be from now to 90 days ahead".into())));
        }
        let plan = tx.set_update_plan(host, planned_at, by, now)?;
        self.updates.known.entry(host.to_string()).or_default().plan = Some(plan.clone());
        fx.hosts.insert(host.to_string());
        Ok(Ok(ActionDone::PlanUpdates(plan)))
    }

    /// An operator applies a server's security updates (all, or the packages named) or its CMS
    /// updates: checked (the plan, access, the rows pending, one job per server), the job
    /// recorded, the server paused for its duration, then run.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn request_update_apply(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        packages: Vec<String>,
        cms: bool,
        by: &str,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<Result<ActionDone, ActionError>, EngineError> {
        if self.updates.busy(host) {
            return Ok(Err(ActionError::JobRunning(format!("an update job is already running on {host}"))));
        }
        if let Some(r) = self.memory.running(host) {
            return Ok(Err(ActionError::Busy(Box::new(r.clone()))));
        }
        let pending: Vec<PendingUpdate> = self.updates.rows(host).iter().map(PendingUpdateRow::update).collect();
        let plan = match update_run::plan_apply(&self.fleet, host, &pending, &packages, cms, now) {
            Ok(p) => p,
            Err(r) => return Ok(Err(apply_refusal(r))),
        };
        let update_run::ApplyPlan { target, scope, chosen, commands } = plan;
        let os = matches!(scope, update_run::ApplyScope::Os { .. });
        let names = if packages.is_empty() { String::new() } else { packages.join(",") };
        let run = tx.start_update_run(host, scope.name(), &names, &commands.join("\n"), by, now)?;
        let job_minutes = i64::from(self.fleet.updates.job_minutes);
        let pause = NewMaintenance {
            scope: MaintenanceScope::Server(host.into()),
            starts_at: now,
            ends_at: now + chrono::Duration::minutes(job_minutes + PAUSE_MARGIN_MINUTES),
            reason: format!("セキュリティアップデート作業 (job #{run})"),
            who: by.into(),
        };
        let window = match tx.add_maintenance(&pause, now) {
            Ok(id) => id,
            Err(crate::store::maintenance::MaintenanceError::Store(e)) => return Err(e.into()),
            Err(e) => return Ok(Err(ActionError::Invalid(e.to_string()))),
        };
        if let Some(record) = tx.maintenance_by_id(window)? {
            self.window_changed(tx, record, now, fx)?;
        }
        self.updates.applying.insert(host.to_string(), Applying { run, os, window, by: by.into(), applied: chosen });
        let job = Duration::from_secs(job_minutes as u64 * 60);
        self.updates.spawn_apply(self.shared.get(), target, commands, job, self.tasks.prober().clone());
        fx.hosts.insert(host.to_string());
        let started = store_run(tx, run)?;
        Ok(Ok(ActionDone::ApplyUpdates(started)))
    }

    /// An apply ended: the job's end and output logged, the pause ended, the plan cleared when it
    /// worked, the customer's 作業完了 mail, the new detection stored.
    pub(super) fn updates_applied(&mut self, store: &mut Store, ended: ApplyEnded, now: DateTime<Utc>) {
        let ApplyEnded { host, applied, recheck, detected } = ended;
        let Some(job) = self.updates.applying.remove(&host) else { return };
        let rechecked = recheck
            .iter()
            .map(|c| if c.ok { format!("{} ok", c.check) } else { format!("{} DOWN ({})", c.check, c.detail) })
            .collect::<Vec<_>>()
            .join(", ");
        // A CMS job never needs the server rebooted (the OS's own state is on the tile).
        let reboot_needed = job.os && detected.error.is_none() && detected.reboot_needed;
        let summary = if applied.ok {
            format!(
                "{} updates applied; re-check: {}{}",
                job.applied.len(),
                if rechecked.is_empty() { "nothing to check" } else { &rechecked },
                if reboot_needed {
                    "; a reboot is needed (ask the customer, then reboot from the console)"
                } else {
                    ""
                }
            )
        } else {
            format!("failed: {}; re-check: {rechecked}", applied.failure)
        };
        let mail = if applied.ok { self.done_mail(&host, &job.applied, reboot_needed, now) } else { None };
        let logged = (|| -> Result<(), EngineError> {
            let tx = store.begin()?;
            let end = UpdateRunEnd {
                ok: applied.ok,
                exit_status: applied.exit_status,
                reboot_needed,
                detail: &summary,
                output: &applied.output,
            };
            tx.finish_update_run(job.run, &end, now)?;
            if tx.end_maintenance(job.window, &job.by, now).is_err() {
                tracing::debug!(host, window = job.window, "the update's pause had already ended");
            }
            // The planned work is done when nothing is left pending (a CMS update still pending
            // keeps its date, and shows overdue past it).
            let nothing_left = detected.error.is_none() && detected.updates.is_empty();
            if applied.ok && nothing_left {
                tx.clear_update_plan(&host)?;
            }
            if let Some(mail) = &mail {
                tx.enqueue_mail(mail, now)?;
            }
            tx.commit()?;
            Ok(())
        })();
        match logged {
            Ok(()) => {
                if applied.ok && detected.error.is_none() && detected.updates.is_empty() {
                    if let Some(k) = self.updates.known.get_mut(&host) {
                        k.plan = None;
                    }
                }
                if mail.is_some() {
                    self.wake.notify_one();
                }
            }
            Err(e) => tracing::error!(host, error = %e, summary, "cannot log the end of an update job"),
        }
        // The pause's end (and held alerts released) at the next tick; the view now.
        self.memory.windows.retain(|w| w.record.id != job.window);
        self.updates_detected(store, &host, detected, now);
    }

    /// The 作業完了 mail of an update job, or None (logged) when it cannot be written.
    fn done_mail(
        &self,
        host: &str,
        applied: &[PendingUpdate],
        reboot_needed: bool,
        now: DateTime<Utc>,
    ) -> Option<NewMail> {
        let server = self.fleet.server(host)?;
        let customer = self.fleet.customer(&server.customer)?;
        let mail_host = MailHost::from(server);
        let done = rules::UpdateDone {
            noc: &self.fleet.noc,
            host: &mail_host,
            customer: &customer.name,
            applied,
            finished: now,
            reboot_needed,
        };
        self.customer_mail(OutboxKind::WorkDone, &customer.notify, host, "update-done", rules::render_done(&done))
    }

    /// A reboot of `host` now is the one its security updates need (contract §8: part of the
    /// update service, never billed as spot recovery, still asked of an operator): the last
    /// detection says so and the plan in force includes OS updates.
    pub(super) fn update_reboot_due(&self, host: &str, now: DateTime<Utc>) -> bool {
        let needed = self.updates.known.get(host).and_then(|k| k.scan.as_ref()).is_some_and(|s| s.reboot_needed);
        needed && self.fleet.server(host).is_some_and(|s| self.fleet.plan_of_at(s, now).os_updates())
    }

    /// What a server's tile and detail show of its updates (None for a gateway).
    pub(super) fn updates_view(&self, host: &str, now: DateTime<Utc>) -> Option<UpdatesView> {
        self.fleet.server(host)?;
        let running = if self.updates.applying.contains_key(host) {
            Some("apply")
        } else if self.updates.detecting.contains(host) {
            Some("detect")
        } else {
            None
        };
        let today = now.with_timezone(&Tokyo).date_naive();
        let target = match self.update_target(host, now) {
            Ok(t) => t,
            Err(e) => {
                // An end-of-life release is worth knowing even where the NOC does not update it.
                let eol = self
                    .fleet
                    .server(host)
                    .and_then(|s| rules::platform(&s.os))
                    .and_then(|p| p.eol.filter(|_| p.is_eol(today)));
                return Some(UpdatesView {
                    code: e.code(),
                    running,
                    eol_os: eol.map(|e| e.os),
                    eol_date: eol.map(|e| e.date().to_string()),
                    ..UpdatesView::default()
                });
            }
        };
        let known = self.updates.known.get(host);
        let rows = known.map(|k| k.rows.as_slice()).unwrap_or_default();
        let updates: Vec<PendingUpdate> = rows.iter().map(PendingUpdateRow::update).collect();
        let eol = target.platform.eol.filter(|_| target.platform.is_eol(today));
        let planned_at = known.and_then(|k| k.plan.as_ref()).map(|p| p.planned_at.clone());
        let overdue = !rows.is_empty() && planned_at.as_deref().and_then(parse_time).is_some_and(|t| t < now);
        let scan = known.and_then(|k| k.scan.as_ref());
        Some(UpdatesView {
            code: "included",
            cms: target.cms(),
            count: rows.len() as u32,
            security: updates.iter().filter(|u| u.class == UpdateClass::Security).count() as u32,
            severity: updates.iter().map(|u| u.severity).max().unwrap_or(Severity::None).as_str(),
            eol_os: eol.map(|e| e.os),
            eol_date: eol.map(|e| e.date().to_string()),
            reboot_needed: scan.is_some_and(|s| s.reboot_needed),
            checked_at: scan.map(|s| s.checked_at.clone()),
            error: scan.and_then(|s| s.error.clone()),
            notes: scan.map(|s| s.notes.clone()).unwrap_or_default(),
            oldest_since: rows.iter().map(|r| r.since.clone()).min(),
            planned_at,
            overdue,
            running,
        })
    }
}

fn apply_refusal(r: update_run::ApplyRefusal) -> ActionError {
    match r.code {
        "not_found" => ActionError::NotFound(r.message),
        "not_included" => ActionError::NotIncluded(r.message),
        "invalid" => ActionError::Invalid(r.message),
        _ => ActionError::NoAction(r.message),
    }
}

fn refusal(e: update_run::NotHandled) -> ActionError {
    match e {
        update_run::NotHandled::Unknown(h) => ActionError::NotFound(format!("server {h}")),
        e @ update_run::NotHandled::NotIncluded(_) => ActionError::NotIncluded(e.to_string()),
        e => ActionError::NoAction(e.to_string()),
    }
}

fn store_run(tx: &StoreTx<'_>, id: i64) -> Result<UpdateRun, EngineError> {
    // Inserted by this transaction: it is there.
    Ok(tx.update_run(id)?.expect("the job just recorded"))
}
