//! The customer mails (contract §3, §4), rendered to the character: alert, recovery, response
//! started (対応開始) and status report (状況報告).
//!
//! Owns: the Japanese text of every mail (the seed's templates of §2.2.2, §2.3.2 and §2.4.2,
//! copied character for character, with the seed's copy-paste slips fixed as contract §3 says), the
//! subject forms, the fields block, the Asia/Tokyo time and duration formats, and the rule that no
//! header (and no one-line field of a body) can carry CR, LF or any other control character.
//! Must not know: SMTP, the outbox, the clock, the store, or how a level or a resource value was
//! decided (the caller passes the incident as it is; `now` is a parameter).
//!
//! # Shape of the API
//!
//! [`render`]`(&MailKind, &MailContext) -> Result<RenderedMail, MailError>`. The context says who
//! (brand from the fleet's `[noc]`, the server, the customer's name), what ([`Alert`]: the
//! [`Problem`] and when it was detected) and when the mail is written (`now`). The kind says which
//! mail. The same [`Alert`] value drives every mail of one incident.
//!
//! # Decisions
//!
//! * Subjects. Alert: `[{brand}][Lv.N]{trigger}`, where the trigger name already starts with the
//!   host label (`web01 ping 疎通不可`, as [`CheckKind::trigger`] spells it); this gives exactly the
//!   contract §3 subjects. Follow-up mails replace the level with what happened and name the incident
//!   by its trigger *without* the measured value (a value in a later subject would be stale):
//!   `[{brand}][復旧]…`, `[{brand}][対応開始]…`, `[{brand}][状況報告]…`, e.g.
//!   `[Speever][復旧]web01 Load avg.が 24 以上`. A brand given with its brackets (`[Speever]`) is
//!   used as is, so it never doubles.
//! * Times are Asia/Tokyo, `YYYY/MM/DD HH:MM:SS`. Durations are whole minutes, rounded down,
//!   written `{n}分` (`0分`, `18分`, `1500分`): the seed's field is "障害継続時間（分）". The alert's
//!   duration runs from `detected_at` to `now`; a recovery's to `recovered_at`.
//! * Item/value of a check, in the Zabbix convention the seed shows (`Ping：0`, `ssh（22/TCP）：0`):
//!   0 while down, 1 once up again. A service shows its display name and real port
//!   (`HTTP（80/TCP）：0`; DNS is probed over UDP: `DNS（53/UDP）：0`); SSH keeps the seed's lower case.
//! * Line breaks inside the seed's sentences come from the PDF's table cells
//!   (`…自動で復旧` / `対応を行います。`) and are joined; the blank lines of the text extraction are
//!   dropped. The seed's `送信元メールアドレス mail_alert@hosting-srv.net` row describes the
//!   sender (the From header), not a line of the body.
//! * Bodies use `\n` line endings and end with one `\n`; CRLF is the transport's business.
//!
//! # Header safety
//!
//! Text from the fleet file (brand, addresses, customer name, labels, FQDN, OS, custom check
//! names, phones) is checked by [`check_fleet_text`], one rule per [`FleetText`]: [`render`] runs
//! it on its context and refuses a control character (CR, LF, TAB, NUL, DEL, C1, U+2028/U+2029),
//! and `fleet::parse` runs the very same function on the file, so a fleet that validates can
//! always be mailed. Text that comes from servers or operators during monitoring (a resource's
//! trigger fragment, item and value, with a mount point or a value read over SSH; the numbers
//! called) is never a reason to drop a mail: [`render`] shows it with its hidden characters
//! escaped ([`crate::text::visible`]), so it cannot add a header or forge a line either.
//! [`check_header`], [`check_address`] and [`RenderedMail::validate`] are the same rule for the
//! transport, to run on From, To and an operator-edited subject and body just before sending.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Asia::Tokyo;

use crate::check::{CheckKind, Service};
use crate::fleet::{Noc, Server};
use crate::level::Level;
use crate::mail_text::breaks_line;
pub use crate::mail_text::{check_address, check_fleet_text, check_header, check_line, FleetText, MailError};
use crate::text::visible;

// ---- the seed's text, character for character -------------------------------------------------

/// The seed's separator between the message and the fields (§2.2.2 and every template after it).
pub const SEPARATOR: &str =
    "_____________________________ * ____________________________________ * ______________________________";

/// The seed's closing lines (every template of §2.2.2, §2.3.2, §2.4.2).
const CLOSING: [&str; 2] = [
    "本メールは送信専用メールアドレスからの自動送信で送信しております。",
    "本メールへの返信につきましては受信できません。ご注意ください。",
];

/// The last lines of every seed alert template (line break of the PDF cell joined).
const TARGET_SERVER: &str = "監視サービス対象サーバーです。";
const AUTO_RECOVERY_15_MIN: &str =
    "Ping/SSH 障害継続が 15 分以上になる場合、弊社障害対応チームにて自動で復旧対応を行います。";

// Field labels: the seed's and contract §3's exact spacing (U+3000 and ASCII spaces as printed).
const F_DETECTED: &str = "イベント発報日時：";
const F_DURATION: &str = "イベント継続時間：";
const F_ITEM: &str = "アイテム名／値\u{3000} ：";
const F_TRIGGER: &str = "トリガー名\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}：";
const F_HOST: &str = "ホスト名\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000} ：";
const F_IP: &str = "IP アドレス\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}：";
const F_FQDN: &str = "FQDN\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000} ：";
const F_TYPE: &str = "機器タイプ\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}：VPS";
const F_OS: &str = "OS\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}：";
// Fields beyond the seed: padded to eight characters like the two `イベント…` labels above them.
const F_RECOVERED: &str = "復旧日時\u{3000}\u{3000}\u{3000}\u{3000}：";
const F_STARTED: &str = "対応開始日時\u{3000}\u{3000}：";
const F_ACTION: &str = "作業内容\u{3000}\u{3000}\u{3000}\u{3000}：";
const F_REPORTED: &str = "報告日時\u{3000}\u{3000}\u{3000}\u{3000}：";

/// Shown for an empty field (a server without an `os` in the fleet file).
const UNKNOWN: &str = "－";

// ---- the context ----------------------------------------------------------------------------------

/// The server a mail is about, as the fields block shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailHost {
    pub label: String,
    pub ip: String,
    pub fqdn: String,
    /// `CentOS 7`; empty when the fleet file does not say (shown as `－`).
    pub os: String,
}

impl From<&Server> for MailHost {
    fn from(s: &Server) -> Self {
        MailHost { label: s.label.clone(), ip: s.ip.to_string(), fqdn: s.fqdn.clone(), os: s.os.clone() }
    }
}

