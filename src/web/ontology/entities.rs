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

fn entity_url(id: i64) -> String {
    format!("{}/{id}", urls::ENTITIES)
}

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
            Ok(see_other(&entity_url(e.id)))
        }
        Err(Refusal::Fields(refused)) => {
            list_page(&state, &user, form.name, form.description, refused.into(), StatusCode::UNPROCESSABLE_ENTITY)
                .await
        }
        Err(other) => Err(other.into()),
    }
}

// --- the entity's tabs ------------------------------------------------------

/// The three tabs of an entity page.
pub struct EntityTab {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

fn entity_tabs(e: &entities::Model, current: &str) -> Vec<EntityTab> {
    let base = entity_url(e.id);
    [("Spreadsheet", base.clone()), ("Sources", format!("{base}/sources")), ("Settings", format!("{base}/settings"))]
        .into_iter()
        .map(|(label, href)| EntityTab { current: label == current, label, href })
        .collect()
}

pub struct SheetTab {
    pub id: i64,
    pub label: String,
    pub href: String,
    pub current: bool,
}

/// The open spreadsheet tab.
pub struct OpenTab {
    pub tab: stream_tabs::Model,
    pub dataset_id: i64,
    pub rows: i64,
    pub ready: bool,
    pub last_sync: String,
    pub source: Option<(i64, String)>,
    pub rv: Option<RowsView>,
}

#[derive(Template)]
#[template(path = "ontology/entity.html")]
struct SpreadsheetPage {
    layout: Layout,
    e: entities::Model,
    tabs: Vec<EntityTab>,
    sheet_tabs: Vec<SheetTab>,
    open: Option<OpenTab>,
    /// This page's URL (what a `sheet-refresh` fetches again).
    here: String,
    progress: Vec<RunView>,
    can_publish: bool,
    can_edit: bool,
}

/// Syncs in progress on the entity's sources: what the page shows live.
async fn progress(state: &AppState, entity_id: i64) -> Result<Vec<RunView>, AppError> {
    let mut out = Vec::new();
    for s in store::sources_of_entity(&state.db, entity_id).await? {
        if let Some(run) = store::live_run(&state.db, s.id).await? {
            out.push(run_view(&s.name, &run));
        }
    }
    Ok(out)
}

async fn spreadsheet(
    state: &AppState,
    user: &CurrentUser,
    e: entities::Model,
    tab_id: Option<i64>,
    query: &ListQuery,
) -> Result<HttpResponse, AppError> {
    let tabs = store::tabs_of_entity(&state.db, e.id).await?;
    let chosen = match tab_id {
        Some(id) => Some(tabs.iter().find(|t| t.id == id).ok_or(AppError::NotFound)?.clone()),
        None => tabs.first().cloned(),
    };
    let sheet_tabs = tabs
        .iter()
        .map(|t| SheetTab {
            id: t.id,
            label: t.stream.clone(),
            href: format!("{}/tabs/{}", entity_url(e.id), t.id),
            current: chosen.as_ref().is_some_and(|c| c.id == t.id),
        })
        .collect();
    let open = match chosen {
        None => None,
        Some(tab) => {
            let ds = crate::store::datahub::dataset_any(&state.db, e.workspace_id, tab.dataset_id).await?;
            let ready = ds.as_ref().is_some_and(|d| d.state == "ready");
            let base = format!("{}/tabs/{}", entity_url(e.id), tab.id);
            let rv = match ds.as_ref().filter(|_| ready) {
                Some(d) => Some(rows_view(state, d, query, &base, &tab.stream).await?),
                None => None,
            };
            let source = match tab.source_id {
                Some(id) => store::source(&state.db, e.workspace_id, id).await?.map(|s| (s.id, s.name)),
                None => None,
            };
            Some(OpenTab {
                dataset_id: tab.dataset_id,
                rows: ds.as_ref().map_or(0, |d| d.row_count),
                ready,
                last_sync: tab.last_sync_at.map(fmt_time).unwrap_or_else(|| "not yet".into()),
                source,
                rv,
                tab,
            })
        }
    };
    let here = match &open {
        Some(o) => format!("{}/tabs/{}", entity_url(e.id), o.tab.id),
        None => entity_url(e.id),
    };
    let p = SpreadsheetPage {
        here,
        layout: Layout::for_user(user, e.name.clone()),
        tabs: entity_tabs(&e, "Spreadsheet"),
        sheet_tabs,
        open,
        progress: progress(state, e.id).await?,
        can_publish: user.can(Permission::HubKeysManage),
        can_edit: user.can(Permission::OntologyEdit),
        e,
    };
    render(StatusCode::OK, &p)
}

pub async fn show(
    state: web::Data<AppState>,
    user: Member<perm::DataRead>,
    id: web::Path<i64>,
    query: Params<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let e = find(&state, &user, *id).await?;
    spreadsheet(&state, &user, e, None, &query).await
}

#[derive(Template)]
#[template(path = "ontology/entity_progress.html")]
struct ProgressRegion {
    entity_id: i64,
    progress: Vec<RunView>,
    finished: bool,
}

/// `GET /ontology/entities/{id}/progress`: the live region alone, polled by
/// htmx while syncs run. The first answer without a run says the sync ended
/// and triggers `sheet-refresh`, which redraws the rows once — never the
/// search box, never while the user is reading a running sync's old rows.
pub async fn progress_region(
    state: web::Data<AppState>,
    user: Member<perm::DataRead>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let e = find(&state, &user, *id).await?;
    let progress = progress(&state, e.id).await?;
    let finished = progress.is_empty();
    let mut res = render(StatusCode::OK, &ProgressRegion { entity_id: e.id, progress, finished })?;
    if finished {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("hx-trigger"),
            actix_web::http::header::HeaderValue::from_static("sheet-refresh"),
        );
    }
    Ok(res)
}

