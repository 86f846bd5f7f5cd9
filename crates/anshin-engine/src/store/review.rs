//! Read-only review queries: the incident log filtered the way a reviewer asks (customer's
//! servers, server, level, check, date range, operator, text), each incident with its whole story
//! in order — for the review UI (through the API or Tauri), `anshin review` and the monthly
//! report. Works on a live store (while an engine writes) and on an exported file alike.
//!
//! Owns: opening a file for review (refusing foreign, newer and damaged files with a message
//! that names the file and the fix, changing nothing), the filter SQL, and the Japanese label of
//! each event kind in a story.
//! Must not know: which servers a customer has (the caller resolves a customer to its hosts from
//! the fleet), or how results are drawn.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use serde::Serialize;
use ts_rs::TS;
use utoipa::ToSchema;

use super::{event_row, incident_row, timestamp, IncidentRecord, Store, StoreError, AUDIT_STEP};

/// Why a file cannot be reviewed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(
        "{path} is damaged or not an SQLite database ({detail}): take a new export from the live store (`anshin export`)"
    )]
    Corrupt { path: String, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens a live store or an exported file for review: read-only, identity and schema checked
/// (`Store::open_read_only`), and the file's structure verified (`PRAGMA quick_check`), so a
/// damaged file is refused up front rather than failing half-way through a listing.
pub fn open_review(path: &Path) -> Result<Store, ReviewError> {
    let name = path.display().to_string();
    if !path.is_file() {
        return Err(StoreError::Open { path: name, source: rusqlite::Error::InvalidPath(path.to_path_buf()) }.into());
    }
    let store = match Store::open_read_only(path) {
        Ok(s) => s,
        Err(StoreError::Open { source, .. }) | Err(StoreError::Sql(source)) if is_corruption(&source) => {
            return Err(ReviewError::Corrupt { path: name, detail: source.to_string() })
        }
        Err(e) => return Err(e.into()),
    };
    let check: Result<Vec<String>, rusqlite::Error> = store
        .conn
        .prepare("PRAGMA quick_check")
        .and_then(|mut s| s.query_map([], |r| r.get::<_, String>(0))?.collect());
    match check {
        Ok(rows) if rows.len() == 1 && rows[0] == "ok" => Ok(store),
        Ok(rows) => Err(ReviewError::Corrupt { path: name, detail: rows.join("; ") }),
        Err(e) => Err(ReviewError::Corrupt { path: name, detail: e.to_string() }),
    }
}

fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

/// What to list. Every field narrows; the default lists everything (up to `limit`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewFilter {
    /// Only these hosts (a customer's servers, resolved by the caller from the fleet).
    pub hosts: Option<Vec<String>>,
    /// Only this server (or gateway) label.
    pub server: Option<String>,
    /// Only incidents at this level (its current or last level).
    pub level: Option<u8>,
    /// Only this check id (`ping`, `http`, `load`, `custom:app` …).
    pub check: Option<String>,
    /// Incidents still open at or after this time…
    pub from: Option<DateTime<Utc>>,
    /// …and opened before this one (the range is an overlap: [from, to)).
    pub to: Option<DateTime<Utc>>,
    /// Only incidents an operator acted on: an event of the incident was theirs (its actor), or
    /// says `by NAME` (entries written before the log recorded actors).
    pub operator: Option<String>,
    /// Case-insensitive text in the trigger name or in any event's detail (notes included).
    pub text: Option<String>,
    /// Only incidents still open.
    pub open_only: bool,
    /// At most this many, newest first; 0 means no limit.
    pub limit: usize,
    /// A page after another: only incidents with an id below this one.
    pub before: Option<i64>,
}

/// One step of an incident's story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct StoryStep {
    pub at: String,
    /// The event kind as logged (`incident_opened`, `mail_sent` …).
    pub kind: String,
    /// Its Japanese label for people (`検知`, `メール送信` …); unknown kinds keep their name.
    pub label: String,
    pub detail: String,
    /// Who: an operator's name or the engine's rule (None in logs older than the audit log).
    pub actor: Option<String>,
}

