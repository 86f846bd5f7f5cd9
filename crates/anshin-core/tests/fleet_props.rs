//! Property tests of the fleet file parser and of the rule that ties it to the mails: any text
//! is read without a panic, with one-line diagnostics that quote nothing a terminal would act on;
//! a fleet generated from valid parts parses to exactly those parts; and whatever fleet
//! validates — valid parts mixed with hostile ones (line breaks, U+2028, escapes, empty
//! strings) — can always be mailed: every mail kind renders for every check of every server.
//! Bounded: a few hundred cases each, seconds in all.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use anshin_core::fleet::{parse, Fleet, Server};
use anshin_core::mail::{
    check_address, render, Alert, CallAttempt, CallOutcome, MailContext, MailHost, MailKind, Metric, Problem,
    RecoveryAction,
};
use anshin_core::text::is_hidden;
use anshin_core::{CheckKind, Level, Plan, Service};
use chrono::{DateTime, Utc};
use proptest::prelude::*;

// ---- writing a fleet file ------------------------------------------------------------------------

/// A TOML basic string holding exactly `s` (controls as `\uXXXX`).
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| toml_str(s)).collect::<Vec<_>>().join(", "))
}

#[derive(Debug, Clone)]
struct CustomSpec {
    name: String,
    port: u16,
    expect: Option<String>,
}

#[derive(Debug, Clone)]
struct CustomerSpec {
    id: String,
    name: String,
    plan: Plan,
    notify: Vec<String>,
    phones: Vec<String>,
}

#[derive(Debug, Clone)]
struct ServerSpec {
    label: String,
    customer: usize,
    fqdn: String,
    ip: Ipv4Addr,
    os: Option<String>,
    gateway: Option<usize>,
    services: Vec<Service>,
    custom: Vec<CustomSpec>,
}

#[derive(Debug, Clone)]
struct FleetSpec {
    brand: Option<String>,
    mail_from: Option<String>,
    customers: Vec<CustomerSpec>,
    gateways: Vec<(String, Ipv4Addr)>,
    servers: Vec<ServerSpec>,
}

impl FleetSpec {
    fn toml(&self) -> String {
        let mut t = String::from("[noc]\n");
        if let Some(b) = &self.brand {
            t += &format!("brand = {}\n", toml_str(b));
        }
        if let Some(m) = &self.mail_from {
            t += &format!("mail_from = {}\n", toml_str(m));
        }
        for c in &self.customers {
            t += &format!(
                "\n[[customer]]\nid = {}\nname = {}\nplan = {}\nnotify = {}\n",
                toml_str(&c.id),
                toml_str(&c.name),
                toml_str(c.plan.as_str()),
                toml_list(&c.notify)
            );
            if !c.phones.is_empty() {
                t += &format!("phones = {}\n", toml_list(&c.phones));
            }
        }
        for (label, ip) in &self.gateways {
            t += &format!("\n[[gateway]]\nlabel = {}\nip = \"{ip}\"\n", toml_str(label));
        }
        for s in &self.servers {
            t += &format!(
                "\n[[server]]\nlabel = {}\ncustomer = {}\nfqdn = {}\nip = \"{}\"\n",
                toml_str(&s.label),
                toml_str(&self.customers[s.customer].id),
                toml_str(&s.fqdn),
                s.ip
            );
            if let Some(os) = &s.os {
                t += &format!("os = {}\n", toml_str(os));
            }
            if let Some(g) = s.gateway {
                t += &format!("gateway = {}\n", toml_str(&self.gateways[g].0));
            }
            let services: Vec<String> = s.services.iter().map(|x| x.as_str().to_string()).collect();
            t += &format!("services = {}\n", toml_list(&services));
            let custom: Vec<String> = s
                .custom
                .iter()
                .map(|c| {
                    let expect = c.expect.as_ref().map(|e| format!(", expect = {}", toml_str(e))).unwrap_or_default();
                    format!("{{ name = {}, port = {}{expect} }}", toml_str(&c.name), c.port)
                })
                .collect();
            t += &format!("custom = [{}]\n", custom.join(", "));
        }
        t
    }
}

// ---- strategies ----------------------------------------------------------------------------------

/// Characters an attacker or a careless admin puts into a field.
fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        1 => prop::sample::select(vec![
            '\r', '\n', '\t', '\u{0}', '\u{1b}', '\u{7}', '\u{7f}', '\u{85}', '\u{9b}', '\u{2028}', '\u{2029}',
            '\u{202e}', '"', '\\', '@', '.', '-', ' ', '<', '>', ',', '[', ']', '様',
        ]),
    ]
}

