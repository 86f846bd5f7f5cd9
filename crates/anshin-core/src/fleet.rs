//! The fleet file: who the customers are, which servers and gateways we watch, how often.
//!
//! Owns: the TOML shape (a contract other tools read), its validation, and the diagnostics a
//! person can act on (`FILE:LINE:COL: what is wrong and how to fix it`, with whatever they
//! quote from the file escaped, so a diagnostic is one line and safe on a terminal). Every text
//! a mail shows is checked with the mail renderer's own rule (`mail_text::check_fleet_text`), so a
//! fleet that validates can always be mailed; labels and ids are plain names.
//! Must not know: where the text came from (the caller reads the file) or how checks run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;

use serde::Deserialize;
use toml::Spanned;

use chrono::{DateTime, NaiveDate, Utc};

use crate::backup_settings::{check_path, parse_weekday, BackupPaths, BackupSettings, MAX_PATHS, MAX_RUNNING_LIMIT};
use crate::check::{CheckKey, CheckKind, CheckSpec, Service};
use crate::contract::{holds_root_by_default, parse_day, Contract, PlanChange, PlanTimeline, TERMS};
use crate::mail_text::{check_fleet_text, FleetText};
use crate::plan::Plan;
use crate::text::visible;
use crate::update_settings::{
    AutoUpdates, CmsSite, ServerUpdates, UpdateSettings, EVERY_HOURS_RANGE, JOB_MINUTES_RANGE, MAX_CMS_SITES,
};

/// At most this many notification addresses and phone numbers per customer (contract §1).
pub const MAX_CONTACTS: usize = 3;

/// A validated fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    pub noc: Noc,
    pub customers: Vec<Customer>,
    pub gateways: Vec<Gateway>,
    pub servers: Vec<Server>,
    /// Where mail goes out; `None`: mails wait in the outbox for viewing, nothing is sent.
    pub smtp: Option<Smtp>,
    /// `[noc] secrets_dir`: a folder of 0600 files holding secrets (`smtp`, `ssh-passphrase`,
    /// `reboot-LABEL`), relative to the fleet file until [`Fleet::resolve_paths`].
    pub secrets_dir: Option<String>,
    /// `[noc] backup = { store, full_day, full_hour, max_running }` (contract §7); its store is
    /// relative to the fleet file until [`Fleet::resolve_paths`]. Kept here beside `secrets_dir`
    /// rather than in [`Noc`], like it.
    pub backup: BackupSettings,
    /// `[noc] updates = { every_hours, job_minutes }` (contract §8).
    pub updates: UpdateSettings,
    /// `[noc] retention = { raw_days, five_minute_days, hourly_days }`: how long resource samples
    /// and their rollups are kept.
    pub retention: crate::retention::Retention,
    /// Each server's place in `servers` by label ([`Fleet::server`] is on hot paths: 10,000
    /// servers). Checked on every look-up, so a `servers` changed by hand is still answered.
    server_index: HashMap<String, usize>,
}

/// The `[smtp]` section. The password never lives here (environment, credentials, OS keyring).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smtp {
    /// `smtp://host:port` (STARTTLS; required when a user is named) or `smtps://host:port`,
    /// optional `user@`.
    pub url: String,
    /// Allow the password over a connection without TLS: only for a relay on loopback, where
    /// nothing travels on a wire (validation refuses it elsewhere).
    pub insecure_auth: bool,
}

/// How the NOC logs in to a server to read its resources (`ssh = { … }`, per server or a
/// default in `[noc]`). Paths are as written: relative ones are relative to the fleet file.
/// The key's passphrase never lives here (environment or OS keyring).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshAccess {
    pub user: String,
    pub key: String,
    pub known_hosts: String,
    /// Record an unknown host key on first contact instead of refusing it.
    pub trust_on_first_use: bool,
    /// Run backups and restores as `sudo -n …` (the account is not root; a sudoers rule lets it).
    pub sudo: bool,
}

/// The `[noc]` section: brand, sender, and the check rhythm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Noc {
    /// Mail subject prefix, `[Speever]`.
    pub brand: String,
    pub mail_from: String,
    pub interval_secs: u64,
    /// Consecutive failures before a check is hard down.
    pub attempts: u32,
    pub timeout_secs: u64,
    /// Seconds of ping/SSH failure before an automatic reboot (contract §4: 15 minutes).
    pub reboot_after_secs: u64,
}

/// How the NOC reboots a server that cannot reboot itself (`reboot = { … }` in `[noc]` as the
/// default, or per server): a local command run without a shell, or a call to the hosting
/// platform's API. `{label}`, `{ip}` and `{fqdn}` in an argument or the URL are replaced by the
/// server's values (validated fleet values: no shell, no quoting involved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebootAction {
    /// `reboot = { command = ["/usr/local/bin/vps-reboot", "{label}"] }`
    Command(Vec<String>),
    /// `reboot = { url = "https://api.example.jp/vps/{label}/reboot", token_env = "VPS_API_TOKEN" }`:
    /// a POST with `{"server": label, "ip": ip}`; the bearer token comes from that variable.
    Http { url: String, token_env: Option<String> },
}

impl RebootAction {
    /// The action with a server's values in place of `{label}`, `{ip}`, `{fqdn}`.
    pub fn for_server(&self, server: &Server) -> RebootAction {
        let fill = |s: &str| {
            s.replace("{label}", &server.label).replace("{ip}", &server.ip.to_string()).replace("{fqdn}", &server.fqdn)
        };
        match self {
            RebootAction::Command(argv) => RebootAction::Command(argv.iter().map(|a| fill(a)).collect()),
            RebootAction::Http { url, token_env } => {
                RebootAction::Http { url: fill(url), token_env: token_env.clone() }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: String,
    pub name: String,
    /// The plan in force now (the latest of `plan_history` when there is one). Rules that
    /// depend on a moment ask [`Customer::plan_at`].
    pub plan: Plan,
    pub notify: Vec<String>,
    /// Emergency numbers, in calling order.
    pub phones: Vec<String>,
    /// The contract's term (`contract = { start, months, end }`), when the file gives it.
    pub contract: Option<Contract>,
    /// Dated plan changes, oldest first; the last is `plan` (`plan_history = [{ plan, from }]`).
    pub plan_history: Vec<PlanChange>,
    /// The customer holds root (`root`, else the plan's default: contract §9.2).
    pub root: bool,
    /// `auto_updates = "security"`: security updates are applied without an operator, inside
    /// business hours, once their planned date has come (contract §8). Off by default.
    pub auto_updates: AutoUpdates,
}

impl Customer {
    /// The plan in force at `t` (contract §9.1): the one answer every rule asks.
    pub fn plan_at(&self, t: DateTime<Utc>) -> Plan {
        PlanTimeline { current: self.plan, history: &self.plan_history }.plan_at(t)
    }
}

/// Network equipment in front of servers, checked by ping (contract §2, network monitoring).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub label: String,
    pub ip: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub label: String,
    /// The customer's id.
    pub customer: String,
    pub fqdn: String,
    pub ip: IpAddr,
    pub os: String,
    /// The label of the gateway in front of it.
    pub gateway: Option<String>,
    /// Services as listed; whether they are checked also depends on the plan.
    pub services: Vec<Service>,
    pub ssh_port: u16,
    pub ports: BTreeMap<Service, u16>,
    pub custom: Vec<CustomCheck>,
    /// Login for resource polling and service restarts; `None`: no resource checks, no restarts.
    pub ssh: Option<SshAccess>,
    /// Service units to restart instead of the OS family's default (`restart = { http = "nginx" }`).
    pub restart_units: BTreeMap<Service, String>,
    /// How to reboot it (its own `reboot`, else `[noc] reboot`); `None`: reboots are manual.
    pub reboot: Option<RebootAction>,
    /// The Plesk option: its services have Plesk's own watchdog (contract §9.3).
    pub plesk: bool,
    /// What its backups hold (`backup = { include, exclude }`; `/` and the default excludes
    /// when the file says nothing): contract §7.
    pub backup: BackupPaths,
    /// `updates = { refresh_metadata }` and `cms = [...]` (contract §8).
    pub updates: ServerUpdates,
}

/// An operator-defined TCP check with an optional greeting prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomCheck {
    pub name: String,
    pub port: u16,
    pub expect: Option<String>,
}

impl Server {
    pub fn port(&self, service: Service) -> u16 {
        self.ports.get(&service).copied().unwrap_or(service.default_port())
    }

    /// The unit a restart of `service` uses on this server: the fleet file's override, else the
    /// default of the server's OS family.
    pub fn restart_unit(&self, service: Service) -> String {
        self.restart_units
            .get(&service)
            .cloned()
            .unwrap_or_else(|| crate::recovery::default_unit(service, crate::recovery::os_family(&self.os)).to_string())
    }

    /// The exact command that restarts `service` over SSH on this server.
    pub fn restart_command(&self, service: Service) -> String {
        crate::recovery::restart_command(&self.restart_unit(service), crate::recovery::os_family(&self.os))
    }

    /// What one check of this server probes (its port, and a custom check's expected greeting).
    pub fn check_spec(&self, kind: CheckKind) -> CheckSpec {
        let expect = match &kind {
            CheckKind::Custom(name) => self.custom.iter().find(|c| &c.name == name).and_then(|c| c.expect.clone()),
            _ => None,
        };
        CheckSpec {
            port: self.check_port(&kind),
            key: CheckKey::new(&self.label, kind),
            ip: self.ip,
            fqdn: self.fqdn.clone(),
            expect,
        }
    }

    /// The port a check of this server talks to (0 for ping, and for an unknown custom check).
    pub fn check_port(&self, kind: &CheckKind) -> u16 {
        match kind {
            CheckKind::Ping => 0,
            CheckKind::Ssh => self.ssh_port,
            CheckKind::Service(svc) => self.port(*svc),
            CheckKind::Custom(name) => self.custom.iter().find(|c| &c.name == name).map_or(0, |c| c.port),
        }
    }
}

impl Fleet {
    pub fn customer(&self, id: &str) -> Option<&Customer> {
        self.customers.iter().find(|c| c.id == id)
    }

    pub fn server(&self, label: &str) -> Option<&Server> {
        match self.server_index.get(label).and_then(|i| self.servers.get(*i)) {
            Some(s) if s.label == label => Some(s),
            _ => self.servers.iter().find(|s| s.label == label),
        }
    }

    pub fn gateway(&self, label: &str) -> Option<&Gateway> {
        self.gateways.iter().find(|g| g.label == label)
    }