/// An incident with its story, as the review UI and `anshin review` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct ReviewIncident {
    pub id: i64,
    pub host: String,
    pub check: String,
    pub level: u8,
    pub trigger: String,
    pub opened_at: String,
    pub closed_at: Option<String>,
    /// Seconds from opened to closed (None while open).
    pub duration_secs: Option<i64>,
    pub story: Vec<StoryStep>,
}

/// Every kind of the event log with its Japanese and English name: the one table readers and
/// consoles show (the catalogue serves it as `event_kinds`; a kind not listed shows itself).
pub const EVENT_KINDS: &[(&str, &str, &str)] = &[
    ("incident_opened", "検知（障害発生）", "Detected (incident opened)"),
    ("incident_closed", "復旧・クローズ", "Recovered / closed"),
    ("level_raised", "レベル上昇", "Level raised"),
    ("level_lowered", "レベル低下", "Level lowered"),
    ("mail_queued", "メール送信待ち", "Mail queued"),
    ("mail_sent", "メール送信済み", "Mail sent"),
    ("mail_failed", "メール送信失敗", "Mail failed"),
    ("check_soft", "チェック失敗（再試行中）", "Check failed (retrying)"),
    ("check_hard", "チェック失敗（確定）", "Check failed (confirmed)"),
    ("check_ok", "チェック正常", "Check OK"),
    ("acknowledged", "確認（担当者）", "Taken (operator)"),
    ("recovery_started", "復旧作業開始", "Recovery started"),
    ("recovery_acting", "対応開始", "Response started (acting)"),
    ("network_work_started", "ネットワーク復旧作業開始", "Network work started"),
    ("recovery_finished", "復旧作業終了", "Recovery result"),
    ("recovery_succeeded", "復旧作業成功", "Recovery succeeded"),
    ("recovery_failed", "復旧作業失敗", "Recovery failed"),
    ("recovery_needs_operator", "自動復旧なし（担当者判断）", "Operator must decide"),
    ("spot_billed", "スポット復旧（有償）", "Spot recovery billed"),
    ("call", "電話連絡", "Phone call"),
    ("consent_recorded", "費用の同意", "Cost consent"),
    ("status_report_queued", "状況報告メール", "Status report sent"),
    ("note", "メモ", "Note"),
    ("alert_held", "通知保留（メンテナンス中）", "Alert held (maintenance)"),
    ("alert_released", "保留通知の送信", "Held alert sent"),
    ("maintenance_added", "メンテナンス登録", "Maintenance scheduled"),
    ("maintenance_ended", "メンテナンス終了", "Maintenance ended"),
    ("maintenance_extended", "メンテナンス延長", "Maintenance extended"),
    ("report_sent", "月次レポート送信", "Monthly report sent"),
    ("exported", "エクスポート", "Exported"),
    ("audit_chain_started", "監査ログ開始", "Audit log started"),
    ("call_logged", "電話連絡", "Phone call logged"),
    ("note_added", "メモ", "Note"),
    ("recovery_interrupted", "復旧中断", "Recovery interrupted"),
    ("report_drafted", "月次レポート作成", "Monthly report drafted"),
    ("report_held", "月次レポート保留", "Monthly report held"),
    ("report_released", "月次レポート保留解除", "Monthly report released"),
    ("engine_started", "監視開始", "Monitoring started"),
    ("fleet_reloaded", "構成変更（フリートファイル）", "Fleet changed (fleet file)"),
    ("engine_stopped", "監視停止", "Monitoring stopped"),
    ("backup_started", "バックアップ開始", "Backup started"),
    ("backup_finished", "バックアップ終了", "Backup finished"),
    ("backup_interrupted", "バックアップ中断", "Backup interrupted"),
    ("restore_started", "リストア開始", "Restore started"),
    ("restore_finished", "リストア終了", "Restore finished"),
    ("backup_pruned", "バックアップ世代削除", "Backup generation pruned"),
    ("resource_up_requested", "リソースアップ依頼", "Resource-up requested"),
    ("resource_up_changed", "リソースアップ状態変更", "Resource-up changed"),
    ("resource_up_reminded", "リソースアップ通知", "Resource-up reminder"),
    ("config_work_recorded", "設定作業記録", "Configuration work recorded"),
];

