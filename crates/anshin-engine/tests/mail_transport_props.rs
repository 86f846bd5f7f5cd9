//! Property test across the line between validation and the wire: any text that
//! `anshin_core::mail::check_fleet_text` accepts (what `anshin validate` accepts) makes a mail
//! that the real outbox queues and the real transport builds (lettre: From, To, Subject,
//! Message-ID). Generated from valid parts mixed with hostile ones; a refused part is replaced
//! by a valid one, as an operator would after `validate` said so. Nothing is sent: building the
//! message is where the transport would refuse.

use std::sync::{Mutex, OnceLock};

use anshin_core::fleet::Noc;
use anshin_core::mail::{
    check_fleet_text, render, Alert, CallAttempt, CallOutcome, FleetText, MailContext, MailHost, MailKind, Metric,
    Problem, RecoveryAction,
};
use anshin_core::{CheckKind, Level};
use anshin_engine::mail::build_message;
use anshin_engine::store::outbox::{NewMail, OutboxKind};
use anshin_engine::Store;
use chrono::{DateTime, Utc};
use proptest::prelude::*;

fn store() -> &'static Mutex<(tempfile::TempDir, Store)> {
    static STORE: OnceLock<Mutex<(tempfile::TempDir, Store)>> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("outbox.db")).unwrap();
        Mutex::new((dir, store))
    })
}

fn hostile() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        4 => any::<char>(),
        2 => prop::sample::select(vec![
            '\r', '\n', '\t', '\u{1b}', '\u{85}', '\u{2028}', '"', '\\', '<', '>', ',', ';', '@', '.', ' ', '(', ':',
        ]),
    ];
    prop::collection::vec(c, 0..20).prop_map(|v| v.into_iter().collect())
}

fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,10}(\\.[a-z0-9_+-]{1,6}){0,2}@[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?(\\.[a-z]{2,6}){1,2}",
        // Printable ASCII around an @: what a careless admin types ("a[1]@x", ".a@x", "a@-x.jp").
        2 => "[!-~]{1,10}@[!-~]{1,12}",
        1 => (hostile(), hostile()).prop_map(|(a, b)| format!("{a}@{b}")),
        1 => hostile(),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "\\PC{1,20}", 1 => hostile()]
}

/// `value` when the rule accepts it, else the valid stand-in.
fn or_valid(what: FleetText, value: String, stand_in: &str) -> String {
    if check_fleet_text(what, &value).is_ok() {
        value
    } else {
        stand_in.to_string()
    }
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// One generated case: every mail kind about a custom check and a resource, queued in the real
/// outbox (one transaction) and built by the real transport.
fn queue_and_build(
    (from, to1, to2): (String, String, String),
    (brand, label, os, customer, custom, phone): (String, String, String, String, String, String),
    server_text: String,
) -> Result<(), TestCaseError> {
    let from = or_valid(FleetText::MailFrom, from, "mail_alert@hosting-srv.net");
    let to =
        vec![or_valid(FleetText::Notify, to1, "ops@example.jp"), or_valid(FleetText::Notify, to2, "b@example.com")];
    let noc = Noc {
        brand: or_valid(FleetText::Brand, brand, "Speever"),
        mail_from: from.clone(),
        interval_secs: 60,
        attempts: 3,
        timeout_secs: 10,
        reboot_after_secs: 900,
    };
    let host = MailHost {
        label: or_valid(FleetText::HostLabel, label, "web01"),
        ip: "127.0.0.1".into(),
        fqdn: "web01.example.jp".into(),
        os: or_valid(FleetText::Os, os, ""),
    };
    let customer = or_valid(FleetText::CustomerName, customer, "");
    let custom = or_valid(FleetText::CustomCheck, custom, "app");
    let number = or_valid(FleetText::Phone, phone, "03-0000-0001");
    let problems = [
        Problem::Down { kind: CheckKind::Custom(custom), port: 3000 },
        Problem::Resource {
            metric: Metric::MailQueue,
            level: Level::Minor,
            fragment: format!("メールキューが 1000 件超（現在：{server_text}）"),
            item: "Mail queue".into(),
            value: server_text.clone(),
        },
    ];
    let calls = vec![CallAttempt { number, at: t(CALLED), rings: Some(10), outcome: CallOutcome::NoAnswer }];
    let mut mails = Vec::new();
    for problem in problems {
        let alert = Alert { problem: problem.clone(), detected_at: t(DETECTED) };
        let kinds = [
            MailKind::Alert,
            MailKind::Recovery { recovered_at: t(RECOVERED), value: Some(server_text.clone()) },
            MailKind::ResponseStarted { action: RecoveryAction::for_problem(&problem) },
            MailKind::StatusReport { calls: calls.clone(), status: None },
        ];
        for kind in kinds {
            let ctx = MailContext {
                noc: &noc,
                host: &host,
                customer: &customer,
                alert: &alert,
                now: t(NOW),
                promise_auto_reboot: true,
            };
            let m = render(&kind, &ctx).map_err(|e| TestCaseError::fail(format!("render: {e}")))?;
            mails.push(NewMail {
                kind: OutboxKind::Alert,
                incident_id: None,
                from: from.clone(),
                to: to.clone(),
                subject: m.subject,
                body: m.body,
            });
        }
    }
    let mut guard = store().lock().unwrap();
    let store = &mut guard.1;
    let tx = store.begin().unwrap();
    let ids: Vec<i64> = mails.iter().map(|m| tx.enqueue_mail(m, t(NOW)).unwrap()).collect();
    tx.commit().unwrap();
    for id in ids {
        let row = store.mail(id).unwrap().expect("the queued row");
        let built = build_message(&row);
        prop_assert!(built.is_ok(), "the transport refused a validated mail: {:?}\n{row:?}", built.err());
    }
    Ok(())
}

const DETECTED: &str = "2026-11-25T01:02:03Z";
const CALLED: &str = "2026-11-25T01:10:00Z";
const NOW: &str = "2026-11-25T01:20:00Z";
const RECOVERED: &str = "2026-11-25T01:30:00Z";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn what_validates_is_queued_and_built_by_the_transport(
        addresses in (address(), address(), address()),
        texts in (text(), text(), text(), text(), text(), text()),
        server_text in hostile(),
    ) {
        queue_and_build(addresses, texts, server_text)?;
    }
}
