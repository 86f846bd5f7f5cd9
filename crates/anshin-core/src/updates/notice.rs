//! The customer notice of contract §8 (セキュリティ情報のご案内): when to send it, and its text.
//!
//! Owns: the notice's key (package, candidate) and its diff against what was last notified
//! ([`notice_diff`]), the mail ([`render_notice`]), the default planned date of the work
//! ([`default_planned_at`]: the next business day, 10:00 JST).
//! Must not know: the outbox, the store, clocks (`now` is a parameter), plans (the engine passes
//! only the rows the server is entitled to).
//!
//! The subject's brand prefix, the salutation and the closing lines are every written mail's
//! (`mail::written_mail`), so the notice cannot drift from the alerts.

use std::collections::BTreeSet;

use chrono::{DateTime, Days, Utc};
use chrono_tz::Asia::Tokyo;

use crate::calendar::{jst_at, next_business_hours_start};
use crate::fleet::Noc;
use crate::mail::{check_fleet_text, written_mail, FleetText, MailError, MailHost, RenderedMail};
use crate::text::visible;
use crate::updates::{PendingUpdate, Source};

/// The hour (JST) of the default planned date.
pub const PLANNED_HOUR: u32 = 10;

/// What a notice remembers of each update it announced.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NoticeKey {
    pub package: String,
    pub candidate: String,
}

impl NoticeKey {
    pub fn of(update: &PendingUpdate) -> NoticeKey {
        NoticeKey { package: update.package.clone(), candidate: update.candidate.clone() }
    }
}

/// One row of a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRow {
    pub update: PendingUpdate,
    /// Not in the last notice.
    pub new: bool,
}

/// The decision of one day's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeDiff {
    /// Mail: at least one pending update was never notified.
    pub send: bool,
    /// Everything pending, in the given order, the new ones marked.
    pub rows: Vec<NoticeRow>,
    /// What to remember once the mail is queued (today's keys).
    pub keys: BTreeSet<NoticeKey>,
}

/// Compares today's `pending` updates (those the server's notice covers) with the keys of the
/// last notice: one mail per new set; a set that grew mails again with everything pending,
/// the new rows marked; a set that shrank or stayed (updates applied, nothing new) mails nothing.
pub fn notice_diff(notified: &BTreeSet<NoticeKey>, pending: &[PendingUpdate]) -> NoticeDiff {
    let rows: Vec<NoticeRow> =
        pending.iter().map(|u| NoticeRow { update: u.clone(), new: !notified.contains(&NoticeKey::of(u)) }).collect();
    NoticeDiff { send: rows.iter().any(|r| r.new), keys: pending.iter().map(NoticeKey::of).collect(), rows }
}

/// The default planned date of the update work: 10:00 JST on the first business day after
/// `now`'s day in Japan (contract §8; business days as `calendar` counts them).
pub fn default_planned_at(now: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = now.with_timezone(&Tokyo).date_naive() + Days::new(1);
    let opens = next_business_hours_start(jst_at(tomorrow, 0));
    jst_at(opens.with_timezone(&Tokyo).date_naive(), PLANNED_HOUR)
}

/// Everything a notice needs besides its rows.
#[derive(Debug, Clone, Copy)]
pub struct NoticeContext<'a> {
    /// The brand of the subject.
    pub noc: &'a Noc,
    /// The server (its label and FQDN are named).
    pub host: &'a MailHost,
    /// The customer's name, for the salutation (`{name} 様`); empty: none.
    pub customer: &'a str,
    /// When the NOC will apply the updates.
    pub planned_at: DateTime<Utc>,
}

const NEW_MARK: &str = "［新規］";

/// The notice mail (contract §8): subject `[Speever]セキュリティ情報のご案内（{label}）`, body the
/// salutation, the sentences, `作業予定日時：YYYY/MM/DD HH:MM` (JST), one line per update
/// What an update job did, for the customer's 作業完了 mail.
#[derive(Debug, Clone, Copy)]
pub struct UpdateDone<'a> {
    pub noc: &'a Noc,
    pub host: &'a MailHost,
    /// The customer's name, for the salutation.
    pub customer: &'a str,
    /// The updates the job applied.
    pub applied: &'a [PendingUpdate],
    pub finished: DateTime<Utc>,
    /// A reboot is needed to run what was installed (the NOC will do it with the customer's
    /// agreement, as part of the update service).
    pub reboot_needed: bool,
}

