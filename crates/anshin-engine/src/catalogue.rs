//! The catalogue of the service as consoles get it: the services and their units, every check a
//! server can have with its name, the resource thresholds and levels, the plans and what they
//! include, the yen limits of contract §1.2 and §4.6, the causes of charges (§9.8), when monthly reports go out (§5.1). One table each, read from `anshin-core`
//! (where the rules live); consoles draw from this instead of keeping their own copies
//! (`GET /api/v1/catalogue`, the window's `catalogue` command). It does not change while an
//! engine runs.
//!
//! Owns: the catalogue's shape on the wire.
//! Must not know: how consoles draw it; clocks (what holds *now*, such as business hours, is in
//! the engine's health line).

use anshin_core::calendar::{BUSINESS_END_HOUR, BUSINESS_START_HOUR, REPORT_SEND_DAY, REPORT_SEND_HOUR};
use anshin_core::check::HOST_KEY_CHECK;
use anshin_core::plan::Plan;
use anshin_core::recovery::{default_unit, ChargeCause, OsFamily, INVESTIGATION_CAP_YEN, SPOT_MIN_YEN};
use anshin_core::resource::Resource;
use anshin_core::Service;
use serde::Serialize;
use ts_rs::TS;
use utoipa::ToSchema;

use crate::view::Entitlements;

/// Everything of the contract a console needs to draw, from the engine (contract §1, §2, §4).
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct Catalogue {
    /// The services of contract §2.2, in the contract's order.
    pub services: Vec<ServiceEntry>,
    /// Every check id a server's incidents can carry (ping, SSH, each service, each resource,
    /// the host key), with its name on the console: the review's filter offers these. A custom
    /// check is `custom:NAME` and shows its own name.
    pub checks: Vec<CheckEntry>,
    /// The resources of contract §2.4 with their thresholds.
    pub resources: Vec<ResourceEntry>,
    /// The plans of contract §1.1 and what each includes.
    pub plans: Vec<PlanEntry>,
    /// The least a spot recovery costs (contract §1.2).
    pub spot_min_yen: u32,
    /// What an investigation may cost without asking the customer again (contract §4.6).
    pub investigation_cap_yen: u32,
    /// Why a charge arose, one of which every consent records (contract §9.8), in the
    /// contract's order.
    pub charge_causes: Vec<CauseEntry>,
    /// Business hours, Japan time, on weekdays that are not public holidays (contract §1.3):
    /// for words only; whether they hold now is `Health::business_hours`.
    pub business_hours: HoursEntry,
    /// When monthly reports go out by themselves (contract §5.1).
    pub monthly_report: ReportTimesEntry,
    /// A server above either is not backed up (contract §7).
    pub backup_limits: BackupLimitsEntry,
    /// Every kind of the event log with its names (the review, the audit log, a detail's log).
    pub event_kinds: Vec<EventKindEntry>,
}

/// One kind of the event log and its names.
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct EventKindEntry {
    pub id: &'static str,
    pub name_ja: &'static str,
    pub name_en: &'static str,
}

/// The limits of backup eligibility (contract §7: 50 GB decimal, 500,000 inodes, used on the
/// backed-up file systems).
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct BackupLimitsEntry {
    pub max_used_bytes: u64,
    pub max_used_inodes: u64,
}

/// The monthly report of a month goes out on `send_day` of the next month at `send_hour`:00
/// Japan time; one not sent by the end of the day before is overdue.
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct ReportTimesEntry {
    pub send_day: u32,
    pub send_hour: u32,
}

/// One service: how it is checked and restarted.
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct ServiceEntry {
    /// The fleet file's spelling and the check id (`http`, `pop`, …).
    pub id: &'static str,
    /// The name in triggers and mail subjects (`HTTP`, `Plesk Panel`).
    pub name: &'static str,
    pub default_port: u16,
    /// `tcp`, `tls` (implicit TLS) or `udp`.
    pub transport: &'static str,
    /// Whether the engine can restart it (contract §4.4: a unit per OS family).
    pub restartable: bool,
    /// The unit restarted when the fleet file names none, per OS family (`redhat6`, `redhat`,
    /// `debian`).
    pub units: Vec<UnitEntry>,
}

/// The unit of a service on one OS family.
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct UnitEntry {
    pub os_family: &'static str,
    pub unit: &'static str,
}

/// A check id and its name on the console.
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct CheckEntry {
    pub id: &'static str,
    pub name_ja: &'static str,
    pub name_en: &'static str,
    /// `server` (ping, SSH), `service`, `resource`, `security` (the SSH host key), `backup`.
    pub group: &'static str,
}

/// A polled resource and its thresholds.
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct ResourceEntry {
    /// `load`, `mailq`, `disk`, `inode`.
    pub id: &'static str,
    pub name_ja: &'static str,
    pub name_en: &'static str,
    /// `%` or empty.
    pub unit: &'static str,
    /// The thresholds are per CPU: multiply by the server's CPUs (the load average).
    pub per_cpu: bool,
    /// A value equal to a threshold reaches its level (`≥`); otherwise it must exceed it (`>`).
    pub at_least: bool,
    /// Lv.2, Lv.3, Lv.4, lowest first.
    pub thresholds: Vec<ThresholdEntry>,
}

#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct ThresholdEntry {
    pub level: u8,
    /// Per CPU when the resource's `per_cpu`.
    pub value: u64,
}

