use sea_orm::entity::prelude::*;

use super::json::Json;
use crate::domain::live_data::runs::PendingRefresh;

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
    /// A full refresh in progress (resumable after a stop): its generation, the
    /// source's position after the last written batch, rows and bytes so far.
    pub pending_generation: Option<i64>,
    pub pending_state: Option<Json<PendingRefresh>>,
    pub pending_rows: i64,
    pub pending_size: i64,
    /// JSON incremental cursor, saved with the rows it covers.
    pub cursor: Option<Json<serde_json::Value>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
