//! What runs behind the window: the embedded engine, and in the demo also the simulated fleet.
//!
//! Owns: starting them on the right fleet and store, and stopping them in order (engine first,
//! so it does not record the demo's listeners closing as outages; then the demo).
//! Must not: decide anything about checks or incidents — that is the engine's and core's job.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anshin_core::Fleet;
use anshin_engine::{EngineEvent, EngineHandle, ServerView, Store, SystemClock};
use anyhow::{Context, Result};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::dto::AppInfo;

/// If the demo's `run` returns this soon, it failed to bind (it binds everything first).
const DEMO_BIND_GRACE: Duration = Duration::from_millis(300);
const ENGINE_STOP_TIMEOUT: Duration = Duration::from_secs(10);
const DEMO_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the fleet comes from.
#[derive(Debug)]
pub enum Source {
    /// A validated fleet file.
    File { fleet: Fleet, path: PathBuf },
    /// The built-in demo: simulated servers on 127.77.0.x plus its fleet file.
    Demo,
}

struct Demo {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), anshin_demo::DemoError>>,
}

/// The engine (and demo) behind the window. Shared as Tauri state.
pub struct Backend {
    engine: Mutex<Option<EngineHandle>>,
    demo: Mutex<Option<Demo>>,
    info: AppInfo,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").field("info", &self.info).finish_non_exhaustive()
    }
}

impl Backend {
    /// Starts the demo fleet (if asked) and the engine. Must run inside the Tauri (tokio)
    /// runtime. Returns the backend and a listener that sees every event from the first one.
    pub async fn start(source: Source, db: Option<PathBuf>) -> Result<(Backend, broadcast::Receiver<EngineEvent>)> {
        let (fleet, source_name, demo, default_db) = match source {
            Source::File { fleet, path } => (fleet, path.display().to_string(), None, "desktop.db"),
            Source::Demo => {
                let demo = start_demo().await?;
                let name = "demo-fleet.toml";
                let parsed = anshin_core::fleet::parse(anshin_demo::DEMO_FLEET_TOML, name).map_err(|errors| {
                    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    anyhow::anyhow!("the built-in demo fleet is invalid (a bug):\n{}", lines.join("\n"))
                })?;
                (parsed.fleet, name.to_string(), Some(demo), "demo.db")
            }
        };
        let db = match db {
            Some(p) => p,
            None => default_data_dir()?.join(default_db),
        };
        if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let store = Store::open(&db).with_context(|| format!("cannot open the store {}", db.display()))?;
        let (engine, events) = match anshin_engine::start(fleet, store, Arc::new(SystemClock)) {
            Ok(started) => started,
            Err(e) => {
                if let Some(d) = demo {
                    stop_demo(d).await;
                }
                return Err(e).context("cannot start the engine");
            }
        };
        let info = AppInfo {
            mode: if demo.is_some() { "demo" } else { "fleet" },
            source: source_name,
            db: db.display().to_string(),
            version: env!("CARGO_PKG_VERSION"),
        };
        Ok((Backend { engine: Mutex::new(Some(engine)), demo: Mutex::new(demo), info }, events))
    }

    /// The engine's current picture of every host; empty once it has stopped.
    pub fn servers(&self) -> Vec<ServerView> {
        self.engine.lock().ok().and_then(|e| e.as_ref().map(EngineHandle::servers)).unwrap_or_default()
    }

    pub fn info(&self) -> &AppInfo {
        &self.info
    }

    /// Stops the engine (it stores what is in flight), then the demo. Safe to call twice.
    pub async fn stop(&self) {
        let engine = self.engine.lock().ok().and_then(|mut e| e.take());
        if let Some(engine) = engine {
            match tokio::time::timeout(ENGINE_STOP_TIMEOUT, engine.stop()).await {
                Ok(Ok(())) => tracing::info!("engine stopped"),
                Ok(Err(e)) => tracing::error!(error = %e, "engine stopped with an error"),
                Err(_) => tracing::error!(timeout_secs = ENGINE_STOP_TIMEOUT.as_secs(), "engine did not stop in time"),
            }
        }
        let demo = self.demo.lock().ok().and_then(|mut d| d.take());
        if let Some(demo) = demo {
            stop_demo(demo).await;
        }
    }
}

async fn start_demo() -> Result<Demo> {
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut task = tokio::spawn(anshin_demo::run(anshin_demo::DEMO_FLEET_TOML, shutdown_rx));
    // `run` binds every listener before anything else and returns at once when one fails.
    match tokio::time::timeout(DEMO_BIND_GRACE, &mut task).await {
        Err(_) => Ok(Demo { shutdown, task }),
        Ok(Ok(Err(e))) => Err(e).context("cannot start the demo fleet"),
        Ok(Ok(Ok(()))) => anyhow::bail!("the demo fleet stopped as soon as it started"),
        Ok(Err(e)) => Err(e).context("the demo fleet crashed"),
    }
}

async fn stop_demo(demo: Demo) {
    let _ = demo.shutdown.send(true);
    match tokio::time::timeout(DEMO_STOP_TIMEOUT, demo.task).await {
        Ok(Ok(Ok(()))) => tracing::info!("demo fleet stopped"),
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "demo fleet failed"),
        Ok(Err(e)) => tracing::error!(error = %e, "demo fleet task failed"),
        Err(_) => tracing::error!(timeout_secs = DEMO_STOP_TIMEOUT.as_secs(), "demo fleet did not stop in time"),
    }
}

/// `$XDG_DATA_HOME/anshin-noc`, else `~/.local/share/anshin-noc`.
fn default_data_dir() -> Result<PathBuf> {
    let xdg = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from).filter(|p| p.is_absolute());
    let base = match xdg {
        Some(p) => p,
        None => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .context("neither XDG_DATA_HOME nor HOME is set; pass --db PATH")?;
            home.join(".local").join("share")
        }
    };
    Ok(base.join(Path::new("anshin-noc")))
}
