use super::json::Json;
use crate::domain::live_data::runs::{LogLine, StreamRun};
use sea_orm::entity::prelude::*;

use super::typed::Typed;
use crate::domain::live_data::RunStatus;

/// One execution of a source's sync.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub source_id: i64,
    /// `queued`, `running`, `succeeded`, `partial`, `failed` or `cancelled`.
    pub status: Typed<RunStatus>,
    /// JSON array of `connectors::runs::StreamRun`.
    pub streams: Json<Vec<StreamRun>>,
    pub error: Option<String>,
    /// `activate`, `manual`, `api`, `schedule`.
    pub trigger: String,
    /// When the run was asked for (queued).
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// The node working on the run and until when (its lease).
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    /// Claims so far; more than one means it was resumed after a stop.
    pub attempts: i32,
    pub cancel_requested: bool,
    /// JSON array of `connectors::runs::LogLine`.
    pub log: Json<Vec<LogLine>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
