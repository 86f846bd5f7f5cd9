//! How long resource samples are kept, and their rollups (issue 16, like Zabbix's history and
//! trends): raw readings for `raw_days`, 5-minute buckets for `five_minute_days`, hourly buckets
//! for `hourly_days`, each bucket keeping count, min, mean and max so that a mean over any span of
//! whole buckets is the mean of the raw readings it covers (weighted by count). Incidents, events
//! and the audit log are never pruned.
//!
//! Owns: [`Retention`] (the fleet file's `[noc] retention = { raw_days, five_minute_days,
//! hourly_days }`, its defaults and rules), [`Resolution`] and which one a chart or a report reads
//! ([`Resolution::for_range`]), bucket arithmetic ([`Resolution::bucket_start`]), [`Rollup`] (one
//! bucket's numbers: adding a reading, merging buckets), the prune cut-offs ([`Retention::cutoffs`]), which readings are stored at all
//! ([`SlowReadings`]: slow-changing ones on change and once per 5-minute bucket).
//! Must not know: SQL (the store keeps the buckets), clocks (`now` is a parameter).

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};

/// `[noc] retention` defaults: a week of raw readings, 90 days of 5-minute buckets, 2 years of
/// hourly ones.
pub const DEFAULT_RAW_DAYS: u32 = 7;
pub const DEFAULT_FIVE_MINUTE_DAYS: u32 = 90;
pub const DEFAULT_HOURLY_DAYS: u32 = 730;
/// The longest any window may be (ten years).
pub const MAX_DAYS: u32 = 3650;
/// A chart reads raw readings only for a range of at most this long (finer than a bucket).
pub const RAW_CHART_MAX: Duration = Duration::days(2);
/// …and 5-minute buckets for a range of at most this long; longer ranges read hourly buckets.
pub const FIVE_MINUTE_CHART_MAX: Duration = Duration::days(14);

/// `[noc] retention = { raw_days = 7, five_minute_days = 90, hourly_days = 730 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw_days: u32,
    pub five_minute_days: u32,
    pub hourly_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            raw_days: DEFAULT_RAW_DAYS,
            five_minute_days: DEFAULT_FIVE_MINUTE_DAYS,
            hourly_days: DEFAULT_HOURLY_DAYS,
        }
    }
}

/// What is wrong with a retention (the fleet file's diagnostic says it at the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetentionError {
    #[error("retention {key} = {value}: give 1 to {MAX_DAYS} days")]
    OutOfRange { key: &'static str, value: u32 },
    #[error(
        "retention keeps coarser data for less time than finer data: raw_days ({raw}) ≤ five_minute_days ({five}) ≤ hourly_days ({hourly}), e.g. 7, 90, 730"
    )]
    NotIncreasing { raw: u32, five: u32, hourly: u32 },
}

impl Retention {
    /// The windows checked: each 1 to [`MAX_DAYS`], coarser kept at least as long as finer (a
    /// report of a month ago must still find its hourly buckets once its raw readings are gone).
    pub fn checked(self) -> Result<Retention, RetentionError> {
        for (key, value) in [
            ("raw_days", self.raw_days),
            ("five_minute_days", self.five_minute_days),
            ("hourly_days", self.hourly_days),
        ] {
            if !(1..=MAX_DAYS).contains(&value) {
                return Err(RetentionError::OutOfRange { key, value });
            }
        }
        if self.raw_days > self.five_minute_days || self.five_minute_days > self.hourly_days {
            return Err(RetentionError::NotIncreasing {
                raw: self.raw_days,
                five: self.five_minute_days,
                hourly: self.hourly_days,
            });
        }
        Ok(self)
    }

    /// How long `resolution`'s data is kept.
    pub fn kept(&self, resolution: Resolution) -> Duration {
        Duration::days(i64::from(match resolution {
            Resolution::Raw => self.raw_days,
            Resolution::FiveMinutes => self.five_minute_days,
            Resolution::Hourly => self.hourly_days,
        }))
    }

    /// What pruning at `now` deletes: per resolution, the data older than this (a bucket by its
    /// start).
    pub fn cutoffs(&self, now: DateTime<Utc>) -> [(Resolution, DateTime<Utc>); 3] {
        Resolution::ALL.map(|r| (r, now - self.kept(r)))
    }
}

/// How finely a series is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resolution {
    Raw,
    FiveMinutes,
    Hourly,
}

impl Resolution {
    pub const ALL: [Resolution; 3] = [Resolution::Raw, Resolution::FiveMinutes, Resolution::Hourly];

    /// A bucket's width in seconds (0 for raw readings).
    pub fn width_secs(self) -> i64 {
        match self {
            Resolution::Raw => 0,
            Resolution::FiveMinutes => 300,
            Resolution::Hourly => 3600,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Raw => "raw",
            Resolution::FiveMinutes => "5m",
            Resolution::Hourly => "1h",
        }
    }

