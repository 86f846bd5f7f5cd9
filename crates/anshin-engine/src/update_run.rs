//! One detection or one apply of security updates on one server over SSH (contract §8): the
//! commands and parsers are `anshin-core::updates`'; this runs them on sessions of their own (never
//! the polls'), with the job's time limit instead of the SSH step deadline, and says what came
//! back.
//!
//! Owns: [`UpdateTarget`] (what a server's fleet entry means for its updates: tool, end of life,
//! sudo, sites, entitlement), [`detect`], [`apply`].
//! Must not know: the decider, the store, consoles, clocks (the day is a parameter).

use std::time::Duration;

use anshin_core::updates::{
    self as rules, parse_apply_reply, parse_os_reply, parse_wordpress_reply, DetectOptions, OsApply, PendingUpdate,
    Platform, Source, WordpressChanges, WordpressScan, WordpressSite,
};
use anshin_core::{Fleet, Plan};
use chrono::{DateTime, NaiveDate, Utc};

use crate::ssh::{SshPool, SshTarget};

/// What one detection found, or why it gave no answer.
#[derive(Debug, Clone, Default)]
pub struct Detected {
    /// The OS rows and the CMS rows the server is entitled to.
    pub updates: Vec<PendingUpdate>,
    pub pending_total: u32,
    pub reboot_needed: bool,
    /// Why the OS detection gave no answer.
    pub error: Option<String>,
    /// What else it said (wp-cli missing, a site's error), one per line.
    pub notes: Vec<String>,
}

/// A server's update setting as the fleet and the plan in force make it.
#[derive(Debug, Clone)]
pub struct UpdateTarget {
    pub host: String,
    pub ssh: SshTarget,
    pub sudo: bool,
    pub platform: Platform,
    pub refresh_metadata: bool,
    pub sites: Vec<WordpressSite>,
    pub plan: Plan,
}

/// Why a server's updates cannot be handled at all. Its `code` is the console's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotHandled {
    #[error("no server \"{0}\" in the fleet file")]
    Unknown(String),
    #[error("the plan in force ({0}) does not include security updates")]
    NotIncluded(String),
    #[error("no SSH access in the fleet file: detection and updates need it")]
    NoAccess,
    #[error("os \"{0}\" is not a supported system for updates (CentOS/RHEL/AlmaLinux/Rocky 6+, Debian, Ubuntu)")]
    UnsupportedOs(String),
}

impl NotHandled {
    pub fn code(&self) -> &'static str {
        match self {
            NotHandled::Unknown(_) => "not_found",
            NotHandled::NotIncluded(_) => "not_included",
            NotHandled::NoAccess => "no_access",
            NotHandled::UnsupportedOs(_) => "unsupported_os",
        }
    }
}

impl UpdateTarget {
    /// The server's update target at `now` (the plan in force then).
    pub fn of(fleet: &Fleet, host: &str, now: DateTime<Utc>) -> Result<UpdateTarget, NotHandled> {
        let server = fleet.server(host).ok_or_else(|| NotHandled::Unknown(host.into()))?;
        let plan = fleet.plan_of_at(server, now);
        if !plan.os_updates() {
            return Err(NotHandled::NotIncluded(plan.as_str().into()));
        }
        let ssh = crate::fleet_file::ssh_target(server).ok_or(NotHandled::NoAccess)?;
        let platform = rules::platform(&server.os).ok_or_else(|| NotHandled::UnsupportedOs(server.os.clone()))?;
        Ok(UpdateTarget {
            host: host.into(),
            ssh,
            sudo: server.ssh.as_ref().is_some_and(|s| s.sudo),
            platform,
            refresh_metadata: server.updates.refresh_metadata,
            sites: server
                .updates
                .cms
                .iter()
                .map(|c| WordpressSite { path: c.path.clone(), owner: c.owner.clone() })
                .collect(),
            plan,
        })
    }

    /// Its CMS sites are detected and may be updated.
    pub fn cms(&self) -> bool {
        self.plan.cms_updates() && !self.sites.is_empty()
    }
}

/// The pool update jobs use: sessions of their own, two handshakes at once.
pub fn ssh_pool() -> SshPool {
    SshPool::new(2, Duration::from_secs(15))
}

/// How long a detection may take in all (its commands each have their own limit on the server).
const DETECT_LIMIT: Duration =
    Duration::from_secs((rules::script::QUERY_SECS as u64) * 6 + rules::script::REFRESH_SECS as u64 + 60);

