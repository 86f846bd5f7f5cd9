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
//!
//! The database dumps (first in [`backup_command`]) run as root (a root login, or
//! `ssh.sudo = true` with a `NOPASSWD` sudoers rule for the NOC's account, as the archive itself
//! needs) and reach each database the way its own administrator does on the server, over the
//! server's default socket: a typical server needs nothing more for them.
//!
//! - MySQL/MariaDB: `mysqldump` as the OS user root over the client's default socket
//!   (`/run/mysqld/mysqld.sock` on Debian, `/var/lib/mysql/mysql.sock` on the Red Hat family, as
//!   the server's own `my.cnf` says), with root's home as `HOME` even under sudo. Root gets in by
//!   `unix_socket` authentication (Debian 9 on, MariaDB 10.4 on), by `/root/.my.cnf`
//!   (`[client]` user and password: what a server whose MySQL root has a password needs,
//!   CentOS/RHEL before MariaDB 10.4 mostly), or, without that file, by
//!   `/etc/mysql/debian.cnf` (Debian 7/8's maintenance account).
//! - PostgreSQL: `pg_dumpall` as the OS user postgres (`su -s /bin/sh postgres`, present on every
//!   system unlike `sudo` or `runuser`), over the default socket directory, by the `peer`/`ident`
//!   rule every Debian and Red Hat `pg_hba.conf` has for it (Debian's `pg_wrapper` also picks the
//!   cluster's port).
//!
//! Without root (no sudo, an ordinary account) both run as that account, which then needs its
//! own `~/.my.cnf` and a PostgreSQL superuser role of its name.
//! Must not know: SSH, the store, files or clocks. Times are parameters; the engine runs the
//! commands, streams and compresses the archives, keeps the snapshot files and records the runs.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeDelta, Utc};
use chrono_tz::Asia::Tokyo;

use crate::calendar::jst_at;
use crate::check::Service;
use crate::contract::jst_day;
use crate::fleet::{Fleet, Server};
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
/// A server whose newest generation is older than this shows the tile's backup badge.
pub const STALE_AFTER_HOURS: i64 = 48;
/// The check id of the backup incident (store, API, CLI).
pub const CHECK_ID: &str = crate::check::BACKUP_CHECK;
/// Where the commands keep their work on the server: the database dumps (backed up with the
/// rest) and the snapshot file of the run in progress. Root-owned, mode 0700.
pub const WORK_DIR: &str = "/var/backups/anshin-noc";
/// Where restores go unless the operator names another directory.
pub const RESTORE_ROOT: &str = "/var/restore";
pub use crate::backup_settings::*;

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

/// [`eligibility`] of a fleet's server at `at`: the plan in force then (`Customer::plan_at`,
/// contract §9.1) and the server's included paths.
pub fn eligibility_at(fleet: &Fleet, server: &Server, at: DateTime<Utc>, measured: &[PathUsage]) -> Eligibility {
    eligibility(fleet.plan_of_at(server, at), &server.backup.include, measured)
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
    pub fn good(self) -> bool {
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
    let mut out: Vec<i64> =
        runs.iter().filter(|r| r.state == RunState::Ok && r.started < base.started).map(|r| r.generation).collect();
    out.extend(diffs.iter().skip(KEEP_DIFFERENTIALS).map(|r| r.generation));
    out.sort_unstable();
    out
}

/// The generations of a server that is no longer entitled (removed from the fleet, or its plan
/// in force without backups) are kept this many days after its newest run, then deleted.
pub const KEEP_AFTER_LEAVING_DAYS: i64 = 30;

/// The generations to delete now of a server `entitled` or not (contract §7): none while it is
/// entitled; all it keeps once its newest run is more than [`KEEP_AFTER_LEAVING_DAYS`] old.
pub fn expired_generations(runs: &[Run], entitled: bool, now: DateTime<Utc>) -> Vec<i64> {
    if entitled {
        return Vec::new();
    }
    let Some(newest) = runs.iter().map(|r| r.finished.unwrap_or(r.started)).max() else { return Vec::new() };
    if now - newest <= TimeDelta::days(KEEP_AFTER_LEAVING_DAYS) {
        return Vec::new();
    }
    runs.iter().filter(|r| r.state == RunState::Ok).map(|r| r.generation).collect()
}

// ---- the backup store's space ----------------------------------------------------------------

/// The store's file system used at or above this share warns on every console.
pub const STORE_WARN_PERCENT: u64 = 80;
/// Room kept free beyond a run's expected size.
pub const STORE_MARGIN_BYTES: u64 = 64 * 1024 * 1024;

/// The backup store's file system: its size and the bytes free to the NOC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSpace {
    pub total: u64,
    pub free: u64,
}

impl StoreSpace {
    /// The share used, in whole percent.
    pub fn used_percent(&self) -> u64 {
        if self.total == 0 {
            return 0;
        }
        self.total.saturating_sub(self.free).saturating_mul(100) / self.total
    }

    /// Whether consoles warn ([`STORE_WARN_PERCENT`]).
    pub fn warns(&self) -> bool {
        self.used_percent() >= STORE_WARN_PERCENT
    }
}

/// The store bytes a run of `kind` is expected to take: the largest of the server's earlier runs
/// of that kind (`previous`: kind and stored bytes) and a quarter more; 0 when none is known.
pub fn expected_bytes(kind: Kind, previous: &[(Kind, u64)]) -> u64 {
    let largest = previous.iter().filter(|(k, _)| *k == kind).map(|(_, b)| *b).max().unwrap_or(0);
    largest.saturating_add(largest / 4)
}

/// `1.2 GB`, `340 MB`, `12 kB` (decimal, as `df -H`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 4] =
        [("TB", 1_000_000_000_000), ("GB", 1_000_000_000), ("MB", 1_000_000), ("kB", 1_000)];
    for (unit, size) in UNITS {
        if n >= size {
            return format!("{:.1} {unit}", n as f64 / size as f64);
        }
    }
    format!("{n} B")
}

/// Whether a run expected to take `need` bytes fits in the store with the margin; the refusal
/// names the numbers.
pub fn fits(space: &StoreSpace, kind: Kind, need: u64) -> Result<(), String> {
    let want = need.saturating_add(STORE_MARGIN_BYTES);
    if space.free >= want {
        return Ok(());
    }
    Err(format!(
        "the backup store has {} free of {} ({} % used); this {} needs about {} (its last one's size, a quarter more, and {} spare): free space in the store or move it",
        human_bytes(space.free),
        human_bytes(space.total),
        space.used_percent(),
        kind.as_str(),
        human_bytes(need),
        human_bytes(STORE_MARGIN_BYTES)
    ))
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

/// Why a backed-up server's tile shows the backup badge (contract §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attention {
    /// Its latest finished run failed or was cut off.
    LastFailed,
    /// Its newest generation finished more than [`STALE_AFTER_HOURS`] ago.
    Stale,
}

impl Attention {
    /// `last_failed` | `stale`.
    pub fn as_str(self) -> &'static str {
        match self {
            Attention::LastFailed => "last_failed",
            Attention::Stale => "stale",
        }
    }
}

