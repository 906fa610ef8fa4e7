use super::*;

#[derive(Serialize, ToSchema)]
pub struct RunOut {
    pub id: i64,
    pub source_id: i64,
    /// `queued`, `running`, `succeeded`, `partial`, `failed` or `cancelled`.
    pub status: String,
    /// `activate`, `manual`, `api` or `schedule`.
    pub trigger: String,
    /// Per stream: status, mode, records read and written so far, start and
    /// end, retries, schema changes, error.
    pub streams: Vec<StreamRun>,
    pub error: Option<String>,
    /// When the run was asked for.
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Times a node took the run up (more than one: resumed after a stop).
    pub attempts: i32,
    pub cancel_requested: bool,
    /// What happened, oldest first; provider messages, never credentials.
    pub log: Vec<crate::connectors::runs::LogLine>,
}

pub fn run_out(r: &sync_runs::Model) -> RunOut {
    RunOut {
        id: r.id,
        source_id: r.source_id,
        status: r.status.to_string(),
        trigger: r.trigger.clone(),
        streams: r.streams.0.clone(),
        error: r.error.clone(),
        started_at: r.started_at,
        finished_at: r.finished_at,
        attempts: r.attempts,
        cancel_requested: r.cancel_requested,
        log: r.log.0.clone(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct StartedOut {
    pub run_id: i64,
    pub run: RunOut,
}

/// Queues a sync of the source's chosen streams. Poll `GET /api/v1/sync-runs/{id}` until it ends.
#[utoipa::path(post, path = "/api/v1/sources/{id}/syncs", tag = "live data", params(("id" = i64, Path, description = "Source id")),
    responses((status = 202, description = "Queued; the runner starts it within a second when a worker is free", body = StartedOut),
              (status = 409, description = "sync_running (`run_id` names the live run) or not_ready", body = crate::api::errors::ErrorBody)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn start_sync(
    state: web::Data<AppState>,
    p: Principal<perm::ConnectorsManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let s = find(&state, p.key.workspace_id, *id).await?;
    if s.status == manage::DRAFT {
        return Err(ApiError::NotReady("Activate the source first (POST /api/v1/sources/{id}/activate).".into()));
    }
    let run_id = crate::connectors::sources::enqueue(&state, &s, "api").await?;
    let run = store::run(&state.db, p.key.workspace_id, run_id).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Accepted().json(StartedOut { run_id, run: run_out(&run) }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// At most this many runs, newest first (default 20, at most 100).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    pub limit: Option<crate::domain::query::Bounded<1, 100>>,
}

#[utoipa::path(get, path = "/api/v1/sources/{id}/syncs", tag = "live data", params(("id" = i64, Path, description = "Source id"), HistoryQuery),
    responses((status = 200, description = "The source's runs, newest first", body = Vec<RunOut>)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn syncs(
    state: web::Data<AppState>,
    p: Principal<perm::ConnectorsManage>,
    id: web::Path<i64>,
    q: Params<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let s = find(&state, p.key.workspace_id, *id).await?;
    let runs = store::runs_of_source(&state.db, s.id, q.limit.map_or(20, |l| l.get())).await?;
    Ok(HttpResponse::Ok().json(runs.iter().map(run_out).collect::<Vec<_>>()))
}

/// Cancels a queued run at once, or asks a running one to stop after its
/// current batch; the streams' old rows stay.
#[utoipa::path(post, path = "/api/v1/sync-runs/{id}/cancel", tag = "live data", params(("id" = i64, Path, description = "Run id")),
    responses((status = 202, description = "Cancelled (queued) or asked to stop (running)", body = RunOut),
              (status = 409, description = "run_finished", body = crate::api::errors::ErrorBody)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    p: Principal<perm::ConnectorsManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let r = store::run(&state.db, p.key.workspace_id, *id).await?.ok_or(ApiError::NotFound)?;
    if !crate::connectors::sources::cancel_run(&state, &r, "an API call").await? {
        return Err(ApiError::RunFinished);
    }
    let r = store::run(&state.db, p.key.workspace_id, *id).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Accepted().json(run_out(&r)))
}

#[utoipa::path(get, path = "/api/v1/sync-runs/{id}", tag = "live data", params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, description = "The run: state and per-stream counts", body = RunOut)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn run(
    state: web::Data<AppState>,
    p: Principal<perm::ConnectorsManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let r = store::run(&state.db, p.key.workspace_id, *id).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(run_out(&r)))
}
