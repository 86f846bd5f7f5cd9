//! Tauri commands: what the window may ask. Thin: each routes to the backend or the mirror.
//! Errors reach the window as text it can show.
//!
//! Must not: compute anything the engine or core already knows.

use std::sync::Arc;

use serde_json::Value;
use tauri::State;

use crate::backend::{AppInfo, Read};
use crate::Shell;

type Answer = Result<Value, String>;

fn text(e: anyhow::Error) -> String {
    format!("{e:#}")
}

/// Where the data comes from, the caller's role and which view to show.
#[tauri::command]
pub fn app_info(shell: State<'_, Arc<Shell>>) -> Result<AppInfo, String> {
    shell.info.lock().map(|i| i.clone()).map_err(|_| "poisoned".to_string())
}

/// Everything known now, as a `snapshot` message (the window asks after it starts listening).
#[tauri::command]
pub fn snapshot(shell: State<'_, Arc<Shell>>) -> Value {
    shell.mirror.lock().map(|m| m.snapshot()).unwrap_or_default()
}

#[tauri::command]
pub async fn incidents(shell: State<'_, Arc<Shell>>, open: Option<bool>, limit: Option<usize>) -> Answer {
    shell.backend.incidents(open.unwrap_or(false), limit.unwrap_or(500).min(10_000)).await.map_err(text)
}

#[tauri::command]
pub async fn samples(shell: State<'_, Arc<Shell>>, host: String, resource: String, hours: Option<u32>) -> Answer {
    shell.backend.samples(host, resource, hours.unwrap_or(24).min(24 * 62)).await.map_err(text)
}

#[tauri::command]
pub async fn customers(shell: State<'_, Arc<Shell>>) -> Answer {
    shell.backend.customers().await.map_err(text)
}

/// Services, checks, thresholds, plans and yen limits, as the engine knows them.
#[tauri::command]
pub async fn catalogue(shell: State<'_, Arc<Shell>>) -> Answer {
    shell.backend.catalogue().await.map_err(text)
}

/// One server with its latest response times (the detail view; deltas leave them out).
#[tauri::command]
pub async fn server(shell: State<'_, Arc<Shell>>, label: String) -> Answer {
    shell.backend.server(label).await.map_err(text)
}

/// An operator takes an incident.
#[tauri::command]
pub async fn acknowledge(shell: State<'_, Arc<Shell>>, incident: i64, note: Option<String>) -> Answer {
    shell.backend.acknowledge(incident, note.unwrap_or_default()).await.map_err(text)
}

/// Any console action (docs/console-actions.md); a refusal is `{code, message}`.
#[tauri::command]
pub async fn act(shell: State<'_, Arc<Shell>>, action: anshin_engine::ActionRequest) -> Result<Value, Value> {
    shell.backend.act(action).await
}

/// The fleet file's customers and servers as consoles edit them; a refusal is `{code, message}`.
#[tauri::command]
pub async fn fleet_source(shell: State<'_, Arc<Shell>>) -> Result<Value, Value> {
    shell.backend.fleet_source().await
}

/// An edit of the fleet file against its revision; a refusal is `{code, message}`.
#[tauri::command]
pub async fn fleet_edit(
    shell: State<'_, Arc<Shell>>,
    request: anshin_core::fleet_edit::FleetEditRequest,
) -> Result<Value, Value> {
    shell.backend.fleet_edit(request).await
}

/// The phone escalation of an incident: calls, consents, the prefilled status report.
#[tauri::command]
pub async fn escalation(shell: State<'_, Arc<Shell>>, incident: i64) -> Answer {
    shell.backend.read(Read::Escalation(incident)).await.map_err(text)
}

/// Maintenance windows: running and future ones, then recently ended ones.
#[tauri::command]
pub async fn maintenance(shell: State<'_, Arc<Shell>>) -> Answer {
    shell.backend.read(Read::Maintenance).await.map_err(text)
}

/// Recoveries, newest first (all, or one server's).
#[tauri::command]
pub async fn recoveries(shell: State<'_, Arc<Shell>>, host: Option<String>) -> Answer {
    shell.backend.read(Read::Recoveries(host)).await.map_err(text)
}

