//! `Live Data → Connectors` (the catalogue), the four-step wizard and
//! `Live Data → Data Sources`. Every step has its own URL; the source is a
//! draft from step 1 on, so refresh, back and "continue later" work. Plain
//! forms and redirects carry the journey; htmx only swaps the test result.
use crate::web::params::Params;
use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::progress::{RunView, run_view};
use crate::auth::{CurrentUser, Member, perm};
use crate::connectors::errors::Report;
use crate::connectors::sources::{self as manage, SourceInput};
use crate::connectors::{ConnectorError, FieldKind, REGISTRY, Spec};
use crate::domain::Permission;
use crate::entities::sources;
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::live_data as store;
use crate::web::views::fmt_time;
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, is_htmx, render, see_other, urls};

fn source_url(id: i64) -> String {
    format!("{}/{id}", urls::SOURCES)
}

async fn find(state: &AppState, user: &CurrentUser, id: i64) -> Result<sources::Model, AppError> {
    store::source(&state.db, user.workspace_id(), id).await?.ok_or(AppError::NotFound)
}

/// The wizard's steps, for the step indicator.
pub struct Step {
    pub number: u8,
    pub label: &'static str,
    pub href: Option<String>,
    pub current: bool,
    pub done: bool,
}

fn steps(s: Option<&sources::Model>, current: u8) -> Vec<Step> {
    let tested = s.is_some_and(|s| manage::last_test(s).is_some_and(|t| t.ok));
    let chosen = s.is_some_and(|s| !manage::chosen_streams(s).is_empty());
    let id = s.map(|s| s.id);
    [
        (1, "Credentials", "credentials", true),
        (2, "Test connection", "test", id.is_some()),
        (3, "Streams", "streams", tested),
        (4, "Link and activate", "link", tested && chosen),
    ]
    .into_iter()
    .map(|(n, label, path, reachable)| Step {
        number: n,
        label,
        href: id.filter(|_| reachable).map(|id| format!("{}/{path}", source_url(id))),
        current: n == current,
        done: match n {
            1 => id.is_some(),
            2 => tested,
            3 => chosen,
            _ => s.is_some_and(|s| s.status != manage::DRAFT),
        },
    })
    .collect()
}

// --- catalogue --------------------------------------------------------------

pub struct Card {
    pub kind: &'static str,
    pub name: &'static str,
    pub reads: &'static str,
    pub auth: &'static str,
}

#[derive(Template)]
#[template(path = "live_data/catalogue.html")]
struct CataloguePage {
    layout: Layout,
    cards: Vec<Card>,
}

pub async fn catalogue(user: Member<perm::ConnectorsManage>) -> Result<HttpResponse, AppError> {
    let cards = REGISTRY
        .iter()
        .map(|c| c.spec())
        .map(|s| Card { kind: s.kind, name: s.name, reads: s.reads, auth: s.auth })
        .collect();
    render(StatusCode::OK, &CataloguePage { layout: Layout::for_user(&user, "Connectors"), cards })
}

// --- Data Sources -----------------------------------------------------------

pub struct SourceItem {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub status: String,
    pub entity: Option<(i64, String)>,
    pub last_sync: String,
    pub records: i64,
    pub live: Option<RunView>,
    pub schedule: String,
    pub next_sync: Option<String>,
    pub next_step: String,
}

#[derive(Template)]
#[template(path = "live_data/sources.html")]
struct SourcesPage {
    layout: Layout,
    sources: Vec<SourceItem>,
    any_live: bool,
}

fn kind_name(kind: &str) -> &'static str {
    crate::connectors::kind(kind).map(|k| k.spec().name).unwrap_or("unknown kind")
}

/// Where a draft continues.
fn next_step(s: &sources::Model) -> String {
    let url = source_url(s.id);
    if !manage::last_test(s).is_some_and(|t| t.ok) {
        format!("{url}/test")
    } else if manage::chosen_streams(s).is_empty() {
        format!("{url}/streams")
    } else {
        format!("{url}/link")
    }
}

