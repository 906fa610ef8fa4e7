//! `GET /hub/{workspace}/{path}`: a data collection served by an endpoint, and
//! `GET /hub/{workspace}`: the endpoints the presented key may call.
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use std::net::IpAddr;
use std::sync::Arc;

use crate::api::ApiError;
use crate::api::cors;
use crate::api::principal::{mark, presented_key, within_limits};
use crate::auth::hub_verifier::CompiledHubKey;
use crate::auth::key_verifier::VerifiedKey;
use crate::domain::Permission;
use crate::domain::datahub::{Access, parse_hub_query};
use crate::domain::header_template::Meta;
use crate::domain::keys::PERSONAL_PREFIX;
use crate::domain::usage::KeyRef;
use crate::hub::Route;
use crate::state::AppState;

/// The caller of a non-public endpoint, verified once per request.
enum Caller {
    /// An API key or generic token: known, active, not expired, IP allowed.
    Hub(Arc<CompiledHubKey>),
    /// A member's personal key of this workspace (rights = key ∩ owner's now).
    Member(VerifiedKey),
}

/// The first checks, in the documented order: format/checksum → known →
/// active → not expired → IP allowed. Refusals count against the client's
/// address like refused personal keys.
async fn identify(
    state: &AppState,
    req: &HttpRequest,
    workspace_id: i64,
    ip: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    let presented = presented_key(req).filter(|p| !p.is_empty()).ok_or(ApiError::MissingKey)?;
    // Portal tokens join both snapshots: neither may be stale (see `auth::freshness`).
    if !state.hub_keys.freshness.fresh() || !state.keys.freshness.fresh() {
        crate::metrics::verification("hub", "keys_unavailable");
        return Err(ApiError::KeysUnavailable);
    }
    if presented.starts_with(PERSONAL_PREFIX) {
        let key = crate::api::principal::verified(state, req, Some(&presented)).await?;
        if key.workspace_id != workspace_id {
            // A key of another workspace is told nothing about this one.
            return Err(ApiError::NotFound);
        }
        return Ok(Caller::Member(key));
    }
    match state.hub_keys.lookup(workspace_id, &presented, ip, state.clock.now()) {
        Ok(key) => {
            crate::metrics::verification("hub", "ok");
            crate::web::middleware::note_key(req, || format!("hub key #{}", key.id));
            mark(req, workspace_id, Some(KeyRef::Hub(key.id)), key.limits.monthly_quota.is_some());
            within_limits(state, req, KeyRef::Hub(key.id), &key.limits).await?;
            Ok(Caller::Hub(key))
        }
        Err((refusal, key_id)) => {
            if workspace_id != NO_WORKSPACE {
                // Refusals of keys nobody owns count for the workspace.
                mark(req, workspace_id, key_id.map(KeyRef::Hub), false);
            }
            let refused = ApiError::from(refusal);
            crate::metrics::verification("hub", refused.code());
            Err(crate::api::principal::count_refusal(state, ip).await.unwrap_or(refused))
        }
    }
}

/// The answer for a path no endpoint serves, or a workspace that does not
/// exist: what a guarded endpoint would answer this caller, so that nobody
/// without a key can tell which endpoints or workspaces exist. Only a key
/// this workspace accepts learns that there is nothing here.
async fn unknown(state: &AppState, req: &HttpRequest, slug: &str) -> ApiError {
    let workspace_id = match crate::store::workspaces::find_by_slug(&state.db, slug).await {
        Ok(ws) => ws.map_or(NO_WORKSPACE, |w| w.id),
        Err(e) => return e.into(),
    };
    let ip = crate::auth::client_ip::client_ip(req, &state.settings.trusted_proxies);
    match identify(state, req, workspace_id, ip).await {
        Ok(_) => ApiError::NotFound,
        Err(refusal) => refusal,
    }
}

/// Where calls to a path no endpoint serves are counted.
static NO_ENDPOINT: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| "(no endpoint)".into());

/// The usage counters count this call at `endpoint` (when a key was seen).
fn count_at(req: &HttpRequest, endpoint: &Arc<str>) {
    if let Some(m) = req.extensions_mut().get_mut::<crate::usage::Mark>() {
        m.endpoint = Some(Arc::clone(endpoint));
    }
}

