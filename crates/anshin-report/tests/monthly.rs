//! The monthly report against a hand computation: a month of known outages and a maintenance
//! window, written through the store API, gives exact durations and percentages; the charts,
//! HTML mail and PDF are drawn (kept under $ARTIFACTS for people to look at).

use std::path::PathBuf;

use anshin_core::{CheckKey, CheckKind, Level, Service};
use anshin_engine::store::maintenance::{MaintenanceScope, NewMaintenance};
use anshin_engine::Store;
use anshin_report::compute::Recovery;
use anshin_report::{compute, load, Month};
use chrono::{DateTime, Duration, Utc};

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

[[server]]
label = "web01"
customer = "c1001"
fqdn = "web01.example.jp"
ip = "127.78.51.2"
os = "Debian 12"
services = ["http", "smtp"]

[[server]]
label = "shop01"
customer = "c1002"
fqdn = "shop01.example.jp"
ip = "127.78.51.3"
os = "Debian 12"
services = ["http"]
"#;

/// Japan time → UTC.
fn jst(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}+09:00")).unwrap().with_timezone(&Utc)
}

fn artifacts() -> PathBuf {
    let dir = std::env::var("ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts"));
    let dir = dir.join("report");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// October 2026 (31 days = 2,678,400 s) on web01 (checks ping, ssh, http, smtp):
/// - http down 2026-09-30 23:00 → 10-01 00:30 JST: 1,800 s inside October;
/// - http down 10-05 10:00 → 11:00: 3,600 s;
/// - ping down 10-12 03:00 → 03:30: 1,800 s, against every check; an http incident
///   03:10 → 03:20 inside it adds nothing;
/// - smtp down 10-20 01:00 → 03:00 (7,200 s), with maintenance 02:00 → 04:00 (7,200 s):
///   3,600 s count;
/// - a Lv.4 load incident 10-25 12:00 → 12:10 is listed but is not downtime;
/// - shop01 (another customer) is down all month and must not appear;
/// - the engine has run since 2026-09-30 00:00 JST: the whole month was watched.
fn seed(store: &mut Store) {
    let http = CheckKey::new("web01", CheckKind::Service(Service::Http));
    let smtp = CheckKey::new("web01", CheckKind::Service(Service::Smtp));
    let ping = CheckKey::new("web01", CheckKind::Ping);
    let shop = CheckKey::new("shop01", CheckKind::Ping);
    let tx = store.begin().unwrap();
    tx.append_event("engine_started", None, None, "", jst("2026-09-30T00:00:00")).unwrap();
    let outage = |key: &CheckKey, level, trigger: &str, a: &str, b: &str| {
        let id = tx.open_incident(key, level, trigger, "", jst(a)).unwrap();
        tx.close_incident(id, key, "", jst(b)).unwrap();
        id
    };
    outage(&http, Level::Severe, "web01 HTTP サービスダウン", "2026-09-30T23:00:00", "2026-10-01T00:30:00");
    outage(&http, Level::Severe, "web01 HTTP サービスダウン", "2026-10-05T10:00:00", "2026-10-05T11:00:00");
    outage(&ping, Level::Unreachable, "web01 ping 疎通不可", "2026-10-12T03:00:00", "2026-10-12T03:30:00");
    outage(&http, Level::Severe, "web01 HTTP サービスダウン", "2026-10-12T03:10:00", "2026-10-12T03:20:00");
    outage(&smtp, Level::Severe, "web01 SMTP サービスダウン", "2026-10-20T01:00:00", "2026-10-20T03:00:00");
    let load = tx
        .open_incident_on(
            "web01",
            "load",
            Level::Severe,
            "web01 Load avg.が 24 以上（現在：25.31）",
            "",
            jst("2026-10-25T12:00:00"),
        )
        .unwrap();
    tx.close_incident_on(load, "web01", "load", "", jst("2026-10-25T12:10:00")).unwrap();
    outage(&shop, Level::Unreachable, "shop01 ping 疎通不可", "2026-10-01T00:00:00", "2026-10-31T00:00:00");
    // Samples every 6 hours: load (with 2 CPUs), disk rising, inode, mail queue.
    let start = jst("2026-10-01T00:00:00");
    for n in 0..(31 * 4) {
        let t = start + Duration::hours(6 * n);
        let day = (n / 4) as f64;
        tx.add_sample("web01", "cpus", 2.0, t).unwrap();
        tx.add_sample("web01", "load", 0.4 + (n % 4) as f64 * 0.5 + if n == 99 { 25.31 } else { 0.0 }, t).unwrap();
        tx.add_sample("web01", "disk", 55.0 + day * 0.8 + (n % 4) as f64, t).unwrap();
        tx.add_sample("web01", "inode", 20.0 + day * 0.2, t).unwrap();
        tx.add_sample("web01", "mailq", ((n * 7) % 13) as f64, t).unwrap();
    }
    tx.commit().unwrap();
    store
        .add_maintenance(
            &NewMaintenance {
                scope: MaintenanceScope::Server("web01".into()),
                starts_at: jst("2026-10-20T02:00:00"),
                ends_at: jst("2026-10-20T04:00:00"),
                reason: "OS アップデート".into(),
                who: "ops1".into(),
            },
            jst("2026-10-19T12:00:00"),
        )
        .unwrap();
}

