//! The mail outbox in the store: one row per customer mail, written in the same transaction as
//! the incident change that caused it, so a crash can neither lose the mail nor queue it twice.
//!
//! Owns: the `outbox` table (schema step 2), the Message-ID given to a mail once when it is
//! queued, the row's delivery state (pending → sent | failed_permanent; held rows wait for an
//! operator), and the `mail_queued` / `mail_sent` / `mail_failed` entries of the event log.
//! Must not know: SMTP, mail syntax or retry policy (`crate::mail` decides when and whether to
//! retry and passes the times in), or why a mail was written.
//!
//! Since schema step 4 a row may also carry an HTML body with inline parts (the monthly report:
//! `multipart/related` with `cid:` images); the plain `body` is then its text alternative.
//!
//! The rows are state, not history: they change as delivery progresses. What happened to a mail
//! is also appended to the event log, linked to its incident, so the incident's history shows
//! the mail.

use chrono::{DateTime, Utc};
use rand::Rng as _;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{timestamp, Store, StoreError, StoreTx};

/// Schema step 2: the outbox. Appended to `MIGRATIONS`; never edit once released.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL
                    CHECK (kind IN ('alert', 'recovery', 'response_started', 'status_report', 'test')),
    incident_id     INTEGER REFERENCES incidents (id),
    mail_from       TEXT NOT NULL,
    mail_to         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sent', 'failed_permanent', 'held')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX outbox_incident ON outbox (incident_id);
"#;

/// Schema step 4: the monthly report kind, an optional HTML body, and its inline parts (charts
/// referenced as `cid:`). SQLite cannot change a CHECK constraint, so the table is rebuilt with
/// its rows, ids and Message-IDs unchanged. Appended to `MIGRATIONS`; never edit once released.
pub(super) const MIGRATION_HTML: &str = r#"
CREATE TABLE outbox_v4 (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL
                    CHECK (kind IN ('alert', 'recovery', 'response_started', 'status_report', 'test',
                                    'monthly_report')),
    incident_id     INTEGER REFERENCES incidents (id),
    mail_from       TEXT NOT NULL,
    mail_to         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sent', 'failed_permanent', 'held')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    html            TEXT
);
INSERT INTO outbox_v4 (id, message_id, kind, incident_id, mail_from, mail_to, subject, body, state, attempts,
                       next_attempt_at, last_error, created_at, sent_at)
    SELECT id, message_id, kind, incident_id, mail_from, mail_to, subject, body, state, attempts,
           next_attempt_at, last_error, created_at, sent_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v4 RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX outbox_incident ON outbox (incident_id);
CREATE TABLE outbox_parts (
    outbox_id    INTEGER NOT NULL REFERENCES outbox (id),
    seq          INTEGER NOT NULL,
    cid          TEXT NOT NULL,
    content_type TEXT NOT NULL,
    filename     TEXT NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (outbox_id, seq)
);
"#;

/// Schema step 14: the written mails that are not about an incident — `work_done` (a restore
/// the customer asked for is done, contract §7) and `security_notice` (contract §8). The kind's
/// CHECK cannot change in place: the outbox and its parts are rebuilt with their rows, ids and
/// Message-IDs unchanged (the parts first, so no foreign key points at a dropped table).
/// Appended to `MIGRATIONS`; never edit once released.
pub(super) const MIGRATION_WRITTEN: &str = r#"
CREATE TEMP TABLE outbox_parts_keep AS SELECT * FROM outbox_parts;
DROP TABLE outbox_parts;
CREATE TABLE outbox_v14 (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL
                    CHECK (kind IN ('alert', 'recovery', 'response_started', 'status_report', 'test',
                                    'monthly_report', 'work_done', 'security_notice')),
    incident_id     INTEGER REFERENCES incidents (id),
    mail_from       TEXT NOT NULL,
    mail_to         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sent', 'failed_permanent', 'held')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    html            TEXT
);
INSERT INTO outbox_v14 SELECT id, message_id, kind, incident_id, mail_from, mail_to, subject, body, state, attempts,
                              next_attempt_at, last_error, created_at, sent_at, html FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v14 RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX outbox_incident ON outbox (incident_id);
