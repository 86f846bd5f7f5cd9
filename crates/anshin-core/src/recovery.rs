//! Primary recovery (一次復旧, contract §4): which recovery a down check calls for, whether the plan
//! includes it at a given instant, whether the automation may start it now, and the exact restart
//! command sent over SSH.
//!
//! Owns: the automation rules of contract §4 (restart at once on a hard service-down, reboot after 15
//! minutes of ping/SSH failure counted from the first failed attempt, one automatic attempt per
//! incident and one reboot for every ping/SSH incident that began before it, at most 3 automatic
//! restarts of one service in 24 h, nothing during a maintenance pause), the spot and
//! investigation amounts, the refusal codes shown to the operator, the charges of contract §9.8
//! (each consent's cause, when a larger investigation needs the customer called again) and the
//! hour of primary recovery after which the phone escalation is prompted, and the restart
//! allow-list: the unit each service maps to per OS family, the override names a fleet file may
//! use, and the command line built from them.
//! Must not know: clocks (`now` is a field of [`Situation`]), SSH sessions, the reboot action, the
//! store (the engine counts attempts and restarts and passes the counts in), and who the operator
//! is. It also does not serialise recoveries of one server: the engine holds that lock.
//!
//! The restart commands carry no `sudo` or other prefix. The SSH account of the fleet file must be
//! allowed to run them as they are: root, or an account whose sudoers/polkit rule lets it restart
//! these units. Setting that up on the customer's server is the customer's and the NOC's job, not
//! this program's.

use chrono::{DateTime, TimeDelta, Utc};

use crate::calendar::in_business_hours;
use crate::check::{CheckKind, Service};
use crate::plan::{Plan, RecoveryWindow};

/// Seconds of ping/SSH failure, counted from the first failed attempt, before a reboot (15 min).
pub const REBOOT_AFTER_SECS: u64 = 900;
/// Automatic restarts of one service of one server allowed in 24 hours (Monit's restart-loop guard).
pub const MAX_AUTO_RESTARTS_PER_DAY: u32 = 3;
/// A spot recovery is billed from this amount (yen, tax excluded) per occurrence.
pub const SPOT_MIN_YEN: u32 = 20_000;
/// Cause investigation may be quoted up to this amount (yen) before asking the customer again.
pub const INVESTIGATION_CAP_YEN: u32 = 50_000;

// ---- what recovery ------------------------------------------------------------------------------

/// A primary recovery action.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecoveryKind {
    /// Log in over SSH and restart the service's unit.
    RestartService(Service),
    /// Reboot the server through the configured reboot action.
    Reboot,
}

impl RecoveryKind {
    /// The stable identifier for the store, the CLI and the API: `restart:http`, `reboot`.
    pub fn id(&self) -> String {
        match self {
            RecoveryKind::RestartService(s) => format!("restart:{}", s.as_str()),
            RecoveryKind::Reboot => "reboot".into(),
        }
    }

    /// Inverse of [`RecoveryKind::id`].
    pub fn from_id(s: &str) -> Option<Self> {
        match s {
            "reboot" => Some(RecoveryKind::Reboot),
            _ => s.strip_prefix("restart:")?.parse().ok().map(RecoveryKind::RestartService),
        }
    }

    /// The recovery for a down check: a service is restarted, a server that does not answer ping
    /// or SSH is rebooted, a custom check has no automatic recovery (the operator decides).
    pub fn for_check(kind: &CheckKind) -> Option<Self> {
        match kind {
            CheckKind::Service(s) => Some(RecoveryKind::RestartService(*s)),
            CheckKind::Ping | CheckKind::Ssh => Some(RecoveryKind::Reboot),
            CheckKind::Custom(_) => None,
        }
    }

    /// The plan's window for this recovery: server recovery for a reboot, service recovery for a
    /// restart (contract §1).
    pub fn window(&self, plan: Plan) -> RecoveryWindow {
        match self {
            RecoveryKind::Reboot => plan.server_recovery(),
            RecoveryKind::RestartService(_) => plan.service_recovery(),
        }
    }
}

impl std::fmt::Display for RecoveryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id())
    }
}

// ---- is it in the plan --------------------------------------------------------------------------

/// Whether the plan includes a recovery at an instant: what the operator's console shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entitlement {
    /// Included in the monthly fee: runs without a charge.
    Included,
    /// Available as billable spot work (from [`SPOT_MIN_YEN`]): the operator confirms the
    /// customer's consent to the charge before it runs, and it is recorded as billable.
    Spot,
    /// Not part of the contract at this instant, and why.
    NotIncluded(Refusal),
}

/// Whether `plan` includes `kind` at `now`. "Weekdays 9–18" is [`in_business_hours`].
pub fn entitlement(plan: Plan, kind: &RecoveryKind, now: DateTime<Utc>) -> Entitlement {
    match kind.window(plan) {
        RecoveryWindow::Always => Entitlement::Included,
        RecoveryWindow::BusinessHours { .. } if in_business_hours(now) => Entitlement::Included,
        RecoveryWindow::BusinessHours { spot_outside: true } => Entitlement::Spot,
        RecoveryWindow::BusinessHours { spot_outside: false } => Entitlement::NotIncluded(Refusal::OutsideHours),
        RecoveryWindow::Spot => Entitlement::Spot,
        RecoveryWindow::None => Entitlement::NotIncluded(Refusal::NotInPlan),
    }
}

/// Whether an alert may promise the automatic reboot after 15 minutes of ping/SSH failure
/// (contract §9.7): the plan in force when the reboot would be due includes server recovery at
/// that moment (150 and 200 always; 60 on a business-hours moment; never 30 or Zero). `plan_at`
/// answers for a moment ([`crate::fleet::Customer::plan_at`]).
pub fn reboot_promised(
    plan_at: impl Fn(DateTime<Utc>) -> Plan,
    detected: DateTime<Utc>,
    reboot_after_secs: u64,
) -> bool {
    let due = reboot_due(detected, reboot_after_secs);
    entitlement(plan_at(due), &RecoveryKind::Reboot, due) == Entitlement::Included
}

/// Why an automatic recovery does not run (the operator decides instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The plan does not include this recovery at all.
    NotInPlan,
    /// The plan includes it on weekdays 9–18 Asia/Tokyo only, and this is outside.
    OutsideHours,
    /// Only billable spot work: needs the customer's consent to the charge.
    SpotOnly,
    /// The one automatic attempt of this incident has been made.
    AlreadyTried,
    /// This service was restarted automatically 3 times in the last 24 hours.
    RestartLimit,
    /// The server is in a maintenance pause.
    Paused,
}

