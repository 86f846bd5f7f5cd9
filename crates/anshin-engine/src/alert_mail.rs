//! Which customer mail an incident change sends, and to whom.
//!
//! Owns: the mapping from an opened or closed incident to an outbox entry — the customer of
//! the host, the plan's entitlement to that kind of mail (SPEC §1: ping/SSH mail on every plan,
//! service and resource mail on every plan but "zero"), and the rendering by `anshin-core::mail`.
//! Must not know: SMTP, retries (the outbox runner), or when incidents open (the decider).

use std::sync::Arc;

use anshin_core::fleet::{Customer, Server};
use anshin_core::mail::{self, Alert, MailContext, MailHost, MailKind, Problem};
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

    fn entitled(customer: &Customer, problem: &Problem) -> bool {
        match problem {
            Problem::Down { kind: CheckKind::Ping | CheckKind::Ssh, .. } => true,
            Problem::Down { .. } => customer.plan.service_monitoring(),
            Problem::Resource { .. } => customer.plan.resource_monitoring(),
        }
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
        if !Self::entitled(customer, problem) {
            return None;
        }
        let mail_host = MailHost::from(server);
        let alert = Alert { problem: problem.clone(), detected_at };
        let ctx = MailContext { noc: &self.fleet.noc, host: &mail_host, customer: &customer.name, alert: &alert, now };
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
