//! The fleet-scale simulator: thousands of servers on loopback, each with an SSH banner and the
//! services asked for, a fixed share of them flapping one service on a known timetable, so a
//! benchmark can tell a real outage from a false verdict.
//!
//! Owns: the generated fleet text ([`ScaleSpec::fleet_toml`]), which servers flap and when
//! ([`ScaleSpec::is_down`]), and running it ([`run_scale`]).
//! Must not know: the engine, the benchmark's measurements. Like the demo, only 127.0.0.0/8 is
//! bound: servers get 127.A.B.C addresses counted from `first`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::sync::watch;

use crate::schedule::Fault;
use crate::simulation::Simulation;
use crate::DemoError;

/// Connections served at once by the fleet-scale simulator (the demo's cap is 256).
const SCALE_MAX_CONNECTIONS: usize = 16_384;
/// Servers per customer in the generated fleet.
const SERVERS_PER_CUSTOMER: usize = 10;
/// Plans handed out to customers in turn: every plan with service monitoring.
const PLANS: [&str; 4] = ["30", "60", "150", "200"];
/// The high port each simulated service listens on (nothing needs root).
const PORTS: [(&str, u16); 7] =
    [("ssh", 2222), ("http", 18080), ("smtp", 2525), ("pop", 10110), ("imap", 10143), ("ftp", 2121), ("mysql", 13306)];

/// What to simulate.
#[derive(Debug, Clone)]
pub struct ScaleSpec {
    /// How many servers.
    pub servers: usize,
    /// The first server's address; the others follow (skipping .0 and .255 in the last byte).
    pub first: Ipv4Addr,
    /// Services besides SSH on every server (keys of the fleet file: `http`, `smtp`, `pop`, …).
    pub services: Vec<String>,
    /// One server in `flap_every` flaps (20: 5 %); 0 = none.
    pub flap_every: usize,
    /// The service that flaps (one of `services`).
    pub flap_service: String,
    /// A flapping service is down this long, then up `flap_up_secs`, over and over.
    pub flap_down_secs: u64,
    pub flap_up_secs: u64,
    /// Instead of flapping: the chosen servers' service goes down this long after the start and
    /// stays down (a benchmark's failing share, e.g. 1 in 100).
    pub fail_after_secs: Option<u64>,
    /// Serve only the servers `i` with `i % slice.1 == slice.0` (several simulator processes share
    /// a large fleet: each process has its own open-file limit). `(0, 1)`: all.
    pub slice: (usize, usize),
    /// The engine's check interval written into the fleet file.
    pub interval_secs: u64,
    /// `[smtp] url` written into the fleet file, if any.
    pub smtp_url: Option<String>,
}

impl ScaleSpec {
    /// The label of server `i`.
    pub fn label(i: usize) -> String {
        format!("s{i:05}")
    }

    /// The address of server `i`, or an error when it would leave 127.0.0.0/8.
    pub fn addr(&self, i: usize) -> Result<Ipv4Addr, DemoError> {
        let [a, b, c, d] = self.first.octets();
        // 250 usable last bytes (1..=250) per /24.
        let base = (u32::from(b) * 256 + u32::from(c)) * 250 + u32::from(d.saturating_sub(1));
        let n = base + u32::try_from(i).map_err(|_| DemoError::Fleet("too many servers".into()))?;
        let (b, c, d) = (n / 250 / 256, (n / 250) % 256, n % 250 + 1);
        if a != 127 || b > 255 {
            return Err(DemoError::Fleet(format!("server {i} would leave 127.0.0.0/8")));
        }
        Ok(Ipv4Addr::new(127, b as u8, c as u8, d as u8))
    }

    /// Whether server `i` is one of the flapping ones.
    pub fn flaps(&self, i: usize) -> bool {
        self.flap_every > 0 && i % self.flap_every == self.flap_every / 2
    }