impl Refusal {
    pub const ALL: [Refusal; 6] = [
        Refusal::NotInPlan,
        Refusal::OutsideHours,
        Refusal::SpotOnly,
        Refusal::AlreadyTried,
        Refusal::RestartLimit,
        Refusal::Paused,
    ];

    /// The stable code for the store, the CLI and the API.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotInPlan => "not_included",
            Refusal::OutsideHours => "outside_hours",
            Refusal::SpotOnly => "spot_only",
            Refusal::AlreadyTried => "already_tried",
            Refusal::RestartLimit => "restart_limit",
            Refusal::Paused => "paused",
        }
    }

    /// A short English explanation for the operator.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotInPlan => "not included in the customer's plan",
            Refusal::OutsideHours => "included only on weekdays 9-18 JST (not public holidays)",
            Refusal::SpotOnly => "billable spot work: confirm the customer's consent to the charge",
            Refusal::AlreadyTried => "the automatic attempt for this incident was already made",
            Refusal::RestartLimit => "restarted automatically 3 times in 24 hours: a person decides",
            Refusal::Paused => "the server is in a maintenance pause",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

// ---- may the automation start it now -----------------------------------------------------------

/// The facts the automatic decision needs; the engine fills it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Situation {
    pub plan: Plan,
    pub kind: RecoveryKind,
    pub now: DateTime<Utc>,
    /// First failed attempt of the ping/SSH check (reboot only; for a restart pass the incident's opening).
    pub failing_since: DateTime<Utc>,
    /// Seconds of failure before a reboot ([`REBOOT_AFTER_SECS`] unless the fleet file changes it).
    pub reboot_after_secs: u64,
    /// Automatic recoveries already started for this incident.
    pub automatic_attempts: u32,
    /// Automatic restarts of this same service on this server started in the last 24 h.
    pub automatic_restarts_24h: u32,
    /// The server is in a maintenance pause.
    pub paused: bool,
    /// The server's own watchdog restarts its services (the Plesk option, contract §9.3): a
    /// restart waits until this moment (the incident's opening + one check interval).
    pub watchdog_until: Option<DateTime<Utc>>,
}

/// What the automation does about an open incident now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoDecision {
    /// Start the recovery now.
    Run,
    /// Not yet: a reboot waits for 15 minutes of failure. Ask again at (or after) `until`.
    Wait { until: DateTime<Utc> },
    /// Not yet: the server's own watchdog (Plesk) may restart the service; the NOC restarts it
    /// at `until` if it is still down (contract §9.3).
    WaitForWatchdog { until: DateTime<Utc> },
    /// No automatic recovery: prompt the operator, saying why.
    AskOperator(Refusal),
}

/// The automation rules of contract §4, first match wins:
/// 1. maintenance pause → ask ([`Refusal::Paused`]);
/// 2. one automatic attempt per incident → ask ([`Refusal::AlreadyTried`]);
/// 3. a restart when this service was restarted automatically [`MAX_AUTO_RESTARTS_PER_DAY`] times
///    in 24 h → ask ([`Refusal::RestartLimit`]);
/// 4. the plan at `now`: not included → ask with its reason; spot → ask ([`Refusal::SpotOnly`]);
/// 5. included: a restart runs at once; a reboot waits until `failing_since + reboot_after_secs`,
///    then runs.
///
/// The entitlement is judged at `now` only. When a reboot waits and the plan includes reboots only
/// in business hours, the engine simply asks again at `until`, and the answer then is judged at
/// that instant (it may have become spot by then).
pub fn decide_automatic(s: &Situation) -> AutoDecision {
    if s.paused {
        return AutoDecision::AskOperator(Refusal::Paused);
    }
    if s.automatic_attempts >= 1 {
        return AutoDecision::AskOperator(Refusal::AlreadyTried);
    }
    let is_restart = matches!(s.kind, RecoveryKind::RestartService(_));
    if is_restart && s.automatic_restarts_24h >= MAX_AUTO_RESTARTS_PER_DAY {
        return AutoDecision::AskOperator(Refusal::RestartLimit);
    }
    match entitlement(s.plan, &s.kind, s.now) {
        Entitlement::NotIncluded(r) => AutoDecision::AskOperator(r),
        Entitlement::Spot => AutoDecision::AskOperator(Refusal::SpotOnly),
        Entitlement::Included => match s.kind {
            RecoveryKind::RestartService(_) => match s.watchdog_until {
                Some(until) if s.now < until => AutoDecision::WaitForWatchdog { until },
                _ => AutoDecision::Run,
            },
            RecoveryKind::Reboot => {
                let until = reboot_due(s.failing_since, s.reboot_after_secs);
                if s.now < until {
                    AutoDecision::Wait { until }
                } else {
                    AutoDecision::Run
                }
            }
        },
    }
}

/// When an incident's problem began, for the reboot's clock (contract §4: 15 minutes from the
/// first failed attempt): the check's first failure of its current run, never later than the
/// incident's opening (the run may be unknown, after a restart, or have begun again since).
pub fn problem_began(first_failure: Option<DateTime<Utc>>, opened_at: DateTime<Utc>) -> DateTime<Utc> {
    first_failure.map_or(opened_at, |f| f.min(opened_at))
}

/// The automatic attempts that count against an incident's one ([`Situation::automatic_attempts`]):
/// those started for it, and, for a reboot, any automatic reboot of the server since its problem
/// began ([`problem_began`]) — one reboot answers every ping/SSH incident of a server that began
/// before it, whichever incident it was started for.
pub fn attempts_counted(kind: &RecoveryKind, for_incident: u32, reboots_since_problem: u32) -> u32 {
    match kind {
        RecoveryKind::Reboot if reboots_since_problem > 0 => for_incident.max(1),
        _ => for_incident,
    }
}

/// `failing_since + secs`, saturating at the largest representable instant (never panics).
fn reboot_due(failing_since: DateTime<Utc>, secs: u64) -> DateTime<Utc> {
    i64::try_from(secs)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .and_then(|delta| failing_since.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

// ---- charges (contract §4.6, §9.8) -------------------------------------------------------------

/// Why a charge arose, recorded with every consent (contract §9.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChargeCause {
    /// お客様による設定変更.
    CustomerChange,
    /// 急激なアクセス増加.
    TrafficSurge,
    /// サイバー攻撃.
    Attack,
    /// その他.
    Other,
}

impl ChargeCause {
    pub const ALL: [ChargeCause; 4] =
        [ChargeCause::CustomerChange, ChargeCause::TrafficSurge, ChargeCause::Attack, ChargeCause::Other];

    /// The stable id for the store, the API and the catalogue.
    pub fn id(self) -> &'static str {
        match self {
            ChargeCause::CustomerChange => "customer_change",
            ChargeCause::TrafficSurge => "traffic_surge",
            ChargeCause::Attack => "attack",
            ChargeCause::Other => "other",
        }
    }

    /// Inverse of [`ChargeCause::id`].
    pub fn from_id(s: &str) -> Option<Self> {
        ChargeCause::ALL.into_iter().find(|c| c.id() == s)
    }

    /// The contract's Japanese name.
    pub fn name_ja(self) -> &'static str {
        match self {
            ChargeCause::CustomerChange => "お客様による設定変更",
            ChargeCause::TrafficSurge => "急激なアクセス増加",
            ChargeCause::Attack => "サイバー攻撃",
            ChargeCause::Other => "その他",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            ChargeCause::CustomerChange => "the customer's own change",
            ChargeCause::TrafficSurge => "a sudden surge of traffic",
            ChargeCause::Attack => "a cyber attack",
            ChargeCause::Other => "other",
        }
    }

    /// The ids, for messages: `customer_change, traffic_surge, attack, other`.
    pub fn ids() -> String {
        ChargeCause::ALL.map(ChargeCause::id).join(", ")
    }
}

