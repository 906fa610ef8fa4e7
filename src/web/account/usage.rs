//! `Your account → API keys → Usage`: one of the user's own personal keys,
//! its calls over time, refusals, endpoints and last requests.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::auth::CurrentUser;
use crate::domain::usage::KeyRef;
use crate::state::AppState;
use crate::usage::report::Scope;
use crate::web::params::Params;
use crate::web::usage::{PeriodQuery, UsageView, build};
use crate::web::{AppError, Layout, render};

#[derive(Template)]
#[template(path = "account/key_usage.html")]
struct KeyUsagePage {
    layout: Layout,
    label: String,
    identifier: String,
    usage: UsageView,
    base: String,
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<i64>,
    q: Params<PeriodQuery>,
) -> Result<HttpResponse, AppError> {
    let ws = user.workspace_id();
    // Only the owner's own keys: another's is not found, not refused.
    let k = crate::store::keys::find(&state.db, ws, *id, Some(user.user.id)).await?.ok_or(AppError::NotFound)?;
    let usage = build(&state, Scope::Key(ws, KeyRef::Personal(k.id)), q.period.as_deref()).await?;
    let page = KeyUsagePage {
        layout: Layout::for_user(&user, format!("Usage of {}", k.label)),
        label: k.label,
        identifier: k.identifier,
        usage,
        base: crate::web::urls::personal_key_usage(*id),
    };
    render(StatusCode::OK, &page)
}
