//! Maintenance windows in the store: a server (by label) or all servers of a customer (by id),
//! from a start to an end, with the reason and who recorded it (contract §1, maintenance pause).
//!
//! Owns: the `maintenance` table and its SQL, and the `maintenance_added` / `maintenance_ended` /
//! `maintenance_extended` entries of the event log (actor: the operator).
//! Must not know: what a window changes (pausing alerts is the engine's business; the monthly
//! report excludes window time from availability), or which servers a customer has.
//!
//! Ending a window early (schema step 10): `ends_at` becomes the time it was ended, and
//! `ended_at` / `ended_by` say when and by whom. A window ended before it began is cancelled:
//! its `ends_at` becomes its `starts_at` (it covers no time), which the table allows only for an
//! ended window. A cancelled window is history: listed among the ended ones, never in force, and
//! left out of [`Store::maintenance`] (the report's windows). The planned times stay in the
//! event log (`maintenance_added`, and the detail of `maintenance_ended`).

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use ts_rs::TS;
use utoipa::ToSchema;

use super::{timestamp, Store, StoreError, StoreTx, MAINTENANCE_END_STEP};

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

/// Schema step 10: a window can be ended early or cancelled (`ended_at`, `ended_by`; a
/// cancelled one has `ends_at = starts_at`). SQLite cannot change a CHECK constraint, so the
/// table is rebuilt with its rows and ids unchanged. Appended to `MIGRATIONS`; never edit once
/// released.
pub(super) const MIGRATION_END: &str = r#"
CREATE TABLE maintenance_v10 (
    id          INTEGER PRIMARY KEY,
    server      TEXT,
    customer    TEXT,
    starts_at   TEXT NOT NULL,
    ends_at     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    who         TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    ended_at    TEXT,
    ended_by    TEXT,
    CHECK ((server IS NULL) <> (customer IS NULL)),
    CHECK (ends_at > starts_at OR (ends_at = starts_at AND ended_at IS NOT NULL)),
    CHECK ((ended_at IS NULL) = (ended_by IS NULL))
);
INSERT INTO maintenance_v10 (id, server, customer, starts_at, ends_at, reason, who, created_at)
    SELECT id, server, customer, starts_at, ends_at, reason, who, created_at FROM maintenance;
DROP TABLE maintenance;
ALTER TABLE maintenance_v10 RENAME TO maintenance;
CREATE INDEX maintenance_range ON maintenance (starts_at, ends_at);
"#;

/// What a window covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct MaintenanceRecord {
    pub id: i64,
    pub scope: MaintenanceScope,
    pub starts_at: String,
    /// When it ends, or ended: an extension moves it later, ending it early sets it to that
    /// time, and cancelling it (ended before it began) sets it to `starts_at`.
    pub ends_at: String,
    pub reason: String,
    pub who: String,
    pub created_at: String,
    /// When an operator ended it before its planned end (None: it runs, or ran, as planned).
    pub ended_at: Option<String>,
    /// Who ended it early.
    pub ended_by: Option<String>,
}

impl MaintenanceRecord {
    /// The window as UTC times (None if the stored text is unreadable). A cancelled window is
    /// empty (start = end).
    pub fn interval(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let p = |s: &str| DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc));
        Some((p(&self.starts_at)?, p(&self.ends_at)?))
    }

    /// Ended before it began: it never was in force.
    pub fn cancelled(&self) -> bool {
        self.ended_at.is_some() && self.starts_at == self.ends_at
    }

    fn label(&self) -> String {
        match &self.scope {
            MaintenanceScope::Server(s) => format!("server {s}"),
            MaintenanceScope::Customer(c) => format!("customer {c}"),
        }
    }

    fn server(&self) -> Option<&str> {
        match &self.scope {
            MaintenanceScope::Server(s) => Some(s),
            MaintenanceScope::Customer(_) => None,
        }
    }
}

/// The columns [`maintenance_row`] reads.
const COLUMNS: &str = "id, server, customer, starts_at, ends_at, reason, who, created_at, ended_at, ended_by";
/// The same for a log older than schema step 10.
const COLUMNS_V9: &str = "id, server, customer, starts_at, ends_at, reason, who, created_at, NULL, NULL";

fn maintenance_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MaintenanceRecord> {
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
        ended_at: r.get(8)?,
        ended_by: r.get(9)?,
    })
}

