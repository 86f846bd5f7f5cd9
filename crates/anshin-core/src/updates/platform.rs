//! A server's `os` string (the fleet file's `os = "CentOS 7"`) to the tooling its security updates
//! use, and the end-of-life table behind the console's "EOL" badge.
//!
//! Owns: [`UpdateTool`], [`platform`] (the Red Hat / Debian split is `recovery::os_family`'s; the
//! major version picks yum or dnf), [`EOL_TABLE`].
//! Must not know: clocks (the day judged is a parameter), SSH.

use chrono::NaiveDate;

use crate::recovery::{os_family, OsFamily};

/// The package tooling detection and apply use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateTool {
    /// EL6: `yum check-update`, the security subset by `yum --security check-update`
    /// (yum-plugin-security); no `needs-restarting -r`.
    Yum6,
    /// EL7: `yum check-update` and `yum updateinfo list security`.
    Yum7,
    /// EL8 and later (and Fedora): `dnf check-update` and `dnf updateinfo list --security`.
    Dnf,
    /// Debian and Ubuntu: `apt list --upgradable`, security = a candidate from a `*-security`
    /// archive.
    Apt,
}

impl UpdateTool {
    /// The stable identifier consoles get: `yum6`, `yum7`, `dnf`, `apt`.
    pub fn id(self) -> &'static str {
        match self {
            UpdateTool::Yum6 => "yum6",
            UpdateTool::Yum7 => "yum7",
            UpdateTool::Dnf => "dnf",
            UpdateTool::Apt => "apt",
        }
    }
}

/// One row of the end-of-life table: the last day a release's repositories publish security
/// fixes (for Debian, the end of its LTS, which publishes into the same security archive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EolEntry {
    /// How the badge names the release: `CentOS 7`.
    pub os: &'static str,
    /// Lower-case names in the `os` string that identify the distribution (any one of them).
    names: &'static [&'static str],
    /// The major version (and the minor, for Ubuntu's `22.04`).
    major: u32,
    minor: Option<u32>,
    /// The last supported day.
    year: i32,
    month: u32,
    day: u32,
}

impl EolEntry {
    /// The last day of security support.
    pub fn date(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, self.day).unwrap_or(NaiveDate::MAX)
    }
}

const fn eol(
    os: &'static str,
    names: &'static [&'static str],
    major: u32,
    minor: Option<u32>,
    (year, month, day): (i32, u32, u32),
) -> EolEntry {
    EolEntry { os, names, major, minor, year, month, day }
}

const CENTOS_STREAM: &[&str] = &["centos stream"];
const CENTOS: &[&str] = &["centos"];
const RHEL: &[&str] = &["red hat", "redhat", "rhel"];
const SCIENTIFIC: &[&str] = &["scientific"];
const ALMA: &[&str] = &["alma"];
const ROCKY: &[&str] = &["rocky"];
const DEBIAN: &[&str] = &["debian"];
const UBUNTU: &[&str] = &["ubuntu"];

