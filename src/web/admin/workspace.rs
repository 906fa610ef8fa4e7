//! `Admin → Workspace`: the workspace's name (renaming is audited; look-alike
//! names of other workspaces are refused as when creating one).
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::{CurrentUser, Member, perm};
use crate::domain::WorkspaceName;
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, render, see_other, urls};

#[derive(Template)]
#[template(path = "admin/workspace.html")]
struct WorkspacePage {
    layout: Layout,
    workspace: String,
    slug: String,
    /// The default rate limit for new keys, as typed or saved.
    limit_requests: String,
    limit_window: String,
    errors: FieldErrors,
}

/// The default limit's two fields as saved.
async fn saved_limit(state: &AppState, user: &CurrentUser) -> Result<(String, String), AppError> {
    let limits = crate::workspaces::default_limits(state, user.workspace_id()).await?;
    let (r, w, _) = crate::hub::keys::limit_texts(&limits);
    Ok((r, w))
}

async fn current_slug(state: &AppState, user: &CurrentUser) -> Result<String, AppError> {
    Ok(crate::store::workspaces::find(&state.db, user.workspace_id()).await?.and_then(|w| w.slug).unwrap_or_default())
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
) -> Result<HttpResponse, AppError> {
    let saved_slug = current_slug(&state, &user).await?;
    let (mut limit_requests, mut limit_window) = saved_limit(&state, &user).await?;
    let (name, slug, errors) = match crate::web::retry::take(&req, urls::WORKSPACE_SETTINGS) {
        Some(r) => {
            let slug = if r.errors.get("slug").is_some() { r.value("slug") } else { saved_slug };
            if r.errors.has("rate_limit_requests") || r.errors.has("rate_limit_window") {
                (limit_requests, limit_window) = (r.value("rate_limit_requests"), r.value("rate_limit_window"));
            }
            (r.value("name"), slug, r.errors)
        }
        None => (user.membership.workspace_name.clone(), saved_slug, FieldErrors::default()),
    };
    let page = WorkspacePage {
        layout: Layout::for_user(&user, "Workspace"),
        workspace: name,
        slug,
        limit_requests,
        limit_window,
        errors,
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct SlugForm {
    #[serde(default)]
    pub slug: String,
}

/// Changes the `{workspace}` of Data Hub URLs; callers using the old one get 404.
pub async fn change_slug(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    CsrfForm(form): CsrfForm<SlugForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let old = current_slug(&state, &user).await?;
    if let Some(slug) = errors.check("slug", crate::domain::datahub::parse_slug(&form.slug)) {
        if slug == old {
            return Ok(see_other(urls::WORKSPACE_SETTINGS));
        }
        match crate::workspaces::set_slug(&state, &user.actor, &user.membership.workspace_name, &old, &slug).await {
            Ok(()) => {
                let now = Some(format!("/hub/{slug}/"));
                Flash::push_about(&user.session, "success", "Data Hub URLs now start with", now);
                return Ok(see_other(urls::WORKSPACE_SETTINGS));
            }
            Err(Refusal::Fields(refused)) => errors.extend(refused),
            Err(other) => return Err(other.into()),
        }
    }
    if let Some(back) = crate::web::retry::back_to(
        &req,
        urls::WORKSPACE_SETTINGS,
        &[("slug", &form.slug), ("name", &user.membership.workspace_name)],
        &errors,
    ) {
        return Ok(back);
    }
    let (limit_requests, limit_window) = saved_limit(&state, &user).await?;
    let page = WorkspacePage {
        layout: Layout::for_user(&user, "Workspace"),
        workspace: user.membership.workspace_name.clone(),
        slug: form.slug,
        limit_requests,
        limit_window,
        errors,
    };
    render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    pub name: String,
}

pub async fn rename(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    CsrfForm(form): CsrfForm<RenameForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    if let Some(name) = errors.check("name", WorkspaceName::parse(&form.name)) {
        let old = user.membership.workspace_name.clone();
        match crate::workspaces::rename(&state, &user.actor, &old, &name).await {
            Ok(()) => {
                let now = Some(name.as_str().to_owned());
                Flash::push_about(&user.session, "success", "The workspace is now called", now);
                return Ok(see_other(urls::WORKSPACE_SETTINGS));
            }
            Err(Refusal::Fields(refused)) => errors.extend(refused),
            Err(other) => return Err(other.into()),
        }
    }
    if let Some(back) = crate::web::retry::back_to(&req, urls::WORKSPACE_SETTINGS, &[("name", &form.name)], &errors) {
        return Ok(back);
    }
    let (limit_requests, limit_window) = saved_limit(&state, &user).await?;
    let page = WorkspacePage {
        layout: Layout::for_user(&user, "Workspace"),
        workspace: form.name,
        slug: current_slug(&state, &user).await?,
        limit_requests,
        limit_window,
        errors,
    };
    render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

#[derive(Deserialize)]
pub struct LimitForm {
    #[serde(default)]
    pub rate_limit_requests: String,
    #[serde(default)]
    pub rate_limit_window: String,
}

/// The rate limit new keys start with (both fields empty: none).
pub async fn set_limit(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    CsrfForm(form): CsrfForm<LimitForm>,
) -> Result<HttpResponse, AppError> {
    let name = user.membership.workspace_name.clone();
    match crate::workspaces::set_default_limit(
        &state,
        &user.actor,
        &name,
        &form.rate_limit_requests,
        &form.rate_limit_window,
    )
    .await
    {
        Ok(()) => {
            Flash::push(&user.session, "success", "Saved: new keys start with this limit.");
            Ok(see_other(urls::WORKSPACE_SETTINGS))
        }
        Err(Refusal::Fields(refused)) => {
            let mut errors = FieldErrors::default();
            errors.extend(refused);
            let kept = [
                ("rate_limit_requests", form.rate_limit_requests.as_str()),
                ("rate_limit_window", &form.rate_limit_window),
                ("name", &name),
            ];
            if let Some(back) = crate::web::retry::back_to(&req, urls::WORKSPACE_SETTINGS, &kept, &errors) {
                return Ok(back);
            }
            let page = WorkspacePage {
                layout: Layout::for_user(&user, "Workspace"),
                workspace: name,
                slug: current_slug(&state, &user).await?,
                limit_requests: form.rate_limit_requests,
                limit_window: form.rate_limit_window,
                errors,
            };
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(other) => Err(other.into()),
    }
}
