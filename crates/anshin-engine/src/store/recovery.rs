//! Recovery and escalation in the store (contract §4): recoveries (a service restart or a reboot, who
//! asked, whether automatic or billable, and how it ended), the calls of secondary recovery, the
//! customer's consents to costs, operators' notes and status reports.
//!
//! Owns: the `recoveries`, `calls` and `consents` tables (schema step 9; the consents' cause,
//! step 12) and their SQL; the database's guarantee that a server has at most one running
//! recovery (a partial unique index: whichever console or rule asks, the second is refused); the
//! consent rules that are facts of the record (an investigation beyond what was consented needs
//! an answered call after the latest consent, a spot recovery costs at least the spot minimum:
//! core's rules and numbers, fed from the record); when an incident's primary recovery work began
//! (its hour, contract §9.8); and the entries these write to the audit log: `recovery_started`,
//! `recovery_acting`, `spot_billed`, `recovery_finished`, `recovery_needs_operator`,
//! `call_logged`, `consent_recorded`, `note`, `status_report_queued`.
//! Must not know: plans, hours or the automation rules (the engine decides whether a recovery
//! may run, and counts what these queries return), or how a recovery is carried out.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use super::audit::ENGINE;
use super::{incident_row, timestamp, IncidentRecord, Store, StoreError, StoreTx, RECOVERY_STEP};

/// Schema step 9. Appended to `MIGRATIONS`; never edit once released.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE recoveries (
    id            INTEGER PRIMARY KEY,
    host          TEXT NOT NULL,
    incident_id   INTEGER REFERENCES incidents (id),
    action        TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    automatic     INTEGER NOT NULL CHECK (automatic IN (0, 1)),
    billable_yen  INTEGER CHECK (billable_yen IS NULL OR billable_yen > 0),
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    outcome       TEXT,
    detail        TEXT NOT NULL DEFAULT '',
    CHECK ((finished_at IS NULL) = (outcome IS NULL))
);
CREATE UNIQUE INDEX recoveries_one_running ON recoveries (host) WHERE finished_at IS NULL;
CREATE INDEX recoveries_incident ON recoveries (incident_id);
CREATE INDEX recoveries_by_host ON recoveries (host, action, started_at);
CREATE TABLE calls (
    id           INTEGER PRIMARY KEY,
    incident_id  INTEGER NOT NULL REFERENCES incidents (id),
    number       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    rings        INTEGER NOT NULL CHECK (rings >= 0),
    outcome      TEXT NOT NULL CHECK (outcome IN ('answered', 'no_answer', 'busy', 'voicemail')),
    answered_by  TEXT,
    notes        TEXT NOT NULL DEFAULT '',
    operator     TEXT NOT NULL,
    logged_at    TEXT NOT NULL
);
CREATE INDEX calls_incident ON calls (incident_id);
CREATE TABLE consents (
    id               INTEGER PRIMARY KEY,
    incident_id      INTEGER NOT NULL REFERENCES incidents (id),
    kind             TEXT NOT NULL CHECK (kind IN ('investigation', 'spot_recovery')),
    amount_yen       INTEGER NOT NULL CHECK (amount_yen > 0),
    customer_person  TEXT NOT NULL,
    note             TEXT NOT NULL DEFAULT '',
    operator         TEXT NOT NULL,
    at               TEXT NOT NULL
);
CREATE INDEX consents_incident ON consents (incident_id);
"#;

/// Schema step 12: every consent records its cause (contract §9.8); consents recorded before
/// have `other`. Appended to `MIGRATIONS`; never edit once released.
pub(super) const MIGRATION_CAUSE: &str = r#"
ALTER TABLE consents ADD COLUMN cause TEXT NOT NULL DEFAULT 'other'
    CHECK (cause IN ('customer_change', 'traffic_surge', 'attack', 'other'));
"#;

use anshin_core::recovery::{investigation_limit_without_call, ChargeCause};
/// Beyond `INVESTIGATION_CAP_YEN` (or the largest consent) an investigation needs the customer
/// called again (contract §4.6, §9.8); a spot recovery costs `SPOT_MIN_YEN` or more. The
/// contract's numbers, from core's one table.
pub use anshin_core::recovery::{INVESTIGATION_CAP_YEN, SPOT_MIN_YEN};

use super::CONSENT_CAUSE_STEP;

/// A recovery to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecovery {
    pub host: String,
    pub incident_id: Option<i64>,
    /// `restart:http`, `reboot` …
    pub action: String,
    /// An operator's name, or the rule (`rule:auto-restart`).
    pub requested_by: String,
    pub automatic: bool,
    /// A billable spot recovery's agreed price.
    pub billable_yen: Option<u32>,
}

/// A recovery as the log holds it (the console's **Recovery**).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct RecoveryRecord {
    pub id: i64,
    pub host: String,
    pub incident_id: Option<i64>,
    pub action: String,
    pub requested_by: String,
    pub automatic: bool,
    pub billable_yen: Option<u32>,
    pub started_at: String,
    /// None while it runs.
    pub finished_at: Option<String>,
    /// `recovered`, `failed`, `already_up`, `interrupted`; None while it runs.
    pub outcome: Option<String>,
    pub detail: String,
}