    /// The start of the bucket holding `t` (UTC, aligned to the width from the epoch; hours of
    /// Japan time start at the same instants, JST being a whole hour from UTC). Raw: `t` itself.
    pub fn bucket_start(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let w = self.width_secs();
        if w == 0 {
            return t;
        }
        let s = t.timestamp().div_euclid(w) * w;
        Utc.timestamp_opt(s, 0).single().unwrap_or(t)
    }

    /// The finest resolution still kept for the whole of `[from, to)` at `now` and not finer than
    /// a chart of that length needs: raw for ranges up to [`RAW_CHART_MAX`], 5-minute up to
    /// [`FIVE_MINUTE_CHART_MAX`], else hourly. A monthly report reads `Hourly` (its days are
    /// whole hours).
    pub fn for_range(from: DateTime<Utc>, to: DateTime<Utc>, now: DateTime<Utc>, r: &Retention) -> Resolution {
        let span = to - from;
        let kept_from = |res: Resolution| now - r.kept(res) <= from;
        if span <= RAW_CHART_MAX && kept_from(Resolution::Raw) {
            Resolution::Raw
        } else if span <= FIVE_MINUTE_CHART_MAX && kept_from(Resolution::FiveMinutes) {
            Resolution::FiveMinutes
        } else {
            Resolution::Hourly
        }
    }
}

/// One bucket's numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rollup {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub max: f64,
}

impl Rollup {
    /// The bucket of one reading.
    pub fn of(v: f64) -> Rollup {
        Rollup { count: 1, min: v, mean: v, max: v }
    }

    /// The bucket of `values` (None when there are none).
    pub fn of_all(values: &[f64]) -> Option<Rollup> {
        let mut it = values.iter();
        let first = Rollup::of(*it.next()?);
        Some(it.fold(first, |acc, v| acc.merged(&Rollup::of(*v))))
    }

    /// Two buckets as one (a reading added is merging its own bucket): the mean weighted by
    /// count, so merging hourly buckets into a day gives the day's mean of the readings.
    pub fn merged(&self, other: &Rollup) -> Rollup {
        let count = self.count + other.count;
        if count == 0 {
            return *self;
        }
        Rollup {
            count,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            mean: (self.mean * self.count as f64 + other.mean * other.count as f64) / count as f64,
        }
    }
}

/// Readings that change seldom (contract §6, retention; the store's growth per server-day): stored when they change, and otherwise
/// once per 5-minute bucket, so every bucket of the rollups still holds them.
const SLOW_CHANGING: [&str; 3] = ["cpus", "disk", "inode"];

/// The last stored value of each server's slow-changing readings (in memory only: after a
/// restart the first poll stores them again).
#[derive(Debug, Default)]
pub struct SlowReadings {
    last: HashMap<(String, &'static str), (f64, i64)>,
}

impl SlowReadings {
    /// Whether this reading is to be stored: every reading of a fast-changing resource; a
    /// slow-changing one when its value changed or its 5-minute bucket is new.
    pub fn keep(&mut self, host: &str, resource: &str, value: f64, now: DateTime<Utc>) -> bool {
        let Some(slow) = SLOW_CHANGING.iter().find(|r| **r == resource) else { return true };
        let bucket = Resolution::FiveMinutes.bucket_start(now).timestamp();
        let key = (host.to_owned(), *slow);
        if self.last.get(&key) == Some(&(value, bucket)) {
            return false;
        }
        self.last.insert(key, (value, bucket));
        true
    }

