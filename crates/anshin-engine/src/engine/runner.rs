//! Performs a recovery the decider started: re-confirm, act, re-check, report the outcome.
//!
//! Shape: the decider records a recovery (one per server, enforced by the store) and, after its
//! commit, hands it here; a task re-confirms that the problem is real (automatic recoveries
//! only: SPEC §4 step 1), restarts the service over SSH with the allow-listed command or runs
//! the fleet file's reboot action (a program without a shell, or an HTTP call), re-checks
//! until the check passes or a deadline, and sends the outcome back to the decider, which
//! records it. A stopped engine abandons the task: the store keeps the recovery "running", and
//! the next start marks it interrupted (never repeated by itself).
//!
//! Must not know: plans, hours, mails (the decider decided all that).

use std::sync::Arc;
use std::time::Duration;

use anshin_core::fleet::RebootAction;
use anshin_core::recovery::RecoveryKind;
use anshin_core::{CheckKind, CheckSpec, Fleet};
use tokio::sync::{mpsc, watch};

use super::{ssh_target, Input};
use crate::probe::Prober;
use crate::ssh::SshPool;

/// A restart command may take this long (a database flushing its buffers).
const RESTART_TIMEOUT: Duration = Duration::from_secs(120);
/// A reboot command or API call may take this long to answer.
const REBOOT_CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Re-checks after a restart: this many, this far apart.
const RESTART_RECHECKS: u32 = 15;
const RESTART_RECHECK_EVERY: Duration = Duration::from_secs(2);
/// Re-checks after a reboot: a server takes minutes to come back. The first waits for the
/// platform to have begun the reboot (a check that still answers then proves nothing).
const REBOOT_RECHECKS: u32 = 120;
const REBOOT_RECHECK_EVERY: Duration = Duration::from_secs(5);
const REBOOT_SETTLE: Duration = Duration::from_secs(15);
/// Output of a restart command kept for the log.
const MAX_OUTPUT: usize = 2048;
/// A re-confirmation that failed on the NOC's side (see `ProbeResult::unknown`) is tried again
/// this many times, this far apart, before the recovery gives up without acting.
const RECONFIRM_RETRIES: u32 = 3;
const RECONFIRM_RETRY_EVERY: Duration = Duration::from_secs(2);

/// One recovery to perform.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub id: i64,
    pub host: String,
    pub kind: RecoveryKind,
    /// The check that shows the problem (the incident's: a service, ping or SSH); re-confirmed
    /// before and re-checked after.
    pub check: CheckKind,
    /// Re-confirm the problem first (automatic recoveries).
    pub reconfirm: bool,
}

/// What performs recoveries: the fleet, a prober for the re-checks, SSH sessions of its own.
#[derive(Clone)]
pub(crate) struct Runner {
    fleet: Arc<Fleet>,
    prober: Prober,
    ssh: SshPool,
    http: Option<reqwest::Client>,
    results: mpsc::WeakSender<Input>,
    shutdown: watch::Receiver<bool>,
}

impl Runner {
    pub fn new(
        fleet: Arc<Fleet>,
        prober: Prober,
        results: mpsc::WeakSender<Input>,
        shutdown: watch::Receiver<bool>,
    ) -> Runner {
        Runner { fleet, prober, ssh: SshPool::new(4, RESTART_TIMEOUT), http: http_client(), results, shutdown }
    }

