//! `anshin-desktop`: the desktop console of Anshin NOC. It embeds the engine (a fleet file, or
//! the demo without one) or, with `--connect URL --token T`, is a console of a remote
//! `anshin serve`. It shows the fleet, pops native notifications and keeps a tray icon.
//!
//! Thin: parses arguments, starts the backend, relays console messages to the window (and to
//! the tray, the title and the notifier), answers the window's requests. No business logic.
//!
//! Exit codes: 0 closed normally, 1 runtime failure, 2 bad input (fleet file, arguments).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The embedded engine's memory goes back to the system after a burst (see anshin-cli).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clap::Parser;
use serde_json::{json, Value};
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::{mpsc, watch};

mod backend;
mod commands;
mod local;
mod mirror;
mod notify;
mod remote;
mod tray;

use backend::{AppInfo, Backend};
use local::{Local, Source};
use mirror::Mirror;
use notify::{Notifier, NotifyPolicy};
use remote::Remote;

/// The Tauri event that carries every console message to the window (the same JSON objects
/// the WebSocket of `anshin serve` sends: snapshot, delta, event; plus connection and
/// open_incident from this shell).
pub const CONSOLE_EVENT: &str = "console";

#[derive(Parser)]
#[command(name = "anshin-desktop", version, about = "Anshin NOC desktop: watches the fleet in a window.")]
struct Cli {
    /// The fleet file. Without it (and without --connect), the demo runs: simulated servers on
    /// 127.77.0.x.
    #[arg(conflicts_with = "connect")]
    fleet: Option<PathBuf>,
    /// The store (SQLite); created when missing. Default: $XDG_DATA_HOME/anshin-noc/desktop.db
    /// (demo.db for the demo), or ~/.local/share/anshin-noc/ when XDG_DATA_HOME is unset.
    #[arg(long, conflicts_with = "connect")]
    db: Option<PathBuf>,
    /// Be a console of a running `anshin serve` (https://HOST:PORT, or http://127.0.0.1:PORT).
    #[arg(long, requires = "token")]
    connect: Option<String>,
    /// The console token for --connect (or the ANSHIN_TOKEN variable).
    #[arg(long, env = "ANSHIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Review a log read-only (a live store or an `anshin export` file): no engine, no network.
    #[arg(long, conflicts_with_all = ["fleet", "connect", "db", "kiosk"])]
    review: Option<PathBuf>,
    /// A PEM CA certificate to trust for --connect (a NOC's own certificate authority).
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Wall display: full screen, no controls, the whole fleet on one screen.
    #[arg(long)]
    kiosk: bool,
    /// Pop a desktop notification for new incidents at or above this level (2–5).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=5))]
    notify_level: u8,
    /// Ask the notification server to play a sound with each notification.
    #[arg(long)]
    notify_sound: bool,
    /// No tray icon.
    #[arg(long)]
    no_tray: bool,
}

