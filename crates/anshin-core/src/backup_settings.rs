//! The backup keys of the fleet file (contract §7): `[noc] backup = { store, full_day, full_hour,
//! max_running }` and a server's `backup = { include, exclude }`, with the rule for every path an
//! operator gives (absolute, plain, bounded) and the paths left out by default.
//!
//! Owns: [`BackupSettings`], [`BackupPaths`], [`check_path`], the defaults and limits of these keys.
//! Must not know: the fleet file's parser (which calls these), schedules, commands. Kept apart from
//! `backup` so that `fleet` and `resource` depend on it without depending on `backup` (which reads
//! them both).

use chrono::Weekday;

use crate::text::visible;

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
    /// after it ([`crate::backup::slot_offset_minutes`]).
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
