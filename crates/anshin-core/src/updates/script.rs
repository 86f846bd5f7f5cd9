//! The commands sent over SSH: the read-only detection scripts (OS and WordPress) and the apply
//! commands.
//!
//! Owns: the scripts' text and the reply protocol they print (read back by `reply` and
//! `wordpress`): every command's output, its standard error folded in, sits between
//! `@@anshin-updates begin NAME` and `@@anshin-updates end NAME STATUS` (its exit status), and
//! the reply ends with `@@anshin-updates done` (a reply without it was cut short).
//! Must not know: SSH, what the replies mean.
//!
//! Detection never changes the server. It reads the metadata the server has cached (`dnf -C`,
//! `yum -C`, apt's lists): `dnf makecache`, `yum makecache` or `apt-get update` run first only
//! when the fleet allows it ([`DetectOptions::refresh_metadata`]). It never waits on a
//! package-manager lock: yum and dnf exit at once when it is held (`exit_on_lock`), apt waits at
//! most [`LOCK_WAIT_SECS`] (`DPkg::Lock::Timeout`), and every command runs under coreutils
//! `timeout` (where the server has it: CentOS 6 does) as a last guard. `LC_ALL=C` keeps the
//! output in the form the parsers read.

use crate::shell::sh_quote;
use crate::text::is_hidden;
use crate::updates::platform::UpdateTool;

/// The longest apt waits for its lock.
pub const LOCK_WAIT_SECS: u32 = 30;
/// The time limit of one query of a detection (a cached query takes seconds).
pub const QUERY_SECS: u32 = 120;
/// The time limit of a metadata refresh (it downloads).
pub const REFRESH_SECS: u32 = 300;
/// How much of a detection reply to read. A reply is small (apt: about 100 bytes per pending
/// package; rpm: about 45 bytes per installed package, `rpm -qa` lists them all), so this bound
/// is only against a runaway server.
pub const MAX_REPLY_BYTES: usize = 1024 * 1024;
/// The longest package, plugin or theme name accepted on a command line.
pub const MAX_NAME_LEN: usize = 200;

pub(crate) const MARK: &str = "@@anshin-updates";

/// How a detection runs on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DetectOptions {
    /// The fleet's `updates = { refresh_metadata = true }`: download the metadata first.
    pub refresh_metadata: bool,
    /// The server's `ssh.sudo`: the whole script runs under `sudo -n`.
    pub sudo: bool,
}

/// Why an apply command cannot be written. Names are never repeated in the message (they may
/// hold what was refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no package named: apt upgrades only the packages it is given")]
    NoPackages,
    #[error("a name is empty")]
    EmptyName,
    #[error("a name starts with '-' and would be read as an option")]
    OptionLike,
    #[error("a name holds a control character or a line break")]
    HiddenCharacter,
    #[error("a name is longer than {MAX_NAME_LEN} bytes")]
    TooLong,
    #[error("nothing to update on the site: no core, plugin or theme chosen")]
    NothingChosen,
}

/// A name put on a command line: quoted (so nothing in it is expanded), and refused when the
/// program would read it as an option or it cannot be one line.
fn checked_name(name: &str) -> Result<String, CommandError> {
    if name.is_empty() {
        Err(CommandError::EmptyName)
    } else if name.starts_with('-') {
        Err(CommandError::OptionLike)
    } else if name.chars().any(is_hidden) {
        Err(CommandError::HiddenCharacter)
    } else if name.len() > MAX_NAME_LEN {
        Err(CommandError::TooLong)
    } else {
        Ok(sh_quote(name))
    }
}

fn checked_names(names: &[String]) -> Result<Vec<String>, CommandError> {
    names.iter().map(|n| checked_name(n)).collect()
}

/// `sh -c SCRIPT`, under `sudo -n` when asked (the account's login shell only starts `sh`).
fn wrap(script: &str, sudo: bool) -> String {
    let sh = format!("sh -c {}", sh_quote(script));
    if sudo {
        format!("sudo -n {sh}")
    } else {
        sh
    }
}

