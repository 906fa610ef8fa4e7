//! A sync run: each chosen stream of a source is read batch by batch into a
//! new version of its tab's dataset, committed when the stream ends (readers
//! see the old rows until then; a failed stream keeps them). Progress is
//! saved on the `sync_runs` row after every batch, so pages show rows moving.
//!
//! Runs live in a background task of this process; the next issue turns them
//! into durable, leased jobs.
use std::sync::Arc;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sources::{self, SourceError};
use super::{ConnectorError, StreamInfo};
use crate::datasets::schema::{Raw, key_text, typed};
use crate::datasets::store::{self as dstore, NewDataset, RowIn};
use crate::entities::{datasets, sources as source_rows};
use crate::state::AppState;
use crate::store::live_data as store;

/// Records asked for per batch.
pub const BATCH: u32 = 1_000;

/// One stream's part of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct StreamRun {
    pub stream: String,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub status: String,
    pub records_read: u64,
    pub records_written: u64,
    #[schema(value_type = Option<Object>)]
    pub error: Option<ConnectorError>,
}

pub fn stream_runs(run: &crate::entities::sync_runs::Model) -> Vec<StreamRun> {
    serde_json::from_str(&run.streams).unwrap_or_default()
}

/// Starts a run of `s`'s chosen streams in the background; its id.
pub async fn start(state: &Arc<AppState>, s: &source_rows::Model, trigger: &str) -> Result<i64, SourceError> {
    if let Some(run) = store::running_run(&state.db, s.id).await? {
        return Err(SourceError::Running(run.id));
    }
    let chosen = sources::chosen_streams(s);
    if chosen.is_empty() {
        return Err(SourceError::NotReady("Choose at least one stream first.".into()));
    }
    let streams: Vec<StreamRun> =
        chosen.iter().map(|c| StreamRun { stream: c.clone(), status: "queued".into(), records_read: 0, records_written: 0, error: None }).collect();
    let run = store::start_run(&state.db, s, &serde_json::to_string(&streams).unwrap_or_default(), trigger).await?;
    let (state, source_id, run_id) = (state.clone(), s.id, run.id);
    tokio::spawn(async move {
        if let Err(e) = execute(&state, source_id, run_id, streams).await {
            tracing::error!(error = %e, run = run_id, "a sync run failed to record its outcome");
            let _ = store::update_run(&state.db, run_id, "failed", "[]", Some("keyhub could not record the run.".into()), true).await;
        }
    });
    Ok(run.id)
}

async fn execute(state: &AppState, source_id: i64, run_id: i64, mut runs: Vec<StreamRun>) -> Result<(), sea_orm::DbErr> {
    let Some(src) = store::source_by_id(&state.db, source_id).await? else { return Ok(()) };
    let save = |runs: &Vec<StreamRun>| serde_json::to_string(runs).unwrap_or_default();
    let ready = sources::ctx(state, &src)
        .and_then(|cx| super::kind(&src.kind).map(|k| (cx, k)).ok_or_else(|| ConnectorError::config("keyhub no longer knows this kind of source.")));
    let (cx, kind) = match ready {
        Ok(pair) => pair,
        Err(e) => {
            for r in runs.iter_mut() {
                r.status = "failed".into();
                r.error = Some(e.clone());
            }
            store::update_run(&state.db, run_id, "failed", &save(&runs), Some(e.to_string()), true).await?;
            return finish_source(state, &src, Some(&e)).await;
        }
    };
    let catalog = sources::catalog(&src);
    let mut config_failure: Option<ConnectorError> = None;
    for i in 0..runs.len() {
        runs[i].status = "running".into();
        store::update_run(&state.db, run_id, "running", &save(&runs), None, false).await?;
        let Some(stream) = catalog.iter().find(|s| s.name == runs[i].stream) else {
            runs[i].status = "failed".into();
            runs[i].error = Some(ConnectorError::config("The stream is no longer offered; test the connection again."));
            continue;
        };
        let outcome = sync_stream(state, kind, &cx, &src, stream, run_id, &mut runs, i).await?;
        match outcome {
            Ok(()) => runs[i].status = "succeeded".into(),
            Err(e) => {
                if sources::is_config_failure(e.class) {
                    config_failure = Some(e.clone());
                }
                runs[i].status = "failed".into();
                runs[i].error = Some(e);
            }
        }
        store::update_run(&state.db, run_id, "running", &save(&runs), None, false).await?;
    }
    let failed = runs.iter().filter(|r| r.status == "failed").count();
    let status = match failed {
        0 => "succeeded",
        n if n == runs.len() => "failed",
        _ => "partial",
    };
    let error = runs.iter().find_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.stream)));
    store::update_run(&state.db, run_id, status, &save(&runs), error, true).await?;
    finish_source(state, &src, config_failure.as_ref()).await
}

/// Last sync time, and *failing* when the source's settings are at fault.
async fn finish_source(state: &AppState, src: &source_rows::Model, failure: Option<&ConnectorError>) -> Result<(), sea_orm::DbErr> {
    let Some(fresh) = store::source_by_id(&state.db, src.id).await? else { return Ok(()) };
    let mut m = source_rows::ActiveModel::from(fresh.clone());
    m.last_sync_at = sea_orm::Set(Some(Utc::now()));
    if failure.is_some() {
        m.status = sea_orm::Set(sources::FAILING.into());
    } else if fresh.status == sources::FAILING {
        m.status = sea_orm::Set(sources::ACTIVE.into());
    }
    store::save_source(&state.db, m).await?;
    Ok(())
}

