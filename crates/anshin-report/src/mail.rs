//! The report as a mail: To the customer's notification addresses, From the fleet's
//! `noc.mail_from`, the HTML body with the charts as inline `cid:` parts and the text
//! alternative — ready for the outbox, so a down SMTP server loses nothing.
//!
//! Owns: turning a drawn report into outbox input. Must not know: SMTP, SQL.

use anshin_core::fleet::Customer;
use anshin_core::Fleet;
use anshin_engine::store::outbox::{HtmlBody, InlinePart, NewMail, OutboxKind};

use crate::render::Rendered;

/// The outbox input for a drawn report.
pub fn report_mail(fleet: &Fleet, customer: &Customer, r: &Rendered) -> (NewMail, HtmlBody) {
    let mail = NewMail {
        kind: OutboxKind::MonthlyReport,
        incident_id: None,
        from: fleet.noc.mail_from.clone(),
        to: customer.notify.clone(),
        subject: r.subject.clone(),
        body: r.text.clone(),
    };
    let html = HtmlBody {
        html: r.html.clone(),
        parts: r
            .charts
            .iter()
            .map(|c| InlinePart {
                cid: c.cid.clone(),
                content_type: "image/png".into(),
                filename: c.filename.clone(),
                data: c.png.clone(),
            })
            .collect(),
    };
    (mail, html)
}
