//! Every parser of `anshin_core::updates` on every fixture of `tests/fixtures/updates` (their
//! origins: that folder's README.md), the notice's mail text, and the EOL rule end to end.

use std::collections::BTreeSet;

use anshin_core::fleet::Noc;
use anshin_core::mail::MailHost;
use anshin_core::updates::{
    notice_diff, parse_os_reply, parse_wordpress_reply, platform, render_notice, DetectError, NoticeContext, OsScan,
    PendingUpdate, Severity, Source, UpdateClass, UpdateTool, WordpressScan, WordpressSite,
};
use chrono::{DateTime, NaiveDate, Utc};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/updates/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn scan(tool: UpdateTool, name: &str, list_all: bool) -> OsScan {
    parse_os_reply(tool, &fixture(name), list_all).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn err(tool: UpdateTool, name: &str) -> DetectError {
    match parse_os_reply(tool, &fixture(name), false) {
        Err(e) => e,
        Ok(s) => panic!("{name}: parsed as {s:?}"),
    }
}

/// (package, installed, candidate, advisory, severity, class) of each row.
type Row<'a> = (&'a str, &'a str, &'a str, &'a str, Severity, UpdateClass);

fn rows(s: &OsScan) -> Vec<Row<'_>> {
    assert!(s.updates.iter().all(|u| u.source == Source::Os && u.site.is_empty()));
    s.updates
        .iter()
        .map(|u| {
            (u.package.as_str(), u.installed.as_str(), u.candidate.as_str(), u.advisory.as_str(), u.severity, u.class)
        })
        .collect()
}

use Severity::{Critical, Important, Low, Moderate};
use UpdateClass::{Security, Unclassified};
const NONE: Severity = Severity::None;

// ---- Debian 12: real output of this machine ----------------------------------------------------

#[test]
fn debian12_real_upgradable_list() {
    let text = fixture("debian12-updates.txt");
    let s = scan(UpdateTool::Apt, "debian12-updates.txt", false);
    // The capture lists 111 upgradable packages, 78 of them from bookworm-security.
    let security_lines = text.lines().filter(|l| l.contains("[upgradable from:") && l.contains("-security")).count();
    assert_eq!((s.pending_total, s.updates.len(), security_lines), (111, 78, 78));
    assert!(s.updates.iter().all(|u| u.class == Security && u.severity == NONE && u.advisory == "Debian-Security:12"));
    let find = |p: &str| s.updates.iter().find(|u| u.package == p);
    let expat = find("libexpat1").unwrap();
    assert_eq!((expat.installed.as_str(), expat.candidate.as_str()), ("2.5.0-1+deb12u1", "2.5.0-1+deb12u5"));
    // An epoch is kept as apt prints it; a candidate in both the point release and the security
    // archive is a security update; one only in the point release is not.
    let nss = find("libnss3").unwrap();
    assert_eq!((nss.installed.as_str(), nss.candidate.as_str()), ("2:3.87.1-1+deb12u2", "2:3.87.1-1+deb12u4"));
    assert!(find("krb5-locales").is_some());
    assert!(find("bash").is_none() && find("base-files").is_none());
    assert!(!s.reboot_needed, "a container: no /boot kernels, no reboot-required");

    // Past its end of life every pending update is listed, the rest unclassified.
    let all = scan(UpdateTool::Apt, "debian12-updates.txt", true);
    assert_eq!(all.updates.len(), 111);
    let bash = all.updates.iter().find(|u| u.package == "bash").unwrap();
    assert_eq!(
        (bash.installed.as_str(), bash.candidate.as_str(), bash.advisory.as_str(), bash.class),
        ("5.2.15-2+b8", "5.2.15-2+b13", "", Unclassified)
    );
    assert_eq!(all.updates.iter().filter(|u| u.class == Security).count(), 78);
}

