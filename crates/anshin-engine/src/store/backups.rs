//! Backup runs in the store (contract §7): every run of a server's backup — a full or a
//! differential against a full — from its start to its end, the generations it left, and their
//! pruning.
//!
//! Owns: the `backup_runs` table (schema step 13) and its SQL; one running backup per server
//! (a partial unique index, like one open incident per check); a run becomes a generation only
//! when it finished `ok` (a failed or interrupted run never counts, and is never half-counted);
//! the audit entries `backup_started`, `backup_finished`, `backup_interrupted`, `backup_pruned`
//! (actor: who asked, or the engine).
//! Must not know: when a backup is due or which generations to prune (`anshin-core`'s rules),
//! SSH, archives on disk.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use ts_rs::TS;
use utoipa::ToSchema;

use super::{timestamp, StoreError, StoreTx};

/// Schema step 13. Appended to `MIGRATIONS`; never edit once released.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE backup_runs (
    id           INTEGER PRIMARY KEY,
    host         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('full', 'differential')),
    base         INTEGER REFERENCES backup_runs (id),
    state        TEXT NOT NULL CHECK (state IN ('running', 'ok', 'failed', 'interrupted', 'pruned')),
    requested_by TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    bytes        INTEGER NOT NULL DEFAULT 0,
    files        INTEGER NOT NULL DEFAULT 0,
    warnings     INTEGER NOT NULL DEFAULT 0,
    archive      TEXT,
    snapshot     TEXT,
    detail       TEXT NOT NULL DEFAULT '',
    pruned_at    TEXT,
    CHECK ((kind = 'full') = (base IS NULL))
);
CREATE UNIQUE INDEX backup_runs_one_running ON backup_runs (host) WHERE state = 'running';
CREATE INDEX backup_runs_host ON backup_runs (host, started_at);
"#;

/// Full (GNU tar level 0) or differential (level 1 against its full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackupKind {
    Full,
    Differential,
}

impl BackupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Full => "full",
            BackupKind::Differential => "differential",
        }
    }

    fn parse(s: &str) -> BackupKind {
        if s == "full" {
            BackupKind::Full
        } else {
            BackupKind::Differential
        }
    }
}

/// One backup run (an `ok` one is a generation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct BackupRun {
    /// The generation's number (the run's id).
    pub id: i64,
    pub host: String,
    pub kind: BackupKind,
    /// A differential's full.
    pub base: Option<i64>,
    /// `running`, `ok` (a generation), `failed`, `interrupted` (cut off by a stop or a lost
    /// connection), `pruned` (a generation removed after a newer full completed).
    pub state: String,
    pub requested_by: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub finished_at: Option<String>,
    /// What the backup store holds of it (compressed).
    pub bytes: u64,
    pub files: u64,
    /// Files that could not be read (recorded and counted, not a failed run).
    pub warnings: u64,
    /// The archive and snapshot files, relative to the backup store.
    pub archive: Option<String>,
    pub snapshot: Option<String>,
    /// Why it failed, or a short summary.
    pub detail: String,
    pub pruned_at: Option<String>,
}

const COLUMNS: &str = "id, host, kind, base, state, requested_by, started_at, finished_at, bytes, files, warnings, \
                       archive, snapshot, detail, pruned_at";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BackupRun> {
    Ok(BackupRun {
        id: r.get(0)?,
        host: r.get(1)?,
        kind: BackupKind::parse(&r.get::<_, String>(2)?),
        base: r.get(3)?,
        state: r.get(4)?,
        requested_by: r.get(5)?,
        started_at: r.get(6)?,
        finished_at: r.get(7)?,
        bytes: r.get::<_, i64>(8)?.max(0) as u64,
        files: r.get::<_, i64>(9)?.max(0) as u64,
        warnings: r.get::<_, i64>(10)?.max(0) as u64,
        archive: r.get(11)?,
        snapshot: r.get(12)?,
        detail: r.get(13)?,
        pruned_at: r.get(14)?,
    })
}

