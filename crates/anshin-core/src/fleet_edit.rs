//! Console edits of the fleet file (issue 13, contract §9.1): customers and servers added,
//! changed or removed in the file's own text, every comment and the layout of everything else
//! kept, the result validated by the file's own parser (`fleet::parse`: the same checks and
//! the same `FILE:LINE:COL` messages as an edit by hand).
//!
//! Owns: the editable shapes (what a console may change; SSH access, reboot actions, restart
//! units, custom checks and everything in `[noc]` stay as the file says: the console never names
//! things on the NOC machine), which edits touch the contract (an admin's), the file's revision,
//! and writing an edit into the text (toml_edit).
//! Must not know: where the text lives, who is asking, reloading.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use crate::fleet::{self, Diagnostic};

/// The revision of a fleet file: SHA-256 of its bytes, hex. An edit names the revision it was
/// made against; a file that changed underneath it has another.
pub fn revision(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A customer as a console edits it: the `[[customer]]` keys, as the file writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "contract", derive(ts_rs::TS, utoipa::ToSchema))]
pub struct CustomerEdit {
    pub id: String,
    pub name: String,
    /// Notification addresses (1 to 3).
    pub notify: Vec<String>,
    /// Emergency numbers, in calling order (at most 3).
    #[serde(default)]
    pub phones: Vec<String>,
    /// The plan in force, as the file writes it: `zero`, `30`, `60`, `150`, `200`.
    pub plan: String,
    /// The Japan day (`YYYY-MM-DD`) a changed plan takes effect, appended to `plan_history`;
    /// needed when the plan changes, ignored otherwise (and always empty when read).
    #[serde(default)]
    #[cfg_attr(feature = "contract", ts(optional = nullable))]
    pub plan_from: Option<String>,
    /// `contract = { start, months, end }`.
    #[serde(default)]
    #[cfg_attr(feature = "contract", ts(optional = nullable))]
    pub contract: Option<ContractEdit>,
    /// `root = true|false`; none: the plan's default (contract §9.2).
    #[serde(default)]
    #[cfg_attr(feature = "contract", ts(optional = nullable))]
    pub root: Option<bool>,
}

/// A contract's term as the file writes it (days `YYYY-MM-DD`, Japan days).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "contract", derive(ts_rs::TS, utoipa::ToSchema))]
pub struct ContractEdit {
    pub start: String,
    /// 6 or 12.
    pub months: i64,
    /// The day the contract ends (the customer cancelled).
    #[serde(default)]
    #[cfg_attr(feature = "contract", ts(optional = nullable))]
    pub end: Option<String>,
}

/// A server as a console edits it: the `[[server]]` keys a console may change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "contract", derive(ts_rs::TS, utoipa::ToSchema))]
pub struct ServerEdit {
    pub label: String,
    /// The customer's id.
    pub customer: String,
    pub ip: String,
    pub fqdn: String,
    #[serde(default)]
    #[cfg_attr(feature = "contract", ts(optional = nullable))]
    pub os: Option<String>,
    /// Service names as the file writes them (`http`, `smtp`, …).
    #[serde(default)]
    pub services: Vec<String>,
    /// Port overrides by service name, and `ssh` (`ports = { http = 18080, ssh = 2222 }`).
    #[serde(default)]
    pub ports: BTreeMap<String, i64>,
    /// The label of the gateway in front of it.
    #[serde(default)]
    #[cfg_attr(feature = "contract", ts(optional = nullable))]
    pub gateway: Option<String>,
    /// The Plesk option (contract §9.3).
    #[serde(default)]
    pub plesk: bool,
}

/// What a console reads before editing: the file's revision and its customers and servers in
/// the editable shapes, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "contract", derive(ts_rs::TS, utoipa::ToSchema))]
pub struct FleetSource {
    pub revision: String,
    pub customers: Vec<CustomerEdit>,
    pub servers: Vec<ServerEdit>,
}

/// One edit of the file, as consoles send it (`op` says which).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "contract", derive(ts_rs::TS, utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FleetEdit {
    AddCustomer {
        customer: CustomerEdit,
    },
    /// The customer whose id is `id` becomes `customer` (its id may change).
    ChangeCustomer {
        id: String,
        customer: CustomerEdit,
    },
    RemoveCustomer {
        id: String,
    },
    AddServer {
        server: ServerEdit,
    },
    /// The server labelled `label` becomes `server` (a new label is a removal plus an addition
    /// for the engine).
    ChangeServer {
        label: String,
        server: ServerEdit,
    },
    RemoveServer {
        label: String,
    },
}

impl FleetEdit {
    /// What the edit does, for the audit log: `add_server web03`, `change_customer c1001`.
    pub fn describe(&self) -> String {
        match self {
            FleetEdit::AddCustomer { customer } => format!("add_customer {}", customer.id),
            FleetEdit::ChangeCustomer { id, customer } if *id != customer.id => {
                format!("change_customer {id} (now {})", customer.id)
            }
            FleetEdit::ChangeCustomer { id, .. } => format!("change_customer {id}"),
            FleetEdit::RemoveCustomer { id } => format!("remove_customer {id}"),
            FleetEdit::AddServer { server } => format!("add_server {}", server.label),
            FleetEdit::ChangeServer { label, server } if *label != server.label => {
                format!("change_server {label} (now {})", server.label)
            }
            FleetEdit::ChangeServer { label, .. } => format!("change_server {label}"),
            FleetEdit::RemoveServer { label } => format!("remove_server {label}"),
        }
    }
}

