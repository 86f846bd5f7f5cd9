//! The console API of `anshin serve`: the one engine's state for many consoles (workstations,
//! the wall display, browsers) over HTTP and WebSocket, behind bearer tokens with a role.
//!
//! Routes (a contract; README "Console API" lists them with their shapes):
//! * `GET /api/v1/servers` — every host with its tile state (`ServerView`);
//!   `GET /api/v1/servers/{label}` — one, with its latest response times.
//! * `GET /api/v1/incidents?open=true&limit=N` — incidents with their events, newest first.
//! * `GET /api/v1/samples?host=H&resource=R&hours=N` — one resource's readings, oldest first.
//! * `GET /api/v1/customers` — contracts: plan, entitlements, notification and phone contacts.
//! * `GET /api/v1/health` — the engine's health line.
//! * `GET /api/v1/catalogue` — services, checks, thresholds, plans, yen limits (`catalogue`).
//! * `GET /api/v1/ledger/resource-ups?open=`, `GET /api/v1/ledger/config-work?customer=&month=`
//!   — the request ledger (contract §9.4, §9.5).
//! * `GET /api/v1/review?server=&customer=&level=&check=&from=&to=&operator=&text=&open=&limit=`
//!   — incidents with their whole story (dates are Japan days, `YYYY-MM-DD`); 400 on bad input.
//! * `GET /api/v1/events` (WebSocket) — the console feed (`feed`): snapshot, deltas, events.
//! * `GET /api/v1/whoami` — the caller's role and name.
//! * The actions and their reads (`actions`; docs/console-actions.md is their contract):
//!   acknowledge, notes, recover / reboot / restart, phone calls, consents, the status report,
//!   maintenance pauses; escalation, maintenance, recoveries and the audit log. Every `POST`
//!   needs an operator token (a viewer gets 403).
//! * `GET /api/v1/openapi.json` — the OpenAPI document of these routes (`openapi`), without a
//!   token: it holds no fleet data. The routes are one table (`routes`), the router is built from
//!   it and a test checks the document against it.
//! * Any other path: the browser console's files (`ui`), without a token.
//!
//! Without a valid token: 401 `{"code":"unauthorized","message":…}` and nothing of the fleet.
//! Every rejection, also of a malformed body or query, is `{"code","message"}` JSON.
//! Tokens come from the environment or a tokens file (re-read on SIGHUP), never the fleet file.
//! Beyond loopback only with TLS (`tls`). Connections are capped and timed out (`listener`), so
//! a flood on the console port never takes what the probes need.
//! Must not know: how a console draws; what the engine decides.

mod actions;
mod fleet_edit;
pub mod listener;
mod openapi;
pub mod routes;
mod tls;
mod ui;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Extension;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use ts_rs::TS;
use utoipa::ToSchema;

pub use self::listener::ConsoleLimits;
pub use self::openapi::{document, OPENAPI_PATH};
pub use self::routes::ExtraRoutes;
use self::routes::{route, ApiRoute};
use crate::catalogue::Catalogue;
use crate::engine::Console;
use crate::feed::ConsoleMessage;
use crate::feed::{subscribe_feed, FeedEnd};
use crate::review_query::{with_customers, ReviewQuery, ReviewRow};
use crate::shared_fleet::SharedFleet;
use crate::store::ledger::{ConfigWorkMonth, ResourceUpRecord};
use crate::store::samples::Sample;
use crate::store::{IncidentRecord, Store};
use crate::view::{customers, CustomerView, Health, ServerView};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May act (acknowledge, recover, pause — as those actions arrive).
    Operator,
    /// Reads only (the wall display).
    Viewer,
    /// May do all an operator can, and change customers' contracts and plans (contract §9.1).
    Admin,
}

impl Role {
    /// Whether the role may act (every `POST` of the console API): operators and admins.
    pub fn may_act(self) -> bool {
        self != Role::Viewer
    }

    /// The role's word in the tokens file, and its default name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }
}

/// Who is calling: the token's role and the name it was given (shown as who acted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct Caller {
    pub role: Role,
    pub name: String,
}

/// The accepted tokens and their callers.
#[derive(Clone, Default)]
pub struct Tokens(HashMap<String, Caller>);

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} tokens)", self.0.len())
    }
}

