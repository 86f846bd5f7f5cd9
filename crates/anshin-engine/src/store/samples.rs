//! Resource samples: every reading of load, disk, inode and mail queue, for the history the
//! dashboard charts and the monthly report draw from, and their rollups.
//!
//! Owns: the `samples` table (schema step 3) and `sample_rollups` (schema step 16: 5-minute and
//! hourly buckets of count, min, mean, max, kept up to date with every reading by a trigger —
//! whoever inserts it — and back-filled from the readings already stored), their SQL, reading a
//! range at the resolution `anshin-core::retention` chooses, and pruning what is past its window
//! in bounded batches.
//! Must not know: levels or incidents, when pruning runs.

use anshin_core::retention::{Resolution, Retention, Rollup};
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::params;
use serde::Serialize;
use ts_rs::TS;
use utoipa::ToSchema;

use super::{timestamp, Store, StoreError, StoreTx};

/// Schema step 3. Appended to `MIGRATIONS`; never edit once released.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE samples (
    host     TEXT NOT NULL,
    resource TEXT NOT NULL,
    at       TEXT NOT NULL,
    value    REAL NOT NULL
);
CREATE INDEX samples_by_host ON samples (host, resource, at);
"#;

/// Schema step 16: the rollups, filled from the readings already stored (contract: issue 16's
/// retention), and an index by age for pruning. Appended to `MIGRATIONS`; never edit once released.
pub(super) const MIGRATION_ROLLUPS: &str = r#"
CREATE TABLE sample_rollups (
    host     TEXT NOT NULL,
    resource TEXT NOT NULL,
    width    INTEGER NOT NULL CHECK (width IN (300, 3600)),
    bucket   INTEGER NOT NULL,
    count    INTEGER NOT NULL,
    min      REAL NOT NULL,
    mean     REAL NOT NULL,
    max      REAL NOT NULL,
    PRIMARY KEY (host, resource, width, bucket)
);
CREATE INDEX sample_rollups_age ON sample_rollups (width, bucket);
CREATE INDEX samples_age ON samples (at);
INSERT INTO sample_rollups (host, resource, width, bucket, count, min, mean, max)
    SELECT host, resource, w.width, (CAST(strftime('%s', at) AS INTEGER) / w.width) * w.width,
           COUNT(*), MIN(value), AVG(value), MAX(value)
      FROM samples, (SELECT 300 AS width UNION ALL SELECT 3600) AS w
     GROUP BY host, resource, w.width, (CAST(strftime('%s', at) AS INTEGER) / w.width) * w.width;
CREATE TRIGGER samples_rollup AFTER INSERT ON samples BEGIN
    INSERT INTO sample_rollups (host, resource, width, bucket, count, min, mean, max)
        SELECT NEW.host, NEW.resource, w.width, (CAST(strftime('%s', NEW.at) AS INTEGER) / w.width) * w.width,
               1, NEW.value, NEW.value, NEW.value
          FROM (SELECT 300 AS width UNION ALL SELECT 3600) AS w WHERE true
    ON CONFLICT (host, resource, width, bucket) DO UPDATE SET
        count = count + 1, min = MIN(min, excluded.min), max = MAX(max, excluded.max),
        mean = (mean * count + excluded.mean) / (count + 1);
END;
"#;

/// One reading.
#[derive(Debug, Clone, PartialEq, Serialize, TS, ToSchema)]
pub struct Sample {
    pub host: String,
    /// `load`, `disk`, `inode` or `mailq`.
    pub resource: String,
    pub at: String,
    pub value: f64,
}

impl StoreTx<'_> {
    pub fn add_sample(&self, host: &str, resource: &str, value: f64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO samples (host, resource, at, value) VALUES (?1, ?2, ?3, ?4)",
            params![host, resource, timestamp(at), value],
        )?;
        // The rollups follow by the table's trigger (whoever inserts a reading).
        Ok(())
    }

    /// Deletes at most `batch` rows of each resolution that are past their window at `now`;
    /// returns how many went. Bounded so that a write transaction stays short.
    pub fn prune_samples(&self, retention: &Retention, now: DateTime<Utc>, batch: usize) -> Result<usize, StoreError> {
        let mut gone = 0;
        for (r, before) in retention.cutoffs(now) {
            gone += if r == Resolution::Raw {
                self.tx.execute(
                    "DELETE FROM samples WHERE rowid IN (SELECT rowid FROM samples WHERE at < ?1 LIMIT ?2)",
                    params![timestamp(before), batch as i64],
                )?
            } else {
                self.tx.execute(
                    "DELETE FROM sample_rollups WHERE rowid IN
                       (SELECT rowid FROM sample_rollups WHERE width = ?1 AND bucket < ?2 LIMIT ?3)",
                    params![r.width_secs(), before.timestamp(), batch as i64],
                )?
            };
        }
        Ok(gone)
    }
}

