//! The outbox runner: delivers pending outbox rows, oldest first, one at a time, on its own
//! store connection (SQLite WAL lets it write beside the engine's decider).
//!
//! Owns: the delivery loop, the retry backoff, and the rule that a row is marked sent only after
//! the server accepted it. Must not know: what the mails say or why they exist.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::{build_message, MailError, SmtpSettings};
use crate::engine::Clock;
use crate::store::{Store, StoreError};

/// When to try again, and how the runner paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failure; doubled after each further one.
    pub first: Duration,
    /// The longest wait between two attempts of one mail. With 5 s doubling to 5 min, a server
    /// down for an hour is tried ~17 times, and a mail leaves at most 5 min after it returns.
    pub max: Duration,
    /// Mails read from the store per pass.
    pub batch: usize,
    /// Look at the store at least this often even when nobody wakes the runner (mails queued by
    /// another process, e.g. `anshin mail-test` through the outbox).
    pub idle_check: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            first: Duration::from_secs(5),
            max: Duration::from_secs(300),
            batch: 16,
            idle_check: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `failures`-th failed attempt (1-based): first × 2^(failures−1), capped.
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(20);
        self.first.saturating_mul(factor).min(self.max)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox store: {0}")]
    Store(#[from] StoreError),
    #[error("outbox: {0}")]
    Mail(#[from] MailError),
    #[error("the outbox store thread stopped unexpectedly")]
    Panicked,
}

/// Runs one store call on a blocking thread (SQLite may wait on the decider's lock).
async fn db<T, F>(store: &Arc<Mutex<Store>>, f: F) -> Result<T, OutboxError>
where
    T: Send + 'static,
    F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut s = store.lock().map_err(|_| OutboxError::Panicked)?;
        Ok(f(&mut s)?)
    })
    .await
    .map_err(|_| OutboxError::Panicked)?
}

/// Delivers the outbox of the store at `db_path` until `shutdown` turns true (or its sender is
/// dropped). `wake` is notified by whoever commits a new mail, so it leaves at once; otherwise the
/// runner sleeps until the next retry is due (at most `policy.idle_check`).
///
/// Without SMTP settings it sends nothing: mails stay pending in the outbox for viewing, and go
/// out once a runner with settings runs on the same store.
///
/// A mail in flight when shutdown comes is finished first (bounded by the SMTP timeouts), so a
/// stop does not cause a resend. A kill can (see the module docs of `mail`: at least once).
pub async fn run_outbox(
    db_path: PathBuf,
    smtp: Option<SmtpSettings>,
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    mut shutdown: watch::Receiver<bool>,
    wake: Arc<Notify>,
) -> Result<(), OutboxError> {
    let Some(smtp) = smtp else {
        tracing::info!(db = %db_path.display(), "no [smtp] section: mails stay in the outbox, nothing is sent");
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
        return Ok(());
    };
    let transport = smtp.transport()?;
    // Its own connection; a store locked at this moment delays the runner, never ends it.
    let mut opened = 0u32;
    let store = loop {
        let path = db_path.clone();
        match tokio::task::spawn_blocking(move || Store::open(&path)).await.map_err(|_| OutboxError::Panicked)? {
            Ok(s) => break s,
            Err(e) => {
                opened += 1;
                let wait = policy.delay(opened).min(Duration::from_secs(30));
                tracing::warn!(error = %e, retry_in = ?wait, "the outbox cannot open the store; it tries again");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return Ok(()) },
                }
            }
        }
    };
    let store = Arc::new(Mutex::new(store));
    tracing::info!(db = %db_path.display(), host = %smtp.host, port = smtp.port, "outbox runner started");
    let batch = policy.batch.max(1);

    // Mails the SMTP server accepted whose "sent" the store has not recorded yet (it was locked
    // or failing): never sent again meanwhile, marked as soon as the store takes it.
    let mut unmarked: Vec<(i64, chrono::DateTime<chrono::Utc>)> = Vec::new();
    let mut store_failures: u32 = 0;
    while !*shutdown.borrow() {
        let pass = deliver_pass(&store, &transport, &policy, &clock, &shutdown, batch, &mut unmarked).await;
        let wait = match pass {
            Ok(Pass::Again) => {
                store_failures = 0;
                continue;
            }
            Ok(Pass::Wait(wait)) => {
                store_failures = 0;
                wait
            }
            // A locked or failing store never stops the runner: mails wait in it, and a mail
            // already handed over is remembered until its "sent" is recorded.
            Err(OutboxError::Store(e)) => {
                store_failures += 1;
                let wait = policy.delay(store_failures).min(Duration::from_secs(30));
                tracing::warn!(error = %e, retry_in = ?wait, "the outbox cannot use the store; it tries again");
                wait
            }
            Err(e) => return Err(e),
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
            r = shutdown.changed() => if r.is_err() { break },
        }
    }
    if !unmarked.is_empty() {
        let ids: Vec<i64> = unmarked.iter().map(|(id, _)| *id).collect();
        tracing::error!(?ids, "stopping with mails accepted by the SMTP server but not recorded as sent: they may go again (same Message-ID)");
    }
    tracing::info!(db = %db_path.display(), "outbox runner stopped");
    Ok(())
}

