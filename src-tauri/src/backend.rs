//! What the window talks to: an embedded engine (`local`) or a remote `anshin serve`
//! (`remote`). Both give the same console messages and answer the same requests, so the
//! window never knows which it has.
//!
//! Owns: the choice and the request routing. Must not: decide anything about incidents.

use std::sync::Arc;

use std::path::PathBuf;

use anshin_engine::review_query::{with_customers, ReviewQuery};
use anshin_engine::store::review::open_review;
use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::local::Local;
use crate::remote::{Remote, NO_QUERY};

pub enum Backend {
    Local(Box<Local>),
    Remote(Arc<Remote>),
    /// A log opened read-only (`--review FILE`): no engine, no network.
    Review(std::sync::Mutex<PathBuf>),
}

/// What the window is told about where its data comes from.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    /// "demo", "fleet" or "remote".
    pub mode: &'static str,
    /// The fleet file, the demo's name, or the remote URL.
    pub source: String,
    /// The store (empty for remote).
    pub db: String,
    pub version: &'static str,
    /// "operator" or "viewer".
    pub role: String,
    /// "operator" (workstation) or "wall" (`--kiosk`).
    pub view: &'static str,
}

impl Backend {
    /// The console feed as JSON messages, until shutdown (remote) or the engine stops (local).
    pub fn feed(&self, shutdown: watch::Receiver<bool>) -> mpsc::Receiver<Value> {
        match self {
            Backend::Local(local) => {
                let mut messages = anshin_engine::spawn_feed(local.console());
                let (tx, rx) = mpsc::channel(256);
                tokio::spawn(async move {
                    while let Some(m) = messages.recv().await {
                        let Ok(v) = serde_json::to_value(&m) else { continue };
                        if tx.send(v).await.is_err() {
                            break;
                        }
                    }
                });
                rx
            }
            Backend::Remote(remote) => remote.spawn_feed(shutdown),
            // Nothing live to show: the channel closes at once.
            Backend::Review(_) => mpsc::channel(1).1,
        }
    }

    pub async fn incidents(&self, open: bool, limit: usize) -> Result<Value> {
        match self {
            Backend::Local(l) => Ok(serde_json::to_value(l.incidents(open, limit).await?)?),
            Backend::Remote(r) => {
                r.get("api/v1/incidents", &[("open", open.to_string()), ("limit", limit.to_string())]).await
            }
            Backend::Review(_) => bail!("a log opened for review has no live incidents: use the review view"),
        }
    }

    pub async fn samples(&self, host: String, resource: String, hours: u32) -> Result<Value> {
        match self {
            Backend::Local(l) => Ok(serde_json::to_value(l.samples(host, resource, hours).await?)?),
            Backend::Remote(r) => {
                r.get("api/v1/samples", &[("host", host), ("resource", resource), ("hours", hours.to_string())]).await
            }
            Backend::Review(_) => bail!("a log opened for review has no live readings"),
        }
    }

    pub async fn customers(&self) -> Result<Value> {
        match self {
            Backend::Local(l) => Ok(serde_json::to_value(l.customers())?),
            Backend::Remote(r) => r.get("api/v1/customers", NO_QUERY).await,
            Backend::Review(_) => Ok(Value::Array(Vec::new())),
        }
    }

    /// An operator takes an incident (the engine records who and refuses a second owner).
    pub async fn acknowledge(&self, incident: i64, note: String) -> Result<Value> {
        match self {
            Backend::Local(l) => {
                let by = std::env::var("USER").unwrap_or_else(|_| "operator".into());
                Ok(serde_json::to_value(l.console().acknowledge(incident, &by, &note).await?)?)
            }
            Backend::Remote(r) => {
                r.post(&format!("api/v1/incidents/{incident}/acknowledge"), &serde_json::json!({ "note": note })).await
            }
            Backend::Review(_) => bail!("a log opened for review is read-only"),
        }
    }

