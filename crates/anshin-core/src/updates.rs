//! Security updates (contract §8, issue 15), the pure half: which tooling a server's OS uses and
//! when it reached its end of life, the read-only detection scripts and the apply commands, the
//! parsers of what those scripts print, the customer notice's diff and its mail.
//!
//! Owns:
//! * [`platform`](mod@platform): a fleet file's `os` string to an [`UpdateTool`] (yum on EL6, yum on EL7, dnf
//!   on EL8 and later, apt on Debian and Ubuntu) and the end-of-life table ([`EOL_TABLE`]).
//! * [`script`]: the detection script per tool ([`detect_command`]) and for WordPress sites
//!   ([`wordpress_detect_command`]), and the apply commands ([`apply_command`],
//!   [`wordpress_apply_command`]). Every value is quoted by [`crate::shell::sh_quote`]; names
//!   that could be read as options are refused ([`CommandError`]).
//! * [`reply`]: the OS detection reply read into an [`OsScan`] ([`parse_os_reply`]): pending
//!   updates and whether a reboot is needed, or a [`DetectError`].
//! * [`wordpress`]: the WordPress reply read into a [`WordpressScan`] ([`parse_wordpress_reply`]).
//! * [`notice`]: which pending updates are new since the last notice ([`notice_diff`]), the
//!   notice mail (セキュリティ情報のご案内, [`render_notice`]) and its default planned date
//!   ([`default_planned_at`]).
//!
//! Must not know: SSH, clocks (the day judged is a parameter), the store, plans (the engine
//! decides who is entitled and passes only the rows it may notify or apply).
//!
//! # The types every part shares
//!
//! * [`PendingUpdate`]: one row (`source`, `site`, `package`, `installed`, `candidate`,
//!   `advisory`, `severity`, `class`), serialized as the JSON rows of `anshin updates --json`
//!   (the engine adds `host` and `since`).
//! * [`Source`]: `os`, `wordpress-core`, `wordpress-plugin`, `wordpress-theme`.
//! * [`Severity`]: Red Hat's four ratings and none (`critical`, `important`, `moderate`, `low`,
//!   `""`), ordered so the highest of a list is its `max`.
//! * [`UpdateClass`]: `security` (the package manager's security metadata says so) or
//!   `unclassified` (an end-of-life system whose repositories publish no such metadata, or a
//!   WordPress update: wp-cli has no advisories).
//! * [`DetectError`]: why a detection reply holds no answer: a package-manager lock held, a
//!   repository that cannot be reached, metadata not cached, permission denied, a site that is
//!   not WordPress, a command that ran too long, a reply cut short, output not understood.
//!
//! Text in rows is kept as the server printed it; whatever shows it escapes it
//! ([`crate::text::visible`]), as the notice mail does. Error details are escaped already and cut
//! to about [`DETAIL_MAX`] bytes.

use serde::{Deserialize, Serialize};

pub mod notice;
pub mod platform;
pub mod reply;
pub mod script;
pub mod wordpress;

pub use notice::{
    default_planned_at, notice_diff, render_done, render_notice, NoticeContext, NoticeDiff, NoticeKey, NoticeRow,
    UpdateDone,
};
pub use platform::{platform, EolEntry, Platform, UpdateTool, EOL_TABLE};
pub use reply::{compare_versions, parse_os_reply, OsScan};
pub use script::{
    apply_command, apply_job, detect_command, parse_apply_reply, wordpress_apply_command, wordpress_detect_command,
    ApplyReply, CommandError, DetectOptions, OsApply, WordpressChanges, WordpressSite, APPLY_OUTPUT_MAX,
    MAX_REPLY_BYTES,
};
pub use wordpress::{parse_wordpress_reply, SiteScan, WordpressScan};

/// Where a pending update comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Os,
    WordpressCore,
    WordpressPlugin,
    WordpressTheme,
}

impl Source {
    /// The JSON spelling: `os`, `wordpress-core`, `wordpress-plugin`, `wordpress-theme`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Os => "os",
            Source::WordpressCore => "wordpress-core",
            Source::WordpressPlugin => "wordpress-plugin",
            Source::WordpressTheme => "wordpress-theme",
        }
    }
}

/// An advisory's severity, as Red Hat rates them; `None` where the metadata has none (Debian and
/// Ubuntu archives, WordPress, end-of-life systems). Ordered: `None < Low < … < Critical`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    #[serde(rename = "")]
    None,
    Low,
    Moderate,
    Important,
    Critical,
}

impl Severity {
    /// The JSON spelling: `critical`, `important`, `moderate`, `low`, or `""`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "",
            Severity::Low => "low",
            Severity::Moderate => "moderate",
            Severity::Important => "important",
            Severity::Critical => "critical",
        }
    }

    /// A rating as dnf and yum print it, case-insensitively: `Important`, `Important/Sec.`,
    /// `critical`. Anything else (`None`, `Unknown`, `security`, `Sec.`) is [`Severity::None`].
    pub fn from_label(label: &str) -> Severity {
        let word = label.split('/').next().unwrap_or("").trim();
        match word.to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "important" => Severity::Important,
            "moderate" => Severity::Moderate,
            "low" => Severity::Low,
            _ => Severity::None,
        }
    }
}

