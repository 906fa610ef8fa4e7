use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workspaces")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    /// `domain::text::workspace_key` of the name: equal keys are look-alikes.
    pub name_key: Option<String>,
    /// URL-safe and unique: the `{workspace}` of `/hub/{workspace}/…`.
    pub slug: Option<String>,
    pub created_at: DateTimeUtc,
    /// The rate limit new keys start with (both or neither).
    pub default_rate_limit_requests: Option<i32>,
    pub default_rate_limit_window: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
