//! Browser UI: HTML handlers, one module per area, and what they share.
pub mod account;
pub mod admin;
pub mod assets;
pub mod auth;
pub mod confirm;
pub mod datahub;
pub mod errors;
pub mod form;
pub mod health;
pub mod home;
pub mod invitations;
pub mod layout;
pub mod live_data;
pub mod middleware;
pub mod multipart;
pub mod notices;
pub mod ontology;
pub mod overview;
pub mod params;
pub mod reset;
pub mod retry;
pub mod setup;
pub mod urls;
pub mod usage;
pub mod views;
pub mod workspaces;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

pub use errors::AppError;
pub use form::{CsrfForm, FieldErrors};
pub use layout::{Flash, Layout};

/// Marks a response whose 4xx/5xx body is deliberate (a form re-rendered with
/// its errors), so the middleware does not replace it with an error page.
#[derive(Clone, Copy)]
pub struct KeepBody;

/// Renders a template as an HTML response with `status`.
pub fn render<T: Template>(status: StatusCode, tpl: &T) -> Result<HttpResponse, AppError> {
    let body = tpl.render().map_err(|e| anyhow::Error::new(e).context("rendering a template"))?;
    let mut res = HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body);
    res.extensions_mut().insert(KeepBody);
    Ok(res)
}

pub fn page<T: Template>(tpl: &T) -> Result<HttpResponse, AppError> {
    render(StatusCode::OK, tpl)
}

/// 303 to `to`: after a successful POST, so a reload does not post again.
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

/// An htmx request that wants a fragment (not a history restore, which needs the page).
pub fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("hx-request") && !req.headers().contains_key("hx-history-restore-request")
}
