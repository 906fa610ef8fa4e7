use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// SHA-256 of the session key held in the cookie.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Copied out of the state so that all of a user's sessions can be ended at once.
    pub user_id: Option<i64>,
    /// The session state as a JSON object of strings.
    pub state: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
