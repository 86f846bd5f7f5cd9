//! The browser console's files: the built UI (`ui/dist`), embedded in release builds and read
//! from the source tree in debug builds. Every path that is not a file is the app itself
//! (`/`, `/wall`, `/review`): the UI routes by its location.
//!
//! Owns: static file answers and their security headers. Must not know: the API or tokens (the
//! files hold no fleet data, so they are served without a token; the app asks for one).

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "../../ui/dist/"]
#[allow_missing = true]
struct Files;

/// No inline scripts, no other origins; styles may be inline (the UI sets sizes per tile).
const CSP: &str = "default-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub async fn file(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let (file, name) = match Files::get(path).filter(|_| !path.is_empty()) {
        Some(f) => (f, path),
        None => match Files::get("index.html") {
            Some(f) => (f, "index.html"),
            None => {
                return (
                    StatusCode::NOT_FOUND,
                    "the browser console is not built into this binary: run `make ui` (npm ci && npm run build in ui/) \
                     and rebuild",
                )
                    .into_response();
            }
        },
    };
    let mut resp = file.data.into_owned().into_response();
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(file.metadata.mimetype()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Hashed asset names may be cached for good; the page itself never.
    let cache = if name.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}
