//! `/api/v1/connector-kinds`, `/api/v1/sources`, `/api/v1/sync-runs` and
//! `/api/v1/entities`: the connector wizard and the ontology for scripts and
//! orchestrators. Sources need `connectors.manage`; reading entities needs
//! `data.read`, creating them `ontology.edit`. Secret fields are write-only.
use crate::web::params::Params;
use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::collections::body;
use crate::api::{ApiError, Principal, perm};
use crate::connectors::errors::Report;
use crate::connectors::runs::StreamRun;
use crate::connectors::sources::{self as manage, SourceInput};
use crate::connectors::{ConnectorError, REGISTRY, StreamInfo};
use crate::entities::{sources, sync_runs};
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::live_data as store;

mod runs;
pub use runs::*;
mod entities;
pub use entities::*;

/// A refusal with the fields spelled as this API's JSON spells them.
fn json_fields(r: Refusal) -> Refusal {
    r.rename_fields(api_field)
}

/// Config fields are `config.<name>` in JSON.
fn api_field(f: &str) -> String {
    match f {
        "kind" | "name" | "streams" | "entity_id" => f.to_owned(),
        "schedule" => "schedule_minutes".to_owned(),
        other if other.starts_with("modes[") => format!("stream_modes{}", &other["modes".len()..]),
        other => format!("config.{other}"),
    }
}

#[derive(Serialize, ToSchema)]
pub struct FieldOut {
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    /// `url`, `text`, `secret`, `choice` or `count` (a whole number from 1 to `max`).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// For `count`: the largest value.
    pub max: Option<u64>,
    /// Secret fields are write-only: never returned, shown as `••••1234`.
    pub secret: bool,
    pub required: bool,
    pub default: &'static str,
    /// For `choice`: the allowed values.
    pub options: Vec<&'static str>,
}

#[derive(Serialize, ToSchema)]
pub struct KindOut {
    pub kind: &'static str,
    pub name: &'static str,
    pub reads: &'static str,
    pub auth: &'static str,
    pub fields: Vec<FieldOut>,
}

