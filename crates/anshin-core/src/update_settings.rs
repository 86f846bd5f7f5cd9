//! The security-update keys of the fleet file (contract §8): `[noc] updates = { every_hours,
//! job_minutes }`, a server's `updates = { refresh_metadata }` and `cms = [{ kind, path, owner }]`,
//! and a customer's `auto_updates = "security" | "off"`.
//!
//! Owns: [`UpdateSettings`], [`ServerUpdates`], [`CmsSite`], [`AutoUpdates`], their defaults and
//! limits.
//! Must not know: the fleet file's parser (which calls these), commands, schedules. Kept apart
//! from `updates` so that `fleet` reads these keys without reading the detection's parsers.

/// `[noc] updates` defaults: detect once a day; an apply may run 30 minutes.
pub const DEFAULT_EVERY_HOURS: u32 = 24;
pub const DEFAULT_JOB_MINUTES: u32 = 30;
/// The bounds an operator may give them.
pub const EVERY_HOURS_RANGE: std::ops::RangeInclusive<u32> = 1..=168;
pub const JOB_MINUTES_RANGE: std::ops::RangeInclusive<u32> = 1..=240;
/// At most this many CMS installations per server.
pub const MAX_CMS_SITES: usize = 16;

/// `[noc] updates = { every_hours = 24, job_minutes = 30 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateSettings {
    /// Hours between two detections of a server.
    pub every_hours: u32,
    /// How long an apply may run before it is stopped (instead of the SSH step deadline).
    pub job_minutes: u32,
}

impl Default for UpdateSettings {
    fn default() -> Self {
        UpdateSettings { every_hours: DEFAULT_EVERY_HOURS, job_minutes: DEFAULT_JOB_MINUTES }
    }
}

/// A server's update keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerUpdates {
    /// `updates = { refresh_metadata = true }`: the detection may download the package metadata
    /// first (`apt-get update`, `dnf makecache`); off by default (the server's own timer does).
    pub refresh_metadata: bool,
    /// `cms = [{ kind = "wordpress", path = "/var/www/html", owner = "www-data" }]`.
    pub cms: Vec<CmsSite>,
}

/// One CMS installation of a server. Only WordPress is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmsSite {
    /// An absolute path on the server.
    pub path: String,
    /// The user wp-cli runs as; `None`: the owner of `path` on the server.
    pub owner: Option<String>,
}

/// A customer's `auto_updates`: whether the NOC applies security updates without an operator,
/// inside business hours, once their planned date has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoUpdates {
    #[default]
    Off,
    Security,
}

impl AutoUpdates {
    pub fn parse(s: &str) -> Option<AutoUpdates> {
        match s {
            "off" => Some(AutoUpdates::Off),
            "security" => Some(AutoUpdates::Security),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AutoUpdates::Off => "off",
            AutoUpdates::Security => "security",
        }
    }
}