/// Up to how many yen an investigation consent may be recorded now without calling the customer
/// again (contract §4.6, §9.8): what was consented — [`INVESTIGATION_CAP_YEN`], or
/// `largest_before` (the incident's largest investigation consent) if more — unless the customer
/// answered a call that began after `latest_consent` (the incident's latest consent of any kind;
/// None: no consent yet, and any answered call counts), and then None: any amount. `answered_calls`
/// are when the incident's answered calls began.
pub fn investigation_limit_without_call(
    largest_before: Option<u32>,
    latest_consent: Option<DateTime<Utc>>,
    answered_calls: &[DateTime<Utc>],
) -> Option<u32> {
    let asked_again = answered_calls.iter().any(|call| latest_consent.is_none_or(|c| *call > c));
    (!asked_again).then(|| largest_before.unwrap_or(0).max(INVESTIGATION_CAP_YEN))
}

/// Whether an investigation consent of `amount_yen` needs the customer called again first: it
/// goes beyond [`investigation_limit_without_call`].
pub fn investigation_needs_call(
    amount_yen: u32,
    largest_before: Option<u32>,
    latest_consent: Option<DateTime<Utc>>,
    answered_calls: &[DateTime<Utc>],
) -> bool {
    investigation_limit_without_call(largest_before, latest_consent, answered_calls).is_some_and(|l| amount_yen > l)
}

// ---- the hour of primary recovery (contract §9.8, seed §3.2) ------------------------------------

/// Primary recovery work on an incident is limited to about one hour (seed §3.2): then the
/// phone escalation (contract §4.5) is prompted.
pub const PRIMARY_RECOVERY_SECS: i64 = 3600;

/// Where an open incident stands against the hour of primary recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrimaryHour {
    /// No work has started on it (no 対応開始, no operator recovery): no clock runs.
    NotStarted,
    /// The hour runs until `ends`.
    Running { ends: DateTime<Utc> },
    /// The hour ended at `at`: prompt the phone escalation.
    Escalate { at: DateTime<Utc> },
    /// The hour ended at `at`, and the plan in force includes no phone escalation (Zero,
    /// contract §9.9): the prompt says so.
    NotIncluded { at: DateTime<Utc> },
}

impl PrimaryHour {
    /// The prompt's code once the hour ended: `escalate` or `escalation_not_included`.
    pub fn code(self) -> Option<&'static str> {
        match self {
            PrimaryHour::Escalate { .. } => Some("escalate"),
            PrimaryHour::NotIncluded { .. } => Some("escalation_not_included"),
            PrimaryHour::NotStarted | PrimaryHour::Running { .. } => None,
        }
    }
}

/// The hour of primary recovery of an open incident whose work began at `began` (its first
/// 対応開始 or operator recovery), judged at `now` with `plan` in force then.
pub fn primary_hour(plan: Plan, began: Option<DateTime<Utc>>, now: DateTime<Utc>) -> PrimaryHour {
    let Some(began) = began else { return PrimaryHour::NotStarted };
    let ends = began.checked_add_signed(TimeDelta::seconds(PRIMARY_RECOVERY_SECS)).unwrap_or(DateTime::<Utc>::MAX_UTC);
    if now < ends {
        PrimaryHour::Running { ends }
    } else if plan.phone_call() {
        PrimaryHour::Escalate { at: ends }
    } else {
        PrimaryHour::NotIncluded { at: ends }
    }
}

pub use crate::check::OsFamily;

// ---- the restart allow-list ---------------------------------------------------------------------

/// The OS family of a fleet file's `os` string, case-insensitively. A Red Hat family name
/// (CentOS, RHEL, Red Hat, Scientific Linux, AlmaLinux, Rocky, Oracle Linux, Fedora, CloudLinux,
/// Amazon Linux) whose first number is 6 is [`OsFamily::RedHat6`], any other version of them is
/// [`OsFamily::RedHat`]; everything else (Debian, Ubuntu, unknown, empty) is [`OsFamily::Debian`].
pub fn os_family(os: &str) -> OsFamily {
    const RED_HAT_NAMES: [&str; 12] = [
        "centos",
        "rhel",
        "red hat",
        "redhat",
        "scientific",
        "alma",
        "rocky",
        "oracle",
        "fedora",
        "cloudlinux",
        "cloud linux",
        "amazon",
    ];
    let lower = os.to_ascii_lowercase();
    if !RED_HAT_NAMES.iter().any(|name| lower.contains(name)) {
        return OsFamily::Debian;
    }
    if major_version(&lower) == Some(6) {
        OsFamily::RedHat6
    } else {
        OsFamily::RedHat
    }
}

/// The first run of ASCII digits in `s`, as a number ("centos release 6.10 (final)" → 6).
fn major_version(s: &str) -> Option<u32> {
    let start = s.find(|c: char| c.is_ascii_digit())?;
    let digits: String = s[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The unit (systemd) or init script (SysV) of a service when the fleet file sets no override
/// (the service's row of the catalogue: [`Service::default_unit`]).
pub fn default_unit(service: Service, family: OsFamily) -> &'static str {
    service.default_unit(family)
}

/// The longest unit name accepted.
pub const MAX_UNIT_NAME_LEN: usize = 64;

/// Whether `s` may be used as a unit name, e.g. a fleet file's override
/// (`restart = { http = "nginx" }`): `^[A-Za-z0-9][A-Za-z0-9@._-]{0,63}$`. That leaves no room for
/// a space, a shell metacharacter, a path or a leading `-` (an option), so the name can be put on
/// the command line as it is.
pub fn valid_unit_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    bytes.len() <= MAX_UNIT_NAME_LEN
        && first.is_ascii_alphanumeric()
        && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'_' | b'-'))
}