/// Any short string, hostile characters weighted in, empty and blank included.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        1 => Just("  ".to_string()),
        6 => prop::collection::vec(nasty_char(), 1..16).prop_map(|v| v.into_iter().collect()),
    ]
}

/// A valid value most of the time, a hostile one sometimes.
fn mostly(valid: impl Strategy<Value = String> + 'static) -> BoxedStrategy<String> {
    prop_oneof![6 => valid, 1 => nasty()].boxed()
}

fn plain_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9._-]{0,20}"
}

fn brand() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z][A-Za-z0-9 ]{0,12}", "\\[[A-Za-z]{1,8}\\]", "[ぁ-んァ-ン一-龯]{1,6}"]
}

fn address() -> impl Strategy<Value = String> {
    "[a-z0-9!#$%&'*+/=?^_`{|}~-]{1,8}(\\.[a-z0-9_+-]{1,6}){0,2}@[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?(\\.[a-z]{2,6}){1,2}"
}

fn customer_name() -> impl Strategy<Value = String> {
    "[ぁ-んァ-ン一-龯A-Za-z0-9（）・ &.-]{1,14}".prop_filter("not blank", |s| !s.trim().is_empty())
}

fn phone() -> impl Strategy<Value = String> {
    "(\\+81 )?0[0-9]{1,3}-[0-9]{2,4}-[0-9]{4}"
}

fn fqdn() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-z0-9]{1,10}){1,3}"
}

fn os() -> impl Strategy<Value = String> {
    "(CentOS|AlmaLinux|Rocky Linux|Debian|Ubuntu|Windows Server) [0-9]{1,2}(\\.[0-9])?"
}

fn loopback() -> impl Strategy<Value = Ipv4Addr> {
    (any::<u8>(), any::<u8>(), 1u8..255).prop_map(|(b, c, d)| Ipv4Addr::new(127, b, c, d))
}

fn customer(valid_only: bool) -> impl Strategy<Value = CustomerSpec> {
    let pick = move |s: BoxedStrategy<String>| if valid_only { s } else { mostly(s) };
    (
        pick(plain_name().boxed()),
        pick(customer_name().boxed()),
        prop::sample::select(Plan::ALL.to_vec()),
        prop::collection::vec(pick(address().boxed()), 1..=3),
        prop::collection::vec(pick(phone().boxed()), 0..=3),
    )
        .prop_map(|(id, name, plan, notify, phones)| CustomerSpec { id, name, plan, notify, phones })
}

fn server(valid_only: bool, customers: usize, gateways: usize) -> impl Strategy<Value = ServerSpec> {
    let pick = move |s: BoxedStrategy<String>| if valid_only { s } else { mostly(s) };
    let custom = (pick(plain_name().boxed()), 1u16..=u16::MAX, prop::option::of("[A-Za-z0-9 +*-]{1,10}"))
        .prop_map(|(name, port, expect)| CustomSpec { name, port, expect });
    (
        pick(plain_name().boxed()),
        0..customers,
        pick(fqdn().boxed()),
        loopback(),
        prop::option::of(pick(os().boxed())),
        prop::option::of(0..gateways.max(1)).prop_map(move |g| g.filter(|_| gateways > 0)),
        prop::sample::subsequence(Service::ALL.to_vec(), 0..=Service::ALL.len()),
        prop::collection::vec(custom, 0..3),
    )
        .prop_map(|(label, customer, fqdn, ip, os, gateway, services, custom)| ServerSpec {
            label,
            customer,
            fqdn,
            ip,
            os,
            gateway,
            services,
            custom,
        })
}

/// A fleet; labels, ids and custom names get an index suffix so that they are distinct.
fn fleet(valid_only: bool) -> impl Strategy<Value = FleetSpec> {
    let pick = move |s: BoxedStrategy<String>| if valid_only { s } else { mostly(s) };
    (
        prop::option::of(pick(brand().boxed())),
        prop::option::of(pick(address().boxed())),
        prop::collection::vec(customer(valid_only), 1..4),
        prop::collection::vec((pick(plain_name().boxed()), loopback()), 0..3),
    )
        .prop_flat_map(move |(brand, mail_from, customers, gateways)| {
            let servers = prop::collection::vec(server(valid_only, customers.len(), gateways.len()), 1..5);
            (Just((brand, mail_from, customers, gateways)), servers)
        })
        .prop_map(|((brand, mail_from, mut customers, mut gateways), mut servers)| {
            // A suffix keeps a plain name plain (the first character stays) and makes it unique.
            for (i, c) in customers.iter_mut().enumerate() {
                c.id = format!("{}.c{i}", c.id);
            }
            for (i, g) in gateways.iter_mut().enumerate() {
                g.0 = format!("{}.g{i}", g.0);
            }
            for (i, s) in servers.iter_mut().enumerate() {
                s.label = format!("{}.s{i}", s.label);
                for (j, c) in s.custom.iter_mut().enumerate() {
                    c.name = format!("{}.{j}", c.name);
                }
            }
            FleetSpec { brand, mail_from, customers, gateways, servers }
        })
}

