//! Security updates in the store (contract §8): what the last detection of each server found,
//! the pending updates with the time each was first seen, the keys of the last customer notice,
//! the planned date of the update work, and every update job from its start to its end.
//!
//! Owns: the tables `update_scans`, `pending_updates`, `update_notices`, `update_plans`,
//! `update_runs` (schema step 15) and their SQL; one running job per server (a partial unique
//! index, as for backups); the audit entries `updates_detected`, `update_notice_queued`,
//! `update_planned`, `update_started`, `update_finished` (with the job's output),
//! `update_interrupted`.
//! Must not know: SSH, the package managers' formats (`anshin-core::updates`), who is entitled.

use std::collections::BTreeSet;

use anshin_core::updates::{NoticeKey, PendingUpdate, Severity, Source, UpdateClass};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use ts_rs::TS;
use utoipa::ToSchema;

use super::{timestamp, StoreError, StoreTx};

/// Schema step 15. Appended to `MIGRATIONS`; never edit once released.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE update_scans (
    host          TEXT PRIMARY KEY,
    checked_at    TEXT NOT NULL,
    error         TEXT,
    reboot_needed INTEGER NOT NULL DEFAULT 0,
    pending_total INTEGER NOT NULL DEFAULT 0,
    notes         TEXT NOT NULL DEFAULT ''
);
CREATE TABLE pending_updates (
    host      TEXT NOT NULL,
    source    TEXT NOT NULL,
    site      TEXT NOT NULL,
    package   TEXT NOT NULL,
    installed TEXT NOT NULL,
    candidate TEXT NOT NULL,
    advisory  TEXT NOT NULL,
    severity  TEXT NOT NULL,
    class     TEXT NOT NULL,
    since     TEXT NOT NULL,
    PRIMARY KEY (host, source, site, package)
);
CREATE TABLE update_notices (
    host        TEXT NOT NULL,
    package     TEXT NOT NULL,
    candidate   TEXT NOT NULL,
    notified_at TEXT NOT NULL,
    PRIMARY KEY (host, package, candidate)
);
CREATE TABLE update_plans (
    host       TEXT PRIMARY KEY,
    planned_at TEXT NOT NULL,
    set_by     TEXT NOT NULL,
    set_at     TEXT NOT NULL
);
CREATE TABLE update_runs (
    id            INTEGER PRIMARY KEY,
    host          TEXT NOT NULL,
    scope         TEXT NOT NULL CHECK (scope IN ('os', 'cms')),
    packages      TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    state         TEXT NOT NULL CHECK (state IN ('running', 'ok', 'failed', 'interrupted')),
    exit_status   INTEGER,
    reboot_needed INTEGER NOT NULL DEFAULT 0,
    detail        TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX update_runs_one_running ON update_runs (host) WHERE state = 'running';
CREATE INDEX update_runs_host ON update_runs (host, started_at);
"#;

/// One pending update of one server, as consoles and `anshin updates --json` get it (contract
/// §8's JSON rows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct PendingUpdateRow {
    pub host: String,
    /// `os`, `wordpress-core`, `wordpress-plugin`, `wordpress-theme`.
    pub source: String,
    /// The WordPress installation's path; empty for the OS.
    pub site: String,
    pub package: String,
    pub installed: String,
    pub candidate: String,
    pub advisory: String,
    /// `critical`, `important`, `moderate`, `low` or empty.
    pub severity: String,
    /// `security` or `unclassified`.
    pub class: String,
    /// When the detection first found it pending.
    pub since: String,
}

impl PendingUpdateRow {
    /// The core's row (for the notice, the apply and the badge).
    pub fn update(&self) -> PendingUpdate {
        let source = match self.source.as_str() {
            "wordpress-core" => Source::WordpressCore,
            "wordpress-plugin" => Source::WordpressPlugin,
            "wordpress-theme" => Source::WordpressTheme,
            _ => Source::Os,
        };
        PendingUpdate {
            source,
            site: self.site.clone(),
            package: self.package.clone(),
            installed: self.installed.clone(),
            candidate: self.candidate.clone(),
            advisory: self.advisory.clone(),
            severity: Severity::from_label(&self.severity),
            class: if self.class == "security" { UpdateClass::Security } else { UpdateClass::Unclassified },
        }
    }
}

