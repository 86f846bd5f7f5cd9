//! The console API's action routes (docs/console-actions.md) and the reads that go with them.
//!
//! Each `POST` route turns its path and JSON body into one `ActionRequest` (the same type the
//! desktop sends), so every transport is checked by the same deserializer and the same decider;
//! the caller's token names who acted. Reads open the store read-only off the async threads.
//! Must not know: what an action does (the decider decides).

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::routes::{route, ApiRoute};
use super::{error, read_store, require_operator, ApiError, ApiState, BusyAnswer, Caller};
use crate::action::{ActionDone, ActionError, ActionRequest, MaintenanceWindow};
use crate::reads::{self, AuditPage, Escalation, ReadError};
use crate::store::backups::BackupRun;
use crate::store::recovery::RecoveryRecord;
use crate::store::updates::{PendingUpdateRow, UpdateRun};
use crate::store::Store;

/// The action routes and their reads (part of the API's route table).
pub(super) fn routes() -> Vec<ApiRoute<ApiState>> {
    vec![
        route(Method::POST, "/api/v1/incidents/{id}/acknowledge", acknowledge),
        route(Method::POST, "/api/v1/incidents/{id}/notes", note),
        route(Method::POST, "/api/v1/incidents/{id}/recover", recover),
        route(Method::POST, "/api/v1/incidents/{id}/calls", log_call),
        route(Method::POST, "/api/v1/incidents/{id}/consents", consent),
        route(Method::POST, "/api/v1/incidents/{id}/status-report", status_report),
        route(Method::GET, "/api/v1/incidents/{id}/escalation", escalation),
        route(Method::POST, "/api/v1/servers/{host}/reboot", reboot),
        route(Method::POST, "/api/v1/servers/{host}/restart/{service}", restart),
        route(Method::POST, "/api/v1/maintenance", pause),
        route(Method::GET, "/api/v1/maintenance", maintenance),
        route(Method::POST, "/api/v1/maintenance/{id}/end", end_pause),
        route(Method::POST, "/api/v1/maintenance/{id}/extend", extend_pause),
        route(Method::POST, "/api/v1/gateways/{gateway}/recover", recover_network),
        route(Method::POST, "/api/v1/servers/{host}/backup", backup),
        route(Method::POST, "/api/v1/servers/{host}/restore", restore),
        route(Method::GET, "/api/v1/backups", backups),
        route(Method::GET, "/api/v1/updates", updates),
        route(Method::GET, "/api/v1/updates/runs", update_runs),
        route(Method::POST, "/api/v1/servers/{host}/updates/refresh", refresh_updates),
        route(Method::POST, "/api/v1/servers/{host}/updates/plan", plan_updates),
        route(Method::POST, "/api/v1/servers/{host}/updates/apply", apply_updates),
        route(Method::POST, "/api/v1/ledger/resource-ups", request_resource_up),
        route(Method::POST, "/api/v1/ledger/resource-ups/{id}/state", set_resource_up_state),
        route(Method::POST, "/api/v1/ledger/config-work", record_config_work),
        route(Method::GET, "/api/v1/recoveries", recoveries),
        route(Method::GET, "/api/v1/audit", audit),
    ]
}