const PRELUDE: &str = "LC_ALL=C; LANG=C; export LC_ALL LANG\n\
PATH=\"$PATH:/usr/sbin:/sbin:/usr/bin:/bin\"; export PATH\n";

/// `t SECS CMD…`: CMD under `timeout` when the server has it.
const TIMEOUT_FN: &str =
    "t() { s=$1; shift; if command -v timeout >/dev/null 2>&1; then timeout -k 5 \"$s\" \"$@\"; else \"$@\"; fi; }\n";

/// One section: `command` (a line of `sh`) with its standard error folded in.
fn section(out: &mut String, name: &str, command: &str) {
    out.push_str(&format!("echo '{MARK} begin {name}'\n{command} 2>&1\necho \"{MARK} end {name} $?\"\n"));
}

/// The reboot section: `/var/run/reboot-required`, the running kernel and the installed ones
/// (`/boot/vmlinuz-*`), and on EL7 and later `needs-restarting -r` (its status, its output
/// prefixed `| `).
fn reboot_section(out: &mut String, tool: UpdateTool) {
    let mut s = String::from(
        "{ [ -e /var/run/reboot-required ] && echo reboot-required\n\
         echo \"running $(uname -r)\"\n\
         for f in /boot/vmlinuz-*; do [ -e \"$f\" ] && echo \"kernel ${f#/boot/vmlinuz-}\"; done\n",
    );
    let needs = match tool {
        UpdateTool::Yum6 | UpdateTool::Apt => None,
        UpdateTool::Yum7 => Some("needs-restarting -r"),
        UpdateTool::Dnf => Some("dnf -q -C --setopt=exit_on_lock=True needs-restarting -r"),
    };
    if let Some(fallback) = needs {
        s.push_str(&format!(
            "if command -v needs-restarting >/dev/null 2>&1; then n=$(t {QUERY_SECS} needs-restarting -r 2>&1); r=$?; \
             else n=$(t {QUERY_SECS} {fallback} 2>&1); r=$?; fi\n\
             echo \"needs-restarting $r\"; printf '%s\\n' \"$n\" | sed 's/^/| /'\n"
        ));
    }
    s.push_str("true; }");
    section(out, "reboot", &s);
}

/// The read-only detection script of `tool` as one command line (`sh -c …`). Sections, in order:
/// `refresh` (only with [`DetectOptions::refresh_metadata`]), `advisories` (the security
/// metadata: `dnf updateinfo list --security`, `yum updateinfo list security`, or on EL6 the
/// security subset of `yum --security check-update`; apt has none), `pending` (every update
/// with its candidate: `dnf`/`yum check-update`, `apt list --upgradable`), `installed` (rpm:
/// name, arch, epoch:version-release), `origins` (apt: `apt-cache policy`, the archives'
/// labels), `reboot`.
pub fn detect_command(tool: UpdateTool, options: DetectOptions) -> String {
    let mut s = format!("{PRELUDE}{TIMEOUT_FN}");
    let q = QUERY_SECS;
    let r = REFRESH_SECS;
    let rpm_installed = format!("t {q} rpm -qa --qf '%{{NAME}} %{{ARCH}} %{{EPOCH}}:%{{VERSION}}-%{{RELEASE}}\\n'");
    match tool {
        UpdateTool::Dnf => {
            let dnf = "dnf -q --setopt=exit_on_lock=True";
            if options.refresh_metadata {
                section(&mut s, "refresh", &format!("t {r} {dnf} makecache"));
            }
            section(&mut s, "advisories", &format!("t {q} {dnf} -C updateinfo list --security"));
            section(&mut s, "pending", &format!("t {q} {dnf} -C check-update"));
            section(&mut s, "installed", &rpm_installed);
        }
        UpdateTool::Yum7 | UpdateTool::Yum6 => {
            let yum = "yum -q --setopt=exit_on_lock=1";
            if options.refresh_metadata {
                let fast = if tool == UpdateTool::Yum7 { " fast" } else { "" };
                section(&mut s, "refresh", &format!("t {r} {yum} makecache{fast}"));
            }
            let advisories = match tool {
                UpdateTool::Yum7 => format!("t {q} {yum} -C updateinfo list security"),
                _ => format!("t {q} {yum} -C --security check-update"),
            };
            section(&mut s, "advisories", &advisories);
            section(&mut s, "pending", &format!("t {q} {yum} -C check-update"));
            section(&mut s, "installed", &rpm_installed);
        }
        UpdateTool::Apt => {
            let lock = format!("-o DPkg::Lock::Timeout={LOCK_WAIT_SECS}");
            if options.refresh_metadata {
                section(&mut s, "refresh", &format!("t {r} apt-get -q {lock} update"));
            }
            section(&mut s, "pending", &format!("t {q} apt {lock} list --upgradable"));
            section(&mut s, "origins", &format!("t {q} apt-cache policy"));
        }
    }
    reboot_section(&mut s, tool);
    s.push_str(&format!("echo '{MARK} done'\n"));
    wrap(&s, options.sudo)
}

