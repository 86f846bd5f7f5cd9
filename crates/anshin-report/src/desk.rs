//! The report desk: what consoles do with monthly reports — list a month's drafts (overdue ones
//! flagged), preview one as it will be mailed, send one or all, hold and release — and the
//! console API routes for it (mounted by `anshin serve` beside the engine's routes; the desktop
//! calls the same desk directly).
//!
//! Owns: running those store operations off the async threads and their HTTP shapes (typed:
//! the console contract generates their TypeScript and OpenAPI from them; the routes are one
//! table checked against the document, and `reports.ts` against the types, by tests).
//! Must not know: how tokens are checked (the API's middleware gives it the `Caller`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anshin_engine::api::routes::{route, router, ApiRoute};
use anshin_engine::api::{error_response, require_operator, ApiError, Caller, ExtraRoutes};
use anshin_engine::store::reports::ReportState;
use anshin_engine::{Clock, SharedFleet, Store};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use ts_rs::TS;
use utoipa::{OpenApi, ToSchema};

use crate::schedule::{self, ReportDraft, SendResult};
use crate::{JapaneseFont, Month, ReportError};

/// The monthly reports of one store and fleet.
pub struct ReportDesk {
    db: PathBuf,
    /// The fleet in force (a live reload changes it).
    fleet: SharedFleet,
    clock: Arc<dyn Clock>,
    archive: Option<PathBuf>,
    wake: Arc<Notify>,
    font: Mutex<Option<JapaneseFont>>,
}

impl std::fmt::Debug for ReportDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportDesk").field("db", &self.db).finish_non_exhaustive()
    }
}

impl ReportDesk {
    pub fn new(
        db: PathBuf,
        fleet: impl Into<SharedFleet>,
        clock: Arc<dyn Clock>,
        archive: Option<PathBuf>,
        wake: Arc<Notify>,
    ) -> Arc<ReportDesk> {
        Arc::new(ReportDesk { db, fleet: fleet.into(), clock, archive, wake, font: Mutex::new(None) })
    }

    fn font(&self) -> Result<JapaneseFont, ReportError> {
        let mut f = self.font.lock().map_err(|_| ReportError::Panicked)?;
        if f.is_none() {
            *f = Some(JapaneseFont::find()?);
        }
        f.clone().ok_or(ReportError::Panicked)
    }

    /// Runs a store operation on a blocking thread with a connection of its own.
    async fn with_store<T: Send + 'static>(
        self: &Arc<Self>,
        op: impl FnOnce(&ReportDesk, &mut Store) -> Result<T, ReportError> + Send + 'static,
    ) -> Result<T, ReportError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = Store::open(&me.db)?;
            op(&me, &mut store)
        })
        .await
        .map_err(|_| ReportError::Panicked)?
    }

    /// The reports of `month` (default: every month), newest first as the store keeps them.
    pub async fn list(self: &Arc<Self>, month: Option<String>) -> Result<Vec<ReportDraft>, ReportError> {
        let month = month.map(|m| Month::parse(&m).map_err(|e| ReportError::Input(e.to_string()))).transpose()?;
        self.with_store(move |d, s| schedule::list_reports(s, &d.fleet.get(), month, d.clock.now())).await
    }

    /// Report `id` as its mail's HTML, the charts inlined (`data:` images) for a browser.
    pub async fn preview(self: &Arc<Self>, id: i64) -> Result<String, ReportError> {
        self.with_store(move |d, s| {
            let rec = s.report(id)?.ok_or(anshin_engine::store::reports::ReportStoreError::NotFound(id))?;
            let month = Month::parse(&rec.month).map_err(|e| ReportError::Input(e.to_string()))?;
            let (_, rendered) = crate::build(s, &d.fleet.get(), &rec.customer, month, d.clock.now(), &d.font()?)?;
            let mut html = rendered.html;
            for c in &rendered.charts {
                let data = base64::engine::general_purpose::STANDARD.encode(&c.png);
                html = html.replace(&format!("cid:{}", c.cid), &format!("data:image/png;base64,{data}"));
            }
            Ok(html)
        })
        .await
    }

    /// Queues report `id`'s mail (a held one too: the operator decided) and wakes the outbox.
    pub async fn send(self: &Arc<Self>, id: i64, who: String) -> Result<i64, ReportError> {
        let outbox = self
            .with_store(move |d, s| {
                schedule::send_report(s, &d.fleet.get(), id, &who, d.clock.now(), &d.font()?, d.archive.as_deref())
            })
            .await?;
        self.wake.notify_one();
        Ok(outbox)
    }

    /// Sends every draft of `month` (held ones stay).
    pub async fn send_all(self: &Arc<Self>, month: String, who: String) -> Result<Vec<SendResult>, ReportError> {
        let month = Month::parse(&month).map_err(|e| ReportError::Input(e.to_string()))?;
        let sent = self
            .with_store(move |d, s| {
                schedule::send_all(s, &d.fleet.get(), month, &who, d.clock.now(), &d.font()?, d.archive.as_deref())
            })
            .await?;
        self.wake.notify_one();
        Ok(sent)
    }

    pub async fn hold(self: &Arc<Self>, id: i64, who: String) -> Result<(), ReportError> {
        self.with_store(move |d, s| schedule::hold_report(s, id, &who, d.clock.now())).await
    }

    pub async fn release(self: &Arc<Self>, id: i64, who: String) -> Result<(), ReportError> {
        self.with_store(move |d, s| schedule::release_report(s, id, &who, d.clock.now())).await
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct MonthQuery {
    /// `YYYY-MM` (every month when left out; send-all needs it).
    month: Option<String>,
}

/// What sending a report answers, and each item of a send-all: the outbox row its mail was
/// queued as, or why it was not sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct ReportSent {
    pub report: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub outbox: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub error: Option<String>,
}

