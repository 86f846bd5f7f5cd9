//! The console API's action routes (docs/console-actions.md) and the reads that go with them.
//!
//! Each `POST` route turns its path and JSON body into one `ActionRequest` (the same type the
//! desktop sends), so every transport is checked by the same deserializer and the same decider;
//! the caller's token names who acted. Reads open the store read-only off the async threads.
//! Must not know: what an action does (the decider decides).

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{error, read_store, require_operator, ApiState, Caller};
use crate::action::{ActionError, ActionRequest};
use crate::reads::{self, ReadError};
use crate::store::Store;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/v1/incidents/{id}/acknowledge",
            post(|s, c, p, b| id_action(s, c, p, b, "incident", "acknowledge")),
        )
        .route("/api/v1/incidents/{id}/notes", post(|s, c, p, b| id_action(s, c, p, b, "incident", "note")))
        .route("/api/v1/incidents/{id}/recover", post(|s, c, p, b| id_action(s, c, p, b, "incident", "recover")))
        .route("/api/v1/incidents/{id}/calls", post(|s, c, p, b| id_action(s, c, p, b, "incident", "log_call")))
        .route("/api/v1/incidents/{id}/consents", post(|s, c, p, b| id_action(s, c, p, b, "incident", "consent")))
        .route(
            "/api/v1/incidents/{id}/status-report",
            post(|s, c, p, b| id_action(s, c, p, b, "incident", "status_report")),
        )
        .route("/api/v1/incidents/{id}/escalation", get(escalation))
        .route("/api/v1/servers/{host}/reboot", post(reboot))
        .route("/api/v1/servers/{host}/restart/{service}", post(restart))
        .route("/api/v1/maintenance", post(pause).get(maintenance))
        .route("/api/v1/maintenance/{id}/end", post(|s, c, p, b| id_action(s, c, p, b, "maintenance", "end_pause")))
        .route(
            "/api/v1/maintenance/{id}/extend",
            post(|s, c, p, b| id_action(s, c, p, b, "maintenance", "extend_pause")),
        )
        .route("/api/v1/recoveries", get(recoveries))
        .route("/api/v1/audit", get(audit))
}

/// The `409` of a running recovery also carries the running one.
#[derive(Serialize)]
struct BusyAnswer<'a> {
    code: &'static str,
    message: String,
    recovery: &'a crate::store::recovery::RecoveryRecord,
}

/// The answer to a refused action: `{code, message}` with the code's status.
pub(super) fn refusal(e: &ActionError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::CONFLICT);
    match e {
        ActionError::Busy(rec) => {
            (status, Json(BusyAnswer { code: e.code(), message: e.to_string(), recovery: rec })).into_response()
        }
        _ => error(status, e.code(), e.to_string()),
    }
}

/// Builds the request from the body and the path's fields, and has the engine perform it.
async fn perform(
    state: ApiState,
    caller: Caller,
    kind: &str,
    fields: Map<String, Value>,
    body: Option<Json<Value>>,
) -> Response {
    if let Some(refused) = require_operator(&caller) {
        return refused;
    }
    let mut object = match body.map(|Json(v)| v) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return error(StatusCode::BAD_REQUEST, "invalid", "the body must be a JSON object"),
    };
    object.retain(|_, v| !v.is_null());
    object.extend(fields);
    object.insert("type".into(), Value::String(kind.into()));
    let request: ActionRequest = match serde_json::from_value(Value::Object(object)) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid", e.to_string()),
    };
    match state.console.act(request, &caller.name).await {
        Ok(done) => Json(done).into_response(),
        Err(e) => refusal(&e),
    }
}

/// An action on one incident or one maintenance window: `field` (`incident`, `maintenance`)
/// takes the id from the path.
async fn id_action(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<i64>,
    body: Option<Json<Value>>,
    field: &'static str,
    kind: &'static str,
) -> Response {
    perform(state, caller, kind, Map::from_iter([(field.to_string(), Value::from(id))]), body).await
}

async fn reboot(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    UrlPath(host): UrlPath<String>,
    body: Option<Json<Value>>,
) -> Response {
    perform(state, caller, "reboot", Map::from_iter([("host".to_string(), Value::from(host))]), body).await
}

async fn restart(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    UrlPath((host, service)): UrlPath<(String, String)>,
    body: Option<Json<Value>>,
) -> Response {
    let fields =
        Map::from_iter([("host".to_string(), Value::from(host)), ("service".to_string(), Value::from(service))]);
    perform(state, caller, "restart", fields, body).await
}

async fn pause(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Option<Json<Value>>,
) -> Response {
    perform(state, caller, "pause", Map::new(), body).await
}

async fn escalation(State(state): State<ApiState>, UrlPath(id): UrlPath<i64>) -> Response {
    let fleet = state.fleet.clone();
    let db = state.db.clone();
    let answer =
        tokio::task::spawn_blocking(move || reads::escalation(&Store::open_read_only(&db)?, &fleet, id, Utc::now()))
            .await;
    match answer {
        Ok(Ok(e)) => Json(e).into_response(),
        Ok(Err(e @ ReadError::NotFound(_))) => error(StatusCode::NOT_FOUND, "not_found", e.to_string()),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the query failed"),
    }
}

async fn maintenance(State(state): State<ApiState>) -> Response {
    read_store(state.db, |s| reads::maintenance(s, Utc::now())).await
}

#[derive(Deserialize)]
struct RecoveryQuery {
    host: Option<String>,
    limit: Option<usize>,
}

async fn recoveries(State(state): State<ApiState>, Query(q): Query<RecoveryQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).min(5000);
    read_store(state.db, move |s| s.recoveries(q.host.as_deref(), limit)).await
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<usize>,
    before: Option<i64>,
}

async fn audit(State(state): State<ApiState>, Query(q): Query<AuditQuery>) -> Response {
    read_store(state.db, move |s| reads::audit(s, q.limit.unwrap_or(200), q.before)).await
}
