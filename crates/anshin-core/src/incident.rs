//! Incident decisions: which hard-down checks become incidents, and when they close.
//!
//! Owns: the per-check soft/hard states of a whole fleet, which incidents are open, and the
//! suppression rules of contract §2: a server whose ping is failing holds back its own SSH and
//! service incidents (they are "unreachable", not separately down), and a gateway whose ping is
//! failing holds back every incident of the servers behind it, and opens one network incident
//! (its own ping, Lv.5) instead.
//!
//! Rules, deliberately simple:
//! * an incident opens when its check is hard down and nothing suppresses it;
//! * an incident closes only when its own check recovers (an open incident is never closed
//!   because a suppression began: the problem is still real);
//! * a dependent check (a server's SSH or service behind its ping; anything of a server behind
//!   its gateway's ping) opens only once the ping it depends on has answered *after* the
//!   dependent's failures began. A refused port answers in microseconds while a lost ping
//!   takes the whole timeout, so without this the service would win the race and open Lv.4
//!   for a host that is in fact unreachable. Icinga gets the same effect by re-checking the
//!   host on demand; here the next regular ping confirms it, at most one interval later;
//! * suppression is judged on the check's own results: when a server's ping comes back, a
//!   service that is still down opens at its next failed attempt, not at the moment ping
//!   returns (so a host coming back does not flash Lv.4 for every service it has not yet
//!   re-checked);
//! * a server's resource samples are not judged while its ping fails
//!   ([`Monitor::takes_resource_samples`]).
//!
//! Must not know: storage (incident ids come from the caller), time, mail, I/O.

use std::collections::{HashMap, VecDeque};

use crate::alert::{CheckState, Transition};
use crate::check::{CheckKey, CheckKind};
use crate::fleet::Fleet;
use crate::level::Level;

/// The store's id of an incident.
pub type IncidentId = i64;

/// Something the engine must do because of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Open an incident for this check, then tell the monitor its id ([`Monitor::set_incident`]).
    Open { key: CheckKey, level: Level, trigger: String },
    /// Close the incident of this check.
    Close { key: CheckKey, incident: IncidentId },
}

/// Why a hard-down check is not (yet) an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suppression {
    /// The server itself does not answer ping.
    HostUnreachable,
    /// The gateway in front of the server does not answer ping.
    GatewayDown(String),
    /// The ping this check depends on (of this host or gateway) has not answered since the
    /// check began failing: wait for it before calling the check itself down.
    Unconfirmed(String),
}

/// The incident state of a whole fleet. Pure: the engine feeds results, applies decisions.
#[derive(Debug, Clone)]
pub struct Monitor {
    attempts: u32,
    gateway_of: HashMap<String, String>,
    states: HashMap<CheckKey, CheckState>,
    /// Open incidents; `None` between an `Open` decision and [`Monitor::set_incident`].
    open: HashMap<CheckKey, Option<IncidentId>>,
    /// Results observed so far: orders results without a clock.
    seq: u64,
    /// For each failing check, the sequence number of the first failure of its current run.
    failing_since: HashMap<CheckKey, u64>,
    /// For each host and gateway, the sequence number of its last successful ping.
    ping_ok_at: HashMap<String, u64>,
    /// For each host and gateway, the sequence number at which its ping answered again after an
    /// outage (hard down): a check whose failure began before must fail `attempts` times after
    /// it to count.
    ping_back_at: HashMap<String, u64>,
    /// For each failing check, the sequence numbers of its last `attempts` failures.
    recent_failures: HashMap<CheckKey, VecDeque<u64>>,
}

/// What one result did: the check's transition and the incident decisions it caused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub state: CheckState,
    pub transition: Transition,
    pub decisions: Vec<Decision>,
}

