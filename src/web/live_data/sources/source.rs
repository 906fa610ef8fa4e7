use super::*;

// --- the source page, Sync now, delete --------------------------------------

/// One stream's row of the sync settings form.
pub struct ModeRow {
    pub stream: String,
    /// Index for element ids (stream names may hold any character).
    pub n: usize,
    pub incremental: bool,
    pub cursor: String,
    pub columns: Vec<String>,
    /// The filter parameter named by hand (kinds that allow it).
    pub filter: Option<String>,
    /// What the stream says about reading it (shown as its hint).
    pub notes: Vec<String>,
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
pub(super) struct SourcePage {
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
pub(super) fn every_parts(minutes: Option<i32>) -> (String, String) {
    match minutes {
        None => (String::new(), "hours".into()),
        Some(m) if m % 1440 == 0 => ((m / 1440).to_string(), "days".into()),
        Some(m) if m % 60 == 0 => ((m / 60).to_string(), "hours".into()),
        Some(m) => (m.to_string(), "minutes".into()),
    }
}

pub(super) fn saved_form(s: &sources::Model) -> SettingsForm {
    let (every, unit) = every_parts(s.schedule_minutes);
    let modes = manage::stream_modes(s);
    let mut rest = BTreeMap::new();
    for (n, st) in manage::chosen_streams(s).iter().enumerate() {
        let m = modes.get(st);
        rest.insert(format!("mode.{n}"), m.map(|m| m.mode.clone()).unwrap_or_else(|| manage::FULL.into()));
        rest.insert(format!("cursor.{n}"), m.and_then(|m| m.cursor.clone()).unwrap_or_default());
        rest.insert(format!("filter.{n}"), m.and_then(|m| m.filter.clone()).unwrap_or_default());
    }
    SettingsForm { every, unit, paused: s.schedule_paused.then(|| "on".into()), rest }
}

/// The sync settings form's rows, one per chosen stream, as `form` has them.
pub(super) fn mode_rows(s: &sources::Model, form: &SettingsForm, errors: &FieldErrors) -> Vec<ModeRow> {
    let catalog = manage::catalog(s);
    let kind = crate::connectors::kind(&s.kind);
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
            filter: kind
                .is_some_and(|k| k.filter_choice())
                .then(|| form.rest.get(&format!("filter.{n}")).cloned().unwrap_or_default()),
            notes: catalog.iter().find(|c| c.name == *st).map(|c| filter_hint(kind, c)).unwrap_or_default(),
            error: errors.get(&format!("modes[{st}]")).cloned(),
        })
        .collect()
}

/// Which cursor columns the source can filter by, for the form's hint.
fn filter_hint(
    kind: Option<&'static dyn crate::connectors::Connector>,
    st: &crate::connectors::StreamInfo,
) -> Vec<String> {
    match kind.and_then(|k| k.cursor_columns(st)) {
        Some(cols) if cols.is_empty() => vec![
            "The document declares no filter keyhub recognises: name the parameter that keeps records after the cursor value, or keep full refresh.".to_owned(),
        ],
        Some(cols) => vec![format!("The source can filter by {}.", cols.join(", "))],
        None => Vec::new(),
    }
}

/// The form's schedule and stream modes as settings; wrong values go to `errors`.
pub(super) fn parse_settings(
    s: &sources::Model,
    form: &SettingsForm,
    errors: &mut FieldErrors,
) -> Option<manage::SyncSettings> {
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
        let filter = form.rest.get(&format!("filter.{n}")).map(|f| f.trim().to_owned()).filter(|f| !f.is_empty());
        modes.insert(st.clone(), manage::StreamMode { mode, cursor, filter });
    }
    Some(manage::SyncSettings { schedule_minutes: Some(schedule), paused: Some(form.paused.is_some()), modes })
}

pub(super) async fn source_page(
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
                return Ok(see_other(&format!("{}#settings-heading", urls::source(saved.id))));
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

pub(super) fn back_to(back: &str, id: i64) -> String {
    if back == "diagnostics" { urls::DIAGNOSTICS.to_owned() } else { urls::source(id) }
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
                action: urls::source_action(s.id, "delete"),
                button: "Delete source",
                fields: vec![("tabs", form.tabs.clone())],
                back: urls::source(s.id),
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
            Ok(see_other(&urls::source(s.id)))
        }
        Err(e) => Err(e.into()),
    }
}
