//! The outbox backlog as the consoles' health line shows it.
//!
//! Owns: one counting query. Must not know: how mails are sent or retried.

use super::{Store, StoreError};

impl Store {
    /// Mails queued and not yet delivered (pending or held).
    pub fn pending_mail_count(&self) -> Result<u64, StoreError> {
        let n: i64 =
            self.conn.query_row("SELECT count(*) FROM outbox WHERE state IN ('pending', 'held')", [], |r| r.get(0))?;
        Ok(n as u64)
    }
}