impl ReportSent {
    /// The answers of a send-all, in its order (the desktop answers with the same).
    pub fn all(results: Vec<SendResult>) -> Vec<ReportSent> {
        results
            .into_iter()
            .map(|(report, r)| match r {
                Ok(outbox) => ReportSent { report, outbox: Some(outbox), error: None },
                Err(error) => ReportSent { report, outbox: None, error: Some(error) },
            })
            .collect()
    }
}

/// What holding or releasing a report answers: its new state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, ToSchema)]
pub struct ReportStateChanged {
    pub report: i64,
    pub state: ReportState,
}

fn failure(e: ReportError) -> Response {
    use anshin_engine::store::reports::ReportStoreError;
    match e {
        ReportError::Input(m) => error_response(StatusCode::BAD_REQUEST, "invalid", m),
        ReportError::Report(ReportStoreError::NotFound(id)) => {
            error_response(StatusCode::NOT_FOUND, "not_found", format!("no report #{id}"))
        }
        ReportError::Report(e) => error_response(StatusCode::CONFLICT, "conflict", e.to_string()),
        e => error_response(StatusCode::INTERNAL_SERVER_ERROR, "report", e.to_string()),
    }
}

/// The monthly reports with their state and whether they are overdue.
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", params(MonthQuery),
    responses((status = 200, body = Vec<ReportDraft>), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
async fn list(State(desk): State<Arc<ReportDesk>>, Query(q): Query<MonthQuery>) -> Response {
    match desk.list(q.month).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => failure(e),
    }
}

/// A report as the HTML of its mail (charts inlined; nothing in it may run or load).
#[utoipa::path(get, path = "/api/v1/reports/{id}/preview", tag = "reports", params(("id" = i64, Path)),
    responses((status = 200, description = "the report's HTML", content_type = "text/html"),
        (status = 404, body = ApiError), (status = 401, body = ApiError)))]
async fn preview(State(desk): State<Arc<ReportDesk>>, Path(id): Path<i64>) -> Response {
    match desk.preview(id).await {
        Ok(html) => {
            let mut resp = html.into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            // The report is the engine's own HTML; still, nothing in it may run or load.
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; img-src data:; style-src 'unsafe-inline'"),
            );
            resp
        }
        Err(e) => failure(e),
    }
}

/// Sends one report (mails the customer).
#[utoipa::path(post, path = "/api/v1/reports/{id}/send", tag = "reports", params(("id" = i64, Path)),
    responses((status = 200, body = ReportSent), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, body = ApiError), (status = 401, body = ApiError)))]
async fn send(State(desk): State<Arc<ReportDesk>>, Extension(c): Extension<Caller>, Path(id): Path<i64>) -> Response {
    if let Some(r) = require_operator(&c) {
        return r;
    }
    match desk.send(id, c.name).await {
        Ok(outbox) => Json(ReportSent { report: id, outbox: Some(outbox), error: None }).into_response(),
        Err(e) => failure(e),
    }
}

/// Sends every draft of a month (held ones stay).
#[utoipa::path(post, path = "/api/v1/reports/send-all", tag = "reports", params(MonthQuery),
    responses((status = 200, body = Vec<ReportSent>), (status = 400, body = ApiError), (status = 403, body = ApiError),
        (status = 401, body = ApiError)))]
async fn send_all(
    State(desk): State<Arc<ReportDesk>>,
    Extension(c): Extension<Caller>,
    Query(q): Query<MonthQuery>,
) -> Response {
    if let Some(r) = require_operator(&c) {
        return r;
    }
    let Some(month) = q.month else {
        return error_response(StatusCode::BAD_REQUEST, "invalid", "send-all needs ?month=YYYY-MM");
    };
    match desk.send_all(month, c.name).await {
        Ok(results) => Json(ReportSent::all(results)).into_response(),
        Err(e) => failure(e),
    }
}

/// Keeps a report back from automatic sending.
#[utoipa::path(post, path = "/api/v1/reports/{id}/hold", tag = "reports", params(("id" = i64, Path)),
    responses((status = 200, body = ReportStateChanged), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, body = ApiError), (status = 401, body = ApiError)))]
