use super::json::Json;
use crate::domain::schema;
use sea_orm::entity::prelude::*;

/// A dataset's description; its rows live in `dataset_rows`, written only
/// through `crate::datasets`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "datasets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    /// `domain::text::name_key` of the name: unique in the workspace.
    pub name_key: String,
    /// `domain::text::look_key` of the name: unique in the workspace, so no
    /// two names look alike (filled at start for rows made before it existed).
    pub look_key: Option<String>,
    /// JSON list of `datasets::Column`.
    pub columns: Json<Vec<schema::Column>>,
    /// The name of the primary-key column; none = the row number is the key.
    pub primary_key: Option<String>,
    /// `upload`, `api`, or (later) the connector stream that fills it.
    pub source: String,
    /// `importing` while its first contents are written, then `ready`.
    pub state: String,
    /// Which rows of `dataset_rows` readers see.
    pub generation: i64,
    pub next_generation: i64,
    /// Bumped by every commit; caches and ETags key on it.
    pub version: i64,
    pub row_count: i64,
    pub size_bytes: i64,
    pub created_by: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