/// What the last detection of a server said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct UpdateScanRecord {
    pub host: String,
    pub checked_at: String,
    /// Why it gave no answer (the pending rows are then the previous detection's).
    #[ts(optional = nullable)]
    pub error: Option<String>,
    pub reboot_needed: bool,
    /// Updates pending in all, security or not.
    pub pending_total: u32,
    /// What else it said (`wp-cli not installed`, a site's error), one per line.
    pub notes: String,
}

/// A detection's answer to record.
#[derive(Debug, Clone, Default)]
pub struct ScanToRecord {
    /// The pending updates (OS and CMS) when it answered.
    pub updates: Vec<PendingUpdate>,
    /// Why it gave no answer (then `updates` is ignored and the previous rows are kept).
    pub error: Option<String>,
    pub reboot_needed: bool,
    pub pending_total: u32,
    pub notes: String,
}

/// The planned date of a server's update work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct UpdatePlan {
    pub host: String,
    pub planned_at: String,
    pub set_by: String,
    pub set_at: String,
}

/// One update job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct UpdateRun {
    pub id: i64,
    pub host: String,
    /// `os` or `cms`.
    pub scope: String,
    /// The packages (or plugins, themes, `wordpress`) chosen, comma-separated; empty: all.
    pub packages: String,
    pub requested_by: String,
    pub started_at: String,
    #[ts(optional = nullable)]
    pub finished_at: Option<String>,
    /// `running`, `ok`, `failed`, `interrupted`.
    pub state: String,
    #[ts(optional = nullable)]
    pub exit_status: Option<i32>,
    pub reboot_needed: bool,
    /// Why it failed, or what it applied.
    pub detail: String,
}

const RUN_COLUMNS: &str =
    "id, host, scope, packages, requested_by, started_at, finished_at, state, exit_status, reboot_needed, detail";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UpdateRun> {
    Ok(UpdateRun {
        id: r.get(0)?,
        host: r.get(1)?,
        scope: r.get(2)?,
        packages: r.get(3)?,
        requested_by: r.get(4)?,
        started_at: r.get(5)?,
        finished_at: r.get(6)?,
        state: r.get(7)?,
        exit_status: r.get(8)?,
        reboot_needed: r.get(9)?,
        detail: r.get(10)?,
    })
}

/// A job's end.
#[derive(Debug, Clone)]
pub struct UpdateRunEnd<'a> {
    pub ok: bool,
    pub exit_status: Option<i32>,
    pub reboot_needed: bool,
    /// A summary (what it applied, or why it failed).
    pub detail: &'a str,
    /// The package manager's output (capped, its hidden characters made visible): goes into the
    /// audit entry only.
    pub output: &'a str,
}