    /// Whether server `i`'s flapping service is down `secs` seconds after the start. Servers
    /// start their cycle at different offsets so outages are spread over time.
    pub fn is_down(&self, i: usize, secs: u64) -> bool {
        if let Some(after) = self.fail_after_secs {
            return self.flaps(i) && secs >= after;
        }
        let period = self.flap_down_secs + self.flap_up_secs;
        if !self.flaps(i) || period == 0 {
            return false;
        }
        let offset = (i as u64).wrapping_mul(7919) % period;
        // Every flapping server starts up: its first outage begins after its offset.
        secs >= offset && (secs - offset) % period < self.flap_down_secs
    }

    /// Whether server `i` is served by this process (see `slice`).
    pub fn serves(&self, i: usize) -> bool {
        let (k, n) = self.slice;
        n <= 1 || i % n == k
    }

    /// The fleet file for these servers: customers of ten servers each over every monitored plan.
    pub fn fleet_toml(&self) -> Result<String, DemoError> {
        self.fleet_text(|_| true)
    }

    fn fleet_text(&self, include: impl Fn(usize) -> bool) -> Result<String, DemoError> {
        let port = |svc: &str| PORTS.iter().find(|(k, _)| *k == svc).map(|(_, p)| *p);
        for svc in &self.services {
            if port(svc).is_none() {
                return Err(DemoError::Fleet(format!("the scale simulator cannot serve {svc:?}")));
            }
        }
        let mut out = String::new();
        let _ = writeln!(out, "# Generated by the fleet-scale simulator: {} servers on loopback.", self.servers);
        let _ = writeln!(
            out,
            "[noc]\nbrand = \"Speever\"\nmail_from = \"mail_alert@hosting-srv.net\"\ninterval_secs = {}\nattempts = 3\ntimeout_secs = 3\n",
            self.interval_secs
        );
        if let Some(url) = &self.smtp_url {
            let _ = writeln!(out, "[smtp]\nurl = \"{url}\"\n");
        }
        let customers = self.servers.div_ceil(SERVERS_PER_CUSTOMER);
        for c in 0..customers {
            let _ = writeln!(
                out,
                "[[customer]]\nid = \"c{c:05}\"\nname = \"顧客{c:05}株式会社\"\nplan = \"{}\"\nnotify = [\"ops{c}@example.jp\"]\nphones = [\"03-0000-{:04}\"]\n",
                PLANS[c % PLANS.len()],
                c % 10_000
            );
        }
        let services = self.services.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
        let ports = std::iter::once("ssh")
            .chain(self.services.iter().map(String::as_str))
            .map(|s| format!("{s} = {}", port(s).unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", ");
        for i in (0..self.servers).filter(|&i| include(i)) {
            let label = Self::label(i);
            let _ = writeln!(
                out,
                "[[server]]\nlabel = \"{label}\"\ncustomer = \"c{:05}\"\nfqdn = \"{label}.example.jp\"\nip = \"{}\"\nos = \"AlmaLinux 9\"\nservices = [{services}]\nports = {{ {ports} }}\n",
                i / SERVERS_PER_CUSTOMER,
                self.addr(i)?
            );
        }
        Ok(out)
    }
}

/// Serves the servers of `spec` (their fleet text is [`ScaleSpec::fleet_toml`]) with the
/// flapping timetable counted from the moment every listener is bound (then `ready` is called),
/// until `shutdown` turns true; `each_second` gets the seconds since then and the connections
/// served so far. Binds everything first and fails naming the address that could not be bound.
pub async fn run_scale(
    spec: &ScaleSpec,
    mut shutdown: watch::Receiver<bool>,
    ready: impl FnOnce(),
    mut each_second: impl FnMut(u64, u64),
) -> Result<(), DemoError> {
    let text = spec.fleet_text(|i| spec.serves(i))?;
    let simulation = Simulation::start_with(&text, SCALE_MAX_CONNECTIONS, shutdown.clone()).await?;
    ready();
    let labels: Vec<(usize, String)> =
        (0..spec.servers).filter(|&i| spec.flaps(i) && spec.serves(i)).map(|i| (i, ScaleSpec::label(i))).collect();
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|&stop| stop) => break,
            _ = tick.tick() => {
                let secs = started.elapsed().as_secs();
                each_second(secs, simulation.served());
                let wanted: HashMap<(&str, &str), Fault> = labels
                    .iter()
                    .filter(|(i, _)| spec.is_down(*i, secs))
                    .map(|(_, l)| ((l.as_str(), spec.flap_service.as_str()), Fault::Down))
                    .collect();
                simulation.apply_faults(&wanted);
            }
        }
    }
    simulation.wait().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(servers: usize) -> ScaleSpec {
        ScaleSpec {
            servers,
            first: Ipv4Addr::new(127, 80, 0, 1),
            services: vec!["http".into(), "smtp".into()],
            flap_every: 20,
            flap_service: "http".into(),
            flap_down_secs: 60,
            flap_up_secs: 60,
            fail_after_secs: None,
            slice: (0, 1),
            interval_secs: 10,
            smtp_url: None,
        }
    }

    #[test]
    fn slices_share_the_servers_out_without_overlap() {
        let slices: Vec<ScaleSpec> = (0..3).map(|k| ScaleSpec { slice: (k, 3), ..spec(100) }).collect();
        for i in 0..100 {
            assert_eq!(slices.iter().filter(|s| s.serves(i)).count(), 1, "server {i}");
        }
        let text = slices[1].fleet_text(|i| slices[1].serves(i)).unwrap();
        assert_eq!(text.matches("[[server]]").count(), 33);
        assert!(text.contains("label = \"s00001\"") && !text.contains("label = \"s00000\""));
        assert!(spec(10).serves(7), "one slice serves everything");
    }

    #[test]
    fn a_failing_share_goes_down_at_its_time_and_stays_down() {
        let s = ScaleSpec { flap_every: 100, fail_after_secs: Some(90), ..spec(10_000) };
        let failing: Vec<usize> = (0..10_000).filter(|&i| s.flaps(i)).collect();
        assert_eq!(failing.len(), 100);
        assert!(failing.iter().all(|&i| !s.is_down(i, 89) && s.is_down(i, 90) && s.is_down(i, 100_000)));
        assert!((0..10_000).filter(|i| !failing.contains(i)).all(|i| !s.is_down(i, 1000)));
    }

    #[test]
    fn addresses_are_distinct_loopback_and_skip_network_and_broadcast_bytes() {
        let s = spec(10_000);
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000 {
            let a = s.addr(i).unwrap();
            assert!(a.is_loopback(), "{a}");
            assert!((1..=250).contains(&a.octets()[3]), "{a}");
            assert!(seen.insert(a), "{a} twice");
        }
        assert_eq!(s.addr(0).unwrap(), Ipv4Addr::new(127, 80, 0, 1));
        assert_eq!(s.addr(250).unwrap(), Ipv4Addr::new(127, 80, 1, 1));
        let far = ScaleSpec { first: Ipv4Addr::new(127, 255, 255, 1), ..spec(1000) };
        assert!(far.addr(999).is_err(), "must not leave 127.0.0.0/8");
    }

    #[test]
    fn one_in_twenty_flaps_half_the_time() {
        let s = spec(2000);
        assert_eq!((0..2000).filter(|&i| s.flaps(i)).count(), 100);
        let i = (0..2000).find(|&i| s.flaps(i)).unwrap();
        let down = (0..1200).filter(|&t| s.is_down(i, t)).count();
        assert!((540..=600).contains(&down), "{down} s down of 1200");
        assert!((0..1200).all(|t| !s.is_down(i + 1, t)), "a steady server never goes down");
    }

    #[test]
    fn the_fleet_text_is_a_valid_fleet_for_the_simulator() {
        let text = spec(30).fleet_toml().unwrap();
        let fleet = crate::fleet::parse(&text).unwrap();
        // 30 servers × (ssh + http + smtp)
        assert_eq!(fleet.endpoints.len(), 90);
        assert!(text.contains("label = \"s00029\""));
        assert!(spec(1).fleet_toml().unwrap().contains("ports = { ssh = 2222, http = 18080, smtp = 2525 }"));
        let bad = ScaleSpec { services: vec!["gopher".into()], ..spec(1) };
        assert!(bad.fleet_toml().is_err());
    }
}
