//! Monthly report drafts in the store: one row per (customer, month), its state (draft → sent,
//! or held by an operator until released), when it was prepared and sent, by whom, and the
//! outbox row that carries it.
//!
//! Owns: the `reports` table and its SQL, and the `report_drafted` / `report_held` /
//! `report_released` / `report_sent` entries of the event log.
//! Must not know: what a report says, which customers are entitled, or the calendar (when drafts
//! are made, what "overdue" means and when they go out automatically: `anshin-report`).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use ts_rs::TS;
use utoipa::ToSchema;

use super::outbox::{HtmlBody, NewMail};
use super::{timestamp, Store, StoreError, StoreTx};

/// Schema step: the report drafts. Appended to `MIGRATIONS`; never edit once released.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE reports (
    id          INTEGER PRIMARY KEY,
    customer    TEXT NOT NULL,
    month       TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'held', 'sent')),
    created_at  TEXT NOT NULL,
    sent_at     TEXT,
    sent_by     TEXT,
    held_by     TEXT,
    outbox_id   INTEGER REFERENCES outbox (id),
    UNIQUE (customer, month)
);
"#;

/// Where a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    /// Prepared, waiting to be sent (by an operator, or automatically).
    Draft,
    /// Kept back by an operator: never sent automatically.
    Held,
    /// Queued in the outbox (the outbox row says whether the SMTP server took it yet).
    Sent,
}

impl ReportState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::Draft => "draft",
            ReportState::Held => "held",
            ReportState::Sent => "sent",
        }
    }

    fn parse(s: &str) -> Option<ReportState> {
        Some(match s {
            "draft" => ReportState::Draft,
            "held" => ReportState::Held,
            "sent" => ReportState::Sent,
            _ => return None,
        })
    }
}

/// One report row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct ReportRecord {
    pub id: i64,
    pub customer: String,
    /// `2026-10`.
    pub month: String,
    pub state: ReportState,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub sent_by: Option<String>,
    pub held_by: Option<String>,
    pub outbox_id: Option<i64>,
}

/// Why a report operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReportStoreError {
    #[error("no report {0}")]
    NotFound(i64),
    #[error("report {id} is {state} and cannot be {action}")]
    WrongState { id: i64, state: &'static str, action: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ReportStoreError {
    fn from(e: rusqlite::Error) -> Self {
        ReportStoreError::Store(StoreError::Sql(e))
    }
}

const COLUMNS: &str = "id, customer, month, state, created_at, sent_at, sent_by, held_by, outbox_id";

fn report_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReportRecord> {
    let state: String = r.get(3)?;
    Ok(ReportRecord {
        id: r.get(0)?,
        customer: r.get(1)?,
        month: r.get(2)?,
        state: ReportState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                3,
                rusqlite::types::Type::Text,
                format!("unknown report state {state:?}").into(),
            )
        })?,
        created_at: r.get(4)?,
        sent_at: r.get(5)?,
        sent_by: r.get(6)?,
        held_by: r.get(7)?,
        outbox_id: r.get(8)?,
    })
}

impl StoreTx<'_> {
    fn report(&self, id: i64) -> Result<ReportRecord, ReportStoreError> {
        self.tx
            .query_row(&format!("SELECT {COLUMNS} FROM reports WHERE id = ?1"), [id], report_row)
            .optional()?
            .ok_or(ReportStoreError::NotFound(id))
    }

    /// Sends a report that is in one of the states in `from`, checked in this transaction (an
    /// operator may send a draft or a held report; automatic sending passes only `Draft`, so a
    /// report held meanwhile stays held): queues the mail, marks the report sent and logs
    /// `report_sent`. Returns the outbox row id.
    pub fn send_report_from(
        &self,
        id: i64,
        mail: &NewMail,
        html: &HtmlBody,
        who: &str,
        at: DateTime<Utc>,
        from: &[ReportState],
    ) -> Result<i64, ReportStoreError> {
        let r = self.report(id)?;
        if !from.contains(&r.state) {
            let action = if r.state == ReportState::Sent { "sent again" } else { "sent automatically" };
            return Err(ReportStoreError::WrongState { id, state: r.state.as_str(), action });
        }
        let outbox = self.enqueue_html_mail(mail, html, at)?;
        self.tx.execute(
            "UPDATE reports SET state = 'sent', sent_at = ?2, sent_by = ?3, outbox_id = ?4 WHERE id = ?1",
            params![id, timestamp(at), who, outbox],
        )?;
        let detail = format!("{} {} by {who}", r.customer, r.month);
        self.append_event_by("report_sent", None, None, None, &detail, who, at)?;
        Ok(outbox)
    }
}

