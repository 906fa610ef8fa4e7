//! `Your account → API keys` (`/account/keys`): generate, show once, copy,
//! rotate with a grace period, revoke, delete keys that no longer work — each
//! destructive step confirmed. Works as plain pages and, with htmx, by
//! swapping `#keys-area` in place.
use crate::web::params::Params;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::domain::keys::{Expiry, KeyLabel, KeyState, parse_grace};
use crate::domain::{Permission, PermissionSet};
use crate::entities::personal_keys;
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::web::confirm::{Confirmation, ask};
use crate::web::views::{KeyRow, Pager, PermissionChoice, fmt_time, key_row, permission_choices};
use crate::web::{AppError, CsrfForm, FieldErrors, Layout, is_htmx, render, urls};

/// A secret shown exactly once: in the htmx answer that created it, or on
/// the page a plain post redirects to (so a reload neither posts again nor
/// shows the secret again).
#[derive(serde::Serialize, serde::Deserialize)]
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
    /// The rate limit (requests per window seconds) and monthly quota; empty for none.
    pub rate_limit_requests: String,
    pub rate_limit_window: String,
    pub monthly_quota: String,
    pub errors: FieldErrors,
    pub open: bool,
}

pub struct KeysArea {
    pub csrf: String,
    pub rows: Vec<KeyRow>,
    pub pager: Pager,
    pub filter: String,
    pub filters: Vec<(&'static str, &'static str)>,
    pub form: GenerateForm,
    pub revealed: Option<Revealed>,
    /// A sentence about what just happened (revoked, deleted), for screen readers and focus.
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "account/keys.html")]
struct KeysPage {
    layout: Layout,
    area: KeysArea,
}

#[derive(Template)]
#[template(path = "account/keys_area_partial.html")]
struct KeysFragment {
    area: KeysArea,
}

/// The form for a new key: 90 days, no permissions, the workspace's default limit.
async fn empty_form(state: &AppState, user: &CurrentUser) -> Result<GenerateForm, AppError> {
    let limits = crate::workspaces::default_limits(state, user.workspace_id()).await?;
    let (rate_limit_requests, rate_limit_window, monthly_quota) = crate::hub::keys::limit_texts(&limits);
    Ok(GenerateForm {
        label: String::new(),
        expires: "90".into(),
        expires_on: String::new(),
        permissions: offered(user, &PermissionSet::default()),
        rate_limit_requests,
        rate_limit_window,
        monthly_quota,
        errors: FieldErrors::default(),
        open: false,
    })
}

/// Only the permissions the user holds now in this workspace are offered;
/// nothing is pre-checked (least privilege).
fn offered(user: &CurrentUser, checked: &PermissionSet) -> Vec<PermissionChoice> {
    permission_choices(Permission::ALL.into_iter().filter(|p| user.can(*p)), checked)
}

/// The keys area: the form, a notice, and one page of the user's keys
/// (`Pager::PER_PAGE` a page, filtered and counted by the database).
async fn area(
    state: &AppState,
    user: &CurrentUser,
    filter: Option<KeyState>,
    page: u64,
    form: GenerateForm,
    revealed: Option<Revealed>,
    notice: Option<String>,
) -> Result<KeysArea, AppError> {
    let now = Utc::now();
    let owner = (user.workspace_id(), user.user.id);
    let (mut keys, total) = crate::store::keys::page_for_owner(
        &state.db,
        owner.0,
        owner.1,
        filter,
        now,
        Pager::offset(page),
        Pager::PER_PAGE,
    )
    .await?;
    // A page past the end (keys revoked or deleted since) shows the last one.
    let last = total.div_ceil(Pager::PER_PAGE).max(1);
    let page = if keys.is_empty() && page > last {
        keys = crate::store::keys::page_for_owner(
            &state.db,
            owner.0,
            owner.1,
            filter,
            now,
            Pager::offset(last),
            Pager::PER_PAGE,
        )
        .await?
        .0;
        last
    } else {
        page
    };
    let revoked: Vec<i64> = keys.iter().filter(|k| k.revoked_at.is_some()).map(|k| k.id).collect();
    let revokers = crate::store::audit::revokers(&state.db, user.workspace_id(), &revoked).await?;
    let rows =
        keys.iter().map(|k| KeyRow { revoked_by: revokers.get(&k.id).cloned(), ..key_row(k, now, None) }).collect();
    let filter = filter.map(|f| f.as_str()).unwrap_or("all").to_owned();
    let base = if filter == "all" {
        format!("{}?", urls::ACCOUNT_KEYS)
    } else {
        format!("{}?status={filter}&", urls::ACCOUNT_KEYS)
    };
    Ok(KeysArea {
        csrf: user.csrf_token(),
        rows,
        pager: Pager::new(page, total, &base),
        filter,
        filters: vec![
            ("all", "All"),
            ("active", "Active"),
            ("expiring", "Expiring"),
            ("expired", "Expired"),
            ("revoked", "Revoked"),
        ],
        form,
        revealed,
        notice,
    })
}

