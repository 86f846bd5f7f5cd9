//! The audit log: the `events` table as a hash chain. Every operator action and every automatic
//! step is an event (contract §6); each event carries who did it (`actor`) and a `hash` that covers
//! the event and, through the previous event's hash, every event before it. Changing, removing or
//! inserting an entry anywhere breaks the chain, and `anshin incidents --verify` says where.
//!
//! Owns: the chain's schema step (`actor`, `hash`, the one-row `audit_head`), the one insert
//! path of the event log ([`append`], used by `StoreTx` for every event), hashing the events a
//! log already held when it gained the chain, and verifying a chain.
//! Must not know: what events mean, or who may read the log.
//!
//! # The hash, for an auditor
//!
//! `hash` of entry N = lowercase hex SHA-256 of the bytes
//!
//! ```text
//! PREV ‖ F(id) ‖ F(at) ‖ F(kind) ‖ F(incident_id) ‖ F(host) ‖ F(check_id) ‖ F(detail) ‖ F(actor)
//! ```
//!
//! - `PREV`: the `hash` of entry N−1 as stored (64 ASCII characters); for entry 1, 64 × `0`.
//! - `F(NULL)` = the single byte `-`; `F(v)` = the decimal byte length of v's UTF-8 text, `:`,
//!   then that text. Integers (`id`, `incident_id`) are their decimal text (`42` → `2:42`);
//!   text columns are used exactly as stored (`at` is RFC 3339 UTC with milliseconds).
//! - No separators or line ends besides these; the length prefix keeps fields apart.
//!
//! Entries are numbered 1, 2, 3 … without gaps; the one row of `audit_head` holds the id and hash
//! of the last entry, so entries removed from the end are noticed too. In Python:
//!
//! ```text
//! import hashlib, sqlite3
//! def f(v): return b"-" if v is None else (lambda b: str(len(b)).encode() + b":" + b)(str(v).encode())
//! prev = "0" * 64
//! for row in sqlite3.connect(path).execute("SELECT id, at, kind, incident_id, host, check_id, "
//!                                          "detail, actor, hash FROM events ORDER BY id"):
//!     h = hashlib.sha256(prev.encode() + b"".join(f(v) for v in row[:8])).hexdigest()
//!     assert h == row[8], f"entry {row[0]} was changed"
//!     prev = row[8]
//! ```
//!
//! A log that already held events when it gained the chain (schema step 8) has them hashed in
//! that migration, in id order, with `actor` NULL (who wrote them was not recorded), followed by
//! an `audit_chain_started` entry that says how many there were: the chain vouches for them from
//! then on, not before.
//!
//! The chain shows that the log was changed, not by whom; someone able to rewrite the file can
//! also recompute every hash after their change. Noting the head (`anshin incidents --verify`
//! prints it) somewhere else from time to time anchors it.

use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{event_row, timestamp, EventRecord, Store, StoreError, AUDIT_STEP, EVENT_COLUMNS};

/// Schema step 8: who did each thing, the chain, and its head. The update trigger goes while the
/// existing events are hashed ([`backfill`], in the same transaction) and comes back after.
/// Appended to `MIGRATIONS`; never edit once released (nor [`AFTER_BACKFILL`]).
pub(super) const MIGRATION: &str = r#"
DROP TRIGGER events_no_update;
ALTER TABLE events ADD COLUMN actor TEXT;
ALTER TABLE events ADD COLUMN hash TEXT;
CREATE TABLE audit_head (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last_event  INTEGER NOT NULL,
    hash        TEXT NOT NULL
);
"#;

/// The end of schema step 8, after the backfill: the log is append-only again, and an event
/// without its hash (written around the store) is refused.
const AFTER_BACKFILL: &str = r#"
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_need_hash BEFORE INSERT ON events WHEN NEW.hash IS NULL
    BEGIN SELECT RAISE(ABORT, 'an event needs its hash: write it through the store'); END;
"#;

/// The actor of what the engine does on its own.
pub const ENGINE: &str = "engine";

