use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, Set};

use crate::domain::WorkspaceName;
use crate::entities::workspaces;

pub async fn create(db: &impl ConnectionTrait, name: &WorkspaceName) -> Result<workspaces::Model, DbErr> {
    workspaces::ActiveModel {
        name: Set(name.as_str().to_owned()),
        name_key: Set(Some(name.key())),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<workspaces::Model>, DbErr> {
    workspaces::Entity::find_by_id(id).one(db).await
}

/// Creates a workspace with `owner` as its admin; `None` when the name is taken.
pub async fn create_owned(
    db: &sea_orm::DatabaseConnection,
    name: &WorkspaceName,
    owner: i64,
) -> Result<Option<workspaces::Model>, DbErr> {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await?;
    let ws = match create(&txn, name).await {
        Ok(ws) => ws,
        Err(e) if crate::store::is_unique_violation(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    crate::store::members::add(&txn, ws.id, owner, crate::domain::Role::Admin, &crate::domain::PermissionSet::all())
        .await?;
    txn.commit().await?;
    Ok(Some(ws))
}

/// Fills `name_key` for workspaces made before it existed. Two old names that
/// are look-alikes keep distinct keys (suffixed with the id): they were
/// allowed then, and renaming is the admins' call, not the migration's.
pub async fn backfill_name_keys(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let missing = workspaces::Entity::find().filter(workspaces::Column::NameKey.is_null()).all(db).await?;
    for ws in missing {
        let key = crate::domain::text::workspace_key(&ws.name);
        let taken = workspaces::Entity::find().filter(workspaces::Column::NameKey.eq(key.clone())).one(db).await?.is_some();
        let key = if taken { format!("{key}#{}", ws.id) } else { key };
        workspaces::ActiveModel { id: Set(ws.id), name_key: Set(Some(key)), ..Default::default() }.update(db).await?;
    }
    Ok(())
}

/// Renames a workspace; false when another workspace's name looks the same.
pub async fn rename(db: &impl ConnectionTrait, id: i64, name: &WorkspaceName) -> Result<bool, DbErr> {
    let res = workspaces::ActiveModel {
        id: Set(id),
        name: Set(name.as_str().to_owned()),
        name_key: Set(Some(name.key())),
        ..Default::default()
    }
    .update(db)
    .await;
    match res {
        Ok(_) => Ok(true),
        Err(e) if crate::store::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}
