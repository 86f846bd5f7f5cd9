//! Resource samples: every reading of load, disk, inode and mail queue, for the history the
//! dashboard charts and the monthly report draw from.
//!
//! Owns: the `samples` table (schema step 3) and its SQL. Must not know: levels or incidents.
//! Retention (thinning old rows to daily min/mean/max) is not done yet.

use chrono::{DateTime, Utc};
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
        Ok(())
    }
}

impl Store {
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
}
