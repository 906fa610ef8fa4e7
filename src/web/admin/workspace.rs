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
    errors: FieldErrors,
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
    let (name, slug, errors) = match crate::web::retry::take(&req, urls::WORKSPACE_SETTINGS) {
        Some(r) => {
            let slug = if r.errors.get("slug").is_some() { r.value("slug") } else { saved_slug };
            (r.value("name"), slug, r.errors)
        }
        None => (user.membership.workspace_name.clone(), saved_slug, FieldErrors::default()),
    };
    render(
        StatusCode::OK,
        &WorkspacePage { layout: Layout::for_user(&user, "Workspace"), workspace: name, slug, errors },
    )
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
    let page = WorkspacePage {
        layout: Layout::for_user(&user, "Workspace"),
        workspace: user.membership.workspace_name.clone(),
        slug: form.slug,
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
    let page = WorkspacePage {
        layout: Layout::for_user(&user, "Workspace"),
        workspace: form.name,
        slug: current_slug(&state, &user).await?,
        errors,
    };
    render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