/// No workspace has this id: keys are checked against it as against a
/// workspace where they are not known.
const NO_WORKSPACE: i64 = 0;

/// The last check: does this endpoint accept the caller? A personal key is
/// accepted on a `members` endpoint with `data.read`, and on a `keys`
/// endpoint when a portal token names its owner (then also needing
/// `data.read` now). `Ok(Some(key))` names the hub key whose headers go on
/// the answer.
fn admit(
    state: &AppState,
    caller: &Caller,
    route: &Route,
    ip: Option<IpAddr>,
) -> Result<Option<Arc<CompiledHubKey>>, ApiError> {
    match caller {
        Caller::Hub(key) if key.accepts(route.endpoint.id) => Ok(Some(Arc::clone(key))),
        Caller::Hub(_) => Err(ApiError::EndpointNotAllowed),
        Caller::Member(key) => {
            let portal = match (
                route.access,
                state.hub_keys.verify_portal(
                    route.workspace_id,
                    key.owner_id,
                    route.endpoint.id,
                    ip,
                    state.clock.now(),
                ),
            ) {
                (_, Ok(p)) => Some(p),
                (Access::Members, Err(_)) => None,
                (_, Err(refusal)) => return Err(refusal.into()),
            };
            if !key.permissions.contains(Permission::DataRead) {
                return Err(ApiError::InsufficientPermission(Permission::DataRead));
            }
            Ok(portal)
        }
    }
}

/// Records the use of the keys that were accepted (coalesced to a write a minute).
fn note_use(state: &AppState, caller: &Caller, admitted: Option<&Arc<CompiledHubKey>>, ip: Option<IpAddr>) {
    if let Caller::Member(k) = caller {
        state.keys.note_use(k.key_id, || ip.map(|i| i.to_string()));
    }
    if let Some(k) = admitted {
        state.hub_keys.note_use(k.id, || ip.map(|i| i.to_string()));
    }
}

/// The key's headers, filled for this answer; a value that fills badly is left out.
fn add_headers(res: &mut HttpResponse, key: &CompiledHubKey, meta: &Meta) {
    for (name, template) in key.headers.iter() {
        let Some(value) = template.fill(meta) else {
            tracing::warn!(hub_key = key.id, header = %name, "a filled header value was unfit to send and was left out");
            continue;
        };
        if let Ok(v) = header::HeaderValue::try_from(value) {
            res.headers_mut().insert(name.clone(), v);
        }
    }
}

/// Every line of a list header, item by item (RFC 9110 §5.3: repeated lines are one list).
fn list_items(req: &HttpRequest, name: header::HeaderName) -> impl Iterator<Item = &str> {
    req.headers().get_all(name).filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim)
}

fn wants_csv(req: &HttpRequest) -> bool {
    list_items(req, header::ACCEPT).any(|t| t.starts_with("text/csv"))
}

