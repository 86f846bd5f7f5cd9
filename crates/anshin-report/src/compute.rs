//! The monthly report's numbers: availability per server and per check with maintenance shown
//! and excluded, the month's incidents with duration, cause and how each was recovered, mean
//! time to recover, daily resource statistics, and the optional sections (recoveries, phone
//! calls, spot work) present only when their events exist.
//!
//! Owns: the rules, as one pure function ([`compute`]) over what [`load`] read from the store:
//! - A check's downtime is the union of its own incidents, its server's `ping` incidents and
//!   its gateway's `ping` incidents (an unreachable host or network is down for every check on
//!   it), clipped to the month (an incident still open counts until the end of the period), minus
//!   the server's maintenance windows (its own and its customer's).
//! - A server's downtime is the union of its checks' downtime: the time during which anything
//!   on it was down.
//! - Only watched time counts: from the first `engine_started` in the store, minus the gaps
//!   while the engine was stopped (`engine_stopped` → the next `engine_started`, or the end of
//!   the period if it never started again). An unclean stop logs no `engine_stopped`: that time
//!   counts as watched (the log cannot tell). Downtime and maintenance are counted only where
//!   they overlap the watched time.
//! - Availability = (watched − maintenance − downtime) / (watched − maintenance).
//! - A month with no watched time has no availability and no incident section: the report says
//!   there is no monitoring data (never 100 % for time nobody watched).
//! - Resource incidents (load, disk, inode, mailq) and the host-key incident are listed with the
//!   incidents but are not downtime: the server still answered.
//! - Mean time to recover: the mean duration of the incidents of the month that closed.
//!
//! Must not know: how the report is drawn or sent.

use std::collections::{BTreeMap, BTreeSet};

use anshin_core::fleet::Customer;
use anshin_core::retention::{Resolution, Rollup};
use anshin_core::Fleet;
use anshin_engine::store::backups::BackupRun;
use anshin_engine::store::ledger::{ConfigWorkMonth, ResourceUpRecord};
use anshin_engine::store::maintenance::{MaintenanceRecord, MaintenanceScope};
use anshin_engine::store::review::{ReviewFilter, ReviewIncident};
use anshin_engine::store::updates::{PendingUpdateRow, UpdateRun};
use anshin_engine::Store;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::availability::{self, Span};
use crate::month::{jst, jst_day, Month};
use crate::ReportError;

/// Check ids whose incidents are not downtime.
const NOT_DOWNTIME: &[&str] =
    &["load", "disk", "inode", "mailq", anshin_core::check::HOST_KEY_CHECK, anshin_core::backup::CHECK_ID];

/// The resources charted, in order: id, Japanese title, unit.
pub const RESOURCES: &[(&str, &str, &str)] = &[
    ("load", "ロードアベレージ", ""),
    ("disk", "ディスク使用率", "%"),
    ("inode", "inode 使用率", "%"),
    ("mailq", "メールキュー", "通"),
];

/// One server as the report needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInput {
    pub label: String,
    pub gateway: Option<String>,
    /// Its up/down check ids (`ping`, `ssh`, services, `custom:NAME`), as the fleet lists them.
    pub checks: Vec<String>,
}

/// Readings of one resource as hourly buckets (start, count/min/mean/max), oldest first: what the
/// store keeps for two years (issue 16's retention; raw readings only for a week).
pub type Readings = Vec<(DateTime<Utc>, Rollup)>;

