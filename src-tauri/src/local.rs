//! The embedded backend: the engine in this process, and in the demo also the simulated fleet.
//!
//! Owns: starting them on the right fleet and store, and stopping them in order (engine first,
//! so it does not record the demo's listeners closing as outages; then the demo).
//! Must not: decide anything about checks or incidents — that is the engine's and core's job.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anshin_core::Fleet;
use anshin_engine::store::samples::Sample;
use anshin_engine::store::IncidentRecord;
use anshin_engine::view::CustomerView;
use anshin_engine::{Console, EngineHandle, Store, SystemClock};
use anshin_report::desk::{ReportDesk, Reports};
use anyhow::{Context, Result};
use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// If the demo's `run` returns this soon, it failed to bind (it binds everything first).
const DEMO_BIND_GRACE: Duration = Duration::from_millis(300);
const ENGINE_STOP_TIMEOUT: Duration = Duration::from_secs(10);
const DEMO_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the fleet comes from.
#[derive(Debug)]
pub enum Source {
    /// A validated fleet file.
    File { fleet: Box<Fleet>, path: PathBuf },
    /// The built-in demo: simulated servers on 127.77.0.x plus its fleet file.
    Demo,
}

struct Demo {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), anshin_demo::DemoError>>,
}

/// The engine (and demo) behind the window.
pub struct Local {
    engine: Mutex<Option<EngineHandle>>,
    /// The monthly report schedule beside the engine, and its desk for the window.
    reports: Mutex<Option<Reports>>,
    pub desk: Arc<ReportDesk>,
    console: Console,
    demo: Mutex<Option<Demo>>,
    db: PathBuf,
    /// "demo" or "fleet".
    pub mode: &'static str,
    /// The fleet file (or the demo's name).
    pub source: String,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local").field("source", &self.source).finish_non_exhaustive()
    }
}

impl Local {
    /// Starts the demo fleet (if asked) and the engine. Must run inside the Tauri (tokio) runtime.
    pub async fn start(source: Source, db: Option<PathBuf>) -> Result<Local> {
        let (fleet, source_name, demo, default_db, file) = match source {
            Source::File { fleet, path } => (*fleet, path.display().to_string(), None, "desktop.db", Some(path)),
            Source::Demo => {
                let demo = start_demo().await?;
                let name = "demo-fleet.toml";
                let parsed = anshin_core::fleet::parse(anshin_demo::DEMO_FLEET_TOML, name).map_err(|errors| {
                    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    anyhow::anyhow!("the built-in demo fleet is invalid (a bug):\n{}", lines.join("\n"))
                })?;
                (parsed.fleet, name.to_string(), Some(demo), "demo.db", None)
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
        let (engine, _events) = match anshin_engine::start(fleet, store, Arc::new(SystemClock)) {
            Ok(started) => started,
            Err(e) => {
                if let Some(d) = demo {
                    stop_demo(d).await;
                }
                return Err(e).context("cannot start the engine");
            }
        };
        // A changed fleet file (or SIGHUP) applies without a restart.
        if let Some(path) = file {
            engine.watch_fleet_file(path);
        }
        let console = engine.console();
        let reports = Reports::start(db.clone(), console.shared_fleet(), Arc::new(SystemClock), console.outbox_wake());
        Ok(Local {
            desk: reports.desk.clone(),
            reports: Mutex::new(Some(reports)),
            console: engine.console(),
            engine: Mutex::new(Some(engine)),
            mode: if demo.is_some() { "demo" } else { "fleet" },
            demo: Mutex::new(demo),
            db,
            source: source_name,
        })
    }

    pub fn console(&self) -> Console {
        self.console.clone()
    }

    /// The fleet in force (a live reload changes it).
    pub fn fleet(&self) -> Arc<Fleet> {
        self.console.fleet()
    }

    pub fn db(&self) -> &Path {
        &self.db
    }

    pub fn customers(&self) -> Vec<CustomerView> {
        anshin_engine::view::customers(&self.console.fleet(), chrono::Utc::now())
    }

    /// Incidents with their events, newest first (a read-only connection of its own).
    pub async fn incidents(&self, open: bool, limit: usize) -> Result<Vec<IncidentRecord>> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || Ok(Store::open_read_only(&db)?.incidents(open, limit)?)).await?
    }

    /// One resource's readings of the last `hours`, oldest first.
    pub async fn samples(&self, host: String, resource: String, hours: u32) -> Result<Vec<Sample>> {
        let db = self.db.clone();
        let now = Utc::now();
        let since = now - chrono::Duration::hours(i64::from(hours));
        let retention = self.fleet().retention;
        tokio::task::spawn_blocking(move || {
            Ok(Store::open_read_only(&db)?.series(&host, &resource, since, now, &retention)?.1)
        })
        .await?
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
        let reports = self.reports.lock().ok().and_then(|mut r| r.take());
        if let Some(reports) = reports {
            reports.stop().await;
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