fn fleet() -> anshin_core::Fleet {
    anshin_core::fleet::parse(FLEET, "fleet.toml").unwrap().fleet
}

#[test]
fn availability_matches_the_hand_computation() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("log.db")).unwrap();
    seed(&mut store);
    let oct = Month::parse("2026-10").unwrap();
    let input = load(&store, &fleet(), "c1001", oct, jst("2026-11-01T09:00:00")).unwrap();
    let r = compute(&input);
    assert_eq!(r.period_secs, 2_678_400);
    assert_eq!((r.watched_secs, r.unwatched_secs), (2_678_400, 0), "watched all month");
    assert_eq!(r.watched_from.as_deref(), Some("2026-10-01 00:00"));
    assert_eq!(r.watched_to.as_deref(), Some("2026-11-01 00:00"));
    assert_eq!(r.servers.len(), 1, "only the customer's servers");
    let web = &r.servers[0];
    assert_eq!(web.maintenance_secs, 7_200);
    let by: std::collections::BTreeMap<&str, (i64, f64)> =
        web.checks.iter().map(|c| (c.check.as_str(), (c.downtime_secs, c.percent))).collect();
    // service time = 2,678,400 − 7,200 = 2,671,200 s
    let pct = |down: f64| 100.0 * (2_671_200.0 - down) / 2_671_200.0;
    assert_eq!(by["ping"].0, 1_800);
    assert_eq!(by["ssh"].0, 1_800);
    assert_eq!(by["http"].0, 1_800 + 3_600 + 1_800);
    assert_eq!(by["smtp"].0, 3_600 + 1_800);
    assert_eq!(web.downtime_secs, 1_800 + 3_600 + 1_800 + 3_600);
    for (check, want) in [("ping", 1_800.0), ("http", 7_200.0), ("smtp", 5_400.0)] {
        assert!((by[check].1 - pct(want)).abs() < 1e-9, "{check}: {} vs {}", by[check].1, pct(want));
    }
    // as printed
    use anshin_report::compute::percent_text;
    assert_eq!(percent_text(by["ping"].1), "99.933%"); // 99.93261...
    assert_eq!(percent_text(by["http"].1), "99.730%"); // 99.73046...
    assert_eq!(percent_text(by["smtp"].1), "99.798%"); // 99.79784...
    assert_eq!(percent_text(web.percent), "99.596%"); // 10,800 s: 99.59568...

    // Incidents: 5 on web01 overlapping October (the load one included), none of shop01.
    assert_eq!(r.incidents.len(), 6);
    assert!(r.incidents.iter().all(|i| i.host == "web01"));
    assert_eq!(r.counts_by_level, [(5, 1), (4, 5)]);
    assert!(r.incidents.iter().all(|i| i.recovery == Recovery::Natural));
    // MTTR over the six: (5400 + 3600 + 1800 + 600 + 7200 + 600) / 6 = 3200 s
    assert_eq!(r.mttr_secs, Some(3_200));
    assert_eq!(r.maintenance.len(), 1);
    assert_eq!(r.maintenance[0].secs_in_month, 7_200);
    // Load per CPU (2 CPUs): day 25 (n = 96..99) holds the 25.31 spike at n = 99.
    let load = r.trends.iter().find(|t| t.resource == "load").unwrap();
    assert!(load.title.contains("CPU あたり"));
    let d25 = load.days.iter().find(|d| d.day == 25).unwrap();
    assert!((d25.max - (0.4 + 1.5 + 25.31) / 2.0).abs() < 1e-9, "{d25:?}");
    assert!((d25.min - 0.2).abs() < 1e-9);
    assert_eq!(load.days.len(), 31);
    // No data for recoveries, calls or spot work: those sections are left out.
    assert!(r.recoveries.is_empty() && r.calls.is_empty() && r.spot_work.is_empty());

    // The raw readings pruned (issue 16's retention: a week of them), the hourly rollups give the
    // same daily min/mean/max.
    let tx = store.begin().unwrap();
    let week = anshin_core::retention::Retention::default();
    while tx.prune_samples(&week, jst("2026-11-30T00:00:00"), 100_000).unwrap() > 0 {}
    tx.commit().unwrap();
    assert!(store.samples("web01", "load", jst("2026-10-01T00:00:00")).unwrap().is_empty(), "raw readings gone");
    let again =
        compute(&anshin_report::compute::load(&store, &fleet(), "c1001", oct, jst("2026-11-01T09:00:00")).unwrap());
    for (a, b) in r.trends.iter().zip(&again.trends) {
        assert_eq!((&a.host, &a.resource, a.days.len()), (&b.host, &b.resource, b.days.len()));
        for (x, y) in a.days.iter().zip(&b.days) {
            let close = |p: f64, q: f64| (p - q).abs() < 1e-9;
            assert!(
                x.day == y.day && close(x.min, y.min) && close(x.mean, y.mean) && close(x.max, y.max),
                "{x:?} {y:?}"
            );
        }
    }
    assert_eq!(r.trends.len(), again.trends.len());
}