CREATE TABLE outbox_parts (
    outbox_id    INTEGER NOT NULL REFERENCES outbox (id),
    seq          INTEGER NOT NULL,
    cid          TEXT NOT NULL,
    content_type TEXT NOT NULL,
    filename     TEXT NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (outbox_id, seq)
);
INSERT INTO outbox_parts SELECT * FROM outbox_parts_keep;
DROP TABLE outbox_parts_keep;
"#;

/// Which mail of contract §3 a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    Alert,
    Recovery,
    ResponseStarted,
    StatusReport,
    /// `anshin mail-test`.
    Test,
    /// The monthly report (contract §5), HTML with inline charts.
    MonthlyReport,
    /// Work the customer asked for is done (a restore, contract §7).
    WorkDone,
    /// セキュリティ情報のご案内 (contract §8).
    SecurityNotice,
}

impl OutboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Alert => "alert",
            OutboxKind::Recovery => "recovery",
            OutboxKind::ResponseStarted => "response_started",
            OutboxKind::StatusReport => "status_report",
            OutboxKind::Test => "test",
            OutboxKind::MonthlyReport => "monthly_report",
            OutboxKind::WorkDone => "work_done",
            OutboxKind::SecurityNotice => "security_notice",
        }
    }

    pub fn from_str_opt(s: &str) -> Option<OutboxKind> {
        Some(match s {
            "alert" => OutboxKind::Alert,
            "recovery" => OutboxKind::Recovery,
            "response_started" => OutboxKind::ResponseStarted,
            "status_report" => OutboxKind::StatusReport,
            "test" => OutboxKind::Test,
            "monthly_report" => OutboxKind::MonthlyReport,
            "work_done" => OutboxKind::WorkDone,
            "security_notice" => OutboxKind::SecurityNotice,
            _ => return None,
        })
    }
}

/// Where a mail is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting for its first or next attempt (or for an `[smtp]` section).
    Pending,
    /// The SMTP server accepted it (250 to DATA).
    Sent,
    /// Refused for good (a 5xx, or a header that must not be sent); never retried.
    FailedPermanent,
    /// Kept back by an operator; the runner skips it.
    Held,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sent => "sent",
            OutboxState::FailedPermanent => "failed_permanent",
            OutboxState::Held => "held",
        }
    }

    pub fn from_str_opt(s: &str) -> Option<OutboxState> {
        Some(match s {
            "pending" => OutboxState::Pending,
            "sent" => OutboxState::Sent,
            "failed_permanent" => OutboxState::FailedPermanent,
            "held" => OutboxState::Held,
            _ => return None,
        })
    }
}

/// A mail to queue. Text as rendered (`\n` line ends); the transport checks headers and
/// converts line ends when it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    pub kind: OutboxKind,
    pub incident_id: Option<i64>,
    pub from: String,
    /// The customer's notification addresses (1–3).
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// An HTML body and the parts it references (`<img src="cid:…">`), sent as
/// `multipart/alternative` (the row's text body, then `multipart/related` (HTML, parts)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HtmlBody {
    pub html: String,
    pub parts: Vec<InlinePart>,
}

/// One inline part of an HTML mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlinePart {
    /// Without angle brackets: the HTML says `cid:{cid}`.
    pub cid: String,
    /// e.g. `image/png`.
    pub content_type: String,
    pub filename: String,
    pub data: Vec<u8>,
}

/// One row of the outbox, as `anshin outbox` and the sender see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxRecord {
    pub id: i64,
    /// With its angle brackets: `<anshin.12.alert.5f0c…@hosting-srv.net>`.
    pub message_id: String,
    pub kind: OutboxKind,
    pub incident_id: Option<i64>,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    pub state: OutboxState,
    pub attempts: u32,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
    /// The HTML alternative with its inline parts (monthly reports); `None` for plain mails.
    /// Loaded with its parts by [`Store::due_mails`] only; listings leave the parts out.
    #[serde(skip)]
    pub html: Option<HtmlBody>,
}

