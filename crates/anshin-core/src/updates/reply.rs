//! The OS detection reply (what `script::detect_command` prints) read into pending updates and
//! the reboot flag, or the reason there is no answer.
//!
//! Owns: [`parse_os_reply`] and the readers of each tool's format — dnf/yum `updateinfo list`
//! (`ALSA-2024:2447 Important/Sec. openssl-libs-1:3.0.7-27.el9_4.x86_64`), `check-update`
//! (`name.arch  [epoch:]version-release  repo`, long names wrapped onto a second line),
//! `rpm -qa` in the script's format, `apt list --upgradable`
//! (`name/archive[,archive] version arch [upgradable from: version]`), `apt-cache policy`'s
//! `release` lines; the error texts of yum, dnf, rpm, apt and sudo (`classify`); version
//! order (`rpmvercmp`'s rules, which also order kernel names).
//! Must not know: SSH, clocks, what the engine does with the rows.
//!
//! Hostile or huge output never panics; lines it does not know are skipped where the tool
//! prints chatter (warnings, summaries), and a command's failure is judged by its exit status.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use crate::updates::platform::UpdateTool;
use crate::updates::script::MARK;
use crate::updates::{detail, DetectError, PendingUpdate, Severity, Source, UpdateClass};

/// What one detection found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsScan {
    /// Sorted by package. Security updates; on an end-of-life system also every other pending
    /// update, as [`UpdateClass::Unclassified`].
    pub updates: Vec<PendingUpdate>,
    /// How many updates the server has pending in all, security or not.
    pub pending_total: usize,
    /// A reboot is needed to run what is installed (see [`parse_os_reply`]).
    pub reboot_needed: bool,
}

/// Reads a detection reply of `tool`. `reply` is the command's standard output followed by its
/// standard error (the script folds every command's errors into its output; standard error only
/// holds what stopped the script from starting, such as `sudo -n` refusing). `list_all`: the
/// system is past its end of life (`Platform::is_eol`), so every pending update is listed.
///
/// The reboot flag: `needs-restarting -r` where it answered (EL7 and later; exit 1 with "Reboot
/// is required"), else `/var/run/reboot-required` or an installed kernel newer than the running
/// one (of the same flavour: `-amd64`, `-generic`; rescue images ignored).
pub fn parse_os_reply(tool: UpdateTool, reply: &str, list_all: bool) -> Result<OsScan, DetectError> {
    let sections = Sections::read(reply)?;
    if let Some(refresh) = sections.get("refresh") {
        refresh_outcome(refresh)?;
    }
    let reboot_needed = reboot_needed(sections.get("reboot").map(|s| s.lines.as_slice()).unwrap_or(&[]));
    let (updates, pending_total) = match tool {
        UpdateTool::Apt => apt_rows(&sections, list_all)?,
        UpdateTool::Yum6 | UpdateTool::Yum7 | UpdateTool::Dnf => rpm_rows(tool, &sections, list_all)?,
    };
    Ok(OsScan { updates, pending_total, reboot_needed })
}

// ---- sections ---------------------------------------------------------------------------------

/// One command's output between its markers.
#[derive(Debug)]
pub(crate) struct Section<'a> {
    pub name: String,
    pub lines: Vec<&'a str>,
    /// Its exit status; `None` when the end marker had none that reads as a number.
    pub status: Option<i32>,
}

impl Section<'_> {
    pub fn ok(&self, accepted: &[i32]) -> bool {
        self.status.is_some_and(|s| accepted.contains(&s))
    }

    /// The section's failure as a [`DetectError`].
    pub fn error(&self) -> DetectError {
        classify(&self.lines, self.status).unwrap_or_else(|| DetectError::Unknown {
            detail: detail(&format!(
                "{} exited {}: {}",
                self.name,
                self.status.map_or("without a status".into(), |s| s.to_string()),
                telling_line(&self.lines)
            )),
        })
    }

    /// Its lines when its status is one of `accepted`, else its failure.
    pub fn accepted(&self, accepted: &[i32]) -> Result<&[&str], DetectError> {
        if self.ok(accepted) {
            Ok(&self.lines)
        } else {
            Err(self.error())
        }
    }
}

