//! The store: one SQLite file (WAL) holding check states, incidents, the append-only event
//! log and the mail outbox (`outbox`), so a restarted engine resumes exactly where it stopped.
//!
//! Owns: the schema and its migrations, every SQL statement, and the invariants the database
//! itself enforces — at most one open incident per (host, check) (a partial unique index), at
//! most one running recovery per server (another), and an event log that refuses UPDATE and
//! DELETE (triggers) and is a hash chain (`audit`): every event is written through
//! [`StoreTx`]'s one insert path, inside an IMMEDIATE transaction, so two writers never fork it.
//! Must not know: why things happen (the engine and `anshin-core` decide); callers speak in
//! incidents and events, never SQL, so the store can move to PostgreSQL later.

use std::path::Path;

use anshin_core::{CheckKey, CheckKind, CheckState, Level};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use ts_rs::TS;
use utoipa::ToSchema;

pub mod acks;
pub mod audit;
mod backlog;
pub mod backups;
mod coverage;
pub mod export;
pub mod ledger;
pub mod maintenance;
pub mod outbox;
pub mod recovery;
pub mod reports;
pub mod review;
pub mod samples;
pub mod updates;

pub use audit::ChainReport;
pub use outbox::{NewMail, OutboxKind, OutboxRecord, OutboxState};

/// `PRAGMA application_id`: marks a file as an Anshin NOC log ("ANSH").
const APPLICATION_ID: i32 = 0x414E_5348;

/// Schema steps; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE check_state (
    host        TEXT NOT NULL,
    check_id    TEXT NOT NULL,
    failures    INTEGER NOT NULL,
    hard        INTEGER NOT NULL,
    last_ok     INTEGER,
    detail      TEXT NOT NULL,
    changed_at  TEXT NOT NULL,
    PRIMARY KEY (host, check_id)
);
CREATE TABLE incidents (
    id          INTEGER PRIMARY KEY,
    host        TEXT NOT NULL,
    check_id    TEXT NOT NULL,
    level       INTEGER NOT NULL,
    trigger     TEXT NOT NULL,
    opened_at   TEXT NOT NULL,
    closed_at   TEXT
);
CREATE UNIQUE INDEX incidents_one_open ON incidents (host, check_id) WHERE closed_at IS NULL;
CREATE INDEX incidents_opened ON incidents (opened_at);
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    incident_id INTEGER REFERENCES incidents (id),
    host        TEXT,
    check_id    TEXT,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_incident ON events (incident_id);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
"#,
    outbox::MIGRATION,
    samples::MIGRATION,
    outbox::MIGRATION_HTML,
    maintenance::MIGRATION,
    reports::MIGRATION,
    coverage::MIGRATION,
    audit::MIGRATION,
    recovery::MIGRATION,
    maintenance::MIGRATION_END,
    ledger::MIGRATION,
    recovery::MIGRATION_CAUSE,
    backups::MIGRATION,
    outbox::MIGRATION_WRITTEN,
    updates::MIGRATION,
    samples::MIGRATION_ROLLUPS,
];

/// The schema version (`user_version`) from which the event log carries `actor` and `hash`.
const AUDIT_STEP: i64 = 8;
/// The schema version from which `recoveries`, `calls` and `consents` exist.
const RECOVERY_STEP: i64 = 9;
/// The schema version from which maintenance windows can be ended early (`ended_at`, `ended_by`).
const MAINTENANCE_END_STEP: i64 = 10;
/// The schema version from which resource samples have rollups.
#[cfg(test)]
pub(crate) const ROLLUP_STEP: i64 = 16;
/// The schema version from which every consent records its cause (contract §9.8).
const CONSENT_CAUSE_STEP: i64 = 12;

/// A log as an older version wrote it, for tests of migrations and of readers of older files:
/// the schema steps before `step` applied, none from it on.
#[cfg(test)]
pub(crate) fn older_log(path: &Path, step: i64) -> Connection {
    let conn = Connection::open(path).unwrap();
    for sql in &MIGRATIONS[..(step - 1) as usize] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", step - 1).unwrap();
    conn.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
    conn
}