const COLUMNS: &str = "id, message_id, kind, incident_id, mail_from, mail_to, subject, body, state, attempts, \
                       next_attempt_at, last_error, created_at, sent_at, html";
/// The same columns for a log older than the HTML step (no `html` column yet).
const COLUMNS_V3: &str = "id, message_id, kind, incident_id, mail_from, mail_to, subject, body, state, attempts, \
                          next_attempt_at, last_error, created_at, sent_at, NULL";

fn outbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRecord> {
    let bad = |i: usize, what: &str, v: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown outbox {what} {v:?}").into(),
        )
    };
    let kind: String = r.get(2)?;
    let to: String = r.get(5)?;
    let state: String = r.get(8)?;
    Ok(OutboxRecord {
        id: r.get(0)?,
        message_id: r.get(1)?,
        kind: OutboxKind::from_str_opt(&kind).ok_or_else(|| bad(2, "kind", &kind))?,
        incident_id: r.get(3)?,
        from: r.get(4)?,
        to: serde_json::from_str(&to)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, Box::new(e)))?,
        subject: r.get(6)?,
        body: r.get(7)?,
        state: OutboxState::from_str_opt(&state).ok_or_else(|| bad(8, "state", &state))?,
        attempts: r.get(9)?,
        next_attempt_at: r.get(10)?,
        last_error: r.get(11)?,
        created_at: r.get(12)?,
        sent_at: r.get(13)?,
        html: r.get::<_, Option<String>>(14)?.map(|html| HtmlBody { html, parts: Vec::new() }),
    })
}

/// A Message-ID unique to this mail and recognizable as ours:
/// `<anshin.{incident|0}.{kind}.{16 hex}@{domain of From}>`. Generated once, stored, and sent
/// unchanged on every attempt, so a resend after a crash is recognizable as the same mail.
fn new_message_id(kind: OutboxKind, incident: Option<i64>, from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .filter(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        .unwrap_or("anshin.invalid");
    let random: u64 = rand::rng().random();
    format!("<anshin.{}.{}.{random:016x}@{domain}>", incident.unwrap_or(0), kind.as_str())
}

impl StoreTx<'_> {
    /// How many mails of `kind` were queued about the incident (the 対応開始 goes once).
    pub fn mails_about(&self, incident: i64, kind: OutboxKind) -> Result<u32, StoreError> {
        Ok(self.tx.query_row(
            "SELECT count(*) FROM outbox WHERE incident_id = ?1 AND kind = ?2",
            params![incident, kind.as_str()],
            |r| r.get(0),
        )?)
    }

    /// Queues a mail (pending, due now) and logs `mail_queued`; returns the row id. Call it in the
    /// transaction that opens or closes the incident the mail is about.
    pub fn enqueue_mail(&self, mail: &NewMail, at: DateTime<Utc>) -> Result<i64, StoreError> {
        let message_id = new_message_id(mail.kind, mail.incident_id, &mail.from);
        let to = serde_json::to_string(&mail.to).unwrap_or_else(|_| "[]".into());
        let now = timestamp(at);
        self.tx.execute(
            "INSERT INTO outbox (message_id, kind, incident_id, mail_from, mail_to, subject, body, state,
                                 attempts, next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?8)",
            params![message_id, mail.kind.as_str(), mail.incident_id, mail.from, to, mail.subject, mail.body, now],
        )?;
        let id = self.tx.last_insert_rowid();
        self.append_event(
            "mail_queued",
            mail.incident_id,
            None,
            &format!("{} {message_id} to {}", mail.kind.as_str(), mail.to.join(", ")),
            at,
        )?;
        Ok(id)
    }

    /// Queues an HTML mail (the text alternative in `mail.body`) with its inline parts, like
    /// [`StoreTx::enqueue_mail`]; returns the row id.
    pub fn enqueue_html_mail(&self, mail: &NewMail, html: &HtmlBody, at: DateTime<Utc>) -> Result<i64, StoreError> {
        let id = self.enqueue_mail(mail, at)?;
        self.tx.execute("UPDATE outbox SET html = ?2 WHERE id = ?1", params![id, html.html])?;
        for (seq, p) in html.parts.iter().enumerate() {
            self.tx.execute(
                "INSERT INTO outbox_parts (outbox_id, seq, cid, content_type, filename, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, seq as i64, p.cid, p.content_type, p.filename, p.data],
            )?;
        }
        Ok(id)
    }
}

