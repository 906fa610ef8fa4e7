use sea_orm::entity::prelude::*;

use super::json::Json;

/// A URL a workspace has events delivered to.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub url: String,
    pub description: String,
    pub events: Json<Vec<String>>,
    /// The `whsec_…` signing secret, sealed (shown once, when made).
    pub secret_sealed: String,
    /// `active`, `failing` or `disabled`.
    pub status: String,
    pub failing_since: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub created_by: Option<i64>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