impl MailHost {
    /// Several servers in one mail (a network outage, contract §9.6): each field lists the
    /// servers' values in the same order, comma-separated (an unknown OS as `－`).
    pub fn joined(servers: &[&Server]) -> MailHost {
        let join = |f: &dyn Fn(&Server) -> String| servers.iter().map(|s| f(s)).collect::<Vec<_>>().join(", ");
        MailHost {
            label: join(&|s| s.label.clone()),
            ip: join(&|s| s.ip.to_string()),
            fqdn: join(&|s| s.fqdn.clone()),
            os: if servers.iter().all(|s| s.os.trim().is_empty()) {
                String::new()
            } else {
                join(&|s| if s.os.trim().is_empty() { UNKNOWN.to_string() } else { s.os.clone() })
            },
        }
    }
}

/// A resource of contract §2 (seed §2.4). Only picks the seed's opening sentence; the numbers and
/// wording of the condition come from the caller (see [`Problem::Resource`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    Load,
    MailQueue,
    Disk,
    Inode,
}

impl Metric {
    /// The subject of the seed's sentence, with the seed's spacing before `の`/`が`
    /// (`Load Average の閾値超過`, `メールキューの閾値超過`).
    fn phrase(self) -> &'static str {
        match self {
            Metric::Load => "Load Average ",
            Metric::MailQueue => "メールキュー",
            Metric::Disk => "容量",
            Metric::Inode => "inode ",
        }
    }
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A check is hard down: ping, SSH, a service or a custom check. `port` is the port really
    /// checked (ignored for ping), shown in the item (`ssh（2222/TCP）`).
    Down { kind: CheckKind, port: u16 },
    /// A resource level was raised.
    Resource {
        metric: Metric,
        level: Level,
        /// The trigger name after the host label, value included, as contract §3 spells it:
        /// `Load avg.が 24 以上（現在：25.31）` (what `resource::Resource::subject_fragment`
        /// returns). The trigger name is `{label} {fragment}`.
        fragment: String,
        /// The item name of the fields block, e.g. `Load average`.
        item: String,
        /// The measured value that raised the level, as it should be printed: `25.31`, `96%`.
        value: String,
    },
    /// The gateway in front of the customer's servers does not answer (contract §9.6): one mail
    /// per customer, its affected servers in the fields ([`MailHost::joined`]).
    Network { gateway: String },
}

impl Problem {
    pub fn level(&self) -> Level {
        match self {
            Problem::Down { kind, .. } => kind.level(),
            Problem::Resource { level, .. } => *level,
            Problem::Network { .. } => Level::Unreachable,
        }
    }

    /// The trigger name (contract §2, §3), host label first: `web01 ping 疎通不可`,
    /// `web01 Load avg.が 24 以上（現在：25.31）`.
    pub fn trigger(&self, label: &str) -> String {
        match self {
            Problem::Down { kind, .. } => kind.trigger(label),
            Problem::Resource { fragment, .. } => format!("{label} {fragment}"),
            Problem::Network { gateway } => network_trigger(gateway),
        }
    }

    /// The incident's name in follow-up subjects: the trigger without the measured value
    /// (`web01 Load avg.が 24 以上`): the fragment's trailing `（現在：{value}）`, when present, is
    /// dropped.
    pub fn title(&self, label: &str) -> String {
        match self {
            Problem::Down { kind, .. } => kind.trigger(label),
            Problem::Network { gateway } => network_trigger(gateway),
            Problem::Resource { fragment, value, .. } => {
                let now = format!("（現在：{value}）");
                format!("{label} {}", fragment.strip_suffix(&now).unwrap_or(fragment))
            }
        }
    }

    /// The item name of the fields block: `Ping`, `ssh（22/TCP）`, `HTTP（80/TCP）`, `Load average`.
    pub fn item(&self) -> String {
        match self {
            Problem::Down { kind, port } => match kind {
                CheckKind::Ping => "Ping".into(),
                CheckKind::Ssh => format!("ssh（{port}/TCP）"),
                CheckKind::Service(Service::Dns) => format!("DNS（{port}/UDP）"),
                CheckKind::Service(s) => format!("{}（{port}/TCP）", s.display_name()),
                CheckKind::Custom(name) => format!("{name}（{port}/TCP）"),
            },
            Problem::Resource { item, .. } => item.clone(),
            Problem::Network { gateway } => format!("ネットワーク（{gateway}）"),
        }
    }

    /// The value shown while the alert is open: 0 for a down check, the measurement otherwise.
    fn alert_value(&self) -> &str {
        match self {
            Problem::Down { .. } | Problem::Network { .. } => "0",
            Problem::Resource { value, .. } => value,
        }
    }

    /// The check's name in the seed's sentences: `SSH`, `HTTP`, the custom check's own name.
    fn check_name(kind: &CheckKind) -> &str {
        match kind {
            CheckKind::Ping => "Ping",
            CheckKind::Ssh => "SSH",
            CheckKind::Service(s) => s.display_name(),
            CheckKind::Custom(name) => name,
        }
    }
}

/// `{gateway} ネットワーク疎通不可`: a network outage's trigger and subject (contract §9.6).
fn network_trigger(gateway: &str) -> String {
    format!("{gateway} ネットワーク疎通不可")
}

/// One incident, as every mail about it describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub problem: Problem,
    /// When the alert was raised (the check went hard down, the level rose): `イベント発報日時`.
    pub detected_at: DateTime<Utc>,
}

/// Everything a mail needs besides its kind.
#[derive(Debug, Clone, Copy)]
pub struct MailContext<'a> {
    /// Brand (`Speever`, subject prefix `[Speever]`) and `attempts` (the seed's `直近 3 回`).
    pub noc: &'a Noc,
    pub host: &'a MailHost,
    /// The customer's name, for the salutation of the mails people write (対応開始, 状況報告);
    /// empty: no salutation. Alert and recovery mails are the seed's automatic form, without one.
    pub customer: &'a str,
    pub alert: &'a Alert,
    /// When the mail is written: the alert's duration, 対応開始日時, 報告日時.
    pub now: DateTime<Utc>,
    /// The alert mail promises an automatic recovery after 15 minutes of ping/SSH failure
    /// (「Ping/SSH 障害継続が 15 分以上…」): only when the customer's plan includes it at the moment
    /// the reboot would be due (contract §9.7; `recovery::reboot_promised`).
    pub promise_auto_reboot: bool,
}

