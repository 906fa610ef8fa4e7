//! Teams: named groups of a workspace's members, which portal tokens can name.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

use crate::entities::{hub_key_teams, team_members, teams};

pub async fn list(db: &impl ConnectionTrait, workspace_id: i64) -> Result<Vec<teams::Model>, DbErr> {
    teams::Entity::find()
        .filter(teams::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(teams::Column::NameKey)
        .all(db)
        .await
}

pub async fn find(db: &impl ConnectionTrait, workspace_id: i64, id: i64) -> Result<Option<teams::Model>, DbErr> {
    teams::Entity::find_by_id(id).filter(teams::Column::WorkspaceId.eq(workspace_id)).one(db).await
}

pub async fn members(db: &impl ConnectionTrait, team_id: i64) -> Result<Vec<i64>, DbErr> {
    Ok(team_members::Entity::find()
        .filter(team_members::Column::TeamId.eq(team_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect())
}

/// (team, user) pairs of every team (the verifier's start-up load).
pub async fn all_members(db: &impl ConnectionTrait) -> Result<Vec<(i64, i64)>, DbErr> {
    Ok(team_members::Entity::find().all(db).await?.into_iter().map(|m| (m.team_id, m.user_id)).collect())
}

/// Creates (`id` none) or renames a team and sets its members; `None` when
/// the name is taken. Logs a change so every node's verifier sees it.
pub async fn save(
    db: &DatabaseConnection,
    workspace_id: i64,
    id: Option<i64>,
    name: &str,
    member_ids: &[i64],
) -> Result<Option<teams::Model>, DbErr> {
    let txn = crate::store::begin_write(db).await?;
    let now = Utc::now();
    let mut m = teams::ActiveModel {
        workspace_id: Set(workspace_id),
        name: Set(name.to_owned()),
        name_key: Set(crate::domain::text::name_key(name)),
        look_key: Set(Some(crate::domain::text::look_key(name))),
        updated_at: Set(now),
        ..Default::default()
    };
    let res = match id {
        Some(id) => {
            m.id = Set(id);
            m.update(&txn).await
        }
        None => {
            m.created_at = Set(now);
            m.insert(&txn).await
        }
    };
    let Some(team) = crate::store::unless_taken(res)? else { return Ok(None) };
    team_members::Entity::delete_many().filter(team_members::Column::TeamId.eq(team.id)).exec(&txn).await?;
    if !member_ids.is_empty() {
        team_members::Entity::insert_many(
            member_ids.iter().map(|u| team_members::ActiveModel { team_id: Set(team.id), user_id: Set(*u) }),
        )
        .exec(&txn)
        .await?;
    }
    crate::store::hub_keys::log_team_change(&txn, workspace_id, team.id).await?;
    txn.commit().await?;
    Ok(Some(team))
}

pub async fn delete(db: &DatabaseConnection, team: &teams::Model) -> Result<(), DbErr> {
    let txn = crate::store::begin_write(db).await?;
    team_members::Entity::delete_many().filter(team_members::Column::TeamId.eq(team.id)).exec(&txn).await?;
    hub_key_teams::Entity::delete_many().filter(hub_key_teams::Column::TeamId.eq(team.id)).exec(&txn).await?;
    teams::Entity::delete_by_id(team.id).exec(&txn).await?;
    crate::store::hub_keys::log_team_change(&txn, team.workspace_id, team.id).await?;
    txn.commit().await
}

/// Removes a user from every team of a workspace (when they leave it).
pub async fn remove_user(db: &impl ConnectionTrait, workspace_id: i64, user_id: i64) -> Result<(), DbErr> {
    for t in list(db, workspace_id).await? {
        let gone = team_members::Entity::delete_many()
            .filter(team_members::Column::TeamId.eq(t.id))
            .filter(team_members::Column::UserId.eq(user_id))
            .exec(db)
            .await?;
        if gone.rows_affected > 0 {
            crate::store::hub_keys::log_team_change(db, workspace_id, t.id).await?;
        }
    }
    Ok(())
}
