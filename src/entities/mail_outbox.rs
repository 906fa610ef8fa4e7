use sea_orm::entity::prelude::*;

/// An email to send, and once tried, its delivery log entry.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: Option<i64>,
    pub to_addr: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub kind: String,
    /// `queued`, `sending`, `sent` or `failed`.
    pub state: String,
    pub attempts: i32,
    /// Unix seconds: when to try (again), or when a claim lapses.
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
