//! `Data Hub → Usage` (the workspace's calls: top keys, refusals by reason,
//! a chart) and a hub key's Usage tab. Both read the flushed counters.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::auth::{Member, perm};
use crate::domain::usage::KeyRef;
use crate::state::AppState;
use crate::usage::report::Scope;
use crate::web::params::Params;
use crate::web::usage::{PeriodQuery, UsageView, build};
use crate::web::{AppError, Layout, render};

#[derive(Template)]
#[template(path = "datahub/usage.html")]
struct WorkspaceUsagePage {
    layout: Layout,
    usage: UsageView,
    base: String,
}

pub async fn workspace(
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    q: Params<PeriodQuery>,
) -> Result<HttpResponse, AppError> {
    let usage = build(&state, Scope::Workspace(user.workspace_id()), q.period.as_deref()).await?;
    let page = WorkspaceUsagePage {
        layout: Layout::for_user(&user, "Usage"),
        usage,
        base: crate::web::urls::DATAHUB_USAGE.to_owned(),
    };
    render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "datahub/key_usage.html")]
struct KeyUsagePage {
    layout: Layout,
    id: i64,
    name: String,
    endpoints: usize,
    usage: UsageView,
    base: String,
}

/// The key editor's Usage tab.
pub async fn hub_key(
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
    q: Params<PeriodQuery>,
) -> Result<HttpResponse, AppError> {
    let ws = user.workspace_id();
    let k = crate::store::hub_keys::find(&state.db, ws, *id).await?.ok_or(AppError::NotFound)?;
    let endpoints = crate::store::hub_keys::links(&state.db, k.id).await?.endpoint_ids.len();
    let usage = build(&state, Scope::Key(ws, KeyRef::Hub(k.id)), q.period.as_deref()).await?;
    let page = KeyUsagePage {
        layout: Layout::for_user(&user, format!("Usage of {}", k.name)),
        id: k.id,
        name: k.name,
        endpoints,
        usage,
        base: crate::web::urls::hub_key_usage(*id),
    };
    render(StatusCode::OK, &page)
}