/// A whole reply cut into its sections; marker lines that open no section (`wp-cli missing`) are
/// kept as notes.
#[derive(Debug)]
pub(crate) struct Sections<'a> {
    pub list: Vec<Section<'a>>,
    pub notes: Vec<&'a str>,
}

impl<'a> Sections<'a> {
    pub fn read(reply: &'a str) -> Result<Sections<'a>, DetectError> {
        let mut list: Vec<Section<'a>> = Vec::new();
        let mut notes = Vec::new();
        let mut open: Option<Section<'a>> = None;
        let mut done = false;
        let mut outside = Vec::new();
        for line in reply.lines() {
            let Some(rest) = line.strip_prefix(MARK).and_then(|r| r.strip_prefix(' ')) else {
                match open.as_mut() {
                    Some(s) => s.lines.push(line),
                    None => outside.push(line),
                }
                continue;
            };
            if let Some(name) = rest.strip_prefix("begin ") {
                list.extend(open.take());
                open = Some(Section { name: name.trim().to_string(), lines: Vec::new(), status: None });
            } else if let Some(end) = rest.strip_prefix("end ") {
                let (name, status) = end.trim().rsplit_once(' ').unwrap_or((end.trim(), ""));
                if let Some(mut s) = open.take() {
                    if s.name == name {
                        s.status = status.parse().ok();
                    }
                    list.push(s);
                }
            } else if rest.trim() == "done" {
                done = true;
                break;
            } else {
                notes.push(rest.trim());
            }
        }
        list.extend(open.take());
        if !done {
            // Cut short, or never started: what was printed may still say why (sudo refusing).
            let all: Vec<&str> = outside.into_iter().chain(list.iter().flat_map(|s| s.lines.iter().copied())).collect();
            return Err(
                classify(&all, None).unwrap_or_else(|| DetectError::Incomplete { detail: detail(telling_line(&all)) })
            );
        }
        Ok(Sections { list, notes })
    }

    pub fn get(&self, name: &str) -> Option<&Section<'a>> {
        self.list.iter().find(|s| s.name == name)
    }

    /// A section the script always prints; its absence means the reply is not this script's.
    pub fn need(&self, name: &str) -> Result<&Section<'a>, DetectError> {
        self.get(name).ok_or_else(|| DetectError::Unknown { detail: format!("the reply has no \"{name}\" section") })
    }
}

/// The line that best says what happened: the first error line, else the last non-empty one.
fn telling_line<'a>(lines: &[&'a str]) -> &'a str {
    let nonempty = || lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty());
    nonempty()
        .find(|l| l.starts_with("Error") || l.starts_with("E:") || l.starts_with("error:") || l.starts_with("sudo:"))
        .or_else(|| nonempty().next_back())
        .unwrap_or("(no output)")
}

// ---- errors -----------------------------------------------------------------------------------

const LOCK: &[&str] = &[
    "Could not get lock",                       // apt: lists or dpkg lock held
    "Unable to acquire the dpkg frontend lock", // apt-get install
    "Waiting for cache lock",                   // apt, while DPkg::Lock::Timeout runs
    "already locked by",                        // dnf with exit_on_lock: "RPMDB already locked by 1234"
    "Waiting for process with pid",             // dnf without exit_on_lock
    "Existing lock ",                           // yum with exit_on_lock
    "another copy is running",                  // yum
    "holding the yum lock",                     // yum without exit_on_lock
    "cannot get shared lock",                   // rpm (EL6/EL7 Berkeley DB)
    "cannot get exclusive lock",                // rpm
    "can't create transaction lock",            // rpm during a transaction
];
const PERMISSION: &[&str] = &[
    "Permission denied",
    "are you root?",
    "You need to be root",
    "superuser privileges",
    "a password is required",
    "a terminal is required",
    "is not in the sudoers file",
    "is not allowed to execute",
];
const METADATA_MISSING: &[&str] = &["Cache-only enabled but no cache for", "no local cache of"];
const UNREACHABLE: &[&str] = &[
    "Failed to download metadata for repo", // dnf
    "Errors during downloading metadata",   // dnf, with skip_if_unavailable
    "Cannot retrieve repository metadata",  // yum
    "Could not retrieve mirrorlist",        // yum
    "Cannot find a valid baseurl for repo", // yum
    "Temporary failure resolving",          // apt
    "Could not resolve",                    // apt, curl
    "Failed to fetch",                      // apt
    "Could not connect to",                 // apt
    "Some index files failed to download",  // apt
    "Curl error",                           // dnf, yum
];
const NOT_WORDPRESS: &[&str] = &["does not seem to be a WordPress installation"];

