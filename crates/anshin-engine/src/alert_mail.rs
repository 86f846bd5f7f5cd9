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
        let promise_auto_reboot =
            reboot_promised(|t| customer.plan_at(t), alert.detected_at, self.fleet.noc.reboot_after_secs);
        MailContext { noc: &self.fleet.noc, host: mail_host, customer: &customer.name, alert, now, promise_auto_reboot }
    }

    /// The alert mail of a new hard problem (or a rise in level), if the contract includes it.
    pub fn alert(&self, host: &str, incident: i64, problem: &Problem, detected_at: DateTime<Utc>) -> Option<NewMail> {
        self.render(host, incident, problem, detected_at, detected_at, MailKind::Alert, OutboxKind::Alert)
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

    /// The port a down check really used (shown in the mail's item).
    pub fn port_of(&self, host: &str, kind: &CheckKind) -> u16 {
        self.fleet.server(host).map_or(0, |s| s.check_port(kind))
    }
}
