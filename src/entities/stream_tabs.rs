use sea_orm::entity::prelude::*;

/// One tab of an entity's spreadsheet: the dataset a source's stream fills.
/// `source_id` is none once the source is unlinked and the tab kept;
/// `entity_id` is none while the source is not linked to an entity yet.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stream_tabs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub entity_id: Option<i64>,
    pub source_id: Option<i64>,
    pub stream: String,
    pub dataset_id: i64,
    pub last_sync_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