/// What an OS apply installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsApply<'a> {
    /// The packages chosen; empty: every security update (yum and dnf only: apt needs names).
    pub packages: &'a [String],
    /// Limit yum and dnf to security updates (`--security`). Off for an end-of-life system,
    /// whose repositories have no security metadata (its `unclassified` rows are applied by
    /// name). apt has no such filter: the names are the security rows.
    pub security_only: bool,
    /// The server's `ssh.sudo`.
    pub sudo: bool,
}

/// The apply command, non-interactive: `dnf -y upgrade --security [-- PKGS]`,
/// `yum -y update --security [-- PKGS]`, or `DEBIAN_FRONTEND=noninteractive apt-get install
/// --only-upgrade -y -o Dpkg::Options::=--force-confold -- PKGS`. A held lock ends it at once
/// (yum, dnf) or after [`LOCK_WAIT_SECS`] (apt). The engine's job timeout bounds the rest.
pub fn apply_command(tool: UpdateTool, apply: &OsApply<'_>) -> Result<String, CommandError> {
    let names = checked_names(apply.packages)?;
    let tail = if names.is_empty() { String::new() } else { format!(" -- {}", names.join(" ")) };
    let security = if apply.security_only { " --security" } else { "" };
    let line = match tool {
        UpdateTool::Dnf => format!("dnf -y --setopt=exit_on_lock=True upgrade{security}{tail}"),
        UpdateTool::Yum6 | UpdateTool::Yum7 => format!("yum -y --setopt=exit_on_lock=1 update{security}{tail}"),
        UpdateTool::Apt if names.is_empty() => return Err(CommandError::NoPackages),
        UpdateTool::Apt => format!(
            "DEBIAN_FRONTEND=noninteractive apt-get install --only-upgrade -y -o DPkg::Lock::Timeout={LOCK_WAIT_SECS} \
             -o Dpkg::Options::=--force-confold{tail}"
        ),
    };
    Ok(wrap(&format!("{PRELUDE}{line}\n"), apply.sudo))
}

// ---- WordPress ---------------------------------------------------------------------------------

/// One WordPress installation of a server (the fleet's `cms = [{ kind = "wordpress", path }]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordpressSite {
    /// The installation's directory (`/var/www/html`).
    pub path: String,
    /// The user wp-cli runs as; `None`: the owner of `path` on the server (`stat -c %U`).
    pub owner: Option<String>,
}

/// The shell function `wpr OWNER PATH ARGS…`: wp-cli on the site as its owner — directly when
/// the SSH account is that user (root adds `--allow-root`), else `sudo -n -u OWNER`. `$W` is
/// wp-cli's absolute path (sudo's secure_path may lack `/usr/local/bin`). `run` prefixes the
/// program (`t 120 ` for a time limit; `timeout` cannot run a shell function itself).
fn wpr_fn(run: &str) -> String {
    format!(
        "me=$(id -un)\n\
         wpr() {{ o=$1; p=$2; shift 2\n\
         if [ \"$o\" = \"$me\" ]; then\n\
         if [ \"$o\" = root ]; then {run}\"$W\" --allow-root --path=\"$p\" \"$@\"; else {run}\"$W\" --path=\"$p\" \"$@\"; fi\n\
         else {run}sudo -n -u \"$o\" -- \"$W\" --path=\"$p\" \"$@\"; fi; }}\n"
    )
}