impl Tokens {
    /// Parses `ROLE TOKEN [NAME]` lines (`operator s3cret yamada`, `viewer w4ll`, `admin …`); `#` starts a
    /// comment at the start of a line or after a space; NAME (who acted, in the log) defaults to
    /// the role. Errors name the line. Refused: tokens shorter than 16 characters (guessable), a
    /// `#` inside a token (it would silently cut the token short in most tools' eyes), and a
    /// token given twice (which role would it have?).
    pub fn parse(text: &str, source: &str) -> Result<Tokens, String> {
        let mut map = HashMap::new();
        let mut lines_of: HashMap<String, usize> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let mut fields = Vec::new();
            for field in line.split_whitespace() {
                if field.starts_with('#') {
                    break;
                }
                fields.push(field);
            }
            if fields.is_empty() {
                continue;
            }
            let [role, token, rest @ ..] = fields.as_slice() else {
                return Err(format!(
                    "{source}:{n}: write \"operator TOKEN [NAME]\", \"viewer TOKEN [NAME]\" or \"admin TOKEN [NAME]\""
                ));
            };
            if rest.len() > 1 {
                return Err(format!(
                    "{source}:{n}: write \"operator TOKEN [NAME]\", \"viewer TOKEN [NAME]\" or \"admin TOKEN [NAME]\""
                ));
            }
            let role = match *role {
                "operator" => Role::Operator,
                "viewer" => Role::Viewer,
                "admin" => Role::Admin,
                other => {
                    return Err(format!(
                        "{source}:{n}: unknown role \"{}\": use operator, viewer or admin",
                        crate::probe::visible(other.as_bytes())
                    ))
                }
            };
            if token.contains('#') {
                return Err(format!("{source}:{n}: a token may not contain '#': generate another one"));
            }
            if token.len() < 16 {
                return Err(format!("{source}:{n}: token too short: use at least 16 random characters"));
            }
            if let Some(first) = lines_of.insert(token.to_string(), n) {
                return Err(format!("{source}:{n}: the same token as line {first}: give every console its own"));
            }
            let name = rest.first().copied().unwrap_or(role.as_str());
            map.insert(token.to_string(), Caller { role, name: name.to_string() });
        }
        if map.is_empty() {
            return Err(format!("{source}: no tokens: add a line \"operator TOKEN\""));
        }
        Ok(Tokens(map))
    }

    /// From the file when given, else from `ANSHIN_TOKENS` (the same lines, `;` also separates).
    pub fn load(file: Option<&Path>) -> Result<Tokens, String> {
        match file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
                Tokens::parse(&text, &p.display().to_string())
            }
            None => match std::env::var("ANSHIN_TOKENS") {
                Ok(v) => Tokens::parse(&v.replace(';', "\n"), "ANSHIN_TOKENS"),
                Err(_) => Err("no console tokens: set ANSHIN_TOKENS=\"operator TOKEN\" or pass --tokens FILE".into()),
            },
        }
    }

    fn caller(&self, token: &str) -> Option<&Caller> {
        self.0.get(token)
    }
}

/// The tokens in force, replaced as a whole when the tokens file is re-read (SIGHUP), so a
/// revoked token stops working without a restart.
#[derive(Clone, Debug)]
pub struct TokenSet {
    current: Arc<std::sync::RwLock<Arc<Tokens>>>,
    file: Option<PathBuf>,
}

impl TokenSet {
    pub fn new(tokens: Tokens, file: Option<PathBuf>) -> TokenSet {
        TokenSet { current: Arc::new(std::sync::RwLock::new(Arc::new(tokens))), file }
    }

    fn get(&self) -> Arc<Tokens> {
        self.current.read().map(|t| t.clone()).unwrap_or_default()
    }

    /// Re-reads the tokens file (or `ANSHIN_TOKENS`); a file with an error changes nothing and
    /// the error is returned (the old tokens stay in force).
    pub fn reload(&self) -> Result<usize, String> {
        let fresh = Tokens::load(self.file.as_deref())?;
        let n = fresh.0.len();
        if let Ok(mut t) = self.current.write() {
            *t = Arc::new(fresh);
        }
        Ok(n)
    }
}

/// Percent-decodes a URL query value (`%2B` → `+`, `+` stays `+`: tokens are not form data).
/// `None` for a malformed escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A WebSocket message not taken by the console within this time ends its connection.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