/// The tile's backup badge, if any: the latest finished run failed or was cut off, or the newest
/// good run is older than [`STALE_AFTER_HOURS`]. A server never backed up yet has no badge (its
/// first slot is due; missed slots count only after its first run, `consecutive_failures`).
pub fn attention(runs: &[Run], now: DateTime<Utc>) -> Option<Attention> {
    let latest = runs.iter().filter(|r| r.state != RunState::Running).max_by_key(|r| r.started)?;
    if !latest.state.good() {
        return Some(Attention::LastFailed);
    }
    let newest_good = runs.iter().filter(|r| r.state.good()).filter_map(|r| r.finished.or(Some(r.started))).max()?;
    (now - newest_good > TimeDelta::hours(STALE_AFTER_HOURS)).then_some(Attention::Stale)
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

/// The last thing a command printed: its last non-empty line, joined with the line before when
/// it is an indented continuation (PostgreSQL's `\tIs the server running…` follows the line
/// naming the socket).
fn last_said(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.as_slice() {
        [.., before, last] if last.starts_with([' ', '\t']) => format!("{} {}", visible(before), visible(last.trim())),
        [.., last] => visible(last).into_owned(),
        [] => String::new(),
    }
}

/// What the operator reads for a command's exit status (`stderr`: what it printed, shown).
pub fn exit_reason(code: i32, stderr: &str) -> String {
    let said = last_said(stderr);
    let what = match code {
        0 => return "ok".into(),
        1 if stderr.contains("sudo:") => {
            "sudo refused to run the command (sudo -n: no password can be typed; the NOC's sudoers rule must allow it)"
        }
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
    /// The kernel's list of mounts.
    mounts: &'a str,
}

const SERVER: Layout<'static> = Layout { root: "/", work: WORK_DIR, mounts: "/proc/mounts" };

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
    let dumped = DUMPS.iter().any(|d| job.services.contains(&d.service));
    s.push_str(&dump_script(job.services));
    let mut members: Vec<String> = job.paths.include.iter().map(|p| member(p)).collect();
    if dumped && !job.paths.include.iter().any(|i| is_under(WORK_DIR, i)) {
        members.push(member(WORK_DIR));
    }
    let mut excludes: Vec<String> = job.paths.excludes().iter().map(|e| member(e)).collect();
    excludes.push(member(&format!("{WORK_DIR}/snapshot")));
    excludes.extend(DUMPS.iter().map(|d| member(&format!("{WORK_DIR}/{}.sql.part", d.name))));
    excludes.push(member(&format!("{WORK_DIR}/{MOUNTS_FILE}")));
    s.push_str(&uncrossed_mounts_script(&job.paths.include, at.mounts));
    s.push_str(&format!(
        "$n tar --create --file=- --directory={} --listed-incremental=\"$w/snapshot\" --one-file-system \
         --sparse --ignore-failed-read --anchored --no-wildcards",
        sh_quote(at.root)
    ));
    for e in excludes {
        s.push_str(&format!(" --exclude={}", sh_quote(&e)));
    }
    s.push_str(&format!(" --exclude-from=\"$w/{MOUNTS_FILE}\""));
    s.push_str(" --");
    for m in members {
        s.push(' ');
        s.push_str(&sh_quote(&m));
    }
    s.push_str(&format!("\nrc=$?\nif [ \"$rc\" -eq 1 ]; then rc=0; fi\nrm -f \"$w/{MOUNTS_FILE}\"\n"));
    if job.kind == Kind::Differential {
        s.push_str("rm -f \"$w/snapshot\"\n");
    }
    s.push_str("exit \"$rc\"\n");
    s
}

/// One database dump: the service that asks for it, its file in the work directory
/// (`NAME.sql`, written as `NAME.sql.part` first), the command and its exit status on failure.
struct Dump {
    service: Service,
    name: &'static str,
    command: &'static str,
    exit: i32,
}

/// The dumps in the order they run. `mysqldump` (or MariaDB 11's `mariadb-dump` where the old
/// name is gone) as the current user, with Debian's maintenance account when root has no
/// `~/.my.cnf`; `pg_dumpall` as postgres when root (`cd /`: postgres may not read root's
/// directory). See the module header for what the server needs.
const DUMPS: [Dump; 2] = [
    Dump {
        service: Service::Mysql,
        name: "mysql",
        command: "d=mysqldump; command -v mysqldump >/dev/null 2>&1 || d=mariadb-dump\n\
                  o=''; if [ ! -e \"${HOME:-/nonexistent}/.my.cnf\" ] && [ -r /etc/mysql/debian.cnf ]; then \
                  o=--defaults-extra-file=/etc/mysql/debian.cnf; fi\n\
                  \"$d\" $o --single-transaction --all-databases",
        exit: EXIT_MYSQLDUMP,
    },
    Dump {
        service: Service::Postgresql,
        name: "postgresql",
        command: "if [ \"$(id -u)\" = 0 ]; then (cd / && su -s /bin/sh postgres -c pg_dumpall); else pg_dumpall; fi",
        exit: EXIT_PG_DUMPALL,
    },
];

/// The dumps of the server's databases into the work directory `$w`, before the archive: each
/// written whole or not at all (`.part`, then renamed), a failure ending the run with the dump's
/// exit status and the program's own message as the last line of stderr (what
/// [`exit_reason`] shows). A dump left by a service the server no longer has is removed, so an
/// old database is never archived as if current. As root, `HOME` is root's own (sudo may keep
/// the caller's), where `mysqldump` reads `.my.cnf`.
fn dump_script(services: &[Service]) -> String {
    let mut s = String::new();
    if services.contains(&Service::Mysql) {
        s.push_str(
            "if [ \"$(id -u)\" = 0 ]; then h=$(getent passwd 0 | cut -d: -f6); HOME=${h:-/root}; export HOME; fi\n",
        );
    }
    for d in &DUMPS {
        let (name, file) = (d.name, format!("\"$w/{}.sql\"", d.name));
        if !services.contains(&d.service) {
            s.push_str(&format!("rm -f {file}\n"));
            continue;
        }
        s.push_str(&format!(
            "{{ {}\n}} > \"$w/{name}.sql.part\" && mv -f \"$w/{name}.sql.part\" {file} || \
             {{ rm -f \"$w/{name}.sql.part\"; exit {}; }}\n",
            d.command, d.exit
        ));
    }
    s
}

/// The file, in the work directory, listing the mount points a run does not cross.
const MOUNTS_FILE: &str = "uncrossed-mounts";

/// Writes `$w/uncrossed-mounts`: the archive members of the mount points (read from
/// `/proc/mounts`, `\040`-style escapes undone) that lie under an included path without being
/// included themselves. They are excluded, not only left uncrossed: tar's `--one-file-system`
/// alone records such a directory as empty, and a restore with `--listed-incremental=/dev/null`
/// over the live tree would then empty the mounted file system (`/boot`, `/home`). Excluded, the
/// directory is listed as "not dumped" and a restore leaves it alone. A mount point with a line
/// break in its name cannot be listed and is left to `--one-file-system`.
fn uncrossed_mounts_script(include: &[String], mounts: &str) -> String {
    let quoted = |p: &String| sh_quote(p);
    let included: Vec<String> = include.iter().map(quoted).collect();
    let under: Vec<String> =
        include.iter().map(|p| if p == "/" { "'/'*".to_string() } else { format!("{}/*", quoted(p)) }).collect();
    let mounts = sh_quote(mounts);
    format!(
        ": > \"$w/{MOUNTS_FILE}\"\n\
         if [ -r {mounts} ]; then\n\
         while read -r _ m _; do\n\
         m=$(printf '%b' \"$(printf '%s' \"$m\" | sed 's/\\\\\\([0-7][0-7][0-7]\\)/\\\\0\\1/g')\")\n\
         case \"$m\" in {}) continue ;; *'\n'*) continue ;; esac\n\
         case \"$m\" in {}) printf '.%s\\n' \"$m\" ;; esac\n\
         done < {mounts} > \"$w/{MOUNTS_FILE}\"\n\
         fi\n",
        included.join("|"),
        under.join("|"),
    )
}

/// After a full completed: prints the new snapshot file (stdout, streamed like an archive) and
/// removes it from the server.
pub fn snapshot_fetch_command(sudo: bool) -> String {
    wrap(&snapshot_fetch_script(&SERVER), sudo)
}

fn snapshot_fetch_script(at: &Layout) -> String {
    format!("w={}\ncat \"$w/snapshot\" || exit {EXIT_SNAPSHOT}\nrm -f \"$w/snapshot\"\n", sh_quote(at.work))
}

/// Where a restore goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreTarget {
    /// A directory that must not exist yet (checked path), default [`default_restore_dir`].
    Dir(String),
    /// Over the live files, from `/` (the operator confirmed twice).
    InPlace,
}

