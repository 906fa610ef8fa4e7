//! `Your account`: display name and password.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::state::AppState;
use crate::auth::{CurrentUser, keys, password};
use crate::domain::{DisplayName, Password, WorkspaceName};
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
}

fn account_page(user: &CurrentUser, display_name: String, workspace_name: String, errors: FieldErrors) -> AccountPage {
    AccountPage {
        layout: Layout::for_user(user, "Your account"),
        email: user.user.email.clone(),
        display_name,
        workspace_name,
        errors,
    }
}

pub async fn show(user: CurrentUser) -> Result<HttpResponse, AppError> {
    let name = user.user.display_name.clone();
    render(StatusCode::OK, &account_page(&user, name, String::new(), FieldErrors::default()))
}

pub async fn update_profile(
    state: web::Data<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<ProfileForm>,
) -> Result<HttpResponse, AppError> {
    match DisplayName::parse(&form.display_name) {
        Ok(name) => {
            crate::store::users::set_display_name(&state.db, user.user.id, &name).await?;
            Flash::push(&user.session, "success", "Your display name has been saved.");
            Ok(see_other(urls::ACCOUNT))
        }
        Err(msg) => {
            let mut errors = FieldErrors::default();
            errors.add("display_name", msg);
            render(StatusCode::UNPROCESSABLE_ENTITY, &account_page(&user, form.display_name, String::new(), errors))
        }
    }
}

pub async fn change_password(
    state: web::Data<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    if !password::verify(&form.current_password, Some(&user.user.password_hash)).await? {
        errors.add("current_password", "This is not your current password.");
    }
    let new = errors.check("new_password", Password::parse(&form.new_password));
    if new.is_some() && form.new_password != form.confirm_password {
        errors.add("confirm_password", "The two new passwords are not the same.");
    }
    let (Some(new), true) = (new, errors.is_empty()) else {
        let name = user.user.display_name.clone();
        return render(StatusCode::UNPROCESSABLE_ENTITY, &account_page(&user, name, String::new(), errors));
    };
    let hash = password::hash(&new).await?;
    crate::store::users::set_password_hash(&state.db, user.user.id, hash).await?;
    // Other browsers signed in with the old password are signed out; this one
    // continues under a new session id.
    crate::store::sessions::delete_for_user(&state.db, user.user.id).await?;
    crate::auth::sign_in(&user.session, user.user.id, Some(user.workspace_id()))
        .map_err(|e| anyhow::anyhow!("session: {e}"))?;
    Flash::push(&user.session, "success", "Your password has been changed. Other sessions have been signed out.");
    Ok(see_other(urls::ACCOUNT))
}

/// Any signed-in user may start a workspace of their own and is its admin.
pub async fn create_workspace(
    state: web::Data<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<WorkspaceForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    if let Some(name) = errors.check("workspace_name", WorkspaceName::parse(&form.workspace_name)) {
        match crate::store::workspaces::create_owned(&state.db, &name, user.user.id).await? {
            Some(ws) => {
                user.session.insert(keys::WORKSPACE_ID, ws.id).map_err(|e| anyhow::anyhow!("session: {e}"))?;
                Flash::push(&user.session, "success", format!("Workspace {} created. You are its admin.", ws.name));
                return Ok(see_other(urls::HOME));
            }
            None => errors.add("workspace_name", "A workspace with this name already exists. Choose another name."),
        }
    }
    let name = user.user.display_name.clone();
    render(StatusCode::UNPROCESSABLE_ENTITY, &account_page(&user, name, form.workspace_name, errors))
}