async fn respond(
    req: &HttpRequest,
    user: &CurrentUser,
    area: KeysArea,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    if is_htmx(req) {
        render(status, &KeysFragment { area })
    } else {
        render(status, &KeysPage { layout: Layout::for_user(user, "API keys"), area })
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    page: Option<crate::domain::query::Page>,
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    query: Params<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let filter = query.status.as_deref().and_then(KeyState::parse);
    let form = match crate::web::retry::take(&req, urls::ACCOUNT_KEYS) {
        Some(r) => {
            let checked =
                PermissionSet::parse_names(r.values("permission").iter().map(String::as_str)).unwrap_or_default();
            GenerateForm {
                label: r.value("label"),
                expires: r.value("expires"),
                expires_on: r.value("expires_on"),
                permissions: offered(&user, &checked),
                rate_limit_requests: r.value("rate_limit_requests"),
                rate_limit_window: r.value("rate_limit_window"),
                monthly_quota: r.value("monthly_quota"),
                errors: r.errors,
                open: true,
            }
        }
        None => empty_form(&state, &user).await?,
    };
    let revealed = take_revealed(&state, &user);
    let shown = revealed.is_some();
    let area = area(&state, &user, filter, query.page.map_or(1, crate::domain::query::Page::get), form, revealed, None)
        .await?;
    let mut res = respond(&req, &user, area, StatusCode::OK).await?;
    if shown {
        res.headers_mut().insert(
            actix_web::http::header::CACHE_CONTROL,
            actix_web::http::header::HeaderValue::from_static("no-store"),
        );
    }
    Ok(res)
}

/// The session slot of a secret waiting for the page a plain post redirects
/// to; sealed with the instance's master key while it waits.
const SHOW_ONCE: &str = "personal_key_show_once";
const SHOW_ONCE_CONTEXT: &str = "personal-key-show-once";

/// The new secret's answer: the keys area at once (htmx), or a redirect to
/// the keys page, which shows it once.
async fn reveal(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    mut revealed: Revealed,
) -> Result<HttpResponse, AppError> {
    if is_htmx(req) {
        let a = area(state, user, None, 1, empty_form(state, user).await?, Some(revealed), None).await?;
        let mut res = respond(req, user, a, StatusCode::OK).await?;
        res.headers_mut().insert(
            actix_web::http::header::CACHE_CONTROL,
            actix_web::http::header::HeaderValue::from_static("no-store"),
        );
        return Ok(res);
    }
    revealed.secret = state.sealer.seal(SHOW_ONCE_CONTEXT, &revealed.secret);
    user.session.insert(SHOW_ONCE, &revealed).map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))?;
    Ok(crate::web::see_other(urls::ACCOUNT_KEYS))
}

