//! A customer's contract over time (contract §9.1, §9.2): its term and renewals, the plan in force
//! at any moment, and whether the customer holds root.
//!
//! Owns: the one answer to "which plan was in force at time T" ([`PlanTimeline::plan_at`]) that
//! automation, mails, the report, backups and updates use; renewal dates; the root default.
//! Must not know: clocks (times are parameters), the fleet file's syntax (`fleet` builds these).

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use chrono_tz::Asia::Tokyo;

use crate::plan::Plan;

/// The terms a contract may run for, in months.
pub const TERMS: [u32; 2] = [6, 12];

/// A contract's term: from `start` for `months`, renewed automatically for the same term until
/// the customer cancels (`end`: watching stops that day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contract {
    pub start: NaiveDate,
    /// 6 or 12 ([`TERMS`]).
    pub months: u32,
    /// The day the contract ends (the customer cancelled); watching stops that day (Japan time).
    pub end: Option<NaiveDate>,
}

impl Contract {
    /// The first renewal after `day` (a term ends and the next begins that day), or None when
    /// the contract has ended by then.
    pub fn next_renewal(&self, day: NaiveDate) -> Option<NaiveDate> {
        let mut k: u32 = 1;
        loop {
            let renewal = self.start.checked_add_months(Months::new(self.months.checked_mul(k)?))?;
            if renewal > day {
                return match self.end {
                    Some(end) if renewal >= end => None,
                    _ => Some(renewal),
                };
            }
            k = k.checked_add(1)?;
        }
    }

    /// Whether the contract covers the Japan day of `t`: from its start, before its end.
    pub fn in_force(&self, t: DateTime<Utc>) -> bool {
        let day = jst_day(t);
        day >= self.start && self.end.is_none_or(|end| day < end)
    }
}

/// One plan change: `plan` from the Japan day `from` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanChange {
    pub plan: Plan,
    pub from: NaiveDate,
}

/// A customer's plans over time: the current plan and the dated changes that led to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanTimeline<'a> {
    pub current: Plan,
    /// In date order; the last one is `current` (the fleet file's validation sees to it).
    pub history: &'a [PlanChange],
}

impl PlanTimeline<'_> {
    /// The plan in force at `t` (its Japan day): the latest change from that day or earlier;
    /// before the first change, the first change's plan (the history starts with the plan the
    /// contract began with); without a history, the current plan.
    pub fn plan_at(&self, t: DateTime<Utc>) -> Plan {
        let day = jst_day(t);
        self.history.iter().rev().find(|c| c.from <= day).or(self.history.first()).map_or(self.current, |c| c.plan)
    }
}

/// Whether a customer on `plan` holds root unless the fleet file says otherwise (contract §9.2:
/// Zero and 200 hold root; 30, 60 and 150 have limited root).
pub fn holds_root_by_default(plan: Plan) -> bool {
    matches!(plan, Plan::Zero | Plan::P200)
}

/// The day of `t` in Japan.
pub fn jst_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&Tokyo).date_naive()
}

/// `YYYY-MM-DD` as a date; None for anything else (the fleet file's message says the form).
pub fn parse_day(s: &str) -> Option<NaiveDate> {
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    // chrono accepts `2026-1-5`; the file's form is zero-padded.
    (s.len() == 10 && d.year() >= 2000).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        parse_day(s).unwrap()
    }

    /// 00:00 JST of a day.
    fn jst_midnight(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("{s}T00:00:00+09:00")).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn renewals_follow_the_term_until_the_end() {
        let c = Contract { start: day("2026-01-31"), months: 6, end: None };
        assert_eq!(c.next_renewal(day("2026-03-01")), Some(day("2026-07-31")));
        assert_eq!(c.next_renewal(day("2026-07-31")), Some(day("2027-01-31")));
        let twelve = Contract { start: day("2024-02-29"), months: 12, end: None };
        // A start on the 29th of February renews on the 28th in other years.
        assert_eq!(twelve.next_renewal(day("2026-12-02")), Some(day("2027-02-28")));
        let ending = Contract { start: day("2026-01-01"), months: 6, end: Some(day("2026-12-31")) };
        assert_eq!(ending.next_renewal(day("2026-06-30")), Some(day("2026-07-01")));
        assert_eq!(ending.next_renewal(day("2026-07-01")), None, "no renewal on or after the end");
    }

    #[test]
    fn a_contract_is_in_force_from_its_start_to_the_day_before_its_end_in_japan() {
        let c = Contract { start: day("2026-04-01"), months: 12, end: Some(day("2026-10-01")) };
        assert!(!c.in_force(jst_midnight("2026-04-01") - chrono::Duration::seconds(1)));
        assert!(c.in_force(jst_midnight("2026-04-01")));
        assert!(c.in_force(jst_midnight("2026-10-01") - chrono::Duration::seconds(1)));
        assert!(!c.in_force(jst_midnight("2026-10-01")));
    }

    #[test]
    fn the_plan_in_force_is_the_latest_change_by_the_japan_day() {
        let history = [
            PlanChange { plan: Plan::P60, from: day("2026-01-01") },
            PlanChange { plan: Plan::P150, from: day("2026-11-01") },
        ];
        let t = PlanTimeline { current: Plan::P150, history: &history };
        assert_eq!(t.plan_at(jst_midnight("2026-10-31")), Plan::P60);
        // 2026-10-31 15:00 UTC is already 11-01 in Japan.
        assert_eq!(t.plan_at(jst_midnight("2026-11-01")), Plan::P150);
        assert_eq!(t.plan_at(jst_midnight("2025-06-01")), Plan::P60, "before the history: its first plan");
        assert_eq!(PlanTimeline { current: Plan::P30, history: &[] }.plan_at(jst_midnight("2026-01-01")), Plan::P30);
    }

    #[test]
    fn root_by_default_on_zero_and_200_only() {
        let root: Vec<Plan> = Plan::ALL.into_iter().filter(|p| holds_root_by_default(*p)).collect();
        assert_eq!(root, vec![Plan::Zero, Plan::P200]);
    }

    #[test]
    fn days_are_written_in_full() {
        assert_eq!(parse_day("2026-01-05"), Some(NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()));
        for bad in ["2026-1-5", "2026/01/05", "26-01-05", "2026-02-30", ""] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }
}
