use sea_orm::entity::prelude::*;

/// One execution of a source's sync.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub source_id: i64,
    /// `running`, `succeeded`, `partial` or `failed`.
    pub status: String,
    /// JSON array of `connectors::sync::StreamRun`.
    pub streams: String,
    pub error: Option<String>,
    /// `activate`, `manual`, `api`.
    pub trigger: String,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