/// The known failure `lines` report, the first rule that matches in this order: a held lock,
/// permission denied, metadata not cached, a repository unreachable, not a WordPress site, and
/// a time limit (`timeout`'s 124, or 137 after its kill). `None`: nothing known.
pub(crate) fn classify(lines: &[&str], status: Option<i32>) -> Option<DetectError> {
    let find = |needles: &[&str]| lines.iter().find(|l| needles.iter().any(|n| l.contains(n))).map(|l| detail(l));
    if let Some(detail) = find(LOCK) {
        Some(DetectError::LockHeld { detail })
    } else if let Some(detail) = find(PERMISSION) {
        Some(DetectError::PermissionDenied { detail })
    } else if let Some(detail) = find(METADATA_MISSING) {
        Some(DetectError::MetadataMissing { detail })
    } else if let Some(detail) = find(UNREACHABLE) {
        Some(DetectError::RepositoryUnreachable { detail })
    } else if let Some(detail) = find(NOT_WORDPRESS) {
        Some(DetectError::NotWordpress { detail })
    } else if matches!(status, Some(124 | 137)) {
        Some(DetectError::TimedOut { detail: detail(telling_line(lines)) })
    } else {
        None
    }
}

/// A refresh failed when it exited non-zero, or when it printed a known failure anyway
/// (`apt-get update` exits 0 when a repository could not be reached; dnf with
/// `skip_if_unavailable` too).
fn refresh_outcome(refresh: &Section<'_>) -> Result<(), DetectError> {
    match classify(&refresh.lines, refresh.status) {
        Some(err) => Err(err),
        None if refresh.ok(&[0]) => Ok(()),
        None => Err(refresh.error()),
    }
}

// ---- versions ---------------------------------------------------------------------------------

/// Orders two version strings by rpm's `rpmvercmp` rules (runs of digits compare as numbers, of
/// letters as text, a number is newer than letters, `~` is older than anything, other
/// characters only separate). Used for kernels and `[epoch:]version-release` strings.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (ea, ra) = split_epoch(a);
    let (eb, rb) = split_epoch(b);
    ea.cmp(&eb).then_with(|| vercmp(ra, rb))
}

fn split_epoch(v: &str) -> (u64, &str) {
    match v.split_once(':') {
        Some((e, rest)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(u64::MAX), rest),
        Some(("(none)", rest)) => (0, rest),
        _ => (0, v),
    }
}

fn vercmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    let skip = |s: &[u8]| s.iter().position(|c| c.is_ascii_alphanumeric() || *c == b'~').unwrap_or(s.len());
    loop {
        a = &a[skip(a)..];
        b = &b[skip(b)..];
        match (a.first(), b.first()) {
            (Some(b'~'), Some(b'~')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'~'), _) => return Ordering::Less,
            (_, Some(b'~')) => return Ordering::Greater,
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            _ => {}
        }
        let numeric = a[0].is_ascii_digit();
        let run = |s: &[u8]| {
            s.iter()
                .position(|c| if numeric { !c.is_ascii_digit() } else { !c.is_ascii_alphabetic() })
                .unwrap_or(s.len())
        };
        let (sa, sb) = (&a[..run(a)], &b[..run(b)]);
        if sb.is_empty() {
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        let order = if numeric {
            let trim = |s: &[u8]| -> usize { s.iter().position(|c| *c != b'0').unwrap_or(s.len()) };
            let (na, nb) = (&sa[trim(sa)..], &sb[trim(sb)..]);
            na.len().cmp(&nb.len()).then_with(|| na.cmp(nb))
        } else {
            sa.cmp(sb)
        };
        if order != Ordering::Equal {
            return order;
        }
        a = &a[sa.len()..];
        b = &b[sb.len()..];
    }
}

