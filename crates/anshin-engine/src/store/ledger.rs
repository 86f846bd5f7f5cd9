//! The request ledger in the store (contract §9.4, §9.5): temporary resource-up requests (a
//! server, the days, what is raised, where it stands) and configuration work (a customer's day,
//! minutes, who did what, included or billable).
//!
//! Owns: the `resource_ups` and `config_work` tables (schema step 11) and their SQL; the
//! allowance checked in the same transaction as the entry (core's rule, `ledger`), so two
//! consoles cannot both spend the last minutes; the entries these write to the audit log:
//! `resource_up_requested`, `resource_up_changed`, `config_work_recorded` (actor: the operator),
//! `resource_up_reminded` (actor: the engine; each reminder once, also across restarts).
//! Must not know: plans (whether a customer is entitled is the caller's), reminders' timing.

use anshin_core::ledger::{check_config_work, month_of, remaining_minutes, LedgerRefusal};
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use super::{timestamp, Store, StoreError, StoreTx};

/// Schema step 11. Appended to `MIGRATIONS`; never edit once released.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE resource_ups (
    id           INTEGER PRIMARY KEY,
    host         TEXT NOT NULL,
    customer     TEXT NOT NULL,
    from_day     TEXT NOT NULL,
    until_day    TEXT NOT NULL,
    what         TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('requested', 'raised', 'restored', 'cancelled')),
    recorded_by  TEXT NOT NULL,
    at           TEXT NOT NULL,
    reminded_before INTEGER NOT NULL DEFAULT 0,
    reminded_after  INTEGER NOT NULL DEFAULT 0,
    CHECK (until_day >= from_day)
);
CREATE INDEX resource_ups_days ON resource_ups (until_day);
CREATE TABLE config_work (
    id           INTEGER PRIMARY KEY,
    customer     TEXT NOT NULL,
    day          TEXT NOT NULL,
    month        TEXT NOT NULL,
    minutes      INTEGER NOT NULL CHECK (minutes > 0),
    who          TEXT NOT NULL,
    what         TEXT NOT NULL,
    billable     INTEGER NOT NULL CHECK (billable IN (0, 1)),
    recorded_by  TEXT NOT NULL,
    at           TEXT NOT NULL
);
CREATE INDEX config_work_month ON config_work (customer, month);
"#;

/// Where a resource-up request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceUpState {
    /// Asked for; not raised yet.
    Requested,
    /// The resources are raised.
    Raised,
    /// Put back after the period.
    Restored,
    Cancelled,
}

impl ResourceUpState {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceUpState::Requested => "requested",
            ResourceUpState::Raised => "raised",
            ResourceUpState::Restored => "restored",
            ResourceUpState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> ResourceUpState {
        match s {
            "raised" => ResourceUpState::Raised,
            "restored" => ResourceUpState::Restored,
            "cancelled" => ResourceUpState::Cancelled,
            _ => ResourceUpState::Requested,
        }
    }
}

/// A temporary resource-up request as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct ResourceUpRecord {
    pub id: i64,
    pub host: String,
    pub customer: String,
    /// First and last day (Japan time, `YYYY-MM-DD`, inclusive).
    pub from_day: String,
    pub until_day: String,
    /// What is raised (`memory 4 GB → 8 GB`).
    pub what: String,
    pub state: ResourceUpState,
    pub recorded_by: String,
    pub at: String,
}

/// A configuration-work entry as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct ConfigWorkRecord {
    pub id: i64,
    pub customer: String,
    /// The day of the work (Japan time).
    pub day: String,
    pub minutes: u32,
    /// Who did the work.
    pub who: String,
    pub what: String,
    /// Billed on top of the plan (beyond the monthly allowance).
    pub billable: bool,
    pub recorded_by: String,
    pub at: String,
}

/// A customer's configuration work of one month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct ConfigWorkMonth {
    pub customer: String,
    /// `YYYY-MM` (Japan time).
    pub month: String,
    /// Included minutes recorded.
    pub used_minutes: u32,
    /// Included minutes left (of 60).
    pub remaining_minutes: u32,
    pub billable_minutes: u32,
    pub entries: Vec<ConfigWorkRecord>,
}

