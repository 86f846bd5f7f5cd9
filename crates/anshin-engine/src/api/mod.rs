//! The console API of `anshin serve`: the one engine's state for many consoles (workstations,
//! the wall display) over HTTP and WebSocket, behind bearer tokens with a role.
//!
//! Routes (a contract; README lists them):
//! * `GET /api/v1/servers` — every host with its tile state (`ServerView`).
//! * `GET /api/v1/incidents?open=true&limit=N` — incidents with their events, newest first.
//! * `GET /api/v1/events` (WebSocket) — `{"type":"snapshot","servers":[…]}`, then every
//!   `EngineEvent` as it happens (a new snapshot follows if the console fell behind).
//! * `GET /api/v1/whoami` — the caller's role.
//!
//! Without a valid token: 401 `{"code":"unauthorized","message":…}` and nothing of the fleet.
//! Tokens come from the environment or a tokens file, never the fleet file.
//! Must not know: how a console draws; what the engine decides.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::engine::Console;
use crate::store::Store;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May act (acknowledge, recover, pause — as those actions arrive).
    Operator,
    /// Reads only (the wall display).
    Viewer,
}

/// The accepted tokens and their roles.
#[derive(Clone, Default)]
pub struct Tokens(HashMap<String, Role>);

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} tokens)", self.0.len())
    }
}

impl Tokens {
    /// Parses `ROLE TOKEN` lines (`operator s3cret`, `viewer w4ll`); `#` starts a comment.
    /// Errors name the line. Tokens shorter than 16 characters are refused (guessable).
    pub fn parse(text: &str, source: &str) -> Result<Tokens, String> {
        let mut map = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(role), Some(token), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("{source}:{}: write \"operator TOKEN\" or \"viewer TOKEN\"", i + 1));
            };
            let role = match role {
                "operator" => Role::Operator,
                "viewer" => Role::Viewer,
                other => return Err(format!("{source}:{}: unknown role \"{other}\": use operator or viewer", i + 1)),
            };
            if token.len() < 16 {
                return Err(format!("{source}:{}: token too short: use at least 16 random characters", i + 1));
            }
            map.insert(token.to_string(), role);
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

    fn role(&self, token: &str) -> Option<Role> {
        self.0.get(token).copied()
    }
}

#[derive(Clone)]
struct ApiState {
    console: Console,
    tokens: Arc<Tokens>,
    db: PathBuf,
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
    let query_token =
        req.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")).map(str::to_string));
    match header_token.or(query_token).and_then(|t| state.tokens.role(&t)) {
        Some(role) => {
            req.extensions_mut().insert(role);
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

async fn incidents(State(state): State<ApiState>, Query(q): Query<IncidentQuery>) -> Response {
    let db = state.db.clone();
    let result = tokio::task::spawn_blocking(move || {
        Store::open_read_only(&db)
            .and_then(|s| s.incidents(q.open.unwrap_or(false), q.limit.unwrap_or(500).min(10_000)))
    })
    .await;
    match result {
        Ok(Ok(list)) => Json(list).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the query failed"),
    }
}

async fn whoami(req: Request) -> Response {
    let role = req.extensions().get::<Role>().copied();
    Json(serde_json::json!({ "role": role })).into_response()
}

async fn events(State(state): State<ApiState>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| stream_events(socket, state.console))
}

fn snapshot(console: &Console) -> String {
    serde_json::json!({ "type": "snapshot", "servers": console.servers() }).to_string()
}

async fn stream_events(mut socket: WebSocket, console: Console) {
    let mut rx = console.subscribe();
    if socket.send(Message::Text(snapshot(&console).into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            e = rx.recv() => {
                let text = match e {
                    Ok(e) => serde_json::to_string(&e).unwrap_or_default(),
                    // Fell behind: a fresh snapshot replaces what was missed.
                    Err(broadcast::error::RecvError::Lagged(_)) => snapshot(&console),
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
        }
    }
}

/// Serves the console API until shutdown. Listening beyond loopback needs TLS, which is not
/// built yet, so such an address is refused.
pub async fn serve(
    addr: SocketAddr,
    console: Console,
    tokens: Tokens,
    db: PathBuf,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{addr} is not a loopback address: serving beyond this machine requires TLS, which is not supported yet"),
        ));
    }
    let state = ApiState { console, tokens: Arc::new(tokens), db };
    let app = Router::new()
        .route("/api/v1/servers", get(servers))
        .route("/api/v1/incidents", get(incidents))
        .route("/api/v1/events", get(events))
        .route("/api/v1/whoami", get(whoami))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_file_lines_are_checked() {
        let t = Tokens::parse("# consoles\noperator 0123456789abcdef\nviewer  fedcba9876543210 # wall\n", "t").unwrap();
        assert_eq!(t.role("0123456789abcdef"), Some(Role::Operator));
        assert_eq!(t.role("fedcba9876543210"), Some(Role::Viewer));
        assert_eq!(t.role("nope"), None);
        assert!(Tokens::parse("admin 0123456789abcdef", "t").unwrap_err().starts_with("t:1: unknown role"));
        assert!(Tokens::parse("operator short", "t").unwrap_err().contains("too short"));
        assert!(Tokens::parse("", "t").unwrap_err().contains("no tokens"));
        assert!(Tokens::parse("operator", "t").unwrap_err().starts_with("t:1:"));
    }
}