impl Store {
    /// How many raw readings and rollup buckets the store holds (benchmarks, tests).
    pub fn sample_row_counts(&self) -> Result<(u64, u64), StoreError> {
        let count = |table: &str| -> Result<u64, StoreError> {
            Ok(self.conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok((count("samples")?, count("sample_rollups")?))
    }

    /// The readings of one host's resource from `since` on, oldest first.
    pub fn samples(&self, host: &str, resource: &str, since: DateTime<Utc>) -> Result<Vec<Sample>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT host, resource, at, value FROM samples WHERE host = ?1 AND resource = ?2 AND at >= ?3 ORDER BY at",
        )?;
        let rows = stmt
            .query_map(params![host, resource, timestamp(since)], |r| {
                Ok(Sample { host: r.get(0)?, resource: r.get(1)?, at: r.get(2)?, value: r.get(3)? })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The buckets of one host's resource at `resolution` (5-minute or hourly) starting in
    /// `[from, to)`, oldest first.
    pub fn rollups(
        &self,
        host: &str,
        resource: &str,
        resolution: Resolution,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Rollup)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT bucket, count, min, mean, max FROM sample_rollups
              WHERE host = ?1 AND resource = ?2 AND width = ?3 AND bucket >= ?4 AND bucket < ?5 ORDER BY bucket",
        )?;
        let rows = stmt
            .query_map(params![host, resource, resolution.width_secs(), from.timestamp(), to.timestamp()], |r| {
                let at: i64 = r.get(0)?;
                Ok((
                    Utc.timestamp_opt(at, 0).single().unwrap_or_default(),
                    Rollup { count: r.get::<_, i64>(1)? as u64, min: r.get(2)?, mean: r.get(3)?, max: r.get(4)? },
                ))
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// A chart's series of one host's resource over `[from, now)`: the raw readings when the
    /// range is short and still kept, else the means of 5-minute or hourly buckets (at each
    /// bucket's start), as `Resolution::for_range` chooses. Returns the resolution read.
    pub fn series(
        &self,
        host: &str,
        resource: &str,
        from: DateTime<Utc>,
        now: DateTime<Utc>,
        retention: &Retention,
    ) -> Result<(Resolution, Vec<Sample>), StoreError> {
        let resolution = Resolution::for_range(from, now, now, retention);
        if resolution == Resolution::Raw {
            return Ok((resolution, self.samples(host, resource, from)?));
        }
        let points = self
            .rollups(host, resource, resolution, resolution.bucket_start(from), now)?
            .into_iter()
            .map(|(at, r)| Sample { host: host.into(), resource: resource.into(), at: timestamp(at), value: r.mean })
            .collect();
        Ok((resolution, points))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_kept_in_order_per_host_and_resource() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("log.db")).unwrap();
        let t =
            |m: u32| DateTime::parse_from_rfc3339(&format!("2026-11-25T01:{m:02}:00Z")).unwrap().with_timezone(&Utc);
        let tx = s.begin().unwrap();
        tx.add_sample("web01", "load", 0.5, t(2)).unwrap();
        tx.add_sample("web01", "load", 25.31, t(1)).unwrap();
        tx.add_sample("web01", "disk", 81.0, t(1)).unwrap();
        tx.add_sample("web02", "load", 9.0, t(1)).unwrap();
        tx.commit().unwrap();
        let got: Vec<f64> = s.samples("web01", "load", t(0)).unwrap().iter().map(|x| x.value).collect();
        assert_eq!(got, [25.31, 0.5]);
        assert_eq!(s.samples("web01", "load", t(2)).unwrap().len(), 1);
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// A known series (the core's: readings 1..=12 a minute apart from 09:58 UTC) through the
    /// store: the buckets equal the hand computation; an older store's readings are back-filled.
    #[test]
    fn rollups_of_a_known_series_equal_the_hand_computation() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("log.db")).unwrap();
        let tx = s.begin().unwrap();
        for i in 0..12 {
            tx.add_sample("web01", "load", (i + 1) as f64, at("2026-11-30T09:58:00Z") + chrono::Duration::minutes(i))
                .unwrap();
        }
        tx.commit().unwrap();
        let five = s
            .rollups("web01", "load", Resolution::FiveMinutes, at("2026-11-30T00:00:00Z"), at("2026-12-01T00:00:00Z"))
            .unwrap();
        let got: Vec<(String, u64, f64, f64, f64)> =
            five.iter().map(|(t, r)| (t.format("%H:%M").to_string(), r.count, r.min, r.mean, r.max)).collect();
        assert_eq!(
            got,
            [
                ("09:55".into(), 2, 1.0, 1.5, 2.0),
                ("10:00".into(), 5, 3.0, 5.0, 7.0),
                ("10:05".into(), 5, 8.0, 10.0, 12.0)
            ]
        );
        let hours = s
            .rollups("web01", "load", Resolution::Hourly, at("2026-11-30T00:00:00Z"), at("2026-12-01T00:00:00Z"))
            .unwrap();
        let hours: Vec<(u64, f64)> = hours.iter().map(|(_, r)| (r.count, r.mean)).collect();
        assert_eq!(hours, [(2, 1.5), (10, 7.5)]);
    }

    #[test]
    fn an_older_store_is_back_filled_by_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = crate::store::older_log(&path, super::super::ROLLUP_STEP);
            for (i, v) in [2.0, 4.0, 9.0].iter().enumerate() {
                conn.execute(
                    "INSERT INTO samples (host, resource, at, value) VALUES ('web01', 'disk', ?1, ?2)",
                    params![format!("2026-11-30T10:0{i}:00.000Z"), v],
                )
                .unwrap();
            }
        }
        let s = Store::open(&path).unwrap();
        let hour = s
            .rollups("web01", "disk", Resolution::Hourly, at("2026-11-30T00:00:00Z"), at("2026-12-01T00:00:00Z"))
            .unwrap();
        assert_eq!(hour.len(), 1);
        assert_eq!((hour[0].1.count, hour[0].1.min, hour[0].1.mean, hour[0].1.max), (3, 2.0, 5.0, 9.0));
    }