/// Detects pending updates on the server: the OS (every plan with updates), then its WordPress
/// sites (plans with CMS updates). `today` is Japan's date (end of life is judged on it).
pub async fn detect(t: &UpdateTarget, pool: &SshPool, today: NaiveDate) -> Detected {
    let mut out = Detected::default();
    let options = DetectOptions { refresh_metadata: t.refresh_metadata, sudo: t.sudo };
    let eol = t.platform.is_eol(today);
    let command = rules::detect_command(t.platform.tool, options);
    match pool.exec_within(&t.ssh, &command, rules::MAX_REPLY_BYTES, DETECT_LIMIT).await {
        Ok(reply) => {
            let text = format!("{}{}", reply.stdout, reply.stderr);
            match parse_os_reply(t.platform.tool, &text, eol) {
                Ok(scan) => {
                    out.pending_total = scan.pending_total as u32;
                    out.reboot_needed = scan.reboot_needed;
                    out.updates = scan.updates;
                }
                Err(e) => out.error = Some(e.to_string()),
            }
        }
        Err(e) => out.error = Some(format!("SSH: {e}")),
    }
    if t.cms() {
        match rules::wordpress_detect_command(&t.sites, t.sudo) {
            Err(e) => out.notes.push(format!("WordPress: {e}")),
            Ok(command) => match pool.exec_within(&t.ssh, &command, rules::MAX_REPLY_BYTES, DETECT_LIMIT).await {
                Err(e) => out.notes.push(format!("WordPress: SSH: {e}")),
                Ok(reply) => match parse_wordpress_reply(&t.sites, &format!("{}{}", reply.stdout, reply.stderr)) {
                    Err(e) => out.notes.push(format!("WordPress: {e}")),
                    Ok(WordpressScan::WpCliMissing) => out.notes.push(
                        "WordPress: wp-cli is not installed on the server (install it to update the sites)".into(),
                    ),
                    Ok(WordpressScan::Sites(sites)) => {
                        for site in sites {
                            match site.result {
                                Ok(rows) => out.updates.extend(rows),
                                Err(e) => out.notes.push(format!("WordPress {}: {e}", site.path)),
                            }
                        }
                    }
                },
            },
        }
    }
    out
}

/// What an apply asks: the OS packages (empty: every security update), or the CMS updates.
#[derive(Debug, Clone)]
pub enum ApplyScope {
    Os {
        packages: Vec<String>,
    },
    /// The pending WordPress rows to apply (core, plugins, themes), per site.
    Cms {
        rows: Vec<PendingUpdate>,
    },
}

impl ApplyScope {
    pub fn name(&self) -> &'static str {
        match self {
            ApplyScope::Os { .. } => "os",
            ApplyScope::Cms { .. } => "cms",
        }
    }
}

/// The commands an apply runs, one per step (the OS: one; CMS: one per site), as the job's
/// record shows them.
pub fn apply_commands(t: &UpdateTarget, scope: &ApplyScope, today: NaiveDate) -> Result<Vec<String>, String> {
    match scope {
        ApplyScope::Os { packages } => {
            let eol = t.platform.is_eol(today);
            let apply = OsApply { packages, security_only: !eol, sudo: t.sudo };
            Ok(vec![rules::apply_command(t.platform.tool, &apply).map_err(|e| e.to_string())?])
        }
        ApplyScope::Cms { rows } => {
            let mut out = Vec::new();
            for site in &t.sites {
                let of = |s: Source| -> Vec<String> {
                    rows.iter().filter(|r| r.site == site.path && r.source == s).map(|r| r.package.clone()).collect()
                };
                let (plugins, themes) = (of(Source::WordpressPlugin), of(Source::WordpressTheme));
                let core = rows.iter().any(|r| r.site == site.path && r.source == Source::WordpressCore);
                if !core && plugins.is_empty() && themes.is_empty() {
                    continue;
                }
                let changes = WordpressChanges { core, plugins: &plugins, themes: &themes };
                // WordPress runs as the site's owner (sudo -u), never as root.
                out.push(rules::wordpress_apply_command(site, &changes, false).map_err(|e| e.to_string())?);
            }
            if out.is_empty() {
                return Err("nothing to update: no pending WordPress update was chosen".into());
            }
            Ok(out)
        }
    }
}

/// An apply worked out: who, what and the commands.
#[derive(Debug, Clone)]
pub struct ApplyPlan {
    pub target: UpdateTarget,
    pub scope: ApplyScope,
    /// The pending rows it applies.
    pub chosen: Vec<PendingUpdate>,
    pub commands: Vec<String>,
}

/// Why an apply cannot be done; `code` as the consoles' refusals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyRefusal {
    /// `not_found`, `not_included`, `no_access`, `no_action`, `invalid`.
    pub code: &'static str,
    pub message: String,
}

