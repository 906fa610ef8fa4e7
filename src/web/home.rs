//! `/`: first run leads to setup, a visitor to sign-in, a member to the dashboard.
use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web, FromRequest};
use askama::Template;

use crate::state::AppState;
use crate::auth::{CurrentUser, keys};
use crate::domain::Permission;
use crate::web::{AppError, Layout, page, see_other, urls};

#[derive(Template)]
#[template(path = "home.html")]
struct Dashboard {
    layout: Layout,
    role: &'static str,
    permissions: Vec<&'static str>,
}

pub async fn home(req: HttpRequest, state: web::Data<AppState>, session: Session) -> Result<HttpResponse, AppError> {
    if !crate::store::users::any_exists(&state.db).await? {
        return Ok(see_other(urls::SETUP));
    }
    if session.get::<i64>(keys::USER_ID).ok().flatten().is_none() {
        return Ok(see_other(urls::LOGIN));
    }
    let user = CurrentUser::extract(&req).await?;
    let permissions = Permission::ALL.into_iter().filter(|p| user.can(*p)).map(Permission::as_str).collect();
    page(&Dashboard {
        layout: Layout::for_user(&user, "Dashboard"),
        role: user.membership.role.as_str(),
        permissions,
    })
}

pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}