impl Monitor {
    pub fn new(fleet: &Fleet) -> Self {
        let gateway_of = fleet.servers.iter().filter_map(|s| s.gateway.clone().map(|g| (s.label.clone(), g))).collect();
        let states = fleet.checks().into_iter().map(|c| (c.key, CheckState::default())).collect();
        Monitor {
            attempts: fleet.noc.attempts,
            gateway_of,
            states,
            open: HashMap::new(),
            seq: 0,
            failing_since: HashMap::new(),
            ping_ok_at: HashMap::new(),
            ping_back_at: HashMap::new(),
            recent_failures: HashMap::new(),
        }
    }

    /// Restores what the store remembers: a check's state and, when it had one, its open
    /// incident. A restored open incident is not opened again.
    pub fn resume(&mut self, key: CheckKey, state: CheckState, incident: Option<IncidentId>) {
        if let Some(id) = incident {
            let state = if state.hard_down { state } else { CheckState::resumed_hard(self.attempts) };
            self.open.insert(key.clone(), Some(id));
            self.states.insert(key, state);
        } else {
            self.states.insert(key, state);
        }
    }

    /// Records the store's id of an incident this monitor decided to open.
    pub fn set_incident(&mut self, key: &CheckKey, id: IncidentId) {
        if let Some(slot) = self.open.get_mut(key) {
            *slot = Some(id);
        }
    }

    pub fn state(&self, key: &CheckKey) -> Option<CheckState> {
        self.states.get(key).copied()
    }

    pub fn incident(&self, key: &CheckKey) -> Option<IncidentId> {
        self.open.get(key).copied().flatten()
    }

    pub fn is_known(&self, key: &CheckKey) -> bool {
        self.states.contains_key(key)
    }

    /// Applies one check result and decides what it opens or closes.
    pub fn observe(&mut self, key: &CheckKey, ok: bool) -> Observation {
        self.seq += 1;
        let before = self.states.get(key).copied().unwrap_or_default();
        if ok {
            self.failing_since.remove(key);
            self.recent_failures.remove(key);
            if key.kind == CheckKind::Ping {
                self.ping_ok_at.insert(key.host.clone(), self.seq);
                // Back from an outage (hard down), not from a lost packet or two.
                if before.hard_down {
                    self.ping_back_at.insert(key.host.clone(), self.seq);
                }
            }
        } else {
            self.failing_since.entry(key.clone()).or_insert(self.seq);
            let recent = self.recent_failures.entry(key.clone()).or_default();
            recent.push_back(self.seq);
            while recent.len() > self.attempts.max(1) as usize {
                recent.pop_front();
            }
        }
        let (state, transition) = before.observe(ok, self.attempts);
        self.states.insert(key.clone(), state);
        let mut decisions = Vec::new();
        let open = self.open.get(key).copied();
        match open {
            None if state.hard_down && self.suppression(key).is_none() => {
                self.open.insert(key.clone(), None);
                decisions.push(Decision::Open {
                    key: key.clone(),
                    level: key.kind.level(),
                    trigger: key.kind.trigger(&key.host),
                });
            }
            Some(id) if !state.hard_down => {
                self.open.remove(key);
                if let Some(incident) = id {
                    decisions.push(Decision::Close { key: key.clone(), incident });
                }
            }
            _ => {}
        }
        Observation { state, transition, decisions }
    }

    /// Whether a resource sample of `host` is judged now: not while its ping fails (an
    /// unreachable host's samples cannot arrive anyway; a late one must not raise levels).
    pub fn takes_resource_samples(&self, host: &str) -> bool {
        !self.states.get(&CheckKey::new(host, CheckKind::Ping)).is_some_and(CheckState::failing)
    }

