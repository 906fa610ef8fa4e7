//! `/invite/{token}`: the one-time link an admin shares. A new user sets a
//! display name and password; an existing user confirms with their password.
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::{DisplayName, Email, Password, tokens};
use crate::entities::{invitations, users};
use crate::invitations::Joiner;
use crate::state::AppState;
use crate::web::errors::human_wait;
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, render, see_other, urls};

#[derive(Debug, PartialEq, Eq)]
enum LinkState {
    Open,
    Used,
    Revoked,
    Expired,
}

fn link_state(inv: &invitations::Model, now: DateTime<Utc>) -> LinkState {
    if inv.revoked_at.is_some() {
        LinkState::Revoked
    } else if inv.accepted_at.is_some() {
        LinkState::Used
    } else if inv.expires_at <= now {
        LinkState::Expired
    } else {
        LinkState::Open
    }
}

#[derive(Template)]
#[template(path = "auth/invitation.html")]
struct InvitationPage {
    layout: Layout,
    token: String,
    workspace_name: String,
    email: String,
    existing_user: bool,
    display_name: String,
    errors: FieldErrors,
}

/// A one-time link (invitation, password reset) that no longer works.
#[derive(Template)]
#[template(path = "auth/invitation_gone.html")]
pub struct GonePage {
    pub layout: Layout,
    pub message: &'static str,
}

#[derive(Default, Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub confirm_password: String,
}

fn gone(req: &HttpRequest, session: &Session, state: LinkState) -> Result<HttpResponse, AppError> {
    let message = match state {
        LinkState::Used => {
            "This invitation has already been used. If it was you, sign in; otherwise ask an admin for a new link."
        }
        LinkState::Revoked => {
            "This invitation has been revoked by an admin. Ask them for a new link if you still need access."
        }
        LinkState::Expired => "This invitation has expired (links are valid for 7 days). Ask an admin for a new link.",
        LinkState::Open => "This invitation link is not valid. Check that you copied the whole link.",
    };
    let status = if state == LinkState::Open { StatusCode::NOT_FOUND } else { StatusCode::GONE };
    render(status, &GonePage { layout: Layout::anonymous(req, session, "Invitation"), message })
}

/// The invitation behind a token, or the page to show instead.
async fn open_invitation(
    req: &HttpRequest,
    state: &AppState,
    session: &Session,
    token: &str,
) -> Result<Result<(invitations::Model, String, Option<users::Model>), HttpResponse>, AppError> {
    let Some(inv) = crate::store::invitations::find_by_token_hash(&state.db, &tokens::digest(token)).await? else {
        return gone(req, session, LinkState::Open).map(Err);
    };
    let st = link_state(&inv, Utc::now());
    if st != LinkState::Open {
        return gone(req, session, st).map(Err);
    }
    let ws = crate::store::workspaces::find(&state.db, inv.workspace_id).await?.ok_or(AppError::NotFound)?;
    let existing = match Email::parse(&inv.email) {
        Ok(e) => crate::store::users::find_by_email(&state.db, &e).await?,
        Err(_) => None,
    };
    Ok(Ok((inv, ws.name, existing)))
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let (inv, workspace_name, existing) = match open_invitation(&req, &state, &session, &token).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let retry = crate::web::retry::take(&req, req.path()).unwrap_or_default();
    render(
        StatusCode::OK,
        &InvitationPage {
            layout: Layout::anonymous(&req, &session, "Join a workspace"),
            token,
            workspace_name,
            email: inv.email,
            existing_user: existing.is_some(),
            display_name: retry.value("display_name"),
            errors: retry.errors,
        },
    )
}

pub async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<AcceptForm>,
) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let (inv, workspace_name, existing) = match open_invitation(&req, &state, &session, &token).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let mut errors = FieldErrors::default();
    let mut new_account = None;
    match &existing {
        Some(user) => {
            // Joining with an existing account proves it with the password, throttled like sign-in.
            let client = state.client_ip(&req).unwrap_or_default();
            if let Some(wait) = state.throttle.check(&client, &user.email).await {
                errors.add("password", format!("Too many failed attempts. Try again in {}.", human_wait(wait)));
            } else if !state.passwords.verify(&form.password, Some(&user.password_hash)).await? {
                state.throttle.record_failure(&client, &user.email).await;
                errors.add("password", "This is not the password of your keyhub account.");
            }
        }
        None => {
            let name = errors.check("display_name", DisplayName::parse(&form.display_name));
            let pw = errors.check("password", Password::parse(&form.password));
            if pw.is_some() && form.password != form.confirm_password {
                errors.add("confirm_password", "The two passwords are not the same.");
            }
            if let (Some(name), Some(pw)) = (name, pw) {
                new_account = Some((name, pw));
            }
        }
    }
    if !errors.is_empty() {
        if let Some(back) =
            crate::web::retry::back_to(&req, req.path(), &[("display_name", &form.display_name)], &errors)
        {
            return Ok(back);
        }
        let page = InvitationPage {
            layout: Layout::anonymous(&req, &session, "Join a workspace"),
            token,
            workspace_name,
            email: inv.email,
            existing_user: existing.is_some(),
            display_name: form.display_name,
            errors,
        };
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let joiner = match (&existing, new_account) {
        (Some(user), _) => Joiner::Existing(user),
        (None, Some((name, pw))) => Joiner::New { name, password_hash: state.passwords.hash(&pw).await? },
        (None, None) => return Err(AppError::internal("invitation accepted without account data")),
    };
    let Some(user_id) = crate::invitations::accept(&state, &inv, joiner, state.client_ip(&req)).await? else {
        return gone(&req, &session, LinkState::Used);
    };
    crate::auth::sign_in(&session, user_id, Some(inv.workspace_id)).map_err(|e| anyhow::anyhow!("session: {e}"))?;
    Flash::push_about(&session, "success", "Welcome to", Some(workspace_name));
    Ok(see_other(urls::HOME))
}