#[test]
fn the_report_is_drawn_as_html_mail_charts_and_pdf() {
    let font = match anshin_report::JapaneseFont::find() {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("log.db")).unwrap();
    seed(&mut store);
    let fleet = fleet();
    let oct = Month::parse("2026-10").unwrap();
    let (report, r) = anshin_report::build(&store, &fleet, "c1001", oct, jst("2026-11-01T09:00:00"), &font).unwrap();
    assert_eq!(r.subject, "[Speever] 月次稼働レポート 2026年10月（サンプル株式会社 様）");
    assert_eq!(r.charts.len(), 1);
    assert!(r.charts[0].png.starts_with(b"\x89PNG"));
    assert!(r.html.contains(&format!("cid:{}", r.charts[0].cid)));
    assert!(r.html.contains("99.933%") && r.html.contains("OS アップデート"), "maintenance shown");
    assert!(!r.html.contains("復旧対応") && !r.html.contains("電話連絡"), "no empty sections");
    assert!(r.pdf.starts_with(b"%PDF"));
    let out = artifacts();
    let files = anshin_report::write_files(&out, &report, &r).unwrap();
    assert!(files.iter().any(|p| p.ends_with("c1001-2026-10.pdf")));

    // The outbox row it becomes is a multipart/related mail with the chart inline.
    let (mail, html) = anshin_report::mail::report_mail(&fleet, fleet.customer("c1001").unwrap(), &r);
    let rid = store.create_report_draft("c1001", "2026-10", Utc::now()).unwrap().unwrap();
    let outbox = store.send_report(rid, &mail, &html, "ops1", Utc::now()).unwrap();
    let row = store.mail(outbox).unwrap().unwrap();
    let msg = anshin_engine::mail::build_message(&row).unwrap();
    let text = String::from_utf8_lossy(&msg.formatted()).to_string();
    assert!(text.contains("multipart/alternative"), "{}", &text[..2000.min(text.len())]);
    assert!(text.contains("multipart/related"));
    assert!(text.contains(&format!("Content-ID: <{}>", r.charts[0].cid)));
    assert!(text.contains("image/png"));
}