/// Windows in force now or later (not cancelled), by start.
fn active_or_future(conn: &Connection, columns: &str, now: &str) -> Result<Vec<MaintenanceRecord>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {columns} FROM maintenance WHERE ends_at > ?1 AND ends_at > starts_at ORDER BY starts_at, id"
    ))?;
    let rows = stmt.query_map([now], maintenance_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Why a window cannot be recorded.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error("a maintenance window must end after it starts ({starts} – {ends})")]
    EmptyWindow { starts: String, ends: String },
    #[error("a maintenance window needs a reason and who recorded it")]
    Missing,
    #[error("no maintenance window {0}")]
    NotFound(i64),
    #[error("maintenance window {0} has already ended")]
    Ended(i64),
    #[error("an extension must end after the window's current end ({ends}), not at {new_end}")]
    NotLater { ends: String, new_end: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for MaintenanceError {
    fn from(e: rusqlite::Error) -> Self {
        MaintenanceError::Store(StoreError::Sql(e))
    }
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
        self.tx.execute(
            "INSERT INTO maintenance (server, customer, starts_at, ends_at, reason, who, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![server, customer, timestamp(m.starts_at), timestamp(m.ends_at), m.reason, m.who, timestamp(at)],
        )?;
        let id = self.tx.last_insert_rowid();
        let detail =
            format!("#{id} {label} {} – {} by {}: {}", timestamp(m.starts_at), timestamp(m.ends_at), m.who, m.reason);
        self.append_event_by("maintenance_added", None, server, None, &detail, &m.who, at)?;
        Ok(id)
    }

    /// One window by id (None: no such window).
    pub fn maintenance_by_id(&self, id: i64) -> Result<Option<MaintenanceRecord>, StoreError> {
        Ok(self
            .tx
            .query_row(&format!("SELECT {COLUMNS} FROM maintenance WHERE id = ?1"), [id], maintenance_row)
            .optional()?)
    }

    /// Windows in force at `now` or later (cancelled ones left out), by start: what the engine
    /// keeps in mind.
    pub fn maintenance_active_or_future(&self, now: DateTime<Utc>) -> Result<Vec<MaintenanceRecord>, StoreError> {
        active_or_future(&self.tx, COLUMNS, &timestamp(now))
    }

    /// A window still running or still to come, by id; `Ended` for one that is over (or was
    /// ended or cancelled before).
    fn open_window(&self, id: i64, at: DateTime<Utc>) -> Result<MaintenanceRecord, MaintenanceError> {
        let m = self.maintenance_by_id(id)?.ok_or(MaintenanceError::NotFound(id))?;
        let over = m.interval().is_none_or(|(_, ends)| ends <= at);
        if m.ended_at.is_some() || over {
            return Err(MaintenanceError::Ended(id));
        }
        Ok(m)
    }

    /// Ends a window now: a running one ends at `at`; one that has not begun is cancelled (its
    /// end set to its start: it covers no time). Logs `maintenance_ended` (actor `who`) with the
    /// times it had; returns the window as it is now.
    pub fn end_maintenance(
        &self,
        id: i64,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<MaintenanceRecord, MaintenanceError> {
        if who.trim().is_empty() {
            return Err(MaintenanceError::Missing);
        }
        let m = self.open_window(id, at)?;
        let (starts, _) = m.interval().ok_or(MaintenanceError::Ended(id))?;
        let (ends, what) = if starts < at { (at, "ended early") } else { (starts, "cancelled before it began") };
        self.tx.execute(
            "UPDATE maintenance SET ends_at = ?2, ended_at = ?3, ended_by = ?4 WHERE id = ?1",
            params![id, timestamp(ends), timestamp(at), who],
        )?;
        let detail = format!("#{id} {} {} – {} {what} by {who}", m.label(), m.starts_at, m.ends_at);
        self.append_event_by("maintenance_ended", None, m.server(), None, &detail, who, at)?;
        self.maintenance_by_id(id)?.ok_or(MaintenanceError::NotFound(id))
    }

    /// Moves a running or future window's end later. Logs `maintenance_extended` (actor `who`)
    /// with the old and the new end; returns the window as it is now.
    pub fn extend_maintenance(
        &self,
        id: i64,
        new_end: DateTime<Utc>,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<MaintenanceRecord, MaintenanceError> {
        if who.trim().is_empty() {
            return Err(MaintenanceError::Missing);
        }
        let m = self.open_window(id, at)?;
        let (_, ends) = m.interval().ok_or(MaintenanceError::Ended(id))?;
        if new_end <= ends {
            return Err(MaintenanceError::NotLater { ends: m.ends_at, new_end: timestamp(new_end) });
        }
        self.tx.execute("UPDATE maintenance SET ends_at = ?2 WHERE id = ?1", params![id, timestamp(new_end)])?;
        let detail = format!("#{id} {} until {} (was {}) by {who}", m.label(), timestamp(new_end), m.ends_at);
        self.append_event_by("maintenance_extended", None, m.server(), None, &detail, who, at)?;
        self.maintenance_by_id(id)?.ok_or(MaintenanceError::NotFound(id))
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

    /// Windows overlapping `[from, to)` (as they were in force: shortened ones to when they
    /// ended, cancelled ones left out), oldest first. Empty for a log older than the table.
    pub fn maintenance(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<MaintenanceRecord>, StoreError> {
        if !self.has_table("maintenance")? {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM maintenance WHERE starts_at < ?2 AND ends_at > ?1 AND ends_at > starts_at
              ORDER BY starts_at, id",
            self.maintenance_columns()?
        ))?;
        let rows =
            stmt.query_map(params![timestamp(from), timestamp(to)], maintenance_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The windows consoles list: those in force at `now` or later (by start), then the
    /// `recent_ended` that ended last (cancelled ones included, as of when they were
    /// cancelled), most recent first.
    pub fn maintenance_current(
        &self,
        now: DateTime<Utc>,
        recent_ended: usize,
    ) -> Result<Vec<MaintenanceRecord>, StoreError> {
        if !self.has_table("maintenance")? {
            return Ok(Vec::new());
        }
        let columns = self.maintenance_columns()?;
        // When it ended: early or cancelled ones when they were ended (a cancelled window's
        // `ends_at` may lie in the future), the others at their end.
        let ended = if columns == COLUMNS { "COALESCE(ended_at, ends_at)" } else { "ends_at" };
        let now = timestamp(now);
        let mut out = active_or_future(&self.conn, columns, &now)?;
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {columns} FROM maintenance WHERE NOT (ends_at > ?1 AND ends_at > starts_at)
              ORDER BY {ended} DESC, id DESC LIMIT ?2"
        ))?;
        let ended: Vec<MaintenanceRecord> =
            stmt.query_map(params![now, recent_ended as i64], maintenance_row)?.collect::<Result<_, _>>()?;
        out.extend(ended);
        Ok(out)
    }

    fn maintenance_columns(&self) -> Result<&'static str, StoreError> {
        Ok(if self.schema_version()? >= MAINTENANCE_END_STEP { COLUMNS } else { COLUMNS_V9 })
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
        let events = s.events().unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["maintenance_added", "maintenance_added"]);
        assert_eq!(events[0].actor.as_deref(), Some("ops1"));
    }

    #[test]
    fn windows_end_early_are_cancelled_or_extended_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("log.db")).unwrap();
        let now = at("2026-10-19T18:00:00Z");
        let w = |server: &str, a, b| NewMaintenance {
            scope: MaintenanceScope::Server(server.into()),
            starts_at: at(a),
            ends_at: at(b),
            reason: "OS 更新".into(),
            who: "ops1".into(),
        };
        let running = s.add_maintenance(&w("web01", "2026-10-19T17:00:00Z", "2026-10-19T19:00:00Z"), now).unwrap();
        let future = s.add_maintenance(&w("web02", "2026-10-20T17:00:00Z", "2026-10-20T19:00:00Z"), now).unwrap();
        let later = s.add_maintenance(&w("web03", "2026-10-21T17:00:00Z", "2026-10-21T19:00:00Z"), now).unwrap();
        let past = s.add_maintenance(&w("web04", "2026-10-01T17:00:00Z", "2026-10-01T19:00:00Z"), now).unwrap();

        let tx = s.begin().unwrap();
        let ids = |v: Vec<MaintenanceRecord>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(ids(tx.maintenance_active_or_future(now).unwrap()), [running, future, later]);
        // A running window ends now; a future one is cancelled (it covers no time).
        let ended = tx.end_maintenance(running, "ops2", now).unwrap();
        assert_eq!((ended.ends_at.as_str(), ended.ended_by.as_deref()), ("2026-10-19T18:00:00.000Z", Some("ops2")));
        assert!(!ended.cancelled());
        let cancelled = tx.end_maintenance(future, "ops2", now).unwrap();
        assert!(cancelled.cancelled());
        assert_eq!(cancelled.ends_at, cancelled.starts_at);
        assert!(matches!(tx.end_maintenance(running, "ops2", now), Err(MaintenanceError::Ended(id)) if id == running));
        assert!(matches!(tx.end_maintenance(past, "ops2", now), Err(MaintenanceError::Ended(_))));
        assert!(matches!(tx.end_maintenance(99, "ops2", now), Err(MaintenanceError::NotFound(99))));
        assert!(matches!(
            tx.extend_maintenance(future, at("2026-10-20T20:00:00Z"), "ops2", now),
            Err(MaintenanceError::Ended(_))
        ));
        // Extending moves the end later, never earlier.
        let longer = tx.extend_maintenance(later, at("2026-10-21T21:00:00Z"), "ops3", now).unwrap();
        assert_eq!(longer.ends_at, "2026-10-21T21:00:00.000Z");
        assert!(matches!(
            tx.extend_maintenance(later, at("2026-10-21T20:00:00Z"), "ops3", now),
            Err(MaintenanceError::NotLater { .. })
        ));
        assert_eq!(tx.maintenance_by_id(later).unwrap().unwrap(), longer);
        assert_eq!(tx.maintenance_by_id(99).unwrap(), None);
        assert_eq!(ids(tx.maintenance_active_or_future(now).unwrap()), [later]);
        tx.commit().unwrap();

        // Consoles: in force and future first, then the ended ones, most recent first.
        assert_eq!(ids(s.maintenance_current(now, 10).unwrap()), [later, future, running, past]);
        assert_eq!(ids(s.maintenance_current(now, 1).unwrap()), [later, future]);
        // The report: as they were in force (the cancelled one left out).
        let oct = s.maintenance(at("2026-10-01T00:00:00Z"), at("2026-11-01T00:00:00Z")).unwrap();
        assert_eq!(ids(oct.clone()), [past, running, later]);
        assert_eq!(oct[1].interval().unwrap().1, now);

        let events = s.events().unwrap();
        let kinds: Vec<(&str, &str)> =
            events.iter().skip(4).map(|e| (e.kind.as_str(), e.actor.as_deref().unwrap_or(""))).collect();
        assert_eq!(
            kinds,
            [("maintenance_ended", "ops2"), ("maintenance_ended", "ops2"), ("maintenance_extended", "ops3")]
        );
        assert!(events[4].detail.contains("ended early"), "{}", events[4].detail);
        assert!(events[5].detail.contains("cancelled before it began"), "{}", events[5].detail);
        assert_eq!(events[4].host.as_deref(), Some("web01"));
        assert!(events[6].detail.contains("(was 2026-10-21T19:00:00.000Z)"), "{}", events[6].detail);

        // Ordered by when they ended: the cancelled one (planned for tomorrow) was cancelled
        // before this one ended.
        let soon = s.add_maintenance(&w("web05", "2026-10-19T18:00:00Z", "2026-10-19T18:30:00Z"), now).unwrap();
        let after = at("2026-10-19T19:00:00Z");
        assert_eq!(ids(s.maintenance_current(after, 10).unwrap()), [later, soon, future, running, past]);
    }

    #[test]
    fn windows_of_an_older_log_survive_the_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = super::super::older_log(&path, MAINTENANCE_END_STEP);
            conn.execute(
                "INSERT INTO maintenance (id, server, starts_at, ends_at, reason, who, created_at)
                 VALUES (7, 'web01', '2026-10-19T17:00:00.000Z', '2026-10-19T19:00:00.000Z', 'r', 'ops1', 'x')",
                [],
            )
            .unwrap();
        }
        let old = Store::open_read_only(&path).unwrap();
        assert_eq!(old.maintenance_current(at("2026-10-19T18:00:00Z"), 5).unwrap()[0].ended_at, None);
        drop(old);
        let mut s = Store::open(&path).unwrap();
        let tx = s.begin().unwrap();
        let m = tx.maintenance_by_id(7).unwrap().unwrap();
        assert_eq!((m.who.as_str(), m.ends_at.as_str()), ("ops1", "2026-10-19T19:00:00.000Z"));
        tx.end_maintenance(7, "ops2", at("2026-10-19T18:00:00Z")).unwrap();
        tx.commit().unwrap();
        // The table still refuses an empty window that was not ended.
        assert!(s
            .conn
            .execute(
                "INSERT INTO maintenance (server, starts_at, ends_at, reason, who, created_at) VALUES ('a', 'x', 'x', 'r', 'w', 'x')",
                []
            )
            .is_err());
    }
}
