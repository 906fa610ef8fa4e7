//! The audit log: every security-relevant event, with who acted, on what,
//! when and from where. Names are copied in as they were at the time, so an
//! old event still says what it was about after a rename or a rotation.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, Set,
};

use crate::entities::{audit_events as audit, members, personal_keys};

/// A person as the log names them then: `Ada <ada@example.com>`.
pub fn person(u: &crate::entities::users::Model) -> String {
    format!("{} <{}>", u.display_name, u.email)
}

/// Who acts, for the audit log.
pub struct Actor {
    pub workspace_id: i64,
    pub user_id: i64,
    /// As shown then, e.g. `Ada <ada@example.com>`; none for API calls (the
    /// log shows the user).
    pub name: Option<String>,
    /// `with API key khp_…abcd` for API calls.
    pub via: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    pub fn event(&self, action: &'static str, target: Target, detail: String) -> Event {
        let detail = match &self.via {
            Some(via) => format!("{detail} ({via})"),
            None => detail,
        };
        Event {
            workspace_id: self.workspace_id,
            actor_user_id: Some(self.user_id),
            actor_name: self.name.clone(),
            action,
            target: Some(target),
            detail,
            ip: self.ip.clone(),
        }
    }
}

/// What an event is about.
#[derive(Debug, Clone)]
pub struct Target {
    /// `member`, `user`, `key`, `invitation`, `workspace`, `password_reset`.
    pub kind: &'static str,
    pub id: i64,
    pub name: String,
}

impl Target {
    pub fn key(k: &personal_keys::Model) -> Target {
        Target { kind: "key", id: k.id, name: format!("{} ({})", k.label, k.identifier) }
    }

    /// A person, by user id (stable across workspaces), named by email.
    pub fn user(user_id: i64, email: &str) -> Target {
        Target { kind: "user", id: user_id, name: email.to_owned() }
    }
}

pub struct Event {
    pub workspace_id: i64,
    pub actor_user_id: Option<i64>,
    /// The actor as shown then, e.g. `Ada <ada@example.com>`.
    pub actor_name: Option<String>,
    pub action: &'static str,
    pub target: Option<Target>,
    pub detail: String,
    pub ip: Option<String>,
}

pub async fn record(db: &impl ConnectionTrait, e: Event) -> Result<(), DbErr> {
    let key_id = e.target.as_ref().filter(|t| t.kind == "key").map(|t| t.id);
    audit::ActiveModel {
        workspace_id: Set(e.workspace_id),
        actor_user_id: Set(e.actor_user_id),
        actor_name: Set(e.actor_name),
        key_id: Set(key_id),
        action: Set(e.action.to_owned()),
        target_kind: Set(e.target.as_ref().map(|t| t.kind.to_owned())),
        target_id: Set(e.target.as_ref().map(|t| t.id)),
        target_name: Set(e.target.map(|t| t.name)),
        detail: Set(e.detail),
        ip: Set(e.ip),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// Records `make(workspace_id)` in every workspace `user_id` belongs to
/// (signing in, a password change): each workspace's admins see it.
pub async fn record_for_user(
    db: &impl ConnectionTrait,
    user_id: i64,
    make: impl Fn(i64) -> Event,
) -> Result<(), DbErr> {
    let workspaces: Vec<i64> = members::Entity::find()
        .filter(members::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.workspace_id)
        .collect();
    for ws in workspaces {
        record(db, make(ws)).await?;
    }
    Ok(())
}

/// Which events of a workspace to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor_user_id: Option<i64>,
    /// The part of `action` before the dot (`key`, `member`, `user`, ...).
    pub kind: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only what concerns this user: done by them, to them, or to their keys.
    pub concerning: Option<i64>,
}

/// The event kinds the filter offers, with their labels.
pub const KINDS: [(&str, &str); 13] = [
    ("user", "Sign-in and passwords"),
    ("member", "Members and roles"),
    ("invitation", "Invitations"),
    ("key", "API keys"),
    ("workspace", "Workspace"),
    ("dataset", "Datasets"),
    ("collection", "Data collections"),
    ("endpoint", "Endpoints"),
    ("hub_key", "Data Hub keys"),
    ("source", "Live Data sources"),
    ("entity", "Ontology entities"),
    ("team", "Teams"),
    ("instance", "Setup"),
];

async fn query(db: &impl ConnectionTrait, workspace_id: i64, f: &Filter) -> Result<Select<audit::Entity>, DbErr> {
    let mut q = audit::Entity::find().filter(audit::Column::WorkspaceId.eq(workspace_id));
    if let Some(actor) = f.actor_user_id {
        q = q.filter(audit::Column::ActorUserId.eq(actor));
    }
    if let Some(kind) = &f.kind {
        q = q.filter(audit::Column::Action.starts_with(format!("{kind}.")));
    }
    if let Some(from) = f.from {
        q = q.filter(audit::Column::CreatedAt.gte(from));
    }
    if let Some(until) = f.until {
        q = q.filter(audit::Column::CreatedAt.lt(until));
    }
    if let Some(user_id) = f.concerning {
        let key_ids: Vec<i64> = personal_keys::Entity::find()
            .filter(personal_keys::Column::WorkspaceId.eq(workspace_id))
            .filter(personal_keys::Column::UserId.eq(user_id))
            .all(db)
            .await?
            .into_iter()
            .map(|k| k.id)
            .collect();
        q = q.filter(
            Condition::any()
                .add(audit::Column::ActorUserId.eq(user_id))
                .add(
                    Condition::all().add(audit::Column::TargetKind.eq("user")).add(audit::Column::TargetId.eq(user_id)),
                )
                .add(audit::Column::KeyId.is_in(key_ids)),
        );
    }
    Ok(q.order_by_desc(audit::Column::CreatedAt).order_by_desc(audit::Column::Id))
}

/// One page of events, newest first, and the total matching.
pub async fn page(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    f: &Filter,
    offset: u64,
    limit: u64,
) -> Result<(Vec<audit::Model>, u64), DbErr> {
    let q = query(db, workspace_id, f).await?;
    let total = q.clone().count(db).await?;
    let rows = q.offset(offset).limit(limit).all(db).await?;
    Ok((rows, total))
}

/// Every matching event, for the CSV export (bounded: a workspace's log of a
/// few hundred thousand lines still fits comfortably).
pub async fn all(db: &impl ConnectionTrait, workspace_id: i64, f: &Filter) -> Result<Vec<audit::Model>, DbErr> {
    query(db, workspace_id, f).await?.limit(500_000).all(db).await
}

/// Who revoked each of these keys, by key id (from the `key.revoked` events).
pub async fn revokers(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    key_ids: &[i64],
) -> Result<std::collections::HashMap<i64, String>, DbErr> {
    let events = audit::Entity::find()
        .filter(audit::Column::WorkspaceId.eq(workspace_id))
        .filter(audit::Column::Action.eq("key.revoked"))
        .filter(audit::Column::KeyId.is_in(key_ids.iter().copied()))
        .order_by_asc(audit::Column::Id)
        .all(db)
        .await?;
    Ok(events.into_iter().filter_map(|e| Some((e.key_id?, e.actor_name.unwrap_or_else(|| "keyhub".into())))).collect())
}
