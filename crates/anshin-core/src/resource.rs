//! Resource monitoring of contract §2 (seed §2.4): what is polled, how its output is read, which
//! level a value reaches, the "three samples in a row" rule, and the texts of resource alerts.
//!
//! Owns: [`POLL_COMMAND`] (the one POSIX sh script run per poll: load average, CPU count, disk and
//! inode use of `/`, mail queue) and [`poll_command`] (the same with `df -Pk`/`df -Pi` of a
//! server's backed-up paths, contract §7), its parser [`parse_poll`] (defensive: locales, missing
//! commands, hostile or huge output never panic), the thresholds ([`Resource::level_of`],
//! [`Resource::threshold`]), the level state machine ([`ResourceState`]), and the subject
//! fragments, trigger names and mail item names of contract §3.
//! Must not know: SSH, sessions, timeouts, clocks, incidents or storage. The engine runs the
//! command, hands its output here, and turns transitions into incidents and mails.

use std::fmt;

use crate::level::Level;

/// The script the engine runs over SSH once per poll: one round trip for every resource.
///
/// It must be run by a POSIX shell (`sh`, `bash`, `dash`; the account's login shell, or the
/// engine may send `sh -c` itself). It prints one section per resource, each opened by a marker
/// line `@@anshin NAME`, and ends with `@@anshin end`: a poll without that last line was cut
/// short. Errors of a command are folded into its section (so they show in the parse error);
/// the mail-queue marker names the MTA found: `postfix`, `exim`, `sendmail`, or `none` when no
/// MTA is installed. `/usr/sbin` and `/sbin` are appended (not prepended) to `PATH`, since
/// `postqueue` lives there and non-root `PATH`s on CentOS lack it. Mail-queue commands, which can
/// hang on a broken MTA, run under coreutils `timeout` when it exists (CentOS 6 has it).
/// Long outputs are reduced on the server (`tail -n 1`): the queue listing never crosses the wire.
pub const POLL_COMMAND: &str = r#"LC_ALL=C; LANG=C; export LC_ALL LANG
PATH="$PATH:/usr/sbin:/sbin:/usr/bin:/bin"; export PATH
t() { if command -v timeout >/dev/null 2>&1; then timeout 10 "$@"; else "$@"; fi; }
echo '@@anshin loadavg'
cat /proc/loadavg 2>&1
echo '@@anshin nproc'
nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || grep -c '^processor' /proc/cpuinfo 2>&1
echo '@@anshin df'
t df -P / 2>&1
echo '@@anshin dfi'
t df -Pi / 2>&1
if command -v postqueue >/dev/null 2>&1; then
  echo '@@anshin mailq postfix'; t postqueue -p 2>&1 | tail -n 1
elif command -v exim >/dev/null 2>&1; then
  echo '@@anshin mailq exim'; t exim -bpc 2>&1 | tail -n 1
elif command -v exim4 >/dev/null 2>&1; then
  echo '@@anshin mailq exim'; t exim4 -bpc 2>&1 | tail -n 1
elif command -v mailq >/dev/null 2>&1; then
  echo '@@anshin mailq sendmail'; t mailq 2>&1 | tail -n 1
else
  echo '@@anshin mailq none'
fi
echo '@@anshin end'
"#;

/// [`POLL_COMMAND`] with two more sections per backed-up path (contract §7: eligibility is
/// measured on the file systems of the included paths): `@@anshin bdf I` (`df -Pk` of path `I`
/// of `include`) and `@@anshin bdfi I` (`df -Pi`). Paths are quoted for `sh`; the marker lines
/// carry only the index, never the path. At most [`crate::backup_settings::MAX_PATHS`] paths are asked
/// (the fleet file allows no more). With no path it is exactly [`POLL_COMMAND`].
pub fn poll_command(include: &[String]) -> String {
    let end = "echo '@@anshin end'\n";
    let head = POLL_COMMAND.strip_suffix(end).unwrap_or(POLL_COMMAND);
    let mut s = head.to_string();
    for (i, path) in include.iter().take(crate::backup_settings::MAX_PATHS).enumerate() {
        let q = crate::shell::sh_quote(path);
        s.push_str(&format!(
            "echo '@@anshin bdf {i}'\nt df -Pk -- {q} 2>&1 | tail -n 2\necho '@@anshin bdfi {i}'\nt df -Pi -- {q} 2>&1 | tail -n 2\n"
        ));
    }
    s.push_str(end);
    s
}

/// Only this much of a poll's output is read; the rest is ignored (a normal poll is < 1 KiB).
pub const MAX_OUTPUT: usize = 64 * 1024;

const MARKER: &str = "@@anshin ";

/// Why a poll, or one field of it, could not be read. Texts quoted from the server are cut to
/// 80 characters and their control characters escaped, so they are safe in logs and the UI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// No `@@anshin end` line in the first [`MAX_OUTPUT`] bytes: the command was cut short, did
    /// not run (e.g. not a POSIX login shell), or printed far too much.
    #[error("poll output incomplete: no \"@@anshin end\" line in the first 64 KiB (first line: {0})")]
    Incomplete(String),
    /// The output ended properly but this section (`loadavg`, `nproc`, `df`, `dfi`, `mailq`)
    /// is not in it.
    #[error("poll output has no \"{0}\" section")]
    MissingSection(&'static str),
    /// A section is there but its text is not what the command prints.
    #[error("{field}: cannot read {found}")]
    Unreadable { field: &'static str, found: String },
    /// The MTA answered with an error instead of its queue (e.g. postfix stopped:
    /// `postqueue: fatal: malformed showq server response`).
    #[error("mail queue: the MTA answered {0}")]
    MtaError(String),
}

/// The 1-minute load average: its value, and its text exactly as /proc/loadavg printed it
/// (subjects show the text: `25.31`, never a re-formatted float).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadAvg {
    pub value: f64,
    pub text: String,
}

/// One poll, field by field: a field that cannot be read does not hide the others (a stopped
/// postfix must not stop disk monitoring).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSample {
    pub load: Result<LoadAvg, ParseError>,
    pub cpus: Result<u32, ParseError>,
    /// Use% (Capacity) of `/`.
    pub disk_pct: Result<u8, ParseError>,
    /// IUse% of `/`; `None` when the filesystem has no inode count (df prints `-`: btrfs, zfs).
    pub inode_pct: Result<Option<u8>, ParseError>,
    /// Messages in the mail queue; `None` when the server has no MTA (no mail-queue check).
    pub mailq: Result<Option<u64>, ParseError>,
    /// The file systems of the backed-up paths ([`poll_command`]), by index; empty for
    /// [`POLL_COMMAND`].
    pub paths: Vec<PathUsage>,
}

/// The file system a backed-up path lies on, as `df -Pk` and `df -Pi` of that path print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsUsage {
    /// df's first column: a device (`/dev/vda1`) or a name (`tmpfs`, `overlay`).
    pub filesystem: String,
    /// Where it is mounted (df's last column; may hold spaces).
    pub mount: String,
    /// Used bytes (df's used 1024-blocks × 1024).
    pub used_bytes: u64,
    /// Used inodes; `None` when the file system counts none (`-`: btrfs, zfs).
    pub used_inodes: Option<u64>,
}