/// Sets `p` and `o` for one site. An unknown owner (the path does not exist) falls back to the
/// account itself, so wp-cli says what is wrong with the path.
fn site_vars(site: &WordpressSite) -> Result<String, CommandError> {
    let path = sh_quote(&site.path);
    let owner = match &site.owner {
        Some(o) => checked_name(o)?,
        None => format!("$(stat -c %U -- {path} 2>/dev/null)"),
    };
    Ok(format!("p={path}; o={owner}; [ -n \"$o\" ] || o=$me\n"))
}

/// Stops with "wp-cli not installed" when the server has no `wp`.
fn find_wp(missing: &str) -> String {
    format!("W=$(command -v wp 2>/dev/null)\nif [ -z \"$W\" ]; then {missing}; fi\n")
}

/// The read-only detection of WordPress updates on `sites` (one SSH command for all of them):
/// per site `I` (its index in `sites`; the marker lines never carry the path) the sections
/// `core-version I` (`wp core version`), `core I` (`wp core check-update --format=json`),
/// `plugins I` and `themes I` (`wp plugin|theme list --update=available
/// --fields=name,version,update_version --format=json`), run with `--skip-plugins
/// --skip-themes` so a broken plugin cannot stop the check. Without wp-cli the reply is the one
/// line `@@anshin-updates wp-cli missing` before `done`.
pub fn wordpress_detect_command(sites: &[WordpressSite], sudo: bool) -> Result<String, CommandError> {
    let mut s = format!("{PRELUDE}{TIMEOUT_FN}");
    s.push_str(&find_wp(&format!("echo '{MARK} wp-cli missing'; echo '{MARK} done'; exit 0")));
    let q = QUERY_SECS;
    s.push_str(&wpr_fn(&format!("t {q} ")));
    let skip = "--skip-plugins --skip-themes";
    let list = "--update=available --fields=name,version,update_version --format=json";
    for (i, site) in sites.iter().enumerate() {
        s.push_str(&site_vars(site)?);
        section(&mut s, &format!("core-version {i}"), &format!("wpr \"$o\" \"$p\" {skip} core version"));
        section(&mut s, &format!("core {i}"), &format!("wpr \"$o\" \"$p\" {skip} core check-update --format=json"));
        section(&mut s, &format!("plugins {i}"), &format!("wpr \"$o\" \"$p\" {skip} plugin list {list}"));
        section(&mut s, &format!("themes {i}"), &format!("wpr \"$o\" \"$p\" {skip} theme list {list}"));
    }
    s.push_str(&format!("echo '{MARK} done'\n"));
    Ok(wrap(&s, sudo))
}

/// What a WordPress apply updates on one site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordpressChanges<'a> {
    pub core: bool,
    pub plugins: &'a [String],
    pub themes: &'a [String],
}

/// The apply command of one site, as its owner, each step only after the previous succeeded:
/// `wp core update` then `wp core update-db`, `wp plugin update NAME…`, `wp theme update
/// NAME…`. Without wp-cli it prints `wp-cli not installed` and exits 127.
pub fn wordpress_apply_command(
    site: &WordpressSite,
    changes: &WordpressChanges<'_>,
    sudo: bool,
) -> Result<String, CommandError> {
    let mut steps = Vec::new();
    if changes.core {
        steps.push("wpr \"$o\" \"$p\" core update".to_string());
        steps.push("wpr \"$o\" \"$p\" core update-db".to_string());
    }
    for (kind, names) in [("plugin", changes.plugins), ("theme", changes.themes)] {
        if !names.is_empty() {
            steps.push(format!("wpr \"$o\" \"$p\" {kind} update {}", checked_names(names)?.join(" ")));
        }
    }
    if steps.is_empty() {
        return Err(CommandError::NothingChosen);
    }
    let mut s = PRELUDE.to_string();
    s.push_str(&find_wp("echo 'wp-cli not installed' >&2; exit 127"));
    s.push_str(&wpr_fn(""));
    s.push_str(&site_vars(site)?);
    s.push_str(&steps.join(" && \\\n"));
    s.push('\n');
    Ok(wrap(&s, sudo))
}

