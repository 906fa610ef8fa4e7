//! `/api/v1/collections` and `/api/v1/endpoints`: what `Data Hub → Data
//! Collections` and `→ Endpoints` do, for scripts. Listing needs `data.read`,
//! changing needs `hub_keys.manage`.
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::{ApiError, Principal, perm};
use crate::domain::datahub::{Access, DEFAULT_LIMIT, DEFAULT_MAX_LIMIT};
use crate::entities::{data_collections, endpoints};
use crate::hub::manage::{self, CollectionInput, EndpointInput};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct CollectionOut {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub dataset_id: i64,
    /// Exposed fields in order; null = all columns of the dataset.
    pub fields: Option<Vec<String>>,
    /// `field` or `-field`; null = row order.
    pub order: Option<String>,
    pub default_limit: i64,
    pub max_limit: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn collection_out(c: &data_collections::Model) -> CollectionOut {
    CollectionOut {
        id: c.id,
        name: c.name.clone(),
        description: c.description.clone(),
        dataset_id: c.dataset_id,
        fields: c.fields.as_ref().map(|f| f.0.clone()),
        order: c.sort_order.clone(),
        default_limit: c.default_limit,
        max_limit: c.max_limit,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// A collection to create, or the fields to change (absent = unchanged).
#[derive(Deserialize, ToSchema, Default)]
pub struct CollectionIn {
    pub name: Option<String>,
    pub description: Option<String>,
    pub dataset_id: Option<i64>,
    /// A list of field names, or null for all columns.
    #[serde(default, deserialize_with = "present")]
    pub fields: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub order: Option<Option<String>>,
    pub default_limit: Option<i64>,
    pub max_limit: Option<i64>,
}

/// Tells `"fields": null` (set to all) from a missing `fields` (unchanged).
pub(crate) fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A JSON body, or why not: over `api::MAX_JSON_BYTES` is 413 `too_large`
/// (whatever else is wrong with it), anything else unreadable 422 naming `body`.
pub(crate) fn body<T>(b: Result<web::Json<T>, actix_web::Error>) -> Result<T, ApiError> {
    b.map(web::Json::into_inner).map_err(|e| {
        use actix_web::error::JsonPayloadError;
        match e.as_error::<JsonPayloadError>() {
            Some(JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. }) => {
                ApiError::TooLarge(format!(
                    "The body is larger than {} KB, the most this endpoint reads; nothing was changed.",
                    crate::api::MAX_JSON_BYTES / 1024
                ))
            }
            _ => ApiError::InvalidField {
                field: "body".into(),
                message: format!("The body is not the JSON expected: {e}"),
            },
        }
    })
}

fn merge(base: CollectionInput, patch: CollectionIn) -> CollectionInput {
    CollectionInput {
        name: patch.name.unwrap_or(base.name),
        description: patch.description.unwrap_or(base.description),
        dataset_id: patch.dataset_id.or(base.dataset_id),
        fields: patch.fields.unwrap_or(base.fields),
        order: patch.order.unwrap_or(base.order),
        default_limit: patch.default_limit.unwrap_or(base.default_limit),
        max_limit: patch.max_limit.unwrap_or(base.max_limit),
    }
}

fn input_of(c: &data_collections::Model) -> CollectionInput {
    CollectionInput {
        name: c.name.clone(),
        description: c.description.clone(),
        dataset_id: Some(c.dataset_id),
        fields: c.fields.as_ref().map(|f| f.0.clone()),
        order: c.sort_order.clone(),
        default_limit: c.default_limit,
        max_limit: c.max_limit,
    }
}

#[utoipa::path(get, path = "/api/v1/collections", tag = "data hub",
    responses((status = 200, description = "Collections of the workspace", body = Vec<CollectionOut>)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn list(state: web::Data<AppState>, p: Principal<perm::DataRead>) -> Result<HttpResponse, ApiError> {
    let all = crate::store::datahub::collections(&state.db, p.key.workspace_id).await?;
    Ok(HttpResponse::Ok().json(all.iter().map(collection_out).collect::<Vec<_>>()))
}

#[utoipa::path(post, path = "/api/v1/collections", tag = "data hub", request_body = CollectionIn,
    responses((status = 201, description = "Created", body = CollectionOut),
              (status = 422, description = "invalid_field", body = crate::api::errors::ErrorBody)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    b: Result<web::Json<CollectionIn>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let base = CollectionInput { default_limit: DEFAULT_LIMIT, max_limit: DEFAULT_MAX_LIMIT, ..Default::default() };
    let input = merge(base, body(b)?);
    let c = manage::save_collection(&state, &p.actor(), None, &input).await?;
    Ok(HttpResponse::Created().json(collection_out(&c)))
}

async fn find_collection(state: &AppState, ws: i64, id: i64) -> Result<data_collections::Model, ApiError> {
    crate::store::datahub::collection(&state.db, ws, id).await?.ok_or(ApiError::NotFound)
}

#[utoipa::path(get, path = "/api/v1/collections/{id}", tag = "data hub", params(("id" = i64, Path, description = "Collection id")),
    responses((status = 200, description = "The collection", body = CollectionOut)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    p: Principal<perm::DataRead>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(collection_out(&find_collection(&state, p.key.workspace_id, *id).await?)))
}

#[utoipa::path(patch, path = "/api/v1/collections/{id}", tag = "data hub", params(("id" = i64, Path, description = "Collection id")), request_body = CollectionIn,
    responses((status = 200, description = "Changed", body = CollectionOut),
              (status = 422, description = "invalid_field", body = crate::api::errors::ErrorBody)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    id: web::Path<i64>,
    b: Result<web::Json<CollectionIn>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let c = find_collection(&state, p.key.workspace_id, *id).await?;
    let input = merge(input_of(&c), body(b)?);
    let c = manage::save_collection(&state, &p.actor(), Some(c.id), &input).await?;
    Ok(HttpResponse::Ok().json(collection_out(&c)))
}

#[utoipa::path(delete, path = "/api/v1/collections/{id}", tag = "data hub", params(("id" = i64, Path, description = "Collection id")),
    responses((status = 204, description = "Deleted, with the endpoints that served it")),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let c = find_collection(&state, p.key.workspace_id, *id).await?;
    manage::delete_collection(&state, &p.actor(), &c).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct EndpointOut {
    pub id: i64,
    pub path: String,
    /// `/hub/{workspace}/{path}`
    pub url: String,
    pub collection_id: i64,
    pub access: Access,
    pub hub_key_ids: Vec<i64>,
    /// Web origins that may read it from a browser (CORS); `*` for any.
    pub allowed_origins: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn endpoint_out(e: &endpoints::Model, slug: &str, hub_key_ids: Vec<i64>) -> EndpointOut {
    EndpointOut {
        id: e.id,
        url: format!("/hub/{slug}/{}", e.path),
        path: e.path.clone(),
        collection_id: e.collection_id,
        access: *e.access,
        hub_key_ids,
        allowed_origins: origins(e),
        created_at: e.created_at,
        updated_at: e.updated_at,
    }
}

#[derive(Deserialize, ToSchema, Default)]
pub struct EndpointIn {
    pub path: Option<String>,
    pub collection_id: Option<i64>,
    /// public, members or keys
    pub access: Option<String>,
    pub hub_key_ids: Option<Vec<i64>>,
    /// Web origins that may read it from a browser (`https://app.example.com`),
    /// at most 20; `["*"]` for any site, public endpoints only. Absent keeps them.
    #[schema(max_items = 20)]
    pub allowed_origins: Option<Vec<String>>,
}

fn origins(e: &endpoints::Model) -> Vec<String> {
    e.allowed_origins.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

async fn key_ids(state: &AppState, endpoint_id: i64) -> Result<Vec<i64>, ApiError> {
    Ok(crate::store::hub_keys::keys_of_endpoint(&state.db, endpoint_id).await?.into_iter().map(|k| k.id).collect())
}

async fn slug(state: &AppState, ws: i64) -> Result<String, ApiError> {
    Ok(crate::store::workspaces::find(&state.db, ws).await?.and_then(|w| w.slug).unwrap_or_default())
}

#[utoipa::path(get, path = "/api/v1/endpoints", tag = "data hub",
    responses((status = 200, description = "Endpoints of the workspace", body = Vec<EndpointOut>)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn list_endpoints(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
) -> Result<HttpResponse, ApiError> {
    let s = slug(&state, p.key.workspace_id).await?;
    let all = crate::store::datahub::endpoints(&state.db, p.key.workspace_id).await?;
    let mut out = Vec::with_capacity(all.len());
    for e in &all {
        out.push(endpoint_out(e, &s, key_ids(&state, e.id).await?));
    }
    Ok(HttpResponse::Ok().json(out))
}

fn endpoint_input(base: Option<&endpoints::Model>, patch: EndpointIn) -> EndpointInput {
    EndpointInput {
        path: patch.path.or_else(|| base.map(|e| e.path.clone())).unwrap_or_default(),
        collection_id: patch.collection_id.or(base.map(|e| e.collection_id)),
        access: patch.access.or_else(|| base.map(|e| e.access.to_string())).unwrap_or_default(),
        hub_key_ids: patch.hub_key_ids,
        allowed_origins: patch.allowed_origins.or_else(|| base.map(origins)).unwrap_or_default(),
    }
}

#[utoipa::path(post, path = "/api/v1/endpoints", tag = "data hub", request_body = EndpointIn,
    responses((status = 201, description = "Created", body = EndpointOut),
              (status = 422, description = "invalid_field", body = crate::api::errors::ErrorBody)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn create_endpoint(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    b: Result<web::Json<EndpointIn>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let input = endpoint_input(None, body(b)?);
    let e = manage::save_endpoint(&state, &p.actor(), None, &input).await?;
    Ok(HttpResponse::Created().json(endpoint_out(
        &e,
        &slug(&state, p.key.workspace_id).await?,
        key_ids(&state, e.id).await?,
    )))
}

async fn find_endpoint(state: &AppState, ws: i64, id: i64) -> Result<endpoints::Model, ApiError> {
    crate::store::datahub::endpoint(&state.db, ws, id).await?.ok_or(ApiError::NotFound)
}

#[utoipa::path(get, path = "/api/v1/endpoints/{id}", tag = "data hub", params(("id" = i64, Path, description = "Endpoint id")),
    responses((status = 200, description = "The endpoint", body = EndpointOut)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn show_endpoint(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let e = find_endpoint(&state, p.key.workspace_id, *id).await?;
    Ok(HttpResponse::Ok().json(endpoint_out(
        &e,
        &slug(&state, p.key.workspace_id).await?,
        key_ids(&state, e.id).await?,
    )))
}

#[utoipa::path(patch, path = "/api/v1/endpoints/{id}", tag = "data hub", params(("id" = i64, Path, description = "Endpoint id")), request_body = EndpointIn,
    responses((status = 200, description = "Changed", body = EndpointOut),
              (status = 422, description = "invalid_field", body = crate::api::errors::ErrorBody)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn update_endpoint(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    id: web::Path<i64>,
    b: Result<web::Json<EndpointIn>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let e = find_endpoint(&state, p.key.workspace_id, *id).await?;
    let input = endpoint_input(Some(&e), body(b)?);
    let e = manage::save_endpoint(&state, &p.actor(), Some(e.id), &input).await?;
    Ok(HttpResponse::Ok().json(endpoint_out(
        &e,
        &slug(&state, p.key.workspace_id).await?,
        key_ids(&state, e.id).await?,
    )))
}

#[utoipa::path(delete, path = "/api/v1/endpoints/{id}", tag = "data hub", params(("id" = i64, Path, description = "Endpoint id")),
    responses((status = 204, description = "Deleted")),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn delete_endpoint(
    state: web::Data<AppState>,
    p: Principal<perm::HubKeysManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let e = find_endpoint(&state, p.key.workspace_id, *id).await?;
    manage::delete_endpoint(&state, &p.actor(), &e).await?;
    Ok(HttpResponse::NoContent().finish())
}
