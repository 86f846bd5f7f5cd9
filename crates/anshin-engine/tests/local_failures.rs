//! A failure on the NOC's own side is never a failure of the customer's server: with the
//! engine's process out of file descriptors, every probe fails with "Too many open files" —
//! the checks must show as unknown, open no incident and queue no mail, and the consoles'
//! health line must raise the engine alarm; once descriptors are back, the checks answer again.
//!
//! Real peers: the engine probes a real TCP listener on 127.0.0.1 and pings 127.0.0.1 (needs
//! root or CAP_NET_RAW, as the engine does). The shortage is real too: the test lowers its own
//! process's soft RLIMIT_NOFILE so that no new descriptor can be opened.
//! This file is its own test binary (own process), so the limit touches nothing else.

use std::sync::Arc;
use std::time::Duration;

use anshin_engine::{start, EngineEvent, Store, SystemClock};
use nix::sys::resource::{getrlimit, setrlimit, Resource};

mod common;
use common::greeter;

/// A soft limit below every free descriptor number: with stdin, stdout and stderr open, any
/// new descriptor (they take the lowest free number) is refused with EMFILE, while those
/// already open keep working.
const NO_NEW_DESCRIPTORS: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_out_of_descriptors_opens_nothing_and_says_why() {
    // Real listeners: a service that answers "OK", and an SSH banner (every server gets an
    // SSH check).
    let port = greeter(b"OK ready\r\n").await;
    let ssh_port = greeter(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").await;
    let fleet_text = format!(
        r#"
[noc]
interval_secs = 1
attempts = 2
timeout_secs = 1

[[customer]]
id = "c1"
name = "Test"
plan = "30"
notify = ["ops@example.jp"]

[[server]]
label = "app01"
customer = "c1"
fqdn = "app01.example.jp"
ip = "127.0.0.1"
os = "Debian 12"
services = []
ports = {{ ssh = {ssh_port} }}
custom = [{{ name = "app", port = {port}, expect = "OK" }}]
"#
    );
    let fleet = anshin_core::fleet::parse(&fleet_text, "fleet.toml").expect("valid fleet").fleet;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let store = Store::open(&db).unwrap();
    let (engine, mut events) = start(fleet, store, Arc::new(SystemClock)).unwrap();
    let console = engine.console();

    // Healthy first: the custom check answers.
    let healthy = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let app = console.servers().into_iter().flat_map(|s| s.checks).find(|c| c.check == "custom:app");
            if app.is_some_and(|c| c.ok == Some(true)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(healthy.is_ok(), "the custom check never answered");

    // Out of descriptors: no new socket can be opened by anyone in this process.
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, NO_NEW_DESCRIPTORS, hard).unwrap();
    // Several intervals: with attempts = 2, real failures would have opened incidents by now.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let servers = console.servers();
    let health = console.health();
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();

    let checks: Vec<_> = servers.iter().flat_map(|s| s.checks.iter()).collect();
    let app = checks.iter().find(|c| c.check == "custom:app").unwrap();
    let unknown = app.unknown.as_deref().unwrap_or_default();
    assert!(unknown.contains("Too many open files"), "the check is not shown unknown: {app:?}");
    assert_eq!(app.ok, Some(true), "the check's judged state moved: {app:?}");
    assert!(app.incident.is_none(), "an incident opened for a local failure: {app:?}");
    let alarm = health.alarms.iter().find(|a| a.code == "local_failures");
    assert!(alarm.is_some_and(|a| a.count > 0 && a.count * 20 > a.total), "no engine alarm: {:?}", health.alarms);

    // Descriptors back: the alarm clears within an interval or so and the check answers again.
    let recovered = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let app = console.servers().into_iter().flat_map(|s| s.checks).find(|c| c.check == "custom:app").unwrap();
            if app.ok == Some(true) && app.unknown.is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(recovered.is_ok(), "the check did not come back after the shortage");

    engine.stop().await.unwrap();
    let mut opened = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let EngineEvent::IncidentOpened { host, check, .. } = e {
            opened.push(format!("{host}/{check}"));
        }
    }
    assert!(opened.is_empty(), "incidents opened for a shortage on our side: {opened:?}");
    let store = Store::open_read_only(&db).unwrap();
    assert!(store.outbox(100).unwrap().is_empty(), "mail queued for a shortage on our side");
}