/// The 作業完了 mail of an update job (contract §8): subject
/// `[Speever]セキュリティアップデート作業完了のお知らせ（{label}）`, the server, the time it ended, one
/// line per update applied (as in the notice), and whether a reboot is still needed.
pub fn render_done(d: &UpdateDone<'_>) -> Result<RenderedMail, MailError> {
    let host = d.host;
    for (what, value) in [
        (FleetText::Brand, d.noc.brand.as_str()),
        (FleetText::HostLabel, &host.label),
        (FleetText::Fqdn, &host.fqdn),
        (FleetText::CustomerName, d.customer),
    ] {
        check_fleet_text(what, value)?;
    }
    let mut lines = vec![
        "あんしんパックのセキュリティアップデート代行として、下記の作業が完了いたしましたので、お知らせいたします。"
            .to_string(),
        String::new(),
        format!("対象サーバー：{}（{}）", host.label, host.fqdn),
        format!("作業完了日時：{}", d.finished.with_timezone(&Tokyo).format("%Y/%m/%d %H:%M")),
        String::new(),
        "適用したアップデート：".to_string(),
    ];
    lines.extend(d.applied.iter().map(row_line));
    lines.push(String::new());
    if d.reboot_needed {
        lines.push(
            "適用した更新を有効にするにはサーバーの再起動が必要です。再起動の日時は別途ご相談させていただきます。"
                .into(),
        );
    } else {
        lines.push("作業後、サービスが正常に稼働していることを確認いたしました。".into());
    }
    written_mail(
        &d.noc.brand,
        &format!("セキュリティアップデート作業完了のお知らせ（{}）", host.label),
        d.customer,
        &lines,
    )
}

/// `{name} {installed} → {candidate}（{advisory}）`, the note on brief restarts, and the alert
/// mails' closing lines. When the set grew since the last notice, the new rows end with
/// `［新規］` and a line says so. Text read from servers (names, versions, advisories) is shown
/// with its hidden characters escaped; fleet texts are checked as for every mail.
pub fn render_notice(ctx: &NoticeContext<'_>, rows: &[NoticeRow]) -> Result<RenderedMail, MailError> {
    let host = ctx.host;
    for (what, value) in [
        (FleetText::Brand, ctx.noc.brand.as_str()),
        (FleetText::HostLabel, &host.label),
        (FleetText::Fqdn, &host.fqdn),
        (FleetText::CustomerName, ctx.customer),
    ] {
        check_fleet_text(what, value)?;
    }
    let mark_new = rows.iter().any(|r| r.new) && rows.iter().any(|r| !r.new);
    let mut lines = vec![
        format!(
            "お客様のサーバー {}（{}）でご利用のソフトウェアについて、セキュリティアップデートが公開されました。",
            host.label, host.fqdn
        ),
        "あんしんパックのセキュリティアップデート代行として、弊社にて下記の日時にアップデート作業を実施いたします。"
            .to_string(),
        String::new(),
        format!("作業予定日時：{}", ctx.planned_at.with_timezone(&Tokyo).format("%Y/%m/%d %H:%M")),
        String::new(),
        "対象のソフトウェア：".to_string(),
    ];
    for r in rows {
        lines.push(format!("{}{}", row_line(&r.update), if mark_new && r.new { NEW_MARK } else { "" }));
    }
    if mark_new {
        lines.push(format!("（{NEW_MARK}は前回のご案内以降に公開されたものです）"));
    }
    lines.push(String::new());
    lines.push("作業中、サービスが一時的に再起動する場合がございます。あらかじめご了承ください。".into());
    written_mail(&ctx.noc.brand, &format!("セキュリティ情報のご案内（{}）", host.label), ctx.customer, &lines)
}

