use sea_orm::entity::prelude::*;

/// The append-only log every node's key snapshots follow: one row per saved
/// or deleted Data Hub key (`hub_key_id`), changed team (`team_id`), changed
/// personal key (`key_id`) or changed membership (`user_id`, in `workspace_id`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "key_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub workspace_id: i64,
    pub hub_key_id: Option<i64>,
    pub team_id: Option<i64>,
    pub key_id: Option<i64>,
    pub user_id: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