/// `1:3.0.7-24.el9` as shown: without a zero or missing epoch.
fn shown_evr(evr: &str) -> String {
    for zero in ["0:", "(none):"] {
        if let Some(rest) = evr.strip_prefix(zero) {
            return rest.to_string();
        }
    }
    evr.to_string()
}

fn keep_newest(map: &mut BTreeMap<String, String>, name: &str, version: String) {
    match map.get(name) {
        Some(old) if compare_versions(old, &version) != Ordering::Less => {}
        _ => {
            map.insert(name.to_string(), version);
        }
    }
}

// ---- reboot -----------------------------------------------------------------------------------

/// The reboot verdict of the `reboot` section (see [`parse_os_reply`]).
fn reboot_needed(lines: &[&str]) -> bool {
    let mut file = false;
    let mut running = None;
    let mut kernels = Vec::new();
    let mut needs_status = None;
    let mut says_required = false;
    for line in lines {
        if line.trim() == "reboot-required" {
            file = true;
        } else if let Some(r) = line.strip_prefix("running ") {
            running = Some(r.trim());
        } else if let Some(k) = line.strip_prefix("kernel ") {
            kernels.push(k.trim());
        } else if let Some(s) = line.strip_prefix("needs-restarting ") {
            needs_status = s.trim().parse::<i32>().ok();
        } else if line.starts_with("| ") && line.contains("Reboot is required") {
            says_required = true;
        }
    }
    match needs_status {
        Some(0) => return false,
        Some(1) if says_required => return true,
        _ => {}
    }
    file || running.is_some_and(|r| newer_kernel_installed(r, &kernels))
}

/// The flavour of a kernel release: from its first `-` part that starts with a letter
/// (`6.1.0-18-cloud-amd64` → `cloud-amd64`, `6.8.0-31-generic` → `generic`); empty for the Red
/// Hat family (`5.14.0-427.13.1.el9_4.x86_64`).
fn flavour(release: &str) -> &str {
    let mut start = 0;
    for part in release.split('-') {
        if part.starts_with(|c: char| c.is_ascii_alphabetic()) && start > 0 {
            return &release[start..];
        }
        start += part.len() + 1;
    }
    ""
}

fn newer_kernel_installed(running: &str, installed: &[&str]) -> bool {
    installed
        .iter()
        .filter(|k| !k.contains("rescue") && flavour(k) == flavour(running))
        .any(|k| compare_versions(k, running) == Ordering::Greater)
}

// ---- rpm: yum and dnf -------------------------------------------------------------------------

/// `openssl-libs-1:3.0.7-27.el9_4.x86_64` → (`openssl-libs`, `1:3.0.7-27.el9_4`).
fn split_nevra(nevra: &str) -> Option<(&str, String)> {
    let (nevr, _arch) = nevra.rsplit_once('.')?;
    let (nev, release) = nevr.rsplit_once('-')?;
    let (name, version) = nev.rsplit_once('-')?;
    if name.is_empty() || version.is_empty() || release.is_empty() {
        return None;
    }
    Some((name, format!("{version}-{release}")))
}

/// One advisory line: (advisory, severity, is security, package, version).
fn advisory_line(line: &str) -> Option<(&str, Severity, bool, &str, String)> {
    let mut words = line.split_whitespace();
    let (id, kind, nevra) = (words.next()?, words.next()?, words.next()?);
    if words.next().is_some() {
        return None;
    }
    let lower = kind.to_ascii_lowercase();
    let security = lower.ends_with("/sec.") || lower == "sec." || lower == "security";
    let (name, version) = split_nevra(nevra)?;
    Some((id, Severity::from_label(kind), security, name, version))
}