/// What a finished run left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupOutcome {
    /// A generation: its archive and snapshot (relative to the store), sizes, unreadable files.
    Ok { bytes: u64, files: u64, warnings: u64, archive: String, snapshot: String },
    /// Not a generation: why.
    Failed { detail: String },
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("a backup of {0} is running already")]
    Running(String),
    #[error("a differential needs a full of the same server that completed (generation {0} is not one)")]
    NoBase(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for BackupError {
    fn from(e: rusqlite::Error) -> Self {
        BackupError::Store(e.into())
    }
}

impl StoreTx<'_> {
    /// Records a run starting now (`base`: a differential's full, which must be an `ok` full of
    /// the same server). Refused while another run of the server is running.
    pub fn start_backup(
        &self,
        host: &str,
        kind: BackupKind,
        base: Option<i64>,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<BackupRun, BackupError> {
        if let Some(base) = base {
            let ok: bool = self.tx.query_row(
                "SELECT count(*) > 0 FROM backup_runs WHERE id = ?1 AND host = ?2 AND kind = 'full' AND state = 'ok'",
                params![base, host],
                |r| r.get(0),
            )?;
            if !ok || kind != BackupKind::Differential {
                return Err(BackupError::NoBase(base));
            }
        }
        let base = if kind == BackupKind::Full { None } else { base };
        if kind == BackupKind::Differential && base.is_none() {
            return Err(BackupError::NoBase(0));
        }
        let inserted = self.tx.execute(
            "INSERT INTO backup_runs (host, kind, base, state, requested_by, started_at)
             VALUES (?1, ?2, ?3, 'running', ?4, ?5)",
            params![host, kind.as_str(), base, by, timestamp(at)],
        );
        match inserted {
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                return Err(BackupError::Running(host.into()))
            }
            other => {
                other?;
            }
        }
        let id = self.tx.last_insert_rowid();
        let against = base.map(|b| format!(" against full #{b}")).unwrap_or_default();
        self.append_event_by(
            "backup_started",
            None,
            Some(host),
            Some("backup"),
            &format!("#{id} {}{against}", kind.as_str()),
            by,
            at,
        )?;
        Ok(self.backup(id)?.expect("just inserted"))
    }

    /// Ends a running run: a generation, or a failure. `None` when it was not running (ended
    /// already, e.g. interrupted meanwhile).
    pub fn finish_backup(
        &self,
        id: i64,
        outcome: &BackupOutcome,
        at: DateTime<Utc>,
    ) -> Result<Option<BackupRun>, StoreError> {
        let Some(run) = self.backup(id)?.filter(|r| r.state == "running") else { return Ok(None) };
        let detail = match outcome {
            BackupOutcome::Ok { bytes, files, warnings, archive, snapshot } => {
                self.tx.execute(
                    "UPDATE backup_runs SET state = 'ok', finished_at = ?2, bytes = ?3, files = ?4, warnings = ?5,
                            archive = ?6, snapshot = ?7 WHERE id = ?1",
                    params![id, timestamp(at), *bytes as i64, *files as i64, *warnings as i64, archive, snapshot],
                )?;
                let unread = if *warnings > 0 { format!(", {warnings} files unreadable") } else { String::new() };
                format!("#{id} {} ok: {files} files, {bytes} bytes{unread}", run.kind.as_str())
            }
            BackupOutcome::Failed { detail } => {
                self.tx.execute(
                    "UPDATE backup_runs SET state = 'failed', finished_at = ?2, detail = ?3 WHERE id = ?1",
                    params![id, timestamp(at), detail],
                )?;
                format!("#{id} {} failed: {detail}", run.kind.as_str())
            }
        };
        self.append_event_by("backup_finished", None, Some(&run.host), Some("backup"), &detail, "engine", at)?;
        self.backup(id)
    }

    /// One running run was cut off (its connection was lost): `interrupted`, never a generation.
    pub fn interrupt_backup(&self, id: i64, why: &str, at: DateTime<Utc>) -> Result<Option<BackupRun>, StoreError> {
        let changed = self.tx.execute(
            "UPDATE backup_runs SET state = 'interrupted', finished_at = ?2, detail = ?3 WHERE id = ?1 AND state = 'running'",
            params![id, timestamp(at), why],
        )?;
        if changed == 0 {
            return Ok(None);
        }
        let run = self.backup(id)?;
        if let Some(run) = &run {
            let detail = format!("#{id} {} interrupted: {why}", run.kind.as_str());
            self.append_event_by("backup_interrupted", None, Some(&run.host), Some("backup"), &detail, "engine", at)?;
        }
        Ok(run)
    }

    /// Every run still `running` was cut off (a stop, a crash, a lost connection): each ends
    /// `interrupted` (logged), never a generation.
    pub fn interrupt_running_backups(&self, why: &str, at: DateTime<Utc>) -> Result<Vec<BackupRun>, StoreError> {
        let running: Vec<i64> = {
            let mut stmt = self.tx.prepare("SELECT id FROM backup_runs WHERE state = 'running' ORDER BY id")?;
            let ids = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            ids
        };
        let mut out = Vec::with_capacity(running.len());
        for id in running {
            out.extend(self.interrupt_backup(id, why, at)?);
        }
        Ok(out)
    }

    /// Marks generations pruned (their files are deleted by the caller after the commit).
    pub fn prune_backups(&self, ids: &[i64], why: &str, at: DateTime<Utc>) -> Result<Vec<BackupRun>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let changed = self.tx.execute(
                "UPDATE backup_runs SET state = 'pruned', pruned_at = ?2 WHERE id = ?1 AND state = 'ok'",
                params![id, timestamp(at)],
            )?;
            if changed == 0 {
                continue;
            }
            if let Some(run) = self.backup(id)? {
                let detail = format!("#{id} {} pruned: {why}", run.kind.as_str());
                self.append_event_by("backup_pruned", None, Some(&run.host), Some("backup"), &detail, "engine", at)?;
                out.push(run);
            }
        }
        Ok(out)
    }

    /// One run by id.
    pub fn backup(&self, id: i64) -> Result<Option<BackupRun>, StoreError> {
        Ok(self.tx.query_row(&format!("SELECT {COLUMNS} FROM backup_runs WHERE id = ?1"), [id], run_row).optional()?)
    }

    /// Runs, newest first (of one server, or all), at most `limit`.
    pub fn backups(&self, host: Option<&str>, limit: usize) -> Result<Vec<BackupRun>, StoreError> {
        runs(&self.tx, host, limit)
    }
}

