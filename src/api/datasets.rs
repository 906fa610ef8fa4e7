//! `/api/v1/datasets`: the same datasets as `Data Hub → Datasets`, the same
//! rules and messages. Bodies (a multipart file or JSON records) are streamed
//! to the staging area under the upload limit, then imported all or nothing.
use crate::web::params::Params;
use std::collections::HashMap;

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::{ApiError, Principal, perm};
use crate::datasets::parse::{self, Format};
use crate::datasets::service::{self, NewContents};
use crate::datasets::staging::{self, StageError, Staged};
use crate::datasets::store;
use crate::entities::datasets;
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::web::multipart::{self, UploadError};

#[derive(Serialize, ToSchema)]
pub struct ColumnOut {
    pub name: String,
    /// text, integer, number, boolean, date or datetime
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Serialize, ToSchema)]
pub struct DatasetOut {
    pub id: i64,
    pub name: String,
    pub columns: Vec<ColumnOut>,
    pub primary_key: Option<String>,
    /// Number of records.
    pub count: i64,
    pub size_bytes: i64,
    /// Bumped by every change of the rows.
    pub version: i64,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn dataset_out(ds: &datasets::Model) -> DatasetOut {
    DatasetOut {
        id: ds.id,
        name: ds.name.clone(),
        columns: store::columns(ds)
            .into_iter()
            .map(|c| ColumnOut { name: c.name, kind: c.kind.as_str().into() })
            .collect(),
        primary_key: ds.primary_key.clone(),
        count: ds.row_count,
        size_bytes: ds.size_bytes,
        version: ds.version,
        source: ds.source.clone(),
        created_at: ds.created_at,
        updated_at: ds.updated_at,
    }
}

/// A body on disk: its format and, for multipart forms, the text fields.
struct Body {
    staged: Staged,
    format: Format,
    fields: HashMap<String, String>,
}

fn too_large(state: &AppState) -> ApiError {
    ApiError::TooLarge(format!(
        "The body is larger than the upload limit of {} (KEYHUB_UPLOAD_MAX_MB); nothing was stored.",
        state.settings.upload_limit_text()
    ))
}

/// Stages a multipart form's `file`, or a JSON body.
async fn stage(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    owner: (i64, i64),
) -> Result<Body, ApiError> {
    let dir = staging::dir(&state.settings.data_dir);
    let limit = state.settings.upload_max_bytes;
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.starts_with("multipart/form-data") {
        let form = Multipart::new(req.headers(), payload);
        let upload = multipart::read(form, &dir, owner, limit, |_| true).await.map_err(|e| match e {
            UploadError::TooLarge => too_large(state),
            UploadError::Io(e) => ApiError::Internal(e.into()),
            _ => ApiError::InvalidField {
                field: "file".into(),
                message: "The body is not a readable multipart form.".into(),
            },
        })?;
        let staged = upload.file.ok_or_else(|| ApiError::InvalidField {
            field: "file".into(),
            message: "Attach the file as the form field `file`.".into(),
        })?;
        let format = match parse::detect(&staged.path, &staged.file_name) {
            Ok(f) => f,
            Err(e) => {
                staging::remove(&dir, &staged).await;
                return Err(Refusal::from(e).into());
            }
        };
        return Ok(Body { staged, format, fields: upload.fields });
    }
    if !content_type.starts_with("application/json") {
        return Err(ApiError::InvalidField {
            field: "body".into(),
            message: "Send application/json, or multipart/form-data with a `file`.".into(),
        });
    }
    let staged = staging::save(&dir, owner, "body.json", payload, limit).await.map_err(|e| match e {
        StageError::TooLarge => too_large(state),
        StageError::Interrupted => {
            ApiError::InvalidField { field: "body".into(), message: "The body was cut off.".into() }
        }
        StageError::Io(e) => ApiError::Internal(e.into()),
    })?;
    let format = match parse::detect(&staged.path, "body.json") {
        Ok(Format::JsonArray) => Format::JsonArray,
        Ok(_) => Format::JsonBody,
        Err(e) => {
            staging::remove(&dir, &staged).await;
            return Err(Refusal::from(e).into());
        }
    };
    Ok(Body { staged, format, fields: HashMap::new() })
}

/// A dataset sent as JSON (documentation only: the body is staged to disk
/// and read by the importer, not deserialized into this).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DatasetIn {
    /// 1 to 100 characters, unique in the workspace.
    name: String,
    /// A column whose values are unique; appends with a known key replace that row.
    primary_key: Option<String>,
    /// The records: objects with the same fields (types are inferred).
    #[schema(value_type = Vec<Object>, min_items = 1)]
    records: Vec<serde_json::Value>,
}

