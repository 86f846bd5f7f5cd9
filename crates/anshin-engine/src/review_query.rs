//! A review request as consoles send it (URL query or Tauri arguments, dates as Japan days)
//! turned into the store's `ReviewFilter`.
//!
//! Owns: parsing and checking those fields (search terms at most [`MAX_SEARCH`] characters),
//! resolving a customer to its servers from the fleet. Must not know: SQL (the store's review module) or how results are drawn.

use anshin_core::Fleet;
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Asia::Tokyo;
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::{IntoParams, ToSchema};

use crate::store::review::{ReviewFilter, ReviewIncident};

/// Default and maximum number of incidents in one answer.
const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 20_000;
/// Longest search term (text, operator), in characters: they become SQL `LIKE` patterns, and
/// SQLite refuses a pattern past 50,000 bytes (an error of the store instead of an answer).
pub const MAX_SEARCH: usize = 200;

/// Also serializable, so a remote console passes it on as URL parameters unchanged.
#[derive(Debug, Clone, Default, Deserialize, Serialize, TS, IntoParams)]
#[ts(optional_fields)]
#[into_params(parameter_in = Query)]
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
    /// The next page: incidents with an id below this (the last id of the previous page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
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

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

impl ReviewQuery {
    /// The store filter; a customer needs the fleet (to know its servers). Errors say what to fix.
    pub fn to_filter(&self, fleet: Option<&Fleet>) -> Result<ReviewFilter, String> {
        // Before anything reads them: no name or term is longer than an operator types.
        for (field, value) in [
            ("text", &self.text),
            ("operator", &self.operator),
            ("server", &self.server),
            ("customer", &self.customer),
            ("check", &self.check),
        ] {
            let n = value.as_deref().map_or(0, |v| v.trim().chars().count());
            if n > MAX_SEARCH {
                return Err(format!("{field} is {n} characters long: search with at most {MAX_SEARCH}"));
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
            before: self.before,
        })
    }
}