#[test]
fn debian12_real_errors_and_nothing_pending() {
    let none = scan(UpdateTool::Apt, "debian12-none.txt", true);
    assert_eq!((none.updates.len(), none.pending_total, none.reboot_needed), (0, 0, false));
    assert_eq!(
        err(UpdateTool::Apt, "debian12-lock.txt"),
        DetectError::LockHeld {
            detail: "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 31384 (python3)".into()
        }
    );
    // apt-get update exits 0 when a repository cannot be reached: its text decides.
    assert_eq!(
        err(UpdateTool::Apt, "debian12-unreachable.txt"),
        DetectError::RepositoryUnreachable {
            detail: "Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)".into()
        }
    );
    assert_eq!(
        err(UpdateTool::Apt, "debian12-nonroot.txt"),
        DetectError::PermissionDenied {
            detail: "E: Could not open lock file /var/lib/apt/lists/lock - open (13: Permission denied)".into()
        }
    );
}

// ---- dnf: real output of Debian's dnf against a synthetic repository --------------------------

#[test]
fn dnf_real_updateinfo_and_check_update() {
    let s = scan(UpdateTool::Dnf, "dnf-updates.txt", false);
    assert_eq!(
        rows(&s),
        [
            ("bind-libs", "9.16.23-14.el9_3", "9.16.23-15.el9_3.4", "ALSA-2024:1111", NONE, Security),
            ("kernel", "5.14.0-362.8.1.el9_3", "5.14.0-427.13.1.el9_4", "ALSA-2024:2758", Important, Security),
            (
                "openssl-libs",
                "1:3.0.7-24.el9",
                "1:3.0.7-27.el9_4",
                "ALSA-2024:0310,ALSA-2024:2447",
                Important,
                Security
            ),
            // The advisory fixed -3; a bug fix -4 came after it, and `dnf upgrade --security`
            // installs the newest (checked with this dnf against the same repository).
            ("python3-libs", "3.9.18-1.el9_3", "3.9.18-4.el9_4.2", "ALSA-2024:3501", Low, Security),
            ("sudo", "1.9.5p2-9.el9", "1.9.5p2-10.el9_3", "ALSA-2024:0811", Critical, Security),
        ]
    );
    assert_eq!(s.pending_total, 7);
    // "needs-restarting" is no dnf command there and /boot has no kernel: no reboot known.
    assert!(!s.reboot_needed);
    let all = scan(UpdateTool::Dnf, "dnf-updates.txt", true);
    let extra: Vec<Row> = rows(&all).into_iter().filter(|r| r.5 == Unclassified).collect();
    assert_eq!(
        extra,
        [
            (
                "texlive-collection-latexrecommended-and-extras",
                "20200406-26.el9",
                "20200406-27.el9_4",
                "",
                NONE,
                Unclassified
            ),
            ("tzdata", "2024a-1.el9", "2024b-2.el9", "", NONE, Unclassified),
        ]
    );
}

#[test]
fn dnf_real_errors_and_nothing_pending() {
    let none = scan(UpdateTool::Dnf, "dnf-none.txt", true);
    assert_eq!((none.updates.len(), none.pending_total, none.reboot_needed), (0, 0, false));
    assert_eq!(
        err(UpdateTool::Dnf, "dnf-lock.txt"),
        DetectError::LockHeld { detail: "metadata already locked by 31196".into() }
    );
    assert_eq!(
        err(UpdateTool::Dnf, "dnf-unreachable.txt"),
        DetectError::RepositoryUnreachable {
            detail: "Error: Failed to download metadata for repo 'baseos': Cannot download repomd.xml: Cannot download repodata/repomd.xml: All mirrors were tried".into()
        }
    );
    assert_eq!(
        err(UpdateTool::Dnf, "dnf-nocache.txt"),
        DetectError::MetadataMissing { detail: "Error: Cache-only enabled but no cache for 'anshin-fixture'".into() }
    );
}

// ---- the documented formats ----------------------------------------------------------------------

