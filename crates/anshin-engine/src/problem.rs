//! The mail `Problem` of an incident: a resource's from its reading, and any incident's rebuilt
//! from what the store keeps (its check and trigger) — for an incident resumed at start, for its
//! recovery mail, and for the status report of a phone escalation.
//!
//! Owns: that mapping. Must not know: when mails are sent, the decider's memory.

use anshin_core::mail::{Metric, Problem};
use anshin_core::resource::Resource;
use anshin_core::{CheckKind, Fleet, Level};

use crate::store::IncidentRecord;

/// The mail's name of a resource.
pub(crate) fn metric(r: Resource) -> Metric {
    match r {
        Resource::Load => Metric::Load,
        Resource::MailQueue => Metric::MailQueue,
        Resource::Disk => Metric::Disk,
        Resource::Inode => Metric::Inode,
    }
}

/// The problem of a resource incident found open at start, rebuilt from its stored trigger
/// (`{label} {fragment}`, the value inside `（現在：…）`), for its recovery mail.
pub(crate) fn resumed_problem(r: Resource, level: Level, host: &str, trigger: &str) -> Problem {
    let fragment = trigger.strip_prefix(host).map(str::trim_start).unwrap_or(trigger).to_string();
    let value =
        fragment.rsplit_once("（現在：").and_then(|(_, v)| v.strip_suffix('）')).unwrap_or_default().to_string();
    Problem::Resource { metric: metric(r), level, fragment, item: r.item_name().into(), value }
}

/// The problem an incident's mails name, from its stored check and trigger.
pub(crate) fn incident_problem(fleet: &Fleet, inc: &IncidentRecord) -> Option<Problem> {
    if let Some(r) = Resource::from_id(&inc.check) {
        let level = Level::from_number(inc.level).unwrap_or(Level::Warning);
        return Some(resumed_problem(r, level, &inc.host, &inc.trigger));
    }
    let kind = CheckKind::from_id(&inc.check)?;
    let port = fleet.server(&inc.host).map_or(0, |s| s.check_port(&kind));
    Some(Problem::Down { kind, port })
}