impl Store {
    /// One outbox row with its HTML parts (None: no such row).
    pub fn mail(&self, id: i64) -> Result<Option<OutboxRecord>, StoreError> {
        let mut row =
            self.conn.query_row(&format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"), [id], outbox_row).optional()?;
        if let Some(r) = row.as_mut() {
            self.load_parts(r)?;
        }
        Ok(row)
    }

    fn load_parts(&self, row: &mut OutboxRecord) -> Result<(), StoreError> {
        let Some(html) = row.html.as_mut() else { return Ok(()) };
        let mut stmt = self
            .conn
            .prepare("SELECT cid, content_type, filename, data FROM outbox_parts WHERE outbox_id = ?1 ORDER BY seq")?;
        html.parts = stmt
            .query_map([row.id], |r| {
                Ok(InlinePart { cid: r.get(0)?, content_type: r.get(1)?, filename: r.get(2)?, data: r.get(3)? })
            })?
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// Pending mails whose next attempt is due at `now`, oldest first.
    pub fn due_mails(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2"
        ))?;
        let mut rows: Vec<OutboxRecord> =
            stmt.query_map(params![timestamp(now), limit as i64], outbox_row)?.collect::<Result<_, _>>()?;
        for r in &mut rows {
            self.load_parts(r)?;
        }
        Ok(rows)
    }

