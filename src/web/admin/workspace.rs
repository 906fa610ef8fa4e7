//! `Admin → Workspace`: the workspace's name (renaming is audited; look-alike
//! names of other workspaces are refused as when creating one).
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::{CurrentUser, require};
use crate::domain::{Permission, WorkspaceName};
use crate::state::AppState;
use crate::store::audit::Target;
use crate::web::views::event_by;
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, render, see_other, urls};

#[derive(Template)]
#[template(path = "admin/workspace.html")]
struct WorkspacePage {
    layout: Layout,
    workspace: String,
    errors: FieldErrors,
}

pub async fn show(req: HttpRequest, user: CurrentUser) -> Result<HttpResponse, AppError> {
    require(&user, Permission::MembersManage)?;
    let (name, errors) = match crate::web::retry::take(&req, urls::WORKSPACE_SETTINGS) {
        Some(r) => (r.value("name"), r.errors),
        None => (user.membership.workspace_name.clone(), FieldErrors::default()),
    };
    render(StatusCode::OK, &WorkspacePage { layout: Layout::for_user(&user, "Workspace"), workspace: name, errors })
}

#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    pub name: String,
}

pub async fn rename(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<RenameForm>,
) -> Result<HttpResponse, AppError> {
    require(&user, Permission::MembersManage)?;
    let mut errors = FieldErrors::default();
    if let Some(name) = errors.check("name", WorkspaceName::parse(&form.name)) {
        let old = user.membership.workspace_name.clone();
        if crate::store::workspaces::rename(&state.db, user.workspace_id(), &name).await? {
            let target = Target { kind: "workspace", id: user.workspace_id(), name: name.as_str().to_owned() };
            let event = event_by(&user, &req, &state, "workspace.renamed", Some(target), format!("Renamed from “{old}”."));
            crate::store::audit::record(&state.db, event).await?;
            Flash::push_about(&user.session, "success", "The workspace is now called", Some(name.as_str().to_owned()));
            return Ok(see_other(urls::WORKSPACE_SETTINGS));
        }
        errors.add("name", "Another workspace has this name or one that looks the same. Choose another name.");
    }
    if let Some(back) = crate::web::retry::back_to(&req, urls::WORKSPACE_SETTINGS, &[("name", &form.name)], &errors) {
        return Ok(back);
    }
    let page = WorkspacePage { layout: Layout::for_user(&user, "Workspace"), workspace: form.name, errors };
    render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
