//! The backup incident (contract §7) through the whole engine: backups of a real server (the
//! loopback fleet's OpenSSH sshd, GNU tar) that fail night after night open `web01 バックアップ失敗`
//! at Lv.2 after two failed slots and raise it to Lv.3 after four, never mailed; the tile carries
//! the incident's level and the `last_failed` badge; a restarted engine keeps the same incident
//! open; the next good run closes it. Also the run's file count from the archive's headers.
//!
//! Real peers: sshd of tests/fleet (needs root and Debian's /usr/bin/python3), GNU tar and zstd.
//! The failing nights' `tar` is a stand-in first on the SSH account's PATH that fails as tar does
//! on a fatal read error (exit 2, its message); removed for the good night, the real tar runs.
//! Only the clock is the test's: it jumps from one night's slot to the next instead of waiting
//! days.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anshin_core::backup::{slot_on, BackupSettings};
use anshin_engine::{start, Clock, EngineEvent, EngineHandle, Store};
use chrono::{Days, NaiveDate};

mod common;
use common::sshd_fleet::Fleet;
use common::{next, wait_until, TestClock};

fn fleet_text(f: &Fleet, dir: &Path) -> String {
    format!(
        r#"
[noc]
interval_secs = 1
attempts = 2
timeout_secs = 2
backup = {{ store = {store:?} }}

[[customer]]
id = "c1"
name = "Test"
plan = "150"
notify = ["ops@example.jp"]

[[server]]
label = "web01"
customer = "c1"
fqdn = "web01.example.jp"
ip = "{net}.2"
os = "Debian 12"
services = []
ssh = {{ user = "anshin", key = {key:?}, known_hosts = {hosts:?}, trust_on_first_use = true }}
backup = {{ include = ["/srv/data"] }}
"#,
        store = dir.join("store").display().to_string(),
        net = f.net,
        key = f.key.display().to_string(),
        hosts = dir.join("known_hosts").display().to_string(),
    )
}

/// web01's backup view: (eligibility code, badge, worst level).
fn web01(engine: &EngineHandle) -> (String, Option<&'static str>, Option<u8>) {
    let s = engine.console().servers().into_iter().find(|s| s.label == "web01").unwrap();
    let b = s.backup.clone();
    (b.as_ref().map(|b| b.code.to_string()).unwrap_or_default(), b.and_then(|b| b.attention), s.worst_level)
}

/// The backup runs the store holds: (state, files).
fn runs(db: &Path) -> Vec<(String, u64)> {
    let store = Store::open_read_only(db).unwrap();
    let mut r: Vec<_> =
        store.backups(Some("web01"), 100).unwrap().into_iter().map(|r| (r.id, r.state, r.files)).collect();
    r.sort();
    r.into_iter().map(|(_, s, f)| (s, f)).collect()
}