/// The measure of path `index` of the include list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathUsage {
    pub index: usize,
    pub usage: Result<FsUsage, ParseError>,
}

/// Reads the output of [`POLL_COMMAND`]. `Err` only when the output as a whole is unusable
/// (see [`ParseError::Incomplete`]); otherwise each field carries its own result.
pub fn parse_poll(output: &str) -> Result<ResourceSample, ParseError> {
    let mut cut = output.len().min(MAX_OUTPUT);
    while !output.is_char_boundary(cut) {
        cut -= 1;
    }
    let output = &output[..cut];

    // (name, argument of the marker line, body lines); the first occurrence of a name wins.
    let mut sections: Vec<(&str, &str, Vec<&str>)> = Vec::new();
    let mut ended = false;
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix(MARKER) {
            let mut words = rest.split_whitespace();
            let name = words.next().unwrap_or("");
            if name == "end" {
                ended = true;
                break;
            }
            sections.push((name, words.next().unwrap_or(""), Vec::new()));
        } else if let Some((_, _, body)) = sections.last_mut() {
            body.push(line);
        }
    }
    if !ended {
        let first = output.lines().find(|l| !l.trim().is_empty()).unwrap_or("(empty)");
        return Err(ParseError::Incomplete(snippet(first)));
    }
    let section = |name: &'static str| {
        sections
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, arg, body)| (*arg, body.as_slice()))
            .ok_or(ParseError::MissingSection(name))
    };
    Ok(ResourceSample {
        load: section("loadavg").and_then(|(_, b)| parse_loadavg(b)),
        cpus: section("nproc").and_then(|(_, b)| parse_nproc(b)),
        disk_pct: section("df")
            .and_then(|(_, b)| parse_df(b, "disk use of /"))
            .and_then(|p| p.ok_or(ParseError::Unreadable { field: "disk use of /", found: "\"-\" as Use%".into() })),
        inode_pct: section("dfi").and_then(|(_, b)| parse_df(b, "inode use of /")),
        mailq: section("mailq").and_then(|(mta, b)| parse_mailq(mta, b)),
        paths: path_usages(&sections),
    })
}

/// The `bdf`/`bdfi` sections, each index once (the first wins), in index order.
fn path_usages(sections: &[(&str, &str, Vec<&str>)]) -> Vec<PathUsage> {
    let mut out: Vec<PathUsage> = Vec::new();
    for (name, arg, body) in sections {
        let Some(index) = (*name == "bdf").then(|| parse_count(arg)).flatten() else { continue };
        let Ok(index) = usize::try_from(index) else { continue };
        if index >= crate::backup_settings::MAX_PATHS || out.iter().any(|p| p.index == index) {
            continue;
        }
        let inodes = sections
            .iter()
            .find(|(n, a, _)| *n == "bdfi" && *a == *arg)
            .map(|(_, _, b)| b.as_slice())
            .ok_or(ParseError::MissingSection("bdfi"));
        out.push(PathUsage { index, usage: fs_usage(body, inodes) });
    }
    out.sort_by_key(|p| p.index);
    out
}

/// One path's `df -Pk` and `df -Pi` bodies read together.
fn fs_usage(bytes: &[&str], inodes: Result<&[&str], ParseError>) -> Result<FsUsage, ParseError> {
    let field = "backed-up path";
    let d = df_row(bytes).ok_or_else(|| unreadable(field, bytes))?;
    if d.pct == "-" {
        return Err(ParseError::Unreadable { field, found: "\"-\" as Capacity".into() });
    }
    let used_bytes = d.counts[1].checked_mul(1024).ok_or_else(|| unreadable(field, bytes))?;
    let inodes = inodes?;
    let i = df_row(inodes).ok_or_else(|| unreadable("inodes of a backed-up path", inodes))?;
    let used_inodes = (i.pct != "-").then_some(i.counts[1]);
    Ok(FsUsage { filesystem: d.filesystem, mount: d.mount, used_bytes, used_inodes })
}

/// A data row of `df -P`: filesystem, three counts, a percentage (or `-`), the mount point.
struct DfRow {
    filesystem: String,
    counts: [u64; 3],
    pct: String,
    mount: String,
}

/// The last line of `body` shaped like a df row. The mount point is the rest of the line after
/// the percentage (it may hold spaces); a file system name wrapped onto its own line (df without
/// `-P`) is taken from the line before.
fn df_row(body: &[&str]) -> Option<DfRow> {
    let lines: Vec<&str> = non_empty(body).collect();
    for (n, line) in lines.iter().enumerate().rev() {
        let words: Vec<(usize, &str)> =
            line.split_whitespace().map(|w| (w.as_ptr() as usize - line.as_ptr() as usize, w)).collect();
        for i in 0..words.len().saturating_sub(4) {
            let counts = [parse_count(words[i].1), parse_count(words[i + 1].1), parse_count(words[i + 2].1)];
            let pct = words[i + 3].1;
            let pct_ok = pct == "-" || pct.strip_suffix('%').and_then(parse_count).is_some_and(|p| p <= 100);
            let [Some(a), Some(b), Some(c)] = counts else { continue };
            if !pct_ok {
                continue;
            }
            let after = words[i + 3].0 + pct.len();
            let mount = line[after..].trim();
            if !mount.starts_with('/') {
                continue;
            }
            let before = line[..words[i].0].trim();
            let filesystem = if before.is_empty() { n.checked_sub(1).map_or("", |p| lines[p]) } else { before };
            return Some(DfRow {
                filesystem: filesystem.to_string(),
                counts: [a, b, c],
                pct: pct.to_string(),
                mount: mount.to_string(),
            });
        }
    }
    None
}

/// Quotes server text safely: at most 80 characters, control characters escaped.
fn snippet(s: &str) -> String {
    let s = s.trim();
    let mut out: String = s.chars().take(80).flat_map(|c| c.escape_debug()).collect();
    if s.chars().nth(80).is_some() {
        out.push('…');
    }
    format!("\"{out}\"")
}

fn non_empty<'a>(body: &'a [&'a str]) -> impl DoubleEndedIterator<Item = &'a str> + 'a {
    body.iter().map(|l| l.trim()).filter(|l| !l.is_empty())
}

fn unreadable(field: &'static str, body: &[&str]) -> ParseError {
    let found = non_empty(body).next().map(snippet).unwrap_or_else(|| "no output".into());
    ParseError::Unreadable { field, found }
}

