//! The console API's routes that edit the fleet file (issue 13): the file's customers and servers
//! as consoles edit them, and adding, changing or removing one. Each body carries the revision
//! the edit was made against; the caller's token names who edited (operators; plans and
//! contracts: admins). What an edit does is `fleet_edits`'.
//! Must not know: how the file is edited or applied.

use axum::extract::{Path as UrlPath, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::routes::{route, ApiRoute};
use super::{error, require_operator, ApiError, ApiState, Caller, Role};
use crate::fleet_edits::{self, EditRefusal};
use anshin_core::fleet_edit::{CustomerEdit, FleetEdit, FleetEditRequest, FleetEdited, FleetSource, ServerEdit};

/// The fleet-editing routes (part of the API's route table).
pub(super) fn routes() -> Vec<ApiRoute<ApiState>> {
    vec![
        route(Method::GET, "/api/v1/fleet/source", source),
        route(Method::POST, "/api/v1/fleet/customers", add_customer),
        route(Method::PUT, "/api/v1/fleet/customers/{id}", change_customer),
        route(Method::DELETE, "/api/v1/fleet/customers/{id}", remove_customer),
        route(Method::POST, "/api/v1/fleet/servers", add_server),
        route(Method::PUT, "/api/v1/fleet/servers/{label}", change_server),
        route(Method::DELETE, "/api/v1/fleet/servers/{label}", remove_server),
    ]
}

/// A customer added or changed, against a revision of the file.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CustomerBody {
    pub revision: String,
    pub customer: CustomerEdit,
}

/// A server added or changed, against a revision of the file.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ServerBody {
    pub revision: String,
    pub server: ServerEdit,
}

/// A removal, against a revision of the file.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RevisionBody {
    pub revision: String,
}

fn refused(e: &EditRefusal) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::CONFLICT);
    (status, Json(ApiError { code: e.code(), message: e.to_string() })).into_response()
}

/// The body as `T`, or what is wrong with it.
fn body<T: serde::de::DeserializeOwned>(body: Option<Json<Value>>) -> Result<T, String> {
    let value = body.map(|Json(v)| v).unwrap_or(Value::Null);
    serde_json::from_value(value).map_err(|e| format!("the body: {e}"))
}

fn bad_body(why: String) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid", why)
}

async fn perform(state: ApiState, caller: Caller, revision: String, edit: FleetEdit) -> Response {
    if let Some(refused) = require_operator(&caller) {
        return refused;
    }
    let request = FleetEditRequest { revision, edit };
    match fleet_edits::edit(&state.console, &request, &caller.name, caller.role == Role::Admin).await {
        Ok(done) => Json(done).into_response(),
        Err(e) => refused(&e),
    }
}

/// The fleet file's customers and servers as consoles edit them, with its revision (operators).
#[utoipa::path(get, path = "/api/v1/fleet/source", tag = "fleet",
    responses((status = 200, body = FleetSource), (status = 400, description = "the file on disk does not validate", body = ApiError),
        (status = 403, body = ApiError), (status = 409, body = ApiError), (status = 401, body = ApiError)))]
async fn source(State(state): State<ApiState>, Extension(caller): Extension<Caller>) -> Response {
    if let Some(refused) = require_operator(&caller) {
        return refused;
    }
    match fleet_edits::source(&state.console).await {
        Ok(s) => Json(s).into_response(),
        Err(e) => refused(&e),
    }
}

/// Adds a customer (admins: it brings a plan).
#[utoipa::path(post, path = "/api/v1/fleet/customers", tag = "fleet", request_body = CustomerBody,
    responses((status = 200, body = FleetEdited), (status = 400, description = "invalid: the fleet file's FILE:LINE:COL message", body = ApiError),
        (status = 403, body = ApiError), (status = 409, description = "stale: the file changed since its revision", body = ApiError), (status = 401, body = ApiError)))]
