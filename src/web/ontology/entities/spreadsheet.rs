use super::*;

// --- the entity's tabs ------------------------------------------------------

/// The three tabs of an entity page.
pub struct EntityTab {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

pub(super) fn entity_tabs(e: &entities::Model, current: &str) -> Vec<EntityTab> {
    let base = urls::entity(e.id);
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
pub(super) struct SpreadsheetPage {
    pub(super) layout: Layout,
    pub(super) e: entities::Model,
    pub(super) tabs: Vec<EntityTab>,
    pub(super) sheet_tabs: Vec<SheetTab>,
    pub(super) open: Option<OpenTab>,
    /// This page's URL (what a `sheet-refresh` fetches again).
    pub(super) here: String,
    pub(super) progress: Vec<RunView>,
    pub(super) can_publish: bool,
    pub(super) can_edit: bool,
}

/// Syncs in progress on the entity's sources: what the page shows live.
pub(super) async fn progress(state: &AppState, entity_id: i64) -> Result<Vec<RunView>, AppError> {
    let mut out = Vec::new();
    for s in store::sources_of_entity(&state.db, entity_id).await? {
        if let Some(run) = store::live_run(&state.db, s.id).await? {
            out.push(run_view(&s.name, &run));
        }
    }
    Ok(out)
}

pub(super) async fn spreadsheet(
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
            href: urls::entity_tab(e.id, t.id),
            current: chosen.as_ref().is_some_and(|c| c.id == t.id),
        })
        .collect();
    let open = match chosen {
        None => None,
        Some(tab) => {
            let ds = crate::store::datahub::dataset_any(&state.db, e.workspace_id, tab.dataset_id).await?;
            let ready = ds.as_ref().is_some_and(|d| d.state == "ready");
            let base = urls::entity_tab(e.id, tab.id);
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
        Some(o) => urls::entity_tab(e.id, o.tab.id),
        None => urls::entity(e.id),
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
#[template(path = "ontology/entity_progress_partial.html")]
pub(super) struct ProgressRegion {
    pub(super) entity_id: i64,
    pub(super) progress: Vec<RunView>,
    pub(super) finished: bool,
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
    let back = urls::entity_tab(e.id, tab.id);
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
                return Ok(see_other(&urls::collection(c.id)));
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