// ---- running an apply as a job ------------------------------------------------------------------

/// What an apply's audit entry keeps of its output (contract §8: 256 KiB).
pub const APPLY_OUTPUT_MAX: usize = 256 * 1024;

/// `command` (an apply command of this module) as a job: under `timeout` for `job_secs` when the
/// server has it, its output (standard error folded in) written to a temporary file on the server
/// and printed after the end, at most [`APPLY_OUTPUT_MAX`] bytes, then one line
/// `@@anshin-updates exit STATUS bytes TOTAL`. The command itself never writes into a closed pipe:
/// cutting what is shown never cuts the package manager short.
pub fn apply_job(command: &str, job_secs: u64) -> String {
    let cap = APPLY_OUTPUT_MAX;
    let script = format!(
        "{PRELUDE}{TIMEOUT_FN}o=$(mktemp 2>/dev/null || echo /tmp/anshin-update.$$)\n\
         t {job_secs} {command} >\"$o\" 2>&1 </dev/null; rc=$?\n\
         n=$(wc -c <\"$o\" | tr -d ' '); head -c {cap} \"$o\"; rm -f \"$o\"\n\
         echo; echo \"{MARK} exit $rc bytes $n\"\n"
    );
    format!("sh -c {}", sh_quote(&script))
}

/// What an apply job printed ([`apply_job`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReply {
    /// The package manager's output, at most [`APPLY_OUTPUT_MAX`] bytes, as printed (escape it to
    /// show it).
    pub output: String,
    /// Its exit status; `None` when the reply has no end line (the connection or the job's time
    /// limit on our side cut it).
    pub exit: Option<i32>,
    /// How many bytes it printed in all (more than `output` holds when cut).
    pub total_bytes: u64,
}

impl ApplyReply {
    /// Ended with status 0.
    pub fn ok(&self) -> bool {
        self.exit == Some(0)
    }

    /// `timeout` stopped it (status 124, or 137 after its kill).
    pub fn timed_out(&self) -> bool {
        matches!(self.exit, Some(124) | Some(137))
    }
}