#[derive(Clone)]
struct ApiState {
    console: Console,
    tokens: TokenSet,
    db: PathBuf,
    /// The fleet in force (it changes with a live reload).
    fleet: SharedFleet,
    /// The largest WebSocket message accepted from a console.
    ws_message: usize,
    /// The OpenAPI document (the engine's routes and the extra ones), serialized once.
    openapi: bytes::Bytes,
}

/// Every rejection of the console API (and of a desktop command): a stable `code` consoles
/// translate (`unauthorized`, `forbidden`, `not_found`, `invalid`, `busy`, `needs_consent` …)
/// and a message in English for the operator.
#[derive(Debug, Serialize, TS, ToSchema)]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
}

/// The `409` of a running recovery (`busy`) also carries the running one.
#[derive(Debug, Serialize, TS, ToSchema)]
pub struct BusyAnswer {
    pub code: &'static str,
    pub message: String,
    pub recovery: crate::store::recovery::RecoveryRecord,
}

fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    (status, Json(ApiError { code, message: message.into() })).into_response()
}

/// Checks the bearer token (or `?token=` on the WebSocket route, which browsers cannot give
/// headers to) and records the caller's role for the handlers.
async fn authenticate(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
    // The API's description holds no fleet data: tools read it without a token. Only this path.
    if req.uri().path() == OPENAPI_PATH {
        return next.run(req).await;
    }
    let header_token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    // Only the WebSocket route takes the token from the URL (browsers cannot set its headers);
    // elsewhere a token in a URL would end up in histories and logs.
    let query_token = (req.uri().path() == "/api/v1/events")
        .then(|| req.uri().query())
        .flatten()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")))
        .and_then(percent_decode);
    let tokens = state.tokens.get();
    match header_token.or(query_token).and_then(|t| tokens.caller(&t).cloned()) {
        Some(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        None => error(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required"),
    }
}

/// Every rejection is `{"code","message"}` JSON: axum's own (a malformed JSON body, a bad query
/// or path parameter, a wrong method, a body too large) come as text and are rewrapped here.
async fn json_rejections(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_FOUND => "not_found",
        s if s.is_server_error() => "internal",
        _ => "invalid",
    };
    let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&body).trim().to_string();
    let message =
        if message.is_empty() { status.canonical_reason().unwrap_or("rejected").to_string() } else { message };
    error(status, code, message)
}

/// Every host with its tile state, in fleet order.
#[utoipa::path(get, path = "/api/v1/servers", tag = "fleet",
    responses((status = 200, body = Vec<ServerView>), (status = 401, body = ApiError)))]
async fn servers(State(state): State<ApiState>) -> Response {
    Json(state.console.servers()).into_response()
}

/// One host with its latest response times and check times (the feed's deltas carry a host
/// only when what its tile shows changed; a detail view asks here for the rest).
#[utoipa::path(get, path = "/api/v1/servers/{host}", tag = "fleet", params(("host" = String, Path, description = "the server's label")),
    responses((status = 200, body = ServerView), (status = 404, body = ApiError), (status = 401, body = ApiError)))]
async fn server(State(state): State<ApiState>, axum::extract::Path(label): axum::extract::Path<String>) -> Response {
    match state.console.server(&label) {
        Some(s) => Json(s).into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found", format!("no server \"{label}\" in the fleet")),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct IncidentQuery {
    /// Only open incidents.
    open: Option<bool>,
    /// At most this many (default 500, at most 1000).
    limit: Option<usize>,
    /// Page: incidents with an id below this (the last id of the previous page).
    before: Option<i64>,
}

/// Store reads for consoles at once; more wait up to [`READ_WAIT`], then are told to come back.
const MAX_READS: usize = 4;
/// How long a read waits for a free slot before the answer is 503 with `Retry-After`.
const READ_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// The most rows one list answer holds; the rest is paged (`before=` the last id).
pub const MAX_PAGE: usize = 1000;

/// The bounded pool that every console's store read goes through (shared by all routes).
static READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_READS);