/// Serves one page of a data collection as JSON or CSV.
///
/// Filters are query parameters named after the endpoint's fields:
/// `field=value` keeps records equal to the value, `field__gt=value`,
/// `field__gte=`, `field__lt=` and `field__lte=` keep a range (values are
/// read by the field's type; datetimes in RFC 3339). With `order=field`,
/// `field__gt` reads what changed after a cursor value, page by page:
/// equal values keep their stored order, so `offset` paging is stable.
#[utoipa::path(
    get,
    path = "/hub/{workspace}/{path}",
    tag = "data hub",
    params(
        ("workspace" = String, Path, description = "The workspace's slug (`GET /api/v1/me`)"),
        ("path" = String, Path, description = "The endpoint's path, may contain `/`"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 10_000, description = "Records per page, up to the collection's maximum (at most 10,000)"),
        ("offset" = Option<u64>, Query, minimum = 0, maximum = 1_000_000_000_000u64, description = "Records to skip"),
        ("order" = Option<String>, Query, description = "`field` or `-field`; records with equal values keep their stored order, so paging is stable"),
        ("format" = Option<String>, Query, pattern = "^(json|csv)$", description = "`json` (default) or `csv`; `Accept: text/csv` also gives CSV. CSV without `limit` is every matching record, streamed as an attachment"),
    ),
    responses(
        (status = 200, description = "`{\"meta\": {\"name\", \"count\", \"limit\", \"offset\"}, \"data\": [...]}`, or CSV. `X-Total-Count` gives the matching records; a page's `Link` header (RFC 8288) names `first`, `prev`, `next` and `last`",
            headers(("X-Total-Count" = u64, description = "Records matching the query"), ("Link" = String, description = "RFC 8288 links to the first, previous, next and last pages (paged answers)"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 503, description = "`busy`: too many whole-collection CSV exports are running; try again shortly", body = crate::api::errors::ErrorBody),
        (status = 400, description = "A query parameter is wrong (`invalid_query`, with `parameter`)", body = crate::api::errors::ErrorBody),
        (status = 401, description = "`missing_key`, `malformed_key`, `unknown_key`, `expired_key`", body = crate::api::errors::ErrorBody),
        (status = 403, description = "`key_inactive`, `ip_not_allowed`, `endpoint_not_allowed`, `insufficient_permission`", body = crate::api::errors::ErrorBody),
    ),
    security((), ("bearer" = []), ("api_key_header" = []), ("api_key_query" = []))
)]
pub async fn serve(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, endpoint_path) = path.into_inner();
    let Some(route) = state.hub.route(&slug, endpoint_path.trim_end_matches('/')).await? else {
        let refused = unknown(&state, &req, &slug).await;
        count_at(&req, &NO_ENDPOINT);
        return Err(refused);
    };
    // A site allowed to read the endpoint may read its refusals too.
    let answered = answer(&req, &state, &route).await;
    count_at(&req, &route.usage_label);
    let mut res = answered.unwrap_or_else(|e| actix_web::ResponseError::error_response(&e));
    cors::allow(&req, &route, &mut res);
    Ok(res)
}

/// `OPTIONS /hub/{workspace}/{path}`: a browser's preflight. Allowed for a
/// listed origin, `GET` and `HEAD` only, with the key in `Authorization` or
/// `X-API-Key` — never credentials (cookies). Anyone else, and a path that
/// serves nothing, gets the same 204 without permission, so a preflight
/// tells nothing about which endpoints exist.
pub async fn preflight(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, endpoint_path) = path.into_inner();
    let route = state.hub.route(&slug, endpoint_path.trim_end_matches('/')).await?;
    Ok(cors::preflight(&req, route.as_deref()))
}

/// The endpoint's answer to an admitted or refused caller.
async fn answer(req: &HttpRequest, state: &AppState, route: &Arc<Route>) -> Result<HttpResponse, ApiError> {
    // A public endpoint ignores keys: a wrong one must not break it.
    let hub_key = if route.access == Access::Public {
        None
    } else {
        let ip = crate::auth::client_ip::client_ip(req, &state.settings.trusted_proxies);
        let caller = identify(state, req, route.workspace_id, ip).await?;
        let admitted = admit(state, &caller, route, ip)?;
        if let (Caller::Member(_), Some(portal)) = (&caller, &admitted)
            && let Some(m) = req.extensions_mut().get_mut::<crate::usage::Mark>()
        {
            // A portal token's usage shows the calls it let through.
            m.also = Some(KeyRef::Hub(portal.id));
        }
        note_use(state, &caller, admitted.as_ref(), ip);
        admitted
    };
    let pairs: Vec<(String, String)> = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|_| ApiError::InvalidQuery {
            parameter: "query".into(),
            message: "The query string could not be read.".into(),
        })?
        .into_inner();
    let q = parse_hub_query(
        &pairs,
        &route.fields,
        route.collection.default_limit as u64,
        route.collection.max_limit as u64,
        wants_csv(req),
    )
    .and_then(|q| route.check_filters(&q).map(|()| q))
    .map_err(|e| ApiError::InvalidQuery { parameter: e.parameter, message: e.message })?;
    let cache = if route.access == Access::Public { "public, max-age=0, must-revalidate" } else { "private, no-cache" };
    // A page comes from the cache with its ETag; an export's is computed.
    let page = if q.whole { None } else { Some(state.hub.page(route, &q).await?) };
    let etag = page.as_ref().map_or_else(|| crate::hub::etag_of(route, &q), |p| p.etag.clone());
    let mut res = HttpResponse::Ok();
    res.insert_header((header::ETAG, etag.clone()))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::VARY, "Accept, Authorization, X-API-Key"));
    if list_items(req, header::IF_NONE_MATCH).any(|t| t == etag || t == "*") {
        res.status(actix_web::http::StatusCode::NOT_MODIFIED);
        return Ok(res.finish());
    }
    let (count, mut res) = match page {
        Some(page) => {
            res.content_type(page.content_type).insert_header((TOTAL_COUNT, page.count));
            let base = crate::auth::client_ip::public_base(
                req,
                state.settings.public_url.as_deref(),
                &state.settings.trusted_proxies,
            );
            res.insert_header((
                header::LINK,
                page_links(&format!("{base}{}", req.path()), &pairs, page.count, q.limit, q.offset),
            ));
            (page.count, res.body(page.body.clone()))
        }
        None => {
            // CSV without `limit`: the whole collection, one file.
            let export = state.hub.export(Arc::clone(route), q.clone()).await?.ok_or(ApiError::Busy)?;
            res.content_type("text/csv; charset=utf-8")
                .insert_header((header::CONTENT_DISPOSITION, route.attachment()))
                .insert_header((TOTAL_COUNT, export.count));
            (export.count, res.streaming(export.body))
        }
    };
    if let Some(key) = &hub_key {
        let meta = Meta {
            name: &route.collection.name,
            count,
            limit: if q.whole { count } else { q.limit },
            offset: q.offset,
        };
        add_headers(&mut res, key, &meta);
    }
    Ok(res)
}

