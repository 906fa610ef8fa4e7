//! `Your account → API keys` (`/account/keys`): generate, show once, copy,
//! rotate with a grace period, revoke after confirmation, delete revoked keys.
//! Works as plain pages and, with htmx, by swapping `#keys-area` in place.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::state::AppState;
use crate::auth::CurrentUser;
use crate::domain::keys::{Expiry, KeyLabel, KeySecret, KeyState, parse_grace};
use crate::domain::{Permission, PermissionSet};
use crate::entities::{audit_events, personal_keys};
use crate::store::audit::Event;
use crate::web::admin::members::PermissionChoice;
use crate::web::{AppError, CsrfForm, FieldErrors, Layout, is_htmx, render, urls};

pub struct KeyCard {
    pub id: i64,
    pub label: String,
    pub identifier: String,
    pub permissions: Vec<String>,
    pub created: String,
    pub last_used: Option<String>,
    pub last_used_ip: Option<String>,
    pub expires: Option<String>,
    pub state: &'static str,
    pub owner: Option<String>,
}

pub struct ActivityItem {
    pub when: String,
    pub who: String,
    pub action: String,
    pub key: String,
    pub ip: String,
}

/// A secret shown exactly once, in the response that created it.
pub struct Revealed {
    pub label: String,
    pub secret: String,
    pub note: String,
}

pub struct GenerateForm {
    pub label: String,
    pub expires: String,
    pub expires_on: String,
    pub permissions: Vec<PermissionChoice>,
    pub errors: FieldErrors,
    pub open: bool,
}

pub struct KeysArea {
    pub csrf: String,
    pub cards: Vec<KeyCard>,
    pub filter: String,
    pub filters: Vec<(&'static str, &'static str)>,
    pub form: GenerateForm,
    pub revealed: Option<Revealed>,
    pub activity: Vec<ActivityItem>,
}

#[derive(Template)]
#[template(path = "account/keys.html")]
struct KeysPage {
    layout: Layout,
    area: KeysArea,
}