    /// Forgets the servers that left the fleet.
    pub fn retain(&mut self, polled: impl Fn(&str) -> bool) {
        self.last.retain(|(host, _), _| polled(host));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// A known series: 12 readings a minute apart from 09:58 UTC with values 1..=12.
    fn series() -> Vec<(DateTime<Utc>, f64)> {
        (0..12).map(|i| (t("2026-11-30T09:58:00Z") + Duration::minutes(i), (i + 1) as f64)).collect()
    }

    #[test]
    fn five_minute_buckets_of_a_known_series_equal_the_hand_computation() {
        let mut buckets: std::collections::BTreeMap<DateTime<Utc>, Rollup> = Default::default();
        for (at, v) in series() {
            let b = Resolution::FiveMinutes.bucket_start(at);
            let r = buckets.get(&b).map_or(Rollup::of(v), |r| r.merged(&Rollup::of(v)));
            buckets.insert(b, r);
        }
        // By hand: 09:55 holds 09:58, 09:59 (1, 2); 10:00 holds 10:00–10:04 (3..7); 10:05 holds
        // 10:05–10:09 (8..12).
        let got: Vec<(String, u64, f64, f64, f64)> =
            buckets.iter().map(|(b, r)| (b.format("%H:%M").to_string(), r.count, r.min, r.mean, r.max)).collect();
        assert_eq!(
            got,
            [
                ("09:55".into(), 2, 1.0, 1.5, 2.0),
                ("10:00".into(), 5, 3.0, 5.0, 7.0),
                ("10:05".into(), 5, 8.0, 10.0, 12.0)
            ]
        );
        // Merged into the hour buckets, the means stay the readings' means (weighted by count):
        // 09:00 → (1+2)/2, 10:00 → (3+…+12)/10 = 7.5.
        let mut hours: std::collections::BTreeMap<DateTime<Utc>, Rollup> = Default::default();
        for (b, r) in &buckets {
            let h = Resolution::Hourly.bucket_start(*b);
            let merged = hours.get(&h).map_or(*r, |x| x.merged(r));
            hours.insert(h, merged);
        }
        let means: Vec<(u64, f64)> = hours.values().map(|r| (r.count, r.mean)).collect();
        assert_eq!(means, [(2, 1.5), (10, 7.5)]);
        let all: Vec<f64> = series().iter().map(|(_, v)| *v).collect();
        let whole = hours.values().fold(None::<Rollup>, |acc, r| Some(acc.map_or(*r, |a| a.merged(r)))).unwrap();
        assert_eq!(Some(whole), Rollup::of_all(&all));
        assert_eq!((whole.count, whole.mean, whole.min, whole.max), (12, 6.5, 1.0, 12.0));
    }

    #[test]
    fn a_thirty_day_chart_reads_hourly_buckets_and_a_day_reads_raw() {
        let r = Retention::default();
        let now = t("2026-12-01T00:00:00Z");
        assert_eq!(Resolution::for_range(now - Duration::days(30), now, now, &r), Resolution::Hourly);
        assert_eq!(Resolution::for_range(now - Duration::days(7), now, now, &r), Resolution::FiveMinutes);
        assert_eq!(Resolution::for_range(now - Duration::hours(24), now, now, &r), Resolution::Raw);
        // A day three weeks ago: its raw readings are gone.
        let old = now - Duration::days(21);
        assert_eq!(Resolution::for_range(old, old + Duration::hours(24), now, &r), Resolution::FiveMinutes);
        // A week 100 days ago: only hourly buckets remain.
        let older = now - Duration::days(100);
        assert_eq!(Resolution::for_range(older, older + Duration::days(7), now, &r), Resolution::Hourly);
    }

    #[test]
    fn pruning_keeps_the_documented_windows() {
        let now = t("2026-12-01T00:00:00Z");
        let cut = Retention::default().cutoffs(now);
        assert_eq!(
            cut,
            [
                (Resolution::Raw, t("2026-11-24T00:00:00Z")),
                (Resolution::FiveMinutes, t("2026-09-02T00:00:00Z")),
                (Resolution::Hourly, t("2024-12-01T00:00:00Z")),
            ]
        );
    }

    #[test]
    fn windows_must_grow_with_coarseness_and_stay_in_range() {
        assert!(Retention::default().checked().is_ok());
        let bad = Retention { raw_days: 30, five_minute_days: 14, hourly_days: 730 };
        assert!(matches!(bad.checked(), Err(RetentionError::NotIncreasing { .. })));
        let zero = Retention { raw_days: 0, ..Retention::default() };
        assert_eq!(zero.checked(), Err(RetentionError::OutOfRange { key: "raw_days", value: 0 }));
    }

    #[test]
    fn buckets_align_to_their_width() {
        let at = t("2026-11-30T10:07:59Z");
        assert_eq!(Resolution::FiveMinutes.bucket_start(at), t("2026-11-30T10:05:00Z"));
        assert_eq!(Resolution::Hourly.bucket_start(at), t("2026-11-30T10:00:00Z"));
        assert_eq!(Resolution::Raw.bucket_start(at), at);
    }

    #[test]
    fn slow_readings_are_stored_on_change_and_once_per_five_minute_bucket() {
        let t = |m: u32, s: u32| Utc.with_ymd_and_hms(2026, 12, 1, 3, m, s).unwrap();
        let mut r = SlowReadings::default();
        // A poll a minute: disk unchanged within 10:00–10:04 is stored once.
        assert!(r.keep("web01", "disk", 55.0, t(0, 10)));
        assert!(!r.keep("web01", "disk", 55.0, t(1, 10)));
        assert!(!r.keep("web01", "disk", 55.0, t(4, 59)));
        // A change is stored at once, an unchanged value again in the next bucket.
        assert!(r.keep("web01", "disk", 56.0, t(4, 59)));
        assert!(r.keep("web01", "disk", 56.0, t(5, 0)));
        // Another server, another resource: their own; the load is always stored.
        assert!(r.keep("web02", "disk", 56.0, t(5, 1)));
        assert!(r.keep("web01", "inode", 20.0, t(5, 1)));
        assert!(r.keep("web01", "load", 0.4, t(5, 1)));
        assert!(r.keep("web01", "load", 0.4, t(5, 2)));
        r.retain(|h| h == "web01");
        assert!(r.keep("web02", "disk", 56.0, t(5, 3)), "a server that left and came back starts again");
    }
}
