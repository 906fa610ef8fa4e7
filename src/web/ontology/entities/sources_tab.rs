use super::*;

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
pub(super) async fn remove_question(state: &AppState, s: &sources::Model) -> Result<String, AppError> {
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
pub(super) struct SourcesTab {
    pub(super) layout: Layout,
    pub(super) e: entities::Model,
    pub(super) tabs: Vec<EntityTab>,
    pub(super) linked: Vec<LinkedSource>,
    pub(super) unlinked: Vec<(i64, String)>,
    pub(super) can_edit: bool,
    pub(super) errors: FieldErrors,
}

pub(super) async fn sources_tab(
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
            status: s.status.to_string(),
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
    pub(super) source_id: String,
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
    Ok(see_other(&urls::entity_action(e.id, "sources")))
}

#[derive(Deserialize)]
pub struct UnlinkForm {
    /// `keep` or `remove`.
    #[serde(default)]
    pub(super) tabs: String,
    #[serde(default)]
    pub(super) confirmed: String,
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
                action: format!("{}/sources/{}/unlink", urls::entity(e.id), s.id),
                button: "Unlink and remove tabs",
                fields: vec![("tabs", "remove".into())],
                back: urls::entity_action(e.id, "sources"),
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
    Ok(see_other(&urls::entity_action(e.id, "sources")))
}
