//! The engine loop: probes and resource polls on a schedule, one decider that applies their
//! results, stores what happened, then tells listeners; and the outbox runner that mails.
//!
//! Shape: one tokio task per check (and per server with SSH access for its resources) sleeps
//! to its slot (start times spread evenly over the interval), runs one probe under a global
//! concurrency cap, and sends the result on a bounded channel. One decider, on its own thread,
//! drains results in batches, feeds them to the core's `Monitor` (checks) and
//! `ResourceState`s (resources), writes each batch — incidents, events and the customer mails
//! they cause — in one SQLite transaction, and only after the commit publishes events and
//! wakes the outbox runner. So a listener never sees what the store could still lose, and a
//! crash between two batches repeats nothing on restart: no second incident, no second mail.
//!
//! Must not know: Tauri, the UI, or whether the fleet is a demo.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anshin_core::incident::Suppression;
use anshin_core::mail::{Metric, Problem};
use anshin_core::resource::{self, Resource, ResourceSample, ResourceState, ResourceTransition};
use anshin_core::{CheckKey, CheckKind, CheckSpec, Decision, Fleet, Level, Monitor, Transition};
use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Notify, Semaphore};
use tokio::task::JoinHandle;

pub use crate::action::{Acknowledged, ActionDone, ActionError, ActionRequest};
use crate::alert_mail::AlertMailer;
use crate::event::EngineEvent;
use crate::mail::{run_outbox, RetryPolicy, SmtpSettings};
use crate::probe::{IcmpError, ProbeResult, Prober};
use crate::ssh::{SshPool, SshTarget};
use crate::store::recovery::RecoveryRecord;
use crate::store::{timestamp, Store, StoreError, StoreTx};
use crate::view::{FleetView, Health, OtherIncident, Prompt, ResourceView, ServerView};

mod actions;
pub mod descriptors;
mod health;
mod recovery;
mod resume;
mod runner;

use recovery::{Held, Window};
use runner::{Job, Runner};

