//! CSRF protection: a random token sent back in a hidden `csrf_token` field
//! (forms) or an `X-CSRF-Token` header (htmx), compared in constant time; and
//! the `Origin` / `Sec-Fetch-Site` of the request must be our own.
//!
//! Signed-in users keep their token in the server-side session. Visitors who
//! have not signed in (login, setup, invitation pages) get no session row at
//! all: their token is derived from a random cookie (`keyhub_csrf`) and the
//! instance secret, so an attacker who cannot read our cookies cannot forge it,
//! and a flood of anonymous requests writes nothing to the database.
use actix_session::Session;
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest};

use crate::auth::keys;
use crate::domain::tokens::{constant_time_eq, digest, random_token};

pub const FIELD: &str = "csrf_token";
pub const HEADER: &str = "x-csrf-token";

/// The anonymous visitor's random cookie value, found or made by the frame
/// middleware (which also sets the cookie when it made a new one).
#[derive(Clone)]
pub struct AnonSeed {
    pub value: String,
    pub fresh: bool,
}

pub fn cookie_name(https: bool) -> &'static str {
    if https { "__Host-keyhub_csrf" } else { "keyhub_csrf" }
}

/// Reads the visitor's seed cookie, or makes a new one for the response.
pub fn seed_for(req: &HttpRequest, https: bool) -> AnonSeed {
    match req.cookie(cookie_name(https)) {
        Some(c) if c.value().len() == 32 && c.value().bytes().all(|b| b.is_ascii_alphanumeric()) => {
            AnonSeed { value: c.value().to_owned(), fresh: false }
        }
        _ => AnonSeed { value: random_token(32), fresh: true },
    }
}

fn anonymous_token(req: &HttpRequest, key: &str) -> Option<String> {
    let seed = req.extensions().get::<AnonSeed>()?.value.clone();
    Some(digest(&format!("{key}:csrf:{seed}")))
}

/// The token for the forms of this page. A signed-in session's token is
/// created on first use; an anonymous visitor's is derived (nothing stored).
pub fn token(req: &HttpRequest, session: &Session, key: &str) -> String {
    if let Ok(Some(t)) = session.get::<String>(keys::CSRF) {
        return t;
    }
    if session.get::<i64>(keys::USER_ID).ok().flatten().is_none() {
        return anonymous_token(req, key).unwrap_or_default();
    }
    session_token(session)
}

/// The signed-in session's token, created on first use.
pub fn session_token(session: &Session) -> String {
    if let Ok(Some(t)) = session.get::<String>(keys::CSRF) {
        return t;
    }
    let t = random_token(43);
    // A session that cannot store the token yields forms that fail the check: safe.
    let _ = session.insert(keys::CSRF, &t);
    t
}

pub fn token_matches(req: &HttpRequest, session: &Session, key: &str, submitted: Option<&str>) -> bool {
    let expected = match session.get::<String>(keys::CSRF).ok().flatten() {
        Some(t) => Some(t),
        None => anonymous_token(req, key),
    };
    match (expected, submitted) {
        (Some(expected), Some(got)) if !expected.is_empty() => constant_time_eq(expected.as_bytes(), got.as_bytes()),
        _ => false,
    }
}

/// False when the browser tells us the request comes from another site.
/// Requests without these headers (scripts, old browsers) rely on the token alone.
pub fn same_origin(req: &HttpRequest, public_url: Option<&str>, trusted: &[ipnet::IpNet]) -> bool {
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
    origin.eq_ignore_ascii_case(&crate::auth::client_ip::request_origin(req, trusted))
}