    /// Makes the relative paths of `ssh` (key, known_hosts) and `secrets_dir` relative to `base_dir`, the folder
    /// of the fleet file. Pure path arithmetic: nothing is read.
    pub fn resolve_paths(&mut self, base_dir: &std::path::Path) {
        for dir in [self.secrets_dir.as_mut(), self.backup.store.as_mut()].into_iter().flatten() {
            if std::path::Path::new(dir.as_str()).is_relative() {
                *dir = base_dir.join(dir.as_str()).to_string_lossy().into_owned();
            }
        }
        for s in &mut self.servers {
            if let Some(ssh) = &mut s.ssh {
                for p in [&mut ssh.key, &mut ssh.known_hosts] {
                    if std::path::Path::new(p.as_str()).is_relative() {
                        *p = base_dir.join(p.as_str()).to_string_lossy().into_owned();
                    }
                }
            }
        }
    }

    /// The plan of a server's customer. Validation guarantees the customer exists.
    pub fn plan_of(&self, server: &Server) -> Plan {
        self.customer(&server.customer).map(|c| c.plan).unwrap_or(Plan::Zero)
    }

    /// The plan of a server's customer in force at `t` (contract §9.1): what every decision
    /// made at a moment asks.
    pub fn plan_of_at(&self, server: &Server, t: DateTime<Utc>) -> Plan {
        self.customer(&server.customer).map(|c| c.plan_at(t)).unwrap_or(Plan::Zero)
    }

    /// Every check the engine runs: each gateway's ping; each server's ping and SSH; its
    /// services and custom checks when its customer's plan includes service monitoring.
    pub fn checks(&self) -> Vec<CheckSpec> {
        let mut out = Vec::new();
        for g in &self.gateways {
            out.push(CheckSpec {
                key: CheckKey::new(&g.label, CheckKind::Ping),
                ip: g.ip,
                port: 0,
                fqdn: g.label.clone(),
                expect: None,
            });
        }
        for s in &self.servers {
            out.push(s.check_spec(CheckKind::Ping));
            out.push(s.check_spec(CheckKind::Ssh));
            if self.plan_of(s).service_monitoring() {
                for &svc in &s.services {
                    out.push(s.check_spec(CheckKind::Service(svc)));
                }
                for c in &s.custom {
                    out.push(s.check_spec(CheckKind::Custom(c.name.clone())));
                }
            }
        }
        out
    }
}

/// A problem found in a fleet file, at a place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)
    }
}

/// A fleet that validated, with the warnings worth showing (nothing that stops it running).
#[derive(Debug, Clone)]
pub struct ParsedFleet {
    pub fleet: Fleet,
    pub warnings: Vec<Diagnostic>,
}