/// What the NOC does as primary recovery (seed §3.2), named in the 対応開始 mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryAction {
    /// Ping or SSH down: reboot the server.
    Reboot,
    /// A service down: log in over SSH and restart it (its display name: `HTTP`).
    RestartService(String),
    /// No automatic remedy (a resource, a custom check): an operator investigates.
    Investigate,
    /// A network outage: the NOC works on its network (contract §9.6).
    NetworkWork,
}

impl RecoveryAction {
    /// The usual action for a problem (contract §4).
    pub fn for_problem(problem: &Problem) -> RecoveryAction {
        match problem {
            Problem::Down { kind: CheckKind::Ping | CheckKind::Ssh, .. } => RecoveryAction::Reboot,
            Problem::Down { kind: CheckKind::Service(s), .. } => {
                RecoveryAction::RestartService(s.display_name().into())
            }
            Problem::Down { kind: CheckKind::Custom(_), .. } | Problem::Resource { .. } => RecoveryAction::Investigate,
            Problem::Network { .. } => RecoveryAction::NetworkWork,
        }
    }

    fn field(&self) -> String {
        match self {
            RecoveryAction::Reboot => "サーバーの再起動".into(),
            RecoveryAction::RestartService(name) => format!("{name} サービスの再起動"),
            RecoveryAction::Investigate => "障害要因の調査".into(),
            RecoveryAction::NetworkWork => "ネットワークの復旧作業".into(),
        }
    }

    fn sentence(&self) -> String {
        match self {
            RecoveryAction::Reboot => "弊社からも障害を確認いたしましたので、サーバーの再起動を行います。".into(),
            RecoveryAction::RestartService(name) => format!(
                "弊社からも障害を確認いたしましたので、SSH よりお客様サーバーにログインし、{name} サービスの再起動を試みます。"
            ),
            RecoveryAction::Investigate => "弊社からも障害を確認いたしましたので、要因の調査を行います。".into(),
            RecoveryAction::NetworkWork => {
                "弊社からも障害を確認いたしましたので、ネットワークの復旧作業を行います。".into()
            }
        }
    }
}

/// How one emergency call ended (contract §4, secondary recovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Answered,
    /// Rang out (10 rings) without an answer.
    NoAnswer,
    Busy,
    /// Could not ring at all (switched off, out of service).
    Unreachable,
}

impl CallOutcome {
    fn text(self) -> &'static str {
        match self {
            CallOutcome::Answered => "応答あり",
            CallOutcome::NoAnswer => "応答なし",
            CallOutcome::Busy => "話し中",
            CallOutcome::Unreachable => "不通",
        }
    }
}

/// One logged call of the phone escalation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallAttempt {
    pub number: String,
    pub at: DateTime<Utc>,
    /// Rings let through, when counted.
    pub rings: Option<u32>,
    pub outcome: CallOutcome,
}

/// Which mail to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailKind {
    /// The alert (seed §2.2.2, §2.3.2, §2.4.2): once per hard-down check or rise in level.
    Alert,
    /// The alert cleared.
    Recovery {
        recovered_at: DateTime<Utc>,
        /// The item's value when it cleared (a resource's sample). `None`: a check's "up" value, 1.
        value: Option<String>,
    },
    /// 対応開始 (seed §2.1, §3.2): primary recovery begins; sent at `now`.
    ResponseStarted { action: RecoveryAction },
    /// 状況報告 (seed §3.3): nobody answered the emergency numbers. A default the operator edits.
    StatusReport {
        /// The calls made, in order.
        calls: Vec<CallAttempt>,
        /// What has been done and where it stands, in the operator's words (several lines
        /// allowed); `None` writes a default sentence.
        status: Option<String>,
    },
}

/// A mail ready for the outbox: one-line subject (no brand check needed later), `\n` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub subject: String,
    pub body: String,
}

/// Text read from a server or typed during an incident, as a one-line field shows it: hidden
/// characters escaped, `－` when there is nothing to show.
fn shown(value: &str) -> String {
    if value.trim().is_empty() {
        UNKNOWN.to_string()
    } else {
        visible(value).into_owned()
    }
}

impl Problem {
    /// The problem with its server-supplied texts shown safely ([`shown`]): what [`render`]
    /// writes. A check's problem has none.
    fn shown(&self) -> Problem {
        match self {
            // A gateway's label is a fleet text, checked like the others (`render`).
            Problem::Down { .. } | Problem::Network { .. } => self.clone(),
            Problem::Resource { metric, level, fragment, item, value } => Problem::Resource {
                metric: *metric,
                level: *level,
                fragment: shown(fragment),
                item: shown(item),
                value: shown(value),
            },
        }
    }
}

impl RenderedMail {
    /// The check to run just before sending, also after an operator edited the mail: the
    /// subject is a header value; the body has `\n` line ends only (no CR) and no other control
    /// character but TAB.
    pub fn validate(&self) -> Result<(), MailError> {
        check_header("subject", &self.subject)?;
        match self.body.chars().enumerate().find(|(_, c)| breaks_line(*c) && !matches!(c, '\n' | '\t')) {
            Some((index, c)) => Err(MailError::ControlCharacter { field: "body", code: c as u32, index }),
            None => Ok(()),
        }
    }
}

// ---- formats -------------------------------------------------------------------------------------

/// `2026/11/25 10:02:03`: Asia/Tokyo, as the mails print times.
pub fn format_jst(t: DateTime<Utc>) -> String {
    t.with_timezone(&Tokyo).format("%Y/%m/%d %H:%M:%S").to_string()
}

/// `18分`: whole minutes from `from` to `to`, rounded down; never negative.
pub fn format_minutes(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    format!("{}分", (to - from).num_minutes().max(0))
}

/// `Speever` or `[Speever]` → `[Speever]`.
fn brand_prefix(brand: &str) -> String {
    let b = brand.trim();
    if b.starts_with('[') && b.ends_with(']') {
        b.to_string()
    } else {
        format!("[{b}]")
    }
}

// ---- rendering -----------------------------------------------------------------------------------

