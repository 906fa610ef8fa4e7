use super::*;
use crate::web::urls;

pub struct IpRowView {
    pub index: usize,
    pub range: String,
    pub netmask: String,
    pub error: Option<String>,
}

pub struct HeaderRowView {
    pub index: usize,
    pub name: String,
    pub value: String,
    pub exclude: bool,
    pub error: Option<String>,
}

pub struct Check {
    pub id: i64,
    pub label: String,
    pub hint: String,
    pub checked: bool,
}

pub struct AccessChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub checked: bool,
}

pub struct EndpointLink {
    pub id: i64,
    pub path: String,
    pub url: String,
    pub collection: String,
    pub access: String,
}

/// The saved key's automated fields.
pub struct Facts {
    pub id: i64,
    pub is_api_key: bool,
    pub identifier: String,
    pub created: String,
    pub changed: String,
    pub sync: String,
    pub synced: bool,
    pub last_used: String,
    pub endpoints: Vec<EndpointLink>,
}

/// The other admin's saved version, shown beside the refused input.
pub struct Conflict {
    pub by: String,
    pub at: String,
    pub lines: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "datahub/key.html")]
pub(super) struct EditorPage {
    pub(super) layout: Layout,
    pub(super) facts: Option<Facts>,
    pub(super) action: String,
    pub(super) tab_endpoints: bool,
    pub(super) access: Vec<AccessChoice>,
    pub(super) form: KeyForm,
    pub(super) ip_rows: Vec<IpRowView>,
    pub(super) header_rows: Vec<HeaderRowView>,
    pub(super) endpoints: Vec<Check>,
    pub(super) users: Vec<Check>,
    pub(super) teams: Vec<Check>,
    pub(super) token_hint: Option<String>,
    pub(super) errors: FieldErrors,
    pub(super) conflict: Option<Conflict>,
    /// Only in answers to POST (show, regenerate).
    pub(super) secret: Option<String>,
    pub(super) focus: String,
    pub(super) placeholders: String,
}

pub(super) struct View {
    pub(super) form: KeyForm,
    pub(super) errors: FieldErrors,
    pub(super) conflict: Option<Conflict>,
    pub(super) secret: Option<String>,
    pub(super) focus: String,
    pub(super) tab_endpoints: bool,
}

impl View {
    pub(super) fn of(form: KeyForm) -> View {
        View {
            form,
            errors: FieldErrors::default(),
            conflict: None,
            secret: None,
            focus: String::new(),
            tab_endpoints: false,
        }
    }
}

pub(super) async fn person(state: &AppState, id: Option<i64>) -> Result<String, AppError> {
    Ok(match id {
        Some(id) => crate::store::users::find(&state.db, id)
            .await?
            .map(|u| crate::web::views::person(&u))
            .unwrap_or_else(|| format!("user {id}")),
        None => "keyhub".into(),
    })
}

pub(super) async fn facts(state: &AppState, k: &hub_keys::Model) -> Result<Facts, AppError> {
    let slug =
        crate::store::workspaces::find(&state.db, k.workspace_id).await?.and_then(|w| w.slug).unwrap_or_default();
    let collections = crate::store::datahub::collections(&state.db, k.workspace_id).await?;
    let endpoints = manage::endpoints_of(state, k)
        .await?
        .into_iter()
        .map(|e| EndpointLink {
            id: e.id,
            url: format!("/hub/{slug}/{}", e.path),
            collection: collections
                .iter()
                .find(|c| c.id == e.collection_id)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            access: e.access.to_string(),
            path: e.path,
        })
        .collect();
    let sync = state.hub_keys.sync_status(k).await?;
    let a = *k.access_type;
    Ok(Facts {
        id: k.id,
        is_api_key: a == AccessType::ApiKey,
        identifier: key_identifier(k),
        created: format!("{} by {}", fmt_time(k.created_at), person(state, k.created_by).await?),
        changed: format!("{} by {}", fmt_time(k.updated_at), person(state, k.updated_by).await?),
        synced: matches!(sync, SyncStatus::Synced { .. }),
        sync: sync_text(&sync),
        last_used: last_used(k),
        endpoints,
    })
}