    /// Incidents with their stories, filtered as the review view asks.
    pub async fn review(&self, query: ReviewQuery) -> Result<Value> {
        match self {
            Backend::Local(l) => {
                let filter = query.to_filter(Some(l.fleet())).map_err(anyhow::Error::msg)?;
                let (db, fleet) = (l.db().to_path_buf(), l.fleet().clone());
                // The live store: no integrity scan per query (that is for files opened to review).
                Ok(tokio::task::spawn_blocking(move || -> Result<Value> {
                    let store = anshin_engine::Store::open_read_only(&db)?;
                    Ok(serde_json::to_value(with_customers(store.review(&filter)?, Some(&fleet)))?)
                })
                .await??)
            }
            Backend::Remote(r) => r.get("api/v1/review", &query).await,
            Backend::Review(path) => {
                let filter = query.to_filter(None).map_err(anyhow::Error::msg)?;
                let path = path.lock().map(|p| p.clone()).map_err(|_| anyhow::anyhow!("poisoned"))?;
                Ok(tokio::task::spawn_blocking(move || -> Result<Value> {
                    Ok(serde_json::to_value(open_review(&path)?.review(&filter)?)?)
                })
                .await??)
            }
        }
    }

    /// The monthly reports: `op` is `list` (with `month`), `preview`, `send`, `hold`, `release`
    /// (with `id`) or `send-all` (with `month`). Local: the desk itself; remote: its routes.
    pub async fn reports(&self, op: &str, id: Option<i64>, month: Option<String>) -> Result<Value> {
        let who = || std::env::var("USER").unwrap_or_else(|_| "operator".into());
        let need_id = || id.ok_or_else(|| anyhow::anyhow!("{op} needs a report id"));
        match self {
            Backend::Local(l) => {
                let d = &l.desk;
                Ok(match op {
                    "list" => serde_json::to_value(d.list(month).await?)?,
                    "preview" => Value::String(d.preview(need_id()?).await?),
                    "send" => serde_json::json!({ "report": need_id()?, "outbox": d.send(need_id()?, who()).await? }),
                    "hold" => serde_json::to_value(d.hold(need_id()?, who()).await?)?,
                    "release" => serde_json::to_value(d.release(need_id()?, who()).await?)?,
                    "send-all" => {
                        let month = month.ok_or_else(|| anyhow::anyhow!("send-all needs a month"))?;
                        // The same shape as the HTTP route: {report, outbox} or {report, error}.
                        let results = d.send_all(month, who()).await?;
                        Value::Array(
                            results
                                .into_iter()
                                .map(|(report, r)| match r {
                                    Ok(outbox) => serde_json::json!({ "report": report, "outbox": outbox }),
                                    Err(error) => serde_json::json!({ "report": report, "error": error }),
                                })
                                .collect(),
                        )
                    }
                    other => bail!("unknown report operation {other}"),
                })
            }
            Backend::Remote(r) => {
                let month_q: Vec<(&str, String)> = month.into_iter().map(|m| ("month", m)).collect();
                match op {
                    "list" => r.get("api/v1/reports", &month_q).await,
                    "preview" => {
                        let path = format!("api/v1/reports/{}/preview", need_id()?);
                        r.get_text(&path, NO_QUERY).await.map(|(_, html)| Value::String(html))
                    }
                    "send" | "hold" | "release" => {
                        r.post(&format!("api/v1/reports/{}/{op}", need_id()?), &Value::Null).await
                    }
                    "send-all" => {
                        let m = month_q.first().map(|(_, m)| m.clone()).unwrap_or_default();
                        r.post(&format!("api/v1/reports/send-all?month={m}"), &Value::Null).await
                    }
                    other => bail!("unknown report operation {other}"),
                }
            }
            Backend::Review(_) => bail!("a log opened for review has no monthly reports"),
        }
    }

    /// Stops what this process runs (the engine, the demo); a remote engine keeps running.
    pub async fn stop(&self) {
        if let Backend::Local(l) = self {
            l.stop().await;
        }
    }
}

/// Checks that `path` is a log this version can review (identity, schema, integrity), off the
/// async threads, before a window shows it.
pub async fn check_review_file(path: &std::path::Path) -> Result<()> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || open_review(&path).map(|_| ())).await??;
    Ok(())
}
