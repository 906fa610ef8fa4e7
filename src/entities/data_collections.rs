use super::json::Json;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "data_collections")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub name_key: String,
    /// `domain::text::look_key` of the name: unique in the workspace, so no
    /// two names look alike (filled at start for rows made before it existed).
    pub look_key: Option<String>,
    pub description: String,
    pub dataset_id: i64,
    /// JSON list of the exposed field names in order; none = all columns.
    pub fields: Option<Json<Vec<String>>>,
    /// `field` or `-field`; none = the dataset's row order.
    pub sort_order: Option<String>,
    pub default_limit: i64,
    pub max_limit: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