/// A reviewed incident with its server's customer (from the fleet, when there is one).
#[derive(Debug, Clone, Serialize, TS, ToSchema)]
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
    fn search_terms_are_capped_before_they_reach_the_store() {
        let at_cap = "検".repeat(MAX_SEARCH);
        assert!(ReviewQuery { text: Some(at_cap.clone()), ..Default::default() }.to_filter(None).is_ok());
        let long = ReviewQuery { text: Some(format!("{at_cap}x")), ..Default::default() };
        assert_eq!(long.to_filter(None).unwrap_err(), "text is 201 characters long: search with at most 200");
        let long = ReviewQuery { operator: Some("y".repeat(60_000)), ..Default::default() };
        assert!(long.to_filter(None).unwrap_err().starts_with("operator is 60000 characters long"));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        use crate::store::Store;

        /// One store for every case (a few incidents and events, so each clause really runs).
        fn store() -> &'static std::sync::Mutex<(tempfile::TempDir, Store)> {
            static STORE: std::sync::OnceLock<std::sync::Mutex<(tempfile::TempDir, Store)>> =
                std::sync::OnceLock::new();
            STORE.get_or_init(|| {
                let dir = tempfile::tempdir().unwrap();
                let mut store = Store::open(&dir.path().join("log.db")).unwrap();
                let tx = store.begin().unwrap();
                let at = chrono::Utc::now();
                for host in ["web01", "db01"] {
                    let id = tx
                        .open_incident_on(host, "http", anshin_core::Level::Severe, "HTTP サービスダウン", "x", at)
                        .unwrap();
                    tx.add_note(id, host, "http", "再起動 100% _done_ \\", "yamada", at).unwrap();
                }
                tx.commit().unwrap();
                std::sync::Mutex::new((dir, store))
            })
        }

        fn fleet() -> Fleet {
            let text = "[noc]\n[[customer]]\nid = \"c1\"\nname = \"x\"\nplan = \"150\"\nnotify = [\"a@example.jp\"]\n\
                        [[server]]\nlabel = \"web01\"\ncustomer = \"c1\"\nfqdn = \"web01.example.jp\"\nip = \"127.0.0.1\"\n";
            anshin_core::fleet::parse(text, "f").unwrap().fleet
        }

        /// Text as a console sends it: dates, near-dates, ids, SQL and LIKE characters, long runs.
        fn field() -> impl Strategy<Value = Option<String>> {
            prop::option::of(prop_oneof![
                "[0-9]{4}-[0-9]{2}-[0-9]{2}",
                "[+-]?[0-9]{1,7}-[0-9]{1,3}-[0-9]{1,3}",
                "\\PC{0,30}",
                "[%_\\\\'\" ;-]{0,10}",
                prop::sample::select(vec!["c1", "c9", "web01", "http", "custom:app", " ", "2026-02-30", "2026-10-01"])
                    .prop_map(String::from),
                (".{0,3}", 150usize..260).prop_map(|(s, n)| s.repeat(n)),
                // Past SQLite's 50,000-byte LIKE pattern limit (the 500 of a 60,000-character search).
                ("[a-z%]{3}", 17_000usize..25_000).prop_map(|(s, n)| s.repeat(n)),
            ])
        }

        fn query() -> impl Strategy<Value = ReviewQuery> {
            (
                (field(), field(), prop::option::of(any::<u8>()), field()),
                (field(), field(), field(), field(), prop::option::of(any::<bool>()), prop::option::of(any::<usize>())),
            )
                .prop_map(|((server, customer, level, check), (from, to, operator, text, open, limit))| {
                    ReviewQuery { server, customer, level, check, from, to, operator, text, open, limit, before: None }
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]

            /// Never a panic; an accepted query is within bounds and the store answers it; a
            /// refused one says why in one line.
            #[test]
            fn any_query_is_answered_or_refused_with_a_reason(q in query(), with_fleet in any::<bool>()) {
                let fleet = fleet();
                match q.to_filter(with_fleet.then_some(&fleet)) {
                    Ok(f) => {
                        prop_assert!((1..=MAX_LIMIT).contains(&f.limit));
                        prop_assert!(f.level.is_none_or(|l| (2..=5).contains(&l)));
                        if let (Some(a), Some(b)) = (f.from, f.to) {
                            prop_assert!(a < b);
                        }
                        for s in [&f.server, &f.check, &f.operator, &f.text].into_iter().flatten() {
                            prop_assert!(!s.is_empty() && s.trim() == s);
                        }
                        prop_assert!(f.text.as_ref().is_none_or(|t| t.chars().count() <= MAX_SEARCH));
                        prop_assert!(f.hosts.is_none() || with_fleet);
                        let guard = store().lock().unwrap();
                        let answer = guard.1.review(&f);
                        prop_assert!(answer.is_ok(), "the store failed an accepted query {:?}: {:?}", q, answer.err());
                    }
                    Err(reason) => {
                        prop_assert!(!reason.is_empty() && !reason.contains('\n'), "{reason:?}");
                    }
                }
            }

            /// Bad input is an error, never a silently different filter.
            #[test]
            fn bad_fields_are_refused(
                level in prop::option::of(any::<u8>().prop_filter("not 2–5", |l| !(2..=5).contains(l))),
                day in "[0-9]{1,3}/[0-9]{1,2}|[a-z]{1,8}|[0-9]{4}-[0-9]{2}-[0-9]{2}x",
                customer in "[a-z]{1,6}9",
            ) {
                // (Queries built outside the assertions: prop_assert! cannot quote braces.)
                let by_level = ReviewQuery { level, ..Default::default() };
                let by_from = ReviewQuery { from: Some(day.clone()), ..Default::default() };
                let by_to = ReviewQuery { to: Some(day), ..Default::default() };
                let by_customer = ReviewQuery { customer: Some(customer), ..Default::default() };
                let fleet = fleet();
                prop_assert!(level.is_none() || by_level.to_filter(None).is_err());
                prop_assert!(by_from.to_filter(None).is_err());
                prop_assert!(by_to.to_filter(None).is_err());
                prop_assert!(by_customer.to_filter(Some(&fleet)).is_err());
            }

            /// Every real day is the Japan midnight that begins it, and `to` is inclusive.
            #[test]
            fn japan_days_round_trip(d in (1i32..9999, 1u32..=12, 1u32..=31)
                .prop_filter_map("a real day", |(y, m, d)| NaiveDate::from_ymd_opt(y, m, d))) {
                let text = d.format("%Y-%m-%d").to_string();
                let f = ReviewQuery { from: Some(text.clone()), to: Some(text), ..Default::default() }
                    .to_filter(None)
                    .unwrap();
                let (from, to) = (f.from.unwrap(), f.to.unwrap());
                prop_assert_eq!(from.with_timezone(&Tokyo).date_naive(), d);
                prop_assert_eq!(from.with_timezone(&Tokyo).time(), chrono::NaiveTime::MIN);
                prop_assert_eq!(to - from, chrono::Duration::days(1));
            }
        }
    }
}
