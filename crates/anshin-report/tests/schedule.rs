//! The monthly schedule with a fake clock: drafts on the 1st for entitled customers only,
//! overdue after the 9th, automatic sending on the 10th at 09:00 JST except held reports, and
//! `run_schedule` doing the same on its own.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anshin_engine::store::reports::ReportState;
use anshin_engine::{Clock, Store};
use anshin_report::{list_reports, tick, JapaneseFont, Month, ReportError};
use chrono::{DateTime, Utc};

const FLEET: &str = r#"
[noc]
brand = "Speever"
mail_from = "mail_alert@hosting-srv.net"

[[customer]]
id = "c1001"
name = "サンプル株式会社"
plan = "150"
notify = ["ops@example.jp"]

[[customer]]
id = "c1002"
name = "ゼロ商店"
plan = "30"
notify = ["zero@example.jp"]

[[customer]]
id = "c1003"
name = "六十商事"
plan = "60"
notify = ["sixty@example.jp"]

[[server]]
label = "web01"
customer = "c1001"
fqdn = "web01.example.jp"
ip = "127.78.53.2"
os = "Debian 12"
services = ["http"]

[[server]]
label = "web03"
customer = "c1003"
fqdn = "web03.example.jp"
ip = "127.78.53.3"
os = "Debian 12"
services = ["http"]
"#;

fn jst(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}+09:00")).unwrap().with_timezone(&Utc)
}

/// Records that the engine started at `at` (monitoring began, or resumed).
fn engine_started(store: &mut Store, at: DateTime<Utc>) {
    let tx = store.begin().unwrap();
    tx.append_event("engine_started", None, None, "", at).unwrap();
    tx.commit().unwrap();
}

fn font() -> Result<JapaneseFont, ReportError> {
    Ok(JapaneseFont::find()?)
}

#[test]
fn drafts_overdue_and_automatic_sending() {
    let fleet = anshin_core::fleet::parse(FLEET, "fleet.toml").unwrap().fleet;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("log.db")).unwrap();
    engine_started(&mut store, jst("2026-10-01T00:00:00"));
    let oct = Month::parse("2026-10").unwrap();

    // The 1st: drafts of October for plans 150 and 60, not for 30.
    let o = tick(&mut store, &fleet, jst("2026-11-01T00:00:01"), &font, None).unwrap();
    assert_eq!(o.drafted.len(), 2);
    assert!(o.sent.is_empty());
    let rows = list_reports(&store, &fleet, Some(oct), jst("2026-11-01T00:00:01")).unwrap();
    assert_eq!(rows.iter().map(|r| r.record.customer.as_str()).collect::<Vec<_>>(), ["c1001", "c1003"]);
    assert!(rows.iter().all(|r| r.record.state == ReportState::Draft && !r.overdue));
    let c1003 = rows[1].record.id;
    anshin_report::hold_report(&mut store, c1003, "ops1", jst("2026-11-02T10:00:00")).unwrap();

    // Ticking again changes nothing; the 9th is not overdue yet, the 10th is.
    assert_eq!(tick(&mut store, &fleet, jst("2026-11-09T23:59:00"), &font, None).unwrap(), Default::default());
    assert!(list_reports(&store, &fleet, Some(oct), jst("2026-11-09T23:59:00")).unwrap().iter().all(|r| !r.overdue));
    let at_ten = list_reports(&store, &fleet, Some(oct), jst("2026-11-10T08:59:00")).unwrap();
    assert!(at_ten.iter().all(|r| r.overdue));
    assert!(tick(&mut store, &fleet, jst("2026-11-10T08:59:59"), &font, None).unwrap().sent.is_empty());

    // 09:00 on the 10th: the draft goes out by itself, the held one stays.
    let archive = dir.path().join("archive");
    let o = tick(&mut store, &fleet, jst("2026-11-10T09:00:00"), &font, Some(&archive)).unwrap();
    assert_eq!(o.sent.len(), 1, "{o:?}");
    assert!(archive.join("c1001-2026-10.pdf").exists());
    let rows = list_reports(&store, &fleet, Some(oct), jst("2026-11-10T09:00:00")).unwrap();
    assert_eq!(rows[0].record.state, ReportState::Sent);
    assert_eq!(rows[0].record.sent_by.as_deref(), Some("auto"));
    assert!(!rows[0].overdue);
    assert_eq!((rows[1].record.state, rows[1].overdue), (ReportState::Held, true));
    let mail = store.mail(o.sent[0].1).unwrap().unwrap();
    assert_eq!(mail.to, ["ops@example.jp"]);
    assert!(mail.subject.contains("2026年10月"));
    // Nothing is sent twice.
    assert!(tick(&mut store, &fleet, jst("2026-11-10T09:05:00"), &font, None).unwrap().sent.is_empty());
}

