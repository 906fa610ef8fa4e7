use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::{ApiError, Principal};
use crate::domain::Permission;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub workspace: WorkspaceRef,
    pub owner: OwnerRef,
    pub key: KeyRef,
    /// What this key may do now: its permissions ∩ its owner's current ones.
    pub permissions: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct WorkspaceRef {
    pub id: i64,
    pub name: String,
    /// The `{workspace}` of Data Hub URLs: `/hub/{slug}/{path}`.
    pub slug: String,
}

#[derive(Serialize, ToSchema)]
pub struct OwnerRef {
    pub id: i64,
    pub email: String,
    pub display_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct KeyRef {
    pub id: i64,
    pub label: String,
    /// `khp_…abcd`; never the secret.
    pub identifier: String,
}

/// Who am I: the key's workspace, owner and effective permissions.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "keys",
    responses(
        (status = 200, description = "The key and what it may do now", body = MeResponse),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key, or inactive owner", body = crate::api::errors::ErrorBody),
    ),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = []))
)]
pub async fn me(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, ApiError> {
    let ws = crate::store::workspaces::find(&state.db, p.key.workspace_id).await?.ok_or(ApiError::NotFound)?;
    let owner = crate::store::users::find(&state.db, p.key.owner_id).await?.ok_or(ApiError::NotFound)?;
    let key =
        crate::store::keys::find(&state.db, p.key.workspace_id, p.key.key_id, None).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(MeResponse {
        workspace: WorkspaceRef { id: ws.id, name: ws.name, slug: ws.slug.unwrap_or_default() },
        owner: OwnerRef { id: owner.id, email: owner.email, display_name: owner.display_name },
        key: KeyRef { id: key.id, label: key.label, identifier: key.identifier },
        permissions: p.key.permissions.iter().map(|x: Permission| x.as_str().to_owned()).collect(),
        expires_at: p.key.expires_at,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct PingResponse {
    pub ok: bool,
    /// The identifier of the key that was accepted.
    pub key: String,
}

/// Checks a key without reading anything else: for clients testing their
/// setup, and the cheapest authenticated request (used by the benchmark).
#[utoipa::path(
    get,
    path = "/api/v1/ping",
    tag = "keys",
    responses(
        (status = 200, description = "The key is accepted", body = PingResponse),
        (status = 401, description = "The key was refused", body = crate::api::errors::ErrorBody),
    ),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = []))
)]
pub async fn ping(p: Principal) -> HttpResponse {
    HttpResponse::Ok().json(PingResponse { ok: true, key: p.key.identifier })
}
