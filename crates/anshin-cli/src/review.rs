//! `anshin review`: the filtered incident log of a live store or an exported file, with each
//! incident's story — as text, JSON lines or CSV. Thin: builds the filter, calls the store.
//! Text lines escape what operators and servers wrote (notes, pause reasons, banners): an
//! exported file from elsewhere is untrusted input to a terminal.

use std::path::PathBuf;
use std::process::ExitCode;

use anshin_engine::review_query::MAX_SEARCH;
use anshin_engine::store::review::{open_review, to_csv, ReviewFilter};
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub(crate) struct ReviewArgs {
    /// A live store or an exported file (opened read-only).
    #[arg(long)]
    pub db: PathBuf,
    /// The fleet file, needed with --customer.
    #[arg(long)]
    pub fleet: Option<PathBuf>,
    #[arg(long)]
    pub customer: Option<String>,
    #[arg(long)]
    pub server: Option<String>,
    #[arg(long)]
    pub level: Option<u8>,
    /// Check id: ping, ssh, http, load, custom:NAME …
    #[arg(long)]
    pub check: Option<String>,
    /// YYYY-MM-DD (Japan time).
    #[arg(long)]
    pub from: Option<String>,
    /// YYYY-MM-DD (Japan time), inclusive.
    #[arg(long)]
    pub to: Option<String>,
    /// Incidents an operator acted on.
    #[arg(long)]
    pub operator: Option<String>,
    /// Text in the trigger name or any event detail.
    #[arg(long)]
    pub text: Option<String>,
    #[arg(long)]
    pub open: bool,
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
    /// One JSON object per line per incident, with its story.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV, one row per incident (the story in the last column).
    #[arg(long)]
    pub csv: bool,
}

pub(crate) fn run(a: ReviewArgs) -> Result<ExitCode> {
    let base =
        match crate::export::filter(a.from.as_deref(), a.to.as_deref(), a.customer.as_deref(), a.fleet.as_deref()) {
            Ok(f) => f,
            Err(e) => {
                crate::output::note(&format!("anshin: {e}"));
                return Ok(ExitCode::from(2));
            }
        };
    for (flag, value) in [("--text", &a.text), ("--operator", &a.operator)] {
        let n = value.as_deref().map_or(0, |v| v.chars().count());
        if n > MAX_SEARCH {
            crate::output::note(&format!("anshin: {flag} is {n} characters long: search with at most {MAX_SEARCH}"));
            return Ok(ExitCode::from(2));
        }
    }
    let store = match open_review(&a.db) {
        Ok(s) => s,
        Err(e) => {
            crate::output::note(&format!("anshin: {e}"));
            return Ok(ExitCode::from(2));
        }
    };
    let filter = ReviewFilter {
        hosts: base.hosts,
        server: a.server,
        level: a.level,
        check: a.check,
        from: base.from,
        to: base.to,
        operator: a.operator,
        text: a.text,
        open_only: a.open,
        limit: a.limit,
        before: None,
    };
    let rows = store.review(&filter)?;
    if a.csv {
        // CSV quotes every field; it is written as it is (see output).
        crate::output::raw(&to_csv(&rows))?;
    } else if a.json {
        for r in &rows {
            crate::output::json(r)?;
        }
    } else {
        for r in &rows {
            let dur = r.duration_secs.map(anshin_report::compute::duration_ja).unwrap_or_else(|| "継続中".into());
            crate::output::text(&format!(
                "#{} Lv.{} {} {} {} — {} ({})",
                r.id,
                r.level,
                r.host,
                r.check,
                r.trigger,
                jst(&r.opened_at),
                dur
            ))?;
            for s in &r.story {
                crate::output::text(&format!("    {} {} {}", jst(&s.at), s.label, s.detail))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn jst(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| anshin_report::month::jst(t.with_timezone(&chrono::Utc)))
        .unwrap_or_else(|_| s.to_string())
}