#[test]
fn almalinux8_documented() {
    let s = scan(UpdateTool::Dnf, "alma8-updates.txt", false);
    assert_eq!(
        rows(&s),
        [
            ("bind-libs", "32:9.11.36-13.el8_10", "32:9.11.36-14.el8_10", "ALSA-2024:3138", Moderate, Security),
            ("bind-license", "32:9.11.36-13.el8_10", "32:9.11.36-14.el8_10", "ALSA-2024:3138", Moderate, Security),
            ("glibc", "2.28-251.el8", "2.28-251.el8_10.2", "ALSA-2024:3344,ALSA-2024:4259", Important, Security),
            ("glibc-common", "2.28-251.el8", "2.28-251.el8_10.2", "ALSA-2024:3344,ALSA-2024:4259", Important, Security),
            ("kernel", "4.18.0-553.5.1.el8_10", "4.18.0-553.8.1.el8_10", "ALSA-2024:4211", Important, Security),
            ("kernel-core", "4.18.0-553.5.1.el8_10", "4.18.0-553.8.1.el8_10", "ALSA-2024:4211", Important, Security),
            ("python3-idna", "2.5-5.el8", "2.5-7.el8_10", "ALSA-2024:3550", Low, Security),
        ]
    );
    assert_eq!(s.pending_total, 8);
    assert!(!s.reboot_needed, "needs-restarting -r said 0");
    let none = scan(UpdateTool::Dnf, "alma8-none.txt", false);
    assert!(none.updates.is_empty());
    assert!(none.reboot_needed, "needs-restarting -r said 1: Reboot is required");
    assert_eq!(
        err(UpdateTool::Dnf, "alma8-unreachable.txt"),
        DetectError::RepositoryUnreachable {
            detail: "Errors during downloading metadata for repository 'baseos':".into()
        }
    );
}

#[test]
fn centos7_documented_end_of_life() {
    let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let centos7 = platform("CentOS Linux 7.9.2009").unwrap();
    assert_eq!(centos7.tool, UpdateTool::Yum7);
    assert!(centos7.is_eol(today));
    let s = scan(UpdateTool::Yum7, "centos7-updates.txt", centos7.is_eol(today));
    assert_eq!(
        rows(&s),
        [
            ("NetworkManager", "1:1.18.8-1.el7", "1:1.18.8-2.el7_9", "", NONE, Unclassified),
            ("bind-export-libs", "32:9.11.4-26.P2.el7_9.15", "32:9.11.4-26.P2.el7_9.16", "", NONE, Unclassified),
            (
                "java-1.8.0-openjdk-headless",
                "1:1.8.0.402.b06-1.el7_9",
                "1:1.8.0.412.b08-1.el7_9",
                "",
                NONE,
                Unclassified
            ),
            ("kernel", "3.10.0-1160.114.2.el7", "3.10.0-1160.119.1.el7", "", NONE, Unclassified),
            ("openssl-libs", "1:1.0.2k-25.el7_9", "1:1.0.2k-26.el7_9", "", NONE, Unclassified),
            ("python-perf", "3.10.0-1160.114.2.el7", "3.10.0-1160.119.1.el7", "", NONE, Unclassified),
            ("selinux-policy-targeted", "3.13.1-268.el7_9.1", "3.13.1-268.el7_9.2", "", NONE, Unclassified),
        ]
    );
    assert!(s.reboot_needed, "needs-restarting -r: Reboot is required");
    // Without the EOL rule nothing would show: CentOS publishes no security metadata.
    assert!(scan(UpdateTool::Yum7, "centos7-updates.txt", false).updates.is_empty());

    let none = scan(UpdateTool::Yum7, "centos7-none.txt", true);
    assert!(none.updates.is_empty() && !none.reboot_needed);
    assert_eq!(
        err(UpdateTool::Yum7, "centos7-lock.txt"),
        DetectError::LockHeld { detail: "Existing lock /var/run/yum.pid: another copy is running as pid 2210.".into() }
    );
    assert!(matches!(
        err(UpdateTool::Yum7, "centos7-unreachable.txt"),
        DetectError::RepositoryUnreachable { detail } if detail.starts_with("Could not retrieve mirrorlist http://mirrorlist.centos.org/")
    ));
}