/// Works out an apply of `host`'s `pending` rows (contract §8): the plan in force includes it
/// (CMS only on 150/200), the server can be reached, the packages named are pending. The same
/// checks for the engine and for `anshin update` without one.
pub fn plan_apply(
    fleet: &Fleet,
    host: &str,
    pending: &[PendingUpdate],
    packages: &[String],
    cms: bool,
    now: DateTime<Utc>,
) -> Result<ApplyPlan, ApplyRefusal> {
    let refuse = |code, message: String| Err(ApplyRefusal { code, message });
    let target = match UpdateTarget::of(fleet, host, now) {
        Ok(t) => t,
        Err(e) => return refuse(e.code(), e.to_string()),
    };
    if cms && !target.plan.cms_updates() {
        return refuse(
            "not_included",
            format!("the plan in force ({}) does not include CMS updates (plans 150 and 200 do)", target.plan),
        );
    }
    if cms && target.sites.is_empty() {
        return refuse(
            "no_action",
            format!("{host} lists no CMS site in the fleet file: add cms = [{{ kind = \"wordpress\", path = \"…\" }}]"),
        );
    }
    let of_scope: Vec<&PendingUpdate> =
        pending.iter().filter(|u| if cms { u.source != Source::Os } else { u.source == Source::Os }).collect();
    if let Some(p) = packages.iter().find(|p| !of_scope.iter().any(|u| &u.package == *p)) {
        return refuse("invalid", format!("{} is not pending on {host}", anshin_core::text::visible(p)));
    }
    let chosen: Vec<PendingUpdate> =
        of_scope.into_iter().filter(|u| packages.is_empty() || packages.contains(&u.package)).cloned().collect();
    if chosen.is_empty() {
        return refuse("no_action", format!("{host} has no pending {} update", if cms { "CMS" } else { "OS" }));
    }
    let scope = if cms {
        ApplyScope::Cms { rows: chosen.clone() }
    } else {
        // By name: exactly what the operator saw (apt needs names; an end-of-life system's rows
        // are not marked security, so `--security` alone would skip them).
        ApplyScope::Os { packages: chosen.iter().map(|u| u.package.clone()).collect() }
    };
    let today = now.with_timezone(&chrono_tz::Asia::Tokyo).date_naive();
    let commands = match apply_commands(&target, &scope, today) {
        Ok(c) => c,
        Err(why) => return refuse("invalid", why),
    };
    Ok(ApplyPlan { target, scope, chosen, commands })
}

/// An apply's end.
#[derive(Debug, Clone)]
pub struct Applied {
    pub ok: bool,
    pub exit_status: Option<i32>,
    /// Every step's output, its hidden characters made visible, at most
    /// [`rules::APPLY_OUTPUT_MAX`] bytes in all.
    pub output: String,
    /// Why it failed (empty when it did not).
    pub failure: String,
}

/// Runs the apply commands one after the other (stopping at the first that fails), each as a
/// job with `job` as its time limit on the server and on our side.
pub async fn apply(t: &UpdateTarget, commands: &[String], pool: &SshPool, job: Duration) -> Applied {
    let mut output = String::new();
    let mut last_exit = None;
    for command in commands {
        let wrapped = rules::apply_job(command, job.as_secs());
        let limit = job + Duration::from_secs(60);
        match pool.exec_within(&t.ssh, &wrapped, rules::APPLY_OUTPUT_MAX + 4096, limit).await {
            Err(e) => {
                return Applied { ok: false, exit_status: None, output, failure: format!("SSH: {e}") };
            }
            Ok(reply) => {
                let r = parse_apply_reply(&reply.stdout);
                let room = rules::APPLY_OUTPUT_MAX.saturating_sub(output.len());
                let shown = anshin_core::text::visible_lines_capped(&r.output, room);
                output.push_str(&shown);
                if r.total_bytes as usize > r.output.len() {
                    output.push_str(&format!("\n…({} bytes in all, the rest not kept)\n", r.total_bytes));
                }
                last_exit = r.exit;
                if !r.ok() {
                    let failure = match r.exit {
                        None => "the job's reply was cut short (connection lost or time limit)".to_string(),
                        Some(_) if r.timed_out() => {
                            format!("stopped by the job's time limit ({} min)", job.as_secs() / 60)
                        }
                        Some(code) => format!("the command ended with status {code}"),
                    };
                    return Applied { ok: false, exit_status: r.exit, output, failure };
                }
            }
        }
    }
    Applied { ok: true, exit_status: last_exit, output, failure: String::new() }
}