/// Backup runs and generations, newest first (all, or one server's: contract §7).
#[tauri::command]
pub async fn backups(shell: State<'_, Arc<Shell>>, host: Option<String>) -> Answer {
    shell.backend.read(Read::Backups(host)).await.map_err(text)
}

/// Pending security updates (all, or one server's: contract §8).
#[tauri::command]
pub async fn updates(shell: State<'_, Arc<Shell>>, host: Option<String>) -> Answer {
    shell.backend.read(Read::Updates(host)).await.map_err(text)
}

/// Update jobs, newest first (contract §8).
#[tauri::command]
pub async fn update_runs(shell: State<'_, Arc<Shell>>, host: Option<String>, limit: Option<usize>) -> Answer {
    shell.backend.read(Read::UpdateRuns { host, limit: limit.unwrap_or(50).min(1000) }).await.map_err(text)
}

/// Temporary resource-up requests (contract §9.4), newest first; `open` only those running.
#[tauri::command]
pub async fn resource_ups(shell: State<'_, Arc<Shell>>, open: Option<bool>) -> Answer {
    shell.backend.read(Read::ResourceUps { open: open.unwrap_or(false) }).await.map_err(text)
}

/// A customer's configuration work of a month (`YYYY-MM`) and what is left (contract §9.5).
#[tauri::command]
pub async fn config_work(shell: State<'_, Arc<Shell>>, customer: String, month: String) -> Answer {
    shell.backend.read(Read::ConfigWork { customer, month }).await.map_err(text)
}

/// The audit log, newest first, with its chain verified.
#[tauri::command]
pub async fn audit(shell: State<'_, Arc<Shell>>, limit: Option<usize>, before: Option<i64>) -> Answer {
    shell.backend.read(Read::Audit { limit: limit.unwrap_or(200).min(5000), before }).await.map_err(text)
}

/// Incidents with their stories for the review view (`filter`: server, customer, level, check,
/// from, to, operator, text, open, limit).
#[tauri::command]
pub async fn review(shell: State<'_, Arc<Shell>>, filter: Option<anshin_engine::review_query::ReviewQuery>) -> Answer {
    shell.backend.review(filter.unwrap_or_default()).await.map_err(text)
}

/// Review mode: choose another log file (a native file chooser); the new app info, or null when
/// cancelled. The file is checked before it replaces the current one.
#[tauri::command]
pub async fn open_review(shell: State<'_, Arc<Shell>>) -> Answer {
    let crate::backend::Backend::Review(current) = &shell.backend else {
        return Err("only a window opened with --review can open another log".into());
    };
    let picked = rfd::AsyncFileDialog::new()
        .set_title("インシデントログを開く")
        .add_filter("Anshin NOC log", &["db", "sqlite", "anshin"])
        .add_filter("*", &["*"])
        .pick_file()
        .await;
    let Some(file) = picked else { return Ok(Value::Null) };
    let path = file.path().to_path_buf();
    crate::backend::check_review_file(&path).await.map_err(text)?;
    if let Ok(mut p) = current.lock() {
        *p = path.clone();
    }
    let mut info = shell.info.lock().map(|i| i.clone()).map_err(|_| "poisoned".to_string())?;
    info.source = path.display().to_string();
    info.db = info.source.clone();
    if let Ok(mut i) = shell.info.lock() {
        *i = info.clone();
    }
    serde_json::to_value(info).map_err(|e| e.to_string())
}

/// Monthly reports: `op` is list, preview, send, hold, release or send-all.
#[tauri::command]
pub async fn reports(shell: State<'_, Arc<Shell>>, op: String, id: Option<i64>, month: Option<String>) -> Answer {
    shell.backend.reports(&op, id, month).await.map_err(text)
}

/// Saves text the window produced (a CSV or JSON export) where the user chooses; the path, or
/// null when cancelled. (The webview does not save Blob downloads by itself.)
#[tauri::command]
pub async fn save_file(name: String, content: String) -> Answer {
    let picked = rfd::AsyncFileDialog::new().set_title("保存").set_file_name(&name).save_file().await;
    let Some(file) = picked else { return Ok(Value::Null) };
    let path = file.path().to_path_buf();
    tokio::fs::write(&path, content).await.map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Value::String(path.display().to_string()))
}
