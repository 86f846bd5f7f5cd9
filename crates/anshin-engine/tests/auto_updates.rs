//! Automatic security updates (contract §8, `auto_updates = "security"`) through the whole
//! engine: a Debian server of an opted-in customer has a security update pending; the engine
//! detects it over the loopback fleet's real sshd and announces it with the planned date (the next
//! business day 10:00 JST); on a Saturday nothing is applied; on Monday past 10:00 the engine
//! applies it by itself, logged as `rule:auto-updates`, and the next detection finds nothing.
//!
//! Real peer: sshd of tests/fleet (needs root and Debian's /usr/bin/python3). `apt`, `apt-cache`
//! and `apt-get` are recording stand-ins first on the SSH account's PATH printing Debian 12's
//! formats (a mock only because the machine's own packages must not change); only the clock is
//! the test's.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anshin_engine::{start, EngineHandle, Store};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Asia::Tokyo;

mod common;
use common::sshd_fleet::Fleet;
use common::{wait_until, TestClock};

fn fleet_text(f: &Fleet, dir: &Path) -> String {
    format!(
        r#"
[noc]
interval_secs = 1
attempts = 2
timeout_secs = 2
updates = {{ every_hours = 24, job_minutes = 2 }}

[[customer]]
id = "c1"
name = "Test"
plan = "60"
notify = ["ops@example.jp"]
auto_updates = "security"

[[server]]
label = "web01"
customer = "c1"
fqdn = "web01.example.jp"
ip = "{net}.2"
os = "Debian 12"
services = []
ssh = {{ user = "anshin", key = {key:?}, known_hosts = {hosts:?}, trust_on_first_use = true }}
"#,
        net = f.net,
        key = f.key.display().to_string(),
        hosts = dir.join("known_hosts").display().to_string(),
    )
}

/// Stand-ins on web01's SSH PATH; `state` records the calls (`calls.log`) and the apply
/// (`applied`). Their outputs are Debian 12's apt formats (as in the core's fixtures).
fn install_standins(f: &Fleet) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let host = f.public.join("hosts/web01");
    let state = host.join("apt-state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let s = state.display();
    let prelude = format!("#!/bin/sh\necho \"$(basename \"$0\") $*\" >> {s}/calls.log\n");
    let scripts = [
        (
            "apt",
            format!(
                "{prelude}echo 'Listing...'\n[ -e {s}/applied ] && exit 0\n\
                 echo 'libexpat1/oldstable-security 2.5.0-1+deb12u2 amd64 [upgradable from: 2.5.0-1+deb12u1]'\n"
            ),
        ),
        (
            "apt-cache",
            format!(
                "{prelude}cat <<'EOF'\nPackage files:\n 100 /var/lib/dpkg/status\n     release a=now\n \
                 500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages\n     \
                 release v=12,o=Debian,a=oldstable-security,n=bookworm-security,l=Debian-Security,c=main,b=amd64\n     \
                 origin deb.debian.org\nEOF\n"
            ),
        ),
        ("apt-get", format!("{prelude}echo 'Setting up libexpat1:amd64 (2.5.0-1+deb12u2) ...'\ntouch {s}/applied\n")),
    ];
    for (name, body) in scripts {
        let p = host.join("bin").join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    state
}

fn calls(state: &Path) -> Vec<String> {
    std::fs::read_to_string(state.join("calls.log")).unwrap_or_default().lines().map(String::from).collect()
}

fn jst(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Tokyo.with_ymd_and_hms(y, m, d, h, min, 0).unwrap().with_timezone(&Utc)
}

fn updates_of(engine: &EngineHandle) -> Option<anshin_engine::view::UpdatesView> {
    engine.console().servers().into_iter().find(|s| s.label == "web01").and_then(|s| s.updates)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opted_in_customer_is_updated_in_business_hours_once_the_planned_date_came() {
    let f = Fleet::up("127.78.47");
    let state = install_standins(&f);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let fleet = anshin_core::fleet::parse(&fleet_text(&f, dir.path()), "fleet.toml").expect("valid fleet").fleet;
    // Saturday 2026-12-05 10:00 JST: outside business hours.
    let clock = Arc::new(TestClock(Mutex::new(jst(2026, 12, 5, 10, 0))));
    let (engine, _events) = start(fleet, Store::open(&db).unwrap(), clock.clone()).unwrap();

    let found = wait_until(30, "the detection", || updates_of(&engine).filter(|u| u.count == 1)).await;
    assert_eq!(found.security, 1);
    let monday_ten = jst(2026, 12, 7, 10, 0);
    assert_eq!(found.planned_at.as_deref(), Some(anshin_engine::store::timestamp(monday_ten).as_str()));
    wait_until(10, "the notice queued", || {
        let store = Store::open_read_only(&db).ok()?;
        store.outbox(10).ok()?.into_iter().find(|m| m.subject == "[Speever]セキュリティ情報のご案内（web01）")
    })
    .await;

    // The weekend passes look by look: nothing applied.
    for _ in 0..4 {
        clock.advance(chrono::Duration::hours(6));
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    assert!(!calls(&state).iter().any(|c| c.starts_with("apt-get")), "{:?}", calls(&state));

    // Monday 10:01 JST: business hours, the planned date passed.
    clock.set(monday_ten + chrono::Duration::minutes(1));
    wait_until(30, "the automatic apply", || {
        let found = calls(&state).iter().find(|c| c.starts_with("apt-get")).cloned();
        // The engine looks every 30 s of its clock: let a little pass.
        clock.advance(chrono::Duration::seconds(1));
        found
    })
    .await;
    let run = wait_until(30, "the job's end", || {
        let store = Store::open_read_only(&db).ok()?;
        store.update_runs(Some("web01"), 1).ok()?.into_iter().next().filter(|r| r.state != "running")
    })
    .await;
    assert_eq!((run.state.as_str(), run.requested_by.as_str()), ("ok", "rule:auto-updates"), "{run:?}");
    let call = calls(&state).into_iter().find(|c| c.starts_with("apt-get")).unwrap();
    assert!(call.contains("--only-upgrade") && call.ends_with("-- libexpat1"), "{call}");
    wait_until(30, "nothing pending after the new detection", || updates_of(&engine).filter(|u| u.count == 0)).await;
    engine.stop().await.unwrap();
    let applies = calls(&state).iter().filter(|c| c.starts_with("apt-get")).count();
    assert_eq!(applies, 1, "once per planned date");
}