/// Probes in flight at once, whatever the fleet size: bounds sockets and memory.
const MAX_CONCURRENT_PROBES: usize = 1024;
/// Results applied in one transaction at most.
const MAX_BATCH: usize = 1024;
/// How long the decider waits for another writer's lock before it keeps its batch in memory and
/// tries again (the outbox runner's and report schedule's writes take milliseconds).
const DECIDER_BUSY_WAIT: Duration = Duration::from_millis(500);
/// Inputs kept in memory while the store refuses writes; past it, only the latest result per
/// check (10,000 servers × 5 checks leave 50,000).
const MAX_WAITING: usize = 200_000;
/// How often the health line's outbox backlog is counted.
const BACKLOG_EVERY: Duration = Duration::from_secs(3);
/// SSH handshakes in flight at once (each costs the server a key exchange).
const MAX_SSH_HANDSHAKES: usize = 16;
/// Worker threads of the engine's own runtime (probes are I/O: two keep up with 10,000 servers).
const ENGINE_WORKER_THREADS: usize = 2;
/// How often the decider looks at time-driven work (pauses ending, reboots coming due).
const TICK: Duration = Duration::from_secs(1);

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
    #[error("[smtp]: {0}")]
    Smtp(#[from] crate::mail::MailError),
    #[error("the engine's decider stopped unexpectedly")]
    DeciderPanicked,
    #[error(transparent)]
    Descriptors(#[from] descriptors::DescriptorError),
    #[error("cannot start the engine's threads: {0}")]
    Runtime(std::io::Error),
}

impl EngineError {
    /// The store was only locked or busy (another writer): waiting cures it.
    pub fn is_store_busy(&self) -> bool {
        self.sqlite_code()
            .is_some_and(|c| matches!(c, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
    }

    /// The store's disk or file failed (full, read-only, I/O, unopenable): an operator must act,
    /// and the engine keeps trying meanwhile.
    pub fn is_store_failure(&self) -> bool {
        self.sqlite_code().is_some_and(|c| {
            matches!(
                c,
                rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::OutOfMemory
                    | rusqlite::ErrorCode::FileLockingProtocolFailed
                    | rusqlite::ErrorCode::PermissionDenied
            )
        })
    }

    fn sqlite_code(&self) -> Option<rusqlite::ErrorCode> {
        match self {
            EngineError::Store(StoreError::Sql(e)) | EngineError::Store(StoreError::Open { source: e, .. }) => {
                e.sqlite_error_code()
            }
            _ => None,
        }
    }
}

/// One result (or a console's request) on its way to the decider.
enum Input {
    Check {
        key: CheckKey,
        result: ProbeResult,
        /// How late the attempt started after its slot, or its timeout fired (ms).
        lag_ms: u32,
        /// A failure made unknown because the prober itself was late (see `probe_on_time`).
        late: bool,
    },
    Resources {
        host: String,
        poll: Result<ResourceSample, PollError>,
    },
    /// A console's request, who asked, and where the answer goes.
    Action {
        request: ActionRequest,
        by: String,
        reply: oneshot::Sender<Result<ActionDone, ActionError>>,
    },
    /// The runner confirmed the problem and acts now (the 対応開始 mail goes out).
    RecoveryActing {
        id: i64,
    },
    /// A recovery's outcome from the runner.
    RecoveryDone {
        id: i64,
        outcome: String,
        detail: String,
    },
    /// Time passes: pauses begin and end, waiting recoveries come due.
    Tick,
}

/// Why a resource poll gave no sample.
struct PollError {
    message: String,
    /// The server's host key changed (or was revoked): a security incident, not a glitch.
    security: bool,
}

pub use anshin_core::check::HOST_KEY_CHECK;

/// A running engine. Call [`EngineHandle::stop`] to end it cleanly; dropping it ends its tasks
/// where they are.
pub struct EngineHandle {
    shutdown: watch::Sender<bool>,
    events: broadcast::Sender<EngineEvent>,
    view: Arc<RwLock<FleetView>>,
    /// Weak: the decider ends when the probes' senders are gone, whoever still holds a console.
    requests: mpsc::WeakSender<Input>,
    outbox_wake: Arc<Notify>,
    decider: JoinHandle<Result<(), EngineError>>,
    outbox: JoinHandle<()>,
    /// The engine's own runtime (probes, decider, outbox); None once stopped.
    runtime: Option<tokio::runtime::Runtime>,
    /// The feed its consoles share.
    feed: Arc<crate::feed::Feed>,
}

impl Drop for EngineHandle {
    /// Without `stop`, the engine's tasks end where they are (as in a crash: the store is
    /// consistent after every batch); a runtime may not be dropped by blocking in async code.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").finish_non_exhaustive()
    }
}

/// What a console needs of a running engine: the live view and the event stream. Cheap to clone.
#[derive(Clone)]
pub struct Console {
    events: broadcast::Sender<EngineEvent>,
    view: Arc<RwLock<FleetView>>,
    /// Weak: the decider ends when the probes' senders are gone, whoever still holds a console.
    requests: mpsc::WeakSender<Input>,
    /// Wakes the outbox runner (after something else queued mail, e.g. a monthly report).
    outbox_wake: Arc<Notify>,
    /// The feed every console of this engine shares (`crate::feed`).
    feed: Arc<crate::feed::Feed>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

impl Console {
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    pub fn servers(&self) -> Vec<ServerView> {
        self.view.read().map(|v| v.hosts().to_vec()).unwrap_or_default()
    }

    /// Every host, the revision they are at, and the engine's health, read at one instant.
    pub fn snapshot(&self) -> (u64, Vec<ServerView>, Health) {
        self.with_view(|rev, hosts, health| (rev, hosts.to_vec(), health.clone()))
    }

    /// One host as consoles see it, with its latest response times (which deltas leave out).
    pub fn server(&self, label: &str) -> Option<ServerView> {
        self.view.read().ok().and_then(|v| v.host(label).cloned())
    }

    /// The engine's health line (with its consoles), without copying the view.
    pub fn health(&self) -> Health {
        let mut health = self.view.read().map(|v| v.health.clone()).unwrap_or_default();
        health.consoles = self.feed.stats();
        health
    }

    /// The view's current revision.
    pub fn rev(&self) -> u64 {
        self.view.read().map(|v| v.rev()).unwrap_or_default()
    }

    /// Reads the whole view in place (no copy): revision, hosts, health.
    pub fn with_view<R>(&self, f: impl FnOnce(u64, &[ServerView], &Health) -> R) -> R {
        match self.view.read() {
            Ok(v) => f(v.rev(), v.hosts(), &v.health),
            Err(e) => {
                let v = e.into_inner();
                f(v.rev(), v.hosts(), &v.health)
            }
        }
    }

    /// Reads the hosts changed after `since` in place: revision now, those hosts, health.
    pub fn with_changed_since<R>(&self, since: u64, f: impl FnOnce(u64, Vec<&ServerView>, &Health) -> R) -> R {
        match self.view.read() {
            Ok(v) => f(v.rev(), v.changed_refs(since), &v.health),
            Err(e) => {
                let v = e.into_inner();
                f(v.rev(), v.changed_refs(since), &v.health)
            }
        }
    }

    pub(crate) fn feed(&self) -> &crate::feed::Feed {
        &self.feed
    }

    /// Asks the engine to act for `by` (an operator's name); the decider checks, records and
    /// answers after its commit.
    pub async fn act(&self, request: ActionRequest, by: &str) -> Result<ActionDone, ActionError> {
        let (reply, answer) = oneshot::channel();
        let input = Input::Action { request, by: by.to_string(), reply };
        let requests = self.requests.upgrade().ok_or(ActionError::Stopped)?;
        requests.send(input).await.map_err(|_| ActionError::Stopped)?;
        answer.await.map_err(|_| ActionError::Stopped)?
    }

    /// An operator takes an open incident; the decider records it (sticky until it closes).
    pub async fn acknowledge(&self, incident: i64, by: &str, note: &str) -> Result<Acknowledged, ActionError> {
        match self.act(ActionRequest::Acknowledge { incident, note: note.to_string() }, by).await? {
            ActionDone::Acknowledge(a) => Ok(a),
            _ => Err(ActionError::Stopped),
        }
    }

    /// Wakes the outbox runner: call after queueing mail outside the engine (monthly reports).
    pub fn outbox_wake(&self) -> Arc<Notify> {
        self.outbox_wake.clone()
    }
}

impl EngineHandle {
    /// A handle for consoles (the API server), independent of this handle's lifetime.
    pub fn console(&self) -> Console {
        Console {
            events: self.events.clone(),
            view: self.view.clone(),
            requests: self.requests.clone(),
            outbox_wake: self.outbox_wake.clone(),
            feed: self.feed.clone(),
        }
    }

    /// A new listener; it sees events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    /// The current picture of every host.
    pub fn servers(&self) -> Vec<ServerView> {
        self.view.read().map(|v| v.hosts().to_vec()).unwrap_or_default()
    }

    /// Stops probing, lets the decider store what is in flight, and waits for it.
    pub async fn stop(mut self) -> Result<(), EngineError> {
        let _ = self.shutdown.send(true);
        let result = (&mut self.decider).await.map_err(|_| EngineError::DeciderPanicked)?;
        // A mail being handed to the SMTP server is finished; anything else waits in the outbox.
        let _ = tokio::time::timeout(Duration::from_secs(60), &mut self.outbox).await;
        result
    }

    /// Resolves when the engine ends by itself; `stop` is the normal end.
    pub async fn finished(&mut self) -> Result<(), EngineError> {
        (&mut self.decider).await.map_err(|_| EngineError::DeciderPanicked)?
    }
}

/// Starts the engine on a fleet and its store, on threads of its own. Returns the handle and a
/// listener subscribed before anything happened (so it sees `engine_started`).
/// SSH key and known_hosts paths must already be absolute (`Fleet::resolve_paths`).
pub fn start(
    fleet: Fleet,
    store: Store,
    clock: Arc<dyn Clock>,
) -> Result<(EngineHandle, broadcast::Receiver<EngineEvent>), EngineError> {
    let timeout = Duration::from_secs(fleet.noc.timeout_secs);
    let interval = Duration::from_secs(fleet.noc.interval_secs);
    // Probes, polls, the ICMP receiver, recoveries, the outbox and the decider run on the
    // engine's own runtime and threads: no console load (serving, serializing, store reads for
    // consoles, which run on the caller's runtime) can delay an attempt.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(ENGINE_WORKER_THREADS)
        .thread_name("anshin-engine")
        .enable_all()
        .build()
        .map_err(EngineError::Runtime)?;
    let started = {
        let _inside = runtime.handle().enter();
        start_inside(fleet, store, clock, timeout, interval)
    };
    match started {
        Ok((mut handle, first_listener)) => {
            handle.runtime = Some(runtime);
            Ok((handle, first_listener))
        }
        Err(e) => {
            // Dropping a runtime blocks on its threads, which async code (the caller) may not
            // do: a refused start (no ICMP permission, too few descriptors) must still say why.
            runtime.shutdown_background();
            Err(e)
        }
    }
}

/// The part of [`start`] that runs inside the engine's runtime (its tasks are spawned there).
fn start_inside(
    fleet: Fleet,
    mut store: Store,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    interval: Duration,
) -> Result<(EngineHandle, broadcast::Receiver<EngineEvent>), EngineError> {
    let prober = Prober::new(timeout)?;
    let smtp = SmtpSettings::for_fleet(&fleet, &crate::secrets::Secrets::for_fleet(&fleet).activate())?;
    let specs = fleet.checks();
    let polled = resource_targets(&fleet);
    let (needed, why) = fleet_descriptors(&fleet);
    descriptors::reserve(needed, &why)?;

    // Resume: open incidents stay open (no second "opened"), states continue their count.
    let now = clock.now();
    let resumed = resume::resume(&fleet, &polled, &mut store, now, resume::Mode::Start)?;
    let resumed_open = resumed.resumed_open;
    let mut view = resumed.view;
    view.health.started_at = timestamp(now);

    let (events, first_listener) = broadcast::channel(4096);
    let _ = events.send(EngineEvent::EngineStarted { checks: specs.len(), resumed_open, at: timestamp(now) });
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (results_tx, results_rx) = mpsc::channel::<Input>(MAX_BATCH * 4);
    let view = Arc::new(RwLock::new(view));
    let wake = Arc::new(Notify::new());
    let outbox_wake = wake.clone();

    let outbox = {
        let (path, clock, shutdown, wake): (PathBuf, _, _, _) =
            (store.path().to_path_buf(), clock.clone(), shutdown_rx.clone(), wake.clone());
        tokio::spawn(async move {
            if let Err(e) = run_outbox(path, smtp, RetryPolicy::default(), clock, shutdown, wake).await {
                tracing::error!(error = %e, "the mail outbox stopped; queued mails wait in the store");
            }
        })
    };
    spawn_backlog_watch(store.path().to_path_buf(), view.clone(), shutdown_rx.clone());
    spawn_probes(specs, prober.clone(), interval, results_tx.clone(), shutdown_rx.clone());
    let requests = results_tx.downgrade();
    let runner = Runner::new(Arc::new(fleet.clone()), prober.clone(), requests.clone(), shutdown_rx.clone());
    spawn_periodic(TICK, TICK, results_tx.clone(), shutdown_rx.clone(), |_| async { Input::Tick });
    spawn_resource_polls(polled.clone(), timeout, interval, results_tx, shutdown_rx);
    let decider = {
        let mailer = AlertMailer::new(Arc::new(fleet.clone()));
        let attempts = health::Attempts::new(fleet.noc.interval_secs);
        let mut d = Decider {
            fleet,
            polled,
            monitor: resumed.monitor,
            clock,
            events: events.clone(),
            view: view.clone(),
            mailer,
            opened_at: resumed.opened_at,
            resources: resumed.resources,
            host_key_incidents: resumed.host_key_incidents,
            acks: resumed.acks,
            wake,
            incident_keys: resumed.incident_keys,
            failing_since: HashMap::new(),
            prompts: HashMap::new(),
            next_look: HashMap::new(),
            running: HashMap::new(),
            held: resumed.held,
            windows: resumed.windows,
            paused: HashMap::new(),
            runner,
            attempts,
            store_health: health::StoreHealth::default(),
        };
        d.next_look = d.incident_keys.keys().map(|id| (*id, now)).collect();
        d.paused = d.pauses_at(now);
        store.set_busy_timeout(DECIDER_BUSY_WAIT)?;
        tokio::task::spawn_blocking(move || d.run(store, results_rx))
    };
    let runtime = None; // set by `start` once everything is spawned
    let feed = Arc::new(crate::feed::Feed::default());
    Ok((EngineHandle { shutdown, events, view, requests, outbox_wake, decider, outbox, runtime, feed }, first_listener))
}

/// SSH sessions the recovery runner keeps beside the polls.
const RUNNER_SSH_SESSIONS: usize = 4;

/// The file descriptors a fleet's probes and sessions need (`descriptors::fleet_needs`), and
/// what that number is made of (for the refusal's message). `anshin serve` adds its consoles.
pub fn fleet_descriptors(fleet: &Fleet) -> (u64, String) {
    let in_flight = fleet.checks().len().min(MAX_CONCURRENT_PROBES);
    let sessions = resource_targets(fleet).len() + RUNNER_SSH_SESSIONS;
    (
        descriptors::fleet_needs(in_flight, sessions),
        format!(
            "{} per check in flight × {in_flight} + {} per SSH session × {sessions} + {}",
            descriptors::PER_CHECK_IN_FLIGHT,
            descriptors::PER_SSH_SESSION,
            descriptors::ENGINE_OWN
        ),
    )
}

/// The servers whose resources are polled: SSH access given, plan includes resource monitoring.
fn resource_targets(fleet: &Fleet) -> Vec<SshTarget> {
    fleet.servers.iter().filter(|s| fleet.plan_of(s).resource_monitoring()).filter_map(ssh_target).collect()
}

/// Where and how to log in to a server for its resources; `None` without `ssh` access.
pub fn ssh_target(s: &anshin_core::fleet::Server) -> Option<SshTarget> {
    let ssh = s.ssh.as_ref()?;
    Some(SshTarget {
        host: s.label.clone(),
        ip: s.ip,
        port: s.ssh_port,
        user: ssh.user.clone(),
        key_path: ssh.key.clone().into(),
        known_hosts: ssh.known_hosts.clone().into(),
        trust_on_first_use: ssh.trust_on_first_use,
    })
}

fn metric(r: Resource) -> Metric {
    match r {
        Resource::Load => Metric::Load,
        Resource::MailQueue => Metric::MailQueue,
        Resource::Disk => Metric::Disk,
        Resource::Inode => Metric::Inode,
    }
}

/// The problem of a resource incident found open at start, rebuilt from its stored trigger
/// (`{label} {fragment}`, the value inside `（現在：…）`), for its recovery mail.
pub(crate) fn resumed_problem(r: Resource, level: Level, host: &str, trigger: &str) -> Problem {
    let fragment = trigger.strip_prefix(host).map(str::trim_start).unwrap_or(trigger).to_string();
    let value =
        fragment.rsplit_once("（現在：").and_then(|(_, v)| v.strip_suffix('）')).unwrap_or_default().to_string();
    Problem::Resource { metric: metric(r), level, fragment, item: r.item_name().into(), value }
}

/// Keeps the outbox backlog of the health line current (a read-only connection of its own,
/// opened once and again only after a failure; a failure only leaves the last known number).
fn spawn_backlog_watch(path: PathBuf, view: Arc<RwLock<FleetView>>, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(BACKLOG_EVERY);
        let mut store: Option<Store> = None;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.changed() => break,
            }
            let (path, kept) = (path.clone(), store.take());
            let counted = tokio::task::spawn_blocking(move || {
                let s = match kept {
                    Some(s) => s,
                    None => Store::open_read_only(&path)?,
                };
                let n = s.pending_mail_count()?;
                Ok::<_, StoreError>((s, n))
            })
            .await;
            match counted {
                Ok(Ok((s, n))) => {
                    store = Some(s);
                    if let Ok(mut v) = view.write() {
                        v.health.outbox_backlog = n;
                    }
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "cannot count the outbox backlog"),
                Err(_) => break,
            }
        }
    });
}