#[derive(Debug)]
struct FakeClock(Mutex<DateTime<Utc>>);

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

#[tokio::test]
async fn run_schedule_follows_the_clock() {
    let fleet = Arc::new(anshin_core::fleet::parse(FLEET, "fleet.toml").unwrap().fleet);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.db");
    engine_started(&mut Store::open(&db).unwrap(), jst("2026-10-01T00:00:00"));
    let clock = Arc::new(FakeClock(Mutex::new(jst("2026-11-01T00:00:05"))));
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let wake = Arc::new(tokio::sync::Notify::new());
    let task = tokio::spawn(anshin_report::run_schedule(
        db.clone(),
        fleet.clone(),
        clock.clone(),
        None,
        wake.clone(),
        Duration::from_millis(50),
        shutdown,
    ));
    let reports = |db: &std::path::Path| Store::open_read_only(db).unwrap().reports(None).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while reports(&db).len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no drafts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    *clock.0.lock().unwrap() = jst("2026-11-10T09:00:01");
    while reports(&db).iter().filter(|r| r.state == ReportState::Sent).count() < 2 {
        assert!(std::time::Instant::now() < deadline, "not sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap().unwrap();
}

#[test]
fn a_month_before_monitoring_began_is_not_drafted() {
    let fleet = anshin_core::fleet::parse(FLEET, "fleet.toml").unwrap().fleet;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("log.db")).unwrap();
    let (oct, nov) = (Month::parse("2026-10").unwrap(), Month::parse("2026-11").unwrap());
    // No engine ever ran: nothing to draft.
    assert!(anshin_report::prepare_drafts(&mut store, &fleet, oct, jst("2026-11-01T00:00:01")).unwrap().is_empty());

    // The engine first starts on 11-10: October, which ended before, gets no draft.
    engine_started(&mut store, jst("2026-11-10T13:00:00"));
    assert_eq!(tick(&mut store, &fleet, jst("2026-11-10T13:00:01"), &font, None).unwrap(), Default::default());
    assert!(anshin_report::prepare_drafts(&mut store, &fleet, oct, jst("2026-11-10T13:00:01")).unwrap().is_empty());
    assert!(list_reports(&store, &fleet, Some(oct), jst("2026-11-10T13:00:01")).unwrap().is_empty());

    // November, watched from the 10th on, is drafted on 12-01 for both entitled customers.
    let o = tick(&mut store, &fleet, jst("2026-12-01T00:00:01"), &font, None).unwrap();
    assert_eq!(o.drafted.len(), 2);
    let rows = list_reports(&store, &fleet, Some(nov), jst("2026-12-01T00:00:01")).unwrap();
    assert_eq!(rows.iter().map(|r| r.record.customer.as_str()).collect::<Vec<_>>(), ["c1001", "c1003"]);
}

/// contract §9.1: the plan in force at the month's end decides whether its report is drafted —
/// an upgrade to 60 during October drafts October; a downgrade to 30 during October does not.
#[test]
fn the_plan_in_force_at_the_months_end_decides_the_draft() {
    let text = FLEET
        .replace(
            "plan = \"30\"\nnotify = [\"zero@example.jp\"]",
            "plan = \"60\"\nplan_history = [{ plan = \"30\", from = \"2026-01-01\" }, { plan = \"60\", from = \"2026-10-15\" }]\nnotify = [\"zero@example.jp\"]",
        )
        .replace(
            "plan = \"60\"\nnotify = [\"sixty@example.jp\"]",
            "plan = \"30\"\nplan_history = [{ plan = \"60\", from = \"2026-01-01\" }, { plan = \"30\", from = \"2026-10-31\" }]\nnotify = [\"sixty@example.jp\"]",
        );
    let fleet = anshin_core::fleet::parse(&text, "fleet.toml").unwrap().fleet;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("log.db")).unwrap();
    engine_started(&mut store, jst("2026-09-01T00:00:00"));
    let (sep, oct) = (Month::parse("2026-09").unwrap(), Month::parse("2026-10").unwrap());
    let drafted = |store: &mut Store, m: Month| {
        anshin_report::prepare_drafts(store, &fleet, m, jst("2026-11-01T00:00:01")).unwrap();
        let rows = list_reports(store, &fleet, Some(m), jst("2026-11-01T00:00:01")).unwrap();
        rows.into_iter().map(|r| r.record.customer).collect::<Vec<_>>()
    };
    assert_eq!(drafted(&mut store, sep), ["c1001", "c1003"], "September: c1002 was on 30, c1003 on 60");
    assert_eq!(drafted(&mut store, oct), ["c1001", "c1002"], "October: c1002 on 60 at its end, c1003 on 30");
}
