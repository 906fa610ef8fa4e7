//! Post/Redirect/Get for forms that fail in a browser. A plain form post that
//! fails validation answers 303 back to the form's page, carrying what was
//! typed (never passwords) and the messages in a short-lived, MAC-protected
//! cookie; the page shows them once. Reloading then shows the page again
//! instead of posting the form again. No session row is written, so this works
//! before sign-in too.
//!
//! Only browser navigations (`Sec-Fetch-Mode: navigate`) are redirected; htmx
//! requests and scripts get the form re-rendered with 422 directly.
use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse, web};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use crate::domain::tokens::{constant_time_eq, digest};
use crate::state::AppState;
use crate::web::{FieldErrors, is_htmx, see_other};

/// What fits in a cookie with room to spare; a larger input is re-rendered directly.
const MAX_COOKIE: usize = 3000;

pub fn cookie_name(https: bool) -> &'static str {
    if https { "__Host-keyhub_retry" } else { "keyhub_retry" }
}

#[derive(Serialize, Deserialize)]
struct Saved {
    path: String,
    values: Vec<(String, String)>,
    errors: Vec<(String, String)>,
}

/// A failed form's input and messages, for the page to show once.
#[derive(Default)]
pub struct Retry {
    values: Vec<(String, String)>,
    pub errors: FieldErrors,
}

impl Retry {
    /// The first value typed into `name`, or "".
    pub fn value(&self, name: &str) -> String {
        self.values.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    /// Every field as it was posted, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.values
    }

    /// Every value of a repeated field (checkboxes).
    pub fn values(&self, name: &str) -> Vec<String> {
        self.values.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
}

fn mac(key: &str, payload: &str) -> String {
    digest(&format!("{key}:retry:{payload}"))
}

/// The 303 back to `page` with the input and messages, for a browser's plain
/// form post; `None` for htmx, scripts, or input too large to carry (the
/// caller then renders the form with 422 itself).
pub fn back_to(req: &HttpRequest, page: &str, values: &[(&str, &str)], errors: &FieldErrors) -> Option<HttpResponse> {
    let navigate = req.headers().get("sec-fetch-mode").is_some_and(|v| v.as_bytes() == b"navigate");
    if !navigate || is_htmx(req) {
        return None;
    }
    let state = req.app_data::<web::Data<AppState>>()?;
    let saved = Saved {
        path: page.split('?').next().unwrap_or(page).to_owned(),
        values: values.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        errors: errors.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
    };
    let json = serde_json::to_string(&saved).ok()?;
    let value = format!("{}.{}", mac(&state.csrf_key, &json), utf8_percent_encode(&json, NON_ALPHANUMERIC));
    if value.len() > MAX_COOKIE {
        return None;
    }
    let https = state.settings.https();
    let cookie = Cookie::build(cookie_name(https), value)
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::minutes(5))
        .finish();
    let mut res = see_other(page);
    res.add_cookie(&cookie).ok()?;
    Some(res)
}

/// The input and messages a failed post left for the page at `path`, if any.
/// (The frame middleware removes the cookie on the response.)
pub fn take(req: &HttpRequest, path: &str) -> Option<Retry> {
    let state = req.app_data::<web::Data<AppState>>()?;
    let cookie = req.cookie(cookie_name(state.settings.https()))?;
    let (tag, encoded) = cookie.value().split_once('.')?;
    let json = percent_decode_str(encoded).decode_utf8().ok()?;
    if !constant_time_eq(tag.as_bytes(), mac(&state.csrf_key, &json).as_bytes()) {
        return None;
    }
    let saved: Saved = serde_json::from_str(&json).ok()?;
    if saved.path != path {
        return None;
    }
    let mut errors = FieldErrors::default();
    for (k, v) in saved.errors {
        errors.add(&k, v);
    }
    Some(Retry { values: saved.values, errors })
}
