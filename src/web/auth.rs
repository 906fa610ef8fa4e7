//! Sign in and sign out.
use crate::web::params::Params;
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::{keys, password};
use crate::domain::Email;
use crate::state::AppState;
use crate::web::errors::human_wait;
use crate::web::{AppError, CsrfForm, FieldErrors, Layout, render, see_other, urls};

#[derive(Default, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    signed_out: Option<String>,
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    layout: Layout,
    email: String,
    errors: FieldErrors,
    notice: Option<&'static str>,
}

/// The same sentence for an unknown email and a wrong password.
const BAD_CREDENTIALS: &str = "Email or password is incorrect.";

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    query: Params<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    if session.get::<i64>(keys::USER_ID).ok().flatten().is_some() {
        return Ok(see_other(urls::HOME));
    }
    if !crate::store::users::any_exists(&state.db).await? {
        return Ok(see_other(urls::SETUP));
    }
    let notice = query.signed_out.as_ref().map(|_| "You have signed out.");
    let retry = crate::web::retry::take(&req, urls::LOGIN).unwrap_or_default();
    let page = LoginPage {
        layout: Layout::anonymous(&req, &session, "Sign in"),
        email: retry.value("email"),
        errors: retry.errors,
        notice,
    };
    render(StatusCode::OK, &page)
}

/// How long a refused sign-in (throttled, or the hashing pool full) waits
/// before its 429: idle time on the server, a brake on a client that floods.
const REFUSAL_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let client = state.client_ip(&req).unwrap_or_default();
    let account = form.email.trim().to_lowercase();
    let fail = |status: StatusCode, message: String| {
        let mut errors = FieldErrors::default();
        errors.add("password", message);
        if status == StatusCode::UNAUTHORIZED
            && let Some(back) = crate::web::retry::back_to(&req, urls::LOGIN, &[("email", &form.email)], &errors)
        {
            return Ok(back);
        }
        let page = LoginPage {
            layout: Layout::anonymous(&req, &session, "Sign in"),
            email: form.email.clone(),
            errors,
            notice: None,
        };
        render(status, &page)
    };
    if let Some(wait) = state.throttle.check(&client, &account).await {
        tracing::warn!(client = %client, "login throttled");
        tokio::time::sleep(REFUSAL_PAUSE).await;
        let mut res = fail(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed sign-in attempts. Try again in {}.", human_wait(wait)),
        )?;
        res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, wait.as_secs().max(1).into());
        return Ok(res);
    }
    if form.email.trim().is_empty() || form.password.is_empty() {
        // Nothing to check yet: say what is missing, and count no failure.
        let mut errors = FieldErrors::default();
        if form.email.trim().is_empty() {
            errors.add("email", "Enter your email address.");
        }
        if form.password.is_empty() {
            errors.add("password", "Enter your password.");
        }
        if let Some(back) = crate::web::retry::back_to(&req, urls::LOGIN, &[("email", &form.email)], &errors) {
            return Ok(back);
        }
        let page = LoginPage {
            layout: Layout::anonymous(&req, &session, "Sign in"),
            email: form.email.clone(),
            errors,
            notice: None,
        };
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    // Not a failure of this account or client: nothing is counted.
    let busy = || -> Result<HttpResponse, AppError> {
        let mut res = fail(
            StatusCode::TOO_MANY_REQUESTS,
            "Many sign-ins are being checked right now. Try again in a moment.".into(),
        )?;
        res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, 1.into());
        Ok(res)
    };
    // A full pool refuses before the account is even looked up (a flood costs
    // the database nothing), after a pause that costs no CPU: a client that
    // floods without waiting gets at most a few answers a second per
    // connection, so the flood cannot crowd data requests off the cores.
    if state.passwords.saturated() {
        tokio::time::sleep(REFUSAL_PAUSE).await;
        return busy();
    }
    let user = match Email::parse(&form.email) {
        Ok(email) => crate::store::users::find_by_email(&state.db, &email).await?,
        Err(_) => None,
    };
    let ok = match state.passwords.verify(&form.password, user.as_ref().map(|u| u.password_hash.as_str())).await {
        Ok(ok) => ok,
        Err(password::HashError::Busy) => {
            tokio::time::sleep(REFUSAL_PAUSE).await;
            return busy();
        }
        Err(e) => return Err(e.into()),
    };
    let Some(user) = user.clone().filter(|_| ok) else {
        state.throttle.record_failure(&client, &account).await;
        if let Some(u) = &user {
            crate::account::profile::record_own(
                &state,
                u,
                "user.sign_in_failed",
                "Wrong password.",
                state.client_ip(&req),
            )
            .await?;
        } else {
            tracing::info!(client = %client, "sign-in for an unknown email refused");
        }
        return fail(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS.to_owned());
    };
    state.throttle.record_success(&account).await;
    crate::account::profile::record_own(
        &state,
        &user,
        "user.signed_in",
        "Signed in with a password.",
        state.client_ip(&req),
    )
    .await?;
    crate::auth::sign_in(&session, user.id, None).map_err(|e| anyhow::anyhow!("session: {e}"))?;
    tracing::info!(user_id = user.id, "signed in");
    Ok(see_other(urls::HOME))
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<HttpResponse, AppError> {
    if let Some(id) = session.get::<i64>(keys::USER_ID).ok().flatten()
        && let Some(user) = crate::store::users::find(&state.db, id).await?
    {
        crate::account::profile::record_own(&state, &user, "user.signed_out", "Signed out.", state.client_ip(&req))
            .await?;
    }
    session.purge();
    Ok(see_other(&format!("{}?signed_out=1", urls::LOGIN)))
}
