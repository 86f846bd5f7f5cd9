//! The console API of `anshin serve`: the one engine's state for many consoles (workstations,
//! the wall display, browsers) over HTTP and WebSocket, behind bearer tokens with a role.
//!
//! Routes (a contract; README "Console API" lists them with their shapes):
//! * `GET /api/v1/servers` — every host with its tile state (`ServerView`).
//! * `GET /api/v1/incidents?open=true&limit=N` — incidents with their events, newest first.
//! * `GET /api/v1/samples?host=H&resource=R&hours=N` — one resource's readings, oldest first.
//! * `GET /api/v1/customers` — contracts: plan, entitlements, notification and phone contacts.
//! * `GET /api/v1/health` — the engine's health line.
//! * `GET /api/v1/review?server=&customer=&level=&check=&from=&to=&operator=&text=&open=&limit=`
//!   — incidents with their whole story (dates are Japan days, `YYYY-MM-DD`); 400 on bad input.
//! * `GET /api/v1/events` (WebSocket) — the console feed (`feed`): snapshot, deltas, events.
//! * `GET /api/v1/whoami` — the caller's role and name.
//! * The actions and their reads (`actions`; docs/console-actions.md is their contract):
//!   acknowledge, notes, recover / reboot / restart, phone calls, consents, the status report,
//!   maintenance pauses; escalation, maintenance, recoveries and the audit log. Every `POST`
//!   needs an operator token (a viewer gets 403).
//! * Any other path: the browser console's files (`ui`), without a token.
//!
//! Without a valid token: 401 `{"code":"unauthorized","message":…}` and nothing of the fleet.
//! Tokens come from the environment or a tokens file, never the fleet file. Beyond loopback
//! only with TLS (`tls`).
//! Must not know: how a console draws; what the engine decides.

mod actions;
mod tls;
mod ui;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anshin_core::Fleet;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Extension;
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::engine::Console;
use crate::feed::spawn_feed;
use crate::review_query::{with_customers, ReviewQuery};
use crate::store::Store;
use crate::view::customers;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May act (acknowledge, recover, pause — as those actions arrive).
    Operator,
    /// Reads only (the wall display).
    Viewer,
}

/// Who is calling: the token's role and the name it was given (shown as who acted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// Parses `ROLE TOKEN [NAME]` lines (`operator s3cret yamada`, `viewer w4ll`); `#` starts a
    /// comment; NAME (who acted, in the log) defaults to the role. Errors name the line. Tokens
    /// shorter than 16 characters are refused (guessable).
    pub fn parse(text: &str, source: &str) -> Result<Tokens, String> {
        let mut map = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(role), Some(token), name, None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
                return Err(format!("{source}:{}: write \"operator TOKEN [NAME]\" or \"viewer TOKEN [NAME]\"", i + 1));
            };
            let role = match role {
                "operator" => Role::Operator,
                "viewer" => Role::Viewer,
                other => return Err(format!("{source}:{}: unknown role \"{other}\": use operator or viewer", i + 1)),
            };
            if token.len() < 16 {
                return Err(format!("{source}:{}: token too short: use at least 16 random characters", i + 1));
            }
            let name = name.unwrap_or(match role {
                Role::Operator => "operator",
                Role::Viewer => "viewer",
            });
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

/// A WebSocket message not taken by the console within this time ends its connection.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

#[derive(Clone)]
struct ApiState {
    console: Console,
    tokens: Arc<Tokens>,
    db: PathBuf,
    fleet: Arc<Fleet>,
}

#[derive(Serialize)]
struct ApiError {
    code: &'static str,
    message: String,
}

fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    (status, Json(ApiError { code, message: message.into() })).into_response()
}

/// Checks the bearer token (or `?token=` on the WebSocket route, which browsers cannot give
/// headers to) and records the caller's role for the handlers.
async fn authenticate(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
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
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")).map(str::to_string));
    match header_token.or(query_token).and_then(|t| state.tokens.caller(&t).cloned()) {
        Some(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        None => error(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required"),
    }
}

async fn servers(State(state): State<ApiState>) -> Response {
    Json(state.console.servers()).into_response()
}

#[derive(Deserialize)]
struct IncidentQuery {
    open: Option<bool>,
    limit: Option<usize>,
}

/// Runs a read-only store query off the async threads.
async fn read_store<T: Serialize + Send + 'static>(
    db: PathBuf,
    query: impl FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(move || Store::open_read_only(&db).and_then(|s| query(&s))).await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the query failed"),
    }
}

