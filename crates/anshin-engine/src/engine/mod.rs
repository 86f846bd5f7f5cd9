//! The engine: probes and resource polls on a schedule, one decider that applies their
//! results, stores what happened, then tells listeners; and the outbox runner that mails.
//!
//! Shape: one tokio task per check (and per server with SSH access for its resources) sleeps
//! to its slot (start times spread evenly over the interval), runs one probe under a global
//! concurrency cap, and sends the result on a bounded channel (`probing`). One decider, on its
//! own thread (`decider`), drains results in batches, feeds them to the core's `Monitor`
//! (checks) and `ResourceState`s (`resources`), writes each batch — incidents, events and the
//! customer mails they cause — in one SQLite transaction, and only after the commit publishes
//! events and wakes the outbox runner. So a listener never sees what the store could still
//! lose, and a crash between two batches repeats nothing on restart: no second incident, no
//! second mail. What the decider remembers between batches is `memory` (one record per open
//! incident, one per server), read from the store by `resume`.
//!
//! This file owns: starting and stopping the engine, its `Clock`, its errors, the inputs the
//! decider receives, and `Console`, the handle consoles get.
//! Must not know: Tauri, the UI, or whether the fleet is a demo.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anshin_core::resource::ResourceSample;
use anshin_core::{CheckKey, Fleet};
use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;

pub use crate::action::{Acknowledged, ActionDone, ActionError, ActionRequest};
use crate::alert_mail::AlertMailer;
use crate::event::EngineEvent;
use crate::mail::{run_outbox, RetryPolicy, SmtpSettings};
use crate::probe::{IcmpError, ProbeResult, Prober};
use crate::shared_fleet::SharedFleet;
use crate::store::{timestamp, Store, StoreError};
use crate::view::{FleetView, Health, ServerView};

mod actions;
mod backup_jobs;
mod backups;
pub mod control;
mod decider;
pub mod descriptors;
mod fleet_change;
mod health;
mod memory;
mod probing;
mod pruning;
mod recovery;
mod resources;
mod resume;
mod runner;
mod update_jobs;
mod updates;