/// The tab (and dataset) a stream fills, made on its first sync.
async fn tab_for(state: &AppState, src: &source_rows::Model, stream: &StreamInfo) -> Result<(i64, datasets::Model), sea_orm::DbErr> {
    for tab in store::tabs_of_source(&state.db, src.id).await? {
        if tab.stream == stream.name
            && let Some(ds) = <datasets::Entity as sea_orm::EntityTrait>::find_by_id(tab.dataset_id).one(&state.db).await?
        {
            return Ok((tab.id, ds));
        }
    }
    // Dataset names are unique per workspace: "source · stream", numbered if taken.
    let base: String = format!("{} · {}", src.name, stream.name).chars().take(150).collect();
    let mut n = 1;
    let ds = loop {
        let name = if n == 1 { base.clone() } else { format!("{base} ({n})") };
        let new = NewDataset {
            workspace_id: src.workspace_id,
            name: &name,
            columns: &stream.columns,
            primary_key: stream.primary_key.as_deref(),
            source: &format!("connector:{}", src.kind),
            created_by: src.created_by,
        };
        if let Some(ds) = dstore::create(&state.db, new).await? {
            break ds;
        }
        n += 1;
    };
    let tab = store::add_tab(&state.db, src, &stream.name, ds.id).await?;
    Ok((tab.id, ds))
}

/// One record as a stored row: values in column order, typed; a value that
/// does not fit its column's type is kept as text rather than dropped.
fn row_of(stream: &StreamInfo, pk: Option<usize>, n: u64, record: &serde_json::Map<String, Value>) -> RowIn {
    let values: Vec<Value> = stream
        .columns
        .iter()
        .map(|c| {
            let raw = match record.get(&c.source) {
                Some(Value::Array(_) | Value::Object(_)) => Raw::Text(record[&c.source].to_string()),
                Some(v) => Raw::Json(v.clone()),
                None => Raw::Json(Value::Null),
            };
            typed(&raw, c.kind).unwrap_or_else(|_| match raw {
                Raw::Json(v) => Value::String(crate::datasets::schema::display(&v)),
                Raw::Text(t) => Value::String(t),
            })
        })
        .collect();
    let pk = pk.and_then(|i| key_text(&values[i]));
    RowIn { row: n, pk, data: serde_json::to_string(&values).unwrap_or_else(|_| "[]".into()) }
}

/// Reads one stream into a fresh version of its dataset. The outer error is
/// the database's; the inner one the stream's own failure (old rows kept).
#[allow(clippy::too_many_arguments)]
async fn sync_stream(
    state: &AppState,
    kind: &dyn super::Connector,
    cx: &super::Ctx,
    src: &source_rows::Model,
    stream: &StreamInfo,
    run_id: i64,
    runs: &mut [StreamRun],
    i: usize,
) -> Result<Result<(), ConnectorError>, sea_orm::DbErr> {
    let (tab_id, ds) = tab_for(state, src, stream).await?;
    let pk = stream.primary_key.as_ref().and_then(|p| stream.columns.iter().position(|c| c.name == *p));
    let mut writer = dstore::open_replace(&state.db, &ds).await?;
    let mut position: Option<Value> = None;
    let mut n: u64 = 0;
    loop {
        let batch = match kind.read(cx, stream, position.clone(), BATCH).await {
            Ok(b) => b,
            Err(e) => {
                writer.abort(&state.db).await;
                return Ok(Err(e));
            }
        };
        let rows: Vec<RowIn> = batch
            .records
            .iter()
            .map(|r| {
                n += 1;
                row_of(stream, pk, n, r)
            })
            .collect();
        runs[i].records_read += rows.len() as u64;
        if !rows.is_empty()
            && let Err(e) = writer.write(&state.db, rows).await
        {
            writer.abort(&state.db).await;
            return Ok(Err(ConnectorError::shape(format!("A record could not be stored: {e}"))));
        }
        runs[i].records_written = writer.written();
        store::update_run(&state.db, run_id, "running", &serde_json::to_string(&*runs).unwrap_or_default(), None, false).await?;
        match batch.next {
            // A source that hands back the same position would loop forever.
            Some(next) if Some(&next) != position.as_ref() && !batch.records.is_empty() => position = Some(next),
            _ => break,
        }
    }
    writer.commit(&state.db, Some(&stream.columns)).await?;
    store::tab_synced(&state.db, tab_id).await?;
    state.hub.changed().await;
    Ok(Ok(()))
}

/// Runs left `running` by a stopped process are marked failed at start
/// (the next issue resumes them instead).
pub async fn fail_interrupted(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use crate::entities::sync_runs;
    sync_runs::Entity::update_many()
        .col_expr(sync_runs::Column::Status, sea_orm::sea_query::Expr::value("failed"))
        .col_expr(sync_runs::Column::Error, sea_orm::sea_query::Expr::value(Some("Interrupted: keyhub stopped during the run.".to_owned())))
        .col_expr(sync_runs::Column::FinishedAt, sea_orm::sea_query::Expr::value(Some(Utc::now())))
        .filter(sync_runs::Column::Status.eq("running"))
        .exec(db)
        .await?;
    Ok(())
}
