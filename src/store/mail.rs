//! The email queue and delivery log (`mail_outbox`).
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::Expr,
};

use crate::entities::mail_outbox as mail;

/// A message to queue.
pub struct NewMail {
    pub workspace_id: Option<i64>,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub kind: &'static str,
}

pub async fn enqueue(db: &impl ConnectionTrait, m: NewMail) -> Result<mail::Model, DbErr> {
    mail::ActiveModel {
        workspace_id: Set(m.workspace_id),
        to_addr: Set(m.to),
        subject: Set(m.subject),
        body_text: Set(m.text),
        body_html: Set(m.html),
        kind: Set(m.kind.to_owned()),
        state: Set("queued".into()),
        attempts: Set(0),
        next_attempt_at: Set(Utc::now().timestamp()),
        last_error: Set(None),
        created_at: Set(Utc::now()),
        sent_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Messages due now: queued ones whose time has come, and claims that lapsed
/// (a node stopped while sending).
pub async fn due(db: &impl ConnectionTrait, now: i64, limit: u64) -> Result<Vec<mail::Model>, DbErr> {
    mail::Entity::find()
        .filter(mail::Column::State.is_in(["queued", "sending"]))
        .filter(mail::Column::NextAttemptAt.lte(now))
        .order_by_asc(mail::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Takes a due message for this node until `until`; `false` when another took it.
pub async fn claim(db: &impl ConnectionTrait, m: &mail::Model, until: i64) -> Result<bool, DbErr> {
    let res = mail::Entity::update_many()
        .col_expr(mail::Column::State, Expr::value("sending"))
        .col_expr(mail::Column::NextAttemptAt, Expr::value(until))
        .filter(mail::Column::Id.eq(m.id))
        .filter(mail::Column::State.eq(m.state.clone()))
        .filter(mail::Column::NextAttemptAt.eq(m.next_attempt_at))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn sent(db: &impl ConnectionTrait, id: i64, attempts: i32) -> Result<(), DbErr> {
    mail::Entity::update_many()
        .col_expr(mail::Column::State, Expr::value("sent"))
        .col_expr(mail::Column::Attempts, Expr::value(attempts))
        .col_expr(mail::Column::SentAt, Expr::value(Some(Utc::now())))
        .col_expr(mail::Column::LastError, Expr::value(Option::<String>::None))
        .filter(mail::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// A failed attempt: queued again at `retry_at`, or failed for good (`None`).
pub async fn attempt_failed(
    db: &impl ConnectionTrait,
    id: i64,
    attempts: i32,
    error: &str,
    retry_at: Option<i64>,
) -> Result<(), DbErr> {
    mail::Entity::update_many()
        .col_expr(mail::Column::State, Expr::value(if retry_at.is_some() { "queued" } else { "failed" }))
        .col_expr(mail::Column::Attempts, Expr::value(attempts))
        .col_expr(mail::Column::NextAttemptAt, Expr::value(retry_at.unwrap_or(0)))
        .col_expr(mail::Column::LastError, Expr::value(Some(error.to_owned())))
        .filter(mail::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// The workspace's delivery log, newest first.
pub async fn log(db: &impl ConnectionTrait, workspace_id: i64, limit: u64) -> Result<Vec<mail::Model>, DbErr> {
    mail::Entity::find()
        .filter(mail::Column::WorkspaceId.eq(workspace_id))
        .order_by_desc(mail::Column::Id)
        .limit(limit)
        .all(db)
        .await
}
