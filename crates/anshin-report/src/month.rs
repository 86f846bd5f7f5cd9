//! Calendar months in Japan time (Asia/Tokyo): parsing `2026-10`, the month's bounds as UTC
//! instants, its days, and the month an instant falls in.
//!
//! Owns: month arithmetic. Must not know: clocks (times are parameters), the store, reports.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Tokyo;

/// One calendar month in Japan time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    /// 1–12.
    pub month: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a month: write YYYY-MM, e.g. 2026-10")]
pub struct MonthError(pub String);

impl Month {
    pub fn new(year: i32, month: u32) -> Option<Month> {
        ((1..=12).contains(&month) && (1970..=9999).contains(&year)).then_some(Month { year, month })
    }

    /// `2026-10`.
    pub fn parse(s: &str) -> Result<Month, MonthError> {
        let bad = || MonthError(s.to_string());
        let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        Month::new(y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?).ok_or_else(bad)
    }

    /// The month (Japan time) that `t` falls in.
    pub fn containing(t: DateTime<Utc>) -> Month {
        let local = t.with_timezone(&Tokyo);
        Month { year: local.year(), month: local.month() }
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month { year: self.year + 1, month: 1 }
        } else {
            Month { year: self.year, month: self.month + 1 }
        }
    }

    pub fn prev(self) -> Month {
        if self.month == 1 {
            Month { year: self.year - 1, month: 12 }
        } else {
            Month { year: self.year, month: self.month - 1 }
        }
    }

    /// Midnight Japan time of `day` (1-based; day `days()+1` is the next month's first).
    pub fn day_start(self, day: u32) -> DateTime<Utc> {
        let first = NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("valid month");
        let date = first + chrono::Days::new(u64::from(day.saturating_sub(1)));
        Tokyo
            .from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
            .single()
            .expect("Japan has no DST")
            .with_timezone(&Utc)
    }

    /// The first instant of the month (1st, 00:00 JST).
    pub fn start(self) -> DateTime<Utc> {
        self.day_start(1)
    }

    /// The first instant after the month (the next month's 1st, 00:00 JST).
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    /// The month's last instant (a second before [`Month::end`]): the plan in force then decides
    /// whether the month's report is included (contract §9.1).
    pub fn last_moment(self) -> DateTime<Utc> {
        self.end() - chrono::TimeDelta::seconds(1)
    }

    /// Number of days.
    pub fn days(self) -> u32 {
        ((self.end() - self.start()).num_hours() / 24) as u32
    }

    /// An instant of a day of this month at a Japan-time hour (e.g. the 10th at 09:00).
    pub fn at(self, day: u32, hour: u32) -> DateTime<Utc> {
        self.day_start(day) + chrono::Duration::hours(i64::from(hour))
    }

    /// `2026年10月`.
    pub fn japanese(self) -> String {
        format!("{}年{}月", self.year, self.month)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Japan-time display of an instant: `2026-10-05 10:00`.
pub fn jst(t: DateTime<Utc>) -> String {
    t.with_timezone(&Tokyo).format("%Y-%m-%d %H:%M").to_string()
}

/// The day of the month (Japan time) an instant falls on.
pub fn jst_day(t: DateTime<Utc>) -> u32 {
    t.with_timezone(&Tokyo).day()
}

/// Midnight Japan time at the start of a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    Tokyo.from_local_datetime(&d.and_hms_opt(0, 0, 0)?).single().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn bounds_are_japan_midnights() {
        let oct = Month::parse("2026-10").unwrap();
        assert_eq!(oct.start(), utc("2026-09-30T15:00:00Z"));
        assert_eq!(oct.end(), utc("2026-10-31T15:00:00Z"));
        assert_eq!(oct.days(), 31);
        assert_eq!(Month::parse("2028-02").unwrap().days(), 29);
        assert_eq!(Month::parse("2026-12").unwrap().next(), Month::parse("2027-01").unwrap());
        assert_eq!(Month::parse("2027-01").unwrap().prev().to_string(), "2026-12");
        assert_eq!(oct.at(10, 9), utc("2026-10-10T00:00:00Z"));
        assert_eq!(Month::containing(utc("2026-09-30T15:00:00Z")), oct);
        assert_eq!(Month::containing(utc("2026-09-30T14:59:59Z")), oct.prev());
        assert_eq!(oct.japanese(), "2026年10月");
        assert_eq!(jst(utc("2026-10-05T01:00:00Z")), "2026-10-05 10:00");
        assert_eq!(parse_date("2026-10-01"), Some(oct.start()));
        for bad in ["2026-13", "2026-1", "26-10", "x", "2026-00", ""] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }
}