/// What [`StoreTx::start_recovery`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartRecovery {
    Started(RecoveryRecord),
    /// Nothing: this recovery of the server is running.
    Busy(RecoveryRecord),
}

/// A phone call to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall {
    pub incident_id: i64,
    pub host: String,
    pub number: String,
    pub started_at: DateTime<Utc>,
    pub rings: u32,
    /// `answered`, `no_answer`, `busy`, `voicemail`.
    pub outcome: String,
    pub answered_by: Option<String>,
    pub notes: String,
    /// Who called.
    pub operator: String,
}

/// A logged call (the console's **Call**).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct CallRecord {
    pub id: i64,
    pub incident_id: i64,
    pub number: String,
    pub started_at: String,
    pub rings: u32,
    pub outcome: String,
    pub answered_by: Option<String>,
    pub notes: String,
    pub operator: String,
}

/// A customer's consent to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConsent {
    pub incident_id: i64,
    pub host: String,
    /// `investigation` or `spot_recovery`.
    pub kind: String,
    pub amount_yen: u32,
    /// Who agreed, on the customer's side.
    pub customer_person: String,
    pub note: String,
    /// Who recorded it.
    pub operator: String,
    /// Why the charge arose (contract §9.8).
    pub cause: ChargeCause,
}

/// A recorded consent (the console's **Consent**).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct ConsentRecord {
    pub id: i64,
    pub incident_id: i64,
    pub kind: String,
    pub amount_yen: u32,
    pub customer_person: String,
    pub note: String,
    pub operator: String,
    pub at: String,
    /// Why the charge arose: `customer_change`, `traffic_surge`, `attack` or `other` (the
    /// catalogue's `charge_causes`; consents recorded before causes existed are `other`).
    pub cause: String,
}

/// Why a consent was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// Beyond the consented amount: the customer must be called again first (contract §9.8).
    #[error(
        "an investigation beyond {} needs the customer asked again: log an answered call after the latest consent first",
        yen(*consented)
    )]
    NeedsCall { consented: u32 },
    #[error("a spot recovery costs at least {SPOT_MIN_YEN} yen")]
    TooSmall,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ConsentError {
    fn from(e: rusqlite::Error) -> Self {
        ConsentError::Store(StoreError::Sql(e))
    }
}

const RECOVERY_COLUMNS: &str = "id, host, incident_id, action, requested_by, automatic, billable_yen, started_at, \
                                finished_at, outcome, detail";
const CALL_COLUMNS: &str = "id, incident_id, number, started_at, rings, outcome, answered_by, notes, operator";
const CONSENT_COLUMNS: &str = "id, incident_id, kind, amount_yen, customer_person, note, operator, at, cause";
/// The same for a log older than causes (schema step 12): every consent's cause is `other`.
const CONSENT_COLUMNS_V11: &str = "id, incident_id, kind, amount_yen, customer_person, note, operator, at, 'other'";

fn recovery_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecoveryRecord> {
    Ok(RecoveryRecord {
        id: r.get(0)?,
        host: r.get(1)?,
        incident_id: r.get(2)?,
        action: r.get(3)?,
        requested_by: r.get(4)?,
        automatic: r.get(5)?,
        billable_yen: r.get(6)?,
        started_at: r.get(7)?,
        finished_at: r.get(8)?,
        outcome: r.get(9)?,
        detail: r.get(10)?,
    })
}

fn call_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CallRecord> {
    Ok(CallRecord {
        id: r.get(0)?,
        incident_id: r.get(1)?,
        number: r.get(2)?,
        started_at: r.get(3)?,
        rings: r.get(4)?,
        outcome: r.get(5)?,
        answered_by: r.get(6)?,
        notes: r.get(7)?,
        operator: r.get(8)?,
    })
}

fn consent_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConsentRecord> {
    Ok(ConsentRecord {
        id: r.get(0)?,
        incident_id: r.get(1)?,
        kind: r.get(2)?,
        amount_yen: r.get(3)?,
        customer_person: r.get(4)?,
        note: r.get(5)?,
        operator: r.get(6)?,
        at: r.get(7)?,
        cause: r.get(8)?,
    })
}

fn parse_at(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

fn recovery_by_id(conn: &Connection, id: i64) -> Result<Option<RecoveryRecord>, StoreError> {
    Ok(conn
        .query_row(&format!("SELECT {RECOVERY_COLUMNS} FROM recoveries WHERE id = ?1"), [id], recovery_row)
        .optional()?)
}

fn running_of(conn: &Connection, host: &str) -> Result<Option<RecoveryRecord>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {RECOVERY_COLUMNS} FROM recoveries WHERE host = ?1 AND finished_at IS NULL"),
            [host],
            recovery_row,
        )
        .optional()?)
}

/// `yen` with thousands separators: `20,000`.
fn yen(amount: u32) -> String {
    let digits = amount.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out} yen")
}