/// The Japanese label of an event kind (readers show the kind itself for one not listed).
pub fn story_label(kind: &str) -> String {
    EVENT_KINDS.iter().find(|(k, _, _)| *k == kind).map_or(kind, |(_, ja, _)| ja).to_string()
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// `%text%` for LIKE, with `%`, `_` and `\` taken literally.
fn like_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Store {
    /// The incidents matching `filter`, newest first, each with its story in order.
    pub fn review(&self, filter: &ReviewFilter) -> Result<Vec<ReviewIncident>, StoreError> {
        let mut sql =
            String::from("SELECT id, host, check_id, level, trigger, opened_at, closed_at FROM incidents i WHERE 1");
        let mut args: Vec<Value> = Vec::new();
        let mut arg = |sql: &mut String, clause: &str, v: Value| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(hosts) = &filter.hosts {
            if hosts.is_empty() {
                return Ok(Vec::new());
            }
            sql.push_str(" AND host IN (");
            for (n, h) in hosts.iter().enumerate() {
                arg(&mut sql, if n == 0 { "?" } else { ", ?" }, Value::Text(h.clone()));
            }
            sql.push(')');
        }
        if let Some(s) = &filter.server {
            arg(&mut sql, " AND host = ?", Value::Text(s.clone()));
        }
        if let Some(l) = filter.level {
            arg(&mut sql, " AND level = ?", Value::Integer(i64::from(l)));
        }
        if let Some(c) = &filter.check {
            arg(&mut sql, " AND check_id = ?", Value::Text(c.clone()));
        }
        if let Some(from) = filter.from {
            arg(&mut sql, " AND (closed_at IS NULL OR closed_at >= ?)", Value::Text(timestamp(from)));
        }
        if let Some(to) = filter.to {
            arg(&mut sql, " AND opened_at < ?", Value::Text(timestamp(to)));
        }
        if filter.open_only {
            sql.push_str(" AND closed_at IS NULL");
        }
        if let Some(b) = filter.before {
            arg(&mut sql, " AND i.id < ?", Value::Integer(b));
        }
        let has_actor = self.schema_version()? >= AUDIT_STEP;
        if let Some(op) = &filter.operator {
            args.push(Value::Text(like_pattern(&format!(" by {op} "))));
            let n = args.len();
            // A whole name: "by yamada" and "by yamada: note" match yamada, "by yamada2" does not.
            let by_detail = format!("(' ' || replace(e.detail, ':', ' ') || ' ') LIKE ?{n} ESCAPE '\\'");
            let clause = if has_actor {
                args.push(Value::Text(op.clone()));
                format!("(e.actor = ?{} OR {by_detail})", n + 1)
            } else {
                by_detail
            };
            sql.push_str(&format!(" AND EXISTS (SELECT 1 FROM events e WHERE e.incident_id = i.id AND {clause})"));
        }
        if let Some(t) = &filter.text {
            let p = like_pattern(t);
            args.push(Value::Text(p));
            let n = args.len();
            sql.push_str(&format!(
                " AND (trigger LIKE ?{n} ESCAPE '\\' OR EXISTS (SELECT 1 FROM events e WHERE e.incident_id = i.id \
                 AND e.detail LIKE ?{n} ESCAPE '\\'))"
            ));
        }
        sql.push_str(" ORDER BY opened_at DESC, id DESC");
        if filter.limit > 0 {
            sql.push_str(&format!(" LIMIT {}", filter.limit));
        }
        let mut stmt = self.conn.prepare(&sql)?;
        let incidents: Vec<IncidentRecord> =
            stmt.query_map(rusqlite::params_from_iter(args), incident_row)?.collect::<Result<_, _>>()?;
        let mut ev = self
            .conn
            .prepare(&format!("SELECT {} FROM events WHERE incident_id = ?1 ORDER BY at, id", self.event_columns()?))?;
        let mut out = Vec::with_capacity(incidents.len());
        for inc in incidents {
            let events: Vec<_> = ev.query_map([inc.id], event_row)?.collect::<Result<_, _>>()?;
            let duration_secs = match (parse_time(&inc.opened_at), inc.closed_at.as_deref().and_then(parse_time)) {
                (Some(a), Some(b)) => Some((b - a).num_seconds()),
                _ => None,
            };
            out.push(ReviewIncident {
                id: inc.id,
                host: inc.host,
                check: inc.check,
                level: inc.level,
                trigger: inc.trigger,
                opened_at: inc.opened_at,
                closed_at: inc.closed_at,
                duration_secs,
                story: events
                    .into_iter()
                    .map(|e| StoryStep {
                        label: story_label(&e.kind),
                        at: e.at,
                        kind: e.kind,
                        detail: e.detail,
                        actor: e.actor,
                    })
                    .collect(),
            });
        }
        Ok(out)
    }
}

/// The CSV form of a listing (`anshin review --csv`, the UI's "CSV" button): one row per
/// incident, the story in one cell (`at kind detail` per step, ` | ` between steps). RFC 4180
/// quoting; a leading `=`, `+`, `-` or `@` is prefixed with `'` so a spreadsheet shows the text
/// instead of running it.
pub fn to_csv(rows: &[ReviewIncident]) -> String {
    fn cell(s: &str) -> String {
        let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    }
    let mut out = String::from("id,host,check,level,trigger,opened_at,closed_at,duration_secs,story\r\n");
    for r in rows {
        let story: Vec<String> = r.story.iter().map(|s| format!("{} {} {}", s.at, s.kind, s.detail)).collect();
        let fields = [
            r.id.to_string(),
            r.host.clone(),
            r.check.clone(),
            r.level.to_string(),
            r.trigger.clone(),
            r.opened_at.clone(),
            r.closed_at.clone().unwrap_or_default(),
            r.duration_secs.map(|d| d.to_string()).unwrap_or_default(),
            story.join(" | "),
        ];
        out.push_str(&fields.iter().map(|f| cell(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anshin_core::{CheckKey, CheckKind, Level, Service};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn seeded(path: &Path) {
        let mut s = Store::open(path).unwrap();
        let http = CheckKey::new("web01", CheckKind::Service(Service::Http));
        let ping = CheckKey::new("db01", CheckKind::Ping);
        let tx = s.begin().unwrap();
        let a = tx
            .open_incident(&http, Level::Severe, "web01 HTTP サービスダウン", "refused", at("2026-10-05T01:00:00Z"))
            .unwrap();
        tx.append_event("note_added", Some(a), Some(&http), "nginx restarted by ops1", at("2026-10-05T01:10:00Z"))
            .unwrap();
        tx.close_incident(a, &http, "200 OK", at("2026-10-05T02:00:00Z")).unwrap();
        let b = tx
            .open_incident(&ping, Level::Unreachable, "db01 ping 疎通不可", "timeout", at("2026-10-20T01:00:00Z"))
            .unwrap();
        tx.add_note(b, "db01", "ping", "電源を確認", "suzuki", at("2026-10-20T01:05:00Z")).unwrap();
        tx.commit().unwrap();
    }

    #[test]
    fn filters_narrow_and_stories_are_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        seeded(&path);
        let s = open_review(&path).unwrap();
        let all = s.review(&ReviewFilter::default()).unwrap();
        assert_eq!(all.iter().map(|r| r.host.as_str()).collect::<Vec<_>>(), ["db01", "web01"]);
        let web = &all[1];
        assert_eq!(web.duration_secs, Some(3600));
        let kinds: Vec<&str> = web.story.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(kinds, ["incident_opened", "note_added", "incident_closed"]);
        assert_eq!(web.story[0].label, "検知（障害発生）");

        let ids = |f: ReviewFilter| s.review(&f).unwrap().into_iter().map(|r| r.host).collect::<Vec<_>>();
        assert_eq!(ids(ReviewFilter { level: Some(5), ..Default::default() }), ["db01"]);
        assert_eq!(ids(ReviewFilter { check: Some("http".into()), ..Default::default() }), ["web01"]);
        assert_eq!(ids(ReviewFilter { hosts: Some(vec!["web01".into()]), ..Default::default() }), ["web01"]);
        assert_eq!(ids(ReviewFilter { hosts: Some(vec![]), ..Default::default() }), Vec::<String>::new());
        assert_eq!(ids(ReviewFilter { text: Some("NGINX".into()), ..Default::default() }), ["web01"]);
        assert_eq!(ids(ReviewFilter { text: Some("疎通".into()), ..Default::default() }), ["db01"]);
        assert_eq!(ids(ReviewFilter { text: Some("100%".into()), ..Default::default() }), Vec::<String>::new());
        assert_eq!(ids(ReviewFilter { operator: Some("ops1".into()), ..Default::default() }), ["web01"]);
        assert!(ids(ReviewFilter { operator: Some("ops".into()), ..Default::default() }).is_empty(), "a whole name");
        // Who did it, as the audit log records it (a note's text need not name its author).
        assert_eq!(ids(ReviewFilter { operator: Some("suzuki".into()), ..Default::default() }), ["db01"]);
        assert_eq!(all[0].story.last().unwrap().actor.as_deref(), Some("suzuki"));
        assert_eq!(all[0].story[0].actor.as_deref(), Some("engine"));
        assert_eq!(ids(ReviewFilter { open_only: true, ..Default::default() }), ["db01"]);
        // overlap: the open db01 incident counts for any later range; web01 only around Oct 5
        let range = |a, b| ReviewFilter { from: Some(at(a)), to: Some(at(b)), ..Default::default() };
        assert_eq!(ids(range("2026-10-05T01:30:00Z", "2026-10-06T00:00:00Z")), ["web01"]);
        assert_eq!(ids(range("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")), ["db01"]);
        assert_eq!(ids(ReviewFilter { limit: 1, ..Default::default() }), ["db01"]);

        let csv = to_csv(&all);
        assert!(csv.starts_with("id,host,check,level,trigger,opened_at,closed_at,duration_secs,story\r\n"));
        assert!(csv.contains("web01 HTTP サービスダウン"), "{csv}");
    }

    #[test]
    fn damaged_and_foreign_files_get_a_clear_error_and_stay_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, vec![b'x'; 8192]).unwrap();
        let err = open_review(&garbage).unwrap_err();
        assert!(matches!(err, ReviewError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("garbage.db is damaged or not an SQLite database"), "{err}");
        assert_eq!(std::fs::read(&garbage).unwrap(), vec![b'x'; 8192]);

        // A real log with pages overwritten in the middle.
        let broken = dir.path().join("broken.db");
        seeded(&broken);
        {
            let s = Store::open(&broken).unwrap();
            s.conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
        }
        let mut bytes = std::fs::read(&broken).unwrap();
        assert!(bytes.len() > 8192);
        for b in &mut bytes[4096..8192] {
            *b = 0xA5;
        }
        std::fs::write(&broken, &bytes).unwrap();
        let err = open_review(&broken).unwrap_err();
        assert!(matches!(err, ReviewError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(&broken).unwrap(), bytes);

        let missing = dir.path().join("missing.db");
        assert!(open_review(&missing).is_err());
        assert!(!missing.exists());
    }
}
