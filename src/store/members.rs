use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use crate::domain::{PermissionSet, Role};
use crate::entities::{members, users, workspaces};

/// A user's place in one workspace, as the rest of the app sees it.
#[derive(Debug, Clone)]
pub struct Membership {
    pub workspace_id: i64,
    pub workspace_name: String,
    pub role: Role,
    /// What the member may do now (an admin may do everything).
    pub permissions: PermissionSet,
}

/// A row of the members page.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub member: members::Model,
    pub role: Role,
    pub granted: PermissionSet,
    pub email: String,
    pub display_name: String,
}

pub fn role_of(m: &members::Model) -> Role {
    // An unknown stored role grants nothing special.
    *m.role
}

fn to_membership(m: &members::Model, ws_name: String) -> Membership {
    let role = role_of(m);
    Membership { workspace_id: m.workspace_id, workspace_name: ws_name, role, permissions: effective(m) }
}

/// What a member may do now, whatever their role.
pub fn effective(m: &members::Model) -> PermissionSet {
    role_of(m).effective(&PermissionSet::from_stored(&m.permissions))
}

/// Every membership of the instance as (workspace, user, effective permissions,
/// disabled): what the key verifier intersects keys with.
pub async fn all_effective(db: &impl ConnectionTrait) -> Result<Vec<(i64, i64, PermissionSet, bool)>, DbErr> {
    Ok(members::Entity::find()
        .all(db)
        .await?
        .iter()
        .map(|m| (m.workspace_id, m.user_id, effective(m), m.disabled))
        .collect())
}

/// One membership as the key verifier needs it: (effective permissions, disabled).
pub async fn effective_of(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    user_id: i64,
) -> Result<Option<(PermissionSet, bool)>, DbErr> {
    Ok(members::Entity::find()
        .filter(members::Column::WorkspaceId.eq(workspace_id))
        .filter(members::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .map(|m| (effective(&m), m.disabled)))
}

pub async fn add(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    user_id: i64,
    role: Role,
    permissions: &PermissionSet,
) -> Result<members::Model, DbErr> {
    members::ActiveModel {
        workspace_id: Set(workspace_id),
        user_id: Set(user_id),
        role: Set(role.into()),
        permissions: Set(permissions.to_stored()),
        disabled: Set(false),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// All workspaces the user is an active member of, by name.
pub async fn active_memberships(db: &impl ConnectionTrait, user_id: i64) -> Result<Vec<Membership>, DbErr> {
    let rows = members::Entity::find()
        .filter(members::Column::UserId.eq(user_id))
        .filter(members::Column::Disabled.eq(false))
        .all(db)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|m| m.workspace_id).collect();
    let names: HashMap<i64, String> = workspaces::Entity::find()
        .filter(workspaces::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|w| (w.id, w.name))
        .collect();
    let mut out: Vec<Membership> =
        rows.iter().filter_map(|m| names.get(&m.workspace_id).map(|n| to_membership(m, n.clone()))).collect();
    out.sort_by_key(|m| m.workspace_name.to_lowercase());
    Ok(out)
}

pub async fn find_by_user(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    user_id: i64,
) -> Result<Option<members::Model>, DbErr> {
    members::Entity::find()
        .filter(members::Column::WorkspaceId.eq(workspace_id))
        .filter(members::Column::UserId.eq(user_id))
        .one(db)
        .await
}

/// A member by id, only if it belongs to `workspace_id`: ids from other
/// workspaces are simply not found.
pub async fn find_in_workspace(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    member_id: i64,
) -> Result<Option<members::Model>, DbErr> {
    members::Entity::find_by_id(member_id).filter(members::Column::WorkspaceId.eq(workspace_id)).one(db).await
}

pub async fn list(db: &impl ConnectionTrait, workspace_id: i64) -> Result<Vec<MemberRow>, DbErr> {
    let rows = members::Entity::find()
        .filter(members::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(members::Column::CreatedAt)
        .all(db)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|m| m.user_id).collect();
    let users: HashMap<i64, users::Model> = users::Entity::find()
        .filter(users::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|m| {
            let u = users.get(&m.user_id)?;
            Some(MemberRow {
                role: role_of(&m),
                granted: PermissionSet::from_stored(&m.permissions),
                email: u.email.clone(),
                display_name: u.display_name.clone(),
                member: m,
            })
        })
        .collect())
}

pub async fn active_admins(db: &impl ConnectionTrait, workspace_id: i64) -> Result<u64, DbErr> {
    members::Entity::find()
        .filter(members::Column::WorkspaceId.eq(workspace_id))
        .filter(members::Column::Role.eq(Role::Admin.as_str()))
        .filter(members::Column::Disabled.eq(false))
        .count(db)
        .await
}

pub async fn set_role(
    db: &impl ConnectionTrait,
    member_id: i64,
    role: Role,
    permissions: &PermissionSet,
) -> Result<(), DbErr> {
    members::ActiveModel {
        id: Set(member_id),
        role: Set(role.into()),
        permissions: Set(permissions.to_stored()),
        ..Default::default()
    }
    .update(db)
    .await
    .map(|_| ())
}

pub async fn set_disabled(db: &impl ConnectionTrait, member_id: i64, disabled: bool) -> Result<(), DbErr> {
    members::ActiveModel { id: Set(member_id), disabled: Set(disabled), ..Default::default() }
        .update(db)
        .await
        .map(|_| ())
}

pub async fn remove(db: &impl ConnectionTrait, member_id: i64) -> Result<(), DbErr> {
    members::Entity::delete_by_id(member_id).exec(db).await.map(|_| ())
}

/// Names of the workspaces where the user's membership is disabled.
pub async fn disabled_workspaces(db: &impl ConnectionTrait, user_id: i64) -> Result<Vec<String>, DbErr> {
    let rows = members::Entity::find()
        .filter(members::Column::UserId.eq(user_id))
        .filter(members::Column::Disabled.eq(true))
        .all(db)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|m| m.workspace_id).collect();
    Ok(workspaces::Entity::find()
        .filter(workspaces::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|w| w.name)
        .collect())
}