async fn incidents(State(state): State<ApiState>, Query(q): Query<IncidentQuery>) -> Response {
    let (open, limit) = (q.open.unwrap_or(false), q.limit.unwrap_or(500).min(10_000));
    read_store(state.db, move |s| s.incidents(open, limit)).await
}

#[derive(Deserialize)]
struct SampleQuery {
    host: String,
    resource: String,
    hours: Option<u32>,
}

async fn samples(State(state): State<ApiState>, Query(q): Query<SampleQuery>) -> Response {
    if !state.fleet.servers.iter().any(|s| s.label == q.host) {
        return error(StatusCode::NOT_FOUND, "unknown_host", format!("no server \"{}\" in the fleet", q.host));
    }
    let since = Utc::now() - chrono::Duration::hours(i64::from(q.hours.unwrap_or(24).min(24 * 62)));
    read_store(state.db, move |s| s.samples(&q.host, &q.resource, since)).await
}

async fn review(State(state): State<ApiState>, Query(q): Query<ReviewQuery>) -> Response {
    let filter = match q.to_filter(Some(&state.fleet)) {
        Ok(f) => f,
        Err(message) => return error(StatusCode::BAD_REQUEST, "bad_request", message),
    };
    let fleet = state.fleet.clone();
    read_store(state.db, move |s| Ok(with_customers(s.review(&filter)?, Some(&fleet)))).await
}

async fn customer_list(State(state): State<ApiState>) -> Response {
    Json(customers(&state.fleet)).into_response()
}

async fn health(State(state): State<ApiState>) -> Response {
    Json(state.console.snapshot().2).into_response()
}

async fn whoami(Extension(caller): Extension<Caller>) -> Response {
    Json(caller).into_response()
}

async fn events(State(state): State<ApiState>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| stream_feed(socket, state.console))
}

/// Sends the console feed until either side goes away.
async fn stream_feed(mut socket: WebSocket, console: Console) {
    let mut feed = spawn_feed(console);
    loop {
        tokio::select! {
            m = feed.recv() => {
                let Some(m) = m else { break };
                let text = serde_json::to_string(&m).unwrap_or_default();
                // A console that stops reading must not hold its feed forever.
                match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) | Err(_) => break,
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
        }
    }
}

/// Where and how `anshin serve` listens.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    /// PEM certificate chain and key; required beyond loopback.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// The 403 answer for a caller who may only watch, or None for an operator (every action route,
/// here and in other crates' routes, asks this).
pub fn require_operator(caller: &Caller) -> Option<Response> {
    (caller.role != Role::Operator).then(|| {
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
    tokens: Tokens,
    db: PathBuf,
    fleet: Arc<Fleet>,
    extra: Router,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
    let tls = match &options.tls {
        Some((cert, key)) => Some(tls::load_config(cert, key).map_err(invalid)?),
        None if !options.addr.ip().is_loopback() => {
            return Err(invalid(format!(
                "{} is not a loopback address: serving beyond this machine requires TLS (--tls-cert FILE --tls-key FILE)",
                options.addr
            )));
        }
        None => None,
    };
    let state = ApiState { console, tokens: Arc::new(tokens), db, fleet };
    let api = Router::new()
        .route("/api/v1/servers", get(servers))
        .route("/api/v1/incidents", get(incidents))
        .route("/api/v1/samples", get(samples))
        .route("/api/v1/customers", get(customer_list))
        .route("/api/v1/health", get(health))
        .route("/api/v1/review", get(review))
        .route("/api/v1/events", get(events))
        .route("/api/v1/whoami", get(whoami))
        .merge(actions::routes())
        .route("/api/{*rest}", any(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such API route") }))
        .with_state(state.clone())
        // Routes of other crates (monthly reports), behind the same tokens.
        .merge(extra)
        .layer(middleware::from_fn_with_state(state, authenticate));
    let app = api.fallback(ui::file);
    let listener = tokio::net::TcpListener::bind(options.addr).await?;
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    match tls {
        Some(config) => axum::serve(tls::TlsListener::new(listener, config)?, app).with_graceful_shutdown(stop).await,
        None => axum::serve(listener, app).with_graceful_shutdown(stop).await,
    }
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
        assert!(Tokens::parse("admin 0123456789abcdef", "t").unwrap_err().starts_with("t:1: unknown role"));
        assert!(Tokens::parse("operator short", "t").unwrap_err().contains("too short"));
        assert!(Tokens::parse("", "t").unwrap_err().contains("no tokens"));
        assert!(Tokens::parse("operator", "t").unwrap_err().starts_with("t:1:"));
    }
}