#[test]
fn centos6_documented() {
    let centos6 = platform("CentOS release 6.10 (Final)").unwrap();
    assert_eq!(centos6.tool, UpdateTool::Yum6);
    assert!(centos6.is_eol(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()));
    let s = scan(UpdateTool::Yum6, "centos6-updates.txt", true);
    assert_eq!(
        rows(&s),
        [
            ("bash", "4.1.2-40.el6", "4.1.2-48.el6", "", NONE, Unclassified),
            ("kernel", "2.6.32-754.33.1.el6", "2.6.32-754.35.1.el6", "", NONE, Unclassified),
            ("openssl", "1.0.1e-57.el6", "1.0.1e-58.el6_10", "", NONE, Unclassified),
            ("tzdata", "2020a-1.el6", "2020d-1.el6", "", NONE, Unclassified),
        ]
    );
    assert!(!s.reboot_needed, "the running kernel is the newest installed");
    // No needs-restarting -r on EL6: a newer installed kernel than the running one.
    let none = scan(UpdateTool::Yum6, "centos6-none.txt", true);
    assert!(none.updates.is_empty() && none.reboot_needed);
    // Without yum-plugin-security yum refuses --security: still every pending update.
    let no_plugin = scan(UpdateTool::Yum6, "centos6-no-plugin.txt", true);
    assert_eq!(rows(&no_plugin), [("openssl", "1.0.1e-57.el6", "1.0.1e-58.el6_10", "", NONE, Unclassified)]);
    assert_eq!(
        err(UpdateTool::Yum6, "centos6-rpmdb-lock.txt"),
        DetectError::LockHeld { detail: "error: cannot get shared lock on /var/lib/rpm/Packages".into() }
    );
}

#[test]
fn yum6_marks_what_the_security_plugin_lists() {
    let reply = "@@anshin-updates begin advisories\n\
        Limiting package lists to security relevant ones\n\
        openssl.x86_64   1.0.1e-58.el6_10   updates\n\
        1 package(s) needed for security, out of 2 available\n\
        @@anshin-updates end advisories 100\n\
        @@anshin-updates begin pending\n\
        bash.x86_64      4.1.2-48.el6       base\n\
        openssl.x86_64   1.0.1e-58.el6_10   updates\n\
        @@anshin-updates end pending 100\n\
        @@anshin-updates begin installed\n\
        bash x86_64 (none):4.1.2-40.el6\nopenssl x86_64 (none):1.0.1e-57.el6\n\
        @@anshin-updates end installed 0\n\
        @@anshin-updates done\n";
    let s = parse_os_reply(UpdateTool::Yum6, reply, true).unwrap();
    assert_eq!(
        rows(&s),
        [
            ("bash", "4.1.2-40.el6", "4.1.2-48.el6", "", NONE, Unclassified),
            ("openssl", "1.0.1e-57.el6", "1.0.1e-58.el6_10", "", NONE, Security),
        ]
    );
}

#[test]
fn debian11_documented() {
    let s = scan(UpdateTool::Apt, "debian11-updates.txt", false);
    let sec = |p, i, c| (p, i, c, "Debian-Security:11", NONE, Security);
    assert_eq!(
        rows(&s),
        [
            sec("libssl1.1", "1.1.1w-0+deb11u1", "1.1.1w-0+deb11u2"),
            sec("linux-image-5.10.0-32-amd64", "5.10.221-1", "5.10.223-1"),
            sec("linux-image-amd64", "5.10.221-1", "5.10.223-1"),
            sec("openssh-client", "1:8.4p1-5+deb11u2", "1:8.4p1-5+deb11u3"),
            sec("openssh-server", "1:8.4p1-5+deb11u2", "1:8.4p1-5+deb11u3"),
            sec("openssl", "1.1.1w-0+deb11u1", "1.1.1w-0+deb11u2"),
        ]
    );
    assert_eq!(s.pending_total, 8);
    assert!(s.reboot_needed, "5.10.0-32 installed, 5.10.0-30 running");
    let none = scan(UpdateTool::Apt, "debian11-none.txt", false);
    assert!(none.updates.is_empty() && !none.reboot_needed);
    assert_eq!(
        err(UpdateTool::Apt, "debian11-unreachable.txt"),
        DetectError::RepositoryUnreachable { detail: "Temporary failure resolving 'security.debian.org'".into() }
    );
}

