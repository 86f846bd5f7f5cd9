//! Native desktop notifications (freedesktop, over the session bus): a new incident at or above
//! the chosen level pops one with host, trigger and level; clicking it opens the incident. A new
//! engine alarm (a failure on the NOC's side: probes that cannot run, a store that refuses
//! writes) pops too, whatever the level.
//!
//! Only consoles notify, from the engine's events: the engine decided once (and mailed once),
//! each open console merely shows it. Owns: which events pop and their text.
//! Must not: decide about incidents.

use std::collections::{HashMap, HashSet};

use anshin_core::Level;
use notify_rust::{Hint, Notification, NotificationResponse, Timeout, Urgency};
use serde_json::Value;

/// What pops, chosen on the command line.
#[derive(Debug, Clone, Copy)]
pub struct NotifyPolicy {
    /// Incidents below this level do not pop (default Lv.3).
    pub min_level: u8,
    pub sound: bool,
}

/// An incident (or an engine alarm) worth a notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Pop {
    /// The incident; [`ALARM`] for an engine alarm (a click opens nothing in particular).
    pub id: i64,
    pub summary: String,
    pub body: String,
    pub level: u8,
}

/// Decides which events pop. An incident pops when it opens at or above the level (unless its
/// server is paused: then when the pause ends with it still open), or when it rises to a level
/// above the one it last popped at; never twice for the same level.
#[derive(Debug)]
pub struct Notifier {
    policy: NotifyPolicy,
    popped: HashMap<i64, u8>,
    /// Incidents of paused servers, silent until their alert is released.
    silent: HashSet<i64>,
    /// The engine alarms in force at the last health line (each pops once when it appears).
    alarms: HashSet<String>,
}

/// The `id` of a pop that is an engine alarm, not an incident.
pub const ALARM: i64 = -1;

impl Notifier {
    pub fn new(policy: NotifyPolicy) -> Self {
        Notifier { policy, popped: HashMap::new(), silent: HashSet::new(), alarms: HashSet::new() }
    }

    pub fn policy(&self) -> NotifyPolicy {
        self.policy
    }

    /// The notification a console message calls for, if any.
    pub fn on_message(&mut self, message: &Value) -> Option<Pop> {
        if let Some(health) = message.get("health") {
            return self.on_health(health);
        }
        if message.get("type").and_then(Value::as_str) != Some("event") {
            return None;
        }
        let e = message.get("event")?;
        let kind = e.get("event").and_then(Value::as_str)?;
        let id = e.get("id").and_then(Value::as_i64)?;
        if kind == "incident_closed" {
            self.popped.remove(&id);
            self.silent.remove(&id);
            return None;
        }
        if kind != "incident_opened" && kind != "incident_level_changed" && kind != "alert_released" {
            return None;
        }
        // A paused server (maintenance) is silent; its alert pops when the pause ends
        // (`alert_released`) if the problem is still there.
        if e.get("paused").and_then(Value::as_bool) == Some(true) {
            self.silent.insert(id);
        }
        if kind == "alert_released" {
            self.silent.remove(&id);
        }
        if self.silent.contains(&id) {
            return None;
        }
        let level = u8::try_from(e.get("level").and_then(Value::as_u64)?).ok()?;
        if level < self.policy.min_level || self.popped.get(&id).is_some_and(|&l| l >= level) {
            return None;
        }
        self.popped.insert(id, level);
        let host = e.get("host").and_then(Value::as_str).unwrap_or("");
        let trigger = e.get("trigger").and_then(Value::as_str).unwrap_or("");
        let name = Level::from_number(level).map(Level::name_ja).unwrap_or("");
        Some(Pop { id, summary: format!("Lv.{level} {name}: {host}"), body: trigger.to_string(), level })
    }
}