pub use crate::fleet_file::ssh_target;
use decider::{Decider, DECIDER_BUSY_WAIT, MAX_BATCH};
pub use fleet_change::{ReloadError, REMOVED};
use probing::{resource_polls, resource_targets, Tasks, MAX_CONCURRENT_PROBES};
use runner::Runner;

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
    /// A changed fleet (or a refused fleet file) to apply between batches.
    Fleet(fleet_change::FleetChange),
    /// How a backup is going (at most once a second while its archive streams in).
    BackupProgress {
        host: String,
        progress: crate::backup_run::Progress,
    },
    /// A backup job ended (`started`: it recorded a run; else it could not begin).
    BackupDone {
        host: String,
        started: bool,
    },
    /// A restore job ended: what the server said, or why it failed, and the re-check of the
    /// server's services afterwards.
    RestoreDone(Box<backup_jobs::RestoreEnded>),
    /// A detection of a server's security updates ended.
    UpdatesDetected {
        host: String,
        detected: Box<crate::update_run::Detected>,
    },
    /// An update job ended (the re-check and a new detection done).
    UpdatesApplied(Box<update_jobs::ApplyEnded>),
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
    feed: Arc<crate::feed_hub::Feed>,
    /// The fleet in force.
    fleet: SharedFleet,
    /// The fleet file the engine follows (`watch_fleet_file`), if any.
    fleet_path: Arc<std::sync::Mutex<Option<PathBuf>>>,
    /// For the fleet file's watcher (its tasks end with the engine).
    shutdown_rx: watch::Receiver<bool>,
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
    feed: Arc<crate::feed_hub::Feed>,
    fleet: SharedFleet,
    fleet_path: Arc<std::sync::Mutex<Option<PathBuf>>>,
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

    /// How many times hosts came or went (a live reload): the feed then sends a snapshot.
    pub fn membership(&self) -> u64 {
        self.view.read().map(|v| v.membership()).unwrap_or_default()
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

    pub(crate) fn feed(&self) -> &crate::feed_hub::Feed {
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

    /// The fleet in force now (it changes with a live reload).
    pub fn fleet(&self) -> Arc<Fleet> {
        self.fleet.get()
    }

    /// The cell holding the fleet in force, for readers that outlive one request (reports).
    pub fn shared_fleet(&self) -> SharedFleet {
        self.fleet.clone()
    }

    /// The fleet file the engine follows, if it was started from one.
    pub fn fleet_path(&self) -> Option<PathBuf> {
        self.fleet_path.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the fleet file again and applies it now (after an edit from a console): the
    /// summary of what changed, or why nothing did (`FILE:LINE:COL` for an invalid file, which
    /// every console is also shown).
    pub async fn reload_fleet(&self, by: &str) -> Result<String, ReloadError> {
        let path = self.fleet_path().ok_or(ReloadError::NoFile)?;
        let fleet =
            tokio::task::spawn_blocking(move || fleet_change::read(&path)).await.map_err(|_| ReloadError::Stopped)?;
        let (reply, answer) = oneshot::channel();
        let change = fleet_change::FleetChange { fleet, by: by.to_string(), reply: Some(reply) };
        let requests = self.requests.upgrade().ok_or(ReloadError::Stopped)?;
        requests.send(Input::Fleet(change)).await.map_err(|_| ReloadError::Stopped)?;
        answer.await.map_err(|_| ReloadError::Stopped)?
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
            fleet: self.fleet.clone(),
            fleet_path: self.fleet_path.clone(),
        }
    }

    /// Follows the fleet file the engine was started from: a change on disk (once it settled)
    /// or a SIGHUP applies it without a restart (contract §6); consoles may ask too
    /// (`Console::reload_fleet`).
    pub fn watch_fleet_file(&self, path: PathBuf) {
        *self.fleet_path.lock().unwrap_or_else(|e| e.into_inner()) = Some(path.clone());
        if let Some(runtime) = &self.runtime {
            let _inside = runtime.handle().enter();
            fleet_change::spawn_watch(path, self.requests.clone(), self.shutdown_rx.clone());
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

    let db_path = store.path().to_path_buf();
    let (smtp_tx, smtp_rx) = watch::channel(smtp);
    let outbox = tokio::spawn(supervise_outbox(
        store.path().to_path_buf(),
        smtp_rx,
        clock.clone(),
        shutdown_rx.clone(),
        wake.clone(),
    ));
    probing::spawn_backlog_watch(store.path().to_path_buf(), view.clone(), shutdown_rx.clone());
    let requests = results_tx.downgrade();
    let mut tasks = Tasks::new(prober.clone(), interval, requests.clone(), shutdown_rx.clone());
    tasks.start_checks(specs);
    tasks.start_polls(resource_polls(&fleet));
    // One shared copy for the runner, the mailer and the fleet's readers (4.5 MB at 10,000
    // servers); the decider keeps its own, which it changes on a reload.
    let fleet_shared = Arc::new(fleet.clone());
    let runner = Runner::new(fleet_shared.clone(), prober.clone(), requests.clone(), shutdown_rx.clone());
    probing::spawn_periodic(TICK, TICK, results_tx, shutdown_rx.clone(), None, |_| async { Input::Tick });
    let shared = SharedFleet::new(fleet_shared.clone());
    pruning::spawn(store.path().to_path_buf(), shared.clone(), clock.clone(), shutdown_rx.clone());
    let backups = backup_jobs::Backups::start(&mut store, requests.clone(), clock.clone())?;
    let updates = update_jobs::Updates::start(&mut store, requests.clone(), clock.clone())?;
    let decider = {
        let mailer = AlertMailer::new(fleet_shared);
        let attempts = health::Attempts::new(fleet.noc.interval_secs);
        let mut d = Decider {
            fleet,
            polled,
            memory: resumed.memory,
            clock,
            events: events.clone(),
            view: view.clone(),
            mailer,
            wake,
            runner,
            attempts,
            slow_readings: Default::default(),
            actions_for: None,
            store_health: health::StoreHealth::default(),
            tasks,
            shared: shared.clone(),
            smtp: smtp_tx,
            backups,
            updates,
        };
        d.memory.paused = d.pauses_at(now);
        store.set_busy_timeout(DECIDER_BUSY_WAIT)?;
        tokio::task::spawn_blocking(move || d.run(store, results_rx))
    };
    let runtime = None; // set by `start` once everything is spawned
    let feed = Arc::new(crate::feed_hub::Feed::default());
    let fleet_path = Arc::default();
    let handle = EngineHandle {
        shutdown,
        events,
        view,
        requests,
        outbox_wake,
        decider,
        outbox,
        runtime,
        feed,
        fleet: shared,
        fleet_path,
        shutdown_rx,
    };
    // `anshin backup` / `anshin restore` on this store ask this engine (contract §7).
    tokio::spawn(control::serve(control::socket_path(&db_path), handle.console(), handle.shutdown_rx.clone()));
    Ok((handle, first_listener))
}

/// Runs the outbox runner until shutdown, starting it again when the SMTP settings change (a
/// live reload): the runner in flight finishes the mail it is handing over first.
async fn supervise_outbox(
    path: PathBuf,
    mut smtp: watch::Receiver<Option<SmtpSettings>>,
    clock: Arc<dyn Clock>,
    mut shutdown: watch::Receiver<bool>,
    wake: Arc<Notify>,
) {
    loop {
        let settings = smtp.borrow_and_update().clone();
        let (stop, stop_rx) = watch::channel(false);
        let run = run_outbox(path.clone(), settings, RetryPolicy::default(), clock.clone(), stop_rx, wake.clone());
        tokio::pin!(run);
        let mut end = shutdown.clone();
        let again = tokio::select! {
            result = &mut run => {
                if let Err(e) = result {
                    tracing::error!(error = %e, "the mail outbox stopped; queued mails wait in the store");
                }
                // Only new settings (or the end) can start it again.
                tokio::select! {
                    changed = smtp.changed() => changed.is_ok(),
                    _ = async { let _ = end.wait_for(|s| *s).await; } => false,
                }
            }
            changed = smtp.changed() => {
                let _ = stop.send(true);
                let _ = (&mut run).await;
                tracing::info!("the outbox runner starts again with the fleet's new [smtp] settings");
                changed.is_ok()
            }
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => {
                let _ = stop.send(true);
                let _ = (&mut run).await;
                false
            }
        };
        if !again {
            break;
        }
    }
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
