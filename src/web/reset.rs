//! `/reset/{token}`: a one-time link an admin made for someone who forgot their
//! password. Choosing a new password ends every other session, signs the
//! person in and is audited; the link then stops working.
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use crate::domain::{Password, tokens};
use crate::state::AppState;
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, render, see_other, urls};

#[derive(Template)]
#[template(path = "auth/reset.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    email: String,
    errors: FieldErrors,
}

use crate::web::invitations::GonePage;

const GONE: &str = "This password reset link is not valid: it was used already, it expired (links work for 24 hours), \
    or it was replaced by a newer one. Ask an admin of your workspace for a new link.";

async fn open(
    req: &HttpRequest,
    state: &AppState,
    session: &Session,
    token: &str,
) -> Result<Result<(crate::entities::password_resets::Model, crate::entities::users::Model), HttpResponse>, AppError> {
    let found = crate::store::password_resets::find_open(&state.db, &tokens::digest(token), Utc::now()).await?;
    let user = match &found {
        Some(r) => crate::store::users::find(&state.db, r.user_id).await?,
        None => None,
    };
    match (found, user) {
        (Some(r), Some(u)) => Ok(Ok((r, u))),
        _ => render(
            StatusCode::GONE,
            &GonePage { layout: Layout::anonymous(req, session, "Password reset"), message: GONE },
        )
        .map(Err),
    }
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let (_, user) = match open(&req, &state, &session, &token).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let errors = crate::web::retry::take(&req, req.path()).unwrap_or_default().errors;
    let page = ResetPage {
        layout: Layout::anonymous(&req, &session, "Choose a new password"),
        token,
        email: user.email,
        errors,
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub confirm_password: String,
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<ResetForm>,
) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let (reset, user) = match open(&req, &state, &session, &token).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let mut errors = FieldErrors::default();
    let pw = errors.check("password", Password::parse(&form.password));
    if pw.is_some() && form.password != form.confirm_password {
        errors.add("confirm_password", "The two passwords are not the same.");
    }
    let (Some(pw), true) = (pw, errors.is_empty()) else {
        if let Some(back) = crate::web::retry::back_to(&req, req.path(), &[], &errors) {
            return Ok(back);
        }
        let page = ResetPage {
            layout: Layout::anonymous(&req, &session, "Choose a new password"),
            token,
            email: user.email,
            errors,
        };
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let hash = state.passwords.hash(&pw).await?;
    if !crate::account::profile::reset_password(&state, &reset, &user, hash, state.client_ip(&req)).await? {
        return render(
            StatusCode::GONE,
            &GonePage { layout: Layout::anonymous(&req, &session, "Password reset"), message: GONE },
        );
    }
    crate::auth::sign_in(&session, user.id, Some(reset.workspace_id)).map_err(|e| anyhow::anyhow!("session: {e}"))?;
    Flash::push(&session, "success", "Your new password is set and you are signed in.");
    Ok(see_other(urls::HOME))
}
