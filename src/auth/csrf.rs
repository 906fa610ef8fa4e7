//! CSRF protection: a random token per session, sent back in a hidden
//! `csrf_token` field (forms) or an `X-CSRF-Token` header (htmx), compared in
//! constant time; and the `Origin` / `Sec-Fetch-Site` of the request must be our own.
use actix_session::Session;
use actix_web::HttpRequest;
use actix_web::http::header;

use crate::auth::keys;
use crate::domain::tokens::{constant_time_eq, random_token};

pub const FIELD: &str = "csrf_token";
pub const HEADER: &str = "x-csrf-token";

/// The session's token, created on first use.
pub fn token(session: &Session) -> String {
    if let Ok(Some(t)) = session.get::<String>(keys::CSRF) {
        return t;
    }
    let t = random_token(43);
    // A session that cannot store the token yields forms that fail the check: safe.
    let _ = session.insert(keys::CSRF, &t);
    t
}

pub fn token_matches(session: &Session, submitted: Option<&str>) -> bool {
    match (session.get::<String>(keys::CSRF).ok().flatten(), submitted) {
        (Some(expected), Some(got)) => constant_time_eq(expected.as_bytes(), got.as_bytes()),
        _ => false,
    }
}

/// False when the browser tells us the request comes from another site.
/// Requests without these headers (scripts, old browsers) rely on the token alone.
pub fn same_origin(req: &HttpRequest, public_url: Option<&str>) -> bool {
    if let Some(site) = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site == "cross-site"
    {
        return false;
    }
    let Some(origin) = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if origin == "null" {
        return false;
    }
    if let Some(public) = public_url
        && origin.eq_ignore_ascii_case(public)
    {
        return true;
    }
    let info = req.connection_info();
    let ours = format!("{}://{}", info.scheme(), info.host());
    origin.eq_ignore_ascii_case(&ours)
}
