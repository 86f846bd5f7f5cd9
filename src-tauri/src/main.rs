//! `anshin-desktop`: the desktop shell of Anshin NOC. It embeds the engine and shows the fleet.
//!
//! Thin: parses arguments, starts the backend (engine, or demo + engine), exposes read-only
//! commands to the window and forwards every engine event to it. On close it stops the engine
//! and the demo. No business logic here.
//!
//! Exit codes: 0 closed normally, 1 runtime failure, 2 bad input (fleet file, arguments).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anshin_engine::EngineEvent;
use anyhow::Result;
use clap::Parser;
use tauri::{AppHandle, Emitter};
use tokio::sync::broadcast;

mod backend;
mod commands;
mod dto;

use backend::{Backend, Source};

#[derive(Parser)]
#[command(name = "anshin-desktop", version, about = "Anshin NOC desktop: watches the fleet in a window.")]
struct Cli {
    /// The fleet file. Without it, the demo runs: simulated servers on 127.77.0.x.
    fleet: Option<PathBuf>,
    /// The store (SQLite); created when missing. Default: $XDG_DATA_HOME/anshin-noc/desktop.db
    /// (demo.db for the demo), or ~/.local/share/anshin-noc/ when XDG_DATA_HOME is unset.
    #[arg(long)]
    db: Option<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("ANSHIN_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let source = match &cli.fleet {
        Some(path) => match load_fleet(path) {
            Some(fleet) => Source::File { fleet, path: path.clone() },
            None => return ExitCode::from(2),
        },
        None => Source::Demo,
    };
    match run(source, cli.db) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("anshin-desktop: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Reads and validates the fleet file, printing its diagnostics; `None` when it is unusable.
fn load_fleet(path: &Path) -> Option<anshin_core::Fleet> {
    anshin_engine::fleet_file::load_or_report(path).map(|p| p.fleet)
}

fn run(source: Source, db: Option<PathBuf>) -> Result<ExitCode> {
    let (backend, events) = tauri::async_runtime::block_on(Backend::start(source, db))?;
    let backend = Arc::new(backend);
    let app = tauri::Builder::default()
        .manage(backend.clone())
        .invoke_handler(tauri::generate_handler![commands::servers, commands::app_info])
        .setup(move |app| {
            spawn_forwarder(app.handle().clone(), events);
            spawn_signal_watch(app.handle().clone());
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            tauri::async_runtime::block_on(backend.stop());
            return Err(anyhow::Error::new(e).context("cannot open the window"));
        }
    };
    // Returns when the last window is closed or `exit` is called (SIGINT/SIGTERM).
    let code = app.run_return(|_, _| {});
    tauri::async_runtime::block_on(backend.stop());
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// Sends every engine event to the window, unchanged (see `dto::ENGINE_EVENT`).
fn spawn_forwarder(app: AppHandle, mut events: broadcast::Receiver<EngineEvent>) {
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Err(err) = app.emit(dto::ENGINE_EVENT, &e) {
                        tracing::debug!(error = %err, "cannot emit an engine event");
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the window fell behind the engine's events");
                    // The window re-reads `servers` on any event, so one notice is enough.
                    let _ = app.emit(dto::ENGINE_EVENT, serde_json::json!({ "event": "lagged", "missed": missed }));
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

/// SIGINT/SIGTERM close the app the normal way, so the engine is stopped cleanly.
fn spawn_signal_watch(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            tracing::warn!("cannot watch SIGINT/SIGTERM");
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("signal received, closing");
        app.exit(0);
    });
}
