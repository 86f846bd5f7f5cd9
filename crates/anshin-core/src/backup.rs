//! Backups of contract §7: who is backed up, when, which generations are kept, when the backup
//! incident opens, and the exact commands the NOC sends (GNU tar's `--listed-incremental`).
//!
//! Owns: the limits of eligibility ([`MAX_USED_BYTES`], [`MAX_USED_INODES`]) and the judgement
//! ([`eligibility`]); the backed-up paths' rule ([`check_path`], [`BackupPaths::excludes`], the
//! default excludes); the schedule ([`schedule`]: which run is due at a moment, the night slot of
//! each server); the generations kept and the ones to prune ([`prune`]); the backup incident
//! ([`consecutive_failures`], [`incident_level`], [`trigger`]: never mailed to the customer); the
//! command texts ([`backup_command`], [`snapshot_fetch_command`], [`restore_command`]) with every
//! path quoted by `shell::sh_quote`.
//! Must not know: SSH, the store, files or clocks. Times are parameters; the engine runs the
//! commands, streams and compresses the archives, keeps the snapshot files and records the runs.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeDelta, Utc, Weekday};
use chrono_tz::Asia::Tokyo;

use crate::calendar::jst_at;
use crate::check::Service;
use crate::contract::jst_day;
use crate::level::Level;
use crate::plan::Plan;
use crate::resource::{FsUsage, PathUsage};
use crate::shell::sh_quote;
use crate::text::visible;

/// A server with more than this many bytes used on the file systems of its included paths is
/// not backed up (contract §7: 50 GB, decimal).
pub const MAX_USED_BYTES: u64 = 50_000_000_000;
/// ... nor one with more than this many inodes used there.
pub const MAX_USED_INODES: u64 = 500_000;
/// Differential generations kept beside the one full (one week with the full).
pub const KEEP_DIFFERENTIALS: usize = 6;
/// The night window the servers' slots are spread over, from `full_hour` on.
pub const NIGHT_WINDOW_MINUTES: u32 = 120;
/// Consecutive failed or missed runs that open the backup incident at Lv.2 …
pub const LV2_AFTER: u32 = 2;
/// … and raise it to Lv.3.
pub const LV3_AFTER: u32 = 4;
/// The check id of the backup incident (store, API, CLI).
pub const CHECK_ID: &str = "backup";
/// Where the commands keep their work on the server: the database dumps (backed up with the
/// rest) and the snapshot file of the run in progress. Root-owned, mode 0700.
pub const WORK_DIR: &str = "/var/backups/anshin-noc";
/// Where restores go unless the operator names another directory.
pub const RESTORE_ROOT: &str = "/var/restore";
/// Left out of every backup unless an included path lies under one: pseudo and cache file
/// systems, restores and scratch space.
pub const DEFAULT_EXCLUDE: [&str; 8] =
    ["/proc", "/sys", "/dev", "/run", "/tmp", "/var/cache", "/var/restore", "/var/tmp"];
/// At most this many included and this many excluded paths per server.
pub const MAX_PATHS: usize = 32;
/// A path is at most this long (bytes).
pub const MAX_PATH_LEN: usize = 1024;
/// `[noc] backup` defaults: the full on Sunday at 03:00 JST, at most 2 runs at once.
pub const DEFAULT_FULL_DAY: Weekday = Weekday::Sun;
pub const DEFAULT_FULL_HOUR: u32 = 3;
pub const DEFAULT_MAX_RUNNING: u32 = 2;
/// The most runs at once a fleet file may ask for (each holds an SSH session of its own).
pub const MAX_RUNNING_LIMIT: u32 = 16;

// ---- settings (the fleet file's keys) ---------------------------------------------------------

/// `[noc] backup = { store, full_day, full_hour, max_running }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSettings {
    /// The store directory on the NOC machine (relative to the fleet file until
    /// `Fleet::resolve_paths`); `None`: no store is set, nothing is backed up.
    pub store: Option<String>,
    /// The day of the weekly full (Japan time).
    pub full_day: Weekday,
    /// The hour (JST) the night window starts; each server's slot is a stable number of minutes
    /// after it ([`slot_offset_minutes`]).
    pub full_hour: u32,
    /// Backup and restore runs at once, over the whole fleet.
    pub max_running: u32,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            store: None,
            full_day: DEFAULT_FULL_DAY,
            full_hour: DEFAULT_FULL_HOUR,
            max_running: DEFAULT_MAX_RUNNING,
        }
    }
}

