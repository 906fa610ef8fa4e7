//! `/`: first run leads to setup, a visitor to sign-in, a member to the
//! dashboard (one tile per section, answering "what needs me?"), a signed-in
//! user without any workspace to a page that says what happened.
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;

use crate::auth::SignedIn;
use crate::domain::Permission;
use crate::domain::keys::KeyState;
use crate::state::AppState;
use crate::web::overview::{self, Tile};
use crate::web::{AppError, FieldErrors, Layout, page, render, see_other, urls};

#[derive(Template)]
#[template(path = "home.html")]
struct Dashboard {
    layout: Layout,
    role: &'static str,
    permissions: Vec<&'static str>,
    /// Data Hub, Live Data, Ontology, Admin: open or switched off.
    tiles: Vec<Tile>,
    admins: Vec<String>,
    keys_active: usize,
    keys_expiring: usize,
}

pub async fn home(state: web::Data<AppState>, user: Result<SignedIn, AppError>) -> Result<HttpResponse, AppError> {
    if !crate::store::users::any_exists(&state.db).await? {
        return Ok(see_other(urls::SETUP));
    }
    let signed = match user {
        Ok(u) => u,
        Err(AppError::LoginRequired) => return Ok(see_other(urls::LOGIN)),
        Err(e) => return Err(e),
    };
    let user = match signed.current() {
        Ok(u) => u,
        Err(_) => return Ok(see_other(urls::NO_WORKSPACE)),
    };
    let ws = user.workspace_id();
    let now = Utc::now();
    let my_keys = crate::store::keys::for_owner(&state.db, ws, user.user.id).await?;
    let state_of = |k: &crate::entities::personal_keys::Model| KeyState::of(k.revoked_at, k.expires_at, now);
    let keys_expiring = my_keys.iter().filter(|k| state_of(k) == KeyState::Expiring).count();
    let keys_active = my_keys.iter().filter(|k| state_of(k).usable()).count();
    let tiles = vec![
        overview::data_hub(&state, &user).await?,
        overview::live_data(&state, &user).await?,
        overview::ontology(&state, &user).await?,
        overview::admin(&state, &user).await?,
    ];
    page(&Dashboard {
        layout: Layout::for_user(&user, "Dashboard"),
        role: user.membership.role.as_str(),
        permissions: Permission::ALL.into_iter().filter(|p| user.can(*p)).map(Permission::as_str).collect(),
        admins: overview::admins(&state, ws).await?,
        tiles,
        keys_active,
        keys_expiring,
    })
}

#[derive(Template)]
#[template(path = "no_workspace.html")]
struct NoWorkspacePage {
    layout: Layout,
    disabled_in: Vec<String>,
    workspace_name: String,
    errors: FieldErrors,
}

/// `GET /no-workspace`: for someone whose access has ended, in plain words,
/// with the way out (sign out, their account, a workspace of their own).
pub async fn no_workspace(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    user: SignedIn,
) -> Result<HttpResponse, AppError> {
    if user.membership.is_some() {
        return Ok(see_other(urls::HOME));
    }
    let disabled_in = crate::store::members::disabled_workspaces(&state.db, user.user.id).await?;
    let retry = crate::web::retry::take(&req, urls::NO_WORKSPACE).unwrap_or_default();
    render(
        StatusCode::OK,
        &NoWorkspacePage {
            layout: Layout::for_signed_in(&user, "No workspace"),
            disabled_in,
            workspace_name: retry.value("workspace_name"),
            errors: retry.errors,
        },
    )
}

#[derive(Template)]
#[template(path = "help.html")]
struct HelpPage {
    layout: Layout,
    support: Option<crate::web::layout::Support>,
}

/// `GET /help`: where the documentation is and whom to ask.
pub async fn help(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, AppError> {
    let support = crate::web::layout::Support::from_setting(state.settings.support_contact.as_deref());
    let layout = match crate::auth::current_user::load(&req).await {
        Ok(user) => Layout::for_signed_in(&user, "Help"),
        Err(_) => Layout::anonymous(&req, &session, "Help"),
    };
    page(&HelpPage { layout, support })
}

pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}
