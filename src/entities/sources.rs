use sea_orm::entity::prelude::*;
use std::collections::BTreeMap;

use super::json::Json;
use crate::domain::live_data::{Failure, StreamInfo, StreamMode, TestResult};

use super::typed::Typed;
use crate::domain::live_data::SourceStatus;

/// A configured connector (DESIGN's "connector"): kind, sealed credentials,
/// chosen streams, linked entity.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sources")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub kind: String,
    pub name: String,
    pub name_key: String,
    /// `domain::text::look_key` of the name: unique in the workspace, so no
    /// two names look alike (filled at start for rows made before it existed).
    pub look_key: Option<String>,
    /// `draft`, `active` or `failing`.
    pub status: Typed<SourceStatus>,
    /// JSON object of the non-secret fields.
    pub config: Json<BTreeMap<String, String>>,
    /// JSON object of the secret fields, sealed with `source:{id}` as associated data.
    pub secrets_sealed: Option<String>,
    /// JSON object: secret field → last four characters.
    pub secret_hints: Json<BTreeMap<String, String>>,
    /// JSON array of the streams found at the last successful test.
    pub catalog: Option<Json<Vec<StreamInfo>>>,
    /// JSON array of chosen stream names.
    pub streams: Json<Vec<String>>,
    pub entity_id: Option<i64>,
    /// JSON of the last test's outcome.
    pub last_test: Option<Json<TestResult>>,
    pub last_test_at: Option<DateTimeUtc>,
    pub last_sync_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub created_by: Option<i64>,
    pub updated_at: DateTimeUtc,
    /// Minutes between scheduled syncs; none = manual.
    pub schedule_minutes: Option<i32>,
    pub schedule_paused: bool,
    pub next_sync_at: Option<DateTimeUtc>,
    /// JSON object: stream → `{"mode": "full"|"incremental", "cursor": column}`.
    pub stream_modes: Json<BTreeMap<String, StreamMode>>,
    pub failing_since: Option<DateTimeUtc>,
    pub failure_count: i32,
    /// JSON `connectors::sources::Failure`: the last test or sync failure.
    pub last_failure: Option<Json<Failure>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