/// Why a ledger entry cannot be recorded.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Refused(#[from] LedgerRefusal),
    #[error("{0}")]
    Invalid(String),
    #[error("no resource-up request {0}")]
    NotFound(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for LedgerError {
    fn from(e: rusqlite::Error) -> Self {
        LedgerError::Store(StoreError::Sql(e))
    }
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn resource_up_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ResourceUpRecord> {
    Ok(ResourceUpRecord {
        id: r.get(0)?,
        host: r.get(1)?,
        customer: r.get(2)?,
        from_day: r.get(3)?,
        until_day: r.get(4)?,
        what: r.get(5)?,
        state: ResourceUpState::parse(&r.get::<_, String>(6)?),
        recorded_by: r.get(7)?,
        at: r.get(8)?,
    })
}

const RESOURCE_UP_COLUMNS: &str = "id, host, customer, from_day, until_day, what, state, recorded_by, at";
const CONFIG_WORK_COLUMNS: &str = "id, customer, day, minutes, who, what, billable, recorded_by, at";

fn config_work_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConfigWorkRecord> {
    Ok(ConfigWorkRecord {
        id: r.get(0)?,
        customer: r.get(1)?,
        day: r.get(2)?,
        minutes: r.get(3)?,
        who: r.get(4)?,
        what: r.get(5)?,
        billable: r.get(6)?,
        recorded_by: r.get(7)?,
        at: r.get(8)?,
    })
}

/// A resource-up request to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResourceUp {
    pub host: String,
    pub customer: String,
    pub from: NaiveDate,
    pub until: NaiveDate,
    pub what: String,
    pub recorded_by: String,
}

/// A configuration-work entry to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConfigWork {
    pub customer: String,
    pub day: NaiveDate,
    pub minutes: u32,
    pub who: String,
    pub what: String,
    pub billable: bool,
    pub recorded_by: String,
}

impl StoreTx<'_> {
    /// Records a resource-up request (`resource_up_requested`).
    pub fn add_resource_up(&self, r: &NewResourceUp, at: DateTime<Utc>) -> Result<ResourceUpRecord, LedgerError> {
        if r.until < r.from {
            return Err(LedgerError::Invalid(format!("the request ends ({}) before it starts ({})", r.until, r.from)));
        }
        if r.what.trim().is_empty() || r.recorded_by.trim().is_empty() {
            return Err(LedgerError::Invalid("a resource-up request says what is raised and who recorded it".into()));
        }
        self.tx.execute(
            "INSERT INTO resource_ups (host, customer, from_day, until_day, what, state, recorded_by, at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'requested', ?6, ?7)",
            params![r.host, r.customer, day(r.from), day(r.until), r.what.trim(), r.recorded_by, timestamp(at)],
        )?;
        let id = self.tx.last_insert_rowid();
        let detail = format!("resource-up #{id} {} {} – {}: {}", r.host, r.from, r.until, r.what.trim());
        self.append_event_by("resource_up_requested", None, Some(&r.host), None, &detail, &r.recorded_by, at)?;
        self.resource_up(id)?.ok_or(LedgerError::NotFound(id))
    }

    /// Moves a request to `state` (`resource_up_changed`).
    pub fn set_resource_up_state(
        &self,
        id: i64,
        state: ResourceUpState,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<ResourceUpRecord, LedgerError> {
        let before = self.resource_up(id)?.ok_or(LedgerError::NotFound(id))?;
        self.tx.execute("UPDATE resource_ups SET state = ?1 WHERE id = ?2", params![state.as_str(), id])?;
        let detail = format!("resource-up #{id} {} {} → {}", before.host, before.state.as_str(), state.as_str());
        self.append_event_by("resource_up_changed", None, Some(&before.host), None, &detail, by, at)?;
        self.resource_up(id)?.ok_or(LedgerError::NotFound(id))
    }

    fn resource_up(&self, id: i64) -> Result<Option<ResourceUpRecord>, StoreError> {
        Ok(self
            .tx
            .query_row(&format!("SELECT {RESOURCE_UP_COLUMNS} FROM resource_ups WHERE id = ?1"), [id], resource_up_row)
            .optional()?)
    }

    /// Records configuration work (`config_work_recorded`) if the month's allowance takes it
    /// or it is billable: the allowance is read in this transaction.
    pub fn add_config_work(&self, w: &NewConfigWork, at: DateTime<Utc>) -> Result<ConfigWorkRecord, LedgerError> {
        if w.what.trim().is_empty() || w.who.trim().is_empty() {
            return Err(LedgerError::Invalid("configuration work says who did what".into()));
        }
        let month = month_of(w.day);
        let used: u32 = self.tx.query_row(
            "SELECT coalesce(sum(minutes), 0) FROM config_work WHERE customer = ?1 AND month = ?2 AND billable = 0",
            params![w.customer, month],
            |r| r.get(0),
        )?;
        check_config_work(used, w.minutes, w.billable)?;
        self.tx.execute(
            "INSERT INTO config_work (customer, day, month, minutes, who, what, billable, recorded_by, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                w.customer,
                day(w.day),
                month,
                w.minutes,
                w.who.trim(),
                w.what.trim(),
                w.billable,
                w.recorded_by,
                timestamp(at)
            ],
        )?;
        let id = self.tx.last_insert_rowid();
        let billing = if w.billable {
            "billable".to_string()
        } else {
            format!("{} of 60 left", remaining_minutes(used + w.minutes))
        };
        let detail = format!(
            "config work #{id} {} {} {} min by {} ({billing}): {}",
            w.customer,
            w.day,
            w.minutes,
            w.who.trim(),
            w.what.trim()
        );
        self.append_event_by("config_work_recorded", None, None, None, &detail, &w.recorded_by, at)?;
        Ok(ConfigWorkRecord {
            id,
            customer: w.customer.clone(),
            day: day(w.day),
            minutes: w.minutes,
            who: w.who.trim().into(),
            what: w.what.trim().into(),
            billable: w.billable,
            recorded_by: w.recorded_by.clone(),
            at: timestamp(at),
        })
    }
}