fn take_revealed(state: &AppState, user: &CurrentUser) -> Option<Revealed> {
    let mut r = user.session.remove_as::<Revealed>(SHOW_ONCE)?.ok()?;
    r.secret = state.sealer.open(SHOW_ONCE_CONTEXT, &r.secret)?;
    Some(r)
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
    #[serde(default)]
    pub rate_limit_requests: String,
    #[serde(default)]
    pub rate_limit_window: String,
    #[serde(default)]
    pub monthly_quota: String,
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
    let expiry = errors.check("expires", Expiry::parse(&input.expires, Some(&input.expires_on), Utc::now()));
    let limits =
        crate::domain::limits::parse_form(&input.rate_limit_requests, &input.rate_limit_window, &input.monthly_quota)
            .map_err(|(f, m)| errors.add(crate::hub::keys::limit_field(f), m))
            .ok();
    let created = match (&label, &perms, expiry, limits, errors.is_empty()) {
        (Some(label), Some(perms), Some(expiry), Some(limits), true) => {
            match crate::account::keys::generate(
                &state.db,
                &user.actor,
                &user.membership.permissions,
                label,
                perms,
                expiry.at(),
                limits,
            )
            .await
            {
                Ok(made) => Some(made),
                Err(Refusal::Fields(refused)) => {
                    errors.extend(refused);
                    None
                }
                Err(other) => return Err(other.into()),
            }
        }
        _ => None,
    };
    let Some((key, secret)) = created else {
        let mut kept = vec![
            ("label", input.label.as_str()),
            ("expires", &input.expires),
            ("expires_on", &input.expires_on),
            ("rate_limit_requests", &input.rate_limit_requests),
            ("rate_limit_window", &input.rate_limit_window),
            ("monthly_quota", &input.monthly_quota),
        ];
        kept.extend(input.permission.iter().map(|p| ("permission", p.as_str())));
        if let Some(back) = crate::web::retry::back_to(&req, urls::ACCOUNT_KEYS, &kept, &errors) {
            return Ok(back);
        }
        let form = GenerateForm {
            label: input.label.clone(),
            expires: input.expires.clone(),
            expires_on: input.expires_on.clone(),
            permissions: offered(&user, &perms.clone().unwrap_or_default()),
            rate_limit_requests: input.rate_limit_requests.clone(),
            rate_limit_window: input.rate_limit_window.clone(),
            monthly_quota: input.monthly_quota.clone(),
            errors,
            open: true,
        };
        let a = area(&state, &user, None, 1, form, None, None).await?;
        return respond(&req, &user, a, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    state.keys.key_changed(key.workspace_id, key.id).await?;
    crate::notify::webhooks::emit(
        &state,
        key.workspace_id,
        "key.created",
        crate::notify::webhooks::personal_key_data(&key),
    )
    .await;
    let mut note = "Copy it now: you will not see this secret again.".to_owned();
    if key.expires_at.is_none() {
        note.push_str(" This key never expires: revoke it when it is no longer needed.");
    }
    let revealed = Revealed { label: key.label.clone(), secret: secret.expose().to_owned(), note };
    reveal(&req, &state, &user, revealed).await
}

#[derive(Deserialize)]
pub struct RotateInput {
    #[serde(default)]
    pub grace: String,
    #[serde(default)]
    pub confirmed: String,
    /// The key's identifier as the page showed it: a rotation is of that
    /// secret, so a second press (or tab) finds the key already rotated.
    #[serde(default)]
    pub identifier: String,
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
        crate::web::Flash::push(
            &user.session,
            "error",
            "Only an active key can be rotated. Generate a new key instead.",
        );
        return Ok(crate::web::see_other(urls::ACCOUNT_KEYS));
    }
    let rotated_meanwhile = || AppError::Conflict(crate::account::keys::ROTATED_MEANWHILE.into());
    if !input.identifier.is_empty() && input.identifier != key.identifier {
        return Err(rotated_meanwhile());
    }
    if input.confirmed != "yes" {
        let question = if grace.is_zero() {
            "Rotate this key? Its current secret stops working at once:"
        } else {
            "Rotate this key? Its current secret keeps working only for the grace period you chose:"
        };
        return ask(
            &user,
            Confirmation {
                title: "Rotate key",
                question: question.into(),
                subject: Some(format!("{} ({})", key.label, key.identifier)),
                action: urls::account_key_action(key.id, "rotate"),
                button: "Rotate key",
                fields: vec![("grace", input.grace.clone()), ("identifier", key.identifier.clone())],
                back: urls::ACCOUNT_KEYS.into(),
            },
        );
    }
    let until = (grace > chrono::Duration::zero()).then(|| Utc::now() + grace);
    let note = match until {
        Some(t) => format!("The old secret keeps working until {}.", fmt_time(t)),
        None => "The old secret stopped working now.".into(),
    };
    let secret = crate::account::keys::rotate(&state, &user.actor, &key, until, note.clone()).await?;
    let revealed = Revealed {
        label: key.label.clone(),
        secret: secret.expose().to_owned(),
        note: format!("Copy it now: you will not see this secret again. {note}"),
    };
    reveal(&req, &state, &user, revealed).await
}

#[derive(Deserialize)]
pub struct RetireInput {
    #[serde(default)]
    pub confirmed: String,
    /// The list filter the user was looking at, kept after the action.
    #[serde(default)]
    pub status: String,
}

/// `POST /account/keys/{id}/{revoke|delete}`: revoke an active key, or
/// delete one that no longer works (revoked or expired).
pub async fn retire(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(i64, String)>,
    CsrfForm(input): CsrfForm<RetireInput>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let key = owned_key(&state, &user, id).await?;
    let (title, question, button) = match action.as_str() {
        "revoke" => ("Revoke key", "Revoke this key? Anything using it stops working at once:", "Revoke key"),
        "delete" => {
            ("Delete key", "Delete this key for good? It no longer works; only its history remains:", "Delete key")
        }
        _ => return Err(AppError::NotFound),
    };
    if input.confirmed != "yes" {
        return ask(
            &user,
            Confirmation {
                title,
                question: question.into(),
                subject: Some(format!("{} ({})", key.label, key.identifier)),
                action: urls::account_key_action(key.id, &action),
                button,
                fields: vec![("status", input.status.clone())],
                back: urls::ACCOUNT_KEYS.into(),
            },
        );
    }
    let (done, notice) = match action.as_str() {
        "revoke" => (crate::account::keys::revoke(&state, &user.actor, &key).await?, "revoked"),
        _ => (crate::account::keys::delete(&state, &user.actor, &key).await?, "deleted"),
    };
    let filter = KeyState::parse(&input.status);
    let notice = done.then(|| format!("The key “{}” has been {notice}.", key.label));
    let a = area(&state, &user, filter, 1, empty_form(&state, &user).await?, None, notice).await?;
    if is_htmx(&req) {
        respond(&req, &user, a, StatusCode::OK).await
    } else {
        // A plain post ends in a redirect, so a reload does not post again.
        if let Some(n) = a.notice {
            crate::web::Flash::push(&user.session, "success", n);
        }
        let to = match filter {
            Some(f) => format!("{}?status={}", urls::ACCOUNT_KEYS, f.as_str()),
            None => urls::ACCOUNT_KEYS.to_owned(),
        };
        Ok(crate::web::see_other(&to))
    }
}
