//! The scheduler's tasks: one per check (start times spread evenly over the interval), one per
//! server whose resources are polled over SSH (both kept in `Tasks`, which follows a changed
//! fleet task by task), the outbox backlog count, and the decider's tick. Each attempt is judged for punctuality (a failure from a starved prober is unknown)
//! and sent to the decider on the bounded channel; nothing here decides.
//!
//! Must not know: incidents, the store's writes, mails, consoles.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anshin_core::resource;
use anshin_core::{CheckKey, CheckSpec, Fleet};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::AbortHandle;

use super::{health, Input, PollError};
use crate::fleet_file::ssh_target;
use crate::probe::{ProbeResult, Prober};
use crate::ssh::{SshPool, SshTarget};
use crate::store::{Store, StoreError};
use crate::view::FleetView;

/// Probes in flight at once, whatever the fleet size: bounds sockets and memory.
pub(super) const MAX_CONCURRENT_PROBES: usize = 1024;
/// How often the health line's outbox backlog is counted.
const BACKLOG_EVERY: Duration = Duration::from_secs(3);
/// SSH handshakes in flight at once (each costs the server a key exchange).
const MAX_SSH_HANDSHAKES: usize = 16;

/// The servers whose resources are polled: SSH access given, plan includes resource monitoring.
pub(super) fn resource_targets(fleet: &Fleet) -> Vec<SshTarget> {
    resource_polls(fleet).into_iter().map(|p| p.target).collect()
}

/// One server's resource poll: where, and the command (with the `df` of its backed-up paths
/// when the fleet keeps backups and the plan includes them, contract §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Poll {
    pub target: SshTarget,
    pub command: Arc<str>,
}

/// The resource polls of a fleet (see [`resource_targets`]).
pub(super) fn resource_polls(fleet: &Fleet) -> Vec<Poll> {
    let plain: Arc<str> = Arc::from(resource::POLL_COMMAND);
    fleet
        .servers
        .iter()
        .filter(|s| fleet.plan_of(s).resource_monitoring())
        .filter_map(|s| {
            let target = ssh_target(s)?;
            let command = if fleet.backup.store.is_some() && fleet.plan_of(s).backup() {
                Arc::from(resource::poll_command(&s.backup.include))
            } else {
                plain.clone()
            };
            Some(Poll { target, command })
        })
        .collect()
}