/// Runs a read-only store query on the bounded read pool, off the async threads, and serializes
/// its answer there too; a busy pool answers 503 with `Retry-After` instead of queueing without
/// end (heavy readers never take what the engine or other consoles need).
async fn read_store<T: Serialize + Send + 'static>(
    db: PathBuf,
    query: impl FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Response {
    let Ok(Ok(permit)) = tokio::time::timeout(READ_WAIT, READS.acquire()).await else {
        let mut busy = error(StatusCode::SERVICE_UNAVAILABLE, "busy", "too many reads at once: try again shortly");
        busy.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("2"));
        return busy;
    };
    let answer = tokio::task::spawn_blocking(move || {
        let value = Store::open_read_only(&db).and_then(|s| query(&s))?;
        Ok::<_, crate::store::StoreError>(serde_json::to_vec(&value).unwrap_or_default())
    })
    .await;
    drop(permit);
    match answer {
        Ok(Ok(bytes)) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the query failed"),
    }
}

/// Incidents with their events, newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "log", params(IncidentQuery),
    responses((status = 200, body = Vec<IncidentRecord>), (status = 401, body = ApiError), (status = 503, description = "too many reads at once (Retry-After)", body = ApiError)))]
async fn incidents(State(state): State<ApiState>, Query(q): Query<IncidentQuery>) -> Response {
    let (open, limit) = (q.open.unwrap_or(false), q.limit.unwrap_or(500).clamp(1, MAX_PAGE));
    let before = q.before;
    read_store(state.db, move |s| s.incidents_before(open, limit, before)).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SampleQuery {
    /// The server's label.
    host: String,
    /// `load`, `disk`, `inode` or `mailq`.
    resource: String,
    /// The last this many hours (default 24, at most 62 days).
    hours: Option<u32>,
}

/// One resource's readings, oldest first: raw for up to 2 days still kept, else the means of
/// 5-minute (up to 14 days) or hourly buckets at each bucket's start (`[noc] retention`).
#[utoipa::path(get, path = "/api/v1/samples", tag = "log", params(SampleQuery),
    responses((status = 200, body = Vec<Sample>), (status = 404, body = ApiError), (status = 401, body = ApiError)))]
async fn samples(State(state): State<ApiState>, Query(q): Query<SampleQuery>) -> Response {
    if state.fleet.get().server(&q.host).is_none() {
        return error(StatusCode::NOT_FOUND, "unknown_host", format!("no server \"{}\" in the fleet", q.host));
    }
    let now = Utc::now();
    let since = now - chrono::Duration::hours(i64::from(q.hours.unwrap_or(24).min(24 * 62)));
    let retention = state.fleet.get().retention;
    read_store(state.db, move |s| s.series(&q.host, &q.resource, since, now, &retention).map(|(_, points)| points))
        .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ResourceUpQuery {
    /// Only requests not restored or cancelled.
    open: Option<bool>,
}

/// Temporary resource-up requests (contract §9.4), newest period first.
#[utoipa::path(get, path = "/api/v1/ledger/resource-ups", tag = "ledger", params(ResourceUpQuery),
    responses((status = 200, body = Vec<ResourceUpRecord>), (status = 401, body = ApiError)))]
async fn resource_ups(State(state): State<ApiState>, Query(q): Query<ResourceUpQuery>) -> Response {
    read_store(state.db, move |s| s.resource_ups(q.open.unwrap_or(false))).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ConfigWorkQuery {
    /// The customer's id.
    customer: String,
    /// `YYYY-MM` (Japan time).
    month: String,
}

/// A customer's configuration work of a month and what is left of its 60 minutes (contract §9.5).
#[utoipa::path(get, path = "/api/v1/ledger/config-work", tag = "ledger", params(ConfigWorkQuery),
    responses((status = 200, body = ConfigWorkMonth), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 401, body = ApiError)))]
async fn config_work(State(state): State<ApiState>, Query(q): Query<ConfigWorkQuery>) -> Response {
    if state.fleet.get().customer(&q.customer).is_none() {
        return error(StatusCode::NOT_FOUND, "not_found", format!("no customer \"{}\" in the fleet", q.customer));
    }
    let month_ok = q.month.len() == 7 && anshin_core::contract::parse_day(&format!("{}-01", q.month)).is_some();
    if !month_ok {
        return error(StatusCode::BAD_REQUEST, "invalid", "month is YYYY-MM");
    }
    read_store(state.db, move |s| s.config_work(&q.customer, &q.month)).await
}