pub async fn show_tab(
    state: web::Data<AppState>,
    user: Member<perm::DataRead>,
    path: web::Path<(i64, i64)>,
    query: Params<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let (id, tab) = path.into_inner();
    let e = find(&state, &user, id).await?;
    spreadsheet(&state, &user, e, Some(tab), &query).await
}

/// "Publish as a data collection": one click makes a collection over the
/// tab's dataset, then the user picks its endpoint on the collection page.
pub async fn publish(
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    path: web::Path<(i64, i64)>,
    CsrfForm(_): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let (id, tab_id) = path.into_inner();
    let e = find(&state, &user, id).await?;
    let tab = store::tab(&state.db, user.workspace_id(), tab_id)
        .await?
        .filter(|t| t.entity_id == Some(e.id))
        .ok_or(AppError::NotFound)?;
    let back = format!("{}/tabs/{}", entity_url(e.id), tab.id);
    let actor = &user.actor;
    for n in 1..50 {
        let name =
            if n == 1 { format!("{} {}", e.name, tab.stream) } else { format!("{} {} ({n})", e.name, tab.stream) };
        let input = crate::hub::manage::CollectionInput {
            name,
            description: format!("The {} tab of the entity {}.", tab.stream, e.name),
            dataset_id: Some(tab.dataset_id),
            default_limit: crate::domain::datahub::DEFAULT_LIMIT,
            max_limit: crate::domain::datahub::DEFAULT_MAX_LIMIT,
            ..Default::default()
        };
        match crate::hub::manage::save_collection(&state, actor, None, &input).await {
            Ok(c) => {
                Flash::push_about(
                    &user.session,
                    "success",
                    "Published as a data collection; choose its endpoint below",
                    Some(c.name.clone()),
                );
                return Ok(see_other(&format!("{}/{}", urls::COLLECTIONS, c.id)));
            }
            // The name is taken: try the next one.
            Err(Refusal::Fields(refused)) if refused.iter().any(|e| e.field == "name") => continue,
            Err(refused @ Refusal::Fields(_)) => {
                Flash::push(&user.session, "error", refused.to_string());
                return Ok(see_other(&back));
            }
            Err(other) => return Err(other.into()),
        }
    }
    Flash::push(
        &user.session,
        "error",
        "Every collection name tried is taken; create the collection under Data Hub → Data Collections.",
    );
    Ok(see_other(&back))
}

// --- Sources tab ------------------------------------------------------------

pub struct LinkedSource {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub status: String,
    pub streams: Vec<String>,
    /// What "remove them with their rows" deletes, named (dialog and page).
    pub remove_question: String,
}