/// Writes one mail. Fails only on a fleet text that [`check_fleet_text`] refuses (which
/// `anshin validate` refuses too) or an operator's status text with a control character;
/// text read from servers is shown escaped, never refused (see the module doc).
pub fn render(kind: &MailKind, ctx: &MailContext<'_>) -> Result<RenderedMail, MailError> {
    let host = ctx.host;
    for (what, value) in [
        (FleetText::Brand, ctx.noc.brand.as_str()),
        (FleetText::HostLabel, &host.label),
        (FleetText::Ip, &host.ip),
        (FleetText::Fqdn, &host.fqdn),
        (FleetText::Os, &host.os),
        (FleetText::CustomerName, ctx.customer),
    ] {
        check_fleet_text(what, value)?;
    }
    match &ctx.alert.problem {
        Problem::Down { kind: CheckKind::Custom(name), .. } => check_fleet_text(FleetText::CustomCheck, name)?,
        Problem::Network { gateway } => check_fleet_text(FleetText::GatewayLabel, gateway)?,
        _ => {}
    }
    let problem = &ctx.alert.problem.shown();

    let prefix = brand_prefix(&ctx.noc.brand);
    let label = host.label.as_str();
    let mut b = Body::default();
    let subject = match kind {
        MailKind::Alert => {
            b.lines(alert_opening(problem, ctx.noc.attempts, ctx.promise_auto_reboot));
            b.fields(ctx, problem, &[], ctx.now, problem.alert_value());
            format!("{prefix}[{}]{}", problem.level(), problem.trigger(label))
        }
        MailKind::Recovery { recovered_at, value } => {
            b.lines(recovery_opening(problem));
            let value = match (value, problem) {
                (Some(v), _) => shown(v),
                (None, Problem::Down { .. } | Problem::Network { .. }) => "1".into(),
                (None, Problem::Resource { .. }) => UNKNOWN.into(),
            };
            b.fields(ctx, problem, &[(F_RECOVERED, format_jst(*recovered_at))], *recovered_at, &value);
            format!("{prefix}[復旧]{}", problem.title(label))
        }
        MailKind::ResponseStarted { action } => {
            if let RecoveryAction::RestartService(name) = action {
                check_header("service name", name)?;
            }
            b.salutation(ctx.customer);
            b.line("監視サービスにて検知した障害につきまして、弊社障害対応チームにて対応を開始いたしました。");
            b.line(&action.sentence());
            b.line("復旧を確認いたしましたら、復旧通知メールにてお知らせいたします。");
            b.line("一次復旧作業にて復旧が見込めない場合は、緊急連絡先電話番号宛にご連絡の上、その後の二次復旧作業についてご相談させていただきます。");
            let extra = [(F_STARTED, format_jst(ctx.now)), (F_ACTION, action.field())];
            b.fields(ctx, problem, &extra, ctx.now, problem.alert_value());
            format!("{prefix}[対応開始]{}", problem.title(label))
        }
        MailKind::StatusReport { calls, status } => {
            b.salutation(ctx.customer);
            b.line("監視サービスにて検知した障害につきまして、現在の状況をご報告いたします。");
            b.line("ご登録の緊急連絡先電話番号宛にお電話いたしましたが、ご担当者様につながりませんでした。");
            b.line("以降の対応につきまして、サポート窓口までご指示をお願いいたします。");
            b.blank();
            b.line("【現在の状況】");
            match status {
                Some(text) => {
                    check_status(text)?;
                    b.lines(text.trim_end_matches('\n').lines());
                }
                None => b.line("一次復旧作業を行いましたが、復旧に至っておりません。"),
            }
            b.blank();
            b.line("【お電話の記録】");
            if calls.is_empty() {
                b.line("（記録なし）");
            }
            for (i, c) in calls.iter().enumerate() {
                let rings = match (c.outcome, c.rings) {
                    (CallOutcome::NoAnswer, Some(n)) => format!("（呼び出し {n} コール）"),
                    _ => String::new(),
                };
                b.line(&format!(
                    "{} 回目：{}\u{3000}{}\u{3000}{}{rings}",
                    i + 1,
                    format_jst(c.at),
                    shown(&c.number),
                    c.outcome.text()
                ));
            }
            b.fields(ctx, problem, &[(F_REPORTED, format_jst(ctx.now))], ctx.now, problem.alert_value());
            format!("{prefix}[状況報告]{}", problem.title(label))
        }
    };
    b.blank();
    b.lines(CLOSING);
    let mail = RenderedMail { subject, body: b.0 };
    mail.validate()?;
    Ok(mail)
}

/// A written mail that is not about an incident (a restore done, a security notice): the brand
/// and `subject` (checked as one header line), the customer's salutation, `lines` as given, then
/// the seed's closing lines. Fleet texts inside `lines` are the caller's to check.
pub fn written_mail(brand: &str, subject: &str, customer: &str, lines: &[String]) -> Result<RenderedMail, MailError> {
    check_fleet_text(FleetText::Brand, brand)?;
    check_fleet_text(FleetText::CustomerName, customer)?;
    let mut b = Body::default();
    b.salutation(customer);
    b.lines(lines);
    b.blank();
    b.lines(CLOSING);
    let mail = RenderedMail { subject: format!("{}{subject}", brand_prefix(brand)), body: b.0 };
    mail.validate()?;
    Ok(mail)
}

/// Operator text may span lines and hold TABs, like an edited body, but no CR or other control.
fn check_status(text: &str) -> Result<(), MailError> {
    match text.chars().enumerate().find(|(_, c)| breaks_line(*c) && !matches!(c, '\n' | '\t')) {
        Some((index, c)) => Err(MailError::ControlCharacter { field: "status", code: c as u32, index }),
        None => Ok(()),
    }
}

/// The seed's opening lines for this kind of alert.
fn alert_opening(problem: &Problem, attempts: u32, promise: bool) -> Vec<String> {
    let mut out = match problem {
        Problem::Down { kind: CheckKind::Ping, .. } => {
            vec![
                "監視サービスにて、Ping 疎通で異常を検知いたしました。".to_string(),
                "サーバー稼働に問題が生じています。".into(),
            ]
        }
        Problem::Down { kind, .. } => {
            let name = Problem::check_name(kind);
            vec![
                format!("直近 {attempts} 回の {name} 監視への応答がありません。"),
                format!("{name} サーバーに問題が生じています。"),
            ]
        }
        Problem::Resource { metric, .. } => {
            vec![format!("監視サービスにて、{}の閾値超過を検知いたしました。", metric.phrase())]
        }
        Problem::Network { .. } => {
            vec!["監視サービスにて、お客様サーバーが接続されているネットワークの障害を検知いたしました。".to_string()]
        }
    };
    out.push(TARGET_SERVER.into());
    if promise {
        out.push(AUTO_RECOVERY_15_MIN.into());
    }
    out
}

