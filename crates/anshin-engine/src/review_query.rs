//! A review request as consoles send it (URL query or Tauri arguments, dates as Japan days)
//! turned into the store's `ReviewFilter`.
//!
//! Owns: parsing and checking those fields, resolving a customer to its servers from the
//! fleet. Must not know: SQL (the store's review module) or how results are drawn.

use anshin_core::Fleet;
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Asia::Tokyo;
use serde::{Deserialize, Serialize};

use crate::store::review::{ReviewFilter, ReviewIncident};

/// Default and maximum number of incidents in one answer.
const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 20_000;

/// Also serializable, so a remote console passes it on as URL parameters unchanged.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ReviewQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// First day (Japan time), `YYYY-MM-DD`, inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day (Japan time), `YYYY-MM-DD`, inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// Midnight at the start of a Japan day, in UTC.
fn jst_day_start(field: &str, s: &str, days_after: u64) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{field} \"{s}\": write a date as YYYY-MM-DD (Japan time)"))?;
    let not_a_day = || format!("{field} \"{s}\": not a day");
    let d = d.checked_add_days(chrono::Days::new(days_after)).ok_or_else(not_a_day)?;
    let midnight = d.and_hms_opt(0, 0, 0).ok_or_else(not_a_day)?;
    Tokyo.from_local_datetime(&midnight).single().map(|t| t.with_timezone(&chrono::Utc)).ok_or_else(not_a_day)
}

/// The longest search term or name filter accepted: beyond it a term is not something an operator
/// types, and an unbounded LIKE pattern costs the store (the API answers 400).
pub const MAX_TERM_CHARS: usize = 200;

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

impl ReviewQuery {
    /// The store filter; a customer needs the fleet (to know its servers). Errors say what to fix.
    pub fn to_filter(&self, fleet: Option<&Fleet>) -> Result<ReviewFilter, String> {
        for (field, value) in [
            ("text", &self.text),
            ("operator", &self.operator),
            ("server", &self.server),
            ("customer", &self.customer),
            ("check", &self.check),
        ] {
            if value.as_deref().is_some_and(|v| v.chars().count() > MAX_TERM_CHARS) {
                return Err(format!("{field}: at most {MAX_TERM_CHARS} characters"));
            }
        }
        let hosts = match non_empty(&self.customer) {
            None => None,
            Some(id) => {
                let fleet =
                    fleet.ok_or("the customer filter needs the fleet file (an exported log has no customers)")?;
                if fleet.customer(&id).is_none() {
                    return Err(format!("customer \"{id}\" is not in the fleet"));
                }
                Some(fleet.servers.iter().filter(|s| s.customer == id).map(|s| s.label.clone()).collect())
            }
        };
        if let Some(l) = self.level.filter(|l| !(2..=5).contains(l)) {
            return Err(format!("level {l}: use 2, 3, 4 or 5"));
        }
        let from = non_empty(&self.from).map(|s| jst_day_start("from", &s, 0)).transpose()?;
        let to = non_empty(&self.to).map(|s| jst_day_start("to", &s, 1)).transpose()?;
        if let (Some(f), Some(t)) = (from, to) {
            if f >= t {
                return Err("the range ends before it begins: from must not be after to".into());
            }
        }
        Ok(ReviewFilter {
            hosts,
            server: non_empty(&self.server),
            level: self.level,
            check: non_empty(&self.check),
            from,
            to,
            operator: non_empty(&self.operator),
            text: non_empty(&self.text),
            open_only: self.open.unwrap_or(false),
            limit: self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
        })
    }
}

/// A reviewed incident with its server's customer (from the fleet, when there is one).
#[derive(Debug, Clone, Serialize)]
pub struct ReviewRow {
    #[serde(flatten)]
    pub incident: ReviewIncident,
    pub customer: Option<String>,
    pub customer_name: Option<String>,
}

/// Adds each incident's customer; an exported log alone has none.
pub fn with_customers(rows: Vec<ReviewIncident>, fleet: Option<&Fleet>) -> Vec<ReviewRow> {
    rows.into_iter()
        .map(|incident| {
            let server = fleet.and_then(|f| f.servers.iter().find(|s| s.label == incident.host));
            let customer = server.map(|s| s.customer.clone());
            let customer_name =
                server.and_then(|s| fleet.and_then(|f| f.customer(&s.customer))).map(|c| c.name.clone());
            ReviewRow { incident, customer, customer_name }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japan_days_become_utc_ranges_and_bad_input_is_named() {
        let q = ReviewQuery { from: Some("2026-10-01".into()), to: Some("2026-10-31".into()), ..Default::default() };
        let f = q.to_filter(None).unwrap();
        assert_eq!(f.from.unwrap().to_rfc3339(), "2026-09-30T15:00:00+00:00");
        assert_eq!(f.to.unwrap().to_rfc3339(), "2026-10-31T15:00:00+00:00");
        assert_eq!(f.limit, DEFAULT_LIMIT);
        let bad = ReviewQuery { from: Some("10/01".into()), ..Default::default() };
        assert!(bad.to_filter(None).unwrap_err().starts_with("from \"10/01\""));
        let reversed =
            ReviewQuery { from: Some("2026-10-02".into()), to: Some("2026-10-01".into()), ..Default::default() };
        assert!(reversed.to_filter(None).is_err());
        let customer = ReviewQuery { customer: Some("c1".into()), ..Default::default() };
        assert!(customer.to_filter(None).unwrap_err().contains("fleet"));
        assert!(ReviewQuery { level: Some(7), ..Default::default() }.to_filter(None).is_err());
        let far = ReviewQuery { to: Some("+262143-12-31".into()), ..Default::default() };
        assert!(far.to_filter(None).is_err(), "the last day chrono knows has no day after it");
    }

    #[test]
    fn search_terms_are_capped() {
        let at_cap = ReviewQuery { text: Some("あ".repeat(MAX_TERM_CHARS)), ..Default::default() };
        assert!(at_cap.to_filter(None).is_ok());
        let long = ReviewQuery { text: Some("a".repeat(60_000)), ..Default::default() };
        assert_eq!(long.to_filter(None).unwrap_err(), "text: at most 200 characters");
        let operator = ReviewQuery { operator: Some("x".repeat(MAX_TERM_CHARS + 1)), ..Default::default() };
        assert!(operator.to_filter(None).unwrap_err().starts_with("operator:"));
    }
}
