use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::domain::{Email, PermissionSet, Role};
use crate::entities::invitations;

pub struct NewInvitation<'a> {
    pub workspace_id: i64,
    pub email: &'a Email,
    pub role: Role,
    pub permissions: &'a PermissionSet,
    pub token_hash: String,
    pub invited_by: i64,
    pub expires_at: DateTime<Utc>,
}

pub async fn create(db: &impl ConnectionTrait, new: NewInvitation<'_>) -> Result<invitations::Model, DbErr> {
    invitations::ActiveModel {
        workspace_id: Set(new.workspace_id),
        email: Set(new.email.as_str().to_owned()),
        role: Set(new.role.into()),
        permissions: Set(new.permissions.to_stored()),
        token_hash: Set(new.token_hash),
        invited_by: Set(new.invited_by),
        created_at: Set(Utc::now()),
        expires_at: Set(new.expires_at),
        accepted_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn find_by_token_hash(db: &impl ConnectionTrait, hash: &str) -> Result<Option<invitations::Model>, DbErr> {
    invitations::Entity::find().filter(invitations::Column::TokenHash.eq(hash)).one(db).await
}

/// Invitations neither accepted nor revoked (expired ones included, marked as such by the page).
pub async fn pending(db: &impl ConnectionTrait, workspace_id: i64) -> Result<Vec<invitations::Model>, DbErr> {
    invitations::Entity::find()
        .filter(invitations::Column::WorkspaceId.eq(workspace_id))
        .filter(invitations::Column::AcceptedAt.is_null())
        .filter(invitations::Column::RevokedAt.is_null())
        .order_by_desc(invitations::Column::CreatedAt)
        .all(db)
        .await
}

/// Revokes a pending invitation of this workspace; false when there is none with that id.
pub async fn revoke(db: &impl ConnectionTrait, workspace_id: i64, id: i64) -> Result<bool, DbErr> {
    let res = invitations::Entity::update_many()
        .col_expr(invitations::Column::RevokedAt, sea_orm::sea_query::Expr::value(Utc::now()))
        .filter(invitations::Column::Id.eq(id))
        .filter(invitations::Column::WorkspaceId.eq(workspace_id))
        .filter(invitations::Column::AcceptedAt.is_null())
        .filter(invitations::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Marks the invitation used. Only one of two simultaneous acceptances wins:
/// the update is conditional on it still being open.
pub async fn mark_accepted(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let res = invitations::Entity::update_many()
        .col_expr(invitations::Column::AcceptedAt, sea_orm::sea_query::Expr::value(Utc::now()))
        .filter(invitations::Column::Id.eq(id))
        .filter(invitations::Column::AcceptedAt.is_null())
        .filter(invitations::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
