//! The OpenAPI document of the console API, from the handlers' `#[utoipa::path]` annotations
//! and the Rust types they answer with (the same types the TypeScript contract is generated
//! from). Served at [`OPENAPI_PATH`] without a token: it describes shapes, not the fleet.
//!
//! Owns: the document's list of operations, its security scheme, and the test that holds it
//! equal to the route table. Must not know: how the routes are served.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::OpenApi;

use super::{actions, fleet_edit};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// Bearer tokens (`Authorization: Bearer TOKEN`) on every operation unless it says otherwise.
struct BearerTokens;

impl utoipa::Modify for BearerTokens {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Anshin NOC console API",
        description = "What `anshin serve` offers consoles. Every rejection is `{code, message}` (ApiError). \
            The TypeScript types of these shapes are generated from the same Rust types (ui/src/lib/backend/generated)."
    ),
    security(("bearer" = [])),
    modifiers(&BearerTokens),
    paths(
        super::servers,
        super::server,
        super::incidents,
        super::samples,
        super::customer_list,
        super::health,
        super::catalogue,
        super::resource_ups,
        super::config_work,
        super::review,
        super::events,
        super::whoami,
        super::openapi_json,
        actions::acknowledge,
        actions::note,
        actions::recover,
        actions::log_call,
        actions::consent,
        actions::status_report,
        actions::escalation,
        actions::reboot,
        actions::restart,
        actions::pause,
        actions::maintenance,
        actions::end_pause,
        actions::extend_pause,
        actions::recover_network,
        actions::backup,
        actions::restore,
        actions::backups,
        actions::updates,
        actions::update_runs,
        actions::refresh_updates,
        actions::plan_updates,
        actions::apply_updates,
        actions::request_resource_up,
        actions::set_resource_up_state,
        actions::record_config_work,
        actions::recoveries,
        actions::audit,
        fleet_edit::source,
        fleet_edit::add_customer,
        fleet_edit::change_customer,
        fleet_edit::remove_customer,
        fleet_edit::add_server,
        fleet_edit::change_server,
        fleet_edit::remove_server,
    ),
    components(schemas(crate::event::EngineEvent, crate::action::ActionRequest))
)]
struct ApiDoc;

/// The engine's part of the document (`serve` adds the routes of other crates).
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

#[cfg(test)]
mod tests {
    use super::super::routes::{differences, documented, served};
    use super::*;

    #[test]
    fn every_route_is_documented_and_every_documented_operation_is_served() {
        let routes = super::super::api_routes();
        let problems = differences(&served(&routes), &documented(&document()));
        assert!(problems.is_empty(), "the OpenAPI document and the routes differ:\n{}", problems.join("\n"));
        assert!(routes.len() > 20, "the table lost routes");
    }

    #[test]
    fn answers_reference_the_contract_types() {
        let json = serde_json::to_value(document()).unwrap();
        let schemas = json["components"]["schemas"].as_object().unwrap();
        for name in [
            "ServerView",
            "Health",
            "ActionRequest",
            "ActionDone",
            "ApiError",
            "BusyAnswer",
            "Escalation",
            "ConsoleMessage",
        ] {
            assert!(schemas.contains_key(name), "no schema {name}");
        }
        let ok = &json["paths"]["/api/v1/servers/{host}"]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"];
        assert_eq!(ok["$ref"], "#/components/schemas/ServerView");
        // Every operation needs the token but the document itself.
        assert_eq!(json["security"][0]["bearer"], serde_json::json!([]));
        assert_eq!(json["paths"][OPENAPI_PATH]["get"]["security"], serde_json::json!([{}]));
    }
}
