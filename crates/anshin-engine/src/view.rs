//! The live picture of the fleet that consoles draw: every server with every check's latest
//! result, its open incidents and the worst open level.
//!
//! Owns: the read model (serializable), kept current by the engine loop.
//! Must not know: how it is drawn or transported.

use std::collections::BTreeMap;

use anshin_core::contract::jst_day;
use anshin_core::fleet::Customer;
use anshin_core::plan::{Plan, RecoveryWindow};
use anshin_core::{CheckKey, Fleet};
use chrono::{DateTime, Utc};
use serde::Serialize;
use ts_rs::TS;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
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
    /// The open incident's level.
    pub level: Option<u8>,
    /// When the open incident opened.
    pub since: Option<String>,
    /// The operator who took the open incident.
    pub acknowledged_by: Option<String>,
    /// Why a failure is not an incident: "host_unreachable", "gateway_down:LABEL", or
    /// "awaiting_ping:LABEL" (the ping it depends on has not answered since it began failing).
    pub suppressed: Option<String>,
    /// Why the engine did not (or not yet) recover the open incident by itself: an operator
    /// decides (`None`: no incident, or the automatic recovery ran).
    pub prompt: Option<Prompt>,
    /// The last attempt could not be made properly on the NOC's side (no file descriptor, no
    /// buffer, the prober ran late): why. The check's state is the one before it (unknown now).
    pub unknown: Option<String>,
}

/// The engine's word to the operator about an incident it does not recover by itself.
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct Prompt {
    /// `restart:http` or `reboot`; `phone` for the phone escalation.
    pub action: String,
    /// `not_included`, `outside_hours`, `spot_only`, `already_tried`, `restart_limit`, `paused`,
    /// `no_access`, `waiting`, `watchdog` (the Plesk option: its own watchdog first);
    /// `escalate` (an hour of primary recovery passed: phone the customer, contract §9.8) or
    /// `escalation_not_included` (the same on a plan without the phone escalation, §9.9).
    pub code: String,
    /// In English, for logs and the CLI; consoles write their own words from `code` and `at`.
    pub message: String,
    /// The moment the prompt names (RFC 3339 UTC): `waiting` — when the automatic reboot is due;
    /// `outside_hours` — when business hours begin and the engine recovers by itself;
    /// `watchdog` — when the NOC restarts the service if Plesk's watchdog did not;
    /// `escalate`, `escalation_not_included` — when the hour of primary recovery ended.
    pub at: Option<String>,
}

/// A recovery running on a server (one at a time).
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct RecoveryView {
    pub id: i64,
    pub incident_id: Option<i64>,
    pub action: String,
    pub requested_by: String,
    pub automatic: bool,
    pub started_at: String,
}

/// The latest reading of one resource (load, disk, inode, mail queue) of a server.
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct ResourceView {
    /// `load`, `disk`, `inode` or `mailq`.
    pub resource: String,
    /// As shown in mails: `25.31`, `97%`, `18`.
    pub value: String,
    /// The level this single sample meets (a raised level needs three in a row).
    pub sample_level: Option<u8>,
    /// The level of this resource's open incident (three samples in a row), if one is open.
    pub level: Option<u8>,
    pub at: String,
}

/// A server's security updates (contract §8): whether the NOC handles them, what the last
/// detection found (the rows themselves: `GET /api/v1/updates?host=`), the planned work and the
/// job going now. The tile's badge is `count` with `severity`; `eol_os` adds an "EOL" badge.
#[derive(Debug, Clone, Serialize, PartialEq, Default, TS, ToSchema)]
pub struct UpdatesView {
    /// `included`, or why the NOC does not handle them: `not_included` (the plan), `no_access`
    /// (no SSH access), `unsupported_os`.
    pub code: &'static str,
    /// The plan includes CMS updates and the fleet lists WordPress sites.
    pub cms: bool,
    /// Updates pending (security, and on an end-of-life system the unclassified ones).
    pub count: u32,
    /// Of them, marked security by the package manager's metadata.
    pub security: u32,
    /// The highest severity among them (`critical`, `important`, `moderate`, `low`, or empty).
    pub severity: &'static str,
    /// The OS release past its end of life (`CentOS 7`), and its last supported day.
    #[ts(optional = nullable)]
    pub eol_os: Option<&'static str>,
    #[ts(optional = nullable)]
    pub eol_date: Option<String>,
    /// The last detection says a reboot is needed to run what is installed: asked of an
    /// operator, as part of the update service (never billed as spot recovery).
    pub reboot_needed: bool,
    #[ts(optional = nullable)]
    pub checked_at: Option<String>,
    /// Why the last detection gave no answer (the count is then the one before).
    #[ts(optional = nullable)]
    pub error: Option<String>,
    /// What else it said (wp-cli missing, a site's error).
    pub notes: String,
    /// When the oldest pending update was first seen.
    #[ts(optional = nullable)]
    pub oldest_since: Option<String>,
    /// The planned date of the update work (set by an operator; by default the next business
    /// day 10:00 JST when the notice went out).
    #[ts(optional = nullable)]
    pub planned_at: Option<String>,
    /// The planned date passed with updates still pending.
    pub overdue: bool,
    /// A job on the server now: `detect` or `apply`.
    #[ts(optional = nullable)]
    pub running: Option<&'static str>,
}