/// Incidents with their whole story (dates are Japan days, `YYYY-MM-DD`).
#[utoipa::path(get, path = "/api/v1/review", tag = "log", params(ReviewQuery),
    responses((status = 200, body = Vec<ReviewRow>), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
async fn review(State(state): State<ApiState>, Query(q): Query<ReviewQuery>) -> Response {
    let fleet = state.fleet.get();
    let filter = match q.to_filter(Some(&fleet)) {
        Ok(f) => f,
        Err(message) => return error(StatusCode::BAD_REQUEST, "invalid", message),
    };
    // A console's page is at most MAX_PAGE incidents (the CLI may ask for more).
    let filter = crate::store::review::ReviewFilter { limit: filter.limit.min(MAX_PAGE), ..filter };
    read_store(state.db, move |s| Ok(with_customers(s.review(&filter)?, Some(&fleet)))).await
}

/// Contracts: plan, entitlements, notification and phone contacts.
#[utoipa::path(get, path = "/api/v1/customers", tag = "fleet",
    responses((status = 200, body = Vec<CustomerView>), (status = 401, body = ApiError)))]
async fn customer_list(State(state): State<ApiState>) -> Response {
    Json(customers(&state.fleet.get(), Utc::now())).into_response()
}

/// The catalogue: services, checks, thresholds, plans, yen limits (what consoles draw from).
#[utoipa::path(get, path = "/api/v1/catalogue", tag = "fleet",
    responses((status = 200, body = Catalogue), (status = 401, body = ApiError)))]
async fn catalogue() -> Response {
    Json(Catalogue::current()).into_response()
}

/// The engine's health line (its alarms, the consoles it feeds).
#[utoipa::path(get, path = "/api/v1/health", tag = "fleet",
    responses((status = 200, body = Health), (status = 401, body = ApiError)))]
async fn health(State(state): State<ApiState>) -> Response {
    Json(state.console.health()).into_response()
}

/// The caller's role and name.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "console",
    responses((status = 200, body = Caller), (status = 401, body = ApiError)))]
async fn whoami(Extension(caller): Extension<Caller>) -> Response {
    Json(caller).into_response()
}

/// The console feed (WebSocket; browsers give the token as `?token=`): a snapshot, then deltas
/// and events, each a text frame holding one `ConsoleMessage`.
#[utoipa::path(get, path = "/api/v1/events", tag = "console",
    params(("token" = Option<String>, Query, description = "the bearer token (browsers cannot set the WebSocket's headers)")),
    responses((status = 101, description = "WebSocket: every text frame is one ConsoleMessage", body = ConsoleMessage),
        (status = 401, body = ApiError)))]
async fn events(State(state): State<ApiState>, ws: WebSocketUpgrade) -> Response {
    // Consoles only ever send small control frames: a large message is refused.
    ws.max_message_size(state.ws_message)
        .max_frame_size(state.ws_message)
        .on_upgrade(move |socket| stream_feed(socket, state.console))
}

/// Sends the console feed until either side goes away; a console dropped for falling behind is
/// told why in the close frame (it reconnects).
async fn stream_feed(mut socket: WebSocket, console: Console) {
    let mut feed = subscribe_feed(&console);
    let end = loop {
        tokio::select! {
            m = feed.recv() => {
                let frame = match m {
                    Ok(frame) => frame,
                    Err(end) => break Some(end),
                };
                // The same bytes go to every console (serialized once by the feed).
                let Ok(text) = axum::extract::ws::Utf8Bytes::try_from(frame.json) else { continue };
                // A console that stops reading must not hold its feed forever.
                match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) | Err(_) => break None,
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                _ => {}
            },
        }
    };
    if let Some(end) = end {
        let code = if end == FeedEnd::TooSlow { 4008 } else { 1001 };
        let close = axum::extract::ws::CloseFrame { code, reason: end.reason().into() };
        let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(close)))).await;
    }
}

/// The OpenAPI document of this API (no token needed).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "console", security(()),
    responses((status = 200, description = "the OpenAPI document", content_type = "application/json")))]
async fn openapi_json(State(state): State<ApiState>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], state.openapi.clone()).into_response()
}

