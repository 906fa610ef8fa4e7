//! `Ontology → Entities`: the list, and an entity's tabs — Spreadsheet (one
//! tab per linked stream), Sources (link, unlink) and Settings (rename,
//! describe, delete). `data.read` views, `ontology.edit` changes.
use crate::web::params::Params;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::web::live_data::progress::{RunView, run_view};
use serde::Deserialize;

use crate::auth::{CurrentUser, Member, perm};
use crate::connectors::sources as source_manage;
use crate::domain::Permission;
use crate::domain::query::count;
use crate::entities::{ontology_entities as entities, sources, stream_tabs};
use crate::ontology;
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::live_data as store;
use crate::web::confirm::Confirmed;
use crate::web::datahub::datasets::{RowsView, rows_view};
use crate::web::views::{ListQuery, fmt_time};
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, render, see_other, urls};

mod spreadsheet;
pub use spreadsheet::*;
mod sources_tab;
pub use sources_tab::*;
mod settings;
pub use settings::*;

async fn find(state: &AppState, user: &CurrentUser, id: i64) -> Result<entities::Model, AppError> {
    store::entity(&state.db, user.workspace_id(), id).await?.ok_or(AppError::NotFound)
}

fn field_errors(f: &str, m: String) -> FieldErrors {
    let mut e = FieldErrors::default();
    e.add(f, m);
    e
}

// --- the list ---------------------------------------------------------------

pub struct EntityItem {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub tabs: usize,
    pub sources: usize,
}

#[derive(Template)]
#[template(path = "ontology/entities.html")]
struct ListPage {
    layout: Layout,
    entities: Vec<EntityItem>,
    can_edit: bool,
    name: String,
    description: String,
    errors: FieldErrors,
}

async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    name: String,
    description: String,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let mut items = Vec::new();
    for e in store::entities(&state.db, user.workspace_id()).await? {
        items.push(EntityItem {
            tabs: store::tabs_of_entity(&state.db, e.id).await?.len(),
            sources: store::sources_of_entity(&state.db, e.id).await?.len(),
            id: e.id,
            name: e.name,
            description: e.description,
        });
    }
    let p = ListPage {
        layout: Layout::for_user(user, "Entities"),
        entities: items,
        can_edit: user.can(Permission::OntologyEdit),
        name,
        description,
        errors,
    };
    render(status, &p)
}

pub async fn list(state: web::Data<AppState>, user: Member<perm::DataRead>) -> Result<HttpResponse, AppError> {
    list_page(&state, &user, String::new(), String::new(), FieldErrors::default(), StatusCode::OK).await
}

#[derive(Deserialize, Default)]
pub struct EntityForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn create(
    state: web::Data<AppState>,
    user: Member<perm::OntologyEdit>,
    CsrfForm(form): CsrfForm<EntityForm>,
) -> Result<HttpResponse, AppError> {
    match ontology::save(&state, &user.actor, None, &form.name, &form.description).await {
        Ok(e) => {
            Flash::push_about(&user.session, "success", "Created the entity", Some(e.name.clone()));
            Ok(see_other(&urls::entity(e.id)))
        }
        Err(Refusal::Fields(refused)) => {
            list_page(&state, &user, form.name, form.description, refused.into(), StatusCode::UNPROCESSABLE_ENTITY)
                .await
        }
        Err(other) => Err(other.into()),
    }
}
