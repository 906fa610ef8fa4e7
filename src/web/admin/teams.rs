//! `Admin → Teams`: named groups of members that portal tokens can name.
//! Changing a team is in force for the very next data request.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::{CurrentUser, Member, perm};
use crate::hub::keys as manage;
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::web::confirm::Confirmed;
use crate::web::urls;
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, render, see_other};

pub const TEAMS: &str = crate::web::urls::TEAMS;

#[derive(Deserialize, Default)]
pub struct TeamForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    member_ids: Vec<String>,
}

impl TeamForm {
    fn ids(&self) -> Vec<i64> {
        self.member_ids.iter().filter_map(|s| s.parse().ok()).collect()
    }
}

pub struct MemberCheck {
    pub id: i64,
    pub label: String,
    pub checked: bool,
}

pub struct TeamItem {
    pub id: i64,
    pub name: String,
    pub members: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/teams.html")]
struct TeamsPage {
    layout: Layout,
    teams: Vec<TeamItem>,
    /// The team being edited, when on its page.
    editing: Option<i64>,
    form: TeamForm,
    members: Vec<MemberCheck>,
    errors: FieldErrors,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    editing: Option<i64>,
    form: TeamForm,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let ws = user.workspace_id();
    let all = crate::store::members::list(&state.db, ws).await?;
    let name_of = |id: i64| {
        all.iter()
            .find(|m| m.member.user_id == id)
            .map(|m| format!("{} <{}>", m.display_name, m.email))
            .unwrap_or_else(|| format!("user {id}"))
    };
    let mut teams = Vec::new();
    for t in crate::store::teams::list(&state.db, ws).await? {
        let members = crate::store::teams::members(&state.db, t.id).await?.into_iter().map(name_of).collect();
        teams.push(TeamItem { id: t.id, name: t.name, members });
    }
    let members = all
        .iter()
        .map(|m| MemberCheck {
            id: m.member.user_id,
            label: format!("{} <{}>", m.display_name, m.email),
            checked: form.member_ids.contains(&m.member.user_id.to_string()),
        })
        .collect();
    let title = if editing.is_some() { "Edit team" } else { "Teams" };
    render(status, &TeamsPage { layout: Layout::for_user(user, title), teams, editing, form, members, errors })
}

pub async fn list(
    state: web::Data<AppState>,
    user: Member<perm::Either<perm::HubKeysManage, perm::MembersManage>>,
) -> Result<HttpResponse, AppError> {
    page(&state, &user, None, TeamForm::default(), FieldErrors::default(), StatusCode::OK).await
}

pub async fn show(
    state: web::Data<AppState>,
    user: Member<perm::Either<perm::HubKeysManage, perm::MembersManage>>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let t = crate::store::teams::find(&state.db, user.workspace_id(), *id).await?.ok_or(AppError::NotFound)?;
    let ids = crate::store::teams::members(&state.db, t.id).await?;
    let form = TeamForm { name: t.name, member_ids: ids.iter().map(i64::to_string).collect() };
    page(&state, &user, Some(t.id), form, FieldErrors::default(), StatusCode::OK).await
}

async fn save(
    state: &AppState,
    user: &CurrentUser,
    by: &Actor,
    id: Option<i64>,
    form: TeamForm,
) -> Result<HttpResponse, AppError> {
    match manage::save_team(state, by, id, &form.name, &form.ids()).await {
        Ok(t) => {
            Flash::push_about(
                &user.session,
                "success",
                if id.is_none() { "Created the team" } else { "Saved the team" },
                Some(t.name),
            );
            Ok(see_other(TEAMS))
        }
        Err(Refusal::Fields(errs)) => page(state, user, id, form, errs.into(), StatusCode::UNPROCESSABLE_ENTITY).await,
        Err(other) => Err(other.into()),
    }
}

pub async fn create(
    state: web::Data<AppState>,
    user: Member<perm::Either<perm::HubKeysManage, perm::MembersManage>>,
    CsrfForm(form): CsrfForm<TeamForm>,
) -> Result<HttpResponse, AppError> {
    save(&state, &user, &user.actor, None, form).await
}

pub async fn update(
    state: web::Data<AppState>,
    user: Member<perm::Either<perm::HubKeysManage, perm::MembersManage>>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<TeamForm>,
) -> Result<HttpResponse, AppError> {
    let t = crate::store::teams::find(&state.db, user.workspace_id(), *id).await?.ok_or(AppError::NotFound)?;
    save(&state, &user, &user.actor, Some(t.id), form).await
}

pub async fn delete(
    state: web::Data<AppState>,
    user: Member<perm::Either<perm::HubKeysManage, perm::MembersManage>>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let t = crate::store::teams::find(&state.db, user.workspace_id(), *id).await?.ok_or(AppError::NotFound)?;
    if !form.yes() {
        return crate::web::confirm::ask(
            &user,
            crate::web::confirm::Confirmation {
                title: "Delete team",
                question: "Delete this team? Portal tokens that name it stop admitting its members at once.".into(),
                subject: Some(t.name.clone()),
                action: urls::team_action(t.id, "delete"),
                button: "Delete team",
                fields: vec![],
                back: urls::team(t.id),
            },
        );
    }
    manage::delete_team(&state, &user.actor, &t).await?;
    Flash::push_about(&user.session, "success", "Deleted the team", Some(t.name));
    Ok(see_other(TEAMS))
}