/// What a console sends: an edit and the revision of the file it was made against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "contract", derive(ts_rs::TS, utoipa::ToSchema))]
pub struct FleetEditRequest {
    pub revision: String,
    pub edit: FleetEdit,
}

/// What an edit made answers: the file's new revision and what the reload changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "contract", derive(ts_rs::TS, utoipa::ToSchema))]
pub struct FleetEdited {
    pub revision: String,
    pub summary: String,
}

/// Why an edit was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    /// The edited file does not validate: the parser's diagnostics, unchanged.
    Invalid(Vec<Diagnostic>),
    UnknownCustomer(String),
    UnknownServer(String),
    /// A customer cannot go while servers name it.
    CustomerHasServers {
        id: String,
        servers: Vec<String>,
    },
    /// A changed plan needs the day it takes effect.
    PlanNeedsDate {
        id: String,
    },
    /// A first plan change needs the day the current plan began (the contract's start).
    PlanStartUnknown {
        id: String,
    },
    /// The file writes these tables in a form the editor does not change (`customer = [ … ]`).
    Layout(String),
}

impl EditError {
    /// A stable code for answers (`invalid`, `not_found`, `has_servers`, …).
    pub fn code(&self) -> &'static str {
        match self {
            EditError::Invalid(_) => "invalid",
            EditError::UnknownCustomer(_) | EditError::UnknownServer(_) => "not_found",
            EditError::CustomerHasServers { .. } => "has_servers",
            EditError::PlanNeedsDate { .. } => "plan_needs_date",
            EditError::PlanStartUnknown { .. } => "plan_start_unknown",
            EditError::Layout(_) => "layout",
        }
    }
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::Invalid(diags) => {
                let lines: Vec<String> = diags.iter().map(Diagnostic::to_string).collect();
                f.write_str(&lines.join("\n"))
            }
            EditError::UnknownCustomer(id) => write!(f, "no [[customer]] has id \"{id}\""),
            EditError::UnknownServer(label) => write!(f, "no [[server]] has label \"{label}\""),
            EditError::CustomerHasServers { id, servers } => write!(
                f,
                "customer \"{id}\" still has servers ({}): remove them or move them to another customer first",
                servers.join(", ")
            ),
            EditError::PlanNeedsDate { id } => {
                write!(f, "the plan of \"{id}\" changes: give the day it takes effect (YYYY-MM-DD)")
            }
            EditError::PlanStartUnknown { id } => write!(
                f,
                "customer \"{id}\" has no plan_history and no contract start: give the contract's start, the day the current plan began"
            ),
            EditError::Layout(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for EditError {}

impl CustomerEdit {
    /// Whether going from `before` (None: a new customer) to this touches the contract: the
    /// plan or the term (contract §9.1), which only an admin may change. A new customer always
    /// does (it has a plan).
    pub fn changes_contract(&self, before: Option<&CustomerEdit>) -> bool {
        let Some(before) = before else { return true };
        let (a, b) = (before.clone().normalized(), self.clone().normalized());
        a.plan != b.plan || a.contract != b.contract
    }

    fn normalized(mut self) -> CustomerEdit {
        self.plan_from = self.plan_from.filter(|d| !d.trim().is_empty());
        if let Some(k) = &mut self.contract {
            k.end = k.end.take().filter(|d| !d.trim().is_empty());
        }
        self
    }
}

impl ServerEdit {
    fn normalized(mut self) -> ServerEdit {
        self.os = self.os.filter(|o| !o.is_empty());
        self.gateway = self.gateway.filter(|g| !g.is_empty());
        self
    }
}

/// The file's customers and servers in the editable shapes, when it validates.
pub fn source(text: &str, file: &str) -> Result<FleetSource, EditError> {
    fleet::parse(text, file).map_err(EditError::Invalid)?;
    let doc: DocumentMut = text.parse().map_err(|_| EditError::Layout("the fleet file could not be read".into()))?;
    let customers = tables(&doc, CUSTOMER)?.iter().map(read_customer).collect();
    let servers = tables(&doc, SERVER)?.iter().map(read_server).collect();
    Ok(FleetSource { revision: revision(text), customers, servers })
}

/// `text` with `edit` made, validated by the file's parser (`file` names it in diagnostics).
pub fn apply(text: &str, file: &str, edit: &FleetEdit) -> Result<String, EditError> {
    let mut doc: DocumentMut = text.parse().map_err(|_| match fleet::parse(text, file) {
        Err(diags) => EditError::Invalid(diags),
        Ok(_) => EditError::Layout("the fleet file could not be read for editing".into()),
    })?;
    match edit {
        FleetEdit::AddCustomer { customer: c } => {
            let mut t = new_table();
            write_customer(&mut t, &CustomerEdit::default(), &c.clone().normalized(), false)?;
            tables_mut(&mut doc, CUSTOMER)?.push(t);
        }
        FleetEdit::ChangeCustomer { id, customer } => {
            let i = find(&doc, CUSTOMER, "id", id)?.ok_or_else(|| EditError::UnknownCustomer(id.clone()))?;
            let t = tables_mut(&mut doc, CUSTOMER)?.get_mut(i).expect("found above");
            let old = read_customer(t);
            let has_history = t.contains_key("plan_history");
            write_customer(t, &old, &customer.clone().normalized(), has_history)?;
        }
        FleetEdit::RemoveCustomer { id } => {
            let i = find(&doc, CUSTOMER, "id", id)?.ok_or_else(|| EditError::UnknownCustomer(id.clone()))?;
            let servers: Vec<String> = tables(&doc, SERVER)?
                .iter()
                .filter(|s| s.get("customer").and_then(Item::as_str) == Some(id))
                .map(|s| s.get("label").and_then(Item::as_str).unwrap_or("").to_string())
                .collect();
            if !servers.is_empty() {
                return Err(EditError::CustomerHasServers { id: id.clone(), servers });
            }
            remove_table(&mut doc, CUSTOMER, i);
        }
        FleetEdit::AddServer { server: s } => {
            let mut t = new_table();
            write_server(&mut t, &ServerEdit::default(), &s.clone().normalized());
            tables_mut(&mut doc, SERVER)?.push(t);
        }
        FleetEdit::ChangeServer { label, server } => {
            let i = find(&doc, SERVER, "label", label)?.ok_or_else(|| EditError::UnknownServer(label.clone()))?;
            let t = tables_mut(&mut doc, SERVER)?.get_mut(i).expect("found above");
            let old = read_server(t);
            write_server(t, &old, &server.clone().normalized());
        }
        FleetEdit::RemoveServer { label } => {
            let i = find(&doc, SERVER, "label", label)?.ok_or_else(|| EditError::UnknownServer(label.clone()))?;
            remove_table(&mut doc, SERVER, i);
        }
    }
    let out = doc.to_string();
    fleet::parse(&out, file).map_err(EditError::Invalid)?;
    Ok(out)
}

const CUSTOMER: &str = "customer";
const SERVER: &str = "server";

fn layout(key: &str) -> EditError {
    EditError::Layout(format!(
        "the fleet file writes its {key}s as `{key} = [ … ]`: write each as a [[{key}]] table to edit them from a console"
    ))
}

/// The `[[key]]` tables (none when the file has none).
fn tables<'d>(doc: &'d DocumentMut, key: &str) -> Result<std::borrow::Cow<'d, ArrayOfTables>, EditError> {
    match doc.get(key) {
        None => Ok(std::borrow::Cow::Owned(ArrayOfTables::new())),
        Some(item) => item.as_array_of_tables().map(std::borrow::Cow::Borrowed).ok_or_else(|| layout(key)),
    }
}

