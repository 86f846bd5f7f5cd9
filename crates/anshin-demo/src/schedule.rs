//! The scripted outages of the demo: a pure function of the seconds elapsed since the simulation
//! started.
//!
//! Owns: which simulated (host, service) misbehaves, when, for how long and how.
//! Must not know: sockets, the clock (time is a parameter), or any fleet beyond the labels and
//! services of `assets/demo-fleet.toml` (a test checks that every scripted outage names a real
//! server and service there; outages for hosts absent from another fleet are simply ignored).

/// How a simulated service misbehaves while an outage is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The port is closed: nothing listens, so a connect is refused (UDP: no answer).
    Down,
    /// The port accepts connections but never sends a byte (a hung daemon).
    Silent,
    /// The service answers, but with an error instead of its normal greeting.
    Wrong,
}

/// One active fault: `service` of server `host` (its fleet label) misbehaves as `fault`.
///
/// `service` is the fleet's service key (`"http"`, `"smtp"`, `"ssh"`, …) or a custom check's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Outage {
    /// Server label, as in the fleet file's `label`.
    pub host: &'static str,
    /// Service key or custom check name.
    pub service: &'static str,
    /// How it misbehaves.
    pub fault: Fault,
}

/// Length of the schedule; it repeats forever after this many seconds.
pub const CYCLE_SECS: u64 = 900;

/// One line of the script: `outage` is active for `start <= t < start + secs` within a cycle.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scripted {
    pub start: u64,
    pub secs: u64,
    pub outage: Outage,
}

const fn line(start: u64, secs: u64, host: &'static str, service: &'static str, fault: Fault) -> Scripted {
    Scripted { start, secs, outage: Outage { host, service, fault } }
}

/// The script. With checks every 10 s and 3 attempts, each outage (at least 60 s) opens an
/// incident about 30 s after it starts and clears when it ends. Starts are 40–150 s apart;
/// the 40 s gaps make two outages of different customers overlap. Sorted by start.
pub(crate) const SCRIPT: &[Scripted] = &[
    line(20, 90, "web01", "http", Fault::Down),
    line(110, 60, "mail02", "smtp", Fault::Wrong),
    line(150, 120, "db02", "postgresql", Fault::Silent),
    line(300, 75, "shop01", "http", Fault::Wrong),
    line(400, 90, "ns01", "dns", Fault::Down),
    line(480, 60, "web04", "ssh", Fault::Down),
    line(520, 100, "mail03", "imap", Fault::Silent),
    line(640, 150, "web01", "app", Fault::Wrong),
    line(700, 60, "db03", "mysql", Fault::Down),
    line(800, 70, "vps01", "ssh", Fault::Silent),
];

/// The outages active `elapsed_secs` seconds after the simulation started.
///
/// Pure and deterministic, so the demo tells the same story every time: the first outage
/// begins 20 s in (`web01` HTTP down), and the script repeats every [`CYCLE_SECS`].
pub fn outages_at(elapsed_secs: u64) -> Vec<Outage> {
    let t = elapsed_secs % CYCLE_SECS;
    SCRIPT.iter().filter(|s| s.start <= t && t < s.start + s.secs).map(|s| s.outage).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_outage_starts_within_30_seconds() {
        let first = (0..=30).find(|&t| !outages_at(t).is_empty());
        assert_eq!(first, Some(20));
        assert!(outages_at(19).is_empty());
    }

    #[test]
    fn every_outage_is_long_enough_for_three_failed_attempts_and_fits_the_cycle() {
        for s in SCRIPT {
            assert!((45..=150).contains(&s.secs), "{s:?}");
            assert!(s.start + s.secs <= CYCLE_SECS, "{s:?} crosses the cycle end");
        }
    }

    #[test]
    fn new_outages_begin_every_one_to_three_minutes() {
        assert!(SCRIPT.windows(2).all(|w| w[0].start < w[1].start), "script sorted by start");
        let mut starts: Vec<u64> = SCRIPT.iter().map(|s| s.start).collect();
        starts.push(CYCLE_SECS + SCRIPT[0].start); // the next cycle's first outage
        for w in starts.windows(2) {
            assert!(w[1] - w[0] <= 180, "gap {}..{} too long", w[0], w[1]);
        }
    }

    #[test]
    fn never_more_than_two_at_once_and_some_overlap_and_an_ssh_outage() {
        let mut overlap = false;
        for t in 0..CYCLE_SECS {
            let now = outages_at(t);
            assert!(now.len() <= 2, "t={t}: {now:?}");
            overlap |= now.len() == 2;
        }
        assert!(overlap, "two outages at once at least once per cycle");
        assert!(SCRIPT.iter().any(|s| s.outage.service == "ssh"));
    }

    #[test]
    fn the_cycle_repeats() {
        for t in (0..CYCLE_SECS).step_by(7) {
            assert_eq!(outages_at(t), outages_at(t + CYCLE_SECS));
            assert_eq!(outages_at(t), outages_at(t + 5 * CYCLE_SECS));
        }
    }
}
