//! `/api/v1/…/usage`: a key's (or the workspace's) calls over time by
//! outcome, by endpoint, and for the workspace by key. Counts lag the calls
//! by at most one flush (10 s).
use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::{ApiError, Principal, perm};
use crate::domain::usage::{Bucket, Counts, KeyRef, MAX_BUCKETS};
use crate::state::AppState;
use crate::usage::report::{self, Range, Scope};

#[derive(Deserialize, IntoParams)]
pub struct UsageParams {
    /// RFC 3339; default: a day before `to`, in whole buckets.
    pub from: Option<String>,
    /// RFC 3339; default: now.
    pub to: Option<String>,
    /// `minute`, `hour` (default) or `day`. Minutes are kept 7 days, hours 90.
    pub bucket: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CountsOut {
    /// Calls answered without a refusal.
    pub ok: u64,
    /// Refused calls by refusal code (`ip_not_allowed`, `rate_limited`, …).
    pub refused: BTreeMap<String, u64>,
    pub total: u64,
}

impl From<&Counts> for CountsOut {
    fn from(c: &Counts) -> Self {
        CountsOut { ok: c.ok, refused: c.refused.clone(), total: c.total() }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BucketOut {
    pub start: DateTime<Utc>,
    pub ok: u64,
    pub refused: BTreeMap<String, u64>,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointUse {
    /// The endpoint's path (Data Hub) or the API route.
    pub endpoint: String,
    #[serde(flatten)]
    pub counts: CountsOut,
}

#[derive(Serialize, ToSchema)]
pub struct KeyUse {
    /// `hub` or `personal`; `null` for refused keys nobody owns (unknown or malformed).
    pub kind: Option<&'static str>,
    pub id: Option<i64>,
    pub name: String,
    #[serde(flatten)]
    pub counts: CountsOut,
}

#[derive(Serialize, ToSchema)]
pub struct UsageOut {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: &'static str,
    /// Every bucket of the range, oldest first, empty ones included.
    pub buckets: Vec<BucketOut>,
    pub totals: CountsOut,
    /// Largest first.
    pub endpoints: Vec<EndpointUse>,
    /// The workspace's report only: per key, largest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<KeyUse>>,
}

fn invalid(parameter: &str, message: &str) -> ApiError {
    ApiError::InvalidQuery { parameter: parameter.into(), message: message.into() }
}

/// The asked range, checked: `from` before `to`, at most 10,080 buckets.
pub fn range(q: &UsageParams, now: DateTime<Utc>) -> Result<Range, ApiError> {
    let time = |name: &str, v: &Option<String>| -> Result<Option<i64>, ApiError> {
        v.as_deref()
            .map(|s| {
                DateTime::parse_from_rfc3339(s)
                    .map(|t| t.timestamp())
                    .map_err(|_| invalid(name, "Give a time in RFC 3339, e.g. 2026-12-01T00:00:00Z."))
            })
            .transpose()
    };
    let bucket = match q.bucket.as_deref() {
        None => Bucket::Hour,
        Some(b) => Bucket::parse(b).ok_or_else(|| invalid("bucket", "Give `minute`, `hour` or `day`."))?,
    };
    let to = time("to", &q.to)?.unwrap_or(now.timestamp() + 1);
    // By default the last day, in whole buckets ending with the current one.
    let from = time("from", &q.from)?.unwrap_or_else(|| bucket.floor(to - 1 - 86_400) + bucket.seconds());
    if from >= to {
        return Err(invalid("from", "`from` must be before `to`."));
    }
    if (to - bucket.floor(from)) / bucket.seconds() > MAX_BUCKETS {
        return Err(invalid("bucket", "That range has too many buckets (at most 10,080): choose a larger bucket."));
    }
    Ok(Range { from, to, bucket })
}

fn at(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

async fn usage(state: &AppState, scope: Scope, q: &UsageParams) -> Result<UsageOut, ApiError> {
    let range = range(q, state.clock.now())?;
    let series = report::series(&state.db, scope, range).await?;
    let endpoints = report::endpoints(&state.db, scope, range)
        .await?
        .into_iter()
        .map(|e| EndpointUse { endpoint: e.name, counts: (&e.counts).into() })
        .collect();
    Ok(UsageOut {
        from: at(range.from),
        to: at(range.to),
        bucket: range.bucket.as_str(),
        buckets: series
            .buckets
            .iter()
            .map(|(t, c)| BucketOut { start: at(*t), ok: c.ok, refused: c.refused.clone() })
            .collect(),
        totals: (&series.totals).into(),
        endpoints,
        keys: None,
    })
}

/// A Data Hub key's calls by outcome over time, and by endpoint.
#[utoipa::path(get, path = "/api/v1/hub-keys/{id}/usage", tag = "usage",
    params(("id" = i64, Path, description = "The hub key"), UsageParams),
    responses((status = 200, description = "Counts per bucket and outcome", body = UsageOut),
              (status = 400, description = "`invalid_query`: a wrong time, bucket or range", body = crate::api::errors::ErrorBody),
              (status = 404, description = "No such hub key in the key's workspace", body = crate::api::errors::ErrorBody)))]
pub async fn hub_key(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    id: web::Path<i64>,
    q: web::Query<UsageParams>,
) -> Result<HttpResponse, ApiError> {
    let ws = p.key.workspace_id;
    let k = crate::store::hub_keys::find(&state.db, ws, *id).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(usage(&state, Scope::Key(ws, KeyRef::Hub(k.id)), &q).await?))
}

/// One of the caller's own personal keys: its calls by outcome over time.
#[utoipa::path(get, path = "/api/v1/keys/{id}/usage", tag = "usage",
    params(("id" = i64, Path, description = "A personal key of the caller (the key's owner)"), UsageParams),
    responses((status = 200, description = "Counts per bucket and outcome", body = UsageOut),
              (status = 404, description = "No such key of yours in this workspace", body = crate::api::errors::ErrorBody)))]
pub async fn personal_key(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<i64>,
    q: web::Query<UsageParams>,
) -> Result<HttpResponse, ApiError> {
    let ws = p.key.workspace_id;
    let k = crate::store::keys::find(&state.db, ws, *id, Some(p.key.owner_id)).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(usage(&state, Scope::Key(ws, KeyRef::Personal(k.id)), &q).await?))
}

/// The workspace's calls: over time, by endpoint and by key (hub keys and
/// members' personal keys).
#[utoipa::path(get, path = "/api/v1/usage", tag = "usage",
    params(UsageParams),
    responses((status = 200, description = "Counts per bucket, endpoint and key", body = UsageOut)))]
pub async fn workspace(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    q: web::Query<UsageParams>,
) -> Result<HttpResponse, ApiError> {
    let ws = p.key.workspace_id;
    let mut out = usage(&state, Scope::Workspace(ws), &q).await?;
    let range = range(&q, state.clock.now())?;
    let keys = report::keys(&state.db, ws, range).await?;
    let names = report::key_names(&state.db, ws, &keys).await?;
    out.keys = Some(
        keys.iter()
            .map(|k| KeyUse {
                kind: k.name.map(KeyRef::kind),
                id: k.name.map(KeyRef::id),
                name: names.get(&k.name).cloned().unwrap_or_default(),
                counts: (&k.counts).into(),
            })
            .collect(),
    );
    Ok(HttpResponse::Ok().json(out))
}