/// Rust run inside the migration transaction right after a step's SQL (by the version that step
/// brings the schema to): what SQL alone cannot do, like hashing the existing events.
type Hook = fn(&rusqlite::Transaction<'_>) -> Result<(), StoreError>;
const HOOKS: &[(i64, Hook)] = &[(AUDIT_STEP, audit::backfill)];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("{path} is not an Anshin NOC log (a different SQLite application wrote it)")]
    NotALog { path: String },
    #[error(
        "{path} was written by a newer Anshin NOC (schema {found}, this one knows up to {known}): upgrade to read it"
    )]
    NewerSchema { path: String, found: i64, known: i64 },
    #[error("{path} has no incident log yet (no engine has run on it)")]
    Empty { path: String },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// The wire and display form of a time: RFC 3339 UTC with milliseconds (sorts as text).
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One incident as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct IncidentRecord {
    pub id: i64,
    pub host: String,
    pub check: String,
    pub level: u8,
    pub trigger: String,
    pub opened_at: String,
    pub closed_at: Option<String>,
    pub events: Vec<EventRecord>,
}

/// One entry of the append-only event log (the audit log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct EventRecord {
    pub id: i64,
    pub at: String,
    pub kind: String,
    pub incident_id: Option<i64>,
    pub host: Option<String>,
    pub check: Option<String>,
    pub detail: String,
    /// Who: an operator's name, or the engine (`engine`, `rule:auto-restart` …). None for entries
    /// written before the audit log existed.
    pub actor: Option<String>,
    /// The entry's link in the hash chain (see [`audit`]); None only in a log too old to have one.
    pub hash: Option<String>,
}

/// What a restarted engine needs of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCheck {
    pub key: CheckKey,
    pub state: CheckState,
    pub detail: String,
    pub open_incident: Option<i64>,
}

#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: std::path::PathBuf,
}

impl Store {
    /// The file this store lives in (a second connection, e.g. the outbox runner, opens it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens (creating if needed) a store for an engine: WAL, full sync, schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| StoreError::Open { path: name.clone(), source })?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        check_identity(&conn, &name)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Store { conn, path: path.to_path_buf() };
        store.migrate()?;
        Ok(store)
    }

    /// How long a statement waits for another writer's lock before it fails with "busy". The
    /// engine's decider waits briefly and retries on its own (results wait in memory) rather
    /// than blocking its thread for the default 10 s.
    pub fn set_busy_timeout(&self, wait: std::time::Duration) -> Result<(), StoreError> {
        Ok(self.conn.busy_timeout(wait)?)
    }

    /// Opens an existing store for reading only (the log viewer, `anshin incidents`); works
    /// while an engine writes to it, and changes nothing.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|source| StoreError::Open { path: name.clone(), source })?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version = check_identity(&conn, &name)?;
        if version == 0 {
            return Err(StoreError::Empty { path: name });
        }
        Ok(Store { conn, path: path.to_path_buf() })
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        // IMMEDIATE, and the version read inside: two processes opening an old file at once
        // migrate it once (the second waits, then finds it done).
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let reached = (i + 1) as i64;
            tx.execute_batch(step)?;
            for (_, hook) in HOOKS.iter().filter(|(at, _)| *at == reached) {
                hook(&tx)?;
            }
            tx.pragma_update(None, "user_version", reached)?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()?;
        Ok(())
    }

    /// Check states and open incidents, for an engine resuming after a stop or a crash.
    pub fn saved_checks(&self) -> Result<Vec<SavedCheck>, StoreError> {
        let mut out: Vec<SavedCheck> = Vec::new();
        let mut stmt = self.conn.prepare(
            "SELECT s.host, s.check_id, s.failures, s.hard, s.last_ok, s.detail, i.id
               FROM check_state s
               LEFT JOIN incidents i ON i.host = s.host AND i.check_id = s.check_id AND i.closed_at IS NULL
             UNION ALL
             SELECT i.host, i.check_id, 0, 1, 0, '', i.id FROM incidents i
              WHERE i.closed_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM check_state s WHERE s.host = i.host AND s.check_id = i.check_id)",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, Option<bool>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<i64>>(6)?,
            ))
        })?;
        for row in rows {
            let (host, check, failures, hard_down, last_ok, detail, open_incident) = row?;
            // Resource, host-key and backup incidents are resumed from `incidents()`, not here.
            if anshin_core::check::is_other_incident(&check) {
                continue;
            }
            // A check id this version cannot read is kept under a custom name rather than lost.
            let kind = CheckKind::from_id(&check).unwrap_or(CheckKind::Custom(check));
            out.push(SavedCheck {
                key: CheckKey::new(host, kind),
                state: CheckState { failures, hard_down, last_ok },
                detail,
                open_incident,
            });
        }
        Ok(out)
    }

    /// Starts a write transaction; everything done through it lands together or not at all.
    /// A write transaction that takes the write lock at once (IMMEDIATE), so another writer
    /// (the outbox runner, the report schedule) makes it wait up to the busy timeout instead of
    /// failing it half-way, when a read inside it would have to become a write.
    pub fn begin(&mut self) -> Result<StoreTx<'_>, StoreError> {
        Ok(StoreTx { tx: self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)? })
    }

    /// The incident log, newest first, each with its events.
    pub fn incidents(&self, open_only: bool, limit: usize) -> Result<Vec<IncidentRecord>, StoreError> {
        self.incidents_before(open_only, limit, None)
    }

    /// A page of the incident log, newest first: incidents with an id below `before` (all when
    /// None), each with its events.
    pub fn incidents_before(
        &self,
        open_only: bool,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let sql = format!(
            "SELECT id, host, check_id, level, trigger, opened_at, closed_at FROM incidents
              WHERE id < ?2 {} ORDER BY id DESC LIMIT ?1",
            if open_only { "AND closed_at IS NULL" } else { "" }
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut incidents: Vec<IncidentRecord> = stmt
            .query_map(params![limit as i64, before.unwrap_or(i64::MAX)], incident_row)?
            .collect::<Result<_, _>>()?;
        let mut ev = self
            .conn
            .prepare(&format!("SELECT {} FROM events WHERE incident_id = ?1 ORDER BY id", self.event_columns()?))?;
        for inc in &mut incidents {
            inc.events = ev.query_map([inc.id], event_row)?.collect::<Result<_, _>>()?;
        }
        Ok(incidents)
    }

    /// One incident (open or closed) by id, without its events (None: no such incident).
    pub fn incident_record(&self, id: i64) -> Result<Option<IncidentRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, host, check_id, level, trigger, opened_at, closed_at FROM incidents WHERE id = ?1",
                [id],
                incident_row,
            )
            .optional()?)
    }

    /// The whole event log in order (for tests and exports).
    /// The events of one kind logged after event `after` (by id), oldest first.
    pub fn events_after(&self, after: i64, kind: &str) -> Result<Vec<EventRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM events WHERE id > ?1 AND kind = ?2 ORDER BY id",
            self.event_columns()?
        ))?;
        let rows = stmt.query_map(params![after, kind], event_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The id of the latest event (0 in an empty log).
    pub fn last_event_id(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?)
    }

    pub fn events(&self) -> Result<Vec<EventRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!("SELECT {} FROM events ORDER BY id", self.event_columns()?))?;
        let rows = stmt.query_map([], event_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The schema version of the file (`PRAGMA user_version`): a read-only store may be older
    /// than this program, and its readers leave out what it does not have yet.
    fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// The columns [`event_row`] reads, for this file's schema.
    fn event_columns(&self) -> Result<&'static str, StoreError> {
        Ok(if self.schema_version()? >= AUDIT_STEP { EVENT_COLUMNS } else { EVENT_COLUMNS_V7 })
    }
}