/// Records matching the query, on every answer (all pages together).
const TOTAL_COUNT: &str = "X-Total-Count";

/// RFC 8288 `Link: <…?limit=20&offset=20>; rel="next", …`: the caller's own
/// query with `limit` and `offset` set for each neighbouring page.
fn page_links(url: &str, pairs: &[(String, String)], count: u64, limit: u64, offset: u64) -> String {
    crate::domain::datahub::page_links(count, limit, offset)
        .into_iter()
        .map(|(rel, at)| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs.iter().filter(|(k, _)| k != "limit" && k != "offset") {
                query.append_pair(k, v);
            }
            query.append_pair("limit", &limit.to_string()).append_pair("offset", &at.to_string());
            format!("<{url}?{}>; rel=\"{rel}\"", query.finish())
        })
        .collect::<Vec<_>>()
        .join(", ")
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
    /// The field whose values are unique (the dataset's primary key), when exposed.
    pub primary_key: Option<String>,
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
pub async fn discover(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // An unknown workspace looks like one with nothing open to this caller.
    let ws_id = crate::store::workspaces::find_by_slug(&state.db, &slug).await?.map_or(NO_WORKSPACE, |w| w.id);
    let ip = crate::auth::client_ip::client_ip(&req, &state.settings.trusted_proxies);
    // Verified once; each endpoint then only asks whether it accepts the caller.
    let caller = match presented_key(&req).filter(|p| !p.is_empty()) {
        Some(_) => Some(identify(&state, &req, ws_id, ip).await?),
        None => None,
    };
    let mut listed = Vec::new();
    for e in crate::store::datahub::endpoints(&state.db, ws_id).await? {
        let Some(route) = crate::hub::route_for(&state.db, e).await? else { continue };
        let open = match (&caller, route.access) {
            (_, Access::Public) => true,
            (None, _) => false,
            (Some(c), _) => admit(&state, c, &route, ip).is_ok(),
        };
        if !open {
            continue;
        }
        listed.push(ListedEndpoint {
            name: route.collection.name.clone(),
            url: format!("/hub/{}/{}", slug.as_str(), route.endpoint.path),
            path: route.endpoint.path.clone(),
            collection: route.collection.name.clone(),
            access: route.access,
            fields: route.fields.clone(),
            primary_key: route.primary_field().map(str::to_owned),
            count: route.dataset.row_count,
        });
    }
    Ok(HttpResponse::Ok().json(Listing { workspace: slug.into_inner(), endpoints: listed }))
}
