//! Live fleet changes (contract §6): the engine takes a changed fleet without a restart.
//!
//! Owns: noticing a changed fleet file (SIGHUP, or its contents changing on disk, debounced),
//! reading and validating it (an invalid file changes nothing: its `FILE:LINE:COL` problems
//! reach every console), and the decider's step that applies the difference (`fleet_diff`) in
//! one transaction: removed servers and checks stop and their open incidents close with the
//! reason `removed` (no mail), their pauses end and a running recovery is interrupted; new
//! servers and checks start (first attempts spread over the interval); changed checks restart;
//! plans, contacts, `[noc]` and `[smtp]` apply to the next decision, attempt and mail. Open
//! incidents and acknowledgements of what stays are untouched. One `fleet_reloaded` audit event
//! carries the summary.
//! Must not know: consoles' transports, the UI, how a fleet file is edited.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anshin_core::fleet_diff::{self, FleetDiff};
use anshin_core::Fleet;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch};

use super::decider::Decider;
use super::memory::Subject;
use super::probing::{resource_polls, resource_targets};
use super::{descriptors, fleet_descriptors, EngineError, Input};
use crate::alert_mail::AlertMailer;
use crate::event::EngineEvent;
use crate::mail::SmtpSettings;
use crate::probe::Prober;
use crate::store::maintenance::MaintenanceScope;
use crate::store::{timestamp, Store};

/// How often the fleet file's size and modification time are looked at.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// A change is read once the file stayed the same this long (an editor writing in steps).
const SETTLE: Duration = Duration::from_millis(500);
/// The reason on `incident_closed` of an incident whose server or check left the fleet.
pub const REMOVED: &str = "removed";

/// Why a fleet change was not applied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReloadError {
    /// The file is invalid or unreadable: one `FILE:LINE:COL: message` per problem.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// Valid, but the engine cannot take it (descriptors, SMTP settings, ICMP): why.
    #[error("{0}")]
    Refused(String),
    /// The engine watches no fleet file (started from a fleet in memory).
    #[error("this engine was not started from a fleet file")]
    NoFile,
    #[error("the engine is stopping")]
    Stopped,
}

impl ReloadError {
    /// The lines a console shows.
    pub fn lines(&self) -> Vec<String> {
        match self {
            ReloadError::Invalid(lines) => lines.clone(),
            other => vec![other.to_string()],
        }
    }
}

/// A changed fleet on its way to the decider, and where its answer goes.
pub(super) struct FleetChange {
    /// The validated fleet, or the problems of the file that was read.
    pub fleet: Result<Box<Fleet>, ReloadError>,
    /// Who or what asked: `file`, `SIGHUP`, an operator's name.
    pub by: String,
    pub reply: Option<oneshot::Sender<Result<String, ReloadError>>>,
}

/// Reads and validates the fleet file for a reload.
pub(super) fn read(path: &Path) -> Result<Box<Fleet>, ReloadError> {
    crate::fleet_file::load(path).map(|parsed| Box::new(parsed.fleet)).map_err(ReloadError::Invalid)
}

/// What the watcher compares once a second: size and modification time (nanoseconds), from the
/// file's metadata only — the file is read when they change, not every second. A rewrite with the
/// same bytes reads as a change and applies as "no change".
fn fingerprint(path: &Path) -> Option<(u64, Option<SystemTime>)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()))
}

/// Watches the fleet file until shutdown: on SIGHUP, and when its contents change (once they
/// settled), it is read and handed to the decider. A file that vanishes for a moment (an editor
/// replacing it) is not a change; one that stays unreadable is reported when it is read.
pub(super) fn spawn_watch(path: PathBuf, results: mpsc::WeakSender<Input>, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: the fleet file is still watched");
                None
            }
        };
        let mut known = fingerprint(&path);
        let mut ticks = tokio::time::interval(WATCH_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let by = tokio::select! {
                _ = ticks.tick() => {
                    let now = fingerprint(&path);
                    if now.is_none() || now == known {
                        continue;
                    }
                    // Let the writer finish: read once it stayed the same for a moment.
                    tokio::time::sleep(SETTLE).await;
                    let settled = fingerprint(&path);
                    if settled != now {
                        continue;
                    }
                    known = settled;
                    "file"
                }
                Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    known = fingerprint(&path);
                    "SIGHUP"
                }
                _ = shutdown.changed() => break,
            };
            let file = path.clone();
            let fleet = match tokio::task::spawn_blocking(move || read(&file)).await {
                Ok(f) => f,
                Err(_) => continue,
            };
            let Some(results) = results.upgrade() else { break };
            let change = FleetChange { fleet, by: by.into(), reply: None };
            if results.send(Input::Fleet(change)).await.is_err() {
                break;
            }
        }
    });
}

