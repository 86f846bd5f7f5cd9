//! `anshin backup`, `anshin backups`, `anshin restore` (contract §7): one backup of one server
//! now, the runs and generations in the store, a restore of a generation. With an engine running
//! on the same store they ask it (its control socket, `anshin_engine::control`: the consoles'
//! action path, who asked recorded) and wait for the end; without one they run themselves and
//! record the same entries.
//! Must not know: the archive format or the commands (that is `anshin_engine::backup_run`).

use std::path::Path;
use std::process::ExitCode;

use anshin_core::backup::RestoreTarget;
use anshin_engine::action::ActionRequest;
use anshin_engine::backup_run::{self, BackupTarget};
use anshin_engine::control::{self, Answer, AskError};
use anshin_engine::Store;
use anyhow::Result;
use chrono::Utc;

use crate::output;

/// Who asks, as the log records it.
fn asker() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
}

/// What the engine answered when it did not take the request: printed, exit 2.
fn refused(answer: Answer) -> Result<ExitCode> {
    if let Answer::Error { code, message } = answer {
        output::note(&format!("anshin: the engine refused it ({code}): {message}"));
    }
    Ok(ExitCode::from(2))
}

/// How often the store is read while waiting for the engine's job to end.
const WAIT_STEP: std::time::Duration = std::time::Duration::from_secs(1);

/// While waiting: the engine that took the job is still there (its socket), or exit 2.
fn engine_gone(db: &Path) -> Option<ExitCode> {
    if control::socket_path(db).exists() {
        return None;
    }
    output::note("anshin: the engine stopped before the job ended: see `anshin backups` and the audit log");
    Some(ExitCode::from(2))
}

/// `anshin backup FLEET --db DB --host LABEL [--full]`: exit 0 with a summary when the run
/// left a generation, 1 when it failed (the reason), 2 when it could not start.
pub async fn backup(fleet: anshin_core::Fleet, db: &Path, host: &str, full: bool) -> Result<ExitCode> {
    // The engine on this store takes it when one runs: the newest run before asking tells
    // which run is the one it starts.
    let before = Store::open_read_only(db)
        .ok()
        .and_then(|s| s.backups(Some(host), 1).ok())
        .and_then(|r| r.first().map(|r| r.id));
    match control::ask(db, &asker(), ActionRequest::Backup { host: host.into(), full }).await {
        Err(AskError::NoEngine) => {}
        Err(e) => {
            output::note(&format!("anshin: {e}"));
            return Ok(ExitCode::from(2));
        }
        Ok(Answer::Ok(_)) => {
            output::note(&format!(
                "anshin: the engine running on {} takes the backup of {host}; waiting for its end",
                db.display()
            ));
            return wait_for_backup(db, host, before).await;
        }
        Ok(answer) => return refused(answer),
    }
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
    match backup_run::run_backup(db, &t, &pool, full, &asker(), Utc::now, &mut |_| {}).await {
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

/// Waits for the run the engine started after run `before` to end: the same summary and exit
/// status as a run of its own.
async fn wait_for_backup(db: &Path, host: &str, before: Option<i64>) -> Result<ExitCode> {
    loop {
        tokio::time::sleep(WAIT_STEP).await;
        if let Some(code) = engine_gone(db) {
            return Ok(code);
        }
        let store = Store::open_read_only(db)?;
        let Some(run) = store.backups(Some(host), 1)?.into_iter().next().filter(|r| Some(r.id) > before) else {
            continue;
        };
        match run.state.as_str() {
            "running" => continue,
            "ok" => {
                output::text(&format!(
                    "{host}: generation {} ({}) ok — {} files, {} bytes in the store",
                    run.id,
                    run.kind.as_str(),
                    run.files,
                    run.bytes
                ))?;
                return Ok(ExitCode::SUCCESS);
            }
            _ => {
                output::note(&format!("anshin: {host}: run {} {}: {}", run.id, run.state, run.detail));
                return Ok(ExitCode::from(1));
            }
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
    requested_by: Option<&str>,
) -> Result<ExitCode> {
    let asked = ActionRequest::Restore {
        host: host.into(),
        generation,
        path: path.map(String::from),
        to: to.map(String::from),
        in_place,
        requested_by: requested_by.map(String::from),
    };
    let last = Store::open_read_only(db).ok().and_then(|s| s.last_event_id().ok()).unwrap_or(0);
    if to.is_some() == in_place {
        output::note("anshin: say where: --to DIR (a new directory on the server) or --in-place");
        return Ok(ExitCode::from(2));
    }
    match control::ask(db, &asker(), asked).await {
        Err(AskError::NoEngine) => {}
        Err(e) => {
            output::note(&format!("anshin: {e}"));
            return Ok(ExitCode::from(2));
        }
        Ok(Answer::Ok(_)) => {
            output::note(&format!("anshin: the engine running on {} restores it; waiting for its end", db.display()));
            return wait_for_restore(db, host, last).await;
        }
        Ok(answer) => return refused(answer),
    }
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
    let place = match &target {
        RestoreTarget::Dir(d) => d.clone(),
        RestoreTarget::InPlace => "/ (in place)".into(),
    };
    // Logged as the engine logs it (restore_started, restore_finished), by who ran it.
    let by = asker();
    let log = |kind: &str, detail: &str| -> Result<()> {
        let mut store = Store::open(db)?;
        let tx = store.begin()?;
        tx.append_event_by(kind, None, Some(host), Some("backup"), detail, &by, Utc::now())?;
        tx.commit()?;
        Ok(())
    };
    let asked_by = requested_by.map(|r| format!(", asked by {r}")).unwrap_or_default();
    log("restore_started", &format!("generation #{generation} into {place}{asked_by}"))?;
    match backup_run::restore(db, &t, &backup_run::ssh_pool(), generation, path, &target).await {
        Ok(_) => {
            log("restore_finished", &format!("generation #{generation} restored"))?;
            output::text(&format!("{host}: generation {generation} restored into {place}"))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            log("restore_finished", &format!("generation #{generation} not restored: {e}"))?;
            output::note(&format!("anshin: {e}"));
            Ok(ExitCode::from(1))
        }
    }
}

/// Waits for the engine's `restore_finished` of `host` logged after event `last`.
async fn wait_for_restore(db: &Path, host: &str, last: i64) -> Result<ExitCode> {
    loop {
        tokio::time::sleep(WAIT_STEP).await;
        if let Some(code) = engine_gone(db) {
            return Ok(code);
        }
        let store = Store::open_read_only(db)?;
        let Some(end) =
            store.events_after(last, "restore_finished")?.into_iter().find(|e| e.host.as_deref() == Some(host))
        else {
            continue;
        };
        if end.detail.contains(" restored") && !end.detail.contains("not restored") {
            output::text(&format!("{host}: {}", end.detail))?;
            return Ok(ExitCode::SUCCESS);
        }
        output::note(&format!("anshin: {host}: {}", end.detail));
        return Ok(ExitCode::from(1));
    }
}
