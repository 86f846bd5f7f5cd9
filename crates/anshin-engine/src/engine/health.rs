//! The engine's own health, as every console shows it: alarms about the NOC side, never about a
//! customer's server, and never mailed to a customer.
//!
//! Owns: the share of attempts that failed for a local reason over the last check interval
//! (`local_failures`: more than 5 % of them raise the alarm), attempts made unknown because the
//! prober itself was late (`late_probes`: 監視の遅延, while any), the probes' scheduling lag
//! (p99 for the health line), and the store's state
//! (`store_waiting` while a lock or busy store delays the decider, `store_failed` once that lasts
//! past [`PERSISTENT_AFTER`] or the store fails for a reason that waiting does not cure).
//! Must not know: how consoles draw an alarm, what the store is, transports.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

use crate::store::timestamp;
use crate::view::HealthAlarm;

/// A store that stays locked or busy this long counts as failed (an alarm of its own).
pub(super) const PERSISTENT_AFTER: Duration = Duration::minutes(5);
/// The share of locally failed attempts above which the alarm is raised: 1 in 20 (5 %).
const LOCAL_SHARE_DIVISOR: u64 = 20;
/// A failed attempt that started this late after its slot, or whose timeout fired this late,
/// is unknown: the prober, not the server, was slow.
pub(super) const LATE_AFTER: Duration = Duration::seconds(1);

/// Upper bounds (ms) of the scheduling-lag histogram; the last bucket is everything above.
const LAG_BOUNDS_MS: [u32; 14] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000];

/// One second of attempts.
#[derive(Debug, Clone)]
struct Second {
    at: i64,
    total: u64,
    local: u64,
    late: u64,
    lag: [u32; LAG_BOUNDS_MS.len() + 1],
}

/// How one attempt went, as far as the engine's own health is concerned.
#[derive(Debug, Clone, Copy)]
pub(super) struct Attempt<'a> {
    /// How late it started after its slot (and how late its timeout fired), in ms.
    pub lag_ms: u32,
    /// Failed for a local reason (out of descriptors…): the detail.
    pub local: Option<&'a str>,
    /// Unknown because the prober itself was late.
    pub late: bool,
}

/// Attempts over a window of one check interval, counted per second: how many failed for a
/// local reason, how many were late, and how late they started.
#[derive(Debug)]
pub(super) struct Attempts {
    window_secs: i64,
    seconds: VecDeque<Second>,
    last_detail: String,
    local_since: Option<DateTime<Utc>>,
    late_since: Option<DateTime<Utc>>,
    /// Attempts counted since the engine started (kept across a changed interval).
    decided: u64,
}

impl Attempts {
    pub fn new(interval_secs: u64) -> Attempts {
        Attempts {
            window_secs: interval_secs.max(1) as i64,
            seconds: VecDeque::new(),
            last_detail: String::new(),
            local_since: None,
            late_since: None,
            decided: 0,
        }
    }

    /// A window for another interval, keeping the count since the start.
    pub fn renewed(&self, interval_secs: u64) -> Attempts {
        Attempts { decided: self.decided, ..Attempts::new(interval_secs) }
    }

    /// Attempts counted since the engine started.
    pub fn decided(&self) -> u64 {
        self.decided
    }

    /// Counts one attempt.
    pub fn record(&mut self, now: DateTime<Utc>, a: Attempt<'_>) {
        let at = now.timestamp();
        self.decided += 1;
        if self.seconds.back().is_none_or(|s| s.at != at) {
            self.seconds.push_back(Second { at, total: 0, local: 0, late: 0, lag: [0; LAG_BOUNDS_MS.len() + 1] });
        }
        if let Some(s) = self.seconds.back_mut() {
            s.total += 1;
            s.local += u64::from(a.local.is_some());
            s.late += u64::from(a.late);
            let bucket = LAG_BOUNDS_MS.iter().position(|b| a.lag_ms <= *b).unwrap_or(LAG_BOUNDS_MS.len());
            s.lag[bucket] += 1;
        }
        if let Some(detail) = a.local {
            self.last_detail = detail.to_string();
        }
        self.trim(at);
    }

    fn trim(&mut self, at: i64) {
        while self.seconds.front().is_some_and(|s| s.at <= at - self.window_secs) {
            self.seconds.pop_front();
        }
    }

