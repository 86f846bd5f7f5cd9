//! Japan time, the "weekdays 9–18" window of the plans, and Japanese public holidays (contract §1).
//!
//! Owns: the public holidays of 国民の祝日に関する法律 (fixed days, Happy Mondays, the equinoxes,
//! the 2020/2021 Olympic moves, 振替休日 and 国民の休日), and the business-hours window: Monday to
//! Friday, 09:00 ≤ Asia/Tokyo time < 18:00, not on a public holiday.
//! Must not know: clocks (every function takes the date or instant it judges), plans and what they
//! entitle (that is `plan` and `recovery`), and company-specific days off: the year-end break
//! (12/29–1/3 beyond 元日) is not a public holiday, so it is business hours here.
//!
//! Range: the rules are the law as in force from 2020 (天皇誕生日 on 2/23, スポーツの日) and the
//! equinox formula is the usual approximation valid 1980–2099, so answers are correct for
//! 2020–2099. Years before 2020 have no holidays here (every such date answers `false`/`None`):
//! the NOC's incidents start in 2020 or later, and older rules (天皇誕生日 12/23, 体育の日,
//! the 2019 enthronement days) are deliberately not modelled. Years after 2099 apply the same
//! rules; the equinox days may then be off by one.

use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Asia::Tokyo;

/// The first year whose holidays this module knows.
pub const FIRST_YEAR: i32 = 2020;

/// Business hours in Asia/Tokyo: from 09:00 (inclusive) to 18:00 (exclusive).
pub const BUSINESS_START_HOUR: u32 = 9;
pub const BUSINESS_END_HOUR: u32 = 18;

/// The monthly report of a month goes out on this day of the next month (Japan time) at
/// [`REPORT_SEND_HOUR`]:00 unless it was sent or held before; one not sent by the end of the day
/// before is overdue (contract §5.1).
pub const REPORT_SEND_DAY: u32 = 10;
pub const REPORT_SEND_HOUR: u32 = 9;

const SUBSTITUTE: &str = "振替休日";
const CITIZENS: &str = "国民の休日";

/// Whether `date` is a Japanese public holiday (a 国民の祝日, a 振替休日 or a 国民の休日).
/// Always `false` before 2020 (see the module header).
pub fn is_japanese_holiday(date: NaiveDate) -> bool {
    holiday_name(date).is_some()
}

/// The Japanese name of the holiday on `date` ("元日", "振替休日", "国民の休日", …), or `None`.
/// Always `None` before 2020 (see the module header).
pub fn holiday_name(date: NaiveDate) -> Option<&'static str> {
    if date.year() < FIRST_YEAR {
        return None;
    }
    if let Some(name) = national_holiday(date) {
        return Some(name);
    }
    if is_substitute_holiday(date) {
        return Some(SUBSTITUTE);
    }
    // 国民の休日: a day that is not a 国民の祝日 and whose day before and day after both are.
    // (In 2020–2099 this only ever happens on a Tuesday in September, between 敬老の日 and 秋分の日.)
    match (date.pred_opt(), date.succ_opt()) {
        (Some(before), Some(after)) if national_holiday(before).is_some() && national_holiday(after).is_some() => {
            Some(CITIZENS)
        }
        _ => None,
    }
}

/// Every public holiday of `year`, in date order, with its name. Empty before 2020.
pub fn holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let Some(first) = NaiveDate::from_ymd_opt(year, 1, 1) else {
        return Vec::new();
    };
    first.iter_days().take_while(|d| d.year() == year).filter_map(|d| holiday_name(d).map(|name| (d, name))).collect()
}

/// Whether `t` is inside business hours: Monday–Friday, 09:00 ≤ Asia/Tokyo time < 18:00, and not a
/// Japanese public holiday.
pub fn in_business_hours(t: DateTime<Utc>) -> bool {
    let local = t.with_timezone(&Tokyo);
    is_business_day(local.date_naive()) && (BUSINESS_START_HOUR..BUSINESS_END_HOUR).contains(&local.hour())
}

