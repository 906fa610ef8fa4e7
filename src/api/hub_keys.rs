//! `/api/v1/hub-keys`: everything the key editor does, for scripts, with the
//! same checks and messages (each naming its field and row). Needs
//! `hub_keys.manage`.
use crate::web::params::Params;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::collections::body;
use crate::api::{ApiError, Principal, perm};
use crate::auth::hub_verifier::SyncStatus;
use crate::domain::header_template::HeaderRow;
use crate::domain::hub_keys::{AccessType, KeyStatus};
use crate::domain::limits::RateLimit;
use crate::entities::hub_keys;
use crate::hub::keys::{self as manage, ExpiryInput, IpRow, KeyInput};
use crate::refusal::Refusal;
use crate::state::AppState;

/// A refusal with the fields spelled as JSON spells them.
fn json_fields(r: Refusal) -> Refusal {
    r.rename_fields(api_field)
}

/// `ip_filters.2` (the editor's form) is `ip_filters[2]` in JSON, and the
/// editor's rate fields are the members of `rate_limit`.
pub fn api_field(f: &str) -> String {
    match f {
        "rate_limit_requests" => return "rate_limit.requests".into(),
        "rate_limit_window" => return "rate_limit.window_seconds".into(),
        _ => {}
    }
    match f.rsplit_once('.') {
        Some((name, i)) if i.bytes().all(|b| b.is_ascii_digit()) => format!("{name}[{i}]"),
        _ => f.to_owned(),
    }
}

