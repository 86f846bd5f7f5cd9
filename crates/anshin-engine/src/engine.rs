//! The engine loop: probes on a schedule, one decider that applies results, stores what
//! happened, then tells listeners.
//!
//! Shape: one tokio task per check sleeps to its slot (start times spread evenly over the
//! interval), runs one probe under a global concurrency cap, and sends the result on a bounded
//! channel. One decider, on its own thread, drains results in batches, feeds them to the core's
//! `Monitor`, writes each batch in one SQLite transaction, and only after the commit publishes
//! events — so a listener never sees what the store could still lose, and a crash between two
//! batches repeats nothing on restart.
//!
//! Must not know: Tauri, the UI, or whether the fleet is a demo.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anshin_core::incident::Suppression;
use anshin_core::{CheckKey, CheckKind, CheckSpec, Decision, Fleet, Monitor, Transition};
use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

use crate::event::EngineEvent;
use crate::probe::{IcmpError, ProbeResult, Prober};
use crate::store::{timestamp, Store, StoreError};
use crate::view::{FleetView, ServerView};

/// Probes in flight at once, whatever the fleet size: bounds sockets and memory.
const MAX_CONCURRENT_PROBES: usize = 1024;
/// Results applied in one transaction at most.
const MAX_BATCH: usize = 1024;

/// Where the engine reads the time. Tests pass a fixed one.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Icmp(#[from] IcmpError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the engine's decider stopped unexpectedly")]
    DeciderPanicked,
}

/// One probe result on its way to the decider.
struct Outcome {
    key: CheckKey,
    result: ProbeResult,
}

/// A running engine. Dropping it does not stop the engine: call [`EngineHandle::stop`].
pub struct EngineHandle {
    shutdown: watch::Sender<bool>,
    events: broadcast::Sender<EngineEvent>,
    view: Arc<RwLock<FleetView>>,
    decider: JoinHandle<Result<(), EngineError>>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").finish_non_exhaustive()
    }
}

impl EngineHandle {
    /// A new listener; it sees events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    /// The current picture of every host.
    pub fn servers(&self) -> Vec<ServerView> {
        self.view.read().map(|v| v.hosts().to_vec()).unwrap_or_default()
    }

    /// Stops probing, lets the decider store what is in flight, and waits for it.
    pub async fn stop(self) -> Result<(), EngineError> {
        let _ = self.shutdown.send(true);
        self.decider.await.map_err(|_| EngineError::DeciderPanicked)?
    }

    /// Resolves when the engine ends by itself (a store failure); `stop` is the normal end.
    pub async fn finished(&mut self) -> Result<(), EngineError> {
        (&mut self.decider).await.map_err(|_| EngineError::DeciderPanicked)?
    }
}

/// Starts the engine on a fleet and its store. Returns the handle and a listener subscribed
/// before anything happened (so it sees `engine_started`). Must run inside a tokio runtime.
pub fn start(
    fleet: Fleet,
    mut store: Store,
    clock: Arc<dyn Clock>,
) -> Result<(EngineHandle, broadcast::Receiver<EngineEvent>), EngineError> {
    let timeout = Duration::from_secs(fleet.noc.timeout_secs);
    let interval = Duration::from_secs(fleet.noc.interval_secs);
    let prober = Prober::new(timeout)?;
    let specs = fleet.checks();
    let mut monitor = Monitor::new(&fleet);
    let mut view = FleetView::new(&fleet);

    // Resume: open incidents stay open (no second "opened"), states continue their count.
    let now = clock.now();
    let saved = store.saved_checks()?;
    let mut resumed_open = 0;
    let tx = store.begin()?;
    for s in saved {
        if monitor.is_known(&s.key) {
            resumed_open += usize::from(s.open_incident.is_some());
            monitor.resume(s.key.clone(), s.state, s.open_incident);
            if let Some(v) = view.check_mut(&s.key) {
                v.ok = s.state.last_ok;
                v.hard = s.state.hard_down;
                v.failures = s.state.failures;
                v.detail = s.detail.clone();
                v.incident = s.open_incident;
            }
            view.refresh_worst(&s.key, level_of);
        } else if let Some(id) = s.open_incident {
            tx.close_incident(id, &s.key, "the check is no longer in the fleet file", now)?;
        }
    }
    tx.append_event(
        "engine_started",
        None,
        None,
        &format!("{} checks, {resumed_open} open incidents resumed", specs.len()),
        now,
    )?;
    tx.commit()?;

    let (events, first_listener) = broadcast::channel(4096);
    let _ = events.send(EngineEvent::EngineStarted { checks: specs.len(), resumed_open, at: timestamp(now) });
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (results_tx, results_rx) = mpsc::channel::<Outcome>(MAX_BATCH * 4);
    let view = Arc::new(RwLock::new(view));

    spawn_probes(specs, prober, interval, results_tx, shutdown_rx);
    let decider = {
        let events = events.clone();
        let view = view.clone();
        tokio::task::spawn_blocking(move || decide(results_rx, monitor, store, clock, events, view))
    };
    Ok((EngineHandle { shutdown, events, view, decider }, first_listener))
}