/// A server's `backup = { include, exclude }`: absolute, normalized paths ([`check_path`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupPaths {
    /// What is backed up; `/` by default. A mount point under an included path is crossed only
    /// when it is itself listed here (tar's `--one-file-system`).
    pub include: Vec<String>,
    /// What the fleet file leaves out, beside [`DEFAULT_EXCLUDE`].
    pub exclude: Vec<String>,
}

impl Default for BackupPaths {
    fn default() -> Self {
        BackupPaths { include: vec!["/".into()], exclude: Vec::new() }
    }
}

impl BackupPaths {
    /// What is left out: the defaults, except one that is an included path or holds one (an
    /// operator who includes `/var/tmp/keep` wants it), then the fleet file's own.
    pub fn excludes(&self) -> Vec<String> {
        let mut out: Vec<String> = DEFAULT_EXCLUDE
            .iter()
            .filter(|d| !self.include.iter().any(|i| is_under(i, d)))
            .map(|d| d.to_string())
            .collect();
        for e in &self.exclude {
            if !out.contains(e) {
                out.push(e.clone());
            }
        }
        out
    }
}

/// Whether `path` is `dir` or lies under it (both normalized by [`check_path`]).
pub fn is_under(path: &str, dir: &str) -> bool {
    dir == "/" || path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// A backed-up path, a restore's sub-path or target, as the fleet file or an operator gives it:
/// absolute, no `.` or `..` step, no control character, at most [`MAX_PATH_LEN`] bytes.
/// Returns it normalized (repeated and trailing `/` dropped), or why it is refused.
pub fn check_path(p: &str) -> Result<String, String> {
    if !p.starts_with('/') {
        return Err(format!("\"{}\" is not an absolute path: write it from the root, e.g. \"/srv\"", visible(p)));
    }
    if p.len() > MAX_PATH_LEN {
        return Err(format!("a path is at most {MAX_PATH_LEN} bytes, this one {}", p.len()));
    }
    if p.chars().any(char::is_control) {
        return Err(format!("\"{}\" contains a control character (a line break?): remove it", visible(p)));
    }
    let steps: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    if steps.iter().any(|s| *s == "." || *s == "..") {
        return Err(format!("\"{}\" has a \".\" or \"..\" step: write the path without it", visible(p)));
    }
    Ok(format!("/{}", steps.join("/")))
}

/// `sun` … `sat`, as the fleet file spells the full's day.
pub fn parse_weekday(s: &str) -> Option<Weekday> {
    WEEKDAYS.iter().find(|(name, _)| *name == s).map(|(_, d)| *d)
}

/// The fleet file's spellings of the days.
pub const WEEKDAYS: [(&str, Weekday); 7] = [
    ("sun", Weekday::Sun),
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
];

// ---- eligibility -----------------------------------------------------------------------------

/// Whether a server is backed up, and why not (every console shows the reason with its numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    /// Backed up; the sums it was judged on.
    Eligible { used_bytes: u64, used_inodes: u64 },
    /// The plan in force has no backup (zero, 30).
    NotInPlan { plan: Plan },
    /// No usable measure of an included path yet (no poll, or its `df` could not be read).
    NotMeasured { why: String },
    /// More than [`MAX_USED_BYTES`] used.
    TooBig { used_bytes: u64 },
    /// More than [`MAX_USED_INODES`] used.
    TooManyInodes { used: u64 },
}

impl Eligibility {
    pub fn is_eligible(&self) -> bool {
        matches!(self, Eligibility::Eligible { .. })
    }
}

