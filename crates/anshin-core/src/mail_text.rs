//! The rules for a text a customer mail shows, one per kind of text: one line for a field, a
//! non-empty line for a header value, a plain address for From and To, and which rule each text
//! of the fleet file follows ([`FleetText`], [`check_fleet_text`]). The mail renderer (`mail`)
//! and the fleet file's validation (`fleet`, `anshin validate`) both ask here, so a fleet that
//! validates can always be mailed.
//!
//! Owns: those rules and their errors ([`MailError`]).
//! Must not know: the fleet file's shape, the mails' texts.

/// Why a mail cannot be written or sent. Messages never repeat the offending value (it may hold
/// the very line break that was refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("{field} contains a line break or control character (U+{code:04X}) at character {index}: such characters cannot go into a mail header or a one-line field; remove it")]
    ControlCharacter { field: &'static str, code: u32, index: usize },
    #[error("{field} is empty: write a value")]
    Empty { field: &'static str },
    #[error("{field} is not a plain mail address like \"ops@example.jp\" (letters, digits and !#$%&'*+-/=?^_`{{|}}~ before the @, a dotted host name after it, no display name)")]
    BadAddress { field: &'static str },
}

// ---- header safety ----------------------------------------------------------------------------

/// Characters that end or fake a line, or change how it reads: every Unicode control (C0 with CR,
/// LF, TAB; DEL; C1 with NEL), the line and paragraph separators, bidirectional overrides. One rule with what terminals and consoles escape (`text::is_hidden`): a line break, a control
/// character or a bidirectional override, which could make a subject or a field read otherwise.
pub(crate) fn breaks_line(c: char) -> bool {
    crate::text::is_hidden(c)
}

/// A value that must stay on one line (a one-line field of a body); may be empty.
pub fn check_line(field: &'static str, value: &str) -> Result<(), MailError> {
    match value.chars().enumerate().find(|(_, c)| breaks_line(*c)) {
        Some((index, c)) => Err(MailError::ControlCharacter { field, code: c as u32, index }),
        None => Ok(()),
    }
}

/// A header value (subject, brand, a display name): not empty, one line, no control character.
pub fn check_header(field: &'static str, value: &str) -> Result<(), MailError> {
    if value.trim().is_empty() {
        return Err(MailError::Empty { field });
    }
    check_line(field, value)
}

/// A bare address (`ops@example.jp`) for From or To: a header value whose local part is an
/// RFC 5322 dot-atom of ASCII characters (no quoting, no display name, nothing that opens a
/// second address) and whose domain is a dotted host name. Stricter than RFC 5322 on purpose:
/// every address this accepts is one the transport (lettre) accepts too.
pub fn check_address(field: &'static str, value: &str) -> Result<(), MailError> {
    check_header(field, value)?;
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let dot_atom = |s: &str| s.len() <= 64 && s.split('.').all(|a| !a.is_empty() && a.chars().all(atext));
    let host_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let domain = |d: &str| d.len() <= 253 && d.contains('.') && d.split('.').all(host_label);
    match value.rsplit_once('@') {
        Some((local, host)) if dot_atom(local) && domain(host) => Ok(()),
        _ => Err(MailError::BadAddress { field }),
    }
}

// ---- what mails take from the fleet file ------------------------------------------------------

/// A text of the fleet file that a mail or one of its headers shows. [`check_fleet_text`] holds
/// the rule of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetText {
    /// `[noc] brand`: the prefix of every subject.
    Brand,
    /// `[noc] mail_from`: the From header.
    MailFrom,
    /// A customer's `notify` address: a To header.
    Notify,
    /// A customer's `name`: the salutation of written mails and the monthly report's subject.
    CustomerName,
    /// A customer's `phones`: the numbers a status report lists.
    Phone,
    /// A server's `label`: every subject and the fields block.
    HostLabel,
    /// A gateway's `label`: the host of its network incidents.
    GatewayLabel,
    Fqdn,
    Ip,
    /// A server's `os` (`CentOS 7`); may be empty (shown as `－`).
    Os,
    /// A custom check's `name`: the subject, item and sentences of its mails.
    CustomCheck,
}

impl FleetText {
    /// How messages name the field.
    pub fn field(self) -> &'static str {
        match self {
            FleetText::Brand => "brand",
            FleetText::MailFrom => "mail_from",
            FleetText::Notify => "notify address",
            FleetText::CustomerName => "customer name",
            FleetText::Phone => "phone number",
            FleetText::HostLabel => "host label",
            FleetText::GatewayLabel => "gateway label",
            FleetText::Fqdn => "FQDN",
            FleetText::Ip => "IP address",
            FleetText::Os => "OS",
            FleetText::CustomCheck => "custom check name",
        }
    }
}

/// The rule for a text of the fleet file that mails show, the same for `mail::render` and for
/// `fleet::parse` (`anshin validate`): addresses are plain addresses ([`check_address`]); the
/// brand, labels and custom check names are non-empty header values ([`check_header`]); the
/// others stay on one line ([`check_line`]; may be empty). The fleet file may ask more (plain
/// names for labels, a non-empty customer name), never less.
pub fn check_fleet_text(what: FleetText, value: &str) -> Result<(), MailError> {
    let field = what.field();
    match what {
        FleetText::MailFrom | FleetText::Notify => check_address(field, value),
        FleetText::Brand | FleetText::HostLabel | FleetText::GatewayLabel | FleetText::CustomCheck => {
            check_header(field, value)
        }
        FleetText::CustomerName | FleetText::Phone | FleetText::Fqdn | FleetText::Ip | FleetText::Os => {
            check_line(field, value)
        }
    }
}