async fn hold(State(desk): State<Arc<ReportDesk>>, Extension(c): Extension<Caller>, Path(id): Path<i64>) -> Response {
    if let Some(r) = require_operator(&c) {
        return r;
    }
    match desk.hold(id, c.name).await {
        Ok(()) => Json(ReportStateChanged { report: id, state: ReportState::Held }).into_response(),
        Err(e) => failure(e),
    }
}

/// Releases a held report (a draft again).
#[utoipa::path(post, path = "/api/v1/reports/{id}/release", tag = "reports", params(("id" = i64, Path)),
    responses((status = 200, body = ReportStateChanged), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, body = ApiError), (status = 401, body = ApiError)))]
async fn release(
    State(desk): State<Arc<ReportDesk>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<i64>,
) -> Response {
    if let Some(r) = require_operator(&c) {
        return r;
    }
    match desk.release(id, c.name).await {
        Ok(()) => Json(ReportStateChanged { report: id, state: ReportState::Draft }).into_response(),
        Err(e) => failure(e),
    }
}

/// The console API routes of the report desk:
/// * `GET /api/v1/reports?month=YYYY-MM` — reports with state and `overdue`;
/// * `GET /api/v1/reports/{id}/preview` — the report as HTML (charts inlined);
/// * `POST /api/v1/reports/{id}/send`, `/hold`, `/release`; `POST /api/v1/reports/send-all?month=`
///   (operator role only).
pub fn routes(desk: Arc<ReportDesk>) -> ExtraRoutes {
    ExtraRoutes { router: router(route_table()).with_state(desk), doc: Some(ReportApi::openapi()) }
}

/// The report desk's routes: the router is built from this table, and the OpenAPI document is
/// checked against it.
fn route_table() -> Vec<ApiRoute<Arc<ReportDesk>>> {
    vec![
        route(Method::GET, "/api/v1/reports", list),
        route(Method::POST, "/api/v1/reports/send-all", send_all),
        route(Method::GET, "/api/v1/reports/{id}/preview", preview),
        route(Method::POST, "/api/v1/reports/{id}/send", send),
        route(Method::POST, "/api/v1/reports/{id}/hold", hold),
        route(Method::POST, "/api/v1/reports/{id}/release", release),
    ]
}

#[derive(OpenApi)]
#[openapi(paths(list, send_all, preview, send, hold, release))]
struct ReportApi;

/// The TypeScript of the desk's answers (the engine's types are imported from `engine.ts`).
pub fn typescript() -> String {
    let engine = anshin_engine::contract::engine_types();
    let mut f = anshin_engine::contract::TsFile::new().importing("./engine", &engine);
    f.add::<ReportDraft>().add::<ReportSent>().add::<ReportStateChanged>();
    f.render(&anshin_engine::contract::header("anshin-report `desk::typescript`"))
}

/// How often the schedule looks at the calendar.
const SCHEDULE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The report desk and its monthly schedule (drafts on the 1st, sending on the 10th), running
/// beside an engine on the same store.
pub struct Reports {
    pub desk: Arc<ReportDesk>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Reports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reports").field("desk", &self.desk).finish_non_exhaustive()
    }
}

impl Reports {
    /// Starts the schedule; PDFs of sent reports go to `reports/` beside the store.
    pub fn start(db: PathBuf, fleet: impl Into<SharedFleet>, clock: Arc<dyn Clock>, wake: Arc<Notify>) -> Reports {
        let fleet: SharedFleet = fleet.into();
        let archive = db.parent().map(|d| d.join("reports"));
        let desk = ReportDesk::new(db.clone(), fleet.clone(), clock.clone(), archive.clone(), wake.clone());
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            if let Err(e) =
                schedule::run_schedule(db, fleet, clock, archive, wake, SCHEDULE_CHECK_EVERY, shutdown).await
            {
                tracing::error!(error = %e, "the monthly report schedule stopped");
            }
        });
        Reports { desk, stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.task).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anshin_engine::api::routes::{differences, documented, served};

    #[test]
    fn every_report_route_is_documented_and_served() {
        let problems = differences(&served(&route_table()), &documented(&ReportApi::openapi()));
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn the_committed_report_contract_is_current() {
        anshin_engine::contract::assert_current("reports.ts", &typescript());
    }

    #[test]
    fn send_answers_keep_their_shape() {
        let all = ReportSent::all(vec![(1, Ok(9)), (2, Err("no customer".into()))]);
        assert_eq!(
            serde_json::to_value(all).unwrap(),
            serde_json::json!([{ "report": 1, "outbox": 9 }, { "report": 2, "error": "no customer" }])
        );
        let held = ReportStateChanged { report: 3, state: ReportState::Held };
        assert_eq!(serde_json::to_value(held).unwrap(), serde_json::json!({ "report": 3, "state": "held" }));
    }
}
