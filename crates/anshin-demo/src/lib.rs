//! The simulated fleet behind `anshin demo`: ordinary TCP/UDP listeners on loopback that speak
//! real protocol greetings, with scripted outages, so a new user sees live alerts come and go
//! with nothing installed.
//!
//! Owns: the demo fleet file ([`DEMO_FLEET_TOML`]), the simulated servers, and the outage script
//! ([`outages_at`]).
//! Must not know: the monitoring engine or any other anshin crate. The engine, in turn, must not
//! know it is watching a demo: it reads `assets/demo-fleet.toml` like any fleet file and probes
//! these listeners like real servers.
//!
//! Only 127.0.0.0/8 is ever bound; a fleet with any other address is refused.
//!
//! Modules: `fleet` (fleet text → endpoints), `schedule` (pure outage script), `protocol`
//! (the bytes of each TCP service), `dns` (the UDP DNS answer), `simulation` (sockets and
//! tasks), `scale` (thousands of generated servers, a share of them flapping: for benchmarks).

mod dns;
mod fleet;
mod protocol;
mod scale;
mod schedule;
mod simulation;

#[cfg(test)]
mod live_tests;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;

pub use scale::{run_scale, ScaleSpec};
pub use schedule::{outages_at, Fault, Outage, CYCLE_SECS};

/// The demo fleet: 6 customers (one per plan) and 18 servers on 127.77.0.2–19, high ports only.
pub const DEMO_FLEET_TOML: &str = include_str!("../../../assets/demo-fleet.toml");

/// Why the simulated fleet could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The fleet text is not valid TOML, lacks a field, or asks for something the demo cannot
    /// simulate (a TLS service, a non-loopback address, two endpoints on one port).
    #[error("demo fleet: {0}")]
    Fleet(String),
    /// A port could not be opened, typically because something else already listens there
    /// (another `anshin demo`?).
    #[error("demo cannot listen on {addr} ({proto}): {source}")]
    Bind {
        /// The address and port that could not be bound.
        addr: SocketAddr,
        /// `"tcp"` or `"udp"`.
        proto: &'static str,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

/// Runs the simulated servers of `fleet_toml` (the shape of `assets/demo-fleet.toml`; pass
/// [`DEMO_FLEET_TOML`] for the demo) with the scripted outages of [`outages_at`], counted from
/// the moment every listener is bound.
///
/// Binds every listener first and fails with [`DemoError::Bind`] naming the address if any
/// cannot be opened (nothing is left listening then). Returns `Ok(())` once `shutdown` turns
/// `true` (or its sender is dropped) and every listener is closed.
pub async fn run(fleet_toml: &str, mut shutdown: watch::Receiver<bool>) -> Result<(), DemoError> {
    let simulation = simulation::Simulation::start(fleet_toml, shutdown.clone()).await?;
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|&stop| stop) => break,
            _ = tick.tick() => simulation.apply(&outages_at(started.elapsed().as_secs())),
        }
    }
    simulation.wait().await;
    tracing::info!("demo fleet stopped");
    Ok(())
}

#[cfg(test)]
mod fleet_file_tests {
    //! The shipped demo fleet is consistent, and the script only names what it contains.
    use std::collections::{HashMap, HashSet};

    use toml::{Table, Value};

    use super::schedule::SCRIPT;
    use super::*;

    fn demo() -> Table {
        toml::from_str(DEMO_FLEET_TOML).unwrap()
    }