/// Everything [`compute`] reads: loaded from the store by [`load`], or built by a test.
#[derive(Debug, Clone)]
pub struct ReportInput {
    pub customer_id: String,
    pub customer_name: String,
    pub plan: String,
    pub month: Month,
    /// The end of the measured period: the month's end, or now for a month not over yet.
    pub period_end: DateTime<Utc>,
    pub servers: Vec<ServerInput>,
    /// Incidents of the customer's servers and their gateways overlapping the month.
    pub incidents: Vec<ReviewIncident>,
    pub maintenance: Vec<MaintenanceRecord>,
    /// (host, resource) → readings in the month, oldest first. `cpus` readings, where the store
    /// has them, turn load into load per CPU.
    pub samples: BTreeMap<(String, String), Readings>,
    /// The first `engine_started` in the store: nothing before it was watched. None: the engine
    /// never ran on this store, so nothing was watched.
    pub monitoring_since: Option<DateTime<Utc>>,
    /// Times the engine was cleanly stopped (`engine_stopped` → the next `engine_started`, or
    /// the end of the period): not watched.
    pub stopped: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// The contract's term as of the month's end (contract §9.1), when the fleet file gives it.
    pub contract: Option<ContractLine>,
    /// The month's configuration work (contract §9.5), where the plan includes it.
    pub config_work: Option<ConfigWorkMonth>,
    /// Resource-up requests of the customer overlapping the month (contract §9.4).
    pub resource_ups: Vec<ResourceUpRecord>,
    /// The month's backup runs of the customer's servers, oldest first (contract §7); `None`
    /// when the plan in force at the month's end has no backups.
    pub backups: Option<Vec<BackupRun>>,
    /// The security updates (contract §8): the month's jobs that worked and what is pending at
    /// the report's making; `None` when the plan in force at the month's end has none.
    pub updates: Option<UpdatesSection>,
}

/// The report's セキュリティアップデート section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdatesSection {
    /// Jobs of the customer's servers that finished `ok` in the month, oldest first.
    pub applied: Vec<UpdateRun>,
    /// Updates pending now, by server.
    pub pending: Vec<PendingUpdateRow>,
}

/// The contract as the report states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContractLine {
    pub start: String,
    pub months: u32,
    pub end: Option<String>,
    /// The first renewal after the month.
    pub next_renewal: Option<String>,
}