/// The recovery mail's opening, in the alert's words.
fn recovery_opening(problem: &Problem) -> Vec<String> {
    let mut out = match problem {
        Problem::Down { kind: CheckKind::Ping, .. } => vec![
            "監視サービスにて、Ping 疎通の復旧を確認いたしました。".to_string(),
            "サーバーは Ping に応答しています。".into(),
        ],
        Problem::Down { kind, .. } => {
            let name = Problem::check_name(kind);
            vec![
                format!("監視サービスにて、{name} 監視への応答の復旧を確認いたしました。"),
                format!("{name} サーバーは正常に応答しています。"),
            ]
        }
        Problem::Resource { metric, .. } => {
            vec![format!("監視サービスにて、{}が閾値内に戻ったことを確認いたしました。", metric.phrase())]
        }
        Problem::Network { .. } => {
            vec!["監視サービスにて、お客様サーバーが接続されているネットワークの復旧を確認いたしました。".to_string()]
        }
    };
    out.push(TARGET_SERVER.into());
    out
}

#[derive(Default)]
struct Body(String);

impl Body {
    fn line(&mut self, s: &str) {
        self.0.push_str(s);
        self.0.push('\n');
    }

    fn lines<S: AsRef<str>>(&mut self, lines: impl IntoIterator<Item = S>) {
        for l in lines {
            self.line(l.as_ref());
        }
    }

    fn blank(&mut self) {
        self.0.push('\n');
    }

    fn salutation(&mut self, customer: &str) {
        if !customer.trim().is_empty() {
            self.line(&format!("{} 様", customer.trim()));
            self.blank();
        }
    }