/// Whether a server is backed up (contract §7, `anshin_core::backup::eligibility`): the limits
/// are the catalogue's (`backup_limits`).
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct BackupEligibilityView {
    /// `eligible`, `not_in_plan` (Zero, 30), `not_measured` (no poll of its paths yet, or no SSH
    /// access), `too_big` (more bytes used than the limit), `too_many_inodes`.
    pub code: &'static str,
    /// Bytes used on the file systems of the backed-up paths (each counted once), when measured.
    pub used_bytes: Option<u64>,
    /// Inodes used there, when measured.
    pub used_inodes: Option<u64>,
    /// Why it could not be measured (`not_measured`; English, for the operator's investigation).
    pub why: Option<String>,
    /// The tile's backup badge of a backed-up server: `last_failed` (its latest run failed or was
    /// cut off) or `stale` (its newest generation is older than 48 h); none when fine.
    #[ts(type = "\"last_failed\" | \"stale\" | null")]
    pub attention: Option<&'static str>,
    /// The backup going now, as its archive streams in (told about once a second).
    pub running: Option<BackupProgressView>,
}

/// A backup going now: the run, its kind, since when, what came so far.
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct BackupProgressView {
    pub run: i64,
    /// `full` | `differential`.
    pub kind: &'static str,
    /// RFC 3339 UTC.
    pub started: String,
    /// Archive bytes received so far (before compression).
    pub bytes: u64,
    /// Files in the archive so far.
    pub files: u64,
    /// Bytes a second since it started.
    pub rate: u64,
}

impl BackupEligibilityView {
    pub fn of(e: &anshin_core::backup::Eligibility) -> BackupEligibilityView {
        use anshin_core::backup::Eligibility as E;
        let view = |code, used_bytes, used_inodes, why| BackupEligibilityView {
            code,
            used_bytes,
            used_inodes,
            why,
            attention: None,
            running: None,
        };
        match e {
            E::Eligible { used_bytes, used_inodes } => view("eligible", Some(*used_bytes), Some(*used_inodes), None),
            E::NotInPlan { .. } => view("not_in_plan", None, None, None),
            E::NotMeasured { why } => view("not_measured", None, None, Some(why.clone())),
            E::TooBig { used_bytes } => view("too_big", Some(*used_bytes), None, None),
            E::TooManyInodes { used } => view("too_many_inodes", None, Some(*used), None),
        }
    }

    /// Before the first poll: the plan's answer, or not measured yet (and why, without SSH).
    fn before_poll(fleet: &Fleet, s: &anshin_core::fleet::Server) -> Option<BackupEligibilityView> {
        fleet.backup.store.as_ref()?;
        let judged = anshin_core::backup::eligibility(fleet.plan_of(s), &s.backup.include, &[]);
        let mut view = BackupEligibilityView::of(&judged);
        if view.code == "not_measured" {
            view.why = Some(if s.ssh.is_none() {
                "no SSH access in the fleet file: the file systems cannot be measured".into()
            } else {
                "not measured yet (the first resource poll)".into()
            });
        }
        Some(view)
    }
}

/// Whether each operator action on a server can work now, and if not why (contract §4.3): the
/// console draws a button only where the engine would act, and the reason where it would not.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, TS, ToSchema)]
pub struct ActionsView {
    /// Restarting one of its services (a service incident's recovery).
    pub restart: Availability,
    /// Rebooting it (a ping or SSH incident's recovery).
    pub reboot: Availability,
    /// Logging the phone escalation of one of its incidents.
    pub phone: Availability,
    /// A maintenance pause.
    pub pause: Availability,
}

