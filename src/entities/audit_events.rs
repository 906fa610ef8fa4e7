use sea_orm::entity::prelude::*;

/// Who did what to which key, when, from where.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    /// The person acting; for a refused key use, the key's owner.
    pub actor_user_id: Option<i64>,
    pub key_id: Option<i64>,
    /// e.g. `key.created`, `key.rotated`, `key.revoked`, `key.refused_revoked`.
    pub action: String,
    pub detail: String,
    pub ip: Option<String>,
    /// The actor's display name when it happened.
    pub actor_name: Option<String>,
    /// `member`, `key`, `invitation`, `workspace`, `user`, `password_reset`.
    pub target_kind: Option<String>,
    pub target_id: Option<i64>,
    /// The target's name as it was then (a key's label and identifier, a member's email).
    pub target_name: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
