//! `/api/v1/webhooks`: the workspace's webhooks (needs `members.manage`, as
//! Admin → Webhooks), their delivery log, and "send test event".
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::collections::body;
use crate::api::{ApiError, Principal, perm};
use crate::entities::webhooks;
use crate::notify::webhooks::{self as service, WebhookInput};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct WebhookOut {
    pub id: i64,
    pub url: String,
    pub description: String,
    /// Event types delivered (`key.created`, `hub_key.changed`, `sync.failed`, …).
    pub events: Vec<String>,
    /// `active`, `failing` (a delivery gave up after a day of retries) or `disabled`.
    pub status: String,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The `whsec_…` signing secret: in the answer that created the webhook only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn out(h: webhooks::Model) -> WebhookOut {
    WebhookOut {
        id: h.id,
        url: h.url,
        description: h.description,
        events: h.events.0,
        status: h.status,
        failing_since: h.failing_since,
        created_at: h.created_at,
        updated_at: h.updated_at,
        secret: None,
    }
}

/// A webhook to create, or the fields to change (absent = unchanged).
#[derive(Deserialize, ToSchema, Default)]
pub struct WebhookIn {
    /// An `https://` (or `http://`) URL on a public address.
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    /// `false` stops deliveries (`disabled`); `true` resumes them, also for a failing webhook.
    pub enabled: Option<bool>,
}

fn input(base: Option<&webhooks::Model>, b: WebhookIn) -> WebhookInput {
    WebhookInput {
        url: b.url.or_else(|| base.map(|h| h.url.clone())).unwrap_or_default(),
        description: b.description.or_else(|| base.map(|h| h.description.clone())).unwrap_or_default(),
        events: b.events.or_else(|| base.map(|h| h.events.0.clone())).unwrap_or_default(),
        enabled: b.enabled.unwrap_or_else(|| base.is_none_or(|h| h.status != "disabled")),
    }
}

async fn find(state: &AppState, ws: i64, id: i64) -> Result<webhooks::Model, ApiError> {
    crate::store::webhooks::find(&state.db, ws, id).await?.ok_or(ApiError::NotFound)
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, description = "The workspace's webhooks", body = [WebhookOut])))]
pub async fn list(state: web::Data<AppState>, p: Principal<perm::MembersManage>) -> Result<HttpResponse, ApiError> {
    let hooks = crate::store::webhooks::list(&state.db, p.key.workspace_id).await?;
    Ok(HttpResponse::Ok().json(hooks.into_iter().map(out).collect::<Vec<_>>()))
}

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = WebhookIn,
    responses((status = 201, description = "Created; `secret` is in this answer only", body = WebhookOut),
              (status = 422, description = "`invalid_field`: `url` (not http(s), or not a public address), `events` (unknown or none)", body = crate::api::errors::ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    p: Principal<perm::MembersManage>,
    b: Result<web::Json<WebhookIn>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let (hook, secret) = service::create(&state, &p.actor(), &input(None, body(b)?)).await?;
    let mut o = out(hook);
    o.secret = Some(secret);
    Ok(HttpResponse::Created().insert_header((header::CACHE_CONTROL, "no-store")).json(o))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 200, description = "The webhook (never its secret)", body = WebhookOut)))]
pub async fn show(
    state: web::Data<AppState>,
    p: Principal<perm::MembersManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(out(find(&state, p.key.workspace_id, *id).await?)))
}

#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path, description = "Webhook id")), request_body = WebhookIn,
    responses((status = 200, description = "Saved", body = WebhookOut),
              (status = 422, description = "`invalid_field`", body = crate::api::errors::ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    p: Principal<perm::MembersManage>,
    id: web::Path<i64>,
    b: Result<web::Json<WebhookIn>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let hook = find(&state, p.key.workspace_id, *id).await?;
    let saved = service::update(&state, &p.actor(), &hook, &input(Some(&hook), body(b)?)).await?;
    Ok(HttpResponse::Ok().json(out(saved)))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 204, description = "Deleted, with its delivery log")))]
pub async fn delete(
    state: web::Data<AppState>,
    p: Principal<perm::MembersManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let hook = find(&state, p.key.workspace_id, *id).await?;
    service::delete(&state, &p.actor(), &hook).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct AttemptOut {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status; null when nothing answered.
    pub status: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryOut {
    pub id: i64,
    /// The `webhook-id` header (the same on every attempt).
    pub message_id: String,
    pub event_type: String,
    /// `pending`, `sending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: Vec<AttemptOut>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 200, description = "The last 100 deliveries, newest first, each with its attempts", body = [DeliveryOut])))]
pub async fn deliveries(
    state: web::Data<AppState>,
    p: Principal<perm::MembersManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let hook = find(&state, p.key.workspace_id, *id).await?;
    let log = crate::store::webhooks::log(&state.db, hook.id, 100).await?;
    let out: Vec<DeliveryOut> = log
        .into_iter()
        .map(|(d, attempts)| DeliveryOut {
            id: d.id,
            message_id: d.message_id,
            event_type: d.event_type,
            state: d.state,
            attempts: attempts
                .into_iter()
                .map(|a| AttemptOut { at: a.at, status: a.status, duration_ms: a.duration_ms, error: a.error })
                .collect(),
            created_at: d.created_at,
            finished_at: d.finished_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks", params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 202, description = "A `webhook.test` event is queued for this webhook; its delivery shows in `/deliveries`")))]
pub async fn send_test(
    state: web::Data<AppState>,
    p: Principal<perm::MembersManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let hook = find(&state, p.key.workspace_id, *id).await?;
    let d = service::send_test(&state, &hook).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({"delivery_id": d.id, "message_id": d.message_id})))
}