// ---- mails ---------------------------------------------------------------------------------------

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The problems that carry different texts into a mail: ping and SSH (the host's texts only),
/// each custom check (its name from the file), its first service, and one resource whose trigger
/// and value came from the server (hostile text allowed: the renderer shows it escaped). The
/// other services and metrics differ only by the program's own constant names, which `mail`'s
/// unit tests render one by one; leaving them out here keeps the cases fast.
fn problems(server: &Server, server_text: &str) -> Vec<Problem> {
    let mut kinds = vec![CheckKind::Ping, CheckKind::Ssh];
    kinds.extend(server.services.iter().take(1).map(|s| CheckKind::Service(*s)));
    kinds.extend(server.custom.iter().map(|c| CheckKind::Custom(c.name.clone())));
    let mut out: Vec<Problem> =
        kinds.into_iter().map(|kind| Problem::Down { port: server.check_port(&kind), kind }).collect();
    out.push(Problem::Resource {
        metric: Metric::Disk,
        level: Level::Severe,
        fragment: format!("/ の使用率が 95%以上（現在：{server_text}）"),
        item: "Disk usage of /".into(),
        value: server_text.into(),
    });
    out
}

/// Renders every mail kind about every problem of every server; panics on the first refusal.
fn mail_everything(fleet: &Fleet, server_text: &str) {
    check_address("mail_from", &fleet.noc.mail_from).unwrap();
    for server in &fleet.servers {
        let customer = fleet.customer(&server.customer).expect("validated: the customer exists");
        for to in &customer.notify {
            check_address("notify", to).unwrap_or_else(|e| panic!("{to:?}: {e}"));
        }
        let host = MailHost::from(server);
        let calls: Vec<CallAttempt> = customer
            .phones
            .iter()
            .map(|n| CallAttempt { number: n.clone(), at: t(NOW), rings: Some(10), outcome: CallOutcome::NoAnswer })
            .collect();
        for problem in problems(server, server_text) {
            let alert = Alert { problem: problem.clone(), detected_at: t(DETECTED) };
            let kinds = [
                MailKind::Alert,
                MailKind::Recovery { recovered_at: t(NOW), value: None },
                MailKind::Recovery { recovered_at: t(NOW), value: Some(server_text.into()) },
                MailKind::ResponseStarted { action: RecoveryAction::for_problem(&problem) },
                MailKind::StatusReport { calls: calls.clone(), status: None },
            ];
            for kind in &kinds {
                let ctx = MailContext {
                    noc: &fleet.noc,
                    host: &host,
                    customer: &customer.name,
                    alert: &alert,
                    now: t(NOW),
                    promise_auto_reboot: true,
                };
                let m = render(kind, &ctx)
                    .unwrap_or_else(|e| panic!("a validated fleet could not be mailed: {e}\n{kind:?}\n{problem:?}"));
                assert_eq!(m.validate(), Ok(()));
                assert!(!m.subject.chars().any(is_hidden), "{:?}", m.subject);
                assert!(m.body.lines().all(|l| !l.chars().any(is_hidden)), "{:?}", m.body);
            }
        }
    }
}

const DETECTED: &str = "2026-11-25T01:02:03Z";
const NOW: &str = "2026-11-25T01:20:00Z";

// ---- the properties ------------------------------------------------------------------------------

/// Every diagnostic is located and is one line with nothing hidden in it.
fn diagnostics_are_safe(text: &str) {
    if let Err(diags) = parse(text, "fleet.toml") {
        assert!(!diags.is_empty());
        let lines = text.split('\n').count();
        for d in diags {
            assert!(d.line >= 1 && d.line <= lines.max(1) && d.col >= 1, "{d:?}");
            let shown = d.to_string();
            assert!(!shown.chars().any(is_hidden), "{shown:?}");
        }
    }
}

/// A valid file with one edit at a random place: reaches every part of the validator.
fn mutated() -> impl Strategy<Value = String> {
    (fleet(true), any::<prop::sample::Index>(), 0usize..8, nasty()).prop_map(|(f, at, cut, insert)| {
        let text = f.toml();
        let chars: Vec<char> = text.chars().collect();
        let i = at.index(chars.len() + 1);
        let j = (i + cut).min(chars.len());
        chars[..i].iter().chain(insert.chars().collect::<Vec<_>>().iter()).chain(chars[j..].iter()).collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_text_is_read_without_panic_and_diagnosed_safely(text in prop::collection::vec(nasty_char(), 0..400)) {
        let text: String = text.into_iter().collect();
        diagnostics_are_safe(&text);
    }

    #[test]
    fn an_edited_fleet_is_read_without_panic_and_diagnosed_safely(text in mutated()) {
        diagnostics_are_safe(&text);
        if let Ok(parsed) = parse(&text, "fleet.toml") {
            mail_everything(&parsed.fleet, "1");
        }
    }

}

proptest! {
    // Each case renders a hundred or so mails: fewer cases, still seconds.
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn a_fleet_of_valid_parts_parses_to_exactly_those_parts(spec in fleet(true), text in nasty()) {
        let parsed = parse(&spec.toml(), "fleet.toml");
        let f = match parsed {
            Ok(p) => p.fleet,
            Err(e) => panic!("valid parts refused: {e:?}\n{}", spec.toml()),
        };
        prop_assert_eq!(&f.noc.brand, spec.brand.as_deref().unwrap_or("Speever"));
        prop_assert_eq!(&f.noc.mail_from, spec.mail_from.as_deref().unwrap_or("mail_alert@hosting-srv.net"));
        prop_assert_eq!(f.customers.len(), spec.customers.len());
        for (c, s) in f.customers.iter().zip(&spec.customers) {
            prop_assert_eq!((&c.id, &c.name, c.plan), (&s.id, &s.name, s.plan));
            prop_assert_eq!((&c.notify, &c.phones), (&s.notify, &s.phones));
        }
        let gateways: Vec<(String, IpAddr)> = f.gateways.iter().map(|g| (g.label.clone(), g.ip)).collect();
        let want: Vec<(String, IpAddr)> = spec.gateways.iter().map(|(l, ip)| (l.clone(), IpAddr::V4(*ip))).collect();
        prop_assert_eq!(gateways, want);
        prop_assert_eq!(f.servers.len(), spec.servers.len());
        for (s, w) in f.servers.iter().zip(&spec.servers) {
            prop_assert_eq!(&s.label, &w.label);
            prop_assert_eq!(&s.customer, &spec.customers[w.customer].id);
            prop_assert_eq!((&s.fqdn, s.ip), (&w.fqdn, IpAddr::V4(w.ip)));
            prop_assert_eq!(&s.os, w.os.as_deref().unwrap_or(""));
            prop_assert_eq!(s.gateway.as_deref(), w.gateway.map(|g| spec.gateways[g].0.as_str()));
            prop_assert_eq!(&s.services, &w.services);
            let custom: Vec<(String, u16, Option<String>)> =
                s.custom.iter().map(|c| (c.name.clone(), c.port, c.expect.clone())).collect();
            let want: Vec<(String, u16, Option<String>)> =
                w.custom.iter().map(|c| (c.name.clone(), c.port, c.expect.clone())).collect();
            prop_assert_eq!(custom, want);
        }
        // Built from valid parts, it is mailed, whatever its servers say.
        mail_everything(&f, &text);
    }

    #[test]
    fn whatever_validates_can_always_be_mailed(spec in fleet(false), text in nasty()) {
        if let Ok(parsed) = parse(&spec.toml(), "fleet.toml") {
            mail_everything(&parsed.fleet, &text);
        }
    }
}

/// The hostile strategy is not vacuous: most hostile fleets are refused, and some pass.
#[test]
fn the_mixed_strategy_reaches_both_sides() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = fleet(false);
    let (mut ok, mut refused, mut refused_fields) = (0, 0, BTreeSet::new());
    for _ in 0..300 {
        let spec = strategy.new_tree(&mut runner).unwrap().current();
        match parse(&spec.toml(), "f") {
            Ok(_) => ok += 1,
            Err(d) => {
                refused += 1;
                refused_fields.extend(d.iter().map(|d| d.message.split(' ').next().unwrap_or("").to_string()));
            }
        }
    }
    assert!(ok >= 10 && refused >= 100, "ok {ok}, refused {refused}");
    assert!(refused_fields.len() >= 5, "{refused_fields:?}");
}