/// The answer to a refused action: `{code, message}` with the code's status.
pub(super) fn refusal(e: &ActionError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::CONFLICT);
    match e {
        ActionError::Busy(rec) => {
            let recovery = (**rec).clone();
            (status, Json(BusyAnswer { code: e.code(), message: e.to_string(), recovery })).into_response()
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

/// The handlers of the actions on one incident or one window: each names its action.
macro_rules! id_actions {
    ($($(#[$doc:meta])* $name:ident: $field:literal, $kind:literal, $path:literal;)*) => {$(
        $(#[$doc])*
        #[utoipa::path(post, path = $path, tag = "actions",
            params(("id" = i64, Path)),
            request_body(content = Option<ActionRequest>, description = "the fields of the request's ActionRequest variant, without `type` and the id"),
            responses((status = 200, body = ActionDone), (status = 400, body = ApiError), (status = 403, body = ApiError),
                (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 503, body = ApiError),
                (status = 401, body = ApiError)))]
        async fn $name(
            state: State<ApiState>,
            caller: Extension<Caller>,
            id: UrlPath<i64>,
            body: Option<Json<Value>>,
        ) -> Response {
            id_action(state, caller, id, body, $field, $kind).await
        }
    )*};
}

id_actions! {
    /// An operator takes an open incident (with an optional note).
    acknowledge: "incident", "acknowledge", "/api/v1/incidents/{id}/acknowledge";
    /// A note on an incident.
    note: "incident", "note", "/api/v1/incidents/{id}/notes";
    /// The recovery that fits the incident (a service restart, or a reboot for ping/SSH).
    recover: "incident", "recover", "/api/v1/incidents/{id}/recover";
    /// A phone call of the escalation.
    log_call: "incident", "log_call", "/api/v1/incidents/{id}/calls";
    /// The customer's consent to a cost.
    consent: "incident", "consent", "/api/v1/incidents/{id}/consents";
    /// Queues the status report mail (状況報告).
    status_report: "incident", "status_report", "/api/v1/incidents/{id}/status-report";
    /// Ends a maintenance window now.
    end_pause: "maintenance", "end_pause", "/api/v1/maintenance/{id}/end";
    /// Moves a maintenance window's end.
    extend_pause: "maintenance", "extend_pause", "/api/v1/maintenance/{id}/extend";
    /// A resource-up request moves on (`raised`, `restored`, `cancelled`).
    set_resource_up_state: "request", "set_resource_up_state", "/api/v1/ledger/resource-ups/{id}/state";
}

/// Reboots a server (the reboot action of the fleet file).
#[utoipa::path(post, path = "/api/v1/servers/{host}/reboot", tag = "actions", params(("host" = String, Path)),
    request_body(content = Option<ActionRequest>, description = "`consent` of the `reboot` ActionRequest, for a billable spot recovery"),
    responses((status = 200, body = ActionDone), (status = 409, description = "refused (`busy` carries the running recovery)", body = BusyAnswer),
        (status = 400, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 401, body = ApiError)))]
async fn reboot(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    UrlPath(host): UrlPath<String>,
    body: Option<Json<Value>>,
) -> Response {
    perform(state, caller, "reboot", Map::from_iter([("host".to_string(), Value::from(host))]), body).await
}

/// Restarts a service of a server (the restart allow-list).
#[utoipa::path(post, path = "/api/v1/servers/{host}/restart/{service}", tag = "actions",
    params(("host" = String, Path), ("service" = String, Path)),
    request_body(content = Option<ActionRequest>, description = "`consent` of the `restart` ActionRequest, for a billable spot recovery"),
    responses((status = 200, body = ActionDone), (status = 409, description = "refused (`busy` carries the running recovery)", body = BusyAnswer),
        (status = 400, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 401, body = ApiError)))]
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

/// Pauses alerts of a server or a customer (a maintenance window).
#[utoipa::path(post, path = "/api/v1/maintenance", tag = "actions",
    request_body(content = ActionRequest, description = "the fields of the `pause` ActionRequest, without `type`"),
    responses((status = 200, body = ActionDone), (status = 400, body = ApiError), (status = 403, body = ApiError),
        (status = 409, body = ApiError), (status = 401, body = ApiError)))]
async fn pause(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Option<Json<Value>>,
) -> Response {
    perform(state, caller, "pause", Map::new(), body).await
}

/// The NOC starts work on a down network: recorded, and the 対応開始 mail goes to each customer
/// behind the gateway (contract §9.6).
#[utoipa::path(post, path = "/api/v1/gateways/{gateway}/recover", tag = "actions", params(("gateway" = String, Path)),
    responses((status = 200, body = ActionDone), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, body = ApiError), (status = 401, body = ApiError)))]
async fn recover_network(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    UrlPath(gateway): UrlPath<String>,
) -> Response {
    perform(state, caller, "recover_network", Map::from_iter([("gateway".to_string(), Value::from(gateway))]), None)
        .await
}