/// The event kinds that mark when the engine watched.
pub const ENGINE_STARTED: &str = "engine_started";
pub const ENGINE_STOPPED: &str = "engine_stopped";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckAvailability {
    pub check: String,
    pub percent: f64,
    pub downtime_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerAvailability {
    pub label: String,
    pub percent: f64,
    pub downtime_secs: i64,
    pub maintenance_secs: i64,
    pub checks: Vec<CheckAvailability>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintenanceLine {
    /// The server label, or `全サーバー` for a customer-wide window.
    pub target: String,
    pub start: String,
    pub end: String,
    pub reason: String,
    pub who: String,
    /// Seconds of the window inside the month.
    pub secs_in_month: i64,
}

/// How an incident ended, read from its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    /// An automatic restart or reboot brought it back.
    Automatic,
    /// An operator's one-click recovery.
    OneClick,
    /// Escalated to a phone call (secondary recovery).
    Escalation,
    /// Cleared with no recorded action (自然復旧), or unknown.
    Natural,
    /// Still open at the end of the period.
    Open,
}

impl Recovery {
    pub fn japanese(self) -> &'static str {
        match self {
            Recovery::Automatic => "自動復旧",
            Recovery::OneClick => "ワンクリック復旧",
            Recovery::Escalation => "エスカレーション",
            Recovery::Natural => "自然復旧",
            Recovery::Open => "継続中",
        }
    }

    /// Reads the event kinds of an incident's story: a call or escalation wins, then an
    /// operator's recovery, then an automatic one; none of them: it cleared by itself.
    pub fn of(inc: &ReviewIncident) -> Recovery {
        if inc.closed_at.is_none() {
            return Recovery::Open;
        }
        let kinds: Vec<&str> = inc.story.iter().map(|s| s.kind.as_str()).collect();
        let any = |f: &dyn Fn(&str) -> bool| kinds.iter().any(|k| f(k));
        if any(&|k| k.contains("call") || k.contains("escalat")) {
            Recovery::Escalation
        } else if any(&|k| k.starts_with("recovery") && (k.contains("one_click") || k.contains("manual")))
            || inc.story.iter().any(|s| s.kind.starts_with("recovery") && s.detail.contains("by "))
        {
            Recovery::OneClick
        } else if any(&|k| k.starts_with("recovery")) {
            Recovery::Automatic
        } else {
            Recovery::Natural
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentLine {
    pub id: i64,
    pub host: String,
    pub check: String,
    pub level: u8,
    pub trigger: String,
    pub start: String,
    /// Open incidents: None.
    pub duration_secs: Option<i64>,
    pub recovery: Recovery,
}

/// One day's statistics of one resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayStat {
    pub day: u32,
    pub min: f64,
    pub mean: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceTrend {
    pub host: String,
    pub resource: String,
    pub title: String,
    pub unit: String,
    pub days: Vec<DayStat>,
}

/// An entry of an optional section (recoveries, calls, spot work): a logged event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityLine {
    pub at: String,
    pub host: String,
    pub incident: i64,
    pub what: String,
    pub detail: String,
}

/// The whole report, ready to draw (serializable for the API and the review UI).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthlyReport {
    pub customer_id: String,
    pub customer_name: String,
    pub plan: String,
    /// `2026-10`.
    pub month: String,
    /// `2026年10月`.
    pub month_label: String,
    pub period_start: String,
    pub period_end: String,
    pub period_secs: i64,
    /// The first and last watched moments of the period (JST); None when nothing was watched.
    pub watched_from: Option<String>,
    pub watched_to: Option<String>,
    /// Seconds of the period the engine watched, and the rest (before monitoring began, or while
    /// the engine was stopped).
    pub watched_secs: i64,
    pub unwatched_secs: i64,
    /// The day monitoring began (`2026-11-02`, JST), if it ever did.
    pub monitoring_since: Option<String>,
    /// Empty when nothing was watched: no availability is claimed.
    pub servers: Vec<ServerAvailability>,
    pub maintenance: Vec<MaintenanceLine>,
    pub incidents: Vec<IncidentLine>,
    /// (level, count), Lv.5 first; levels without incidents left out.
    pub counts_by_level: Vec<(u8, usize)>,
    pub mttr_secs: Option<i64>,
    pub trends: Vec<ResourceTrend>,
    pub recoveries: Vec<ActivityLine>,
    pub calls: Vec<ActivityLine>,
    pub spot_work: Vec<ActivityLine>,
    pub contract: Option<ContractLine>,
    pub config_work: Option<ConfigWorkMonth>,
    pub resource_ups: Vec<ResourceUpRecord>,
    /// The month's backup runs, oldest first (contract §7); `None`: the plan has no backups.
    pub backups: Option<Vec<BackupRun>>,
    /// The security updates (contract §8): the month's jobs that worked and what is pending at
    /// the report's making; `None` when the plan in force at the month's end has none.
    pub updates: Option<UpdatesSection>,
}

fn ms(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis())
}

fn secs(ms: i64) -> i64 {
    ms / 1000
}

impl MonthlyReport {
    /// False for a month nobody watched: it has no availability and no incidents to report.
    pub fn has_data(&self) -> bool {
        self.watched_secs > 0
    }
}

/// The watched parts of `[lo, hi)`: from `since` on, minus the `stopped` gaps.
pub fn watched_spans(lo: i64, hi: i64, since: Option<i64>, stopped: &[Span]) -> Vec<Span> {
    let Some(since) = since else { return Vec::new() };
    availability::subtract(&availability::clip(&[(since, hi)], lo, hi), stopped)
}

