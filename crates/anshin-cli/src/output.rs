//! How the CLI prints: JSON lines (a contract) or short human lines with times in Asia/Tokyo.
//!
//! Every line for a person goes through [`text`], which escapes hidden characters
//! (`anshin_core::text`): notes, pause reasons, banners and anything else read from a store, a
//! server or a file reach the terminal as visible text, never as escape sequences. JSON (serde
//! escapes) and CSV (quoted) are written as they are. Every printer returns an [`OutputError`]
//! when standard output cannot be written: a reader that went away (`| head -1`, `EPIPE`) ends
//! the command quietly with exit 0 (`main`), never a panic.

use std::io::{self, Write};

use anshin_core::CheckKey;
use anshin_engine::probe::ProbeResult;
use anshin_engine::store::IncidentRecord;
use anshin_engine::EngineEvent;
use chrono::{DateTime, Utc};
use chrono_tz::Asia::Tokyo;

/// Standard output cannot be written. Its own type, so that only a closed standard output (and
/// not, say, an SMTP connection's broken pipe) ends a command quietly.
#[derive(Debug)]
pub struct OutputError(io::Error);

impl OutputError {
    /// The reader went away (`| head -1`): not a failure of the command.
    pub fn reader_left(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write to standard output: {}", self.0)
    }
}

impl std::error::Error for OutputError {}

pub type Printed = Result<(), OutputError>;

/// Writes to standard output and flushes, so a reader of a pipe sees it at once.
pub fn raw(s: &str) -> Printed {
    let mut out = io::stdout().lock();
    out.write_all(s.as_bytes()).and_then(|()| out.flush()).map_err(OutputError)
}

/// One line that is safe as it is (JSON).
fn emit(line: &str) -> Printed {
    raw(&format!("{line}\n"))
}

/// One line for a person, hidden characters escaped.
pub fn text(line: &str) -> Printed {
    emit(&anshin_core::text::visible(line))
}

/// One value as a JSON line.
pub fn json<T: serde::Serialize>(value: &T) -> Printed {
    emit(&serde_json::to_string(value).map_err(|e| OutputError(io::Error::other(e)))?)
}

/// A message for standard error (`anshin: …`), hidden characters escaped. A closed standard
/// error is ignored: there is nowhere left to say anything.
pub fn note(line: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{}", anshin_core::text::visible(line));
}

/// An RFC 3339 UTC time as operators read it: `2026-11-25 22:10:15 JST`.
pub fn jst(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&Utc).with_timezone(&Tokyo).format("%Y-%m-%d %H:%M:%S JST").to_string())
        .unwrap_or_else(|_| rfc3339.to_string())
}

pub fn check_line(key: &CheckKey, r: &ProbeResult, json: bool) -> Printed {
    if json {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            host: &'a str,
            check: String,
            ok: bool,
            /// The attempt failed on this machine (no descriptor, no buffer): nothing is known
            /// of the server.
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            unknown: bool,
            detail: &'a str,
            ms: f64,
        }
        let line = Line {
            host: &key.host,
            check: key.kind.id(),
            ok: r.ok,
            unknown: r.unknown,
            detail: &r.detail,
            ms: (r.ms * 10.0).round() / 10.0,
        };
        self::json(&line)
    } else {
        text(&format!(
            "{:<4} {:<16} {:<14} {:>8.1} ms  {}",
            if r.ok {
                "OK"
            } else if r.unknown {
                "????"
            } else {
                "FAIL"
            },
            key.host,
            key.kind.id(),
            r.ms,
            r.detail
        ))
    }
}

/// The line `run --json` prints when it fell behind the engine's events (the others are
/// `EngineEvent`s, the type consoles get): `{"event":"events_dropped","count","total","at"}`.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "event", rename = "events_dropped")]
pub struct EventsDropped {
    /// Events not printed this time.
    pub count: u64,
    /// Events not printed since the start.
    pub total: u64,
    pub at: String,
}

impl EventsDropped {
    pub fn new(count: u64, total: u64, at: DateTime<Utc>) -> EventsDropped {
        EventsDropped { count, total, at: anshin_engine::store::timestamp(at) }
    }
}