/// November 2026 (30 days = 2,592,000 s) on web01, monitoring only part of it:
/// - the engine first started 11-10 00:00 JST: the 9 days before (777,600 s) were not watched;
/// - it stopped cleanly 11-20 00:00 and started again 06:00: 21,600 s not watched;
/// - it started again 11-25 00:00 with no `engine_stopped` before (an unclean stop): that time
///   counts as watched;
///   watched = 1,814,400 − 21,600 = 1,792,800 s, unwatched = 799,200 s;
/// - maintenance 11-05 01:00 → 02:00 (before monitoring: none of it counts) and 11-20 05:00 →
///   08:00 (05:00 → 06:00 in the gap): 7,200 s of watched maintenance;
/// - http down 11-19 23:00 → 11-20 07:00, open across the gap: 23:00 → 00:00 counts (3,600 s),
///   00:00 → 06:00 was not watched, 06:00 → 07:00 is under maintenance;
/// - ping down 11-28 10:00 → 10:30: 1,800 s against every check.
///
/// Service time = 1,792,800 − 7,200 = 1,785,600 s.
fn seed_partial(store: &mut Store) {
    let http = CheckKey::new("web01", CheckKind::Service(Service::Http));
    let ping = CheckKey::new("web01", CheckKind::Ping);
    let tx = store.begin().unwrap();
    for (kind, at) in [
        ("engine_started", "2026-11-10T00:00:00"),
        ("engine_stopped", "2026-11-20T00:00:00"),
        ("engine_started", "2026-11-20T06:00:00"),
        ("engine_started", "2026-11-25T00:00:00"),
    ] {
        tx.append_event(kind, None, None, "", jst(at)).unwrap();
    }
    let outage = |key: &CheckKey, trigger: &str, a: &str, b: &str| {
        let id = tx.open_incident(key, Level::Severe, trigger, "", jst(a)).unwrap();
        tx.close_incident(id, key, "", jst(b)).unwrap();
    };
    outage(&http, "web01 HTTP サービスダウン", "2026-11-19T23:00:00", "2026-11-20T07:00:00");
    outage(&ping, "web01 ping 疎通不可", "2026-11-28T10:00:00", "2026-11-28T10:30:00");
    tx.commit().unwrap();
    for (a, b, reason) in [
        ("2026-11-05T01:00:00", "2026-11-05T02:00:00", "監視開始前の作業"),
        ("2026-11-20T05:00:00", "2026-11-20T08:00:00", "OS アップデート"),
    ] {
        store
            .add_maintenance(
                &NewMaintenance {
                    scope: MaintenanceScope::Server("web01".into()),
                    starts_at: jst(a),
                    ends_at: jst(b),
                    reason: reason.into(),
                    who: "ops1".into(),
                },
                jst("2026-11-01T12:00:00"),
            )
            .unwrap();
    }
}