/// Reads an apply job's reply: everything before the last end line is the output.
pub fn parse_apply_reply(reply: &str) -> ApplyReply {
    let end = format!("{MARK} exit ");
    let Some(at) = reply.rfind(&end) else {
        let output: String = reply.chars().take(APPLY_OUTPUT_MAX).collect();
        let total_bytes = reply.len() as u64;
        return ApplyReply { output, exit: None, total_bytes };
    };
    let tail = &reply[at + end.len()..];
    let mut words = tail.split_whitespace();
    let exit = words.next().and_then(|w| w.parse().ok());
    let total_bytes = match (words.next(), words.next()) {
        (Some("bytes"), Some(n)) => n.parse().unwrap_or(0),
        _ => 0,
    };
    let output = reply[..at].strip_suffix('\n').unwrap_or(&reply[..at]).to_string();
    ApplyReply { output, exit, total_bytes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    const ODD: &[&str] =
        &["libstdc++", "it's", "a b", "$(touch /tmp/anshin-updates-owned)", "`id`", "x;y|z&", "*", "ウェブ", "\"q\""];

    /// A fresh directory under the system's temporary directory, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("anshin-updates-{}-{name}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        /// An executable `name` printing `body` as its script.
        fn program(&self, name: &str, body: &str) {
            let f = self.0.join(name);
            std::fs::write(&f, format!("#!/bin/sh\n{body}")).unwrap();
            let mut perm = std::fs::metadata(&f).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
            std::fs::set_permissions(&f, perm).unwrap();
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Stand-ins for the package tools: each prints its own name and its arguments, one per line
    /// between `<` and `>`, so a test sees exactly the words `sh` passed.
    fn stand_ins(tools: &[&str]) -> TempDir {
        let dir = TempDir::new(&tools.join("-"));
        for tool in tools {
            dir.program(tool, &format!("echo {tool}\nfor a in \"$@\"; do printf '<%s>\\n' \"$a\"; done\n"));
        }
        dir
    }

    /// Runs a command line the way the SSH server's login shell would, with `dir` first on PATH.
    fn run(command: &str, dir: &TempDir) -> String {
        let path = format!("{}:{}", dir.0.display(), std::env::var("PATH").unwrap_or_default());
        let out = Command::new("sh").arg("-c").arg(command).env("PATH", path).output().unwrap();
        assert!(out.status.success(), "{command}\n{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    fn words(args: &[&str]) -> String {
        args.iter().map(|a| format!("<{a}>\n")).collect()
    }

    #[test]
    fn odd_package_names_reach_the_package_manager_as_single_literal_words() {
        let dir = stand_ins(&["dnf", "yum", "apt-get"]);
        let names: Vec<String> = ODD.iter().map(|s| s.to_string()).collect();
        let apply = OsApply { packages: &names, security_only: true, sudo: false };
        let got = run(&apply_command(UpdateTool::Dnf, &apply).unwrap(), &dir);
        let mut want = vec!["-y", "--setopt=exit_on_lock=True", "upgrade", "--security", "--"];
        want.extend(ODD);
        assert_eq!(got, format!("dnf\n{}", words(&want)));

        let got = run(&apply_command(UpdateTool::Yum7, &OsApply { security_only: false, ..apply }).unwrap(), &dir);
        let mut want = vec!["-y", "--setopt=exit_on_lock=1", "update", "--"];
        want.extend(ODD);
        assert_eq!(got, format!("yum\n{}", words(&want)));

        let got = run(&apply_command(UpdateTool::Apt, &apply).unwrap(), &dir);
        let mut want = vec![
            "install",
            "--only-upgrade",
            "-y",
            "-o",
            "DPkg::Lock::Timeout=30",
            "-o",
            "Dpkg::Options::=--force-confold",
            "--",
        ];
        want.extend(ODD);
        assert_eq!(got, format!("apt-get\n{}", words(&want)));
        assert!(!Path::new("/tmp/anshin-updates-owned").exists());
    }

    #[test]
    fn apply_without_names_is_the_whole_security_set_except_on_apt() {
        let dir = stand_ins(&["dnf", "yum"]);
        let all = OsApply { packages: &[], security_only: true, sudo: false };
        assert_eq!(
            run(&apply_command(UpdateTool::Dnf, &all).unwrap(), &dir),
            format!("dnf\n{}", words(&["-y", "--setopt=exit_on_lock=True", "upgrade", "--security"]))
        );
        assert_eq!(
            run(&apply_command(UpdateTool::Yum6, &all).unwrap(), &dir),
            format!("yum\n{}", words(&["-y", "--setopt=exit_on_lock=1", "update", "--security"]))
        );
        assert_eq!(apply_command(UpdateTool::Apt, &all), Err(CommandError::NoPackages));
    }

    #[test]
    fn names_that_would_be_options_or_break_lines_are_refused() {
        for (name, err) in [
            ("", CommandError::EmptyName),
            ("-y", CommandError::OptionLike),
            ("--installroot=/", CommandError::OptionLike),
            ("a\nb", CommandError::HiddenCharacter),
            ("a\u{1b}[2J", CommandError::HiddenCharacter),
        ] {
            let names = vec!["openssl".to_string(), name.to_string()];
            let apply = OsApply { packages: &names, security_only: true, sudo: false };
            assert_eq!(apply_command(UpdateTool::Apt, &apply), Err(err.clone()), "{name:?}");
            let site = WordpressSite { path: "/srv/wp".into(), owner: None };
            let changes = WordpressChanges { core: false, plugins: &names, themes: &[] };
            assert_eq!(wordpress_apply_command(&site, &changes, false), Err(err), "{name:?}");
        }
        let long = vec!["a".repeat(MAX_NAME_LEN + 1)];
        let apply = OsApply { packages: &long, security_only: true, sudo: false };
        assert_eq!(apply_command(UpdateTool::Dnf, &apply), Err(CommandError::TooLong));
    }

    #[test]
    fn sudo_wraps_the_whole_command() {
        let apply = OsApply { packages: &[], security_only: true, sudo: true };
        let cmd = apply_command(UpdateTool::Dnf, &apply).unwrap();
        assert!(cmd.starts_with("sudo -n sh -c '"), "{cmd}");
        let detect = detect_command(UpdateTool::Apt, DetectOptions { refresh_metadata: false, sudo: true });
        assert!(detect.starts_with("sudo -n sh -c '"), "{detect}");
        assert!(detect_command(UpdateTool::Apt, DetectOptions::default()).starts_with("sh -c '"));
    }

    /// What the detection scripts may and may not run.
    #[test]
    fn detection_is_read_only_unless_refresh_is_allowed_and_never_waits_on_a_lock() {
        for tool in [UpdateTool::Yum6, UpdateTool::Yum7, UpdateTool::Dnf, UpdateTool::Apt] {
            let plain = detect_command(tool, DetectOptions::default());
            for word in ["makecache", "apt-get", "update", "upgrade", "install"] {
                assert!(
                    !plain.split_whitespace().any(|w| w == word),
                    "{tool:?} runs {word:?} without refresh_metadata:\n{plain}"
                );
            }
            let refresh = detect_command(tool, DetectOptions { refresh_metadata: true, sudo: false });
            assert!(refresh.contains("begin refresh"), "{tool:?}");
            assert!(refresh.contains("makecache") || refresh.contains("apt-get -q -o DPkg::Lock::Timeout=30 update"));
            for line in refresh.lines().filter(|l| l.contains("yum ") || l.contains("dnf ") || l.contains("apt")) {
                if line.starts_with("echo") {
                    continue;
                }
                assert!(line.contains("t 120 ") || line.contains("t 300 "), "{tool:?}: no time limit on {line}");
                assert!(
                    line.contains("exit_on_lock")
                        || line.contains("DPkg::Lock::Timeout=30")
                        || line.contains("apt-cache"),
                    "{tool:?}: may wait on a lock: {line}"
                );
            }
            assert!(plain.ends_with(&format!("echo '\\''{MARK} done'\\''\n'")), "{plain}");
        }
    }

    /// The detection scripts are valid `sh` and, with stand-in tools that print nothing,
    /// produce every section and the end marker.
    #[test]
    fn detection_scripts_run_under_sh_and_print_every_section() {
        let dir = TempDir::new("silent");
        for tool in ["dnf", "yum", "apt", "apt-get", "apt-cache", "rpm", "needs-restarting"] {
            dir.program(tool, "exit 0\n");
        }
        let cases: [(UpdateTool, &[&str]); 4] = [
            (UpdateTool::Dnf, &["refresh", "advisories", "pending", "installed", "reboot"]),
            (UpdateTool::Yum7, &["refresh", "advisories", "pending", "installed", "reboot"]),
            (UpdateTool::Yum6, &["refresh", "advisories", "pending", "installed", "reboot"]),
            (UpdateTool::Apt, &["refresh", "pending", "origins", "reboot"]),
        ];
        for (tool, sections) in cases {
            let out = run(&detect_command(tool, DetectOptions { refresh_metadata: true, sudo: false }), &dir);
            let ends: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("@@anshin-updates end ")).collect();
            let want: Vec<String> = sections.iter().map(|s| format!("{s} 0")).collect();
            assert_eq!(ends, want, "{tool:?}:\n{out}");
            assert!(out.lines().any(|l| l.starts_with("running ")), "{out}");
            assert_eq!(
                out.lines().any(|l| l == "needs-restarting 0"),
                matches!(tool, UpdateTool::Dnf | UpdateTool::Yum7)
            );
            assert_eq!(out.lines().last(), Some("@@anshin-updates done"));
        }
    }

    #[test]
    fn wordpress_commands_run_wp_on_the_site_with_literal_arguments() {
        let dir = stand_ins(&["wp"]);
        let me = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap().trim().to_string();
        let site = WordpressSite { path: "/srv/it's $(x)/wp".into(), owner: Some(me.clone()) };
        let plugins = vec!["akismet".to_string(), "odd'$(y)".to_string()];
        let themes = vec!["twentytwentyfour".to_string()];
        let changes = WordpressChanges { core: true, plugins: &plugins, themes: &themes };
        let got = run(&wordpress_apply_command(&site, &changes, false).unwrap(), &dir);
        let root = if me == "root" { vec!["--allow-root"] } else { vec![] };
        let call = |args: &[&str]| {
            let mut w = root.clone();
            w.push("--path=/srv/it's $(x)/wp");
            w.extend(args);
            format!("wp\n{}", words(&w))
        };
        let want = [
            call(&["core", "update"]),
            call(&["core", "update-db"]),
            call(&["plugin", "update", "akismet", "odd'$(y)"]),
            call(&["theme", "update", "twentytwentyfour"]),
        ]
        .concat();
        assert_eq!(got, want);

        let none = WordpressChanges { core: false, plugins: &[], themes: &[] };
        assert_eq!(wordpress_apply_command(&site, &none, false), Err(CommandError::NothingChosen));

        // Detection: four sections per site, the index in the markers, never the path.
        let detect = wordpress_detect_command(&[site.clone(), site], false).unwrap();
        let out = run(&detect, &dir);
        let ends: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("@@anshin-updates end ")).collect();
        assert_eq!(
            ends,
            [
                "core-version 0 0",
                "core 0 0",
                "plugins 0 0",
                "themes 0 0",
                "core-version 1 0",
                "core 1 0",
                "plugins 1 0",
                "themes 1 0"
            ]
        );
        assert!(out.contains("<--skip-plugins>\n<--skip-themes>\n<core>\n<check-update>\n<--format=json>\n"), "{out}");
        assert!(out.lines().filter(|l| l.starts_with("@@")).all(|l| !l.contains("srv")));
    }

    #[test]
    fn without_wp_cli_detection_says_so_and_apply_fails_clearly() {
        let empty = TempDir::new("nowp");
        let site = WordpressSite { path: "/srv/wp".into(), owner: None };
        // Only the stand-in directory and the basic tools' directories: no wp anywhere.
        let path = format!("{}:/usr/bin:/bin", empty.0.display());
        let detect = wordpress_detect_command(std::slice::from_ref(&site), false).unwrap();
        let out = Command::new("sh").arg("-c").arg(&detect).env("PATH", &path).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "@@anshin-updates wp-cli missing\n@@anshin-updates done\n");
        let apply =
            wordpress_apply_command(&site, &WordpressChanges { core: true, plugins: &[], themes: &[] }, false).unwrap();
        let out = Command::new("sh").arg("-c").arg(&apply).env("PATH", &path).output().unwrap();
        assert_eq!(out.status.code(), Some(127));
        assert_eq!(String::from_utf8_lossy(&out.stderr), "wp-cli not installed\n");
    }

    #[test]
    fn an_apply_job_reports_its_status_and_caps_its_output() {
        let run = |cmd: &str| {
            // Apply commands are one `sh -c …` (or `sudo -n sh -c …`): so is each here.
            let one = format!("sh -c {}", sh_quote(cmd));
            let out = Command::new("sh").arg("-c").arg(apply_job(&one, 30)).output().unwrap();
            parse_apply_reply(&String::from_utf8_lossy(&out.stdout))
        };
        let ok = run("echo installed; echo warn >&2");
        assert_eq!(ok.exit, Some(0));
        assert!(ok.output.contains("installed") && ok.output.contains("warn"), "{ok:?}");
        let failed = run("echo nope; exit 3");
        assert_eq!((failed.exit, failed.ok()), (Some(3), false));
        let big = run("yes 0123456789abcdef | head -c 400000");
        assert_eq!(big.exit, Some(0));
        assert_eq!(big.total_bytes, 400_000);
        assert!(
            big.output.len() <= APPLY_OUTPUT_MAX && big.output.len() >= APPLY_OUTPUT_MAX - 1,
            "{}",
            big.output.len()
        );
        let cut = parse_apply_reply("half of it");
        assert_eq!((cut.exit, cut.output.as_str()), (None, "half of it"));
    }
}