    /// The separator and the fields block of contract §3, after `extra` lines (recovered at, …).
    /// The duration runs from detection to `until`. `p` is the problem as shown.
    fn fields(
        &mut self,
        ctx: &MailContext<'_>,
        p: &Problem,
        extra: &[(&str, String)],
        until: DateTime<Utc>,
        value: &str,
    ) {
        let h = ctx.host;
        let or_unknown = |s: &str| if s.trim().is_empty() { UNKNOWN.to_string() } else { s.to_string() };
        self.blank();
        self.line(SEPARATOR);
        for (label, v) in extra {
            self.line(&format!("{label}{v}"));
        }
        let s = &mut self.0;
        // Writing to a String cannot fail.
        let _ = writeln!(s, "{F_DETECTED}{}", format_jst(ctx.alert.detected_at));
        let _ = writeln!(s, "{F_DURATION}{}", format_minutes(ctx.alert.detected_at, until));
        let _ = writeln!(s, "{F_ITEM}{}：{value}", p.item());
        let _ = writeln!(s, "{F_TRIGGER}{}", p.trigger(&h.label));
        let _ = writeln!(s, "{F_HOST}{}", h.label);
        let _ = writeln!(s, "{F_IP}{}", or_unknown(&h.ip));
        let _ = writeln!(s, "{F_FQDN}{}", or_unknown(&h.fqdn));
        let _ = writeln!(s, "{F_TYPE}");
        let _ = writeln!(s, "{F_OS}{}", or_unknown(&h.os));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn noc(brand: &str) -> Noc {
        Noc {
            brand: brand.into(),
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
            os: "CentOS 7".into(),
        }
    }

    const DETECTED: &str = "2026-11-25T01:02:03Z";

    fn ping() -> Alert {
        Alert { problem: Problem::Down { kind: CheckKind::Ping, port: 0 }, detected_at: t(DETECTED) }
    }

    fn http() -> Alert {
        Alert { problem: Problem::Down { kind: CheckKind::Service(Service::Http), port: 80 }, detected_at: t(DETECTED) }
    }

    fn load() -> Alert {
        Alert {
            problem: Problem::Resource {
                metric: Metric::Load,
                level: Level::Severe,
                fragment: "Load avg.が 24 以上（現在：25.31）".into(),
                item: "Load average".into(),
                value: "25.31".into(),
            },
            detected_at: t(DETECTED),
        }
    }

    fn mail(kind: &MailKind, alert: &Alert, now: &str) -> RenderedMail {
        let (n, h) = (noc("Speever"), web01());
        let ctx = MailContext {
            noc: &n,
            host: &h,
            customer: "サンプル株式会社",
            alert,
            now: t(now),
            promise_auto_reboot: true,
        };
        render(kind, &ctx).unwrap()
    }

    /// Compares with a golden file; `ANSHIN_BLESS=1` rewrites it (then read the diff).
    fn golden(name: &str, m: &RenderedMail) {
        let got = format!("Subject: {}\n\n{}", m.subject, m.body);
        let path = format!("{}/tests/fixtures/mail/{name}.txt", env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("ANSHIN_BLESS").is_some() {
            std::fs::create_dir_all(format!("{}/tests/fixtures/mail", env!("CARGO_MANIFEST_DIR"))).unwrap();
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(got == want, "{name}: mail differs from {path}\n--- got ---\n{got}--- want ---\n{want}");
    }

    fn calls() -> Vec<CallAttempt> {
        vec![
            CallAttempt {
                number: "03-0000-0001".into(),
                at: t("2026-11-25T01:40:12Z"),
                rings: Some(10),
                outcome: CallOutcome::NoAnswer,
            },
            CallAttempt {
                number: "090-0000-0002".into(),
                at: t("2026-11-25T01:41:05Z"),
                rings: Some(10),
                outcome: CallOutcome::NoAnswer,
            },
        ]
    }

    #[test]
    fn golden_mails() {
        let table: Vec<(&str, MailKind, Alert, &str)> = vec![
            ("alert_ping_lv5", MailKind::Alert, ping(), "2026-11-25T01:02:33Z"),
            ("alert_http_lv4", MailKind::Alert, http(), "2026-11-25T01:02:03Z"),
            ("alert_load_lv4", MailKind::Alert, load(), "2026-11-25T01:02:03Z"),
            (
                "recovery_ping",
                MailKind::Recovery { recovered_at: t("2026-11-25T01:20:33Z"), value: None },
                ping(),
                "2026-11-25T01:20:33Z",
            ),
            (
                "recovery_load",
                MailKind::Recovery { recovered_at: t("2026-11-25T02:05:00Z"), value: Some("3.10".into()) },
                load(),
                "2026-11-25T02:05:00Z",
            ),
            (
                "response_started_http",
                MailKind::ResponseStarted { action: RecoveryAction::for_problem(&http().problem) },
                http(),
                "2026-11-25T01:03:10Z",
            ),
            (
                "status_report_ping",
                MailKind::StatusReport { calls: calls(), status: None },
                ping(),
                "2026-11-25T01:45:00Z",
            ),
        ];
        for (name, kind, alert, now) in table {
            let m = mail(&kind, &alert, now);
            if std::env::var_os("ANSHIN_SHOW_MAIL").is_some() {
                println!("==== {name}\nSubject: {}\n\n{}", m.subject, m.body);
            }
            golden(name, &m);
        }
    }

    #[test]
    fn subjects_are_exactly_spec() {
        let down = |kind: CheckKind, port| Alert { problem: Problem::Down { kind, port }, detected_at: t(DETECTED) };
        let res = |metric, level, fragment: &str, value: &str| Alert {
            problem: Problem::Resource {
                metric,
                level,
                fragment: format!("{fragment}（現在：{value}）"),
                item: "x".into(),
                value: value.into(),
            },
            detected_at: t(DETECTED),
        };
        let table = [
            (down(CheckKind::Ping, 0), "[Speever][Lv.5]web01 ping 疎通不可"),
            (down(CheckKind::Ssh, 22), "[Speever][Lv.4]web01 SSH サービスダウン"),
            (down(CheckKind::Service(Service::Http), 80), "[Speever][Lv.4]web01 HTTP サービスダウン"),
            (down(CheckKind::Service(Service::Plesk), 8443), "[Speever][Lv.4]web01 Plesk Panel サービスダウン"),
            (down(CheckKind::Service(Service::Submission), 587), "[Speever][Lv.4]web01 Submission サービスダウン"),
            (down(CheckKind::Custom("app".into()), 3000), "[Speever][Lv.4]web01 app サービスダウン"),
            (load(), "[Speever][Lv.4]web01 Load avg.が 24 以上（現在：25.31）"),
            (
                res(Metric::MailQueue, Level::Minor, "メールキューが 1000 件超", "1234"),
                "[Speever][Lv.3]web01 メールキューが 1000 件超（現在：1234）",
            ),
            (
                res(Metric::Disk, Level::Warning, "/ の使用率が 80%以上", "81%"),
                "[Speever][Lv.2]web01 / の使用率が 80%以上（現在：81%）",
            ),
            (
                res(Metric::Inode, Level::Severe, "/ の inode が 95%以上", "96%"),
                "[Speever][Lv.4]web01 / の inode が 95%以上（現在：96%）",
            ),
        ];
        for (alert, want) in table {
            assert_eq!(mail(&MailKind::Alert, &alert, DETECTED).subject, want);
        }
    }

    /// Every service's display name reaches subject, opening lines, item and trigger; the seed's
    /// `Ping：0` / `ping 疎通不可` copy-paste slips never appear outside a ping alert.
    #[test]
    fn every_service_mail_names_its_own_service() {
        for svc in Service::ALL {
            let port = svc.default_port();
            let alert =
                Alert { problem: Problem::Down { kind: CheckKind::Service(svc), port }, detected_at: t(DETECTED) };
            let m = mail(&MailKind::Alert, &alert, DETECTED);
            let name = svc.display_name();
            let proto = if svc == Service::Dns { "UDP" } else { "TCP" };
            assert_eq!(m.subject, format!("[Speever][Lv.4]web01 {name} サービスダウン"));
            for want in [
                format!("直近 3 回の {name} 監視への応答がありません。\n{name} サーバーに問題が生じています。\n"),
                format!("{F_ITEM}{name}（{port}/{proto}）：0\n"),
                format!("{F_TRIGGER}web01 {name} サービスダウン\n"),
            ] {
                assert!(m.body.contains(&want), "{name}: missing {want:?} in\n{}", m.body);
            }
            assert!(!m.body.contains("Ping：0") && !m.body.contains("疎通"), "{name}:\n{}", m.body);
        }
        let ssh = Alert { problem: Problem::Down { kind: CheckKind::Ssh, port: 2222 }, detected_at: t(DETECTED) };
        let m = mail(&MailKind::Alert, &ssh, DETECTED);
        assert!(m.body.starts_with("直近 3 回の SSH 監視への応答がありません。\nSSH サーバーに問題が生じています。\n"));
        assert!(m.body.contains(&format!("{F_ITEM}ssh（2222/TCP）：0\n")), "{}", m.body);
    }

    #[test]
    fn resource_openings_follow_the_seed() {
        let table = [
            (Metric::Load, "監視サービスにて、Load Average の閾値超過を検知いたしました。"),
            (Metric::MailQueue, "監視サービスにて、メールキューの閾値超過を検知いたしました。"),
            (Metric::Disk, "監視サービスにて、容量の閾値超過を検知いたしました。"),
            (Metric::Inode, "監視サービスにて、inode の閾値超過を検知いたしました。"),
        ];
        for (metric, first) in table {
            let mut alert = load();
            if let Problem::Resource { metric: m, .. } = &mut alert.problem {
                *m = metric;
            }
            let body = mail(&MailKind::Alert, &alert, DETECTED).body;
            assert!(body.starts_with(&format!("{first}\n{TARGET_SERVER}\n{AUTO_RECOVERY_15_MIN}\n\n")), "{body}");
        }
    }

    /// contract §9.7: without the promise, the alert ends with the target line and nothing is
    /// promised; the rest of the mail is the same.
    #[test]
    fn the_15_minute_sentence_only_when_promised() {
        let (n, h, alert) = (noc("Speever"), web01(), ping());
        let with = |promise_auto_reboot| {
            let ctx =
                MailContext { noc: &n, host: &h, customer: "", alert: &alert, now: t(DETECTED), promise_auto_reboot };
            render(&MailKind::Alert, &ctx).unwrap()
        };
        let (promised, not) = (with(true), with(false));
        assert!(promised.body.contains(AUTO_RECOVERY_15_MIN));
        assert!(!not.body.contains("15 分"), "{}", not.body);
        assert_eq!(promised.subject, not.subject);
        assert_eq!(promised.body.replace(&format!("{AUTO_RECOVERY_15_MIN}\n"), ""), not.body);
    }

    #[test]
    fn brand_is_the_fleets() {
        let h = web01();
        let alert = ping();
        for (brand, want) in [
            ("OtherBrand", "[OtherBrand][Lv.5]web01 ping 疎通不可"),
            ("[OtherBrand]", "[OtherBrand][Lv.5]web01 ping 疎通不可"),
            ("Speever", "[Speever][Lv.5]web01 ping 疎通不可"),
        ] {
            let n = noc(brand);
            let ctx = MailContext {
                noc: &n,
                host: &h,
                customer: "",
                alert: &alert,
                now: t(DETECTED),
                promise_auto_reboot: true,
            };
            assert_eq!(render(&MailKind::Alert, &ctx).unwrap().subject, want);
            let started = render(&MailKind::ResponseStarted { action: RecoveryAction::Reboot }, &ctx).unwrap();
            assert_eq!(started.subject, want.replace("[Lv.5]", "[対応開始]"));
        }
    }

    #[test]
    fn times_are_tokyo_and_durations_whole_minutes() {
        let table = [
            // (UTC, JST) across midnight, the month and the year.
            ("2026-11-24T15:00:00Z", "2026/11/25 00:00:00"),
            ("2026-11-24T14:59:59Z", "2026/11/24 23:59:59"),
            ("2026-11-30T16:30:00Z", "2026/12/01 01:30:00"),
            ("2026-12-31T15:00:01Z", "2027/01/01 00:00:01"),
            ("2026-11-25T01:02:03Z", "2026/11/25 10:02:03"),
        ];
        for (utc, jst) in table {
            assert_eq!(format_jst(t(utc)), jst, "{utc}");
        }
        let d = t(DETECTED);
        let minutes =
            [(0, "0分"), (59, "0分"), (60, "1分"), (15 * 60 + 59, "15分"), (25 * 3600, "1500分"), (-30, "0分")];
        for (secs, want) in minutes {
            assert_eq!(format_minutes(d, d + chrono::Duration::seconds(secs)), want, "{secs}");
        }
        // In the mail: detected 23:58:30 JST, written 00:16:40 JST the next day.
        let alert =
            Alert { problem: Problem::Down { kind: CheckKind::Ping, port: 0 }, detected_at: t("2026-11-24T14:58:30Z") };
        let body = mail(&MailKind::Alert, &alert, "2026-11-24T15:16:40Z").body;
        assert!(body.contains("イベント発報日時：2026/11/24 23:58:30\nイベント継続時間：18分\n"), "{body}");
    }

    /// CR/LF (or any control character) in anything that reaches a subject or a one-line field is
    /// refused, never passed on or silently cleaned.
    #[test]
    fn line_breaks_are_refused_everywhere() {
        let bad = ["web01\r\nBcc: x@evil.example", "web01\n", "web\r01", "a\u{0}b", "a\u{85}b", "a\u{2028}b", "a\tb"];
        for evil in bad {
            let h = MailHost { label: evil.into(), ..web01() };
            let n = noc("Speever");
            let alert = ping();
            let ctx = MailContext {
                noc: &n,
                host: &h,
                customer: "",
                alert: &alert,
                now: t(DETECTED),
                promise_auto_reboot: true,
            };
            let err = render(&MailKind::Alert, &ctx).unwrap_err();
            assert!(matches!(err, MailError::ControlCharacter { field: "host label", .. }), "{evil:?}: {err}");
            assert!(!err.to_string().contains('\n') && !err.to_string().contains('\r'), "{err}");

            let n = noc(evil);
            let h = web01();
            let ctx = MailContext {
                noc: &n,
                host: &h,
                customer: "",
                alert: &alert,
                now: t(DETECTED),
                promise_auto_reboot: true,
            };
            assert!(matches!(render(&MailKind::Alert, &ctx), Err(MailError::ControlCharacter { field: "brand", .. })));

            let ctx = MailContext {
                noc: &noc("Speever"),
                host: &h,
                customer: evil,
                alert: &alert,
                now: t(DETECTED),
                promise_auto_reboot: true,
            };
            let err = render(&MailKind::ResponseStarted { action: RecoveryAction::Reboot }, &ctx).unwrap_err();
            assert!(matches!(err, MailError::ControlCharacter { field: "customer name", .. }), "{err}");

            let custom = Alert {
                problem: Problem::Down { kind: CheckKind::Custom(evil.into()), port: 1 },
                detected_at: t(DETECTED),
            };
            let ctx = MailContext {
                noc: &noc("Speever"),
                host: &h,
                customer: "",
                alert: &custom,
                now: t(DETECTED),
                promise_auto_reboot: true,
            };
            assert!(render(&MailKind::Alert, &ctx).is_err(), "custom {evil:?}");

            let os = MailHost { os: evil.into(), ..web01() };
            let ctx = MailContext {
                noc: &noc("Speever"),
                host: &os,
                customer: "",
                alert: &alert,
                now: t(DETECTED),
                promise_auto_reboot: true,
            };
            assert!(matches!(render(&MailKind::Alert, &ctx), Err(MailError::ControlCharacter { field: "OS", .. })));

            let ctx = MailContext {
                noc: &noc("Speever"),
                host: &h,
                customer: "",
                alert: &alert,
                now: t(DETECTED),
                promise_auto_reboot: true,
            };
            let kind = MailKind::StatusReport { calls: vec![], status: Some(evil.into()) };
            let has_bad = evil.chars().any(|c| breaks_line(c) && !matches!(c, '\n' | '\t'));
            assert_eq!(render(&kind, &ctx).is_err(), has_bad, "status {evil:?}");

            assert!(check_header("subject", evil).is_err());
            assert!(check_address("to", &format!("ops@example.jp{evil}")).is_err());
        }
        assert_eq!(check_header("brand", " "), Err(MailError::Empty { field: "brand" }));
        let ctx = MailContext {
            noc: &noc(""),
            host: &web01(),
            customer: "",
            alert: &ping(),
            now: t(DETECTED),
            promise_auto_reboot: true,
        };
        assert_eq!(render(&MailKind::Alert, &ctx), Err(MailError::Empty { field: "brand" }));
    }

    /// What servers say (a mount point, a value read over SSH) and the numbers an operator
    /// called are shown escaped: the mail still goes, on one line per field, with no header
    /// added.
    #[test]
    fn text_from_servers_is_shown_escaped_never_refused() {
        let evil = "97%\r\nBcc: x@evil.example\u{1b}]0;owned\u{7}\u{2028}";
        let mut res = load();
        if let Problem::Resource { fragment, item, value, .. } = &mut res.problem {
            *fragment = format!("/ の使用率が 95%以上（現在：{evil}）");
            *item = "Disk\tusage".into();
            *value = evil.into();
        }
        let h = web01();
        let calls = vec![CallAttempt { number: "03\u{2028}0000".into(), ..calls()[0].clone() }];
        let kinds = [
            MailKind::Alert,
            MailKind::Recovery { recovered_at: t(DETECTED), value: Some("\u{1b}[2J".into()) },
            MailKind::ResponseStarted { action: RecoveryAction::Investigate },
            MailKind::StatusReport { calls, status: None },
        ];
        for kind in &kinds {
            let n = noc("Speever");
            let ctx = MailContext {
                noc: &n,
                host: &h,
                customer: "",
                alert: &res,
                now: t(DETECTED),
                promise_auto_reboot: true,
            };
            let m = render(kind, &ctx).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert_eq!(m.validate(), Ok(()));
            assert!(!m.subject.chars().any(crate::text::is_hidden), "{:?}", m.subject);
            assert!(m.body.lines().all(|l| !l.chars().any(crate::text::is_hidden)), "{:?}", m.body);
            assert!(!m.body.lines().any(|l| l.starts_with("Bcc:")), "{}", m.body);
            let escaped = "97%\\r\\nBcc: x@evil.example\\u{1b}]0;owned\\u{7}\\u{2028}";
            assert!(
                m.body.contains(&format!("{F_TRIGGER}web01 / の使用率が 95%以上（現在：{escaped}）\n")),
                "{}",
                m.body
            );
            if *kind == MailKind::Alert {
                assert_eq!(m.subject, format!("[Speever][Lv.4]web01 / の使用率が 95%以上（現在：{escaped}）"));
            } else {
                assert!(m.subject.ends_with("web01 / の使用率が 95%以上"), "{}", m.subject);
            }
        }
        // Nothing at all to show is a dash, not a refusal.
        let mut empty = load();
        if let Problem::Resource { fragment, item, value, .. } = &mut empty.problem {
            (*fragment, *item, *value) = (String::new(), " ".into(), String::new());
        }
        let n = noc("Speever");
        let ctx =
            MailContext { noc: &n, host: &h, customer: "", alert: &empty, now: t(DETECTED), promise_auto_reboot: true };
        let m = render(&MailKind::Alert, &ctx).unwrap();
        assert_eq!(m.subject, "[Speever][Lv.4]web01 －");
        assert!(m.body.contains(&format!("{F_ITEM}－：－\n")), "{}", m.body);
    }

    #[test]
    fn addresses_and_edited_mails_are_checked_before_sending() {
        for (addr, ok) in [
            ("ops@example.jp", true),
            ("mail_alert@hosting-srv.net", true),
            ("ops@example.jp\r\nBcc: x@y.jp", false),
            ("ops example.jp", false),
            ("a@b@c", false),
            ("Ops <ops@example.jp>", false),
            ("a@b.jp, c@d.jp", false),
            ("", false),
        ] {
            assert_eq!(check_address("to", addr).is_ok(), ok, "{addr:?}");
        }
        let mut m = mail(&MailKind::StatusReport { calls: calls(), status: None }, &ping(), DETECTED);
        assert_eq!(m.validate(), Ok(()));
        m.body.push_str("追記：担当者に再度お電話します。\n\tインデント可\n");
        assert_eq!(m.validate(), Ok(()));
        m.body.push_str("CRLF\r\n");
        assert!(matches!(m.validate(), Err(MailError::ControlCharacter { field: "body", code: 0x0D, .. })));
        m.subject = "件名\r\nBcc: x@y.jp".into();
        assert!(matches!(m.validate(), Err(MailError::ControlCharacter { field: "subject", code: 0x0D, .. })));
    }

    #[test]
    fn status_report_takes_the_operators_words_and_every_outcome() {
        let mut calls = calls();
        calls.push(CallAttempt {
            number: "03-0000-0003".into(),
            at: t("2026-11-25T01:42:00Z"),
            rings: None,
            outcome: CallOutcome::Busy,
        });
        let status = "サーバーを再起動しましたが、起動しません。\nコンソールにてディスクエラーを確認しております。\n"
            .to_string();
        let m = mail(&MailKind::StatusReport { calls, status: Some(status) }, &ping(), "2026-11-25T01:45:00Z");
        assert!(m.body.contains("【現在の状況】\nサーバーを再起動しましたが、起動しません。\nコンソールにてディスクエラーを確認しております。\n\n【お電話の記録】\n"), "{}", m.body);
        assert!(m.body.contains("3 回目：2026/11/25 10:42:00\u{3000}03-0000-0003\u{3000}話し中\n"), "{}", m.body);
        let none = mail(&MailKind::StatusReport { calls: vec![], status: None }, &ping(), DETECTED);
        assert!(none.body.contains("【お電話の記録】\n（記録なし）\n"), "{}", none.body);
    }

    /// Every mail has one `\n` at the end, no CR, the separator once and the closing lines last.
    #[test]
    fn every_mail_has_the_same_frame() {
        let kinds = [
            MailKind::Alert,
            MailKind::Recovery { recovered_at: t("2026-11-25T02:00:00Z"), value: None },
            MailKind::ResponseStarted { action: RecoveryAction::Investigate },
            MailKind::StatusReport { calls: calls(), status: None },
        ];
        for kind in &kinds {
            for alert in [ping(), http(), load()] {
                let m = mail(kind, &alert, "2026-11-25T02:00:00Z");
                assert!(m.body.ends_with(&format!("{}\n{}\n", CLOSING[0], CLOSING[1])), "{kind:?}");
                assert!(!m.body.ends_with("\n\n") && !m.body.contains('\r'));
                assert_eq!(m.body.matches(SEPARATOR).count(), 1);
                assert!(m.body.contains(&format!("{F_TYPE}\n{F_OS}CentOS 7\n")));
            }
        }
    }

    #[test]
    fn follow_up_subjects_name_the_incident_without_a_stale_value() {
        let table = [
            (
                MailKind::Recovery { recovered_at: t("2026-11-25T02:00:00Z"), value: None },
                "[Speever][復旧]web01 Load avg.が 24 以上",
            ),
            (
                MailKind::ResponseStarted { action: RecoveryAction::Investigate },
                "[Speever][対応開始]web01 Load avg.が 24 以上",
            ),
            (MailKind::StatusReport { calls: vec![], status: None }, "[Speever][状況報告]web01 Load avg.が 24 以上"),
        ];
        for (kind, want) in table {
            assert_eq!(mail(&kind, &load(), DETECTED).subject, want);
        }
        // A fragment without the value keeps its whole text.
        let mut bare = load();
        if let Problem::Resource { fragment, .. } = &mut bare.problem {
            *fragment = "Load avg.が 24 以上".into();
        }
        assert_eq!(bare.problem.title("web01"), "web01 Load avg.が 24 以上");
        assert_eq!(bare.problem.trigger("web01"), "web01 Load avg.が 24 以上");
        let m = mail(&MailKind::Recovery { recovered_at: t("2026-11-25T01:20:33Z"), value: None }, &http(), DETECTED);
        assert_eq!(m.subject, "[Speever][復旧]web01 HTTP サービスダウン");
        assert!(m.body.contains(&format!("{F_ITEM}HTTP（80/TCP）：1\n")), "{}", m.body);
    }

    #[test]
    fn a_server_without_os_shows_a_dash() {
        let (n, h) = (noc("Speever"), MailHost { os: String::new(), ..web01() });
        let alert = ping();
        let ctx =
            MailContext { noc: &n, host: &h, customer: "", alert: &alert, now: t(DETECTED), promise_auto_reboot: true };
        assert!(render(&MailKind::Alert, &ctx).unwrap().body.contains(&format!("{F_OS}－\n")));
    }
}
