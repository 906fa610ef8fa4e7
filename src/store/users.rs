use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, Set};

use crate::domain::{DisplayName, Email};
use crate::entities::users;

pub async fn any_exists(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    Ok(users::Entity::find().count(db).await? > 0)
}

pub async fn find_by_email(db: &impl ConnectionTrait, email: &Email) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find().filter(users::Column::Email.eq(email.as_str())).one(db).await
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find_by_id(id).one(db).await
}

pub async fn create(
    db: &impl ConnectionTrait,
    email: &Email,
    name: &DisplayName,
    password_hash: String,
) -> Result<users::Model, DbErr> {
    users::ActiveModel {
        email: Set(email.as_str().to_owned()),
        display_name: Set(name.as_str().to_owned()),
        password_hash: Set(password_hash),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn set_display_name(db: &impl ConnectionTrait, id: i64, name: &DisplayName) -> Result<(), DbErr> {
    users::ActiveModel { id: Set(id), display_name: Set(name.as_str().to_owned()), ..Default::default() }
        .update(db)
        .await
        .map(|_| ())
}

pub async fn set_password_hash(db: &impl ConnectionTrait, id: i64, hash: String) -> Result<(), DbErr> {
    users::ActiveModel { id: Set(id), password_hash: Set(hash), ..Default::default() }.update(db).await.map(|_| ())
}

/// Turns the user's notice emails off (`true`) or on.
pub async fn set_notices_off(db: &impl ConnectionTrait, id: i64, off: bool) -> Result<(), DbErr> {
    users::ActiveModel { id: Set(id), notices_off: Set(off), ..Default::default() }.update(db).await.map(|_| ())
}