/// `check-update` (and EL6's `--security check-update`): name → newest candidate. Stops at
/// "Obsoleting Packages"; joins a long name wrapped onto its own line with the next line.
fn check_update_lines(lines: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut wrapped: Option<&str> = None;
    for line in lines {
        if line.trim_start().starts_with("Obsoleting Packages") {
            break;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (name_arch, evr) = match (wrapped.take(), words.as_slice()) {
            (Some(name), [evr, _repo]) if line.starts_with(char::is_whitespace) => (name, *evr),
            (_, [name]) if name.contains('.') && !name.ends_with('.') => {
                wrapped = Some(name);
                continue;
            }
            (_, [name, evr, _repo]) => (*name, *evr),
            _ => continue,
        };
        let Some((name, _arch)) = name_arch.rsplit_once('.') else { continue };
        if name.is_empty() || !evr.contains(|c: char| c.is_ascii_digit()) || !evr.contains('-') {
            continue;
        }
        keep_newest(&mut out, name, evr.to_string());
    }
    out
}

/// The script's `rpm -qa` lines (`NAME ARCH EPOCH:VERSION-RELEASE`): name → newest installed.
fn installed_lines(lines: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in lines {
        if let [name, _arch, evr] = line.split_whitespace().collect::<Vec<_>>().as_slice() {
            if evr.contains('-') {
                keep_newest(&mut out, name, evr.to_string());
            }
        }
    }
    out
}

/// What the advisories say of one package.
#[derive(Default)]
struct Advised {
    ids: BTreeSet<String>,
    severity: Severity,
    newest: String,
}

fn rpm_rows(
    tool: UpdateTool,
    sections: &Sections<'_>,
    list_all: bool,
) -> Result<(Vec<PendingUpdate>, usize), DetectError> {
    let pending = check_update_lines(sections.need("pending")?.accepted(&[0, 100])?);
    let installed = installed_lines(sections.need("installed")?.accepted(&[0])?);
    let advisories = sections.need("advisories")?;
    let mut advised: BTreeMap<String, Advised> = BTreeMap::new();
    if tool == UpdateTool::Yum6 {
        // `yum --security check-update`: which packages, without ids. Without yum-plugin-security
        // yum refuses the option: no security metadata, like every other end-of-life system.
        let plugin_missing = advisories.lines.iter().any(|l| l.contains("no such option"));
        if !plugin_missing {
            for (name, version) in check_update_lines(advisories.accepted(&[0, 100])?) {
                advised.insert(name, Advised { newest: version, ..Advised::default() });
            }
        }
    } else {
        for line in advisories.accepted(&[0])? {
            let Some((id, severity, true, name, version)) = advisory_line(line) else { continue };
            let a = advised.entry(name.to_string()).or_default();
            a.ids.insert(id.to_string());
            a.severity = a.severity.max(severity);
            if a.newest.is_empty() || compare_versions(&a.newest, &version) == Ordering::Less {
                a.newest = version;
            }
        }
    }
    let mut rows = Vec::new();
    for (name, a) in &advised {
        let candidate = pending.get(name).unwrap_or(&a.newest);
        rows.push(PendingUpdate {
            source: Source::Os,
            site: String::new(),
            package: name.clone(),
            installed: installed.get(name).map(|v| shown_evr(v)).unwrap_or_default(),
            candidate: shown_evr(candidate),
            advisory: a.ids.iter().cloned().collect::<Vec<_>>().join(","),
            severity: a.severity,
            class: UpdateClass::Security,
        });
    }
    if list_all {
        for (name, candidate) in pending.iter().filter(|(n, _)| !advised.contains_key(*n)) {
            rows.push(unclassified(
                name,
                installed.get(name).map(|v| shown_evr(v)).unwrap_or_default(),
                shown_evr(candidate),
            ));
        }
    }
    rows.sort();
    let total = pending.keys().chain(advised.keys()).collect::<BTreeSet<_>>().len();
    Ok((rows, total))
}

fn unclassified(name: &str, installed: String, candidate: String) -> PendingUpdate {
    PendingUpdate {
        source: Source::Os,
        site: String::new(),
        package: name.to_string(),
        installed,
        candidate,
        advisory: String::new(),
        severity: Severity::None,
        class: UpdateClass::Unclassified,
    }
}

// ---- apt --------------------------------------------------------------------------------------

/// One `apt list --upgradable` line: (name, archives, candidate, installed).
fn apt_line(line: &str) -> Option<(&str, Vec<&str>, &str, &str)> {
    let (head, from) = line.split_once(" [upgradable from: ")?;
    let installed = from.strip_suffix(']')?.trim();
    let mut words = head.split_whitespace();
    let (name_archives, candidate, _arch) = (words.next()?, words.next()?, words.next()?);
    let (name, archives) = name_archives.split_once('/')?;
    if name.is_empty() || words.next().is_some() {
        return None;
    }
    Some((name, archives.split(',').filter(|a| !a.is_empty()).collect(), candidate, installed))
}

/// `apt-cache policy`'s `release` lines: archive (`a=`) and codename (`n=`) → the security
/// archive's name as rows show it: `Debian-Security:12` (label:version) when the label says
/// security, else `Ubuntu:22.04/jammy-security` (label:version/archive), as `apt-get -s`
/// writes them.
fn archive_names(lines: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in lines {
        let Some(fields) = line.trim().strip_prefix("release ") else { continue };
        let get = |key: &str| {
            fields.split(',').find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v.to_string()))
        };
        let (Some(label), Some(version), Some(archive)) = (get("l"), get("v"), get("a")) else { continue };
        let shown = if label.to_ascii_lowercase().contains("security") {
            format!("{label}:{version}")
        } else {
            format!("{label}:{version}/{archive}")
        };
        if let Some(codename) = get("n") {
            out.entry(codename).or_insert_with(|| shown.clone());
        }
        out.entry(archive).or_insert(shown);
    }
    out
}

