//! What a sync run is made of, as stored on its `sync_runs` row and shown by
//! pages and the API: its status words, its log lines and its streams' parts.
//! Plain data, apart from the runner (`jobs`) and the work (`sync`) that fill it.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use serde_json::Value;

use crate::connector_error::ConnectorError;
use crate::schema::Column;

/// Run statuses.
pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const SUCCEEDED: &str = "succeeded";
pub const PARTIAL: &str = "partial";
pub const FAILED: &str = "failed";
pub const CANCELLED: &str = "cancelled";

/// One line of a run's log: what happened, in words for people. Provider
/// messages appear scrubbed of credentials (see `errors::scrub`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    /// `info`, `warning` or `error`.
    pub level: String,
    pub message: String,
}

pub fn line(level: &str, message: impl Into<String>) -> LogLine {
    LogLine { at: Utc::now(), level: level.to_owned(), message: message.into() }
}

/// One stream's part of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct StreamRun {
    pub stream: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// `full` or `incremental`.
    #[serde(default)]
    pub mode: String,
    pub records_read: u64,
    pub records_written: u64,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Transient failures retried.
    #[serde(default)]
    pub retries: u32,
    /// Columns added, removed or retyped since the last sync.
    #[serde(default)]
    pub schema_changes: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub error: Option<ConnectorError>,
}

impl StreamRun {
    pub fn queued(stream: &str, mode: &str) -> StreamRun {
        StreamRun {
            stream: stream.to_owned(),
            status: QUEUED.into(),
            mode: mode.to_owned(),
            records_read: 0,
            records_written: 0,
            started_at: None,
            finished_at: None,
            retries: 0,
            schema_changes: Vec::new(),
            error: None,
        }
    }

    /// Seconds since the stream started (until it finished).
    pub fn elapsed(&self) -> Option<f64> {
        let start = self.started_at?;
        let end = self.finished_at.unwrap_or_else(Utc::now);
        Some(((end - start).num_milliseconds().max(0) as f64) / 1000.0)
    }

    /// Records written per second so far.
    pub fn rate(&self) -> Option<f64> {
        self.elapsed().filter(|e| *e > 0.2).map(|e| self.records_written as f64 / e)
    }

    pub fn done(&self) -> bool {
        matches!(self.status.as_str(), SUCCEEDED | FAILED | CANCELLED)
    }
}

/// Where a full refresh stands, saved on the tab after every batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRefresh {
    /// The source's position for the next batch.
    pub position: Option<Value>,
    /// Every batch is written; only the commit is left.
    pub done: bool,
    /// The largest cursor value seen (incremental streams' first sync).
    pub max_cursor: Option<Value>,
    /// The columns as widened or added during this refresh (none: as discovered).
    #[serde(default)]
    pub columns: Option<Vec<Column>>,
}