    /// (attempts, local failures, late) over the last interval.
    pub fn counts(&mut self, now: DateTime<Utc>) -> (u64, u64, u64) {
        self.trim(now.timestamp());
        self.seconds.iter().fold((0, 0, 0), |(t, l, x), s| (t + s.total, l + s.local, x + s.late))
    }

    /// The 99th percentile of the last interval's scheduling lag, as the upper bound of its
    /// histogram bucket (ms); None without attempts.
    pub fn lag_p99_ms(&mut self, now: DateTime<Utc>) -> Option<u32> {
        self.lag_percentile_ms(now, 99)
    }

    /// The median of the last interval's scheduling lag (bucket upper bound, ms).
    pub fn lag_p50_ms(&mut self, now: DateTime<Utc>) -> Option<u32> {
        self.lag_percentile_ms(now, 50)
    }

    fn lag_percentile_ms(&mut self, now: DateTime<Utc>, percent: u64) -> Option<u32> {
        self.trim(now.timestamp());
        let mut hist = [0u64; LAG_BOUNDS_MS.len() + 1];
        for s in &self.seconds {
            for (h, n) in hist.iter_mut().zip(s.lag) {
                *h += u64::from(n);
            }
        }
        let total: u64 = hist.iter().sum();
        if total == 0 {
            return None;
        }
        let want = (total * percent).div_ceil(100).max(1);
        let mut seen = 0;
        for (i, n) in hist.iter().enumerate() {
            seen += n;
            if seen >= want {
                return Some(LAG_BOUNDS_MS.get(i).copied().unwrap_or(u32::MAX));
            }
        }
        None
    }

    /// The alarms in force: `local_failures` while more than 5 % of the last interval's
    /// attempts failed on our side, `late_probes` while any of them was unknown for lateness.
    pub fn alarms(&mut self, now: DateTime<Utc>) -> Vec<HealthAlarm> {
        let (total, local, late) = self.counts(now);
        let mut out = Vec::new();
        if local > 0 && local * LOCAL_SHARE_DIVISOR > total {
            let since = *self.local_since.get_or_insert(now);
            out.push(HealthAlarm {
                code: "local_failures",
                since: timestamp(since),
                detail: self.last_detail.clone(),
                count: local,
                total,
            });
        } else {
            self.local_since = None;
        }
        if late > 0 {
            let since = *self.late_since.get_or_insert(now);
            let p99 = self.lag_p99_ms(now).unwrap_or_default();
            out.push(HealthAlarm {
                code: "late_probes",
                since: timestamp(since),
                detail: format!(
                    "attempts started or timed out more than {} ms late (p99 lag ≤ {p99} ms)",
                    LATE_AFTER.num_milliseconds()
                ),
                count: late,
                total,
            });
        } else {
            self.late_since = None;
        }
        out
    }
}

/// Whether the store keeps up with the decider.
#[derive(Debug, Default)]
pub(super) struct StoreHealth {
    /// Since when writes have been refused (None: the last batch was stored).
    waiting_since: Option<DateTime<Utc>>,
    /// The last reason a write was refused.
    last_error: String,
    /// The refusal is not one that waiting cures (disk full, read-only, I/O error).
    hard: bool,
    /// Inputs waiting to be decided because their batch could not be stored.
    pub pending: usize,
}

impl StoreHealth {
    /// A batch was stored: the store is fine again.
    pub fn stored(&mut self) {
        if self.waiting_since.take().is_some() {
            tracing::info!("the store accepts writes again: the waiting results are decided");
        }
        self.hard = false;
        self.pending = 0;
    }

    /// A batch could not be stored; `transient` when the store was only locked or busy.
    pub fn refused(&mut self, now: DateTime<Utc>, error: &str, transient: bool) {
        if self.waiting_since.is_none() {
            tracing::warn!(error, "the store refuses writes: results wait in memory, decisions wait for it");
        }
        self.waiting_since.get_or_insert(now);
        self.last_error = error.to_string();
        self.hard |= !transient;
    }

    /// How long to wait before the next try, after `since` of refusals: quick at first, then
    /// every few seconds (a lock held by another process usually goes within seconds).
    pub fn retry_after(&self, now: DateTime<Utc>) -> Duration {
        let waited = self.waiting_since.map(|s| now - s).unwrap_or_default();
        if waited < Duration::seconds(2) {
            Duration::milliseconds(250)
        } else if waited < Duration::seconds(30) {
            Duration::seconds(1)
        } else {
            Duration::seconds(5)
        }
    }

