//! What the window talks to: an embedded engine (`local`) or a remote `anshin serve`
//! (`remote`). Both give the same console messages and answer the same requests, so the
//! window never knows which it has.
//!
//! Owns: the choice and the request routing. Must not: decide anything about incidents.

use std::sync::Arc;

use std::path::PathBuf;

use anshin_core::fleet_edit::FleetEditRequest;
use anshin_engine::action::{ActionError, ActionRequest};
use anshin_engine::catalogue::Catalogue;
use anshin_engine::reads;
use anshin_engine::review_query::{with_customers, ReviewQuery};
use anshin_engine::store::review::open_review;
use anshin_report::desk::ReportSent;
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
    /// "operator", "admin" or "viewer".
    pub role: String,
    /// "operator" (workstation) or "wall" (`--kiosk`).
    pub view: &'static str,
}

/// A refusal as the console API writes it: `{code, message}`.
fn refused(code: &str, message: String) -> Value {
    serde_json::json!({ "code": code, "message": message })
}

/// A read beside the live view (see `Backend::read`).
#[derive(Debug, Clone)]
pub enum Read {
    Escalation(i64),
    Maintenance,
    Recoveries(Option<String>),
    /// Backup runs and generations (one server's, or all), newest first.
    Backups(Option<String>),
    Audit {
        limit: usize,
        before: Option<i64>,
    },
    /// The request ledger: resource-up requests (`open` only), a customer's month of
    /// configuration work.
    ResourceUps {
        open: bool,
    },
    ConfigWork {
        customer: String,
        month: String,
    },
    /// Pending security updates (one server's, or all: contract §8).
    Updates(Option<String>),
    /// Update jobs, newest first.
    UpdateRuns {
        host: Option<String>,
        limit: usize,
    },
}

/// The reads a store file answers by itself (a live engine's, or a log opened for review);
/// `None` for those that need the live engine (escalation, maintenance).
fn stored(store: &anshin_engine::Store, what: Read) -> Result<Option<Value>> {
    Ok(Some(match what {
        Read::Recoveries(host) => serde_json::to_value(store.recoveries(host.as_deref(), 200)?)?,
        Read::Backups(host) => serde_json::to_value(store.backups(host.as_deref(), 200)?)?,
        Read::Audit { limit, before } => serde_json::to_value(reads::audit(store, limit, before)?)?,
        Read::ResourceUps { open } => serde_json::to_value(store.resource_ups(open)?)?,
        Read::ConfigWork { customer, month } => serde_json::to_value(store.config_work(&customer, &month)?)?,
        Read::Updates(host) => serde_json::to_value(store.pending_updates(host.as_deref())?)?,
        Read::UpdateRuns { host, limit } => serde_json::to_value(store.update_runs(host.as_deref(), limit)?)?,
        Read::Escalation(_) | Read::Maintenance => return Ok(None),
    }))
}