/// The `PREV` of the first entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of an entry given the previous entry's hash (see the module header).
pub fn entry_hash(prev: &str, e: &EventRecord) -> String {
    fn field(buf: &mut Vec<u8>, v: Option<&str>) {
        match v {
            None => buf.push(b'-'),
            Some(s) => {
                buf.extend_from_slice(s.len().to_string().as_bytes());
                buf.push(b':');
                buf.extend_from_slice(s.as_bytes());
            }
        }
    }
    let mut buf = Vec::with_capacity(128 + e.detail.len());
    buf.extend_from_slice(prev.as_bytes());
    field(&mut buf, Some(&e.id.to_string()));
    field(&mut buf, Some(&e.at));
    field(&mut buf, Some(&e.kind));
    field(&mut buf, e.incident_id.map(|i| i.to_string()).as_deref());
    field(&mut buf, e.host.as_deref());
    field(&mut buf, e.check.as_deref());
    field(&mut buf, Some(&e.detail));
    field(&mut buf, e.actor.as_deref());
    Sha256::digest(&buf).iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the next entry links: the last entry's id and hash. The head says it; without a head
/// (or one behind the table, which only a damaged log has) the last row does. An empty log: 0.
fn tip(conn: &Connection) -> Result<(i64, String), StoreError> {
    let head: Option<(i64, String)> = conn
        .query_row("SELECT last_event, hash FROM audit_head WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let last: Option<i64> = conn.query_row("SELECT max(id) FROM events", [], |r| r.get(0))?;
    match (head, last) {
        (Some((id, hash)), last) if last.unwrap_or(0) <= id => Ok((id, hash)),
        (_, Some(last)) => {
            let hash: Option<String> = conn.query_row("SELECT hash FROM events WHERE id = ?1", [last], |r| r.get(0))?;
            Ok((last, hash.unwrap_or_else(|| GENESIS.into())))
        }
        (_, None) => Ok((0, GENESIS.into())),
    }
}

/// Appends an event (its `id` and `hash` are set here) and moves the head; returns its id. Must
/// run inside a write transaction that took the lock first (IMMEDIATE), so that the tip read
/// here is still the tip when the entry lands.
pub(super) fn append(conn: &Connection, mut e: EventRecord) -> Result<i64, StoreError> {
    let (last, prev) = tip(conn)?;
    e.id = last + 1;
    let hash = entry_hash(&prev, &e);
    conn.execute(
        "INSERT INTO events (id, at, kind, incident_id, host, check_id, detail, actor, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![e.id, e.at, e.kind, e.incident_id, e.host, e.check, e.detail, e.actor, hash],
    )?;
    conn.execute(
        "INSERT INTO audit_head (id, last_event, hash) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET last_event = ?1, hash = ?2",
        params![e.id, hash],
    )?;
    Ok(e.id)
}

/// The migration hook of schema step 8: hashes the events the log already holds, in id order,
/// sets the head, and logs `audit_chain_started` when there were any. Runs in the migration's
/// transaction, between [`MIGRATION`] and [`AFTER_BACKFILL`].
pub(super) fn backfill(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    const BATCH: i64 = 5000;
    let mut prev = GENESIS.to_string();
    let mut after = 0i64;
    let mut count = 0u64;
    loop {
        let rows: Vec<EventRecord> = {
            let mut stmt =
                tx.prepare(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"))?;
            let rows = stmt.query_map(params![after, BATCH], event_row)?.collect::<Result<_, _>>()?;
            rows
        };
        let Some(last) = rows.last().map(|r| r.id) else { break };
        for r in &rows {
            let hash = entry_hash(&prev, r);
            tx.execute("UPDATE events SET hash = ?2 WHERE id = ?1", params![r.id, hash])?;
            prev = hash;
        }
        count += rows.len() as u64;
        after = last;
    }
    if count > 0 {
        tx.execute("INSERT INTO audit_head (id, last_event, hash) VALUES (1, ?1, ?2)", params![after, prev])?;
    }
    tx.execute_batch(AFTER_BACKFILL)?;
    if count > 0 {
        let detail = format!(
            "the audit chain starts here: the {count} entries before it (up to entry {after}) were hashed when the log gained it; it vouches for them from now on"
        );
        append(
            tx,
            EventRecord {
                id: 0,
                at: timestamp(Utc::now()),
                kind: "audit_chain_started".into(),
                incident_id: None,
                host: None,
                check: None,
                detail,
                actor: Some(ENGINE.into()),
                hash: None,
            },
        )?;
    }
    Ok(())
}

/// What [`Store::verify_chain`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// The chain is intact from the first entry to the head.
    pub ok: bool,
    /// How many entries the log holds.
    pub entries: u64,
    /// The first problem found, for people: which entry, and what is wrong with it.
    pub error: Option<String>,
    /// The hash of the last entry (for noting elsewhere); None for an empty log.
    pub last_hash: Option<String>,
}

impl Store {
    /// Walks the whole event log in id order recomputing each hash, and checks the head against
    /// the last entry. Read-only; one snapshot, so an engine writing meanwhile does not disturb it.
    pub fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let entries: i64 = tx.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
        let entries = entries as u64;
        let fail = |error: String, last_hash: Option<String>| {
            Ok(ChainReport { ok: false, entries, error: Some(error), last_hash })
        };
        if self.schema_version()? < AUDIT_STEP {
            return fail(
                "this log was written before the audit log existed: it has no hash chain to verify".into(),
                None,
            );
        }
        let mut stmt = tx.prepare(&format!("SELECT {EVENT_COLUMNS} FROM events ORDER BY id"))?;
        let mut rows = stmt.query([])?;
        let mut prev = GENESIS.to_string();
        let mut expected = 1i64;
        let mut last: Option<(i64, String)> = None;
        while let Some(row) = rows.next()? {
            let e = event_row(row)?;
            let what = format!("entry {} ({} at {})", e.id, e.kind, e.at);
            if e.id != expected {
                let missing = if e.id == expected + 1 {
                    format!("entry {expected} is missing")
                } else if e.id > expected {
                    format!("entries {expected} to {} are missing", e.id - 1)
                } else {
                    format!("{what} is out of order")
                };
                return fail(missing, None);
            }
            let Some(stored) = e.hash.clone() else {
                return fail(format!("{what} has no hash: it was written around the store"), None);
            };
            if entry_hash(&prev, &e) != stored {
                return fail(format!("{what} was changed: its hash does not match"), None);
            }
            last = Some((e.id, stored.clone()));
            prev = stored;
            expected += 1;
        }
        let head: Option<(i64, String)> = tx
            .query_row("SELECT last_event, hash FROM audit_head WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let last_hash = last.as_ref().map(|(_, h)| h.clone());
        match (last, head) {
            (None, None) => {
                let incidents: i64 = tx.query_row("SELECT count(*) FROM incidents", [], |r| r.get(0))?;
                if incidents > 0 {
                    return fail(format!("the log has no entries but {incidents} incidents: it was emptied"), None);
                }
            }
            (Some((id, _)), None) => {
                return fail(format!("the log ends at entry {id} but has no head to confirm its end"), last_hash)
            }
            (None, Some((head, _))) => return fail(format!("the log is empty but its head says {head}"), None),
            (Some((id, _)), Some((head, _))) if id != head => {
                return fail(format!("the log ends at entry {id} but its head says {head}"), last_hash)
            }
            (Some((id, hash)), Some((_, head_hash))) if hash != head_hash => {
                return fail(format!("entry {id}, the last, does not match the head: it was replaced"), last_hash)
            }
            _ => {}
        }
        Ok(ChainReport { ok: true, entries, error: None, last_hash })
    }

    /// A page of the audit log, newest first: at most `limit` entries, those before entry
    /// `before` when given.
    pub fn audit(&self, limit: usize, before: Option<i64>) -> Result<Vec<EventRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM events WHERE ?1 IS NULL OR id < ?1 ORDER BY id DESC LIMIT ?2",
            self.event_columns()?
        ))?;
        let rows = stmt.query_map(params![before, limit as i64], event_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::export::{export, ExportFilter};
    use anshin_core::{CheckKey, CheckKind, Level, Service};
    use chrono::{DateTime, Duration};
    use std::path::Path;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A log with `n` events of several writers (incidents, acknowledgements, plain events).
    fn busy_log(path: &Path, n: usize) -> Store {
        let mut s = Store::open(path).unwrap();
        let t0 = at("2026-11-25T01:00:00Z");
        let key = CheckKey::new("web01", CheckKind::Service(Service::Http));
        let mut open: Option<i64> = None;
        let mut written = 0;
        while written < n {
            let tx = s.begin().unwrap();
            let t = t0 + Duration::seconds(written as i64);
            match (written % 5, open) {
                (0, None) => {
                    open =
                        Some(tx.open_incident(&key, Level::Severe, "web01 HTTP サービスダウン", "refused", t).unwrap())
                }
                (1, Some(id)) => {
                    let st = tx.incident_state(id).unwrap().unwrap();
                    tx.acknowledge(id, &st, "yamada", "見ています", t).unwrap();
                }
                (4, Some(id)) => {
                    tx.close_incident(id, &key, "200 OK", t).unwrap();
                    open = None;
                }
                _ => {
                    tx.append_event_by("note", open, Some("web01"), None, "改行\nと:コロン", "ops:1", t).unwrap();
                }
            }
            tx.commit().unwrap();
            written = s.events().unwrap().len();
        }
        s
    }

    /// A raw connection that may change the log (the triggers dropped), as an attacker's would.
    fn tamper(path: &Path, sql: &str) {
        let c = Connection::open(path).unwrap();
        c.execute_batch("DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete;").unwrap();
        c.execute_batch(sql).unwrap();
    }

    #[test]
    fn a_long_chain_verifies_and_every_entry_has_an_actor_and_a_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        let s = busy_log(&path, 300);
        let report = s.verify_chain().unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.entries, s.events().unwrap().len() as u64);
        let events = s.events().unwrap();
        assert!(events.iter().all(|e| e.hash.as_ref().is_some_and(|h| h.len() == 64) && e.actor.is_some()));
        assert_eq!(report.last_hash, events.last().unwrap().hash);
        let ack = events.iter().find(|e| e.kind == "acknowledged").unwrap();
        assert_eq!(ack.actor.as_deref(), Some("yamada"));
        assert_eq!(events[0].actor.as_deref(), Some("engine"));
        // A reader verifies too, and pages newest first.
        let r = Store::open_read_only(&path).unwrap();
        assert!(r.verify_chain().unwrap().ok);
        let page = r.audit(10, None).unwrap();
        assert_eq!(page.len(), 10);
        assert_eq!(page[0].id, events.last().unwrap().id);
        let older = r.audit(5, Some(page[9].id)).unwrap();
        assert_eq!(older[0].id, page[9].id - 1);
        // The encoding of the module header, recomputed by hand for the first entry.
        let first = &events[0];
        let mut msg = GENESIS.to_string();
        msg.push_str(&format!("1:1{}:{}", first.at.len(), first.at));
        msg.push_str(&format!("{}:{}", first.kind.len(), first.kind));
        msg.push_str("1:1");
        msg.push_str("5:web01");
        msg.push_str("4:http");
        msg.push_str(&format!("{}:{}", first.detail.len(), first.detail));
        msg.push_str("6:engine");
        let by_hand: String = Sha256::digest(msg.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(first.hash.as_deref(), Some(by_hand.as_str()));
    }

    #[test]
    fn an_edited_entry_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        drop(busy_log(&path, 60));
        tamper(&path, "UPDATE events SET detail = 'nothing happened' WHERE id = 42");
        let report = Store::open_read_only(&path).unwrap().verify_chain().unwrap();
        assert!(!report.ok);
        let error = report.error.unwrap();
        assert!(error.starts_with("entry 42 ("), "{error}");
        assert!(error.ends_with("was changed: its hash does not match"), "{error}");

        // Changing who did it is noticed the same way.
        let path2 = dir.path().join("log2.db");
        drop(busy_log(&path2, 20));
        tamper(&path2, "UPDATE events SET actor = 'suzuki' WHERE kind = 'acknowledged'");
        let error = Store::open_read_only(&path2).unwrap().verify_chain().unwrap().error.unwrap();
        assert!(error.contains("(acknowledged at ") && error.contains("was changed"), "{error}");
    }

    #[test]
    fn a_missing_entry_is_named_in_the_middle_and_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        drop(busy_log(&path, 50));
        tamper(&path, "DELETE FROM events WHERE id = 43");
        let report = Store::open_read_only(&path).unwrap().verify_chain().unwrap();
        assert_eq!(report.error.as_deref(), Some("entry 43 is missing"));
        tamper(&path, "DELETE FROM events WHERE id IN (20, 21, 22)");
        let report = Store::open_read_only(&path).unwrap().verify_chain().unwrap();
        assert_eq!(report.error.as_deref(), Some("entries 20 to 22 are missing"));

        let path = dir.path().join("tail.db");
        let s = busy_log(&path, 45);
        let n = s.events().unwrap().len();
        drop(s);
        tamper(&path, &format!("DELETE FROM events WHERE id > {}", n - 5));
        let report = Store::open_read_only(&path).unwrap().verify_chain().unwrap();
        assert!(!report.ok);
        assert_eq!(report.error, Some(format!("the log ends at entry {} but its head says {n}", n - 5)));

        // The first entry is an entry like any other.
        let path = dir.path().join("first.db");
        drop(busy_log(&path, 10));
        tamper(&path, "DELETE FROM events WHERE id = 1");
        let report = Store::open_read_only(&path).unwrap().verify_chain().unwrap();
        assert_eq!(report.error.as_deref(), Some("entry 1 is missing"));
    }

    #[test]
    fn a_replaced_last_entry_and_a_deleted_head_are_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        let s = busy_log(&path, 10);
        let last = s.events().unwrap().pop().unwrap();
        drop(s);
        // The last entry rewritten with a hash recomputed over its new content: the chain up to
        // it holds, the head does not.
        let mut forged = last.clone();
        forged.detail = "forged".into();
        let prev = Store::open_read_only(&path).unwrap().events().unwrap()[last.id as usize - 2].hash.clone().unwrap();
        let hash = entry_hash(&prev, &forged);
        tamper(&path, &format!("UPDATE events SET detail = 'forged', hash = '{hash}' WHERE id = {}", last.id));
        let error = Store::open_read_only(&path).unwrap().verify_chain().unwrap().error.unwrap();
        assert_eq!(error, format!("entry {}, the last, does not match the head: it was replaced", last.id));

        tamper(&path, "DELETE FROM audit_head");
        let error = Store::open_read_only(&path).unwrap().verify_chain().unwrap().error.unwrap();
        assert!(error.contains("has no head"), "{error}");
    }

    #[test]
    fn an_entry_written_around_the_store_is_refused_or_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        drop(busy_log(&path, 5));
        let c = Connection::open(&path).unwrap();
        let refused = c.execute("INSERT INTO events (at, kind, detail) VALUES ('x', 'forged', '')", []);
        assert!(refused.unwrap_err().to_string().contains("needs its hash"));
        c.execute_batch(
            "DROP TRIGGER events_need_hash; INSERT INTO events (at, kind, detail) VALUES ('x', 'forged', '')",
        )
        .unwrap();
        let error = Store::open_read_only(&path).unwrap().verify_chain().unwrap().error.unwrap();
        assert!(error.contains("(forged at x) has no hash"), "{error}");
    }

    #[test]
    fn a_log_older_than_the_chain_is_hashed_when_opened_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            // A log as the version before the audit chain wrote it: steps 1–7, raw events.
            let conn = super::super::older_log(&path, AUDIT_STEP);
            conn.execute(
                "INSERT INTO incidents (host, check_id, level, trigger, opened_at) VALUES ('web01', 'ping', 5, 't', 'x')",
                [],
            )
            .unwrap();
            for i in 0..12 {
                conn.execute(
                    "INSERT INTO events (at, kind, incident_id, host, check_id, detail) VALUES (?1, 'check_ok', ?2, 'web01', 'ping', ?3)",
                    params![format!("2026-10-01T00:00:{i:02}.000Z"), (i % 2 == 0).then_some(1), format!("by yamada {i}")],
                )
                .unwrap();
            }
        }
        // Read-only, it is shown as it is and says it has no chain.
        let old = Store::open_read_only(&path).unwrap();
        assert_eq!(old.events().unwrap().len(), 12);
        assert!(old.events().unwrap().iter().all(|e| e.hash.is_none()));
        let report = old.verify_chain().unwrap();
        assert!(!report.ok && report.error.unwrap().contains("no hash chain"));
        assert_eq!(old.audit(3, None).unwrap().len(), 3);
        drop(old);

        let mut s = Store::open(&path).unwrap();
        let events = s.events().unwrap();
        assert_eq!(events.len(), 13);
        assert!(events[..12].iter().all(|e| e.actor.is_none() && e.hash.is_some()));
        assert_eq!(events[12].kind, "audit_chain_started");
        assert!(events[12].detail.contains("the 12 entries before it"), "{}", events[12].detail);
        assert!(s.verify_chain().unwrap().ok, "{:?}", s.verify_chain().unwrap());
        // Still append-only, and new entries extend the chain.
        assert!(s.conn.execute("UPDATE events SET detail = 'x' WHERE id = 1", []).is_err());
        let tx = s.begin().unwrap();
        tx.append_event("engine_started", None, None, "", Utc::now()).unwrap();
        tx.commit().unwrap();
        let report = s.verify_chain().unwrap();
        assert!(report.ok && report.entries == 14, "{report:?}");
        drop(s);
        // Opening again migrates nothing more.
        assert_eq!(Store::open(&path).unwrap().events().unwrap().len(), 14);
    }

    #[test]
    fn an_export_has_its_own_chain_that_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("live.db");
        let s = busy_log(&src, 80);
        let src_events = s.events().unwrap();
        drop(s);
        let out = dir.path().join("review.db");
        let filter = ExportFilter { hosts: Some(vec!["web01".into()]), ..Default::default() };
        let summary = export(&src, &out, &filter, false).unwrap();
        let r = Store::open_read_only(&out).unwrap();
        let report = r.verify_chain().unwrap();
        assert!(report.ok, "{report:?}");
        let events = r.events().unwrap();
        assert_eq!(summary.events + 1, events.len(), "the copied entries, then the export's own");
        let last = events.last().unwrap();
        assert_eq!(last.kind, "exported");
        assert!(last.detail.contains("live.db"), "{}", last.detail);
        // The copied entries keep everything but their number and hash.
        let copied: Vec<_> = events[..events.len() - 1].iter().map(|e| (&e.at, &e.kind, &e.detail, &e.actor)).collect();
        let picked: Vec<_> = src_events
            .iter()
            .filter(|e| e.incident_id.is_some())
            .map(|e| (&e.at, &e.kind, &e.detail, &e.actor))
            .collect();
        assert_eq!(copied, picked);
        // An export of an export verifies too.
        let again = dir.path().join("again.db");
        export(&out, &again, &ExportFilter::default(), false).unwrap();
        assert!(Store::open_read_only(&again).unwrap().verify_chain().unwrap().ok);
    }

    #[test]
    fn writers_on_two_connections_never_fork_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        drop(Store::open(&path).unwrap());
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut s = Store::open(&path).unwrap();
                    for i in 0..25 {
                        let tx = s.begin().unwrap();
                        tx.append_event_by("note", None, None, None, &format!("{w}/{i}"), &format!("w{w}"), Utc::now())
                            .unwrap();
                        tx.commit().unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let report = Store::open_read_only(&path).unwrap().verify_chain().unwrap();
        assert!(report.ok && report.entries == 100, "{report:?}");
    }
}