/// The judgement of contract §7: `plan` is the customer's plan in force at the moment judged
/// (`Customer::plan_at`); `measured` the latest poll's `df` of the included paths
/// (`ResourceSample::paths`, by index into `include`). Used bytes and inodes are summed once per
/// distinct file system ([`fs_key`]), so two paths on `/` count `/` once.
pub fn eligibility(plan: Plan, include: &[String], measured: &[PathUsage]) -> Eligibility {
    if !plan.backup() {
        return Eligibility::NotInPlan { plan };
    }
    let mut by_fs: BTreeMap<String, &FsUsage> = BTreeMap::new();
    for (i, path) in include.iter().enumerate() {
        match measured.iter().find(|m| m.index == i).map(|m| &m.usage) {
            None => return Eligibility::NotMeasured { why: format!("{}: not measured yet", visible(path)) },
            Some(Err(e)) => return Eligibility::NotMeasured { why: format!("{}: {e}", visible(path)) },
            Some(Ok(u)) => {
                by_fs.insert(fs_key(u), u);
            }
        }
    }
    let used_bytes = by_fs.values().fold(0u64, |a, u| a.saturating_add(u.used_bytes));
    let used_inodes = by_fs.values().fold(0u64, |a, u| a.saturating_add(u.used_inodes.unwrap_or(0)));
    if used_bytes > MAX_USED_BYTES {
        Eligibility::TooBig { used_bytes }
    } else if used_inodes > MAX_USED_INODES {
        Eligibility::TooManyInodes { used: used_inodes }
    } else {
        Eligibility::Eligible { used_bytes, used_inodes }
    }
}

/// One file system, one key: a device (`/dev/vda1`) names its file system wherever it is
/// mounted; anything else (`tmpfs`, `overlay`) is told apart by its mount point.
pub fn fs_key(u: &FsUsage) -> String {
    if u.filesystem.starts_with('/') {
        format!("dev {}", u.filesystem)
    } else {
        format!("mount {}", u.mount)
    }
}

// ---- runs, generations and the schedule ------------------------------------------------------

/// A full (tar level 0) or a differential (level 1 against the full's snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Full,
    Differential,
}

impl Kind {
    /// `full` | `differential` (CLI, API, store).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Full => "full",
            Kind::Differential => "differential",
        }
    }
}

/// Where a run stands. Only `Ok` is a generation; `Pruned` was one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunState {
    Running,
    Ok,
    Failed,
    /// Cut off by a stop or a lost connection; never a generation.
    Interrupted,
    Pruned,
}

impl RunState {
    /// `running` | `ok` | `failed` | `interrupted` | `pruned`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Ok => "ok",
            RunState::Failed => "failed",
            RunState::Interrupted => "interrupted",
            RunState::Pruned => "pruned",
        }
    }

    /// A run that ended well (a generation now or before its pruning).
    fn good(self) -> bool {
        matches!(self, RunState::Ok | RunState::Pruned)
    }
}

/// One run of one server as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The generation number (an integer, increasing per server).
    pub generation: i64,
    pub kind: Kind,
    pub state: RunState,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
}

/// What is due for a server at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Full,
    /// Against the full whose generation is `base`.
    Differential {
        base: i64,
    },
    Nothing,
}

/// The answer of [`schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub due: Due,
    /// The slot judged: the latest one at or before the moment.
    pub slot: DateTime<Utc>,
    /// The next slot after the moment (what a console shows as "next backup").
    pub next: DateTime<Utc>,
}

/// Minutes after `full_hour` of this server's slot, every night: a stable spread of the servers
/// over [`NIGHT_WINDOW_MINUTES`] (FNV-1a of the label, the same on every machine and version).
pub fn slot_offset_minutes(label: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(NIGHT_WINDOW_MINUTES)) as u32
}

/// The slot of the Japan day `day`: `full_hour`:00 JST plus the server's offset.
pub fn slot_on(settings: &BackupSettings, label: &str, day: NaiveDate) -> DateTime<Utc> {
    jst_at(day, settings.full_hour) + TimeDelta::minutes(i64::from(slot_offset_minutes(label)))
}

/// The slots of the Japan days around `t`, oldest first (a late hour plus the offset may cross
/// midnight, so a slot is not always on the day of `t`).
fn slots_around(settings: &BackupSettings, label: &str, t: DateTime<Utc>) -> Vec<(NaiveDate, DateTime<Utc>)> {
    let day = jst_day(t);
    (0..4u64)
        .filter_map(|i| day.checked_sub_days(Days::new(2)).and_then(|d| d.checked_add_days(Days::new(i))))
        .map(|d| (d, slot_on(settings, label, d)))
        .collect()
}