impl RestoreTarget {
    /// An operator's target directory, checked ([`check_path`]); `/` is refused (restoring over
    /// the live files is [`RestoreTarget::InPlace`], which needs its own confirmation).
    pub fn dir(path: &str) -> Result<RestoreTarget, String> {
        match check_path(path)? {
            root if root == "/" => {
                Err("the target \"/\" is the live system: restore in place instead (it asks twice)".into())
            }
            dir => Ok(RestoreTarget::Dir(dir)),
        }
    }
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
    /// Only this path and what is under it (checked by [`check_path`] first).
    pub path: Option<&'a str>,
    pub sudo: bool,
}

/// The command of one restore step. Both steps extract with `--listed-incremental=/dev/null`,
/// so the differential's step removes what was removed before it was taken. The full's step
/// into a directory refuses a target that exists ([`EXIT_TARGET_EXISTS`]); the differential's
/// step needs it. A sub-path that is a single file unchanged since the full is not in the
/// differential's archive: tar says `Not found in archive` and exits 2, which the engine reads as
/// "as in the full" (directories are always in a differential, so a directory never does this).
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

// ---- the customer's mail when a requested restore is done -------------------------------------

/// What the restore-done mail says.
#[derive(Debug, Clone)]
pub struct RestoreDone<'a> {
    pub brand: &'a str,
    pub customer: &'a str,
    pub label: &'a str,
    pub fqdn: &'a str,
    /// The generation restored: when it was taken, its kind.
    pub taken: DateTime<Utc>,
    pub kind: Kind,
    /// Only this path of it, or everything.
    pub path: Option<&'a str>,
    /// Where it went: a directory on the server, or in place.
    pub target: &'a RestoreTarget,
    pub finished: DateTime<Utc>,
    /// Who asked (the customer's side, as the operator recorded it).
    pub requested_by: &'a str,
}

