//! Performs a recovery the decider started: re-confirm, act, re-check, report the outcome.
//!
//! Shape: the decider records a recovery (one per server, enforced by the store) and, after its
//! commit, hands it here; a task re-confirms that the problem is real (automatic recoveries
//! only: contract §4 step 1), restarts the service over SSH with the allow-listed command or runs
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

use super::Input;
use crate::fleet_file::ssh_target;
use crate::probe::Prober;
use crate::secrets::Secrets;
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
    /// Where reboot API tokens come from.
    secrets: Arc<Secrets>,
    results: mpsc::WeakSender<Input>,
    shutdown: watch::Receiver<bool>,
    /// The job running on each server, to stop it when the server leaves the fleet.
    running: Arc<std::sync::Mutex<std::collections::HashMap<String, tokio::task::AbortHandle>>>,
}

impl Runner {
    pub fn new(
        fleet: Arc<Fleet>,
        prober: Prober,
        results: mpsc::WeakSender<Input>,
        shutdown: watch::Receiver<bool>,
    ) -> Runner {
        let secrets = Arc::new(Secrets::for_fleet(&fleet));
        Runner {
            fleet,
            prober,
            ssh: SshPool::new(4, RESTART_TIMEOUT),
            http: http_client(),
            secrets,
            results,
            shutdown,
            running: Arc::default(),
        }
    }

    /// Jobs started from now on use this fleet (a live reload); running ones finish with theirs.
    pub fn set_fleet(&mut self, fleet: Arc<Fleet>, prober: Prober) {
        self.secrets = Arc::new(Secrets::for_fleet(&fleet));
        self.fleet = fleet;
        self.prober = prober;
    }

    /// Stops the job running on a server that left the fleet (its record is marked
    /// interrupted by the decider; no outcome arrives).
    pub fn abort(&self, host: &str) {
        if let Some(task) = self.running.lock().unwrap_or_else(|e| e.into_inner()).remove(host) {
            task.abort();
        }
    }

    /// Starts the job; its outcome arrives at the decider as `Input::RecoveryDone`.
    pub fn spawn(&self, job: Job) {
        let runner = self.clone();
        let Some(results) = self.results.upgrade() else { return };
        let (host, running) = (job.host.clone(), self.running.clone());
        let task = tokio::spawn(async move {
            let mut shutdown = runner.shutdown.clone();
            let (outcome, detail) = tokio::select! {
                r = runner.perform(&job) => r,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            tracing::info!(host = %job.host, action = %job.kind.id(), outcome, detail = %detail, "recovery finished");
            runner.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&job.host);
            let _ = results.send(Input::RecoveryDone { id: job.id, outcome: outcome.to_string(), detail }).await;
        });
        running.lock().unwrap_or_else(|e| e.into_inner()).insert(host, task.abort_handle());
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
                Some(action) => self.reboot(&server.label, &action.for_server(server)).await,
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

    async fn reboot(&self, label: &str, action: &RebootAction) -> Result<String, String> {
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
                let token = match token_env {
                    None => None,
                    Some(var) => {
                        let (secrets, label, var) = (self.secrets.clone(), label.to_string(), var.clone());
                        // Files and the keyring block: off the async workers.
                        let found = tokio::task::spawn_blocking(move || secrets.reboot_token(&label, &var))
                            .await
                            .map_err(|e| format!("looking up the reboot token: {e}"))?;
                        Some(found.map_err(|e| e.to_string())?)
                    }
                };
                call_reboot_api(http, url, token.as_ref().map(|t| t.expose())).await
            }
        }
    }
}