#[derive(Serialize, Deserialize, ToSchema, Clone)]
pub struct IpFilterJson {
    /// An IPv4 or IPv6 address; `10.0.0.0/8` is split when `netmask` is absent.
    pub range: String,
    /// A prefix length, or for IPv4 a dotted mask such as `255.255.255.0`.
    #[serde(default)]
    pub netmask: String,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointRef {
    pub id: i64,
    pub path: String,
    pub url: String,
    pub access: String,
}

#[derive(Serialize, ToSchema)]
pub struct SyncJson {
    /// `pending` or `synced`.
    pub state: &'static str,
    /// Running keyhub nodes considered.
    pub nodes: usize,
    /// When every node had the change (synced only).
    pub at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct HubKeyOut {
    pub id: i64,
    pub name: String,
    pub access_type: AccessType,
    pub status: KeyStatus,
    /// `khd_…abcd` (API key) or `…abcd` (generic token); never the secret.
    pub identifier: Option<String>,
    pub ip_filters: Vec<IpFilterJson>,
    pub expires_at: Option<DateTime<Utc>>,
    pub headers: Vec<HeaderRow>,
    pub endpoint_ids: Vec<i64>,
    pub endpoints: Vec<EndpointRef>,
    pub user_ids: Vec<i64>,
    pub team_ids: Vec<i64>,
    /// Send it back as `version` in a PATCH to refuse a save over someone else's.
    pub version: i64,
    pub sync_status: SyncJson,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<i64>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<i64>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    /// Calls allowed per window; beyond, 429 `rate_limited`. `null`: none.
    pub rate_limit: Option<RateLimit>,
    /// Accepted calls allowed per calendar month (UTC); beyond, 429 `quota_exceeded`. `null`: none.
    pub monthly_quota: Option<u64>,
    /// Only in the answer that created it (or switched it to API Key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Normalisations applied (e.g. host bits cleared).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Saved, but worth a look (e.g. a generic token with low variety).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

async fn out(state: &AppState, k: hub_keys::Model) -> Result<HubKeyOut, ApiError> {
    let links = crate::store::hub_keys::links(&state.db, k.id).await?;
    let slug =
        crate::store::workspaces::find(&state.db, k.workspace_id).await?.and_then(|w| w.slug).unwrap_or_default();
    let endpoints = crate::hub::keys::endpoints_of(state, &k)
        .await?
        .into_iter()
        .map(|e| EndpointRef {
            id: e.id,
            url: format!("/hub/{slug}/{}", e.path),
            path: e.path,
            access: e.access.to_string(),
        })
        .collect();
    let sync_status = match state.hub_keys.sync_status(&k).await? {
        SyncStatus::Pending { nodes, .. } => SyncJson { state: "pending", nodes, at: None },
        SyncStatus::Synced { nodes, at } => SyncJson { state: "synced", nodes, at: Some(at) },
    };
    let access_type = *k.access_type;
    let limits = manage::limits_of(&k);
    Ok(HubKeyOut {
        id: k.id,
        identifier: k.secret_suffix.as_deref().map(|s| crate::domain::hub_keys::identifier(access_type, s)),
        ip_filters: manage::ip_rows(&k)
            .into_iter()
            .map(|r| IpFilterJson { range: r.range, netmask: r.netmask })
            .collect(),
        headers: manage::header_rows(&k),
        name: k.name,
        access_type,
        status: *k.status,
        expires_at: k.expires_at,
        endpoint_ids: links.endpoint_ids,
        endpoints,
        user_ids: links.user_ids,
        team_ids: links.team_ids,
        version: k.version,
        sync_status,
        created_at: k.created_at,
        created_by: k.created_by,
        updated_at: k.updated_at,
        updated_by: k.updated_by,
        last_used_at: k.last_used_at,
        last_used_ip: k.last_used_ip,
        rate_limit: limits.rate,
        monthly_quota: limits.monthly_quota,
        secret: None,
        notes: Vec::new(),
        warnings: Vec::new(),
    })
}

/// A key to create, or the fields to change (absent = unchanged).
#[derive(Deserialize, ToSchema, Default)]
pub struct HubKeyIn {
    pub name: Option<String>,
    /// `api_key`, `portal_token` or `generic_token`.
    pub access_type: Option<String>,
    /// `active` (default) or `inactive`.
    pub status: Option<String>,
    pub ip_filters: Option<Vec<IpFilterJson>>,
    /// Required to save `0.0.0.0/0` or `::/0`.
    #[serde(default)]
    pub allow_all_addresses: bool,
    /// RFC 3339, or null for never.
    #[serde(default, deserialize_with = "crate::api::collections::present")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Option<String>>,
    pub headers: Option<Vec<HeaderRow>>,
    pub endpoint_ids: Option<Vec<i64>>,
    /// Portal tokens: users whose personal keys are accepted.
    pub user_ids: Option<Vec<i64>>,
    /// Portal tokens: teams whose members' personal keys are accepted.
    pub team_ids: Option<Vec<i64>>,
    /// Generic tokens: the value (24–256 printable ASCII characters, no spaces).
    pub token: Option<String>,
    /// The `version` you read; a newer saved version refuses the change (409).
    pub version: Option<i64>,
    /// `{"requests": 100, "window_seconds": 60}`, or null for none. Absent
    /// on create: the workspace's default limit for new keys.
    #[serde(default, deserialize_with = "crate::api::collections::present")]
    #[schema(value_type = Option<RateLimit>)]
    pub rate_limit: Option<Option<RateLimitIn>>,
    /// Accepted calls per calendar month (UTC), or null for none.
    #[serde(default, deserialize_with = "crate::api::collections::present")]
    #[schema(value_type = Option<u64>)]
    pub monthly_quota: Option<Option<u64>>,
}

/// A rate limit as sent; checked by the same rules as the editor's fields.
#[derive(Deserialize, ToSchema, Default, Clone, Copy)]
pub struct RateLimitIn {
    pub requests: u64,
    pub window_seconds: u64,
}

/// The limit fields as the editor would have them typed: what was sent, else
/// what the key has, else (a new key) the workspace's default.
pub async fn limit_texts(
    state: &AppState,
    workspace_id: i64,
    current: Option<crate::domain::limits::Limits>,
    rate: Option<Option<RateLimitIn>>,
    quota: Option<Option<u64>>,
) -> Result<(String, String, String), ApiError> {
    let base = match current {
        Some(l) => l,
        None => crate::workspaces::default_limits(state, workspace_id).await?,
    };
    let (mut r, mut w, mut q) = manage::limit_texts(&base);
    if let Some(rate) = rate {
        (r, w) = rate.map(|x| (x.requests.to_string(), x.window_seconds.to_string())).unwrap_or_default();
    }
    if let Some(quota) = quota {
        q = quota.map(|x| x.to_string()).unwrap_or_default();
    }
    Ok((r, w, q))
}

async fn input(
    state: &AppState,
    workspace: i64,
    base: Option<&hub_keys::Model>,
    b: HubKeyIn,
) -> Result<KeyInput, ApiError> {
    let links = match base {
        Some(k) => crate::store::hub_keys::links(&state.db, k.id).await?,
        None => Default::default(),
    };
    // Rows saved with an explicit confirmation stay confirmed when a PATCH leaves the filter alone.
    let allow_all_addresses = b.allow_all_addresses || (b.ip_filters.is_none() && base.is_some());
    let expires = match b.expires_at {
        None => ExpiryInput::At(base.and_then(|k| k.expires_at)),
        Some(None) => ExpiryInput::At(None),
        Some(Some(s)) => {
            ExpiryInput::At(Some(DateTime::parse_from_rfc3339(&s).map(|t| t.with_timezone(&Utc)).map_err(|_| {
                ApiError::InvalidField {
                    field: "expires_at".into(),
                    message: "Give the expire date in RFC 3339, e.g. 2027-01-31T18:00:00Z, or null.".into(),
                }
            })?))
        }
    };
    let workspace_id = base.map_or(workspace, |k| k.workspace_id);
    let (rate_requests, rate_window, monthly_quota) =
        limit_texts(state, workspace_id, base.map(manage::limits_of), b.rate_limit, b.monthly_quota).await?;
    Ok(KeyInput {
        rate_requests,
        rate_window,
        monthly_quota,
        name: b.name.or_else(|| base.map(|k| k.name.clone())).unwrap_or_default(),
        access_type: b.access_type.or_else(|| base.map(|k| k.access_type.to_string())).unwrap_or_default(),
        status: b.status.or_else(|| base.map(|k| k.status.to_string())).unwrap_or_else(|| "active".into()),
        ip_filters: match b.ip_filters {
            Some(rows) => rows.into_iter().map(|r| IpRow { range: r.range, netmask: r.netmask }).collect(),
            None => base.map(manage::ip_rows).unwrap_or_default(),
        },
        allow_all_addresses,
        expires,
        headers: b.headers.unwrap_or_else(|| base.map(manage::header_rows).unwrap_or_default()),
        endpoint_ids: b.endpoint_ids.unwrap_or(links.endpoint_ids),
        user_ids: b.user_ids.unwrap_or(links.user_ids),
        team_ids: b.team_ids.unwrap_or(links.team_ids),
        token: b.token,
        version: b.version,
    })
}

#[derive(Deserialize, ToSchema)]
pub struct TableParams {
    /// Part of the name.
    pub q: Option<String>,
    pub status: Option<String>,
    pub access_type: Option<String>,
    /// `name` (default), `access_type`, `status`, `expires_at`, `last_used_at`, `created_at`; `-` first for descending.
    pub sort: Option<String>,
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 500)]
    pub limit: Option<crate::domain::query::Bounded<1, 500>>,
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 1_000_000_000_000u64)]
    pub offset: Option<crate::domain::query::Offset>,
}

