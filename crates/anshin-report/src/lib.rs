//! The monthly report (contract §5): for each customer whose plan includes it, the previous month's
//! availability per server and check (maintenance shown and excluded), incidents with how they
//! were recovered, resource trends as charts — mailed as HTML with inline charts through the
//! store's outbox, and kept as a PDF for the archive; plus the monthly schedule of drafts.
//!
//! Owns: the report's rules (`compute`, over `availability` and `month`), its wording and
//! layout (`render`, `chart`, `pdf`, with the Japanese font from `font`), the mail it becomes
//! (`mail`), when drafts are made and sent (`schedule`), and what consoles do with them (`desk`).
//! Must not know: SQL (it reads and writes through `anshin_engine::Store`), SMTP (the outbox
//! delivers), tokens (the console API checks them before `desk`'s routes run), or Tauri.

pub mod availability;
pub mod blocks;
pub mod chart;
pub mod compute;
pub mod desk;
pub mod font;
pub mod mail;
pub mod month;
pub mod pdf;
pub mod render;
pub mod schedule;

pub use compute::{compute, load, MonthlyReport, ReportInput};
pub use font::JapaneseFont;
pub use month::Month;
pub use render::{render, Rendered};
pub use schedule::{
    hold_report, is_overdue, list_reports, prepare_drafts, release_report, run_schedule, send_all, send_report, tick,
    ReportDraft, TickOutcome,
};

use anshin_engine::store::reports::ReportStoreError;
use anshin_engine::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no customer {id:?} in the fleet file (customers: {known})")]
    UnknownCustomer { id: String, known: String },
    #[error("customer {id}'s plan {plan} does not include the monthly report (plans 60, 150 and 200 do)")]
    NotEntitled { id: String, plan: String },
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Font(#[from] font::FontError),
    #[error(transparent)]
    Chart(#[from] chart::ChartError),
    #[error("PDF: {0}")]
    Pdf(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("report: {0}")]
    Report(#[from] ReportStoreError),
    #[error("{path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("the report task stopped unexpectedly")]
    Panicked,
}

/// Builds and draws one customer's report for a month from a store.
pub fn build(
    store: &anshin_engine::Store,
    fleet: &anshin_core::Fleet,
    customer: &str,
    month: Month,
    now: chrono::DateTime<chrono::Utc>,
    font: &JapaneseFont,
) -> Result<(MonthlyReport, Rendered), ReportError> {
    let input = load(store, fleet, customer, month, now)?;
    let report = compute(&input);
    let rendered = render(&report, &fleet.noc.brand, font)?;
    Ok((report, rendered))
}

/// Writes `report.html`, `report.txt`, the chart PNGs and `{customer}-{month}.pdf` into `dir`
/// (created if missing); returns the paths written.
pub fn write_files(
    dir: &std::path::Path,
    report: &MonthlyReport,
    r: &Rendered,
) -> Result<Vec<std::path::PathBuf>, ReportError> {
    let io = |p: &std::path::Path, e| ReportError::Write { path: p.display().to_string(), source: e };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut written = Vec::new();
    // The HTML file refers to the charts by file name (the mail uses cid: instead).
    let mut html = r.html.clone();
    for c in &r.charts {
        html = html.replace(&format!("cid:{}", c.cid), &c.filename);
    }
    let base = format!("{}-{}", report.customer_id, report.month);
    let files: Vec<(String, Vec<u8>)> = [
        (format!("{base}.html"), html.into_bytes()),
        (format!("{base}.txt"), r.text.clone().into_bytes()),
        (format!("{base}.pdf"), r.pdf.clone()),
    ]
    .into_iter()
    .chain(r.charts.iter().map(|c| (c.filename.clone(), c.png.clone())))
    .collect();
    for (name, bytes) in files {
        let p = dir.join(name);
        std::fs::write(&p, bytes).map_err(|e| io(&p, e))?;
        written.push(p);
    }
    Ok(written)
}