/// The latest slot at or before `t`, with its Japan day.
pub fn last_slot(settings: &BackupSettings, label: &str, t: DateTime<Utc>) -> (NaiveDate, DateTime<Utc>) {
    let slots = slots_around(settings, label, t);
    slots.iter().rev().find(|(_, s)| *s <= t).copied().unwrap_or(slots[0])
}

/// The first slot after `t`.
pub fn next_slot(settings: &BackupSettings, label: &str, t: DateTime<Utc>) -> DateTime<Utc> {
    let slots = slots_around(settings, label, t);
    slots.iter().find(|(_, s)| *s > t).map_or(t + TimeDelta::days(1), |(_, s)| *s)
}

/// The base of differentials: the latest full that completed and is kept.
pub fn base(runs: &[Run]) -> Option<&Run> {
    runs.iter().filter(|r| r.kind == Kind::Full && r.state == RunState::Ok).max_by_key(|r| r.started)
}

/// What is due for the server `label` at `now`, given its runs (any order). Contract §7:
///
/// - One run at a time: nothing while one is running.
/// - A server without a completed full gets one at once (its first backup does not wait a day).
/// - Each slot gets one run: the full on `full_day`, a differential against the latest full on
///   the other days. A slot that passed without a run (the engine was down) is caught up once:
///   only the latest slot, never the older ones (those count as missed).
/// - A full that failed or was cut off is retried at the next slot, whatever its day, and every
///   slot until a full succeeds; when a full fails in a slot and an older full exists, a
///   differential against that older full is taken in the same slot, so the day is still covered.
/// - A run that was cut off (`interrupted`) is retried at the next slot, not at once.
pub fn schedule(settings: &BackupSettings, label: &str, runs: &[Run], now: DateTime<Utc>) -> Schedule {
    let (day, slot) = last_slot(settings, label, now);
    let next = next_slot(settings, label, now);
    let answer = |due| Schedule { due, slot, next };
    if runs.iter().any(|r| r.state == RunState::Running) {
        return answer(Due::Nothing);
    }
    let base = base(runs);
    let in_slot: Vec<&Run> = runs.iter().filter(|r| r.started >= slot).collect();
    if !in_slot.is_empty() {
        let fallback = in_slot.iter().all(|r| r.kind == Kind::Full && !r.state.good())
            && in_slot.iter().any(|r| r.state == RunState::Failed);
        return match base {
            Some(b) if fallback => answer(Due::Differential { base: b.generation }),
            _ => answer(Due::Nothing),
        };
    }
    let Some(base) = base else { return answer(Due::Full) };
    let last_full_attempt = runs.iter().filter(|r| r.kind == Kind::Full).max_by_key(|r| r.started);
    let full_failed_since = last_full_attempt.is_some_and(|f| f.started > base.started);
    if day.weekday() == settings.full_day || full_failed_since {
        answer(Due::Full)
    } else {
        answer(Due::Differential { base: base.generation })
    }
}

/// The generations to prune now (their numbers): once a full completed, every generation older
/// than it (the previous week's set); and of that full's differentials, all but the newest
/// [`KEEP_DIFFERENTIALS`]. Nothing is pruned before a new full completed, so while it runs two
/// fulls exist. Failed and interrupted runs are never generations: nothing to prune there.
pub fn prune(runs: &[Run]) -> Vec<i64> {
    let Some(base) = base(runs) else { return Vec::new() };
    let mut diffs: Vec<&Run> = runs
        .iter()
        .filter(|r| r.state == RunState::Ok && r.kind == Kind::Differential && r.started > base.started)
        .collect();
    diffs.sort_by_key(|r| std::cmp::Reverse(r.started));
    let mut out: Vec<i64> = runs
        .iter()
        .filter(|r| r.state == RunState::Ok && r.started < base.started)
        .map(|r| r.generation)
        .collect();
    out.extend(diffs.iter().skip(KEEP_DIFFERENTIALS).map(|r| r.generation));
    out.sort_unstable();
    out
}

// ---- the backup incident ---------------------------------------------------------------------