/// A count as the tools print it: 1 to 19 ASCII digits (so it fits `u64`).
fn parse_count(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `/proc/loadavg`: `1.29 0.54 0.20 3/115 16218`; the kernel prints `%lu.%02lu`.
fn parse_loadavg(body: &[&str]) -> Result<LoadAvg, ParseError> {
    let field = "load average";
    let token = non_empty(body).next().and_then(|l| l.split_whitespace().next()).unwrap_or("");
    let (int, frac) = token.split_once('.').unwrap_or((token, ""));
    let digits = |s: &str, max: usize| s.len() <= max && s.bytes().all(|b| b.is_ascii_digit());
    let shaped = !int.is_empty() && digits(int, 7) && digits(frac, 3) && !token.ends_with('.');
    match token.parse::<f64>() {
        Ok(value) if shaped && value.is_finite() => Ok(LoadAvg { value, text: token.to_string() }),
        _ => Err(unreadable(field, body)),
    }
}

/// `nproc` (or `getconf _NPROCESSORS_ONLN`, or the count of `processor` lines): one integer.
fn parse_nproc(body: &[&str]) -> Result<u32, ParseError> {
    match non_empty(body).next().and_then(parse_count) {
        Some(n) if (1..=65_536).contains(&n) => Ok(n as u32),
        _ => Err(unreadable("CPU count", body)),
    }
}

/// `df -P /` or `df -Pi /`: the last line whose last field is `/`; its next-to-last field is the
/// percentage (`15%`, or `-` for a filesystem without inodes → `None`). Headers are never read,
/// so any locale works, and a name wrapped onto its own line (df without `-P`) does not matter.
fn parse_df(body: &[&str], field: &'static str) -> Result<Option<u8>, ParseError> {
    let fields: Vec<&str> = non_empty(body)
        .rev()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.last() == Some(&"/"))
        .ok_or_else(|| unreadable(field, body))?;
    let pct = fields.len().checked_sub(2).map(|i| fields[i]).unwrap_or("");
    if pct == "-" {
        return Ok(None);
    }
    match pct.strip_suffix('%').and_then(parse_count) {
        Some(p) if p <= 100 => Ok(Some(p as u8)),
        _ => Err(ParseError::Unreadable { field, found: snippet(pct) }),
    }
}

/// The last line of the MTA's queue listing. Every known format is accepted whichever MTA the
/// marker names; `none` means no MTA, which is not an error.
fn parse_mailq(mta: &str, body: &[&str]) -> Result<Option<u64>, ParseError> {
    if mta == "none" {
        return Ok(None);
    }
    let Some(line) = non_empty(body).next_back() else {
        return Err(ParseError::MtaError("nothing (no output)".into()));
    };
    // postfix: "Mail queue is empty"; sendmail: "/var/spool/mqueue is empty".
    if line == "Mail queue is empty" || line.ends_with(" is empty") {
        return Ok(Some(0));
    }
    // exim -bpc: the count alone.
    if let Some(n) = parse_count(line) {
        return Ok(Some(n));
    }
    // postfix: "-- 4 Kbytes in 18 Requests." / "-- 1 Kbytes in 1 Request."
    if let Some(rest) = line.strip_prefix("-- ") {
        let words: Vec<&str> = rest.split_whitespace().collect();
        if let [_, "Kbytes", "in", n, "Request." | "Requests."] = words.as_slice() {
            return parse_count(n).map(Some).ok_or_else(|| unreadable("mail queue", &[line]));
        }
    }
    // sendmail: "Total requests: 3"
    if let Some(n) = line.strip_prefix("Total requests:") {
        return parse_count(n.trim()).map(Some).ok_or_else(|| unreadable("mail queue", &[line]));
    }
    Err(ParseError::MtaError(snippet(line)))
}

/// A polled resource with thresholds (contract §2). The CPU count is polled but has no level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Load,
    MailQueue,
    Disk,
    Inode,
}

/// Per-level thresholds, Lv.2, Lv.3, Lv.4 (load: per CPU).
const LOAD_PER_CPU: [u64; 3] = [4, 8, 12];
const MAILQ: [u64; 3] = [500, 1000, 2000];
const PERCENT: [u64; 3] = [80, 90, 95];
const RESOURCE_LEVELS: [Level; 3] = [Level::Warning, Level::Minor, Level::Severe];

impl Resource {
    pub const ALL: [Resource; 4] = [Resource::Load, Resource::MailQueue, Resource::Disk, Resource::Inode];
    /// The levels a resource raises, lowest first (resources have no Lv.5).
    pub const LEVELS: [Level; 3] = RESOURCE_LEVELS;

    /// Whether the thresholds are per CPU (the load average).
    pub fn per_cpu(self) -> bool {
        self == Resource::Load
    }

    /// Whether a value equal to the threshold reaches the level (`≥`: the load) or must exceed
    /// it (`>`: the others).
    pub fn at_least(self) -> bool {
        self == Resource::Load
    }