#[test]
fn ubuntu_documented() {
    let s = scan(UpdateTool::Apt, "ubuntu2204-updates.txt", false);
    let jammy = "Ubuntu:22.04/jammy-security";
    assert_eq!(
        rows(&s),
        [
            ("libssl3", "3.0.2-0ubuntu1.15", "3.0.2-0ubuntu1.18", jammy, NONE, Security),
            (
                "libxml2",
                "2.9.13+dfsg-1ubuntu0.4",
                "2.9.13+dfsg-1ubuntu0.4+esm1",
                "UbuntuESM:22.04/jammy-infra-security",
                NONE,
                Security
            ),
            ("linux-image-generic", "5.15.0.113.113", "5.15.0.116.116", jammy, NONE, Security),
            ("openssl", "3.0.2-0ubuntu1.15", "3.0.2-0ubuntu1.18", jammy, NONE, Security),
        ]
    );
    assert!(s.reboot_needed, "/var/run/reboot-required");
    let none = scan(UpdateTool::Apt, "ubuntu2204-none.txt", false);
    assert!(none.updates.is_empty() && !none.reboot_needed);
    assert_eq!(
        err(UpdateTool::Apt, "ubuntu2204-lock.txt"),
        DetectError::LockHeld {
            detail: "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 1432 (apt-get)".into()
        }
    );

    let s = scan(UpdateTool::Apt, "ubuntu2404-updates.txt", false);
    let noble = "Ubuntu:24.04/noble-security";
    assert_eq!(
        rows(&s),
        [
            ("libc-bin", "2.39-0ubuntu8.2", "2.39-0ubuntu8.3", noble, NONE, Security),
            ("libc6", "2.39-0ubuntu8.2", "2.39-0ubuntu8.3", noble, NONE, Security),
            ("linux-image-6.8.0-41-generic", "6.8.0-40.40", "6.8.0-41.41", noble, NONE, Security),
            ("sudo", "1.9.15p5-3ubuntu5", "1.9.15p5-3ubuntu5.24.04.1", noble, NONE, Security),
        ]
    );
    assert_eq!(s.pending_total, 5);
    assert!(!s.reboot_needed, "already running the newest kernel");
    assert!(scan(UpdateTool::Apt, "ubuntu2404-none.txt", false).updates.is_empty());
    assert_eq!(
        err(UpdateTool::Apt, "ubuntu2404-unreachable.txt"),
        DetectError::RepositoryUnreachable { detail: "Temporary failure resolving 'archive.ubuntu.com'".into() }
    );
}

// ---- WordPress ------------------------------------------------------------------------------------

fn sites(paths: &[&str]) -> Vec<WordpressSite> {
    paths.iter().map(|p| WordpressSite { path: p.to_string(), owner: None }).collect()
}

fn wp(source: Source, site: &str, package: &str, installed: &str, candidate: &str) -> PendingUpdate {
    PendingUpdate {
        source,
        site: site.into(),
        package: package.into(),
        installed: installed.into(),
        candidate: candidate.into(),
        advisory: String::new(),
        severity: NONE,
        class: Unclassified,
    }
}

#[test]
fn wordpress_documented() {
    let asked = sites(&["/var/www/html", "/srv/old-site"]);
    let WordpressScan::Sites(got) = parse_wordpress_reply(&asked, &fixture("wp-updates.txt")).unwrap() else {
        panic!("wp-cli is there")
    };
    assert_eq!(got.len(), 2);
    let html = "/var/www/html";
    assert_eq!(got[0].path, html);
    assert_eq!(
        got[0].result,
        Ok(vec![
            wp(Source::WordpressCore, html, "wordpress", "6.4.3", "6.5.2"),
            wp(Source::WordpressPlugin, html, "akismet", "5.3", "5.3.2"),
            wp(Source::WordpressPlugin, html, "contact-form-7", "5.8.7", "5.9.3"),
            wp(Source::WordpressTheme, html, "twentytwentyfour", "1.0", "1.1"),
        ])
    );
    assert_eq!(
        got[1].result,
        Err(DetectError::NotWordpress { detail: "Error: This does not seem to be a WordPress installation.".into() })
    );

    let one = sites(&["/var/www/html"]);
    for name in ["wp-none.txt", "wp-none-old-wp-cli.txt"] {
        let WordpressScan::Sites(got) = parse_wordpress_reply(&one, &fixture(name)).unwrap() else { panic!("{name}") };
        assert_eq!(got[0].result, Ok(vec![]), "{name}");
    }
    assert_eq!(parse_wordpress_reply(&one, &fixture("wp-missing.txt")), Ok(WordpressScan::WpCliMissing));
    let WordpressScan::Sites(got) = parse_wordpress_reply(&one, &fixture("wp-sudo-denied.txt")).unwrap() else {
        panic!()
    };
    assert_eq!(got[0].result, Err(DetectError::PermissionDenied { detail: "sudo: a password is required".into() }));
    // A reply for fewer sites than asked: the missing site says so.
    let WordpressScan::Sites(got) = parse_wordpress_reply(&sites(&["/a", "/b"]), &fixture("wp-none.txt")).unwrap()
    else {
        panic!()
    };
    assert_eq!(got[0].result, Ok(vec![]));
    assert!(matches!(&got[1].result, Err(DetectError::Unknown { detail }) if detail.contains("core-version 1")));
}