pub fn event_line(e: &EngineEvent, json: bool) -> Printed {
    if json {
        return self::json(e);
    }
    let line = match e {
        EngineEvent::EngineStarted { checks, resumed_open, at } => {
            format!("{}  engine started: {checks} checks, {resumed_open} open incidents resumed", jst(at))
        }
        EngineEvent::IncidentOpened { id, level, trigger, at, paused, .. } => {
            let held = if *paused { "  (maintenance: alert held)" } else { "" };
            format!("{}  OPEN   #{id} Lv.{level} {trigger}{held}", jst(at))
        }
        EngineEvent::IncidentLevelChanged { id, level, trigger, at, .. } => {
            format!("{}  LEVEL  #{id} Lv.{level} {trigger}", jst(at))
        }
        EngineEvent::IncidentClosed { id, level, trigger, at, reason, .. } => {
            let why = reason.as_deref().map(|r| format!("  ({r})")).unwrap_or_default();
            format!("{}  CLOSED #{id} Lv.{level} {trigger}{why}", jst(at))
        }
        EngineEvent::FleetReloaded { summary, by, at } => {
            format!("{}  fleet reloaded ({by}): {summary}", jst(at))
        }
        EngineEvent::FleetRejected { errors, by, at } => {
            format!("{}  fleet change refused ({by}), the engine keeps its fleet:\n  {}", jst(at), errors.join("\n  "))
        }
        EngineEvent::IncidentAcknowledged { id, host, check, by, at, .. } => {
            format!("{}  ACK    #{id} {host}/{check} taken by {by}", jst(at))
        }
        EngineEvent::CheckState { host, check, state, attempt, detail, at } => match *state {
            "soft" => format!("{}  {host}/{check} failed (attempt {attempt}): {detail}", jst(at)),
            "hard" => format!("{}  {host}/{check} DOWN (attempt {attempt}): {detail}", jst(at)),
            _ => format!("{}  {host}/{check} ok: {detail}", jst(at)),
        },
        EngineEvent::RecoveryStarted { id, host, action, by, at, .. } => {
            format!("{}  RECOVER r{id} {host} {action} by {by}", jst(at))
        }
        EngineEvent::RecoveryFinished { id, host, action, outcome, detail, at, .. } => {
            format!("{}  RESULT  r{id} {host} {action}: {outcome} — {detail}", jst(at))
        }
        EngineEvent::NoteAdded { incident, by, text, at, .. } => {
            format!("{}  NOTE   #{incident} {by}: {text}", jst(at))
        }
        EngineEvent::CallLogged { incident, call, .. } => format!(
            "{}  CALL   #{incident} {} {} ({} rings) by {}",
            jst(&call.started_at),
            call.number,
            call.outcome,
            call.rings,
            call.operator
        ),
        EngineEvent::StatusReportQueued { incident, by, at, .. } => {
            format!("{}  REPORT #{incident} status report queued by {by}", jst(at))
        }
        EngineEvent::ResourceUpReminder { request: r, reminder, at } => format!(
            "{}  REMIND  resource-up #{} {} {}–{}: {}: {}",
            jst(at),
            r.id,
            r.host,
            r.from_day,
            r.until_day,
            match reminder {
                anshin_engine::store::ledger::Reminder::Raise => "raise it tomorrow",
                anshin_engine::store::ledger::Reminder::Restore => "put it back",
            },
            r.what
        ),
        EngineEvent::MaintenanceChanged { maintenance: m } => format!(
            "{}  PAUSE  m{} {} → {} by {}: {}{}",
            jst(&m.record.starts_at),
            m.record.id,
            jst(&m.record.starts_at),
            jst(&m.record.ends_at),
            m.record.who,
            m.record.reason,
            if m.active { " (active)" } else { "" }
        ),
        EngineEvent::AlertReleased { id, level, trigger, at, .. } => {
            format!("{}  ALERT  #{id} Lv.{level} {trigger} (pause ended)", jst(at))
        }
        EngineEvent::RecoveryPrompt { incident, host, prompt, at } => match prompt {
            Some(p) => format!("{}  ASK    #{incident} {host} {}: {}", jst(at), p.code, p.message),
            None => return Ok(()),
        },
        EngineEvent::EngineStopped { at } => format!("{}  engine stopped", jst(at)),
    };
    text(&line)
}

pub fn incident_line(inc: &IncidentRecord, json: bool) -> Printed {
    if json {
        return self::json(inc);
    }
    let closed = inc.closed_at.as_deref().map(jst).unwrap_or_else(|| "open".into());
    text(&format!("#{:<5} Lv.{} {:<40} {} → {}", inc.id, inc.level, inc.trigger, jst(&inc.opened_at), closed))
}

pub fn outbox_line(m: &anshin_engine::store::outbox::OutboxRecord, json: bool) -> Printed {
    if json {
        return self::json(m);
    }
    let error = m.last_error.as_deref().map(|e| format!("  ({e})")).unwrap_or_default();
    text(&format!(
        "#{:<5} {:<16} {:<8} try {:<2} {} → {}  {}{}",
        m.id,
        m.state.as_str(),
        m.kind.as_str(),
        m.attempts,
        jst(&m.created_at),
        m.to.join(", "),
        m.subject,
        error
    ))
}

/// One resource row of `anshin check`: `{"host","check","ok","value","level","detail","ms"}`.
pub fn resource_line(
    host: &str,
    check: &str,
    value: Option<f64>,
    level: Option<u8>,
    detail: &str,
    ms: f64,
    json: bool,
) -> Printed {
    if json {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            host: &'a str,
            check: &'a str,
            ok: bool,
            value: Option<f64>,
            level: Option<u8>,
            detail: &'a str,
            ms: f64,
        }
        let line = Line { host, check, ok: value.is_some(), value, level, detail, ms: (ms * 10.0).round() / 10.0 };
        self::json(&line)
    } else {
        let lv = level.map(|l| format!("Lv.{l}")).unwrap_or_else(|| "-".into());
        text(&format!(
            "{:<4} {:<16} {:<14} {:>8.1} ms  {lv:<5} {detail}",
            if value.is_some() { "OK" } else { "FAIL" },
            host,
            check,
            ms
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dropped_events_line_keeps_its_shape() {
        let at = DateTime::parse_from_rfc3339("2026-11-25T01:00:00Z").unwrap().with_timezone(&Utc);
        let line = serde_json::to_value(EventsDropped::new(3, 10, at)).unwrap();
        assert_eq!(
            line,
            serde_json::json!({ "event": "events_dropped", "count": 3, "total": 10, "at": "2026-11-25T01:00:00.000Z" })
        );
    }
}