/// "Unlink Shop and remove its 2 tabs with their rows: orders (50 rows), …?"
async fn remove_question(state: &AppState, s: &sources::Model) -> Result<String, AppError> {
    let mut parts = Vec::new();
    for tab in store::tabs_of_source(&state.db, s.id).await? {
        let rows = crate::store::datahub::dataset_any(&state.db, s.workspace_id, tab.dataset_id)
            .await?
            .map_or(0, |d| d.row_count.max(0) as u64);
        parts.push(format!("{} ({})", tab.stream, count(rows, "row", "rows")));
    }
    Ok(if parts.is_empty() {
        format!("Unlink {}? It has no tab here yet.", s.name)
    } else {
        format!(
            "Unlink {} and remove its {} with their rows: {}? They are no longer served.",
            s.name,
            count(parts.len() as u64, "tab", "tabs"),
            parts.join(", ")
        )
    })
}

#[derive(Template)]
#[template(path = "ontology/entity_sources.html")]
struct SourcesTab {
    layout: Layout,
    e: entities::Model,
    tabs: Vec<EntityTab>,
    linked: Vec<LinkedSource>,
    unlinked: Vec<(i64, String)>,
    can_edit: bool,
    errors: FieldErrors,
}

async fn sources_tab(
    state: &AppState,
    user: &CurrentUser,
    e: entities::Model,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let mut linked = Vec::new();
    for s in store::sources_of_entity(&state.db, e.id).await? {
        linked.push(LinkedSource {
            kind: crate::connectors::kind(&s.kind).map(|k| k.spec().name).unwrap_or("unknown kind"),
            streams: source_manage::chosen_streams(&s),
            remove_question: remove_question(state, &s).await?,
            id: s.id,
            name: s.name,
            status: s.status,
        });
    }
    let unlinked = store::sources(&state.db, e.workspace_id)
        .await?
        .into_iter()
        .filter(|s| s.entity_id.is_none())
        .map(|s| (s.id, s.name))
        .collect();
    let p = SourcesTab {
        layout: Layout::for_user(user, format!("{}: sources", e.name)),
        tabs: entity_tabs(&e, "Sources"),
        linked,
        unlinked,
        can_edit: user.can(Permission::OntologyEdit) && user.can(Permission::ConnectorsManage),
        errors,
        e,
    };
    render(status, &p)
}

