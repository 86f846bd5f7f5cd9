//! Which customer mail an incident change sends, and to whom.
//!
//! Owns: the mapping from an opened or closed incident to an outbox entry — the customer of
//! the host, the plan's entitlement to that kind of mail (contract §1: ping/SSH mail on every plan,
//! service and resource mail on every plan but "zero"), and the rendering by `anshin-core::mail`.
//! Must not know: SMTP, retries (the outbox runner), or when incidents open (the decider).

use std::sync::Arc;

use anshin_core::fleet::{Customer, Server};
use anshin_core::mail::{
    self, Alert, CallAttempt, MailContext, MailHost, MailKind, Problem, RecoveryAction, RenderedMail,
};
use anshin_core::recovery::reboot_promised;
use anshin_core::{CheckKind, Fleet};
use chrono::{DateTime, Utc};

use crate::store::outbox::{NewMail, OutboxKind};

#[derive(Debug, Clone)]
pub(crate) struct AlertMailer {
    fleet: Arc<Fleet>,
}

impl AlertMailer {
    pub fn new(fleet: Arc<Fleet>) -> Self {
        AlertMailer { fleet }
    }

    /// The server and customer a host's mail goes to. Gateways have no customer: their
    /// network incidents are for the NOC, not mailed.
    fn recipient(&self, host: &str) -> Option<(&Server, &Customer)> {
        let server = self.fleet.server(host)?;
        Some((server, self.fleet.customer(&server.customer)?))
    }

    /// Whether the plan in force when the problem was detected includes its mail.
    fn entitled(customer: &Customer, problem: &Problem, detected_at: DateTime<Utc>) -> bool {
        let plan = customer.plan_at(detected_at);
        match problem {
            Problem::Down { kind: CheckKind::Ping | CheckKind::Ssh, .. } => true,
            Problem::Down { .. } => plan.service_monitoring(),
            Problem::Resource { .. } => plan.resource_monitoring(),
            // Network monitoring and its recovery: every plan, 24/365 (contract §1.1, §9.6).
            Problem::Network { .. } => true,
        }
    }