    /// Starts the job; its outcome arrives at the decider as `Input::RecoveryDone`.
    pub fn spawn(&self, job: Job) {
        let runner = self.clone();
        let Some(results) = self.results.upgrade() else { return };
        tokio::spawn(async move {
            let mut shutdown = runner.shutdown.clone();
            let (outcome, detail) = tokio::select! {
                r = runner.perform(&job) => r,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            tracing::info!(host = %job.host, action = %job.kind.id(), outcome, detail = %detail, "recovery finished");
            let _ = results.send(Input::RecoveryDone { id: job.id, outcome: outcome.to_string(), detail }).await;
        });
    }

    async fn perform(&self, job: &Job) -> (&'static str, String) {
        let Some(server) = self.fleet.server(&job.host) else {
            return ("failed", format!("{} is no longer in the fleet file", job.host));
        };
        let spec = server.check_spec(job.check.clone());
        if job.reconfirm {
            let mut r = self.prober.probe(&spec).await;
            // A re-confirmation that failed on our side proves nothing: try a few times, and
            // never act on a problem that could not be confirmed.
            for _ in 0..RECONFIRM_RETRIES {
                if !r.unknown {
                    break;
                }
                tokio::time::sleep(RECONFIRM_RETRY_EVERY).await;
                r = self.prober.probe(&spec).await;
            }
            if r.ok {
                return (
                    "already_up",
                    format!("re-confirmed before acting: {} answers ({})", job.check.id(), r.detail),
                );
            }
            if r.unknown {
                return ("failed", format!("could not re-confirm the problem, nothing was done: {}", r.detail));
            }
        }
        // The problem is real (or an operator asked): the decider mails 対応開始 now, before
        // anything is done to the server.
        if let Some(results) = self.results.upgrade() {
            let _ = results.send(Input::RecoveryActing { id: job.id }).await;
        }
        let acted = match &job.kind {
            RecoveryKind::RestartService(service) => {
                let Some(target) = ssh_target(server) else {
                    return ("failed", "no SSH access in the fleet file".into());
                };
                let command = server.restart_command(*service);
                match self.ssh.exec(&target, &command, MAX_OUTPUT).await {
                    Ok(out) if out.exit_status == Some(0) => Ok(format!("`{command}` exited 0")),
                    Ok(out) => Err(format!(
                        "`{command}` exited {}: {}",
                        out.exit_status.map_or("without a status".to_string(), |s| s.to_string()),
                        first_line(if out.stderr.trim().is_empty() { &out.stdout } else { &out.stderr })
                    )),
                    Err(e) => Err(format!("`{command}`: {e}")),
                }
            }
            RecoveryKind::Reboot => match &server.reboot {
                None => Err("no reboot action in the fleet file".into()),
                Some(action) => self.reboot(&action.for_server(server)).await,
            },
        };
        let acted = match acted {
            Ok(text) => text,
            Err(e) => return ("failed", e),
        };
        let (tries, every) = match job.kind {
            RecoveryKind::RestartService(_) => (RESTART_RECHECKS, RESTART_RECHECK_EVERY),
            RecoveryKind::Reboot => {
                tokio::time::sleep(REBOOT_SETTLE.saturating_sub(REBOOT_RECHECK_EVERY)).await;
                (REBOOT_RECHECKS, REBOOT_RECHECK_EVERY)
            }
        };
        recheck(&self.prober, &spec, tries, every, &acted).await
    }

    async fn reboot(&self, action: &RebootAction) -> Result<String, String> {
        match action {
            RebootAction::Command(argv) => {
                let (program, args) = argv.split_first().ok_or("the reboot command is empty")?;
                let mut cmd = tokio::process::Command::new(program);
                cmd.args(args).stdin(std::process::Stdio::null()).kill_on_drop(true);
                match tokio::time::timeout(REBOOT_CALL_TIMEOUT, cmd.output()).await {
                    Err(_) => Err(format!("{program} did not finish within {} s", REBOOT_CALL_TIMEOUT.as_secs())),
                    Ok(Err(e)) => Err(format!("{program}: {e}")),
                    Ok(Ok(out)) if out.status.success() => Ok(format!("{program} exited 0")),
                    Ok(Ok(out)) => {
                        Err(format!("{program} {}: {}", out.status, first_line(&String::from_utf8_lossy(&out.stderr))))
                    }
                }
            }
            RebootAction::Http { url, token_env } => {
                let http = self.http.as_ref().ok_or("no HTTP client (TLS roots unreadable)")?;
                let mut request = http.post(url).json(&serde_json::json!({ "action": "reboot" }));
                if let Some(var) = token_env {
                    let token = std::env::var(var).map_err(|_| format!("{var} is not set (the reboot API's token)"))?;
                    request = request.bearer_auth(token);
                }
                match request.send().await {
                    Ok(r) if r.status().is_success() => Ok(format!("POST {url}: {}", r.status())),
                    Ok(r) => Err(format!("POST {url}: {}", r.status())),
                    Err(e) => Err(format!("POST {url}: {e}")),
                }
            }
        }
    }
}

/// Probes until the check passes or `tries` are spent.
async fn recheck(
    prober: &Prober,
    spec: &CheckSpec,
    tries: u32,
    every: Duration,
    acted: &str,
) -> (&'static str, String) {
    let mut last = String::new();
    for _ in 0..tries {
        tokio::time::sleep(every).await;
        let r = prober.probe(spec).await;
        if r.ok {
            return ("recovered", format!("{acted}; re-check: {} answers ({})", spec.key.kind.id(), r.detail));
        }
        // A re-check that failed on our side does not make the last real answer stale.
        if !r.unknown || last.is_empty() {
            last = r.detail;
        }
    }
    ("failed", format!("{acted}; re-check: {} still down ({last})", spec.key.kind.id()))
}

fn first_line(s: &str) -> String {
    let line = s.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    crate::probe::visible(line.chars().take(200).collect::<String>().as_bytes())
}

fn http_client() -> Option<reqwest::Client> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder().timeout(REBOOT_CALL_TIMEOUT).tls_backend_preconfigured(tls).build().ok()
}