    /// Pruning keeps the documented windows (raw 7 days, 5-minute 90, hourly 730 by default),
    /// batch by batch; a 30-day chart reads the hourly buckets, not the raw rows.
    #[test]
    fn pruning_keeps_the_windows_and_a_month_chart_reads_rollups() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("log.db")).unwrap();
        let now = at("2026-12-01T00:00:00Z");
        let ages = [1, 6, 8, 60, 100, 700, 800];
        let tx = s.begin().unwrap();
        for d in ages {
            tx.add_sample("web01", "load", d as f64, now - chrono::Duration::days(d)).unwrap();
        }
        tx.commit().unwrap();
        let r = Retention::default();
        let mut total = 0;
        loop {
            let tx = s.begin().unwrap();
            let gone = tx.prune_samples(&r, now, 1).unwrap();
            tx.commit().unwrap();
            total += gone;
            if gone == 0 {
                break;
            }
        }
        // raw: 8, 60, 100, 700, 800 days old gone (5); 5-minute: 100, 700, 800 (3); hourly: 800 (1).
        assert_eq!(total, 9);
        let raw: Vec<f64> =
            s.samples("web01", "load", now - chrono::Duration::days(1000)).unwrap().iter().map(|x| x.value).collect();
        assert_eq!(raw, [6.0, 1.0]);
        let long_ago = now - chrono::Duration::days(1000);
        let five: Vec<f64> = s
            .rollups("web01", "load", Resolution::FiveMinutes, long_ago, now)
            .unwrap()
            .iter()
            .map(|x| x.1.mean)
            .collect();
        assert_eq!(five, [60.0, 8.0, 6.0, 1.0]);
        let hourly: Vec<f64> =
            s.rollups("web01", "load", Resolution::Hourly, long_ago, now).unwrap().iter().map(|x| x.1.mean).collect();
        assert_eq!(hourly, [700.0, 100.0, 60.0, 8.0, 6.0, 1.0]);
        let (resolution, month) = s.series("web01", "load", now - chrono::Duration::days(30), now, &r).unwrap();
        assert_eq!(resolution, Resolution::Hourly);
        let values: Vec<f64> = month.iter().map(|x| x.value).collect();
        assert_eq!(values, [8.0, 6.0, 1.0], "the 8-day-old reading is only in the rollups");
    }
}