/// Records a temporary resource-up request (contract §9.4; plans 150 and 200).
#[utoipa::path(post, path = "/api/v1/ledger/resource-ups", tag = "ledger",
    request_body(content = ActionRequest, description = "the fields of `request_resource_up` without `type`"),
    responses((status = 200, body = ActionDone), (status = 400, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 401, body = ApiError)))]
async fn request_resource_up(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Option<Json<Value>>,
) -> Response {
    perform(state, caller, "request_resource_up", Map::new(), body).await
}

/// Records configuration work (contract §9.5): beyond the month's included minutes only as
/// billable (`409 over_allowance` otherwise).
#[utoipa::path(post, path = "/api/v1/ledger/config-work", tag = "ledger",
    request_body(content = ActionRequest, description = "the fields of `record_config_work` without `type`"),
    responses((status = 200, body = ActionDone), (status = 400, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 401, body = ApiError)))]
async fn record_config_work(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Option<Json<Value>>,
) -> Response {
    perform(state, caller, "record_config_work", Map::new(), body).await
}

/// The phone escalation of an incident: numbers, calls, consents, the status report draft.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/escalation", tag = "actions", params(("id" = i64, Path)),
    responses((status = 200, body = Escalation), (status = 404, body = ApiError), (status = 401, body = ApiError)))]
async fn escalation(State(state): State<ApiState>, UrlPath(id): UrlPath<i64>) -> Response {
    let fleet = state.fleet.get();
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

/// Maintenance windows: running and future ones first, then the most recent ended ones.
#[utoipa::path(get, path = "/api/v1/maintenance", tag = "actions",
    responses((status = 200, body = Vec<MaintenanceWindow>), (status = 401, body = ApiError)))]
async fn maintenance(State(state): State<ApiState>) -> Response {
    read_store(state.db, |s| reads::maintenance(s, Utc::now())).await
}

/// A backup of a server now (contract §7, operator): `{"full": bool}` (default a differential
/// against the latest full; a full when it has none). The run shows in `GET /api/v1/backups`.
#[utoipa::path(post, path = "/api/v1/servers/{host}/backup", tag = "actions", params(("host" = String, Path)),
    responses((status = 200, body = ActionDone), (status = 400, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 401, body = ApiError)))]
async fn backup(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    UrlPath(host): UrlPath<String>,
    body: Option<Json<Value>>,
) -> Response {
    perform(state, caller, "backup", Map::from_iter([("host".to_string(), Value::from(host))]), body).await
}

/// Restores a generation of a server (contract §7, operator): `{"generation", "path"?, "to"?,
/// "in_place"?}` — into a new directory on the server (default `/var/restore/YYYYMMDD-HHMM`) or,
/// with `in_place`, over the live files; its end is logged as `restore_finished`.
#[utoipa::path(post, path = "/api/v1/servers/{host}/restore", tag = "actions", params(("host" = String, Path)),
    responses((status = 200, body = ActionDone), (status = 400, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 401, body = ApiError)))]
async fn restore(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    UrlPath(host): UrlPath<String>,
    body: Option<Json<Value>>,
) -> Response {
    perform(state, caller, "restore", Map::from_iter([("host".to_string(), Value::from(host))]), body).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct BackupQuery {
    /// Only this server's.
    host: Option<String>,
    /// At most this many (default 100).
    limit: Option<usize>,
}

/// Backup runs, newest first: generations (`ok`) and runs that are `running`, `failed`,
/// `interrupted` or `pruned` (contract §7).
#[utoipa::path(get, path = "/api/v1/backups", tag = "actions", params(BackupQuery),
    responses((status = 200, body = Vec<BackupRun>), (status = 401, body = ApiError)))]
async fn backups(State(state): State<ApiState>, Query(q): Query<BackupQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).min(5000);
    read_store(state.db, move |s| s.backups(q.host.as_deref(), limit)).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UpdatesQuery {
    /// Only this server's.
    host: Option<String>,
}

