use sea_orm::entity::prelude::*;

use super::typed::Typed;
use crate::domain::datahub::Access;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "endpoints")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    /// Below `/hub/{workspace}/`, e.g. `sales/orders`.
    pub path: String,
    pub collection_id: i64,
    /// `public`, `members` or `keys` (`domain::datahub::Access`).
    pub access: Typed<Access>,
    /// Web origins that may read it from a browser (CORS), one per line;
    /// `*` for any (public endpoints only).
    pub allowed_origins: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