/// The first instant ≥ `t` that is in business hours: `t` itself when it already is, otherwise
/// 09:00 Asia/Tokyo of the next business day (today's, when `t` is before 09:00 on one).
pub fn next_business_hours_start(t: DateTime<Utc>) -> DateTime<Utc> {
    if in_business_hours(t) {
        return t;
    }
    let local = t.with_timezone(&Tokyo);
    let mut day = local.date_naive();
    if local.hour() >= BUSINESS_START_HOUR || !is_business_day(day) {
        day = day + Days::new(1);
    }
    // The longest run of days off (Golden Week next to a weekend) is well under two weeks; the
    // bound only keeps the loop finite whatever the input.
    for _ in 0..366 {
        if is_business_day(day) {
            break;
        }
        day = day + Days::new(1);
    }
    tokyo_to_utc(day.and_time(opening_time()))
}

/// Monday to Friday and not a public holiday.
fn is_business_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !is_japanese_holiday(date)
}

fn opening_time() -> NaiveTime {
    NaiveTime::from_hms_opt(BUSINESS_START_HOUR, 0, 0).unwrap_or(NaiveTime::MIN)
}

/// `hour`:00 Japan time on `day`, as UTC.
pub fn jst_at(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    tokyo_to_utc(day.and_time(NaiveTime::from_hms_opt(hour.min(23), 0, 0).unwrap_or(NaiveTime::MIN)))
}

/// A wall-clock time in Asia/Tokyo as UTC. Japan has had no daylight saving time since 1951, so
/// the local time is never ambiguous or skipped; the fixed +09:00 is the fallback all the same.
fn tokyo_to_utc(local: NaiveDateTime) -> DateTime<Utc> {
    match Tokyo.from_local_datetime(&local).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => (local - TimeDelta::hours(9)).and_utc(),
    }
}

/// A 振替休日: not itself a 国民の祝日, and the run of 国民の祝日 right before it contains a
/// Sunday ("a holiday on Sunday moves to the nearest following day that is not a holiday").
fn is_substitute_holiday(date: NaiveDate) -> bool {
    if national_holiday(date).is_some() {
        return false;
    }
    let mut day = date;
    while let Some(before) = day.pred_opt() {
        if national_holiday(before).is_none() {
            return false;
        }
        if before.weekday() == Weekday::Sun {
            return true;
        }
        day = before;
    }
    false
}

/// The 国民の祝日 (the holidays the law names, not the 振替休日 or 国民の休日 they cause).
fn national_holiday(date: NaiveDate) -> Option<&'static str> {
    let year = date.year();
    if year < FIRST_YEAR {
        return None;
    }
    let (month, day) = (date.month(), date.day());

    // The Tokyo Olympics moved three holidays in 2020 and 2021 (special measures law).
    let olympic = match year {
        2020 => Some(((7, 23), (7, 24), (8, 10))),
        2021 => Some(((7, 22), (7, 23), (8, 8))),
        _ => None,
    };
    let (umi, sports, yama) = match olympic {
        Some(days) => days,
        None => ((7, nth_monday(year, 7, 3)), (10, nth_monday(year, 10, 2)), (8, 11)),
    };
    let md = (month, day);
    if md == umi {
        return Some("海の日");
    }
    if md == sports {
        return Some("スポーツの日");
    }
    if md == yama {
        return Some("山の日");
    }

    let name = match md {
        (1, 1) => "元日",
        (2, 11) => "建国記念の日",
        (2, 23) => "天皇誕生日",
        (4, 29) => "昭和の日",
        (5, 3) => "憲法記念日",
        (5, 4) => "みどりの日",
        (5, 5) => "こどもの日",
        (11, 3) => "文化の日",
        (11, 23) => "勤労感謝の日",
        (1, d) if d == nth_monday(year, 1, 2) => "成人の日",
        (9, d) if d == nth_monday(year, 9, 3) => "敬老の日",
        (3, d) if d == spring_equinox_day(year) => "春分の日",
        (9, d) if d == autumn_equinox_day(year) => "秋分の日",
        _ => return None,
    };
    Some(name)
}

/// Day of the month of the `n`-th Monday of `month` (n ≥ 1).
fn nth_monday(year: i32, month: u32, n: u32) -> u32 {
    let Some(first) = NaiveDate::from_ymd_opt(year, month, 1) else {
        return 0;
    };
    let offset = (7 - first.weekday().num_days_from_monday()) % 7;
    1 + offset + 7 * (n - 1)
}

/// 春分の日: floor(20.8431 + 0.242194 × (y − 1980) − floor((y − 1980) / 4)), valid 1980–2099.
fn spring_equinox_day(year: i32) -> u32 {
    equinox_day(20_843_100, year)
}

