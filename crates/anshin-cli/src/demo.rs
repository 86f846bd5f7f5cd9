//! `anshin demo`: simulated servers on loopback plus the real engine on the demo fleet file.
//! The engine is not told it is a demo; it reads the fleet text like any other.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

/// Where the demo keeps its store when none is given: `$XDG_DATA_HOME/anshin-noc/demo.db`.
fn default_db() -> Result<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .context("neither XDG_DATA_HOME nor HOME is set: pass --db PATH")?;
    let dir = base.join("anshin-noc");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir.join("demo.db"))
}

/// Runs the demo; with `console`, also serves consoles like `anshin serve`.
pub async fn run(
    db: Option<PathBuf>,
    console: Option<(anshin_engine::api::ServeOptions, anshin_engine::api::TokenSet)>,
    json: bool,
) -> Result<ExitCode> {
    let parsed = anshin_core::fleet::parse(anshin_demo::DEMO_FLEET_TOML, "demo-fleet.toml")
        .map_err(|errs| anyhow::anyhow!("the built-in demo fleet is invalid: {}", errs[0]))?;
    let db = match db {
        Some(p) => p,
        None => default_db()?,
    };
    let stop = crate::StopSignals::install()?;
    let (stop_sim, sim_shutdown) = tokio::sync::watch::channel(false);
    let sim = tokio::spawn(async move { anshin_demo::run(anshin_demo::DEMO_FLEET_TOML, sim_shutdown).await });
    // Give the simulator a moment to bind (or fail to) before the engine's first probes.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    if sim.is_finished() {
        return match sim.await? {
            Err(e) => Err(anyhow::anyhow!("{e}")),
            Ok(()) => Err(anyhow::anyhow!("the demo servers stopped at once")),
        };
    }
    if !json {
        crate::output::note(&format!(
            "anshin demo: {} simulated servers on 127.77.0.x, store {}; outages begin in about 20 s. Ctrl-C stops.",
            parsed.fleet.servers.len(),
            db.display()
        ));
    }
    if let Some((options, _)) = &console {
        crate::reserve_console_descriptors(&parsed.fleet, options)?;
    }
    let store = anshin_engine::Store::open(&db)?;
    let started = anshin_engine::start(parsed.fleet.clone(), store, Arc::new(anshin_engine::SystemClock))?;
    let result = match console {
        Some((options, tokens)) => crate::serve(started, &db, options, tokens, json, stop).await,
        None => crate::run_until_signal(started.0, started.1, json, stop, crate::OutputGone::Stop, None).await,
    };
    let _ = stop_sim.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), sim).await;
    result
}

/// A random 32-character token (letters and digits) from the operating system's generator.
pub fn one_time_token() -> String {
    use rand::Rng;
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(32).map(char::from).collect()
}