/// End of security support per release, first match wins (CentOS Stream before CentOS).
///
/// Sources: the vendors' life-cycle pages — CentOS (6: 2020-11-30, 7: 2024-06-30, 8:
/// 2021-12-31, Stream 8: 2024-05-31, Stream 9: 2027-05-31), Red Hat (end of maintenance
/// support: 6 2020-11-30, 7 2024-06-30, 8 2029-05-31, 9 2032-05-31; paid extended support not
/// counted), AlmaLinux (8: 2029-03-01, 9: 2032-05-31), Rocky Linux (8: 2029-05-31, 9:
/// 2032-05-31), Debian LTS (10: 2024-06-30, 11: 2026-08-31, 12: 2028-06-30), Ubuntu standard
/// support (five years; 18.04 and 20.04 ended on 31 May of their fifth year, and that day is
/// assumed for 22.04 and 24.04 until Canonical names one; Ubuntu Pro's ESM not counted).
pub const EOL_TABLE: &[EolEntry] = &[
    eol("CentOS Stream 8", CENTOS_STREAM, 8, None, (2024, 5, 31)),
    eol("CentOS Stream 9", CENTOS_STREAM, 9, None, (2027, 5, 31)),
    eol("CentOS 6", CENTOS, 6, None, (2020, 11, 30)),
    eol("CentOS 7", CENTOS, 7, None, (2024, 6, 30)),
    eol("CentOS 8", CENTOS, 8, None, (2021, 12, 31)),
    eol("RHEL 6", RHEL, 6, None, (2020, 11, 30)),
    eol("RHEL 7", RHEL, 7, None, (2024, 6, 30)),
    eol("RHEL 8", RHEL, 8, None, (2029, 5, 31)),
    eol("RHEL 9", RHEL, 9, None, (2032, 5, 31)),
    eol("Scientific Linux 6", SCIENTIFIC, 6, None, (2020, 11, 30)),
    eol("Scientific Linux 7", SCIENTIFIC, 7, None, (2024, 6, 30)),
    eol("AlmaLinux 8", ALMA, 8, None, (2029, 3, 1)),
    eol("AlmaLinux 9", ALMA, 9, None, (2032, 5, 31)),
    eol("Rocky Linux 8", ROCKY, 8, None, (2029, 5, 31)),
    eol("Rocky Linux 9", ROCKY, 9, None, (2032, 5, 31)),
    eol("Debian 10", DEBIAN, 10, None, (2024, 6, 30)),
    eol("Debian 11", DEBIAN, 11, None, (2026, 8, 31)),
    eol("Debian 12", DEBIAN, 12, None, (2028, 6, 30)),
    eol("Ubuntu 18.04", UBUNTU, 18, Some(4), (2023, 5, 31)),
    eol("Ubuntu 20.04", UBUNTU, 20, Some(4), (2025, 5, 31)),
    eol("Ubuntu 22.04", UBUNTU, 22, Some(4), (2027, 5, 31)),
    eol("Ubuntu 24.04", UBUNTU, 24, Some(4), (2029, 5, 31)),
];

/// What a server's `os` means for its updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    pub tool: UpdateTool,
    /// Its row of [`EOL_TABLE`]; `None` for a release the table does not know (Fedora, Oracle
    /// Linux, a newer Debian): no badge.
    pub eol: Option<&'static EolEntry>,
}

impl Platform {
    /// Past its last supported day on `today` (Japan's date, say): its repositories publish no
    /// security metadata any more, so detection lists every pending update, as `unclassified`
    /// unless the metadata still marks it (contract §8).
    pub fn is_eol(&self, today: NaiveDate) -> bool {
        self.eol.is_some_and(|e| today > e.date())
    }
}

/// The tooling of a fleet file's `os` (case-insensitive): a Red Hat family name with major 6 is
/// [`UpdateTool::Yum6`], 7 [`UpdateTool::Yum7`], 8 or later (and any Fedora)
/// [`UpdateTool::Dnf`]; Debian and Ubuntu are [`UpdateTool::Apt`]. `None` when the string says
/// neither (an unknown distribution, a Red Hat name without a usable version): the console
/// shows "unsupported OS" and detection does not run.
pub fn platform(os: &str) -> Option<Platform> {
    let lower = os.to_ascii_lowercase();
    let version = version_of(&lower);
    let tool = match os_family(os) {
        OsFamily::RedHat6 => UpdateTool::Yum6,
        OsFamily::RedHat if lower.contains("fedora") => UpdateTool::Dnf,
        OsFamily::RedHat => match version?.0 {
            7 => UpdateTool::Yum7,
            n if n >= 8 => UpdateTool::Dnf,
            _ => return None,
        },
        OsFamily::Debian if lower.contains("debian") || lower.contains("ubuntu") => UpdateTool::Apt,
        OsFamily::Debian => return None,
    };
    let eol = version.and_then(|(major, minor)| {
        EOL_TABLE.iter().find(|e| {
            e.names.iter().any(|n| lower.contains(n)) && e.major == major && e.minor.is_none_or(|m| Some(m) == minor)
        })
    });
    Some(Platform { tool, eol })
}

