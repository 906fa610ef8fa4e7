//! `/setup`: the first admin and workspace, guarded by the one-time setup code
//! printed on the server console, and gone (404) once any user exists.
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::tokens::constant_time_eq;
use crate::domain::{DisplayName, Email, Password, WorkspaceName};
use crate::state::AppState;
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, render, see_other, urls};

#[derive(Default, Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub workspace: String,
    #[serde(default)]
    pub setup_code: String,
}

#[derive(Template)]
#[template(path = "auth/setup.html")]
struct SetupPage {
    layout: Layout,
    form: SetupForm,
    errors: FieldErrors,
}

async fn ensure_open(state: &AppState) -> Result<(), AppError> {
    if crate::store::users::any_exists(&state.db).await? { Err(AppError::NotFound) } else { Ok(()) }
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>, session: Session) -> Result<HttpResponse, AppError> {
    ensure_open(&state).await?;
    let retry = crate::web::retry::take(&req, urls::SETUP).unwrap_or_default();
    let form = SetupForm {
        email: retry.value("email"),
        display_name: retry.value("display_name"),
        workspace: retry.value("workspace"),
        ..SetupForm::default()
    };
    let page = SetupPage { layout: Layout::anonymous(&req, &session, "Set up keyhub"), form, errors: retry.errors };
    render(StatusCode::OK, &page)
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<SetupForm>,
) -> Result<HttpResponse, AppError> {
    ensure_open(&state).await?;
    let mut errors = FieldErrors::default();
    let email = errors.check("email", Email::parse(&form.email));
    let name = errors.check("display_name", DisplayName::parse(&form.display_name));
    let pw = errors.check("password", Password::parse(&form.password));
    let workspace = errors.check("workspace", WorkspaceName::parse(&form.workspace));
    let code = form.setup_code.trim().to_uppercase();
    if !constant_time_eq(code.as_bytes(), state.setup_code.as_bytes()) {
        errors
            .add("setup_code", "This is not the setup code. It is printed in the server's console when keyhub starts.");
    }
    let (Some(email), Some(name), Some(pw), Some(workspace), true) = (email, name, pw, workspace, errors.is_empty())
    else {
        let kept =
            [("email", form.email.as_str()), ("display_name", &form.display_name), ("workspace", &form.workspace)];
        if let Some(back) = crate::web::retry::back_to(&req, urls::SETUP, &kept, &errors) {
            return Ok(back);
        }
        let form = SetupForm { password: String::new(), ..form };
        let page = SetupPage { layout: Layout::anonymous(&req, &session, "Set up keyhub"), form, errors };
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let hash = state.passwords.hash(&pw).await?;
    let (user, ws) =
        crate::account::profile::set_up(&state, &email, &name, hash, &workspace, state.client_ip(&req)).await?;
    crate::auth::sign_in(&session, user.id, Some(ws.id)).map_err(|e| anyhow::anyhow!("session: {e}"))?;
    Flash::push_about(&session, "success", "Welcome to keyhub. Your workspace is ready:", Some(ws.name));
    Ok(see_other(urls::HOME))
}