/// Every OS fixture through every tool's parser: no panic whatever the mismatch.
#[test]
fn every_fixture_through_every_parser_never_panics() {
    let dir = format!("{}/tests/fixtures/updates", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txt") {
            let text = std::fs::read_to_string(&path).unwrap();
            for tool in [UpdateTool::Yum6, UpdateTool::Yum7, UpdateTool::Dnf, UpdateTool::Apt] {
                let _ = parse_os_reply(tool, &text, true);
            }
            let _ = parse_wordpress_reply(&sites(&["/a", "/b"]), &text);
        }
    }
}

// ---- the notice ---------------------------------------------------------------------------------

fn jst(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, min, 0).unwrap().and_utc() - chrono::TimeDelta::hours(9)
}

fn noc() -> Noc {
    Noc {
        brand: "Speever".into(),
        mail_from: "mail_alert@hosting-srv.net".into(),
        interval_secs: 60,
        attempts: 3,
        timeout_secs: 10,
        reboot_after_secs: 900,
    }
}

fn web01() -> MailHost {
    MailHost {
        label: "web01".into(),
        ip: "127.77.0.2".into(),
        fqdn: "web01.example.jp".into(),
        os: "AlmaLinux 9".into(),
    }
}

fn assert_lines(got: &str, want: &[&str]) {
    let got: Vec<&str> = got.split('\n').collect();
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "line {}", i + 1);
    }
    assert_eq!(got.len(), want.len(), "{got:#?}");
}

#[test]
fn notice_mail_of_a_first_set() {
    let pending = scan(UpdateTool::Dnf, "dnf-updates.txt", false).updates;
    let diff = notice_diff(&BTreeSet::new(), &pending[1..3]);
    assert!(diff.send);
    let (n, h) = (noc(), web01());
    let ctx =
        NoticeContext { noc: &n, host: &h, customer: "サンプル株式会社", planned_at: jst(2026, 11, 26, 10, 0) };
    let mail = render_notice(&ctx, &diff.rows).unwrap();
    assert_eq!(mail.subject, "[Speever]セキュリティ情報のご案内（web01）");
    assert_lines(
        &mail.body,
        &[
            "サンプル株式会社 様",
            "",
            "お客様のサーバー web01（web01.example.jp）でご利用のソフトウェアについて、セキュリティアップデートが公開されました。",
            "あんしんパックのセキュリティアップデート代行として、弊社にて下記の日時にアップデート作業を実施いたします。",
            "",
            "作業予定日時：2026/11/26 10:00",
            "",
            "対象のソフトウェア：",
            "kernel 5.14.0-362.8.1.el9_3 → 5.14.0-427.13.1.el9_4（ALSA-2024:2758）",
            "openssl-libs 1:3.0.7-24.el9 → 1:3.0.7-27.el9_4（ALSA-2024:0310, ALSA-2024:2447）",
            "",
            "作業中、サービスが一時的に再起動する場合がございます。あらかじめご了承ください。",
            "",
            "本メールは送信専用メールアドレスからの自動送信で送信しております。",
            "本メールへの返信につきましては受信できません。ご注意ください。",
            "",
        ],
    );
}