/// A dataset sent as a file (documentation only, as `DatasetIn`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DatasetUpload {
    name: String,
    primary_key: Option<String>,
    /// CSV, JSON or NDJSON.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Records to append or to replace with (documentation only, as `DatasetIn`);
/// a bare array of records is accepted too.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RecordsIn {
    #[schema(value_type = Vec<Object>)]
    records: Vec<serde_json::Value>,
}

/// Creates a dataset. Multipart: `name`, optional `primary_key`, `file` (CSV,
/// JSON or NDJSON). JSON: `{"name", "primary_key", "records": [...]}`. Needs `data.write`.
#[utoipa::path(
    post,
    path = "/api/v1/datasets",
    tag = "datasets",
    request_body(content((DatasetIn = "application/json"), (DatasetUpload = "multipart/form-data"))),
    responses(
        (status = 201, description = "Created", body = DatasetOut),
        (status = 422, description = "`invalid_field` (with `field`) or `invalid_records` (with `index`); nothing was stored", body = crate::api::errors::ErrorBody),
        (status = 413, description = "`too_large`: over the upload limit; nothing was stored", body = crate::api::errors::ErrorBody),
        (status = 403, description = "insufficient_permission: needs data.write", body = crate::api::errors::ErrorBody),
    ),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = []))
)]
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    p: Principal<perm::DataWrite>,
) -> Result<HttpResponse, ApiError> {
    let body = stage(&req, payload, &state, (p.key.workspace_id, p.key.owner_id)).await?;
    let result = create_from(&state, &p.actor(), &body).await;
    staging::remove(&staging::dir(&state.settings.data_dir), &body.staged).await;
    let ds = result?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/datasets/{}", ds.id)))
        .json(dataset_out(&ds)))
}

async fn create_from(state: &AppState, by: &Actor, body: &Body) -> Result<datasets::Model, ApiError> {
    let analysis =
        crate::datasets::import::analyze(body.staged.path.clone(), body.format).await.map_err(Refusal::from)?;
    let text = |name: &str| -> Option<String> {
        body.fields.get(name).cloned().or_else(|| analysis.fields.get(name).and_then(|v| v.as_str().map(str::to_owned)))
    };
    let name = text("name").unwrap_or_default();
    let primary_key = text("primary_key");
    let new = NewContents {
        name: &name,
        columns: analysis.columns.clone(),
        primary_key: primary_key.as_deref(),
        source: "api",
    };
    Ok(service::create(state, by, new, &body.staged.path, body.format).await?)
}

/// The datasets of the key's workspace. Needs `data.read`.
#[utoipa::path(
    get,
    path = "/api/v1/datasets",
    tag = "datasets",
    responses((status = 200, description = "Datasets, by name", body = Vec<DatasetOut>)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = []))
)]
pub async fn list(state: web::Data<AppState>, p: Principal<perm::DataRead>) -> Result<HttpResponse, ApiError> {
    let all = crate::store::datahub::datasets(&state.db, p.key.workspace_id).await?;
    Ok(HttpResponse::Ok().json(all.iter().map(dataset_out).collect::<Vec<_>>()))
}

async fn find(state: &AppState, workspace_id: i64, id: i64) -> Result<datasets::Model, ApiError> {
    crate::store::datahub::dataset(&state.db, workspace_id, id).await?.ok_or(ApiError::NotFound)
}

/// One dataset. Needs `data.read`.
#[utoipa::path(
    get,
    path = "/api/v1/datasets/{id}",
    tag = "datasets",
    params(("id" = i64, Path, description = "Dataset id")),
    responses((status = 200, description = "The dataset", body = DatasetOut)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = []))
)]
pub async fn show(
    state: web::Data<AppState>,
    p: Principal<perm::DataRead>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let ds = find(&state, p.key.workspace_id, *id).await?;
    Ok(HttpResponse::Ok().json(dataset_out(&ds)))
}

#[derive(Deserialize)]
pub struct Paging {
    limit: Option<crate::domain::query::Bounded<1, 1000>>,
    offset: Option<crate::domain::query::Offset>,
}