impl StoreTx<'_> {
    /// The check of an incident, for the entries written about it.
    fn incident_check(&self, incident: Option<i64>) -> Result<Option<String>, StoreError> {
        let Some(id) = incident else { return Ok(None) };
        Ok(self.tx.query_row("SELECT check_id FROM incidents WHERE id = ?1", [id], |r| r.get(0)).optional()?)
    }

    /// Starts a recovery unless one of the server is running (then `Busy` with that one).
    /// Logs `recovery_started` (actor: who asked), and `spot_billed` with the amount for a
    /// billable one.
    pub fn start_recovery(&self, r: &NewRecovery, at: DateTime<Utc>) -> Result<StartRecovery, StoreError> {
        if let Some(running) = running_of(&self.tx, &r.host)? {
            return Ok(StartRecovery::Busy(running));
        }
        self.tx.execute(
            "INSERT INTO recoveries (host, incident_id, action, requested_by, automatic, billable_yen, started_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![r.host, r.incident_id, r.action, r.requested_by, r.automatic, r.billable_yen, timestamp(at)],
        )?;
        let id = self.tx.last_insert_rowid();
        let check = self.incident_check(r.incident_id)?;
        let how = match (r.automatic, r.billable_yen) {
            (true, _) => "automatic".to_string(),
            (false, None) => format!("by {}", r.requested_by),
            (false, Some(y)) => format!("by {}, billable spot recovery {}", r.requested_by, yen(y)),
        };
        let detail = format!("recovery #{id} {} of {}, {how}", r.action, r.host);
        self.append_event_by(
            "recovery_started",
            r.incident_id,
            Some(&r.host),
            check.as_deref(),
            &detail,
            &r.requested_by,
            at,
        )?;
        if let Some(y) = r.billable_yen {
            let detail =
                format!("recovery #{id} {} of {}: {} (spot recovery) by {}", r.action, r.host, yen(y), r.requested_by);
            self.append_event_by(
                "spot_billed",
                r.incident_id,
                Some(&r.host),
                check.as_deref(),
                &detail,
                &r.requested_by,
                at,
            )?;
        }
        let rec = recovery_by_id(&self.tx, id)?.ok_or(StoreError::Sql(rusqlite::Error::QueryReturnedNoRows))?;
        Ok(StartRecovery::Started(rec))
    }

    /// Records how a running recovery ended and logs `recovery_finished` (actor `engine`).
    /// None (and nothing changed) when it is not running (unknown, or finished already).
    pub fn finish_recovery(
        &self,
        id: i64,
        outcome: &str,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<RecoveryRecord>, StoreError> {
        let n = self.tx.execute(
            "UPDATE recoveries SET finished_at = ?2, outcome = ?3, detail = ?4 WHERE id = ?1 AND finished_at IS NULL",
            params![id, timestamp(at), outcome, detail],
        )?;
        if n == 0 {
            return Ok(None);
        }
        let rec = recovery_by_id(&self.tx, id)?.ok_or(StoreError::Sql(rusqlite::Error::QueryReturnedNoRows))?;
        let check = self.incident_check(rec.incident_id)?;
        let text = if detail.is_empty() {
            format!("recovery #{id} {} of {}: {outcome}", rec.action, rec.host)
        } else {
            format!("recovery #{id} {} of {}: {outcome}: {detail}", rec.action, rec.host)
        };
        self.append_event_by(
            "recovery_finished",
            rec.incident_id,
            Some(&rec.host),
            check.as_deref(),
            &text,
            ENGINE,
            at,
        )?;
        Ok(Some(rec))
    }

    /// At engine start: every recovery still marked running was cut off by a stop or a crash.
    /// Each ends as `interrupted` (logged) and is never run again automatically.
    pub fn interrupt_running_recoveries(&self, at: DateTime<Utc>) -> Result<Vec<RecoveryRecord>, StoreError> {
        let ids: Vec<i64> = {
            let mut stmt = self.tx.prepare("SELECT id FROM recoveries WHERE finished_at IS NULL ORDER BY id")?;
            let ids = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            ids
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let detail = "the engine stopped while it ran; not repeated automatically";
            if let Some(rec) = self.finish_recovery(id, "interrupted", detail, at)? {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// How many automatic recoveries the incident has had.
    ///
    /// A re-confirmation that found the problem gone (`already_up`) did nothing, so it does not
    /// count — except that a second one does (a flapping check gets one more look, not more).
    pub fn automatic_attempts(&self, incident: i64) -> Result<u32, StoreError> {
        let (acted, looked): (u32, u32) = self.tx.query_row(
            "SELECT count(*) FILTER (WHERE outcome IS NOT 'already_up'),
                    count(*) FILTER (WHERE outcome IS 'already_up')
               FROM recoveries WHERE incident_id = ?1 AND automatic = 1",
            [incident],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(acted + looked.saturating_sub(1))
    }

    /// How many automatic recoveries of `action` the server has had since `since` (those that
    /// acted, or still run: an `already_up` re-confirmation did nothing).
    pub fn automatic_restarts_since(&self, host: &str, action: &str, since: DateTime<Utc>) -> Result<u32, StoreError> {
        Ok(self.tx.query_row(
            "SELECT count(*) FROM recoveries WHERE host = ?1 AND action = ?2 AND automatic = 1 AND started_at >= ?3
                AND outcome IS NOT 'already_up'",
            params![host, action, timestamp(since)],
            |r| r.get(0),
        )?)
    }

    /// The server's running recovery, if any.
    #[cfg(test)]
    pub fn running_recovery(&self, host: &str) -> Result<Option<RecoveryRecord>, StoreError> {
        running_of(&self.tx, host)
    }

    /// Records a call of secondary recovery and logs `call_logged` (actor: who called).
    pub fn log_call(&self, c: &NewCall, at: DateTime<Utc>) -> Result<CallRecord, StoreError> {
        self.tx.execute(
            "INSERT INTO calls (incident_id, number, started_at, rings, outcome, answered_by, notes, operator, logged_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                c.incident_id,
                c.number,
                timestamp(c.started_at),
                c.rings,
                c.outcome,
                c.answered_by,
                c.notes,
                c.operator,
                timestamp(at)
            ],
        )?;
        let id = self.tx.last_insert_rowid();
        let mut detail = format!("call #{id} to {} at {}: {}", c.number, timestamp(c.started_at), c.outcome);
        if let Some(who) = &c.answered_by {
            detail.push_str(&format!(" ({who})"));
        }
        detail.push_str(&format!(", {} rings, by {}", c.rings, c.operator));
        if !c.notes.trim().is_empty() {
            detail.push_str(&format!(": {}", c.notes.trim()));
        }
        let check = self.incident_check(Some(c.incident_id))?;
        self.append_event_by(
            "call_logged",
            Some(c.incident_id),
            Some(&c.host),
            check.as_deref(),
            &detail,
            &c.operator,
            at,
        )?;
        Ok(self.tx.query_row(&format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = ?1"), [id], call_row)?)
    }

    /// Records a customer's consent and logs `consent_recorded` (actor: who recorded it).
    /// Refused: an investigation beyond what was consented (above the cap, or above the
    /// incident's largest investigation consent) unless the customer answered a call that began
    /// after the incident's latest consent (`NeedsCall`, core's `investigation_needs_call`); a
    /// spot recovery below its price (`TooSmall`).
    pub fn add_consent(&self, c: &NewConsent, at: DateTime<Utc>) -> Result<ConsentRecord, ConsentError> {
        match c.kind.as_str() {
            "investigation" => {
                let (largest, latest): (Option<u32>, Option<String>) = self.tx.query_row(
                    "SELECT max(amount_yen) FILTER (WHERE kind = 'investigation'), max(at)
                       FROM consents WHERE incident_id = ?1",
                    [c.incident_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                let answered: Vec<DateTime<Utc>> = {
                    let mut stmt = self
                        .tx
                        .prepare("SELECT started_at FROM calls WHERE incident_id = ?1 AND outcome = 'answered'")?;
                    let rows = stmt.query_map([c.incident_id], |r| r.get::<_, String>(0))?;
                    rows.filter_map(|r| r.map(|s| parse_at(&s)).transpose()).collect::<Result<_, _>>()?
                };
                let latest = latest.as_deref().and_then(parse_at);
                if let Some(consented) = investigation_limit_without_call(largest, latest, &answered) {
                    if c.amount_yen > consented {
                        return Err(ConsentError::NeedsCall { consented });
                    }
                }
            }
            "spot_recovery" if c.amount_yen < SPOT_MIN_YEN => return Err(ConsentError::TooSmall),
            _ => {}
        }
        self.tx.execute(
            "INSERT INTO consents (incident_id, kind, amount_yen, customer_person, note, operator, at, cause)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                c.incident_id,
                c.kind,
                c.amount_yen,
                c.customer_person,
                c.note,
                c.operator,
                timestamp(at),
                c.cause.id()
            ],
        )?;
        let id = self.tx.last_insert_rowid();
        let mut detail = format!(
            "consent #{id} {} {}, cause {}, from {} (customer), recorded by {}",
            c.kind,
            yen(c.amount_yen),
            c.cause.id(),
            c.customer_person,
            c.operator
        );
        if !c.note.trim().is_empty() {
            detail.push_str(&format!(": {}", c.note.trim()));
        }
        let check = self.incident_check(Some(c.incident_id))?;
        self.append_event_by(
            "consent_recorded",
            Some(c.incident_id),
            Some(&c.host),
            check.as_deref(),
            &detail,
            &c.operator,
            at,
        )?;
        Ok(self.tx.query_row(&format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE id = ?1"), [id], consent_row)?)
    }

    /// A recovery acts on the server (the runner confirmed the problem: 対応開始): logs
    /// `recovery_acting` (actor `engine`). The hour of primary recovery counts from the first.
    pub fn recovery_acting(&self, rec: &RecoveryRecord, at: DateTime<Utc>) -> Result<(), StoreError> {
        let check = self.incident_check(rec.incident_id)?;
        let detail = format!("recovery #{} {} of {}: acting (対応開始)", rec.id, rec.action, rec.host);
        self.append_event_by(
            "recovery_acting",
            rec.incident_id,
            Some(&rec.host),
            check.as_deref(),
            &detail,
            ENGINE,
            at,
        )?;
        Ok(())
    }

    /// When primary recovery work on an incident began (contract §9.8): its first
    /// `recovery_acting` (対応開始) or the first recovery an operator started on it, whichever
    /// came first; None while neither happened.
    pub fn primary_recovery_began(&self, incident: i64) -> Result<Option<DateTime<Utc>>, StoreError> {
        let first: Option<String> = self.tx.query_row(
            "SELECT min(t) FROM (
                SELECT min(at) AS t FROM events WHERE incident_id = ?1 AND kind = 'recovery_acting'
                UNION ALL
                SELECT min(started_at) FROM recoveries WHERE incident_id = ?1 AND automatic = 0)",
            [incident],
            |r| r.get(0),
        )?;
        Ok(first.as_deref().and_then(parse_at))
    }

    /// An operator's note on an incident: logs `note` (actor `by`, detail the text); returns
    /// the event's id.
    #[allow(clippy::too_many_arguments)]
    pub fn add_note(
        &self,
        incident: i64,
        host: &str,
        check: &str,
        text: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.append_event_by("note", Some(incident), Some(host), Some(check), text, by, at)
    }

    /// One incident (open or closed) by id, without its events.
    pub fn incident_brief(&self, id: i64) -> Result<Option<IncidentRecord>, StoreError> {
        Ok(self
            .tx
            .query_row(
                "SELECT id, host, check_id, level, trigger, opened_at, closed_at FROM incidents WHERE id = ?1",
                [id],
                incident_row,
            )
            .optional()?)
    }

    /// An operator queued a status report (状況報告) mail: logs `status_report_queued`.
    pub fn record_status_report(
        &self,
        incident: i64,
        host: &str,
        outbox_id: i64,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let check = self.incident_check(Some(incident))?;
        let detail = format!("status report mail #{outbox_id} queued by {by}");
        self.append_event_by("status_report_queued", Some(incident), Some(host), check.as_deref(), &detail, by, at)?;
        Ok(())
    }

    /// The engine did not (or will not) recover on its own: logs `recovery_needs_operator`
    /// (actor `engine`, detail `ACTION: CODE`).
    pub fn recovery_needs_operator(
        &self,
        incident: i64,
        host: &str,
        check: &str,
        action: &str,
        code: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let detail = format!("{action}: {code}");
        self.append_event_by("recovery_needs_operator", Some(incident), Some(host), Some(check), &detail, ENGINE, at)?;
        Ok(())
    }
}

impl Store {
    fn has_recoveries(&self) -> Result<bool, StoreError> {
        Ok(self.schema_version()? >= RECOVERY_STEP)
    }

    /// The calls of an incident, in the order they were logged. Empty for an older log.
    pub fn calls(&self, incident: i64) -> Result<Vec<CallRecord>, StoreError> {
        if !self.has_recoveries()? {
            return Ok(Vec::new());
        }
        let mut stmt =
            self.conn.prepare(&format!("SELECT {CALL_COLUMNS} FROM calls WHERE incident_id = ?1 ORDER BY id"))?;
        let rows = stmt.query_map([incident], call_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The consents of an incident, in the order they were recorded. Empty for an older log.
    pub fn consents(&self, incident: i64) -> Result<Vec<ConsentRecord>, StoreError> {
        if !self.has_recoveries()? {
            return Ok(Vec::new());
        }
        let columns = if self.schema_version()? >= CONSENT_CAUSE_STEP { CONSENT_COLUMNS } else { CONSENT_COLUMNS_V11 };
        let mut stmt =
            self.conn.prepare(&format!("SELECT {columns} FROM consents WHERE incident_id = ?1 ORDER BY id"))?;
        let rows = stmt.query_map([incident], consent_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Recoveries, of one server or all, newest first (at most `limit`). Empty for an older log.
    pub fn recoveries(&self, host: Option<&str>, limit: usize) -> Result<Vec<RecoveryRecord>, StoreError> {
        if !self.has_recoveries()? {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RECOVERY_COLUMNS} FROM recoveries WHERE ?1 IS NULL OR host = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![host, limit as i64], recovery_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Recoveries running now, oldest first.
    pub fn running_recoveries(&self) -> Result<Vec<RecoveryRecord>, StoreError> {
        if !self.has_recoveries()? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {RECOVERY_COLUMNS} FROM recoveries WHERE finished_at IS NULL ORDER BY id"))?;
        let rows = stmt.query_map([], recovery_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// How many status report mails were queued for the incident.
    pub fn status_reports_sent(&self, incident: i64) -> Result<u32, StoreError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM outbox WHERE incident_id = ?1 AND kind = 'status_report'",
            [incident],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::{NewMail, OutboxKind};
    use anshin_core::{CheckKey, CheckKind, Level, Service};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn with_incident(dir: &std::path::Path) -> (Store, i64) {
        let mut s = Store::open(&dir.join("log.db")).unwrap();
        let key = CheckKey::new("web01", CheckKind::Service(Service::Http));
        let tx = s.begin().unwrap();
        let id = tx
            .open_incident(&key, Level::Severe, "web01 HTTP サービスダウン", "refused", at("2026-11-25T01:00:00Z"))
            .unwrap();
        tx.commit().unwrap();
        (s, id)
    }

    fn restart(incident: Option<i64>, by: &str, automatic: bool, billable_yen: Option<u32>) -> NewRecovery {
        NewRecovery {
            host: "web01".into(),
            incident_id: incident,
            action: "restart:http".into(),
            requested_by: by.into(),
            automatic,
            billable_yen,
        }
    }

    #[test]
    fn one_recovery_per_server_and_its_story_is_logged() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, inc) = with_incident(dir.path());
        let t = at("2026-11-25T01:00:30Z");
        let tx = s.begin().unwrap();
        let StartRecovery::Started(first) =
            tx.start_recovery(&restart(Some(inc), "rule:auto-restart", true, None), t).unwrap()
        else {
            panic!("not started")
        };
        assert_eq!(
            (first.finished_at.as_deref(), first.automatic, first.started_at.as_str()),
            (None, true, "2026-11-25T01:00:30.000Z")
        );
        let busy = tx.start_recovery(&restart(None, "yamada", false, None), t).unwrap();
        assert_eq!(busy, StartRecovery::Busy(first.clone()));
        // Another server is free.
        let other = NewRecovery {
            host: "db01".into(),
            action: "reboot".into(),
            ..restart(None, "yamada", false, Some(20_000))
        };
        assert!(matches!(tx.start_recovery(&other, t).unwrap(), StartRecovery::Started(_)));
        assert_eq!(tx.running_recovery("web01").unwrap(), Some(first.clone()));
        assert_eq!(tx.automatic_attempts(inc).unwrap(), 1);
        assert_eq!(tx.automatic_restarts_since("web01", "restart:http", t).unwrap(), 1);
        assert_eq!(tx.automatic_restarts_since("web01", "restart:http", t + chrono::Duration::seconds(1)).unwrap(), 0);
        assert_eq!(tx.automatic_restarts_since("web01", "reboot", t).unwrap(), 0);
        tx.commit().unwrap();

        // The database itself refuses a second running recovery of one server.
        assert!(s
            .conn
            .execute(
                "INSERT INTO recoveries (host, action, requested_by, automatic, started_at) VALUES ('web01', 'reboot', 'x', 0, 'x')",
                []
            )
            .is_err());

        let tx = s.begin().unwrap();
        let done =
            tx.finish_recovery(first.id, "recovered", "HTTP/1.1 200 OK", at("2026-11-25T01:01:00Z")).unwrap().unwrap();
        assert_eq!(done.outcome.as_deref(), Some("recovered"));
        assert_eq!(tx.finish_recovery(first.id, "failed", "", at("2026-11-25T01:02:00Z")).unwrap(), None, "once");
        assert!(matches!(
            tx.start_recovery(&restart(Some(inc), "yamada", false, None), t).unwrap(),
            StartRecovery::Started(_)
        ));
        tx.commit().unwrap();

        assert_eq!(
            s.running_recoveries().unwrap().iter().map(|r| r.host.as_str()).collect::<Vec<_>>(),
            ["db01", "web01"]
        );
        let web = s.recoveries(Some("web01"), 10).unwrap();
        assert_eq!(web.len(), 2);
        assert!(web[0].id > web[1].id, "newest first");
        assert_eq!(s.recoveries(None, 1).unwrap().len(), 1);

        let events = s.events().unwrap();
        let kinds: Vec<(&str, &str)> =
            events.iter().map(|e| (e.kind.as_str(), e.actor.as_deref().unwrap_or(""))).collect();
        assert_eq!(
            kinds,
            [
                ("incident_opened", "engine"),
                ("recovery_started", "rule:auto-restart"),
                ("recovery_started", "yamada"),
                ("spot_billed", "yamada"),
                ("recovery_finished", "engine"),
                ("recovery_started", "yamada"),
            ]
        );
        assert_eq!(events[1].check.as_deref(), Some("http"));
        assert!(
            events[1].detail.contains("restart:http") && events[1].detail.contains("automatic"),
            "{}",
            events[1].detail
        );
        assert!(events[3].detail.contains("20,000 yen"), "{}", events[3].detail);
        assert!(events[4].detail.ends_with("recovered: HTTP/1.1 200 OK"), "{}", events[4].detail);
        assert!(s.verify_chain().unwrap().ok);
    }

    #[test]
    fn running_recoveries_are_interrupted_at_start_and_never_rerun() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, inc) = with_incident(dir.path());
        let tx = s.begin().unwrap();
        tx.start_recovery(&restart(Some(inc), "rule:auto-restart", true, None), at("2026-11-25T01:00:30Z")).unwrap();
        tx.commit().unwrap();
        drop(s);
        let mut s = Store::open(&dir.path().join("log.db")).unwrap();
        let tx = s.begin().unwrap();
        let cut = tx.interrupt_running_recoveries(at("2026-11-25T02:00:00Z")).unwrap();
        assert_eq!(cut.len(), 1);
        assert_eq!(cut[0].outcome.as_deref(), Some("interrupted"));
        assert!(tx.interrupt_running_recoveries(at("2026-11-25T02:00:00Z")).unwrap().is_empty());
        // Still counts as the incident's automatic attempt.
        assert_eq!(tx.automatic_attempts(inc).unwrap(), 1);
        tx.commit().unwrap();
        assert!(s.running_recoveries().unwrap().is_empty());
        assert_eq!(s.events().unwrap().last().unwrap().kind, "recovery_finished");
    }

    #[test]
    fn calls_consents_notes_and_status_reports() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, inc) = with_incident(dir.path());
        let now = at("2026-11-25T01:30:00Z");
        let call = |number: &str, outcome: &str, answered_by: Option<&str>| NewCall {
            incident_id: inc,
            host: "web01".into(),
            number: number.into(),
            started_at: at("2026-11-25T01:20:00Z"),
            rings: 10,
            outcome: outcome.into(),
            answered_by: answered_by.map(Into::into),
            notes: "留守".into(),
            operator: "yamada".into(),
        };
        let consent = |kind: &str, amount_yen| NewConsent {
            incident_id: inc,
            host: "web01".into(),
            kind: kind.into(),
            amount_yen,
            customer_person: "山田様".into(),
            note: String::new(),
            operator: "yamada".into(),
            cause: ChargeCause::Attack,
        };
        let tx = s.begin().unwrap();
        // No call yet: beyond the quote of 50,000 yen is refused.
        assert!(matches!(
            tx.add_consent(&consent("investigation", 60_000), now),
            Err(ConsentError::NeedsCall { consented: 50_000 })
        ));
        assert!(matches!(tx.add_consent(&consent("spot_recovery", 19_999), now), Err(ConsentError::TooSmall)));
        let first = tx.add_consent(&consent("investigation", 50_000), now).unwrap();
        assert_eq!(
            (first.kind.as_str(), first.amount_yen, first.at.as_str(), first.cause.as_str()),
            ("investigation", 50_000, "2026-11-25T01:30:00.000Z", "attack")
        );

        let a = tx.log_call(&call("03-1111-2222", "no_answer", None), now).unwrap();
        assert_eq!((a.rings, a.started_at.as_str(), a.operator.as_str()), (10, "2026-11-25T01:20:00.000Z", "yamada"));
        tx.log_call(&call("090-3333-4444", "answered", Some("佐藤様")), now).unwrap();
        assert!(tx.log_call(&call("x", "maybe", None), now).is_err(), "the database knows the outcomes");

        // The answered call began at 01:20, before the consent of 01:30: not asked again.
        assert!(matches!(
            tx.add_consent(&consent("investigation", 80_000), now),
            Err(ConsentError::NeedsCall { consented: 50_000 })
        ));
        // Up to what was consented needs no call.
        tx.add_consent(&consent("investigation", 40_000), now).unwrap();
        // Asked again on the phone after the latest consent: a larger amount is a new consent.
        let later = at("2026-11-25T01:40:00Z");
        tx.log_call(&NewCall { started_at: later, ..call("090-3333-4444", "answered", Some("佐藤様")) }, later)
            .unwrap();
        tx.add_consent(&consent("investigation", 80_000), later).unwrap();
        // The largest consent is now 80,000 yen: beyond it, ask again.
        assert!(matches!(
            tx.add_consent(&consent("investigation", 90_000), later),
            Err(ConsentError::NeedsCall { consented: 80_000 })
        ));
        tx.add_consent(&NewConsent { cause: ChargeCause::CustomerChange, ..consent("spot_recovery", 20_000) }, later)
            .unwrap();

        let note = tx.add_note(inc, "web01", "http", "nginx の設定を確認中", "suzuki", now).unwrap();
        assert!(note > 0);
        let mail = NewMail {
            kind: OutboxKind::StatusReport,
            incident_id: Some(inc),
            from: "mail_alert@hosting-srv.net".into(),
            to: vec!["ops@example.jp".into()],
            subject: "状況報告".into(),
            body: "本文\n".into(),
        };
        let outbox = tx.enqueue_mail(&mail, now).unwrap();
        tx.record_status_report(inc, "web01", outbox, "yamada", now).unwrap();
        tx.recovery_needs_operator(inc, "web01", "http", "restart:http", "not_included", now).unwrap();
        assert_eq!(tx.incident_brief(inc).unwrap().unwrap().host, "web01");
        assert_eq!(tx.incident_brief(999).unwrap(), None);
        tx.commit().unwrap();

        let calls = s.calls(inc).unwrap();
        assert_eq!(calls.iter().map(|c| c.outcome.as_str()).collect::<Vec<_>>(), ["no_answer", "answered", "answered"]);
        assert_eq!(calls[1].answered_by.as_deref(), Some("佐藤様"));
        let consents = s.consents(inc).unwrap();
        assert_eq!(consents.iter().map(|c| c.amount_yen).collect::<Vec<_>>(), [50_000, 40_000, 80_000, 20_000]);
        assert_eq!(
            consents.iter().map(|c| c.cause.as_str()).collect::<Vec<_>>(),
            ["attack", "attack", "attack", "customer_change"]
        );
        assert_eq!(s.status_reports_sent(inc).unwrap(), 1);
        assert_eq!(s.incident_record(inc).unwrap().unwrap().check, "http");

        let events = s.events().unwrap();
        let of = |kind: &str| events.iter().filter(|e| e.kind == kind).collect::<Vec<_>>();
        let call_ev = of("call_logged");
        assert_eq!(call_ev.len(), 3);
        assert_eq!(call_ev[1].actor.as_deref(), Some("yamada"));
        assert!(call_ev[1].detail.contains("090-3333-4444") && call_ev[1].detail.contains("answered (佐藤様)"));
        assert!(
            call_ev[1].detail.contains("10 rings") && call_ev[1].detail.ends_with(": 留守"),
            "{}",
            call_ev[1].detail
        );
        let consent_ev = of("consent_recorded");
        assert_eq!(consent_ev.len(), 4);
        assert!(consent_ev[3].detail.contains("cause customer_change"), "{}", consent_ev[3].detail);
        let n = of("note");
        assert_eq!(
            (n[0].id, n[0].detail.as_str(), n[0].actor.as_deref()),
            (note, "nginx の設定を確認中", Some("suzuki"))
        );
        assert_eq!(of("status_report_queued")[0].actor.as_deref(), Some("yamada"));
        assert_eq!(of("recovery_needs_operator")[0].detail, "restart:http: not_included");
        assert!(s.verify_chain().unwrap().ok);

        // The records serialize with the console's field names.
        let json = serde_json::to_value(&calls[0]).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 9);
        for k in ["id", "incident_id", "number", "started_at", "rings", "outcome", "answered_by", "notes", "operator"] {
            assert!(keys.contains(&k), "{k}");
        }
    }

    /// contract §9.8: the hour of primary recovery counts from the first 対応開始 or operator
    /// recovery of the incident, read from the record (so it survives a restart).
    #[test]
    fn primary_recovery_begins_at_the_first_acting_or_operator_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, inc) = with_incident(dir.path());
        let tx = s.begin().unwrap();
        assert_eq!(tx.primary_recovery_began(inc).unwrap(), None);
        // An automatic recovery that found the service up never acted: no clock.
        let StartRecovery::Started(auto) = tx
            .start_recovery(&restart(Some(inc), "rule:auto-restart", true, None), at("2026-11-25T01:00:30Z"))
            .unwrap()
        else {
            panic!("not started")
        };
        tx.finish_recovery(auto.id, "already_up", "", at("2026-11-25T01:00:40Z")).unwrap();
        assert_eq!(tx.primary_recovery_began(inc).unwrap(), None);
        // An operator's recovery starts it.
        let StartRecovery::Started(op) =
            tx.start_recovery(&restart(Some(inc), "yamada", false, None), at("2026-11-25T01:10:00Z")).unwrap()
        else {
            panic!("not started")
        };
        assert_eq!(tx.primary_recovery_began(inc).unwrap(), Some(at("2026-11-25T01:10:00Z")));
        tx.recovery_acting(&op, at("2026-11-25T01:10:01Z")).unwrap();
        tx.finish_recovery(op.id, "failed", "exit 1", at("2026-11-25T01:10:05Z")).unwrap();
        tx.commit().unwrap();
        // Another incident: an automatic recovery that acted starts it at 対応開始.
        let key = CheckKey::new("web01", CheckKind::Service(Service::Smtp));
        let tx = s.begin().unwrap();
        let other = tx.open_incident(&key, Level::Severe, "web01 SMTP", "refused", at("2026-11-25T02:00:00Z")).unwrap();
        let StartRecovery::Started(auto) = tx
            .start_recovery(
                &NewRecovery { action: "restart:smtp".into(), ..restart(Some(other), "rule:auto-restart", true, None) },
                at("2026-11-25T02:00:30Z"),
            )
            .unwrap()
        else {
            panic!("not started")
        };
        assert_eq!(tx.primary_recovery_began(other).unwrap(), None, "re-confirming is not acting");
        tx.recovery_acting(&auto, at("2026-11-25T02:00:35Z")).unwrap();
        tx.commit().unwrap();
        drop(s);
        // Read back after a restart.
        let mut s = Store::open(&dir.path().join("log.db")).unwrap();
        let tx = s.begin().unwrap();
        assert_eq!(tx.primary_recovery_began(other).unwrap(), Some(at("2026-11-25T02:00:35Z")));
        assert_eq!(tx.primary_recovery_began(inc).unwrap(), Some(at("2026-11-25T01:10:00Z")));
        drop(tx);
        let acting: Vec<_> = s.events().unwrap().into_iter().filter(|e| e.kind == "recovery_acting").collect();
        assert_eq!(acting.len(), 2);
        assert_eq!((acting[1].incident_id, acting[1].check.as_deref()), (Some(other), Some("smtp")));
        assert!(acting[1].detail.contains("対応開始"), "{}", acting[1].detail);
        assert!(s.verify_chain().unwrap().ok);
    }

    /// Consents recorded before causes existed read as `other`, before and after the step.
    #[test]
    fn consents_of_an_older_log_have_the_cause_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = super::super::older_log(&path, CONSENT_CAUSE_STEP);
            conn.execute(
                "INSERT INTO incidents (id, host, check_id, level, trigger, opened_at) VALUES (3, 'web01', 'http', 4, 't', 'x')",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO consents (incident_id, kind, amount_yen, customer_person, operator, at)
                 VALUES (3, 'investigation', 30000, '山田様', 'ops1', '2026-11-25T01:00:00.000Z')",
                [],
            )
            .unwrap();
        }
        let old = Store::open_read_only(&path).unwrap();
        assert_eq!(old.consents(3).unwrap()[0].cause, "other");
        drop(old);
        let s = Store::open(&path).unwrap();
        let c = &s.consents(3).unwrap()[0];
        assert_eq!((c.amount_yen, c.cause.as_str()), (30_000, "other"));
        // The database knows the four causes.
        assert!(s
            .conn
            .execute(
                "INSERT INTO consents (incident_id, kind, amount_yen, customer_person, operator, at, cause)
                 VALUES (3, 'investigation', 1, 'x', 'y', 'z', 'weather')",
                []
            )
            .is_err());
    }

    #[test]
    fn yen_reads_like_money() {
        assert_eq!(yen(20_000), "20,000 yen");
        assert_eq!(yen(1_234_567), "1,234,567 yen");
        assert_eq!(yen(999), "999 yen");
    }
}
