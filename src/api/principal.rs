//! The authenticated caller of the JSON API, and the permission a handler
//! needs: `Principal<perm::MembersManage>` refuses with
//! `insufficient_permission` unless the key *and* its owner, right now, hold
//! `members.manage`.
use std::future::Future;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::http::header::{self, HeaderName};
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};

use crate::api::ApiError;
use crate::auth::key_verifier::{KeyRefusal, VerifiedKey};
use crate::domain::limits::Limits;
use crate::domain::usage::KeyRef;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::usage::Mark;

/// What a handler requires of the key (shared with the pages' `Member`).
pub use crate::auth::perm::{self, Requirement};

pub struct Principal<R: Requirement = perm::Authenticated> {
    pub key: VerifiedKey,
    /// Kept for `actor()`: most calls only read, and need no audit actor.
    req: HttpRequest,
    _requirement: PhantomData<R>,
}

impl<R: Requirement> Principal<R> {
    /// Who acts, for the audit log: the key's owner, through this key. Built
    /// when a service writes, not on every request (the data API reads).
    pub fn actor(&self) -> Actor {
        let ip = self.req.app_data::<web::Data<AppState>>().and_then(|state| state.client_ip(&self.req));
        Actor {
            workspace_id: self.key.workspace_id,
            user_id: self.key.owner_id,
            name: None,
            via: Some(format!("with API key {}", self.key.identifier)),
            ip,
        }
    }
}

/// The key as sent: `Authorization: Bearer|Apikey <key>`, `X-API-Key`, or the
/// `apikey` query parameter (for tools that cannot set headers; it may end up
/// in logs and browser history, so headers are preferred).
pub fn presented_key(req: &HttpRequest) -> Option<String> {
    // Names as constants: read on every call with a key, never parsed again.
    const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
    let headers = req.headers();
    let (mut authorization, mut api_key) = (headers.get_all(header::AUTHORIZATION), headers.get_all(X_API_KEY));
    let (authorization, api_key) = match (authorization.next(), authorization.next(), api_key.next(), api_key.next()) {
        (a, None, k, None) => (a, k),
        // Two credentials in one request are ambiguous: neither is taken.
        _ => return Some("\u{0}".to_owned()),
    };
    if let Some(v) = authorization {
        let v = v.to_str().unwrap_or("\u{0}");
        let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
        return Some(if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("apikey") {
            rest.trim().to_owned()
        } else {
            // Basic or anything else: present but not a key we accept.
            "\u{0}".to_owned()
        });
    }
    if let Some(v) = api_key {
        return Some(v.to_str().unwrap_or("\u{0}").trim().to_owned());
    }
    web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("apikey").cloned())
}

async fn authenticate<R: Requirement>(req: HttpRequest) -> Result<Principal<R>, ApiError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::Internal(anyhow::anyhow!("state")))?;
    let presented = presented_key(&req);
    let key = verified(state, &req, presented.as_deref()).await?;
    R::check(&key.permissions).map_err(ApiError::InsufficientPermission)?;

    // The address is only worked out when a write is due (once a minute per key).
    state.keys.note_use(key.key_id, || state.client_ip(&req));
    Ok(Principal { key, req, _requirement: PhantomData })
}

/// Verifies a key. Refusals are counted per client address; past the limit
/// the answer is 429. Checked only after verification, so valid keys from the
/// same address (and other clients) are never slowed.
pub async fn verified(state: &AppState, req: &HttpRequest, presented: Option<&str>) -> Result<VerifiedKey, ApiError> {
    // A snapshot the database has not confirmed for too long may still accept
    // a key revoked elsewhere meanwhile: fail closed until it is confirmed.
    if !state.keys.freshness.fresh() {
        crate::metrics::verification("personal", "keys_unavailable");
        return Err(ApiError::KeysUnavailable);
    }
    match state.keys.verify(presented, state.clock.now()) {
        Ok(key) => {
            crate::metrics::verification("personal", "ok");
            crate::web::middleware::note_key(req, || key.identifier.clone());
            let counted = KeyRef::Personal(key.key_id);
            mark(req, key.workspace_id, Some(counted), key.limits.monthly_quota.is_some());
            within_limits(state, req, counted, &key.limits).await?;
            Ok(key)
        }
        Err(refusal) => {
            crate::metrics::verification("personal", ApiError::from(refusal).code());
            if let KeyRefusal::Revoked { key_id, workspace_id, .. } | KeyRefusal::Expired { key_id, workspace_id, .. } =
                refusal
            {
                mark(req, workspace_id, Some(KeyRef::Personal(key_id)), false);
            }
            let client = crate::auth::client_ip::client_ip(req, &state.settings.trusted_proxies);
            if let Some(limited) = count_refusal(state, client).await {
                return Err(limited);
            }
            audit_refusal(state, refusal, client.map(|ip| ip.to_string())).await;
            Err(refusal.into())
        }
    }
}

/// Notes whose call this is for the usage counters (see `usage::Mark`);
/// `key` is `None` for a refused key nobody owns. The endpoint is added by
/// the data API once it knows the route (else the API route counts).
pub fn mark(req: &HttpRequest, workspace_id: i64, key: Option<KeyRef>, quota: bool) {
    req.extensions_mut().insert(Mark { workspace_id, key, also: None, endpoint: None, quota });
}

/// Counts the call against the key's rate limit and quota; how the key
/// stands goes on the answer (`RateLimit-Policy`, `RateLimit`), refused or not.
pub async fn within_limits(state: &AppState, req: &HttpRequest, key: KeyRef, limits: &Limits) -> Result<(), ApiError> {
    if limits.is_none() {
        return Ok(());
    }
    match state.limits.admit(key, limits, state.clock.now_ms().div_euclid(1000)).await {
        Ok(standing) => {
            req.extensions_mut().insert(standing);
            Ok(())
        }
        Err(exceeded) => {
            let mut ext = req.extensions_mut();
            ext.insert(exceeded.standing);
            // Refused: it took nothing from the quota to settle.
            if let Some(mark) = ext.get_mut::<Mark>() {
                mark.quota = false;
            }
            Err(ApiError::LimitExceeded(exceeded))
        }
    }
}

/// Counts a refused key against the client's address; past the limit the
/// answer becomes 429 (`Some`).
pub async fn count_refusal(state: &AppState, client: Option<IpAddr>) -> Option<ApiError> {
    let t = state.clock.now_ms().div_euclid(1000);
    state.key_refusals.count(client, t).await.map(ApiError::RateLimited)
}

/// Uses of revoked or expired keys are worth knowing about: someone still
/// holds a secret that should be gone.
async fn audit_refusal(state: &AppState, refusal: KeyRefusal, ip: Option<String>) {
    let (action, key_id, workspace_id, owner_id) = match refusal {
        KeyRefusal::Revoked { key_id, workspace_id, owner_id } => {
            ("key.refused_revoked", key_id, workspace_id, owner_id)
        }
        KeyRefusal::Expired { key_id, workspace_id, owner_id } => {
            ("key.refused_expired", key_id, workspace_id, owner_id)
        }
        _ => return,
    };
    if !state.keys.refusal_due(key_id) {
        return;
    }
    crate::account::keys::record_refused(state, action, (key_id, workspace_id, owner_id), ip).await;
}

impl<R: Requirement + 'static> FromRequest for Principal<R> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}