/// Which reminder of a resource-up request (contract §9.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reminder {
    /// The day before it starts: raise the resources.
    Raise,
    /// The day after it ends: put them back.
    Restore,
}

impl StoreTx<'_> {
    /// The reminders due at `now` that were not given yet, each marked given and logged
    /// (`resource_up_reminded`) in this transaction: the day before a requested one starts, and
    /// the day after a requested or raised one ends, at 10:00 Japan time (or as soon after as
    /// the engine runs).
    pub fn due_resource_up_reminders(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(ResourceUpRecord, Reminder)>, StoreError> {
        let mut stmt = self.tx.prepare(&format!(
            "SELECT {RESOURCE_UP_COLUMNS}, reminded_before, reminded_after FROM resource_ups
             WHERE state IN ('requested', 'raised') AND (reminded_before = 0 OR reminded_after = 0)"
        ))?;
        let rows: Vec<(ResourceUpRecord, bool, bool)> =
            stmt.query_map([], |r| Ok((resource_up_row(r)?, r.get(9)?, r.get(10)?)))?.collect::<Result<_, _>>()?;
        drop(stmt);
        let mut due = Vec::new();
        for (rec, before_done, after_done) in rows {
            let parse = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
            let (Some(from), Some(until)) = (parse(&rec.from_day), parse(&rec.until_day)) else { continue };
            let [before, after] = anshin_core::ledger::resource_up_reminders(from, until);
            let which = if !after_done && now >= after {
                Some((Reminder::Restore, "reminded_after"))
            } else if !before_done && rec.state == ResourceUpState::Requested && now >= before && now < after {
                Some((Reminder::Raise, "reminded_before"))
            } else {
                None
            };
            let Some((which, column)) = which else { continue };
            self.tx.execute(&format!("UPDATE resource_ups SET {column} = 1 WHERE id = ?1"), [rec.id])?;
            let word = match which {
                Reminder::Raise => format!("raise from {}", rec.from_day),
                Reminder::Restore => format!("put back (ended {})", rec.until_day),
            };
            let detail = format!("resource-up #{} {}: {word}: {}", rec.id, rec.host, rec.what);
            self.append_event_by(
                "resource_up_reminded",
                None,
                Some(&rec.host),
                None,
                &detail,
                super::audit::ENGINE,
                now,
            )?;
            due.push((rec, which));
        }
        Ok(due)
    }
}