/// The `events` columns [`event_row`] reads.
const EVENT_COLUMNS: &str = "id, at, kind, incident_id, host, check_id, detail, actor, hash";
/// The same for a log older than the audit chain (no `actor`, no `hash` yet).
const EVENT_COLUMNS_V7: &str = "id, at, kind, incident_id, host, check_id, detail, NULL, NULL";

/// An `incidents` row (`id, host, check_id, level, trigger, opened_at, closed_at`), no events yet.
pub(super) fn incident_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IncidentRecord> {
    Ok(IncidentRecord {
        id: r.get(0)?,
        host: r.get(1)?,
        check: r.get(2)?,
        level: r.get(3)?,
        trigger: r.get(4)?,
        opened_at: r.get(5)?,
        closed_at: r.get(6)?,
        events: Vec::new(),
    })
}

/// An `events` row as [`EVENT_COLUMNS`] selects it.
fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRecord> {
    Ok(EventRecord {
        id: r.get(0)?,
        at: r.get(1)?,
        kind: r.get(2)?,
        incident_id: r.get(3)?,
        host: r.get(4)?,
        check: r.get(5)?,
        detail: r.get(6)?,
        actor: r.get(7)?,
        hash: r.get(8)?,
    })
}

/// Refuses files that are not ours or are from a newer schema; returns the schema version.
fn check_identity(conn: &Connection, path: &str) -> Result<i64, StoreError> {
    let app: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|source| StoreError::Open { path: path.into(), source })?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let has_tables: bool =
        conn.query_row("SELECT count(*) > 0 FROM sqlite_master", [], |r| r.get(0)).optional()?.unwrap_or(false);
    if (app != 0 && app != APPLICATION_ID) || (app == 0 && has_tables) {
        return Err(StoreError::NotALog { path: path.into() });
    }
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::NewerSchema { path: path.into(), found: version, known });
    }
    Ok(version)
}