pub(super) async fn editor(
    state: &AppState,
    user: &CurrentUser,
    key: Option<&hub_keys::Model>,
    v: View,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let ws = user.workspace_id();
    let form = v.form;
    let access = AccessType::ALL
        .iter()
        .map(|a| AccessChoice {
            value: a.as_str(),
            label: a.label(),
            hint: a.hint(),
            checked: form.access_type == a.as_str() || (form.access_type.is_empty() && *a == AccessType::ApiKey),
        })
        .collect();
    let ip_rows = form
        .ip_rows()
        .into_iter()
        .enumerate()
        .map(|(i, r)| IpRowView {
            index: i,
            range: r.range,
            netmask: r.netmask,
            error: v.errors.get(&format!("ip_filters.{i}")).cloned(),
        })
        .collect();
    let header_rows = form
        .header_rows()
        .into_iter()
        .enumerate()
        .map(|(i, r)| HeaderRowView {
            index: i,
            name: r.name,
            value: r.value,
            exclude: r.exclude,
            error: v.errors.get(&format!("headers.{i}")).cloned(),
        })
        .collect();
    let slug = crate::store::workspaces::find(&state.db, ws).await?.and_then(|w| w.slug).unwrap_or_default();
    let endpoints = crate::store::datahub::endpoints(&state.db, ws)
        .await?
        .into_iter()
        .map(|e| Check {
            checked: form.endpoint_ids.contains(&e.id.to_string()),
            label: format!("/hub/{slug}/{}", e.path),
            hint: format!("access: {}", e.access),
            id: e.id,
        })
        .collect();
    let users = crate::store::members::list(&state.db, ws)
        .await?
        .into_iter()
        .map(|m| Check {
            checked: form.user_ids.contains(&m.member.user_id.to_string()),
            label: format!("{} <{}>", m.display_name, m.email),
            hint: if m.member.disabled { "disabled".into() } else { String::new() },
            id: m.member.user_id,
        })
        .collect();
    let mut teams = Vec::new();
    for t in crate::store::teams::list(&state.db, ws).await? {
        let n = crate::store::teams::members(&state.db, t.id).await?.len();
        teams.push(Check {
            checked: form.team_ids.contains(&t.id.to_string()),
            label: t.name,
            hint: crate::domain::query::count(n as u64, "member", "members"),
            id: t.id,
        });
    }
    let token_hint = key
        .filter(|k| *k.access_type == AccessType::GenericToken)
        .and_then(|k| k.secret_suffix.as_deref())
        .map(|s| format!("Saved, ending in ••••{s}. Leave empty to keep it."));
    let facts = match key {
        Some(k) => Some(facts(state, k).await?),
        None => None,
    };
    let page = EditorPage {
        layout: Layout::for_user(user, key.map_or_else(|| "New key".to_owned(), |k| k.name.clone())),
        action: key.map_or_else(|| KEYS.to_owned(), |k| urls::hub_key(k.id)),
        facts,
        tab_endpoints: v.tab_endpoints,
        access,
        ip_rows,
        header_rows,
        endpoints,
        users,
        teams,
        token_hint,
        errors: v.errors,
        conflict: v.conflict,
        secret: v.secret.clone(),
        focus: v.focus,
        placeholders: crate::domain::header_template::Var::ALL.map(|p| p.placeholder()).join(", "),
        form,
    };
    let mut res = render(status, &page)?;
    if v.secret.is_some() {
        res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

pub(super) async fn find(state: &AppState, user: &CurrentUser, id: i64) -> Result<hub_keys::Model, AppError> {
    crate::store::hub_keys::find(&state.db, user.workspace_id(), id).await?.ok_or(AppError::NotFound)
}

pub(super) fn editor_path(key: Option<&hub_keys::Model>) -> String {
    key.map_or_else(|| urls::HUB_KEY_NEW.to_owned(), |k| urls::hub_key(k.id))
}

/// The input and messages of a post that failed, if it redirected here.
pub(super) fn retried(req: &HttpRequest, key: Option<&hub_keys::Model>) -> Option<View> {
    let r = crate::web::retry::take(req, &editor_path(key))?;
    let mut v = View::of(KeyForm::from_pairs(r.pairs()));
    v.errors = r.errors;
    Some(v)
}

pub async fn new(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
) -> Result<HttpResponse, AppError> {
    if let Some(v) = retried(&req, None) {
        return editor(&state, &user, None, v, StatusCode::OK).await;
    }
    let mut form =
        KeyForm { access_type: "api_key".into(), status: "active".into(), tz_offset: "0".into(), ..Default::default() };
    // A new key starts with the workspace's default limit, shown to change.
    let defaults = crate::workspaces::default_limits(&state, user.workspace_id()).await?;
    (form.rate_limit_requests, form.rate_limit_window, form.monthly_quota) = manage::limit_texts(&defaults);
    editor(&state, &user, None, View::of(form), StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct ShowQuery {
    pub(super) tab: Option<String>,
}

/// The session's note that the next view of key `id` shows its secret: a
/// secret made or shown by a POST is shown by the GET it redirects to, once,
/// so that reloading that page neither repeats the POST nor shows it again.
pub(super) const SHOW_ONCE: &str = "hub_key_show_once";

pub(super) fn show_once(user: &CurrentUser, id: i64) -> Result<(), AppError> {
    user.session.insert(SHOW_ONCE, id).map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
    q: Params<ShowQuery>,
) -> Result<HttpResponse, AppError> {
    let k = find(&state, &user, *id).await?;
    if let Some(v) = retried(&req, Some(&k)) {
        return editor(&state, &user, Some(&k), v, StatusCode::OK).await;
    }
    let links = crate::store::hub_keys::links(&state.db, k.id).await?;
    let mut v = View::of(KeyForm::from_key(&k, &links));
    if matches!(user.session.remove_as::<i64>(SHOW_ONCE), Some(Ok(once)) if once == k.id) {
        v.secret = manage::open_secret(&state, &k).ok();
    }
    v.tab_endpoints = q.tab.as_deref() == Some("endpoints");
    editor(&state, &user, Some(&k), v, StatusCode::OK).await
}

pub(super) fn conflict_lines(k: &hub_keys::Model, links: &crate::store::hub_keys::Links) -> Vec<(String, String)> {
    let rows = manage::ip_rows(k).iter().map(|r| format!("{}/{}", r.range, r.netmask)).collect::<Vec<_>>().join(", ");
    let headers = manage::header_rows(k)
        .iter()
        .map(|h| format!("{}: {}{}", h.name, h.value, if h.exclude { " (excluded)" } else { "" }))
        .collect::<Vec<_>>()
        .join("; ");
    vec![
        ("Name".into(), k.name.clone()),
        ("Access type".into(), k.access_type.label().into()),
        ("Status".into(), k.status.to_string()),
        ("IP filter".into(), if rows.is_empty() { "any address".into() } else { rows }),
        ("Expires".into(), k.expires_at.map_or_else(|| "never".into(), fmt_time)),
        ("Headers".into(), if headers.is_empty() { "none".into() } else { headers }),
        ("Endpoints".into(), crate::domain::query::count(links.endpoint_ids.len() as u64, "endpoint", "endpoints")),
    ]
}

/// Create (`id` none) or save; row buttons re-render without saving.
pub(super) async fn submit(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    by: &Actor,
    key: Option<hub_keys::Model>,
    mut form: KeyForm,
) -> Result<HttpResponse, AppError> {
    if let Some(focus) = form.apply_row_buttons() {
        let mut v = View::of(form);
        v.focus = focus;
        return editor(state, user, key.as_ref(), v, StatusCode::OK).await;
    }
    match manage::save(state, by, key.as_ref().map(|k| k.id), &form.input()).await {
        Ok(saved) => {
            let what = if key.is_none() { "Created the key" } else { "Saved the key" };
            Flash::push_about(&user.session, "success", what, Some(saved.key.name.clone()));
            for n in saved.notes.iter().chain(&saved.warnings) {
                Flash::push_about(&user.session, "warning", n.clone(), None);
            }
            if saved.secret.is_some() {
                show_once(user, saved.key.id)?;
            }
            Ok(see_other(&urls::hub_key(saved.key.id)))
        }
        Err(Refusal::Fields(errors)) => {
            let mut v = View::of(form);
            v.errors.extend(errors);
            let pairs = v.form.pairs();
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, x)| (*k, x.as_str())).collect();
            if let Some(back) = crate::web::retry::back_to(req, &editor_path(key.as_ref()), &refs, &v.errors) {
                return Ok(back);
            }
            editor(state, user, key.as_ref(), v, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(Refusal::Conflict(_)) => {
            // Their saved version, shown beside the input (deleted meanwhile: not found).
            let now = match &key {
                Some(k) => find(state, user, k.id).await?,
                None => return Err(AppError::NotFound),
            };
            let links = crate::store::hub_keys::links(&state.db, now.id).await?;
            let mut form = form;
            // Saving again is a deliberate choice to replace their version.
            form.version = now.version.to_string();
            let mut v = View::of(form);
            v.conflict = Some(Conflict {
                by: person(state, now.updated_by).await?,
                at: fmt_time(now.updated_at),
                lines: conflict_lines(&now, &links),
            });
            v.errors.add("conflict", "This key was changed since you opened it. Your input is below, their saved version beside it; save again to replace theirs.");
            editor(state, user, Some(&now), v, StatusCode::CONFLICT).await
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    CsrfForm(form): CsrfForm<KeyForm>,
) -> Result<HttpResponse, AppError> {
    submit(&req, &state, &user, &user.actor, None, form).await
}

pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<KeyForm>,
) -> Result<HttpResponse, AppError> {
    let k = find(&state, &user, *id).await?;
    submit(&req, &state, &user, &user.actor, Some(k), form).await
}
