//! One-time password-reset links: an admin (or `keyhub admin reset-password`)
//! makes one for a member who forgot their password. There is no mail server:
//! the admin hands the link over. Only the token's SHA-256 is kept.
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use crate::entities::password_resets as resets;

/// Reset links stay valid this long: long enough to hand over, short enough to matter little if leaked.
pub const VALID_HOURS: i64 = 24;

pub async fn create(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    user_id: i64,
    token_hash: String,
    created_by: Option<i64>,
) -> Result<resets::Model, DbErr> {
    let now = Utc::now();
    // A new link replaces any older unused one.
    resets::Entity::update_many()
        .col_expr(resets::Column::UsedAt, sea_orm::sea_query::Expr::value(now))
        .filter(resets::Column::UserId.eq(user_id))
        .filter(resets::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    resets::ActiveModel {
        workspace_id: Set(workspace_id),
        user_id: Set(user_id),
        token_hash: Set(token_hash),
        created_by: Set(created_by),
        created_at: Set(now),
        expires_at: Set(now + chrono::Duration::hours(VALID_HOURS)),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// The link behind a token, if it is unused and unexpired.
pub async fn find_open(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<resets::Model>, DbErr> {
    Ok(resets::Entity::find()
        .filter(resets::Column::TokenHash.eq(token_hash))
        .one(db)
        .await?
        .filter(|r| r.used_at.is_none() && r.expires_at > now))
}

/// Marks the link used; false if another request used it first.
pub async fn mark_used(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let res = resets::Entity::update_many()
        .col_expr(resets::Column::UsedAt, sea_orm::sea_query::Expr::value(Utc::now()))
        .filter(resets::Column::Id.eq(id))
        .filter(resets::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
