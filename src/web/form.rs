//! Form extraction with the CSRF check built in, and per-field error messages.
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use actix_session::SessionExt;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::auth::csrf;
use crate::web::AppError;

const MAX_FORM_BYTES: usize = 64 * 1024;

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
    if !csrf::same_origin(&req, state.settings.public_url.as_deref()) {
        return Err(AppError::Csrf);
    }
    let session = req.get_session();
    let from_header = req.headers().get(csrf::HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let from_form = serde_html_form::from_bytes::<TokenOnly>(&body).ok().and_then(|t| t.csrf_token);
    if !csrf::token_matches(&session, from_form.as_deref().or(from_header.as_deref())) {
        return Err(AppError::Csrf);
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
            let body = body.await.map_err(|_| AppError::BadRequest)?;
            if body.len() > MAX_FORM_BYTES {
                return Err(AppError::BadRequest);
            }
            extract(req, body).await
        })
    }
}

/// Messages shown next to the fields they are about.
#[derive(Debug, Default)]
pub struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }

    /// Keeps the parsed value, or records the message and returns `None`.
    pub fn check<T, E: Into<String>>(&mut self, field: &'static str, r: Result<T, E>) -> Option<T> {
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

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
