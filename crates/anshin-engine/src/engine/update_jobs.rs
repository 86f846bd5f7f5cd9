//! The engine's security-update jobs (contract §8): what it remembers of each server's updates
//! (its pending rows, last answer and planned date), the detections and applies going, when each
//! server is detected next, and starting a detection or an apply as a task of its own on SSH
//! sessions of their own (`update_run`); each end comes back as `Input::UpdatesDetected` or
//! `Input::UpdatesApplied`. The decider's steps for them are `updates`.
//! Must not know: the decider, consoles, the commands (`update_run`, `anshin-core::updates`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anshin_core::Fleet;
use chrono::{DateTime, Utc};
use chrono_tz::Asia::Tokyo;
use tokio::sync::mpsc;

use super::backup_jobs::RecheckedCheck;
use super::{Clock, Input};
use crate::probe::Prober;
use crate::store::updates::{PendingUpdateRow, UpdatePlan, UpdateScanRecord};
use crate::store::Store;
use crate::update_run::{self, Applied, Detected, UpdateTarget};

/// How often the engine looks for detections due and automatic applies.
pub(super) const LOOK_EVERY_SECS: i64 = 30;
/// Detections at once over the whole fleet.
pub(super) const MAX_DETECTING: usize = 4;
/// A detection that could not reach the server is tried again after this long.
pub(super) const RETRY_AFTER_ERROR_SECS: i64 = 3600;
/// The pause around an apply lasts the job's limit and this much more (re-check included); it
/// is ended as soon as the job is.
pub(super) const PAUSE_MARGIN_MINUTES: i64 = 10;

/// One server's updates as the engine knows them.
#[derive(Debug, Clone, Default)]
pub(super) struct Known {
    pub(super) rows: Vec<PendingUpdateRow>,
    pub(super) scan: Option<UpdateScanRecord>,
    pub(super) plan: Option<UpdatePlan>,
}

/// An apply going on a server.
#[derive(Debug, Clone)]
pub(super) struct Applying {
    pub(super) run: i64,
    /// An OS job (a reboot may follow); else CMS.
    pub(super) os: bool,
    pub(super) window: i64,
    pub(super) by: String,
    pub(super) applied: Vec<anshin_core::updates::PendingUpdate>,
}

/// What an apply job brought back.
#[derive(Debug)]
pub struct ApplyEnded {
    pub(super) host: String,
    pub(super) applied: Applied,
    pub(super) recheck: Vec<RecheckedCheck>,
    pub(super) detected: Detected,
}

/// The engine's updates.
pub(super) struct Updates {
    pub(super) known: HashMap<String, Known>,
    pub(super) detecting: HashSet<String>,
    pub(super) applying: HashMap<String, Applying>,
    pub(super) next_detect: HashMap<String, DateTime<Utc>>,
    /// The planned date an automatic apply was tried for (never twice for the same date).
    pub(super) auto_tried: HashMap<String, String>,
    pub(super) next_look: Option<DateTime<Utc>>,
    pub(super) pool: crate::ssh::SshPool,
    pub(super) results: mpsc::WeakSender<Input>,
    pub(super) clock: Arc<dyn Clock>,
}

impl Updates {
    /// At start: jobs the last engine left running were cut off (logged); what the store knows
    /// of every server is read.
    pub fn start(
        store: &mut Store,
        results: mpsc::WeakSender<Input>,
        clock: Arc<dyn Clock>,
    ) -> Result<Updates, crate::store::StoreError> {
        let now = clock.now();
        let tx = store.begin()?;
        for run in
            tx.interrupt_running_updates("the engine stopped while it ran: see the server before trying again", now)?
        {
            tracing::warn!(host = %run.host, run = run.id, "an update job was cut off by the engine's stop: interrupted");
        }
        tx.commit()?;
        let mut known: HashMap<String, Known> = HashMap::new();
        for row in store.pending_updates(None)? {
            known.entry(row.host.clone()).or_default().rows.push(row);
        }
        let mut next_detect = HashMap::new();
        for scan in store.update_scans(None)? {
            if let Some(at) = parse_time(&scan.checked_at) {
                next_detect.insert(scan.host.clone(), at);
            }
            let host = scan.host.clone();
            known.entry(host).or_default().scan = Some(scan);
        }
        for plan in store.update_plans()? {
            let host = plan.host.clone();
            known.entry(host).or_default().plan = Some(plan);
        }
        Ok(Updates {
            known,
            detecting: HashSet::new(),
            applying: HashMap::new(),
            // Stored as the last check: the next one is `every_hours` after (see `due`).
            next_detect,
            auto_tried: HashMap::new(),
            next_look: None,
            pool: update_run::ssh_pool(),
            results,
            clock,
        })
    }

    pub(super) fn look_now(&mut self, now: DateTime<Utc>) -> bool {
        if self.next_look.is_some_and(|t| now < t) {
            return false;
        }
        self.next_look = Some(now + chrono::Duration::seconds(LOOK_EVERY_SECS));
        true
    }

    pub(super) fn busy(&self, host: &str) -> bool {
        self.detecting.contains(host) || self.applying.contains_key(host)
    }

    /// The pending rows of a server.
    pub(super) fn rows(&self, host: &str) -> &[PendingUpdateRow] {
        self.known.get(host).map(|k| k.rows.as_slice()).unwrap_or_default()
    }

    /// Starts a detection of `target` (its end comes back as `Input::UpdatesDetected`).
    pub(super) fn spawn_detect(&mut self, target: UpdateTarget) {
        let Some(results) = self.results.upgrade() else { return };
        self.detecting.insert(target.host.clone());
        let (pool, clock) = (self.pool.clone(), self.clock.clone());
        tokio::spawn(async move {
            let today = clock.now().with_timezone(&Tokyo).date_naive();
            let detected = update_run::detect(&target, &pool, today).await;
            let _ = results.send(Input::UpdatesDetected { host: target.host, detected: Box::new(detected) }).await;
        });
    }

    /// Starts an apply (its end comes back as `Input::UpdatesApplied`): the commands, then one
    /// probe of each of the server's checks, then a new detection.
    pub(super) fn spawn_apply(
        &mut self,
        fleet: Arc<Fleet>,
        target: UpdateTarget,
        commands: Vec<String>,
        job: Duration,
        prober: Prober,
    ) {
        let Some(results) = self.results.upgrade() else { return };
        let (pool, clock) = (self.pool.clone(), self.clock.clone());
        tokio::spawn(async move {
            let applied = update_run::apply(&target, &commands, &pool, job).await;
            let mut probes = tokio::task::JoinSet::new();
            for spec in fleet.checks().into_iter().filter(|c| c.key.host == target.host) {
                let prober = prober.clone();
                probes.spawn(async move {
                    let r = prober.probe(&spec).await;
                    RecheckedCheck { check: spec.key.kind.id(), ok: r.ok, detail: r.detail }
                });
            }
            let mut recheck: Vec<RecheckedCheck> = probes.join_all().await;
            recheck.sort_by(|a, b| a.check.cmp(&b.check));
            let today = clock.now().with_timezone(&Tokyo).date_naive();
            let detected = update_run::detect(&target, &pool, today).await;
            let ended = ApplyEnded { host: target.host, applied, recheck, detected };
            let _ = results.send(Input::UpdatesApplied(Box::new(ended))).await;
        });
    }
}

/// A stored time.
pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}
