//! `anshin`: the command line of Anshin NOC. Thin: parses arguments and calls the engine.
//!
//! The subcommands and their JSON fields are a contract other tools use (see README.md).
//! Exit codes: 0 done, 1 runtime failure, 2 bad input (fleet file, arguments). A reader that
//! closes standard output early (`anshin review … | head -1`) ends a command with 0, quietly;
//! `run` and `demo` then stop their engine cleanly, `serve` goes on without printing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anshin_core::fleet::ParsedFleet;
use anshin_core::resource;
use anshin_engine::{EngineEvent, Store};
use anshin_report::desk::Reports;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// mimalloc gives memory back after a burst (300 consoles reconnecting at once); glibc's
/// arenas kept it (5 GiB measured after such a burst).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod backup;
mod demo;
mod export;
mod output;
mod report;
mod review;
mod secret;
mod updates;
mod verify;

#[derive(Parser)]
#[command(name = "anshin", version, about = "Anshin NOC: watches contracted servers, opens incidents, keeps the log.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a fleet file: exit 0 with a summary, or 2 with FILE:LINE:COL: message.
    Validate { fleet: PathBuf },
    /// Run every check of every server (or one host) once and print the results.
    Check {
        fleet: PathBuf,
        /// Only this server or gateway.
        #[arg(long)]
        host: Option<String>,
        /// One JSON object per line: {"host","check","ok","detail","ms"}.
        #[arg(long)]
        json: bool,
    },
    /// Run the engine until SIGINT/SIGTERM.
    Run {
        fleet: PathBuf,
        /// The store (SQLite); created when missing.
        #[arg(long)]
        db: PathBuf,
        /// One JSON object per line per event.
        #[arg(long)]
        json: bool,
    },
    /// Print the incident log (works while an engine runs, and with none).
    Incidents {
        #[arg(long, visible_alias = "store")]
        db: PathBuf,
        /// Verify the audit log's hash chain instead: exit 0 if intact, 1 with the first
        /// problem found (which entry was changed or is missing).
        #[arg(long, conflicts_with_all = ["open", "json"])]
        verify: bool,
        /// Only incidents still open.
        #[arg(long)]
        open: bool,
        /// One JSON object per line per incident, with its events.
        #[arg(long)]
        json: bool,
        /// At most this many, newest first.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Run the engine headless and serve consoles over HTTP + WebSocket (see README: API).
    Serve {
        fleet: PathBuf,
        #[arg(long)]
        db: PathBuf,
        #[command(flatten)]
        console: ConsoleArgs,
        #[arg(long)]
        json: bool,
    },
    /// Back up one server now (contract §7): a differential against its latest full, or a
    /// full (`--full`, or when it has none). Exit 0 with a summary, 1 when the run failed, 2 when
    /// it could not start (not eligible, no access, no [noc] backup store).
    Backup {
        fleet: PathBuf,
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        host: String,
        #[arg(long)]
        full: bool,
    },
    /// Backup runs and generations, newest first: generation, host, kind, state, start, bytes.
    Backups {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        host: Option<String>,
        /// One JSON object per line: {"host","generation","kind","state","started","finished","bytes",…}.
        #[arg(long)]
        json: bool,
    },
    /// Restore a generation of a server: into a new directory on the server (`--to DIR`) or over
    /// the live files (`--in-place`); `--path` restores only that path.
    Restore {
        fleet: PathBuf,
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        host: String,
        #[arg(long)]
        generation: i64,
        #[arg(long)]
        path: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        in_place: bool,
        /// Who asked on the customer's side (recorded; with an engine running, the customer is
        /// mailed when the restore is done).
        #[arg(long)]
        requested_by: Option<String>,
    },
    /// Pending security updates as the last detection found them (contract §8); `--refresh`
    /// detects now over SSH (through the running engine when there is one) and stores the answer.
    Updates {
        /// The fleet file (needed with --refresh).
        fleet: Option<PathBuf>,
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        refresh: bool,
        /// One JSON object per line: {"host","source","site","package","installed","candidate","advisory","severity","class","since"}.
        #[arg(long)]
        json: bool,
    },
    /// Apply one server's pending security updates (contract §8): all OS updates, the packages
    /// named, or with --cms its WordPress updates. Without --yes prints the commands and exits 2;
    /// exit 0 when the job worked, 1 when it failed, 2 when it could not start.
    Update {
        fleet: PathBuf,
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        host: String,
        /// Only these (comma-separated), among the pending ones.
        #[arg(long, value_delimiter = ',')]
        packages: Vec<String>,
        #[arg(long)]
        cms: bool,
        #[arg(long)]
        yes: bool,
    },
    /// The mail outbox: every mail with its delivery state (works while an engine runs).
    Outbox {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Send one test mail through the fleet's [smtp] section, directly (not via the outbox).
    MailTest {
        fleet: PathBuf,
        /// Recipient address.
        #[arg(long)]
        to: String,
    },
    /// Export a part of the log (a date range, a customer) into a self-contained store file.
    Export {
        #[arg(long)]
        db: PathBuf,
        /// The new file; an existing one is refused unless --force.
        #[arg(long)]
        out: PathBuf,
        /// YYYY-MM-DD (Japan time).
        #[arg(long)]
        from: Option<String>,
        /// YYYY-MM-DD (Japan time), inclusive.
        #[arg(long)]
        to: Option<String>,
        /// Only this customer's servers (needs --fleet).
        #[arg(long, requires = "fleet")]
        customer: Option<String>,
        #[arg(long)]
        fleet: Option<PathBuf>,
        #[arg(long)]
        force: bool,
    },
    /// Review the incident log of a store or an export, filtered, each with its story.
    Review(review::ReviewArgs),
    /// Draw a customer's monthly report (HTML, charts, PDF) into a directory; --send mails it.
    Report {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        fleet: PathBuf,
        #[arg(long)]
        customer: String,
        /// YYYY-MM (Japan time).
        #[arg(long)]
        month: String,
        /// Where the files go (default: the current directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Queue the mail in the outbox and deliver it through [smtp].
        #[arg(long)]
        send: bool,
    },
    /// Start simulated servers on loopback (127.77.x.y) and run the engine on them.
    Demo {
        /// The store; default: a demo.db under the user's data directory.
        #[arg(long)]
        db: Option<PathBuf>,
        /// Also serve consoles (API + browser console) on this loopback address, e.g. 127.0.0.1:8470.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// `ROLE TOKEN` lines for --listen; default: the ANSHIN_TOKENS variable, else a one-time
        /// operator token printed at start.
        #[arg(long)]
        tokens: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Store or remove a secret in the OS keyring (smtp, ssh-passphrase, reboot:LABEL).
    #[command(subcommand)]
    Secret(secret::SecretCommand),
}

/// Where and for whom `anshin serve` answers consoles.
#[derive(clap::Args)]
struct ConsoleArgs {
    /// Address and port, e.g. 127.0.0.1:8470. Beyond loopback only with --tls-cert and --tls-key.
    #[arg(long)]
    listen: std::net::SocketAddr,
    /// `ROLE TOKEN` lines (operator / viewer); default: the ANSHIN_TOKENS variable.
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// PEM certificate chain for HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// How much the console server may take (defaults in the README, "Console API").
#[derive(clap::Args, Clone, Copy)]
struct LimitArgs {
    /// Console connections at once; beyond it the port waits.
    #[arg(long, default_value_t = 512)]
    max_consoles: usize,
    /// Connections from one address at once (loopback is not limited).
    #[arg(long, default_value_t = 64)]
    max_consoles_per_peer: usize,
    /// Connections still in their TLS handshake or before their first request; the oldest is
    /// closed when a new one needs the room.
    #[arg(long, default_value_t = 64)]
    max_pending_consoles: usize,
    /// Seconds a request head (and a TLS handshake) may take.
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Seconds a console connection may stay without traffic.
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,
}

impl LimitArgs {
    fn limits(self) -> anshin_engine::api::ConsoleLimits {
        use std::time::Duration;
        anshin_engine::api::ConsoleLimits {
            header_read: Duration::from_secs(self.header_timeout.max(1)),
            idle: Duration::from_secs(self.idle_timeout.max(1)),
            handshake: Duration::from_secs(self.header_timeout.max(1)),
            max_connections: self.max_consoles.max(1),
            max_pending: self.max_pending_consoles.max(1),
            max_per_peer: self.max_consoles_per_peer.max(1),
            ..anshin_engine::api::ConsoleLimits::default()
        }
    }
}

impl ConsoleArgs {
    fn options(&self) -> anshin_engine::api::ServeOptions {
        anshin_engine::api::ServeOptions {
            addr: self.listen,
            tls: self.tls_cert.clone().zip(self.tls_key.clone()),
            limits: self.limits.limits(),
        }
    }
}

/// The console tokens (re-read from the same source on SIGHUP), or the exit code of bad input
/// (the message is printed).
fn load_tokens(file: Option<&Path>) -> Result<anshin_engine::api::TokenSet, ExitCode> {
    match anshin_engine::api::Tokens::load(file) {
        Ok(t) => Ok(anshin_engine::api::TokenSet::new(t, file.map(Path::to_path_buf))),
        Err(e) => {
            output::note(&format!("anshin: {e}"));
            Err(ExitCode::from(2))
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("ANSHIN_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        // The reader of standard output went away (`| head -1`): it had what it wanted.
        Err(e) if e.downcast_ref::<output::OutputError>().is_some_and(output::OutputError::reader_left) => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            output::note(&format!("anshin: {e:#}"));
            ExitCode::from(1)
        }
    }
}

fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Validate { fleet } => validate(&fleet),
        Command::Check { fleet, host, json } => with_fleet(&fleet, |f| runtime()?.block_on(check(f, host, json))),
        Command::Run { fleet: path, db, json } => with_fleet(&path, |f| runtime()?.block_on(run(f, &path, &db, json))),
        Command::Incidents { db, verify: true, .. } => verify::run(&db),
        Command::Incidents { db, open, json, limit, .. } => incidents(&db, open, json, limit),
        Command::Serve { fleet, db, console, json } => {
            let tokens = match load_tokens(console.tokens.as_deref()) {
                Ok(t) => t,
                Err(code) => return Ok(code),
            };
            with_fleet(&fleet, |f| {
                runtime()?.block_on(async {
                    let stop = StopSignals::install()?;
                    let options = console.options();
                    reserve_console_descriptors(&f, &options)?;
                    let store = Store::open(&db)?;
                    let started = anshin_engine::start(f, store, Arc::new(anshin_engine::SystemClock))?;
                    // A changed fleet file (or SIGHUP) applies without a restart.
                    started.0.watch_fleet_file(fleet.clone());
                    serve(started, &db, options, tokens, json, stop).await
                })
            })
        }
        Command::Outbox { db, json, limit } => outbox(&db, json, limit),
        Command::Backup { fleet, db, host, full } => {
            with_fleet(&fleet, |f| runtime()?.block_on(backup::backup(f, &db, &host, full)))
        }
        Command::Backups { db, host, json } => backup::list(&db, host.as_deref(), json),
        Command::Updates { fleet: None, db, host, refresh, json } => {
            runtime()?.block_on(updates::updates(None, &db, host.as_deref(), refresh, json))
        }
        Command::Updates { fleet: Some(fleet), db, host, refresh, json } => {
            with_fleet(&fleet, |f| runtime()?.block_on(updates::updates(Some(f), &db, host.as_deref(), refresh, json)))
        }
        Command::Update { fleet, db, host, packages, cms, yes } => {
            with_fleet(&fleet, |f| runtime()?.block_on(updates::update(f, &db, &host, packages, cms, yes)))
        }
        Command::Restore { fleet, db, host, generation, path, to, in_place, requested_by } => with_fleet(&fleet, |f| {
            let (path, to, asked) = (path.as_deref(), to.as_deref(), requested_by.as_deref());
            runtime()?.block_on(backup::restore(f, &db, &host, generation, path, to, in_place, asked))
        }),
        Command::Export { db, out, from, to, customer, fleet, force } => {
            export::run(&db, &out, from, to, customer, fleet, force)
        }
        Command::Review(args) => review::run(args),
        Command::Report { db, fleet, customer, month, out, send } => {
            with_fleet(&fleet, |f| runtime()?.block_on(report::run(f, &db, &customer, &month, out, send)))
        }
        Command::Secret(command) => secret::run(command),
        Command::MailTest { fleet, to } => with_fleet(&fleet, |f| runtime()?.block_on(mail_test(f, to))),
        Command::Demo { db, listen, tokens, json } => {
            let console = match listen {
                Some(addr) if tokens.is_none() && std::env::var_os("ANSHIN_TOKENS").is_none() => {
                    // A demo needs no token file: one operator token for this run only.
                    let token = demo::one_time_token();
                    output::note(&format!(
                        "anshin demo: open http://{addr}/?token={token} (operator token for this run)"
                    ));
                    let t = anshin_engine::api::Tokens::parse(&format!("operator {token} demo"), "demo")
                        .map_err(anyhow::Error::msg)?;
                    Some((demo_options(addr), anshin_engine::api::TokenSet::new(t, None)))
                }
                Some(addr) => match load_tokens(tokens.as_deref()) {
                    Ok(t) => Some((demo_options(addr), t)),
                    Err(code) => return Ok(code),
                },
                None => None,
            };
            runtime()?.block_on(demo::run(db, console, json))
        }
    }
}

/// The demo's console server: loopback, no TLS, default limits.
fn demo_options(addr: std::net::SocketAddr) -> anshin_engine::api::ServeOptions {
    anshin_engine::api::ServeOptions { addr, tls: None, limits: anshin_engine::api::ConsoleLimits::default() }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// Reads and validates a fleet file, printing diagnostics; `Err(code)` when it is unusable.
fn load_fleet(path: &Path) -> Result<ParsedFleet, ExitCode> {
    anshin_engine::fleet_file::load_or_report(path).ok_or(ExitCode::from(2))
}

fn with_fleet(path: &Path, f: impl FnOnce(anshin_core::Fleet) -> Result<ExitCode>) -> Result<ExitCode> {
    match load_fleet(path) {
        Ok(parsed) => f(parsed.fleet),
        Err(code) => Ok(code),
    }
}

fn validate(path: &Path) -> Result<ExitCode> {
    match load_fleet(path) {
        Ok(ParsedFleet { fleet, .. }) => {
            output::text(&format!(
                "{}: ok — {} customers, {} servers, {} gateways, {} checks every {} s ({} attempts, {} s timeout)",
                path.display(),
                fleet.customers.len(),
                fleet.servers.len(),
                fleet.gateways.len(),
                fleet.checks().len(),
                fleet.noc.interval_secs,
                fleet.noc.attempts,
                fleet.noc.timeout_secs
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(code) => Ok(code),
    }
}

async fn check(fleet: anshin_core::Fleet, host: Option<String>, json: bool) -> Result<ExitCode> {
    let specs: Vec<_> = fleet.checks().into_iter().filter(|c| host.as_ref().is_none_or(|h| &c.key.host == h)).collect();
    if specs.is_empty() {
        if let Some(h) = host {
            output::note(&format!("no server or gateway labelled \"{h}\" in the fleet file"));
            return Ok(ExitCode::from(2));
        }
    }
    let prober = anshin_engine::probe::Prober::new(std::time::Duration::from_secs(fleet.noc.timeout_secs))?;
    let permits = Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = Vec::new();
    for spec in specs {
        let (prober, permits) = (prober.clone(), permits.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await;
            let r = prober.probe(&spec).await;
            (spec, r)
        }));
    }
    anshin_engine::secrets::Secrets::for_fleet(&fleet).activate(); // an encrypted key's passphrase
    let pool = anshin_engine::ssh::SshPool::new(16, std::time::Duration::from_secs(fleet.noc.timeout_secs));
    let mut polls = Vec::new();
    for s in fleet.servers.iter().filter(|s| host.as_ref().is_none_or(|h| &s.label == h)) {
        let Some(target) = anshin_engine::engine::ssh_target(s).filter(|_| fleet.plan_of(s).resource_monitoring())
        else {
            continue;
        };
        let pool = pool.clone();
        polls.push(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let out = pool.exec(&target, resource::POLL_COMMAND, resource::MAX_OUTPUT).await;
            (target.host, out, started.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    for t in tasks {
        let (spec, r) = t.await?;
        output::check_line(&spec.key, &r, json)?;
    }
    for p in polls {
        let (label, out, ms) = p.await?;
        let sample = match out {
            Ok(o) => resource::parse_poll(&o.stdout).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match sample {
            Err(e) => output::resource_line(&label, "resources", None, None, &e, ms, json)?,
            Ok(sample) => {
                match &sample.cpus {
                    Ok(n) => {
                        output::resource_line(&label, "cpus", Some(f64::from(*n)), None, &n.to_string(), ms, json)?
                    }
                    Err(e) => output::resource_line(&label, "cpus", None, None, &e.to_string(), ms, json)?,
                }
                for r in resource::Resource::ALL {
                    match (sample.reading(r), sample.level(r)) {
                        (Ok(Some(reading)), level) => {
                            let level = level.ok().flatten().map(|l| l.number());
                            output::resource_line(
                                &label,
                                r.as_str(),
                                Some(reading.value),
                                level,
                                &reading.text,
                                ms,
                                json,
                            )?
                        }
                        (Ok(None), _) => {} // nothing to measure (no MTA): not an error
                        (Err(e), _) => output::resource_line(&label, r.as_str(), None, None, &e.to_string(), ms, json)?,
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run(fleet: anshin_core::Fleet, path: &Path, db: &Path, json: bool) -> Result<ExitCode> {
    let stop = StopSignals::install()?;
    let store = Store::open(db)?;
    let (handle, events) = anshin_engine::start(fleet, store, Arc::new(anshin_engine::SystemClock))?;
    handle.watch_fleet_file(path.to_path_buf());
    let reports = start_reports(&handle, db);
    let result = run_until_signal(handle, events, json, stop, OutputGone::Stop, None).await;
    reports.stop().await;
    result
}

/// The monthly report schedule beside the engine, on its store.
fn start_reports(handle: &anshin_engine::EngineHandle, db: &Path) -> Reports {
    let clock = Arc::new(anshin_engine::SystemClock);
    let console = handle.console();
    Reports::start(db.to_path_buf(), console.shared_fleet(), clock, console.outbox_wake())
}

/// Before the engine starts: the fleet's probes plus every console connection the server may
/// hold must fit in the file-descriptor limit (raised to the hard limit), so consoles can never
/// take what the probes need. Refused with the number otherwise.
pub(crate) fn reserve_console_descriptors(
    fleet: &anshin_core::Fleet,
    options: &anshin_engine::api::ServeOptions,
) -> Result<()> {
    let (probes, why) = anshin_engine::engine::fleet_descriptors(fleet);
    let consoles = options.limits.descriptors();
    anshin_engine::engine::descriptors::reserve(probes + consoles, &format!("{why} + {consoles} for consoles"))?;
    Ok(())
}

/// Serves consoles from a started engine until SIGINT/SIGTERM, then stops both. Its standard
/// output closing does not stop it: the consoles are what it is for.
pub(crate) async fn serve(
    (handle, events): (anshin_engine::EngineHandle, tokio::sync::broadcast::Receiver<EngineEvent>),
    db: &Path,
    options: anshin_engine::api::ServeOptions,
    tokens: anshin_engine::api::TokenSet,
    json: bool,
    stop: StopSignals,
) -> Result<ExitCode> {
    let reports = start_reports(&handle, db);
    let (stop_api, api_shutdown) = tokio::sync::watch::channel(false);
    let scheme = if options.tls.is_some() { "https" } else { "http" };
    let addr = options.addr;
    let api = tokio::spawn(anshin_engine::api::serve(
        options,
        handle.console(),
        tokens.clone(),
        db.to_path_buf(),
        anshin_report::desk::routes(reports.desk.clone()),
        api_shutdown,
    ));
    // A bind failure ends the API at once: report it instead of running without consoles.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    if api.is_finished() {
        let _ = handle.stop().await;
        reports.stop().await;
        match api.await? {
            Err(e) => anyhow::bail!("cannot serve on {addr}: {e}"),
            Ok(()) => anyhow::bail!("the console API stopped at once"),
        }
    }
    output::note(&format!(
        "anshin serve: console on {scheme}://{addr}/ (wall display: {scheme}://{addr}/wall), API under /api/v1/"
    ));
    let result = run_until_signal(handle, events, json, stop, OutputGone::KeepRunning, Some(tokens)).await;
    let _ = stop_api.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), api).await;
    reports.stop().await;
    result
}

/// SIGTERM and SIGINT, caught from the moment this exists: install it before anything listens
/// or starts, so a signal that comes early still stops the engine cleanly (not the default
/// action, which would end the process mid-write).
/// SIGHUP is caught too: it re-reads the console tokens file (`serve`), never kills.
pub(crate) struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl StopSignals {
    pub(crate) fn install() -> Result<StopSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// What an engine command does when its standard output can no longer be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputGone {
    /// `run`, `demo`: printing is what the command is for; stop the engine cleanly and end
    /// (exit 0 when the reader simply went away: `anshin run --json | head -1`).
    Stop,
    /// `serve`: the consoles are what it is for; say so once on standard error and go on.
    KeepRunning,
}

/// Prints events until SIGINT or SIGTERM (or, with [`OutputGone::Stop`], until standard output
/// is gone), then stops the engine cleanly.
pub(crate) async fn run_until_signal(
    mut handle: anshin_engine::EngineHandle,
    mut events: tokio::sync::broadcast::Receiver<EngineEvent>,
    json: bool,
    mut stop: StopSignals,
    on_output_gone: OutputGone,
    tokens: Option<anshin_engine::api::TokenSet>,
) -> Result<ExitCode> {
    let (gone_tx, mut gone) = tokio::sync::oneshot::channel::<output::OutputError>();
    let printer = tokio::spawn(async move {
        let mut dropped: u64 = 0;
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Err(e) = output::event_line(&e, json) {
                        if on_output_gone == OutputGone::KeepRunning {
                            output::note(&format!("anshin: {e}; events are no longer printed (they are in the store, consoles still get them)"));
                        }
                        let _ = gone_tx.send(e);
                        break;
                    }
                }
                // Never silent: the reader of the events is told in its own stream (a line
                // `{"event":"events_dropped","count":N,"total":T}` in JSON), and on stderr.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    dropped += n;
                    output::note(&format!(
                        "anshin: output fell behind, {n} events not printed ({dropped} in all; every one is in the store)"
                    ));
                    let printed = if json {
                        output::json(&output::EventsDropped::new(n, dropped, chrono::Utc::now()))
                    } else {
                        output::text(&format!("… {n} events not printed (output fell behind; they are in the store)"))
                    };
                    if let Err(e) = printed {
                        let _ = gone_tx.send(e);
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    let stop_output = on_output_gone == OutputGone::Stop;
    let (result, output_error) = loop {
        tokio::select! {
            _ = stop.term.recv() => break (handle.stop().await, None),
            _ = stop.int.recv() => break (handle.stop().await, None),
            Ok(e) = &mut gone, if stop_output => break (handle.stop().await, Some(e)),
            _ = stop.hup.recv() => match &tokens {
                // Revocation without a restart: a bad file keeps the tokens in force.
                Some(t) => match t.reload() {
                    Ok(n) => output::note(&format!("anshin: SIGHUP: console tokens re-read ({n} tokens)")),
                    Err(e) => output::note(&format!("anshin: SIGHUP: tokens not changed: {e}")),
                },
                None => output::note("anshin: SIGHUP: nothing to re-read (no console tokens)"),
            },
            r = handle.finished() => break (r, None),
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), printer).await;
    result?;
    match output_error {
        Some(e) => Err(e.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn incidents(db: &Path, open: bool, json: bool, limit: usize) -> Result<ExitCode> {
    let store = match Store::open_read_only(db) {
        Ok(s) => s,
        Err(e) => {
            output::note(&format!("anshin: {e}"));
            return Ok(ExitCode::from(2));
        }
    };
    for inc in store.incidents(open, limit)? {
        output::incident_line(&inc, json)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn outbox(db: &Path, json: bool, limit: usize) -> Result<ExitCode> {
    let store = match Store::open_read_only(db) {
        Ok(s) => s,
        Err(e) => {
            output::note(&format!("anshin: {e}"));
            return Ok(ExitCode::from(2));
        }
    };
    for m in store.outbox(limit)? {
        output::outbox_line(&m, json)?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn mail_test(fleet: anshin_core::Fleet, to: String) -> Result<ExitCode> {
    let Some(smtp) = &fleet.smtp else {
        output::note("the fleet file has no [smtp] section: add one, e.g. [smtp] url = \"smtp://127.0.0.1:2525\"");
        return Ok(ExitCode::from(2));
    };
    let secrets = anshin_engine::secrets::Secrets::for_fleet(&fleet);
    let settings = anshin_engine::mail::SmtpSettings::for_fleet(&fleet, &secrets)?.context("no [smtp] section")?;
    let id = anshin_engine::mail::send_test(&settings, &fleet.noc.mail_from, std::slice::from_ref(&to)).await?;
    output::text(&format!("test mail {id} accepted by {} for {to}", smtp.url))?;
    Ok(ExitCode::SUCCESS)
}
