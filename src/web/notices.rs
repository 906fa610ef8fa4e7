//! `/notices/off`: where a notice email's unsubscribe link leads. The link
//! carries the user and a keyed token, so it works without signing in; the
//! page asks once (a GET changes nothing: mail scanners open links).
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::state::AppState;
use crate::web::params::Params;
use crate::web::{AppError, CsrfForm, Layout, render};

#[derive(Deserialize)]
pub struct Link {
    #[serde(default)]
    pub u: i64,
    #[serde(default)]
    pub t: String,
}

#[derive(Template)]
#[template(path = "notices_off.html")]
struct NoticesOffPage {
    layout: Layout,
    u: i64,
    t: String,
    done: bool,
}

fn checked(state: &AppState, link: &Link) -> Result<(), AppError> {
    if crate::notify::recipients::token_ok(state, link.u, &link.t) { Ok(()) } else { Err(AppError::NotFound) }
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    q: Params<Link>,
) -> Result<HttpResponse, AppError> {
    checked(&state, &q)?;
    let layout = Layout::anonymous(&req, &session, "Stop notices");
    render(StatusCode::OK, &NoticesOffPage { layout, u: q.u, t: q.t.clone(), done: false })
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<Link>,
) -> Result<HttpResponse, AppError> {
    checked(&state, &form)?;
    let user = crate::store::users::find(&state.db, form.u).await?.ok_or(AppError::NotFound)?;
    crate::account::profile::set_notices(&state, &user, false, state.client_ip(&req)).await?;
    let layout = Layout::anonymous(&req, &session, "Notices stopped");
    render(StatusCode::OK, &NoticesOffPage { layout, u: form.u, t: form.t, done: true })
}
