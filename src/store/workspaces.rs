use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, Set};

use crate::domain::WorkspaceName;
use crate::entities::workspaces;

pub async fn create(db: &impl ConnectionTrait, name: &WorkspaceName) -> Result<workspaces::Model, DbErr> {
    let slug = free_slug(db, &crate::domain::datahub::slugify(name.as_str())).await?;
    workspaces::ActiveModel {
        name: Set(name.as_str().to_owned()),
        name_key: Set(Some(name.key())),
        slug: Set(Some(slug)),
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
    let txn = crate::store::begin_write(db).await?;
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
        let key = crate::domain::text::look_key(&ws.name);
        let taken =
            workspaces::Entity::find().filter(workspaces::Column::NameKey.eq(key.clone())).one(db).await?.is_some();
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

pub async fn find_by_slug(db: &impl ConnectionTrait, slug: &str) -> Result<Option<workspaces::Model>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    workspaces::Entity::find().filter(workspaces::Column::Slug.eq(slug)).one(db).await
}

/// `base`, or `base-2`, `base-3`… whichever no workspace uses yet.
async fn free_slug(db: &impl ConnectionTrait, base: &str) -> Result<String, DbErr> {
    for n in 1..1000 {
        let candidate = if n == 1 { base.to_owned() } else { format!("{base}-{n}") };
        if find_by_slug(db, &candidate).await?.is_none() {
            return Ok(candidate);
        }
    }
    Ok(format!("{base}-{}", crate::domain::tokens::random_token(6).to_ascii_lowercase()))
}

/// Gives a slug to workspaces made before slugs existed.
pub async fn backfill_slugs(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let missing = workspaces::Entity::find().filter(workspaces::Column::Slug.is_null()).all(db).await?;
    for ws in missing {
        let slug = free_slug(db, &crate::domain::datahub::slugify(&ws.name)).await?;
        workspaces::ActiveModel { id: Set(ws.id), slug: Set(Some(slug)), ..Default::default() }.update(db).await?;
    }
    Ok(())
}

/// Changes the slug; false when another workspace has it.
pub async fn set_slug(db: &impl ConnectionTrait, id: i64, slug: &str) -> Result<bool, DbErr> {
    let res = workspaces::ActiveModel { id: Set(id), slug: Set(Some(slug.to_owned())), ..Default::default() }
        .update(db)
        .await;
    match res {
        Ok(_) => Ok(true),
        Err(e) if crate::store::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Sets the rate limit new keys start with (`None`: none).
pub async fn set_default_limit(
    db: &impl ConnectionTrait,
    id: i64,
    rate: Option<crate::domain::limits::RateLimit>,
) -> Result<(), DbErr> {
    let limits = crate::domain::limits::Limits { rate, monthly_quota: None };
    let (requests, window, _) = limits.stored();
    workspaces::ActiveModel {
        id: Set(id),
        default_rate_limit_requests: Set(requests),
        default_rate_limit_window: Set(window),
        ..Default::default()
    }
    .update(db)
    .await
    .map(|_| ())
}