/// Every route of the engine's console API: the router is built from this table, and the
/// OpenAPI document is checked against it (`openapi` tests).
fn api_routes() -> Vec<ApiRoute<ApiState>> {
    let mut routes = vec![
        route(Method::GET, "/api/v1/servers", servers),
        route(Method::GET, "/api/v1/servers/{host}", server),
        route(Method::GET, "/api/v1/incidents", incidents),
        route(Method::GET, "/api/v1/samples", samples),
        route(Method::GET, "/api/v1/customers", customer_list),
        route(Method::GET, "/api/v1/health", health),
        route(Method::GET, "/api/v1/catalogue", catalogue),
        route(Method::GET, "/api/v1/ledger/resource-ups", resource_ups),
        route(Method::GET, "/api/v1/ledger/config-work", config_work),
        route(Method::GET, "/api/v1/review", review),
        route(Method::GET, "/api/v1/events", events),
        route(Method::GET, "/api/v1/whoami", whoami),
        route(Method::GET, OPENAPI_PATH, openapi_json),
    ];
    routes.extend(actions::routes());
    routes.extend(fleet_edit::routes());
    routes
}

/// Where and how `anshin serve` listens.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    /// PEM certificate chain and key; required beyond loopback.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Connection caps and timeouts.
    pub limits: ConsoleLimits,
}

/// The 403 answer for a caller who may only watch, or None for an operator or an admin (every
/// action route, here and in other crates' routes, asks this).
pub fn require_operator(caller: &Caller) -> Option<Response> {
    (!caller.role.may_act()).then(|| {
        error(StatusCode::FORBIDDEN, "forbidden", "this token may only watch (viewer): acting needs an operator token")
    })
}

/// The JSON error answer of every route: `{"code", "message"}` with its status.
pub fn error_response(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    error(status, code, message)
}

