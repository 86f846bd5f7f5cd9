//! The window's copy of the fleet, kept from the console messages it is sent: so a window that
//! (re)loads can ask for a snapshot, and the tray and title can show the worst open level.
//!
//! Owns: applying `snapshot` / `delta` / `connection` messages. Must not: interpret checks.

use std::collections::BTreeMap;

use serde_json::{json, Value};

#[derive(Debug, Default)]
pub struct Mirror {
    rev: u64,
    /// Hosts by label, and their fleet order.
    servers: BTreeMap<String, Value>,
    order: Vec<String>,
    health: Value,
    /// The last `connection` message (remote mode), if any.
    connection: Option<Value>,
}

/// Counts of hosts per worst open level (index 2..=5), for the tray and the title.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Worst {
    pub level: Option<u8>,
    pub counts: [usize; 6],
}

impl Mirror {
    /// Applies one message; true when the set of worst levels may have changed.
    pub fn apply(&mut self, message: &Value) -> bool {
        match message.get("type").and_then(Value::as_str) {
            Some("snapshot") => {
                self.servers.clear();
                self.order.clear();
                self.absorb(message, true);
                true
            }
            Some("delta") => {
                self.absorb(message, false);
                message.get("servers").and_then(Value::as_array).is_some_and(|s| !s.is_empty())
            }
            Some("connection") => {
                self.connection = Some(message.clone());
                false
            }
            _ => false,
        }
    }

    fn absorb(&mut self, message: &Value, ordered: bool) {
        self.rev = message.get("rev").and_then(Value::as_u64).unwrap_or(self.rev);
        if let Some(h) = message.get("health") {
            self.health = h.clone();
        }
        for s in message.get("servers").and_then(Value::as_array).into_iter().flatten() {
            let Some(label) = s.get("label").and_then(Value::as_str) else { continue };
            if self.servers.insert(label.to_string(), s.clone()).is_none() && ordered {
                self.order.push(label.to_string());
            }
        }
    }

    /// A `snapshot` message of everything known, in fleet order.
    pub fn snapshot(&self) -> Value {
        let servers: Vec<&Value> = self.order.iter().filter_map(|l| self.servers.get(l)).collect();
        let mut m = json!({"type": "snapshot", "rev": self.rev, "servers": servers, "health": self.health});
        if let Some(c) = &self.connection {
            m["connection"] = c.clone();
        }
        m
    }

    pub fn worst(&self) -> Worst {
        let mut w = Worst::default();
        for s in self.servers.values() {
            if let Some(l) = s.get("worst_level").and_then(Value::as_u64).filter(|l| (2..=5).contains(l)) {
                w.counts[l as usize] += 1;
                w.level = w.level.max(Some(l as u8));
            }
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_replace_hosts_and_keep_fleet_order() {
        let mut m = Mirror::default();
        m.apply(&json!({"type":"snapshot","rev":3,"servers":[{"label":"b","worst_level":null},{"label":"a","worst_level":null}],"health":{}}));
        assert!(m.apply(&json!({"type":"delta","rev":4,"servers":[{"label":"a","worst_level":4}],"health":{}})));
        assert!(!m.apply(&json!({"type":"delta","rev":4,"servers":[],"health":{}})));
        let snap = m.snapshot();
        let labels: Vec<&str> =
            snap["servers"].as_array().unwrap().iter().map(|s| s["label"].as_str().unwrap()).collect();
        assert_eq!(labels, ["b", "a"]);
        assert_eq!(snap["rev"], 4);
        assert_eq!(m.worst(), Worst { level: Some(4), counts: [0, 0, 0, 0, 1, 0] });
    }
}