/// Shared by the commands and the relay.
pub struct Shell {
    pub backend: Backend,
    pub mirror: Mutex<Mirror>,
    /// Changes only in review mode, when another file is opened.
    pub info: Mutex<AppInfo>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("ANSHIN_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // WebKitGTK's DMA-BUF renderer freezes the window's repaint on machines without a GPU
    // (VMs, VNC, bare-X wall PCs: seen under Xvfb); the shared-memory path works everywhere.
    if std::env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_none() {
        std::env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
    }
    let source = match &cli.fleet {
        Some(path) => match load_fleet(path) {
            Some(fleet) => Some(Source::File { fleet: Box::new(fleet), path: path.clone() }),
            None => return ExitCode::from(2),
        },
        None if cli.review.is_some() => None,
        None => Some(Source::Demo),
    };
    match run(cli, source) {
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

async fn start_backend(cli: &Cli, source: Option<Source>) -> Result<(Backend, AppInfo)> {
    let view = if cli.kiosk { "wall" } else { "operator" };
    let version = env!("CARGO_PKG_VERSION");
    if let Some(path) = &cli.review {
        backend::check_review_file(path).await?;
        let info = AppInfo {
            mode: "review",
            source: path.display().to_string(),
            db: path.display().to_string(),
            version,
            role: "viewer".into(),
            view: "review",
        };
        return Ok((Backend::Review(Mutex::new(path.clone())), info));
    }
    match (&cli.connect, source) {
        (Some(url), _) => {
            let token = cli.token.clone().context("--connect needs --token (or ANSHIN_TOKEN)")?;
            let (remote, role) = Remote::connect(url, token, cli.ca_cert.as_deref()).await?;
            let info =
                AppInfo { mode: "remote", source: remote.url().to_string(), db: String::new(), version, role, view };
            Ok((Backend::Remote(Arc::new(remote)), info))
        }
        (None, Some(source)) => {
            let local = Local::start(source, cli.db.clone()).await?;
            let info = AppInfo {
                mode: local.mode,
                source: local.source.clone(),
                db: local.db().display().to_string(),
                version,
                // Whoever runs the engine on their own fleet file may edit all of it (plans and
                // contracts too); the demo's fleet is not edited.
                role: if local.mode == "fleet" { "admin" } else { "operator" }.into(),
                view,
            };
            Ok((Backend::Local(Box::new(local)), info))
        }
        (None, None) => anyhow::bail!("nothing to watch: give a fleet file or --connect URL"),
    }
}

fn run(cli: Cli, source: Option<Source>) -> Result<ExitCode> {
    let (backend, info) = tauri::async_runtime::block_on(start_backend(&cli, source))?;
    let (stop_feed, feed_shutdown) = watch::channel(false);
    let feed = tauri::async_runtime::block_on(async { backend.feed(feed_shutdown) });
    let shell = Arc::new(Shell { backend, mirror: Mutex::new(Mirror::default()), info: Mutex::new(info) });
    let policy = NotifyPolicy { min_level: cli.notify_level, sound: cli.notify_sound };
    let review = cli.review.is_some();
    let (kiosk, tray_wanted) = (cli.kiosk, !cli.no_tray && !review);
    let relay_shell = shell.clone();
    let mut builder = tauri::Builder::default();
    if review {
        // File → Open…: the window opens the file chooser (the same as its 開く… button).
        builder = builder.menu(review_menu).on_menu_event(|app, event| match event.id.as_ref() {
            "open_review" => {
                let _ = app.emit(MENU_EVENT, "open_review");
            }
            "quit" => app.exit(0),
            _ => {}
        });
    }
    let app = builder
        .manage(shell.clone())
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::snapshot,
            commands::incidents,
            commands::samples,
            commands::customers,
            commands::catalogue,
            commands::server,
            commands::acknowledge,
            commands::act,
            commands::fleet_source,
            commands::fleet_edit,
            commands::escalation,
            commands::maintenance,
            commands::recoveries,
            commands::backups,
            commands::updates,
            commands::update_runs,
            commands::resource_ups,
            commands::config_work,
            commands::audit,
            commands::review,
            commands::open_review,
            commands::save_file,
            commands::reports
        ])
        .setup(move |app| {
            if let Some(w) = app.get_webview_window("main") {
                if kiosk {
                    let _ = w.set_decorations(false);
                    // Without a window manager (a bare-X wall PC) nothing grants full screen:
                    // cover the monitor ourselves as well.
                    if let Ok(Some(m)) = w.current_monitor().or_else(|_| w.primary_monitor()) {
                        let _ = w.set_position(*m.position());
                        let _ = w.set_size(*m.size());
                    }
                    let _ = w.set_fullscreen(true);
                }
            }
            let tray = if tray_wanted { make_tray(app.handle()) } else { None };
            spawn_relay(app.handle().clone(), relay_shell, feed, Notifier::new(policy), tray);
            spawn_signal_watch(app.handle().clone());
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            tauri::async_runtime::block_on(shell.backend.stop());
            return Err(anyhow::Error::new(e).context("cannot open the window"));
        }
    };
    // Returns when the last window is closed or `exit` is called (SIGINT/SIGTERM, tray menu).
    let code = app.run_return(|_, _| {});
    let _ = stop_feed.send(true);
    tauri::async_runtime::block_on(shell.backend.stop());
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// The Tauri event that tells the window a menu item was chosen (payload: its id).
pub const MENU_EVENT: &str = "menu";

/// The review window's menu bar: ファイル → 開く… (Ctrl+O), 終了.
fn review_menu(app: &AppHandle) -> tauri::Result<tauri::menu::Menu<tauri::Wry>> {
    use tauri::menu::{Menu, MenuItem, PredefinedMenuItem, Submenu};
    let open = MenuItem::with_id(app, "open_review", "開く…", true, Some("CmdOrCtrl+O"))?;
    let quit = MenuItem::with_id(app, "quit", "終了", true, Some("CmdOrCtrl+Q"))?;
    let file = Submenu::with_items(app, "ファイル", true, &[&open, &PredefinedMenuItem::separator(app)?, &quit])?;
    Menu::with_items(app, &[&file])
}

/// The tray icon, unless this desktop cannot show one (then only a log line).
fn make_tray(app: &AppHandle) -> Option<tauri::tray::TrayIcon> {
    // A missing appindicator library panics inside the tray crate; the window must still open.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tray::create(app))) {
        Ok(Ok(t)) => Some(t),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "no tray icon");
            None
        }
        Err(_) => {
            tracing::warn!("no tray icon: the system tray library is missing (libayatana-appindicator3-1)");
            None
        }
    }
}

/// Relays every console message to the window, keeps the mirror, the tray and the title
/// current, and pops notifications.
fn spawn_relay(
    app: AppHandle,
    shell: Arc<Shell>,
    mut feed: mpsc::Receiver<Value>,
    mut notifier: Notifier,
    tray: Option<tauri::tray::TrayIcon>,
) {
    tauri::async_runtime::spawn(async move {
        let mut shown = None;
        while let Some(message) = feed.recv().await {
            let worst = shell.mirror.lock().ok().and_then(|mut m| m.apply(&message).then(|| m.worst()));
            if let Some(worst) = worst.filter(|w| shown != Some(*w)) {
                shown = Some(worst);
                let title = tray::summary(&worst);
                if let Some(w) = app.get_webview_window("main") {
                    let _ = w.set_title(&title);
                }
                if let Some(t) = &tray {
                    let _ = t.set_icon(Some(tray::icon(worst.level)));
                    let _ = t.set_tooltip(Some(&title));
                }
            }
            if let Err(e) = app.emit(CONSOLE_EVENT, &message) {
                tracing::debug!(error = %e, "cannot hand a message to the window");
            }
            if let Some(pop) = notifier.on_message(&message) {
                let (app, sound) = (app.clone(), notifier.policy().sound);
                tauri::async_runtime::spawn(notify::show(pop, sound, move |id| {
                    if id != notify::ALARM {
                        open_incident(&app, id);
                    }
                }));
            }
        }
    });
}

/// A clicked notification: bring the window forward on that incident.
fn open_incident(app: &AppHandle, id: i64) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
    let _ = app.emit(CONSOLE_EVENT, json!({"type": "open_incident", "id": id}));
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
