//! The hour of primary recovery (contract §9.8): an hour after the engine began acting on an
//! incident (対応開始) that is still open, the incident's prompt becomes the phone escalation
//! (`escalate`, action `phone`, `at` the end of the hour), and an engine restarted after that
//! hour prompts the same (the start is read from the store).
//!
//! Real peers: an HTTP port on 127.0.0.1 that refuses (the service is down), an SSH banner (the
//! SSH check passes; the restart's SSH login fails against it, so the recovery fails and the
//! incident stays open), ICMP to 127.0.0.1 (root or CAP_NET_RAW, as the engine needs). Only the
//! clock is the test's: it jumps an hour ahead instead of waiting for it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anshin_engine::view::Prompt;
use anshin_engine::{start, EngineEvent, Store};
use chrono::{DateTime, Utc};

mod common;
use common::{greeter, next, TestClock};

/// A loopback port nobody listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A prompt of app01 (not its clearing).
fn app_prompt(e: &EngineEvent) -> Option<Prompt> {
    match e {
        EngineEvent::RecoveryPrompt { prompt: Some(p), host, .. } if host == "app01" => Some(p.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hour_after_the_work_began_the_incident_prompts_the_phone_escalation() {
    let ssh_port = greeter(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").await;
    let http_port = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let fleet_text = format!(
        r#"
[noc]
interval_secs = 1
attempts = 2
timeout_secs = 1

[[customer]]
id = "c1"
name = "Test"
plan = "150"
notify = ["ops@example.jp"]
phones = ["03-0000-0001"]

[[server]]
label = "app01"
customer = "c1"
fqdn = "app01.example.jp"
ip = "127.0.0.1"
os = "Debian 12"
services = ["http"]
ports = {{ ssh = {ssh_port}, http = {http_port} }}
ssh = {{ user = "root", key = {key:?}, known_hosts = {hosts:?}, port = {ssh_port}, trust_on_first_use = true }}
"#,
        key = dir.path().join("no_such_key").display().to_string(),
        hosts = dir.path().join("known_hosts").display().to_string(),
    );
    let fleet = anshin_core::fleet::parse(&fleet_text, "fleet.toml").expect("valid fleet").fleet;
    let db = dir.path().join("store.db");
    let clock = Arc::new(TestClock(Mutex::new(Utc::now())));
    let (engine, mut events) = start(fleet.clone(), Store::open(&db).unwrap(), clock.clone()).unwrap();

    // HTTP is down: the incident opens, the engine restarts it (acting: 対応開始), the restart
    // fails, and the one automatic attempt is spent.
    let incident = next(&mut events, 20, "the HTTP incident", |e| match e {
        EngineEvent::IncidentOpened { id, host, check, .. } if host == "app01" && check == "http" => Some(*id),
        _ => None,
    })
    .await;
    let outcome = next(&mut events, 30, "the automatic restart's end", |e| match e {
        EngineEvent::RecoveryFinished { incident_id: Some(i), outcome, .. } if *i == incident => Some(outcome.clone()),
        _ => None,
    })
    .await;
    assert_eq!(outcome, "failed", "the restart cannot log in to the banner-only SSH peer");
    let before = next(&mut events, 20, "the prompt after the attempt", app_prompt).await;
    assert_eq!(before.code, "already_tried", "{before:?}");

    let acted: Vec<DateTime<Utc>> = Store::open_read_only(&db)
        .unwrap()
        .events()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "recovery_acting" && e.incident_id == Some(incident))
        .map(|e| DateTime::parse_from_rfc3339(&e.at).unwrap().with_timezone(&Utc))
        .collect();
    assert_eq!(acted.len(), 1, "one 対応開始 logged");
    let hour_ends = acted[0] + chrono::Duration::hours(1);

    // 59 minutes later: nothing new.
    clock.advance(chrono::Duration::minutes(59));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let http = |e: &anshin_engine::EngineHandle| {
        e.console().servers().into_iter().flat_map(|s| s.checks).find(|c| c.check == "http").unwrap()
    };
    assert_eq!(http(&engine).prompt.map(|p| p.code).as_deref(), Some("already_tried"));

    // The hour is over, the incident still open: the phone escalation.
    clock.advance(chrono::Duration::minutes(2));
    let escalate = next(&mut events, 10, "the escalation prompt", |e| match e {
        EngineEvent::RecoveryPrompt { incident: i, prompt: Some(p), .. }
            if *i == incident && p.code != "already_tried" =>
        {
            Some(p.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!((escalate.code.as_str(), escalate.action.as_str()), ("escalate", "phone"), "{escalate:?}");
    let at = DateTime::parse_from_rfc3339(escalate.at.as_deref().unwrap()).unwrap().with_timezone(&Utc);
    assert_eq!(at, hour_ends);
    let shown = http(&engine);
    assert_eq!(shown.incident, Some(incident));
    assert_eq!(shown.prompt.map(|p| p.code).as_deref(), Some("escalate"));
    engine.stop().await.unwrap();

    // A restarted engine prompts the same from what the store holds.
    let (engine, _events) = start(fleet, Store::open(&db).unwrap(), clock.clone()).unwrap();
    let resumed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(p) = http(&engine).prompt.filter(|p| p.code == "escalate") {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("no escalation prompt after the restart");
    assert_eq!(resumed.at.as_deref(), escalate.at.as_deref());
    engine.stop().await.unwrap();

    let store = Store::open_read_only(&db).unwrap();
    let asked: Vec<String> = store
        .events()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "recovery_needs_operator" && e.incident_id == Some(incident))
        .map(|e| e.detail)
        .collect();
    assert!(asked.contains(&"phone: escalate".to_string()), "{asked:?}");
}