impl Store {
    /// Resource-up requests, newest period first; with `open_only`, those not restored or
    /// cancelled.
    pub fn resource_ups(&self, open_only: bool) -> Result<Vec<ResourceUpRecord>, StoreError> {
        let filter = if open_only { "WHERE state IN ('requested', 'raised')" } else { "" };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RESOURCE_UP_COLUMNS} FROM resource_ups {filter} ORDER BY from_day DESC, id DESC"
        ))?;
        let rows = stmt.query_map([], resource_up_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// A customer's configuration work of a month (`YYYY-MM`), with what is left of the
    /// allowance.
    pub fn config_work(&self, customer: &str, month: &str) -> Result<ConfigWorkMonth, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {CONFIG_WORK_COLUMNS} FROM config_work WHERE customer = ?1 AND month = ?2 ORDER BY day, id"
        ))?;
        let entries: Vec<ConfigWorkRecord> =
            stmt.query_map(params![customer, month], config_work_row)?.collect::<Result<_, _>>()?;
        let used = entries.iter().filter(|e| !e.billable).map(|e| e.minutes).sum();
        let billable = entries.iter().filter(|e| e.billable).map(|e| e.minutes).sum();
        Ok(ConfigWorkMonth {
            customer: customer.to_string(),
            month: month.to_string(),
            used_minutes: used,
            remaining_minutes: remaining_minutes(used),
            billable_minutes: billable,
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn work(day: &str, minutes: u32, billable: bool) -> NewConfigWork {
        NewConfigWork {
            customer: "c1".into(),
            day: d(day),
            minutes,
            who: "suzuki".into(),
            what: "php.ini の変更".into(),
            billable,
            recorded_by: "yamada".into(),
        }
    }

    #[test]
    fn the_allowance_is_spent_per_month_and_beyond_it_only_billable_work_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("a.db")).unwrap();
        let at = t("2026-12-02T01:00:00Z");
        let tx = store.begin().unwrap();
        tx.add_config_work(&work("2026-12-01", 45, false), at).unwrap();
        let over = tx.add_config_work(&work("2026-12-02", 20, false), at).unwrap_err();
        assert!(matches!(over, LedgerError::Refused(LedgerRefusal::OverAllowance { remaining: 15 })), "{over}");
        tx.add_config_work(&work("2026-12-02", 20, true), at).unwrap();
        tx.add_config_work(&work("2026-12-03", 15, false), at).unwrap();
        // Another month has its own 60 minutes.
        tx.add_config_work(&work("2027-01-04", 60, false), at).unwrap();
        tx.commit().unwrap();
        let dec = store.config_work("c1", "2026-12").unwrap();
        assert_eq!((dec.used_minutes, dec.remaining_minutes, dec.billable_minutes, dec.entries.len()), (60, 0, 20, 3));
        assert_eq!(store.config_work("c1", "2027-01").unwrap().remaining_minutes, 0);
        assert_eq!(store.config_work("c2", "2026-12").unwrap().remaining_minutes, 60);
        let events = store.audit(10, None).unwrap();
        assert_eq!(
            events.iter().filter(|e| e.kind == "config_work_recorded").count(),
            4,
            "the refused entry left no trace"
        );
    }

    /// contract §9.4: the day before at 10:00 JST (raise), the day after at 10:00 JST (put
    /// back); each once, whatever the number of looks.
    #[test]
    fn reminders_come_once_each_at_their_hour() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("a.db")).unwrap();
        let tx = store.begin().unwrap();
        let new = NewResourceUp {
            host: "web01".into(),
            customer: "c1".into(),
            from: d("2026-12-10"),
            until: d("2026-12-20"),
            what: "CPU 2 → 4".into(),
            recorded_by: "yamada".into(),
        };
        tx.add_resource_up(&new, t("2026-12-01T00:00:00Z")).unwrap();
        let due = |at: &str| -> Vec<Reminder> {
            tx.due_resource_up_reminders(t(at)).unwrap().into_iter().map(|(_, r)| r).collect()
        };
        assert!(due("2026-12-09T00:59:59Z").is_empty(), "before 10:00 JST on the 9th");
        assert_eq!(due("2026-12-09T01:00:00Z"), [Reminder::Raise]);
        assert!(due("2026-12-09T01:01:00Z").is_empty(), "once");
        assert!(due("2026-12-21T00:59:59Z").is_empty());
        assert_eq!(due("2026-12-21T01:00:00Z"), [Reminder::Restore]);
        assert!(due("2026-12-22T01:00:00Z").is_empty(), "once");
        tx.commit().unwrap();
        let reminded = store.audit(20, None).unwrap().into_iter().filter(|e| e.kind == "resource_up_reminded").count();
        assert_eq!(reminded, 2);
    }

    #[test]
    fn resource_up_requests_move_through_their_states_in_the_audit_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("a.db")).unwrap();
        let at = t("2026-12-02T01:00:00Z");
        let tx = store.begin().unwrap();
        let new = NewResourceUp {
            host: "web01".into(),
            customer: "c1".into(),
            from: d("2026-12-10"),
            until: d("2026-12-20"),
            what: "メモリ 4 GB → 8 GB".into(),
            recorded_by: "yamada".into(),
        };
        let r = tx.add_resource_up(&new, at).unwrap();
        assert_eq!((r.state, r.from_day.as_str()), (ResourceUpState::Requested, "2026-12-10"));
        tx.set_resource_up_state(r.id, ResourceUpState::Raised, "suzuki", at).unwrap();
        assert!(tx.add_resource_up(&NewResourceUp { until: d("2026-12-01"), ..new.clone() }, at).is_err());
        tx.commit().unwrap();
        assert_eq!(store.resource_ups(true).unwrap()[0].state, ResourceUpState::Raised);
        let kinds: Vec<String> = store.audit(10, None).unwrap().into_iter().map(|e| e.kind).collect();
        assert!(
            kinds.contains(&"resource_up_requested".to_string()) && kinds.contains(&"resource_up_changed".to_string())
        );
    }
}
