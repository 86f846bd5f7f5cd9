//! When monthly reports are prepared and sent (Japan time):
//! - from the 1st, 00:00, a draft of the previous month exists for every customer whose plan
//!   includes the report ([`prepare_drafts`], idempotent) — unless the month ended before
//!   monitoring began (the first `engine_started`): a month nobody watched has nothing to report.
//!   A month monitoring covered only part of (an engine or customer added mid-month) is drafted;
//! - operators send drafts one by one or all at once, or hold one back;
//! - a report not sent by the end of the 9th is *overdue* ([`is_overdue`]);
//! - on the 10th at 09:00 every draft still not sent and not held is sent automatically
//!   (`who` = `auto`). Drafts prepared after that moment (an engine first started mid-month)
//!   are not sent automatically: an operator decides, so a customer never gets a surprise report
//!   late in the month.
//!
//! Each sending queues the mail in the outbox in the transaction that marks the report sent
//! (and logs `report_sent`), and writes the PDF into the archive directory when one is given.
//!
//! Owns: the calendar rules as pure functions, and [`run_schedule`], the loop that applies them
//! with the engine's [`Clock`]. Must not know: SMTP (the outbox runner delivers; `wake` tells it),
//! SQL, HTTP routes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anshin_core::Fleet;
use anshin_engine::store::reports::{ReportRecord, ReportState};
use anshin_engine::{Clock, SharedFleet, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{watch, Notify};

use crate::font::JapaneseFont;
use crate::month::Month;
use crate::{build, mail, ReportError};

/// The day and hour (JST) of the next month at which drafts go out automatically (the
/// contract's, from `anshin_core::calendar`: the catalogue consoles get says the same).
pub use anshin_core::calendar::{REPORT_SEND_DAY as AUTO_SEND_DAY, REPORT_SEND_HOUR as AUTO_SEND_HOUR};

/// A report row as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS, utoipa::ToSchema)]
pub struct ReportDraft {
    #[serde(flatten)]
    pub record: ReportRecord,
    pub customer_name: Option<String>,
    /// Not sent and past the 9th of the following month.
    pub overdue: bool,
}

/// True when a report of `month` in `state` is overdue at `now`: not sent by the end of the
/// 9th of the following month (Japan time).
pub fn is_overdue(month: Month, state: ReportState, now: DateTime<Utc>) -> bool {
    state != ReportState::Sent && now >= month.next().day_start(AUTO_SEND_DAY)
}

/// When the drafts of `month` go out automatically.
pub fn auto_send_at(month: Month) -> DateTime<Utc> {
    month.next().at(AUTO_SEND_DAY, AUTO_SEND_HOUR)
}

/// True when monitoring (the first `engine_started` in the store) began before `month` ended.
pub fn month_was_watched(store: &Store, month: Month) -> Result<bool, ReportError> {
    Ok(store.first_event_at(crate::compute::ENGINE_STARTED)?.is_some_and(|t| t < month.end()))
}

/// Prepares a draft of `month` for every entitled customer; returns the ids of new drafts. A month
/// that ended before monitoring began gets none.
pub fn prepare_drafts(
    store: &mut Store,
    fleet: &Fleet,
    month: Month,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, ReportError> {
    let mut ids = Vec::new();
    if !month_was_watched(store, month)? {
        return Ok(ids);
    }
    for c in fleet.customers.iter().filter(|c| c.plan_at(month.last_moment()).monthly_report()) {
        if let Some(id) = store.create_report_draft(&c.id, &month.to_string(), now)? {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The reports of one month (or all), with their customer's name and whether they are overdue.
pub fn list_reports(
    store: &Store,
    fleet: &Fleet,
    month: Option<Month>,
    now: DateTime<Utc>,
) -> Result<Vec<ReportDraft>, ReportError> {
    let rows = store.reports(month.map(|m| m.to_string()).as_deref())?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let overdue = Month::parse(&r.month).map(|m| is_overdue(m, r.state, now)).unwrap_or(false);
            ReportDraft { customer_name: fleet.customer(&r.customer).map(|c| c.name.clone()), overdue, record: r }
        })
        .collect())
}

/// Draws report `id` and queues its mail (marking it sent, by `who`); writes its PDF into
/// `archive` when given. Returns the outbox row id. A held report can be sent by an operator.
pub fn send_report(
    store: &mut Store,
    fleet: &Fleet,
    id: i64,
    who: &str,
    now: DateTime<Utc>,
    font: &JapaneseFont,
    archive: Option<&Path>,
) -> Result<i64, ReportError> {
    send_report_from(store, fleet, id, who, now, font, archive, &[ReportState::Draft, ReportState::Held])
}

/// Sends only a report still in one of `from` when its mail is queued (drawing it takes a while:
/// an operator may hold it meanwhile, and then it stays held).
#[allow(clippy::too_many_arguments)]
fn send_report_from(
    store: &mut Store,
    fleet: &Fleet,
    id: i64,
    who: &str,
    now: DateTime<Utc>,
    font: &JapaneseFont,
    archive: Option<&Path>,
    from: &[ReportState],
) -> Result<i64, ReportError> {
    let rec = store.report(id)?.ok_or(anshin_engine::store::reports::ReportStoreError::NotFound(id))?;
    let month = Month::parse(&rec.month).map_err(|e| ReportError::Input(e.to_string()))?;
    let customer = crate::compute::customer(fleet, &rec.customer)?;
    let plan = customer.plan_at(month.last_moment());
    if !plan.monthly_report() {
        return Err(ReportError::NotEntitled { id: customer.id.clone(), plan: plan.to_string() });
    }
    let (report, rendered) = build(store, fleet, &rec.customer, month, now, font)?;
    if let Some(dir) = archive {
        std::fs::create_dir_all(dir).map_err(|e| ReportError::Write { path: dir.display().to_string(), source: e })?;
        let p = dir.join(format!("{}-{}.pdf", report.customer_id, report.month));
        std::fs::write(&p, &rendered.pdf)
            .map_err(|e| ReportError::Write { path: p.display().to_string(), source: e })?;
    }
    let (m, html) = mail::report_mail(fleet, customer, &rendered);
    Ok(store.send_report_from(id, &m, &html, who, now, from)?)
}

/// (report id, outbox id or the error) of one sending in [`send_all`].
pub type SendResult = (i64, Result<i64, String>);

/// Sends every draft of `month` (held ones stay); returns (report id, outbox id or error) each.
pub fn send_all(
    store: &mut Store,
    fleet: &Fleet,
    month: Month,
    who: &str,
    now: DateTime<Utc>,
    font: &JapaneseFont,
    archive: Option<&Path>,
) -> Result<Vec<SendResult>, ReportError> {
    let drafts: Vec<i64> = store
        .reports(Some(&month.to_string()))?
        .into_iter()
        .filter(|r| r.state == ReportState::Draft)
        .map(|r| r.id)
        .collect();
    Ok(drafts
        .into_iter()
        .map(|id| {
            let sent = send_report_from(store, fleet, id, who, now, font, archive, &[ReportState::Draft]);
            (id, sent.map_err(|e| e.to_string()))
        })
        .collect())
}

/// Keeps a draft back from automatic sending.
pub fn hold_report(store: &mut Store, id: i64, who: &str, now: DateTime<Utc>) -> Result<(), ReportError> {
    Ok(store.hold_report(id, who, now)?)
}

/// Releases a held report back to draft.
pub fn release_report(store: &mut Store, id: i64, who: &str, now: DateTime<Utc>) -> Result<(), ReportError> {
    Ok(store.release_report(id, who, now)?)
}

/// What one [`tick`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickOutcome {
    pub drafted: Vec<i64>,
    /// (report id, outbox id) of reports sent automatically.
    pub sent: Vec<(i64, i64)>,
    /// (report id, error) of automatic sendings that failed (tried again next tick).
    pub failed: Vec<(i64, String)>,
}

/// Applies the calendar at `now`: drafts for the previous month, and after the 10th 09:00 the
/// automatic sending of drafts prepared before it. `font` is asked for only when sending.
pub fn tick(
    store: &mut Store,
    fleet: &Fleet,
    now: DateTime<Utc>,
    font: &dyn Fn() -> Result<JapaneseFont, ReportError>,
    archive: Option<&Path>,
) -> Result<TickOutcome, ReportError> {
    let month = Month::containing(now).prev();
    let mut out = TickOutcome { drafted: prepare_drafts(store, fleet, month, now)?, ..Default::default() };
    let due = auto_send_at(month);
    if now < due {
        return Ok(out);
    }
    let pending: Vec<ReportRecord> = store
        .reports(Some(&month.to_string()))?
        .into_iter()
        .filter(|r| r.state == ReportState::Draft)
        .filter(|r| DateTime::parse_from_rfc3339(&r.created_at).is_ok_and(|t| t < due))
        .collect();
    if pending.is_empty() {
        return Ok(out);
    }
    let font = font()?;
    for r in pending {
        match send_report_from(store, fleet, r.id, "auto", now, &font, archive, &[ReportState::Draft]) {
            Ok(outbox) => out.sent.push((r.id, outbox)),
            Err(e) => out.failed.push((r.id, e.to_string())),
        }
    }
    Ok(out)
}

/// The next moment the calendar asks for something after `now`: the next 1st 00:00 or 10th
/// 09:00 (JST).
pub fn next_due(now: DateTime<Utc>) -> DateTime<Utc> {
    let this = Month::containing(now);
    [this.start(), auto_send_at(this.prev()), this.next().start(), auto_send_at(this)]
        .into_iter()
        .filter(|t| *t > now)
        .min()
        .unwrap_or_else(|| this.next().start())
}

/// Runs the schedule on the store at `db` until `shutdown` turns true: a [`tick`] at start and
/// whenever the calendar is due (looked at least every `check_every`, so a clock that jumps — a
/// fake one in tests, or a suspended laptop — is noticed). Sent reports wake the outbox runner
/// through `wake`. Errors of one tick are logged and tried again; only a store that cannot be
/// opened ends it.
pub async fn run_schedule(
    db: PathBuf,
    fleet: impl Into<SharedFleet>,
    clock: Arc<dyn Clock>,
    archive: Option<PathBuf>,
    wake: Arc<Notify>,
    check_every: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ReportError> {
    let path = db.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&path)).await.map_err(|_| ReportError::Panicked)??;
    let store = Arc::new(Mutex::new(store));
    let font: Arc<Mutex<Option<JapaneseFont>>> = Arc::new(Mutex::new(None));
    let fleet: SharedFleet = fleet.into();
    while !*shutdown.borrow() {
        let now = clock.now();
        // The fleet in force at this tick (a live reload changes it).
        let (store2, fleet2, archive2, font2) = (store.clone(), fleet.get(), archive.clone(), font.clone());
        let result = tokio::task::spawn_blocking(move || {
            let mut s = store2.lock().map_err(|_| ReportError::Panicked)?;
            let get_font = || -> Result<JapaneseFont, ReportError> {
                let mut f = font2.lock().map_err(|_| ReportError::Panicked)?;
                if f.is_none() {
                    *f = Some(JapaneseFont::find()?);
                }
                f.clone().ok_or(ReportError::Panicked)
            };
            tick(&mut s, &fleet2, now, &get_font, archive2.as_deref())
        })
        .await
        .map_err(|_| ReportError::Panicked)?;
        match result {
            Ok(o) => {
                if !o.drafted.is_empty() {
                    tracing::info!(count = o.drafted.len(), "monthly report drafts prepared");
                }
                if !o.sent.is_empty() {
                    tracing::info!(count = o.sent.len(), "monthly reports sent automatically");
                    wake.notify_one();
                }
                for (id, e) in &o.failed {
                    tracing::warn!(report = id, error = %e, "monthly report not sent, will retry");
                }
            }
            Err(e) => tracing::warn!(error = %e, db = %db.display(), "monthly report schedule"),
        }
        let wait = (next_due(clock.now()) - clock.now()).to_std().unwrap_or(Duration::ZERO).min(check_every);
        tokio::select! {
            _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
            r = shutdown.changed() => if r.is_err() { break },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn calendar_rules() {
        let oct = Month::parse("2026-10").unwrap();
        assert_eq!(auto_send_at(oct), utc("2026-11-10T00:00:00Z"));
        assert!(!is_overdue(oct, ReportState::Draft, utc("2026-11-09T14:59:59Z")));
        assert!(is_overdue(oct, ReportState::Draft, utc("2026-11-09T15:00:00Z")));
        assert!(is_overdue(oct, ReportState::Held, utc("2026-12-01T00:00:00Z")));
        assert!(!is_overdue(oct, ReportState::Sent, utc("2026-12-01T00:00:00Z")));
        assert_eq!(next_due(utc("2026-11-05T00:00:00Z")), utc("2026-11-10T00:00:00Z"));
        assert_eq!(next_due(utc("2026-11-10T00:00:00Z")), utc("2026-11-30T15:00:00Z"));
        assert_eq!(next_due(utc("2026-10-31T14:00:00Z")), utc("2026-10-31T15:00:00Z"));
    }
}
