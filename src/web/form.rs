//! Form extraction with the CSRF check built in, and per-field error messages.
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use actix_session::SessionExt;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::de::DeserializeOwned;

use crate::auth::csrf;
use crate::state::AppState;
use crate::web::AppError;

/// Large enough that an over-long value reaches its field's own check (and
/// gets a message beside the field); anything bigger is refused with 413.
pub const MAX_FORM_BYTES: usize = 512 * 1024;

/// A URL-encoded form whose `csrf_token` field (or `X-CSRF-Token` header) and
/// origin have been checked. Every state-changing browser handler takes one,
/// so none can forget the check. Repeated fields (`permission=a&permission=b`)
/// deserialize into a `Vec`.
pub struct CsrfForm<T>(pub T);

#[derive(serde::Deserialize)]
struct TokenOnly {
    csrf_token: Option<String>,
}

async fn extract<T: DeserializeOwned>(req: HttpRequest, body: web::Bytes) -> Result<CsrfForm<T>, AppError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or(AppError::internal("app state missing"))?;
    if !csrf::same_origin(&req, state.settings.public_url.as_deref(), &state.settings.trusted_proxies) {
        return Err(AppError::Csrf);
    }
    let session = req.get_session();
    let from_header = req.headers().get(csrf::HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let from_form = serde_html_form::from_bytes::<TokenOnly>(&body).ok().and_then(|t| t.csrf_token);
    if !csrf::token_matches(&req, &session, &state.csrf_key, from_form.as_deref().or(from_header.as_deref())) {
        return Err(AppError::Csrf);
    }
    if !is_utf8_form(&body) {
        return Err(AppError::InvalidText);
    }
    // Fields the handler does not know are ignored; malformed input is a 400 page.
    let form = serde_html_form::from_bytes::<T>(&body).map_err(|_| AppError::BadRequest)?;
    Ok(CsrfForm(form))
}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = body.await.map_err(|e| match e.as_response_error().status_code().as_u16() {
                413 => AppError::TooLarge,
                _ => AppError::BadRequest,
            })?;
            if body.len() > MAX_FORM_BYTES {
                return Err(AppError::TooLarge);
            }
            extract(req, body).await
        })
    }
}

/// True when every name and value of a URL-encoded body decodes to UTF-8.
/// The usual decoders replace bad bytes with U+FFFD, which would store
/// something other than what was typed; such a form is refused instead.
fn is_utf8_form(body: &[u8]) -> bool {
    body.split(|b| *b == b'&').flat_map(|pair| pair.split(|b| *b == b'=')).all(|part| {
        let plus_as_space: Vec<u8> = part.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
        let decoded: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
        std::str::from_utf8(&decoded).is_ok()
    })
}

/// Messages shown next to the fields they are about.
#[cfg(test)]
mod tests {
    #[test]
    fn forms_with_bad_utf8_are_spotted() {
        assert!(super::is_utf8_form(b"name=Ren%C3%A9e+A&x=%E2%9C%93"));
        assert!(!super::is_utf8_form(b"name=Ren%E9e"));
        assert!(!super::is_utf8_form(b"a=%FF%FE"));
    }
}

#[derive(Debug, Default)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.entry(field.to_owned()).or_insert_with(|| message.into());
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Keeps the parsed value, or records the message and returns `None`.
    pub fn check<T, E: Into<String>>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e);
                None
            }
        }
    }

    pub fn get(&self, field: &str) -> Option<&String> {
        self.0.get(field)
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    /// ` has-error` when the field was refused, for a template's
    /// `class="field{{ errors.class("name") }}"`.
    pub fn class(&self, field: &str) -> &'static str {
        if self.has(field) { " has-error" } else { "" }
    }

    /// ` e-<field>` when refused: the message's id, appended to the input's
    /// `aria-describedby` so that it is read with the field.
    pub fn describedby(&self, field: &str) -> String {
        if self.has(field) { format!(" e-{field}") } else { String::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a service's field refusals (the first message per field wins).
    pub fn extend(&mut self, errors: Vec<crate::refusal::FieldError>) {
        for e in errors {
            self.add(&e.field, e.message);
        }
    }
}

impl From<Vec<crate::refusal::FieldError>> for FieldErrors {
    fn from(errors: Vec<crate::refusal::FieldError>) -> Self {
        let mut all = FieldErrors::default();
        all.extend(errors);
        all
    }
}