/// A write transaction of the engine.
pub struct StoreTx<'a> {
    tx: rusqlite::Transaction<'a>,
}

impl StoreTx<'_> {
    pub fn save_check_state(
        &self,
        key: &CheckKey,
        state: &CheckState,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO check_state (host, check_id, failures, hard, last_ok, detail, changed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (host, check_id) DO UPDATE SET failures = ?3, hard = ?4, last_ok = ?5, detail = ?6, changed_at = ?7",
            params![key.host, key.kind.id(), state.failures, state.hard_down, state.last_ok, detail, timestamp(at)],
        )?;
        Ok(())
    }

    /// Forgets a check's state (the check left the fleet: if it comes back, it starts afresh).
    pub fn forget_check_state(&self, key: &CheckKey) -> Result<(), StoreError> {
        self.tx
            .execute("DELETE FROM check_state WHERE host = ?1 AND check_id = ?2", params![key.host, key.kind.id()])?;
        Ok(())
    }

    /// Opens an incident and logs `incident_opened`; returns its id.
    pub fn open_incident(
        &self,
        key: &CheckKey,
        level: Level,
        trigger: &str,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.open_incident_on(&key.host, &key.kind.id(), level, trigger, detail, at)
    }

    /// Opens an incident on any check id (`load`, `disk` … for resources) and logs it.
    pub fn open_incident_on(
        &self,
        host: &str,
        check: &str,
        level: Level,
        trigger: &str,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.tx.execute(
            "INSERT INTO incidents (host, check_id, level, trigger, opened_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![host, check, level.number(), trigger, timestamp(at)],
        )?;
        let id = self.tx.last_insert_rowid();
        self.event_on("incident_opened", Some(id), Some(host), Some(check), detail, at)?;
        Ok(id)
    }

    /// Changes an open incident's level and trigger (a resource rising or falling) and logs
    /// `level_raised` or `level_lowered`.
    #[allow(clippy::too_many_arguments)]
    pub fn change_incident_level(
        &self,
        id: i64,
        host: &str,
        check: &str,
        level: Level,
        trigger: &str,
        raised: bool,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.tx.execute(
            "UPDATE incidents SET level = ?2, trigger = ?3 WHERE id = ?1",
            params![id, level.number(), trigger],
        )?;
        let kind = if raised { "level_raised" } else { "level_lowered" };
        self.event_on(kind, Some(id), Some(host), Some(check), &format!("{level} {trigger}"), at)?;
        Ok(())
    }

    /// Closes an incident and logs `incident_closed`.
    pub fn close_incident(&self, id: i64, key: &CheckKey, detail: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.close_incident_on(id, &key.host, &key.kind.id(), detail, at)
    }

    /// Closes an incident of any check id and logs `incident_closed`.
    pub fn close_incident_on(
        &self,
        id: i64,
        host: &str,
        check: &str,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.tx.execute(
            "UPDATE incidents SET closed_at = ?2 WHERE id = ?1 AND closed_at IS NULL",
            params![id, timestamp(at)],
        )?;
        self.event_on("incident_closed", Some(id), Some(host), Some(check), detail, at)?;
        Ok(())
    }

    /// Logs an event of the engine (actor `engine`).
    pub fn append_event(
        &self,
        kind: &str,
        incident: Option<i64>,
        key: Option<&CheckKey>,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let check = key.map(|k| k.kind.id());
        self.event_on(kind, incident, key.map(|k| k.host.as_str()), check.as_deref(), detail, at)?;
        Ok(())
    }

    /// Logs an event with who did it (an operator's name, or a rule such as
    /// `rule:auto-restart`); returns the event's id.
    #[allow(clippy::too_many_arguments)]
    pub fn append_event_by(
        &self,
        kind: &str,
        incident: Option<i64>,
        host: Option<&str>,
        check: Option<&str>,
        detail: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.append(EventRecord {
            id: 0,
            at: timestamp(at),
            kind: kind.into(),
            incident_id: incident,
            host: host.map(Into::into),
            check: check.map(Into::into),
            detail: detail.into(),
            actor: Some(actor.into()),
            hash: None,
        })
    }

    /// Logs an event of the engine (actor `engine`); returns its id.
    fn event_on(
        &self,
        kind: &str,
        incident: Option<i64>,
        host: Option<&str>,
        check: Option<&str>,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.append_event_by(kind, incident, host, check, detail, audit::ENGINE, at)
    }

    /// The one path every event takes into the log: links it into the hash chain.
    fn append(&self, event: EventRecord) -> Result<i64, StoreError> {
        audit::append(&self.tx, event)
    }

    /// Marks a point inside the transaction that [`StoreTx::rollback_to_savepoint`] returns to
    /// (one console request: a request that fails is undone alone, the batch goes on).
    pub fn savepoint(&self) -> Result<(), StoreError> {
        self.tx.execute_batch("SAVEPOINT request")?;
        Ok(())
    }

    /// Keeps what was done since [`StoreTx::savepoint`].
    pub fn release_savepoint(&self) -> Result<(), StoreError> {
        self.tx.execute_batch("RELEASE request")?;
        Ok(())
    }

    /// Undoes what was done since [`StoreTx::savepoint`] (and ends the savepoint).
    pub fn rollback_to_savepoint(&self) -> Result<(), StoreError> {
        self.tx.execute_batch("ROLLBACK TO request; RELEASE request")?;
        Ok(())
    }

    pub fn commit(self) -> Result<(), StoreError> {
        self.tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anshin_core::Service;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn incidents_survive_reopening_and_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        let key = CheckKey::new("web01", CheckKind::Service(Service::Http));
        {
            let mut s = Store::open(&path).unwrap();
            let tx = s.begin().unwrap();
            let hard = CheckState { failures: 3, hard_down: true, last_ok: Some(false) };
            tx.save_check_state(&key, &hard, "refused", at("2026-11-25T01:00:00Z")).unwrap();
            let id = tx
                .open_incident(&key, Level::Severe, "web01 HTTP サービスダウン", "refused", at("2026-11-25T01:00:00Z"))
                .unwrap();
            assert_eq!(id, 1);
            tx.commit().unwrap();
        }
        let mut s = Store::open(&path).unwrap();
        let saved = s.saved_checks().unwrap();
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].key, key);
        assert_eq!(saved[0].open_incident, Some(1));
        assert!(saved[0].state.hard_down);

        // The database refuses a second open incident for the same check.
        let tx = s.begin().unwrap();
        assert!(tx.open_incident(&key, Level::Severe, "dup", "", at("2026-11-25T01:01:00Z")).is_err());
        drop(tx);

        let tx = s.begin().unwrap();
        tx.close_incident(1, &key, "HTTP/1.1 200 OK", at("2026-11-25T01:05:00Z")).unwrap();
        tx.commit().unwrap();
        let log = Store::open_read_only(&path).unwrap().incidents(false, 10).unwrap();
        assert_eq!(log[0].closed_at.as_deref(), Some("2026-11-25T01:05:00.000Z"));
        let kinds: Vec<&str> = log[0].events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["incident_opened", "incident_closed"]);
    }

    #[test]
    fn the_event_log_is_append_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("log.db")).unwrap();
        let tx = s.begin().unwrap();
        tx.append_event("engine_started", None, None, "", Utc::now()).unwrap();
        tx.commit().unwrap();
        assert!(s.conn.execute("UPDATE events SET kind = 'x'", []).is_err());
        assert!(s.conn.execute("DELETE FROM events", []).is_err());
        assert_eq!(s.events().unwrap().len(), 1);
    }

    #[test]
    fn foreign_and_newer_files_are_refused_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other.db");
        Connection::open(&other).unwrap().execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
        let before = std::fs::read(&other).unwrap();
        assert!(matches!(Store::open(&other), Err(StoreError::NotALog { .. })));
        assert!(matches!(Store::open_read_only(&other), Err(StoreError::NotALog { .. })));
        assert_eq!(std::fs::read(&other).unwrap(), before);

        let newer = dir.path().join("newer.db");
        drop(Store::open(&newer).unwrap());
        Connection::open(&newer).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = Store::open(&newer).unwrap_err();
        assert!(err.to_string().contains("newer Anshin NOC (schema 99"), "{err}");

        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, b"this is not sqlite at all, not even a header........................................................................").unwrap();
        assert!(Store::open_read_only(&garbage).is_err());
        let missing = dir.path().join("missing.db");
        assert!(Store::open_read_only(&missing).is_err());
        assert!(!missing.exists());
    }
}