fn apt_rows(sections: &Sections<'_>, list_all: bool) -> Result<(Vec<PendingUpdate>, usize), DetectError> {
    let pending = sections.need("pending")?.accepted(&[0])?;
    // Without the policy (apt-cache failed) rows name the archive itself.
    let names = sections.get("origins").filter(|s| s.ok(&[0])).map(|s| archive_names(&s.lines)).unwrap_or_default();
    let mut rows = Vec::new();
    let mut total = 0;
    for (name, archives, candidate, installed) in pending.iter().filter_map(|l| apt_line(l)) {
        total += 1;
        let security: BTreeSet<String> = archives
            .iter()
            .filter(|a| a.ends_with("-security"))
            .map(|a| names.get(*a).cloned().unwrap_or_else(|| a.to_string()))
            .collect();
        if security.is_empty() {
            if list_all {
                rows.push(unclassified(name, installed.to_string(), candidate.to_string()));
            }
            continue;
        }
        rows.push(PendingUpdate {
            source: Source::Os,
            site: String::new(),
            package: name.to_string(),
            installed: installed.to_string(),
            candidate: candidate.to_string(),
            advisory: security.into_iter().collect::<Vec<_>>().join(","),
            severity: Severity::None,
            class: UpdateClass::Security,
        });
    }
    rows.sort();
    Ok((rows, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_like_rpm() {
        use Ordering::*;
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.10", "1.9", Greater),
            ("1.0a", "1.0", Greater),
            ("1.0", "1.0.1", Less),
            ("2.0~rc1", "2.0", Less),
            ("2.0~rc1", "2.0~rc2", Less),
            ("1.0-1.el9", "1.0-1.el9_3", Less),
            ("5.14.0-427.13.1.el9_4.x86_64", "5.14.0-362.8.1.el9_3.x86_64", Greater),
            ("3.10.0-1160.108.1.el7.x86_64", "3.10.0-1160.el7.x86_64", Greater),
            ("1:3.0.7-24.el9", "3.1.0-1.el9", Greater),
            ("0:1.0-1", "1.0-1", Equal),
            ("(none):1.0-1", "1.0-1", Equal),
            ("6.1.0-21-amd64", "6.1.0-18-amd64", Greater),
            ("001", "1", Equal),
            ("1.0a", "1.0.1", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn reboot_verdicts() {
        let r = |lines: &[&str]| reboot_needed(lines);
        assert!(!r(&["running 6.1.0-18-amd64", "kernel 6.1.0-18-amd64"]));
        assert!(r(&["running 6.1.0-18-amd64", "kernel 6.1.0-18-amd64", "kernel 6.1.0-21-amd64"]));
        assert!(!r(&["running 6.1.0-18-cloud-amd64", "kernel 6.1.0-18-cloud-amd64", "kernel 6.1.0-18-rt-amd64"]));
        assert!(r(&["reboot-required", "running 6.8.0-31-generic"]));
        assert!(!r(&[
            "running 5.14.0-427.el9.x86_64",
            "kernel 0-rescue-0123456789abcdef",
            "kernel 5.14.0-427.el9.x86_64"
        ]));
        // needs-restarting decides when it answered.
        assert!(!r(&[
            "running 5.14.0-362.el9.x86_64",
            "kernel 5.14.0-427.el9.x86_64",
            "needs-restarting 0",
            "| No core libraries or services have been updated since boot-up.",
        ]));
        assert!(r(&[
            "running 5.14.0-427.el9.x86_64",
            "needs-restarting 1",
            "| Reboot is required to fully utilize these updates."
        ]));
        // It failed ("No such command"): the kernels decide.
        assert!(r(&[
            "running 5.14.0-362.el9.x86_64",
            "kernel 5.14.0-427.el9.x86_64",
            "needs-restarting 1",
            "| No such command: needs-restarting."
        ]));
        assert!(!r(&[]));
    }

    #[test]
    fn wrapped_check_update_lines_are_joined() {
        let lines = [
            "",
            "NetworkManager-libnm.x86_64            1:1.46.0-19.el9_4           baseos",
            "python3-setuptools-wheel-and-a-very-long-name.noarch",
            "                                       53.0.0-12.el9_4.1           baseos",
            "Obsoleting Packages",
            "grub2-tools.x86_64                     1:2.06-80.el9_4             baseos",
        ];
        let got = check_update_lines(&lines);
        assert_eq!(got.get("NetworkManager-libnm").map(String::as_str), Some("1:1.46.0-19.el9_4"));
        assert_eq!(
            got.get("python3-setuptools-wheel-and-a-very-long-name").map(String::as_str),
            Some("53.0.0-12.el9_4.1")
        );
        assert_eq!(got.len(), 2, "{got:?}");
    }

    #[test]
    fn a_reply_cut_short_is_incomplete_or_says_why() {
        let cut = "@@anshin-updates begin pending\nListing...\n";
        assert!(matches!(parse_os_reply(UpdateTool::Apt, cut, false), Err(DetectError::Incomplete { .. })));
        let sudo = "sudo: a password is required\n";
        assert_eq!(
            parse_os_reply(UpdateTool::Apt, sudo, false),
            Err(DetectError::PermissionDenied { detail: "sudo: a password is required".into() })
        );
        assert!(matches!(parse_os_reply(UpdateTool::Dnf, "", false), Err(DetectError::Incomplete { .. })));
    }

    #[test]
    fn hostile_output_never_panics() {
        let junk = [
            "@@anshin-updates begin\n@@anshin-updates end\n@@anshin-updates done",
            "@@anshin-updates end pending x\n@@anshin-updates done\n",
            "@@anshin-updates begin pending\na/ b c [upgradable from: ]\n/x 1 2 [upgradable from: 1]\n@@anshin-updates end pending 0\n@@anshin-updates done",
            "@@anshin-updates begin advisories\nA B -.x\nA B .\nA x/Sec. a-b.c\n@@anshin-updates end advisories 0\n@@anshin-updates begin pending\n.x 1-1 r\nx. 1-1 r\n \u{1b}\n@@anshin-updates end pending 100\n@@anshin-updates begin installed\n@@anshin-updates end installed 0\n@@anshin-updates done",
        ];
        for j in junk {
            for tool in [UpdateTool::Yum6, UpdateTool::Yum7, UpdateTool::Dnf, UpdateTool::Apt] {
                let _ = parse_os_reply(tool, j, true);
            }
        }
        assert_eq!(compare_versions("~~~", "~~"), Ordering::Less);
        assert_eq!(flavour("-"), "");
        assert_eq!(split_nevra("-1-1.x"), None);
    }
}