/// The exact command sent over SSH to restart `unit`: `service {unit} restart` on
/// [`OsFamily::RedHat6`], `systemctl restart {unit}` otherwise. No `sudo` (see the module header).
/// Callers pass a unit that [`valid_unit_name`] accepts (checked in debug builds); never panics in
/// release builds.
pub fn restart_command(unit: &str, family: OsFamily) -> String {
    debug_assert!(valid_unit_name(unit), "invalid unit name {unit:?}");
    match family {
        OsFamily::RedHat6 => format!("service {unit} restart"),
        OsFamily::RedHat | OsFamily::Debian => format!("systemctl restart {unit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Asia::Tokyo;
    use std::collections::HashSet;

    fn jst(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Tokyo.with_ymd_and_hms(y, m, d, h, min, 0).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_reboot_clock_starts_at_the_first_failure_never_after_the_opening() {
        let opened = jst(2026, 11, 25, 10, 0);
        let before = opened - TimeDelta::minutes(2);
        assert_eq!(problem_began(Some(before), opened), before);
        assert_eq!(problem_began(None, opened), opened, "unknown run (after a restart): the opening");
        assert_eq!(problem_began(Some(opened + TimeDelta::minutes(5)), opened), opened, "a later run");
    }

    #[test]
    fn one_reboot_answers_every_ping_and_ssh_incident_that_began_before_it() {
        let http = RecoveryKind::RestartService(Service::Http);
        // A reboot started for the ping incident also counts for the SSH incident.
        assert_eq!(attempts_counted(&RecoveryKind::Reboot, 0, 1), 1);
        assert_eq!(attempts_counted(&RecoveryKind::Reboot, 0, 0), 0);
        assert_eq!(attempts_counted(&RecoveryKind::Reboot, 2, 1), 2);
        // Restarts count per incident only (their 24-hour limit is a rule of its own).
        assert_eq!(attempts_counted(&http, 0, 5), 0);
        assert_eq!(attempts_counted(&http, 1, 0), 1);
        // And the decision follows: the counted reboot means no second one.
        let now = jst(2026, 11, 25, 10, 30);
        let s = Situation {
            plan: Plan::P150,
            kind: RecoveryKind::Reboot,
            now,
            failing_since: now - TimeDelta::minutes(20),
            reboot_after_secs: REBOOT_AFTER_SECS,
            automatic_attempts: attempts_counted(&RecoveryKind::Reboot, 0, 1),
            automatic_restarts_24h: 0,
            paused: false,
            watchdog_until: None,
        };
        assert_eq!(decide_automatic(&s), AutoDecision::AskOperator(Refusal::AlreadyTried));
    }

    /// The four time slots of the issue.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    enum Slot {
        /// Wed 2026-11-25 10:00 JST.
        WeekdayHours,
        /// Wed 2026-11-25 20:00 JST.
        WeekdayEvening,
        /// Sat 2026-11-28 10:00 JST.
        Weekend,
        /// Mon 2026-11-23 10:00 JST, 勤労感謝の日.
        Holiday,
    }

    impl Slot {
        fn at(self) -> DateTime<Utc> {
            match self {
                Slot::WeekdayHours => jst(2026, 11, 25, 10, 0),
                Slot::WeekdayEvening => jst(2026, 11, 25, 20, 0),
                Slot::Weekend => jst(2026, 11, 28, 10, 0),
                Slot::Holiday => jst(2026, 11, 23, 10, 0),
            }
        }
    }

    /// What went down, and for how long.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    enum Event {
        /// HTTP went hard down: restart it.
        ServiceDown,
        /// Ping has failed for 14 minutes.
        PingDown14m,
        /// Ping has failed for 15 minutes.
        PingDown15m,
    }

    /// The expected decision, short enough for a table row.
    #[derive(Debug, Clone, Copy)]
    enum Want {
        Run,
        /// Wait until failing_since + 15 min, i.e. one minute from now.
        WaitOneMinute,
        Ask(Refusal),
    }

    /// A fresh incident (no attempt yet, no earlier restarts, not paused).
    fn situation(plan: Plan, slot: Slot, event: Event) -> Situation {
        let now = slot.at();
        let (kind, failing_for) = match event {
            Event::ServiceDown => (RecoveryKind::RestartService(Service::Http), 0),
            Event::PingDown14m => (RecoveryKind::Reboot, 14),
            Event::PingDown15m => (RecoveryKind::Reboot, 15),
        };
        Situation {
            plan,
            kind,
            now,
            failing_since: now - TimeDelta::minutes(failing_for),
            reboot_after_secs: REBOOT_AFTER_SECS,
            automatic_attempts: 0,
            automatic_restarts_24h: 0,
            paused: false,
            watchdog_until: None,
        }
    }

    /// Every plan × time slot × event, one row each, to check against contract §1:
    /// - Zero: no service recovery, no server recovery.
    /// - 30: no service recovery; server recovery only as spot.
    /// - 60: both in weekdays 9–18; outside, reboot is spot and restart is not included.
    /// - 150, 200: both 24/365.
    #[test]
    fn automatic_decision_table() {
        use Event::*;
        use Plan::*;
        use Refusal::*;
        use Slot::*;
        use Want::*;
        #[rustfmt::skip]
        let table: [(Plan, Slot, Event, Want); 60] = [
            (Zero, WeekdayHours,   ServiceDown, Ask(NotInPlan)),
            (Zero, WeekdayHours,   PingDown14m, Ask(NotInPlan)),
            (Zero, WeekdayHours,   PingDown15m, Ask(NotInPlan)),
            (Zero, WeekdayEvening, ServiceDown, Ask(NotInPlan)),
            (Zero, WeekdayEvening, PingDown14m, Ask(NotInPlan)),
            (Zero, WeekdayEvening, PingDown15m, Ask(NotInPlan)),
            (Zero, Weekend,        ServiceDown, Ask(NotInPlan)),
            (Zero, Weekend,        PingDown14m, Ask(NotInPlan)),
            (Zero, Weekend,        PingDown15m, Ask(NotInPlan)),
            (Zero, Holiday,        ServiceDown, Ask(NotInPlan)),
            (Zero, Holiday,        PingDown14m, Ask(NotInPlan)),
            (Zero, Holiday,        PingDown15m, Ask(NotInPlan)),

            (P30,  WeekdayHours,   ServiceDown, Ask(NotInPlan)),
            (P30,  WeekdayHours,   PingDown14m, Ask(SpotOnly)),
            (P30,  WeekdayHours,   PingDown15m, Ask(SpotOnly)),
            (P30,  WeekdayEvening, ServiceDown, Ask(NotInPlan)),
            (P30,  WeekdayEvening, PingDown14m, Ask(SpotOnly)),
            (P30,  WeekdayEvening, PingDown15m, Ask(SpotOnly)),
            (P30,  Weekend,        ServiceDown, Ask(NotInPlan)),
            (P30,  Weekend,        PingDown14m, Ask(SpotOnly)),
            (P30,  Weekend,        PingDown15m, Ask(SpotOnly)),
            (P30,  Holiday,        ServiceDown, Ask(NotInPlan)),
            (P30,  Holiday,        PingDown14m, Ask(SpotOnly)),
            (P30,  Holiday,        PingDown15m, Ask(SpotOnly)),

            (P60,  WeekdayHours,   ServiceDown, Run),
            (P60,  WeekdayHours,   PingDown14m, WaitOneMinute),
            (P60,  WeekdayHours,   PingDown15m, Run),
            (P60,  WeekdayEvening, ServiceDown, Ask(OutsideHours)),
            (P60,  WeekdayEvening, PingDown14m, Ask(SpotOnly)),
            (P60,  WeekdayEvening, PingDown15m, Ask(SpotOnly)),
            (P60,  Weekend,        ServiceDown, Ask(OutsideHours)),
            (P60,  Weekend,        PingDown14m, Ask(SpotOnly)),
            (P60,  Weekend,        PingDown15m, Ask(SpotOnly)),
            (P60,  Holiday,        ServiceDown, Ask(OutsideHours)),
            (P60,  Holiday,        PingDown14m, Ask(SpotOnly)),
            (P60,  Holiday,        PingDown15m, Ask(SpotOnly)),

            (P150, WeekdayHours,   ServiceDown, Run),
            (P150, WeekdayHours,   PingDown14m, WaitOneMinute),
            (P150, WeekdayHours,   PingDown15m, Run),
            (P150, WeekdayEvening, ServiceDown, Run),
            (P150, WeekdayEvening, PingDown14m, WaitOneMinute),
            (P150, WeekdayEvening, PingDown15m, Run),
            (P150, Weekend,        ServiceDown, Run),
            (P150, Weekend,        PingDown14m, WaitOneMinute),
            (P150, Weekend,        PingDown15m, Run),
            (P150, Holiday,        ServiceDown, Run),
            (P150, Holiday,        PingDown14m, WaitOneMinute),
            (P150, Holiday,        PingDown15m, Run),

            (P200, WeekdayHours,   ServiceDown, Run),
            (P200, WeekdayHours,   PingDown14m, WaitOneMinute),
            (P200, WeekdayHours,   PingDown15m, Run),
            (P200, WeekdayEvening, ServiceDown, Run),
            (P200, WeekdayEvening, PingDown14m, WaitOneMinute),
            (P200, WeekdayEvening, PingDown15m, Run),
            (P200, Weekend,        ServiceDown, Run),
            (P200, Weekend,        PingDown14m, WaitOneMinute),
            (P200, Weekend,        PingDown15m, Run),
            (P200, Holiday,        ServiceDown, Run),
            (P200, Holiday,        PingDown14m, WaitOneMinute),
            (P200, Holiday,        PingDown15m, Run),
        ];

        let combos: HashSet<(Plan, Slot, Event)> = table.iter().map(|&(p, s, e, _)| (p, s, e)).collect();
        assert_eq!(combos.len(), 60, "every plan × slot × event exactly once");

        for (plan, slot, event, want) in table {
            let s = situation(plan, slot, event);
            let want = match want {
                Run => AutoDecision::Run,
                WaitOneMinute => AutoDecision::Wait { until: s.now + TimeDelta::minutes(1) },
                Ask(r) => AutoDecision::AskOperator(r),
            };
            assert_eq!(decide_automatic(&s), want, "plan {plan}, {slot:?}, {event:?}");
        }
    }

    /// contract §9.7: the 15-minute promise holds when the reboot, due 15 minutes after
    /// detection, is included at that moment by the plan then in force.
    #[test]
    fn the_15_minute_promise_is_judged_when_the_reboot_is_due() {
        // Monday 2026-11-30 (a weekday); 2026-11-23 is 勤労感謝の日 (a holiday, a Monday).
        #[rustfmt::skip]
        let table = [
            // plan, detected at (JST),           promised
            (Plan::P200, jst(2026, 11, 28, 3, 0),  true),
            (Plan::P150, jst(2026, 11, 23, 10, 0), true),
            (Plan::P60,  jst(2026, 11, 30, 10, 0), true),
            (Plan::P60,  jst(2026, 11, 30, 8, 44), false), // due 08:59: before hours
            (Plan::P60,  jst(2026, 11, 30, 8, 45), true),  // due 09:00
            (Plan::P60,  jst(2026, 11, 30, 17, 44), true), // due 17:59
            (Plan::P60,  jst(2026, 11, 30, 17, 45), false), // due 18:00
            (Plan::P60,  jst(2026, 11, 23, 10, 0), false), // a holiday
            (Plan::P30,  jst(2026, 11, 30, 10, 0), false), // spot only: never promised
            (Plan::Zero, jst(2026, 11, 30, 10, 0), false),
        ];
        for (plan, detected, want) in table {
            assert_eq!(reboot_promised(|_| plan, detected, REBOOT_AFTER_SECS), want, "{plan} detected {detected}");
        }
        // The plan in force at the due moment decides: 30 until 10:10 JST, 150 from then.
        let changed = |t: DateTime<Utc>| if t < jst(2026, 11, 30, 10, 10) { Plan::P30 } else { Plan::P150 };
        assert!(reboot_promised(changed, jst(2026, 11, 30, 10, 0), REBOOT_AFTER_SECS));
        assert!(!reboot_promised(changed, jst(2026, 11, 30, 9, 0), REBOOT_AFTER_SECS));
    }

    /// contract §9.3: on a Plesk server a service restart waits one interval for Plesk's own
    /// watchdog; a reboot does not wait for it.
    #[test]
    fn a_plesk_service_waits_one_interval_for_its_watchdog() {
        let mut s = situation(Plan::P150, Slot::WeekdayHours, Event::ServiceDown);
        let until = s.now + TimeDelta::seconds(60);
        s.watchdog_until = Some(until);
        assert_eq!(decide_automatic(&s), AutoDecision::WaitForWatchdog { until });
        s.now = until;
        assert_eq!(decide_automatic(&s), AutoDecision::Run);
        let mut reboot = situation(Plan::P150, Slot::WeekdayHours, Event::PingDown15m);
        reboot.watchdog_until = Some(reboot.now + TimeDelta::seconds(60));
        assert_eq!(decide_automatic(&reboot), AutoDecision::Run);
    }

    /// What the operator's console shows for a manual request, per plan × slot.
    #[test]
    fn entitlement_table() {
        use Entitlement::*;
        use Plan::*;
        use Refusal::*;
        use Slot::*;
        let restart = RecoveryKind::RestartService(Service::Mysql);
        let reboot = RecoveryKind::Reboot;
        #[rustfmt::skip]
        let table: [(Plan, Slot, Entitlement, Entitlement); 20] = [
            // plan, slot,           restart a service,          reboot
            (Zero, WeekdayHours,   NotIncluded(NotInPlan),    NotIncluded(NotInPlan)),
            (Zero, WeekdayEvening, NotIncluded(NotInPlan),    NotIncluded(NotInPlan)),
            (Zero, Weekend,        NotIncluded(NotInPlan),    NotIncluded(NotInPlan)),
            (Zero, Holiday,        NotIncluded(NotInPlan),    NotIncluded(NotInPlan)),
            (P30,  WeekdayHours,   NotIncluded(NotInPlan),    Spot),
            (P30,  WeekdayEvening, NotIncluded(NotInPlan),    Spot),
            (P30,  Weekend,        NotIncluded(NotInPlan),    Spot),
            (P30,  Holiday,        NotIncluded(NotInPlan),    Spot),
            (P60,  WeekdayHours,   Included,                  Included),
            (P60,  WeekdayEvening, NotIncluded(OutsideHours), Spot),
            (P60,  Weekend,        NotIncluded(OutsideHours), Spot),
            (P60,  Holiday,        NotIncluded(OutsideHours), Spot),
            (P150, WeekdayHours,   Included,                  Included),
            (P150, WeekdayEvening, Included,                  Included),
            (P150, Weekend,        Included,                  Included),
            (P150, Holiday,        Included,                  Included),
            (P200, WeekdayHours,   Included,                  Included),
            (P200, WeekdayEvening, Included,                  Included),
            (P200, Weekend,        Included,                  Included),
            (P200, Holiday,        Included,                  Included),
        ];
        for (plan, slot, want_restart, want_reboot) in table {
            assert_eq!(entitlement(plan, &restart, slot.at()), want_restart, "restart, plan {plan}, {slot:?}");
            assert_eq!(entitlement(plan, &reboot, slot.at()), want_reboot, "reboot, plan {plan}, {slot:?}");
        }
    }

    #[test]
    fn business_hours_edges_for_plan_60() {
        let restart = RecoveryKind::RestartService(Service::Http);
        let cases = [
            (jst(2026, 11, 25, 8, 59), false),
            (jst(2026, 11, 25, 9, 0), true),
            (jst(2026, 11, 25, 17, 59), true),
            (jst(2026, 11, 25, 18, 0), false),
        ];
        for (now, included) in cases {
            let got = entitlement(Plan::P60, &restart, now);
            assert_eq!(got == Entitlement::Included, included, "{}", now.with_timezone(&Tokyo));
        }
    }

    #[test]
    fn one_automatic_attempt_per_incident() {
        for (kind, event) in [("restart", Event::ServiceDown), ("reboot", Event::PingDown15m)] {
            let mut s = situation(Plan::P200, Slot::WeekdayHours, event);
            assert_eq!(decide_automatic(&s), AutoDecision::Run, "{kind}");
            s.automatic_attempts = 1;
            assert_eq!(decide_automatic(&s), AutoDecision::AskOperator(Refusal::AlreadyTried), "{kind}");
            s.automatic_attempts = 2;
            assert_eq!(decide_automatic(&s), AutoDecision::AskOperator(Refusal::AlreadyTried), "{kind}");
        }
    }

    #[test]
    fn at_most_three_automatic_restarts_in_24h() {
        let mut s = situation(Plan::P200, Slot::WeekdayEvening, Event::ServiceDown);
        for (restarts_24h, want) in [
            (0, AutoDecision::Run),
            (2, AutoDecision::Run),
            (3, AutoDecision::AskOperator(Refusal::RestartLimit)),
            (7, AutoDecision::AskOperator(Refusal::RestartLimit)),
        ] {
            s.automatic_restarts_24h = restarts_24h;
            assert_eq!(decide_automatic(&s), want, "{restarts_24h} restarts in 24 h");
        }
        // The limit is about restarts: it does not hold back a reboot.
        let mut reboot = situation(Plan::P200, Slot::WeekdayEvening, Event::PingDown15m);
        reboot.automatic_restarts_24h = 3;
        assert_eq!(decide_automatic(&reboot), AutoDecision::Run);
    }

    #[test]
    fn rules_apply_in_order() {
        // Paused beats everything, including a spent attempt and the restart limit.
        let mut s = situation(Plan::Zero, Slot::WeekdayHours, Event::ServiceDown);
        s.paused = true;
        s.automatic_attempts = 1;
        s.automatic_restarts_24h = 3;
        assert_eq!(decide_automatic(&s), AutoDecision::AskOperator(Refusal::Paused));
        s.paused = false;
        assert_eq!(decide_automatic(&s), AutoDecision::AskOperator(Refusal::AlreadyTried));
        s.automatic_attempts = 0;
        assert_eq!(decide_automatic(&s), AutoDecision::AskOperator(Refusal::RestartLimit));
        s.automatic_restarts_24h = 0;
        assert_eq!(decide_automatic(&s), AutoDecision::AskOperator(Refusal::NotInPlan));

        // A paused server on a 24/365 plan waits for people, not for the pause to end.
        for event in [Event::ServiceDown, Event::PingDown14m, Event::PingDown15m] {
            let mut s = situation(Plan::P150, Slot::WeekdayHours, event);
            s.paused = true;
            assert_eq!(decide_automatic(&s), AutoDecision::AskOperator(Refusal::Paused), "{event:?}");
        }
    }

    #[test]
    fn reboot_delay_counts_from_first_failure() {
        let now = Slot::Weekend.at();
        let mut s = situation(Plan::P200, Slot::Weekend, Event::PingDown14m);
        // Exactly 15:00 after the first failure: due.
        s.failing_since = now - TimeDelta::seconds(900);
        assert_eq!(decide_automatic(&s), AutoDecision::Run);
        // One second short.
        s.failing_since = now - TimeDelta::seconds(899);
        assert_eq!(decide_automatic(&s), AutoDecision::Wait { until: now + TimeDelta::seconds(1) });
        // A fleet file may change the delay.
        s.reboot_after_secs = 1800;
        s.failing_since = now - TimeDelta::minutes(20);
        assert_eq!(decide_automatic(&s), AutoDecision::Wait { until: now + TimeDelta::minutes(10) });
        s.reboot_after_secs = 0;
        assert_eq!(decide_automatic(&s), AutoDecision::Run);
        // An absurd delay saturates instead of panicking.
        s.reboot_after_secs = u64::MAX;
        assert_eq!(decide_automatic(&s), AutoDecision::Wait { until: DateTime::<Utc>::MAX_UTC });
        // A restart never waits, whatever failing_since says.
        let mut r = situation(Plan::P200, Slot::Weekend, Event::ServiceDown);
        r.failing_since = now;
        assert_eq!(decide_automatic(&r), AutoDecision::Run);
    }

    #[test]
    fn recovery_kind_ids_round_trip() {
        assert_eq!(RecoveryKind::Reboot.id(), "reboot");
        assert_eq!(RecoveryKind::RestartService(Service::Http).id(), "restart:http");
        assert_eq!(RecoveryKind::RestartService(Service::Plesk).id(), "restart:plesk");
        let mut seen = HashSet::new();
        let all = Service::ALL.into_iter().map(RecoveryKind::RestartService).chain([RecoveryKind::Reboot]);
        for kind in all {
            assert_eq!(RecoveryKind::from_id(&kind.id()), Some(kind.clone()), "{kind}");
            assert!(seen.insert(kind.id()));
        }
        for bad in ["", "restart", "restart:", "restart:HTTP", "restart:ssh", "reboot:", "Reboot", "http"] {
            assert_eq!(RecoveryKind::from_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn recovery_for_each_check_kind() {
        assert_eq!(RecoveryKind::for_check(&CheckKind::Ping), Some(RecoveryKind::Reboot));
        assert_eq!(RecoveryKind::for_check(&CheckKind::Ssh), Some(RecoveryKind::Reboot));
        for s in Service::ALL {
            assert_eq!(RecoveryKind::for_check(&CheckKind::Service(s)), Some(RecoveryKind::RestartService(s)));
        }
        assert_eq!(RecoveryKind::for_check(&CheckKind::Custom("app".into())), None);
    }

    #[test]
    fn refusal_codes_are_stable_and_distinct() {
        let codes: Vec<&str> = Refusal::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes, ["not_included", "outside_hours", "spot_only", "already_tried", "restart_limit", "paused"]);
        for r in Refusal::ALL {
            assert!(!r.message().is_empty() && r.message().is_ascii(), "{r}");
        }
    }

    #[test]
    fn os_family_samples() {
        use OsFamily::*;
        let cases = [
            ("CentOS 6.10", RedHat6),
            ("CentOS release 6", RedHat6),
            ("CentOS release 6.10 (Final)", RedHat6),
            ("centos 6", RedHat6),
            ("RHEL 6", RedHat6),
            ("Red Hat Enterprise Linux 6", RedHat6),
            ("Red Hat Enterprise Linux Server release 6.10 (Santiago)", RedHat6),
            ("Scientific Linux 6", RedHat6),
            ("CentOS 7", RedHat),
            ("CentOS Linux 7.9.2009", RedHat),
            ("CentOS Stream 9", RedHat),
            ("RHEL 8", RedHat),
            ("Red Hat Enterprise Linux 9.4", RedHat),
            ("AlmaLinux 9", RedHat),
            ("AlmaLinux 8.10", RedHat),
            ("Rocky Linux 9.3", RedHat),
            ("Oracle Linux 8", RedHat),
            ("Fedora 40", RedHat),
            ("CloudLinux 8", RedHat),
            ("CentOS", RedHat),
            ("CentOS 16", RedHat),
            ("Debian 12", Debian),
            ("Debian GNU/Linux 11 (bullseye)", Debian),
            ("Ubuntu 22.04 LTS", Debian),
            ("ubuntu 16.04", Debian),
            ("FreeBSD 6", Debian),
            ("", Debian),
            ("unknown", Debian),
        ];
        for (os, want) in cases {
            assert_eq!(os_family(os), want, "{os:?}");
        }
    }

    #[test]
    fn default_units() {
        use OsFamily::*;
        #[rustfmt::skip]
        let table: [(Service, &str, &str, &str); 14] = [
            // service,          RedHat6,        RedHat,         Debian
            (Service::Http,       "httpd",        "httpd",        "apache2"),
            (Service::Https,      "httpd",        "httpd",        "apache2"),
            (Service::Dns,        "named",        "named",        "named"),
            (Service::Pop,        "dovecot",      "dovecot",      "dovecot"),
            (Service::Pops,       "dovecot",      "dovecot",      "dovecot"),
            (Service::Imap,       "dovecot",      "dovecot",      "dovecot"),
            (Service::Imaps,      "dovecot",      "dovecot",      "dovecot"),
            (Service::Smtp,       "postfix",      "postfix",      "postfix"),
            (Service::Smtps,      "postfix",      "postfix",      "postfix"),
            (Service::Submission, "postfix",      "postfix",      "postfix"),
            (Service::Mysql,      "mysqld",       "mariadb",      "mariadb"),
            (Service::Postgresql, "postgresql",   "postgresql",   "postgresql"),
            (Service::Plesk,      "sw-cp-server", "sw-cp-server", "sw-cp-server"),
            (Service::Ftp,        "vsftpd",       "vsftpd",       "vsftpd"),
        ];
        for (service, rh6, rh, deb) in table {
            assert_eq!(default_unit(service, RedHat6), rh6, "{service}");
            assert_eq!(default_unit(service, RedHat), rh, "{service}");
            assert_eq!(default_unit(service, Debian), deb, "{service}");
            for family in [RedHat6, RedHat, Debian] {
                assert!(valid_unit_name(default_unit(service, family)));
            }
        }
    }

    #[test]
    fn restart_commands() {
        let cases = [
            ("CentOS 6.10", Service::Http, "service httpd restart"),
            ("CentOS 6.10", Service::Mysql, "service mysqld restart"),
            ("AlmaLinux 9", Service::Http, "systemctl restart httpd"),
            ("AlmaLinux 9", Service::Mysql, "systemctl restart mariadb"),
            ("Debian 12", Service::Http, "systemctl restart apache2"),
            ("Debian 12", Service::Imaps, "systemctl restart dovecot"),
        ];
        for (os, service, want) in cases {
            let family = os_family(os);
            assert_eq!(restart_command(default_unit(service, family), family), want, "{os} {service}");
        }
        // An override from the fleet file.
        assert_eq!(restart_command("nginx", os_family("AlmaLinux 9")), "systemctl restart nginx");
        assert_eq!(restart_command("php-fpm@8.2", OsFamily::Debian), "systemctl restart php-fpm@8.2");
    }

    #[test]
    fn unit_names_allow_list() {
        let max = "a".repeat(64);
        for ok in ["nginx", "httpd", "php8.2-fpm", "sw-cp-server", "getty@tty1", "x", "A_b.c-d@e", max.as_str()] {
            assert!(valid_unit_name(ok), "{ok:?} should be accepted");
        }
        let too_long = "a".repeat(65);
        for bad in [
            "nginx; rm -rf /",
            "",
            "a b",
            "$(x)",
            too_long.as_str(),
            "-h",
            ".hidden",
            "@x",
            "nginx\n",
            "../etc/passwd",
            "a/b",
            "`id`",
            "a|b",
            "a&b",
            "nginx'",
            "ｎｇｉｎｘ",
        ] {
            assert!(!valid_unit_name(bad), "{bad:?} should be rejected");
        }
    }

    /// contract §4.6, §9.8: beyond what was consented, the customer must have answered a call
    /// that began after the latest consent.
    #[test]
    fn a_larger_investigation_needs_a_call_after_the_latest_consent() {
        let t = |m: u32| jst(2026, 11, 25, 10, m);
        /// amount, largest before, latest consent, answered calls, needs a call
        type Row<'a> = (u32, Option<u32>, Option<DateTime<Utc>>, &'a [DateTime<Utc>], bool);
        #[rustfmt::skip]
        let table: [Row<'_>; 14] = [
            // amount, largest before, latest consent, answered calls, needs a call
            (50_000,  None,         None,        &[],           false), // within the quote
            (1,       None,         None,        &[],           false),
            (50_001,  None,         None,        &[],           true),  // beyond it, nobody called
            (50_001,  None,         None,        &[t(5)],       false), // no consent yet: any answered call
            (80_000,  Some(50_000), Some(t(10)), &[],           true),
            (80_000,  Some(50_000), Some(t(10)), &[t(5)],       true),  // the call was before the consent
            (80_000,  Some(50_000), Some(t(10)), &[t(10)],      true),  // not after it
            (80_000,  Some(50_000), Some(t(10)), &[t(5), t(11)], false),
            (80_000,  Some(80_000), Some(t(10)), &[],           false), // the same amount again
            (70_000,  Some(80_000), Some(t(10)), &[],           false), // less than consented
            (90_000,  Some(80_000), Some(t(10)), &[],           true),  // above the largest consent
            (90_000,  Some(80_000), Some(t(20)), &[t(15)],      true),  // a later consent (e.g. a spot one) came after the call
            (90_000,  Some(80_000), Some(t(20)), &[t(21)],      false),
            (20_000,  Some(10_000), Some(t(10)), &[],           false), // under the cap: no call needed
        ];
        for (amount, largest, latest, calls, want) in table {
            assert_eq!(
                investigation_needs_call(amount, largest, latest, calls),
                want,
                "{amount} yen, largest {largest:?}, latest {latest:?}, calls {calls:?}"
            );
        }
        // The limit consoles show: what was consented, or none once the customer was asked again.
        assert_eq!(investigation_limit_without_call(None, None, &[]), Some(50_000));
        assert_eq!(investigation_limit_without_call(Some(80_000), Some(t(10)), &[t(5)]), Some(80_000));
        assert_eq!(investigation_limit_without_call(Some(30_000), Some(t(10)), &[]), Some(50_000));
        assert_eq!(investigation_limit_without_call(Some(80_000), Some(t(10)), &[t(11)]), None);
    }

    #[test]
    fn charge_causes_are_the_contracts_four() {
        let ids: Vec<&str> = ChargeCause::ALL.iter().map(|c| c.id()).collect();
        assert_eq!(ids, ["customer_change", "traffic_surge", "attack", "other"]);
        let ja: Vec<&str> = ChargeCause::ALL.iter().map(|c| c.name_ja()).collect();
        assert_eq!(ja, ["お客様による設定変更", "急激なアクセス増加", "サイバー攻撃", "その他"]);
        for c in ChargeCause::ALL {
            assert_eq!(ChargeCause::from_id(c.id()), Some(c));
            assert!(c.name_en().is_ascii() && !c.name_en().is_empty());
        }
        for bad in ["", "Other", "attack ", "customer"] {
            assert_eq!(ChargeCause::from_id(bad), None, "{bad:?}");
        }
        assert_eq!(ChargeCause::ids(), "customer_change, traffic_surge, attack, other");
    }

    /// contract §9.8: an hour after the work began, the phone escalation is prompted (on Zero,
    /// that it is not included).
    #[test]
    fn the_hour_of_primary_recovery() {
        let began = jst(2026, 11, 25, 10, 0);
        let ends = jst(2026, 11, 25, 11, 0);
        #[rustfmt::skip]
        let table = [
            // plan,       began,        now,                           want
            (Plan::P150, None,          jst(2026, 11, 25, 23, 0),       PrimaryHour::NotStarted),
            (Plan::P150, Some(began),   began,                          PrimaryHour::Running { ends }),
            (Plan::P150, Some(began),   ends - TimeDelta::seconds(1),   PrimaryHour::Running { ends }),
            (Plan::P150, Some(began),   ends,                           PrimaryHour::Escalate { at: ends }),
            (Plan::P150, Some(began),   jst(2026, 11, 26, 3, 0),        PrimaryHour::Escalate { at: ends }),
            (Plan::P30,  Some(began),   ends,                           PrimaryHour::Escalate { at: ends }),
            (Plan::P60,  Some(began),   ends,                           PrimaryHour::Escalate { at: ends }),
            (Plan::P200, Some(began),   ends,                           PrimaryHour::Escalate { at: ends }),
            (Plan::Zero, Some(began),   ends - TimeDelta::seconds(1),   PrimaryHour::Running { ends }),
            (Plan::Zero, Some(began),   ends,                           PrimaryHour::NotIncluded { at: ends }),
            (Plan::Zero, None,          ends,                           PrimaryHour::NotStarted),
        ];
        for (plan, began, now, want) in table {
            assert_eq!(primary_hour(plan, began, now), want, "plan {plan}, began {began:?}, now {now}");
        }
        assert_eq!(PrimaryHour::Escalate { at: ends }.code(), Some("escalate"));
        assert_eq!(PrimaryHour::NotIncluded { at: ends }.code(), Some("escalation_not_included"));
        assert_eq!(PrimaryHour::Running { ends }.code(), None);
        // A start at the end of time saturates instead of panicking.
        assert_eq!(
            primary_hour(Plan::P150, Some(DateTime::<Utc>::MAX_UTC), began),
            PrimaryHour::Running { ends: DateTime::<Utc>::MAX_UTC }
        );
    }

    #[test]
    fn amounts() {
        assert_eq!(REBOOT_AFTER_SECS, 15 * 60);
        assert_eq!(MAX_AUTO_RESTARTS_PER_DAY, 3);
        assert_eq!(SPOT_MIN_YEN, 20_000);
        assert_eq!(INVESTIGATION_CAP_YEN, 50_000);
        assert_eq!(PRIMARY_RECOVERY_SECS, 3600);
    }
}
