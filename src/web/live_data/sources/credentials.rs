use super::*;

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

pub(super) fn form_fields(
    spec: &Spec,
    values: &BTreeMap<String, String>,
    hints: &BTreeMap<String, String>,
) -> Vec<FormField> {
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
                FieldKind::Count { .. } => "number",
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
pub(super) struct CredentialsPage {
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
pub(super) fn credentials_page(
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
pub(super) fn input_of(form: &[(String, String)], kind: &str) -> SourceInput {
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

pub(super) async fn save(
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
                return Ok(see_other(&urls::source_action(s.id, "credentials")));
            }
            let said = if s.status == manage::DRAFT {
                "Saved the source as a draft"
            } else {
                "Saved the credentials; test the connection again"
            };
            Flash::push_about(&user.session, "success", said, Some(s.name.clone()));
            Ok(see_other(&urls::source_action(s.id, "test")))
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