/// 秋分の日: floor(23.2488 + 0.242194 × (y − 1980) − floor((y − 1980) / 4)), valid 1980–2099.
fn autumn_equinox_day(year: i32) -> u32 {
    equinox_day(23_248_800, year)
}

/// The approximation formula in millionths, in integers so no rounding of floats can move a day.
fn equinox_day(base_millionths: i64, year: i32) -> u32 {
    let n = i64::from(year - 1980);
    let millionths = base_millionths + 242_194 * n - 1_000_000 * n.div_euclid(4);
    u32::try_from(millionths.div_euclid(1_000_000)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// An Asia/Tokyo wall-clock time as UTC.
    fn jst(y: i32, m: u32, day: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
        Tokyo.with_ymd_and_hms(y, m, day, h, min, s).unwrap().with_timezone(&Utc)
    }

    /// Every day of `year` is checked: the listed days are holidays with these names, no others are.
    fn assert_year(year: i32, want: &[((u32, u32), &str)]) {
        let got: Vec<((u32, u32), &str)> =
            holidays(year).into_iter().map(|(date, name)| ((date.month(), date.day()), name)).collect();
        assert_eq!(got, want, "holidays of {year}");
        // holidays() is built from holiday_name(); check is_japanese_holiday agrees day by day.
        let mut count = 0;
        for date in d(year, 1, 1).iter_days().take_while(|x| x.year() == year) {
            let listed = want.iter().any(|&((m, day), _)| (m, day) == (date.month(), date.day()));
            assert_eq!(is_japanese_holiday(date), listed, "{date}");
            count += 1;
        }
        assert!(count >= 365);
    }

    #[test]
    fn holidays_2026_exactly() {
        assert_year(
            2026,
            &[
                ((1, 1), "元日"),
                ((1, 12), "成人の日"),
                ((2, 11), "建国記念の日"),
                ((2, 23), "天皇誕生日"),
                ((3, 20), "春分の日"),
                ((4, 29), "昭和の日"),
                ((5, 3), "憲法記念日"),
                ((5, 4), "みどりの日"),
                ((5, 5), "こどもの日"),
                ((5, 6), "振替休日"),
                ((7, 20), "海の日"),
                ((8, 11), "山の日"),
                ((9, 21), "敬老の日"),
                ((9, 22), "国民の休日"),
                ((9, 23), "秋分の日"),
                ((10, 12), "スポーツの日"),
                ((11, 3), "文化の日"),
                ((11, 23), "勤労感謝の日"),
            ],
        );
    }

    #[test]
    fn holidays_2025_exactly() {
        assert_year(
            2025,
            &[
                ((1, 1), "元日"),
                ((1, 13), "成人の日"),
                ((2, 11), "建国記念の日"),
                ((2, 23), "天皇誕生日"),
                ((2, 24), "振替休日"),
                ((3, 20), "春分の日"),
                ((4, 29), "昭和の日"),
                ((5, 3), "憲法記念日"),
                ((5, 4), "みどりの日"),
                ((5, 5), "こどもの日"),
                ((5, 6), "振替休日"), // 5/4 is a Sunday; 5/5 is a holiday already
                ((7, 21), "海の日"),
                ((8, 11), "山の日"),
                ((9, 15), "敬老の日"),
                ((9, 23), "秋分の日"),
                ((10, 13), "スポーツの日"),
                ((11, 3), "文化の日"),
                ((11, 23), "勤労感謝の日"),
                ((11, 24), "振替休日"),
            ],
        );
    }

    #[test]
    fn holidays_2024_exactly() {
        assert_year(
            2024,
            &[
                ((1, 1), "元日"),
                ((1, 8), "成人の日"),
                ((2, 11), "建国記念の日"),
                ((2, 12), "振替休日"),
                ((2, 23), "天皇誕生日"),
                ((3, 20), "春分の日"),
                ((4, 29), "昭和の日"),
                ((5, 3), "憲法記念日"),
                ((5, 4), "みどりの日"),
                ((5, 5), "こどもの日"),
                ((5, 6), "振替休日"),
                ((7, 15), "海の日"),
                ((8, 11), "山の日"),
                ((8, 12), "振替休日"),
                ((9, 16), "敬老の日"),
                ((9, 22), "秋分の日"),
                ((9, 23), "振替休日"),
                ((10, 14), "スポーツの日"),
                ((11, 3), "文化の日"),
                ((11, 4), "振替休日"),
                ((11, 23), "勤労感謝の日"), // a Saturday: no substitute
            ],
        );
    }

    #[test]
    fn spot_checks_2024_2025() {
        assert_eq!(holiday_name(d(2025, 2, 24)), Some("振替休日"));
        assert_eq!(holiday_name(d(2025, 11, 24)), Some("振替休日"));
        assert_eq!(holiday_name(d(2024, 9, 23)), Some("振替休日"));
        assert_eq!(holiday_name(d(2024, 9, 22)), Some("秋分の日"));
        assert!(!is_japanese_holiday(d(2025, 5, 7)));
        assert!(!is_japanese_holiday(d(2024, 11, 25)), "11/23 on a Saturday has no substitute");
    }

    #[test]
    fn olympic_years_move_three_holidays() {
        // 2020: 海の日 7/23, スポーツの日 7/24, 山の日 8/10; the usual days are working days.
        assert_eq!(holiday_name(d(2020, 7, 23)), Some("海の日"));
        assert_eq!(holiday_name(d(2020, 7, 24)), Some("スポーツの日"));
        assert_eq!(holiday_name(d(2020, 8, 10)), Some("山の日"));
        for (m, day) in [(7, 20), (8, 11), (10, 12)] {
            assert!(!is_japanese_holiday(d(2020, m, day)), "2020-{m}-{day}");
        }
        // 2021: 海の日 7/22, スポーツの日 7/23, 山の日 8/8 (a Sunday) with 振替休日 8/9.
        assert_eq!(holiday_name(d(2021, 7, 22)), Some("海の日"));
        assert_eq!(holiday_name(d(2021, 7, 23)), Some("スポーツの日"));
        assert_eq!(holiday_name(d(2021, 8, 8)), Some("山の日"));
        assert_eq!(holiday_name(d(2021, 8, 9)), Some("振替休日"));
        for (m, day) in [(7, 19), (8, 11), (10, 11)] {
            assert!(!is_japanese_holiday(d(2021, m, day)), "2021-{m}-{day}");
        }
        // 2022 is back to normal: 海の日 is the third Monday of July.
        assert_eq!(holiday_name(d(2022, 7, 18)), Some("海の日"));
        assert_eq!(holiday_name(d(2022, 10, 10)), Some("スポーツの日"));
    }

    /// The equinox days published by the National Astronomical Observatory of Japan.
    #[test]
    fn equinoxes_match_published_days() {
        let published = [
            (2020, 20, 22),
            (2021, 20, 23),
            (2022, 21, 23),
            (2023, 21, 23),
            (2024, 20, 22),
            (2025, 20, 23),
            (2026, 20, 23),
            (2027, 21, 23),
            (2028, 20, 22),
            (2029, 20, 23),
            (2030, 20, 23),
        ];
        for (year, spring, autumn) in published {
            assert_eq!(holiday_name(d(year, 3, spring)), Some("春分の日"), "{year}");
            assert_eq!(holiday_name(d(year, 9, autumn)), Some("秋分の日"), "{year}");
        }
    }

    #[test]
    fn before_2020_there_are_no_holidays() {
        assert!(!is_japanese_holiday(d(2019, 1, 1)));
        assert_eq!(holiday_name(d(2019, 5, 1)), None);
        assert!(holidays(2019).is_empty());
        // 2020-01-01 is the first one.
        assert_eq!(holiday_name(d(2020, 1, 1)), Some("元日"));
    }

    /// Structural invariants over the whole valid range.
    #[test]
    fn invariants_2020_to_2099() {
        for year in FIRST_YEAR..=2099 {
            let list = holidays(year);
            assert!((16..=22).contains(&list.len()), "{year}: {} holidays", list.len());
            for (date, name) in list {
                match name {
                    // Only ever a Tuesday in September, between 敬老の日 and 秋分の日.
                    "国民の休日" => {
                        assert_eq!((date.month(), date.weekday()), (9, Weekday::Tue), "{date}");
                    }
                    "振替休日" => {
                        assert!(!matches!(date.weekday(), Weekday::Sat | Weekday::Sun), "{date}");
                    }
                    _ => {}
                }
            }
            // No Sunday holiday is left without a substitute on a following weekday.
            for (date, _) in holidays(year).into_iter().filter(|(x, _)| x.weekday() == Weekday::Sun) {
                let substitute = date.iter_days().skip(1).take(7).find(|x| holiday_name(*x) == Some("振替休日"));
                assert!(substitute.is_some(), "{date} has no 振替休日");
            }
        }
    }

    #[test]
    fn business_hours_boundaries() {
        let cases = [
            // Wed 2026-11-25, a working day.
            (jst(2026, 11, 25, 8, 59, 59), false),
            (jst(2026, 11, 25, 9, 0, 0), true),
            (jst(2026, 11, 25, 12, 0, 0), true),
            (jst(2026, 11, 25, 17, 59, 59), true),
            (jst(2026, 11, 25, 18, 0, 0), false),
            (jst(2026, 11, 25, 23, 0, 0), false),
            // Sat 2026-11-28 and Sun 2026-11-29.
            (jst(2026, 11, 28, 10, 0, 0), false),
            (jst(2026, 11, 29, 10, 0, 0), false),
            // Mon 2026-11-23 勤労感謝の日, Wed 2026-05-06 振替休日, Tue 2026-09-22 国民の休日.
            (jst(2026, 11, 23, 10, 0, 0), false),
            (jst(2026, 5, 6, 10, 0, 0), false),
            (jst(2026, 9, 22, 10, 0, 0), false),
            // Year-end days other than 元日 are not public holidays.
            (jst(2026, 12, 29, 10, 0, 0), true),
            (jst(2027, 1, 1, 10, 0, 0), false),
        ];
        for (t, want) in cases {
            assert_eq!(in_business_hours(t), want, "{}", t.with_timezone(&Tokyo));
        }
        // The hour is judged in Tokyo, not UTC: 00:30 UTC Wed is 09:30 JST.
        let utc = Utc.with_ymd_and_hms(2026, 11, 25, 0, 30, 0).unwrap();
        assert!(in_business_hours(utc));
        // Subseconds just before 18:00 are still in.
        assert!(in_business_hours(jst(2026, 11, 25, 17, 59, 59) + TimeDelta::milliseconds(999)));
    }

    #[test]
    fn next_business_hours_start_cases() {
        let cases = [
            // In hours: itself.
            (jst(2026, 11, 25, 10, 0, 0), jst(2026, 11, 25, 10, 0, 0)),
            // Before opening on a working day: the same day 09:00.
            (jst(2026, 11, 25, 8, 59, 59), jst(2026, 11, 25, 9, 0, 0)),
            (jst(2026, 11, 25, 0, 0, 0), jst(2026, 11, 25, 9, 0, 0)),
            // After closing: the next working day.
            (jst(2026, 11, 25, 18, 0, 0), jst(2026, 11, 26, 9, 0, 0)),
            // Across a weekend: Fri evening -> Mon.
            (jst(2026, 11, 27, 18, 0, 0), jst(2026, 11, 30, 9, 0, 0)),
            (jst(2026, 11, 28, 10, 0, 0), jst(2026, 11, 30, 9, 0, 0)),
            // Across a weekend and a holiday: Sat 11/21, Sun, Mon 11/23 勤労感謝の日 -> Tue 11/24.
            (jst(2026, 11, 21, 10, 0, 0), jst(2026, 11, 24, 9, 0, 0)),
            (jst(2026, 11, 23, 7, 0, 0), jst(2026, 11, 24, 9, 0, 0)),
            // Golden Week 2026: Fri 5/1 evening -> Thu 5/7.
            (jst(2026, 5, 1, 18, 30, 0), jst(2026, 5, 7, 9, 0, 0)),
            // Silver Week 2026: Fri 9/18 evening -> Thu 9/24.
            (jst(2026, 9, 18, 19, 0, 0), jst(2026, 9, 24, 9, 0, 0)),
            // New Year: 元日 is a Friday in 2027 -> Mon 1/4.
            (jst(2026, 12, 31, 18, 0, 0), jst(2027, 1, 4, 9, 0, 0)),
        ];
        for (t, want) in cases {
            let got = next_business_hours_start(t);
            assert_eq!(got, want, "from {}", t.with_timezone(&Tokyo));
            assert!(got >= t && in_business_hours(got));
        }
    }
}