/// Records of a dataset in row order: `{"meta": {"name", "count", "limit", "offset"}, "data": [...]}`.
/// `limit` 1–1000 (default 100). Needs `data.read`.
#[utoipa::path(
    get,
    path = "/api/v1/datasets/{id}/records",
    tag = "datasets",
    params(
        ("id" = i64, Path, description = "Dataset id"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "1 to 1000, default 100"),
        ("offset" = Option<u64>, Query, minimum = 0, maximum = 1_000_000_000_000u64, description = "Records to skip"),
    ),
    responses(
        (status = 200, description = "A page of records"),
        (status = 400, description = "invalid_query", body = crate::api::errors::ErrorBody),
    ),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = []))
)]
pub async fn records(
    state: web::Data<AppState>,
    p: Principal<perm::DataRead>,
    id: web::Path<i64>,
    q: Params<Paging>,
) -> Result<HttpResponse, ApiError> {
    let ds = find(&state, p.key.workspace_id, *id).await?;
    let limit = q.limit.map_or(100, |l| l.get());
    let offset = q.offset.map_or(0, |o| o.get());
    let page = store::read(&state.db, &ds, &store::ReadQuery { limit, offset, ..Default::default() }).await?;
    // Fields in column order, as a collection over all columns would give them.
    let names: Vec<String> = store::columns(&ds).into_iter().map(|c| c.name).collect();
    let all: Vec<usize> = (0..names.len()).collect();
    let q = crate::domain::datahub::HubQuery {
        limit,
        offset,
        order: None,
        whole: false,
        filters: vec![],
        format: crate::domain::datahub::Format::Json,
    };
    let body = crate::hub::render_json(&ds.name, &names, &all, &q, &page.rows, page.count);
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}

async fn write(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    p: Principal<perm::DataWrite>,
    id: i64,
    replace: bool,
) -> Result<HttpResponse, ApiError> {
    let ds = find(&state, p.key.workspace_id, id).await?;
    let body = stage(&req, payload, &state, (p.key.workspace_id, p.key.owner_id)).await?;
    let result = if replace {
        service::replace(&state, &p.actor(), &ds, &body.staged.path, body.format).await
    } else {
        service::append(&state, &p.actor(), &ds, &body.staged.path, body.format).await
    };
    staging::remove(&staging::dir(&state.settings.data_dir), &body.staged).await;
    Ok(HttpResponse::Ok().json(dataset_out(&result?)))
}

/// Appends records (`[...]` or `{"records": [...]}`, or a multipart `file`);
/// with a primary key, records whose key exists replace that row. All or
/// nothing. Needs `data.write`.
#[utoipa::path(
    post,
    path = "/api/v1/datasets/{id}/records",
    tag = "datasets",
    params(("id" = i64, Path, description = "Dataset id")),
    request_body(content((RecordsIn = "application/json"), (DatasetUpload = "multipart/form-data"))),
    responses(
        (status = 200, description = "The dataset after the change", body = DatasetOut),
        (status = 422, description = "invalid_records with the index of the first bad record; nothing was written", body = crate::api::errors::ErrorBody),
    ),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = []))
)]
pub async fn append(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    p: Principal<perm::DataWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    write(req, payload, state, p, *id, false).await
}

/// Replaces all records atomically: readers see the old records until the
/// new ones are all in. Needs `data.write`.
#[utoipa::path(
    put,
    path = "/api/v1/datasets/{id}/records",
    tag = "datasets",
    params(("id" = i64, Path, description = "Dataset id")),
    request_body(content((RecordsIn = "application/json"), (DatasetUpload = "multipart/form-data"))),
    responses(
        (status = 200, description = "The dataset after the change", body = DatasetOut),
        (status = 422, description = "invalid_records; the old records are untouched", body = crate::api::errors::ErrorBody),
    ),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = []))
)]
pub async fn replace(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    p: Principal<perm::DataWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    write(req, payload, state, p, *id, true).await
}

/// Deletes a dataset and the collections and endpoints over it. Needs `data.write`.
#[utoipa::path(
    delete,
    path = "/api/v1/datasets/{id}",
    tag = "datasets",
    params(("id" = i64, Path, description = "Dataset id")),
    responses((status = 204, description = "Deleted")),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = []))
)]
pub async fn delete(
    state: web::Data<AppState>,
    p: Principal<perm::DataWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let ds = find(&state, p.key.workspace_id, *id).await?;
    service::delete(&state, &p.actor(), &ds).await?;
    Ok(HttpResponse::NoContent().finish())
}