    pub fn alarm(&self, now: DateTime<Utc>) -> Option<HealthAlarm> {
        let since = self.waiting_since?;
        let failed = self.hard || now - since >= PERSISTENT_AFTER;
        Some(HealthAlarm {
            code: if failed { "store_failed" } else { "store_waiting" },
            since: timestamp(since),
            detail: self.last_error.clone(),
            count: self.pending as u64,
            total: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn ok(lag_ms: u32) -> Attempt<'static> {
        Attempt { lag_ms, local: None, late: false }
    }

    #[test]
    fn local_failures_alarm_above_five_percent_of_the_last_interval() {
        let mut w = Attempts::new(60);
        for i in 0..100 {
            w.record(at(i % 50), ok(3));
        }
        assert!(w.alarms(at(50)).is_empty());
        // 5 of 105 (4.8 %): not yet.
        for _ in 0..5 {
            w.record(at(50), Attempt { lag_ms: 0, local: Some("local failure: Too many open files"), late: false });
        }
        assert!(w.alarms(at(50)).is_empty(), "{:?}", w.counts(at(50)));
        // 6 of 106 (5.7 %): raised, with the last detail and since when.
        w.record(at(51), Attempt { lag_ms: 0, local: Some("local failure: No buffer space available"), late: false });
        let a = w.alarms(at(51)).pop().expect("alarm");
        assert_eq!((a.code, a.count, a.total), ("local_failures", 6, 106));
        assert!(a.detail.contains("No buffer space"));
        assert_eq!(w.alarms(at(55))[0].since, timestamp(at(51)));
        // A minute later the window holds none of them: cleared.
        assert!(w.alarms(at(112)).is_empty());
    }

    #[test]
    fn a_late_attempt_raises_the_delay_alarm_while_it_is_in_the_window() {
        let mut w = Attempts::new(10);
        for i in 0..99 {
            w.record(at(i % 5), ok(4));
        }
        w.record(at(5), Attempt { lag_ms: 2500, local: None, late: true });
        let a = w.alarms(at(6));
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].code, a[0].count, a[0].total), ("late_probes", 1, 100));
        // p99 of 100 attempts with one at 2.5 s: the 99th is in the 5 ms bucket.
        assert_eq!(w.lag_p99_ms(at(6)), Some(5));
        w.record(at(6), ok(2500));
        assert_eq!(w.lag_p99_ms(at(6)), Some(5000));
        assert!(w.alarms(at(16)).is_empty(), "the late attempt left the window");
        assert_eq!(w.lag_p99_ms(at(30)), None);
    }

    #[test]
    fn the_median_lag_and_the_count_since_the_start_survive_a_new_interval() {
        let mut w = Attempts::new(60);
        for lag in [1, 1, 4, 4, 4, 40, 900] {
            w.record(at(1), ok(lag));
        }
        // 7 attempts: the 4th (4 ms) is in the 5 ms bucket; the 99th percentile is the 900 ms one.
        assert_eq!(w.lag_p50_ms(at(2)), Some(5));
        assert_eq!(w.lag_p99_ms(at(2)), Some(1000));
        let w = w.renewed(10);
        assert_eq!(w.decided(), 7);
        assert!(w.seconds.is_empty(), "the window starts empty");
    }

    #[test]
    fn store_waits_then_counts_as_failed_after_five_minutes() {
        let mut s = StoreHealth::default();
        assert!(s.alarm(at(0)).is_none());
        s.refused(at(0), "database is locked", true);
        s.pending = 7;
        let a = s.alarm(at(10)).unwrap();
        assert_eq!((a.code, a.count), ("store_waiting", 7));
        assert_eq!(s.retry_after(at(1)), Duration::milliseconds(250));
        assert_eq!(s.retry_after(at(10)), Duration::seconds(1));
        assert_eq!(s.alarm(at(300)).unwrap().code, "store_failed");
        s.stored();
        assert!(s.alarm(at(301)).is_none());
        s.refused(at(400), "database or disk is full", false);
        assert_eq!(s.alarm(at(400)).unwrap().code, "store_failed");
    }
}