/// The engine's clean stops from its lifecycle events (oldest first): each `engine_stopped` to
/// the next `engine_started`, or to `end` if it did not start again. Two `engine_started` in a
/// row mean an unclean stop (a crash or power loss logs nothing): that time counts as watched,
/// because the log cannot tell when the engine went away.
pub fn stopped_gaps(events: &[(DateTime<Utc>, String)], end: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut since: Option<DateTime<Utc>> = None;
    for (t, kind) in events {
        match kind.as_str() {
            ENGINE_STOPPED => {
                since.get_or_insert(*t);
            }
            ENGINE_STARTED => {
                if let Some(s) = since.take() {
                    out.push((s, *t));
                }
            }
            _ => {}
        }
    }
    if let Some(s) = since {
        out.push((s, end.max(s)));
    }
    out
}

/// The report's numbers from its input (pure).
pub fn compute(input: &ReportInput) -> MonthlyReport {
    let lo = input.month.start().timestamp_millis();
    let hi = input.period_end.timestamp_millis().clamp(lo, input.month.end().timestamp_millis());
    let stopped: Vec<Span> = input.stopped.iter().map(|(a, b)| (a.timestamp_millis(), b.timestamp_millis())).collect();
    let watched = watched_spans(lo, hi, input.monitoring_since.map(|t| t.timestamp_millis()), &stopped);
    let unwatched = availability::subtract(&[(lo, hi)], &watched);
    let watched_ms = availability::total(&watched);
    let has_data = watched_ms > 0;
    let span = |inc: &ReviewIncident| -> Option<Span> {
        let a = ms(&inc.opened_at)?;
        let b = inc.closed_at.as_deref().and_then(ms).unwrap_or(hi);
        Some((a, b))
    };
    let down_of = |host: &str, check: &str| -> Vec<Span> {
        input.incidents.iter().filter(|i| i.host == host && i.check == check).filter_map(span).collect()
    };

    let mut servers = Vec::new();
    for s in &input.servers {
        let windows: Vec<Span> = input
            .maintenance
            .iter()
            .filter(|m| match &m.scope {
                MaintenanceScope::Server(l) => *l == s.label,
                MaintenanceScope::Customer(c) => *c == input.customer_id,
            })
            .filter_map(|m| m.interval().map(|(a, b)| (a.timestamp_millis(), b.timestamp_millis())))
            .collect();
        // Maintenance and downtime count only where they were watched.
        let maint = availability::subtract(&availability::clip(&windows, lo, hi), &unwatched);
        let mut host_level = down_of(&s.label, "ping");
        if let Some(g) = &s.gateway {
            host_level.extend(down_of(g, "ping"));
        }
        let mut all_down: Vec<Span> = Vec::new();
        let mut checks = Vec::new();
        for c in &s.checks {
            let mut d = down_of(&s.label, c);
            d.extend(host_level.iter().copied());
            let d = availability::subtract(&availability::clip(&d, lo, hi), &maint);
            let d = availability::subtract(&d, &unwatched);
            all_down.extend(d.iter().copied());
            let down = availability::total(&d);
            checks.push(CheckAvailability {
                check: c.clone(),
                percent: availability::percent(watched_ms, availability::total(&maint), down),
                downtime_secs: secs(down),
            });
        }
        let down = availability::total(&all_down);
        let m = availability::total(&maint);
        servers.push(ServerAvailability {
            label: s.label.clone(),
            percent: availability::percent(watched_ms, m, down),
            downtime_secs: secs(down),
            maintenance_secs: secs(m),
            checks,
        });
    }

    let maintenance = input
        .maintenance
        .iter()
        .filter_map(|m| {
            let (a, b) = m.interval()?;
            let inside =
                availability::total(&availability::clip(&[(a.timestamp_millis(), b.timestamp_millis())], lo, hi));
            Some(MaintenanceLine {
                target: match &m.scope {
                    MaintenanceScope::Server(l) => l.clone(),
                    MaintenanceScope::Customer(_) => "全サーバー".into(),
                },
                start: jst(a),
                end: jst(b),
                reason: m.reason.clone(),
                who: m.who.clone(),
                secs_in_month: secs(inside),
            })
        })
        .collect();

    if !has_data {
        // Nothing watched: no availability to claim (not even 100 %).
        servers.clear();
    }
    let mut incidents: Vec<&ReviewIncident> = input
        .incidents
        .iter()
        .filter(|_| has_data)
        .filter(|i| span(i).is_some_and(|(a, b)| a < hi && b.max(a + 1) > lo))
        .collect();
    incidents.sort_by(|a, b| a.opened_at.cmp(&b.opened_at).then(a.id.cmp(&b.id)));
    let lines: Vec<IncidentLine> = incidents
        .iter()
        .map(|i| IncidentLine {
            id: i.id,
            host: i.host.clone(),
            check: i.check.clone(),
            level: i.level,
            trigger: i.trigger.clone(),
            start: ms(&i.opened_at)
                .and_then(DateTime::<Utc>::from_timestamp_millis)
                .map(jst)
                .unwrap_or_else(|| i.opened_at.clone()),
            duration_secs: i.duration_secs,
            recovery: Recovery::of(i),
        })
        .collect();
    let mut counts: BTreeMap<u8, usize> = BTreeMap::new();
    for l in &lines {
        *counts.entry(l.level).or_default() += 1;
    }
    let closed: Vec<i64> = lines.iter().filter_map(|l| l.duration_secs).collect();
    let mttr_secs = (!closed.is_empty()).then(|| closed.iter().sum::<i64>() / closed.len() as i64);

    let activity = |pred: &dyn Fn(&str) -> bool| -> Vec<ActivityLine> {
        incidents
            .iter()
            .flat_map(|i| {
                i.story.iter().filter(|s| pred(&s.kind)).map(|s| ActivityLine {
                    at: ms(&s.at).and_then(DateTime::<Utc>::from_timestamp_millis).map(jst).unwrap_or_default(),
                    host: i.host.clone(),
                    incident: i.id,
                    what: s.label.clone(),
                    detail: s.detail.clone(),
                })
            })
            .collect()
    };

    MonthlyReport {
        customer_id: input.customer_id.clone(),
        customer_name: input.customer_name.clone(),
        plan: input.plan.clone(),
        month: input.month.to_string(),
        month_label: input.month.japanese(),
        period_start: jst(input.month.start()),
        period_end: DateTime::<Utc>::from_timestamp_millis(hi).map(jst).unwrap_or_default(),
        period_secs: secs(hi - lo),
        watched_from: watched.first().and_then(|s| DateTime::<Utc>::from_timestamp_millis(s.0)).map(jst),
        watched_to: watched.last().and_then(|s| DateTime::<Utc>::from_timestamp_millis(s.1)).map(jst),
        watched_secs: secs(watched_ms),
        unwatched_secs: secs(hi - lo) - secs(watched_ms),
        monitoring_since: input.monitoring_since.map(|t| jst(t).chars().take(10).collect()),
        servers,
        maintenance,
        incidents: lines,
        counts_by_level: counts.into_iter().rev().collect(),
        mttr_secs,
        trends: trends(input),
        recoveries: activity(&|k| k.starts_with("recovery")),
        calls: activity(&|k| k.contains("call")),
        spot_work: activity(&|k| k.contains("spot") || k.contains("billable")),
        contract: input.contract.clone(),
        config_work: input.config_work.clone().filter(|w| !w.entries.is_empty()),
        resource_ups: input.resource_ups.clone(),
        backups: input.backups.clone(),
        updates: input.updates.clone(),
    }
}