/// POSTs the reboot request. Only a 2xx answer counts: a redirect is never followed (the
/// client has no redirect policy), since following one turned the POST into a GET to another
/// host, carried the Referer there, and counted that host's 200 as a reboot. A token never
/// goes in clear beyond loopback (validation refuses such a fleet; this is the last check).
async fn call_reboot_api(http: &reqwest::Client, url: &str, token: Option<&str>) -> Result<String, String> {
    let mut request = http.post(url).json(&serde_json::json!({ "action": "reboot" }));
    if let Some(token) = token {
        if let Some(why) = anshin_core::fleet::token_in_clear(url) {
            return Err(why);
        }
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => Ok(format!("POST {url}: {}", r.status())),
        Ok(r) if r.status().is_redirection() => {
            let to = r
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| r.url().join(l).ok())
                .map_or("an unnamed place".to_string(), |u| {
                    u.host_str().map_or(u.to_string(), |h| crate::probe::visible(h.as_bytes()))
                });
            Err(format!("POST {url}: {}: the API answered a redirect to {to}: not followed", r.status()))
        }
        Ok(r) => Err(format!("POST {url}: {}", r.status())),
        Err(e) => Err(format!("POST {url}: {e}")),
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
    reqwest::Client::builder()
        .timeout(REBOOT_CALL_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(tls)
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    type Seen = Arc<std::sync::Mutex<Vec<String>>>;

    /// A real HTTP server on loopback: answers every request with `answer` and records what
    /// it received. Returns its address.
    async fn server(ip: &str, answer: String) -> (String, Seen) {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen: Seen = Arc::default();
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                // Bounded: one request (head and a small JSON body) per connection.
                while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(300), conn.read(&mut buf)).await {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") && got.ends_with(b"}") {
                        break;
                    }
                }
                record.lock().unwrap().push(String::from_utf8_lossy(&got).into_owned());
                let _ = conn.write_all(answer.as_bytes()).await;
                let _ = conn.shutdown().await;
            }
        });
        (addr, seen)
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

    /// The finding: a 302/307 to another host was followed (the POST became a GET there, the
    /// Referer went along) and that host's 200 counted as a reboot. Now neither server but the
    /// first sees a request, and the outcome is a failure naming the redirect.
    #[tokio::test]
    async fn a_redirect_is_a_failed_reboot_and_is_not_followed() {
        let http = http_client().unwrap();
        for status in ["302 Found", "307 Temporary Redirect", "308 Permanent Redirect"] {
            let (elsewhere, seen_elsewhere) = server("127.0.0.2", OK.to_string()).await;
            let answer = format!(
                "HTTP/1.1 {status}\r\nlocation: http://{elsewhere}/stolen\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let (api, seen_api) = server("127.0.0.1", answer).await;
            let url = format!("http://{api}/vps/web01/reboot");
            let err = call_reboot_api(&http, &url, Some("s3cret")).await.unwrap_err();
            let host = elsewhere.split(':').next().unwrap();
            assert!(
                err.contains(&format!("the API answered a redirect to {host}: not followed")) && err.contains(status),
                "{err}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(seen_elsewhere.lock().unwrap().len(), 0, "{status}: the redirect was followed");
            let seen = seen_api.lock().unwrap();
            assert_eq!(seen.len(), 1);
            assert!(seen[0].starts_with("POST /vps/web01/reboot "), "{}", seen[0]);
            assert!(seen[0].to_ascii_lowercase().contains("authorization: bearer s3cret"), "{}", seen[0]);
        }
    }

    #[tokio::test]
    async fn a_2xx_is_a_reboot_and_a_token_never_goes_in_clear_beyond_loopback() {
        let http = http_client().unwrap();
        let (api, seen) = server("127.0.0.1", OK.to_string()).await;
        let done = call_reboot_api(&http, &format!("http://{api}/r"), None).await.unwrap();
        assert!(done.ends_with(": 200 OK"), "{done}");
        assert!(!seen.lock().unwrap()[0].to_ascii_lowercase().contains("authorization"));
        // Refused before any connection: nothing is sent.
        let err = call_reboot_api(&http, "http://api.example.jp/r", Some("s3cret")).await.unwrap_err();
        assert!(err.contains("would send its token in clear"), "{err}");
    }
}