impl Store {
    /// Prepares a draft for (customer, month) unless one exists; returns the new id, or None
    /// when the report already exists (in any state). Logs `report_drafted`.
    pub fn create_report_draft(
        &mut self,
        customer: &str,
        month: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let tx = self.begin()?;
        let n = tx.tx.execute(
            "INSERT INTO reports (customer, month, state, created_at) VALUES (?1, ?2, 'draft', ?3)
             ON CONFLICT (customer, month) DO NOTHING",
            params![customer, month, timestamp(at)],
        )?;
        let id = (n == 1).then(|| tx.tx.last_insert_rowid());
        if id.is_some() {
            tx.event_on("report_drafted", None, None, None, &format!("{customer} {month}"), at)?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Reports, of one month or all, ordered by month then customer. Empty for a log older than
    /// the table.
    pub fn reports(&self, month: Option<&str>) -> Result<Vec<ReportRecord>, StoreError> {
        if !self.has_table("reports")? {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM reports WHERE ?1 IS NULL OR month = ?1 ORDER BY month, customer"
        ))?;
        let rows = stmt.query_map([month], report_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// One report.
    pub fn report(&self, id: i64) -> Result<Option<ReportRecord>, StoreError> {
        if !self.has_table("reports")? {
            return Ok(None);
        }
        Ok(self.conn.query_row(&format!("SELECT {COLUMNS} FROM reports WHERE id = ?1"), [id], report_row).optional()?)
    }

    /// An operator keeps a draft back (no automatic sending); logs `report_held`.
    pub fn hold_report(&mut self, id: i64, who: &str, at: DateTime<Utc>) -> Result<(), ReportStoreError> {
        self.set_report_state(id, ReportState::Draft, ReportState::Held, who, at)
    }

    /// An operator releases a held report back to draft; logs `report_released`.
    pub fn release_report(&mut self, id: i64, who: &str, at: DateTime<Utc>) -> Result<(), ReportStoreError> {
        self.set_report_state(id, ReportState::Held, ReportState::Draft, who, at)
    }

    fn set_report_state(
        &mut self,
        id: i64,
        from: ReportState,
        to: ReportState,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<(), ReportStoreError> {
        let tx = self.begin()?;
        let r = tx.report(id)?;
        if r.state != from {
            let action = if to == ReportState::Held { "held" } else { "released" };
            return Err(ReportStoreError::WrongState { id, state: r.state.as_str(), action });
        }
        let held_by = (to == ReportState::Held).then_some(who);
        tx.tx
            .execute("UPDATE reports SET state = ?2, held_by = ?3 WHERE id = ?1", params![id, to.as_str(), held_by])?;
        let kind = if to == ReportState::Held { "report_held" } else { "report_released" };
        tx.append_event_by(kind, None, None, None, &format!("{} {} by {who}", r.customer, r.month), who, at)?;
        tx.commit()?;
        Ok(())
    }

    /// Sends a report in its own transaction (a draft or a held one: see [`StoreTx::send_report_from`]).
    pub fn send_report(
        &mut self,
        id: i64,
        mail: &NewMail,
        html: &HtmlBody,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, ReportStoreError> {
        self.send_report_from(id, mail, html, who, at, &[ReportState::Draft, ReportState::Held])
    }

    /// As `send_report`, only from one of the states in `from` (see `StoreTx::send_report_from`).
    pub fn send_report_from(
        &mut self,
        id: i64,
        mail: &NewMail,
        html: &HtmlBody,
        who: &str,
        at: DateTime<Utc>,
        from: &[ReportState],
    ) -> Result<i64, ReportStoreError> {
        let tx = self.begin()?;
        let outbox = tx.send_report_from(id, mail, html, who, at, from)?;
        tx.commit()?;
        Ok(outbox)
    }
}

#[cfg(test)]
mod tests {
    use super::super::outbox::{InlinePart, OutboxKind, OutboxState};
    use super::*;

    #[test]
    fn drafts_hold_release_and_send_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("log.db")).unwrap();
        let now = Utc::now();
        let a = s.create_report_draft("c1001", "2026-10", now).unwrap().unwrap();
        assert_eq!(s.create_report_draft("c1001", "2026-10", now).unwrap(), None, "one per customer and month");
        let b = s.create_report_draft("c1002", "2026-10", now).unwrap().unwrap();
        s.hold_report(b, "ops1", now).unwrap();
        assert!(matches!(s.hold_report(b, "ops1", now), Err(ReportStoreError::WrongState { .. })));
        let mail = NewMail {
            kind: OutboxKind::MonthlyReport,
            incident_id: None,
            from: "mail_alert@hosting-srv.net".into(),
            to: vec!["ops@example.jp".into()],
            subject: "月次レポート".into(),
            body: "本文\n".into(),
        };
        let html = HtmlBody {
            html: "<img src=\"cid:c1@x\">".into(),
            parts: vec![InlinePart {
                cid: "c1@x".into(),
                content_type: "image/png".into(),
                filename: "c1.png".into(),
                data: vec![1, 2, 3],
            }],
        };
        let out = s.send_report(a, &mail, &html, "ops2", now).unwrap();
        assert!(matches!(s.send_report(a, &mail, &html, "ops2", now), Err(ReportStoreError::WrongState { .. })));
        // Automatic sending takes drafts only: a report held while it was being drawn stays held.
        let auto = s.send_report_from(b, &mail, &html, "auto", now, &[ReportState::Draft]);
        assert!(matches!(auto, Err(ReportStoreError::WrongState { .. })), "{auto:?}");
        let rows = s.reports(Some("2026-10")).unwrap();
        assert_eq!(rows.iter().map(|r| r.state).collect::<Vec<_>>(), [ReportState::Sent, ReportState::Held]);
        assert_eq!(rows[0].sent_by.as_deref(), Some("ops2"));
        assert_eq!(rows[0].outbox_id, Some(out));
        let queued = s.mail(out).unwrap().unwrap();
        assert_eq!((queued.kind, queued.state), (OutboxKind::MonthlyReport, OutboxState::Pending));
        assert_eq!(queued.html.unwrap(), html);
        s.release_report(b, "ops1", now).unwrap();
        assert_eq!(s.report(b).unwrap().unwrap().state, ReportState::Draft);
        let kinds: Vec<String> = s.events().unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            ["report_drafted", "report_drafted", "report_held", "mail_queued", "report_sent", "report_released"]
        );
    }
}