/// The slots in a row, newest first, whose runs all failed or were cut off, or that passed
/// without a run ("missed"). The latest slot without a run yet is not counted (it is due, not
/// missed); slots before the server's first run are not counted. The engine asks this only of
/// servers that are backed up (eligible, in plan, a store set).
pub fn consecutive_failures(settings: &BackupSettings, label: &str, runs: &[Run], now: DateTime<Utc>) -> u32 {
    let Some(first) = runs.iter().map(|r| r.started).min() else { return 0 };
    let (mut day, mut slot) = last_slot(settings, label, now);
    let mut end = now + TimeDelta::seconds(1);
    let mut count = 0;
    for k in 0..400 {
        if end <= first {
            break;
        }
        let here: Vec<&Run> = runs.iter().filter(|r| r.started >= slot && r.started < end).collect();
        if here.iter().any(|r| r.state.good() || r.state == RunState::Running) {
            break;
        }
        if !here.is_empty() || k > 0 {
            count += 1;
        }
        let Some(prev) = day.pred_opt() else { break };
        end = slot;
        day = prev;
        slot = slot_on(settings, label, day);
    }
    count
}

/// The backup incident's level for `failures` in a row: Lv.2 from [`LV2_AFTER`], Lv.3 from
/// [`LV3_AFTER`]. It is NOC-internal: shown on consoles and in the monthly report, never mailed
/// to the customer, never downtime.
pub fn incident_level(failures: u32) -> Option<Level> {
    if failures >= LV3_AFTER {
        Some(Level::Minor)
    } else if failures >= LV2_AFTER {
        Some(Level::Warning)
    } else {
        None
    }
}

/// Whether the backup incident mails the customer: never (contract §7).
pub const INCIDENT_MAILED: bool = false;

/// The trigger name of the backup incident (check id [`CHECK_ID`]).
pub fn trigger(label: &str) -> String {
    format!("{label} バックアップ失敗")
}

// ---- commands --------------------------------------------------------------------------------

/// Exit statuses of the commands besides tar's own (0 fine — tar's 1, "a file changed as we
/// read it", is turned into 0 —, 2 tar's fatal error). `sudo -n` refusing exits 1.
pub const EXIT_WORK_DIR: i32 = 70;
pub const EXIT_SNAPSHOT: i32 = 71;
pub const EXIT_MYSQLDUMP: i32 = 72;
pub const EXIT_PG_DUMPALL: i32 = 73;
pub const EXIT_TARGET_EXISTS: i32 = 74;
pub const EXIT_TARGET: i32 = 75;

/// What the operator reads for a command's exit status (`stderr`: what it printed, shown).
pub fn exit_reason(code: i32, stderr: &str) -> String {
    let said = stderr.lines().rev().find(|l| !l.trim().is_empty()).map(visible).unwrap_or_default();
    let what = match code {
        0 => return "ok".into(),
        1 if stderr.contains("sudo:") => "sudo refused to run the command (sudo -n: no password can be typed; the NOC's sudoers rule must allow it)",
        2 => "tar stopped with a fatal error",
        EXIT_WORK_DIR => "the work directory /var/backups/anshin-noc could not be created",
        EXIT_SNAPSHOT => "the full's snapshot could not be written on the server",
        EXIT_MYSQLDUMP => "mysqldump --single-transaction --all-databases failed",
        EXIT_PG_DUMPALL => "pg_dumpall failed",
        EXIT_TARGET_EXISTS => "the restore target exists: choose a new directory",
        EXIT_TARGET => "the restore target could not be created or is not a directory",
        126 | 127 => "a program of the command is missing or cannot run (tar, sh, sudo?)",
        _ => "the command failed",
    };
    format!("{what} (exit {code}): {said}")
}

/// The server side of one backup run.
#[derive(Debug, Clone, Copy)]
pub struct BackupJob<'a> {
    pub kind: Kind,
    pub paths: &'a BackupPaths,
    /// The server's services: mysql and postgresql get a dump first.
    pub services: &'a [Service],
    /// `ssh.sudo`: the whole command runs under `sudo -n`.
    pub sudo: bool,
}

/// Where the commands act: `/` and [`WORK_DIR`] on a server; a test's own directories.
#[derive(Debug, Clone, Copy)]
struct Layout<'a> {
    root: &'a str,
    work: &'a str,
}