/// Daily min/mean/max per host and resource; load becomes load per CPU where `cpus` readings
/// exist (the latest count of that day, or of the month).
fn trends(input: &ReportInput) -> Vec<ResourceTrend> {
    let mut out = Vec::new();
    for s in &input.servers {
        let cpus = input.samples.get(&(s.label.clone(), "cpus".to_string()));
        for &(res, title, unit) in RESOURCES {
            let Some(rows) = input.samples.get(&(s.label.clone(), res.to_string())) else { continue };
            if rows.is_empty() {
                continue;
            }
            let per_cpu = res == "load" && cpus.is_some_and(|c| !c.is_empty());
            let mut by_day: BTreeMap<u32, Rollup> = BTreeMap::new();
            for &(t, r) in rows {
                let r = if per_cpu {
                    let n = cpus
                        .and_then(|c| c.iter().rev().find(|(ct, _)| *ct <= t).or(c.first()))
                        .map(|(_, n)| n.max)
                        .unwrap_or(1.0);
                    if n > 0.0 {
                        Rollup { count: r.count, min: r.min / n, mean: r.mean / n, max: r.max / n }
                    } else {
                        r
                    }
                } else {
                    r
                };
                let merged = by_day.get(&jst_day(t)).map_or(r, |d| d.merged(&r));
                by_day.insert(jst_day(t), merged);
            }
            let days =
                by_day.into_iter().map(|(day, r)| DayStat { day, min: r.min, max: r.max, mean: r.mean }).collect();
            out.push(ResourceTrend {
                host: s.label.clone(),
                resource: res.to_string(),
                title: if per_cpu { format!("{title}（CPU あたり）") } else { title.to_string() },
                unit: unit.to_string(),
                days,
            });
        }
    }
    out
}