    /// When the earliest pending mail is due (None: nothing pending).
    pub fn next_mail_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let next: Option<String> = self
            .conn
            .query_row("SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'", [], |r| r.get(0))
            .optional()?
            .flatten();
        Ok(next.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()).map(|t| t.with_timezone(&Utc)))
    }

    /// The SMTP server accepted the mail: marks it sent and logs `mail_sent`. Returns false (and
    /// changes nothing) if the row was no longer pending.
    pub fn mark_sent(&mut self, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let tx = self.begin()?;
        let n = tx.tx.execute(
            "UPDATE outbox SET state = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = NULL
              WHERE id = ?1 AND state = 'pending'",
            params![id, timestamp(at)],
        )?;
        if n == 1 {
            let (message_id, incident) = tx.mail_ids(id)?;
            tx.append_event("mail_sent", incident, None, &message_id, at)?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    /// A transient failure (server down, timeout, 4xx): counts the attempt, keeps the error and
    /// sets the next attempt. Not logged as an event (an hour-long outage would flood the log);
    /// the row itself shows the attempts and the last error.
    pub fn mark_retry(&mut self, id: i64, error: &str, next_attempt_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3
              WHERE id = ?1 AND state = 'pending'",
            params![id, error, timestamp(next_attempt_at)],
        )?;
        Ok(())
    }

    /// A permanent failure (5xx, or a mail that must not be sent): never retried; logs
    /// `mail_failed`.
    pub fn mark_failed(&mut self, id: i64, error: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let tx = self.begin()?;
        let n = tx.tx.execute(
            "UPDATE outbox SET state = 'failed_permanent', attempts = attempts + 1, last_error = ?2
              WHERE id = ?1 AND state = 'pending'",
            params![id, error],
        )?;
        if n == 1 {
            let (message_id, incident) = tx.mail_ids(id)?;
            tx.append_event("mail_failed", incident, None, &format!("{message_id}: {error}"), at)?;
        }
        tx.commit()
    }

    /// The outbox, newest first (for `anshin outbox`). Empty for a log older than the outbox.
    pub fn outbox(&self, limit: usize) -> Result<Vec<OutboxRecord>, StoreError> {
        let version: i64 = self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < 2 {
            return Ok(Vec::new());
        }
        let has_html: bool = self.conn.query_row(
            "SELECT count(*) > 0 FROM pragma_table_info('outbox') WHERE name = 'html'",
            [],
            |r| r.get(0),
        )?;
        let columns = if has_html { COLUMNS } else { COLUMNS_V3 };
        let mut stmt = self.conn.prepare(&format!("SELECT {columns} FROM outbox ORDER BY id DESC LIMIT ?1"))?;
        let rows = stmt.query_map([limit as i64], outbox_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

impl StoreTx<'_> {
    fn mail_ids(&self, id: i64) -> Result<(String, Option<i64>), StoreError> {
        Ok(self.tx.query_row("SELECT message_id, incident_id FROM outbox WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anshin_core::{CheckKey, CheckKind, Level};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn mail(incident: Option<i64>) -> NewMail {
        NewMail {
            kind: OutboxKind::Alert,
            incident_id: incident,
            from: "mail_alert@hosting-srv.net".into(),
            to: vec!["a@example.jp".into(), "b@example.jp".into()],
            subject: "[Speever][Lv.5]web01 ping 疎通不可".into(),
            body: "本文\n".into(),
        }
    }

    #[test]
    fn step_14_keeps_every_mail_and_its_parts_and_takes_the_written_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        let conn = crate::store::older_log(&path, 14);
        conn.execute_batch(
            r#"INSERT INTO outbox (id, message_id, kind, mail_from, mail_to, subject, body, next_attempt_at, created_at, html)
                 VALUES (7, '<m7@x>', 'monthly_report', 'a@x', '["b@x"]', 'レポート', 'text', 't', 't', '<p>html</p>');
             INSERT INTO outbox_parts VALUES (7, 0, 'c1', 'image/png', 'c1.png', x'89504e47');"#,
        )
        .unwrap();
        drop(conn);
        let s = Store::open(&path).unwrap();
        let kept = s.mail(7).unwrap().unwrap();
        assert_eq!((kept.kind, kept.subject.as_str()), (OutboxKind::MonthlyReport, "レポート"));
        let html = kept.html.expect("the HTML body kept");
        assert_eq!((html.html.as_str(), html.parts.len()), ("<p>html</p>", 1));
        assert_eq!(html.parts[0].data, b"\x89PNG");
        let mut s = s;
        let tx = s.begin().unwrap();
        for kind in [OutboxKind::WorkDone, OutboxKind::SecurityNotice] {
            tx.enqueue_mail(&NewMail { kind, ..mail(None) }, at("2026-12-02T10:00:00Z")).unwrap();
        }
        tx.commit().unwrap();
        let kinds: Vec<OutboxKind> = s.outbox(10).unwrap().iter().map(|m| m.kind).collect();
        assert!(kinds.contains(&OutboxKind::WorkDone) && kinds.contains(&OutboxKind::SecurityNotice), "{kinds:?}");
    }

    #[test]
    fn a_mail_lands_with_its_incident_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("log.db")).unwrap();
        let key = CheckKey::new("web01", CheckKind::Ping);
        let t0 = at("2026-11-25T01:00:00Z");

        // Rolled back: neither the incident nor the mail exists.
        let tx = s.begin().unwrap();
        let inc = tx.open_incident(&key, Level::Unreachable, "web01 ping 疎通不可", "", t0).unwrap();
        tx.enqueue_mail(&mail(Some(inc)), t0).unwrap();
        drop(tx);
        assert!(s.outbox(10).unwrap().is_empty());
        assert!(s.incidents(false, 10).unwrap().is_empty());

        let tx = s.begin().unwrap();
        let inc = tx.open_incident(&key, Level::Unreachable, "web01 ping 疎通不可", "", t0).unwrap();
        let id = tx.enqueue_mail(&mail(Some(inc)), t0).unwrap();
        tx.commit().unwrap();
        let rows = s.outbox(10).unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.id, r.state, r.attempts, r.incident_id), (id, OutboxState::Pending, 0, Some(inc)));
        assert!(r.message_id.starts_with(&format!("<anshin.{inc}.alert.")), "{}", r.message_id);
        assert!(r.message_id.ends_with("@hosting-srv.net>"), "{}", r.message_id);
        assert_eq!(r.to, ["a@example.jp", "b@example.jp"]);
        assert_eq!(r.created_at, "2026-11-25T01:00:00.000Z");
    }

    #[test]
    fn due_retry_sent_and_failed() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("log.db")).unwrap();
        let t0 = at("2026-11-25T01:00:00Z");
        let tx = s.begin().unwrap();
        let a = tx.enqueue_mail(&mail(None), t0).unwrap();
        let b = tx.enqueue_mail(&mail(None), t0).unwrap();
        let c = tx.enqueue_mail(&mail(None), t0).unwrap();
        tx.commit().unwrap();
        assert_eq!(s.due_mails(t0, 10).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), [a, b, c]);
        assert_eq!(s.due_mails(t0, 2).unwrap().len(), 2);
        assert!(s.due_mails(at("2026-11-25T00:59:59Z"), 10).unwrap().is_empty());

        s.mark_retry(a, "connection refused", at("2026-11-25T01:00:05Z")).unwrap();
        assert_eq!(s.due_mails(t0, 10).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), [b, c]);
        assert_eq!(s.next_mail_due().unwrap(), Some(t0));
        assert!(s.mark_sent(b, t0).unwrap());
        assert!(!s.mark_sent(b, t0).unwrap(), "a second mark changes nothing");
        s.mark_failed(c, "550 no such user", t0).unwrap();
        assert_eq!(s.next_mail_due().unwrap(), Some(at("2026-11-25T01:00:05Z")));
        assert_eq!(s.due_mails(at("2026-11-25T01:00:05Z"), 10).unwrap()[0].id, a);

        let rows = s.outbox(10).unwrap();
        let by_id = |id| rows.iter().find(|r| r.id == id).unwrap();
        assert_eq!(by_id(a).state, OutboxState::Pending);
        assert_eq!((by_id(a).attempts, by_id(a).last_error.as_deref()), (1, Some("connection refused")));
        assert_eq!(
            (by_id(b).state, by_id(b).sent_at.as_deref()),
            (OutboxState::Sent, Some("2026-11-25T01:00:00.000Z"))
        );
        assert_eq!(by_id(c).state, OutboxState::FailedPermanent);

        let kinds: Vec<String> = s.events().unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["mail_queued", "mail_queued", "mail_queued", "mail_sent", "mail_failed"]);
        assert!(s.events().unwrap()[3].detail == by_id(b).message_id);
    }

    #[test]
    fn a_first_schema_log_gains_the_outbox_and_keeps_its_incidents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        {
            // A log written by the version before the outbox: schema step 1 only.
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(super::super::MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.pragma_update(None, "application_id", super::super::APPLICATION_ID).unwrap();
            conn.execute(
                "INSERT INTO incidents (host, check_id, level, trigger, opened_at) VALUES ('web01', 'ping', 5, 't', 'x')",
                [],
            )
            .unwrap();
        }
        assert!(Store::open_read_only(&path).unwrap().outbox(10).unwrap().is_empty());
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.incidents(false, 10).unwrap().len(), 1);
        let tx = s.begin().unwrap();
        tx.enqueue_mail(&mail(Some(1)), Utc::now()).unwrap();
        tx.commit().unwrap();
        assert_eq!(s.outbox(10).unwrap().len(), 1);
    }
}