/// One action's answer: `code` is `ok`, or why not — `no_access` (no SSH access in the fleet
/// file), `no_action` (nothing to do it with: no reboot action, or a gateway), `not_included`
/// (the plan in force, at this hour), `needs_consent` (billable spot work: the customer's
/// consent first), `busy` (a recovery of the server is running). `needs_consent` and `busy` are
/// still offered: they lead to the consent, or say who is recovering.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, TS, ToSchema)]
pub struct Availability {
    #[ts(type = "\"ok\" | \"no_access\" | \"no_action\" | \"not_included\" | \"needs_consent\" | \"busy\"")]
    pub code: &'static str,
}

impl Availability {
    const OK: Availability = Availability { code: "ok" };
    const fn not(code: &'static str) -> Availability {
        Availability { code }
    }
}

impl ActionsView {
    /// A gateway: network work only (its own button), nothing of a server's.
    pub const GATEWAY: ActionsView = ActionsView {
        restart: Availability::not("no_action"),
        reboot: Availability::not("no_action"),
        phone: Availability::not("no_action"),
        pause: Availability::OK,
    };

    /// What an operator can do to `server` at `now` (the plan in force, the hours), as the
    /// engine's own refusals decide (`engine::recovery::operator_recovery`, the call log).
    pub fn of(fleet: &Fleet, server: &anshin_core::fleet::Server, now: DateTime<Utc>, running: bool) -> ActionsView {
        use anshin_core::recovery::{entitlement, Entitlement, RecoveryKind};
        let plan = fleet.plan_of_at(server, now);
        let recovery = |kind: RecoveryKind, means: Option<&'static str>| {
            if let Some(code) = means {
                return Availability::not(code);
            }
            match entitlement(plan, &kind, now) {
                Entitlement::NotIncluded(_) => Availability::not("not_included"),
                _ if running => Availability::not("busy"),
                Entitlement::Spot => Availability::not("needs_consent"),
                Entitlement::Included => Availability::OK,
            }
        };
        // Any service will do: the entitlement is the same for every service.
        let service = anshin_core::Service::Http;
        ActionsView {
            restart: recovery(RecoveryKind::RestartService(service), server.ssh.is_none().then_some("no_access")),
            reboot: recovery(RecoveryKind::Reboot, server.reboot.is_none().then_some("no_action")),
            phone: if plan.phone_call() { Availability::OK } else { Availability::not("not_included") },
            pause: Availability::OK,
        }
    }
}

/// A maintenance pause of a server (alerts withheld, checks still recorded).
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct MaintenanceView {
    pub id: i64,
    pub until: Option<String>,
    pub reason: String,
    pub by: String,
}

/// An open incident of a host that is not one of its checks (resources, the SSH host key).
#[derive(Debug, Clone, PartialEq)]
pub struct OtherIncident {
    pub id: i64,
    pub level: u8,
    pub since: String,
    pub acknowledged_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
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
    /// When the oldest open incident of this host opened.
    pub problem_since: Option<String>,
    /// When the latest check result arrived.
    pub last_check_at: Option<String>,
    /// The running maintenance pause, if any: no mail, notification or automatic recovery.
    pub maintenance: Option<MaintenanceView>,
    /// The recovery running on this server, if any.
    pub recovery: Option<RecoveryView>,
    /// Whether each operator action can work now, and if not why.
    pub actions: ActionsView,
    /// Every open incident of this host has been taken by an operator (stop blinking).
    pub acknowledged: bool,
    pub checks: Vec<CheckView>,
    /// Latest resource readings (servers with SSH access on a plan with resource monitoring).
    pub resources: Vec<ResourceView>,
    /// Why the last resource poll failed, if it did.
    pub resource_error: Option<String>,
    /// Whether the server is backed up and why not (contract §7), judged on its latest poll;
    /// `None` when the fleet keeps no backups (`[noc] backup` has no store).
    pub backup: Option<BackupEligibilityView>,
    /// Security updates (contract §8); `None` for a gateway.
    #[ts(optional = nullable)]
    pub updates: Option<UpdatesView>,
    /// Open incidents that are not checks (resources by id, `ssh_hostkey`).
    #[serde(skip)]
    pub other_incidents: BTreeMap<String, OtherIncident>,
    /// The view's revision when this host last changed (consoles get only changed hosts).
    #[serde(skip)]
    pub rev: u64,
}

