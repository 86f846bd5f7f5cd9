//! The engine's own health, as every console shows it: alarms about the NOC side, never about a
//! customer's server, and never mailed to a customer.
//!
//! Owns: the share of attempts that failed for a local reason over the last check interval
//! (`local_failures`: more than 5 % of them raise the alarm), and the store's state
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

/// Attempts and their local failures, counted per second over a window of one interval.
#[derive(Debug)]
pub(super) struct LocalFailures {
    window_secs: i64,
    /// (second, attempts, local failures), oldest first.
    buckets: VecDeque<(i64, u64, u64)>,
    last_detail: String,
    since: Option<DateTime<Utc>>,
}

impl LocalFailures {
    pub fn new(interval_secs: u64) -> LocalFailures {
        LocalFailures {
            window_secs: interval_secs.max(1) as i64,
            buckets: VecDeque::new(),
            last_detail: String::new(),
            since: None,
        }
    }

    /// Counts one attempt; `local` with its detail when it failed on our side.
    pub fn record(&mut self, now: DateTime<Utc>, local: Option<&str>) {
        let second = now.timestamp();
        match self.buckets.back_mut() {
            Some((s, total, failed)) if *s == second => {
                *total += 1;
                *failed += u64::from(local.is_some());
            }
            _ => self.buckets.push_back((second, 1, u64::from(local.is_some()))),
        }
        if let Some(detail) = local {
            self.last_detail = detail.to_string();
        }
        self.trim(second);
    }

    fn trim(&mut self, second: i64) {
        while self.buckets.front().is_some_and(|(s, _, _)| *s <= second - self.window_secs) {
            self.buckets.pop_front();
        }
    }

    /// (attempts, local failures) over the last interval.
    pub fn counts(&mut self, now: DateTime<Utc>) -> (u64, u64) {
        self.trim(now.timestamp());
        self.buckets.iter().fold((0, 0), |(t, f), (_, total, failed)| (t + total, f + failed))
    }

    /// The alarm while more than 5 % of the last interval's attempts failed on our side.
    pub fn alarm(&mut self, now: DateTime<Utc>) -> Option<HealthAlarm> {
        let (total, local) = self.counts(now);
        if local == 0 || local * LOCAL_SHARE_DIVISOR <= total {
            self.since = None;
            return None;
        }
        let since = *self.since.get_or_insert(now);
        Some(HealthAlarm {
            code: "local_failures",
            since: timestamp(since),
            detail: self.last_detail.clone(),
            count: local,
            total,
        })
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

    #[test]
    fn local_failures_alarm_above_five_percent_of_the_last_interval() {
        let mut w = LocalFailures::new(60);
        for i in 0..100 {
            w.record(at(i % 50), None);
        }
        assert!(w.alarm(at(50)).is_none());
        // 5 of 105 (4.8 %): not yet.
        for _ in 0..5 {
            w.record(at(50), Some("local failure: Too many open files"));
        }
        assert!(w.alarm(at(50)).is_none(), "{:?}", w.counts(at(50)));
        // 6 of 106 (5.7 %): raised, with the last detail and since when.
        w.record(at(51), Some("local failure: No buffer space available"));
        let a = w.alarm(at(51)).expect("alarm");
        assert_eq!((a.code, a.count, a.total), ("local_failures", 6, 106));
        assert!(a.detail.contains("No buffer space"));
        assert_eq!(w.alarm(at(55)).unwrap().since, timestamp(at(51)));
        // A minute later the window holds none of them: cleared.
        assert!(w.alarm(at(112)).is_none());
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
