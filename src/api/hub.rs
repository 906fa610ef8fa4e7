//! `GET /hub/{workspace}/{path}`: a data collection served by an endpoint, and
//! `GET /hub/{workspace}`: the endpoints the presented key may call.
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::ApiError;
use crate::auth::key_verifier::VerifiedKey;
use crate::domain::Permission;
use crate::domain::datahub::{Access, parse_hub_query};
use crate::hub::Route;
use crate::state::AppState;

/// The presented personal key, verified as for `/api/v1` (refusals counted
/// and audited the same way); its use noted.
async fn caller(state: &AppState, req: &HttpRequest) -> Result<Option<VerifiedKey>, ApiError> {
    let key = crate::api::principal::identify(state, req).await?;
    if let Some(k) = &key {
        state.keys.note_use(k.key_id, || state.client_ip(req));
    }
    Ok(key)
}

/// Whether `key` may call the endpoint; a key of another workspace is told
/// nothing about this one (404).
fn admit(route: &Route, key: Option<&VerifiedKey>) -> Result<(), ApiError> {
    match (route.access, key) {
        (Access::Public, _) => Ok(()),
        (_, None) => Err(ApiError::MissingKey),
        (_, Some(k)) if k.workspace_id != route.workspace_id => Err(ApiError::NotFound),
        (Access::Members, Some(k)) if k.permissions.contains(Permission::DataRead) => Ok(()),
        (Access::Members, Some(_)) => Err(ApiError::InsufficientPermission(Permission::DataRead)),
        // Hub keys arrive with the key editor; until then no personal key is on the list.
        (Access::Keys, Some(_)) => Err(ApiError::EndpointNotAllowed),
    }
}

fn wants_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/csv")))
}

/// Serves one page of a data collection as JSON or CSV.
#[utoipa::path(
    get,
    path = "/hub/{workspace}/{path}",
    tag = "data hub",
    params(
        ("workspace" = String, Path, description = "The workspace's slug (`GET /api/v1/me`)"),
        ("path" = String, Path, description = "The endpoint's path, may contain `/`"),
        ("limit" = Option<u64>, Query, description = "Records per page, up to the collection's maximum"),
        ("offset" = Option<u64>, Query, description = "Records to skip"),
        ("order" = Option<String>, Query, description = "`field` or `-field`"),
        ("format" = Option<String>, Query, description = "`json` (default) or `csv`; `Accept: text/csv` also gives CSV"),
    ),
    responses(
        (status = 200, description = "`{\"meta\": {\"name\", \"count\", \"limit\", \"offset\"}, \"data\": [...]}`, or CSV"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "A query parameter is wrong (`invalid_query`, with `parameter`)", body = crate::api::errors::ErrorBody),
        (status = 403, description = "`insufficient_permission` or `endpoint_not_allowed`", body = crate::api::errors::ErrorBody),
    ),
    security((), ("bearer" = []), ("api_key_header" = []), ("api_key_query" = []))
)]
pub async fn serve(req: HttpRequest, state: web::Data<AppState>, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (slug, endpoint_path) = path.into_inner();
    let route = state.hub.route(&slug, endpoint_path.trim_end_matches('/')).await?.ok_or(ApiError::NotFound)?;
    let key = match route.access {
        // A public endpoint ignores keys: a wrong one must not break it.
        Access::Public => None,
        _ => caller(&state, &req).await?,
    };
    admit(&route, key.as_ref())?;
    let pairs: Vec<(String, String)> = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|_| ApiError::InvalidQuery { parameter: "query".into(), message: "The query string could not be read.".into() })?
        .into_inner();
    let q = parse_hub_query(
        &pairs,
        &route.fields,
        route.collection.default_limit as u64,
        route.collection.max_limit as u64,
        wants_csv(&req),
    )
    .map_err(|e| ApiError::InvalidQuery { parameter: e.parameter, message: e.message })?;
    let page = state.hub.page(&route, &q).await?;
    let cache = if route.access == Access::Public { "public, max-age=0, must-revalidate" } else { "private, no-cache" };
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == page.etag || t.trim() == "*"));
    let mut res = if matches { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    res.insert_header((header::ETAG, page.etag.clone()))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::VARY, "Accept, Authorization, X-API-Key"));
    if matches {
        return Ok(res.finish());
    }
    Ok(res.content_type(page.content_type).body(page.body.clone()))
}

#[derive(Serialize, ToSchema)]
pub struct Listing {
    pub workspace: String,
    pub endpoints: Vec<ListedEndpoint>,
}

#[derive(Serialize, ToSchema)]
pub struct ListedEndpoint {
    /// The collection's name.
    pub name: String,
    pub path: String,
    /// `/hub/{workspace}/{path}`
    pub url: String,
    pub collection: String,
    pub access: Access,
    pub fields: Vec<String>,
    /// Records in the collection.
    pub count: i64,
}

/// The endpoints the presented key (or, without one, anyone) may call.
#[utoipa::path(
    get,
    path = "/hub/{workspace}",
    tag = "data hub",
    params(("workspace" = String, Path, description = "The workspace's slug")),
    responses((status = 200, description = "Endpoints this caller may read", body = Listing)),
    security((), ("bearer" = []), ("api_key_header" = []), ("api_key_query" = []))
)]
pub async fn discover(req: HttpRequest, state: web::Data<AppState>, slug: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let ws = crate::store::workspaces::find_by_slug(&state.db, &slug).await?.ok_or(ApiError::NotFound)?;
    let key = caller(&state, &req).await?;
    if key.as_ref().is_some_and(|k| k.workspace_id != ws.id) {
        return Err(ApiError::NotFound);
    }
    let mut listed = Vec::new();
    for e in crate::store::datahub::endpoints(&state.db, ws.id).await? {
        let Some(route) = crate::hub::route_for(&state.db, e).await? else { continue };
        if admit(&route, key.as_ref()).is_err() {
            continue;
        }
        listed.push(ListedEndpoint {
            name: route.collection.name.clone(),
            url: format!("/hub/{}/{}", slug.as_str(), route.endpoint.path),
            path: route.endpoint.path.clone(),
            collection: route.collection.name.clone(),
            access: route.access,
            fields: route.fields.clone(),
            count: route.dataset.row_count,
        });
    }
    Ok(HttpResponse::Ok().json(Listing { workspace: slug.into_inner(), endpoints: listed }))
}