/// A task that waits `offset`, then runs `work` every `interval` (skipping ticks it missed; `work`
/// gets the slot it runs for) and sends what it produced to the decider, until shutdown — also
/// mid-work — or until the decider is gone.
fn spawn_periodic<F, Fut>(
    offset: Duration,
    interval: Duration,
    results: mpsc::Sender<Input>,
    mut shutdown: watch::Receiver<bool>,
    mut work: F,
) where
    F: FnMut(tokio::time::Instant) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Input> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut done_at: Option<tokio::time::Instant> = None;
        loop {
            // The slot this run belongs to (a missed one when the task runs late).
            let slot = tokio::select! {
                slot = ticks.tick() => slot,
                _ = shutdown.changed() => break,
            };
            let input = tokio::select! {
                input = work(due(slot, done_at)) => input,
                _ = shutdown.changed() => break,
            };
            if results.send(input).await.is_err() {
                break;
            }
            done_at = Some(tokio::time::Instant::now());
        }
    });
}

/// When a run of a periodic task was due: its slot, or, when the previous run overran that slot
/// (an attempt waiting out a timeout longer than the interval), the moment the previous run
/// ended. Lateness counts from there: a run delayed by its own predecessor is not the prober
/// running late.
fn due(slot: tokio::time::Instant, previous_done: Option<tokio::time::Instant>) -> tokio::time::Instant {
    previous_done.map_or(slot, |done| done.max(slot))
}

