//! `anshin updates` and `anshin update` (contract §8): the pending security updates the last
//! detection found (or a detection now, `--refresh`), and an apply of one server's updates. With
//! an engine running on the same store they ask it (its control socket: the consoles' action
//! path — paused, logged, mailed) and wait for the end; without one they run themselves and
//! record the same entries (no customer mail: mails are the engine's).
//! Must not know: the commands or their formats (`anshin_engine::update_run`).

use std::path::Path;
use std::process::ExitCode;

use anshin_core::updates::PendingUpdate;
use anshin_engine::action::ActionRequest;
use anshin_engine::control::{self, Answer, AskError};
use anshin_engine::store::updates::{PendingUpdateRow, ScanToRecord, UpdateRunEnd};
use anshin_engine::update_run::{self, UpdateTarget};
use anshin_engine::Store;
use anyhow::Result;
use chrono::Utc;
use chrono_tz::Asia::Tokyo;

use crate::output;

/// Who asks, as the log records it.
fn asker() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
}

/// How often the store is read while waiting for the engine.
const WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(500);
/// A detection through the engine is waited for at most this long.
const DETECT_WAIT: std::time::Duration = std::time::Duration::from_secs(900);

fn say(message: &str, code: u8) -> Result<ExitCode> {
    output::note(&format!("anshin: {message}"));
    Ok(ExitCode::from(code))
}

/// `anshin updates [FLEET] --db DB [--refresh] [--host LABEL] [--json]`.
pub async fn updates(
    fleet: Option<anshin_core::Fleet>,
    db: &Path,
    host: Option<&str>,
    refresh: bool,
    json: bool,
) -> Result<ExitCode> {
    if refresh {
        let Some(fleet) = fleet else {
            return say("--refresh detects over SSH: give the fleet file (anshin updates FLEET --db DB --refresh)", 2);
        };
        if let Some(code) = refresh_now(&fleet, db, host).await? {
            return Ok(code);
        }
    }
    list(db, host, json)
}

/// Detects now: through the running engine, else here (recorded in the store).
async fn refresh_now(fleet: &anshin_core::Fleet, db: &Path, host: Option<&str>) -> Result<Option<ExitCode>> {
    let now = Utc::now();
    let hosts: Vec<String> = match host {
        Some(h) if fleet.server(h).is_none() => {
            return say(&format!("no server \"{h}\" in the fleet file"), 2).map(Some)
        }
        Some(h) => vec![h.to_string()],
        None => fleet
            .servers
            .iter()
            .filter(|s| UpdateTarget::of(fleet, &s.label, now).is_ok())
            .map(|s| s.label.clone())
            .collect(),
    };
    let checked = |store: &Store, h: &str| -> Option<String> {
        store.update_scans(Some(h)).ok()?.into_iter().next().map(|s| s.checked_at)
    };
    let mut engine = false;
    let mut waiting = Vec::new();
    for h in &hosts {
        let before = Store::open_read_only(db).ok().and_then(|s| checked(&s, h));
        match control::ask(db, &asker(), ActionRequest::RefreshUpdates { host: h.clone() }).await {
            Err(AskError::NoEngine) => break,
            Err(e) => return say(&e.to_string(), 2).map(Some),
            Ok(Answer::Ok(_)) => {
                engine = true;
                waiting.push((h.clone(), before));
            }
            Ok(Answer::Error { code, message }) => {
                engine = true;
                output::note(&format!("anshin: {h}: the engine refused it ({code}): {message}"));
            }
        }
    }
    if engine {
        let until = tokio::time::Instant::now() + DETECT_WAIT;
        while !waiting.is_empty() {
            if tokio::time::Instant::now() > until {
                return say("the engine's detection did not end in 15 minutes: see the console", 1).map(Some);
            }
            tokio::time::sleep(WAIT_STEP).await;
            let store = Store::open_read_only(db)?;
            waiting.retain(|(h, before)| checked(&store, h) == *before);
        }
        return Ok(None);
    }
    let pool = update_run::ssh_pool();
    let mut store = Store::open(db)?;
    let today = now.with_timezone(&Tokyo).date_naive();
    for h in &hosts {
        let target = match UpdateTarget::of(fleet, h, now) {
            Ok(t) => t,
            Err(e) => {
                output::note(&format!("anshin: {h}: {e}"));
                continue;
            }
        };
        let d = update_run::detect(&target, &pool, today).await;
        if let Some(e) = &d.error {
            output::note(&format!("anshin: {h}: {e}"));
        }
        for n in &d.notes {
            output::note(&format!("anshin: {h}: {n}"));
        }
        let scan = ScanToRecord {
            updates: d.updates,
            error: d.error,
            reboot_needed: d.reboot_needed,
            pending_total: d.pending_total,
            notes: d.notes.join("\n"),
        };
        let tx = store.begin()?;
        tx.record_update_scan(h, &scan, Utc::now())?;
        tx.commit()?;
    }
    Ok(None)
}