#[derive(Serialize, ToSchema)]
pub struct HubKeyPage {
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
    pub keys: Vec<HubKeyOut>,
}

const STATUSES: [&str; 2] = ["active", "inactive"];
const SORTS: [&str; 6] = ["name", "access_type", "status", "expires_at", "last_used_at", "created_at"];

#[utoipa::path(get, path = "/api/v1/hub-keys", tag = "hub keys",
    params(("q" = Option<String>, Query, description = "Part of the name"),
           ("status" = Option<String>, Query, description = "active or inactive", pattern = "^(active|inactive)$"),
           ("access_type" = Option<String>, Query, description = "api_key, portal_token or generic_token", pattern = "^(api_key|portal_token|generic_token)$"),
           ("sort" = Option<String>, Query, description = "name, access_type, status, expires_at, last_used_at, created_at; prefix - for descending", pattern = "^-?(name|access_type|status|expires_at|last_used_at|created_at)$"),
           ("limit" = Option<u64>, Query, minimum = 1, maximum = 500, description = "1 to 500, default 50"),
           ("offset" = Option<u64>, Query, minimum = 0, maximum = 1_000_000_000_000u64, description = "Keys to skip")),
    responses((status = 200, description = "A page of the workspace's Data Hub keys", body = HubKeyPage)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    q: Params<TableParams>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    // A value the table does not know is refused, never ignored: a typo in
    // `status=actve` must not answer with every key.
    let refuse = |parameter: &str, allowed: &[&str]| ApiError::InvalidQuery {
        parameter: parameter.into(),
        message: format!("{parameter} must be one of: {}.", allowed.join(", ")),
    };
    let access_types: Vec<&str> = AccessType::ALL.iter().map(|a| a.as_str()).collect();
    if q.status.as_deref().is_some_and(|s| !STATUSES.contains(&s)) {
        return Err(refuse("status", &STATUSES));
    }
    if q.access_type.as_deref().is_some_and(|a| !access_types.contains(&a)) {
        return Err(refuse("access_type", &access_types));
    }
    let sort = q.sort.unwrap_or_else(|| "name".into());
    let (desc, sort) = match sort.strip_prefix('-') {
        Some(s) => (true, s.to_owned()),
        None => (false, sort),
    };
    if !SORTS.contains(&sort.as_str()) {
        return Err(refuse("sort", &SORTS));
    }
    let limit = q.limit.map_or(50, |l| l.get());
    let offset = q.offset.map_or(0, |o| o.get());
    let tq = crate::store::hub_keys::TableQuery {
        search: q.q,
        status: q.status,
        access_type: q.access_type,
        sort,
        desc,
        offset,
        limit,
    };
    let (rows, total) = crate::store::hub_keys::table(&state.db, p.key.workspace_id, &tq).await?;
    let mut keys = Vec::with_capacity(rows.len());
    for (k, _) in rows {
        keys.push(out(&state, k).await?);
    }
    Ok(HttpResponse::Ok().json(HubKeyPage { total, limit, offset, keys }))
}