/// One task per check, start times spread evenly over the interval.
fn spawn_probes(
    specs: Vec<CheckSpec>,
    prober: Prober,
    interval: Duration,
    results: mpsc::Sender<Input>,
    shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_PROBES));
    let n = specs.len().max(1) as u32;
    for (i, spec) in specs.into_iter().enumerate() {
        let (prober, permits, spec) = (prober.clone(), permits.clone(), Arc::new(spec));
        spawn_periodic(interval * i as u32 / n, interval, results.clone(), shutdown.clone(), move |slot| {
            let (prober, permits, spec) = (prober.clone(), permits.clone(), spec.clone());
            async move {
                let _permit = permits.acquire().await;
                let (result, lag_ms, late) = probe_on_time(&prober, &spec, slot).await;
                Input::Check { key: spec.key.clone(), result, lag_ms, late }
            }
        });
    }
}

/// One attempt, judged for punctuality: how late it started after its slot (waiting for a
/// probe permit included) and how far past the timeout it ended. A failure from an attempt late
/// by more than `health::LATE_AFTER` is unknown — the prober, not the server, may be to blame
/// (a starved runtime fires timeouts late and reads replies late). A success stands: the
/// server did answer.
async fn probe_on_time(prober: &Prober, spec: &CheckSpec, slot: tokio::time::Instant) -> (ProbeResult, u32, bool) {
    let started = tokio::time::Instant::now();
    let mut result = prober.probe(spec).await;
    let start_lag = started.saturating_duration_since(slot);
    let overrun = started.elapsed().saturating_sub(prober.timeout());
    let lag = start_lag.max(overrun);
    let lag_ms = u32::try_from(lag.as_millis()).unwrap_or(u32::MAX);
    let bound = health::LATE_AFTER.to_std().unwrap_or(Duration::from_secs(1));
    let late = !result.ok && !result.unknown && lag > bound;
    if late {
        result = ProbeResult::unknown(
            format!(
                "the prober ran late ({} ms after its slot, {} ms past the timeout): not judged ({})",
                start_lag.as_millis(),
                overrun.as_millis(),
                result.detail
            ),
            result.ms,
        );
    }
    (result, lag_ms, late)
}