/// `{name} {installed} → {candidate}（{advisory}）`; WordPress rows are named as such and show
/// their site where there is no advisory; an unknown installed version is `－`.
fn row_line(u: &PendingUpdate) -> String {
    let shown = |s: &str| if s.trim().is_empty() { "－".to_string() } else { visible(s).into_owned() };
    let name = match u.source {
        Source::Os => shown(&u.package),
        Source::WordpressCore => "WordPress".to_string(),
        Source::WordpressPlugin => format!("WordPress プラグイン {}", shown(&u.package)),
        Source::WordpressTheme => format!("WordPress テーマ {}", shown(&u.package)),
    };
    let note = if !u.advisory.trim().is_empty() {
        visible(&u.advisory).replace(',', ", ")
    } else if u.source != Source::Os && !u.site.trim().is_empty() {
        visible(&u.site).into_owned()
    } else {
        String::new()
    };
    let note = if note.is_empty() { note } else { format!("（{note}）") };
    format!("{name} {} → {}{note}", shown(&u.installed), shown(&u.candidate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::updates::{Severity, UpdateClass};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn jst(s: &str) -> DateTime<Utc> {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_local_timezone(Tokyo)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn os(package: &str, installed: &str, candidate: &str, advisory: &str) -> PendingUpdate {
        PendingUpdate {
            source: Source::Os,
            site: String::new(),
            package: package.into(),
            installed: installed.into(),
            candidate: candidate.into(),
            advisory: advisory.into(),
            severity: Severity::Important,
            class: UpdateClass::Security,
        }
    }

    #[test]
    fn planned_date_is_the_next_business_day_at_ten() {
        let cases = [
            // Wed 2026-11-25 morning, afternoon and late night: Thu 10:00.
            ("2026-11-25 08:00", "2026-11-26 10:00"),
            ("2026-11-25 15:00", "2026-11-26 10:00"),
            ("2026-11-25 23:59", "2026-11-26 10:00"),
            // Fri and the weekend: Mon.
            ("2026-11-27 11:00", "2026-11-30 10:00"),
            ("2026-11-28 11:00", "2026-11-30 10:00"),
            // Fri 11/20, then the weekend and Mon 11/23 勤労感謝の日: Tue 11/24.
            ("2026-11-20 12:00", "2026-11-24 10:00"),
            // Golden Week 2026: Thu 4/30 → Fri 5/1; Fri 5/1 → Thu 5/7.
            ("2026-04-30 09:00", "2026-05-01 10:00"),
            ("2026-05-01 09:00", "2026-05-07 10:00"),
        ];
        for (now, want) in cases {
            assert_eq!(default_planned_at(jst(now)), jst(want), "{now}");
        }
        // The day is Japan's: 2026-11-25 23:30 UTC is already Thu 11/26 08:30 JST.
        assert_eq!(default_planned_at(t("2026-11-25T23:30:00Z")), jst("2026-11-27 10:00"));
    }

    #[test]
    fn a_new_set_mails_once_and_a_grown_set_mails_again_marking_what_is_new() {
        let a = os("openssl-libs", "1:3.0.7-24.el9", "1:3.0.7-27.el9_4", "ALSA-2024:2447");
        let b = os("sudo", "1.9.5p2-9.el9", "1.9.5p2-10.el9_3", "ALSA-2024:0811");
        let none = BTreeSet::new();

        let day1 = notice_diff(&none, std::slice::from_ref(&a));
        assert!(day1.send);
        assert!(day1.rows.iter().all(|r| r.new));

        // Nothing new: no mail (the same keys again).
        let day2 = notice_diff(&day1.keys, std::slice::from_ref(&a));
        assert!(!day2.send);
        assert_eq!(day2.keys, day1.keys);

        // The set grew: a mail with everything, only the new row marked.
        let day3 = notice_diff(&day2.keys, &[a.clone(), b.clone()]);
        assert!(day3.send);
        assert_eq!(day3.rows.iter().map(|r| r.new).collect::<Vec<_>>(), [false, true]);

        // A newer candidate of a notified package is a new key.
        let a2 = os("openssl-libs", "1:3.0.7-24.el9", "1:3.0.7-28.el9_5", "ALSA-2024:9999");
        let day4 = notice_diff(&day3.keys, &[a2, b.clone()]);
        assert!(day4.send);
        assert_eq!(day4.rows.iter().map(|r| r.new).collect::<Vec<_>>(), [true, false]);

        // Applied (gone) or shrunk: no mail; nothing pending: no mail.
        assert!(!notice_diff(&day4.keys, &[b]).send);
        let empty = notice_diff(&day4.keys, &[]);
        assert!(!empty.send && empty.keys.is_empty() && empty.rows.is_empty());
    }
}