const SERVER: Layout<'static> = Layout { root: "/", work: WORK_DIR };

/// The archive member of a server path: `.` for `/`, `./srv` for `/srv` (every member name in
/// the archives starts `./`, so excludes, restores of a sub-path and both forms of include agree).
fn member(path: &str) -> String {
    if path == "/" {
        ".".into()
    } else {
        format!(".{path}")
    }
}

const PRELUDE: &str = "set -u\nLC_ALL=C; export LC_ALL\nPATH=\"$PATH:/usr/sbin:/sbin:/usr/bin:/bin\"; export PATH\n\
n=''\ncommand -v nice >/dev/null 2>&1 && n='nice -n 19'\ncommand -v ionice >/dev/null 2>&1 && n=\"$n ionice -c 2 -n 7\"\n";

/// `sh -c SCRIPT`, under `sudo -n` when asked: the account's login shell only starts `sh`.
fn wrap(script: &str, sudo: bool) -> String {
    let sh = format!("sh -c {}", sh_quote(script));
    if sudo {
        format!("sudo -n {sh}")
    } else {
        sh
    }
}

/// The command of one backup run. Its stdout is the tar archive (the engine streams it into the
/// store, zstd-compressed on the NOC side); its stderr tar's warnings (unreadable files are
/// warnings: `--ignore-failed-read`, counted, not a failed run).
///
/// The snapshot file (`--listed-incremental`) lives on the NOC: a **full** starts without one
/// (level 0) and leaves the new one in [`WORK_DIR`]`/snapshot`, which the engine fetches with
/// [`snapshot_fetch_command`] after the run and keeps beside the full. A **differential** (level 1)
/// gets the full's snapshot on its **stdin**: the command first writes stdin to
/// [`WORK_DIR`]`/snapshot` (the engine sends the file and closes stdin), archives against it,
/// and removes it. Databases are dumped first into [`WORK_DIR`] (included in the archive).
pub fn backup_command(job: &BackupJob) -> String {
    wrap(&backup_script(job, &SERVER), job.sudo)
}

fn backup_script(job: &BackupJob, at: &Layout) -> String {
    let mut s = String::from(PRELUDE);
    s.push_str("umask 077\n");
    s.push_str(&format!("w={}\n", sh_quote(at.work)));
    s.push_str(&format!(
        "mkdir -p \"$w\" && chmod 700 \"$w\" || {{ echo \"anshin-noc: cannot create $w\" >&2; exit {EXIT_WORK_DIR}; }}\n"
    ));
    match job.kind {
        Kind::Full => s.push_str("rm -f \"$w/snapshot\"\n"),
        Kind::Differential => s.push_str(&format!(
            "cat > \"$w/snapshot\" || {{ echo 'anshin-noc: cannot write the snapshot' >&2; exit {EXIT_SNAPSHOT}; }}\n"
        )),
    }
    let dumps = [
        (Service::Mysql, "mysql", "mysqldump --single-transaction --all-databases".to_string(), EXIT_MYSQLDUMP),
        (
            Service::Postgresql,
            "postgresql",
            "if [ \"$(id -u)\" = 0 ]; then (cd / && su -s /bin/sh postgres -c pg_dumpall); else pg_dumpall; fi".into(),
            EXIT_PG_DUMPALL,
        ),
    ];
    let mut dumped = false;
    for (svc, name, cmd, code) in dumps {
        if job.services.contains(&svc) {
            dumped = true;
            s.push_str(&format!(
                "{{ {cmd}; }} > \"$w/{name}.sql.part\" && mv -f \"$w/{name}.sql.part\" \"$w/{name}.sql\" || \
                 {{ echo 'anshin-noc: {name} dump failed' >&2; rm -f \"$w/{name}.sql.part\"; exit {code}; }}\n"
            ));
        }
    }
    let mut members: Vec<String> = job.paths.include.iter().map(|p| member(p)).collect();
    if dumped && !job.paths.include.iter().any(|i| is_under(WORK_DIR, i)) {
        members.push(member(WORK_DIR));
    }
    let mut excludes: Vec<String> = job.paths.excludes().iter().map(|e| member(e)).collect();
    excludes.push(member(&format!("{WORK_DIR}/snapshot")));
    excludes.push(member(&format!("{WORK_DIR}/mysql.sql.part")));
    excludes.push(member(&format!("{WORK_DIR}/postgresql.sql.part")));
    s.push_str(&format!(
        "$n tar --create --file=- --directory={} --listed-incremental=\"$w/snapshot\" --one-file-system \
         --sparse --ignore-failed-read --anchored --no-wildcards",
        sh_quote(at.root)
    ));
    for e in excludes {
        s.push_str(&format!(" --exclude={}", sh_quote(&e)));
    }
    s.push_str(" --");
    for m in members {
        s.push(' ');
        s.push_str(&sh_quote(&m));
    }
    s.push_str("\nrc=$?\nif [ \"$rc\" -eq 1 ]; then rc=0; fi\n");
    if job.kind == Kind::Differential {
        s.push_str("rm -f \"$w/snapshot\"\n");
    }
    s.push_str("exit \"$rc\"\n");
    s
}

