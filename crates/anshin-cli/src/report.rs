//! `anshin report`: draws one customer's monthly report into a directory (HTML, text, chart
//! PNGs, PDF) and with `--send` queues it in the outbox and delivers it at once through
//! `[smtp]` (an engine's outbox runner would also deliver it; the stored Message-ID makes a
//! second delivery recognizable). Thin: the report crate does the work.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anshin_engine::Store;
use anshin_report::{JapaneseFont, Month};
use anyhow::{Context, Result};
use chrono::Utc;

pub(crate) async fn run(
    fleet: anshin_core::Fleet,
    db: &Path,
    customer: &str,
    month: &str,
    out: Option<PathBuf>,
    send: bool,
) -> Result<ExitCode> {
    let bad = |e: &dyn std::fmt::Display| {
        crate::output::note(&format!("anshin: {e}"));
        Ok(ExitCode::from(2))
    };
    let month = match Month::parse(month) {
        Ok(m) => m,
        Err(e) => return bad(&e),
    };
    let c = match anshin_report::compute::customer(&fleet, customer) {
        Ok(c) => c.clone(),
        Err(e) => return bad(&e),
    };
    let plan = c.plan_at(month.last_moment());
    if !plan.monthly_report() {
        return bad(&anshin_report::ReportError::NotEntitled { id: c.id.clone(), plan: plan.to_string() });
    }
    let font = match JapaneseFont::find() {
        Ok(f) => f,
        Err(e) => {
            crate::output::note(&format!("anshin: {e}"));
            return Ok(ExitCode::from(1));
        }
    };
    let now = Utc::now();
    let store = if send { Store::open(db) } else { Store::open_read_only(db) };
    let mut store = match store {
        Ok(s) => s,
        Err(e) => return bad(&e),
    };
    let (report, rendered) = anshin_report::build(&store, &fleet, customer, month, now, &font)?;
    let dir = out.unwrap_or_else(|| PathBuf::from("."));
    for p in anshin_report::write_files(&dir, &report, &rendered)? {
        crate::output::text(&format!("wrote {}", p.display()))?;
    }
    if !send {
        return Ok(ExitCode::SUCCESS);
    }
    let month_text = month.to_string();
    store.create_report_draft(customer, &month_text, now)?;
    let rec = store
        .reports(Some(&month_text))?
        .into_iter()
        .find(|r| r.customer == customer)
        .context("the report draft vanished")?;
    let outbox = match anshin_report::send_report(&mut store, &fleet, rec.id, "cli", now, &font, None) {
        Ok(id) => id,
        Err(e) => return bad(&e),
    };
    let row = store.mail(outbox)?.context("the queued mail vanished")?;
    crate::output::text(&format!("queued {} to {}", row.message_id, row.to.join(", ")))?;
    let Some(smtp) = &fleet.smtp else {
        crate::output::text("no [smtp] section: the mail waits in the outbox until an engine with [smtp] runs")?;
        return Ok(ExitCode::SUCCESS);
    };
    let secrets = anshin_engine::secrets::Secrets::for_fleet(&fleet);
    let settings = anshin_engine::mail::SmtpSettings::for_fleet(&fleet, &secrets)?.context("no [smtp] section")?;
    let message = anshin_engine::mail::build_message(&row)?;
    match settings.transport()?.send(message).await {
        Ok(()) => {
            store.mark_sent(outbox, Utc::now())?;
            crate::output::text(&format!("sent {} through {}", row.message_id, smtp.url))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.is_permanent() => {
            store.mark_failed(outbox, &e.to_string(), Utc::now())?;
            crate::output::note(&format!("anshin: the SMTP server refused the report: {e}"));
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            let next = Utc::now() + chrono::Duration::seconds(5);
            store.mark_retry(outbox, &e.to_string(), next)?;
            crate::output::note(&format!(
                "anshin: not sent yet ({e}); it stays in the outbox and an engine's outbox runner will retry"
            ));
            Ok(ExitCode::from(1))
        }
    }
}
