//! The audit log: who did what to which key, when, from where.
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::entities::audit_events as audit;

pub struct Event<'a> {
    pub workspace_id: i64,
    pub actor_user_id: Option<i64>,
    pub key_id: Option<i64>,
    pub action: &'a str,
    pub detail: String,
    pub ip: Option<String>,
}

pub async fn record(db: &impl ConnectionTrait, e: Event<'_>) -> Result<(), DbErr> {
    audit::ActiveModel {
        workspace_id: Set(e.workspace_id),
        actor_user_id: Set(e.actor_user_id),
        key_id: Set(e.key_id),
        action: Set(e.action.to_owned()),
        detail: Set(e.detail),
        ip: Set(e.ip),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// Whose events to show.
pub enum Scope<'a> {
    /// Everything in the workspace (admins).
    Workspace,
    /// What a user did, and anything done to their keys (e.g. an admin revoking one).
    User { user_id: i64, key_ids: &'a [i64] },
}

/// The newest events of a workspace in `scope`.
pub async fn recent(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    scope: Scope<'_>,
    limit: u64,
) -> Result<Vec<audit::Model>, DbErr> {
    use sea_orm::Condition;
    let mut q = audit::Entity::find().filter(audit::Column::WorkspaceId.eq(workspace_id));
    if let Scope::User { user_id, key_ids } = scope {
        q = q.filter(
            Condition::any()
                .add(audit::Column::ActorUserId.eq(user_id))
                .add(audit::Column::KeyId.is_in(key_ids.iter().copied())),
        );
    }
    q.order_by_desc(audit::Column::CreatedAt).order_by_desc(audit::Column::Id).limit(limit).all(db).await
}