/// What the runner does after one pass.
enum Pass {
    /// A full batch went: look again at once.
    Again,
    /// Sleep this long (or until woken).
    Wait(Duration),
}

/// One pass over the due mails, oldest first; store errors end the pass (the caller waits).
async fn deliver_pass(
    store: &Arc<Mutex<Store>>,
    transport: &super::smtp::SmtpTransport,
    policy: &RetryPolicy,
    clock: &Arc<dyn Clock>,
    shutdown: &watch::Receiver<bool>,
    batch: usize,
    unmarked: &mut Vec<(i64, chrono::DateTime<chrono::Utc>)>,
) -> Result<Pass, OutboxError> {
    while let Some(&(id, at)) = unmarked.first() {
        db(store, move |s| s.mark_sent(id, at)).await?;
        unmarked.remove(0);
    }
    let now = clock.now();
    let due = db(store, move |s| s.due_mails(now, batch)).await?;
    let full = due.len() == batch;
    // After the server proved unreachable (or unfit for the password), the rest of this
    // pass waits too instead of each paying for its own refused connection or timeout.
    let mut unreachable: Option<MailError> = None;
    for mail in due {
        if *shutdown.borrow() {
            break;
        }
        let result = match build_message(&mail) {
            Err(e) => Err(e),
            Ok(_) if unreachable.is_some() => Err(match &unreachable {
                Some(MailError::Unreachable(why)) => MailError::Unreachable(format!("not tried: {why}")),
                Some(other) => other.clone(),
                None => MailError::Unreachable("not tried".into()),
            }),
            Ok(message) => transport.send(message).await,
        };
        let (id, attempt) = (mail.id, mail.attempts + 1);
        let at = clock.now();
        match result {
            Ok(()) => {
                tracing::info!(id, message_id = %mail.message_id, attempt, "mail accepted by the SMTP server");
                if let Err(e) = db(store, move |s| s.mark_sent(id, at)).await {
                    unmarked.push((id, at));
                    return Err(e);
                }
            }
            Err(e) if e.is_permanent() => {
                tracing::warn!(id, message_id = %mail.message_id, error = %e, "mail failed permanently");
                let error = e.to_string();
                db(store, move |s| s.mark_failed(id, &error, at)).await?;
            }
            Err(e) => {
                let next = at + chrono::Duration::from_std(policy.delay(attempt)).unwrap_or(chrono::Duration::MAX);
                tracing::warn!(id, message_id = %mail.message_id, attempt, error = %e, next = %next, "mail not sent, will retry");
                if matches!(e, MailError::Unreachable(_) | MailError::NoStartTls { .. }) {
                    unreachable.get_or_insert_with(|| e.clone());
                }
                let error = e.to_string();
                db(store, move |s| s.mark_retry(id, &error, next)).await?;
            }
        }
    }
    if full && unreachable.is_none() {
        return Ok(Pass::Again);
    }
    let next = db(store, |s| s.next_mail_due()).await?;
    Ok(Pass::Wait(match next {
        Some(t) => (t - clock.now()).to_std().unwrap_or(Duration::ZERO).min(policy.idle_check),
        None => policy.idle_check,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap() {
        let p = RetryPolicy::default();
        let secs: Vec<u64> = (1..=9).map(|n| p.delay(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(p.delay(u32::MAX).as_secs(), 300);
        // An hour-long outage: enough attempts that the mail leaves within max after it ends.
        let (mut t, mut n) = (0u64, 0u32);
        while t < 3600 {
            n += 1;
            t += p.delay(n).as_secs();
        }
        assert!(n >= 12, "{n} attempts in an hour");
    }
}
