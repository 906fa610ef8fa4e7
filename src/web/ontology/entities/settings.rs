use super::*;

// --- Settings tab -----------------------------------------------------------

#[derive(Template)]
#[template(path = "ontology/entity_settings.html")]
pub(super) struct SettingsTab {
    pub(super) layout: Layout,
    pub(super) e: entities::Model,
    pub(super) tabs: Vec<EntityTab>,
    pub(super) form: EntityForm,
    pub(super) sheet_tabs: usize,
    pub(super) sources: usize,
    pub(super) can_edit: bool,
    pub(super) errors: FieldErrors,
}

pub(super) async fn settings_tab(
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
            Ok(see_other(&urls::entity_action(e.id, "settings")))
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
                action: urls::entity_action(e.id, "delete"),
                button: "Delete entity",
                fields: vec![],
                back: urls::entity_action(e.id, "settings"),
            },
        );
    }
    ontology::delete(&state, &user.actor, &e).await?;
    Flash::push_about(&user.session, "success", "Deleted the entity", Some(e.name.clone()));
    Ok(see_other(urls::ENTITIES))
}