/// Parses and validates fleet text. `file` only names the source in diagnostics.
/// On error, every problem found is returned, in file order.
pub fn parse(text: &str, file: &str) -> Result<ParsedFleet, Vec<Diagnostic>> {
    // Messages quote the file (labels, values, the TOML parser's excerpts): escaped here, once.
    let at = |offset: usize, message: String| {
        let (line, col) = line_col(text, offset);
        Diagnostic { file: visible(file).into_owned(), line, col, message: visible(&message).into_owned() }
    };
    let raw: RawFleet = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        vec![at(offset, e.message().trim().to_string())]
    })?;
    let mut v = Validator { errors: Vec::new(), warnings: Vec::new(), ssh_default: None, reboot_default: None };
    let fleet = v.fleet(raw);
    let mut errors: Vec<Diagnostic> = v.errors.into_iter().map(|(o, m)| at(o, m)).collect();
    if errors.is_empty() {
        let warnings = v.warnings.into_iter().map(|(o, m)| at(o, m)).collect();
        Ok(ParsedFleet { fleet, warnings })
    } else {
        errors.sort_by_key(|d| (d.line, d.col));
        Err(errors)
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

// ---- the raw shape, as serde reads it ------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    noc: RawNoc,
    #[serde(default)]
    customer: Vec<Spanned<RawCustomer>>,
    #[serde(default)]
    gateway: Vec<Spanned<RawGateway>>,
    #[serde(default)]
    server: Vec<Spanned<RawServer>>,
    smtp: Option<RawSmtp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    url: Spanned<String>,
    insecure_auth: Option<Spanned<bool>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawSsh {
    user: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    known_hosts: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    trust_on_first_use: Option<bool>,
    sudo: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNoc {
    brand: Option<Spanned<String>>,
    mail_from: Option<Spanned<String>>,
    interval_secs: Option<Spanned<u64>>,
    attempts: Option<Spanned<u32>>,
    timeout_secs: Option<Spanned<u64>>,
    reboot_after_secs: Option<Spanned<u64>>,
    ssh: Option<Spanned<RawSsh>>,
    reboot: Option<Spanned<RawReboot>>,
    secrets_dir: Option<Spanned<String>>,
    backup: Option<Spanned<RawBackupSettings>>,
    updates: Option<Spanned<RawUpdateSettings>>,
    retention: Option<Spanned<RawRetention>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    raw_days: Option<u32>,
    five_minute_days: Option<u32>,
    hourly_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpdateSettings {
    every_hours: Option<Spanned<u32>>,
    job_minutes: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServerUpdates {
    refresh_metadata: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCms {
    kind: Spanned<String>,
    path: Spanned<String>,
    owner: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackupSettings {
    store: Option<Spanned<String>>,
    full_day: Option<Spanned<String>>,
    full_hour: Option<Spanned<u32>>,
    max_running: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackupPaths {
    include: Option<Spanned<Vec<Spanned<String>>>>,
    exclude: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawReboot {
    command: Option<Vec<Spanned<String>>>,
    url: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCustomer {
    id: Spanned<String>,
    name: Spanned<String>,
    plan: Spanned<String>,
    notify: Spanned<Vec<Spanned<String>>>,
    phones: Option<Spanned<Vec<Spanned<String>>>>,
    contract: Option<Spanned<RawContract>>,
    plan_history: Option<Spanned<Vec<Spanned<RawPlanChange>>>>,
    root: Option<Spanned<bool>>,
    auto_updates: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContract {
    start: Spanned<String>,
    months: Spanned<u32>,
    end: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlanChange {
    plan: Spanned<String>,
    from: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    label: Spanned<String>,
    ip: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    label: Spanned<String>,
    customer: Spanned<String>,
    fqdn: Spanned<String>,
    ip: Spanned<String>,
    os: Option<Spanned<String>>,
    gateway: Option<Spanned<String>>,
    #[serde(default)]
    services: Vec<Spanned<String>>,
    ports: Option<Spanned<BTreeMap<String, Spanned<u16>>>>,
    #[serde(default)]
    custom: Vec<Spanned<RawCustom>>,
    ssh: Option<Spanned<RawSsh>>,
    restart: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    reboot: Option<Spanned<RawReboot>>,
    #[serde(default)]
    plesk: bool,
    backup: Option<Spanned<RawBackupPaths>>,
    updates: Option<Spanned<RawServerUpdates>>,
    #[serde(default)]
    cms: Vec<Spanned<RawCms>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCustom {
    name: Spanned<String>,
    port: Spanned<u16>,
    expect: Option<Spanned<String>>,
}

// ---- validation ------------------------------------------------------------------------------

struct Validator {
    errors: Vec<(usize, String)>,
    warnings: Vec<(usize, String)>,
    /// `[noc] ssh = { … }`: defaults every server's `ssh` inherits field by field.
    ssh_default: Option<Spanned<RawSsh>>,
    /// `[noc] reboot = { … }`: the reboot action of servers without their own.
    reboot_default: Option<RebootAction>,
}

fn start<T>(s: &Spanned<T>) -> usize {
    s.span().start
}

/// Labels, ids and names end up in mail subjects, file names, URLs and command lines: keep them
/// plain, `[A-Za-z0-9][A-Za-z0-9._-]*`, at most 63 characters. The first character is a letter
/// or a digit, so a name is never an option (`--help`) or a path step (`..`).
fn is_plain_name(s: &str) -> bool {
    s.len() <= 63
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// How diagnostics describe the plain-name rule.
const PLAIN_NAME: &str = "use 1 to 63 letters, digits, '-', '_' or '.', starting with a letter or a digit";

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// A notification address, by the mail renderer's rule (it becomes a To header).
fn is_mail_address(s: &str) -> bool {
    check_fleet_text(FleetText::Notify, s).is_ok()
}

fn is_phone(s: &str) -> bool {
    check_fleet_text(FleetText::Phone, s).is_ok()
        && s.chars().any(|c| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | ' ' | '(' | ')'))
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// The host of `scheme://[user@]host[:port][/…]`, without brackets around an IPv6 address.
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = hostport.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    Some(hostport.rsplit_once(':').map_or(hostport, |(h, _)| h))
}

/// True for a host whose traffic never leaves the machine: `localhost`, 127.0.0.0/8, `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_matches(['[', ']']);
    host.eq_ignore_ascii_case("localhost")
        || host.eq_ignore_ascii_case("localhost.")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why a bearer token must not go to this URL, if it must not: plain `http://` beyond loopback.
pub fn token_in_clear(url: &str) -> Option<String> {
    let host = url_host(url).unwrap_or("");
    (url.starts_with("http://") && !is_loopback_host(host)).then(|| {
        format!("reboot url \"{url}\" would send its token in clear to \"{host}\": use https:// (plain http:// only to loopback: 127.0.0.0/8, ::1, localhost)")
    })
}

/// A variable dedicated to one secret: `[A-Z_][A-Z0-9_]*`, and none the project reads itself
/// (`ANSHIN_*`, where the SMTP password and the SSH passphrase live; `CREDENTIALS_DIRECTORY`).
pub fn dedicated_env_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let shape = chars.next().is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !shape {
        return Err(format!("token_env \"{name}\" must name an environment variable of capitals, digits and '_' (not starting with a digit), e.g. \"VPS_API_TOKEN\""));
    }
    if name.starts_with("ANSHIN_") || name == "CREDENTIALS_DIRECTORY" {
        return Err(format!("token_env \"{name}\" names a variable Anshin NOC reads for itself: give the reboot token its own variable, e.g. \"VPS_API_TOKEN\""));
    }
    Ok(())
}

impl Validator {
    fn err(&mut self, offset: usize, msg: impl Into<String>) {
        self.errors.push((offset, msg.into()));
    }

    fn warn(&mut self, offset: usize, msg: impl Into<String>) {
        self.warnings.push((offset, msg.into()));
    }

    fn text(&mut self, s: &Spanned<String>, what: &str) -> String {
        if has_control(s.get_ref()) {
            self.err(start(s), format!("{what} contains a control character (a line break?): remove it"));
        }
        s.get_ref().clone()
    }

    /// A text that mails show, checked by the renderer's rule; `None` when it was refused.
    fn mail_text(&mut self, s: &Spanned<String>, what: FleetText) -> Option<String> {
        match check_fleet_text(what, s.get_ref()) {
            Ok(()) => Some(s.get_ref().clone()),
            Err(e) => {
                self.err(start(s), e.to_string());
                None
            }
        }
    }

    fn ip(&mut self, s: &Spanned<String>) -> IpAddr {
        match s.get_ref().parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                self.err(
                    start(s),
                    format!(
                        "\"{}\" is not an IP address: write a literal IPv4 or IPv6 address such as \"127.77.0.2\"",
                        s.get_ref()
                    ),
                );
                IpAddr::from([0, 0, 0, 0])
            }
        }
    }

    fn label(&mut self, s: &Spanned<String>, seen: &mut HashMap<String, usize>, what: FleetText, name: &str) -> String {
        let label = s.get_ref().clone();
        if !is_plain_name(&label) {
            self.err(start(s), format!("{name} \"{label}\" is not a plain name: {PLAIN_NAME}"));
        } else if self.mail_text(s, what).is_some() && seen.insert(label.clone(), start(s)).is_some() {
            self.err(start(s), format!("duplicate label \"{label}\": each server and gateway needs its own label"));
        }
        label
    }

    fn fleet(&mut self, mut raw: RawFleet) -> Fleet {
        self.ssh_default = raw.noc.ssh.take();
        self.reboot_default = raw.noc.reboot.take().and_then(|r| self.reboot(&r));
        let secrets_dir = raw.noc.secrets_dir.take().map(|d| {
            if d.get_ref().is_empty() || has_control(d.get_ref()) {
                self.err(start(&d), "secrets_dir must be a folder path, e.g. \"secrets\" (relative to this file)");
            }
            d.get_ref().clone()
        });
        let backup = raw.noc.backup.take().map(|b| self.backup_settings(&b)).unwrap_or_default();
        let updates = raw.noc.updates.take().map(|u| self.update_settings(&u)).unwrap_or_default();
        let retention = raw.noc.retention.take().map(|r| self.retention(&r)).unwrap_or_default();
        let noc = self.noc(raw.noc);
        let smtp = raw.smtp.map(|s| self.smtp(&s));
        let mut ids = HashMap::new();
        let customers: Vec<Customer> = raw.customer.iter().map(|c| self.customer(c, &mut ids)).collect();
        let mut labels = HashMap::new();
        let gateways: Vec<Gateway> = raw
            .gateway
            .iter()
            .map(|g| {
                let g = g.get_ref();
                Gateway {
                    label: self.label(&g.label, &mut labels, FleetText::GatewayLabel, "gateway label"),
                    ip: self.ip(&g.ip),
                }
            })
            .collect();
        let gateway_labels: HashSet<&str> = gateways.iter().map(|g| g.label.as_str()).collect();
        let servers: Vec<Server> =
            raw.server.iter().map(|s| self.server(s.get_ref(), &mut labels, &customers, &gateway_labels)).collect();
        let server_index = servers.iter().enumerate().map(|(i, s)| (s.label.clone(), i)).collect();
        Fleet { noc, customers, gateways, servers, smtp, secrets_dir, backup, updates, retention, server_index }
    }

    /// `[noc] retention = { raw_days = 7, five_minute_days = 90, hourly_days = 730 }`.
    fn retention(&mut self, raw: &Spanned<RawRetention>) -> crate::retention::Retention {
        let r = raw.get_ref();
        let d = crate::retention::Retention::default();
        let asked = crate::retention::Retention {
            raw_days: r.raw_days.unwrap_or(d.raw_days),
            five_minute_days: r.five_minute_days.unwrap_or(d.five_minute_days),
            hourly_days: r.hourly_days.unwrap_or(d.hourly_days),
        };
        asked.checked().unwrap_or_else(|e| {
            self.err(start(raw), e.to_string());
            d
        })
    }

    /// `[noc] updates = { every_hours = 24, job_minutes = 30 }`.
    fn update_settings(&mut self, raw: &Spanned<RawUpdateSettings>) -> UpdateSettings {
        let u = raw.get_ref();
        let mut out = UpdateSettings::default();
        if let Some(h) = &u.every_hours {
            if EVERY_HOURS_RANGE.contains(h.get_ref()) {
                out.every_hours = *h.get_ref();
            } else {
                self.err(
                    start(h),
                    format!(
                        "updates every_hours = {}: give {} to {} hours between two detections",
                        h.get_ref(),
                        EVERY_HOURS_RANGE.start(),
                        EVERY_HOURS_RANGE.end()
                    ),
                );
            }
        }
        if let Some(m) = &u.job_minutes {
            if JOB_MINUTES_RANGE.contains(m.get_ref()) {
                out.job_minutes = *m.get_ref();
            } else {
                self.err(
                    start(m),
                    format!(
                        "updates job_minutes = {}: give {} to {} minutes for an update job",
                        m.get_ref(),
                        JOB_MINUTES_RANGE.start(),
                        JOB_MINUTES_RANGE.end()
                    ),
                );
            }
        }
        out
    }

    /// A server's `updates = { refresh_metadata }` and `cms = [{ kind = "wordpress", path, owner }]`.
    fn server_updates(&mut self, s: &RawServer, label: &str) -> ServerUpdates {
        let mut out = ServerUpdates {
            refresh_metadata: s.updates.as_ref().and_then(|u| u.get_ref().refresh_metadata).unwrap_or(false),
            cms: Vec::new(),
        };
        if s.cms.len() > MAX_CMS_SITES {
            self.err(
                start(&s.cms[MAX_CMS_SITES]),
                format!("server \"{label}\" lists {} cms sites: at most {MAX_CMS_SITES}", s.cms.len()),
            );
        }
        for site in &s.cms {
            let c = site.get_ref();
            if c.kind.get_ref() != "wordpress" {
                self.err(
                    start(&c.kind),
                    format!("cms kind \"{}\" is not known: the only kind is \"wordpress\"", c.kind.get_ref()),
                );
                continue;
            }
            let path = match check_path(c.path.get_ref()) {
                Ok(p) if p != "/" => p,
                Ok(_) => {
                    self.err(start(&c.path), format!("cms path of \"{label}\" is \"/\": give the WordPress installation's folder, e.g. \"/var/www/html\""));
                    continue;
                }
                Err(why) => {
                    self.err(start(&c.path), format!("cms path of \"{label}\": {why}"));
                    continue;
                }
            };
            if out.cms.iter().any(|o| o.path == path) {
                self.err(start(&c.path), format!("cms path \"{path}\" of \"{label}\" is listed twice"));
                continue;
            }
            let owner = match &c.owner {
                Some(o) if is_plain_name(o.get_ref()) && !o.get_ref().starts_with('-') => Some(o.get_ref().clone()),
                Some(o) => {
                    self.err(start(o), format!("cms owner \"{}\" is not a user name: {PLAIN_NAME}", o.get_ref()));
                    None
                }
                None => None,
            };
            out.cms.push(CmsSite { path, owner });
        }
        out
    }

    /// `[noc] backup = { store = "DIR", full_day = "sun", full_hour = 3, max_running = 2 }`.
    fn backup_settings(&mut self, raw: &Spanned<RawBackupSettings>) -> BackupSettings {
        let b = raw.get_ref();
        let mut out = BackupSettings::default();
        if let Some(store) = &b.store {
            if store.get_ref().is_empty() || has_control(store.get_ref()) {
                self.err(
                    start(store),
                    "backup store must be a folder path on the NOC machine, e.g. \"backups\" (relative to this file)",
                );
            }
            out.store = Some(store.get_ref().clone());
        }
        if let Some(day) = &b.full_day {
            match parse_weekday(day.get_ref()) {
                Some(d) => out.full_day = d,
                None => self.err(
                    start(day),
                    format!("backup full_day \"{}\" is not a day: use one of \"sun\", \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\"", day.get_ref()),
                ),
            }
        }
        if let Some(hour) = &b.full_hour {
            if *hour.get_ref() > 23 {
                self.err(
                    start(hour),
                    format!("backup full_hour = {}: give an hour of Japan time from 0 to 23", hour.get_ref()),
                );
            } else {
                out.full_hour = *hour.get_ref();
            }
        }
        if let Some(n) = &b.max_running {
            if !(1..=MAX_RUNNING_LIMIT).contains(n.get_ref()) {
                self.err(
                    start(n),
                    format!("backup max_running = {}: give 1 to {MAX_RUNNING_LIMIT} runs at once", n.get_ref()),
                );
            } else {
                out.max_running = *n.get_ref();
            }
        }
        out
    }

    /// A list of backup paths, each checked and normalized; `None` when the key is absent.
    fn path_list(&mut self, v: &Option<Spanned<Vec<Spanned<String>>>>, what: &str, label: &str) -> Option<Vec<String>> {
        let v = v.as_ref()?;
        if v.get_ref().len() > MAX_PATHS {
            self.err(
                start(v),
                format!("backup {what} of \"{label}\" lists {} paths: at most {MAX_PATHS}", v.get_ref().len()),
            );
        }
        let mut paths: Vec<String> = Vec::new();
        for p in v.get_ref() {
            match check_path(p.get_ref()) {
                Ok(norm) if paths.contains(&norm) => {
                    self.err(start(p), format!("backup {what} lists \"{norm}\" twice: keep one"))
                }
                Ok(norm) => paths.push(norm),
                Err(why) => self.err(start(p), format!("backup {what}: {why}")),
            }
        }
        Some(paths)
    }

    /// A server's `backup = { include = ["/srv"], exclude = ["/srv/tmp"] }`.
    fn backup_paths(&mut self, raw: &Spanned<RawBackupPaths>, label: &str) -> BackupPaths {
        let b = raw.get_ref();
        let mut out = BackupPaths::default();
        if let Some(include) = self.path_list(&b.include, "include", label) {
            if include.is_empty() {
                if let Some(v) = b.include.as_ref().filter(|v| v.get_ref().is_empty()) {
                    self.err(start(v), format!("backup include of \"{label}\" is empty: list what to back up, e.g. [\"/srv\"], or remove it (\"/\" is the default)"));
                }
            } else {
                out.include = include;
            }
        }
        if let Some(exclude) = self.path_list(&b.exclude, "exclude", label) {
            out.exclude = exclude;
        }
        out
    }

    /// The `[smtp]` section: a URL without a password, and `insecure_auth` only for loopback.
    fn smtp(&mut self, s: &RawSmtp) -> Smtp {
        let url = s.url.get_ref();
        let scheme_ok = url.starts_with("smtp://") || url.starts_with("smtps://");
        let host = url_host(url).unwrap_or("");
        if !scheme_ok || host.is_empty() || has_control(url) {
            self.err(
                start(&s.url),
                format!(
                    "smtp url \"{url}\" must look like \"smtp://127.0.0.1:2525\" or \"smtps://mail.example.jp:465\""
                ),
            );
        }
        if url.split("://").nth(1).unwrap_or("").split('@').next().is_some_and(|u| u.contains(':') && url.contains('@'))
        {
            self.err(start(&s.url), "the smtp url contains a password: remove it and give it as a secret (ANSHIN_SMTP_PASSWORD, a credential or secrets_dir file \"smtp\", or `anshin secret set smtp`)");
        }
        let insecure_auth = s.insecure_auth.as_ref().is_some_and(|i| *i.get_ref());
        if let Some(flag) = s.insecure_auth.as_ref().filter(|i| *i.get_ref()) {
            if !is_loopback_host(host) {
                self.err(start(flag), format!("insecure_auth = true sends the SMTP password without TLS, which is allowed only to a relay on loopback (127.0.0.0/8, ::1, localhost), not to \"{host}\": remove it and use smtps:// or a server with STARTTLS"));
            }
        }
        Smtp { url: url.clone(), insecure_auth }
    }

    /// Merges a server's `ssh` over the `[noc]` default; `None` when neither exists.
    fn ssh(&mut self, own: Option<&Spanned<RawSsh>>, label: &str) -> (Option<SshAccess>, Option<Spanned<u16>>) {
        let default = self.ssh_default.clone();
        if own.is_none() && default.is_none() {
            return (None, None);
        }
        let empty = RawSsh::default();
        let d = default.as_ref().map(|d| d.get_ref()).unwrap_or(&empty);
        let o = own.map(|o| o.get_ref()).unwrap_or(&empty);
        let at = own.map(start).or(default.as_ref().map(start)).unwrap_or(0);
        let pick = |a: &Option<Spanned<String>>, b: &Option<Spanned<String>>| a.clone().or(b.clone());
        let (user, key, known) = (pick(&o.user, &d.user), pick(&o.key, &d.key), pick(&o.known_hosts, &d.known_hosts));
        let mut missing = Vec::new();
        for (name, v) in [("user", &user), ("key", &key), ("known_hosts", &known)] {
            match v {
                None => missing.push(name),
                Some(v) if v.get_ref().is_empty() || has_control(v.get_ref()) => {
                    self.err(start(v), format!("ssh {name} must be a plain, non-empty value"))
                }
                Some(_) => {}
            }
        }
        if !missing.is_empty() {
            self.err(
                at,
                format!("ssh of \"{label}\" lacks {}: give them here or in [noc] ssh = {{ … }}", missing.join(", ")),
            );
            return (None, None);
        }
        let get = |v: Option<Spanned<String>>| v.map(|s| s.get_ref().clone()).unwrap_or_default();
        let access = SshAccess {
            user: get(user),
            key: get(key),
            known_hosts: get(known),
            trust_on_first_use: o.trust_on_first_use.or(d.trust_on_first_use).unwrap_or(false),
            sudo: o.sudo.or(d.sudo).unwrap_or(false),
        };
        (Some(access), o.port.clone().or(d.port.clone()))
    }

    fn noc(&mut self, raw: RawNoc) -> Noc {
        let brand = match &raw.brand {
            Some(b) => self.mail_text(b, FleetText::Brand).unwrap_or_default(),
            None => "Speever".into(),
        };
        let mail_from = match &raw.mail_from {
            Some(m) => self.mail_text(m, FleetText::MailFrom).unwrap_or_default(),
            None => "mail_alert@hosting-srv.net".into(),
        };
        let mut num = |v: &Option<Spanned<u64>>, name: &str, default: u64, max: u64| match v {
            Some(s) if *s.get_ref() < 1 || *s.get_ref() > max => {
                self.err(start(s), format!("{name} must be between 1 and {max}"));
                default
            }
            Some(s) => *s.get_ref(),
            None => default,
        };
        let interval_secs = num(&raw.interval_secs, "interval_secs", 60, 86_400);
        let timeout_secs = num(&raw.timeout_secs, "timeout_secs", 10, 600);
        let attempts =
            num(&raw.attempts.map(|a| Spanned::new(a.span(), u64::from(*a.get_ref()))), "attempts", 3, 20) as u32;
        let reboot_after_secs =
            num(&raw.reboot_after_secs, "reboot_after_secs", crate::recovery::REBOOT_AFTER_SECS, 86_400);
        Noc { brand, mail_from, interval_secs, attempts, timeout_secs, reboot_after_secs }
    }

    /// A `reboot = { command = [...] }` or `reboot = { url = "...", token_env = "..." }`.
    fn reboot(&mut self, raw: &Spanned<RawReboot>) -> Option<RebootAction> {
        let r = raw.get_ref();
        match (&r.command, &r.url) {
            (Some(argv), None) => {
                if r.token_env.is_some() {
                    self.err(start(raw), "token_env belongs to a reboot url, not to a command");
                }
                let program = argv.first().map(|p| p.get_ref().as_str()).unwrap_or("");
                if !program.starts_with('/') {
                    self.err(start(raw), "reboot command must start with an absolute program path, e.g. [\"/usr/local/bin/vps-reboot\", \"{label}\"] (it runs without a shell)");
                    return None;
                }
                Some(RebootAction::Command(argv.iter().map(|a| self.text(a, "reboot command argument")).collect()))
            }
            (None, Some(url)) => {
                let u = url.get_ref();
                if !(u.starts_with("https://") || u.starts_with("http://")) || has_control(u) {
                    self.err(start(url), format!("reboot url \"{u}\" must be an http:// or https:// URL"));
                    return None;
                }
                if let Some(t) = &r.token_env {
                    if let Err(why) = dedicated_env_name(t.get_ref()) {
                        self.err(start(t), why);
                    }
                    // A host given by a placeholder is checked per server, once it is filled.
                    if let Some(why) = url_host(u).filter(|h| !h.contains('{')).and_then(|_| token_in_clear(u)) {
                        self.err(start(url), why);
                    }
                }
                let token_env = r.token_env.as_ref().map(|t| t.get_ref().clone());
                Some(RebootAction::Http { url: u.clone(), token_env })
            }
            _ => {
                self.err(
                    start(raw),
                    "reboot needs either command = [\"/path\", \"arg\"] or url = \"https://…\" (not both)",
                );
                None
            }
        }
    }

    fn contacts(
        &mut self,
        list: Option<&Spanned<Vec<Spanned<String>>>>,
        what: &str,
        valid: fn(&str) -> bool,
        example: &str,
    ) -> Vec<String> {
        let Some(list) = list else { return Vec::new() };
        if list.get_ref().len() > MAX_CONTACTS {
            self.err(
                start(list),
                format!(
                    "{} {what} given: at most {MAX_CONTACTS} are allowed; remove {}",
                    list.get_ref().len(),
                    list.get_ref().len() - MAX_CONTACTS
                ),
            );
        }
        list.get_ref()
            .iter()
            .map(|item| {
                if !valid(item.get_ref()) {
                    self.err(
                        start(item),
                        format!("\"{}\" is not a valid {what} entry: write it like \"{example}\"", item.get_ref()),
                    );
                }
                item.get_ref().clone()
            })
            .collect()
    }

    fn customer(&mut self, raw: &Spanned<RawCustomer>, ids: &mut HashMap<String, usize>) -> Customer {
        let c = raw.get_ref();
        let id = c.id.get_ref().clone();
        if !is_plain_name(&id) {
            self.err(start(&c.id), format!("customer id \"{id}\" is not a plain name: {PLAIN_NAME}"));
        } else if ids.insert(id.clone(), start(&c.id)).is_some() {
            self.err(start(&c.id), format!("duplicate customer id \"{id}\""));
        }
        let plan = c.plan.get_ref().parse::<Plan>().unwrap_or_else(|e| {
            self.err(start(&c.plan), e.to_string());
            Plan::Zero
        });
        let notify = self.contacts(Some(&c.notify), "notify", is_mail_address, "ops@example.jp");
        if notify.is_empty() {
            self.err(start(&c.notify), "notify is empty: give 1 to 3 notification addresses");
        }
        let phones = self.contacts(c.phones.as_ref(), "phones", is_phone, "03-0000-0001");
        let name = self.mail_text(&c.name, FleetText::CustomerName).unwrap_or_default();
        if c.name.get_ref().trim().is_empty() {
            self.err(start(&c.name), format!("customer \"{id}\" has an empty name: write the name mails greet"));
        }
        let contract = c.contract.as_ref().and_then(|k| self.contract(k));
        let plan_history = c.plan_history.as_ref().map(|h| self.plan_history(h, plan)).unwrap_or_default();
        let root = c.root.as_ref().map_or(holds_root_by_default(plan), |r| *r.get_ref());
        let auto_updates = match &c.auto_updates {
            None => AutoUpdates::Off,
            Some(a) => AutoUpdates::parse(a.get_ref()).unwrap_or_else(|| {
                self.err(
                    start(a),
                    format!(
                        "auto_updates \"{}\" is not known: use \"security\" (applied in business hours) or \"off\"",
                        a.get_ref()
                    ),
                );
                AutoUpdates::Off
            }),
        };
        Customer { id, name, plan, notify, phones, contract, plan_history, root, auto_updates }
    }

    /// A day written `YYYY-MM-DD`, or an error at it.
    fn day(&mut self, s: &Spanned<String>, what: &str) -> Option<NaiveDate> {
        let d = parse_day(s.get_ref());
        if d.is_none() {
            self.err(
                start(s),
                format!("{what} \"{}\" is not a date: write it as YYYY-MM-DD, e.g. \"2026-04-01\"", s.get_ref()),
            );
        }
        d
    }

    fn contract(&mut self, raw: &Spanned<RawContract>) -> Option<Contract> {
        let k = raw.get_ref();
        let start_day = self.day(&k.start, "contract start");
        let months = *k.months.get_ref();
        if !TERMS.contains(&months) {
            self.err(start(&k.months), format!("contract months = {months}: a term is 6 or 12 months"));
        }
        let end = k.end.as_ref().and_then(|e| self.day(e, "contract end"));
        if let (Some(s), Some(e), Some(raw_end)) = (start_day, end, k.end.as_ref()) {
            if e <= s {
                self.err(start(raw_end), format!("contract end {e} is not after its start {s}: fix one of them"));
            }
        }
        Some(Contract { start: start_day?, months, end })
    }

    fn plan_history(&mut self, raw: &Spanned<Vec<Spanned<RawPlanChange>>>, plan: Plan) -> Vec<PlanChange> {
        let mut out: Vec<PlanChange> = Vec::new();
        for change in raw.get_ref() {
            let c = change.get_ref();
            let p = c.plan.get_ref().parse::<Plan>().map_err(|e| self.err(start(&c.plan), e.to_string())).ok();
            let from = self.day(&c.from, "plan_history from");
            if let (Some(last), Some(from)) = (out.last(), from) {
                if from <= last.from {
                    self.err(
                        start(&c.from),
                        format!(
                            "plan_history: {from} is not after {}: list the changes oldest first, one per day at most",
                            last.from
                        ),
                    );
                }
            }
            if let (Some(plan), Some(from)) = (p, from) {
                out.push(PlanChange { plan, from });
            }
        }
        match out.last() {
            None => self.err(start(raw), "plan_history is empty: list the plans with the day each began, or remove the line"),
            Some(last) if last.plan != plan => self.err(
                start(raw),
                format!("plan_history ends with plan \"{}\" but plan is \"{plan}\": the latest change is the plan in force, make them the same", last.plan),
            ),
            Some(_) => {}
        }
        out
    }

    fn server(
        &mut self,
        s: &RawServer,
        labels: &mut HashMap<String, usize>,
        customers: &[Customer],
        gateways: &HashSet<&str>,
    ) -> Server {
        let label = self.label(&s.label, labels, FleetText::HostLabel, "server label");
        let customer = customers.iter().find(|c| c.id == *s.customer.get_ref());
        if customer.is_none() {
            self.err(
                start(&s.customer),
                format!(
                    "server \"{label}\" names customer \"{}\", which no [[customer]] defines: add it or fix the id",
                    s.customer.get_ref()
                ),
            );
        }
        let fqdn = s.fqdn.get_ref().clone();
        if !is_hostname(&fqdn) {
            self.err(start(&s.fqdn), format!("fqdn \"{fqdn}\" is not a host name like \"web01.example.jp\""));
        } else {
            self.mail_text(&s.fqdn, FleetText::Fqdn);
        }
        let os = s.os.as_ref().and_then(|o| self.mail_text(o, FleetText::Os)).unwrap_or_default();
        let ip = self.ip(&s.ip);
        if let Some(g) = &s.gateway {
            if !gateways.contains(g.get_ref().as_str()) {
                self.err(
                    start(g),
                    format!(
                        "gateway \"{}\" is not defined: add a [[gateway]] with that label or remove the line",
                        g.get_ref()
                    ),
                );
            }
        }
        let mut services = Vec::new();
        for name in &s.services {
            match name.get_ref().parse::<Service>() {
                Ok(svc) if services.contains(&svc) => {
                    self.err(start(name), format!("service \"{svc}\" is listed twice"))
                }
                Ok(svc) => services.push(svc),
                Err(e) => self.err(start(name), e.to_string()),
            }
        }
        if let (Some(c), Some(first)) = (customer, s.services.first()) {
            if !c.plan.service_monitoring() {
                self.warn(start(first), format!("customer \"{}\" has plan \"zero\", which includes no service monitoring: only ping and SSH of \"{label}\" are checked", c.id));
            }
        }
        let (ssh, ssh_table_port) = self.ssh(s.ssh.as_ref(), &label);
        let mut ssh_port = 22;
        let mut ports = BTreeMap::new();
        if let Some(table) = &s.ports {
            for (name, port) in table.get_ref() {
                if *port.get_ref() == 0 {
                    self.err(start(port), format!("port of \"{name}\" must be between 1 and 65535"));
                }
                if name == "ssh" {
                    ssh_port = *port.get_ref();
                    continue;
                }
                match name.parse::<Service>() {
                    Ok(svc) => {
                        ports.insert(svc, *port.get_ref());
                    }
                    Err(_) => self.err(
                        start(port),
                        format!(
                            "ports names \"{name}\", which is not \"ssh\" or a service name ({})",
                            Service::names()
                        ),
                    ),
                }
            }
        }
        if let Some(p) = ssh_table_port {
            let in_ports = s.ports.as_ref().and_then(|t| t.get_ref().get("ssh").map(|v| *v.get_ref()));
            if in_ports.is_some_and(|v| v != *p.get_ref()) {
                self.err(
                    start(&p),
                    format!(
                        "ssh port {} differs from ports.ssh = {}: keep one",
                        p.get_ref(),
                        in_ports.unwrap_or_default()
                    ),
                );
            }
            if *p.get_ref() == 0 {
                self.err(start(&p), "ssh port must be between 1 and 65535");
            }
            ssh_port = *p.get_ref();
        }
        let mut custom_names = HashSet::new();
        let custom = s
            .custom
            .iter()
            .map(|c| {
                let c = c.get_ref();
                let name = c.name.get_ref().clone();
                if !is_plain_name(&name) {
                    self.err(start(&c.name), format!("custom check name \"{name}\" is not a plain name: {PLAIN_NAME}"));
                } else if self.mail_text(&c.name, FleetText::CustomCheck).is_some()
                    && !custom_names.insert(name.clone())
                {
                    self.err(start(&c.name), format!("custom check \"{name}\" is defined twice on this server"));
                }
                if *c.port.get_ref() == 0 {
                    self.err(start(&c.port), "port must be between 1 and 65535");
                }
                let expect = c.expect.as_ref().map(|e| self.text(e, "expect"));
                CustomCheck { name, port: *c.port.get_ref(), expect }
            })
            .collect();
        let mut restart_units = BTreeMap::new();
        if let Some(table) = &s.restart {
            for (name, unit) in table.get_ref() {
                match name.parse::<Service>() {
                    Ok(svc) if crate::recovery::valid_unit_name(unit.get_ref()) => {
                        restart_units.insert(svc, unit.get_ref().clone());
                    }
                    Ok(_) => self.err(
                        start(unit),
                        format!(
                            "restart unit \"{}\" is not a plain service name like \"nginx\" or \"php-fpm@8.2\"",
                            unit.get_ref()
                        ),
                    ),
                    Err(e) => self.err(start(unit), format!("restart: {e}")),
                }
            }
        }
        let backup = s.backup.as_ref().map(|b| self.backup_paths(b, &label)).unwrap_or_default();
        let updates = self.server_updates(s, &label);
        let reboot = s.reboot.as_ref().and_then(|r| self.reboot(r)).or_else(|| self.reboot_default.clone());
        if let Some(RebootAction::Http { url, token_env: Some(_) }) = &reboot {
            if url_host(url).is_some_and(|h| h.contains('{')) {
                let filled = url.replace("{label}", &label).replace("{ip}", &ip.to_string()).replace("{fqdn}", &fqdn);
                if let Some(why) = token_in_clear(&filled) {
                    let at = s.reboot.as_ref().map(start).unwrap_or(start(&s.label));
                    self.err(at, format!("server \"{label}\": {why}"));
                }
            }
        }
        if let Some(c) = customer {
            for addr in &c.notify {
                let domain = addr.rsplit('@').next().unwrap_or_default();
                if domain.eq_ignore_ascii_case(&fqdn) || domain == ip.to_string() {
                    self.warn(start(&s.fqdn), format!("customer \"{}\" is notified at {addr}, which is hosted on the monitored server \"{label}\" itself: when it fails, the mail cannot arrive", c.id));
                }
            }
        }
        Server {
            label,
            customer: s.customer.get_ref().clone(),
            fqdn,
            ip,
            os,
            gateway: s.gateway.as_ref().map(|g| g.get_ref().clone()),
            services,
            ssh_port,
            ports,
            custom,
            ssh,
            restart_units,
            reboot,
            plesk: s.plesk,
            backup,
            updates,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[noc]
brand = "Speever"
mail_from = "mail_alert@hosting-srv.net"
interval_secs = 60
attempts = 3
timeout_secs = 10

[[customer]]
id = "c1001"
name = "サンプル株式会社"
plan = "150"
notify = ["ops@example.jp"]
phones = ["03-0000-0001"]

[[customer]]
id = "c2002"
name = "ゼロ商店"
plan = "zero"
notify = ["a@example.com", "b@example.com"]

[[gateway]]
label = "gw-a"
ip = "127.77.0.1"

[[server]]
label = "web01"
customer = "c1001"
fqdn = "web01.example.jp"
ip = "127.77.0.2"
os = "CentOS 7"
gateway = "gw-a"
services = ["http", "smtp", "imap"]
ports = { http = 18080, ssh = 2222 }
custom = [{ name = "app", port = 3000, expect = "OK" }]

[[server]]
label = "zero01"
customer = "c2002"
fqdn = "zero01.example.com"
ip = "127.77.0.3"
"#;

    fn errors_of(text: &str) -> Vec<String> {
        parse(text, "fleet.toml").unwrap_err().iter().map(ToString::to_string).collect()
    }

    const C1001: &str = "phones = [\"03-0000-0001\"]\n";

    #[test]
    fn contract_terms_plan_history_root_and_plesk_are_read() {
        let text = GOOD.replacen(
            C1001,
            "phones = [\"03-0000-0001\"]\ncontract = { start = \"2025-04-01\", months = 12 }\nplan_history = [{ plan = \"60\", from = \"2025-04-01\" }, { plan = \"150\", from = \"2026-11-01\" }]\n",
            1,
        )
        .replacen("custom = [{ name = \"app\"", "plesk = true\ncustom = [{ name = \"app\"", 1);
        let fleet = parse(&text, "fleet.toml").unwrap().fleet;
        let c = fleet.customer("c1001").unwrap();
        assert_eq!(c.contract, Some(Contract { start: parse_day("2025-04-01").unwrap(), months: 12, end: None }));
        assert_eq!(c.plan_history.len(), 2);
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(c.plan_at(t("2026-10-31T14:59:59Z")), Plan::P60);
        assert_eq!(c.plan_at(t("2026-10-31T15:00:00Z")), Plan::P150, "11-01 00:00 JST");
        assert!(!c.root, "150 has limited root by default");
        assert!(fleet.customer("c2002").unwrap().root, "zero holds root by default");
        assert!(fleet.servers[0].plesk && !fleet.servers[1].plesk);
        let rooted = parse(&GOOD.replacen(C1001, "phones = [\"03-0000-0001\"]\nroot = true\n", 1), "f").unwrap().fleet;
        assert!(rooted.customer("c1001").unwrap().root);
    }

    #[test]
    fn contract_and_plan_history_mistakes_name_the_line_and_the_fix() {
        let with = |extra: &str| GOOD.replacen(C1001, &format!("phones = [\"03-0000-0001\"]\n{extra}\n"), 1);
        let table = [
            (
                "contract = { start = \"2025-4-1\", months = 12 }",
                "fleet.toml:15:22: contract start \"2025-4-1\" is not a date: write it as YYYY-MM-DD",
            ),
            (
                "contract = { start = \"2025-04-01\", months = 3 }",
                "fleet.toml:15:45: contract months = 3: a term is 6 or 12 months",
            ),
            (
                "contract = { start = \"2025-04-01\", months = 6, end = \"2025-04-01\" }",
                "fleet.toml:15:54: contract end 2025-04-01 is not after its start",
            ),
            (
                "plan_history = [{ plan = \"60\", from = \"2026-01-01\" }]",
                "fleet.toml:15:16: plan_history ends with plan \"60\" but plan is \"150\"",
            ),
            (
                "plan_history = [{ plan = \"150\", from = \"2026-01-01\" }, { plan = \"150\", from = \"2025-01-01\" }]",
                "fleet.toml:15:79: plan_history: 2025-01-01 is not after 2026-01-01",
            ),
            (
                "plan_history = [{ plan = \"100\", from = \"2026-01-01\" }, { plan = \"150\", from = \"2026-02-01\" }]",
                "fleet.toml:15:26: unknown plan \"100\"",
            ),
            ("plan_history = []", "fleet.toml:15:16: plan_history is empty"),
        ];
        for (extra, want) in table {
            let errs = errors_of(&with(extra));
            assert_eq!(errs.len(), 1, "{extra}: {errs:?}");
            assert!(errs[0].starts_with(want), "{extra}:\n got  {}\n want {want}", errs[0]);
        }
    }

    /// Each (from, to) edit of GOOD gives exactly one error, starting with `want`.
    fn one_error_each(table: &[(&str, &str, &str)]) {
        for (from, to, want) in table {
            assert!(GOOD.contains(from), "{from}");
            let errs = errors_of(&GOOD.replacen(from, to, 1));
            assert_eq!(errs.len(), 1, "{to}: {errs:?}");
            assert!(errs[0].starts_with(want), "{to}:\n got  {}\n want {want}", errs[0]);
        }
    }

    #[test]
    fn the_issue_example_parses() {
        let parsed = parse(GOOD, "fleet.toml").unwrap();
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let f = parsed.fleet;
        assert_eq!(f.noc.attempts, 3);
        assert_eq!(f.customers[0].plan, Plan::P150);
        let web = f.server("web01").unwrap();
        assert_eq!(web.ssh_port, 2222);
        assert_eq!(web.port(Service::Http), 18080);
        assert_eq!(web.port(Service::Smtp), 25);
        assert_eq!(web.gateway.as_deref(), Some("gw-a"));
        assert_eq!(web.custom[0].expect.as_deref(), Some("OK"));
    }

    #[test]
    fn checks_follow_the_plan() {
        let f = parse(GOOD, "fleet.toml").unwrap().fleet;
        let ids: Vec<String> = f.checks().iter().map(|c| format!("{}:{}", c.key, c.port)).collect();
        assert_eq!(
            ids,
            [
                "gw-a/ping:0",
                "web01/ping:0",
                "web01/ssh:2222",
                "web01/http:18080",
                "web01/smtp:25",
                "web01/imap:143",
                "web01/custom:app:3000",
                "zero01/ping:0",
                "zero01/ssh:22"
            ]
        );
    }

    #[test]
    fn defaults_apply_when_noc_fields_are_missing() {
        let text = GOOD
            .replace("interval_secs = 60\nattempts = 3\ntimeout_secs = 10\n", "")
            .replace("brand = \"Speever\"\n", "");
        let f = parse(&text, "f").unwrap().fleet;
        assert_eq!((f.noc.interval_secs, f.noc.attempts, f.noc.timeout_secs), (60, 3, 10));
        assert_eq!(f.noc.brand, "Speever");
    }

    /// Each broken line gives exactly one error at the right line and column.
    #[test]
    fn errors_name_line_column_and_fix() {
        let table: &[(&str, &str, &str)] = &[
            ("plan = \"150\"", "plan = \"100\"", "fleet.toml:12:8: unknown plan \"100\""),
            (
                "services = [\"http\", \"smtp\", \"imap\"]",
                "services = [\"http\", \"smtpp\"]",
                "fleet.toml:33:21: unknown service \"smtpp\"",
            ),
            (
                "customer = \"c1001\"",
                "customer = \"c9999\"",
                "fleet.toml:28:12: server \"web01\" names customer \"c9999\"",
            ),
            (
                "notify = [\"ops@example.jp\"]",
                "notify = [\"a@x.jp\", \"b@x.jp\", \"c@x.jp\", \"d@x.jp\"]",
                "fleet.toml:13:10: 4 notify given: at most 3",
            ),
            (
                "phones = [\"03-0000-0001\"]",
                "phones = [\"1\", \"2\", \"3\", \"4\"]",
                "fleet.toml:14:10: 4 phones given: at most 3",
            ),
            ("label = \"zero01\"", "label = \"web01\"", "fleet.toml:38:9: duplicate label \"web01\""),
            (
                "ip = \"127.77.0.2\"",
                "ip = \"web01.example.jp\"",
                "fleet.toml:30:6: \"web01.example.jp\" is not an IP address",
            ),
            ("gateway = \"gw-a\"", "gateway = \"gw-b\"", "fleet.toml:32:11: gateway \"gw-b\" is not defined"),
            (
                "notify = [\"ops@example.jp\"]",
                "notify = [\"ops example.jp\"]",
                "fleet.toml:13:11: \"ops example.jp\" is not a valid notify entry",
            ),
            (
                "ports = { http = 18080, ssh = 2222 }",
                "ports = { gopher = 70 }",
                "fleet.toml:34:20: ports names \"gopher\"",
            ),
            ("attempts = 3", "attempts = 0", "fleet.toml:6:12: attempts must be between 1 and 20"),
            (
                "name = \"サンプル株式会社\"",
                "name = \"サンプル\\r\\nBcc: x@y.jp\"",
                "fleet.toml:11:8: customer name contains a line break or control character (U+000D)",
            ),
        ];
        one_error_each(table);
    }

    #[test]
    fn syntax_and_unknown_fields_are_located() {
        let errs = errors_of(&GOOD.replace("os = \"CentOS 7\"", "oss = \"CentOS 7\""));
        assert!(errs[0].starts_with("fleet.toml:31:1: unknown field `oss`"), "{errs:?}");
        let errs = errors_of(&GOOD.replace("ip = \"127.77.0.3\"", "ip = 127.77.0.3"));
        assert!(errs[0].starts_with("fleet.toml:41:"), "{errs:?}");
        let errs = errors_of(&GOOD.replace("ports = { http = 18080, ssh = 2222 }", "ports = { http = 70000 }"));
        assert!(errs[0].starts_with("fleet.toml:34:18:"), "{errs:?}");
    }

    #[test]
    fn several_errors_are_all_reported_in_order() {
        let text = GOOD.replace("plan = \"150\"", "plan = \"x\"").replace("ip = \"127.77.0.3\"", "ip = \"nope\"");
        let errs = errors_of(&text);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].starts_with("fleet.toml:12:") && errs[1].starts_with("fleet.toml:41:"), "{errs:?}");
    }

    #[test]
    fn warnings_do_not_stop_the_fleet() {
        let text = GOOD
            .replace("ip = \"127.77.0.3\"", "ip = \"127.77.0.3\"\nservices = [\"http\"]")
            .replace("notify = [\"ops@example.jp\"]", "notify = [\"ops@web01.example.jp\"]");
        let parsed = parse(&text, "f").unwrap();
        let w: Vec<String> = parsed.warnings.iter().map(|d| d.message.clone()).collect();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w.iter().any(|m| m.contains("plan \"zero\"")));
        assert!(w.iter().any(|m| m.contains("hosted on the monitored server")));
        assert!(!parsed
            .fleet
            .checks()
            .iter()
            .any(|c| c.key.host == "zero01" && c.key.kind == CheckKind::Service(Service::Http)));
    }

    #[test]
    fn ssh_merges_server_over_noc_default_and_smtp_is_read() {
        let text = GOOD
            .replace("timeout_secs = 10\n", "timeout_secs = 10\nssh = { user = \"anshin\", key = \"keys/id_ed25519\", known_hosts = \"known_hosts\" }\n")
            .replace("ip = \"127.77.0.3\"", "ip = \"127.77.0.3\"\nssh = { user = \"root\", port = 2200, trust_on_first_use = true }")
            + "\n[smtp]\nurl = \"smtp://127.0.0.1:2525\"\n";
        let f = parse(&text, "f").unwrap().fleet;
        let web = f.server("web01").unwrap().ssh.clone().unwrap();
        assert_eq!((web.user.as_str(), web.key.as_str(), web.trust_on_first_use), ("anshin", "keys/id_ed25519", false));
        let zero = f.server("zero01").unwrap();
        let z = zero.ssh.clone().unwrap();
        assert_eq!((z.user.as_str(), z.known_hosts.as_str(), z.trust_on_first_use), ("root", "known_hosts", true));
        assert_eq!(zero.ssh_port, 2200);
        assert_eq!(f.smtp.unwrap().url, "smtp://127.0.0.1:2525");
        assert!(parse(GOOD, "f").unwrap().fleet.server("web01").unwrap().ssh.is_none());
    }

    #[test]
    fn ssh_and_smtp_errors_are_located() {
        let text = GOOD.replace("ip = \"127.77.0.3\"", "ip = \"127.77.0.3\"\nssh = { user = \"root\" }");
        let errs = errors_of(&text);
        assert!(errs[0].starts_with("fleet.toml:42:7: ssh of \"zero01\" lacks key, known_hosts"), "{errs:?}");
        let errs = errors_of(&format!("{GOOD}\n[smtp]\nurl = \"http://x\"\n"));
        assert!(errs[0].contains("must look like \"smtp://127.0.0.1:2525\""), "{errs:?}");
        let errs = errors_of(&format!("{GOOD}\n[smtp]\nurl = \"smtp://me:secret@127.0.0.1:25\"\n"));
        assert!(errs[0].contains("contains a password"), "{errs:?}");
        let text = GOOD.replace("ip = \"127.77.0.3\"", "ip = \"127.77.0.3\"\nports = { ssh = 22 }\nssh = { user = \"a\", key = \"k\", known_hosts = \"h\", port = 2222 }");
        assert!(errors_of(&text)[0].contains("differs from ports.ssh"));
    }

    #[test]
    fn restart_units_and_reboot_actions() {
        let text = GOOD
            .replace("timeout_secs = 10\n", "timeout_secs = 10\nreboot_after_secs = 60\nreboot = { url = \"https://127.0.0.1:9443/vps/{label}/reboot\", token_env = \"VPS_TOKEN\" }\n")
            .replace("custom = [", "restart = { http = \"nginx\" }\nreboot = { command = [\"/usr/local/bin/vps-reboot\", \"{label}\", \"{ip}\"] }\ncustom = [");
        let fleet = parse(&text, "fleet.toml").unwrap().fleet;
        assert_eq!(fleet.noc.reboot_after_secs, 60);
        let web = fleet.server("web01").unwrap();
        assert_eq!(web.restart_command(Service::Http), "systemctl restart nginx");
        assert_eq!(web.restart_command(Service::Smtp), "systemctl restart postfix");
        let Some(RebootAction::Command(argv)) = web.reboot.as_ref().map(|r| r.for_server(web)) else { panic!() };
        assert_eq!(argv, ["/usr/local/bin/vps-reboot", "web01", "127.77.0.2"]);
        // The [noc] default applies where a server has none of its own.
        let zero = fleet.server("zero01").unwrap();
        assert_eq!(
            zero.reboot.as_ref().map(|r| r.for_server(zero)),
            Some(RebootAction::Http {
                url: "https://127.0.0.1:9443/vps/zero01/reboot".into(),
                token_env: Some("VPS_TOKEN".into())
            })
        );
        assert_eq!(parse(GOOD, "f").unwrap().fleet.noc.reboot_after_secs, 900, "contract §4: 15 minutes");

        let bad = GOOD.replace("custom = [", "restart = { http = \"nginx; rm -rf /\" }\ncustom = [");
        assert!(
            errors_of(&bad)[0].contains("restart unit \"nginx; rm -rf /\" is not a plain service name"),
            "{:?}",
            errors_of(&bad)
        );
        let bad = GOOD.replace("custom = [", "reboot = { command = [\"reboot\"] }\ncustom = [");
        assert!(errors_of(&bad)[0].contains("absolute program path"), "{:?}", errors_of(&bad));
        let bad = GOOD.replace("custom = [", "reboot = { }\ncustom = [");
        assert!(errors_of(&bad)[0].contains("either command"), "{:?}", errors_of(&bad));
    }

    /// Whatever a mail shows is refused by `validate` exactly when the renderer would refuse it:
    /// a fleet that validates is never one whose incidents open without a mail.
    #[test]
    fn texts_that_mails_refuse_are_refused_by_validate() {
        let table: &[(&str, &str, &str)] = &[
            ("brand = \"Speever\"", "brand = \"\"", "fleet.toml:3:9: brand is empty"),
            ("brand = \"Speever\"", "brand = \"  \"", "fleet.toml:3:9: brand is empty"),
            ("brand = \"Speever\"", "brand = \"Spee\\u2028ver\"", "fleet.toml:3:9: brand contains a line break"),
            (
                "name = \"サンプル株式会社\"",
                "name = \"サンプル\\u2028株式会社\"",
                "fleet.toml:11:8: customer name contains a line break or control character (U+2028)",
            ),
            ("name = \"サンプル株式会社\"", "name = \" \"", "fleet.toml:11:8: customer \"c1001\" has an empty name"),
            (
                "os = \"CentOS 7\"",
                "os = \"CentOS\\u2028 7\"",
                "fleet.toml:31:6: OS contains a line break or control character (U+2028)",
            ),
            (
                "os = \"CentOS 7\"",
                "os = \"CentOS\\u001b[2J 7\"",
                "fleet.toml:31:6: OS contains a line break or control character (U+001B)",
            ),
            (
                "os = \"CentOS 7\"",
                "os = \"CentOS\\t7\"",
                "fleet.toml:31:6: OS contains a line break or control character (U+0009)",
            ),
            ("os = \"CentOS 7\"", "os = \"CentOS\\u0085 7\"", "fleet.toml:31:6: OS contains a line break"),
            (
                "mail_from = \"mail_alert@hosting-srv.net\"",
                "mail_from = \"Alert <mail_alert@hosting-srv.net>\"",
                "fleet.toml:4:13: mail_from is not a plain mail address",
            ),
            (
                "notify = [\"ops@example.jp\"]",
                "notify = [\"o[p]s@example.jp\"]",
                "fleet.toml:13:11: \"o[p]s@example.jp\" is not a valid notify entry",
            ),
            (
                "notify = [\"ops@example.jp\"]",
                "notify = [\".ops@example.jp\"]",
                "fleet.toml:13:11: \".ops@example.jp\" is not a valid notify entry",
            ),
        ];
        one_error_each(table);
        // An OS may be left out: the mail shows a dash.
        let f = parse(&GOOD.replace("os = \"CentOS 7\"\n", ""), "f").unwrap().fleet;
        assert_eq!(f.server("web01").unwrap().os, "");
    }

    #[test]
    fn labels_and_ids_are_plain_names() {
        for bad in ["--help", "..", ".hidden", "-x", "_x", "a b", "web/01", "", &"a".repeat(64), "ウェブ"] {
            for (from, what) in [
                ("label = \"web01\"", "server label"),
                ("label = \"gw-a\"", "gateway label"),
                ("id = \"c2002\"", "customer id"),
                ("name = \"app\"", "custom check name"),
            ] {
                let text = GOOD.replacen(from, &from.replace(from.split('"').nth(1).unwrap(), bad), 1);
                let errs = parse(&text, "f").map(|_| Vec::new()).unwrap_or_else(|e| e);
                assert!(
                    errs.iter().any(|d| d.message.contains(&format!("{what} \"{bad}\" is not a plain name"))),
                    "{what} {bad:?}: {errs:?}"
                );
            }
        }
        for good in ["web01", "0a", "a.b-c_d", &"a".repeat(63)] {
            assert!(is_plain_name(good), "{good}");
        }
    }

    /// A diagnostic is one line with nothing a terminal would act on, whatever the file holds.
    #[test]
    fn diagnostics_escape_what_they_quote() {
        let text = GOOD.replacen("label = \"web01\"", "label = \"web\\r\\n\\u001b]0;owned\\u0007\\u001b[2J\"", 1);
        let errs = parse(&text, "fleet\u{1b}[31m.toml").unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        let shown = errs[0].to_string();
        assert!(!shown.chars().any(crate::text::is_hidden), "{shown:?}");
        assert!(
            shown.starts_with("fleet\\u{1b}[31m.toml:27:9: server label \"web\\r\\n\\u{1b}]0;owned\\u{7}\\u{1b}[2J\" is not a plain name"),
            "{shown}"
        );
        // The TOML parser's own messages quote the file too.
        let errs = parse("[noc]\nbrand = \"a\"\n\u{1b}[2J = 1\n", "f").unwrap_err();
        assert!(!errs[0].to_string().chars().any(crate::text::is_hidden), "{errs:?}");
    }

    #[test]
    fn smtp_insecure_auth_only_for_a_loopback_relay() {
        let smtp = |body: &str| format!("{GOOD}\n[smtp]\n{body}\n");
        let f = parse(&smtp("url = \"smtp://alerts@127.0.0.1:2525\"\ninsecure_auth = true"), "f").unwrap().fleet;
        assert_eq!(f.smtp.unwrap(), Smtp { url: "smtp://alerts@127.0.0.1:2525".into(), insecure_auth: true });
        for ok in ["smtp://u@localhost:25", "smtp://u@[::1]:25", "smtp://u@127.9.8.7"] {
            assert!(parse(&smtp(&format!("url = \"{ok}\"\ninsecure_auth = true")), "f").is_ok(), "{ok}");
        }
        let f = parse(&smtp("url = \"smtps://u@mail.example.jp\""), "f").unwrap().fleet;
        assert!(!f.smtp.unwrap().insecure_auth, "off unless asked");
        let errs = errors_of(&smtp("url = \"smtp://u@mail.example.jp:587\"\ninsecure_auth = true"));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("fleet.toml:45:17: insecure_auth = true sends the SMTP password without TLS"),
            "{errs:?}"
        );
        assert!(errs[0].contains("not to \"mail.example.jp\""), "{errs:?}");
        // A private address is still a wire.
        assert!(!errors_of(&smtp("url = \"smtp://u@10.0.0.1\"\ninsecure_auth = true")).is_empty());
    }

    #[test]
    fn reboot_tokens_need_https_and_a_dedicated_variable() {
        let with = |reboot: &str| GOOD.replace("custom = [", &format!("reboot = {reboot}\ncustom = ["));
        let ok = |reboot: &str| parse(&with(reboot), "fleet.toml").map(|_| ()).map_err(|e| format!("{e:?}"));
        ok(r#"{ url = "https://api.example.jp/{label}", token_env = "VPS_TOKEN" }"#).unwrap();
        ok(r#"{ url = "http://127.0.0.1:8080/{label}", token_env = "_T2" }"#).unwrap();
        ok(r#"{ url = "http://[::1]:8080/r", token_env = "T" }"#).unwrap();
        // {ip} is filled per server: web01 is 127.77.0.2, on loopback.
        ok(r#"{ url = "http://{ip}:8080/reboot", token_env = "T" }"#).unwrap();
        // Without a token nothing secret travels.
        ok(r#"{ url = "http://api.example.jp/{label}" }"#).unwrap();

        let errs = errors_of(&with(r#"{ url = "http://api.example.jp/{label}", token_env = "VPS_TOKEN" }"#));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with(
                "fleet.toml:35:18: reboot url \"http://api.example.jp/{label}\" would send its token in clear"
            ),
            "{errs:?}"
        );
        let errs = errors_of(&with(r#"{ url = "http://{fqdn}/reboot", token_env = "VPS_TOKEN" }"#));
        assert!(
            errs[0].contains(
                "server \"web01\": reboot url \"http://web01.example.jp/reboot\" would send its token in clear"
            ),
            "{errs:?}"
        );
        for (name, why) in [
            ("ANSHIN_SMTP_PASSWORD", "names a variable Anshin NOC reads for itself"),
            ("ANSHIN_TOKENS", "names a variable Anshin NOC reads for itself"),
            ("CREDENTIALS_DIRECTORY", "names a variable Anshin NOC reads for itself"),
            ("vps_token", "capitals, digits and '_'"),
            ("1TOKEN", "capitals, digits and '_'"),
            ("VPS-TOKEN", "capitals, digits and '_'"),
            ("", "capitals, digits and '_'"),
        ] {
            let errs = errors_of(&with(&format!(r#"{{ url = "https://api.example.jp/r", token_env = "{name}" }}"#)));
            assert_eq!(errs.len(), 1, "{name}: {errs:?}");
            assert!(errs[0].starts_with("fleet.toml:35:58: token_env") && errs[0].contains(why), "{name}: {errs:?}");
        }
    }

    #[test]
    fn backup_keys_are_read_with_their_defaults() {
        let f = parse(GOOD, "f").unwrap().fleet;
        assert_eq!(f.backup, BackupSettings::default());
        assert_eq!((f.backup.full_day, f.backup.full_hour, f.backup.max_running), (chrono::Weekday::Sun, 3, 2));
        assert_eq!(f.server("web01").unwrap().backup, BackupPaths::default());
        assert_eq!(f.server("web01").unwrap().backup.include, ["/"]);

        let text = GOOD
            .replace("timeout_secs = 10\n", "timeout_secs = 10\nbackup = { store = \"backups\", full_day = \"wed\", full_hour = 1, max_running = 4 }\nssh = { user = \"anshin\", key = \"k\", known_hosts = \"h\", sudo = true }\n")
            .replace("custom = [", "backup = { include = [\"/srv/\", \"/home\"], exclude = [\"/srv/tmp\", \"/home/it's cache\"] }\ncustom = [")
            .replace("ip = \"127.77.0.3\"", "ip = \"127.77.0.3\"\nssh = { sudo = false }");
        let mut f = parse(&text, "f").unwrap().fleet;
        assert_eq!(
            f.backup,
            BackupSettings {
                store: Some("backups".into()),
                full_day: chrono::Weekday::Wed,
                full_hour: 1,
                max_running: 4
            }
        );
        let web = f.server("web01").unwrap();
        assert_eq!(web.backup.include, ["/srv", "/home"]);
        assert_eq!(web.backup.exclude, ["/srv/tmp", "/home/it's cache"]);
        assert!(web.ssh.as_ref().unwrap().sudo, "[noc] ssh's sudo is inherited");
        assert!(!f.server("zero01").unwrap().ssh.as_ref().unwrap().sudo, "and overridden per server");
        f.resolve_paths(std::path::Path::new("/etc/anshin-noc"));
        assert_eq!(f.backup.store.as_deref(), Some("/etc/anshin-noc/backups"));
        let abs =
            GOOD.replace("timeout_secs = 10\n", "timeout_secs = 10\nbackup = { store = \"/srv/anshin-store\" }\n");
        let mut f = parse(&abs, "f").unwrap().fleet;
        f.resolve_paths(std::path::Path::new("/etc/anshin-noc"));
        assert_eq!(f.backup.store.as_deref(), Some("/srv/anshin-store"));
    }

    #[test]
    fn update_and_retention_keys_are_read_and_their_mistakes_named() {
        let noc = |k: &str| GOOD.replace("timeout_secs = 10\n", &format!("timeout_secs = 10\n{k}\n"));
        let server = |k: &str| GOOD.replace("custom = [", &format!("{k}\ncustom = ["));
        let text = server("cms = [{ kind = \"wordpress\", path = \"/var/www/html/\", owner = \"www-data\" }]\nupdates = { refresh_metadata = true }")
            .replace("timeout_secs = 10\n", "timeout_secs = 10\nupdates = { every_hours = 12, job_minutes = 45 }\nretention = { raw_days = 14 }\n");
        let f = parse(&text, "f").unwrap().fleet;
        let web = f.server("web01").unwrap();
        assert_eq!(
            web.updates.cms,
            [crate::update_settings::CmsSite { path: "/var/www/html".into(), owner: Some("www-data".into()) }]
        );
        assert!(web.updates.refresh_metadata);
        assert_eq!((f.updates.every_hours, f.updates.job_minutes), (12, 45));
        assert_eq!((f.retention.raw_days, f.retention.five_minute_days, f.retention.hourly_days), (14, 90, 730));
        let table: Vec<(String, &str)> = vec![
            (noc("updates = { every_hours = 0 }"), "fleet.toml:8:27: updates every_hours = 0: give 1 to 168 hours"),
            (noc("retention = { raw_days = 120 }"), "fleet.toml:8:13: retention keeps coarser data for less time"),
            (
                server("cms = [{ kind = \"drupal\", path = \"/srv\" }]"),
                "fleet.toml:35:17: cms kind \"drupal\" is not known",
            ),
            (
                server("cms = [{ kind = \"wordpress\", path = \"www\" }]"),
                "fleet.toml:35:37: cms path of \"web01\": \"www\" is not an absolute path",
            ),
        ];
        for (text, want) in table {
            let errs = errors_of(&text);
            assert_eq!(errs.len(), 1, "{want}: {errs:?}");
            assert!(errs[0].starts_with(want), "\n got  {}\n want {want}", errs[0]);
        }
        let custs = GOOD.replacen("plan = \"150\"", "plan = \"150\"\nauto_updates = \"always\"", 1);
        let errs = errors_of(&custs);
        assert!(errs.len() == 1 && errs[0].contains("auto_updates \"always\" is not known"), "{errs:?}");
    }

    #[test]
    fn backup_mistakes_name_the_place_and_the_fix() {
        let noc = |b: &str| GOOD.replace("timeout_secs = 10\n", &format!("timeout_secs = 10\nbackup = {b}\n"));
        let server = |b: &str| GOOD.replace("custom = [", &format!("backup = {b}\ncustom = ["));
        let table: Vec<(String, &str)> = vec![
            (
                noc("{ full_day = \"sunday\" }"),
                "fleet.toml:8:23: backup full_day \"sunday\" is not a day: use one of \"sun\"",
            ),
            (
                noc("{ full_hour = 24 }"),
                "fleet.toml:8:24: backup full_hour = 24: give an hour of Japan time from 0 to 23",
            ),
            (noc("{ max_running = 0 }"), "fleet.toml:8:26: backup max_running = 0: give 1 to 16 runs at once"),
            (noc("{ store = \"\" }"), "fleet.toml:8:20: backup store must be a folder path"),
            (noc("{ stor = \"x\" }"), "fleet.toml:8:12: unknown field `stor`"),
            (server("{ include = [\"srv\"] }"), "fleet.toml:35:23: backup include: \"srv\" is not an absolute path"),
            (
                server("{ include = [\"/srv/../etc\"] }"),
                "fleet.toml:35:23: backup include: \"/srv/../etc\" has a \".\" or \"..\" step",
            ),
            (
                server("{ exclude = [\"/srv/tmp\", \"/srv/tmp/\"] }"),
                "fleet.toml:35:35: backup exclude lists \"/srv/tmp\" twice",
            ),
            (server("{ include = [] }"), "fleet.toml:35:22: backup include of \"web01\" is empty"),
            (
                server("{ include = [\"/srv\\nx\"] }"),
                "fleet.toml:35:23: backup include: \"/srv\\nx\" contains a control character",
            ),
            (server("{ includes = [\"/srv\"] }"), "fleet.toml:35:12: unknown field `includes`"),
            (
                GOOD.replace(
                    "custom = [",
                    "ssh = { user = \"a\", key = \"k\", known_hosts = \"h\", sudo = \"yes\" }\ncustom = [",
                ),
                "fleet.toml:35:",
            ),
        ];
        for (text, want) in table {
            let errs = errors_of(&text);
            assert_eq!(errs.len(), 1, "{want}: {errs:?}");
            assert!(errs[0].starts_with(want), "\n got  {}\n want {want}", errs[0]);
        }
        let many =
            format!("{{ include = [{}] }}", (0..33).map(|i| format!("\"/p{i}\"")).collect::<Vec<_>>().join(", "));
        assert!(errors_of(&server(&many))[0].contains("lists 33 paths: at most 32"));
    }

    #[test]
    fn secrets_dir_is_relative_to_the_fleet_file() {
        let text = GOOD.replace("timeout_secs = 10\n", "timeout_secs = 10\nsecrets_dir = \"secrets\"\n");
        let mut f = parse(&text, "f").unwrap().fleet;
        assert_eq!(f.secrets_dir.as_deref(), Some("secrets"));
        f.resolve_paths(std::path::Path::new("/etc/anshin-noc"));
        assert_eq!(f.secrets_dir.as_deref(), Some("/etc/anshin-noc/secrets"));
        let text = GOOD.replace("timeout_secs = 10\n", "timeout_secs = 10\nsecrets_dir = \"/run/keys\"\n");
        let mut f = parse(&text, "f").unwrap().fleet;
        f.resolve_paths(std::path::Path::new("/etc/anshin-noc"));
        assert_eq!(f.secrets_dir.as_deref(), Some("/run/keys"));
        assert!(parse(GOOD, "f").unwrap().fleet.secrets_dir.is_none());
        let errs = errors_of(&GOOD.replace("timeout_secs = 10\n", "timeout_secs = 10\nsecrets_dir = \"\"\n"));
        assert!(errs[0].contains("secrets_dir must be a folder path"), "{errs:?}");
    }

    #[test]
    fn url_hosts_and_loopback() {
        assert_eq!(url_host("smtp://u%40x@[::1]:25"), Some("::1"));
        assert_eq!(url_host("https://api.example.jp:8443/a@b"), Some("api.example.jp"));
        assert_eq!(url_host("http://{ip}:80/x"), Some("{ip}"));
        assert_eq!(url_host("nothing"), None);
        for yes in ["localhost", "LOCALHOST", "127.0.0.1", "127.255.0.9", "::1", "[::1]"] {
            assert!(is_loopback_host(yes), "{yes}");
        }
        for no in ["10.0.0.1", "192.168.1.1", "localhost.example.jp", "::2", "", "128.0.0.1"] {
            assert!(!is_loopback_host(no), "{no}");
        }
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("あい\nう", "あい\n".len() + 3), (2, 2));
        assert_eq!(line_col("", 10), (1, 1));
    }
}
