use super::*;
use crate::web::urls;

/// The secret panel alone (htmx), or a redirect to the editor, which shows
/// the secret once (`SHOW_ONCE`).
pub(super) fn with_secret(
    req: &HttpRequest,
    user: &CurrentUser,
    k: &hub_keys::Model,
    secret: String,
) -> Result<HttpResponse, AppError> {
    if crate::web::is_htmx(req) {
        let panel = SecretPanel {
            id: k.id,
            csrf: crate::auth::csrf::session_token(&user.session),
            secret: Some(secret),
            identifier: key_identifier(k),
            refocus: false,
        };
        let mut res = render(StatusCode::OK, &panel)?;
        res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
        return Ok(res);
    }
    show_once(user, k.id)?;
    Ok(see_other(&urls::hub_key(k.id)))
}

#[derive(Template)]
#[template(path = "datahub/key_secret_partial.html")]
pub(super) struct SecretPanel {
    pub(super) id: i64,
    pub(super) csrf: String,
    pub(super) identifier: String,
    pub(super) secret: Option<String>,
    /// After Hide: focus goes back to Show.
    pub(super) refocus: bool,
}

pub async fn reveal(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
    CsrfForm(_): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let k = find(&state, &user, *id).await?;
    match manage::reveal(&state, &user.actor, &k).await {
        Ok(secret) => with_secret(&req, &user, &k, secret),
        Err(Refusal::Fields(errors)) => {
            let links = crate::store::hub_keys::links(&state.db, k.id).await?;
            let mut v = View::of(KeyForm::from_key(&k, &links));
            v.errors.extend(errors);
            editor(&state, &user, Some(&k), v, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(key_error(e)),
    }
}

/// Hides the secret again (htmx swaps the panel back; no secret in it).
pub async fn hide(
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let k = find(&state, &user, *id).await?;
    let panel = SecretPanel {
        id: k.id,
        csrf: crate::auth::csrf::session_token(&user.session),
        secret: None,
        identifier: key_identifier(&k),
        refocus: true,
    };
    render(StatusCode::OK, &panel)
}

#[derive(Deserialize)]
pub struct TokenCheckForm {
    #[serde(default)]
    pub(super) token: String,
}

/// What the token field says while the admin types (htmx, after a pause):
/// the same check the save runs, so a weak or invalid value is named before
/// Save, not after. Nothing is stored or logged; an empty field says nothing.
#[derive(Template)]
#[template(
    source = "{% if let Some(e) = error %}<span class=\"error\">{{ e }}</span>{% endif %}{% for w in warnings %}<span class=\"warning\">{{ w }}</span>{% endfor %}",
    ext = "html"
)]
pub(super) struct TokenCheck {
    pub(super) error: Option<String>,
    pub(super) warnings: Vec<String>,
}

pub async fn token_check(
    _: Member<perm::HubKeysManage>,
    CsrfForm(form): CsrfForm<TokenCheckForm>,
) -> Result<HttpResponse, AppError> {
    let (error, warnings) = match form.token.as_str() {
        "" => (None, Vec::new()),
        t => match crate::domain::hub_keys::check_generic_token(t) {
            Ok(w) => (None, w),
            Err(e) => (Some(e), Vec::new()),
        },
    };
    render(StatusCode::OK, &TokenCheck { error, warnings })
}

pub(super) fn key_error(e: Refusal) -> AppError {
    match e {
        // Only reachable by hand-made posts: the buttons are not offered then.
        Refusal::Fields(_) | Refusal::Conflict(_) => AppError::BadRequest,
        other => other.into(),
    }
}

pub async fn regenerate(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let k = find(&state, &user, *id).await?;
    if !form.yes() {
        return ask(
            &user,
            Confirmation {
                title: "Regenerate secret",
                question: "Make a new secret for this key? The current secret stops working at once; every caller needs the new one.".into(),
                subject: Some(k.name.clone()),
                action: urls::hub_key_action(k.id, "regenerate"),
                button: "Regenerate secret",
                fields: vec![],
                back: urls::hub_key(k.id),
            },
        );
    }
    let (saved, secret) = manage::regenerate(&state, &user.actor, &k).await.map_err(key_error)?;
    with_secret(&req, &user, &saved, secret)
}

pub async fn delete(
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let k = find(&state, &user, *id).await?;
    if !form.yes() {
        let lost = manage::endpoints_of(&state, &k).await?;
        let question = if lost.is_empty() {
            "Delete this key? Callers using it are refused from now on.".to_owned()
        } else {
            format!(
                "Delete this key? Callers using it are refused from now on, and these endpoints lose it: {}.",
                lost.iter().map(|e| e.path.as_str()).collect::<Vec<_>>().join(", ")
            )
        };
        return ask(
            &user,
            Confirmation {
                title: "Delete key",
                question,
                subject: Some(k.name.clone()),
                action: urls::hub_key_action(k.id, "delete"),
                button: "Delete key",
                fields: vec![],
                back: urls::hub_key(k.id),
            },
        );
    }
    manage::delete(&state, &user.actor, &k).await.map_err(key_error)?;
    Flash::push_about(&user.session, "success", "Deleted the key", Some(k.name.clone()));
    Ok(see_other(KEYS))
}
