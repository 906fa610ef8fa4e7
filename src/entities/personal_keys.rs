use sea_orm::entity::prelude::*;

/// A personal API key: owned by a user, bound to one workspace. The secret is
/// never stored: only its SHA-256 (`secret_hash`) and a visible identifier.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "personal_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub user_id: i64,
    pub label: String,
    /// Space-separated permission names; effective rights are these ∩ the owner's now.
    pub permissions: String,
    /// `khp_…abcd`: safe to show, enough to recognise the key.
    pub identifier: String,
    #[sea_orm(unique)]
    pub secret_hash: String,
    /// The secret before the last rotation, accepted until `previous_valid_until`.
    pub previous_secret_hash: Option<String>,
    pub previous_valid_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub rotated_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    pub last_used_ip: Option<String>,
    /// A rate limit: `rate_limit_requests` calls per `rate_limit_window` seconds (both or neither).
    pub rate_limit_requests: Option<i32>,
    pub rate_limit_window: Option<i32>,
    /// Accepted calls allowed per calendar month (UTC).
    pub monthly_quota: Option<i64>,
    /// When the owner was told the key expires in 7 days, and in 1 day.
    pub notice_7d_at: Option<DateTimeUtc>,
    pub notice_1d_at: Option<DateTimeUtc>,
    /// When its `key.expired` webhook event went out.
    pub expired_event_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