/// How the engine itself is doing, for the consoles' summary bar.
#[derive(Debug, Clone, Serialize, PartialEq, Default, TS, ToSchema)]
pub struct Health {
    pub started_at: String,
    /// When the decider last applied a batch of results.
    pub last_cycle_at: Option<String>,
    /// Mails queued and not yet delivered.
    pub outbox_backlog: u64,
    pub checks: usize,
    /// Seconds between two runs of each check.
    pub interval_secs: u64,
    /// What is wrong on the NOC's side now (empty: nothing). Never about a customer's server.
    pub alarms: Vec<HealthAlarm>,
    /// The 99th percentile of how late the last interval's attempts started after their slot
    /// (ms, a histogram bucket's upper bound); None before any attempt.
    pub probe_lag_p99_ms: Option<u32>,
    /// The median of the same (ms, a bucket's upper bound); None before any attempt.
    pub probe_lag_p50_ms: Option<u32>,
    /// Check and poll attempts decided since the engine started.
    pub attempts_decided: u64,
    /// Check slots never attempted since the engine started: the previous attempt of the same
    /// check still ran (a timeout longer than the interval) or the prober was starved past the
    /// slot. 0 on a healthy engine; `make bench` fails on anything else.
    pub slots_skipped: u64,
    /// The consoles fed by this engine (filled in by the feed and `/health`).
    pub consoles: ConsoleStats,
    /// Whether it is business hours now by the engine's clock (contract §1.3: weekdays 9–18
    /// Japan time, not on public holidays): what a `business_hours` entitlement means this
    /// minute. Consoles never compute hours themselves.
    pub business_hours: bool,
    /// The last changed fleet file the engine refused (`FILE:LINE:COL: message` per problem, or
    /// why it could not be applied); empty while the file on disk is the fleet in force. The
    /// engine goes on with the fleet it had.
    pub fleet_errors: Vec<String>,
}

/// How the engine's consoles are doing.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default, TS, ToSchema)]
pub struct ConsoleStats {
    /// Feeds open now (WebSockets, windows).
    pub connected: u64,
    /// Snapshots sent since the engine started (first ones and resyncs).
    pub snapshots_sent: u64,
    /// Snapshots serialized (shared by every console that connected meanwhile).
    pub snapshots_built: u64,
    /// Consoles dropped for falling behind twice within 10 s.
    pub dropped: u64,
}

/// A problem of the engine itself, shown on every console and notified on the desktop; never
/// mailed to a customer.
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct HealthAlarm {
    /// `local_failures` (more than 5 % of the last interval's attempts failed on the NOC
    /// machine: `count` of `total`), `late_probes` (`count` failed attempts of the last interval
    /// were not judged because the prober itself ran over a second late), `store_waiting` (the store is locked or busy: `count`
    /// results wait to be decided), `store_failed` (it stayed so for 5 minutes, or failed for a
    /// reason waiting does not cure), `backup_store_full` (the backup store's file system is
    /// `count` % used, 80 or more, or cannot be looked at: `count` 0).
    pub code: &'static str,
    /// Since when (RFC 3339 UTC).
    pub since: String,
    /// The last error as the system gave it (English, for the operator's investigation).
    pub detail: String,
    pub count: u64,
    pub total: u64,
}

/// A customer's contract as consoles show it beside a server: plan, what it entitles, contacts.
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct CustomerView {
    pub id: String,
    pub name: String,
    /// The plan in force when the view was made (contract §9.1).
    pub plan: String,
    pub entitlements: Entitlements,
    pub notify: Vec<String>,
    pub phones: Vec<String>,
    /// The contract's term, when the fleet file gives it.
    pub contract: Option<ContractView>,
    /// Dated plan changes, oldest first (`plan` is the one in force now).
    pub plan_history: Vec<PlanChangeView>,
    /// The customer holds root (contract §9.2): changes made as root may prevent recovery.
    pub root: bool,
}

/// A contract's term as consoles show it (days are Japan days, `YYYY-MM-DD`).
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct ContractView {
    pub start: String,
    /// 6 or 12.
    pub months: u32,
    /// When the customer cancelled: watching stops that day.
    pub end: Option<String>,
    /// The next automatic renewal (None once the contract ends before it).
    pub next_renewal: Option<String>,
}

/// One dated plan change.
#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct PlanChangeView {
    pub plan: String,
    pub from: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, TS, ToSchema)]
pub struct Entitlements {
    pub service_monitoring: bool,
    pub resource_monitoring: bool,
    pub phone_call: bool,
    pub monthly_report: bool,
    pub server_recovery: RecoveryPolicy,
    pub service_recovery: RecoveryPolicy,
    /// Temporary resource-up on request (contract §9.4).
    pub resource_up: bool,
    /// One hour a month of configuration work (contract §9.5).
    pub config_work: bool,
    /// OS security updates detected, announced and applied (contract §8).
    pub os_updates: bool,
    /// WordPress updates detected and applied (contract §8).
    pub cms_updates: bool,
}