#[derive(Template)]
#[template(path = "account/keys_area.html")]
struct KeysFragment {
    area: KeysArea,
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn card(k: &personal_keys::Model, now: DateTime<Utc>, owner: Option<String>) -> KeyCard {
    KeyCard {
        id: k.id,
        label: k.label.clone(),
        identifier: k.identifier.clone(),
        permissions: PermissionSet::from_stored(&k.permissions).iter().map(|p| p.as_str().to_owned()).collect(),
        created: fmt_time(k.created_at),
        last_used: k.last_used_at.map(fmt_time),
        last_used_ip: k.last_used_ip.clone(),
        expires: k.expires_at.map(fmt_time),
        state: KeyState::of(k.revoked_at, k.expires_at, now).as_str(),
        owner,
    }
}

pub async fn activity(
    state: &AppState,
    events: Vec<audit_events::Model>,
    keys: &[personal_keys::Model],
) -> Result<Vec<ActivityItem>, AppError> {
    let names = crate::store::users::names(&state.db, events.iter().filter_map(|e| e.actor_user_id)).await?;
    Ok(events
        .into_iter()
        .map(|e| ActivityItem {
            when: fmt_time(e.created_at),
            who: e.actor_user_id.and_then(|id| names.get(&id).cloned()).unwrap_or_else(|| "—".into()),
            action: e.action,
            key: e
                .key_id
                .and_then(|id| keys.iter().find(|k| k.id == id))
                .map(|k| format!("{} ({})", k.label, k.identifier))
                .unwrap_or_else(|| e.detail.clone()),
            ip: e.ip.unwrap_or_default(),
        })
        .collect())
}

fn empty_form(user: &CurrentUser) -> GenerateForm {
    GenerateForm {
        label: String::new(),
        expires: "90".into(),
        expires_on: String::new(),
        permissions: offered(user, &PermissionSet::default()),
        errors: FieldErrors::default(),
        open: false,
    }
}

/// Only the permissions the user holds now in this workspace are offered;
/// nothing is pre-checked (least privilege).
fn offered(user: &CurrentUser, checked: &PermissionSet) -> Vec<PermissionChoice> {
    Permission::ALL
        .into_iter()
        .filter(|p| user.can(*p))
        .map(|p| PermissionChoice { name: p.as_str(), description: p.description(), checked: checked.contains(p) })
        .collect()
}

async fn area(
    state: &AppState,
    user: &CurrentUser,
    filter: Option<KeyState>,
    form: GenerateForm,
    revealed: Option<Revealed>,
) -> Result<KeysArea, AppError> {
    let now = Utc::now();
    let keys = crate::store::keys::for_owner(&state.db, user.workspace_id(), user.user.id).await?;
    let cards = keys
        .iter()
        .filter(|k| filter.is_none_or(|f| KeyState::of(k.revoked_at, k.expires_at, now) == f))
        .map(|k| card(k, now, None))
        .collect();
    let key_ids: Vec<i64> = keys.iter().map(|k| k.id).collect();
    let scope = crate::store::audit::Scope::User { user_id: user.user.id, key_ids: &key_ids };
    let events = crate::store::audit::recent(&state.db, user.workspace_id(), scope, 20).await?;
    Ok(KeysArea {
        csrf: user.csrf_token(),
        cards,
        filter: filter.map(|f| f.as_str()).unwrap_or("all").to_owned(),
        filters: vec![("all", "All"), ("active", "Active"), ("expiring", "Expiring"), ("expired", "Expired"), ("revoked", "Revoked")],
        form,
        revealed,
        activity: activity(state, events, &keys).await?,
    })
}

async fn respond(req: &HttpRequest, user: &CurrentUser, area: KeysArea, status: StatusCode) -> Result<HttpResponse, AppError> {
    if is_htmx(req) {
        render(status, &KeysFragment { area })
    } else {
        render(status, &KeysPage { layout: Layout::for_user(user, "API keys"), area })
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let filter = query.status.as_deref().and_then(KeyState::parse);
    let area = area(&state, &user, filter, empty_form(&user), None).await?;
    respond(&req, &user, area, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct GenerateInput {
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub permission: Vec<String>,
    #[serde(default)]
    pub expires: String,
    #[serde(default)]
    pub expires_on: String,
}

/// An audit event by the signed-in user about one key, from the request's address.
pub fn audit(user: &CurrentUser, req: &HttpRequest, state: &AppState, key_id: i64, action: &'static str, detail: String) -> Event<'static> {
    Event {
        workspace_id: user.workspace_id(),
        actor_user_id: Some(user.user.id),
        key_id: Some(key_id),
        action,
        detail,
        ip: state.client_ip(req),
    }
}

pub async fn generate(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    CsrfForm(input): CsrfForm<GenerateInput>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let label = errors.check("label", KeyLabel::parse(&input.label));
    let perms = errors.check("permission", PermissionSet::parse_names(input.permission.iter().map(String::as_str)));
    if let Some(perms) = &perms
        && !perms.is_subset(&user.membership.permissions)
    {
        // A forged form asking for more than the user holds.
        errors.add("permission", "A key can only carry permissions you hold now in this workspace.");
    }
    let expiry = errors.check("expires", Expiry::parse(&input.expires, Some(&input.expires_on), Utc::now()));
    let retry_form = |errors: FieldErrors, perms: &Option<PermissionSet>| GenerateForm {
        label: input.label.clone(),
        expires: input.expires.clone(),
        expires_on: input.expires_on.clone(),
        permissions: offered(&user, &perms.clone().unwrap_or_default()),
        errors,
        open: true,
    };
    let (Some(label), Some(perms_ok), Some(expiry), true) = (label, perms.clone(), expiry, errors.is_empty()) else {
        let a = area(&state, &user, None, retry_form(errors, &perms), None).await?;
        return respond(&req, &user, a, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let secret = KeySecret::generate();
    let new = crate::store::keys::NewKey {
        workspace_id: user.workspace_id(),
        user_id: user.user.id,
        label: &label,
        permissions: &perms_ok,
        secret: &secret,
        expires_at: expiry.at(),
    };
    let created = if crate::store::keys::label_taken(&state.db, user.workspace_id(), user.user.id, &label).await? {
        None
    } else {
        match crate::store::keys::create(&state.db, new).await {
            Ok(k) => Some(k),
            Err(e) if crate::store::is_unique_violation(&e) => None,
            Err(e) => return Err(e.into()),
        }
    };
    let key = match created {
        Some(k) => k,
        None => {
            let mut errors = FieldErrors::default();
            errors.add("label", "You already have a key with this label here. Choose a label that says what uses this one.");
            let a = area(&state, &user, None, retry_form(errors, &perms), None).await?;
            return respond(&req, &user, a, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    state.keys.changed().await?;
    let detail = format!("permissions: {}", if perms_ok.is_empty() { "none".into() } else { perms_ok.to_stored() });
    crate::store::audit::record(&state.db, audit(&user, &req, &state, key.id, "key.created", detail)).await?;
    tracing::info!(key_id = key.id, identifier = %key.identifier, "personal key created");
    let revealed = Revealed {
        label: key.label.clone(),
        secret: secret.expose().to_owned(),
        note: "Copy it now: you will not see this secret again.".into(),
    };
    let a = area(&state, &user, None, empty_form(&user), Some(revealed)).await?;
    respond(&req, &user, a, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct RotateInput {
    #[serde(default)]
    pub grace: String,
}

async fn owned_key(state: &AppState, user: &CurrentUser, id: i64) -> Result<personal_keys::Model, AppError> {
    crate::store::keys::find(&state.db, user.workspace_id(), id, Some(user.user.id)).await?.ok_or(AppError::NotFound)
}

pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    CsrfForm(input): CsrfForm<RotateInput>,
) -> Result<HttpResponse, AppError> {
    let key = owned_key(&state, &user, path.into_inner()).await?;
    let grace = parse_grace(&input.grace).map_err(|_| AppError::BadRequest)?;
    if !KeyState::of(key.revoked_at, key.expires_at, Utc::now()).usable() {
        crate::web::Flash::push(&user.session, "error", "Only an active key can be rotated. Generate a new key instead.");
        return Ok(crate::web::see_other(urls::ACCOUNT_KEYS));
    }
    let secret = KeySecret::generate();
    let until = (grace > chrono::Duration::zero()).then(|| Utc::now() + grace);
    crate::store::keys::rotate(&state.db, &key, &secret, until).await?;
    state.keys.changed().await?;
    let note = match until {
        Some(t) => format!("The old secret keeps working until {}.", fmt_time(t)),
        None => "The old secret stopped working now.".into(),
    };
    crate::store::audit::record(&state.db, audit(&user, &req, &state, key.id, "key.rotated", note.clone())).await?;
    let revealed = Revealed {
        label: key.label.clone(),
        secret: secret.expose().to_owned(),
        note: format!("Copy it now: you will not see this secret again. {note}"),
    };
    let a = area(&state, &user, None, empty_form(&user), Some(revealed)).await?;
    respond(&req, &user, a, StatusCode::OK).await
}

/// `POST /account/keys/{id}/{revoke|delete}`: revoke an active key, or
/// delete one that is already revoked.
pub async fn retire(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(i64, String)>,
    CsrfForm(_): CsrfForm<crate::web::auth::Empty>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let key = owned_key(&state, &user, id).await?;
    let (done, event, detail) = match action.as_str() {
        "revoke" => (crate::store::keys::revoke(&state.db, key.id).await?, "key.revoked", "Revoked by its owner.".to_owned()),
        "delete" => (
            crate::store::keys::delete_revoked(&state.db, key.id).await?,
            "key.deleted",
            format!("Deleted revoked key {} ({}).", key.label, key.identifier),
        ),
        _ => return Err(AppError::NotFound),
    };
    if done {
        state.keys.changed().await?;
        crate::store::audit::record(&state.db, audit(&user, &req, &state, key.id, event, detail)).await?;
    }
    let a = area(&state, &user, None, empty_form(&user), None).await?;
    respond(&req, &user, a, StatusCode::OK).await
}