impl super::Store {
    /// Runs, newest first (of one server, or all), at most `limit` (read-only stores too).
    pub fn backups(&self, host: Option<&str>, limit: usize) -> Result<Vec<BackupRun>, StoreError> {
        runs(&self.conn, host, limit)
    }
}

/// The one query of runs, newest first, for a store and a transaction alike.
fn runs(conn: &rusqlite::Connection, host: Option<&str>, limit: usize) -> Result<Vec<BackupRun>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM backup_runs WHERE (?1 IS NULL OR host = ?1) ORDER BY started_at DESC, id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![host, limit.min(i64::MAX as usize) as i64], run_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::Store;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, h, 0, 0).unwrap()
    }

    fn done(bytes: u64) -> BackupOutcome {
        BackupOutcome::Ok { bytes, files: 10, warnings: 1, archive: "a".into(), snapshot: "s".into() }
    }

    #[test]
    fn a_run_is_a_generation_only_when_it_finished_ok() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let tx = store.begin().unwrap();
        // A differential needs a completed full.
        assert!(matches!(
            tx.start_backup("web01", BackupKind::Differential, None, "engine", at(1)),
            Err(BackupError::NoBase(_))
        ));
        let full = tx.start_backup("web01", BackupKind::Full, None, "engine", at(1)).unwrap();
        assert!(matches!(
            tx.start_backup("web01", BackupKind::Full, None, "yamada", at(1)),
            Err(BackupError::Running(_))
        ));
        assert!(matches!(
            tx.start_backup("web01", BackupKind::Differential, Some(full.id), "engine", at(1)),
            Err(BackupError::Running(_) | BackupError::NoBase(_))
        ));
        // Another server runs beside it.
        let other = tx.start_backup("web02", BackupKind::Full, None, "engine", at(1)).unwrap();
        let ended = tx.finish_backup(full.id, &done(500), at(2)).unwrap().unwrap();
        assert_eq!((ended.state.as_str(), ended.bytes, ended.warnings), ("ok", 500, 1));
        assert!(tx.finish_backup(full.id, &done(1), at(2)).unwrap().is_none(), "ends once");
        let diff = tx.start_backup("web01", BackupKind::Differential, Some(full.id), "engine", at(3)).unwrap();
        assert_eq!(diff.base, Some(full.id));
        // A failed full is no base.
        let failed = tx
            .finish_backup(other.id, &BackupOutcome::Failed { detail: "tar: exit 2".into() }, at(2))
            .unwrap()
            .unwrap();
        assert_eq!(failed.state, "failed");
        assert!(matches!(
            tx.start_backup("web02", BackupKind::Differential, Some(other.id), "engine", at(3)),
            Err(BackupError::NoBase(_))
        ));
        // A stop cuts off the running one: interrupted, never a generation.
        let cut = tx.interrupt_running_backups("the engine stopped", at(4)).unwrap();
        assert_eq!(cut.iter().map(|r| r.id).collect::<Vec<_>>(), [diff.id]);
        assert_eq!(tx.backup(diff.id).unwrap().unwrap().state, "interrupted");
        assert!(tx.finish_backup(diff.id, &done(9), at(5)).unwrap().is_none(), "a late end changes nothing");
        // Pruning only touches generations.
        let pruned = tx.prune_backups(&[full.id, other.id, diff.id], "a newer full completed", at(6)).unwrap();
        assert_eq!(pruned.iter().map(|r| r.id).collect::<Vec<_>>(), [full.id]);
        let listed: Vec<(i64, String)> =
            tx.backups(Some("web01"), 10).unwrap().into_iter().map(|r| (r.id, r.state)).collect();
        assert_eq!(listed, [(diff.id, "interrupted".into()), (full.id, "pruned".into())]);
        tx.commit().unwrap();
        let kinds: Vec<String> = store.audit(50, None).unwrap().into_iter().map(|e| e.kind).collect();
        for kind in ["backup_started", "backup_finished", "backup_interrupted", "backup_pruned"] {
            assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
        }
    }
}