impl Entitlements {
    /// What `plan` includes (contract §1.1).
    pub fn of(plan: Plan) -> Entitlements {
        Entitlements {
            service_monitoring: plan.service_monitoring(),
            resource_monitoring: plan.resource_monitoring(),
            phone_call: plan.phone_call(),
            monthly_report: plan.monthly_report(),
            server_recovery: plan.server_recovery().into(),
            service_recovery: plan.service_recovery().into(),
            resource_up: plan.resource_up(),
            config_work: plan.config_work(),
            os_updates: plan.os_updates(),
            cms_updates: plan.cms_updates(),
        }
    }
}

/// What a plan includes of a kind of recovery, as consoles get it (the hours of
/// `business_hours` are the engine's: consoles ask it, they do not compute them).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryPolicy {
    /// Not included.
    None,
    /// On request, billed (with the customer's consent).
    Spot,
    /// Included in business hours (outside them, as the plan says: billed or not offered).
    BusinessHours,
    /// Included at any time.
    Always,
}

impl From<RecoveryWindow> for RecoveryPolicy {
    fn from(w: RecoveryWindow) -> RecoveryPolicy {
        match w {
            RecoveryWindow::None => RecoveryPolicy::None,
            RecoveryWindow::Spot => RecoveryPolicy::Spot,
            RecoveryWindow::BusinessHours { .. } => RecoveryPolicy::BusinessHours,
            RecoveryWindow::Always => RecoveryPolicy::Always,
        }
    }
}

/// Every customer of the fleet with its entitlements at `now`, in fleet order.
pub fn customers(fleet: &Fleet, now: DateTime<Utc>) -> Vec<CustomerView> {
    fleet.customers.iter().map(|c| customer_view(c, now)).collect()
}

/// One customer's contract as consoles show it at `now` (the plan in force, the next renewal).
pub fn customer_view(c: &Customer, now: DateTime<Utc>) -> CustomerView {
    let plan = c.plan_at(now);
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    CustomerView {
        id: c.id.clone(),
        name: c.name.clone(),
        plan: plan.to_string(),
        entitlements: Entitlements::of(plan),
        notify: c.notify.clone(),
        phones: c.phones.clone(),
        contract: c.contract.map(|k| ContractView {
            start: day(k.start),
            months: k.months,
            end: k.end.map(day),
            next_renewal: k.next_renewal(jst_day(now)).map(day),
        }),
        plan_history: c
            .plan_history
            .iter()
            .map(|h| PlanChangeView { plan: h.plan.to_string(), from: day(h.from) })
            .collect(),
        root: c.root,
    }
}

/// What of a check its tile and the incident panel show (a change here is a change consoles
/// must get at once).
#[derive(PartialEq)]
struct Shown {
    ok: Option<bool>,
    hard: bool,
    failures: u32,
    incident: Option<i64>,
    level: Option<u8>,
    since: Option<String>,
    acknowledged_by: Option<String>,
    suppressed: Option<String>,
    prompt: Option<Prompt>,
    unknown: bool,
    /// Why it fails (an OK check's detail is routine).
    failing_detail: Option<String>,
}

impl Shown {
    fn of(c: &CheckView) -> Shown {
        Shown {
            ok: c.ok,
            hard: c.hard,
            failures: c.failures,
            incident: c.incident,
            level: c.level,
            since: c.since.clone(),
            acknowledged_by: c.acknowledged_by.clone(),
            suppressed: c.suppressed.clone(),
            prompt: c.prompt.clone(),
            unknown: c.unknown.is_some(),
            failing_detail: (c.ok != Some(true) || c.unknown.is_some()).then(|| c.detail.clone()),
        }
    }
}

/// Every host's view, in fleet order.
#[derive(Debug, Clone, Default)]
pub struct FleetView {
    hosts: Vec<ServerView>,
    index: BTreeMap<CheckKey, (usize, usize)>,
    /// Each host's place in `hosts`, by label.
    by_label: std::collections::HashMap<String, usize>,
    /// Bumped on every change; each host remembers the revision of its last change.
    rev: u64,
    /// Bumped when hosts come or go (a live reload): consoles then get a whole snapshot, as a
    /// delta cannot say that a host is gone.
    membership: u64,
    pub health: Health,
}