/// Every connector kind with its `spec`.
#[utoipa::path(get, path = "/api/v1/connector-kinds", tag = "live data",
    responses((status = 200, description = "Connector kinds and the fields each needs", body = Vec<KindOut>)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn kinds(_p: Principal<perm::ConnectorsManage>) -> HttpResponse {
    use crate::connectors::FieldKind;
    let out: Vec<KindOut> = REGISTRY
        .iter()
        .map(|c| {
            let s = c.spec();
            KindOut {
                kind: s.kind,
                name: s.name,
                reads: s.reads,
                auth: s.auth,
                fields: s
                    .fields
                    .iter()
                    .map(|f| FieldOut {
                        name: f.name,
                        label: f.label,
                        help: f.help,
                        kind: match f.kind {
                            FieldKind::Url => "url",
                            FieldKind::Text => "text",
                            FieldKind::Secret => "secret",
                            FieldKind::Choice(_) => "choice",
                            FieldKind::Count { .. } => "count",
                        },
                        secret: f.secret(),
                        required: f.required,
                        default: f.default,
                        max: match f.kind {
                            FieldKind::Count { max } => Some(max),
                            _ => None,
                        },
                        options: match f.kind {
                            FieldKind::Choice(o) => o.iter().map(|(v, _)| *v).collect(),
                            _ => Vec::new(),
                        },
                    })
                    .collect(),
            }
        })
        .collect();
    HttpResponse::Ok().json(out)
}

#[derive(Serialize, ToSchema)]
pub struct TestOut {
    pub ok: bool,
    pub error: Option<Report>,
    /// Streams found (when ok).
    pub streams: usize,
    pub tested_at: Option<DateTime<Utc>>,
    /// The record the test read (when ok and the stream has one), secrets masked.
    pub sample: Option<crate::connectors::sources::Sample>,
    /// Streams the source lists that failed their probe, each with its own
    /// error (the test passes when at least one stream reads).
    pub unavailable: Vec<UnavailableOut>,
}

#[derive(Serialize, ToSchema)]
pub struct UnavailableOut {
    pub stream: String,
    pub error: Report,
}

#[derive(Serialize, ToSchema)]
pub struct ColumnOut {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct StreamOut {
    pub name: String,
    pub columns: Vec<ColumnOut>,
    pub primary_key: Option<String>,
    pub row_count: Option<u64>,
    pub chosen: bool,
    /// What to know before choosing it: how it pages, why it cannot be
    /// incremental, the columns it can be read incrementally by.
    pub notes: Vec<String>,
    /// Columns an incremental sync may use as its cursor (null: any
    /// integer, date or datetime column).
    pub cursor_columns: Option<Vec<String>>,
}

fn cursor_columns(kind: &str, s: &StreamInfo) -> Option<Vec<String>> {
    crate::connectors::kind(kind).and_then(|k| k.cursor_columns(s))
}

fn stream_out(kind: &str, s: &StreamInfo, chosen: &[String]) -> StreamOut {
    StreamOut {
        name: s.name.clone(),
        columns: s.columns.iter().map(|c| ColumnOut { name: c.name.clone(), kind: c.kind.as_str() }).collect(),
        primary_key: s.primary_key.clone(),
        row_count: s.row_count,
        chosen: chosen.contains(&s.name),
        notes: s.notes.clone(),
        cursor_columns: cursor_columns(kind, s),
    }
}

#[derive(Serialize, ToSchema)]
pub struct SourceOut {
    pub id: i64,
    pub kind: String,
    pub name: String,
    /// `draft`, `active` or `failing`.
    pub status: String,
    /// Plain fields as saved; secret fields as `••••1234`.
    #[schema(value_type = Object)]
    pub config: BTreeMap<String, String>,
    pub streams: Vec<String>,
    pub entity_id: Option<i64>,
    pub last_test: Option<TestOut>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub schedule: ScheduleOut,
    /// Stream → sync mode (`full` unless set to `incremental` with a cursor column).
    pub stream_modes: BTreeMap<String, manage::StreamMode>,
    /// Since when the source fails (tests or syncs), and how many failures since.
    pub failing_since: Option<DateTime<Utc>>,
    pub failure_count: i32,
    /// The failure that made the source failing; none once it recovered.
    pub last_failure: Option<FailureOut>,
    /// Required secret fields with nothing saved (never entered, or cleared
    /// because the address changed): enter them before testing.
    pub credentials_missing: Vec<String>,
    /// What this change did that the caller should know (e.g. credentials cleared).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ScheduleOut {
    /// Minutes between syncs; null = manual.
    pub every_minutes: Option<i32>,
    pub paused: bool,
    /// When the next scheduled sync starts (null: manual, or stopped while the source is failing).
    pub next_sync_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct FailureOut {
    pub at: DateTime<Utc>,
    /// `test` or `sync`.
    pub during: String,
    pub run_id: Option<i64>,
    pub stream: Option<String>,
    pub error: Report,
}

fn unavailable_out(t: &crate::domain::live_data::TestResult) -> Vec<UnavailableOut> {
    t.unavailable.iter().map(|u| UnavailableOut { stream: u.stream.clone(), error: u.error.report() }).collect()
}

fn test_out(s: &sources::Model) -> Option<TestOut> {
    manage::last_test(s).map(|t| TestOut {
        ok: t.ok,
        error: t.error.as_ref().map(ConnectorError::report),
        streams: t.streams,
        tested_at: s.last_test_at,
        unavailable: unavailable_out(&t),
        sample: t.sample,
    })
}

pub fn source_out(s: &sources::Model) -> SourceOut {
    let mut config = manage::plain_config(s);
    for (k, last4) in manage::secret_hints(s) {
        config.insert(k, manage::mask(&last4));
    }
    SourceOut {
        id: s.id,
        kind: s.kind.clone(),
        name: s.name.clone(),
        status: s.status.to_string(),
        config,
        streams: manage::chosen_streams(s),
        entity_id: s.entity_id,
        last_test: test_out(s),
        last_sync_at: s.last_sync_at,
        schedule: ScheduleOut {
            every_minutes: s.schedule_minutes,
            paused: s.schedule_paused,
            next_sync_at: s
                .next_sync_at
                .filter(|_| s.status == manage::ACTIVE && !s.schedule_paused && s.schedule_minutes.is_some()),
        },
        stream_modes: manage::stream_modes(s),
        failing_since: s.failing_since,
        failure_count: s.failure_count,
        // The failure that made it failing; none once it recovered (a passed
        // test or a clean sync). Diagnostics keeps it under "Recovered".
        last_failure: manage::last_failure(s).filter(|_| s.failing_since.is_some()).map(|f| FailureOut {
            at: f.at,
            during: f.during,
            run_id: f.run_id,
            stream: f.stream,
            error: f.error.report(),
        }),
        credentials_missing: manage::missing_secrets(s).into_iter().map(str::to_owned).collect(),
        notes: Vec::new(),
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

/// A source to create, or the fields to change (absent = unchanged; a secret
/// left out, empty or sent back as its `••••1234` mask keeps its saved value —
/// unless the address (scheme, host or port of the base URL) changes: then
/// every secret not sent anew in the same request is cleared, and the answer's
/// `notes` and `credentials_missing` say so).
#[derive(Deserialize, ToSchema, Default)]
pub struct SourceIn {
    pub kind: Option<String>,
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub config: Option<BTreeMap<String, String>>,
    /// Stream names to sync (from the last successful test's streams).
    pub streams: Option<Vec<String>>,
    /// The entity whose spreadsheet the streams fill; null unlinks.
    #[serde(default, deserialize_with = "crate::api::collections::present")]
    pub entity_id: Option<Option<i64>>,
    /// Minutes between scheduled syncs (1 to 525,600); null = manual.
    #[serde(default, deserialize_with = "crate::api::collections::present")]
    pub schedule_minutes: Option<Option<u32>>,
    /// Pause or resume the schedule.
    pub schedule_paused: Option<bool>,
    /// Stream → `{"mode": "full"}` or `{"mode": "incremental", "cursor": "<column>"}`.
    pub stream_modes: Option<BTreeMap<String, manage::StreamMode>>,
}

async fn find(state: &AppState, ws: i64, id: i64) -> Result<sources::Model, ApiError> {
    store::source(&state.db, ws, id).await?.ok_or(ApiError::NotFound)
}

#[utoipa::path(get, path = "/api/v1/sources", tag = "live data",
    responses((status = 200, description = "Sources of the workspace", body = Vec<SourceOut>)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn list(state: web::Data<AppState>, p: Principal<perm::ConnectorsManage>) -> Result<HttpResponse, ApiError> {
    let all = store::sources(&state.db, p.key.workspace_id).await?;
    Ok(HttpResponse::Ok().json(all.iter().map(source_out).collect::<Vec<_>>()))
}

/// Applies the parts of a create or change that come after the credentials.
async fn apply_rest(
    state: &AppState,
    actor: &crate::store::audit::Actor,
    mut s: sources::Model,
    b: &SourceIn,
) -> Result<sources::Model, ApiError> {
    if let Some(streams) = &b.streams {
        s = manage::choose_streams(state, actor, &s, streams).await.map_err(json_fields)?;
    }
    if let Some(entity) = b.entity_id {
        s = manage::link(state, actor, &s, entity).await.map_err(json_fields)?;
    }
    if b.schedule_minutes.is_some() || b.schedule_paused.is_some() || b.stream_modes.is_some() {
        let input = manage::SyncSettings {
            schedule_minutes: b.schedule_minutes,
            paused: b.schedule_paused,
            modes: b.stream_modes.clone().unwrap_or_default(),
        };
        s = manage::set_sync_settings(state, actor, &s, input).await.map_err(json_fields)?;
    }
    Ok(s)
}

#[utoipa::path(post, path = "/api/v1/sources", tag = "live data", request_body = SourceIn,
    responses((status = 201, description = "Saved as a draft", body = SourceOut),
              (status = 409, description = "not_ready: streams are chosen after a passed test", body = crate::api::errors::ErrorBody),
              (status = 422, description = "invalid_field (`field` is `kind`, `name` or `config.<field>`)", body = crate::api::errors::ErrorBody)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    p: Principal<perm::ConnectorsManage>,
    b: Result<web::Json<SourceIn>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let b = body(b)?;
    let actor = &p.actor();
    let input = SourceInput {
        kind: b.kind.clone().unwrap_or_default(),
        name: b.name.clone().unwrap_or_default(),
        config: b.config.clone().unwrap_or_default(),
    };
    let s = manage::save_credentials(&state, actor, None, &input).await.map_err(json_fields)?.source;
    let s = apply_rest(&state, actor, s, &b).await?;
    Ok(HttpResponse::Created().json(source_out(&s)))
}

#[utoipa::path(get, path = "/api/v1/sources/{id}", tag = "live data", params(("id" = i64, Path, description = "Source id")),
    responses((status = 200, description = "The source", body = SourceOut)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    p: Principal<perm::ConnectorsManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(source_out(&find(&state, p.key.workspace_id, *id).await?)))
}

#[utoipa::path(patch, path = "/api/v1/sources/{id}", tag = "live data", params(("id" = i64, Path, description = "Source id")), request_body = SourceIn,
    responses((status = 200, description = "Changed (a changed connection must be tested again)", body = SourceOut),
              (status = 409, description = "not_ready: streams are chosen after a passed test", body = crate::api::errors::ErrorBody),
              (status = 422, description = "invalid_field", body = crate::api::errors::ErrorBody)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    p: Principal<perm::ConnectorsManage>,
    id: web::Path<i64>,
    b: Result<web::Json<SourceIn>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let b = body(b)?;
    let actor = &p.actor();
    let mut s = find(&state, p.key.workspace_id, *id).await?;
    let mut notes = Vec::new();
    if b.name.is_some() || b.config.is_some() || b.kind.is_some() {
        let mut config = manage::plain_config(&s);
        config.extend(b.config.clone().unwrap_or_default());
        let input = SourceInput {
            kind: b.kind.clone().unwrap_or_else(|| s.kind.clone()),
            name: b.name.clone().unwrap_or_else(|| s.name.clone()),
            config,
        };
        let saved = manage::save_credentials(&state, actor, Some(&s), &input).await.map_err(json_fields)?;
        if !saved.cleared.is_empty() {
            notes.push(manage::cleared_sentence(&saved.cleared));
        }
        s = saved.source;
    }
    let s = apply_rest(&state, actor, s, &b).await?;
    let mut out = source_out(&s);
    out.notes = notes;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Keep the source's spreadsheet tabs (as static tabs) instead of deleting them.
    #[serde(default)]
    pub keep_tabs: bool,
}

#[utoipa::path(delete, path = "/api/v1/sources/{id}", tag = "live data", params(("id" = i64, Path, description = "Source id"), DeleteQuery),
    responses((status = 204, description = "Deleted with its run history (and its tabs unless keep_tabs)"),
              (status = 409, description = "sync_running", body = crate::api::errors::ErrorBody)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    p: Principal<perm::ConnectorsManage>,
    id: web::Path<i64>,
    q: Params<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let s = find(&state, p.key.workspace_id, *id).await?;
    manage::delete(&state, &p.actor(), &s, q.keep_tabs).await.map_err(json_fields)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Runs `check`, discovers the streams and reads one record.
#[utoipa::path(post, path = "/api/v1/sources/{id}/test", tag = "live data", params(("id" = i64, Path, description = "Source id")),
    responses((status = 200, description = "The outcome: `ok`, or `error` with class, cause, solution and the provider's message", body = TestOut)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn test(
    state: web::Data<AppState>,
    p: Principal<perm::ConnectorsManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let s = find(&state, p.key.workspace_id, *id).await?;
    let (s, _) = manage::test(&state, &p.actor(), &s).await.map_err(json_fields)?;
    Ok(HttpResponse::Ok().json(test_out(&s)))
}

#[derive(Serialize, ToSchema)]
pub struct DiscoverOut {
    pub ok: bool,
    pub error: Option<Report>,
    pub streams: Vec<StreamOut>,
    /// Streams listed by the source that could not be read, with their errors.
    pub unavailable: Vec<UnavailableOut>,
}

/// Tests again and returns the streams with their columns.
#[utoipa::path(post, path = "/api/v1/sources/{id}/discover", tag = "live data", params(("id" = i64, Path, description = "Source id")),
    responses((status = 200, description = "The streams (or the error)", body = DiscoverOut)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn discover(
    state: web::Data<AppState>,
    p: Principal<perm::ConnectorsManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let s = find(&state, p.key.workspace_id, *id).await?;
    let (s, result) = manage::test(&state, &p.actor(), &s).await.map_err(json_fields)?;
    let chosen = manage::chosen_streams(&s);
    Ok(HttpResponse::Ok().json(DiscoverOut {
        ok: result.ok,
        error: result.error.as_ref().map(ConnectorError::report),
        streams: manage::catalog(&s).iter().map(|st| stream_out(&s.kind, st, &chosen)).collect(),
        unavailable: unavailable_out(&result),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ActivateOut {
    pub source: SourceOut,
    /// The first sync, started in the background.
    pub run_id: i64,
}

#[utoipa::path(post, path = "/api/v1/sources/{id}/activate", tag = "live data", params(("id" = i64, Path, description = "Source id")),
    responses((status = 202, description = "Active; the first sync started", body = ActivateOut),
              (status = 409, description = "not_ready (no passed test or no streams) or sync_running", body = crate::api::errors::ErrorBody)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn activate(
    state: web::Data<AppState>,
    p: Principal<perm::ConnectorsManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let s = find(&state, p.key.workspace_id, *id).await?;
    let (s, run_id) = manage::activate(&state.clone().into_inner(), &p.actor(), &s).await.map_err(json_fields)?;
    Ok(HttpResponse::Accepted().json(ActivateOut { source: source_out(&s), run_id }))
}
