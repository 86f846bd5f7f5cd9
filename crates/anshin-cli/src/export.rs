//! `anshin export`: a part of the log into a self-contained file for review. Thin: resolves the
//! customer's servers from the fleet file and the dates (Japan time), then calls the store.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anshin_engine::store::export::{export, ExportError, ExportFilter};
use anyhow::Result;

/// Dates (`YYYY-MM-DD`, Japan time; `to` inclusive) and a customer (needs the fleet file for
/// its servers) into an export filter; `Err(message)` for bad input.
pub(crate) fn filter(
    from: Option<&str>,
    to: Option<&str>,
    customer: Option<&str>,
    fleet: Option<&Path>,
) -> Result<ExportFilter, String> {
    let date = |s: &str, what: &str| {
        anshin_report::month::parse_date(s).ok_or(format!("--{what} {s:?}: write a date as YYYY-MM-DD (Japan time)"))
    };
    let mut f = ExportFilter {
        from: from.map(|s| date(s, "from")).transpose()?,
        to: to.map(|s| date(s, "to").map(|t| t + chrono::Duration::days(1))).transpose()?,
        ..Default::default()
    };
    if let Some(c) = customer {
        let Some(path) = fleet else {
            return Err("--customer needs --fleet FLEET (the fleet file says which servers are the customer's)".into());
        };
        let parsed = anshin_engine::fleet_file::load_or_report(path).ok_or("the fleet file is not usable")?;
        if parsed.fleet.customer(c).is_none() {
            return Err(format!("no customer {c:?} in {}", path.display()));
        }
        let mut hosts: Vec<String> =
            parsed.fleet.servers.iter().filter(|s| s.customer == c).map(|s| s.label.clone()).collect();
        hosts.extend(parsed.fleet.servers.iter().filter(|s| s.customer == c).filter_map(|s| s.gateway.clone()));
        f.hosts = Some(hosts);
        f.customer = Some(c.to_string());
    }
    Ok(f)
}

pub(crate) fn run(
    db: &Path,
    out: &Path,
    from: Option<String>,
    to: Option<String>,
    customer: Option<String>,
    fleet: Option<PathBuf>,
    force: bool,
) -> Result<ExitCode> {
    let f = match filter(from.as_deref(), to.as_deref(), customer.as_deref(), fleet.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            crate::output::note(&format!("anshin: {e}"));
            return Ok(ExitCode::from(2));
        }
    };
    match export(db, out, &f, force) {
        Ok(s) => {
            crate::output::text(&format!(
                "{}: {} incidents, {} events, {} samples, {} mails, {} maintenance windows, {} reports",
                out.display(),
                s.incidents,
                s.events,
                s.samples,
                s.mails,
                s.maintenance,
                s.reports
            ))?;
            if let Some(e) = &s.source_chain_error {
                crate::output::note(&format!(
                    "anshin: warning: the audit log of {} does not verify ({e}); the export says so",
                    db.display()
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (ExportError::Exists(_) | ExportError::SameFile(_) | ExportError::InUse(_)))
        | Err(e @ ExportError::Store(anshin_engine::store::StoreError::NotALog { .. }))
        | Err(e @ ExportError::Store(anshin_engine::store::StoreError::NewerSchema { .. })) => {
            crate::output::note(&format!("anshin: {e}"));
            Ok(ExitCode::from(2))
        }
        Err(e) => {
            crate::output::note(&format!("anshin: export of {} failed: {e}", db.display()));
            Ok(ExitCode::from(1))
        }
    }
}