/// One task per server with SSH access: one command round trip per interval over a
/// persistent session, parsed on the spot (the decider only sees the sample or the error).
fn spawn_resource_polls(
    targets: Vec<SshTarget>,
    timeout: Duration,
    interval: Duration,
    results: mpsc::Sender<Input>,
    shutdown: watch::Receiver<bool>,
) {
    let pool = SshPool::new(MAX_SSH_HANDSHAKES, timeout);
    let n = targets.len().max(1) as u32;
    for (i, target) in targets.into_iter().enumerate() {
        // Offset by half a slot from the probes so the first poll comes after a ping answer.
        let offset = interval * (2 * i as u32 + 1) / (2 * n);
        let (pool, target) = (pool.clone(), Arc::new(target));
        spawn_periodic(offset, interval, results.clone(), shutdown.clone(), move |_slot| {
            let (pool, target) = (pool.clone(), target.clone());
            async move {
                let poll = match pool.exec(&target, resource::POLL_COMMAND, resource::MAX_OUTPUT).await {
                    Ok(out) => resource::parse_poll(&out.stdout)
                        .map_err(|e| PollError { message: e.to_string(), security: false }),
                    Err(e) => Err(PollError { message: e.to_string(), security: e.is_security() }),
                };
                Input::Resources { host: target.host.clone(), poll }
            }
        });
    }
}

/// A resource of a server: its three-in-a-row state and, while raised, its open incident.
pub(super) struct ResourceTrack {
    pub state: ResourceState,
    pub open: Option<(i64, Problem)>,
}

/// The decider: the only writer of incidents and the only one who queues their mails.
struct Decider {
    fleet: Fleet,
    /// The servers whose resources are polled (resumed incidents of others are closed).
    polled: Vec<SshTarget>,
    monitor: Monitor,
    clock: Arc<dyn Clock>,
    events: broadcast::Sender<EngineEvent>,
    view: Arc<RwLock<FleetView>>,
    mailer: AlertMailer,
    /// When each open incident opened (its mails' イベント発報日時).
    opened_at: HashMap<i64, DateTime<Utc>>,
    resources: HashMap<(String, Resource), ResourceTrack>,
    /// Open security incidents of servers whose SSH host key changed, by host.
    host_key_incidents: HashMap<String, i64>,
    /// Who took each open incident.
    acks: HashMap<i64, String>,
    /// Wakes the outbox runner after a commit that queued mail.
    wake: Arc<Notify>,
    /// The open check incidents, by id.
    incident_keys: HashMap<i64, CheckKey>,
    /// When each failing check first failed (a reboot counts 15 minutes from there).
    failing_since: HashMap<CheckKey, DateTime<Utc>>,
    /// What the engine told the operator about each open incident it does not recover itself.
    prompts: HashMap<i64, Prompt>,
    /// When to look at an open incident's automatic recovery again.
    next_look: HashMap<i64, DateTime<Utc>>,
    /// The recovery running on each server (the store allows one).
    running: HashMap<String, RecoveryRecord>,
    /// Alerts held back by a maintenance pause, by incident.
    held: HashMap<i64, Held>,
    /// Maintenance windows running now or later.
    windows: Vec<Window>,
    /// Which window pauses each server now.
    paused: HashMap<String, i64>,
    /// Performs recoveries after the commit that started them.
    runner: Runner,
    /// The last interval's attempts: local failures, late ones, scheduling lag (engine alarms).
    attempts: health::Attempts,
    /// Whether the store takes the decider's writes (an engine alarm while it does not).
    store_health: health::StoreHealth,
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
            Input::Tick => false,
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
struct Effects {
    events: Vec<EngineEvent>,
    mail: bool,
    /// Hosts whose pause, recovery or prompts changed (repainted in the view).
    hosts: HashSet<String>,
    /// Recoveries to perform.
    jobs: Vec<Job>,
    /// Acknowledgements to show: host, incident, who.
    acknowledged: Vec<(String, i64, String)>,
}

impl Decider {
    /// Runs on a blocking thread until every probe and poll task has ended.
    ///
    /// A store that refuses a batch (locked by another process, busy, full, read-only) never
    /// stops the engine: the batch's inputs wait in memory (bounded: past [`MAX_WAITING`] only
    /// the latest result per check is kept) and are decided once the store takes them again;
    /// nothing is decided before its commit. Console requests meanwhile are answered at once
    /// with `store_unavailable`. Every console shows the wait as an engine alarm.
    fn run(mut self, mut store: Store, mut results: mpsc::Receiver<Input>) -> Result<(), EngineError> {
        {
            // Paint what was resumed: pauses, prompts to come.
            let hosts: Vec<String> = self.paused.keys().cloned().collect();
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
                    Ok(()) => reload = false,
                    Err(e) => {
                        self.store_refused(&e, &mut queue, now, &mut next_try);
                        continue;
                    }
                }
            }
            let batch: Vec<Input> = queue.drain(..queue.len().min(MAX_BATCH)).collect();
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
        let lag = self.attempts.lag_p99_ms(now);
        if let Ok(mut v) = self.view.write() {
            if v.health.alarms != alarms {
                v.health.alarms = alarms;
            }
            v.health.probe_lag_p99_ms = lag;
            v.health.business_hours = anshin_core::calendar::in_business_hours(now);
        }
    }