fn tables_mut<'d>(doc: &'d mut DocumentMut, key: &str) -> Result<&'d mut ArrayOfTables, EditError> {
    doc.as_table_mut()
        .entry(key)
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or_else(|| layout(key))
}

fn find(doc: &DocumentMut, key: &str, field: &str, value: &str) -> Result<Option<usize>, EditError> {
    Ok(tables(doc, key)?.iter().position(|t| t.get(field).and_then(Item::as_str) == Some(value)))
}

/// A new `[[…]]` table, a blank line above it.
fn new_table() -> Table {
    let mut t = Table::new();
    t.decor_mut().set_prefix("\n");
    t
}

// ---- reading ---------------------------------------------------------------------------------

fn text_of(t: &dyn TableLike, key: &str) -> Option<String> {
    t.get(key).and_then(Item::as_str).map(str::to_string)
}

fn list_of(t: &dyn TableLike, key: &str) -> Vec<String> {
    t.get(key)
        .and_then(Item::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn read_customer(t: &Table) -> CustomerEdit {
    CustomerEdit {
        id: text_of(t, "id").unwrap_or_default(),
        name: text_of(t, "name").unwrap_or_default(),
        notify: list_of(t, "notify"),
        phones: list_of(t, "phones"),
        plan: text_of(t, "plan").unwrap_or_default(),
        plan_from: None,
        contract: t.get("contract").and_then(Item::as_table_like).map(|k| ContractEdit {
            start: text_of(k, "start").unwrap_or_default(),
            months: k.get("months").and_then(Item::as_integer).unwrap_or_default(),
            end: text_of(k, "end"),
        }),
        root: t.get("root").and_then(Item::as_bool),
    }
}

fn read_server(t: &Table) -> ServerEdit {
    ServerEdit {
        label: text_of(t, "label").unwrap_or_default(),
        customer: text_of(t, "customer").unwrap_or_default(),
        ip: text_of(t, "ip").unwrap_or_default(),
        fqdn: text_of(t, "fqdn").unwrap_or_default(),
        os: text_of(t, "os"),
        services: list_of(t, "services"),
        ports: t
            .get("ports")
            .and_then(Item::as_table_like)
            .map(|p| p.iter().filter_map(|(k, v)| Some((k.to_string(), v.as_integer()?))).collect())
            .unwrap_or_default(),
        gateway: text_of(t, "gateway"),
        plesk: t.get("plesk").and_then(Item::as_bool).unwrap_or(false),
    }
}

// ---- writing ---------------------------------------------------------------------------------

/// Sets `key` to `new` (None: removes it), keeping the old value's surrounding whitespace and
/// trailing comment, and the key's own comments above it.
fn put(t: &mut dyn TableLike, key: &str, new: Option<Value>) {
    match (t.get_mut(key), new) {
        (Some(item), Some(mut v)) => {
            if let Some(old) = item.as_value() {
                *v.decor_mut() = old.decor().clone();
            }
            *item = Item::Value(v);
        }
        (Some(_), None) => {
            t.remove(key);
        }
        (None, Some(v)) => {
            t.insert(key, Item::Value(v));
        }
        (None, None) => {}
    }
}

fn text(s: &str) -> Value {
    Value::from(s)
}

fn list(items: &[String]) -> Value {
    Value::Array(items.iter().map(String::as_str).collect::<Array>())
}

/// Writes `new` over a customer table that holds `old`: only what differs changes.
fn write_customer(t: &mut Table, old: &CustomerEdit, new: &CustomerEdit, has_history: bool) -> Result<(), EditError> {
    if old.id != new.id {
        put(t, "id", Some(text(&new.id)));
    }
    if old.name != new.name {
        put(t, "name", Some(text(&new.name)));
    }
    if old.plan != new.plan {
        put(t, "plan", Some(text(&new.plan)));
    }
    if old.notify != new.notify {
        put(t, "notify", Some(list(&new.notify)));
    }
    if old.phones != new.phones {
        put(t, "phones", Some(list(&new.phones)));
    }
    if old.contract != new.contract {
        write_contract(t, new.contract.as_ref());
    }
    let adding = old.id.is_empty();
    match (&new.plan_from, adding) {
        // A new customer with a dated plan starts its history with it.
        (Some(from), true) => {
            put(t, "plan_history", Some(Value::Array(Array::from_iter([plan_change(&new.plan, from)]))));
        }
        (_, true) => {}
        (_, false) if old.plan == new.plan => {}
        (None, false) => return Err(EditError::PlanNeedsDate { id: new.id.clone() }),
        (Some(from), false) if has_history => append_plan_change(t, &new.plan, from),
        (Some(from), false) => {
            // The first change: the history begins with the plan the contract began with.
            let start = new.contract.as_ref().map(|k| k.start.clone()).filter(|s| !s.is_empty());
            let start = start.ok_or_else(|| EditError::PlanStartUnknown { id: new.id.clone() })?;
            let history = Array::from_iter([plan_change(&old.plan, &start), plan_change(&new.plan, from)]);
            put(t, "plan_history", Some(Value::Array(history)));
        }
    }
    if old.root != new.root {
        put(t, "root", new.root.map(Value::from));
    }
    Ok(())
}

fn plan_change(plan: &str, from: &str) -> Value {
    let mut it = InlineTable::new();
    it.insert("plan", text(plan));
    it.insert("from", text(from));
    Value::InlineTable(it)
}

fn append_plan_change(t: &mut Table, plan: &str, from: &str) {
    match t.get_mut("plan_history") {
        Some(Item::Value(Value::Array(a))) => a.push(plan_change(plan, from)),
        Some(Item::ArrayOfTables(a)) => {
            if let Value::InlineTable(it) = plan_change(plan, from) {
                a.push(it.into_table());
            }
        }
        // Anything else the parser refuses; replaced by a well-formed history of one.
        _ => put(t, "plan_history", Some(Value::Array(Array::from_iter([plan_change(plan, from)])))),
    }
}

/// The contract's keys changed in place (an inline table or a `[customer.contract]` table keeps
/// its form), added as an inline table, or removed.
fn write_contract(t: &mut Table, new: Option<&ContractEdit>) {
    let Some(new) = new else {
        t.remove("contract");
        return;
    };
    match t.get_mut("contract").and_then(Item::as_table_like_mut) {
        Some(k) => {
            let old_start = text_of(k, "start");
            if old_start.as_deref() != Some(new.start.as_str()) {
                put(k, "start", Some(text(&new.start)));
            }
            if k.get("months").and_then(Item::as_integer) != Some(new.months) {
                put(k, "months", Some(Value::from(new.months)));
            }
            if text_of(k, "end") != new.end {
                put(k, "end", new.end.as_deref().map(text));
            }
            tidy_inline(t.get_mut("contract"));
        }
        None => {
            let mut it = InlineTable::new();
            it.insert("start", text(&new.start));
            it.insert("months", Value::from(new.months));
            if let Some(end) = &new.end {
                it.insert("end", text(end));
            }
            put(t, "contract", Some(Value::InlineTable(it)));
        }
    }
}

/// Writes `new` over a server table that holds `old`: only what differs changes; the keys a
/// console does not edit (`ssh`, `restart`, `reboot`, `custom`) are left as they are.
fn write_server(t: &mut Table, old: &ServerEdit, new: &ServerEdit) {
    for (key, was, now) in [
        ("label", &old.label, &new.label),
        ("customer", &old.customer, &new.customer),
        ("fqdn", &old.fqdn, &new.fqdn),
        ("ip", &old.ip, &new.ip),
    ] {
        if was != now {
            put(t, key, Some(text(now)));
        }
    }
    if old.os != new.os {
        put(t, "os", new.os.as_deref().map(text));
    }
    if old.gateway != new.gateway {
        put(t, "gateway", new.gateway.as_deref().map(text));
    }
    if old.services != new.services {
        put(t, "services", Some(list(&new.services)));
    }
    if old.ports != new.ports {
        write_ports(t, &new.ports);
    }
    if old.plesk != new.plesk {
        put(t, "plesk", new.plesk.then_some(Value::from(true)));
    }
}

/// The port overrides changed in place (the file's order and form kept), added as an inline
/// table, or removed when none are left.
fn write_ports(t: &mut Table, new: &BTreeMap<String, i64>) {
    if new.is_empty() {
        t.remove("ports");
        return;
    }
    match t.get_mut("ports").and_then(Item::as_table_like_mut) {
        Some(p) => {
            let gone: Vec<String> = p.iter().map(|(k, _)| k.to_string()).filter(|k| !new.contains_key(k)).collect();
            for k in gone {
                p.remove(&k);
            }
            for (k, port) in new {
                if p.get(k).and_then(Item::as_integer) != Some(*port) {
                    put(p, k, Some(Value::from(*port)));
                }
            }
            tidy_inline(t.get_mut("ports"));
        }
        None => {
            let it: InlineTable = new.iter().map(|(k, v)| (k.as_str(), Value::from(*v))).collect();
            put(t, "ports", Some(Value::InlineTable(it)));
        }
    }
}

/// After keys were added to or removed from an inline table, the space before its `}` belongs
/// to its last value only: `{ a = 1, b = 2 }`, not `{ a = 1 , b = 2}`.
fn tidy_inline(item: Option<&mut Item>) {
    let Some(it) = item.and_then(Item::as_inline_table_mut) else { return };
    let n = it.len();
    for (i, (_, v)) in it.iter_mut().enumerate() {
        let suffix = v.decor().suffix().and_then(|s| s.as_str()).map(str::to_string);
        let blank = suffix.as_deref().is_some_and(|s| s.trim().is_empty());
        if i + 1 < n && blank {
            v.decor_mut().set_suffix("");
        } else if i + 1 == n && suffix.as_deref() == Some("") {
            v.decor_mut().set_suffix(" ");
        }
    }
}

// ---- removing --------------------------------------------------------------------------------

/// Removes `[[key]]` number `index`. The comment lines right above its header go with it; the
/// comments above a blank line before them (a section's heading) stay, moved onto the table that
/// now follows.
fn remove_table(doc: &mut DocumentMut, key: &str, index: usize) {
    let Some(aot) = doc.get_mut(key).and_then(Item::as_array_of_tables_mut) else { return };
    let removed = aot.remove(index);
    let prefix = removed.decor().prefix().and_then(|p| p.as_str()).unwrap_or("").to_string();
    let lines: Vec<&str> = prefix.split_inclusive('\n').collect();
    let Some(last_blank) = lines.iter().rposition(|l| l.trim().is_empty()) else { return };
    let kept: String = lines[..=last_blank].concat();
    if kept.trim().is_empty() {
        return;
    }
    let merge = |next: &str| format!("{kept}{}", next.trim_start_matches(['\n', '\r']));
    let position = removed.position().unwrap_or(isize::MIN);
    match next_table(doc, position) {
        Some(t) => {
            let next = t.decor().prefix().and_then(|p| p.as_str()).unwrap_or("").to_string();
            t.decor_mut().set_prefix(merge(&next));
        }
        None => {
            let trailing = doc.trailing().as_str().unwrap_or("").to_string();
            doc.set_trailing(merge(&trailing));
        }
    }
}

/// The top-level table or `[[…]]` element whose header comes first after `position`.
fn next_table(doc: &mut DocumentMut, position: isize) -> Option<&mut Table> {
    let mut best: Option<(isize, String, Option<usize>)> = None;
    let mut consider = |p: Option<isize>, key: &str, i: Option<usize>| {
        if let Some(p) = p.filter(|p| *p > position) {
            if best.as_ref().is_none_or(|(b, _, _)| p < *b) {
                best = Some((p, key.to_string(), i));
            }
        }
    };
    for (key, item) in doc.iter() {
        match item {
            Item::Table(t) => consider(t.position(), key, None),
            Item::ArrayOfTables(a) => {
                for (i, t) in a.iter().enumerate() {
                    consider(t.position(), key, Some(i));
                }
            }
            _ => {}
        }
    }
    let (_, key, index) = best?;
    let item = doc.get_mut(&key)?;
    match index {
        None => item.as_table_mut(),
        Some(i) => item.as_array_of_tables_mut()?.get_mut(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "fleet.toml";

    /// A fleet as people write them: section comments, a comment per group, trailing comments.
    const TEXT: &str = r#"# The NOC's fleet.

[noc]
interval_secs = 10   # fast, for tests

# ------------------------------------------------ customers

# Our first customer.
[[customer]]
id = "c1"
name = "サンプル株式会社"
plan = "150"
notify = ["ops@example.jp"]
phones = ["03-0000-0001"]  # the night line
contract = { start = "2026-01-01", months = 12 }

[[customer]]
id = "c2"
name = "ひまわり食品"
plan = "60"
notify = ["info@example.com"]

[[customer]]
id = "c3"
name = "みどり工務店"
plan = "30"
notify = ["midori@example.com"]
plan_history = [{ plan = "zero", from = "2025-04-01" }, { plan = "30", from = "2026-01-01" }]

[[gateway]]
label = "gw1"
ip = "127.78.0.1"

# ------------------------------------------------ servers

# web01: the shop.
[[server]]
label = "web01"
customer = "c1"
fqdn = "web01.example.jp"
ip = "127.78.0.2"
os = "AlmaLinux 9"
services = ["http", "smtp"]
ports = { http = 18080, ssh = 2222 }  # high ports
reboot = { command = ["/usr/local/bin/vps-reboot", "{label}"] }

# db01
[[server]]
label = "db01"
customer = "c1"
fqdn = "db01.example.jp"
ip = "127.78.0.3"
services = ["mysql"]

[[server]]
label = "web02"
customer = "c2"
fqdn = "web02.example.jp"
ip = "127.78.0.4"
gateway = "gw1"
# end of the fleet
"#;

    fn src() -> FleetSource {
        source(TEXT, FILE).expect("the fixture validates")
    }

    fn customer(id: &str) -> CustomerEdit {
        src().customers.into_iter().find(|c| c.id == id).unwrap()
    }

    fn server(label: &str) -> ServerEdit {
        src().servers.into_iter().find(|s| s.label == label).unwrap()
    }

    /// `out` is `TEXT` with exactly `from` replaced by `to` (once).
    fn assert_only(out: &str, from: &str, to: &str) {
        assert_eq!(TEXT.matches(from).count(), 1, "the fixture has {from:?} once");
        assert_eq!(out, TEXT.replacen(from, to, 1), "\n--- got ---\n{out}");
    }

    #[test]
    fn the_revision_is_a_stable_hash_of_the_bytes() {
        assert_eq!(revision(TEXT), revision(TEXT));
        assert_eq!(revision(TEXT).len(), 64);
        assert_ne!(revision(TEXT), revision(&TEXT.replace("10 ", "11 ")));
        assert_eq!(revision(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn the_source_shows_the_file_s_own_values() {
        let s = src();
        assert_eq!(s.revision, revision(TEXT));
        assert_eq!(s.customers.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["c1", "c2", "c3"]);
        let c1 = &s.customers[0];
        assert_eq!(c1.phones, ["03-0000-0001"]);
        assert_eq!(c1.contract, Some(ContractEdit { start: "2026-01-01".into(), months: 12, end: None }));
        assert_eq!((c1.root, c1.plan.as_str()), (None, "150"));
        let web01 = &s.servers[0];
        assert_eq!(web01.ports, BTreeMap::from([("http".to_string(), 18080), ("ssh".to_string(), 2222)]));
        assert_eq!((web01.os.as_deref(), web01.gateway.as_deref()), (Some("AlmaLinux 9"), None));
        assert_eq!((s.servers[1].os.as_deref(), s.servers[2].gateway.as_deref()), (None, Some("gw1")));
    }

    #[test]
    fn a_changed_phone_changes_that_value_only_and_keeps_its_comment() {
        let mut c = customer("c1");
        c.phones = vec!["03-0000-0009".into(), "090-0000-0002".into()];
        let out = apply(TEXT, FILE, &FleetEdit::ChangeCustomer { id: "c1".into(), customer: c }).unwrap();
        assert_only(
            &out,
            r#"phones = ["03-0000-0001"]  # the night line"#,
            r#"phones = ["03-0000-0009", "090-0000-0002"]  # the night line"#,
        );
    }

    #[test]
    fn an_unchanged_edit_leaves_the_file_byte_for_byte() {
        for c in src().customers {
            assert_eq!(apply(TEXT, FILE, &FleetEdit::ChangeCustomer { id: c.id.clone(), customer: c }).unwrap(), TEXT);
        }
        for s in src().servers {
            assert_eq!(
                apply(TEXT, FILE, &FleetEdit::ChangeServer { label: s.label.clone(), server: s }).unwrap(),
                TEXT
            );
        }
    }

    #[test]
    fn a_new_customer_follows_the_last_one_and_everything_else_stays() {
        let c = CustomerEdit {
            id: "c4".into(),
            name: "ほしぞらデザイン".into(),
            notify: vec!["noc@example.jp".into()],
            phones: vec!["03-0000-0005".into()],
            plan: "200".into(),
            plan_from: Some("2026-04-01".into()),
            contract: Some(ContractEdit { start: "2026-04-01".into(), months: 6, end: None }),
            root: Some(false),
        };
        let out = apply(TEXT, FILE, &FleetEdit::AddCustomer { customer: c.clone() }).unwrap();
        let added = r#"
[[customer]]
id = "c4"
name = "ほしぞらデザイン"
plan = "200"
notify = ["noc@example.jp"]
phones = ["03-0000-0005"]
contract = { start = "2026-04-01", months = 6 }
plan_history = [{ plan = "200", from = "2026-04-01" }]
root = false
"#;
        let anchor = "\n[[gateway]]";
        assert_eq!(out, TEXT.replacen(anchor, &format!("{added}{anchor}"), 1), "\n--- got ---\n{out}");
        let read = source(&out, FILE).unwrap().customers.into_iter().find(|x| x.id == "c4").unwrap();
        assert_eq!(read, CustomerEdit { plan_from: None, ..c });
    }

    #[test]
    fn a_new_server_follows_the_last_one() {
        let s = ServerEdit {
            label: "mail01".into(),
            customer: "c2".into(),
            ip: "127.78.0.5".into(),
            fqdn: "mail01.example.com".into(),
            os: Some("Debian 12".into()),
            services: vec!["smtp".into(), "imap".into()],
            ports: BTreeMap::from([("smtp".into(), 2525)]),
            gateway: Some("gw1".into()),
            plesk: true,
        };
        let out = apply(TEXT, FILE, &FleetEdit::AddServer { server: s.clone() }).unwrap();
        let added = "\n[[server]]\nlabel = \"mail01\"\ncustomer = \"c2\"\nfqdn = \"mail01.example.com\"\nip = \"127.78.0.5\"\nos = \"Debian 12\"\ngateway = \"gw1\"\nservices = [\"smtp\", \"imap\"]\nports = { smtp = 2525 }\nplesk = true\n";
        // The file's last comment stays last.
        let anchor = "# end of the fleet\n";
        assert_eq!(out, TEXT.replacen(anchor, &format!("{added}{anchor}"), 1), "\n--- got ---\n{out}");
        assert_eq!(source(&out, FILE).unwrap().servers.last(), Some(&s));
    }

    #[test]
    fn a_changed_server_keeps_its_ports_order_and_what_the_console_does_not_edit() {
        let mut s = server("web01");
        s.ports.insert("http".into(), 8080);
        s.ports.insert("smtp".into(), 2525);
        s.services.push("imap".into());
        s.os = None;
        s.plesk = true;
        let out = apply(TEXT, FILE, &FleetEdit::ChangeServer { label: "web01".into(), server: s }).unwrap();
        let expect = TEXT
            .replacen("os = \"AlmaLinux 9\"\n", "", 1)
            .replacen(r#"services = ["http", "smtp"]"#, r#"services = ["http", "smtp", "imap"]"#, 1)
            .replacen(
                "ports = { http = 18080, ssh = 2222 }  # high ports\nreboot = { command = [\"/usr/local/bin/vps-reboot\", \"{label}\"] }\n",
                "ports = { http = 8080, ssh = 2222, smtp = 2525 }  # high ports\nreboot = { command = [\"/usr/local/bin/vps-reboot\", \"{label}\"] }\nplesk = true\n",
                1,
            );
        assert_eq!(out, expect, "\n--- got ---\n{out}");
    }

    #[test]
    fn a_port_removed_leaves_a_tidy_inline_table() {
        let mut s = server("web01");
        s.ports.remove("ssh");
        let out = apply(TEXT, FILE, &FleetEdit::ChangeServer { label: "web01".into(), server: s.clone() }).unwrap();
        assert_only(&out, "ports = { http = 18080, ssh = 2222 }", "ports = { http = 18080 }");
        s.ports.clear();
        let out = apply(TEXT, FILE, &FleetEdit::ChangeServer { label: "web01".into(), server: s }).unwrap();
        assert_only(&out, "ports = { http = 18080, ssh = 2222 }  # high ports\n", "");
    }

    #[test]
    fn a_removed_server_takes_its_own_comment_and_leaves_the_section_s() {
        let out = apply(TEXT, FILE, &FleetEdit::RemoveServer { label: "web01".into() }).unwrap();
        let web01 = &TEXT[TEXT.find("# web01: the shop.").unwrap()..TEXT.find("# db01").unwrap()];
        assert_eq!(out, TEXT.replacen(web01, "", 1), "\n--- got ---\n{out}");

        let out = apply(TEXT, FILE, &FleetEdit::RemoveServer { label: "web02".into() }).unwrap();
        let web02 = &TEXT[TEXT.find("\n[[server]]\nlabel = \"web02\"").unwrap()..TEXT.find("# end").unwrap()];
        assert_eq!(out, TEXT.replacen(web02, "", 1), "\n--- got ---\n{out}");
        assert!(source(&out, FILE).unwrap().servers.iter().all(|s| s.label != "web02"));
    }

    #[test]
    fn a_customer_with_servers_stays_and_one_without_goes() {
        let e = apply(TEXT, FILE, &FleetEdit::RemoveCustomer { id: "c1".into() }).unwrap_err();
        assert_eq!(e, EditError::CustomerHasServers { id: "c1".into(), servers: vec!["web01".into(), "db01".into()] });
        assert!(e.to_string().contains("web01, db01"), "{e}");
        let out = apply(TEXT, FILE, &FleetEdit::RemoveCustomer { id: "c3".into() }).unwrap();
        let c3 = &TEXT[TEXT.find("\n[[customer]]\nid = \"c3\"").unwrap()..TEXT.find("\n[[gateway]]").unwrap()];
        assert_eq!(out, TEXT.replacen(c3, "", 1), "\n--- got ---\n{out}");
    }

    #[test]
    fn an_invalid_edit_answers_the_parser_s_own_message() {
        let mut c = customer("c2");
        c.phones = vec!["call me".into()];
        let e = apply(TEXT, FILE, &FleetEdit::ChangeCustomer { id: "c2".into(), customer: c }).unwrap_err();
        let EditError::Invalid(diags) = &e else { panic!("{e:?}") };
        // What the parser says of the edited text, at its place there.
        let edited = TEXT.replacen(
            "notify = [\"info@example.com\"]\n",
            "notify = [\"info@example.com\"]\nphones = [\"call me\"]\n",
            1,
        );
        assert_eq!(diags, &fleet::parse(&edited, FILE).unwrap_err());
        let line = edited.lines().position(|l| l.contains("call me")).unwrap() + 1;
        assert_eq!(
            e.to_string(),
            format!("{FILE}:{line}:11: \"call me\" is not a valid phones entry: write it like \"03-0000-0001\"")
        );
        assert_eq!(e.code(), "invalid");

        let mut s = server("db01");
        s.services = vec!["gopher".into()];
        s.customer = "nobody".into();
        let e = apply(TEXT, FILE, &FleetEdit::ChangeServer { label: "db01".into(), server: s }).unwrap_err();
        let EditError::Invalid(diags) = &e else { panic!("{e:?}") };
        assert_eq!(diags.len(), 2, "{e}");
        assert!(diags[0].message.contains("names customer \"nobody\""), "{e}");
        assert!(diags[1].message.contains("gopher"), "{e}");

        let mut dup = server("db01");
        dup.label = "web01".into();
        let e = apply(TEXT, FILE, &FleetEdit::AddServer { server: dup }).unwrap_err();
        assert!(e.to_string().contains("duplicate label \"web01\""), "{e}");
    }

    #[test]
    fn an_unknown_id_or_label_is_named() {
        let e =
            apply(TEXT, FILE, &FleetEdit::ChangeCustomer { id: "c9".into(), customer: customer("c1") }).unwrap_err();
        assert_eq!((e.code(), e.to_string()), ("not_found", "no [[customer]] has id \"c9\"".to_string()));
        let e = apply(TEXT, FILE, &FleetEdit::RemoveServer { label: "nope".into() }).unwrap_err();
        assert_eq!(e, EditError::UnknownServer("nope".into()));
        let e =
            apply(TEXT, FILE, &FleetEdit::ChangeServer { label: "nope".into(), server: server("db01") }).unwrap_err();
        assert_eq!(e, EditError::UnknownServer("nope".into()));
    }

    #[test]
    fn a_plan_change_is_dated_into_the_history() {
        // Without a day: refused.
        let mut c = customer("c1");
        c.plan = "200".into();
        let e = apply(TEXT, FILE, &FleetEdit::ChangeCustomer { id: "c1".into(), customer: c.clone() }).unwrap_err();
        assert_eq!(e, EditError::PlanNeedsDate { id: "c1".into() });
        // The first change: the history begins with the contract's start.
        c.plan_from = Some("2026-06-01".into());
        let out = apply(TEXT, FILE, &FleetEdit::ChangeCustomer { id: "c1".into(), customer: c }).unwrap();
        assert_only(
            &out,
            "plan = \"150\"\nnotify = [\"ops@example.jp\"]\nphones = [\"03-0000-0001\"]  # the night line\ncontract = { start = \"2026-01-01\", months = 12 }\n",
            "plan = \"200\"\nnotify = [\"ops@example.jp\"]\nphones = [\"03-0000-0001\"]  # the night line\ncontract = { start = \"2026-01-01\", months = 12 }\nplan_history = [{ plan = \"150\", from = \"2026-01-01\" }, { plan = \"200\", from = \"2026-06-01\" }]\n",
        );
        // Appended to a history the file has.
        let mut c3 = customer("c3");
        c3.plan = "60".into();
        c3.plan_from = Some("2026-07-01".into());
        let out = apply(TEXT, FILE, &FleetEdit::ChangeCustomer { id: "c3".into(), customer: c3.clone() }).unwrap();
        assert_only(
            &out,
            "plan = \"30\"\nnotify = [\"midori@example.com\"]\nplan_history = [{ plan = \"zero\", from = \"2025-04-01\" }, { plan = \"30\", from = \"2026-01-01\" }]",
            "plan = \"60\"\nnotify = [\"midori@example.com\"]\nplan_history = [{ plan = \"zero\", from = \"2025-04-01\" }, { plan = \"30\", from = \"2026-01-01\" }, { plan = \"60\", from = \"2026-07-01\" }]",
        );
        // A day before the last change: the parser's message.
        c3.plan_from = Some("2025-12-01".into());
        let e = apply(TEXT, FILE, &FleetEdit::ChangeCustomer { id: "c3".into(), customer: c3 }).unwrap_err();
        assert!(e.to_string().contains("plan_history: 2025-12-01 is not after 2026-01-01"), "{e}");
        // No history and no contract: the day the current plan began is unknown.
        let mut c2 = customer("c2");
        c2.plan = "150".into();
        c2.plan_from = Some("2026-06-01".into());
        let e = apply(TEXT, FILE, &FleetEdit::ChangeCustomer { id: "c2".into(), customer: c2 }).unwrap_err();
        assert_eq!(e.code(), "plan_start_unknown");
    }

    #[test]
    fn contract_changes_are_an_admin_s() {
        let c1 = customer("c1");
        let mut phones = c1.clone();
        phones.phones.clear();
        phones.root = Some(true);
        assert!(!phones.changes_contract(Some(&c1)));
        let mut plan = c1.clone();
        plan.plan = "60".into();
        assert!(plan.changes_contract(Some(&c1)));
        let mut term = c1.clone();
        term.contract = Some(ContractEdit { start: "2026-01-01".into(), months: 6, end: None });
        assert!(term.changes_contract(Some(&c1)));
        let mut empty_end = c1.clone();
        empty_end.contract.as_mut().unwrap().end = Some(String::new());
        assert!(!empty_end.changes_contract(Some(&c1)), "an empty end is no end");
        assert!(c1.changes_contract(None), "a new customer brings a plan");
    }

    #[test]
    fn a_contract_is_changed_in_place_and_removed() {
        let mut c = customer("c1");
        c.contract = Some(ContractEdit { start: "2026-01-01".into(), months: 12, end: Some("2027-01-01".into()) });
        let out = apply(TEXT, FILE, &FleetEdit::ChangeCustomer { id: "c1".into(), customer: c.clone() }).unwrap();
        assert_only(
            &out,
            r#"contract = { start = "2026-01-01", months = 12 }"#,
            r#"contract = { start = "2026-01-01", months = 12, end = "2027-01-01" }"#,
        );
        c.contract = None;
        let out = apply(TEXT, FILE, &FleetEdit::ChangeCustomer { id: "c1".into(), customer: c }).unwrap();
        assert_only(&out, "contract = { start = \"2026-01-01\", months = 12 }\n", "");
    }
}
