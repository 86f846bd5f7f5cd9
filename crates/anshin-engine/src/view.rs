//! The live picture of the fleet that consoles draw: every server with every check's latest
//! result, its open incidents and the worst open level.
//!
//! Owns: the read model (serializable), kept current by the engine loop.
//! Must not know: how it is drawn or transported.

use std::collections::BTreeMap;

use anshin_core::{CheckKey, Fleet};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckView {
    pub check: String,
    /// `None` until the first result arrives.
    pub ok: Option<bool>,
    pub hard: bool,
    pub failures: u32,
    pub detail: String,
    pub ms: f64,
    pub last_at: Option<String>,
    pub incident: Option<i64>,
    /// Why a failure is not an incident: "host_unreachable", "gateway_down:LABEL", or
    /// "awaiting_ping:LABEL" (the ping it depends on has not answered since it began failing).
    pub suppressed: Option<String>,
}

/// The latest reading of one resource (load, disk, inode, mail queue) of a server.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResourceView {
    /// `load`, `disk`, `inode` or `mailq`.
    pub resource: String,
    /// As shown in mails: `25.31`, `97%`, `18`.
    pub value: String,
    /// The level this single sample meets (a raised level needs three in a row).
    pub sample_level: Option<u8>,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServerView {
    pub label: String,
    /// "server" or "gateway".
    pub role: &'static str,
    pub customer: String,
    pub customer_name: String,
    pub plan: String,
    pub ip: String,
    pub fqdn: String,
    pub os: String,
    /// Highest level among the open incidents of this host, if any.
    pub worst_level: Option<u8>,
    pub checks: Vec<CheckView>,
    /// Latest resource readings (servers with SSH access on a plan with resource monitoring).
    pub resources: Vec<ResourceView>,
    /// Why the last resource poll failed, if it did.
    pub resource_error: Option<String>,
    /// Levels of open resource incidents, by resource id.
    #[serde(skip)]
    pub resource_levels: BTreeMap<String, u8>,
}

/// Every host's view, in fleet order.
#[derive(Debug, Clone, Default)]
pub struct FleetView {
    hosts: Vec<ServerView>,
    index: BTreeMap<CheckKey, (usize, usize)>,
}

impl FleetView {
    pub fn new(fleet: &Fleet) -> Self {
        let mut view = FleetView::default();
        let mut host_index: BTreeMap<String, usize> = BTreeMap::new();
        for g in &fleet.gateways {
            host_index.insert(g.label.clone(), view.hosts.len());
            view.hosts.push(ServerView {
                label: g.label.clone(),
                role: "gateway",
                customer: String::new(),
                customer_name: String::new(),
                plan: String::new(),
                ip: g.ip.to_string(),
                fqdn: String::new(),
                os: String::new(),
                worst_level: None,
                checks: Vec::new(),
                resources: Vec::new(),
                resource_error: None,
                resource_levels: BTreeMap::new(),
            });
        }
        for s in &fleet.servers {
            let customer = fleet.customer(&s.customer);
            host_index.insert(s.label.clone(), view.hosts.len());
            view.hosts.push(ServerView {
                label: s.label.clone(),
                role: "server",
                customer: s.customer.clone(),
                customer_name: customer.map(|c| c.name.clone()).unwrap_or_default(),
                plan: customer.map(|c| c.plan.to_string()).unwrap_or_default(),
                ip: s.ip.to_string(),
                fqdn: s.fqdn.clone(),
                os: s.os.clone(),
                worst_level: None,
                checks: Vec::new(),
                resources: Vec::new(),
                resource_error: None,
                resource_levels: BTreeMap::new(),
            });
        }
        for spec in fleet.checks() {
            let h = host_index[&spec.key.host];
            let checks = &mut view.hosts[h].checks;
            view.index.insert(spec.key.clone(), (h, checks.len()));
            checks.push(CheckView {
                check: spec.key.kind.id(),
                ok: None,
                hard: false,
                failures: 0,
                detail: String::new(),
                ms: 0.0,
                last_at: None,
                incident: None,
                suppressed: None,
            });
        }
        view
    }

    pub fn check_mut(&mut self, key: &CheckKey) -> Option<&mut CheckView> {
        let &(h, c) = self.index.get(key)?;
        Some(&mut self.hosts[h].checks[c])
    }

    /// Recomputes a host's worst open level from its checks' and resources' incidents.
    pub fn refresh_worst(&mut self, key: &CheckKey, level_of: impl Fn(&str) -> u8) {
        if let Some(&(h, _)) = self.index.get(key) {
            let host = &mut self.hosts[h];
            let checks = host.checks.iter().filter(|c| c.incident.is_some()).map(|c| level_of(&c.check));
            host.worst_level = checks.chain(host.resource_levels.values().copied()).max();
        }
    }

    pub fn host_mut(&mut self, label: &str) -> Option<&mut ServerView> {
        self.hosts.iter_mut().find(|h| h.label == label)
    }

    pub fn hosts(&self) -> &[ServerView] {
        &self.hosts
    }
}
