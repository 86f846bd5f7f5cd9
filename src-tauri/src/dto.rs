//! The one place where engine types meet the UI: what the window receives over Tauri IPC.
//!
//! Owns: the payload shapes of the `servers` command and of the `engine-event` event.
//! Must not: decide anything. It only adds what the domain already knows (level names from
//! `anshin-core`) so the UI never keeps its own copy of those tables.

use anshin_core::{CheckKind, Level};
use anshin_engine::{CheckView, ServerView};
use serde::Serialize;

/// The name of the Tauri event that carries every [`EngineEvent`](anshin_engine::EngineEvent)
/// to the window. Its payload is the engine's own JSON (`{"event": "incident_opened", ...}`),
/// already a public contract of `anshin run --json`, so it is sent unchanged.
pub const ENGINE_EVENT: &str = "engine-event";

/// A level as the operator reads it: number plus its Japanese name (`4`, `重度の障害`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LevelDto {
    pub number: u8,
    pub name_ja: &'static str,
}

impl LevelDto {
    fn from_number(n: u8) -> Option<LevelDto> {
        Level::from_number(n).map(|l| LevelDto { number: l.number(), name_ja: l.name_ja() })
    }
}

/// One check of a server, with the level its incident has and its trigger name.
#[derive(Debug, Clone, Serialize)]
pub struct CheckDto {
    #[serde(flatten)]
    pub view: CheckView,
    /// The level an incident of this check has (ping: 5, services: 4).
    pub level: Option<LevelDto>,
    /// What the operator calls the check: `ping`, `SSH`, `HTTP`, `Plesk Panel`, a custom name.
    pub name: String,
    /// SPEC's trigger name, e.g. `web01 SSH サービスダウン`.
    pub trigger: Option<String>,
}

/// One server or gateway with its checks and the worst open level.
#[derive(Debug, Clone, Serialize)]
pub struct ServerDto {
    pub label: String,
    pub role: &'static str,
    pub customer: String,
    pub customer_name: String,
    pub plan: String,
    pub ip: String,
    pub fqdn: String,
    pub os: String,
    /// Highest level among the host's open incidents; `None` when nothing is open.
    pub worst_level: Option<LevelDto>,
    pub checks: Vec<CheckDto>,
    /// Latest resource readings (load, disk, inode, mail queue), when the server is polled.
    pub resources: Vec<anshin_engine::view::ResourceView>,
    pub resource_error: Option<String>,
}

impl From<ServerView> for ServerDto {
    fn from(v: ServerView) -> ServerDto {
        let label = v.label;
        let checks = v
            .checks
            .into_iter()
            .map(|c| {
                let kind = CheckKind::from_id(&c.check);
                CheckDto {
                    level: kind.as_ref().and_then(|k| LevelDto::from_number(k.level().number())),
                    name: kind.as_ref().map_or_else(|| c.check.clone(), check_name),
                    trigger: kind.map(|k| k.trigger(&label)),
                    view: c,
                }
            })
            .collect();
        ServerDto {
            worst_level: v.worst_level.and_then(LevelDto::from_number),
            label,
            role: v.role,
            customer: v.customer,
            customer_name: v.customer_name,
            plan: v.plan,
            ip: v.ip,
            fqdn: v.fqdn,
            os: v.os,
            checks,
            resources: v.resources,
            resource_error: v.resource_error,
        }
    }
}

fn check_name(kind: &CheckKind) -> String {
    match kind {
        CheckKind::Ping => "ping".into(),
        CheckKind::Ssh => "SSH".into(),
        CheckKind::Service(s) => s.display_name().into(),
        CheckKind::Custom(name) => name.clone(),
    }
}

/// What the window shows about where its data comes from.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    /// `demo` (simulated loopback fleet) or `fleet` (a fleet file).
    pub mode: &'static str,
    /// The fleet file shown to the operator (`demo-fleet.toml` in the demo).
    pub source: String,
    /// The store's path.
    pub db: String,
    pub version: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names_come_from_core() {
        assert_eq!(LevelDto::from_number(4), Some(LevelDto { number: 4, name_ja: "重度の障害" }));
        assert_eq!(LevelDto::from_number(1), None);
    }

    #[test]
    fn checks_get_their_level_and_trigger() {
        let view = ServerView {
            label: "web01".into(),
            role: "server",
            customer: "c1".into(),
            customer_name: "サンプル株式会社".into(),
            plan: "150".into(),
            ip: "127.77.0.2".into(),
            fqdn: String::new(),
            os: String::new(),
            worst_level: Some(5),
            resources: Vec::new(),
            resource_error: None,
            resource_levels: Default::default(),
            checks: vec![CheckView {
                check: "ssh".into(),
                ok: Some(false),
                hard: true,
                failures: 3,
                detail: "connection refused".into(),
                ms: 0.3,
                last_at: None,
                incident: Some(7),
                suppressed: None,
            }],
        };
        let dto = ServerDto::from(view);
        assert_eq!(dto.worst_level.as_ref().map(|l| l.name_ja), Some("疎通不可"));
        assert_eq!(dto.checks[0].level.as_ref().map(|l| l.number), Some(4));
        assert_eq!(dto.checks[0].trigger.as_deref(), Some("web01 SSH サービスダウン"));
        assert_eq!(dto.checks[0].name, "SSH");
        let json = serde_json::to_value(&dto).unwrap();
        assert_eq!(json["checks"][0]["detail"], "connection refused");
        assert_eq!(json["checks"][0]["level"]["number"], 4);
    }
}