pub async fn list(state: web::Data<AppState>, user: Member<perm::ConnectorsManage>) -> Result<HttpResponse, AppError> {
    let ws = user.workspace_id();
    let entities = store::entities(&state.db, ws).await?;
    let mut items = Vec::new();
    for s in store::sources(&state.db, ws).await? {
        let mut records = 0;
        for tab in store::tabs_of_source(&state.db, s.id).await? {
            records +=
                crate::store::datahub::dataset_any(&state.db, ws, tab.dataset_id).await?.map_or(0, |d| d.row_count);
        }
        items.push(SourceItem {
            id: s.id,
            name: s.name.clone(),
            kind: kind_name(&s.kind),
            status: s.status.clone(),
            entity: s.entity_id.and_then(|id| entities.iter().find(|e| e.id == id)).map(|e| (e.id, e.name.clone())),
            last_sync: s.last_sync_at.map(fmt_time).unwrap_or_else(|| "never".into()),
            records,
            live: store::live_run(&state.db, s.id).await?.map(|r| run_view(&s.name, &r)),
            schedule: schedule_words(&s),
            next_sync: next_sync(&s),
            next_step: next_step(&s),
        });
    }
    let any_live = items.iter().any(|i| i.live.is_some());
    render(StatusCode::OK, &SourcesPage { layout: Layout::for_user(&user, "Data Sources"), sources: items, any_live })
}

// --- step 1: credentials ----------------------------------------------------

/// A field of the kind's spec, ready for the form.
pub struct FormField {
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    /// `url`, `text`, `password` or `select`.
    pub input: &'static str,
    pub value: String,
    pub required: bool,
    /// Secret fields: "saved, ending in ••••1234".
    pub saved: Option<String>,
    pub options: Vec<(&'static str, &'static str)>,
    pub placeholder: &'static str,
}

