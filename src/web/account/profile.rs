//! `Your account → Profile`: display name, password, a new workspace, and the
//! recent activity that concerns the user. Open to every signed-in user, also
//! one whose access to every workspace has ended.
use crate::web::params::Params;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::{SignedIn, keys};
use crate::domain::{DisplayName, Password, WorkspaceName};
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::Filter;
use crate::web::errors::human_wait;
use crate::web::views::{ActivityItem, Pager, activity, query_base};
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, render, see_other, urls};

#[derive(Default, Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    pub display_name: String,
}

#[derive(Default, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    pub current_password: String,
    #[serde(default)]
    pub new_password: String,
    #[serde(default)]
    pub confirm_password: String,
}

#[derive(Default, Deserialize)]
pub struct WorkspaceForm {
    #[serde(default)]
    pub workspace_name: String,
}

#[derive(Template)]
#[template(path = "account/account.html")]
struct AccountPage {
    layout: Layout,
    email: String,
    display_name: String,
    workspace_name: String,
    errors: FieldErrors,
    events: Vec<ActivityItem>,
    pager: Pager,
    has_workspace: bool,
    /// Notice emails (expiring keys, failing sources) are on; `email_on`: this keyhub sends email.
    notices_on: bool,
    email_on: bool,
}

#[derive(Deserialize)]
pub struct AccountQuery {
    page: Option<crate::domain::query::Page>,
}

async fn account_page(
    state: &AppState,
    user: &SignedIn,
    display_name: String,
    workspace_name: String,
    errors: FieldErrors,
    page: u64,
) -> Result<AccountPage, AppError> {
    let (rows, total) = match &user.membership {
        Some(m) => {
            let f = Filter { concerning: Some(user.user.id), ..Filter::default() };
            crate::store::audit::page(&state.db, m.workspace_id, &f, Pager::offset(page), Pager::PER_PAGE).await?
        }
        None => (Vec::new(), 0),
    };
    Ok(AccountPage {
        layout: Layout::for_signed_in(user, "Your account"),
        email: user.user.email.clone(),
        display_name,
        workspace_name,
        errors,
        events: activity(rows),
        pager: Pager::new(page, total, &query_base(urls::ACCOUNT, &[])),
        has_workspace: user.membership.is_some(),
        notices_on: !user.user.notices_off,
        email_on: crate::notify::enabled(state),
    })
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: SignedIn,
    query: Params<AccountQuery>,
) -> Result<HttpResponse, AppError> {
    let (name, workspace_name, errors) = match crate::web::retry::take(&req, urls::ACCOUNT) {
        Some(r) if r.errors.get("display_name").is_some() => (r.value("display_name"), String::new(), r.errors),
        Some(r) => (user.user.display_name.clone(), r.value("workspace_name"), r.errors),
        None => (user.user.display_name.clone(), String::new(), FieldErrors::default()),
    };
    let page = account_page(
        &state,
        &user,
        name,
        workspace_name,
        errors,
        query.page.map_or(1, crate::domain::query::Page::get),
    )
    .await?;
    render(StatusCode::OK, &page)
}

pub async fn update_profile(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: SignedIn,
    CsrfForm(form): CsrfForm<ProfileForm>,
) -> Result<HttpResponse, AppError> {
    match DisplayName::parse(&form.display_name) {
        Ok(name) => {
            crate::account::profile::set_display_name(&state, &user.user, &name).await?;
            Flash::push(&user.session, "success", "Your display name has been saved.");
            Ok(see_other(urls::ACCOUNT))
        }
        Err(msg) => {
            let mut errors = FieldErrors::default();
            errors.add("display_name", msg);
            if let Some(back) =
                crate::web::retry::back_to(&req, urls::ACCOUNT, &[("display_name", &form.display_name)], &errors)
            {
                return Ok(back);
            }
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &account_page(&state, &user, form.display_name, String::new(), errors, 1).await?,
            )
        }
    }
}

pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: SignedIn,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    // Guessing the current password from a stolen session is throttled like sign-in.
    let client = state.client_ip(&req).unwrap_or_default();
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    let mut retry_after = None;
    if let Some(wait) = state.throttle.check(&client, &user.user.email).await {
        errors.add("current_password", format!("Too many wrong passwords. Try again in {}.", human_wait(wait)));
        status = StatusCode::TOO_MANY_REQUESTS;
        retry_after = Some(wait);
    } else if !state.passwords.verify(&form.current_password, Some(&user.user.password_hash)).await? {
        state.throttle.record_failure(&client, &user.user.email).await;
        errors.add("current_password", "This is not your current password.");
    }
    let new = errors.check("new_password", Password::parse(&form.new_password));
    if new.is_some() && form.new_password != form.confirm_password {
        errors.add("confirm_password", "The two new passwords are not the same.");
    }
    let (Some(new), true) = (new, errors.is_empty()) else {
        if retry_after.is_none()
            && let Some(back) = crate::web::retry::back_to(&req, urls::ACCOUNT, &[], &errors)
        {
            return Ok(back);
        }
        let name = user.user.display_name.clone();
        let mut res = render(status, &account_page(&state, &user, name, String::new(), errors, 1).await?)?;
        if let Some(wait) = retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, wait.as_secs().max(1).into());
        }
        return Ok(res);
    };
    state.throttle.record_success(&user.user.email).await;
    let hash = state.passwords.hash(&new).await?;
    // Other browsers signed in with the old password are signed out; this one
    // continues under a new session id.
    crate::account::profile::change_password(&state, &user.user, hash, state.client_ip(&req)).await?;
    let ws = user.membership.as_ref().map(|m| m.workspace_id);
    crate::auth::sign_in(&user.session, user.user.id, ws).map_err(|e| anyhow::anyhow!("session: {e}"))?;
    Flash::push(&user.session, "success", "Your password has been changed. Other sessions have been signed out.");
    Ok(see_other(urls::ACCOUNT))
}

/// Any signed-in user may start a workspace of their own and is its admin.
pub async fn create_workspace(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: SignedIn,
    CsrfForm(form): CsrfForm<WorkspaceForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    if let Some(name) = errors.check("workspace_name", WorkspaceName::parse(&form.workspace_name)) {
        match crate::account::profile::create_workspace(&state, &user.user, &name, state.client_ip(&req)).await {
            Ok(ws) => {
                user.session.insert(keys::WORKSPACE_ID, ws.id).map_err(|e| anyhow::anyhow!("session: {e}"))?;
                Flash::push_about(&user.session, "success", "Workspace created; you are its admin:", Some(ws.name));
                return Ok(see_other(urls::HOME));
            }
            Err(Refusal::Fields(refused)) => errors.extend(refused),
            Err(other) => return Err(other.into()),
        }
    }
    // Back to the page the form was on: the account, or the no-workspace page.
    let page = if user.membership.is_some() { urls::ACCOUNT } else { urls::NO_WORKSPACE };
    if let Some(back) = crate::web::retry::back_to(&req, page, &[("workspace_name", &form.workspace_name)], &errors) {
        return Ok(back);
    }
    let name = user.user.display_name.clone();
    render(StatusCode::UNPROCESSABLE_ENTITY, &account_page(&state, &user, name, form.workspace_name, errors, 1).await?)
}

#[derive(Default, Deserialize)]
pub struct NoticesForm {
    /// `on` when the box is ticked; absent when not.
    #[serde(default)]
    pub notices: String,
}

/// The profile's setting: notice emails on or off.
pub async fn set_notices(
    state: web::Data<AppState>,
    user: SignedIn,
    CsrfForm(form): CsrfForm<NoticesForm>,
) -> Result<HttpResponse, AppError> {
    let on = form.notices == "on";
    crate::account::profile::set_notices(&state, &user.user, on, user.ip.clone()).await?;
    let said = if on { "Notice emails are on." } else { "Notice emails are off." };
    Flash::push(&user.session, "success", said);
    Ok(see_other(urls::ACCOUNT))
}
