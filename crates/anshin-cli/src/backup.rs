//! `anshin backup`, `anshin backups`, `anshin restore` (contract §7): one backup of one server
//! now, the runs and generations in the store, a restore of a generation. Without an engine
//! they run themselves and record the same entries (runs through a running engine, and the
//! engine's own schedule, are not built yet).
//! Must not know: the archive format or the commands (that is `anshin_engine::backup_run`).

use std::path::Path;
use std::process::ExitCode;

use anshin_core::backup::RestoreTarget;
use anshin_engine::backup_run::{self, BackupTarget};
use anshin_engine::Store;
use anyhow::Result;
use chrono::Utc;

use crate::output;

/// `anshin backup FLEET --db DB --host LABEL [--full]`: exit 0 with a summary when the run
/// left a generation, 1 when it failed (the reason), 2 when it could not start.
pub async fn backup(fleet: anshin_core::Fleet, db: &Path, host: &str, full: bool) -> Result<ExitCode> {
    let t = match BackupTarget::of(&fleet, host) {
        Ok(t) => t,
        Err(e) => {
            output::note(&format!("anshin: {e}"));
            return Ok(ExitCode::from(2));
        }
    };
    let pool = backup_run::ssh_pool();
    if let Err(e) = backup_run::check_eligible(&fleet, &t, &pool, Utc::now()).await {
        output::note(&format!("anshin: {e}"));
        return Ok(ExitCode::from(2));
    }
    let by = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    match backup_run::run_backup(db, &t, &pool, full, &by, Utc::now, &mut |_| {}).await {
        Ok(run) if run.state == "ok" => {
            output::text(&format!(
                "{host}: generation {} ({}) ok — {} bytes in the store{}",
                run.id,
                run.kind.as_str(),
                run.bytes,
                if run.warnings > 0 { format!(", {} files unreadable", run.warnings) } else { String::new() }
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(run) => {
            output::note(&format!("anshin: {host}: run {} {}: {}", run.id, run.state, run.detail));
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            output::note(&format!("anshin: {e}"));
            Ok(ExitCode::from(1))
        }
    }
}

/// `anshin backups --db DB [--host LABEL] [--json]`: every run, newest first.
pub fn list(db: &Path, host: Option<&str>, json: bool) -> Result<ExitCode> {
    let store = match Store::open_read_only(db) {
        Ok(s) => s,
        Err(e) => {
            output::note(&format!("anshin: {e}"));
            return Ok(ExitCode::from(2));
        }
    };
    for r in store.backups(host, 10_000)? {
        if json {
            output::json(&serde_json::json!({
                "host": r.host, "generation": r.id, "kind": r.kind.as_str(), "base": r.base,
                "state": r.state, "started": r.started_at, "finished": r.finished_at,
                "bytes": r.bytes, "files": r.files, "warnings": r.warnings, "detail": r.detail,
            }))?;
        } else {
            output::text(&format!(
                "{:>5}  {:<10} {:<12} {:<11} {}  {:>12} bytes  {}",
                r.id,
                r.host,
                r.kind.as_str(),
                r.state,
                output::jst(&r.started_at),
                r.bytes,
                r.detail
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `anshin restore FLEET --db DB --host LABEL --generation ID [--path SUB] (--to DIR | --in-place)`.
#[allow(clippy::too_many_arguments)]
pub async fn restore(
    fleet: anshin_core::Fleet,
    db: &Path,
    host: &str,
    generation: i64,
    path: Option<&str>,
    to: Option<&str>,
    in_place: bool,
) -> Result<ExitCode> {
    let target = match (to, in_place) {
        (Some(dir), false) => match RestoreTarget::dir(dir) {
            Ok(t) => t,
            Err(e) => {
                output::note(&format!("anshin: --to {dir}: {e}"));
                return Ok(ExitCode::from(2));
            }
        },
        (None, true) => RestoreTarget::InPlace,
        _ => {
            output::note("anshin: say where: --to DIR (a new directory on the server) or --in-place");
            return Ok(ExitCode::from(2));
        }
    };
    let t = match BackupTarget::of(&fleet, host) {
        Ok(t) => t,
        Err(e) => {
            output::note(&format!("anshin: {e}"));
            return Ok(ExitCode::from(2));
        }
    };
    match backup_run::restore(db, &t, &backup_run::ssh_pool(), generation, path, &target).await {
        Ok(_) => {
            let place = match &target {
                RestoreTarget::Dir(d) => d.clone(),
                RestoreTarget::InPlace => "/ (in place)".into(),
            };
            output::text(&format!("{host}: generation {generation} restored into {place}"))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            output::note(&format!("anshin: {e}"));
            Ok(ExitCode::from(1))
        }
    }
}