#[test]
fn availability_counts_only_the_watched_part_of_the_month() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("log.db")).unwrap();
    seed_partial(&mut store);
    let nov = Month::parse("2026-11").unwrap();
    let r = compute(&load(&store, &fleet(), "c1001", nov, jst("2026-12-01T09:00:00")).unwrap());
    assert!(r.has_data());
    assert_eq!(r.period_secs, 2_592_000);
    assert_eq!(r.watched_secs, 1_792_800);
    assert_eq!(r.unwatched_secs, 799_200);
    assert_eq!(r.watched_from.as_deref(), Some("2026-11-10 00:00"));
    assert_eq!(r.watched_to.as_deref(), Some("2026-12-01 00:00"));
    assert_eq!(r.monitoring_since.as_deref(), Some("2026-11-10"));
    let web = &r.servers[0];
    assert_eq!(web.maintenance_secs, 7_200);
    let by: std::collections::BTreeMap<&str, (i64, f64)> =
        web.checks.iter().map(|c| (c.check.as_str(), (c.downtime_secs, c.percent))).collect();
    assert_eq!(by["ping"].0, 1_800);
    assert_eq!(by["ssh"].0, 1_800);
    assert_eq!(by["smtp"].0, 1_800);
    assert_eq!(by["http"].0, 3_600 + 1_800);
    assert_eq!(web.downtime_secs, 5_400);
    let pct = |down: f64| 100.0 * (1_785_600.0 - down) / 1_785_600.0;
    for (check, want) in [("ping", 1_800.0), ("http", 5_400.0)] {
        assert!((by[check].1 - pct(want)).abs() < 1e-9, "{check}: {} vs {}", by[check].1, pct(want));
    }
    use anshin_report::compute::percent_text;
    assert_eq!(percent_text(by["ping"].1), "99.899%"); // 99.89919...
    assert_eq!(percent_text(by["http"].1), "99.698%"); // 99.69758...
    assert_eq!(percent_text(web.percent), "99.698%");
    // The maintenance list still shows each window's time in the month.
    assert_eq!(r.maintenance.iter().map(|m| m.secs_in_month).collect::<Vec<_>>(), [3_600, 10_800]);
    assert_eq!(r.incidents.len(), 2);

    // The watched period is shown next to the availability.
    let blocks = anshin_report::render::blocks(&r, "Speever", &[]);
    let text = anshin_report::render::text(&blocks, &[]);
    assert!(
        text.contains("監視期間：2026-11-10 00:00 〜 2026-12-01 00:00（監視時間 20日18時間00分、未監視 9日6時間00分）"),
        "{text}"
    );
    assert!(text.contains("99.698%"));
}

#[test]
fn a_month_before_monitoring_began_has_no_data_not_perfect_uptime() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("log.db")).unwrap();
    seed_partial(&mut store);
    let oct = Month::parse("2026-10").unwrap();
    let r = compute(&load(&store, &fleet(), "c1001", oct, jst("2026-11-10T09:00:00")).unwrap());
    assert!(!r.has_data());
    assert_eq!((r.watched_secs, r.unwatched_secs), (0, 2_678_400));
    assert_eq!(r.watched_from, None);
    assert!(r.servers.is_empty(), "no availability claimed");
    assert!(r.incidents.is_empty() && r.mttr_secs.is_none());
    let blocks = anshin_report::render::blocks(&r, "Speever", &[]);
    let text = anshin_report::render::text(&blocks, &[]);
    assert!(text.contains("この月の監視データはありません（監視開始: 2026-11-10）"), "{text}");
    for absent in ["稼働率", "%", "障害", "100.000"] {
        assert!(!text.contains(absent), "{absent:?} in {text}");
    }

    // A store the engine never ran on: nothing watched either.
    let empty = Store::open(&dir.path().join("empty.db")).unwrap();
    let r = compute(&load(&empty, &fleet(), "c1001", oct, jst("2026-11-10T09:00:00")).unwrap());
    assert!(!r.has_data() && r.servers.is_empty());
    let text = anshin_report::render::text(&anshin_report::render::blocks(&r, "Speever", &[]), &[]);
    assert!(text.contains("この月の監視データはありません（監視はまだ開始されていません）"), "{text}");
}