/// The pending security updates the last detection of each server found (contract §8), by
/// server, source, site and package: the JSON rows of `anshin updates --json`.
#[utoipa::path(get, path = "/api/v1/updates", tag = "actions", params(UpdatesQuery),
    responses((status = 200, body = Vec<PendingUpdateRow>), (status = 401, body = ApiError)))]
async fn updates(State(state): State<ApiState>, Query(q): Query<UpdatesQuery>) -> Response {
    read_store(state.db, move |s| s.pending_updates(q.host.as_deref())).await
}

/// Update jobs, newest first (contract §8); their output is in the audit log
/// (`update_finished`).
#[utoipa::path(get, path = "/api/v1/updates/runs", tag = "actions", params(BackupQuery),
    responses((status = 200, body = Vec<UpdateRun>), (status = 401, body = ApiError)))]
async fn update_runs(State(state): State<ApiState>, Query(q): Query<BackupQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).min(5000);
    read_store(state.db, move |s| s.update_runs(q.host.as_deref(), limit)).await
}

/// Detects a server's pending security updates now (contract §8, operator).
#[utoipa::path(post, path = "/api/v1/servers/{host}/updates/refresh", tag = "actions", params(("host" = String, Path)),
    responses((status = 200, body = ActionDone), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, body = ApiError), (status = 401, body = ApiError)))]
async fn refresh_updates(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    UrlPath(host): UrlPath<String>,
    body: Option<Json<Value>>,
) -> Response {
    perform(state, caller, "refresh_updates", Map::from_iter([("host".to_string(), Value::from(host))]), body).await
}

/// Sets the planned date of a server's update work (contract §8, operator): `{"planned_at"}`.
#[utoipa::path(post, path = "/api/v1/servers/{host}/updates/plan", tag = "actions", params(("host" = String, Path)),
    responses((status = 200, body = ActionDone), (status = 400, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 401, body = ApiError)))]
async fn plan_updates(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    UrlPath(host): UrlPath<String>,
    body: Option<Json<Value>>,
) -> Response {
    perform(state, caller, "plan_updates", Map::from_iter([("host".to_string(), Value::from(host))]), body).await
}

/// Applies a server's security updates (contract §8, operator): `{"packages": [...], "cms": bool}`
/// — the OS packages named (default all pending), or with `cms` its WordPress updates. Refused
/// `not_included` where the plan has none, `busy` while a job of the server runs.
#[utoipa::path(post, path = "/api/v1/servers/{host}/updates/apply", tag = "actions", params(("host" = String, Path)),
    responses((status = 200, body = ActionDone), (status = 400, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 401, body = ApiError)))]
async fn apply_updates(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    UrlPath(host): UrlPath<String>,
    body: Option<Json<Value>>,
) -> Response {
    perform(state, caller, "apply_updates", Map::from_iter([("host".to_string(), Value::from(host))]), body).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RecoveryQuery {
    /// Only this server's.
    host: Option<String>,
    /// At most this many (default 100).
    limit: Option<usize>,
}

/// Recoveries, newest first.
#[utoipa::path(get, path = "/api/v1/recoveries", tag = "actions", params(RecoveryQuery),
    responses((status = 200, body = Vec<RecoveryRecord>), (status = 401, body = ApiError)))]
async fn recoveries(State(state): State<ApiState>, Query(q): Query<RecoveryQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).min(5000);
    read_store(state.db, move |s| s.recoveries(q.host.as_deref(), limit)).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// At most this many entries (default 200).
    limit: Option<usize>,
    /// Entries with an id below this (the next page).
    before: Option<i64>,
}

/// The audit log, newest first, with the hash chain verified.
#[utoipa::path(get, path = "/api/v1/audit", tag = "actions", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 401, body = ApiError)))]
async fn audit(State(state): State<ApiState>, Query(q): Query<AuditQuery>) -> Response {
    read_store(state.db, move |s| reads::audit(s, q.limit.unwrap_or(200), q.before)).await
}