    fn list<'a>(t: &'a Table, key: &str) -> &'a [Value] {
        t.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }

    fn s<'a>(t: &'a Value, key: &str) -> &'a str {
        t.get(key).and_then(Value::as_str).unwrap_or_else(|| panic!("missing {key} in {t:?}"))
    }

    #[test]
    fn noc_section_is_the_contract() {
        let root = demo();
        let noc = root["noc"].as_table().unwrap();
        assert_eq!(noc["brand"].as_str(), Some("Speever"));
        assert_eq!(noc["mail_from"].as_str(), Some("mail_alert@hosting-srv.net"));
        assert_eq!(noc["interval_secs"].as_integer(), Some(10));
        assert_eq!(noc["attempts"].as_integer(), Some(3));
        assert_eq!(noc["timeout_secs"].as_integer(), Some(3));
    }

    #[test]
    fn customers_cover_every_plan_with_sane_contacts() {
        let root = demo();
        let customers = list(&root, "customer");
        assert!((5..=6).contains(&customers.len()));
        let plans: HashSet<&str> = customers.iter().map(|c| s(c, "plan")).collect();
        assert_eq!(plans, HashSet::from(["zero", "30", "60", "150", "200"]));
        let ids: HashSet<&str> = customers.iter().map(|c| s(c, "id")).collect();
        assert_eq!(ids.len(), customers.len(), "customer ids unique");
        for c in customers {
            let notify = c["notify"].as_array().unwrap();
            assert!((1..=3).contains(&notify.len()), "{c:?}");
            for a in notify {
                let a = a.as_str().unwrap();
                assert!(a.ends_with("@example.jp") || a.ends_with("@example.com"), "{a}");
            }
            assert!(c["phones"].as_array().unwrap().len() <= 3, "{c:?}");
        }
    }

    #[test]
    fn servers_are_consistent() {
        let root = demo();
        let plan: HashMap<&str, &str> = list(&root, "customer").iter().map(|c| (s(c, "id"), s(c, "plan"))).collect();
        let servers = list(&root, "server");
        assert!((16..=20).contains(&servers.len()));
        let mut labels = HashSet::new();
        let mut ips = HashSet::new();
        for srv in servers {
            let label = s(srv, "label");
            assert!(labels.insert(label), "label {label} unique");
            let customer = s(srv, "customer");
            assert!(plan.contains_key(customer), "{label}: customer {customer} exists");
            let ip = s(srv, "ip");
            assert!(ip.starts_with("127.77."), "{label}: {ip}");
            assert!(ips.insert(ip), "{label}: own address {ip}");
            assert!(s(srv, "fqdn").ends_with(".example.jp"));
            assert!(["CentOS 7", "AlmaLinux 9", "Rocky 8", "Debian 12", "Ubuntu 22.04"].contains(&s(srv, "os")));
            let services: Vec<&str> = srv["services"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            if plan[customer] == "zero" {
                assert!(services.is_empty(), "{label}: plan zero has no service monitoring");
            }
            let ports = srv["ports"].as_table().unwrap();
            for service in services.iter().copied().chain(["ssh"]) {
                assert!(!["https", "pops", "imaps", "smtps", "plesk"].contains(&service), "{label}: plain text only");
                let port = ports.get(service).and_then(Value::as_integer);
                assert!(port.is_some_and(|p| p >= 1024), "{label}: {service} on a high port");
            }
        }
        // and the simulator accepts it
        assert_eq!(fleet::parse(DEMO_FLEET_TOML).unwrap().zone.len(), servers.len());
    }

    #[test]
    fn script_names_real_endpoints_and_overlaps_only_across_customers() {
        let fleet = fleet::parse(DEMO_FLEET_TOML).unwrap();
        let endpoints: HashSet<(&str, &str)> =
            fleet.endpoints.iter().map(|e| (e.host.as_str(), e.service.as_str())).collect();
        for line in SCRIPT {
            assert!(endpoints.contains(&(line.outage.host, line.outage.service)), "{line:?}");
        }
        let root = demo();
        let customer_of: HashMap<&str, &str> =
            list(&root, "server").iter().map(|v| (s(v, "label"), s(v, "customer"))).collect();
        for t in 0..CYCLE_SECS {
            let now = outages_at(t);
            let customers: HashSet<&str> = now.iter().map(|o| customer_of[o.host]).collect();
            assert_eq!(customers.len(), now.len(), "t={t}: simultaneous outages on one customer: {now:?}");
            assert!(now.len() < endpoints.len());
        }
    }
}