/// contract §9.1, §9.4, §9.5: the report states the contract's term and next renewal, and the
/// month's requested work (configuration work against the month's minutes, resource-ups).
#[test]
fn the_report_shows_the_contract_and_the_ledger() {
    use anshin_engine::store::ledger::{NewConfigWork, NewResourceUp, ResourceUpState};
    let text = FLEET.replacen(
        "plan = \"150\"\nnotify = [\"ops@example.jp\"]",
        "plan = \"150\"\nnotify = [\"ops@example.jp\"]\ncontract = { start = \"2025-04-01\", months = 12 }",
        1,
    );
    let fleet = anshin_core::fleet::parse(&text, "fleet.toml").unwrap().fleet;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("log.db")).unwrap();
    seed(&mut store);
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let tx = store.begin().unwrap();
    let at = jst("2026-11-20T10:00:00");
    let work = |d: &str, minutes, billable| NewConfigWork {
        customer: "c1001".into(),
        day: day(d),
        minutes,
        who: "鈴木".into(),
        what: "php.ini の変更".into(),
        billable,
        recorded_by: "yamada".into(),
    };
    tx.add_config_work(&work("2026-11-05", 40, false), at).unwrap();
    tx.add_config_work(&work("2026-11-19", 30, true), at).unwrap();
    tx.add_config_work(&work("2026-12-01", 10, false), at).unwrap(); // next month: not in November's report
    let up = NewResourceUp {
        host: "web01".into(),
        customer: "c1001".into(),
        from: day("2026-11-25"),
        until: day("2026-12-05"),
        what: "メモリ 4 GB → 8 GB".into(),
        recorded_by: "yamada".into(),
    };
    let r = tx.add_resource_up(&up, at).unwrap();
    tx.set_resource_up_state(r.id, ResourceUpState::Raised, "yamada", at).unwrap();
    tx.commit().unwrap();
    let nov = Month::parse("2026-11").unwrap();
    let report = compute(&load(&store, &fleet, "c1001", nov, jst("2026-12-01T00:00:01")).unwrap());
    let text = anshin_report::render::text(&anshin_report::render::blocks(&report, "Speever", &[]), &[]);
    assert!(text.contains("ご契約期間：2025-04-01 から 12 か月（自動更新）　次回更新日 2027-04-01"), "{text}");
    assert!(text.contains("設定作業：40 分（月 60 分のうち。残り 20 分）、有償作業 30 分"), "{text}");
    assert!(text.contains("2026-11-19 / 30 分") && !text.contains("2026-12-01 / "), "{text}");
    assert!(text.contains("2026-11-25 〜 2026-12-05") && text.contains("増強中"), "{text}");
    // A customer without a contract line or ledger entries gets neither section.
    let other = compute(&load(&store, &fleet, "c1002", nov, jst("2026-12-01T00:00:01")).unwrap());
    let text = anshin_report::render::text(&anshin_report::render::blocks(&other, "Speever", &[]), &[]);
    assert!(!text.contains("ご契約期間") && !text.contains("ご依頼作業"), "{text}");
}