#[test]
fn notice_mail_of_a_grown_set_marks_the_new_rows() {
    let mut pending = scan(UpdateTool::Apt, "ubuntu2404-updates.txt", false).updates;
    pending.truncate(2);
    let site = WordpressSite { path: "/var/www/html".into(), owner: None };
    let WordpressScan::Sites(wp_sites) = parse_wordpress_reply(&[site], &fixture("wp-updates.txt")).unwrap() else {
        panic!()
    };
    pending.extend(wp_sites[0].result.clone().unwrap().into_iter().filter(|u| u.source != Source::WordpressTheme));
    let yesterday = notice_diff(&BTreeSet::new(), &pending[..2]).keys;
    let diff = notice_diff(&yesterday, &pending);
    assert!(diff.send);
    // A brand written with its brackets is used as is; no customer name: no salutation.
    let n = Noc { brand: "[Speever]".into(), ..noc() };
    let h = MailHost {
        label: "wp01".into(),
        ip: "127.77.0.3".into(),
        fqdn: "wp01.example.jp".into(),
        os: "Ubuntu 24.04".into(),
    };
    let ctx = NoticeContext { noc: &n, host: &h, customer: "", planned_at: jst(2026, 5, 7, 10, 0) };
    let mail = render_notice(&ctx, &diff.rows).unwrap();
    assert_eq!(mail.subject, "[Speever]セキュリティ情報のご案内（wp01）");
    assert_lines(
        &mail.body,
        &[
            "お客様のサーバー wp01（wp01.example.jp）でご利用のソフトウェアについて、セキュリティアップデートが公開されました。",
            "あんしんパックのセキュリティアップデート代行として、弊社にて下記の日時にアップデート作業を実施いたします。",
            "",
            "作業予定日時：2026/05/07 10:00",
            "",
            "対象のソフトウェア：",
            "libc-bin 2.39-0ubuntu8.2 → 2.39-0ubuntu8.3（Ubuntu:24.04/noble-security）",
            "libc6 2.39-0ubuntu8.2 → 2.39-0ubuntu8.3（Ubuntu:24.04/noble-security）",
            "WordPress 6.4.3 → 6.5.2（/var/www/html）［新規］",
            "WordPress プラグイン akismet 5.3 → 5.3.2（/var/www/html）［新規］",
            "WordPress プラグイン contact-form-7 5.8.7 → 5.9.3（/var/www/html）［新規］",
            "（［新規］は前回のご案内以降に公開されたものです）",
            "",
            "作業中、サービスが一時的に再起動する場合がございます。あらかじめご了承ください。",
            "",
            "本メールは送信専用メールアドレスからの自動送信で送信しております。",
            "本メールへの返信につきましては受信できません。ご注意ください。",
            "",
        ],
    );
}

#[test]
fn notice_mail_shows_server_text_escaped_and_refuses_bad_fleet_text() {
    let evil = PendingUpdate {
        source: Source::Os,
        site: String::new(),
        package: "pkg\nSubject: x".into(),
        installed: String::new(),
        candidate: "1.0\u{1b}[2J".into(),
        advisory: "A,B".into(),
        severity: NONE,
        class: Security,
    };
    let diff = notice_diff(&BTreeSet::new(), &[evil]);
    let (n, h) = (noc(), web01());
    let ctx = NoticeContext { noc: &n, host: &h, customer: "顧客", planned_at: jst(2026, 11, 26, 10, 0) };
    let mail = render_notice(&ctx, &diff.rows).unwrap();
    assert!(mail.body.contains("pkg\\nSubject: x － → 1.0\\u{1b}[2J（A, B）\n"), "{}", mail.body);
    mail.validate().unwrap();
    let bad = MailHost { label: "web\n01".into(), ..web01() };
    assert!(render_notice(&NoticeContext { host: &bad, ..ctx }, &diff.rows).is_err());
    assert!(render_notice(&NoticeContext { customer: "a\u{2028}b", ..ctx }, &diff.rows).is_err());
}