    /// The unit a value is shown with (`%` for disk and inode use, none for the others).
    pub fn unit(self) -> &'static str {
        match self {
            Resource::Disk | Resource::Inode => "%",
            Resource::Load | Resource::MailQueue => "",
        }
    }

    /// The name on the operator's console, Japanese and English.
    pub fn console_name(self) -> (&'static str, &'static str) {
        match self {
            Resource::Load => ("Load avg.", "Load avg."),
            Resource::MailQueue => ("メールキュー", "Mail queue"),
            Resource::Disk => ("/ の使用率", "/ usage"),
            Resource::Inode => ("/ の inode", "/ inodes"),
        }
    }

    /// The stable identifier (store, CLI rows, API): `load`, `mailq`, `disk`, `inode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Load => "load",
            Resource::MailQueue => "mailq",
            Resource::Disk => "disk",
            Resource::Inode => "inode",
        }
    }

    /// Inverse of [`Resource::as_str`].
    pub fn from_id(id: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.as_str() == id)
    }

    /// The item name of the mail body's `アイテム名／値　 ：{item}：{value}` line.
    pub fn item_name(self) -> &'static str {
        match self {
            Resource::Load => "Load average",
            Resource::MailQueue => "Mail queue",
            Resource::Disk => "Disk usage of /",
            Resource::Inode => "Inode usage of /",
        }
    }

    /// The opening line of the seed's alert body for this resource (seed §2.4.2), verbatim.
    pub fn opening_line_ja(self) -> &'static str {
        match self {
            Resource::Load => "監視サービスにて、Load Average の閾値超過を検知いたしました。",
            Resource::MailQueue => "監視サービスにて、メールキューの閾値超過を検知いたしました。",
            Resource::Disk => "監視サービスにて、容量の閾値超過を検知いたしました。",
            Resource::Inode => "監視サービスにて、inode の閾値超過を検知いたしました。",
        }
    }

    fn table(self) -> [u64; 3] {
        match self {
            Resource::Load => LOAD_PER_CPU,
            Resource::MailQueue => MAILQ,
            Resource::Disk | Resource::Inode => PERCENT,
        }
    }

    /// The threshold of `level` as subjects show it: load `per-CPU × cpus` (`24` for Lv.4 on 2
    /// CPUs), mail queue `500|1000|2000`, disk and inode `80|90|95`. A CPU count of 0 counts as 1.
    /// Resources have no Lv.5: it is shown with the Lv.4 threshold.
    pub fn threshold(self, level: Level, cpus: u32) -> u64 {
        let i = (level.number().clamp(2, 4) - 2) as usize;
        let base = self.table()[i];
        match self {
            Resource::Load => base * u64::from(cpus.max(1)),
            _ => base,
        }
    }

    /// The level a value reaches: load `≥` threshold × cpus, the others `>` threshold.
    /// `None`: below every threshold (or not a number).
    pub fn level_of(self, value: f64, cpus: u32) -> Option<Level> {
        RESOURCE_LEVELS.into_iter().rev().find(|&lv| {
            let t = self.threshold(lv, cpus) as f64;
            if self.at_least() {
                value >= t
            } else {
                value > t
            }
        })
    }

    /// Formats a value as subjects show it: counts as integers, percentages with `%`. (A load is
    /// shown by its [`LoadAvg::text`], never re-formatted: use [`Reading`].)
    pub fn format_value(self, value: u64) -> String {
        match self {
            Resource::Disk | Resource::Inode => format!("{value}%"),
            Resource::Load | Resource::MailQueue => value.to_string(),
        }
    }

    /// The subject fragment of contract §3, e.g. `Load avg.が 24 以上（現在：25.31）`.
    /// `value_text` is the reading's text ([`Reading::text`]).
    pub fn subject_fragment(self, level: Level, cpus: u32, value_text: &str) -> String {
        let t = self.threshold(level, cpus);
        match self {
            Resource::Load => format!("Load avg.が {t} 以上（現在：{value_text}）"),
            Resource::MailQueue => format!("メールキューが {t} 件超（現在：{value_text}）"),
            Resource::Disk => format!("/ の使用率が {t}%以上（現在：{value_text}）"),
            Resource::Inode => format!("/ の inode が {t}%以上（現在：{value_text}）"),
        }
    }

    /// The trigger name: `{label} ` + [`Resource::subject_fragment`], as a subject shows it
    /// after `[Speever][Lv.N]` (like `web01 ping 疎通不可` for checks).
    pub fn trigger(self, label: &str, level: Level, cpus: u32, value_text: &str) -> String {
        format!("{label} {}", self.subject_fragment(level, cpus, value_text))
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One resource's value in a sample: the number thresholds compare, and the text subjects show
/// (`25.31`, `18`, `97%`).
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub resource: Resource,
    pub value: f64,
    pub text: String,
}

impl ResourceSample {
    /// The reading of `r`: `Ok(None)` when the server has no such check (no MTA; inodes `-`).
    pub fn reading(&self, r: Resource) -> Result<Option<Reading>, ParseError> {
        let count = |n: u64| Reading { resource: r, value: n as f64, text: r.format_value(n) };
        Ok(match r {
            Resource::Load => {
                let l = self.load.clone()?;
                Some(Reading { resource: r, value: l.value, text: l.text })
            }
            Resource::MailQueue => self.mailq.clone()?.map(count),
            Resource::Disk => Some(count(u64::from(self.disk_pct.clone()?))),
            Resource::Inode => self.inode_pct.clone()?.map(|p| count(u64::from(p))),
        })
    }

    /// The level this one sample reaches for `r` (load needs the CPU count too).
    /// `Ok(None)`: below every threshold, or no such check on this server.
    pub fn level(&self, r: Resource) -> Result<Option<Level>, ParseError> {
        let cpus = if r == Resource::Load { self.cpus.clone()? } else { 1 };
        Ok(self.reading(r)?.and_then(|x| r.level_of(x.value, cpus)))
    }
}

/// What one sample did to a resource's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceTransition {
    Unchanged,
    /// The last `attempts` samples all met `to` (and `to` is the highest level they all met).
    Raised {
        from: Option<Level>,
        to: Level,
    },
    /// A sample fell below the level; `to: None` means the alert cleared.
    Lowered {
        from: Level,
        to: Option<Level>,
    },
}

/// The level of one (server, resource) between samples (contract §2 decision: raised only when the
/// last `attempts` samples all meet the level, lowered as soon as one sample falls below it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceState {
    /// The current (raised) level; `None`: no alert.
    pub level: Option<Level>,
    /// `streaks[i]`: how many of the most recent samples in a row met level `i + 2`.
    streaks: [u32; 4],
}

impl ResourceState {
    /// A state known to be at `level` (an incident was open when the engine stopped).
    pub fn resumed(level: Level, attempts: u32) -> Self {
        let mut streaks = [0; 4];
        for (i, s) in streaks.iter_mut().enumerate() {
            if i + 2 <= level.number() as usize {
                *s = attempts.max(1);
            }
        }
        ResourceState { level: Some(level), streaks }
    }