impl Backend {
    /// The console feed as JSON messages, until shutdown (remote) or the engine stops (local).
    pub fn feed(&self, shutdown: watch::Receiver<bool>) -> mpsc::Receiver<Value> {
        match self {
            Backend::Local(local) => {
                let console = local.console();
                let mut feed = anshin_engine::subscribe_feed(&console);
                let (tx, rx) = mpsc::channel(256);
                tokio::spawn(async move {
                    // The window is in this process and reads promptly; should it ever fall
                    // behind twice, its feed starts over with a snapshot.
                    loop {
                        match feed.recv().await {
                            Ok(frame) => {
                                let Ok(v) = serde_json::from_slice::<Value>(&frame.json) else { continue };
                                if tx.send(v).await.is_err() {
                                    break;
                                }
                            }
                            Err(anshin_engine::FeedEnd::TooSlow) => feed = anshin_engine::subscribe_feed(&console),
                            Err(anshin_engine::FeedEnd::Stopped) => break,
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

    /// One server as the engine sees it now (null when there is none).
    pub async fn server(&self, label: String) -> Result<Value> {
        match self {
            Backend::Local(l) => Ok(serde_json::to_value(l.console().server(&label))?),
            Backend::Remote(r) => r.get(&format!("api/v1/servers/{label}"), NO_QUERY).await,
            Backend::Review(_) => Ok(Value::Null),
        }
    }

    pub async fn customers(&self) -> Result<Value> {
        match self {
            Backend::Local(l) => Ok(serde_json::to_value(l.customers())?),
            Backend::Remote(r) => r.get("api/v1/customers", NO_QUERY).await,
            Backend::Review(_) => Ok(Value::Array(Vec::new())),
        }
    }

    /// The catalogue of the engine the window shows (a remote serve's own: it may be another
    /// version than this window).
    pub async fn catalogue(&self) -> Result<Value> {
        match self {
            Backend::Local(_) | Backend::Review(_) => Ok(serde_json::to_value(Catalogue::current())?),
            Backend::Remote(r) => r.get("api/v1/catalogue", NO_QUERY).await,
        }
    }

    /// An operator takes an incident (the engine records who and refuses a second owner).
    pub async fn acknowledge(&self, incident: i64, note: String) -> Result<Value> {
        self.act(ActionRequest::Acknowledge { incident, note })
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.get("message").and_then(Value::as_str).unwrap_or("refused")))
    }

    /// Any console action (docs/console-actions.md). A refusal is `{code, message}` as the
    /// console API gives it, so the window reacts to the code (`needs_consent`, `busy`…).
    pub async fn act(&self, request: ActionRequest) -> std::result::Result<Value, Value> {
        match self {
            Backend::Local(l) => {
                let by = std::env::var("USER").unwrap_or_else(|_| "operator".into());
                match l.console().act(request, &by).await {
                    Ok(done) => serde_json::to_value(done).map_err(|e| refused("internal", e.to_string())),
                    Err(ActionError::Busy(rec)) => Err(serde_json::json!({
                        "code": "busy", "message": ActionError::Busy(rec.clone()).to_string(), "recovery": rec })),
                    Err(e) => Err(refused(e.code(), e.to_string())),
                }
            }
            Backend::Remote(r) => {
                let (path, body) = request.route();
                r.act(&path, &body).await
            }
            Backend::Review(_) => Err(refused("read_only", "a log opened for review is read-only".into())),
        }
    }

    /// The fleet file's customers and servers as consoles edit them, with its revision; a
    /// refusal is `{code, message}` as the console API gives it.
    pub async fn fleet_source(&self) -> std::result::Result<Value, Value> {
        match self {
            Backend::Local(l) => match anshin_engine::fleet_edits::source(&l.console()).await {
                Ok(source) => serde_json::to_value(source).map_err(|e| refused("internal", e.to_string())),
                Err(e) => Err(e.to_json()),
            },
            Backend::Remote(r) => r.send("GET", "api/v1/fleet/source", None).await,
            Backend::Review(_) => Err(refused("read_only", "a log opened for review has no fleet file".into())),
        }
    }

    /// An edit of the fleet file (issue 13), applied at once; a refusal is `{code, message}`
    /// (`stale`, `invalid` with the file's FILE:LINE:COL message, `forbidden`…). Locally the
    /// person running the engine on their own file is its admin.
    pub async fn fleet_edit(&self, request: FleetEditRequest) -> std::result::Result<Value, Value> {
        match self {
            Backend::Local(l) => {
                let by = std::env::var("USER").unwrap_or_else(|_| "operator".into());
                match anshin_engine::fleet_edits::edit(&l.console(), &request, &by, true).await {
                    Ok(done) => serde_json::to_value(done).map_err(|e| refused("internal", e.to_string())),
                    Err(e) => Err(e.to_json()),
                }
            }
            Backend::Remote(r) => {
                let (method, path, body) = anshin_engine::fleet_edits::route(&request);
                r.send(method, &path, Some(&body)).await
            }
            Backend::Review(_) => Err(refused("read_only", "a log opened for review is read-only".into())),
        }
    }

    /// A read beside the live view: `escalation` (with `id`), `maintenance`, `recoveries`
    /// (optional `host`), `audit` (optional `limit`, `before`).
    pub async fn read(&self, what: Read) -> Result<Value> {
        match self {
            Backend::Local(l) => {
                let (db, fleet) = (l.db().to_path_buf(), l.fleet().clone());
                Ok(tokio::task::spawn_blocking(move || -> Result<Value> {
                    let store = anshin_engine::Store::open_read_only(&db)?;
                    let now = chrono::Utc::now();
                    Ok(match what {
                        Read::Escalation(id) => serde_json::to_value(reads::escalation(&store, &fleet, id, now)?)?,
                        Read::Maintenance => serde_json::to_value(reads::maintenance(&store, now)?)?,
                        other => stored(&store, other)?.unwrap_or(Value::Null),
                    })
                })
                .await??)
            }
            Backend::Remote(r) => match what {
                Read::Escalation(id) => r.get(&format!("api/v1/incidents/{id}/escalation"), NO_QUERY).await,
                Read::Maintenance => r.get("api/v1/maintenance", NO_QUERY).await,
                Read::Recoveries(host) => {
                    let q: Vec<(&str, String)> = host.map(|h| ("host", h)).into_iter().collect();
                    r.get("api/v1/recoveries", &q).await
                }
                Read::Backups(host) => {
                    let q: Vec<(&str, String)> = host.map(|h| ("host", h)).into_iter().collect();
                    r.get("api/v1/backups", &q).await
                }
                Read::Audit { limit, before } => {
                    let mut q = vec![("limit", limit.to_string())];
                    q.extend(before.map(|b| ("before", b.to_string())));
                    r.get("api/v1/audit", &q).await
                }
                Read::ResourceUps { open } => r.get("api/v1/ledger/resource-ups", &[("open", open.to_string())]).await,
                Read::ConfigWork { customer, month } => {
                    r.get("api/v1/ledger/config-work", &[("customer", customer), ("month", month)]).await
                }
                Read::Updates(host) => {
                    let q: Vec<(&str, String)> = host.map(|h| ("host", h)).into_iter().collect();
                    r.get("api/v1/updates", &q).await
                }
                Read::UpdateRuns { host, limit } => {
                    let mut q = vec![("limit", limit.to_string())];
                    q.extend(host.map(|h| ("host", h)));
                    r.get("api/v1/updates/runs", &q).await
                }
            },
            Backend::Review(path) => {
                let path = path.lock().map(|p| p.clone()).map_err(|_| anyhow::anyhow!("poisoned"))?;
                Ok(tokio::task::spawn_blocking(move || -> Result<Value> {
                    let store = anshin_engine::Store::open_read_only(&path)?;
                    match stored(&store, what)? {
                        Some(v) => Ok(v),
                        None => bail!("a log opened for review has no live escalation or maintenance"),
                    }
                })
                .await??)
            }
        }
    }

    /// Incidents with their stories, filtered as the review view asks.
    pub async fn review(&self, query: ReviewQuery) -> Result<Value> {
        match self {
            Backend::Local(l) => {
                let filter = query.to_filter(Some(&l.fleet())).map_err(anyhow::Error::msg)?;
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
                    "send" => {
                        let (report, outbox) = (need_id()?, d.send(need_id()?, who()).await?);
                        serde_json::to_value(ReportSent { report, outbox: Some(outbox), error: None })?
                    }
                    "hold" => serde_json::to_value(d.hold(need_id()?, who()).await?)?,
                    "release" => serde_json::to_value(d.release(need_id()?, who()).await?)?,
                    "send-all" => {
                        let month = month.ok_or_else(|| anyhow::anyhow!("send-all needs a month"))?;
                        // The same type as the HTTP route's answer.
                        serde_json::to_value(ReportSent::all(d.send_all(month, who()).await?))?
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
