//! Maintenance windows in the store: a server (by label) or all servers of a customer (by id),
//! from a start to an end, with the reason and who recorded it (SPEC §1, maintenance pause).
//!
//! Owns: the `maintenance` table and its SQL, and the `maintenance_added` entry of the event log.
//! Must not know: what a window changes (pausing alerts is the engine's business, later; the
//! monthly report excludes window time from availability), or which servers a customer has.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::{timestamp, Store, StoreError, StoreTx};

/// Schema step: the maintenance windows. Appended to `MIGRATIONS`; never edit once released.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE maintenance (
    id          INTEGER PRIMARY KEY,
    server      TEXT,
    customer    TEXT,
    starts_at   TEXT NOT NULL,
    ends_at     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    who         TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CHECK ((server IS NULL) <> (customer IS NULL)),
    CHECK (ends_at > starts_at)
);
CREATE INDEX maintenance_range ON maintenance (starts_at, ends_at);
"#;

/// What a window covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum MaintenanceScope {
    /// One server, by its label.
    Server(String),
    /// Every server of a customer, by the customer's id.
    Customer(String),
}

/// A window to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMaintenance {
    pub scope: MaintenanceScope,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
    /// The operator who recorded it.
    pub who: String,
}

/// A recorded window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintenanceRecord {
    pub id: i64,
    pub scope: MaintenanceScope,
    pub starts_at: String,
    pub ends_at: String,
    pub reason: String,
    pub who: String,
    pub created_at: String,
}

impl MaintenanceRecord {
    /// The window as UTC times (None if the stored text is unreadable).
    pub fn interval(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let p = |s: &str| DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc));
        Some((p(&self.starts_at)?, p(&self.ends_at)?))
    }
}

/// Why a window cannot be recorded.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error("a maintenance window must end after it starts ({starts} – {ends})")]
    EmptyWindow { starts: String, ends: String },
    #[error("a maintenance window needs a reason and who recorded it")]
    Missing,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl StoreTx<'_> {
    /// Records a window and logs `maintenance_added`; returns its id.
    pub fn add_maintenance(&self, m: &NewMaintenance, at: DateTime<Utc>) -> Result<i64, MaintenanceError> {
        if m.ends_at <= m.starts_at {
            return Err(MaintenanceError::EmptyWindow { starts: timestamp(m.starts_at), ends: timestamp(m.ends_at) });
        }
        if m.reason.trim().is_empty() || m.who.trim().is_empty() {
            return Err(MaintenanceError::Missing);
        }
        let (server, customer, label) = match &m.scope {
            MaintenanceScope::Server(s) => (Some(s.as_str()), None, format!("server {s}")),
            MaintenanceScope::Customer(c) => (None, Some(c.as_str()), format!("customer {c}")),
        };
        self.tx
            .execute(
                "INSERT INTO maintenance (server, customer, starts_at, ends_at, reason, who, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![server, customer, timestamp(m.starts_at), timestamp(m.ends_at), m.reason, m.who, timestamp(at)],
            )
            .map_err(StoreError::from)?;
        let id = self.tx.last_insert_rowid();
        let detail =
            format!("{label} {} – {} by {}: {}", timestamp(m.starts_at), timestamp(m.ends_at), m.who, m.reason);
        self.event_on("maintenance_added", None, server, None, &detail, at)?;
        Ok(id)
    }
}

impl Store {
    /// Records a window in its own transaction (see [`StoreTx::add_maintenance`]).
    pub fn add_maintenance(&mut self, m: &NewMaintenance, at: DateTime<Utc>) -> Result<i64, MaintenanceError> {
        let tx = self.begin()?;
        let id = tx.add_maintenance(m, at)?;
        tx.commit()?;
        Ok(id)
    }

    /// Windows overlapping `[from, to)`, oldest first. Empty for a log older than the table.
    pub fn maintenance(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<MaintenanceRecord>, StoreError> {
        if !self.has_table("maintenance")? {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare(
            "SELECT id, server, customer, starts_at, ends_at, reason, who, created_at FROM maintenance
              WHERE starts_at < ?2 AND ends_at > ?1 ORDER BY starts_at, id",
        )?;
        let rows = stmt
            .query_map(params![timestamp(from), timestamp(to)], |r| {
                let server: Option<String> = r.get(1)?;
                let customer: Option<String> = r.get(2)?;
                Ok(MaintenanceRecord {
                    id: r.get(0)?,
                    scope: match server {
                        Some(s) => MaintenanceScope::Server(s),
                        None => MaintenanceScope::Customer(customer.unwrap_or_default()),
                    },
                    starts_at: r.get(3)?,
                    ends_at: r.get(4)?,
                    reason: r.get(5)?,
                    who: r.get(6)?,
                    created_at: r.get(7)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// True when the store has this table (a log written by an older version may not).
    pub(crate) fn has_table(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_are_recorded_listed_by_overlap_and_logged() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("log.db")).unwrap();
        let w = |scope, a, b| NewMaintenance {
            scope,
            starts_at: at(a),
            ends_at: at(b),
            reason: "OS 更新".into(),
            who: "ops1".into(),
        };
        let now = at("2026-10-01T00:00:00Z");
        s.add_maintenance(
            &w(MaintenanceScope::Server("web01".into()), "2026-10-19T17:00:00Z", "2026-10-19T19:00:00Z"),
            now,
        )
        .unwrap();
        s.add_maintenance(
            &w(MaintenanceScope::Customer("c1001".into()), "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
            now,
        )
        .unwrap();
        let bad = w(MaintenanceScope::Server("web01".into()), "2026-10-02T00:00:00Z", "2026-10-02T00:00:00Z");
        assert!(matches!(s.add_maintenance(&bad, now), Err(MaintenanceError::EmptyWindow { .. })));

        let oct = s.maintenance(at("2026-09-30T15:00:00Z"), at("2026-10-31T15:00:00Z")).unwrap();
        assert_eq!(oct.len(), 1);
        assert_eq!(oct[0].scope, MaintenanceScope::Server("web01".into()));
        assert_eq!(oct[0].interval(), Some((at("2026-10-19T17:00:00Z"), at("2026-10-19T19:00:00Z"))));
        assert_eq!(s.maintenance(at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z")).unwrap().len(), 2);
        let kinds: Vec<String> = s.events().unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["maintenance_added", "maintenance_added"]);
    }
}
