//! Acknowledgements: an operator takes an open incident (sticky until it closes). Stored as
//! `acknowledged` events of the append-only log (actor: the operator; detail: `by NAME` or
//! `by NAME: NOTE`, the form the review's operator filter reads), so they need no
//! table of their own and survive restarts with the incident.
//!
//! Owns: their SQL. Must not know: who may acknowledge (the API checks roles).

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use super::{StoreError, StoreTx};

/// What the log knows of one incident, for deciding on an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentState {
    pub host: String,
    pub check: String,
    pub level: u8,
    pub open: bool,
    /// Who took it, if someone did.
    pub acknowledged_by: Option<String>,
}

/// The detail text of an `acknowledged` event.
pub fn ack_detail(by: &str, note: &str) -> String {
    if note.trim().is_empty() {
        format!("by {by}")
    } else {
        format!("by {by}: {}", note.trim())
    }
}

/// Who took the incident, from an `acknowledged` event's detail.
pub fn ack_by(detail: &str) -> &str {
    let detail = detail.strip_prefix("by ").unwrap_or(detail);
    detail.split_once(": ").map(|(by, _)| by).unwrap_or(detail)
}

impl StoreTx<'_> {
    pub fn incident_state(&self, id: i64) -> Result<Option<IncidentState>, StoreError> {
        let row = self
            .tx
            .query_row("SELECT host, check_id, level, closed_at IS NULL FROM incidents WHERE id = ?1", [id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, u8>(2)?, r.get::<_, bool>(3)?))
            })
            .optional()?;
        let Some((host, check, level, open)) = row else { return Ok(None) };
        let detail: Option<String> = self
            .tx
            .query_row(
                "SELECT detail FROM events WHERE incident_id = ?1 AND kind = 'acknowledged' ORDER BY id DESC LIMIT 1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(Some(IncidentState { host, check, level, open, acknowledged_by: detail.map(|d| ack_by(&d).to_string()) }))
    }

    pub fn acknowledge(
        &self,
        id: i64,
        state: &IncidentState,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let detail = ack_detail(by, note);
        self.append_event_by("acknowledged", Some(id), Some(&state.host), Some(&state.check), &detail, by, at)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_detail_keeps_who_and_the_note_apart() {
        assert_eq!(ack_detail("yamada", ""), "by yamada");
        assert_eq!(ack_detail("yamada", " 再起動待ち "), "by yamada: 再起動待ち");
        assert_eq!(ack_by("by yamada: 再起動待ち: 顧客連絡済"), "yamada");
        assert_eq!(ack_by(&ack_detail("yamada", "")), "yamada");
    }
}
