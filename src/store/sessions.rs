use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, Set};

use crate::entities::sessions;

pub async fn load(db: &impl ConnectionTrait, id: &str) -> Result<Option<sessions::Model>, DbErr> {
    sessions::Entity::find_by_id(id.to_owned()).one(db).await
}

pub async fn insert(
    db: &impl ConnectionTrait,
    id: String,
    user_id: Option<i64>,
    state: String,
    expires_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    sessions::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        state: Set(state),
        created_at: Set(Utc::now()),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// Replaces state and expiry; returns false when the row is gone (ended meanwhile).
pub async fn update(
    db: &impl ConnectionTrait,
    id: &str,
    user_id: Option<i64>,
    state: String,
    expires_at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let res = sessions::Entity::update_many()
        .col_expr(sessions::Column::UserId, sea_orm::sea_query::Expr::value(user_id))
        .col_expr(sessions::Column::State, sea_orm::sea_query::Expr::value(state))
        .col_expr(sessions::Column::ExpiresAt, sea_orm::sea_query::Expr::value(expires_at))
        .filter(sessions::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn touch(db: &impl ConnectionTrait, row: sessions::Model, expires_at: DateTime<Utc>) -> Result<(), DbErr> {
    let mut am = row.into_active_model();
    am.expires_at = Set(expires_at);
    am.update(db).await.map(|_| ())
}

pub async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    sessions::Entity::delete_by_id(id.to_owned()).exec(db).await.map(|_| ())
}

/// Ends every session of a user: logout elsewhere, disable, removal.
pub async fn delete_for_user(db: &impl ConnectionTrait, user_id: i64) -> Result<u64, DbErr> {
    Ok(sessions::Entity::delete_many().filter(sessions::Column::UserId.eq(user_id)).exec(db).await?.rows_affected)
}

pub async fn delete_expired(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    Ok(sessions::Entity::delete_many().filter(sessions::Column::ExpiresAt.lt(Utc::now())).exec(db).await?.rows_affected)
}