#[test]
fn the_report_lists_the_months_backups_and_their_failures() {
    use anshin_engine::store::backups::{BackupKind, BackupOutcome};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("log.db")).unwrap();
    seed(&mut store);
    let tx = store.begin().unwrap();
    let ok = |bytes| BackupOutcome::Ok { bytes, files: 0, warnings: 0, archive: "a".into(), snapshot: "s".into() };
    let full = tx.start_backup("web01", BackupKind::Full, None, "schedule", jst("2026-11-01T03:10:00")).unwrap();
    tx.finish_backup(full.id, &ok(12_300_000), jst("2026-11-01T03:20:00")).unwrap();
    let diff = tx
        .start_backup("web01", BackupKind::Differential, Some(full.id), "schedule", jst("2026-11-02T03:10:00"))
        .unwrap();
    tx.finish_backup(diff.id, &ok(1_500_000), jst("2026-11-02T03:12:00")).unwrap();
    let cut = tx
        .start_backup("web01", BackupKind::Differential, Some(full.id), "schedule", jst("2026-11-03T03:10:00"))
        .unwrap();
    tx.interrupt_running_backups("the engine stopped while it ran", jst("2026-11-03T03:11:00")).unwrap();
    let _ = cut;
    // October's run is not November's.
    let old = tx.start_backup("web01", BackupKind::Full, None, "schedule", jst("2026-10-25T03:10:00")).unwrap();
    tx.finish_backup(old.id, &BackupOutcome::Failed { detail: "x".into() }, jst("2026-10-25T03:11:00")).unwrap();
    tx.commit().unwrap();
    let nov = Month::parse("2026-11").unwrap();
    let report = compute(&load(&store, &fleet(), "c1001", nov, jst("2026-12-01T00:00:01")).unwrap());
    let text = anshin_report::render::text(&anshin_report::render::blocks(&report, "Speever", &[]), &[]);
    assert!(text.contains("バックアップ"), "{text}");
    assert!(text.contains("取得した世代：フル 1 回、差分 1 回（失敗・中断 1 回）"), "{text}");
    assert!(text.contains("2026-11-01 03:10 / web01 / フル / 完了 / 12.3 MB"), "{text}");
    assert!(text.contains("中断") && !text.contains("2026-10-25"), "{text}");
}

#[test]
fn the_report_lists_the_months_updates_and_what_is_pending() {
    use anshin_core::updates::{PendingUpdate, Severity, Source, UpdateClass};
    use anshin_engine::store::updates::{ScanToRecord, UpdateRunEnd};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("log.db")).unwrap();
    seed(&mut store);
    let tx = store.begin().unwrap();
    let end =
        |detail| UpdateRunEnd { ok: true, exit_status: Some(0), reboot_needed: false, detail, output: "Complete!" };
    let nov =
        tx.start_update_run("web01", "os", "openssl-libs,sudo", "dnf …", "yamada", jst("2026-11-10T10:00:00")).unwrap();
    tx.finish_update_run(nov, &end("2 updates applied"), jst("2026-11-10T10:05:00")).unwrap();
    let oct = tx.start_update_run("web01", "os", "", "dnf …", "yamada", jst("2026-10-10T10:00:00")).unwrap();
    tx.finish_update_run(oct, &end("1 applied"), jst("2026-10-10T10:05:00")).unwrap();
    let failed = tx.start_update_run("web01", "cms", "", "wp …", "yamada", jst("2026-11-12T10:00:00")).unwrap();
    let bad = UpdateRunEnd { ok: false, exit_status: Some(1), reboot_needed: false, detail: "failed", output: "" };
    tx.finish_update_run(failed, &bad, jst("2026-11-12T10:01:00")).unwrap();
    let pending = PendingUpdate {
        source: Source::Os,
        site: String::new(),
        package: "curl".into(),
        installed: "7.76.1-26.el9".into(),
        candidate: "7.76.1-29.el9_4".into(),
        advisory: "ALSA-2024:2000".into(),
        severity: Severity::Moderate,
        class: UpdateClass::Security,
    };
    let scan = ScanToRecord { updates: vec![pending], pending_total: 1, ..Default::default() };
    tx.record_update_scan("web01", &scan, jst("2026-11-30T09:00:00")).unwrap();
    tx.commit().unwrap();
    let nov = Month::parse("2026-11").unwrap();
    let report = compute(&load(&store, &fleet(), "c1001", nov, jst("2026-12-01T00:00:01")).unwrap());
    let text = anshin_report::render::text(&anshin_report::render::blocks(&report, "Speever", &[]), &[]);
    assert!(text.contains("セキュリティアップデート"), "{text}");
    assert!(text.contains("今月適用したアップデート：1 回"), "only November's job that worked: {text}");
    assert!(text.contains("2026-11-10 10:05 / web01 / OS / openssl-libs, sudo"), "{text}");
    assert!(
        text.contains("未適用のアップデート：1 件")
            && text.contains("web01 / curl / 7.76.1-26.el9 / 7.76.1-29.el9_4 / ALSA-2024:2000"),
        "{text}"
    );
}