fn form_fields(spec: &Spec, values: &BTreeMap<String, String>, hints: &BTreeMap<String, String>) -> Vec<FormField> {
    spec.fields
        .iter()
        .map(|f| FormField {
            name: f.name,
            label: f.label,
            help: f.help,
            input: match f.kind {
                FieldKind::Url => "url",
                FieldKind::Text => "text",
                FieldKind::Secret => "password",
                FieldKind::Choice(_) => "select",
            },
            // A secret is never rendered back, not even after a refused save.
            value: if f.secret() { String::new() } else { values.get(f.name).cloned().unwrap_or_default() },
            required: f.required,
            saved: if f.secret() { hints.get(f.name).map(|h| manage::mask(h)) } else { None },
            options: match f.kind {
                FieldKind::Choice(o) => o.to_vec(),
                _ => Vec::new(),
            },
            placeholder: f.default,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "live_data/credentials.html")]
struct CredentialsPage {
    layout: Layout,
    steps: Vec<Step>,
    source_id: Option<i64>,
    kind: &'static str,
    kind_name: &'static str,
    auth: &'static str,
    name: String,
    fields: Vec<FormField>,
    errors: FieldErrors,
}

#[derive(Deserialize)]
pub struct KindQuery {
    #[serde(default)]
    kind: String,
}

#[allow(clippy::too_many_arguments)]
fn credentials_page(
    user: &CurrentUser,
    s: Option<&sources::Model>,
    spec: &'static Spec,
    name: String,
    values: &BTreeMap<String, String>,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let hints = s.map(manage::secret_hints).unwrap_or_default();
    let p = CredentialsPage {
        layout: Layout::for_user(user, format!("Connect {}: credentials", spec.name)),
        steps: steps(s, 1),
        source_id: s.map(|s| s.id),
        kind: spec.kind,
        kind_name: spec.name,
        auth: spec.auth,
        name,
        fields: form_fields(spec, values, &hints),
        errors,
    };
    render(status, &p)
}

pub async fn new(user: Member<perm::ConnectorsManage>, q: Params<KindQuery>) -> Result<HttpResponse, AppError> {
    let Some(kind) = crate::connectors::kind(&q.kind) else { return Ok(see_other(urls::CONNECTORS)) };
    credentials_page(&user, None, kind.spec(), String::new(), &BTreeMap::new(), FieldErrors::default(), StatusCode::OK)
}

pub async fn credentials(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let s = find(&state, &user, *id).await?;
    let kind = crate::connectors::kind(&s.kind).ok_or(AppError::NotFound)?;
    credentials_page(
        &user,
        Some(&s),
        kind.spec(),
        s.name.clone(),
        &manage::plain_config(&s),
        FieldErrors::default(),
        StatusCode::OK,
    )
}

/// `kind`, `name` and `cfg.<field>` pairs.
fn input_of(form: &[(String, String)], kind: &str) -> SourceInput {
    let mut input = SourceInput { kind: kind.to_owned(), ..Default::default() };
    for (k, v) in form {
        if k == "name" {
            input.name = v.clone();
        } else if let Some(f) = k.strip_prefix("cfg.") {
            input.config.insert(f.to_owned(), v.clone());
        }
    }
    input
}

async fn save(
    state: &AppState,
    user: &CurrentUser,
    by: &Actor,
    existing: Option<sources::Model>,
    input: SourceInput,
) -> Result<HttpResponse, AppError> {
    let spec = crate::connectors::kind(&input.kind).ok_or(AppError::BadRequest)?.spec();
    match manage::save_credentials(state, by, existing.as_ref(), &input).await {
        Ok(manage::Saved { source: s, cleared }) => {
            if !cleared.is_empty() {
                // Back to the credentials form: the key must be entered again.
                Flash::push_about(&user.session, "error", manage::cleared_sentence(&cleared), Some(s.name.clone()));
                return Ok(see_other(&format!("{}/credentials", source_url(s.id))));
            }
            let said = if s.status == manage::DRAFT {
                "Saved the source as a draft"
            } else {
                "Saved the credentials; test the connection again"
            };
            Flash::push_about(&user.session, "success", said, Some(s.name.clone()));
            Ok(see_other(&format!("{}/test", source_url(s.id))))
        }
        Err(Refusal::Fields(errs)) => {
            let errors = FieldErrors::from(errs);
            credentials_page(
                user,
                existing.as_ref(),
                spec,
                input.name.clone(),
                &input.config,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn create(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let kind = form.iter().find(|(k, _)| k == "kind").map(|(_, v)| v.clone()).unwrap_or_default();
    if crate::connectors::kind(&kind).is_none() {
        return Ok(see_other(urls::CONNECTORS));
    }
    save(&state, &user, &user.actor, None, input_of(&form, &kind)).await
}

pub async fn update_credentials(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let s = find(&state, &user, *id).await?;
    let input = input_of(&form, &s.kind);
    save(&state, &user, &user.actor, Some(s), input).await
}

// --- step 2: test connection ------------------------------------------------

#[derive(Template)]
#[template(path = "live_data/test.html")]
struct TestPage {
    layout: Layout,
    steps: Vec<Step>,
    s: sources::Model,
    kind_name: &'static str,
    tested: Option<String>,
    ok: Option<usize>,
    error: Option<Report>,
    /// The record the test read: stream, and (field, value) pairs.
    sample: Option<(String, Vec<(String, String)>)>,
    /// The connector guide's common errors, the current one marked.
    guide: Vec<GuideRow>,
}

/// A row of the connector guide's table of common errors.
pub struct GuideRow {
    pub error: &'static str,
    pub cause: &'static str,
    pub solution: &'static str,
    pub current: bool,
}

/// The connector guide's table (401, 403, timeout), with the row of the
/// test's error marked.
fn guide(current: Option<&str>) -> Vec<GuideRow> {
    [
        (
            "unauthorized",
            "401 Unauthorized",
            "Invalid or expired API key",
            "Regenerate the key in the provider's console, then paste it under Credentials.",
        ),
        (
            "forbidden",
            "403 Forbidden",
            "Insufficient scopes or permissions",
            "Check the key's permissions (scopes) at the provider.",
        ),
        ("timeout", "Timeout", "Service temporarily unavailable", "Try again in a few minutes."),
    ]
    .into_iter()
    .map(|(class, error, cause, solution)| GuideRow { error, cause, solution, current: current == Some(class) })
    .collect()
}

fn test_page(user: &CurrentUser, s: sources::Model) -> Result<HttpResponse, AppError> {
    let last = manage::last_test(&s);
    let p = TestPage {
        layout: Layout::for_user(user, format!("Test connection: {}", s.name)),
        steps: steps(Some(&s), 2),
        kind_name: kind_name(&s.kind),
        tested: s.last_test_at.map(fmt_time),
        ok: last.as_ref().filter(|t| t.ok).map(|t| t.streams),
        error: last.as_ref().and_then(|t| t.error.as_ref()).map(ConnectorError::report),
        sample: last.as_ref().and_then(|t| t.sample.as_ref()).map(|smp| {
            let fields = smp.record.iter().map(|(k, v)| (k.clone(), crate::datasets::schema::display(v))).collect();
            (smp.stream.clone(), fields)
        }),
        guide: guide(last.as_ref().and_then(|t| t.error.as_ref()).map(|e| e.class.as_str())),
        s,
    };
    render(StatusCode::OK, &p)
}

pub async fn test(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    test_page(&user, find(&state, &user, *id).await?)
}

pub async fn run_test(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Back>,
) -> Result<HttpResponse, AppError> {
    let s = find(&state, &user, *id).await?;
    let (s, result) = manage::test(&state, &user.actor, &s).await?;
    if form.back == "diagnostics" {
        match &result.error {
            None => Flash::push_about(&user.session, "success", "The connection test passed", Some(s.name.clone())),
            Some(e) => Flash::push_about(
                &user.session,
                "error",
                format!("The connection test failed: {}", e.class.title()),
                Some(s.name.clone()),
            ),
        }
        return Ok(see_other(urls::DIAGNOSTICS));
    }
    // htmx swaps the result in place; a plain form comes back to the page.
    if is_htmx(&req) { test_page(&user, s) } else { Ok(see_other(&format!("{}/test", source_url(s.id)))) }
}

// --- step 3: streams --------------------------------------------------------

pub struct StreamChoice {
    pub name: String,
    pub columns: String,
    pub primary_key: Option<String>,
    pub rows: Option<u64>,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "live_data/streams.html")]
struct StreamsPage {
    layout: Layout,
    steps: Vec<Step>,
    s: sources::Model,
    streams: Vec<StreamChoice>,
    errors: FieldErrors,
}

fn streams_page(
    user: &CurrentUser,
    s: sources::Model,
    chosen: &[String],
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let streams = manage::catalog(&s)
        .into_iter()
        .map(|st| StreamChoice {
            columns: st
                .columns
                .iter()
                .map(|c| format!("{} ({})", c.name, c.kind.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
            checked: chosen.contains(&st.name),
            name: st.name,
            primary_key: st.primary_key,
            rows: st.row_count,
        })
        .collect();
    let p = StreamsPage {
        layout: Layout::for_user(user, format!("Choose streams: {}", s.name)),
        steps: steps(Some(&s), 3),
        s,
        streams,
        errors,
    };
    render(status, &p)
}

pub async fn streams(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let s = find(&state, &user, *id).await?;
    if !manage::last_test(&s).is_some_and(|t| t.ok) {
        Flash::push(
            &user.session,
            "info",
            "Test the connection first: the streams are listed after a successful test.",
        );
        return Ok(see_other(&format!("{}/test", source_url(s.id))));
    }
    let chosen = manage::chosen_streams(&s);
    streams_page(&user, s, &chosen, FieldErrors::default(), StatusCode::OK)
}

#[derive(Deserialize)]
pub struct StreamsForm {
    #[serde(default)]
    streams: Vec<String>,
}

pub async fn save_streams(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<StreamsForm>,
) -> Result<HttpResponse, AppError> {
    let s = find(&state, &user, *id).await?;
    match manage::choose_streams(&state, &user.actor, &s, &form.streams).await {
        Ok(s) => Ok(see_other(&format!("{}/link", source_url(s.id)))),
        Err(Refusal::Fields(errs)) => {
            let errors = FieldErrors::from(errs);
            streams_page(&user, s, &form.streams, errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(Refusal::NotReady(m)) => {
            Flash::push(&user.session, "error", m);
            Ok(see_other(&format!("{}/test", source_url(s.id))))
        }
        Err(e) => Err(e.into()),
    }
}

// --- step 4: link and activate ----------------------------------------------

#[derive(Template)]
#[template(path = "live_data/link.html")]
struct LinkPage {
    layout: Layout,
    steps: Vec<Step>,
    s: sources::Model,
    entities: Vec<(i64, String)>,
    can_create: bool,
    form: LinkForm,
    modes: Vec<ModeRow>,
    incremental_kind: bool,
    errors: FieldErrors,
}

#[derive(Deserialize, Default)]
pub struct LinkForm {
    /// `existing`, `new` or `skip`.
    #[serde(default)]
    target: String,
    #[serde(default)]
    entity_id: String,
    #[serde(default)]
    new_entity: String,
    /// The schedule and each stream's mode, chosen before the first sync.
    #[serde(flatten)]
    settings: SettingsForm,
}

async fn link_page(
    state: &AppState,
    user: &CurrentUser,
    s: sources::Model,
    form: LinkForm,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let entities = store::entities(&state.db, user.workspace_id()).await?.into_iter().map(|e| (e.id, e.name)).collect();
    let p = LinkPage {
        layout: Layout::for_user(user, format!("Link and activate: {}", s.name)),
        steps: steps(Some(&s), 4),
        modes: mode_rows(&s, &form.settings, &errors),
        incremental_kind: crate::connectors::kind(&s.kind).is_some_and(|k| k.incremental()),
        s,
        entities,
        can_create: user.can(Permission::OntologyEdit),
        form,
        errors,
    };
    render(status, &p)
}

pub async fn link(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let s = find(&state, &user, *id).await?;
    let form = LinkForm {
        target: if s.entity_id.is_some() { "existing".into() } else { String::new() },
        entity_id: s.entity_id.map(|i| i.to_string()).unwrap_or_default(),
        new_entity: String::new(),
        settings: saved_form(&s),
    };
    link_page(&state, &user, s, form, FieldErrors::default(), StatusCode::OK).await
}

pub async fn activate(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<LinkForm>,
) -> Result<HttpResponse, AppError> {
    let s = find(&state, &user, *id).await?;
    let actor = &user.actor;
    // The schedule and modes are checked before anything is made (an entity).
    let mut errors = FieldErrors::default();
    let settings = parse_settings(&s, &form.settings, &mut errors);
    let settings = match settings {
        Some(input) if errors.is_empty() => match manage::check_sync_settings(&s, &input) {
            Ok(()) => input,
            Err(errs) => {
                return link_page(&state, &user, s, form, FieldErrors::from(errs), StatusCode::UNPROCESSABLE_ENTITY)
                    .await;
            }
        },
        _ => return link_page(&state, &user, s, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    let refuse = |field: &str, message: &str| {
        let mut errors = FieldErrors::default();
        errors.add(field, message.to_owned());
        errors
    };
    let entity_id = match form.target.as_str() {
        "existing" => match form.entity_id.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                let errors = refuse("entity_id", "Choose the entity whose spreadsheet the streams fill.");
                return link_page(&state, &user, s, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await;
            }
        },
        "new" => {
            if !user.can(Permission::OntologyEdit) {
                return Err(AppError::Forbidden);
            }
            match crate::ontology::save(&state, actor, None, &form.new_entity, "").await {
                Ok(e) => Some(e.id),
                // The entity's name is typed into this form's `new_entity` field.
                Err(refused @ Refusal::Fields(_)) => {
                    let errors = refuse("new_entity", &refused.to_string());
                    return link_page(&state, &user, s, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await;
                }
                Err(other) => return Err(other.into()),
            }
        }
        "skip" => None,
        _ => {
            let errors = refuse("target", "Choose an entity, create one, or link later.");
            return link_page(&state, &user, s, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let s = match manage::link(&state, actor, &s, entity_id).await {
        Ok(s) => s,
        Err(Refusal::Fields(errs)) => {
            let errors = FieldErrors::from(errs);
            return link_page(&state, &user, s, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        Err(e) => return Err(e.into()),
    };
    let s = manage::set_sync_settings(&state, actor, &s, settings).await?;
    start_sync(&state, &user, actor, &s, true, "").await
}

/// Activates (or syncs an active source) and lands where rows appear.
/// Activation lands where rows appear (the entity); "Sync now" stays where
/// it was pressed (the source page, or Diagnostics), which shows progress.
async fn start_sync(
    state: &AppState,
    user: &CurrentUser,
    actor: &crate::store::audit::Actor,
    s: &sources::Model,
    activate: bool,
    back: &str,
) -> Result<HttpResponse, AppError> {
    let started = if activate {
        manage::activate(state, actor, s).await.map(|(_, run)| run)
    } else {
        crate::connectors::sources::enqueue(state, s, "manual").await
    };
    match started {
        Ok(_) => {
            Flash::push_about(
                &user.session,
                "success",
                "Sync started: rows appear as they arrive",
                Some(s.name.clone()),
            );
            Ok(see_other(&match s.entity_id {
                Some(e) if activate => format!("{}/{e}", urls::ENTITIES),
                _ => back_to(back, s.id),
            }))
        }
        Err(Refusal::Running(_)) => {
            Flash::push_about(
                &user.session,
                "info",
                "A sync of this source is already queued or running",
                Some(s.name.clone()),
            );
            Ok(see_other(&back_to(back, s.id)))
        }
        Err(Refusal::NotReady(m)) => {
            Flash::push(&user.session, "error", m);
            Ok(see_other(&next_step(s)))
        }
        Err(e) => Err(e.into()),
    }
}

// --- the source page, Sync now, delete --------------------------------------

/// One stream's row of the sync settings form.
pub struct ModeRow {
    pub stream: String,
    /// Index for element ids (stream names may hold any character).
    pub n: usize,
    pub incremental: bool,
    pub cursor: String,
    pub columns: Vec<String>,
    pub error: Option<String>,
}

/// What the sync settings form shows: saved values, or the refused input.
#[derive(Default, Deserialize, Clone)]
pub struct SettingsForm {
    /// Empty = manual.
    #[serde(default)]
    pub every: String,
    /// `minutes`, `hours` or `days`.
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub paused: Option<String>,
    /// `mode.{n}` and `cursor.{n}` by stream index, in the order of the chosen streams.
    #[serde(flatten)]
    pub rest: BTreeMap<String, String>,
}

#[derive(Template)]
#[template(path = "live_data/source.html")]
struct SourcePage {
    layout: Layout,
    s: sources::Model,
    kind_name: &'static str,
    config: Vec<(String, String)>,
    streams: Vec<String>,
    entity: Option<(i64, String)>,
    runs: Vec<RunView>,
    live: Option<RunView>,
    last_test: Option<String>,
    error: Option<Report>,
    tabs: usize,
    last_sync: String,
    schedule: String,
    next_sync: Option<String>,
    form: SettingsForm,
    modes: Vec<ModeRow>,
    incremental_kind: bool,
    errors: FieldErrors,
}

/// Minutes → the form's number and unit.
fn every_parts(minutes: Option<i32>) -> (String, String) {
    match minutes {
        None => (String::new(), "hours".into()),
        Some(m) if m % 1440 == 0 => ((m / 1440).to_string(), "days".into()),
        Some(m) if m % 60 == 0 => ((m / 60).to_string(), "hours".into()),
        Some(m) => (m.to_string(), "minutes".into()),
    }
}

fn saved_form(s: &sources::Model) -> SettingsForm {
    let (every, unit) = every_parts(s.schedule_minutes);
    let modes = manage::stream_modes(s);
    let mut rest = BTreeMap::new();
    for (n, st) in manage::chosen_streams(s).iter().enumerate() {
        let m = modes.get(st);
        rest.insert(format!("mode.{n}"), m.map(|m| m.mode.clone()).unwrap_or_else(|| manage::FULL.into()));
        rest.insert(format!("cursor.{n}"), m.and_then(|m| m.cursor.clone()).unwrap_or_default());
    }
    SettingsForm { every, unit, paused: s.schedule_paused.then(|| "on".into()), rest }
}

/// The sync settings form's rows, one per chosen stream, as `form` has them.
fn mode_rows(s: &sources::Model, form: &SettingsForm, errors: &FieldErrors) -> Vec<ModeRow> {
    let catalog = manage::catalog(s);
    manage::chosen_streams(s)
        .iter()
        .enumerate()
        .map(|(n, st)| ModeRow {
            stream: st.clone(),
            n,
            incremental: form.rest.get(&format!("mode.{n}")).is_some_and(|m| m == manage::INCREMENTAL),
            cursor: form.rest.get(&format!("cursor.{n}")).cloned().unwrap_or_default(),
            columns: catalog
                .iter()
                .find(|c| c.name == *st)
                .map(|c| c.columns.iter().map(|col| col.source.clone()).collect())
                .unwrap_or_default(),
            error: errors.get(&format!("modes[{st}]")).cloned(),
        })
        .collect()
}

/// The form's schedule and stream modes as settings; wrong values go to `errors`.
fn parse_settings(s: &sources::Model, form: &SettingsForm, errors: &mut FieldErrors) -> Option<manage::SyncSettings> {
    let every = form.every.trim();
    let schedule = if every.is_empty() {
        None
    } else {
        let factor = match form.unit.as_str() {
            "minutes" => Some(1),
            "hours" => Some(60),
            "days" => Some(1440),
            _ => None,
        };
        match (every.parse::<u32>(), factor) {
            (Ok(n), Some(f)) if n >= 1 => Some(n.saturating_mul(f)),
            (_, None) => {
                errors.add("schedule", "Choose minutes, hours or days.");
                return None;
            }
            _ => {
                errors.add("schedule", "Enter a whole number of at least 1, or leave it empty for manual syncs.");
                return None;
            }
        }
    };
    let mut modes = BTreeMap::new();
    for (n, st) in manage::chosen_streams(s).iter().enumerate() {
        let mode = form.rest.get(&format!("mode.{n}")).cloned().unwrap_or_else(|| manage::FULL.into());
        let cursor = form.rest.get(&format!("cursor.{n}")).cloned().filter(|c| !c.is_empty());
        modes.insert(st.clone(), manage::StreamMode { mode, cursor });
    }
    Some(manage::SyncSettings { schedule_minutes: Some(schedule), paused: Some(form.paused.is_some()), modes })
}

async fn source_page(
    state: &AppState,
    user: &CurrentUser,
    s: sources::Model,
    form: SettingsForm,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let spec = crate::connectors::kind(&s.kind).map(|k| k.spec());
    let plain = manage::plain_config(&s);
    let hints = manage::secret_hints(&s);
    let config = spec
        .map(|sp| {
            sp.fields
                .iter()
                .map(|f| {
                    let v = if f.secret() {
                        hints.get(f.name).map(|h| format!("saved, ending in {}", manage::mask(h)))
                    } else {
                        plain.get(f.name).cloned()
                    };
                    (f.label.to_owned(), v.unwrap_or_else(|| format!("{} (default)", f.default)))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut runs: Vec<RunView> =
        store::runs_of_source(&state.db, s.id, 20).await?.iter().map(|r| run_view(&s.name, r)).collect();
    // A run can only be queued while none is live, so a live run is the newest.
    let live = if runs.first().is_some_and(RunView::live) { Some(runs.remove(0)) } else { None };
    let entity = match s.entity_id {
        Some(e) => store::entity(&state.db, s.workspace_id, e).await?.map(|e| (e.id, e.name)),
        None => None,
    };
    let last = manage::last_test(&s);
    let chosen = manage::chosen_streams(&s);
    let modes = mode_rows(&s, &form, &errors);
    let p = SourcePage {
        layout: Layout::for_user(user, s.name.clone()),
        kind_name: kind_name(&s.kind),
        config,
        streams: chosen,
        entity,
        runs,
        live,
        last_test: s.last_test_at.map(|t| {
            format!("{} — {}", fmt_time(t), if last.as_ref().is_some_and(|l| l.ok) { "passed" } else { "failed" })
        }),
        error: last.as_ref().and_then(|t| t.error.as_ref()).map(ConnectorError::report),
        tabs: store::tabs_of_source(&state.db, s.id).await?.len(),
        last_sync: s.last_sync_at.map(fmt_time).unwrap_or_else(|| "never".into()),
        schedule: schedule_words(&s),
        next_sync: next_sync(&s),
        form,
        modes,
        incremental_kind: crate::connectors::kind(&s.kind).is_some_and(|k| k.incremental()),
        errors,
        s,
    };
    render(status, &p)
}

/// "every 2 hours (paused)", "manual".
pub fn schedule_words(s: &sources::Model) -> String {
    match s.schedule_minutes {
        None => "manual".into(),
        Some(m) => format!(
            "every {}{}",
            manage::every_words(m.max(1) as u32),
            if s.schedule_paused { " (paused)" } else { "" }
        ),
    }
}

/// When the schedule starts the next sync; none while manual, paused or failing.
pub fn next_sync(s: &sources::Model) -> Option<String> {
    if s.status != manage::ACTIVE || s.schedule_paused || s.schedule_minutes.is_none() {
        return None;
    }
    s.next_sync_at.map(fmt_time)
}

pub async fn show(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let s = find(&state, &user, *id).await?;
    let form = saved_form(&s);
    source_page(&state, &user, s, form, FieldErrors::default(), StatusCode::OK).await
}

/// Saves the schedule and the streams' sync modes; a refusal re-renders the
/// page with the input and the messages beside their fields.
pub async fn save_settings(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<SettingsForm>,
) -> Result<HttpResponse, AppError> {
    let s = find(&state, &user, *id).await?;
    let mut errors = FieldErrors::default();
    if let Some(input) = parse_settings(&s, &form, &mut errors) {
        match manage::set_sync_settings(&state, &user.actor, &s, input).await {
            Ok(saved) => {
                Flash::push_about(&user.session, "success", "Saved the sync settings", Some(saved.name.clone()));
                return Ok(see_other(&format!("{}#settings-heading", source_url(saved.id))));
            }
            Err(Refusal::Fields(errs)) => errors = FieldErrors::from(errs),
            Err(e) => return Err(e.into()),
        }
    }
    source_page(&state, &user, s, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await
}

/// Where a form came from: pages that offer the same button pass `back`.
#[derive(Deserialize, Default)]
pub struct Back {
    #[serde(default)]
    pub back: String,
}

fn back_to(back: &str, id: i64) -> String {
    if back == "diagnostics" { urls::DIAGNOSTICS.to_owned() } else { source_url(id) }
}

/// Cancels the source's live run (the streams' old rows stay).
pub async fn cancel(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Back>,
) -> Result<HttpResponse, AppError> {
    let s = find(&state, &user, *id).await?;
    match store::live_run(&state.db, s.id).await? {
        Some(run) if crate::connectors::sources::cancel_run(&state, &run, &user.user.display_name).await? => {
            Flash::push_about(
                &user.session,
                "success",
                "Cancelling the sync; the tabs keep their rows as before it",
                Some(s.name.clone()),
            )
        }
        _ => Flash::push_about(&user.session, "info", "No sync of this source is running", Some(s.name.clone())),
    }
    Ok(see_other(&back_to(&form.back, s.id)))
}

pub async fn sync_now(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Back>,
) -> Result<HttpResponse, AppError> {
    let s = find(&state, &user, *id).await?;
    let actor = &user.actor;
    let draft = s.status == manage::DRAFT;
    start_sync(&state, &user, actor, &s, draft, &form.back).await
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirmed: String,
    /// `keep` or `remove`.
    #[serde(default)]
    tabs: String,
}

pub async fn delete(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<DeleteForm>,
) -> Result<HttpResponse, AppError> {
    let s = find(&state, &user, *id).await?;
    let keep = form.tabs == "keep";
    if form.confirmed != "yes" {
        let tabs = store::tabs_of_source(&state.db, s.id).await?.len();
        return crate::web::confirm::ask(
            &user,
            crate::web::confirm::Confirmation {
                title: "Delete source",
                question: if keep {
                    format!(
                        "Delete this source and its run history? Its {tabs} spreadsheet tabs stay, no longer synced."
                    )
                } else {
                    format!("Delete this source, its run history, and its {tabs} spreadsheet tabs with their rows?")
                },
                subject: Some(s.name.clone()),
                action: format!("{}/delete", source_url(s.id)),
                button: "Delete source",
                fields: vec![("tabs", form.tabs.clone())],
                back: source_url(s.id),
            },
        );
    }
    match manage::delete(&state, &user.actor, &s, keep).await {
        Ok(()) => {
            Flash::push_about(&user.session, "success", "Deleted the source", Some(s.name.clone()));
            Ok(see_other(urls::SOURCES))
        }
        Err(Refusal::Running(_)) => {
            Flash::push(
                &user.session,
                "error",
                "A sync of this source is running; delete it when the sync has finished.",
            );
            Ok(see_other(&source_url(s.id)))
        }
        Err(e) => Err(e.into()),
    }
}