impl FleetView {
    /// The fleet's view before any result; `now` decides what each action can do (the plan in
    /// force, the hours).
    pub fn new(fleet: &Fleet, now: DateTime<Utc>) -> Self {
        let mut view = FleetView::default();
        // Sized exactly (at 10,000 servers a doubled vector of hosts or of checks is megabytes).
        view.hosts.reserve_exact(fleet.gateways.len() + fleet.servers.len());
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
                problem_since: None,
                last_check_at: None,
                maintenance: None,
                recovery: None,
                actions: ActionsView::GATEWAY,
                acknowledged: false,
                checks: Vec::new(),
                resources: Vec::new(),
                resource_error: None,
                backup: None,
                updates: None,
                other_incidents: BTreeMap::new(),
                rev: 0,
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
                problem_since: None,
                last_check_at: None,
                maintenance: None,
                recovery: None,
                actions: ActionsView::of(fleet, s, now, false),
                acknowledged: false,
                checks: Vec::new(),
                resources: Vec::new(),
                resource_error: None,
                backup: BackupEligibilityView::before_poll(fleet, s),
                updates: None,
                other_incidents: BTreeMap::new(),
                rev: 0,
            });
        }
        let specs = fleet.checks();
        let mut per_host = vec![0usize; view.hosts.len()];
        for spec in &specs {
            per_host[host_index[&spec.key.host]] += 1;
        }
        for (host, n) in view.hosts.iter_mut().zip(per_host) {
            host.checks.reserve_exact(n);
        }
        for spec in specs {
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
                level: None,
                since: None,
                acknowledged_by: None,
                suppressed: None,
                prompt: None,
                unknown: None,
            });
        }
        view.by_label = view.hosts.iter().enumerate().map(|(i, h)| (h.label.clone(), i)).collect();
        view.health.checks = view.index.len();
        view.health.interval_secs = fleet.noc.interval_secs;
        view
    }

    /// A check's entry, marking its host changed.
    pub fn check_mut(&mut self, key: &CheckKey) -> Option<&mut CheckView> {
        let &(h, c) = self.index.get(key)?;
        self.touch(h);
        Some(&mut self.hosts[h].checks[c])
    }

    /// A check's entry for a routine result: its host is marked changed only when what a tile
    /// shows changed (state, incident, who took it, why it is suppressed or unknown, a failing
    /// check's detail); response time, last time and an OK check's detail are kept quietly, so
    /// deltas carry the hosts whose shown state changed, not every probe result.
    pub fn update_check(&mut self, key: &CheckKey, update: impl FnOnce(&mut CheckView)) -> bool {
        let Some(&(h, c)) = self.index.get(key) else { return false };
        let check = &mut self.hosts[h].checks[c];
        let before = Shown::of(check);
        update(check);
        let changed = Shown::of(check) != before;
        if changed {
            self.touch(h);
        }
        changed
    }

    /// Marks a host changed by its label (what `refresh_host` does not look at: a backup's
    /// progress).
    pub fn touch_host(&mut self, label: &str) {
        if let Some(&h) = self.by_label.get(label) {
            self.touch(h);
        }
    }

    /// Marks host `h` changed (consoles get it in the next delta).
    fn touch(&mut self, h: usize) {
        self.rev += 1;
        self.hosts[h].rev = self.rev;
    }

    /// Takes every host from `fresh` (read back from the store, for the same fleet or a changed
    /// one), each marked changed so consoles get them all; health stays. What the store does not
    /// keep (latest response times, resource readings, why a failure is suppressed) is carried
    /// over for hosts and checks that stay, so a reload blanks no tile.
    pub fn replace_hosts(&mut self, mut fresh: FleetView) {
        let old: std::collections::HashMap<String, ServerView> =
            std::mem::take(&mut self.hosts).into_iter().map(|h| (h.label.clone(), h)).collect();
        let same_hosts = old.len() == fresh.hosts.len() && fresh.hosts.iter().all(|h| old.contains_key(&h.label));
        for h in &mut fresh.hosts {
            let Some(before) = old.get(&h.label) else { continue };
            h.last_check_at.clone_from(&before.last_check_at);
            if h.ip == before.ip {
                h.resources.clone_from(&before.resources);
                h.resource_error.clone_from(&before.resource_error);
                // A measured judgement stays until the next poll (the plan's "no" wins at once).
                if h.backup.as_ref().is_some_and(|b| b.code == "not_measured") && before.backup.is_some() {
                    h.backup.clone_from(&before.backup);
                }
            }
            for c in &mut h.checks {
                let Some(b) = before.checks.iter().find(|b| b.check == c.check) else { continue };
                if c.ok.is_none() {
                    c.ok = b.ok;
                    c.detail.clone_from(&b.detail);
                }
                c.ms = b.ms;
                c.last_at.clone_from(&b.last_at);
                c.suppressed.clone_from(&b.suppressed);
                c.unknown.clone_from(&b.unknown);
            }
        }
        if !same_hosts {
            self.membership += 1;
        }
        self.hosts = fresh.hosts;
        self.index = fresh.index;
        self.by_label = fresh.by_label;
        self.health.checks = fresh.health.checks;
        self.health.interval_secs = fresh.health.interval_secs;
        for h in &mut self.hosts {
            self.rev += 1;
            h.rev = self.rev;
        }
    }

    /// How many times hosts came or went (see `membership`).
    pub fn membership(&self) -> u64 {
        self.membership
    }

    /// A host's entry, marking it changed.
    pub fn host_mut(&mut self, label: &str) -> Option<&mut ServerView> {
        let h = *self.by_label.get(label)?;
        self.touch(h);
        Some(&mut self.hosts[h])
    }

    /// One host as consoles get it (a detail that wants the latest response times).
    pub fn host(&self, label: &str) -> Option<&ServerView> {
        self.by_label.get(label).map(|&h| &self.hosts[h])
    }

    /// Recomputes what a host's tile shows from its checks and other incidents: the worst open
    /// level, since when it has problems, the latest check time and each resource's level. The
    /// host is marked changed only when one of them changed (the latest check time alone is
    /// kept quietly).
    pub fn refresh_host(&mut self, label: &str) {
        let Some(&h) = self.by_label.get(label) else { return };
        let host = &mut self.hosts[h];
        let checks = host.checks.iter().filter_map(|c| c.level.map(|l| (l, c.since.clone())));
        let others = host.other_incidents.values().map(|o| (o.level, Some(o.since.clone())));
        let open: Vec<(u8, Option<String>)> = checks.chain(others).collect();
        let worst_level = open.iter().map(|(l, _)| *l).max();
        // RFC 3339 UTC strings of one format sort as times.
        let problem_since = open.iter().filter_map(|(_, s)| s.clone()).min();
        host.last_check_at = host.checks.iter().filter_map(|c| c.last_at.clone()).max();
        let mut acks = host.checks.iter().filter(|c| c.level.is_some()).map(|c| c.acknowledged_by.is_some());
        let all_checks = acks.all(|a| a);
        let acknowledged =
            !open.is_empty() && all_checks && host.other_incidents.values().all(|o| o.acknowledged_by.is_some());
        let mut changed =
            (worst_level, &problem_since, acknowledged) != (host.worst_level, &host.problem_since, host.acknowledged);
        host.worst_level = worst_level;
        host.problem_since = problem_since;
        host.acknowledged = acknowledged;
        for r in &mut host.resources {
            let level = host.other_incidents.get(&r.resource).map(|o| o.level);
            changed |= r.level != level;
            r.level = level;
        }
        if changed {
            self.touch(h);
        }
    }

    /// Marks an open incident of a host as taken by `by`.
    pub fn set_acknowledged(&mut self, host: &str, incident: i64, by: &str) {
        let Some(h) = self.host_mut(host) else { return };
        for c in h.checks.iter_mut().filter(|c| c.incident == Some(incident)) {
            c.acknowledged_by = Some(by.to_string());
        }
        for o in h.other_incidents.values_mut().filter(|o| o.id == incident) {
            o.acknowledged_by = Some(by.to_string());
        }
        self.refresh_host(host);
    }

    pub fn hosts(&self) -> &[ServerView] {
        &self.hosts
    }

    /// The current revision: a console that has seen it needs only later changes.
    pub fn rev(&self) -> u64 {
        self.rev
    }

    /// The hosts changed after revision `rev`, in fleet order.
    pub fn changed_since(&self, rev: u64) -> Vec<ServerView> {
        self.changed_refs(rev).into_iter().cloned().collect()
    }

    /// The same without copying them.
    pub fn changed_refs(&self, rev: u64) -> Vec<&ServerView> {
        self.hosts.iter().filter(|h| h.rev > rev).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> Fleet {
        let toml = r#"
[noc]
mail_from = "noc@example.jp"
[[customer]]
id = "c1"
name = "顧客"
plan = "150"
notify = ["a@example.jp"]
[[server]]
label = "web01"
customer = "c1"
fqdn = "web01.example.jp"
ip = "127.0.0.2"
os = "debian"
services = ["http"]
[[server]]
label = "web02"
customer = "c1"
fqdn = "web02.example.jp"
ip = "127.0.0.3"
os = "debian"
services = ["http"]
"#;
        anshin_core::fleet::parse(toml, "t.toml").unwrap().fleet
    }

    #[test]
    fn actions_say_what_can_work_now_and_why_not() {
        let text = r#"
[noc]
mail_from = "noc@example.jp"
ssh = { user = "anshin", key = "k", known_hosts = "h" }
reboot = { command = ["/bin/true", "{label}"] }
[[customer]]
id = "c60"
name = "六十"
plan = "60"
notify = ["a@example.jp"]
[[customer]]
id = "c0"
name = "ゼロ"
plan = "zero"
notify = ["b@example.jp"]
[[server]]
label = "both"
customer = "c60"
fqdn = "both.example.jp"
ip = "127.0.0.2"
os = "debian"
services = ["http"]
[[server]]
label = "bare"
customer = "c0"
fqdn = "bare.example.jp"
ip = "127.0.0.3"
os = "debian"
services = ["http"]
"#;
        let fleet = anshin_core::fleet::parse(text, "t.toml").unwrap().fleet;
        let codes = |a: ActionsView| [a.restart.code, a.reboot.code, a.phone.code, a.pause.code];
        // Wednesday 2026-12-02 11:00 JST (business hours) and 22:00 JST (not).
        let day: DateTime<Utc> = "2026-12-02T02:00:00Z".parse().unwrap();
        let night: DateTime<Utc> = "2026-12-02T13:00:00Z".parse().unwrap();
        let both = fleet.server("both").unwrap();
        assert_eq!(codes(ActionsView::of(&fleet, both, day, false)), ["ok", "ok", "ok", "ok"]);
        // plan 60 at night: a restart is not included, a reboot is billable spot work
        assert_eq!(codes(ActionsView::of(&fleet, both, night, false)), ["not_included", "needs_consent", "ok", "ok"]);
        assert_eq!(codes(ActionsView::of(&fleet, both, day, true)), ["busy", "busy", "ok", "ok"]);
        let mut bare = fleet.server("bare").unwrap().clone();
        bare.ssh = None;
        bare.reboot = None;
        // no means at all: that says it before the plan does
        assert_eq!(codes(ActionsView::of(&fleet, &bare, day, false)), ["no_access", "no_action", "not_included", "ok"]);
        assert_eq!(codes(ActionsView::GATEWAY), ["no_action", "no_action", "no_action", "ok"]);
    }

    #[test]
    fn only_changed_hosts_are_handed_out_after_a_revision() {
        let mut v = FleetView::new(&fleet(), Utc::now());
        let seen = v.rev();
        assert!(v.changed_since(seen).is_empty());
        let key = CheckKey::new("web02", anshin_core::CheckKind::Ping);
        v.check_mut(&key).unwrap().ok = Some(true);
        let changed = v.changed_since(seen);
        assert_eq!(changed.iter().map(|h| h.label.as_str()).collect::<Vec<_>>(), ["web02"]);
        assert!(v.changed_since(v.rev()).is_empty());
    }

    #[test]
    fn the_tile_shows_the_worst_open_level_and_the_oldest_problem() {
        let mut v = FleetView::new(&fleet(), Utc::now());
        let http = CheckKey::new("web01", anshin_core::CheckKind::Service(anshin_core::Service::Http));
        let c = v.check_mut(&http).unwrap();
        (c.level, c.since, c.last_at) = (Some(3), Some("2026-11-25T01:05:00.000Z".into()), Some("T2".into()));
        v.host_mut("web01").unwrap().other_incidents.insert(
            "disk".into(),
            OtherIncident { id: 9, level: 2, since: "2026-11-25T01:00:00.000Z".into(), acknowledged_by: None },
        );
        v.refresh_host("web01");
        let h = &v.hosts()[0];
        assert_eq!(h.worst_level, Some(3));
        assert_eq!(h.problem_since.as_deref(), Some("2026-11-25T01:00:00.000Z"));
        assert_eq!(h.last_check_at.as_deref(), Some("T2"));
        assert!(!h.acknowledged);
        v.check_mut(&http).unwrap().incident = Some(8);
        v.set_acknowledged("web01", 8, "yamada");
        assert!(!v.hosts()[0].acknowledged, "the disk incident is not taken yet");
        v.set_acknowledged("web01", 9, "suzuki");
        assert!(v.hosts()[0].acknowledged);
        v.check_mut(&http).unwrap().level = None;
        v.host_mut("web01").unwrap().other_incidents.clear();
        v.refresh_host("web01");
        assert_eq!((v.hosts()[0].worst_level, v.hosts()[0].problem_since.clone()), (None, None));
    }
}