/// The night of `day`: a minute after web01's slot, then a look (the engine looks at what is
/// due every 30 s of its clock) until the store holds `want` runs that ended.
async fn night(clock: &TestClock, db: &Path, day: NaiveDate, want: usize) {
    let slot = slot_on(&BackupSettings::default(), "web01", day);
    clock.set(slot + chrono::Duration::minutes(1));
    wait_until(30, &format!("run {want} ended"), || {
        let ended = runs(db).iter().filter(|(s, _)| s != "running").count();
        if ended >= want {
            return Some(());
        }
        // Each look is 30 s of the engine's clock apart: move it on a little.
        let t = clock.now();
        clock.set(t + chrono::Duration::seconds(31));
        None
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_nights_open_the_backup_incident_and_a_good_run_closes_it() {
    let f = Fleet::up("127.78.46");
    let data = f.srv().join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    for (name, body) in [("a.txt", "alpha"), ("b.txt", "bravo"), ("sub/c.txt", "charlie")] {
        std::fs::write(data.join(name), body).unwrap();
    }
    // The SSH user reads what it backs up.
    std::process::Command::new("chown").args(["-R", "anshin:anshin"]).arg(&data).status().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let fleet = anshin_core::fleet::parse(&fleet_text(&f, dir.path()), "fleet.toml").expect("valid fleet").fleet;
    let failing_tar = f.public.join("hosts/web01/bin/tar");
    std::fs::write(&failing_tar, "#!/bin/sh\necho 'tar: ./srv/data: Cannot read: Input/output error' >&2\nexit 2\n")
        .unwrap();
    std::fs::set_permissions(&failing_tar, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let first_night = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let clock = Arc::new(TestClock(Mutex::new(slot_on(&BackupSettings::default(), "web01", first_night))));

    let (engine, mut events) = start(fleet.clone(), Store::open(&db).unwrap(), clock.clone()).unwrap();
    wait_until(20, "web01 eligible (its paths measured by the poll)", || {
        (web01(&engine).0 == "eligible").then_some(())
    })
    .await;
    // Night 1 fails: one failed slot, no incident yet, the badge says the last run failed.
    night(&clock, &db, first_night, 1).await;
    assert_eq!(runs(&db), [("failed".to_string(), 0)]);
    wait_until(10, "the badge", || (web01(&engine).1 == Some("last_failed")).then_some(())).await;
    assert_eq!(web01(&engine).2, None, "one failed slot opens nothing");

    // Night 2 fails: Lv.2.
    night(&clock, &db, first_night + Days::new(1), 2).await;
    let (incident, level, trigger) = next(&mut events, 20, "the backup incident", |e| match e {
        EngineEvent::IncidentOpened { id, host, check, level, trigger, .. } if host == "web01" && check == "backup" => {
            Some((*id, *level, trigger.clone()))
        }
        _ => None,
    })
    .await;
    assert_eq!((level, trigger.as_str()), (2, "web01 バックアップ失敗"));
    wait_until(10, "the tile at Lv.2", || (web01(&engine).2 == Some(2)).then_some(())).await;

    // Nights 3 and 4 fail: Lv.3.
    night(&clock, &db, first_night + Days::new(2), 3).await;
    night(&clock, &db, first_night + Days::new(3), 4).await;
    let raised = next(&mut events, 20, "the rise to Lv.3", |e| match e {
        EngineEvent::IncidentLevelChanged { id, level, .. } if *id == incident => Some(*level),
        _ => None,
    })
    .await;
    assert_eq!(raised, 3);
    wait_until(10, "the tile at Lv.3", || (web01(&engine).2 == Some(3)).then_some(())).await;
    engine.stop().await.unwrap();

    {
        let store = Store::open_read_only(&db).unwrap();
        let open: Vec<_> = store.incidents(true, 10).unwrap().into_iter().filter(|i| i.check == "backup").collect();
        assert_eq!(open.len(), 1);
        assert_eq!((open[0].id, open[0].level), (incident, 3));
        assert!(store.outbox(100).unwrap().is_empty(), "the backup incident is never mailed");
        let failed = store.backups(Some("web01"), 100).unwrap();
        assert!(failed.iter().all(|r| r.state == "failed"), "{failed:?}");
    }

    // Restarted, the server fixed (the real tar again): the same incident is open, at Lv.3 on
    // the tile, until the next night's good run closes it.
    std::fs::remove_file(&failing_tar).unwrap();
    let (engine, mut events) = start(fleet, Store::open(&db).unwrap(), clock.clone()).unwrap();
    wait_until(20, "the resumed incident on the tile", || (web01(&engine).2 == Some(3)).then_some(())).await;
    wait_until(20, "web01 eligible again", || (web01(&engine).0 == "eligible").then_some(())).await;
    night(&clock, &db, first_night + Days::new(4), 5).await;
    next(&mut events, 20, "the close", |e| match e {
        EngineEvent::IncidentClosed { id, .. } if *id == incident => Some(()),
        _ => None,
    })
    .await;
    wait_until(10, "the tile clear, no badge", || {
        let (_, badge, level) = web01(&engine);
        (badge.is_none() && level.is_none()).then_some(())
    })
    .await;
    engine.stop().await.unwrap();

    let all = runs(&db);
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(all[4], ("ok".to_string(), 3), "the full holds the three files, counted from its tar headers");
    let store = Store::open_read_only(&db).unwrap();
    let closed = store
        .events()
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "incident_closed" && e.incident_id == Some(incident))
        .expect("incident_closed logged");
    let log: Vec<String> = store
        .events()
        .unwrap()
        .iter()
        .map(|e| format!("{} {:?} {:?} {}", e.kind, e.incident_id, e.check, e.detail))
        .collect();
    assert!(closed.detail.starts_with("generation #5 completed"), "{}\n{}", closed.detail, log.join("\n"));
    assert_eq!(log.iter().filter(|l| l.starts_with("incident_opened")).count(), 1, "one incident all along");
    assert!(store.outbox(100).unwrap().is_empty(), "no mail at any point");
}