/// The customer, or an error naming the fleet's customers.
pub fn customer<'a>(fleet: &'a Fleet, id: &str) -> Result<&'a Customer, ReportError> {
    fleet.customer(id).ok_or_else(|| ReportError::UnknownCustomer {
        id: id.to_string(),
        known: fleet.customers.iter().map(|c| c.id.clone()).collect::<Vec<_>>().join(", "),
    })
}

/// Reads what the report of `customer` for `month` needs from the store (a live one or an
/// export), measured up to `now` if the month is not over.
pub fn load(
    store: &Store,
    fleet: &Fleet,
    customer_id: &str,
    month: Month,
    now: DateTime<Utc>,
) -> Result<ReportInput, ReportError> {
    let c = customer(fleet, customer_id)?;
    let specs = fleet.checks();
    let servers: Vec<ServerInput> = fleet
        .servers
        .iter()
        .filter(|s| s.customer == c.id)
        .map(|s| ServerInput {
            label: s.label.clone(),
            gateway: s.gateway.clone(),
            checks: specs.iter().filter(|k| k.key.host == s.label).map(|k| k.key.kind.id()).collect(),
        })
        .filter(|s| !s.checks.is_empty())
        .collect();
    let mut hosts: BTreeSet<String> = servers.iter().map(|s| s.label.clone()).collect();
    hosts.extend(servers.iter().filter_map(|s| s.gateway.clone()));
    let (start, end) = (month.start(), month.end());
    let period_end = now.clamp(start, end);
    let incidents = store
        .review(&ReviewFilter {
            hosts: Some(hosts.into_iter().collect()),
            from: Some(start),
            to: Some(period_end),
            ..Default::default()
        })?
        .into_iter()
        .filter(|i| !NOT_DOWNTIME.contains(&i.check.as_str()) || servers.iter().any(|s| s.label == i.host))
        .collect();
    let maintenance = store.maintenance(start, end)?;
    let monitoring_since = store.first_event_at(ENGINE_STARTED)?;
    let lifecycle = store.event_times(&[ENGINE_STARTED, ENGINE_STOPPED], start, period_end)?;
    let stopped = stopped_gaps(&lifecycle, period_end);
    let mut samples = BTreeMap::new();
    for s in &servers {
        for res in RESOURCES.iter().map(|r| r.0).chain(["cpus"]) {
            let rows: Readings = match store.rollups(&s.label, res, Resolution::Hourly, start, end) {
                Ok(rows) => rows,
                // A log written before rollups existed (read-only, not migrated): its readings.
                Err(_) => store
                    .samples(&s.label, res, start)?
                    .into_iter()
                    .filter_map(|x| {
                        let t = DateTime::parse_from_rfc3339(&x.at).ok()?.with_timezone(&Utc);
                        (t < end).then_some((t, Rollup::of(x.value)))
                    })
                    .collect(),
            };
            if !rows.is_empty() {
                samples.insert((s.label.clone(), res.to_string()), rows);
            }
        }
    }
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let contract = c.contract.map(|k| ContractLine {
        start: day(k.start),
        months: k.months,
        end: k.end.map(day),
        next_renewal: k.next_renewal(anshin_core::contract::jst_day(month.last_moment())).map(day),
    });
    let plan = c.plan_at(month.last_moment());
    // A log written before the ledger existed has none (its read-only store has no such table).
    let config_work = plan.config_work().then(|| store.config_work(&c.id, &month.to_string()).ok()).flatten();
    let (first_day, last_day) =
        (day(anshin_core::contract::jst_day(start)), day(anshin_core::contract::jst_day(month.last_moment())));
    // A log written before backups existed has none (no such table: an empty list).
    let backups = plan.backup().then(|| {
        let mut runs: Vec<BackupRun> = store
            .backups(None, usize::MAX >> 1)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| servers.iter().any(|s| s.label == r.host))
            .filter(|r| {
                DateTime::parse_from_rfc3339(&r.started_at).is_ok_and(|t| {
                    let t = t.with_timezone(&Utc);
                    t >= start && t < end
                })
            })
            .collect();
        runs.reverse();
        runs
    });
    // A log written before updates existed has none (no such table: empty lists).
    let updates = plan.os_updates().then(|| {
        let labels: Vec<String> = servers.iter().map(|s| s.label.clone()).collect();
        UpdatesSection {
            applied: store.update_runs_between(&labels, start, end).unwrap_or_default(),
            pending: store
                .pending_updates(None)
                .unwrap_or_default()
                .into_iter()
                .filter(|r| labels.contains(&r.host))
                .collect(),
        }
    });
    let resource_ups = store
        .resource_ups(false)
        .unwrap_or_default()
        .into_iter()
        .filter(|u| u.customer == c.id && u.from_day <= last_day && u.until_day >= first_day)
        .collect();
    Ok(ReportInput {
        customer_id: c.id.clone(),
        customer_name: c.name.clone(),
        plan: plan.to_string(),
        month,
        period_end,
        servers,
        incidents,
        maintenance,
        samples,
        monitoring_since,
        stopped,
        contract,
        config_work,
        resource_ups,
        backups,
        updates,
    })
}

/// `1時間02分03秒`-style duration for people.
pub fn duration_ja(secs: i64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}秒"),
        (0, 0, _) => format!("{m}分{s:02}秒"),
        (0, _, _) => format!("{h}時間{m:02}分"),
        _ => format!("{d}日{h}時間{m:02}分"),
    }
}

/// Availability as shown: three decimals, `99.933%`.
pub fn percent_text(p: f64) -> String {
    format!("{p:.3}%")
}

/// The Japanese name of a check id.
pub fn check_name(id: &str) -> String {
    match id {
        "ping" => "Ping".into(),
        "ssh" => "SSH".into(),
        other => match other.strip_prefix("custom:") {
            Some(name) => format!("カスタム ({name})"),
            None => other.to_uppercase(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_ja(42), "42秒");
        assert_eq!(duration_ja(3600 + 120), "1時間02分");
        assert_eq!(duration_ja(90), "1分30秒");
        assert_eq!(duration_ja(86_400 * 2 + 3600), "2日1時間00分");
        assert_eq!(percent_text(99.93262), "99.933%");
        assert_eq!(check_name("custom:app"), "カスタム (app)");
        assert_eq!(check_name("http"), "HTTP");
    }
}