    /// The context every mail of a problem is written in.
    fn context<'a>(
        &'a self,
        mail_host: &'a MailHost,
        customer: &'a Customer,
        alert: &'a Alert,
        now: DateTime<Utc>,
    ) -> MailContext<'a> {
        // A network outage is the NOC's to mend, not a reboot's: nothing is promised.
        let promise_auto_reboot = !matches!(alert.problem, Problem::Network { .. })
            && reboot_promised(|t| customer.plan_at(t), alert.detected_at, self.fleet.noc.reboot_after_secs);
        MailContext { noc: &self.fleet.noc, host: mail_host, customer: &customer.name, alert, now, promise_auto_reboot }
    }

    /// The alert mail of a new hard problem (or a rise in level), if the contract includes it.
    pub fn alert(&self, host: &str, incident: i64, problem: &Problem, detected_at: DateTime<Utc>) -> Option<NewMail> {
        self.render(host, incident, problem, detected_at, detected_at, MailKind::Alert, OutboxKind::Alert)
    }

    /// The alert a maintenance pause held, sent when the pause ends at `now`: the real event
    /// time, and the duration so far (contract §4, maintenance pause).
    pub fn released_alert(
        &self,
        host: &str,
        incident: i64,
        problem: &Problem,
        detected_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<NewMail> {
        self.render(host, incident, problem, detected_at, now, MailKind::Alert, OutboxKind::Alert)
    }

    /// The recovery mail when the problem is over.
    pub fn recovery(
        &self,
        host: &str,
        incident: i64,
        problem: &Problem,
        detected_at: DateTime<Utc>,
        recovered_at: DateTime<Utc>,
        value: Option<String>,
    ) -> Option<NewMail> {
        let kind = MailKind::Recovery { recovered_at, value };
        self.render(host, incident, problem, detected_at, recovered_at, kind, OutboxKind::Recovery)
    }

    /// The 対応開始 mail: primary recovery of the incident begins now.
    pub fn response_started(
        &self,
        host: &str,
        incident: i64,
        problem: &Problem,
        detected_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<NewMail> {
        let kind = MailKind::ResponseStarted { action: RecoveryAction::for_problem(problem) };
        self.render(host, incident, problem, detected_at, now, kind, OutboxKind::ResponseStarted)
    }

    /// The 状況報告 draft an operator edits after the emergency numbers were called in vain:
    /// recipients and the rendered text (`None`: no customer, or nothing to render).
    pub fn status_report_draft(
        &self,
        host: &str,
        problem: &Problem,
        detected_at: DateTime<Utc>,
        calls: Vec<CallAttempt>,
        now: DateTime<Utc>,
    ) -> Option<(Vec<String>, RenderedMail)> {
        let (server, customer) = self.recipient(host)?;
        let mail_host = MailHost::from(server);
        let alert = Alert { problem: problem.clone(), detected_at };
        let ctx = self.context(&mail_host, customer, &alert, now);
        let rendered = mail::render(&MailKind::StatusReport { calls, status: None }, &ctx).ok()?;
        Some((customer.notify.clone(), rendered))
    }

    /// The operator's edited 状況報告, checked for header safety, ready for the outbox.
    pub fn status_report(&self, host: &str, incident: i64, subject: &str, body: &str) -> Result<NewMail, String> {
        let (_, customer) = self.recipient(host).ok_or_else(|| format!("{host} has no customer to report to"))?;
        let rendered = RenderedMail { subject: subject.trim().to_string(), body: body.replace("\r\n", "\n") };
        if rendered.subject.is_empty() || rendered.body.trim().is_empty() {
            return Err("a status report needs a subject and a body".into());
        }
        rendered.validate().map_err(|e| e.to_string())?;
        Ok(NewMail {
            kind: OutboxKind::StatusReport,
            incident_id: Some(incident),
            from: self.fleet.noc.mail_from.clone(),
            to: customer.notify.clone(),
            subject: rendered.subject,
            body: rendered.body,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn render(
        &self,
        host: &str,
        incident: i64,
        problem: &Problem,
        detected_at: DateTime<Utc>,
        now: DateTime<Utc>,
        kind: MailKind,
        outbox_kind: OutboxKind,
    ) -> Option<NewMail> {
        let (server, customer) = self.recipient(host)?;
        if !Self::entitled(customer, problem, detected_at) {
            return None;
        }
        let mail_host = MailHost::from(server);
        let alert = Alert { problem: problem.clone(), detected_at };
        let ctx = self.context(&mail_host, customer, &alert, now);
        match mail::render(&kind, &ctx) {
            Ok(rendered) => Some(NewMail {
                kind: outbox_kind,
                incident_id: Some(incident),
                from: self.fleet.noc.mail_from.clone(),
                to: customer.notify.clone(),
                subject: rendered.subject,
                body: rendered.body,
            }),
            Err(e) => {
                tracing::error!(host, incident, error = %e, "cannot render the customer mail");
                None
            }
        }
    }

    /// The mails of a network outage (contract §9.6): one per customer with servers behind
    /// `gateway` among `affected` (the caller leaves out servers in a maintenance pause), the
    /// customer's servers in fleet order in one fields block. `kind` is the alert, the
    /// 対応開始 (`RecoveryAction::NetworkWork`) or the recovery; `now` as for the other mails.
    pub fn network(
        &self,
        gateway: &str,
        incident: i64,
        affected: &[&str],
        detected_at: DateTime<Utc>,
        now: DateTime<Utc>,
        kind: &MailKind,
    ) -> Vec<NewMail> {
        let outbox_kind = match kind {
            MailKind::Alert => OutboxKind::Alert,
            MailKind::Recovery { .. } => OutboxKind::Recovery,
            MailKind::ResponseStarted { .. } => OutboxKind::ResponseStarted,
            MailKind::StatusReport { .. } => OutboxKind::StatusReport,
        };
        let alert = Alert { problem: Problem::Network { gateway: gateway.to_string() }, detected_at };
        let behind: Vec<&Server> = self
            .fleet
            .servers
            .iter()
            .filter(|s| s.gateway.as_deref() == Some(gateway) && affected.contains(&s.label.as_str()))
            .collect();
        let mut mails = Vec::new();
        for customer in &self.fleet.customers {
            let theirs: Vec<&Server> = behind.iter().copied().filter(|s| s.customer == customer.id).collect();
            if theirs.is_empty() {
                continue;
            }
            let mail_host = MailHost::joined(&theirs);
            let ctx = self.context(&mail_host, customer, &alert, now);
            match mail::render(kind, &ctx) {
                Ok(rendered) => mails.push(NewMail {
                    kind: outbox_kind,
                    incident_id: Some(incident),
                    from: self.fleet.noc.mail_from.clone(),
                    to: customer.notify.clone(),
                    subject: rendered.subject,
                    body: rendered.body,
                }),
                Err(e) => tracing::error!(gateway, incident, error = %e, "cannot render the network mail"),
            }
        }
        mails
    }

    /// The port a down check really used (shown in the mail's item).
    pub fn port_of(&self, host: &str, kind: &CheckKind) -> u16 {
        self.fleet.server(host).map_or(0, |s| s.check_port(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLEET: &str = r#"
[noc]
brand = "Speever"
mail_from = "mail_alert@hosting-srv.net"

[[customer]]
id = "c1"
name = "一号商事"
plan = "30"
notify = ["ops@c1.example.jp"]

[[customer]]
id = "c2"
name = "二号商店"
plan = "zero"
notify = ["ops@c2.example.jp"]

[[customer]]
id = "c3"
name = "三号"
plan = "150"
notify = ["ops@c3.example.jp"]

[[gateway]]
label = "gw-a"
ip = "127.77.0.1"

[[gateway]]
label = "gw-b"
ip = "127.77.0.9"

[[server]]
label = "web01"
customer = "c1"
fqdn = "web01.c1.example.jp"
ip = "127.77.0.2"
os = "CentOS 7"
gateway = "gw-a"

[[server]]
label = "db01"
customer = "c2"
fqdn = "db01.c2.example.jp"
ip = "127.77.0.3"
gateway = "gw-a"

[[server]]
label = "web02"
customer = "c1"
fqdn = "web02.c1.example.jp"
ip = "127.77.0.4"
os = "Ubuntu 24.04"
gateway = "gw-a"

[[server]]
label = "app01"
customer = "c3"
fqdn = "app01.c3.example.jp"
ip = "127.77.0.5"
gateway = "gw-b"
"#;

    fn mailer() -> AlertMailer {
        AlertMailer::new(Arc::new(anshin_core::fleet::parse(FLEET, "fleet.toml").unwrap().fleet))
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// The value of the fields block's line that starts with `name` (after its first `：`).
    fn field<'a>(body: &'a str, name: &str) -> &'a str {
        body.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_once('：')).map_or("(no such line)", |(_, v)| v)
    }

    /// A held alert released when a pause ends tells the real event time and how long it has
    /// lasted so far.
    #[test]
    fn a_released_alert_states_the_event_time_and_the_duration_so_far() {
        let m = mailer();
        let problem = Problem::Down { kind: CheckKind::Service(anshin_core::Service::Http), port: 80 };
        let detected = t("2026-12-02T01:00:00Z");
        let mail = m.released_alert("app01", 9, &problem, detected, t("2026-12-02T01:47:30Z")).unwrap();
        assert_eq!(field(&mail.body, "イベント発報日時"), "2026/12/02 10:00:00");
        assert_eq!(field(&mail.body, "イベント継続時間"), "47分");
        let at_once = m.alert("app01", 9, &problem, detected).unwrap();
        assert_eq!(field(&at_once.body, "イベント継続時間"), "0分");
    }

    /// contract §9.6: one mail per customer behind the gateway, on every plan, the customer's
    /// servers listed in fleet order; a customer whose servers are all paused gets none.
    #[test]
    fn a_network_outage_mails_each_customer_behind_the_gateway_once() {
        let m = mailer();
        let at = t("2026-12-02T01:00:00Z");
        let mails = m.network("gw-a", 7, &["web01", "db01", "web02"], at, at, &MailKind::Alert);
        let to: Vec<&str> = mails.iter().map(|m| m.to[0].as_str()).collect();
        assert_eq!(to, ["ops@c1.example.jp", "ops@c2.example.jp"], "c3 is behind another gateway");
        let c1 = &mails[0];
        assert_eq!(c1.subject, "[Speever][Lv.5]gw-a ネットワーク疎通不可");
        assert!(c1
            .body
            .starts_with("監視サービスにて、お客様サーバーが接続されているネットワークの障害を検知いたしました。\n"));
        for (name, want) in [
            ("アイテム名", "ネットワーク（gw-a）：0"),
            ("トリガー名", "gw-a ネットワーク疎通不可"),
            ("ホスト名", "web01, web02"),
            ("IP アドレス", "127.77.0.2, 127.77.0.4"),
            ("FQDN", "web01.c1.example.jp, web02.c1.example.jp"),
            ("OS", "CentOS 7, Ubuntu 24.04"),
        ] {
            assert_eq!(field(&c1.body, name), want, "{name} in\n{}", c1.body);
        }
        assert!(!c1.body.contains("15 分"), "a network outage promises no reboot");
        assert_eq!((field(&mails[1].body, "ホスト名"), field(&mails[1].body, "OS")), ("db01", "－"));
        // db01 paused: its customer gets nothing.
        let paused = m.network("gw-a", 7, &["web01", "web02"], at, at, &MailKind::Alert);
        assert_eq!(paused.len(), 1);
        let started = m.network(
            "gw-a",
            7,
            &["web01", "web02"],
            at,
            t("2026-12-02T01:05:00Z"),
            &MailKind::ResponseStarted { action: RecoveryAction::NetworkWork },
        );
        assert!(started[0].body.contains("ネットワークの復旧作業を行います。"), "{}", started[0].body);
        let back = t("2026-12-02T01:30:00Z");
        let recovered = m.network(
            "gw-a",
            7,
            &["web01", "web02"],
            at,
            back,
            &MailKind::Recovery { recovered_at: back, value: None },
        );
        assert_eq!(recovered[0].subject, "[Speever][復旧]gw-a ネットワーク疎通不可");
        assert!(recovered[0].body.contains("ネットワークの復旧を確認いたしました。"));
    }
}
