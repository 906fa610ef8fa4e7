use super::*;

// --- step 4: link and activate ----------------------------------------------

#[derive(Template)]
#[template(path = "live_data/link.html")]
pub(super) struct LinkPage {
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

pub(super) async fn link_page(
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
pub(super) async fn start_sync(
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
                Some(e) if activate => urls::entity(e),
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
