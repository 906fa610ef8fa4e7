//! The change log every node's key snapshots follow (`key_changes`): writers
//! append one row per changed key, team or membership — in the transaction of
//! the change where the store owns it — and each node applies the rows after
//! the last it applied (`cluster::follower`). On PostgreSQL an insert here
//! also notifies the listening nodes (a trigger; see the migration).
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::entities::key_changes as changes;

/// What changed: each field names one thing for the nodes to read again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Change {
    pub workspace_id: i64,
    pub hub_key_id: Option<i64>,
    pub team_id: Option<i64>,
    pub key_id: Option<i64>,
    /// With `workspace_id`: a membership (its rights, status, or its removal).
    pub user_id: Option<i64>,
}

/// Appends `change` and returns its sequence number.
pub async fn log(db: &impl ConnectionTrait, change: Change) -> Result<i64, DbErr> {
    let row = changes::ActiveModel {
        workspace_id: Set(change.workspace_id),
        hub_key_id: Set(change.hub_key_id),
        team_id: Set(change.team_id),
        key_id: Set(change.key_id),
        user_id: Set(change.user_id),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(row.seq)
}

pub async fn max_seq(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(changes::Entity::find().order_by_desc(changes::Column::Seq).one(db).await?.map_or(0, |c| c.seq))
}

/// The next `n` changes after `seq`, oldest first.
pub async fn after(db: &impl ConnectionTrait, seq: i64, n: u64) -> Result<Vec<changes::Model>, DbErr> {
    changes::Entity::find()
        .filter(changes::Column::Seq.gt(seq))
        .order_by_asc(changes::Column::Seq)
        .limit(n)
        .all(db)
        .await
}