/// A plan and what it includes.
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct PlanEntry {
    /// The fleet file's spelling: `zero`, `30`, `60`, `150`, `200`.
    pub id: &'static str,
    /// Tax excluded.
    pub monthly_fee_yen: u32,
    pub entitlements: Entitlements,
}

/// A cause of a charge: its id (what a consent sends and records) and its names.
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct CauseEntry {
    /// `customer_change`, `traffic_surge`, `attack`, `other`.
    pub id: &'static str,
    pub name_ja: &'static str,
    pub name_en: &'static str,
}

/// Business hours, Japan time: from `start_hour`:00 to `end_hour`:00.
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct HoursEntry {
    pub start_hour: u32,
    pub end_hour: u32,
}

impl Catalogue {
    /// The catalogue of this build (the same for every engine of it).
    pub fn current() -> Catalogue {
        Catalogue {
            services: Service::ALL.into_iter().map(service).collect(),
            checks: checks(),
            resources: Resource::ALL.into_iter().map(resource).collect(),
            plans: Plan::ALL
                .into_iter()
                .map(|p| PlanEntry {
                    id: p.as_str(),
                    monthly_fee_yen: p.monthly_fee_yen(),
                    entitlements: Entitlements::of(p),
                })
                .collect(),
            spot_min_yen: SPOT_MIN_YEN,
            investigation_cap_yen: INVESTIGATION_CAP_YEN,
            charge_causes: ChargeCause::ALL
                .into_iter()
                .map(|c| CauseEntry { id: c.id(), name_ja: c.name_ja(), name_en: c.name_en() })
                .collect(),
            business_hours: HoursEntry { start_hour: BUSINESS_START_HOUR, end_hour: BUSINESS_END_HOUR },
            monthly_report: ReportTimesEntry { send_day: REPORT_SEND_DAY, send_hour: REPORT_SEND_HOUR },
            backup_limits: BackupLimitsEntry {
                max_used_bytes: anshin_core::backup::MAX_USED_BYTES,
                max_used_inodes: anshin_core::backup::MAX_USED_INODES,
            },
            event_kinds: crate::store::review::EVENT_KINDS
                .iter()
                .map(|&(id, name_ja, name_en)| EventKindEntry { id, name_ja, name_en })
                .collect(),
        }
    }
}

fn service(s: Service) -> ServiceEntry {
    ServiceEntry {
        id: s.as_str(),
        name: s.display_name(),
        default_port: s.default_port(),
        transport: s.transport(),
        // Every service of contract §2.2 has a unit on every OS family (`default_unit`).
        restartable: true,
        units: OsFamily::ALL.into_iter().map(|f| UnitEntry { os_family: f.id(), unit: default_unit(s, f) }).collect(),
    }
}

fn resource(r: Resource) -> ResourceEntry {
    let (name_ja, name_en) = r.console_name();
    ResourceEntry {
        id: r.as_str(),
        name_ja,
        name_en,
        unit: r.unit(),
        per_cpu: r.per_cpu(),
        at_least: r.at_least(),
        thresholds: Resource::LEVELS
            .into_iter()
            .map(|level| ThresholdEntry { level: level.number(), value: r.threshold(level, 1) })
            .collect(),
    }
}

fn checks() -> Vec<CheckEntry> {
    let server = [("ping", "ping", "ping"), ("ssh", "SSH", "SSH")].map(|(id, ja, en)| CheckEntry {
        id,
        name_ja: ja,
        name_en: en,
        group: "server",
    });
    let services = Service::ALL.map(|s| CheckEntry {
        id: s.as_str(),
        name_ja: s.display_name(),
        name_en: s.display_name(),
        group: "service",
    });
    let resources = Resource::ALL.map(|r| {
        let (name_ja, name_en) = r.console_name();
        CheckEntry { id: r.as_str(), name_ja, name_en, group: "resource" }
    });
    let host_key =
        CheckEntry { id: HOST_KEY_CHECK, name_ja: "SSH ホスト鍵", name_en: "SSH host key", group: "security" };
    let backup =
        CheckEntry {
            id: anshin_core::backup::CHECK_ID, name_ja: "バックアップ", name_en: "Backup", group: "backup"
        };
    server.into_iter().chain(services).chain(resources).chain([host_key, backup]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_id_is_one_the_engine_gives_and_appears_once() {
        let c = Catalogue::current();
        let mut ids: Vec<&str> = c.checks.iter().map(|e| e.id).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "a check id is listed twice");
        for e in &c.checks {
            let known = anshin_core::CheckKind::from_id(e.id).is_some() || anshin_core::check::is_other_incident(e.id);
            assert!(known, "{} is not a check id the engine gives", e.id);
        }
        assert!(c.checks.iter().any(|e| e.id == "pop") && !c.checks.iter().any(|e| e.id == "pop3"));
    }

    #[test]
    fn thresholds_are_the_ones_levels_are_judged_by() {
        for r in Catalogue::current().resources {
            let res = Resource::from_id(r.id).expect("a resource id");
            for t in &r.thresholds {
                let level = anshin_core::Level::from_number(t.level).expect("a level");
                // Just above the threshold (on 1 CPU) is at least that level; just below it is not.
                let above = res.level_of(t.value as f64 + 0.5, 1).expect("a level above the threshold");
                assert!(above >= level, "{}: {} + 0.5 gives {above:?}", r.id, t.value);
                assert!(res.level_of(t.value as f64 - 0.5, 1).is_none_or(|l| l < level), "{}: below {}", r.id, t.value);
            }
        }
    }
}
