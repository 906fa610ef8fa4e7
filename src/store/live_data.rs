//! Sources, ontology entities, their spreadsheet tabs and sync runs.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::domain::live_data::runs::{LogLine, PendingRefresh, StreamRun};
use crate::entities::json::{self, Json};
use crate::entities::{ontology_entities as entities, sources, stream_tabs, sync_runs};

// --- entities -------------------------------------------------------------

pub async fn entities(db: &impl ConnectionTrait, workspace_id: i64) -> Result<Vec<entities::Model>, DbErr> {
    entities::Entity::find()
        .filter(entities::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(entities::Column::NameKey)
        .all(db)
        .await
}

pub async fn entity(db: &impl ConnectionTrait, workspace_id: i64, id: i64) -> Result<Option<entities::Model>, DbErr> {
    entities::Entity::find_by_id(id).filter(entities::Column::WorkspaceId.eq(workspace_id)).one(db).await
}

/// Creates (`id` none) or renames/describes an entity; `None` when the name is taken.
pub async fn save_entity(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    id: Option<i64>,
    name: &str,
    description: &str,
) -> Result<Option<entities::Model>, DbErr> {
    let now = Utc::now();
    let res = match id {
        None => {
            entities::ActiveModel {
                workspace_id: Set(workspace_id),
                name: Set(name.to_owned()),
                name_key: Set(crate::domain::text::name_key(name)),
                look_key: Set(Some(crate::domain::text::look_key(name))),
                description: Set(description.to_owned()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await
        }
        Some(id) => {
            let Some(old) = entity(db, workspace_id, id).await? else {
                return Err(DbErr::RecordNotFound("entity".into()));
            };
            let mut m: entities::ActiveModel = old.into();
            m.name = Set(name.to_owned());
            m.name_key = Set(crate::domain::text::name_key(name));
            m.look_key = Set(Some(crate::domain::text::look_key(name)));
            m.description = Set(description.to_owned());
            m.updated_at = Set(now);
            m.update(db).await
        }
    };
    crate::store::unless_taken(res)
}

pub async fn delete_entity(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    stream_tabs::Entity::delete_many().filter(stream_tabs::Column::EntityId.eq(id)).exec(db).await?;
    sources::Entity::update_many()
        .col_expr(sources::Column::EntityId, sea_orm::sea_query::Expr::value(Option::<i64>::None))
        .filter(sources::Column::EntityId.eq(id))
        .exec(db)
        .await?;
    entities::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

// --- sources --------------------------------------------------------------

pub async fn sources(db: &impl ConnectionTrait, workspace_id: i64) -> Result<Vec<sources::Model>, DbErr> {
    sources::Entity::find()
        .filter(sources::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(sources::Column::NameKey)
        .all(db)
        .await
}

pub async fn source(db: &impl ConnectionTrait, workspace_id: i64, id: i64) -> Result<Option<sources::Model>, DbErr> {
    sources::Entity::find_by_id(id).filter(sources::Column::WorkspaceId.eq(workspace_id)).one(db).await
}

pub async fn source_by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<sources::Model>, DbErr> {
    sources::Entity::find_by_id(id).one(db).await
}

pub async fn sources_of_entity(db: &impl ConnectionTrait, entity_id: i64) -> Result<Vec<sources::Model>, DbErr> {
    sources::Entity::find()
        .filter(sources::Column::EntityId.eq(entity_id))
        .order_by_asc(sources::Column::NameKey)
        .all(db)
        .await
}

/// Inserts or updates; `None` when another source has the name.
pub async fn save_source(db: &impl ConnectionTrait, m: sources::ActiveModel) -> Result<Option<sources::Model>, DbErr> {
    let res = if m.id.is_not_set() { m.insert(db).await } else { m.update(db).await };
    crate::store::unless_taken(res)
}

pub async fn delete_source(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    sync_runs::Entity::delete_many().filter(sync_runs::Column::SourceId.eq(id)).exec(db).await?;
    sources::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

// --- spreadsheet tabs -----------------------------------------------------

pub async fn tabs_of_entity(db: &impl ConnectionTrait, entity_id: i64) -> Result<Vec<stream_tabs::Model>, DbErr> {
    stream_tabs::Entity::find()
        .filter(stream_tabs::Column::EntityId.eq(entity_id))
        .order_by_asc(stream_tabs::Column::Id)
        .all(db)
        .await
}

pub async fn tabs_of_source(db: &impl ConnectionTrait, source_id: i64) -> Result<Vec<stream_tabs::Model>, DbErr> {
    stream_tabs::Entity::find()
        .filter(stream_tabs::Column::SourceId.eq(source_id))
        .order_by_asc(stream_tabs::Column::Id)
        .all(db)
        .await
}

pub async fn tab(db: &impl ConnectionTrait, workspace_id: i64, id: i64) -> Result<Option<stream_tabs::Model>, DbErr> {
    stream_tabs::Entity::find_by_id(id).filter(stream_tabs::Column::WorkspaceId.eq(workspace_id)).one(db).await
}

pub async fn add_tab(
    db: &impl ConnectionTrait,
    src: &sources::Model,
    stream: &str,
    dataset_id: i64,
) -> Result<stream_tabs::Model, DbErr> {
    stream_tabs::ActiveModel {
        workspace_id: Set(src.workspace_id),
        entity_id: Set(src.entity_id),
        source_id: Set(Some(src.id)),
        stream: Set(stream.to_owned()),
        dataset_id: Set(dataset_id),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn tab_synced(db: &impl ConnectionTrait, tab_id: i64) -> Result<(), DbErr> {
    stream_tabs::Entity::update_many()
        .col_expr(stream_tabs::Column::LastSyncAt, sea_orm::sea_query::Expr::value(Some(Utc::now())))
        .filter(stream_tabs::Column::Id.eq(tab_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Moves a source's tabs to `entity_id` (linking) or detaches them from the
/// source (unlinking, tabs kept).
pub async fn set_tabs_entity(db: &impl ConnectionTrait, source_id: i64, entity_id: Option<i64>) -> Result<(), DbErr> {
    stream_tabs::Entity::update_many()
        .col_expr(stream_tabs::Column::EntityId, sea_orm::sea_query::Expr::value(entity_id))
        .filter(stream_tabs::Column::SourceId.eq(source_id))
        .exec(db)
        .await?;
    Ok(())
}

/// A source's stream was renamed (a newer discovery names it otherwise):
/// its tab follows, so the next sync writes into the same dataset.
pub async fn rename_tab_stream(db: &impl ConnectionTrait, source_id: i64, from: &str, to: &str) -> Result<(), DbErr> {
    stream_tabs::Entity::update_many()
        .col_expr(stream_tabs::Column::Stream, sea_orm::sea_query::Expr::value(to))
        .filter(stream_tabs::Column::SourceId.eq(source_id))
        .filter(stream_tabs::Column::Stream.eq(from))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn detach_tabs(db: &impl ConnectionTrait, source_id: i64) -> Result<(), DbErr> {
    stream_tabs::Entity::update_many()
        .col_expr(stream_tabs::Column::SourceId, sea_orm::sea_query::Expr::value(Option::<i64>::None))
        .filter(stream_tabs::Column::SourceId.eq(source_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn delete_tab(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    stream_tabs::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

// --- sync runs (jobs) -----------------------------------------------------

/// Statuses of a run that has not ended.
pub const LIVE: [&str; 2] =
    [crate::domain::live_data::RunStatus::Queued.as_str(), crate::domain::live_data::RunStatus::Running.as_str()];

/// The source's queued or running run, if any.
pub async fn live_run(db: &impl ConnectionTrait, source_id: i64) -> Result<Option<sync_runs::Model>, DbErr> {
    sync_runs::Entity::find()
        .filter(sync_runs::Column::SourceId.eq(source_id))
        .filter(sync_runs::Column::Status.is_in(LIVE))
        .one(db)
        .await
}

pub async fn runs_of_source(
    db: &impl ConnectionTrait,
    source_id: i64,
    limit: u64,
) -> Result<Vec<sync_runs::Model>, DbErr> {
    sync_runs::Entity::find()
        .filter(sync_runs::Column::SourceId.eq(source_id))
        .order_by_desc(sync_runs::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

pub async fn run(db: &impl ConnectionTrait, workspace_id: i64, id: i64) -> Result<Option<sync_runs::Model>, DbErr> {
    sync_runs::Entity::find_by_id(id).filter(sync_runs::Column::WorkspaceId.eq(workspace_id)).one(db).await
}

pub async fn run_by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<sync_runs::Model>, DbErr> {
    sync_runs::Entity::find_by_id(id).one(db).await
}

/// Queues a run. The partial unique index refuses a second live run of the
/// same source (a unique violation), whichever request or node asks.
pub async fn queue_run(
    db: &impl ConnectionTrait,
    src: &sources::Model,
    streams: &[StreamRun],
    trigger: &str,
    log: &[LogLine],
) -> Result<sync_runs::Model, DbErr> {
    sync_runs::ActiveModel {
        workspace_id: Set(src.workspace_id),
        source_id: Set(src.id),
        status: Set(crate::domain::live_data::RunStatus::Queued.into()),
        streams: Set(Json(streams.to_vec())),
        trigger: Set(trigger.to_owned()),
        started_at: Set(Utc::now()),
        attempts: Set(0),
        cancel_requested: Set(false),
        log: Set(Json(log.to_vec())),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Claims the oldest run that is queued or whose lease has passed, for
/// `node` until `until`. One statement: on PostgreSQL `FOR UPDATE SKIP LOCKED`
/// lets nodes claim different runs at once; SQLite's single writer makes it
/// atomic there.
pub async fn claim_run(
    db: &DatabaseConnection,
    node: &str,
    until: chrono::DateTime<Utc>,
) -> Result<Option<sync_runs::Model>, DbErr> {
    let backend = db.get_database_backend();
    let mut sql = crate::store::Sql::new(backend, "UPDATE sync_runs SET status = 'running', lease_owner = ");
    sql.bind(node).push(", lease_until = ").bind(until).push(", attempts = attempts + 1 WHERE id = (SELECT id FROM sync_runs WHERE status = 'queued' OR (status = 'running' AND (lease_until IS NULL OR lease_until < ");
    sql.bind(Utc::now()).push(")) ORDER BY id LIMIT 1");
    if backend == sea_orm::DatabaseBackend::Postgres {
        sql.push(" FOR UPDATE SKIP LOCKED");
    }
    sql.push(") RETURNING id");
    let Some(row) = db.query_one_raw(sql.build()).await? else { return Ok(None) };
    let id: i64 = row.try_get("", "id")?;
    run_by_id(db, id).await
}

/// Running runs whose lease `node` still holds.
pub async fn runs_leased_by(db: &impl ConnectionTrait, node: &str) -> Result<i64, DbErr> {
    let n = sync_runs::Entity::find()
        .filter(sync_runs::Column::LeaseOwner.eq(node))
        .filter(sync_runs::Column::Status.eq("running"))
        .count(db)
        .await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Gives up `node`'s claims on running runs (it shuts down): any node may
/// claim them at once. Returns how many.
pub async fn release_leases(db: &impl ConnectionTrait, node: &str) -> Result<u64, DbErr> {
    let res = sync_runs::Entity::update_many()
        .col_expr(sync_runs::Column::LeaseOwner, sea_orm::sea_query::Expr::value(Option::<String>::None))
        .col_expr(sync_runs::Column::LeaseUntil, sea_orm::sea_query::Expr::value(Option::<chrono::DateTime<Utc>>::None))
        .filter(sync_runs::Column::LeaseOwner.eq(node))
        .filter(sync_runs::Column::Status.eq("running"))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Extends `node`'s lease; false when the run is no longer this node's (or ended).
pub async fn renew_lease(
    db: &impl ConnectionTrait,
    id: i64,
    node: &str,
    until: chrono::DateTime<Utc>,
) -> Result<bool, DbErr> {
    let res = sync_runs::Entity::update_many()
        .col_expr(sync_runs::Column::LeaseUntil, sea_orm::sea_query::Expr::value(Some(until)))
        .filter(sync_runs::Column::Id.eq(id))
        .filter(sync_runs::Column::LeaseOwner.eq(node))
        .filter(sync_runs::Column::Status.eq("running"))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Saves a run's per-stream progress and log (only while `node` holds it).
pub async fn save_progress(
    db: &impl ConnectionTrait,
    id: i64,
    node: &str,
    streams: &[StreamRun],
    log: &[LogLine],
) -> Result<bool, DbErr> {
    let res = sync_runs::Entity::update_many()
        .col_expr(sync_runs::Column::Streams, sea_orm::sea_query::Expr::value(json::value(streams)))
        .col_expr(sync_runs::Column::Log, sea_orm::sea_query::Expr::value(json::value(log)))
        .filter(sync_runs::Column::Id.eq(id))
        .filter(sync_runs::Column::LeaseOwner.eq(node))
        .filter(sync_runs::Column::Status.eq("running"))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Ends a run with its outcome.
pub async fn finish_run(
    db: &impl ConnectionTrait,
    id: i64,
    status: &str,
    streams: &[StreamRun],
    log: &[LogLine],
    error: Option<String>,
) -> Result<(), DbErr> {
    sync_runs::ActiveModel {
        id: Set(id),
        status: Set(crate::domain::live_data::RunStatus::parse(status)
            .map(crate::entities::typed::Typed)
            .ok_or_else(|| DbErr::Custom(format!("“{status}” is not a sync run status")))?),
        streams: Set(Json(streams.to_vec())),
        log: Set(Json(log.to_vec())),
        error: Set(error),
        finished_at: Set(Some(Utc::now())),
        lease_until: Set(None),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// What a cancel request did.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancel {
    /// The run had not started: it is cancelled now.
    Queued,
    /// The run's node sees the flag within a second or two and stops.
    Running,
    /// The run had already ended.
    Ended,
}

/// Cancels a queued run at once (with `streams` and `log` as its record), or
/// flags a running one. Tried in that order whatever the caller last saw, so a
/// run claimed in between is still stopped.
pub async fn request_cancel(
    db: &impl ConnectionTrait,
    id: i64,
    streams: &[StreamRun],
    log: &[LogLine],
) -> Result<Cancel, DbErr> {
    use sea_orm::sea_query::Expr;
    let queued = sync_runs::Entity::update_many()
        .col_expr(sync_runs::Column::Status, Expr::value("cancelled"))
        .col_expr(sync_runs::Column::FinishedAt, Expr::value(Some(Utc::now())))
        .col_expr(sync_runs::Column::Streams, sea_orm::sea_query::Expr::value(json::value(streams)))
        .col_expr(sync_runs::Column::Log, sea_orm::sea_query::Expr::value(json::value(log)))
        .col_expr(sync_runs::Column::Error, Expr::value(Some("Cancelled before it started.".to_owned())))
        .col_expr(sync_runs::Column::CancelRequested, Expr::value(true))
        .filter(sync_runs::Column::Id.eq(id))
        .filter(sync_runs::Column::Status.eq("queued"))
        .exec(db)
        .await?;
    if queued.rows_affected == 1 {
        return Ok(Cancel::Queued);
    }
    let running = sync_runs::Entity::update_many()
        .col_expr(sync_runs::Column::CancelRequested, Expr::value(true))
        .filter(sync_runs::Column::Id.eq(id))
        .filter(sync_runs::Column::Status.eq("running"))
        .exec(db)
        .await?;
    Ok(if running.rows_affected == 1 { Cancel::Running } else { Cancel::Ended })
}

pub async fn cancel_requested(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    Ok(run_by_id(db, id).await?.is_some_and(|r| r.cancel_requested))
}

// --- sync state on tabs -----------------------------------------------------

/// Records a full refresh's progress: generation, where to read next, rows and bytes.
pub async fn set_pending(
    db: &impl ConnectionTrait,
    tab_id: i64,
    generation: i64,
    state: &PendingRefresh,
    rows: i64,
    size: i64,
) -> Result<(), DbErr> {
    stream_tabs::ActiveModel {
        id: Set(tab_id),
        pending_generation: Set(Some(generation)),
        pending_state: Set(Some(Json(state.clone()))),
        pending_rows: Set(rows),
        pending_size: Set(size),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

pub async fn clear_pending(db: &impl ConnectionTrait, tab_id: i64) -> Result<(), DbErr> {
    stream_tabs::ActiveModel {
        id: Set(tab_id),
        pending_generation: Set(None),
        pending_state: Set(None),
        pending_rows: Set(0),
        pending_size: Set(0),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// Saves the incremental cursor; called inside the rows' own transaction.
pub async fn set_cursor(
    db: &impl ConnectionTrait,
    tab_id: i64,
    cursor: Option<&serde_json::Value>,
) -> Result<(), DbErr> {
    stream_tabs::ActiveModel { id: Set(tab_id), cursor: Set(cursor.cloned().map(Json)), ..Default::default() }
        .update(db)
        .await?;
    Ok(())
}

// --- schedules and failures -------------------------------------------------

/// Active, scheduled, unpaused sources whose next run time has come.
pub async fn due_sources(db: &impl ConnectionTrait) -> Result<Vec<sources::Model>, DbErr> {
    sources::Entity::find()
        .filter(sources::Column::Status.eq("active"))
        .filter(sources::Column::ScheduleMinutes.is_not_null())
        .filter(sources::Column::SchedulePaused.eq(false))
        .filter(sources::Column::NextSyncAt.lte(Utc::now()))
        .all(db)
        .await
}

pub async fn set_next_sync(
    db: &impl ConnectionTrait,
    source_id: i64,
    at: Option<chrono::DateTime<Utc>>,
) -> Result<(), DbErr> {
    sources::Entity::update_many()
        .col_expr(sources::Column::NextSyncAt, sea_orm::sea_query::Expr::value(at))
        .filter(sources::Column::Id.eq(source_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sources failing in a workspace (the navigation's badge).
pub async fn failing_count(db: &impl ConnectionTrait, workspace_id: i64) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    sources::Entity::find()
        .filter(sources::Column::WorkspaceId.eq(workspace_id))
        .filter(sources::Column::Status.eq("failing"))
        .count(db)
        .await
}

/// Sources with a recorded failure, failing ones first, then the latest.
pub async fn failed_sources(db: &impl ConnectionTrait, workspace_id: i64) -> Result<Vec<sources::Model>, DbErr> {
    sources::Entity::find()
        .filter(sources::Column::WorkspaceId.eq(workspace_id))
        .filter(sources::Column::LastFailure.is_not_null())
        .order_by_desc(sources::Column::FailingSince)
        .order_by_asc(sources::Column::NameKey)
        .all(db)
        .await
}
