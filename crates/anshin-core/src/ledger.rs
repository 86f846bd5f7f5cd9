//! The request ledger's rules (contract §9.4, §9.5): temporary resource-up requests and their
//! reminders, and configuration work against the monthly allowance.
//!
//! Owns: the allowance (60 minutes per calendar month in Japan), what an entry beyond it needs
//! (billable, the whole entry), and when a resource-up request reminds the operators.
//! Must not know: the store, clocks (days and times are parameters), who may record entries.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};

use crate::calendar::jst_at;

/// Configuration work included per customer and calendar month (Japan time), in minutes.
pub const CONFIG_WORK_MINUTES_PER_MONTH: u32 = 60;

/// The hour (Japan time) at which resource-up reminders are due.
pub const REMINDER_HOUR: u32 = 10;

/// Why a configuration-work entry is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LedgerRefusal {
    /// The month's included minutes would be exceeded: record it as billable.
    #[error("{remaining} of the month's {CONFIG_WORK_MINUTES_PER_MONTH} included minutes remain: record the entry as billable (the whole entry is billed)")]
    OverAllowance { remaining: u32 },
    #[error("an entry takes at least one minute")]
    NoMinutes,
}

/// The included minutes left in a month in which `used` included minutes are recorded.
pub fn remaining_minutes(used: u32) -> u32 {
    CONFIG_WORK_MINUTES_PER_MONTH.saturating_sub(used)
}

/// Whether a configuration-work entry of `minutes` may be recorded in a month in which `used`
/// included minutes are recorded already: within the allowance it is included; an entry that
/// would cross it is refused unless it is billable (then the whole entry is billable and counts
/// nothing against the allowance).
pub fn check_config_work(used: u32, minutes: u32, billable: bool) -> Result<(), LedgerRefusal> {
    if minutes == 0 {
        return Err(LedgerRefusal::NoMinutes);
    }
    if billable || used.saturating_add(minutes) <= CONFIG_WORK_MINUTES_PER_MONTH {
        Ok(())
    } else {
        Err(LedgerRefusal::OverAllowance { remaining: remaining_minutes(used) })
    }
}

/// `YYYY-MM` of a day: the month an entry counts in.
pub fn month_of(day: NaiveDate) -> String {
    format!("{:04}-{:02}", day.year(), day.month())
}

/// When a resource-up request from `from` to `until` (Japan days, inclusive) reminds the
/// operators: the day before it starts (to raise it) and the day after it ends (to put it back),
/// at [`REMINDER_HOUR`]:00 Japan time.
pub fn resource_up_reminders(from: NaiveDate, until: NaiveDate) -> [DateTime<Utc>; 2] {
    let day = TimeDelta::days(1);
    [jst_at(from - day, REMINDER_HOUR), jst_at(until + day, REMINDER_HOUR)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowance_is_sixty_minutes_and_beyond_it_only_billable() {
        #[rustfmt::skip]
        let table = [
            // used, minutes, billable, answer
            (0,  60, false, Ok(())),
            (30, 30, false, Ok(())),
            (30, 31, false, Err(LedgerRefusal::OverAllowance { remaining: 30 })),
            (30, 31, true,  Ok(())),
            (60, 1,  false, Err(LedgerRefusal::OverAllowance { remaining: 0 })),
            (90, 5,  false, Err(LedgerRefusal::OverAllowance { remaining: 0 })),
            (0,  0,  true,  Err(LedgerRefusal::NoMinutes)),
        ];
        for (used, minutes, billable, want) in table {
            assert_eq!(check_config_work(used, minutes, billable), want, "{used}+{minutes} billable={billable}");
        }
        assert!(LedgerRefusal::OverAllowance { remaining: 15 }.to_string().starts_with("15 of the month's 60"));
    }

    #[test]
    fn reminders_fall_on_the_day_before_and_the_day_after_at_ten_in_japan() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let [before, after] = resource_up_reminders(d("2026-12-01"), d("2026-12-31"));
        assert_eq!(before.to_rfc3339(), "2026-11-30T01:00:00+00:00");
        assert_eq!(after.to_rfc3339(), "2027-01-01T01:00:00+00:00");
        assert_eq!(month_of(d("2026-02-09")), "2026-02");
    }
}