/// The rows, one per line (or JSON), then per server what the detection said when it failed.
fn list(db: &Path, host: Option<&str>, json: bool) -> Result<ExitCode> {
    let store = match Store::open_read_only(db) {
        Ok(s) => s,
        Err(e) => return say(&e.to_string(), 2),
    };
    for r in store.pending_updates(host)? {
        if json {
            output::json(&r)?;
        } else {
            let advisory = if r.advisory.is_empty() { String::new() } else { format!("  {}", r.advisory) };
            let site = if r.site.is_empty() { String::new() } else { format!(" [{}]", r.site) };
            output::text(&format!(
                "{:<12} {:<16} {}{site} {} → {}  {}{}{advisory}  since {}",
                r.host,
                r.source,
                r.package,
                if r.installed.is_empty() { "-" } else { &r.installed },
                r.candidate,
                r.class,
                if r.severity.is_empty() { String::new() } else { format!("/{}", r.severity) },
                output::jst(&r.since)
            ))?;
        }
    }
    if !json {
        for s in store.update_scans(host)? {
            if let Some(e) = &s.error {
                output::note(&format!(
                    "anshin: {}: the last detection ({}) gave no answer: {e}",
                    s.host,
                    output::jst(&s.checked_at)
                ));
            }
            if s.reboot_needed {
                output::note(&format!("anshin: {}: a reboot is needed to run what is installed", s.host));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `anshin update FLEET --db DB --host LABEL [--packages P,…] [--cms] [--yes]`: without `--yes`
/// prints what it would run and exits 2; else exit 0 when the job worked, 1 when it failed, 2
/// when it could not start.
pub async fn update(
    fleet: anshin_core::Fleet,
    db: &Path,
    host: &str,
    packages: Vec<String>,
    cms: bool,
    yes: bool,
) -> Result<ExitCode> {
    let now = Utc::now();
    let pending: Vec<PendingUpdate> = match Store::open_read_only(db) {
        Ok(s) => s.pending_updates(Some(host))?.iter().map(PendingUpdateRow::update).collect(),
        Err(e) => return say(&format!("{e} (run `anshin updates FLEET --db DB --refresh` first)"), 2),
    };
    let plan = match update_run::plan_apply(&fleet, host, &pending, &packages, cms, now) {
        Ok(p) => p,
        Err(r) => return say(&format!("{host}: {} ({})", r.message, r.code), 2),
    };
    if !yes {
        output::text(&format!("{host}: {} updates would be applied with:", plan.chosen.len()))?;
        for c in &plan.commands {
            output::text(&format!("  {c}"))?;
        }
        return say("nothing was done: add --yes to apply them", 2);
    }
    let last = Store::open_read_only(db)
        .ok()
        .and_then(|s| s.update_runs(Some(host), 1).ok())
        .and_then(|r| r.first().map(|r| r.id));
    match control::ask(db, &asker(), ActionRequest::ApplyUpdates { host: host.into(), packages, cms }).await {
        Err(AskError::NoEngine) => {}
        Err(e) => return say(&e.to_string(), 2),
        Ok(Answer::Ok(_)) => {
            output::note(&format!("anshin: the engine running on {} applies them; waiting for its end", db.display()));
            return wait_for_run(db, host, last).await;
        }
        Ok(Answer::Error { code, message }) => return say(&format!("the engine refused it ({code}): {message}"), 2),
    }
    let by = asker();
    let pool = update_run::ssh_pool();
    let mut store = Store::open(db)?;
    let names: Vec<&str> = plan.chosen.iter().map(|u| u.package.as_str()).collect();
    let tx = store.begin()?;
    let id = tx.start_update_run(host, plan.scope.name(), &names.join(","), &plan.commands.join("\n"), &by, now)?;
    tx.commit()?;
    let job = std::time::Duration::from_secs(u64::from(fleet.updates.job_minutes) * 60);
    let applied = update_run::apply(&plan.target, &plan.commands, &pool, job).await;
    let today = Utc::now().with_timezone(&Tokyo).date_naive();
    let detected = update_run::detect(&plan.target, &pool, today).await;
    let reboot_needed = detected.error.is_none() && detected.reboot_needed;
    let detail = if applied.ok {
        format!("{} updates applied{}", plan.chosen.len(), if reboot_needed { "; a reboot is needed" } else { "" })
    } else {
        format!("failed: {}", applied.failure)
    };
    let tx = store.begin()?;
    let end = UpdateRunEnd {
        ok: applied.ok,
        exit_status: applied.exit_status,
        reboot_needed,
        detail: &detail,
        output: &applied.output,
    };
    tx.finish_update_run(id, &end, Utc::now())?;
    let nothing_left = detected.error.is_none() && detected.updates.is_empty();
    let scan = ScanToRecord {
        updates: detected.updates,
        error: detected.error,
        reboot_needed: detected.reboot_needed,
        pending_total: detected.pending_total,
        notes: detected.notes.join("\n"),
    };
    tx.record_update_scan(host, &scan, Utc::now())?;
    if applied.ok && nothing_left {
        tx.clear_update_plan(host)?;
    }
    tx.commit()?;
    if applied.ok {
        output::text(&format!("{host}: job {id} ok — {detail}"))?;
        Ok(ExitCode::SUCCESS)
    } else {
        say(&format!("{host}: job {id} {detail}"), 1)
    }
}

/// Waits for the engine's job started after job `last` to end.
async fn wait_for_run(db: &Path, host: &str, last: Option<i64>) -> Result<ExitCode> {
    loop {
        tokio::time::sleep(WAIT_STEP).await;
        if !control::socket_path(db).exists() {
            return say("the engine stopped before the job ended: see `anshin updates` and the audit log", 2);
        }
        let store = Store::open_read_only(db)?;
        let Some(run) = store.update_runs(Some(host), 1)?.into_iter().next().filter(|r| Some(r.id) > last) else {
            continue;
        };
        match run.state.as_str() {
            "running" => continue,
            "ok" => {
                output::text(&format!("{host}: job {} ok — {}", run.id, run.detail))?;
                return Ok(ExitCode::SUCCESS);
            }
            _ => return say(&format!("{host}: job {} {}: {}", run.id, run.state, run.detail), 1),
        }
    }
}