pub async fn sources(
    state: web::Data<AppState>,
    user: Member<perm::DataRead>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let e = find(&state, &user, *id).await?;
    sources_tab(&state, &user, e, FieldErrors::default(), StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct LinkSourceForm {
    #[serde(default)]
    source_id: String,
}

pub async fn link_source(
    state: web::Data<AppState>,
    user: Member<(perm::DataRead, (perm::OntologyEdit, perm::ConnectorsManage))>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<LinkSourceForm>,
) -> Result<HttpResponse, AppError> {
    let e = find(&state, &user, *id).await?;
    let source = match form.source_id.parse::<i64>() {
        Ok(sid) => store::source(&state.db, user.workspace_id(), sid).await?,
        Err(_) => None,
    };
    let Some(s) = source else {
        return sources_tab(
            &state,
            &user,
            e,
            field_errors("source_id", "Choose a source to link.".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    source_manage::link(&state, &user.actor, &s, Some(e.id)).await?;
    Flash::push_about(
        &user.session,
        "success",
        "Linked the source; its streams are tabs of the spreadsheet",
        Some(s.name),
    );
    Ok(see_other(&format!("{}/sources", entity_url(e.id))))
}

#[derive(Deserialize)]
pub struct UnlinkForm {
    /// `keep` or `remove`.
    #[serde(default)]
    tabs: String,
    #[serde(default)]
    confirmed: String,
}

pub async fn unlink_source(
    state: web::Data<AppState>,
    user: Member<(perm::DataRead, (perm::OntologyEdit, perm::ConnectorsManage))>,
    path: web::Path<(i64, i64)>,
    CsrfForm(form): CsrfForm<UnlinkForm>,
) -> Result<HttpResponse, AppError> {
    let (id, sid) = path.into_inner();
    let e = find(&state, &user, id).await?;
    let s = store::source(&state.db, user.workspace_id(), sid)
        .await?
        .filter(|s| s.entity_id == Some(e.id))
        .ok_or(AppError::NotFound)?;
    if !matches!(form.tabs.as_str(), "keep" | "remove") {
        return sources_tab(
            &state,
            &user,
            e,
            field_errors(&format!("tabs-{sid}"), "Choose whether its tabs stay or go.".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    // Keeping the tabs loses nothing; removing them deletes their rows.
    if form.tabs == "remove" && form.confirmed != "yes" {
        return crate::web::confirm::ask(
            &user,
            crate::web::confirm::Confirmation {
                title: "Unlink source",
                question: remove_question(&state, &s).await?,
                subject: None,
                action: format!("{}/sources/{}/unlink", entity_url(e.id), s.id),
                button: "Unlink and remove tabs",
                fields: vec![("tabs", "remove".into())],
                back: format!("{}/sources", entity_url(e.id)),
            },
        );
    }
    source_manage::unlink(&state, &user.actor, &s, form.tabs == "keep").await?;
    let msg = if form.tabs == "keep" {
        "Unlinked the source; its tabs stay, no longer synced"
    } else {
        "Unlinked the source and removed its tabs"
    };
    Flash::push_about(&user.session, "success", msg, Some(s.name));
    Ok(see_other(&format!("{}/sources", entity_url(e.id))))
}

// --- Settings tab -----------------------------------------------------------

#[derive(Template)]
#[template(path = "ontology/entity_settings.html")]
struct SettingsTab {
    layout: Layout,
    e: entities::Model,
    tabs: Vec<EntityTab>,
    form: EntityForm,
    sheet_tabs: usize,
    sources: usize,
    can_edit: bool,
    errors: FieldErrors,
}

async fn settings_tab(
    state: &AppState,
    user: &CurrentUser,
    e: entities::Model,
    form: EntityForm,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let p = SettingsTab {
        layout: Layout::for_user(user, format!("{}: settings", e.name)),
        tabs: entity_tabs(&e, "Settings"),
        sheet_tabs: store::tabs_of_entity(&state.db, e.id).await?.len(),
        sources: store::sources_of_entity(&state.db, e.id).await?.len(),
        can_edit: user.can(Permission::OntologyEdit),
        form,
        errors,
        e,
    };
    render(status, &p)
}

pub async fn settings(
    state: web::Data<AppState>,
    user: Member<perm::DataRead>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let e = find(&state, &user, *id).await?;
    let form = EntityForm { name: e.name.clone(), description: e.description.clone() };
    settings_tab(&state, &user, e, form, FieldErrors::default(), StatusCode::OK).await
}

pub async fn save_settings(
    state: web::Data<AppState>,
    user: Member<(perm::OntologyEdit, perm::DataRead)>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<EntityForm>,
) -> Result<HttpResponse, AppError> {
    let e = find(&state, &user, *id).await?;
    match ontology::save(&state, &user.actor, Some(e.id), &form.name, &form.description).await {
        Ok(saved) => {
            Flash::push_about(&user.session, "success", "Saved the entity", Some(saved.name));
            Ok(see_other(&format!("{}/settings", entity_url(e.id))))
        }
        Err(Refusal::Fields(refused)) => {
            settings_tab(&state, &user, e, form, refused.into(), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn delete(
    state: web::Data<AppState>,
    user: Member<perm::OntologyEdit>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let e = find(&state, &user, *id).await?;
    if !form.yes() {
        let tabs = store::tabs_of_entity(&state.db, e.id).await?.len();
        return crate::web::confirm::ask(
            &user,
            crate::web::confirm::Confirmation {
                title: "Delete entity",
                question: format!(
                    "Delete this entity with its {} and their rows? Linked sources stay, unlinked.",
                    count(tabs as u64, "spreadsheet tab", "spreadsheet tabs")
                ),
                subject: Some(e.name.clone()),
                action: format!("{}/delete", entity_url(e.id)),
                button: "Delete entity",
                fields: vec![],
                back: format!("{}/settings", entity_url(e.id)),
            },
        );
    }
    ontology::delete(&state, &user.actor, &e).await?;
    Flash::push_about(&user.session, "success", "Deleted the entity", Some(e.name.clone()));
    Ok(see_other(urls::ENTITIES))
}
