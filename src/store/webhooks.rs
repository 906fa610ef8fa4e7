//! Webhooks, their deliveries and each delivery's attempts.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::Expr,
};

use crate::entities::json::Json;
use crate::entities::{webhook_attempts as attempts, webhook_deliveries as deliveries, webhooks};

pub struct NewWebhook {
    pub workspace_id: i64,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub secret_sealed: String,
    pub created_by: Option<i64>,
}

pub async fn create(db: &impl ConnectionTrait, n: NewWebhook) -> Result<webhooks::Model, DbErr> {
    let now = Utc::now();
    webhooks::ActiveModel {
        workspace_id: Set(n.workspace_id),
        url: Set(n.url),
        description: Set(n.description),
        events: Set(Json(n.events)),
        secret_sealed: Set(n.secret_sealed),
        status: Set("active".into()),
        failing_since: Set(None),
        created_at: Set(now),
        created_by: Set(n.created_by),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Saves the webhook's URL, description, events and status.
pub async fn update(db: &impl ConnectionTrait, m: &webhooks::Model) -> Result<webhooks::Model, DbErr> {
    webhooks::ActiveModel {
        id: Set(m.id),
        url: Set(m.url.clone()),
        description: Set(m.description.clone()),
        events: Set(m.events.clone()),
        status: Set(m.status.clone()),
        failing_since: Set(m.failing_since),
        updated_at: Set(Utc::now()),
        ..Default::default()
    }
    .update(db)
    .await
}

pub async fn set_status(
    db: &impl ConnectionTrait,
    id: i64,
    status: &str,
    since: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    webhooks::Entity::update_many()
        .col_expr(webhooks::Column::Status, Expr::value(status))
        .col_expr(webhooks::Column::FailingSince, Expr::value(since))
        .filter(webhooks::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn find(db: &impl ConnectionTrait, workspace_id: i64, id: i64) -> Result<Option<webhooks::Model>, DbErr> {
    webhooks::Entity::find_by_id(id).filter(webhooks::Column::WorkspaceId.eq(workspace_id)).one(db).await
}

pub async fn list(db: &impl ConnectionTrait, workspace_id: i64) -> Result<Vec<webhooks::Model>, DbErr> {
    webhooks::Entity::find()
        .filter(webhooks::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(webhooks::Column::Id)
        .all(db)
        .await
}

/// Deletes the webhook with its deliveries and their attempts.
pub async fn delete(db: &sea_orm::DatabaseConnection, id: i64) -> Result<(), DbErr> {
    let txn = crate::store::begin_write(db).await?;
    let ids: Vec<i64> = deliveries::Entity::find()
        .select_only()
        .column(deliveries::Column::Id)
        .filter(deliveries::Column::WebhookId.eq(id))
        .into_tuple()
        .all(&txn)
        .await?;
    for chunk in ids.chunks(500) {
        attempts::Entity::delete_many().filter(attempts::Column::DeliveryId.is_in(chunk.to_vec())).exec(&txn).await?;
    }
    deliveries::Entity::delete_many().filter(deliveries::Column::WebhookId.eq(id)).exec(&txn).await?;
    webhooks::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await
}

pub async fn enqueue(
    db: &impl ConnectionTrait,
    hook: &webhooks::Model,
    message_id: String,
    event_type: &str,
    payload: String,
    now: i64,
) -> Result<deliveries::Model, DbErr> {
    deliveries::ActiveModel {
        webhook_id: Set(hook.id),
        workspace_id: Set(hook.workspace_id),
        message_id: Set(message_id),
        event_type: Set(event_type.to_owned()),
        payload: Set(payload),
        state: Set("pending".into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        created_at: Set(Utc::now()),
        finished_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Deliveries due at `now`: pending ones whose time has come, and lapsed claims.
pub async fn due(db: &impl ConnectionTrait, now: i64, limit: u64) -> Result<Vec<deliveries::Model>, DbErr> {
    deliveries::Entity::find()
        .filter(deliveries::Column::State.is_in(["pending", "sending"]))
        .filter(deliveries::Column::NextAttemptAt.lte(now))
        .order_by_asc(deliveries::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Takes a due delivery until `until`; `false` when another node took it.
pub async fn claim(db: &impl ConnectionTrait, d: &deliveries::Model, until: i64) -> Result<bool, DbErr> {
    let res = deliveries::Entity::update_many()
        .col_expr(deliveries::Column::State, Expr::value("sending"))
        .col_expr(deliveries::Column::NextAttemptAt, Expr::value(until))
        .filter(deliveries::Column::Id.eq(d.id))
        .filter(deliveries::Column::State.eq(d.state.clone()))
        .filter(deliveries::Column::NextAttemptAt.eq(d.next_attempt_at))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Records an attempt and what follows: delivered, due again at `retry_at`, or failed.
pub async fn attempted(
    db: &impl ConnectionTrait,
    d: &deliveries::Model,
    status: Option<u16>,
    duration_ms: i64,
    error: Option<String>,
    outcome: Attempted,
) -> Result<(), DbErr> {
    attempts::ActiveModel {
        delivery_id: Set(d.id),
        at: Set(Utc::now()),
        status: Set(status.map(i32::from)),
        duration_ms: Set(duration_ms),
        error: Set(error),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let (state, next, finished) = match outcome {
        Attempted::Delivered => ("delivered", 0, Some(Utc::now())),
        Attempted::Retry(at) => ("pending", at, None),
        Attempted::Failed => ("failed", 0, Some(Utc::now())),
    };
    deliveries::Entity::update_many()
        .col_expr(deliveries::Column::State, Expr::value(state))
        .col_expr(deliveries::Column::Attempts, Expr::value(d.attempts + 1))
        .col_expr(deliveries::Column::NextAttemptAt, Expr::value(next))
        .col_expr(deliveries::Column::FinishedAt, Expr::value(finished))
        .filter(deliveries::Column::Id.eq(d.id))
        .exec(db)
        .await
        .map(|_| ())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempted {
    Delivered,
    Retry(i64),
    Failed,
}

/// The webhook's last deliveries, newest first, each with its attempts.
pub async fn log(
    db: &impl ConnectionTrait,
    webhook_id: i64,
    limit: u64,
) -> Result<Vec<(deliveries::Model, Vec<attempts::Model>)>, DbErr> {
    let ds = deliveries::Entity::find()
        .filter(deliveries::Column::WebhookId.eq(webhook_id))
        .order_by_desc(deliveries::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let ids: Vec<i64> = ds.iter().map(|d| d.id).collect();
    let all = attempts::Entity::find()
        .filter(attempts::Column::DeliveryId.is_in(ids))
        .order_by_asc(attempts::Column::Id)
        .all(db)
        .await?;
    Ok(ds
        .into_iter()
        .map(|d| {
            let mine = all.iter().filter(|a| a.delivery_id == d.id).cloned().collect();
            (d, mine)
        })
        .collect())
}