/// The customer's mail when a restore they asked for is done (contract §7):
/// `[Speever]バックアップデータのリストア完了のお知らせ（{label}）`.
pub fn restore_done_mail(m: &RestoreDone) -> Result<crate::mail::RenderedMail, crate::mail::MailError> {
    use crate::mail::{check_fleet_text, check_line, format_jst, FleetText};
    check_fleet_text(FleetText::HostLabel, m.label)?;
    check_fleet_text(FleetText::Fqdn, m.fqdn)?;
    check_line("requested_by", m.requested_by)?;
    let kind = match m.kind {
        Kind::Full => "フル",
        Kind::Differential => "差分",
    };
    let target = match m.target {
        RestoreTarget::Dir(d) => d.clone(),
        RestoreTarget::InPlace => "元の場所（上書き）".into(),
    };
    let lines = vec![
        "ご依頼いただきましたバックアップデータのリストア作業が完了いたしましたので、お知らせいたします。".to_string(),
        String::new(),
        format!("対象サーバー：{}（{}）", m.label, m.fqdn),
        format!("リストアしたバックアップ：{} 時点（{kind}）", crate::mail::format_jst(m.taken)),
        format!("対象パス：{}", m.path.map(visible).as_deref().unwrap_or("全体")),
        format!("リストア先：{}", visible(&target)),
        format!("作業完了日時：{}", format_jst(m.finished)),
        format!("ご依頼者：{}", visible(m.requested_by)),
        String::new(),
        "内容をご確認いただき、ご不明な点がございましたらサポート窓口までお問い合わせください。".into(),
    ];
    crate::mail::written_mail(
        m.brand,
        &format!("バックアップデータのリストア完了のお知らせ（{}）", m.label),
        m.customer,
        &lines,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::ParseError;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn paths_are_absolute_plain_and_normalized() {
        let table: &[(&str, Result<&str, &str>)] = &[
            ("/", Ok("/")),
            ("/srv", Ok("/srv")),
            ("/srv/", Ok("/srv")),
            ("//srv//www/", Ok("/srv/www")),
            ("/srv/my files/it's", Ok("/srv/my files/it's")),
            ("/srv/..data", Ok("/srv/..data")),
            ("srv", Err("is not an absolute path")),
            ("", Err("is not an absolute path")),
            ("/srv/../etc", Err("\"..\" step")),
            ("/srv/./x", Err("\".\" or")),
            ("/srv/a\nb", Err("control character")),
            ("/srv/\u{1b}[2J", Err("control character")),
        ];
        for (p, want) in table {
            match (check_path(p), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, *w, "{p:?}"),
                (Err(got), Err(w)) => {
                    assert!(got.contains(w), "{p:?}: {got}");
                    assert!(!got.chars().any(crate::text::is_hidden), "{got:?}");
                }
                (got, _) => panic!("{p:?}: {got:?}"),
            }
        }
        assert!(check_path(&format!("/{}", "a".repeat(MAX_PATH_LEN))).unwrap_err().contains("at most 1024"));
        assert!(is_under("/srv/tmp", "/srv") && is_under("/srv", "/srv") && is_under("/x", "/"));
        assert!(!is_under("/srv2", "/srv") && !is_under("/", "/srv"));
    }

    #[test]
    fn default_excludes_yield_to_an_included_path() {
        let p = BackupPaths::default();
        assert_eq!(p.excludes(), DEFAULT_EXCLUDE.map(String::from).to_vec());
        let p = BackupPaths { include: vec!["/".into(), "/var/tmp/keep".into()], exclude: vec!["/srv/tmp".into()] };
        let ex = p.excludes();
        assert!(!ex.contains(&"/var/tmp".to_string()), "{ex:?}");
        assert!(ex.contains(&"/proc".to_string()) && ex.last().unwrap() == "/srv/tmp", "{ex:?}");
    }

    fn fs(filesystem: &str, mount: &str, bytes: u64, inodes: Option<u64>) -> Result<FsUsage, ParseError> {
        Ok(FsUsage { filesystem: filesystem.into(), mount: mount.into(), used_bytes: bytes, used_inodes: inodes })
    }

    #[test]
    fn eligibility_table() {
        let paths = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let at = |i: usize, u| PathUsage { index: i, usage: u };
        let bad = || Err(ParseError::Unreadable { field: "backed-up path", found: "\"df: no such file\"".into() });
        type Row = (Plan, Vec<String>, Vec<PathUsage>, Eligibility);
        let table: Vec<Row> = vec![
            (
                Plan::P30,
                paths(&["/"]),
                vec![at(0, fs("/dev/vda1", "/", 1, Some(1)))],
                Eligibility::NotInPlan { plan: Plan::P30 },
            ),
            (Plan::Zero, paths(&["/"]), vec![], Eligibility::NotInPlan { plan: Plan::Zero }),
            (
                Plan::P60,
                paths(&["/"]),
                vec![at(0, fs("/dev/vda1", "/", MAX_USED_BYTES, Some(MAX_USED_INODES)))],
                Eligibility::Eligible { used_bytes: MAX_USED_BYTES, used_inodes: MAX_USED_INODES },
            ),
            (
                Plan::P150,
                paths(&["/"]),
                vec![at(0, fs("/dev/vda1", "/", MAX_USED_BYTES + 1, Some(1)))],
                Eligibility::TooBig { used_bytes: MAX_USED_BYTES + 1 },
            ),
            (
                Plan::P200,
                paths(&["/"]),
                vec![at(0, fs("/dev/vda1", "/", 1, Some(MAX_USED_INODES + 1)))],
                Eligibility::TooManyInodes { used: MAX_USED_INODES + 1 },
            ),
            // Two paths on one file system count it once ...
            (
                Plan::P60,
                paths(&["/srv", "/home"]),
                vec![
                    at(0, fs("/dev/vda1", "/", 30_000_000_000, Some(300_000))),
                    at(1, fs("/dev/vda1", "/", 30_000_000_000, Some(300_000))),
                ],
                Eligibility::Eligible { used_bytes: 30_000_000_000, used_inodes: 300_000 },
            ),
            // ... two file systems are summed.
            (
                Plan::P60,
                paths(&["/", "/home"]),
                vec![
                    at(0, fs("/dev/vda1", "/", 30_000_000_000, Some(1))),
                    at(1, fs("/dev/vdb1", "/home", 30_000_000_000, Some(1))),
                ],
                Eligibility::TooBig { used_bytes: 60_000_000_000 },
            ),
            (
                Plan::P60,
                paths(&["/", "/data"]),
                vec![at(0, fs("/dev/vda1", "/", 1, Some(300_000))), at(1, fs("tmpfs", "/data", 1, Some(300_000)))],
                Eligibility::TooManyInodes { used: 600_000 },
            ),
            // No inode count (btrfs): only bytes are judged.
            (
                Plan::P60,
                paths(&["/"]),
                vec![at(0, fs("/dev/sda2", "/", 5, None))],
                Eligibility::Eligible { used_bytes: 5, used_inodes: 0 },
            ),
            (
                Plan::P60,
                paths(&["/", "/srv"]),
                vec![at(0, fs("/dev/sda2", "/", 5, None))],
                Eligibility::NotMeasured { why: "/srv: not measured yet".into() },
            ),
            (
                Plan::P60,
                paths(&["/srv"]),
                vec![at(0, bad())],
                Eligibility::NotMeasured { why: "/srv: backed-up path: cannot read \"df: no such file\"".into() },
            ),
        ];
        for (plan, include, measured, want) in table {
            assert_eq!(eligibility(plan, &include, &measured), want, "{plan} {include:?}");
        }
    }

    #[test]
    fn eligibility_follows_the_plan_in_force() {
        let text = r#"
[noc]
[[customer]]
id = "c1"
name = "顧客"
plan = "60"
notify = ["ops@example.jp"]
plan_history = [{ plan = "30", from = "2026-01-01" }, { plan = "60", from = "2026-12-01" }]
[[server]]
label = "web01"
customer = "c1"
fqdn = "web01.example.jp"
ip = "127.77.0.2"
backup = { include = ["/srv"] }
"#;
        let fleet = crate::fleet::parse(text, "f").unwrap().fleet;
        let web = fleet.server("web01").unwrap();
        let measured = [PathUsage { index: 0, usage: fs("/dev/vdb1", "/srv", 10, Some(10)) }];
        assert_eq!(
            eligibility_at(&fleet, web, t("2026-11-30T14:59:59Z"), &measured),
            Eligibility::NotInPlan { plan: Plan::P30 }
        );
        assert_eq!(
            eligibility_at(&fleet, web, t("2026-11-30T15:00:00Z"), &measured),
            Eligibility::Eligible { used_bytes: 10, used_inodes: 10 },
            "12-01 00:00 JST"
        );
        let none = eligibility_at(&fleet, web, t("2026-12-02T00:00:00Z"), &[]);
        assert_eq!(none, Eligibility::NotMeasured { why: "/srv: not measured yet".into() });
    }

    fn settings() -> BackupSettings {
        BackupSettings { store: Some("backups".into()), ..BackupSettings::default() }
    }

    #[test]
    fn slots_are_stable_and_spread_over_the_night_window() {
        assert_eq!(slot_offset_minutes("web01"), slot_offset_minutes("web01"));
        // FNV-1a is fixed: these numbers never change between machines or versions.
        let fnv = |s: &str| {
            let mut h: u64 = 0xcbf29ce484222325;
            for b in s.bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
            }
            (h % 120) as u32
        };
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..500 {
            let label = format!("web{i:03}");
            let m = slot_offset_minutes(&label);
            assert!(m < NIGHT_WINDOW_MINUTES);
            assert_eq!(m, fnv(&label));
            seen.insert(m);
        }
        assert!(seen.len() > 100, "500 servers use {} distinct minutes", seen.len());
        let s = settings();
        let day = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let slot = slot_on(&s, "web01", day);
        assert_eq!(slot, t("2026-12-05T18:00:00Z") + TimeDelta::minutes(i64::from(slot_offset_minutes("web01"))));
        assert_eq!(last_slot(&s, "web01", slot), (day, slot));
        assert_eq!(last_slot(&s, "web01", slot - TimeDelta::seconds(1)).1, slot - TimeDelta::days(1));
        assert_eq!(next_slot(&s, "web01", slot), slot + TimeDelta::days(1));
        assert_eq!(next_slot(&s, "web01", slot - TimeDelta::seconds(1)), slot);
        // A late hour plus the offset crosses midnight: still one slot a day, in order.
        let late = BackupSettings { full_hour: 23, ..settings() };
        let mut now = t("2026-12-01T00:00:00Z");
        for _ in 0..200 {
            let (_, last) = last_slot(&late, "web01", now);
            let next = next_slot(&late, "web01", now);
            assert!(last <= now && now < next && next - last == TimeDelta::days(1), "{now} {last} {next}");
            now += TimeDelta::minutes(37);
        }
    }

    fn run(generation: i64, kind: Kind, state: RunState, started: DateTime<Utc>) -> Run {
        Run { generation, kind, state, started, finished: Some(started + TimeDelta::minutes(20)) }
    }

    #[test]
    fn schedule_table() {
        use Kind::{Differential as D, Full as F};
        use RunState::{Failed, Interrupted, Ok as Good, Running};
        let s = settings();
        let label = "web01";
        // 2026-12-06 is a Sunday; slot(d) is the night slot of Japan day d.
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let slot = |d: u32| slot_on(&s, label, day(d));
        let min = TimeDelta::minutes;
        type Row = (&'static str, Vec<Run>, DateTime<Utc>, Due);
        let table: Vec<Row> = vec![
            ("a server new to backups gets a full at once", vec![], slot(2) + min(600), Due::Full),
            ("nothing while one runs", vec![run(1, F, Running, slot(6))], slot(6) + min(5), Due::Nothing),
            ("the full day's slot", vec![run(1, F, Good, slot(5))], slot(6), Due::Full),
            ("a weekday slot: a differential", vec![run(1, F, Good, slot(6))], slot(7), Due::Differential { base: 1 }),
            (
                "one run per slot",
                vec![run(1, F, Good, slot(6)), run(2, D, Good, slot(7))],
                slot(7) + min(600),
                Due::Nothing,
            ),
            (
                "missed while down: caught up once",
                vec![run(1, F, Good, slot(6))],
                slot(9) + min(600),
                Due::Differential { base: 1 },
            ),
            (
                "a failed full: a differential against the previous full in the same slot",
                vec![run(1, F, Good, slot(6)), run(2, F, Failed, slot(13))],
                slot(13) + min(30),
                Due::Differential { base: 1 },
            ),
            (
                "... once",
                vec![run(1, F, Good, slot(6)), run(2, F, Failed, slot(13)), run(3, D, Good, slot(13) + min(30))],
                slot(13) + min(60),
                Due::Nothing,
            ),
            (
                "... and the next night retries the full",
                vec![run(1, F, Good, slot(6)), run(2, F, Failed, slot(13)), run(3, D, Good, slot(13) + min(30))],
                slot(14),
                Due::Full,
            ),
            (
                "a failed first full: nothing to fall back on, the next slot retries",
                vec![run(1, F, Failed, slot(2))],
                slot(2) + min(30),
                Due::Nothing,
            ),
            ("... the next slot", vec![run(1, F, Failed, slot(2))], slot(3), Due::Full),
            (
                "an interrupted full waits for the next slot",
                vec![run(1, F, Good, slot(6)), run(2, F, Interrupted, slot(13))],
                slot(13) + min(30),
                Due::Nothing,
            ),
            (
                "... which retries it, on a weekday too",
                vec![run(1, F, Good, slot(6)), run(2, F, Interrupted, slot(13))],
                slot(14),
                Due::Full,
            ),
            (
                "an interrupted differential: the next slot",
                vec![run(1, F, Good, slot(6)), run(2, D, Interrupted, slot(7))],
                slot(8),
                Due::Differential { base: 1 },
            ),
            ("a pruned full is no base", vec![run(1, F, RunState::Pruned, slot(6))], slot(7), Due::Full),
        ];
        for (what, runs, now, want) in table {
            let got = schedule(&s, label, &runs, now);
            assert_eq!(got.due, want, "{what}");
            assert!(got.slot <= now && now < got.next, "{what}");
        }
    }

    /// The engine's loop in miniature: each night the due run is taken (it fails when `fails`
    /// says so), then pruned; the generations kept never exceed 1 full + 6 differentials, and
    /// every differential kept is newer than the full kept.
    fn simulate(days: u32, fails: impl Fn(u32, Kind) -> bool) -> Vec<Run> {
        let s = settings();
        let label = "db01";
        let first = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let mut runs: Vec<Run> = Vec::new();
        let mut next_gen = 1;
        for d in 0..days {
            let day = first + Days::new(u64::from(d));
            let mut now = slot_on(&s, label, day);
            // At most two runs per slot (a full, then the fallback differential).
            for _ in 0..3 {
                let due = schedule(&s, label, &runs, now);
                let kind = match due.due {
                    Due::Full => Kind::Full,
                    Due::Differential { base } => {
                        assert_eq!(Some(base), super::base(&runs).map(|r| r.generation));
                        Kind::Differential
                    }
                    Due::Nothing => break,
                };
                let state = if fails(d, kind) { RunState::Failed } else { RunState::Ok };
                runs.push(run(next_gen, kind, state, now));
                next_gen += 1;
                for g in prune(&runs) {
                    let r = runs.iter_mut().find(|r| r.generation == g).unwrap();
                    assert_eq!(r.state, RunState::Ok, "only generations are pruned");
                    r.state = RunState::Pruned;
                }
                let kept: Vec<&Run> = runs.iter().filter(|r| r.state == RunState::Ok).collect();
                let fulls = kept.iter().filter(|r| r.kind == Kind::Full).count();
                let diffs = kept.iter().filter(|r| r.kind == Kind::Differential).count();
                assert!(fulls <= 1 && diffs <= KEEP_DIFFERENTIALS, "day {d}: {fulls} full, {diffs} differential");
                if let Some(b) = super::base(&runs) {
                    assert!(kept.iter().all(|r| r.started >= b.started), "day {d}: a generation older than the full");
                }
                now += TimeDelta::minutes(30);
            }
        }
        runs
    }

    #[test]
    fn a_week_of_good_runs_is_one_full_and_six_differentials() {
        let runs = simulate(7, |_, _| false);
        let kinds: Vec<Kind> = runs.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [vec![Kind::Full], vec![Kind::Differential; 6]].concat());
        assert!(runs.iter().all(|r| r.state == RunState::Ok));
        // The next Sunday's full completes, then the previous set goes.
        let runs = simulate(8, |_, _| false);
        let kept: Vec<(i64, Kind)> =
            runs.iter().filter(|r| r.state == RunState::Ok).map(|r| (r.generation, r.kind)).collect();
        assert_eq!(kept, [(8, Kind::Full)]);
        assert_eq!(runs.iter().filter(|r| r.state == RunState::Pruned).count(), 7);
    }

    #[test]
    fn weeks_with_failures_keep_at_most_a_week() {
        // Fulls fail for the whole second week: differentials go on against the first full, the
        // oldest of them pruned beyond six; the third week's full cleans up.
        let runs = simulate(21, |d, k| k == Kind::Full && (7..14).contains(&d));
        let failed_fulls = runs.iter().filter(|r| r.kind == Kind::Full && r.state == RunState::Failed).count();
        assert_eq!(failed_fulls, 7, "the full is retried every night of the failing week");
        let kept: Vec<&Run> = runs.iter().filter(|r| r.state == RunState::Ok).collect();
        assert_eq!(kept[0].kind, Kind::Full);
        // A second pattern: everything fails on some days, differentials fail on others.
        simulate(60, |d, k| d % 5 == 3 || (k == Kind::Differential && d % 7 == 2) || (k == Kind::Full && d % 11 == 0));
        // And a long failure of everything, then recovery.
        simulate(40, |d, _| (10..20).contains(&d));
    }

    #[test]
    fn the_backup_incident_counts_failed_and_missed_slots() {
        use Kind::{Differential as D, Full as F};
        use RunState::{Failed, Interrupted, Ok as Good, Running};
        let s = settings();
        let label = "web01";
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let slot = |d: u32| slot_on(&s, label, day(d));
        let min = TimeDelta::minutes;
        type Row = (&'static str, Vec<Run>, DateTime<Utc>, u32, Option<Level>);
        let table: Vec<Row> = vec![
            ("no runs yet", vec![], slot(9), 0, None),
            ("all good", vec![run(1, F, Good, slot(6)), run(2, D, Good, slot(7))], slot(7) + min(60), 0, None),
            ("today's slot due, not missed", vec![run(1, F, Good, slot(6))], slot(7) + min(1), 0, None),
            ("one failure", vec![run(1, F, Good, slot(6)), run(2, D, Failed, slot(7))], slot(7) + min(60), 1, None),
            (
                "two: Lv.2",
                vec![run(1, F, Good, slot(6)), run(2, D, Failed, slot(7)), run(3, D, Interrupted, slot(8))],
                slot(8) + min(60),
                2,
                Some(Level::Warning),
            ),
            (
                "one failed, one missed: Lv.2",
                vec![run(1, F, Good, slot(6)), run(2, D, Failed, slot(7))],
                slot(9) + min(1),
                2,
                Some(Level::Warning),
            ),
            ("missed while down: four", vec![run(1, F, Good, slot(6))], slot(11), 4, Some(Level::Minor)),
            (
                "a failed full with a good fallback differential is a good night",
                vec![run(1, F, Good, slot(6)), run(2, F, Failed, slot(13)), run(3, D, Good, slot(13) + min(30))],
                slot(13) + min(60),
                0,
                None,
            ),
            (
                "a good run ends the count",
                vec![
                    run(1, F, Failed, slot(6)),
                    run(2, F, Failed, slot(7)),
                    run(3, F, Good, slot(8)),
                    run(4, D, Failed, slot(9)),
                ],
                slot(9) + min(60),
                1,
                None,
            ),
            (
                "a running one stops the count",
                vec![run(1, F, Failed, slot(6)), run(2, F, Failed, slot(7)), run(3, F, Running, slot(8))],
                slot(8) + min(5),
                0,
                None,
            ),
            (
                "fulls that never succeed",
                (0..6).map(|i| run(i + 1, F, Failed, slot(2 + i as u32))).collect(),
                slot(7) + min(60),
                6,
                Some(Level::Minor),
            ),
        ];
        for (what, runs, now, want, level) in table {
            let n = consecutive_failures(&s, label, &runs, now);
            assert_eq!(n, want, "{what}");
            assert_eq!(incident_level(n), level, "{what}");
        }
        assert_eq!(trigger("web01"), "web01 バックアップ失敗");
        assert_eq!(CHECK_ID, "backup");
        const { assert!(!INCIDENT_MAILED) };
    }

    #[test]
    fn the_badge_shows_a_failed_last_run_or_an_old_generation() {
        let run = |generation, state, started: &str, finished: Option<&str>| Run {
            generation,
            kind: Kind::Full,
            state,
            started: t(started),
            finished: finished.map(t),
        };
        let now = t("2026-12-03T12:00:00Z");
        assert_eq!(attention(&[], now), None, "never backed up: no badge yet");
        let good = run(1, RunState::Ok, "2026-12-02T18:00:00Z", Some("2026-12-02T18:30:00Z"));
        assert_eq!(attention(std::slice::from_ref(&good), now), None);
        let failed = run(2, RunState::Failed, "2026-12-03T03:00:00Z", Some("2026-12-03T03:01:00Z"));
        assert_eq!(attention(&[good.clone(), failed.clone()], now), Some(Attention::LastFailed));
        let cut = run(3, RunState::Interrupted, "2026-12-03T04:00:00Z", None);
        assert_eq!(attention(&[good.clone(), cut], now), Some(Attention::LastFailed));
        // A run going does not hide the last finished one's failure, nor does it count as good.
        let going = run(4, RunState::Running, "2026-12-03T11:00:00Z", None);
        assert_eq!(attention(&[good.clone(), failed, going.clone()], now), Some(Attention::LastFailed));
        assert_eq!(attention(&[good.clone(), going], now), None);
        // 48 hours after the newest generation finished: stale (a pruned one counts as it was).
        let old = run(1, RunState::Pruned, "2026-12-01T11:00:00Z", Some("2026-12-01T11:59:00Z"));
        assert_eq!(attention(std::slice::from_ref(&old), now), Some(Attention::Stale));
        let just = run(1, RunState::Ok, "2026-12-01T11:00:00Z", Some("2026-12-01T12:00:00Z"));
        assert_eq!(attention(std::slice::from_ref(&just), now), None, "exactly 48 h is not older");
        assert_eq!(Attention::Stale.as_str(), "stale");
    }

    #[test]
    fn a_server_that_left_keeps_its_generations_thirty_days() {
        let run = |generation, state, started: &str| Run {
            generation,
            kind: if generation == 1 { Kind::Full } else { Kind::Differential },
            state,
            started: t(started),
            finished: Some(t(started) + TimeDelta::minutes(10)),
        };
        let runs = [
            run(1, RunState::Ok, "2026-10-25T18:00:00Z"),
            run(2, RunState::Failed, "2026-10-26T18:00:00Z"),
            run(3, RunState::Ok, "2026-10-27T18:00:00Z"),
        ];
        let newest = t("2026-10-27T18:10:00Z");
        assert!(expired_generations(&runs, true, newest + TimeDelta::days(300)).is_empty(), "entitled: kept");
        assert!(expired_generations(&runs, false, newest + TimeDelta::days(30)).is_empty(), "30 days: kept");
        assert_eq!(expired_generations(&runs, false, newest + TimeDelta::days(30) + TimeDelta::seconds(1)), [1, 3]);
        assert!(expired_generations(&[], false, newest).is_empty());
    }

    #[test]
    fn the_store_must_hold_the_run_with_a_margin() {
        let prev = [(Kind::Full, 2_000_000_000), (Kind::Differential, 100_000_000), (Kind::Full, 2_400_000_000)];
        assert_eq!(expected_bytes(Kind::Full, &prev), 3_000_000_000);
        assert_eq!(expected_bytes(Kind::Differential, &prev), 125_000_000);
        assert_eq!(expected_bytes(Kind::Full, &[]), 0);
        let space = StoreSpace { total: 10_000_000_000, free: 3_000_000_000 };
        assert_eq!(space.used_percent(), 70);
        assert!(!space.warns());
        assert!(StoreSpace { total: 10_000_000_000, free: 2_000_000_000 }.warns(), "80 % used warns");
        assert!(fits(&space, Kind::Differential, 125_000_000).is_ok());
        let why = fits(&space, Kind::Full, 3_000_000_000).unwrap_err();
        assert!(why.contains("3.0 GB free of 10.0 GB (70 % used)") && why.contains("full needs about 3.0 GB"), "{why}");
        assert!(fits(&StoreSpace { total: 100, free: 10 }, Kind::Full, 0).is_err(), "the margin is always kept");
        assert_eq!(StoreSpace { total: 0, free: 0 }.used_percent(), 0);
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.5 kB");
    }

    #[test]
    fn the_restore_done_mail() {
        let target = RestoreTarget::Dir("/var/restore/20261203-0030".into());
        let m = RestoreDone {
            brand: "Speever",
            customer: "山田商事",
            label: "web01",
            fqdn: "web01.example.jp",
            taken: t("2026-12-01T18:00:00Z"),
            kind: Kind::Differential,
            path: Some("/srv/www"),
            target: &target,
            finished: t("2026-12-02T15:31:02Z"),
            requested_by: "山田様（電話）",
        };
        let mail = restore_done_mail(&m).unwrap();
        assert_eq!(mail.subject, "[Speever]バックアップデータのリストア完了のお知らせ（web01）");
        let want = "山田商事 様\n\n\
ご依頼いただきましたバックアップデータのリストア作業が完了いたしましたので、お知らせいたします。\n\n\
対象サーバー：web01（web01.example.jp）\n\
リストアしたバックアップ：2026/12/02 03:00:00 時点（差分）\n\
対象パス：/srv/www\n\
リストア先：/var/restore/20261203-0030\n\
作業完了日時：2026/12/03 00:31:02\n\
ご依頼者：山田様（電話）\n\n\
内容をご確認いただき、ご不明な点がございましたらサポート窓口までお問い合わせください。\n\n\
本メールは送信専用メールアドレスからの自動送信で送信しております。\n\
本メールへの返信につきましては受信できません。ご注意ください。\n";
        assert_eq!(mail.body, want);
        let in_place = RestoreTarget::InPlace;
        let mail =
            restore_done_mail(&RestoreDone { target: &in_place, path: None, kind: Kind::Full, ..m.clone() }).unwrap();
        assert!(mail.body.contains("対象パス：全体\nリストア先：元の場所（上書き）\n"), "{}", mail.body);
        assert!(mail.body.contains("（フル）"));
        assert!(restore_done_mail(&RestoreDone { requested_by: "a\r\nBcc: x", ..m }).is_err());
    }

    #[test]
    fn the_reason_keeps_an_indented_continuation_with_its_line() {
        let pg = "pg_dumpall: error: connection to server on socket \"/run/postgresql/.s.PGSQL.5432\" failed: No such file or directory\n\tIs the server running locally and accepting connections on that socket?\n";
        let why = exit_reason(EXIT_PG_DUMPALL, pg);
        assert!(why.contains("/run/postgresql/.s.PGSQL.5432") && why.ends_with("on that socket?"), "{why}");
        assert!(exit_reason(2, "tar: x: Cannot stat\ntar: Exiting with failure status\n")
            .ends_with("tar: Exiting with failure status"));
        assert!(exit_reason(2, "").ends_with("(exit 2): "));
    }

    #[test]
    fn restore_targets() {
        assert_eq!(default_restore_dir(t("2026-12-02T15:30:00Z")), "/var/restore/20261203-0030");
        assert_eq!(RestoreTarget::dir("/var/restore/x/"), Ok(RestoreTarget::Dir("/var/restore/x".into())));
        assert!(RestoreTarget::dir("/").unwrap_err().contains("in place"));
        assert!(RestoreTarget::dir("//").unwrap_err().contains("in place"));
        assert!(RestoreTarget::dir("restore").unwrap_err().contains("absolute"));
        assert!(RestoreTarget::dir("/var/restore/../etc").unwrap_err().contains(".."));
    }

    #[test]
    fn commands_hold_what_the_contract_says() {
        let paths =
            BackupPaths { include: vec!["/".into(), "/srv/my site".into()], exclude: vec!["/srv/it's tmp".into()] };
        let full = backup_command(&BackupJob {
            kind: Kind::Full,
            paths: &paths,
            services: &[Service::Mysql, Service::Postgresql],
            sudo: true,
        });
        assert!(full.starts_with("sudo -n sh -c '"), "{full}");
        let script = backup_script(
            &BackupJob {
                kind: Kind::Full,
                paths: &paths,
                services: &[Service::Mysql, Service::Postgresql],
                sudo: true,
            },
            &SERVER,
        );
        assert_eq!(full, format!("sudo -n sh -c {}", sh_quote(&script)));
        for want in [
            "d=mysqldump;",
            "\"$d\" $o --single-transaction --all-databases\n} > \"$w/mysql.sql.part\" && mv -f \"$w/mysql.sql.part\" \"$w/mysql.sql\" || { rm -f \"$w/mysql.sql.part\"; exit 72; }",
            "then (cd / && su -s /bin/sh postgres -c pg_dumpall); else pg_dumpall; fi\n} > \"$w/postgresql.sql.part\"",
            "exit 73; }",
            "HOME=${h:-/root}; export HOME",
            "rm -f \"$w/snapshot\"",
            "--listed-incremental=\"$w/snapshot\" --one-file-system",
            "--directory='/'",
            "--anchored --no-wildcards",
            "--exclude='./proc'",
            "--exclude='./var/restore'",
            "--exclude='./srv/it'\\''s tmp'",
            "-- '.' './srv/my site'",
            "nice -n 19",
            "ionice -c 2 -n 7",
        ] {
            assert!(script.contains(want), "{want}\n{script}");
        }
        let mysql_at = script.find("mysqldump").unwrap();
        assert!(mysql_at < script.find("tar --create").unwrap(), "the dumps come first");
        let only_srv = BackupPaths { include: vec!["/srv".into()], exclude: vec![] };
        let diff = backup_script(
            &BackupJob { kind: Kind::Differential, paths: &only_srv, services: &[Service::Mysql], sudo: false },
            &SERVER,
        );
        assert!(diff.contains("cat > \"$w/snapshot\""), "{diff}");
        assert!(diff.contains("-- './srv' './var/backups/anshin-noc'"), "the dumps are included: {diff}");
        assert!(!diff.contains("pg_dumpall"));
        assert!(diff.contains("rm -f \"$w/postgresql.sql\"\n"), "an old dump of a service gone is removed: {diff}");
        let plain =
            backup_command(&BackupJob { kind: Kind::Differential, paths: &only_srv, services: &[], sudo: false });
        assert!(plain.starts_with("sh -c '") && !plain.contains("sudo") && !plain.contains("mysqldump"));
        let r = restore_command(&RestoreJob {
            step: Kind::Full,
            target: &RestoreTarget::InPlace,
            path: Some("/srv/www"),
            sudo: true,
        });
        assert!(r.starts_with("sudo -n sh -c "), "{r}");
        let r = restore_script(
            &RestoreJob { step: Kind::Full, target: &RestoreTarget::InPlace, path: Some("/srv/www"), sudo: true },
            &SERVER,
        );
        assert!(
            r.contains("t='/'") && r.contains("--listed-incremental=/dev/null") && r.ends_with("-- './srv/www'\n"),
            "{r}"
        );
        assert!(exit_reason(1, "sudo: a password is required\n").contains("sudo refused"));
        assert!(exit_reason(EXIT_TARGET_EXISTS, "anshin-noc: /var/restore/x exists").contains("choose a new directory"));
        assert_eq!(exit_reason(0, ""), "ok");
    }

    /// The dump part run for real with a stand-in `mysqldump` first on PATH: a good dump is
    /// renamed into place whole, a stale dump of a service the server no longer has is removed;
    /// a failed one leaves no `.part`, exits [`EXIT_MYSQLDUMP`] and the reason shows the
    /// program's own last words.
    #[test]
    fn the_dump_part_keeps_whole_dumps_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("anshin-dump-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (work, bin) = (dir.join("work"), dir.join("bin"));
        std::fs::create_dir_all(&work).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        let fake = |body: &str| {
            let p = bin.join("mysqldump");
            std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        let run = || {
            let script = format!(
                "PATH={}:\"$PATH\"\n{PRELUDE}w={}\n{}",
                sh_quote(bin.to_str().unwrap()),
                sh_quote(work.to_str().unwrap()),
                dump_script(&[Service::Mysql])
            );
            sh(&script, b"")
        };
        std::fs::write(work.join("postgresql.sql"), "-- a database the server no longer runs\n").unwrap();
        fake("echo \"CREATE TABLE orders (id int);\"\necho \"INSERT INTO orders VALUES (7);\"\n");
        let (code, _, err) = run();
        assert_eq!(code, 0, "{err}");
        let dump = std::fs::read_to_string(work.join("mysql.sql")).unwrap();
        assert_eq!(dump, "CREATE TABLE orders (id int);\nINSERT INTO orders VALUES (7);\n");
        assert!(!work.join("postgresql.sql").exists(), "the stale dump is gone");

        fake("echo 'half a dump'\necho \"mysqldump: Got error: 2002: Can't connect to local server\" >&2\nexit 2\n");
        let (code, _, err) = run();
        assert_eq!(code, EXIT_MYSQLDUMP, "{err}");
        assert!(!work.join("mysql.sql.part").exists(), "no half dump is left");
        assert_eq!(std::fs::read_to_string(work.join("mysql.sql")).unwrap(), dump, "the half dump replaced nothing");
        let why = exit_reason(code, &err);
        assert!(why.starts_with("mysqldump --single-transaction --all-databases failed (exit 72)"), "{why}");
        assert!(why.ends_with("Got error: 2002: Can't connect to local server"), "{why}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The mount points under an included path, not included themselves, become excludes; the
    /// kernel's escapes (`\\040` for a space) are undone; names with a line break are skipped.
    #[test]
    fn uncrossed_mount_points_are_listed_for_exclusion() {
        let dir = std::env::temp_dir().join(format!("anshin-mounts-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mounts = dir.join("mounts");
        std::fs::write(
            &mounts,
            "/dev/vda1 / ext4 rw 0 0\nproc /proc proc rw 0 0\n/dev/vda2 /boot ext4 rw 0 0\n\
             /dev/vdb1 /srv ext4 rw 0 0\n/dev/vdc1 /srv/my\\040data ext4 rw 0 0\n\
             /dev/vdd1 /srv/it's\\134x ext4 rw 0 0\n/dev/vde1 /srv/a\\012b ext4 rw 0 0\n/dev/vdf1 /srv2 ext4 rw 0 0\n",
        )
        .unwrap();
        let list = |include: &[&str]| {
            let include: Vec<String> = include.iter().map(|s| s.to_string()).collect();
            let script = format!(
                "w={}\n{}cat \"$w/{MOUNTS_FILE}\"",
                sh_quote(dir.to_str().unwrap()),
                uncrossed_mounts_script(&include, mounts.to_str().unwrap())
            );
            let (code, out, err) = sh(&script, b"");
            assert_eq!(code, 0, "{err}");
            String::from_utf8(out).unwrap()
        };
        assert_eq!(list(&["/"]), "./proc\n./boot\n./srv\n./srv/my data\n./srv/it's\\x\n./srv2\n");
        assert_eq!(list(&["/", "/srv"]), "./proc\n./boot\n./srv/my data\n./srv/it's\\x\n./srv2\n");
        assert_eq!(list(&["/srv"]), "./srv/my data\n./srv/it's\\x\n");
        assert_eq!(list(&["/home"]), "");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    // ---- the commands run for real with this machine's GNU tar, in a test directory ----------

    fn sh(script: &str, stdin: &[u8]) -> (i32, Vec<u8>, String) {
        use std::io::Write;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// Every file, directory and link under `dir`: relative path → (kind and mode, content).
    fn tree(dir: &std::path::Path) -> BTreeMap<String, (String, Vec<u8>)> {
        use std::os::unix::fs::PermissionsExt;
        let mut out = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                let m = std::fs::symlink_metadata(&p).unwrap();
                let mode = m.permissions().mode() & 0o7777;
                if m.is_dir() {
                    out.insert(rel, (format!("d{mode:o}"), Vec::new()));
                    stack.push(p);
                } else if m.file_type().is_symlink() {
                    out.insert(
                        rel,
                        ("l".into(), std::fs::read_link(&p).unwrap().to_string_lossy().into_owned().into_bytes()),
                    );
                } else {
                    out.insert(rel, (format!("f{mode:o}"), std::fs::read(&p).unwrap()));
                }
            }
        }
        out
    }

    /// A full, changes (a file added, one modified, one removed, one renamed, odd names), two
    /// differentials; restoring the full + differential 2 into a new directory yields exactly
    /// the tree at differential 2 (content, mode, links), excluded paths left out; a sub-path
    /// restores alone; an existing target is refused.
    #[test]
    fn full_differentials_and_restore_round_trip_with_gnu_tar() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("anshin-backup-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("root");
        let work = dir.join("work");
        let w = |p: &str, body: &str| {
            let f = root.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, body).unwrap();
        };
        w("srv/www/index.html", "v1");
        w("srv/www/it's a \"file\"\nwith a newline", "odd");
        w("srv/www/gone.txt", "to be removed");
        w("srv/www/moved.txt", "to be renamed");
        w("srv/tmp/scratch", "excluded");
        w("etc/app.conf", "conf v1");
        w("proc/fake", "excluded by default");
        std::fs::set_permissions(root.join("etc/app.conf"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("www/index.html", root.join("srv/link")).unwrap();
        let root_s = root.to_str().unwrap().to_string();
        let work_s = work.to_str().unwrap().to_string();
        let mounts = dir.join("mounts");
        let mounts_s = mounts.to_str().unwrap().to_string();
        let at = Layout { root: &root_s, work: &work_s, mounts: &mounts_s };
        let paths = BackupPaths { include: vec!["/".into()], exclude: vec!["/srv/tmp".into()] };
        let job = |kind| BackupJob { kind, paths: &paths, services: &[], sudo: false };

        let (code, full, err) = sh(&backup_script(&job(Kind::Full), &at), b"");
        assert_eq!(code, 0, "{err}");
        let (code, snapshot, err) = sh(&snapshot_fetch_script(&at), b"");
        assert_eq!(code, 0, "{err}");
        assert!(!snapshot.is_empty() && !work.join("snapshot").exists());

        // Day 2: modified, added, removed.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        w("srv/www/index.html", "v2");
        w("srv/www/new.txt", "new");
        std::fs::remove_file(root.join("srv/www/gone.txt")).unwrap();
        let (code, diff1, err) = sh(&backup_script(&job(Kind::Differential), &at), &snapshot);
        assert_eq!(code, 0, "{err}");
        assert!(!work.join("snapshot").exists(), "a differential leaves no snapshot behind");
        // Day 3: more changes; differential 2 is still against the full.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        w("etc/app.conf", "conf v3");
        std::fs::rename(root.join("srv/www/moved.txt"), root.join("srv/www/renamed.txt")).unwrap();
        std::fs::set_permissions(root.join("srv/www/new.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let (code, diff2, err) = sh(&backup_script(&job(Kind::Differential), &at), &snapshot);
        assert_eq!(code, 0, "{err}");
        assert!(diff1.len() < full.len() && diff2.len() < full.len(), "differentials hold only changes");

        let mut want = tree(&root);
        want.retain(|k, _| !k.starts_with("srv/tmp/") && !k.starts_with("proc/"));

        let target = dir.join("restore");
        let target_s = target.to_str().unwrap().to_string();
        let to = RestoreTarget::Dir(target_s.clone());
        let restore = |step, path: Option<&str>, to: &RestoreTarget, archive: &[u8]| {
            sh(&restore_script(&RestoreJob { step, target: to, path, sudo: false }, &at), archive)
        };
        let (code, _, err) = restore(Kind::Full, None, &to, &full);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = restore(Kind::Differential, None, &to, &diff2);
        assert_eq!(code, 0, "{err}");
        let got = tree(&target);
        // Excluded paths are left out whole.
        for d in ["srv/tmp", "proc"] {
            assert!(want.remove(d).is_some() && !got.contains_key(d), "{d}");
        }
        assert_eq!(got, want);
        assert!(!got.contains_key("srv/www/gone.txt") && !got.contains_key("srv/www/moved.txt"));

        // The same target again: refused, nothing touched.
        let (code, _, err) = restore(Kind::Full, None, &to, &full);
        assert_eq!(code, EXIT_TARGET_EXISTS, "{err}");
        assert!(exit_reason(code, &err).contains("exists"), "{err}");
        assert_eq!(tree(&target), got);

        // A sub-path alone, from the full and differential 1.
        let sub = RestoreTarget::Dir(dir.join("sub").to_str().unwrap().to_string());
        assert_eq!(restore(Kind::Full, Some("/srv/www"), &sub, &full).0, 0);
        let (code, _, err) = restore(Kind::Differential, Some("/srv/www"), &sub, &diff1);
        assert_eq!(code, 0, "{err}");
        let got = tree(&dir.join("sub"));
        assert_eq!(got.get("srv/www/index.html").map(|f| f.1.as_slice()), Some(&b"v2"[..]));
        assert!(got.contains_key("srv/www/new.txt") && !got.contains_key("srv/www/gone.txt"));
        assert!(got.contains_key("srv/www/moved.txt"), "as it was on day 2");
        assert!(!got.contains_key("etc/app.conf") && !got.contains_key("srv/link"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