fn level_of(check: &str) -> u8 {
    CheckKind::from_id(check).map(|k| k.level().number()).unwrap_or(0)
}

/// One task per check: wait for its slot, then probe every interval until shutdown.
fn spawn_probes(
    specs: Vec<CheckSpec>,
    prober: Prober,
    interval: Duration,
    results: mpsc::Sender<Outcome>,
    shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_PROBES));
    let n = specs.len().max(1) as u32;
    for (i, spec) in specs.into_iter().enumerate() {
        let offset = interval * i as u32 / n;
        let (prober, results, permits, mut shutdown) =
            (prober.clone(), results.clone(), permits.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = shutdown.changed() => break,
                }
                let result = tokio::select! {
                    r = async {
                        let _permit = permits.acquire().await;
                        prober.probe(&spec).await
                    } => r,
                    _ = shutdown.changed() => break,
                };
                if results.send(Outcome { key: spec.key.clone(), result }).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// The decider: the only writer of incidents. Runs on a blocking thread.
fn decide(
    mut results: mpsc::Receiver<Outcome>,
    mut monitor: Monitor,
    mut store: Store,
    clock: Arc<dyn Clock>,
    events: broadcast::Sender<EngineEvent>,
    view: Arc<RwLock<FleetView>>,
) -> Result<(), EngineError> {
    while let Some(first) = results.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match results.try_recv() {
                Ok(o) => batch.push(o),
                Err(_) => break,
            }
        }
        let now = clock.now();
        let at = timestamp(now);
        let mut published = Vec::new();
        let mut touched = HashSet::new();
        let tx = store.begin()?;
        for Outcome { key, result } in &batch {
            let obs = monitor.observe(key, result.ok);
            let state_name = match obs.transition {
                Transition::Unchanged => None,
                Transition::SoftFailure { .. } => Some("soft"),
                Transition::HardDown => Some("hard"),
                Transition::SoftRecovery | Transition::Recovered => Some("ok"),
            };
            if let Some(state) = state_name {
                tx.save_check_state(key, &obs.state, &result.detail, now)?;
                tx.append_event(&format!("check_{state}"), monitor.incident(key), Some(key), &result.detail, now)?;
                published.push(EngineEvent::CheckState {
                    host: key.host.clone(),
                    check: key.kind.id(),
                    state,
                    attempt: obs.state.failures,
                    detail: result.detail.clone(),
                    at: at.clone(),
                });
            }
            for decision in obs.decisions {
                match decision {
                    Decision::Open { key, level, trigger } => {
                        let id = tx.open_incident(&key, level, &trigger, &result.detail, now)?;
                        monitor.set_incident(&key, id);
                        published.push(EngineEvent::IncidentOpened {
                            id,
                            host: key.host.clone(),
                            check: key.kind.id(),
                            level: level.number(),
                            trigger,
                            at: at.clone(),
                        });
                    }
                    Decision::Close { key, incident } => {
                        tx.close_incident(incident, &key, &result.detail, now)?;
                        published.push(EngineEvent::IncidentClosed {
                            id: incident,
                            host: key.host.clone(),
                            check: key.kind.id(),
                            level: key.kind.level().number(),
                            trigger: key.kind.trigger(&key.host),
                            at: at.clone(),
                        });
                    }
                }
            }
            touched.insert(key.clone());
        }
        tx.commit()?;
        if let Ok(mut v) = view.write() {
            for Outcome { key, result } in &batch {
                let state = monitor.state(key).unwrap_or_default();
                let suppressed = if state.failing() {
                    monitor.suppression(key).map(|s| match s {
                        Suppression::HostUnreachable => "host_unreachable".to_string(),
                        Suppression::GatewayDown(g) => format!("gateway_down:{g}"),
                        Suppression::Unconfirmed(h) => format!("awaiting_ping:{h}"),
                    })
                } else {
                    None
                };
                if let Some(c) = v.check_mut(key) {
                    c.ok = Some(result.ok);
                    c.hard = state.hard_down;
                    c.failures = state.failures;
                    c.detail = result.detail.clone();
                    c.ms = result.ms;
                    c.last_at = Some(at.clone());
                    c.incident = monitor.incident(key);
                    c.suppressed = suppressed;
                }
            }
            for key in &touched {
                v.refresh_worst(key, level_of);
            }
        }
        for e in published {
            let _ = events.send(e);
        }
    }
    let now = clock.now();
    let tx = store.begin()?;
    tx.append_event("engine_stopped", None, None, "", now)?;
    tx.commit()?;
    let _ = events.send(EngineEvent::EngineStopped { at: timestamp(now) });
    Ok(())
}
