//! Export of a part of the log into a self-contained file for review: the incidents of a range
//! (and of a customer's servers), their whole stories, the checks' state changes, resource
//! samples, maintenance windows, report drafts and the mails (with their inline parts) of that
//! range — and nothing else.
//!
//! Owns: choosing the rows and copying them consistently. The copy reads the live store inside
//! one read transaction (an attached, read-only source), so an engine writing at the same time
//! neither blocks it nor tears it; the file is written beside its target and renamed into place,
//! so a half-written export never exists under the requested name. The result is an ordinary
//! Anshin store (same application_id and schema, one file: journal mode DELETE), which every
//! reader opens.
//!
//! The audit log: the copied events are appended through the store's one insert path, so the
//! export has a hash chain of its own that `anshin incidents --verify` checks like a live log's.
//! They keep their time, kind, incident, host, check, detail and actor, in their original order,
//! but are numbered 1, 2, 3 … anew (a chain has no gaps, and nothing refers to an event by its
//! number). The export itself is the last entry (`exported`, actor `export`): the source file,
//! the filter, how many entries were copied, and the source's chain head at the time, so a copy
//! can be traced to the log it came from. Recoveries, calls and consents of the chosen incidents
//! come along with their ids.
//! Must not know: customers (the caller passes the customer's hosts), or what the rows mean.
//! No secrets live in the store (SMTP and SSH credentials come from the environment), so none
//! can leak through an export.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::OptionalExtension;
use serde::Serialize;

use super::{timestamp, EventRecord, Store, StoreError, StoreTx};

/// What to export. `None` everywhere: the whole log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only these hosts (a customer's servers), and the customer's own rows (`customer`).
    pub hosts: Option<Vec<String>>,
    /// The customer's id, for its maintenance windows and reports.
    pub customer: Option<String>,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    pub incidents: usize,
    /// Entries of the log copied (the export's own `exported` entry not counted).
    pub events: usize,
    pub samples: usize,
    pub mails: usize,
    pub maintenance: usize,
    pub reports: usize,
    /// The source's audit chain as verified just before the copy: `None` intact, else what is
    /// wrong (also written into the export's `exported` entry: a fresh chain in the new file
    /// must not hide that the source had been edited).
    pub source_chain_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0} exists: choose another --out, or add --force to replace it")]
    Exists(String),
    #[error("{0} is the log being exported: choose another --out")]
    SameFile(String),
    #[error(
        "{0} has a write-ahead log beside it (an engine may have it open): it is not replaced; choose another --out"
    )]
    InUse(String),
    #[error("{path}: cannot write the export: {source}")]
    Write { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ExportError {
    fn from(e: rusqlite::Error) -> Self {
        ExportError::Store(StoreError::Sql(e))
    }
}

/// `file:` URI of a path for ATTACH, read-only.
fn read_only_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for c in path.display().to_string().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=ro");
    uri
}

