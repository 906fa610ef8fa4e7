//! Cross-origin reads of Data Hub endpoints (the Fetch standard's CORS).
//! Each endpoint lists the web origins whose pages may read it; `*` (any
//! site) only when the endpoint is public. Keys travel in `Authorization` or
//! `X-API-Key`, so `Access-Control-Allow-Credentials` is never sent: a
//! visitor's cookies are never spent by another site.
use actix_web::HttpRequest;
use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderName, HeaderValue};

use crate::hub::Route;

/// Request headers a page may send: the key, and what a reader needs.
const ALLOWED_HEADERS: [&str; 4] = ["authorization", "x-api-key", "accept", "if-none-match"];
/// Response headers a page may read besides the safelisted ones are named
/// per answer (`X-Total-Count`, `Link`, `ETag` and the key's own headers).
const SAFELISTED: [&str; 7] =
    ["cache-control", "content-language", "content-length", "content-type", "expires", "last-modified", "pragma"];

fn origin(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

fn add_vary(res: &mut HttpResponse, names: &str) {
    let vary = match res.headers().get(header::VARY).and_then(|v| v.to_str().ok()) {
        Some(v) if !v.is_empty() => format!("{v}, {names}"),
        _ => names.to_owned(),
    };
    if let Ok(v) = HeaderValue::from_str(&vary) {
        res.headers_mut().insert(header::VARY, v);
    }
}

/// Adds the permission to an answer (or refusal) when the caller's site may
/// read this endpoint, naming every non-safelisted header it carries.
pub fn allow(req: &HttpRequest, route: &Route, res: &mut HttpResponse) {
    if route.origins.is_empty() {
        return;
    }
    if !route.origins.iter().any(|o| o == "*") {
        add_vary(res, "Origin");
    }
    let Some(allowed) = route.allowed_origin(origin(req)) else { return };
    let Ok(value) = HeaderValue::from_str(allowed) else { return };
    let exposed: Vec<String> = res
        .headers()
        .keys()
        .map(HeaderName::as_str)
        .filter(|n| !SAFELISTED.contains(n) && !n.starts_with("access-control-") && *n != "vary")
        .map(str::to_owned)
        .collect();
    let headers = res.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    if let Ok(v) = HeaderValue::from_str(&exposed.join(", "))
        && !exposed.is_empty()
    {
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
    }
}

/// The answer to a preflight: 204 always; the permission only for a listed
/// origin asking to `GET`/`HEAD` with allowed headers.
pub fn preflight(req: &HttpRequest, route: Option<&Route>) -> HttpResponse {
    let mut res = HttpResponse::NoContent().finish();
    add_vary(&mut res, "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    let Some(route) = route else { return res };
    let Some(allowed) = route.allowed_origin(origin(req)) else { return res };
    let method = req.headers().get(header::ACCESS_CONTROL_REQUEST_METHOD).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !matches!(method, "GET" | "HEAD") {
        return res;
    }
    let asked = req
        .headers()
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty());
    if !asked.into_iter().all(|h| ALLOWED_HEADERS.contains(&h.to_ascii_lowercase().as_str())) {
        return res;
    }
    let Ok(value) = HeaderValue::from_str(allowed) else { return res };
    let headers = res.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, X-API-Key, Accept, If-None-Match"),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    res
}