/// Keeps the outbox backlog of the health line current (a read-only connection of its own,
/// opened once and again only after a failure; a failure only leaves the last known number).
pub(super) fn spawn_backlog_watch(path: PathBuf, view: Arc<RwLock<FleetView>>, mut shutdown: watch::Receiver<bool>) {
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
pub(super) fn spawn_periodic<F, Fut>(
    offset: Duration,
    interval: Duration,
    results: mpsc::Sender<Input>,
    shutdown: watch::Receiver<bool>,
    skipped: Option<Arc<AtomicU64>>,
    work: F,
) -> AbortHandle
where
    F: FnMut(tokio::time::Instant) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Input> + Send + 'static,
{
    tokio::spawn(periodic(offset, interval, results, shutdown, skipped, work)).abort_handle()
}

/// The loop of a periodic task. It idles most of its life, and there are 50,000 of them at
/// 10,000 servers: what a run holds (the attempt's future, a TLS handshake's state is
/// kilobytes, and the result on its way to the decider) is boxed and lives only while it runs.
async fn periodic<F, Fut>(
    offset: Duration,
    interval: Duration,
    results: mpsc::Sender<Input>,
    mut shutdown: watch::Receiver<bool>,
    skipped: Option<Arc<AtomicU64>>,
    mut work: F,
) where
    F: FnMut(tokio::time::Instant) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Input> + Send,
{
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut done_at: Option<tokio::time::Instant> = None;
    let mut last_slot: Option<tokio::time::Instant> = None;
    loop {
        // The slot this run belongs to (a missed one when the task runs late).
        let slot = tokio::select! {
            slot = ticks.tick() => slot,
            _ = shutdown.changed() => break,
        };
        if let (Some(counter), Some(last)) = (&skipped, last_slot) {
            counter.fetch_add(slots_between(last, slot, interval), Ordering::Relaxed);
        }
        last_slot = Some(slot);
        let input = tokio::select! {
            input = Box::pin(work(due(slot, done_at))) => input,
            _ = shutdown.changed() => break,
        };
        if Box::pin(results.send(input)).await.is_err() {
            break;
        }
        done_at = Some(tokio::time::Instant::now());
    }
}

/// How many slots of `interval` passed unattempted between two consecutive ones.
fn slots_between(last: tokio::time::Instant, slot: tokio::time::Instant, interval: Duration) -> u64 {
    let gap = slot.saturating_duration_since(last).as_millis();
    let step = interval.as_millis().max(1);
    u64::try_from(((gap + step / 2) / step).saturating_sub(1)).unwrap_or(u64::MAX)
}

/// When a run of a periodic task was due: its slot, or, when the previous run overran that slot
/// (an attempt waiting out a timeout longer than the interval), the moment the previous run
/// ended. Lateness counts from there: a run delayed by its own predecessor is not the prober
/// running late.
fn due(slot: tokio::time::Instant, previous_done: Option<tokio::time::Instant>) -> tokio::time::Instant {
    previous_done.map_or(slot, |done| done.max(slot))
}

/// The probe and poll tasks of the fleet in force: one per check and one per polled server,
/// each stopped on its own when the fleet changes (a live reload) and started for what is new.
pub(super) struct Tasks {
    prober: Prober,
    permits: Arc<Semaphore>,
    pool: SshPool,
    interval: Duration,
    /// Weak: the decider ends when every task's sender is gone.
    results: mpsc::WeakSender<Input>,
    shutdown: watch::Receiver<bool>,
    checks: HashMap<CheckKey, (CheckSpec, AbortHandle)>,
    polls: HashMap<String, (Poll, AbortHandle)>,
    /// Check slots skipped since the start (see `Health::slots_skipped`).
    skipped: Arc<AtomicU64>,
}

impl Tasks {
    pub fn new(
        prober: Prober,
        interval: Duration,
        results: mpsc::WeakSender<Input>,
        shutdown: watch::Receiver<bool>,
    ) -> Tasks {
        let timeout = prober.timeout();
        Tasks {
            prober,
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT_PROBES)),
            pool: SshPool::new(MAX_SSH_HANDSHAKES, timeout),
            interval,
            results,
            shutdown,
            checks: HashMap::new(),
            polls: HashMap::new(),
            skipped: Arc::default(),
        }
    }

    /// Check slots skipped since the start: a check's previous attempt still ran, or the
    /// prober was starved past a whole interval.
    pub fn slots_skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// The prober the tasks use (the runner re-checks with it too).
    pub fn prober(&self) -> &Prober {
        &self.prober
    }

    /// Starts a task per check, their first attempts spread evenly over the interval; a check
    /// already running is restarted with the new spec.
    pub fn start_checks(&mut self, specs: Vec<CheckSpec>) {
        let Some(results) = self.results.upgrade() else { return };
        let n = specs.len().max(1) as u32;
        for (i, spec) in specs.into_iter().enumerate() {
            self.stop_check(&spec.key);
            let (prober, permits, shared) = (self.prober.clone(), self.permits.clone(), Arc::new(spec.clone()));
            let offset = self.interval * i as u32 / n;
            let skipped = Some(self.skipped.clone());
            let task =
                spawn_periodic(offset, self.interval, results.clone(), self.shutdown.clone(), skipped, move |slot| {
                    let (prober, permits, spec) = (prober.clone(), permits.clone(), shared.clone());
                    async move {
                        let _permit = permits.acquire().await;
                        let (result, lag_ms, late) = probe_on_time(&prober, &spec, slot).await;
                        Input::Check { key: spec.key.clone(), result, lag_ms, late }
                    }
                });
            self.checks.insert(spec.key.clone(), (spec, task));
        }
    }

    /// Stops a check's task (a result already on its way to the decider may still arrive).
    pub fn stop_check(&mut self, key: &CheckKey) {
        if let Some((_, task)) = self.checks.remove(key) {
            task.abort();
        }
    }

    /// One task per server with SSH access: one command round trip per interval over a
    /// persistent session, parsed on the spot (the decider only sees the sample or the error).
    /// A server polled already is restarted with the new target.
    pub fn start_polls(&mut self, polls: Vec<Poll>) {
        let Some(results) = self.results.upgrade() else { return };
        let n = polls.len().max(1) as u32;
        for (i, poll) in polls.into_iter().enumerate() {
            self.stop_poll(&poll.target.host);
            // Offset by half a slot from the probes so the first poll comes after a ping answer.
            let offset = self.interval * (2 * i as u32 + 1) / (2 * n);
            let (pool, shared, command) = (self.pool.clone(), Arc::new(poll.target.clone()), poll.command.clone());
            let task =
                spawn_periodic(offset, self.interval, results.clone(), self.shutdown.clone(), None, move |_slot| {
                    let (pool, target, command) = (pool.clone(), shared.clone(), command.clone());
                    async move {
                        let poll = match pool.exec(&target, &command, resource::MAX_OUTPUT).await {
                            Ok(out) => resource::parse_poll(&out.stdout)
                                .map_err(|e| PollError { message: e.to_string(), security: false }),
                            Err(e) => Err(PollError { message: e.to_string(), security: e.is_security() }),
                        };
                        Input::Resources { host: target.host.clone(), poll }
                    }
                });
            self.polls.insert(poll.target.host.clone(), (poll, task));
        }
    }

    pub fn stop_poll(&mut self, host: &str) {
        if let Some((_, task)) = self.polls.remove(host) {
            task.abort();
        }
    }

    /// Makes the running tasks those of a new fleet: stops what is gone or changed, starts what
    /// is new or changed (their first attempts spread over the interval), leaves the rest alone.
    /// With another interval or prober (a changed `[noc]`) every task starts again.
    pub fn follow(&mut self, specs: Vec<CheckSpec>, targets: Vec<Poll>, interval: Duration, prober: Option<Prober>) {
        if let Some(prober) = prober {
            self.pool = SshPool::new(MAX_SSH_HANDSHAKES, prober.timeout());
            self.prober = prober;
            self.stop_all();
        }
        if interval != self.interval {
            self.interval = interval;
            self.stop_all();
        }
        let wanted: HashSet<&CheckKey> = specs.iter().map(|s| &s.key).collect();
        let gone: Vec<CheckKey> = self.checks.keys().filter(|k| !wanted.contains(k)).cloned().collect();
        for key in &gone {
            self.stop_check(key);
        }
        let start: Vec<CheckSpec> =
            specs.into_iter().filter(|s| self.checks.get(&s.key).is_none_or(|(running, _)| running != s)).collect();
        self.start_checks(start);
        let polled: HashSet<&str> = targets.iter().map(|t| t.target.host.as_str()).collect();
        let gone: Vec<String> = self.polls.keys().filter(|h| !polled.contains(h.as_str())).cloned().collect();
        for host in &gone {
            self.stop_poll(host);
        }
        let start: Vec<Poll> = targets
            .into_iter()
            .filter(|t| self.polls.get(&t.target.host).is_none_or(|(running, _)| running != t))
            .collect();
        self.start_polls(start);
    }

    fn stop_all(&mut self) {
        for (_, (_, task)) in self.checks.drain() {
            task.abort();
        }
        for (_, (_, task)) in self.polls.drain() {
            task.abort();
        }
    }

    /// Whether a check is one of the fleet in force (a result of a stopped task may still come).
    pub fn runs(&self, key: &CheckKey) -> bool {
        self.checks.contains_key(key)
    }

    /// Whether a server's resources are polled in the fleet in force.
    pub fn polls(&self, host: &str) -> bool {
        self.polls.contains_key(host)
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
        let skipped = Arc::new(AtomicU64::new(0));
        spawn_periodic(Duration::ZERO, Duration::from_secs(1), tx, shutdown, Some(skipped.clone()), |due| async move {
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
        // Runs back to back (0, 2.5, 5, 7.5, 10 s) against slots every second: more than one slot
        // in two was never attempted, and counted so (tokio hands out a missed slot at once, then
        // skips to the period's next multiple, so the count trails the clock by a slot or two).
        let n = skipped.load(Ordering::Relaxed);
        assert!((2..=6).contains(&n), "{n} slots counted as skipped");
    }

    #[tokio::test]
    async fn an_idle_check_task_stays_small() {
        // What every one of 50,000 check tasks holds between runs at 10,000 servers: the loop
        // with a closure like `start_checks`' (a prober, the permits, the spec). The attempt and
        // the result on its way are boxed; were they inline, this would grow by their size.
        let prober = Prober::new(Duration::from_secs(1)).unwrap();
        let permits = Arc::new(Semaphore::new(1));
        let spec = Arc::new(CheckSpec {
            key: CheckKey::new("web01", CheckKind::Service(Service::Http)),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 80,
            fqdn: "web01.example.jp".into(),
            expect: None,
        });
        let (tx, _rx) = mpsc::channel(1);
        let (_stop, shutdown) = watch::channel(false);
        let task = periodic(Duration::ZERO, Duration::from_secs(60), tx, shutdown, None, move |slot| {
            let (prober, permits, spec) = (prober.clone(), permits.clone(), spec.clone());
            async move {
                let _permit = permits.acquire().await;
                let (result, lag_ms, late) = probe_on_time(&prober, &spec, slot).await;
                Input::Check { key: spec.key.clone(), result, lag_ms, late }
            }
        });
        let size = std::mem::size_of_val(&task);
        eprintln!("idle check task: {size} bytes; Input: {} bytes", std::mem::size_of::<Input>());
        assert!(size <= 512, "an idle check task's future is {size} bytes");
    }

    #[test]
    fn skipped_slots_are_the_whole_intervals_between_two_runs() {
        let t0 = tokio::time::Instant::now();
        let s = Duration::from_secs;
        assert_eq!(slots_between(t0, t0 + s(60), s(60)), 0);
        assert_eq!(slots_between(t0, t0 + s(61), s(60)), 0, "a late tick is not a lost one");
        assert_eq!(slots_between(t0, t0 + s(120), s(60)), 1);
        assert_eq!(slots_between(t0, t0 + s(181), s(60)), 2);
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