/// The first `MAJOR[.MINOR]` in `s` ("centos linux 7.9.2009" → (7, Some(9))).
fn version_of(s: &str) -> Option<(u32, Option<u32>)> {
    let start = s.find(|c: char| c.is_ascii_digit())?;
    let mut parts = s[start..].split('.').map(|p| p.chars().take_while(char::is_ascii_digit).collect::<String>());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok());
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn tools_by_os_string() {
        use UpdateTool::*;
        let cases: &[(&str, Option<UpdateTool>, Option<&str>)] = &[
            ("CentOS 6", Some(Yum6), Some("CentOS 6")),
            ("CentOS release 6.10 (Final)", Some(Yum6), Some("CentOS 6")),
            ("Red Hat Enterprise Linux Server release 6.10 (Santiago)", Some(Yum6), Some("RHEL 6")),
            ("CentOS 7", Some(Yum7), Some("CentOS 7")),
            ("CentOS Linux 7.9.2009", Some(Yum7), Some("CentOS 7")),
            ("RHEL 7", Some(Yum7), Some("RHEL 7")),
            ("AlmaLinux 8.10", Some(Dnf), Some("AlmaLinux 8")),
            ("AlmaLinux 9", Some(Dnf), Some("AlmaLinux 9")),
            ("Rocky Linux 9.3", Some(Dnf), Some("Rocky Linux 9")),
            ("CentOS Stream 9", Some(Dnf), Some("CentOS Stream 9")),
            ("CentOS 8", Some(Dnf), Some("CentOS 8")),
            ("Red Hat Enterprise Linux 9.4", Some(Dnf), Some("RHEL 9")),
            ("Oracle Linux 8", Some(Dnf), None),
            ("Fedora 40", Some(Dnf), None),
            ("Debian 11", Some(Apt), Some("Debian 11")),
            ("Debian GNU/Linux 12 (bookworm)", Some(Apt), Some("Debian 12")),
            ("debian 13", Some(Apt), None),
            ("Ubuntu 22.04", Some(Apt), Some("Ubuntu 22.04")),
            ("Ubuntu 24.04.1 LTS", Some(Apt), Some("Ubuntu 24.04")),
            ("Ubuntu 23.10", Some(Apt), None),
            ("Ubuntu", Some(Apt), None),
            // Not enough to choose yum or dnf, or no package manager this module knows.
            ("CentOS", None, None),
            ("CentOS 5", None, None),
            ("Arch Linux", None, None),
            ("FreeBSD 14", None, None),
            ("", None, None),
        ];
        for &(os, tool, eol) in cases {
            let p = platform(os);
            assert_eq!(p.map(|p| p.tool), tool, "{os:?}");
            assert_eq!(p.and_then(|p| p.eol).map(|e| e.os), eol, "{os:?}");
        }
    }

    #[test]
    fn end_of_life_is_the_day_after_the_last_supported_day() {
        let centos7 = platform("CentOS 7").unwrap();
        assert_eq!(centos7.eol.unwrap().date(), d(2024, 6, 30));
        assert!(!centos7.is_eol(d(2024, 6, 30)));
        assert!(centos7.is_eol(d(2024, 7, 1)));
        let centos6 = platform("CentOS 6.10").unwrap();
        assert!(centos6.is_eol(d(2026, 1, 1)));
        let debian11 = platform("Debian 11").unwrap();
        assert!(!debian11.is_eol(d(2026, 8, 31)));
        assert!(debian11.is_eol(d(2026, 9, 1)));
        let alma9 = platform("AlmaLinux 9").unwrap();
        assert!(!alma9.is_eol(d(2026, 12, 1)));
        // A release the table does not know is never shown as EOL.
        assert!(!platform("Fedora 40").unwrap().is_eol(d(2099, 1, 1)));
    }

    #[test]
    fn every_table_row_is_a_real_date_and_reachable() {
        for e in EOL_TABLE {
            assert_ne!(e.date(), NaiveDate::MAX, "{}", e.os);
            let p = platform(e.os).unwrap_or_else(|| panic!("{} has no tool", e.os));
            assert_eq!(p.eol.map(|x| x.os), Some(e.os), "{} is shadowed by an earlier row", e.os);
        }
    }
}