/// After a full completed: prints the new snapshot file (stdout, streamed like an archive) and
/// removes it from the server.
pub fn snapshot_fetch_command(sudo: bool) -> String {
    wrap(&snapshot_fetch_script(&SERVER), sudo)
}

fn snapshot_fetch_script(at: &Layout) -> String {
    format!(
        "w={}\ncat \"$w/snapshot\" || exit {EXIT_SNAPSHOT}\nrm -f \"$w/snapshot\"\n",
        sh_quote(at.work)
    )
}

/// Where a restore goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreTarget {
    /// A directory that must not exist yet (checked path), default [`default_restore_dir`].
    Dir(String),
    /// Over the live files, from `/` (the operator confirmed twice).
    InPlace,
}

/// `/var/restore/YYYYMMDD-HHMM` of `now` in Japan time.
pub fn default_restore_dir(now: DateTime<Utc>) -> String {
    format!("{RESTORE_ROOT}/{}", now.with_timezone(&Tokyo).format("%Y%m%d-%H%M"))
}

/// One step of a restore: a restore extracts the full, then (unless the full's own day is
/// restored) the chosen differential, each archive sent on the command's stdin (the engine
/// decompresses it on the NOC side).
#[derive(Debug, Clone, Copy)]
pub struct RestoreJob<'a> {
    pub step: Kind,
    pub target: &'a RestoreTarget,
    /// Only this path (checked) and what is under it.
    pub path: Option<&'a str>,
    pub sudo: bool,
}

/// The command of one restore step. Both steps extract with `--listed-incremental=/dev/null`,
/// so the differential's step removes what was removed before it was taken. The full's step
/// into a directory refuses a target that exists ([`EXIT_TARGET_EXISTS`]); the differential's
/// step needs it.
pub fn restore_command(job: &RestoreJob) -> String {
    wrap(&restore_script(job, &SERVER), job.sudo)
}

fn restore_script(job: &RestoreJob, at: &Layout) -> String {
    let mut s = String::from(PRELUDE);
    match job.target {
        RestoreTarget::InPlace => s.push_str(&format!("t={}\n", sh_quote(at.root))),
        RestoreTarget::Dir(dir) => {
            s.push_str(&format!("t={}\n", sh_quote(dir)));
            if job.step == Kind::Full {
                s.push_str(&format!(
                    "if [ -e \"$t\" ] || [ -L \"$t\" ]; then echo \"anshin-noc: $t exists\" >&2; exit {EXIT_TARGET_EXISTS}; fi\n\
                     mkdir -p \"$t\" && chmod 700 \"$t\" || exit {EXIT_TARGET}\n"
                ));
            } else {
                s.push_str(&format!(
                    "[ -d \"$t\" ] && [ ! -L \"$t\" ] || {{ echo \"anshin-noc: $t is not a directory\" >&2; exit {EXIT_TARGET}; }}\n"
                ));
            }
        }
    }
    s.push_str(
        "$n tar --extract --file=- --directory=\"$t\" --listed-incremental=/dev/null --preserve-permissions \
         --anchored --no-wildcards",
    );
    if let Some(p) = job.path {
        s.push_str(&format!(" -- {}", sh_quote(&member(p))));
    }
    s.push('\n');
    s
}