/// Writes the rows of `src` that `filter` selects into a new store at `out`. Refuses an existing
/// `out` unless `force`. `src` is only read (it may be a live store with a running engine).
pub fn export(src: &Path, out: &Path, filter: &ExportFilter, force: bool) -> Result<ExportSummary, ExportError> {
    let out_name = out.display().to_string();
    let source_chain_error = match Store::open_read_only(src).and_then(|s| s.verify_chain()) {
        Ok(r) if r.ok => None,
        Ok(r) => Some(r.error.unwrap_or_else(|| "the chain does not verify".into())),
        Err(e) => Some(e.to_string()),
    };
    if out.exists() {
        use std::os::unix::fs::MetadataExt;
        let same = |a: &Path, b: &Path| match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        if same(src, out) {
            return Err(ExportError::SameFile(out_name));
        }
        if !force {
            return Err(ExportError::Exists(out_name));
        }
        // Replacing a database someone has open would delete their committed-but-unmerged
        // transactions with its -wal file: a live store is never a target.
        if Path::new(&format!("{}-wal", out.display())).exists() {
            return Err(ExportError::InUse(out_name));
        }
    }
    // The source must be an Anshin log this version can read (a foreign or newer file is refused
    // before anything is written).
    let source = Store::open_read_only(src)?;
    let tables: Vec<String> = {
        let mut stmt = source.conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
        let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        rows
    };
    drop(source);

    let partial = PathBuf::from(format!("{}.partial", out.display()));
    let _ = std::fs::remove_file(&partial);
    let result = write(src, &partial, filter, &tables, source_chain_error);
    match result {
        Ok(summary) => {
            if force {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", out.display()));
                }
            }
            std::fs::rename(&partial, out).map_err(|source| ExportError::Write { path: out_name, source })?;
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// The actor of the `exported` entry.
const EXPORT_ACTOR: &str = "export";

/// True when the attached source's `table` has `column` (an older log may not).
fn src_has_column(store: &Store, table: &str, column: &str) -> Result<bool, rusqlite::Error> {
    store.conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info(?1, 'src') WHERE name = ?2",
        [table, column],
        |r| r.get(0),
    )
}

fn src_has_table(store: &Store, table: &str) -> Result<bool, rusqlite::Error> {
    store.conn.query_row(
        "SELECT count(*) > 0 FROM src.sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get(0),
    )
}

/// The filter in words, for the `exported` entry.
fn describe(filter: &ExportFilter) -> String {
    let mut parts = Vec::new();
    if let Some(f) = filter.from {
        parts.push(format!("from {}", timestamp(f)));
    }
    if let Some(t) = filter.to {
        parts.push(format!("before {}", timestamp(t)));
    }
    if let Some(c) = &filter.customer {
        parts.push(format!("customer {c}"));
    }
    if let Some(h) = &filter.hosts {
        parts.push(format!("hosts {}", if h.is_empty() { "(none)".to_string() } else { h.join(", ") }));
    }
    if parts.is_empty() {
        "the whole log".into()
    } else {
        parts.join(", ")
    }
}

fn write(
    src: &Path,
    partial: &Path,
    filter: &ExportFilter,
    tables: &[String],
    source_chain_error: Option<String>,
) -> Result<ExportSummary, ExportError> {
    let has = |t: &str| tables.iter().any(|x| x == t);
    let mut store = Store::open(partial)?;
    store.conn.execute("ATTACH DATABASE ?1 AS src", [read_only_uri(src)])?;
    store.conn.busy_timeout(std::time::Duration::from_secs(10))?;

    // The selection, as SQL over `src` with numbered parameters.
    let mut args: Vec<Value> = Vec::new();
    let mut p = |v: Value| {
        args.push(v);
        format!("?{}", args.len())
    };
    let from = filter.from.map(|t| p(Value::Text(timestamp(t))));
    let to = filter.to.map(|t| p(Value::Text(timestamp(t))));
    let hosts =
        filter.hosts.as_ref().map(|hs| hs.iter().map(|h| p(Value::Text(h.clone()))).collect::<Vec<_>>().join(", "));
    let customer = filter.customer.as_ref().map(|c| p(Value::Text(c.clone())));
    let at_in = |col: &str| {
        let mut c = String::from("1");
        if let Some(f) = &from {
            c.push_str(&format!(" AND {col} >= {f}"));
        }
        if let Some(t) = &to {
            c.push_str(&format!(" AND {col} < {t}"));
        }
        c
    };
    let host_in = |col: &str| match &hosts {
        Some(h) if h.is_empty() => "0".to_string(),
        Some(h) => format!("{col} IN ({h})"),
        None => "1".to_string(),
    };
    let mut inc_where = host_in("host");
    if let Some(f) = &from {
        inc_where.push_str(&format!(" AND (closed_at IS NULL OR closed_at >= {f})"));
    }
    if let Some(t) = &to {
        inc_where.push_str(&format!(" AND opened_at < {t}"));
    }
    let picked = "SELECT id FROM main.incidents";
    // The engine's starts and stops are always kept, whatever the range or hosts: they say when
    // anything was watched at all (a report counts only watched time), and hold no fleet data.
    let ev_where = format!(
        "kind IN ('engine_started', 'engine_stopped') OR incident_id IN ({picked}) \
         OR (incident_id IS NULL AND {} AND ({} OR host IS NULL AND {}))",
        at_in("at"),
        host_in("host"),
        if hosts.is_some() { "0" } else { "1" }
    );
    let mut maint_where = String::from("1");
    if let Some(f) = &from {
        maint_where.push_str(&format!(" AND ends_at > {f}"));
    }
    if let Some(t) = &to {
        maint_where.push_str(&format!(" AND starts_at < {t}"));
    }
    if hosts.is_some() || customer.is_some() {
        maint_where.push_str(&format!(
            " AND ({} OR customer = {})",
            host_in("server"),
            customer.clone().unwrap_or_else(|| "NULL".into())
        ));
    }
    let mut report_where = String::from("1");
    if let Some(c) = &customer {
        report_where.push_str(&format!(" AND customer = {c}"));
    } else if hosts.is_some() {
        report_where.push_str(" AND 0");
    }
    if let Some(f) = &filter.from {
        report_where.push_str(&format!(" AND month >= '{}'", f.format("%Y-%m")));
    }
    if let Some(t) = &filter.to {
        report_where.push_str(&format!(" AND month <= '{}'", t.format("%Y-%m")));
    }
    let report_mails = if has("reports") {
        "id IN (SELECT outbox_id FROM src.reports WHERE id IN (SELECT id FROM main.reports))"
    } else {
        "0"
    };
    let mail_where = format!(
        "incident_id IN ({picked}) OR {report_mails} OR (incident_id IS NULL AND {} AND {})",
        at_in("created_at"),
        if hosts.is_some() { "0" } else { "1" }
    );

    let outbox_cols = "id, message_id, kind, incident_id, mail_from, mail_to, subject, body, state, attempts, \
                       next_attempt_at, last_error, created_at, sent_at";
    let mut steps: Vec<String> = vec![
        format!(
            "INSERT INTO main.incidents (id, host, check_id, level, trigger, opened_at, closed_at)
             SELECT id, host, check_id, level, trigger, opened_at, closed_at FROM src.incidents WHERE {inc_where}"
        ),
        format!(
            "INSERT INTO main.check_state SELECT host, check_id, failures, hard, last_ok, detail, changed_at
             FROM src.check_state WHERE {}",
            host_in("host")
        ),
    ];
    if has("samples") {
        steps.push(format!(
            "INSERT INTO main.samples (host, resource, at, value) SELECT host, resource, at, value FROM src.samples
              WHERE {} AND {}",
            host_in("host"),
            at_in("at")
        ));
    }
    if has("maintenance") {
        let cols = if src_has_column(&store, "maintenance", "ended_at")? {
            "id, server, customer, starts_at, ends_at, reason, who, created_at, ended_at, ended_by"
        } else {
            "id, server, customer, starts_at, ends_at, reason, who, created_at"
        };
        steps.push(format!(
            "INSERT INTO main.maintenance ({cols}) SELECT {cols} FROM src.maintenance WHERE {maint_where}"
        ));
    }
    if has("recoveries") {
        steps.push(format!(
            "INSERT INTO main.recoveries SELECT id, host, incident_id, action, requested_by, automatic, billable_yen,
                    started_at, finished_at, outcome, detail FROM src.recoveries
              WHERE incident_id IN ({picked}) OR (incident_id IS NULL AND {} AND {})",
            host_in("host"),
            at_in("started_at")
        ));
        steps.push(format!(
            "INSERT INTO main.calls SELECT id, incident_id, number, started_at, rings, outcome, answered_by, notes,
                    operator, logged_at FROM src.calls WHERE incident_id IN ({picked})"
        ));
        let consent_cols = if src_has_column(&store, "consents", "cause")? {
            "id, incident_id, kind, amount_yen, customer_person, note, operator, at, cause"
        } else {
            "id, incident_id, kind, amount_yen, customer_person, note, operator, at"
        };
        steps.push(format!(
            "INSERT INTO main.consents ({consent_cols}) SELECT {consent_cols} FROM src.consents
              WHERE incident_id IN ({picked})"
        ));
    }
    if has("reports") {
        steps.push(format!(
            "INSERT INTO main.reports (id, customer, month, state, created_at, sent_at, sent_by, held_by)
             SELECT id, customer, month, state, created_at, sent_at, sent_by, held_by FROM src.reports WHERE {report_where}"
        ));
    }
    if has("outbox") {
        steps.push(format!(
            "INSERT INTO main.outbox ({outbox_cols}{html}) SELECT {outbox_cols}{html} FROM src.outbox WHERE {mail_where}",
            html = if has("outbox_parts") { ", html" } else { "" }
        ));
        if has("reports") {
            steps.push(
                "UPDATE main.reports SET outbox_id = (SELECT r.outbox_id FROM src.reports r WHERE r.id = main.reports.id)
                  WHERE (SELECT r.outbox_id FROM src.reports r WHERE r.id = main.reports.id) IN (SELECT id FROM main.outbox)"
                    .into(),
            );
        }
    }
    if has("outbox_parts") {
        steps.push(
            "INSERT INTO main.outbox_parts SELECT outbox_id, seq, cid, content_type, filename, data FROM src.outbox_parts
              WHERE outbox_id IN (SELECT id FROM main.outbox)"
                .into(),
        );
    }

    let audit_cols = if src_has_column(&store, "events", "actor")? { "actor, hash" } else { "NULL, NULL" };
    let events_sql = format!(
        "SELECT id, at, kind, incident_id, host, check_id, detail, {audit_cols} FROM src.events WHERE {ev_where} ORDER BY id"
    );
    let src_head = if src_has_table(&store, "audit_head")? {
        "SELECT last_event, hash FROM src.audit_head WHERE id = 1"
    } else {
        "SELECT NULL, NULL WHERE 0"
    };

    // Reports link mails, and mails are chosen by their reports: copy reports before the outbox
    // but link them after it (done above). One transaction: one snapshot of the source.
    // Deferred, not IMMEDIATE: the new file has no other writer, and an IMMEDIATE transaction
    // would try to take the (read-only, maybe live) source's write lock as well.
    let tx = StoreTx { tx: store.conn.transaction()? };
    let params_of = |sql: &str| {
        // Each statement gets the full argument list (numbered parameters); unused ones are fine
        // only if SQLite knows them, so pass exactly as many as the highest one used.
        let n_params = (1..=args.len()).filter(|i| sql.contains(&format!("?{i}"))).max().unwrap_or(0);
        rusqlite::params_from_iter(args.iter().take(n_params))
    };
    // Incidents first (events refer to them), then the events through the chain.
    let (first, rest) = steps.split_first().expect("the incidents step");
    tx.tx.execute(first, params_of(first))?;
    let copied = {
        let mut stmt = tx.tx.prepare(&events_sql)?;
        let mut rows = stmt.query(params_of(&events_sql))?;
        let mut copied = 0usize;
        while let Some(row) = rows.next()? {
            tx.append(super::event_row(row)?)?;
            copied += 1;
        }
        copied
    };
    for step in rest {
        tx.tx.execute(step, params_of(step))?;
    }
    let head: Option<(Option<i64>, Option<String>)> =
        tx.tx.query_row(src_head, [], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
    let head = match head {
        Some((Some(id), Some(hash))) => format!("entry {id}, hash {hash}"),
        _ => "none (a log older than the audit chain)".into(),
    };
    let detail = format!(
        "{copied} entries exported from {} (filter: {}); the source's chain head: {head}; {}",
        src.display(),
        describe(filter),
        match &source_chain_error {
            None => "the source's chain verified intact".to_string(),
            Some(e) => format!("THE SOURCE'S CHAIN DID NOT VERIFY: {e}"),
        }
    );
    tx.append(EventRecord {
        id: 0,
        at: timestamp(chrono::Utc::now()),
        kind: "exported".into(),
        incident_id: None,
        host: None,
        check: None,
        detail,
        actor: Some(EXPORT_ACTOR.into()),
        hash: None,
    })?;
    let count = |t: &str| -> Result<usize, rusqlite::Error> {
        tx.tx.query_row(&format!("SELECT count(*) FROM main.{t}"), [], |r| r.get::<_, i64>(0)).map(|n| n as usize)
    };
    let summary = ExportSummary {
        incidents: count("incidents")?,
        events: copied,
        samples: count("samples")?,
        mails: count("outbox")?,
        maintenance: count("maintenance")?,
        reports: count("reports")?,
        source_chain_error,
    };
    tx.commit()?;
    store.conn.execute("DETACH DATABASE src", [])?;
    // One self-contained file: no -wal beside it.
    store.conn.pragma_update(None, "journal_mode", "DELETE")?;
    drop(store);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::maintenance::{MaintenanceScope, NewMaintenance};
    use anshin_core::{CheckKey, CheckKind, Level, Service};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_range_of_one_customer_is_exported_as_a_readable_store() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("live.db");
        let mut s = Store::open(&src).unwrap();
        let web = CheckKey::new("web01", CheckKind::Service(Service::Http));
        let other = CheckKey::new("mx01", CheckKind::Ping);
        let tx = s.begin().unwrap();
        let a =
            tx.open_incident(&web, Level::Severe, "web01 HTTP サービスダウン", "", at("2026-10-05T01:00:00Z")).unwrap();
        tx.close_incident(a, &web, "", at("2026-10-05T02:00:00Z")).unwrap();
        let old = tx.open_incident(&web, Level::Severe, "old", "", at("2026-08-05T01:00:00Z")).unwrap();
        tx.close_incident(old, &web, "", at("2026-08-05T02:00:00Z")).unwrap();
        tx.open_incident(&other, Level::Unreachable, "mx01 ping 疎通不可", "", at("2026-10-06T01:00:00Z")).unwrap();
        tx.add_sample("web01", "load", 0.5, at("2026-10-07T00:00:00Z")).unwrap();
        tx.add_sample("web01", "load", 0.7, at("2026-09-07T00:00:00Z")).unwrap();
        tx.add_sample("mx01", "load", 0.7, at("2026-10-07T00:00:00Z")).unwrap();
        tx.commit().unwrap();
        s.add_maintenance(
            &NewMaintenance {
                scope: MaintenanceScope::Customer("c1001".into()),
                starts_at: at("2026-10-10T00:00:00Z"),
                ends_at: at("2026-10-10T01:00:00Z"),
                reason: "r".into(),
                who: "ops1".into(),
            },
            at("2026-10-01T00:00:00Z"),
        )
        .unwrap();

        let out = dir.path().join("review.db");
        let filter = ExportFilter {
            from: Some(at("2026-09-30T15:00:00Z")),
            to: Some(at("2026-10-31T15:00:00Z")),
            hosts: Some(vec!["web01".into()]),
            customer: Some("c1001".into()),
        };
        let summary = export(&src, &out, &filter, false).unwrap();
        assert_eq!((summary.incidents, summary.samples, summary.maintenance), (1, 1, 1));
        assert_eq!(summary.events, 2);
        let r = Store::open_read_only(&out).unwrap();
        let incs = r.incidents(false, 10).unwrap();
        assert_eq!(incs.len(), 1);
        assert_eq!(incs[0].trigger, "web01 HTTP サービスダウン");
        assert_eq!(incs[0].events.len(), 2);
        assert!(!PathBuf::from(format!("{}-wal", out.display())).exists());

        assert!(matches!(export(&src, &out, &filter, false), Err(ExportError::Exists(_))));
        let all = export(&src, &out, &ExportFilter::default(), true).unwrap();
        assert_eq!((all.incidents, all.samples), (3, 3));
    }

    #[test]
    fn recoveries_calls_consents_and_ended_windows_come_along() {
        use crate::store::recovery::{NewCall, NewConsent, NewRecovery};
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("live.db");
        let mut s = Store::open(&src).unwrap();
        let web = CheckKey::new("web01", CheckKind::Service(Service::Http));
        let t = at("2026-10-05T01:00:00Z");
        let tx = s.begin().unwrap();
        let a = tx.open_incident(&web, Level::Severe, "web01 HTTP サービスダウン", "", t).unwrap();
        let rec = |host: &str, incident| NewRecovery {
            host: host.into(),
            incident_id: incident,
            action: "restart:http".into(),
            requested_by: "yamada".into(),
            automatic: false,
            billable_yen: None,
        };
        tx.start_recovery(&rec("web01", Some(a)), t).unwrap();
        tx.start_recovery(&rec("mx01", None), t).unwrap();
        tx.log_call(
            &NewCall {
                incident_id: a,
                host: "web01".into(),
                number: "03-1111-2222".into(),
                started_at: t,
                rings: 10,
                outcome: "no_answer".into(),
                answered_by: None,
                notes: String::new(),
                operator: "yamada".into(),
            },
            t,
        )
        .unwrap();
        tx.add_consent(
            &NewConsent {
                incident_id: a,
                host: "web01".into(),
                kind: "investigation".into(),
                amount_yen: 30_000,
                customer_person: "山田様".into(),
                note: String::new(),
                operator: "yamada".into(),
                cause: anshin_core::recovery::ChargeCause::TrafficSurge,
            },
            t,
        )
        .unwrap();
        let m = tx
            .add_maintenance(
                &NewMaintenance {
                    scope: MaintenanceScope::Server("web01".into()),
                    starts_at: at("2026-10-06T00:00:00Z"),
                    ends_at: at("2026-10-06T02:00:00Z"),
                    reason: "r".into(),
                    who: "ops1".into(),
                },
                t,
            )
            .unwrap();
        tx.end_maintenance(m, "ops2", at("2026-10-06T01:00:00Z")).unwrap();
        tx.commit().unwrap();

        let out = dir.path().join("review.db");
        let filter = ExportFilter { hosts: Some(vec!["web01".into()]), ..Default::default() };
        export(&src, &out, &filter, false).unwrap();
        let r = Store::open_read_only(&out).unwrap();
        assert_eq!(r.recoveries(None, 10).unwrap().iter().map(|x| x.host.as_str()).collect::<Vec<_>>(), ["web01"]);
        assert_eq!(r.calls(a).unwrap().len(), 1);
        assert_eq!(r.consents(a).unwrap()[0].customer_person, "山田様");
        assert_eq!(r.consents(a).unwrap()[0].cause, "traffic_surge");
        let windows = r.maintenance_current(at("2026-10-07T00:00:00Z"), 10).unwrap();
        assert_eq!(windows[0].ended_by.as_deref(), Some("ops2"));
        assert!(r.verify_chain().unwrap().ok);
    }

    #[test]
    fn a_log_older_than_the_chain_exports_into_a_chained_file() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("old.db");
        {
            let conn = crate::store::older_log(&src, crate::store::AUDIT_STEP);
            conn.execute_batch(
                "INSERT INTO incidents (host, check_id, level, trigger, opened_at) VALUES ('web01', 'ping', 5, 't', '2026-10-01T00:00:00.000Z');
                 INSERT INTO events (at, kind, incident_id, host, check_id, detail) VALUES ('2026-10-01T00:00:00.000Z', 'incident_opened', 1, 'web01', 'ping', '');
                 INSERT INTO events (at, kind, detail) VALUES ('2026-10-01T00:00:00.000Z', 'engine_started', '');
                 INSERT INTO maintenance (server, starts_at, ends_at, reason, who, created_at) VALUES ('web01', 'a', 'b', 'r', 'w', 'x');",
            )
            .unwrap();
        }
        let before = std::fs::read(&src).unwrap();
        let out = dir.path().join("review.db");
        let summary = export(&src, &out, &ExportFilter::default(), false).unwrap();
        assert_eq!((summary.events, summary.maintenance), (2, 1));
        assert_eq!(std::fs::read(&src).unwrap(), before, "the source is only read");
        let r = Store::open_read_only(&out).unwrap();
        assert!(r.verify_chain().unwrap().ok);
        let events = r.events().unwrap();
        assert_eq!(events[0].actor, None);
        assert!(events[2].detail.contains("none (a log older than the audit chain)"), "{}", events[2].detail);
    }
}