    /// Why this check's problems are held back right now, if they are.
    pub fn suppression(&self, key: &CheckKey) -> Option<Suppression> {
        let since = self.failing_since.get(key).copied().unwrap_or(0);
        // The ping of `host` must answer now, and must have answered after `since`. A failure
        // that began while that ping failed is its shadow: it counts only once the check has
        // failed `attempts` times after the ping came back (results of attempts made during the
        // outage still arrive after it).
        let blocker = |host: &str, down: Suppression| {
            let ping = self.states.get(&CheckKey::new(host, CheckKind::Ping));
            let back = self.ping_back_at.get(host).copied().filter(|&back| since < back);
            let failed_since_back = |back: u64| {
                self.recent_failures
                    .get(key)
                    .is_some_and(|r| r.len() >= self.attempts.max(1) as usize && r.front().is_some_and(|&f| f > back))
            };
            // Unconfirmed: the ping has not answered since this check began failing, or it came
            // back from an outage and the check has not failed `attempts` times since.
            let unconfirmed = self.ping_ok_at.get(host).is_none_or(|&at| at <= since)
                || back.is_some_and(|back| !failed_since_back(back));
            if ping.is_some_and(CheckState::failing) {
                Some(down)
            } else if unconfirmed {
                Some(Suppression::Unconfirmed(host.to_string()))
            } else {
                None
            }
        };
        if let Some(gw) = self.gateway_of.get(&key.host) {
            if let Some(s) = blocker(gw, Suppression::GatewayDown(gw.clone())) {
                return Some(s);
            }
        }
        if key.kind != CheckKind::Ping {
            return blocker(&key.host, Suppression::HostUnreachable);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Service;
    use crate::fleet;

    const FLEET: &str = r#"
[noc]
attempts = 3
[[customer]]
id = "c1"
name = "C"
plan = "150"
notify = ["ops@example.jp"]
[[gateway]]
label = "gw"
ip = "127.77.0.1"
[[server]]
label = "web01"
customer = "c1"
fqdn = "web01.example.jp"
ip = "127.77.0.2"
gateway = "gw"
services = ["http"]
[[server]]
label = "web02"
customer = "c1"
fqdn = "web02.example.jp"
ip = "127.77.0.3"
services = ["http"]
"#;

    fn monitor() -> Monitor {
        Monitor::new(&fleet::parse(FLEET, "f").unwrap().fleet)
    }

    fn key(host: &str, kind: CheckKind) -> CheckKey {
        CheckKey::new(host, kind)
    }

    /// Feeds results and gives each opened incident an id (1, 2, …) as the engine would.
    /// Returns the decisions of every step as short strings.
    fn feed(m: &mut Monitor, steps: &[Step]) -> Vec<String> {
        let mut out = Vec::new();
        let mut next_id = 1;
        for (host, kind, ok) in steps {
            let k = key(host, kind.clone());
            for d in m.observe(&k, *ok).decisions {
                match d {
                    Decision::Open { key, level, trigger } => {
                        m.set_incident(&key, next_id);
                        out.push(format!("open#{next_id} {level} {trigger}"));
                        next_id += 1;
                    }
                    Decision::Close { key, incident } => out.push(format!("close#{incident} {key}")),
                }
            }
        }
        out
    }

    #[test]
    fn resource_samples_are_judged_only_while_ping_does_not_fail() {
        let mut m = monitor();
        assert!(m.takes_resource_samples("web02"), "no result yet");
        m.observe(&key("web02", CheckKind::Ping), false);
        assert!(!m.takes_resource_samples("web02"), "one failed ping (soft) is enough");
        assert!(m.takes_resource_samples("web01"), "another host is not concerned");
        m.observe(&key("web02", HTTP), false);
        assert!(!m.takes_resource_samples("web02"));
        m.observe(&key("web02", CheckKind::Ping), true);
        assert!(m.takes_resource_samples("web02"), "the ping answered again");
        // A failing service does not stop samples: the host answers.
        assert!(m.state(&key("web02", HTTP)).unwrap().failing());
    }

    const HTTP: CheckKind = CheckKind::Service(Service::Http);

    /// One result: host, check, ok.
    type Step = (&'static str, CheckKind, bool);

    #[test]
    fn incident_rules_table() {
        use CheckKind::Ping;
        let f = false;
        let t = true;
        // web02 has no gateway; web01 sits behind "gw".
        let p2 = ("web02", Ping, t);
        let table: Vec<(&str, Vec<Step>, Vec<&str>)> = vec![
            ("two failures open nothing", vec![("web02", HTTP, f), p2.clone(), ("web02", HTTP, f)], vec![]),
            (
                "third failure opens Lv.4",
                vec![("web02", HTTP, f), p2.clone(), ("web02", HTTP, f), ("web02", HTTP, f)],
                vec!["open#1 Lv.4 web02 HTTP サービスダウン"],
            ),
            (
                "more failures do not reopen",
                vec![("web02", HTTP, f), p2.clone(), ("web02", HTTP, f), ("web02", HTTP, f), ("web02", HTTP, f)],
                vec!["open#1 Lv.4 web02 HTTP サービスダウン"],
            ),
            (
                "one success closes",
                vec![("web02", HTTP, f), p2.clone(), ("web02", HTTP, f), ("web02", HTTP, f), ("web02", HTTP, t)],
                vec!["open#1 Lv.4 web02 HTTP サービスダウン", "close#1 web02/http"],
            ),
            (
                "soft failures then success: nothing",
                vec![("web02", HTTP, f), p2.clone(), ("web02", HTTP, f), ("web02", HTTP, t), ("web02", HTTP, f)],
                vec![],
            ),
            (
                "a hard service waits for a ping answer newer than its first failure",
                vec![
                    p2.clone(),
                    ("web02", HTTP, f),
                    ("web02", HTTP, f),
                    ("web02", HTTP, f),
                    ("web02", HTTP, f),
                    p2.clone(),
                    ("web02", HTTP, f),
                ],
                vec!["open#1 Lv.4 web02 HTTP サービスダウン"],
            ),
            (
                "ping opens Lv.5",
                vec![("web02", Ping, f), ("web02", Ping, f), ("web02", Ping, f)],
                vec!["open#1 Lv.5 web02 ping 疎通不可"],
            ),
            (
                "a refused port racing a ping that times out: only Lv.5",
                vec![
                    p2.clone(),
                    ("web02", HTTP, f),
                    ("web02", HTTP, f),
                    ("web02", HTTP, f),
                    ("web02", Ping, f),
                    ("web02", HTTP, f),
                    ("web02", Ping, f),
                    ("web02", Ping, f),
                ],
                vec!["open#1 Lv.5 web02 ping 疎通不可"],
            ),
            (
                "service still down after ping returns opens at its next failure",
                vec![
                    ("web02", Ping, f),
                    ("web02", HTTP, f),
                    ("web02", HTTP, f),
                    ("web02", HTTP, f),
                    p2.clone(),
                    ("web02", HTTP, f),
                ],
                vec!["open#1 Lv.4 web02 HTTP サービスダウン"],
            ),
            (
                "after a gateway outage, a late failure from an attempt made during it opens nothing",
                vec![
                    ("gw", Ping, f),
                    ("web01", Ping, f),
                    ("gw", Ping, f),
                    ("web01", Ping, f),
                    ("gw", Ping, f),
                    ("web01", Ping, f),
                    ("gw", Ping, t),
                    ("web01", Ping, f),
                    ("web01", Ping, t),
                ],
                vec!["open#1 Lv.5 gw ping 疎通不可", "close#1 gw/ping"],
            ),
            (
                "after a gateway outage, a server still down is confirmed by fresh failures",
                vec![
                    ("gw", Ping, f),
                    ("web01", Ping, f),
                    ("gw", Ping, f),
                    ("web01", Ping, f),
                    ("gw", Ping, f),
                    ("web01", Ping, f),
                    ("gw", Ping, t),
                    ("web01", Ping, f),
                    ("web01", Ping, f),
                    ("web01", Ping, f),
                ],
                vec!["open#1 Lv.5 gw ping 疎通不可", "close#1 gw/ping", "open#2 Lv.5 web01 ping 疎通不可"],
            ),
            (
                "service recovered by the time ping returns: no incident",
                vec![
                    ("web02", Ping, f),
                    ("web02", HTTP, f),
                    ("web02", HTTP, f),
                    ("web02", HTTP, f),
                    p2.clone(),
                    ("web02", HTTP, t),
                ],
                vec![],
            ),
            (
                "an open service incident stays open when ping fails later, closes on its own recovery",
                vec![
                    ("web02", HTTP, f),
                    p2.clone(),
                    ("web02", HTTP, f),
                    ("web02", HTTP, f),
                    ("web02", Ping, f),
                    ("web02", HTTP, f),
                    p2.clone(),
                    ("web02", HTTP, t),
                ],
                vec!["open#1 Lv.4 web02 HTTP サービスダウン", "close#1 web02/http"],
            ),
            (
                "a down gateway opens one network incident and suppresses its servers' ping and services",
                vec![
                    ("gw", Ping, f),
                    ("web01", Ping, f),
                    ("web01", HTTP, f),
                    ("gw", Ping, f),
                    ("web01", Ping, f),
                    ("web01", HTTP, f),
                    ("gw", Ping, f),
                    ("web01", Ping, f),
                    ("web01", HTTP, f),
                    ("web01", CheckKind::Ssh, f),
                    ("web01", CheckKind::Ssh, f),
                    ("web01", CheckKind::Ssh, f),
                ],
                vec!["open#1 Lv.5 gw ping 疎通不可"],
            ),
            (
                "a server behind a healthy gateway opens once both pings confirm",
                vec![("web01", HTTP, f), ("gw", Ping, t), ("web01", Ping, t), ("web01", HTTP, f), ("web01", HTTP, f)],
                vec!["open#1 Lv.4 web01 HTTP サービスダウン"],
            ),
            (
                "a gateway does not suppress servers behind other gateways",
                vec![("gw", Ping, f), ("web02", HTTP, f), p2.clone(), ("web02", HTTP, f), ("web02", HTTP, f)],
                vec!["open#1 Lv.4 web02 HTTP サービスダウン"],
            ),
            (
                "gateway recovery closes the network incident",
                vec![("gw", Ping, f), ("gw", Ping, f), ("gw", Ping, f), ("gw", Ping, t)],
                vec!["open#1 Lv.5 gw ping 疎通不可", "close#1 gw/ping"],
            ),
        ];
        for (name, steps, want) in table {
            let mut m = monitor();
            assert_eq!(feed(&mut m, &steps), want, "{name}");
        }
    }

    #[test]
    fn resumed_incident_is_not_reopened_and_closes_on_recovery() {
        let mut m = monitor();
        let k = key("web02", HTTP);
        m.resume(k.clone(), CheckState::resumed_hard(3), Some(42));
        assert_eq!(m.observe(&k, false).decisions, vec![]);
        assert_eq!(m.observe(&k, true).decisions, vec![Decision::Close { key: k.clone(), incident: 42 }]);
    }

    #[test]
    fn suppression_is_reported_for_views() {
        let mut m = monitor();
        assert_eq!(m.suppression(&key("web02", HTTP)), Some(Suppression::Unconfirmed("web02".into())));
        m.observe(&key("web02", CheckKind::Ping), true);
        m.observe(&key("gw", CheckKind::Ping), false);
        assert_eq!(m.suppression(&key("web01", HTTP)), Some(Suppression::GatewayDown("gw".into())));
        assert_eq!(m.suppression(&key("web02", HTTP)), None);
        m.observe(&key("web02", CheckKind::Ping), false);
        assert_eq!(m.suppression(&key("web02", HTTP)), Some(Suppression::HostUnreachable));
        assert_eq!(m.suppression(&key("web02", CheckKind::Ping)), None);
    }
}