/// Serves the console API and the browser console until shutdown. `extra` holds routes of
/// other crates (they see the caller as an `Extension<Caller>`). Beyond loopback only with
/// TLS: tokens must not cross a network in clear text.
pub async fn serve(
    options: ServeOptions,
    console: Console,
    tokens: TokenSet,
    db: PathBuf,
    extra: ExtraRoutes,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
    let tls = match &options.tls {
        Some((cert, key)) => {
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls::load_config(cert, key).map_err(invalid)?)))
        }
        None if !options.addr.ip().is_loopback() => {
            return Err(invalid(format!(
                "{} is not a loopback address: serving beyond this machine requires TLS (--tls-cert FILE --tls-key FILE)",
                options.addr
            )));
        }
        None => None,
    };
    let mut doc = document();
    if let Some(extra_doc) = extra.doc {
        doc.merge(extra_doc);
    }
    let openapi = bytes::Bytes::from(doc.to_json().map_err(std::io::Error::other)?);
    let fleet = console.shared_fleet();
    let state = ApiState { console, tokens, db, fleet, ws_message: options.limits.ws_message, openapi };
    let api = routes::router(api_routes())
        .route("/api/{*rest}", any(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such API route") }))
        .with_state(state.clone())
        // Routes of other crates (monthly reports), behind the same tokens.
        .merge(extra.router)
        .layer(middleware::from_fn_with_state(state, authenticate))
        .layer(middleware::map_response(json_rejections));
    let app = api.fallback(ui::file);
    let listener = tokio::net::TcpListener::bind(options.addr).await?;
    listener::serve(listener, tls, app, options.limits, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_file_lines_are_checked() {
        let t = Tokens::parse("# consoles\noperator 0123456789abcdef\nviewer  fedcba9876543210 # wall\n", "t").unwrap();
        assert_eq!(t.caller("0123456789abcdef").map(|c| c.role), Some(Role::Operator));
        assert_eq!(t.caller("fedcba9876543210").map(|c| (c.role, c.name.as_str())), Some((Role::Viewer, "viewer")));
        assert_eq!(t.caller("nope"), None);
        let named = Tokens::parse("operator 0123456789abcdef yamada", "t").unwrap();
        assert_eq!(named.caller("0123456789abcdef").unwrap().name, "yamada");
        assert!(Tokens::parse("operator 0123456789abcdef yamada extra", "t").unwrap_err().starts_with("t:1:"));
        assert!(Tokens::parse("root 0123456789abcdef", "t").unwrap_err().starts_with("t:1: unknown role"));
        let admin = Tokens::parse("admin 0123456789abcdef\nviewer fedcba9876543210", "t").unwrap();
        let boss = admin.caller("0123456789abcdef").unwrap();
        assert_eq!((boss.role, boss.name.as_str()), (Role::Admin, "admin"));
        assert!(require_operator(boss).is_none(), "an admin may do all an operator can");
        assert!(require_operator(admin.caller("fedcba9876543210").unwrap()).is_some());
        assert!(Tokens::parse("operator short", "t").unwrap_err().contains("too short"));
        assert!(Tokens::parse("", "t").unwrap_err().contains("no tokens"));
        assert!(Tokens::parse("operator", "t").unwrap_err().starts_with("t:1:"));
    }

    #[test]
    fn a_hash_inside_a_token_and_a_repeated_token_are_refused() {
        // Before: "0123456789abcdef#x" became "0123456789abcdef" silently.
        let e = Tokens::parse("operator 0123456789abcdef#extra yamada", "t").unwrap_err();
        assert_eq!(e, "t:1: a token may not contain '#': generate another one");
        // A comment after a space still works.
        let t = Tokens::parse("operator 0123456789abcdef yamada # day shift", "t").unwrap();
        assert_eq!(t.caller("0123456789abcdef").unwrap().name, "yamada");
        // Before: the last line's role won silently.
        let e = Tokens::parse("operator 0123456789abcdef a\nviewer 0123456789abcdef b", "t").unwrap_err();
        assert_eq!(e, "t:2: the same token as line 1: give every console its own");
    }

    mod properties {
        use super::super::{percent_decode, Role, Tokens};
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            /// Any text: an answer (tokens or one located error), never a panic.
            #[test]
            fn any_text_is_parsed_or_refused_with_its_line(text in "(?s).{0,600}") {
                match Tokens::parse(&text, "t") {
                    Ok(t) => prop_assert!(!t.0.is_empty()),
                    Err(e) => prop_assert!(e.starts_with("t:"), "{}", e),
                }
            }

            /// A file written from valid lines gives back every token with its role and name,
            /// comments and blank lines anywhere.
            #[test]
            fn valid_lines_round_trip(
                lines in proptest::collection::btree_map("[A-Za-z0-9+/=._-]{16,40}", (any::<bool>(), proptest::option::of("[a-z]{1,12}")), 1..20),
                comment in proptest::option::of("# [ -~]{0,30}"),
            ) {
                let mut text = String::new();
                for (token, (operator, name)) in &lines {
                    let role = if *operator { "operator" } else { "viewer" };
                    text.push_str(&format!("{role}  {token} {}", name.as_deref().unwrap_or("")));
                    if let Some(c) = &comment {
                        text.push_str(&format!(" {c}"));
                    }
                    text.push_str("\n\n");
                }
                let parsed = Tokens::parse(&text, "t").unwrap();
                prop_assert_eq!(parsed.0.len(), lines.len());
                for (token, (operator, name)) in &lines {
                    let c = parsed.caller(token).unwrap();
                    prop_assert_eq!(c.role, if *operator { Role::Operator } else { Role::Viewer });
                    let default = if *operator { "operator" } else { "viewer" };
                    prop_assert_eq!(c.name.as_str(), name.as_deref().unwrap_or(default));
                }
            }

            /// A query token percent-encoded as browsers do decodes to itself.
            #[test]
            fn encoded_tokens_decode_to_themselves(token in "[ -~]{16,40}") {
                let encoded: String = token.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
                prop_assert_eq!(percent_decode(&encoded), Some(token));
            }
        }
    }

    #[test]
    fn url_tokens_are_percent_decoded() {
        assert_eq!(percent_decode("abc%2B%2F%3D").as_deref(), Some("abc+/="));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }

    #[test]
    fn a_reload_replaces_the_tokens_and_a_bad_file_keeps_them() {
        let dir = std::env::temp_dir().join(format!("anshin-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tokens");
        std::fs::write(&file, "operator 0123456789abcdef yamada\n").unwrap();
        let set = TokenSet::new(Tokens::load(Some(&file)).unwrap(), Some(file.clone()));
        assert!(set.get().caller("0123456789abcdef").is_some());
        std::fs::write(&file, "viewer fedcba9876543210 wall\n").unwrap();
        assert_eq!(set.reload(), Ok(1));
        assert!(set.get().caller("0123456789abcdef").is_none(), "a revoked token still works");
        std::fs::write(&file, "operator short\n").unwrap();
        assert!(set.reload().is_err());
        assert!(set.get().caller("fedcba9876543210").is_some(), "a bad file dropped the tokens in force");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