/// Whether the package manager's metadata calls the update a security fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateClass {
    Security,
    Unclassified,
}

impl UpdateClass {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateClass::Security => "security",
            UpdateClass::Unclassified => "unclassified",
        }
    }
}

/// One pending update of one server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PendingUpdate {
    pub source: Source,
    /// The WordPress installation's path; empty for the OS.
    pub site: String,
    /// The package (`openssl-libs`, `libexpat1`), plugin or theme slug, or `wordpress` for core.
    pub package: String,
    /// The installed version (`1:3.0.7-24.el9`, `2.5.0-1+deb12u1`); empty when the reply did not
    /// say (a package only the advisory list names).
    pub installed: String,
    /// The version an update installs.
    pub candidate: String,
    /// The advisory ids, comma-separated (`ALSA-2024:0310,ALSA-2024:2447`), or the security
    /// archive on Debian and Ubuntu (`Debian-Security:12`); empty when none.
    pub advisory: String,
    pub severity: Severity,
    pub class: UpdateClass,
}

/// Texts quoted from a server in a [`DetectError`] are cut to this many bytes.
pub const DETAIL_MAX: usize = 240;

/// Why a detection (or one WordPress site of it) gave no answer. `detail` is the server's own
/// line that told, its hidden characters escaped and cut to about [`DETAIL_MAX`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetectError {
    /// Another process holds the package manager's lock (rpm database, yum/dnf, dpkg or apt).
    #[error("the package manager is locked by another process: {detail}")]
    LockHeld { detail: String },
    /// A repository could not be reached (name resolution, connection, mirror list).
    #[error("a package repository cannot be reached: {detail}")]
    RepositoryUnreachable { detail: String },
    /// The package metadata is not cached and the detection may not download it (allow
    /// `refresh_metadata`, or let the server's own timer refresh it).
    #[error("the package metadata is not cached on the server: {detail}")]
    MetadataMissing { detail: String },
    /// The SSH account may not run the command (not root, no sudo without a password).
    #[error("permission denied: {detail}")]
    PermissionDenied { detail: String },
    /// The configured path holds no WordPress installation.
    #[error("no WordPress installation there: {detail}")]
    NotWordpress { detail: String },
    /// A command was stopped by its time limit.
    #[error("a command ran past its time limit: {detail}")]
    TimedOut { detail: String },
    /// The reply has no end marker: the script was cut short or did not run.
    #[error("the detection reply is incomplete (no end marker): {detail}")]
    Incomplete { detail: String },
    /// Output this module does not understand.
    #[error("unexpected output: {detail}")]
    Unknown { detail: String },
}

/// `s` trimmed, its hidden characters escaped ([`crate::text::visible`]), cut to [`DETAIL_MAX`]
/// bytes (then ending with `…`).
pub(crate) fn detail(s: &str) -> String {
    crate::text::visible_capped(s.trim(), DETAIL_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON rows' spellings: serde writes what `as_str` says.
    #[test]
    fn serialized_names_are_the_json_rows_spellings() {
        let mut row = PendingUpdate {
            source: Source::WordpressPlugin,
            site: "/var/www/html".into(),
            package: "akismet".into(),
            installed: "5.3".into(),
            candidate: "5.3.2".into(),
            advisory: String::new(),
            severity: Severity::None,
            class: UpdateClass::Unclassified,
        };
        for source in [Source::Os, Source::WordpressCore, Source::WordpressPlugin, Source::WordpressTheme] {
            for severity in [Severity::None, Severity::Low, Severity::Moderate, Severity::Important, Severity::Critical]
            {
                for class in [UpdateClass::Security, UpdateClass::Unclassified] {
                    row.source = source;
                    row.severity = severity;
                    row.class = class;
                    let text = toml::to_string(&row).unwrap();
                    for want in [
                        format!("source = \"{}\"", source.as_str()),
                        format!("severity = \"{}\"", severity.as_str()),
                        format!("class = \"{}\"", class.as_str()),
                    ] {
                        assert!(text.lines().any(|l| l == want), "{want} not in\n{text}");
                    }
                    assert_eq!(toml::from_str::<PendingUpdate>(&text).unwrap(), row);
                }
            }
        }
    }

    #[test]
    fn severity_labels_and_order() {
        for (label, want) in [
            ("Critical/Sec.", Severity::Critical),
            ("Important/Sec.", Severity::Important),
            ("moderate", Severity::Moderate),
            ("Low/Sec.", Severity::Low),
            ("Unknown/Sec.", Severity::None),
            ("security", Severity::None),
            ("", Severity::None),
        ] {
            assert_eq!(Severity::from_label(label), want, "{label}");
        }
        assert!(Severity::None < Severity::Low && Severity::Important < Severity::Critical);
    }

    #[test]
    fn details_are_escaped_and_capped() {
        assert_eq!(detail("  a\u{1b}b \n"), "a\\u{1b}b");
        let long = detail(&"あ".repeat(200));
        assert!(long.ends_with('…') && long.len() <= DETAIL_MAX + "あ…".len(), "{}", long.len());
    }
}
