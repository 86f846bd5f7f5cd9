//! When the engine was watching: the times of its lifecycle events (`engine_started`,
//! `engine_stopped`), read without loading the whole event log (a month's store holds many
//! events). What the gaps mean for a report is the reader's business (`anshin-report`).

use chrono::{DateTime, Utc};

/// Schema step: the lifecycle events are found by kind and time, not by scanning the log.
pub(super) const MIGRATION: &str = "CREATE INDEX events_kind ON events (kind, at);";

use rusqlite::OptionalExtension;

use super::{timestamp, Store, StoreError};

fn parse(at: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at).ok().map(|t| t.with_timezone(&Utc))
}

impl Store {
    /// When the first event of `kind` was logged (e.g. the first `engine_started`: monitoring
    /// began), or None if there is none.
    pub fn first_event_at(&self, kind: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<String> = self
            .conn
            .query_row("SELECT MIN(at) FROM events WHERE kind = ?1", [kind], |r| r.get(0))
            .optional()?
            .flatten();
        Ok(at.as_deref().and_then(parse))
    }

    /// `(time, kind)` of the events of `kinds` logged in `[from, to)`, preceded by the last one
    /// logged before `from` (so the state at `from` is known), oldest first.
    pub fn event_times(
        &self,
        kinds: &[&str],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, String)>, StoreError> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let marks = (3..kinds.len() + 3).map(|n| format!("?{n}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT at, kind FROM events WHERE kind IN ({marks}) AND at < ?2 AND at >= \
             COALESCE((SELECT MAX(at) FROM events WHERE kind IN ({marks}) AND at < ?1), ?1) ORDER BY at, id"
        );
        let (from, to) = (timestamp(from), timestamp(to));
        let mut args: Vec<&dyn rusqlite::ToSql> = vec![&from, &to];
        args.extend(kinds.iter().map(|k| k as &dyn rusqlite::ToSql));
        let mut stmt = self.conn.prepare(&sql)?;
        let rows: Vec<(String, String)> =
            stmt.query_map(args.as_slice(), |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        Ok(rows.into_iter().filter_map(|(at, kind)| Some((parse(&at)?, kind))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn lifecycle_events_are_read_by_kind_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("log.db")).unwrap();
        assert_eq!(store.first_event_at("engine_started").unwrap(), None);
        let tx = store.begin().unwrap();
        for (kind, t) in [
            ("engine_started", "2026-10-03T00:00:00Z"),
            ("engine_stopped", "2026-10-20T00:00:00Z"),
            ("something_else", "2026-10-25T00:00:00Z"),
            ("engine_started", "2026-11-02T00:00:00Z"),
            ("engine_stopped", "2026-11-05T00:00:00Z"),
            ("engine_started", "2026-12-02T00:00:00Z"),
        ] {
            tx.append_event(kind, None, None, "", at(t)).unwrap();
        }
        tx.commit().unwrap();
        assert_eq!(store.first_event_at("engine_started").unwrap(), Some(at("2026-10-03T00:00:00Z")));
        let kinds = ["engine_started", "engine_stopped"];
        let nov = store.event_times(&kinds, at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")).unwrap();
        assert_eq!(
            nov,
            [
                (at("2026-10-20T00:00:00Z"), "engine_stopped".to_string()),
                (at("2026-11-02T00:00:00Z"), "engine_started".to_string()),
                (at("2026-11-05T00:00:00Z"), "engine_stopped".to_string()),
            ]
        );
        let sep = store.event_times(&kinds, at("2026-09-01T00:00:00Z"), at("2026-10-01T00:00:00Z")).unwrap();
        assert!(sep.is_empty());
    }
}