#[utoipa::path(post, path = "/api/v1/hub-keys", tag = "hub keys", request_body = HubKeyIn,
    responses((status = 201, description = "Created; an API key's `secret` is in this answer only (and `/reveal`)", body = HubKeyOut),
              (status = 422, description = "invalid_field: `field` names the first wrong field (`ip_filters[1]`, `headers[0]`, …), `errors` all of them", body = crate::api::errors::ErrorBody)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    b: Result<web::Json<HubKeyIn>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let input = input(&state, p.key.workspace_id, None, body(b)?).await?;
    let saved = manage::save(&state, &p.actor(), None, &input).await.map_err(json_fields)?;
    let mut o = out(&state, saved.key).await?;
    (o.secret, o.notes, o.warnings) = (saved.secret, saved.notes, saved.warnings);
    Ok(HttpResponse::Created().insert_header((header::CACHE_CONTROL, "no-store")).json(o))
}

async fn find(state: &AppState, ws: i64, id: i64) -> Result<hub_keys::Model, ApiError> {
    crate::store::hub_keys::find(&state.db, ws, id).await?.ok_or(ApiError::NotFound)
}

#[utoipa::path(get, path = "/api/v1/hub-keys/{id}", tag = "hub keys", params(("id" = i64, Path, description = "Key id")),
    responses((status = 200, description = "The key (never its secret)", body = HubKeyOut)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let k = find(&state, p.key.workspace_id, *id).await?;
    Ok(HttpResponse::Ok().json(out(&state, k).await?))
}

#[utoipa::path(patch, path = "/api/v1/hub-keys/{id}", tag = "hub keys", params(("id" = i64, Path, description = "Key id")), request_body = HubKeyIn,
    responses((status = 200, description = "Changed", body = HubKeyOut),
              (status = 409, description = "edit_conflict: `version` is older than the saved key", body = crate::api::errors::ErrorBody),
              (status = 422, description = "invalid_field", body = crate::api::errors::ErrorBody)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    id: web::Path<i64>,
    b: Result<web::Json<HubKeyIn>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let k = find(&state, p.key.workspace_id, *id).await?;
    let input = input(&state, p.key.workspace_id, Some(&k), body(b)?).await?;
    let saved = manage::save(&state, &p.actor(), Some(k.id), &input).await.map_err(json_fields)?;
    let mut o = out(&state, saved.key).await?;
    (o.secret, o.notes, o.warnings) = (saved.secret, saved.notes, saved.warnings);
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(o))
}

#[utoipa::path(delete, path = "/api/v1/hub-keys/{id}", tag = "hub keys", params(("id" = i64, Path, description = "Key id")),
    responses((status = 204, description = "Deleted; the endpoints that listed it no longer accept it")),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let k = find(&state, p.key.workspace_id, *id).await?;
    manage::delete(&state, &p.actor(), &k).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct SecretOut {
    pub secret: String,
}

#[utoipa::path(post, path = "/api/v1/hub-keys/{id}/reveal", tag = "hub keys", params(("id" = i64, Path, description = "Key id")),
    responses((status = 200, description = "The API key's secret (audited; `Cache-Control: no-store`)", body = SecretOut),
              (status = 422, description = "invalid_field: not an API key (`access_type`), or the stored secret cannot be opened (`secret`; regenerate it)", body = crate::api::errors::ErrorBody)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn reveal(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let k = find(&state, p.key.workspace_id, *id).await?;
    let secret = manage::reveal(&state, &p.actor(), &k).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(SecretOut { secret }))
}

#[utoipa::path(post, path = "/api/v1/hub-keys/{id}/regenerate", tag = "hub keys", params(("id" = i64, Path, description = "Key id")),
    responses((status = 200, description = "A new secret; the old one is refused from now on (`no-store`)", body = SecretOut),
              (status = 422, description = "invalid_field `access_type`: only an API Key has a generated secret", body = crate::api::errors::ErrorBody)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn regenerate(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let k = find(&state, p.key.workspace_id, *id).await?;
    let (_, secret) = manage::regenerate(&state, &p.actor(), &k).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(SecretOut { secret }))
}
