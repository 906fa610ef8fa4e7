use ipnet::IpNet;
use sea_orm::entity::prelude::*;

use super::json::Json;
use crate::domain::header_template::HeaderRow;

use super::typed::Typed;
use crate::domain::hub_keys::{AccessType, KeyStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hub_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub name_key: String,
    /// `domain::text::look_key` of the name: unique in the workspace, so no
    /// two names look alike (filled at start for rows made before it existed).
    pub look_key: Option<String>,
    /// `api_key`, `portal_token` or `generic_token` (`domain::hub_keys::AccessType`).
    pub access_type: Typed<AccessType>,
    /// `active` or `inactive`.
    pub status: Typed<KeyStatus>,
    /// Hex SHA-256 of the secret or generic token (the lookup form); none for portal tokens.
    pub secret_digest: Option<String>,
    /// The last four characters, for `khd_…abcd`.
    pub secret_suffix: Option<String>,
    /// The API key's secret, sealed with the row id as associated data (`auth::sealing`).
    pub secret_sealed: Option<String>,
    /// JSON array of `"network/prefix"`.
    pub ip_filters: Json<Vec<IpNet>>,
    /// JSON array of `{name, value, exclude}`.
    pub headers: Json<Vec<HeaderRow>>,
    pub expires_at: Option<DateTimeUtc>,
    /// Bumped by every save: a save based on an older version is refused.
    pub version: i64,
    /// The `hub_key_changes` entry of the last change (for the sync status).
    pub change_seq: i64,
    pub created_at: DateTimeUtc,
    pub created_by: Option<i64>,
    pub updated_at: DateTimeUtc,
    pub updated_by: Option<i64>,
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