impl Decider {
    /// Applies a fleet change (or records its refusal) and answers whoever asked.
    pub(super) fn fleet_change(&mut self, store: &mut Store, change: FleetChange, now: DateTime<Utc>) {
        let FleetChange { fleet, by, reply } = change;
        let outcome = match fleet {
            Ok(fleet) => match self.apply_fleet(store, *fleet, &by, now) {
                Ok(outcome) => outcome,
                Err(e) => {
                    tracing::error!(error = %e, "the store refused the fleet change: nothing changed");
                    Err(ReloadError::Refused(format!("the store refused it ({e}): nothing changed, try again")))
                }
            },
            Err(e) => Err(e),
        };
        match &outcome {
            Ok(summary) => tracing::info!(by, summary, "fleet reloaded"),
            Err(e) => {
                tracing::warn!(by, error = %e, "fleet change refused: the engine keeps the fleet it had");
                let errors = e.lines();
                if let Ok(mut v) = self.view.write() {
                    v.health.fleet_errors.clone_from(&errors);
                }
                let _ = self.events.send(EngineEvent::FleetRejected { errors, by: by.clone(), at: timestamp(now) });
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }

    /// The step itself. `Ok(Err)`: refused before anything changed; `Err`: the store failed
    /// (the transaction rolled back, nothing changed).
    fn apply_fleet(
        &mut self,
        store: &mut Store,
        new: Fleet,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<String, ReloadError>, EngineError> {
        let diff = fleet_diff::diff(&self.fleet, &new);
        if diff.is_empty() {
            if let Ok(mut v) = self.view.write() {
                v.health.fleet_errors.clear();
            }
            return Ok(Ok("no change".into()));
        }
        // What the engine needs for the new fleet, checked before anything changes.
        let (needed, why) = fleet_descriptors(&new);
        if let Err(e) = descriptors::reserve(needed, &why) {
            return Ok(Err(ReloadError::Refused(e.to_string())));
        }
        // The new fleet's secret sources are put in force only once it is applied.
        let secrets = crate::secrets::Secrets::for_fleet(&new);
        let smtp = match SmtpSettings::for_fleet(&new, &secrets) {
            Ok(s) => s,
            Err(e) => return Ok(Err(ReloadError::Refused(format!("[smtp]: {e}")))),
        };
        let prober = if new.noc.timeout_secs != self.fleet.noc.timeout_secs {
            match Prober::new(Duration::from_secs(new.noc.timeout_secs)) {
                Ok(p) => Some(p),
                Err(e) => return Ok(Err(ReloadError::Refused(e.to_string()))),
            }
        } else {
            None
        };
        let summary = diff.summary();
        let new_polled = resource_targets(&new);
        let (mut closed, mut events) = (Vec::new(), Vec::new());
        {
            let tx = store.begin()?;
            let gone = |host: &str| diff.hosts_removed.iter().any(|h| h == host);
            let still_polled = |host: &str| new_polled.iter().any(|t| t.host == host);
            for (id, inc) in self.memory.incidents() {
                let remove = gone(&inc.host)
                    || match &inc.subject {
                        Subject::Check(_) => inc.check_key().is_some_and(|k| diff.checks_removed.contains(&k)),
                        Subject::Resource { .. } | Subject::HostKey => !still_polled(&inc.host),
                        // Judged again after the change (closed when no longer backed up).
                        Subject::Backup { .. } => false,
                    };
                if remove {
                    closed.push(id);
                }
            }
            for &id in &closed {
                let Some(rec) = tx.incident_brief(id)? else { continue };
                let detail = format!("{REMOVED}: no longer watched after the fleet change by {by}");
                tx.close_incident_on(id, &rec.host, &rec.check, &detail, now)?;
                events.push(EngineEvent::IncidentClosed {
                    id,
                    host: rec.host,
                    check: rec.check,
                    level: rec.level,
                    trigger: rec.trigger,
                    at: timestamp(now),
                    reason: Some(REMOVED.into()),
                });
            }
            for key in &diff.checks_removed {
                tx.forget_check_state(key)?;
            }
            // The pauses of what left end now; a recovery running there is cut off.
            let customers_gone: Vec<&str> =
                self.fleet.customers.iter().map(|c| c.id.as_str()).filter(|id| new.customer(id).is_none()).collect();
            for w in &self.memory.windows {
                let ends = match &w.record.scope {
                    MaintenanceScope::Server(s) => gone(s),
                    MaintenanceScope::Customer(c) => customers_gone.contains(&c.as_str()),
                };
                if ends {
                    if let Err(e) = tx.end_maintenance(w.record.id, by, now) {
                        tracing::warn!(window = w.record.id, error = %e, "could not end the pause of a removed server");
                    }
                }
            }
            for host in &diff.hosts_removed {
                if let Some(rec) = self.memory.running(host) {
                    tx.finish_recovery(rec.id, "interrupted", "the server was removed from the fleet file", now)?;
                }
            }
            tx.append_event_by("fleet_reloaded", None, None, None, &summary, by, now)?;
            tx.commit()?;
        }
        for host in &diff.hosts_removed {
            self.runner.abort(host);
        }
        crate::secrets::Secrets::for_fleet(&new).activate();
        self.take_fleet(new, new_polled, smtp, prober, &diff);
        self.reload(store, now)?;
        events.push(EngineEvent::FleetReloaded { summary: summary.clone(), by: by.into(), at: timestamp(now) });
        if let Ok(mut v) = self.view.write() {
            v.health.fleet_errors.clear();
        }
        for e in events {
            let _ = self.events.send(e);
        }
        Ok(Ok(summary))
    }

    /// Puts the new fleet in force for every part of the engine.
    fn take_fleet(
        &mut self,
        new: Fleet,
        polled: Vec<crate::ssh::SshTarget>,
        smtp: Option<SmtpSettings>,
        prober: Option<Prober>,
        diff: &FleetDiff,
    ) {
        let interval = Duration::from_secs(new.noc.interval_secs);
        if new.noc.interval_secs != self.fleet.noc.interval_secs {
            self.attempts = self.attempts.renewed(new.noc.interval_secs);
        }
        self.tasks.follow(new.checks(), resource_polls(&new), interval, prober);
        let tasks = &self.tasks;
        self.slow_readings.retain(|host| tasks.polls(host));
        let shared = Arc::new(new.clone());
        self.runner.set_fleet(shared.clone(), self.tasks.prober().clone());
        self.mailer = AlertMailer::new(shared.clone());
        self.shared.set(shared);
        if diff.smtp_changed || diff.noc_changed {
            self.smtp.send_if_modified(|s| {
                let changed = *s != smtp;
                *s = smtp;
                changed
            });
        }
        self.fleet = new;
        self.polled = polled;
    }
}