    /// Applies one sample's level (`None`: below every threshold). `attempts` is the fleet's
    /// "three in a row" (at least 1).
    #[must_use]
    pub fn observe(self, sample: Option<Level>, attempts: u32) -> (ResourceState, ResourceTransition) {
        let attempts = attempts.max(1);
        let mut streaks = self.streaks;
        for (i, s) in streaks.iter_mut().enumerate() {
            let met = sample.is_some_and(|l| l.number() as usize >= i + 2);
            *s = if met { s.saturating_add(1) } else { 0 };
        }
        let held = (0..4).rev().find(|&i| streaks[i] >= attempts).and_then(|i| Level::from_number(i as u8 + 2));
        let level = if sample < self.level { sample } else { self.level.max(held) };
        let t = match (self.level, level) {
            (from, Some(to)) if level > from => ResourceTransition::Raised { from, to },
            (Some(from), to) if to < Some(from) => ResourceTransition::Lowered { from, to },
            _ => ResourceTransition::Unchanged,
        };
        (ResourceState { level, streaks }, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Level::{Minor as L3, Severe as L4, Warning as L2};

    /// A poll output as the script prints it, from raw command outputs.
    fn poll(loadavg: &str, nproc: &str, df: &str, dfi: &str, mta: &str, mailq: &str) -> String {
        format!(
            "@@anshin loadavg\n{loadavg}\n@@anshin nproc\n{nproc}\n@@anshin df\n{df}\n@@anshin dfi\n{dfi}\n\
             @@anshin mailq {mta}\n{mailq}\n@@anshin end\n"
        )
    }

    fn fixture(name: &str) -> ResourceSample {
        let path = format!("{}/tests/fixtures/resource/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        parse_poll(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn load(text: &str) -> Result<LoadAvg, ParseError> {
        Ok(LoadAvg { value: text.parse().unwrap(), text: text.into() })
    }

    #[test]
    fn real_outputs_of_each_os() {
        // (fixture, load text, cpus, disk, inode, mailq)
        type Row = (&'static str, &'static str, u32, u8, Option<u8>, Option<u64>);
        let table: &[Row] = &[
            ("debian12-nomta.txt", "1.29", 2, 15, Some(3), None),
            ("centos6-postfix-empty.txt", "0.08", 1, 17, Some(4), Some(0)),
            ("centos6-sendmail.txt", "3.12", 4, 63, Some(11), Some(0)),
            ("centos7-xfs-postfix-18.txt", "0.42", 2, 5, Some(1), Some(18)),
            ("alma9-postfix-1.txt", "25.31", 2, 97, Some(41), Some(1)),
            ("ubuntu-ja-exim.txt", "12.00", 3, 35, Some(13), Some(42)),
            ("debian-btrfs-sendmail-total.txt", "0.00", 8, 81, None, Some(1234)),
        ];
        for &(name, l, cpus, disk, inode, mailq) in table {
            let s = fixture(name);
            assert_eq!(s.load, load(l), "{name}");
            assert_eq!(s.cpus, Ok(cpus), "{name}");
            assert_eq!(s.disk_pct, Ok(disk), "{name}");
            assert_eq!(s.inode_pct, Ok(inode), "{name}");
            assert_eq!(s.mailq, Ok(mailq), "{name}");
        }
    }

    #[test]
    fn postfix_stopped_is_an_error_of_the_mail_queue_only() {
        let s = fixture("centos7-postfix-stopped.txt");
        assert_eq!(s.mailq, Err(ParseError::MtaError("\"postqueue: fatal: malformed showq server response\"".into())));
        assert!(s.load.is_ok() && s.cpus.is_ok() && s.disk_pct.is_ok() && s.inode_pct.is_ok());
    }

    #[test]
    fn mail_queue_lines() {
        let table: &[(&str, &str, Option<Option<u64>>)] = &[
            ("postfix", "Mail queue is empty", Some(Some(0))),
            ("postfix", "-- 4 Kbytes in 18 Requests.", Some(Some(18))),
            ("postfix", "-- 1 Kbytes in 1 Request.", Some(Some(1))),
            ("postfix", "-- 30421 Kbytes in 2001 Requests.", Some(Some(2001))),
            ("postfix", "postqueue: fatal: malformed showq server response", None),
            ("postfix", "postqueue: fatal: Queue report unavailable - mail system is down", None),
            ("exim", "0", Some(Some(0))),
            ("exim", "  2001  ", Some(Some(2001))),
            ("exim", "exim: permission denied", None),
            ("sendmail", "/var/spool/mqueue is empty", Some(Some(0))),
            ("sendmail", "\t\tTotal requests: 0", Some(Some(0))),
            ("sendmail", "\t\tTotal requests: 501", Some(Some(501))),
            ("none", "", Some(None)),
            ("postfix", "", None),
            ("exim", "99999999999999999999", None),
            ("postfix", "-- 4 Kbytes in 99999999999999999999 Requests.", None),
            ("sendmail", "Total requests: -3", None),
            ("postfix", "-- 4 Kbytes in 18 Requests.\r", Some(Some(18))),
        ];
        for &(mta, line, want) in table {
            let out = poll("0.00 0.00 0.00 1/1 1", "1", "x 1 1 1 1% /", "x 1 1 1 1% /", mta, line);
            let got = parse_poll(&out).unwrap().mailq;
            match want {
                Some(v) => assert_eq!(got, Ok(v), "{mta}: {line:?}"),
                None => assert!(got.is_err(), "{mta}: {line:?} gave {got:?}"),
            }
        }
    }

    #[test]
    fn df_variants() {
        let table: &[(&str, Option<Option<u8>>)] = &[
            // Debian, as in TESTING-NOTES.
            (
                "Filesystem     1024-blocks     Used Available Capacity Mounted on\n\
                 /dev/vda         264212084 13466420  81819468      15% /",
                Some(Some(15)),
            ),
            // df without -P wraps a long name onto its own line.
            (
                "Filesystem           1K-blocks      Used Available Use% Mounted on\n\
                 /dev/mapper/VolGroup-lv_root\n                       51475068  48123456    728172  99% /",
                Some(Some(99)),
            ),
            // Japanese locale header.
            (
                "ファイルシス   1024-ブロック    使用   使用可 使用率 マウント位置\n/dev/sda1 30298176 9876543 18862320 35% /",
                Some(Some(35)),
            ),
            // Inodes not counted (btrfs).
            ("Filesystem Inodes IUsed IFree IUse% Mounted on\n/dev/sda2 0 0 0 - /", Some(None)),
            // A mount point that is not / only.
            ("Filesystem 1024-blocks Used Available Capacity Mounted on\ntmpfs 1 1 0 100% /run", None),
            ("sh: 1: df: not found", None),
            ("", None),
            ("/dev/vda 1 1 1 101% /", None),
            ("/dev/vda 1 1 1 99999999999999999999% /", None),
            ("/dev/vda 1 1 1 15 /", None),
            ("/", None),
            ("Filesystem 1024-blocks Used Available Capacity Mounted on\r\n/dev/vda 1 1 1 0% /\r", Some(Some(0))),
        ];
        for &(df, want) in table {
            let out = poll("0.00 0.00 0.00 1/1 1", "1", df, df, "none", "");
            let got = parse_poll(&out).unwrap().inode_pct;
            match want {
                Some(v) => assert_eq!(got, Ok(v), "{df:?}"),
                None => assert!(got.is_err(), "{df:?} gave {got:?}"),
            }
        }
        // For disk use, `-` is not a reading.
        let out = poll("0.00 0.00 0.00 1/1 1", "1", "/dev/sda2 0 0 0 - /", "/dev/sda2 0 0 0 - /", "none", "");
        assert!(parse_poll(&out).unwrap().disk_pct.is_err());
    }

    #[test]
    fn load_and_nproc_variants() {
        let loads: &[(&str, Option<&str>)] = &[
            ("25.31 20.10 9.00 12/345 6789", Some("25.31")),
            ("0.00 0.01 0.05 1/100 2", Some("0.00")),
            ("1234.56 0 0 1/1 1", Some("1234.56")),
            ("", None),
            ("cat: /proc/loadavg: No such file or directory", None),
            ("99999999999999999999 0 0", None),
            ("1e3 0 0", None),
            ("NaN 0 0", None),
            ("inf 0 0", None),
            ("-1.00 0 0", None),
            ("1. 0 0", None),
            (".5 0 0", None),
            ("1,29 0,54", None),
            ("2.5\u{0}\u{1b}[31m 0 0", None),
        ];
        for &(line, want) in loads {
            let out = poll(line, "2", "x 1 1 1 1% /", "x 1 1 1 1% /", "none", "");
            let got = parse_poll(&out).unwrap().load;
            match want {
                Some(t) => assert_eq!(got, load(t), "{line:?}"),
                None => assert!(got.is_err(), "{line:?} gave {got:?}"),
            }
        }
        let nprocs: &[(&str, Option<u32>)] = &[
            ("2", Some(2)),
            (" 64 ", Some(64)),
            ("0", None),
            ("", None),
            ("two", None),
            ("99999999999999999999", None),
        ];
        for &(line, want) in nprocs {
            let out = poll("0.00 0 0", line, "x 1 1 1 1% /", "x 1 1 1 1% /", "none", "");
            let got = parse_poll(&out).unwrap().cpus;
            assert_eq!(got.ok(), want, "{line:?}");
        }
    }

    #[test]
    fn hostile_outputs_never_panic() {
        let mut garbage = Vec::new();
        let mut x: u32 = 12345;
        for _ in 0..100_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            garbage.push((x >> 16) as u8);
        }
        let garbage = String::from_utf8_lossy(&garbage).into_owned();
        let big = "A".repeat(10 * 1024 * 1024);
        let valid = std::fs::read_to_string(format!(
            "{}/tests/fixtures/resource/debian12-nomta.txt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let huge_section = format!("@@anshin loadavg\n{}\n@@anshin end\n", "9".repeat(200_000));
        let cut_in_utf8 = format!("{}{}", "x".repeat(MAX_OUTPUT - 1), "é@@anshin end\n");
        let inputs: Vec<(&str, String)> = vec![
            ("empty", String::new()),
            ("garbage", garbage.clone()),
            ("10 MB", big.clone()),
            ("10 MB then a poll", format!("{big}\n{valid}")),
            ("a poll then 10 MB", format!("{valid}{big}")),
            ("huge section", huge_section),
            ("utf-8 at the cut", cut_in_utf8),
            ("markers only", "@@anshin\n@@anshin \n@@anshin end".into()),
            ("control chars", format!("@@anshin loadavg\n\u{7}\u{1b}[2J{garbage}\n@@anshin end")),
            (
                "numbers",
                poll(
                    "99999999999999999999",
                    "99999999999999999999",
                    "a 1 1 1 99999999999999999999% /",
                    "",
                    "exim",
                    "99999999999999999999",
                ),
            ),
        ];
        for (what, input) in &inputs {
            match parse_poll(input) {
                Ok(s) => {
                    for r in Resource::ALL {
                        let _ = s.level(r);
                    }
                    if let Err(e) = &s.load {
                        assert!(e.to_string().chars().count() < 200, "{what}: {e}");
                        assert!(!e.to_string().contains(['\n', '\r', '\u{1b}']), "{what}: {e}");
                    }
                }
                Err(e) => assert!(!e.to_string().contains(['\n', '\r']), "{what}: {e}"),
            }
        }
        assert!(matches!(parse_poll(""), Err(ParseError::Incomplete(_))));
        assert!(matches!(parse_poll(&big), Err(ParseError::Incomplete(_))));
        assert!(matches!(parse_poll(&format!("{big}\n{valid}")), Err(ParseError::Incomplete(_))));
        assert_eq!(parse_poll(&format!("{valid}{big}")).unwrap().load, load("1.29"));
    }

    #[test]
    fn missing_sections_are_named() {
        let s = parse_poll("@@anshin loadavg\n1.00 0 0 1/1 1\n@@anshin end\n").unwrap();
        assert_eq!(s.load, load("1.00"));
        assert_eq!(s.cpus, Err(ParseError::MissingSection("nproc")));
        assert_eq!(s.disk_pct, Err(ParseError::MissingSection("df")));
        assert_eq!(s.inode_pct, Err(ParseError::MissingSection("dfi")));
        assert_eq!(s.mailq, Err(ParseError::MissingSection("mailq")));
        assert_eq!(ParseError::MissingSection("df").to_string(), "poll output has no \"df\" section");
        let cut = "@@anshin loadavg\n1.00 0 0 1/1 1\n@@anshin nproc\n";
        assert_eq!(parse_poll(cut), Err(ParseError::Incomplete("\"@@anshin loadavg\"".into())));
        // A load reading needs the CPU count for its level.
        assert_eq!(s.level(Resource::Load), Err(ParseError::MissingSection("nproc")));
    }

    #[test]
    fn threshold_edges() {
        let table: &[(Resource, f64, u32, Option<Level>)] = &[
            (Resource::Load, 8.00, 2, Some(L2)),
            (Resource::Load, 7.98, 2, None),
            (Resource::Load, 4.00, 1, Some(L2)),
            (Resource::Load, 3.99, 1, None),
            (Resource::Load, 16.00, 2, Some(L3)),
            (Resource::Load, 15.99, 2, Some(L2)),
            (Resource::Load, 24.00, 2, Some(L4)),
            (Resource::Load, 23.99, 2, Some(L3)),
            (Resource::Load, 25.31, 2, Some(L4)),
            (Resource::Load, 4.00, 0, Some(L2)),
            (Resource::Load, 48.00, 4, Some(L4)),
            (Resource::Load, 47.99, 4, Some(L3)),
            (Resource::Disk, 80.0, 1, None),
            (Resource::Disk, 81.0, 1, Some(L2)),
            (Resource::Disk, 90.0, 1, Some(L2)),
            (Resource::Disk, 91.0, 1, Some(L3)),
            (Resource::Disk, 95.0, 1, Some(L3)),
            (Resource::Disk, 96.0, 1, Some(L4)),
            (Resource::Disk, 100.0, 1, Some(L4)),
            (Resource::Inode, 80.0, 1, None),
            (Resource::Inode, 81.0, 1, Some(L2)),
            (Resource::Inode, 95.0, 1, Some(L3)),
            (Resource::Inode, 96.0, 1, Some(L4)),
            (Resource::MailQueue, 500.0, 1, None),
            (Resource::MailQueue, 501.0, 1, Some(L2)),
            (Resource::MailQueue, 1000.0, 1, Some(L2)),
            (Resource::MailQueue, 1001.0, 1, Some(L3)),
            (Resource::MailQueue, 2000.0, 1, Some(L3)),
            (Resource::MailQueue, 2001.0, 1, Some(L4)),
            (Resource::MailQueue, 0.0, 1, None),
            (Resource::MailQueue, f64::NAN, 1, None),
        ];
        for &(r, value, cpus, want) in table {
            assert_eq!(r.level_of(value, cpus), want, "{r} {value} on {cpus} CPUs");
        }
        // Loads exactly as /proc/loadavg prints them, on 1..=16 CPUs.
        for cpus in 1..=16u32 {
            let at = |per: u32, frac: &str| format!("{}{frac}", per * cpus - u32::from(!frac.ends_with(".00")));
            for (per, lv) in [(4, L2), (8, L3), (12, L4)] {
                let exact: f64 = at(per, ".00").parse().unwrap();
                let below: f64 = at(per, ".99").parse().unwrap();
                assert!(Resource::Load.level_of(exact, cpus) >= Some(lv), "{exact} on {cpus}");
                assert!(Resource::Load.level_of(below, cpus) < Some(lv), "{below} on {cpus}");
            }
        }
    }

    #[test]
    fn thresholds_shown_in_subjects() {
        let table: &[(Resource, Level, u32, u64)] = &[
            (Resource::Load, L2, 2, 8),
            (Resource::Load, L3, 2, 16),
            (Resource::Load, L4, 2, 24),
            (Resource::Load, L4, 1, 12),
            (Resource::MailQueue, L2, 2, 500),
            (Resource::MailQueue, L3, 2, 1000),
            (Resource::MailQueue, L4, 2, 2000),
            (Resource::Disk, L2, 2, 80),
            (Resource::Disk, L3, 2, 90),
            (Resource::Inode, L4, 2, 95),
            (Resource::Inode, Level::Unreachable, 2, 95),
        ];
        for &(r, lv, cpus, want) in table {
            assert_eq!(r.threshold(lv, cpus), want, "{r} {lv} {cpus}");
        }
    }

    #[test]
    fn subject_fragments_and_triggers() {
        let s = fixture("alma9-postfix-1.txt");
        let load = s.reading(Resource::Load).unwrap().unwrap();
        assert_eq!(load.text, "25.31");
        let lv = s.level(Resource::Load).unwrap().unwrap();
        assert_eq!(lv, L4);
        assert_eq!(Resource::Load.subject_fragment(lv, 2, &load.text), "Load avg.が 24 以上（現在：25.31）");
        assert_eq!(Resource::Load.trigger("web01", lv, 2, &load.text), "web01 Load avg.が 24 以上（現在：25.31）");
        let disk = s.reading(Resource::Disk).unwrap().unwrap();
        assert_eq!(s.level(Resource::Disk), Ok(Some(L4)));
        let table: &[(Resource, Level, &str, &str)] = &[
            (Resource::Disk, L4, &disk.text, "web01 / の使用率が 95%以上（現在：97%）"),
            (Resource::Inode, L2, "81%", "web01 / の inode が 80%以上（現在：81%）"),
            (Resource::MailQueue, L4, "2001", "web01 メールキューが 2000 件超（現在：2001）"),
            (Resource::Load, L2, "8.00", "web01 Load avg.が 8 以上（現在：8.00）"),
        ];
        for &(r, lv, value, want) in table {
            assert_eq!(r.trigger("web01", lv, 2, value), want);
        }
        assert_eq!(Resource::Disk.format_value(97), "97%");
        assert_eq!(Resource::MailQueue.format_value(18), "18");
        let q = fixture("centos7-xfs-postfix-18.txt").reading(Resource::MailQueue).unwrap().unwrap();
        assert_eq!((q.value, q.text.as_str()), (18.0, "18"));
        // No MTA, no inode count: no reading, no level, no error.
        let d = fixture("debian-btrfs-sendmail-total.txt");
        assert_eq!(d.reading(Resource::Inode), Ok(None));
        assert_eq!(fixture("debian12-nomta.txt").level(Resource::MailQueue), Ok(None));
    }

    #[test]
    fn ids_and_names() {
        for r in Resource::ALL {
            assert_eq!(Resource::from_id(r.as_str()), Some(r));
            assert!(!r.item_name().is_empty());
            assert!(r.opening_line_ja().starts_with("監視サービスにて、"));
        }
        assert_eq!(Resource::from_id("cpu"), None);
        assert_eq!(Resource::Load.item_name(), "Load average");
    }

    /// Runs samples (levels) from a fresh state and returns every transition and the final level.
    fn run(samples: &[Option<Level>], attempts: u32) -> (Option<Level>, Vec<ResourceTransition>) {
        let mut s = ResourceState::default();
        let mut out = Vec::new();
        for &lv in samples {
            let (n, t) = s.observe(lv, attempts);
            s = n;
            out.push(t);
        }
        (s.level, out)
    }

    #[test]
    fn three_in_a_row_table() {
        use ResourceTransition::{Lowered, Raised, Unchanged as U};
        type Row = (&'static [Option<Level>], u32, &'static [ResourceTransition], Option<Level>);
        let table: &[Row] = &[
            // A spike of one sample: nothing.
            (&[Some(L4), None, None], 3, &[U, U, U], None),
            (&[Some(L4), Some(L4), None, Some(L4)], 3, &[U, U, U, U], None),
            // Three Lv.4 in a row: raised to 4 at the third.
            (&[Some(L4), Some(L4), Some(L4)], 3, &[U, U, Raised { from: None, to: L4 }], Some(L4)),
            // Lv.4, Lv.4, Lv.2: all three meet only Lv.2.
            (&[Some(L4), Some(L4), Some(L2)], 3, &[U, U, Raised { from: None, to: L2 }], Some(L2)),
            // ... and Lv.4 comes once three Lv.4 follow.
            (
                &[Some(L4), Some(L4), Some(L2), Some(L4), Some(L4), Some(L4)],
                3,
                &[U, U, Raised { from: None, to: L2 }, U, U, Raised { from: Some(L2), to: L4 }],
                Some(L4),
            ),
            // Lowered on one sample, to the level that sample meets.
            (
                &[Some(L4), Some(L4), Some(L4), Some(L3)],
                3,
                &[U, U, Raised { from: None, to: L4 }, Lowered { from: L4, to: Some(L3) }],
                Some(L3),
            ),
            // Cleared on one sample below every threshold.
            (
                &[Some(L2), Some(L3), Some(L4), None],
                3,
                &[U, U, Raised { from: None, to: L2 }, Lowered { from: L2, to: None }],
                None,
            ),
            // Staying at the level (or above it without three in a row): unchanged.
            (
                &[Some(L3), Some(L3), Some(L3), Some(L3), Some(L4), Some(L3)],
                3,
                &[U, U, Raised { from: None, to: L3 }, U, U, U],
                Some(L3),
            ),
            // After a dip, a rise needs three in a row again.
            (
                &[Some(L4), Some(L4), Some(L4), Some(L2), Some(L4), Some(L4)],
                3,
                &[U, U, Raised { from: None, to: L4 }, Lowered { from: L4, to: Some(L2) }, U, U],
                Some(L2),
            ),
            // attempts is a parameter.
            (&[Some(L2)], 1, &[Raised { from: None, to: L2 }], Some(L2)),
            (&[Some(L2)], 0, &[Raised { from: None, to: L2 }], Some(L2)),
            (&[Some(L3), Some(L3), Some(L3), None], 5, &[U, U, U, U], None),
        ];
        for (samples, attempts, want, level) in table {
            let (got_level, got) = run(samples, *attempts);
            assert_eq!(&got, want, "{samples:?} attempts={attempts}");
            assert_eq!(got_level, *level, "{samples:?}");
        }
    }

    #[test]
    fn a_resumed_level_holds_and_lowers() {
        let s = ResourceState::resumed(L4, 3);
        assert_eq!(s.observe(Some(L4), 3).1, ResourceTransition::Unchanged);
        assert_eq!(s.observe(None, 3).1, ResourceTransition::Lowered { from: L4, to: None });
        let (s, t) = s.observe(Some(L2), 3);
        assert_eq!(t, ResourceTransition::Lowered { from: L4, to: Some(L2) });
        assert_eq!(s.observe(Some(L2), 3).1, ResourceTransition::Unchanged);
    }

    #[test]
    fn poll_command_adds_the_backed_up_paths_and_keeps_the_rest() {
        assert_eq!(poll_command(&[]), POLL_COMMAND);
        let cmd = poll_command(&["/srv/it's here".to_string()]);
        assert!(cmd.starts_with(POLL_COMMAND.strip_suffix("echo '@@anshin end'\n").unwrap()));
        assert!(cmd.contains("t df -Pk -- '/srv/it'\\''s here' 2>&1 | tail -n 2\n"), "{cmd}");
        assert!(cmd.ends_with("echo '@@anshin end'\n"));
        let many: Vec<String> = (0..100).map(|i| format!("/p{i}")).collect();
        assert_eq!(poll_command(&many).matches("@@anshin bdf ").count(), crate::backup_settings::MAX_PATHS);
    }

    fn usage(fs: &str, mount: &str, bytes: u64, inodes: Option<u64>) -> Result<FsUsage, ParseError> {
        Ok(FsUsage { filesystem: fs.into(), mount: mount.into(), used_bytes: bytes, used_inodes: inodes })
    }

    #[test]
    fn backed_up_paths_are_read_per_index() {
        let base = poll("0.00 0 0 1/1 1", "1", "x 1 1 1 1% /", "x 1 1 1 1% /", "none", "");
        let head = base.strip_suffix("@@anshin end\n").unwrap();
        let with = |sections: &str| parse_poll(&format!("{head}{sections}@@anshin end\n")).unwrap().paths;
        assert!(parse_poll(&base).unwrap().paths.is_empty());
        let hdr = "Filesystem     1024-blocks     Used Available Capacity Mounted on";
        let ihdr = "Filesystem      Inodes  IUsed   IFree IUse% Mounted on";
        type Row = (String, Vec<(usize, Result<FsUsage, ParseError>)>);
        let table: Vec<Row> = vec![
            (
                format!("@@anshin bdf 0\n{hdr}\n/dev/vda1 264212084 13466420 81819468 15% /\n@@anshin bdfi 0\n{ihdr}\n/dev/vda1 6553600 412345 6141255 7% /\n"),
                vec![(0, usage("/dev/vda1", "/", 13466420 * 1024, Some(412345)))],
            ),
            // A mount point with spaces; the second path on btrfs (no inode count).
            (
                "@@anshin bdf 0\n/dev/vdb1 100 40 60 40% /srv/my data\n@@anshin bdfi 0\n/dev/vdb1 10 4 6 40% /srv/my data\n\
                         @@anshin bdf 1\n/dev/sda2 100 7 93 7% /home\n@@anshin bdfi 1\n/dev/sda2 0 0 0 - /home\n".into(),
                vec![(0, usage("/dev/vdb1", "/srv/my data", 40 * 1024, Some(4))), (1, usage("/dev/sda2", "/home", 7 * 1024, None))],
            ),
            // A name wrapped onto its own line; sections out of order.
            (
                "@@anshin bdfi 0\n/dev/mapper/vg-root\n 10 3 7 30% /\n@@anshin bdf 0\n/dev/mapper/vg-root\n   51475068  48123456 728172  99% /\n".into(),
                vec![(0, usage("/dev/mapper/vg-root", "/", 48123456 * 1024, Some(3)))],
            ),
            // df's complaint; no inode section; an index beyond the limit; a second copy of 0.
            (
                "@@anshin bdf 0\ndf: /srv: No such file or directory\n@@anshin bdf 1\n/dev/vda1 1 1 0 100% /\n\
                 @@anshin bdf 32\n/dev/vda1 1 1 0 100% /\n@@anshin bdf 0\n/dev/vda1 1 1 0 100% /\n@@anshin bdfi 0\n/dev/vda1 1 1 0 1% /\n".into(),
                vec![
                    (0, Err(ParseError::Unreadable { field: "backed-up path", found: "\"df: /srv: No such file or directory\"".into() })),
                    (1, Err(ParseError::MissingSection("bdfi"))),
                ],
            ),
            // Counts too big for bytes; a `-` capacity.
            (
                "@@anshin bdf 0\n/dev/vda1 1 99999999999999999 1 1% /\n@@anshin bdfi 0\n/dev/vda1 1 1 1 1% /\n\
                 @@anshin bdf 1\nnone 0 0 0 - /x\n@@anshin bdfi 1\nnone 0 0 0 - /x\n@@anshin bdf x\n".into(),
                vec![
                    (0, Err(ParseError::Unreadable { field: "backed-up path", found: "\"/dev/vda1 1 99999999999999999 1 1% /\"".into() })),
                    (1, Err(ParseError::Unreadable { field: "backed-up path", found: "\"-\" as Capacity".into() })),
                ],
            ),
        ];
        for (sections, want) in table {
            let got: Vec<(usize, Result<FsUsage, ParseError>)> =
                with(&sections).into_iter().map(|p| (p.index, p.usage)).collect();
            assert_eq!(got, want, "{sections}");
        }
    }

    /// The real command on this machine, with a path that exists, one with a quote and a space
    /// that does not, and `/`: every path gets its own answer.
    #[test]
    fn the_poll_command_with_paths_runs_and_parses_here() {
        let include =
            ["/".to_string(), "/no such/it's".to_string(), std::env::temp_dir().to_string_lossy().into_owned()];
        let out = std::process::Command::new("sh").arg("-c").arg(poll_command(&include)).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let s = parse_poll(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(s.disk_pct.is_ok(), "{text}");
        assert_eq!(s.paths.iter().map(|p| p.index).collect::<Vec<_>>(), [0, 1, 2], "{text}");
        let root = s.paths[0].usage.as_ref().unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(root.used_bytes > 0 && root.mount == "/", "{root:?}");
        assert!(
            matches!(&s.paths[1].usage, Err(ParseError::Unreadable { found, .. }) if found.contains("no such") && found.contains("No such file")),
            "{:?}",
            s.paths[1]
        );
        assert!(s.paths[2].usage.is_ok(), "{:?}", s.paths[2]);
    }

    /// The real script on this machine (Debian, no MTA unless one was installed since).
    #[test]
    fn the_poll_command_runs_and_parses_here() {
        let out = std::process::Command::new("sh").arg("-c").arg(POLL_COMMAND).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let s = parse_poll(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(s.load.is_ok(), "{s:?}\n{text}");
        assert!(s.cpus.clone().is_ok_and(|n| n >= 1), "{s:?}\n{text}");
        assert!(s.disk_pct.is_ok(), "{s:?}\n{text}");
        assert!(s.inode_pct.is_ok(), "{s:?}\n{text}");
        let mta = ["postqueue", "exim", "exim4", "mailq"].iter().any(|c| {
            ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]
                .iter()
                .any(|d| std::path::Path::new(d).join(c).exists())
        });
        if !mta {
            assert_eq!(s.mailq, Ok(None), "{text}");
            assert!(text.contains("@@anshin mailq none"));
        }
    }
}