impl StoreTx<'_> {
    /// Records a detection. An answer replaces the server's pending rows (an update still
    /// pending keeps the time it was first seen; a changed candidate too); an error keeps the
    /// previous rows and says why. Logs `updates_detected` when the rows or the error changed.
    pub fn record_update_scan(&self, host: &str, scan: &ScanToRecord, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let at = timestamp(now);
        let before = pending(&self.tx, Some(host))?;
        let previous_error: Option<Option<String>> =
            self.tx.query_row("SELECT error FROM update_scans WHERE host = ?1", [host], |r| r.get(0)).optional()?;
        self.tx.execute(
            "INSERT INTO update_scans (host, checked_at, error, reboot_needed, pending_total, notes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (host) DO UPDATE SET checked_at = ?2, error = ?3,
               reboot_needed = CASE WHEN ?3 IS NULL THEN ?4 ELSE reboot_needed END,
               pending_total = CASE WHEN ?3 IS NULL THEN ?5 ELSE pending_total END, notes = ?6",
            params![host, at, scan.error, scan.reboot_needed, scan.pending_total, scan.notes],
        )?;
        if let Some(error) = &scan.error {
            let changed = previous_error.flatten().as_deref() != Some(error.as_str());
            if changed {
                self.event_on(
                    "updates_detected",
                    None,
                    Some(host),
                    Some("updates"),
                    &format!("no answer: {error}"),
                    now,
                )?;
            }
            return Ok(changed);
        }
        let mut now_rows: Vec<PendingUpdateRow> = Vec::with_capacity(scan.updates.len());
        for u in &scan.updates {
            let since = before
                .iter()
                .find(|b| b.source == u.source.as_str() && b.site == u.site && b.package == u.package)
                .map_or_else(|| at.clone(), |b| b.since.clone());
            now_rows.push(row_of(host, u, since));
        }
        let same = before.len() == now_rows.len()
            && now_rows.iter().all(|n| {
                before.iter().any(|b| {
                    b.package == n.package
                        && b.source == n.source
                        && b.site == n.site
                        && b.candidate == n.candidate
                        && b.installed == n.installed
                })
            });
        self.tx.execute("DELETE FROM pending_updates WHERE host = ?1", [host])?;
        for r in &now_rows {
            self.tx.execute(
                "INSERT OR REPLACE INTO pending_updates
                   (host, source, site, package, installed, candidate, advisory, severity, class, since)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    r.host,
                    r.source,
                    r.site,
                    r.package,
                    r.installed,
                    r.candidate,
                    r.advisory,
                    r.severity,
                    r.class,
                    r.since
                ],
            )?;
        }
        let error_cleared = matches!(previous_error, Some(Some(_)));
        if !same || error_cleared || previous_error.is_none() {
            let security = now_rows.iter().filter(|r| r.class == "security").count();
            let detail = format!(
                "{} pending ({security} security; {} OS updates in all on the server){}",
                now_rows.len(),
                scan.pending_total,
                if scan.reboot_needed { "; a reboot is needed" } else { "" }
            );
            self.event_on("updates_detected", None, Some(host), Some("updates"), &detail, now)?;
        }
        Ok(!same)
    }

    /// The keys of a notice just queued become the server's notified set.
    pub fn remember_update_notice(
        &self,
        host: &str,
        keys: &BTreeSet<NoticeKey>,
        summary: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.tx.execute("DELETE FROM update_notices WHERE host = ?1", [host])?;
        for k in keys {
            self.tx.execute(
                "INSERT OR REPLACE INTO update_notices (host, package, candidate, notified_at) VALUES (?1, ?2, ?3, ?4)",
                params![host, k.package, k.candidate, timestamp(now)],
            )?;
        }
        self.event_on("update_notice_queued", None, Some(host), Some("updates"), summary, now)?;
        Ok(())
    }

    /// The keys of the server's last notice.
    pub fn notified_updates(&self, host: &str) -> Result<BTreeSet<NoticeKey>, StoreError> {
        let mut stmt = self.tx.prepare("SELECT package, candidate FROM update_notices WHERE host = ?1")?;
        let rows = stmt.query_map([host], |r| Ok(NoticeKey { package: r.get(0)?, candidate: r.get(1)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Sets the planned date of a server's update work (logged `update_planned`, by who).
    pub fn set_update_plan(
        &self,
        host: &str,
        planned: DateTime<Utc>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<UpdatePlan, StoreError> {
        let plan =
            UpdatePlan { host: host.into(), planned_at: timestamp(planned), set_by: by.into(), set_at: timestamp(now) };
        self.tx.execute(
            "INSERT INTO update_plans (host, planned_at, set_by, set_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (host) DO UPDATE SET planned_at = ?2, set_by = ?3, set_at = ?4",
            params![plan.host, plan.planned_at, plan.set_by, plan.set_at],
        )?;
        self.append_event_by(
            "update_planned",
            None,
            Some(host),
            Some("updates"),
            &format!("planned for {}", plan.planned_at),
            by,
            now,
        )?;
        Ok(plan)
    }

    /// The server's planned date is cleared (its updates were applied).
    pub fn clear_update_plan(&self, host: &str) -> Result<(), StoreError> {
        self.tx.execute("DELETE FROM update_plans WHERE host = ?1", [host])?;
        Ok(())
    }

    /// Starts a job (logged `update_started` with the command); refused by the store while
    /// another of the server's runs.
    pub fn start_update_run(
        &self,
        host: &str,
        scope: &str,
        packages: &str,
        command: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.tx.execute(
            "INSERT INTO update_runs (host, scope, packages, requested_by, started_at, state) VALUES (?1, ?2, ?3, ?4, ?5, 'running')",
            params![host, scope, packages, by, timestamp(now)],
        )?;
        let id = self.tx.last_insert_rowid();
        let chosen = if packages.is_empty() { "all pending".to_string() } else { packages.to_string() };
        let detail = format!("job #{id} ({scope}: {chosen}): {command}");
        self.append_event_by("update_started", None, Some(host), Some("updates"), &detail, by, now)?;
        Ok(id)
    }

    /// Ends a job: its state, and the `update_finished` entry holding the summary and the output.
    pub fn finish_update_run(
        &self,
        id: i64,
        end: &UpdateRunEnd<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<UpdateRun>, StoreError> {
        let state = if end.ok { "ok" } else { "failed" };
        self.tx.execute(
            "UPDATE update_runs SET state = ?2, finished_at = ?3, exit_status = ?4, reboot_needed = ?5, detail = ?6
              WHERE id = ?1 AND state = 'running'",
            params![id, state, timestamp(now), end.exit_status, end.reboot_needed, end.detail],
        )?;
        let run = self
            .tx
            .query_row(&format!("SELECT {RUN_COLUMNS} FROM update_runs WHERE id = ?1"), [id], run_row)
            .optional()?;
        if let Some(run) = &run {
            let detail = format!("job #{id} {state}: {}\n--- output ---\n{}", end.detail, end.output);
            self.append_event_by(
                "update_finished",
                None,
                Some(&run.host),
                Some("updates"),
                &detail,
                &run.requested_by,
                now,
            )?;
        }
        Ok(run)
    }

    /// Jobs the last engine left running were cut off: marked `interrupted` and logged.
    pub fn interrupt_running_updates(&self, why: &str, now: DateTime<Utc>) -> Result<Vec<UpdateRun>, StoreError> {
        let running: Vec<UpdateRun> = {
            let mut stmt =
                self.tx.prepare(&format!("SELECT {RUN_COLUMNS} FROM update_runs WHERE state = 'running'"))?;
            let rows = stmt.query_map([], run_row)?;
            rows.collect::<Result<_, _>>()?
        };
        for run in &running {
            self.tx.execute(
                "UPDATE update_runs SET state = 'interrupted', finished_at = ?2, detail = ?3 WHERE id = ?1",
                params![run.id, timestamp(now), why],
            )?;
            self.event_on(
                "update_interrupted",
                None,
                Some(&run.host),
                Some("updates"),
                &format!("job #{}: {why}", run.id),
                now,
            )?;
        }
        Ok(running)
    }

    pub fn pending_updates(&self, host: Option<&str>) -> Result<Vec<PendingUpdateRow>, StoreError> {
        pending(&self.tx, host)
    }

    /// The planned date of a server's update work, if one is set.
    pub fn update_plan(&self, host: &str) -> Result<Option<UpdatePlan>, StoreError> {
        Ok(self
            .tx
            .query_row("SELECT host, planned_at, set_by, set_at FROM update_plans WHERE host = ?1", [host], |r| {
                Ok(UpdatePlan { host: r.get(0)?, planned_at: r.get(1)?, set_by: r.get(2)?, set_at: r.get(3)? })
            })
            .optional()?)
    }

    /// One job by id.
    pub fn update_run(&self, id: i64) -> Result<Option<UpdateRun>, StoreError> {
        Ok(self
            .tx
            .query_row(&format!("SELECT {RUN_COLUMNS} FROM update_runs WHERE id = ?1"), [id], run_row)
            .optional()?)
    }
}

impl super::Store {
    /// Pending updates (of one server, or all), by server then source, site and package.
    pub fn pending_updates(&self, host: Option<&str>) -> Result<Vec<PendingUpdateRow>, StoreError> {
        pending(&self.conn, host)
    }

    /// The last detection of each server (or one).
    pub fn update_scans(&self, host: Option<&str>) -> Result<Vec<UpdateScanRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT host, checked_at, error, reboot_needed, pending_total, notes FROM update_scans
              WHERE (?1 IS NULL OR host = ?1) ORDER BY host",
        )?;
        let rows = stmt.query_map(params![host], |r| {
            Ok(UpdateScanRecord {
                host: r.get(0)?,
                checked_at: r.get(1)?,
                error: r.get(2)?,
                reboot_needed: r.get(3)?,
                pending_total: r.get(4)?,
                notes: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The planned dates set.
    pub fn update_plans(&self) -> Result<Vec<UpdatePlan>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT host, planned_at, set_by, set_at FROM update_plans ORDER BY host")?;
        let rows = stmt.query_map([], |r| {
            Ok(UpdatePlan { host: r.get(0)?, planned_at: r.get(1)?, set_by: r.get(2)?, set_at: r.get(3)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Update jobs, newest first (of one server, or all), at most `limit`.
    pub fn update_runs(&self, host: Option<&str>, limit: usize) -> Result<Vec<UpdateRun>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM update_runs WHERE (?1 IS NULL OR host = ?1) ORDER BY started_at DESC, id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![host, limit.min(i64::MAX as usize) as i64], run_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Jobs of `hosts` that finished `ok` in `[from, to)` (the monthly report's section).
    pub fn update_runs_between(
        &self,
        hosts: &[String],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UpdateRun>, StoreError> {
        let mut out = Vec::new();
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM update_runs WHERE host = ?1 AND state = 'ok' AND finished_at >= ?2 AND finished_at < ?3
              ORDER BY finished_at"
        ))?;
        for h in hosts {
            let rows = stmt.query_map(params![h, timestamp(from), timestamp(to)], run_row)?;
            for r in rows {
                out.push(r?);
            }
        }
        Ok(out)
    }
}

fn row_of(host: &str, u: &PendingUpdate, since: String) -> PendingUpdateRow {
    PendingUpdateRow {
        host: host.into(),
        source: u.source.as_str().into(),
        site: u.site.clone(),
        package: u.package.clone(),
        installed: u.installed.clone(),
        candidate: u.candidate.clone(),
        advisory: u.advisory.clone(),
        severity: u.severity.as_str().into(),
        class: u.class.as_str().into(),
        since,
    }
}

fn pending(conn: &rusqlite::Connection, host: Option<&str>) -> Result<Vec<PendingUpdateRow>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT host, source, site, package, installed, candidate, advisory, severity, class, since
           FROM pending_updates WHERE (?1 IS NULL OR host = ?1) ORDER BY host, source, site, package",
    )?;
    let rows = stmt.query_map(params![host], |r| {
        Ok(PendingUpdateRow {
            host: r.get(0)?,
            source: r.get(1)?,
            site: r.get(2)?,
            package: r.get(3)?,
            installed: r.get(4)?,
            candidate: r.get(5)?,
            advisory: r.get(6)?,
            severity: r.get(7)?,
            class: r.get(8)?,
            since: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::Store;

    fn at(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, d, 1, 0, 0).unwrap()
    }

    fn upd(package: &str, candidate: &str) -> PendingUpdate {
        PendingUpdate {
            source: Source::Os,
            site: String::new(),
            package: package.into(),
            installed: "1".into(),
            candidate: candidate.into(),
            advisory: "DSA-1".into(),
            severity: Severity::None,
            class: UpdateClass::Security,
        }
    }

    #[test]
    fn a_scan_keeps_first_seen_times_and_an_error_keeps_the_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let scan =
            |u: Vec<PendingUpdate>| ScanToRecord { pending_total: u.len() as u32, updates: u, ..Default::default() };
        let tx = store.begin().unwrap();
        assert!(tx.record_update_scan("web01", &scan(vec![upd("openssl", "2")]), at(1)).unwrap());
        tx.commit().unwrap();
        let tx = store.begin().unwrap();
        assert!(tx.record_update_scan("web01", &scan(vec![upd("openssl", "2"), upd("curl", "8")]), at(2)).unwrap());
        let failed = ScanToRecord { error: Some("the package manager is locked".into()), ..Default::default() };
        tx.record_update_scan("web01", &failed, at(3)).unwrap();
        tx.commit().unwrap();
        let rows = store.pending_updates(Some("web01")).unwrap();
        let since: Vec<(&str, &str)> = rows.iter().map(|r| (r.package.as_str(), r.since.as_str())).collect();
        assert_eq!(since, [("curl", "2026-12-02T01:00:00.000Z"), ("openssl", "2026-12-01T01:00:00.000Z")]);
        let scans = store.update_scans(None).unwrap();
        assert_eq!(scans[0].error.as_deref(), Some("the package manager is locked"));
        assert_eq!(scans[0].pending_total, 2, "an error keeps the last answer's count");
    }

    #[test]
    fn one_job_runs_per_server_and_its_output_is_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let tx = store.begin().unwrap();
        let id = tx.start_update_run("web01", "os", "", "dnf -y upgrade --security", "ops", at(1)).unwrap();
        assert!(tx.start_update_run("web01", "os", "", "again", "ops", at(1)).is_err());
        let end = UpdateRunEnd {
            ok: true,
            exit_status: Some(0),
            reboot_needed: true,
            detail: "1 applied",
            output: "Complete!",
        };
        let run = tx.finish_update_run(id, &end, at(1)).unwrap().unwrap();
        tx.commit().unwrap();
        assert_eq!((run.state.as_str(), run.reboot_needed), ("ok", true));
        let events = store.events_after(0, "update_finished").unwrap();
        assert!(events.iter().any(|e| e.detail.contains("Complete!") && e.actor.as_deref() == Some("ops")));
        assert_eq!(store.update_runs_between(&["web01".into()], at(1), at(2)).unwrap().len(), 1);
    }
}
