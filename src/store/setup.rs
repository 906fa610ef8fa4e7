//! First-run setup: the first admin, the first workspace, exactly once.
use chrono::Utc;
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, Set};

use crate::domain::{DisplayName, Email, PermissionSet, Role, WorkspaceName};
use crate::entities::{instance_facts, users, workspaces};
use crate::store::{is_unique_violation, members};

/// Creates the first admin and workspace. The `setup` fact's primary key makes
/// the claim atomic: of two simultaneous calls, one commits and the other gets
/// `None`, on SQLite and PostgreSQL alike.
pub async fn complete(
    db: &DatabaseConnection,
    email: &Email,
    name: &DisplayName,
    password_hash: String,
    workspace: &WorkspaceName,
) -> Result<Option<(users::Model, workspaces::Model)>, DbErr> {
    let txn = crate::store::begin_write(db).await?;
    let claim = instance_facts::ActiveModel {
        name: Set("setup".into()),
        value: Set(email.as_str().to_owned()),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await;
    match claim {
        Err(e) if is_unique_violation(&e) => return Ok(None),
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    if crate::store::users::any_exists(&txn).await? {
        return Ok(None);
    }
    let user = crate::store::users::create(&txn, email, name, password_hash).await?;
    let ws = crate::store::workspaces::create(&txn, workspace).await?;
    members::add(&txn, ws.id, user.id, Role::Admin, &PermissionSet::all()).await?;
    txn.commit().await?;
    Ok(Some((user, ws)))
}
