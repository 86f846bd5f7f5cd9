//! The console API's routes as one table: each route's method and path are written once, where
//! its handler is given, and the router is built from the table, so the list of routes a test
//! compares with the OpenAPI document is the list the server serves.
//!
//! Owns: the table's shape, building a router from it, and the comparison with an OpenAPI
//! document (used by the engine's test and by other crates that mount routes).
//! Must not know: what the routes do.

use std::collections::BTreeSet;

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

/// One route: method and path as the OpenAPI document writes them, and its handler.
pub struct ApiRoute<S> {
    pub method: Method,
    pub path: &'static str,
    handler: MethodRouter<S>,
}

impl<S> std::fmt::Debug for ApiRoute<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// A route answering `method` on `path` with `handler` (the method is given once, here).
pub fn route<S, H, T>(method: Method, path: &'static str, handler: H) -> ApiRoute<S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    let filter = MethodFilter::try_from(method.clone()).unwrap_or_else(|_| panic!("axum cannot route {method}"));
    ApiRoute { method, path, handler: on(filter, handler) }
}

/// The router serving every route of the table (routes of one path share it).
pub fn router<S: Clone + Send + Sync + 'static>(routes: Vec<ApiRoute<S>>) -> Router<S> {
    routes.into_iter().fold(Router::new(), |r, route| r.route(route.path, route.handler))
}

/// `(METHOD, path)` of every route of a table.
pub fn served<S>(routes: &[ApiRoute<S>]) -> BTreeSet<(String, String)> {
    routes.iter().map(|r| (r.method.as_str().to_string(), r.path.to_string())).collect()
}

/// `(METHOD, path)` of every operation of an OpenAPI document.
pub fn documented(doc: &utoipa::openapi::OpenApi) -> BTreeSet<(String, String)> {
    const METHODS: [&str; 9] = ["get", "put", "post", "delete", "options", "head", "patch", "trace", "query"];
    let mut out = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        let item = serde_json::to_value(item).unwrap_or_default();
        for m in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            out.insert((m.to_uppercase(), path.clone()));
        }
    }
    out
}

/// Routes served but not documented, and documented but not served, in words (empty: they agree).
pub fn differences(served: &BTreeSet<(String, String)>, documented: &BTreeSet<(String, String)>) -> Vec<String> {
    let undocumented =
        served.difference(documented).map(|(m, p)| format!("{m} {p} is served but not in the OpenAPI document"));
    let unserved =
        documented.difference(served).map(|(m, p)| format!("{m} {p} is in the OpenAPI document but not served"));
    undocumented.chain(unserved).collect()
}

/// Routes of another crate mounted beside the engine's (the monthly reports): their router
/// (behind the same tokens) and their part of the OpenAPI document.
#[derive(Default)]
pub struct ExtraRoutes {
    pub router: Router,
    pub doc: Option<utoipa::openapi::OpenApi>,
}

impl std::fmt::Debug for ExtraRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtraRoutes").field("documented", &self.doc.is_some()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_missing_on_either_side_is_named() {
        let served: BTreeSet<_> = [("GET".to_string(), "/a".to_string()), ("POST".into(), "/b".into())].into();
        let documented: BTreeSet<_> = [("GET".to_string(), "/a".to_string()), ("GET".into(), "/b".into())].into();
        assert_eq!(
            differences(&served, &documented),
            ["POST /b is served but not in the OpenAPI document", "GET /b is in the OpenAPI document but not served"]
        );
        assert!(differences(&served, &served).is_empty());
    }
}