async fn add_customer(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    b: Option<Json<Value>>,
) -> Response {
    match body::<CustomerBody>(b) {
        Ok(b) => perform(state, caller, b.revision, FleetEdit::AddCustomer { customer: b.customer }).await,
        Err(why) => bad_body(why),
    }
}

/// Changes a customer (its plan and contract: admins).
#[utoipa::path(put, path = "/api/v1/fleet/customers/{id}", tag = "fleet", params(("id" = String, Path)), request_body = CustomerBody,
    responses((status = 200, body = FleetEdited), (status = 400, description = "invalid: the fleet file's FILE:LINE:COL message", body = ApiError),
        (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, description = "stale: the file changed since its revision", body = ApiError), (status = 401, body = ApiError)))]
async fn change_customer(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<String>,
    b: Option<Json<Value>>,
) -> Response {
    match body::<CustomerBody>(b) {
        Ok(b) => perform(state, caller, b.revision, FleetEdit::ChangeCustomer { id, customer: b.customer }).await,
        Err(why) => bad_body(why),
    }
}

/// Removes a customer without servers (admins).
#[utoipa::path(delete, path = "/api/v1/fleet/customers/{id}", tag = "fleet", params(("id" = String, Path)), request_body = RevisionBody,
    responses((status = 200, body = FleetEdited), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "stale, or has_servers", body = ApiError), (status = 401, body = ApiError)))]
async fn remove_customer(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<String>,
    b: Option<Json<Value>>,
) -> Response {
    match body::<RevisionBody>(b) {
        Ok(b) => perform(state, caller, b.revision, FleetEdit::RemoveCustomer { id }).await,
        Err(why) => bad_body(why),
    }
}

/// Adds a server: its checks start within one interval.
#[utoipa::path(post, path = "/api/v1/fleet/servers", tag = "fleet", request_body = ServerBody,
    responses((status = 200, body = FleetEdited), (status = 400, description = "invalid: the fleet file's FILE:LINE:COL message", body = ApiError),
        (status = 403, body = ApiError), (status = 409, description = "stale: the file changed since its revision", body = ApiError), (status = 401, body = ApiError)))]
async fn add_server(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    b: Option<Json<Value>>,
) -> Response {
    match body::<ServerBody>(b) {
        Ok(b) => perform(state, caller, b.revision, FleetEdit::AddServer { server: b.server }).await,
        Err(why) => bad_body(why),
    }
}

/// Changes a server (a new label is a removal plus an addition).
#[utoipa::path(put, path = "/api/v1/fleet/servers/{label}", tag = "fleet", params(("label" = String, Path)), request_body = ServerBody,
    responses((status = 200, body = FleetEdited), (status = 400, description = "invalid: the fleet file's FILE:LINE:COL message", body = ApiError),
        (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, description = "stale: the file changed since its revision", body = ApiError), (status = 401, body = ApiError)))]
async fn change_server(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    UrlPath(label): UrlPath<String>,
    b: Option<Json<Value>>,
) -> Response {
    match body::<ServerBody>(b) {
        Ok(b) => perform(state, caller, b.revision, FleetEdit::ChangeServer { label, server: b.server }).await,
        Err(why) => bad_body(why),
    }
}

/// Removes a server: it stops being watched, its open incidents close `removed` (no mail).
#[utoipa::path(delete, path = "/api/v1/fleet/servers/{label}", tag = "fleet", params(("label" = String, Path)), request_body = RevisionBody,
    responses((status = 200, body = FleetEdited), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "stale: the file changed since its revision", body = ApiError), (status = 401, body = ApiError)))]
async fn remove_server(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    UrlPath(label): UrlPath<String>,
    b: Option<Json<Value>>,
) -> Response {
    match body::<RevisionBody>(b) {
        Ok(b) => perform(state, caller, b.revision, FleetEdit::RemoveServer { label }).await,
        Err(why) => bad_body(why),
    }
}