    /// Reads the decider's memory back from the store after a batch that failed half-way
    /// (what it changed in memory was never stored). Running recoveries keep running.
    fn reload(&mut self, store: &mut Store, now: DateTime<Utc>) -> Result<(), EngineError> {
        let r = resume::resume(&self.fleet, &self.polled, store, now, resume::Mode::Reload)?;
        let running = store.running_recoveries()?;
        self.monitor = r.monitor;
        self.opened_at = r.opened_at;
        self.resources = r.resources;
        self.host_key_incidents = r.host_key_incidents;
        self.acks = r.acks;
        self.held = r.held;
        self.incident_keys = r.incident_keys;
        self.windows = r.windows;
        self.prompts.clear();
        self.next_look = self.incident_keys.keys().map(|id| (*id, now)).collect();
        self.running = running.into_iter().map(|rec| (rec.host.clone(), rec)).collect();
        self.paused = self.pauses_at(now);
        if let Ok(mut v) = self.view.write() {
            v.replace_hosts(r.view);
            let hosts: Vec<String> = v.hosts().iter().map(|h| h.label.clone()).collect();
            for h in &hosts {
                self.paint(&mut v, h);
            }
        }
        tracing::warn!("the decider's memory was read back from the store after a batch it could not store");
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
                other => batch.push(other),
            }
        }
        let tick = tick && self.tick_due(now);
        if batch.is_empty() && requests.is_empty() && done.is_empty() && acting.is_empty() && !tick {
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
        // An attempt that failed on our side (or ran late) says nothing about the server: the
        // check keeps its state and count, nothing opens, nothing is mailed; the tile shows it
        // unknown.
        let local = (result.unknown && !late).then_some(result.detail.as_str());
        self.attempts.record(now, health::Attempt { lag_ms, local, late });
        if result.unknown {
            return Ok(());
        }
        let at = timestamp(now);
        let obs = self.monitor.observe(key, result.ok);
        let state_name = match obs.transition {
            Transition::Unchanged => None,
            Transition::SoftFailure { .. } => Some("soft"),
            Transition::HardDown => Some("hard"),
            Transition::SoftRecovery | Transition::Recovered => Some("ok"),
        };
        if let Some(state) = state_name {
            tx.save_check_state(key, &obs.state, &result.detail, now)?;
            tx.append_event(&format!("check_{state}"), self.monitor.incident(key), Some(key), &result.detail, now)?;
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
        if obs.state.failing() {
            self.failing_since.entry(key.clone()).or_insert(now);
        } else {
            self.failing_since.remove(key);
        }
        for decision in obs.decisions {
            let (key, id, opened) = match decision {
                Decision::Open { key, level, trigger } => {
                    let id = tx.open_incident(&key, level, &trigger, &result.detail, now)?;
                    self.monitor.set_incident(&key, id);
                    self.opened_at.insert(id, now);
                    self.incident_keys.insert(id, key.clone());
                    (key, id, true)
                }
                Decision::Close { key, incident } => {
                    tx.close_incident(incident, &key, &result.detail, now)?;
                    self.acks.remove(&incident);
                    self.incident_keys.remove(&incident);
                    self.prompts.remove(&incident);
                    self.next_look.remove(&incident);
                    (key, incident, false)
                }
            };
            fx.hosts.insert(key.host.clone());
            let problem = self.check_problem(&key);
            let (host, check, level, trigger) =
                (key.host.clone(), key.kind.id(), key.kind.level().number(), key.kind.trigger(&key.host));
            if opened {
                let paused = self.alert_or_hold(tx, &host, &check, id, level, &problem, now, fx)?;
                fx.events.push(EngineEvent::IncidentOpened { id, host, check, level, trigger, at: at.clone(), paused });
                self.consider(tx, id, now, fx)?;
            } else {
                fx.events.push(EngineEvent::IncidentClosed { id, host, check, level, trigger, at: at.clone() });
                let detected_at = self.opened_at.remove(&id).unwrap_or(now);
                // A held alert was never sent: its recovery mail is not sent either.
                if self.held.remove(&id).is_none() {
                    if let Some(mail) = self.mailer.recovery(&key.host, id, &problem, detected_at, now, None) {
                        tx.enqueue_mail(&mail, now)?;
                        fx.mail = true;
                    }
                }
            }
        }
        Ok(())
    }

    fn resources(
        &mut self,
        tx: &StoreTx<'_>,
        host: &str,
        poll: &Result<ResourceSample, PollError>,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) -> Result<(), EngineError> {
        let at = timestamp(now);
        let level = Level::Severe;
        let sample = match poll {
            Err(PollError { message, security: true }) => {
                // The SSH layer refuses this server from now on (no silent acceptance); the
                // NOC must look. Lv.4, for the NOC only: no customer mail.
                if !self.host_key_incidents.contains_key(host) {
                    let trigger = format!("{host} SSH ホスト鍵変更");
                    let id = tx.open_incident_on(host, HOST_KEY_CHECK, level, &trigger, message, now)?;
                    self.host_key_incidents.insert(host.to_string(), id);
                    self.opened_at.insert(id, now);
                    let check = HOST_KEY_CHECK.to_string();
                    fx.events.push(EngineEvent::IncidentOpened {
                        id,
                        host: host.into(),
                        check,
                        level: level.number(),
                        trigger,
                        at,
                        paused: false,
                    });
                }
                return Ok(());
            }
            Err(_) => return Ok(()),
            Ok(sample) => sample,
        };
        if let Some(id) = self.host_key_incidents.remove(host) {
            // A poll went through: the operator has fixed known_hosts.
            tx.close_incident_on(id, host, HOST_KEY_CHECK, "the pinned host key matches again", now)?;
            self.acks.remove(&id);
            self.opened_at.remove(&id);
            let (check, trigger) = (HOST_KEY_CHECK.to_string(), format!("{host} SSH ホスト鍵変更"));
            fx.events.push(EngineEvent::IncidentClosed {
                id,
                host: host.into(),
                check,
                level: level.number(),
                trigger,
                at: at.clone(),
            });
        }
        // An unreachable host's samples cannot arrive anyway; a late one must not raise levels.
        let ping = CheckKey::new(host, CheckKind::Ping);
        if self.monitor.state(&ping).is_some_and(|s| s.failing()) {
            return Ok(());
        }
        let attempts = self.fleet.noc.attempts;
        let paused = self.is_paused(host);
        let cpus = sample.cpus.clone().unwrap_or(1);
        // The CPU count beside the load, so history can show load per CPU (the monthly report).
        if let Ok(n) = &sample.cpus {
            tx.add_sample(host, "cpus", f64::from(*n), now)?;
        }
        for r in Resource::ALL {
            // No reading (no MTA) or an unreadable one: nothing to judge this time.
            let Ok(Some(reading)) = sample.reading(r) else { continue };
            tx.add_sample(host, r.as_str(), reading.value, now)?;
            let level = sample.level(r).ok().flatten();
            let track = self
                .resources
                .entry((host.to_string(), r))
                .or_insert(ResourceTrack { state: ResourceState::default(), open: None });
            let (state, transition) = track.state.observe(level, attempts);
            track.state = state;
            let check = r.as_str();
            let problem_at = |to: Level| Problem::Resource {
                metric: metric(r),
                level: to,
                fragment: r.subject_fragment(to, cpus, &reading.text),
                item: r.item_name().into(),
                value: reading.text.clone(),
            };
            let mut mail = None;
            match transition {
                ResourceTransition::Unchanged => continue,
                ResourceTransition::Raised { to, .. } => {
                    let problem = problem_at(to);
                    let trigger = problem.trigger(host);
                    let id = match &track.open {
                        Some((id, _)) => {
                            tx.change_incident_level(*id, host, check, to, &trigger, true, now)?;
                            fx.events.push(EngineEvent::IncidentLevelChanged {
                                id: *id,
                                host: host.into(),
                                check: check.into(),
                                level: to.number(),
                                trigger,
                                at: at.clone(),
                                paused,
                            });
                            *id
                        }
                        None => {
                            let id = tx.open_incident_on(host, check, to, &trigger, &reading.text, now)?;
                            self.opened_at.insert(id, now);
                            fx.events.push(EngineEvent::IncidentOpened {
                                id,
                                host: host.into(),
                                check: check.into(),
                                level: to.number(),
                                trigger,
                                at: at.clone(),
                                paused,
                            });
                            id
                        }
                    };
                    track.open = Some((id, problem.clone()));
                    // Each rise in level mails once (contract §2); its time is the rise.
                    self.alert_or_hold(tx, host, check, id, to.number(), &problem, now, fx)?;
                }
                ResourceTransition::Lowered { to: Some(to), .. } => {
                    if let Some((id, _)) = &track.open {
                        let trigger = problem_at(to).trigger(host);
                        tx.change_incident_level(*id, host, check, to, &trigger, false, now)?;
                        fx.events.push(EngineEvent::IncidentLevelChanged {
                            id: *id,
                            host: host.into(),
                            check: check.into(),
                            level: to.number(),
                            trigger,
                            at: at.clone(),
                            paused,
                        });
                    }
                }
                ResourceTransition::Lowered { to: None, from } => {
                    if let Some((id, problem)) = track.open.take() {
                        tx.close_incident_on(id, host, check, &reading.text, now)?;
                        self.acks.remove(&id);
                        let trigger = problem.trigger(host);
                        fx.events.push(EngineEvent::IncidentClosed {
                            id,
                            host: host.into(),
                            check: check.into(),
                            level: from.number(),
                            trigger,
                            at: at.clone(),
                        });
                        let detected_at = self.opened_at.remove(&id).unwrap_or(now);
                        if self.held.remove(&id).is_none() {
                            mail =
                                self.mailer.recovery(host, id, &problem, detected_at, now, Some(reading.text.clone()));
                        }
                    }
                }
            }
            if let Some(mail) = mail {
                tx.enqueue_mail(&mail, now)?;
                fx.mail = true;
            }
        }
        Ok(())
    }

    fn other_incident(&self, id: i64, level: u8) -> OtherIncident {
        let since = self.opened_at.get(&id).map(|t| timestamp(*t)).unwrap_or_default();
        OtherIncident { id, level, since, acknowledged_by: self.acks.get(&id).cloned() }
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
                    let state = self.monitor.state(key).unwrap_or_default();
                    let suppressed = if state.failing() {
                        self.monitor.suppression(key).map(|s| match s {
                            Suppression::HostUnreachable => "host_unreachable".to_string(),
                            Suppression::GatewayDown(g) => format!("gateway_down:{g}"),
                            Suppression::Unconfirmed(h) => format!("awaiting_ping:{h}"),
                        })
                    } else {
                        None
                    };
                    let incident = self.monitor.incident(key);
                    v.update_check(key, |c| {
                        c.ok = Some(result.ok);
                        c.hard = state.hard_down;
                        c.failures = state.failures;
                        c.detail = result.detail.clone();
                        c.ms = result.ms;
                        c.last_at = Some(at.clone());
                        c.incident = incident;
                        c.level = incident.map(|_| key.kind.level().number());
                        c.since = incident.and_then(|id| self.opened_at.get(&id)).map(|t| timestamp(*t));
                        c.acknowledged_by = incident.and_then(|id| self.acks.get(&id).cloned());
                        c.suppressed = suppressed;
                        c.unknown = None;
                    });
                    hosts.insert(key.host.as_str());
                }
                Input::Action { .. } | Input::RecoveryActing { .. } | Input::RecoveryDone { .. } | Input::Tick => {}
                Input::Resources { host, poll } => {
                    let Some(h) = v.host_mut(host) else { continue };
                    match poll {
                        Err(e) => h.resource_error = Some(e.message.clone()),
                        Ok(sample) => {
                            h.resource_error = None;
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
                    h.other_incidents =
                        Resource::ALL
                            .into_iter()
                            .filter_map(|r| {
                                let t = self.resources.get(&(host.clone(), r))?;
                                let (id, _) = t.open.as_ref()?;
                                let level = t.state.level.map(Level::number).unwrap_or(0);
                                Some((r.as_str().to_string(), self.other_incident(*id, level)))
                            })
                            .chain(self.host_key_incidents.get(host).map(|id| {
                                (HOST_KEY_CHECK.to_string(), self.other_incident(*id, Level::Severe.number()))
                            }))
                            .collect();
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

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use anshin_core::{CheckKey, CheckKind, CheckSpec, Service};

    use super::*;

    /// A check of a port on 127.0.0.1 that nothing listens on (refused at once).
    async fn refused_spec() -> CheckSpec {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        CheckSpec {
            key: CheckKey::new("web01", CheckKind::Service(Service::Http)),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
            fqdn: "web01.example.jp".into(),
            expect: None,
        }
    }

    #[tokio::test]
    async fn a_failure_from_an_attempt_late_past_the_bound_is_unknown() {
        let prober = Prober::new(Duration::from_secs(1)).unwrap();
        let spec = refused_spec().await;
        // On time: the refusal is the server's (a failure, judged).
        let (r, lag_ms, late) = probe_on_time(&prober, &spec, tokio::time::Instant::now()).await;
        assert!(!r.ok && !r.unknown && !late, "{r:?}");
        assert!(lag_ms < 1000);
        // Its slot was 3 s ago (a starved prober): the same refusal says nothing.
        let slot = tokio::time::Instant::now() - Duration::from_secs(3);
        let (r, lag_ms, late) = probe_on_time(&prober, &spec, slot).await;
        assert!(late && r.unknown && !r.ok, "{r:?}");
        assert!(lag_ms >= 3000, "{lag_ms}");
        assert!(r.detail.starts_with("the prober ran late"), "{}", r.detail);
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_delayed_by_its_own_overrunning_predecessor_is_on_time() {
        // Interval 1 s, attempts that take 2.5 s (a timeout longer than the interval): every
        // run after the first starts past its slot, but only because the previous one ran on.
        let (tx, mut rx) = mpsc::channel(16);
        let (_stop, shutdown) = watch::channel(false);
        spawn_periodic(Duration::ZERO, Duration::from_secs(1), tx, shutdown, |due| async move {
            let lag = tokio::time::Instant::now().saturating_duration_since(due);
            tokio::time::sleep(Duration::from_millis(2500)).await;
            // Any input carries the measured lag back (ms in the id field).
            Input::RecoveryActing { id: lag.as_millis() as i64 }
        });
        for _ in 0..4 {
            match rx.recv().await {
                Some(Input::RecoveryActing { id: lag_ms }) => assert!(lag_ms < 100, "{lag_ms} ms"),
                _ => panic!("the periodic task stopped"),
            }
        }
    }

    #[test]
    fn due_is_the_slot_unless_the_previous_run_ended_after_it() {
        let t = tokio::time::Instant::now();
        let s = Duration::from_secs(1);
        assert_eq!(due(t, None), t);
        assert_eq!(due(t, Some(t - s)), t);
        assert_eq!(due(t, Some(t + s)), t + s);
    }

    #[tokio::test]
    async fn a_late_success_still_counts() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            while let Ok((mut s, _)) = l.accept().await {
                let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await;
            }
        });
        let prober = Prober::new(Duration::from_secs(1)).unwrap();
        let spec = CheckSpec { key: CheckKey::new("web01", CheckKind::Ssh), port, ..refused_spec().await };
        let slot = tokio::time::Instant::now() - Duration::from_secs(3);
        let (r, _, late) = probe_on_time(&prober, &spec, slot).await;
        assert!(r.ok && !late, "the server answered: {r:?}");
    }
}