impl Notifier {
    /// A pop when an engine alarm appears in the health line (once per appearance).
    fn on_health(&mut self, health: &Value) -> Option<Pop> {
        let now: Vec<(String, String)> = health
            .get("alarms")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| {
                        let code = x.get("code")?.as_str()?.to_string();
                        let detail = x.get("detail").and_then(Value::as_str).unwrap_or("").to_string();
                        Some((code, detail))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let fresh: Vec<&(String, String)> = now.iter().filter(|(code, _)| !self.alarms.contains(code)).collect();
        let pop = (!fresh.is_empty()).then(|| Pop {
            id: ALARM,
            summary: "監視側の障害 (Anshin NOC)".into(),
            body: fresh
                .iter()
                .map(|(code, detail)| format!("{}: {detail}", alarm_name(code)))
                .collect::<Vec<_>>()
                .join("\n"),
            level: 5,
        });
        self.alarms = now.into_iter().map(|(code, _)| code).collect();
        pop
    }
}

/// An engine alarm's name for the notification (the UI words the full text).
fn alarm_name(code: &str) -> &str {
    match code {
        "local_failures" => "監視サーバー側の理由でチェックを実行できません（お客様サーバーの障害ではありません）",
        "store_waiting" => "ストア書き込み待ち",
        "store_failed" => "ストア障害（書き込めません）",
        other => other,
    }
}

/// Notification servers may read the body as markup: show text as text.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Shows the notification; `on_click` runs with the incident id when the user clicks it.
pub async fn show(pop: Pop, sound: bool, on_click: impl FnOnce(i64) + Send + 'static) {
    let mut n = Notification::new();
    n.appname("Anshin NOC")
        .summary(&pop.summary)
        .body(&escape(&pop.body))
        .icon("dialog-warning")
        .action("default", "開く")
        .urgency(if pop.level >= 4 { Urgency::Critical } else { Urgency::Normal })
        .timeout(Timeout::Milliseconds(30_000));
    if sound {
        n.hint(Hint::SoundName("dialog-warning".into()));
    }
    match n.show_async().await {
        Ok(handle) => {
            let id = pop.id;
            handle
                .wait_for_action_async(move |response: &NotificationResponse| {
                    if response.is_default_action() || *response == NotificationResponse::Action("default".into()) {
                        on_click(id);
                    }
                })
                .await;
        }
        Err(e) => tracing::warn!(error = %e, "cannot show a desktop notification (is a notification server running?)"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ev(kind: &str, id: i64, level: u8) -> Value {
        json!({"type":"event","event":{"event":kind,"id":id,"host":"web01","check":"http","level":level,
            "trigger":"web01 HTTP サービスダウン","at":"2026-11-25T01:00:00.000Z"}})
    }

    #[test]
    fn pops_once_per_incident_and_level_at_or_above_the_threshold() {
        let mut n = Notifier::new(NotifyPolicy { min_level: 3, sound: false });
        let pop = n.on_message(&ev("incident_opened", 1, 4)).unwrap();
        assert_eq!((pop.summary.as_str(), pop.body.as_str()), ("Lv.4 重度の障害: web01", "web01 HTTP サービスダウン"));
        assert_eq!(n.on_message(&ev("incident_opened", 1, 4)), None, "the same incident again");
        assert_eq!(n.on_message(&ev("incident_opened", 2, 2)), None, "below the threshold");
        assert!(n.on_message(&ev("incident_level_changed", 2, 3)).is_some(), "rose to the threshold");
        assert_eq!(n.on_message(&ev("incident_level_changed", 2, 3)), None);
        assert_eq!(n.on_message(&ev("incident_level_changed", 1, 3)), None, "a fall never pops");
        n.on_message(&ev("incident_closed", 1, 4));
        assert!(n.on_message(&ev("incident_level_changed", 1, 4)).is_some());
        assert_eq!(n.on_message(&json!({"type":"delta","servers":[]})), None);
    }

    #[test]
    fn a_paused_server_is_silent_until_its_alert_is_released() {
        let mut n = Notifier::new(NotifyPolicy { min_level: 3, sound: false });
        let mut opened = ev("incident_opened", 5, 4);
        opened["event"]["paused"] = json!(true);
        assert_eq!(n.on_message(&opened), None);
        assert_eq!(n.on_message(&ev("incident_level_changed", 5, 5)), None, "still paused");
        let pop = n.on_message(&ev("alert_released", 5, 4)).expect("the pause ended with the problem");
        assert_eq!(pop.id, 5);
    }

    #[test]
    fn an_engine_alarm_pops_once_when_it_appears_whatever_the_level() {
        let mut n = Notifier::new(NotifyPolicy { min_level: 5, sound: false });
        let delta = |alarms: Value| json!({"type":"delta","rev":1,"servers":[],"health":{"alarms":alarms}});
        assert_eq!(n.on_message(&delta(json!([]))), None);
        let locked = json!([{"code":"store_waiting","since":"x","detail":"database is locked","count":3,"total":0}]);
        let pop = n.on_message(&delta(locked.clone())).expect("a new alarm pops");
        assert_eq!(pop.id, ALARM);
        assert!(pop.body.contains("ストア書き込み待ち: database is locked"), "{}", pop.body);
        assert_eq!(n.on_message(&delta(locked)), None, "the same alarm again");
        assert_eq!(n.on_message(&delta(json!([]))), None, "cleared");
        assert!(n.on_message(&delta(json!([{"code":"local_failures","detail":"EMFILE"}]))).is_some());
    }
}
