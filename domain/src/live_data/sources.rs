//! What a source keeps on its row as JSON: its streams (as discovered), how
//! each one syncs, its last test and its last failure.
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::connector_error::ConnectorError;
use crate::schema::Column;

/// How one stream syncs: `full` refresh (the default), or `incremental`
/// after the last value of `cursor` (a column of the stream).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct StreamMode {
    pub mode: String,
    #[serde(default)]
    pub cursor: Option<String>,
    /// The query parameter that keeps records after the cursor value, when
    /// the person chose it (OpenAPI sources: one the document declares, or
    /// its bracket form such as `filter[updated_at][_gt]`); none: the
    /// kind's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// The last failure of a source, kept for Diagnostics.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failure {
    pub at: chrono::DateTime<Utc>,
    /// `test` or `sync`.
    pub during: String,
    pub run_id: Option<i64>,
    pub stream: Option<String>,
    pub error: ConnectorError,
}

/// The outcome of the last test, as stored and shown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TestResult {
    pub ok: bool,
    pub error: Option<ConnectorError>,
    /// Streams found (on success).
    pub streams: usize,
    /// The record the test read, secrets masked (on success).
    #[serde(default)]
    pub sample: Option<Sample>,
    /// Streams the source lists but that failed their probe, each with its
    /// own error: the test passes when at least one stream reads.
    #[serde(default)]
    pub unavailable: Vec<Unavailable>,
}

/// A stream the source lists that could not be read when probed (a 404 on
/// a stale path, a 403 on one collection, an answer that is no list).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Unavailable {
    pub stream: String,
    pub error: ConnectorError,
}

/// The one record a connection test reads, as the page and the API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sample {
    pub stream: String,
    /// Field → value (text); at most `SAMPLE_FIELDS` fields, secrets masked.
    #[schema(value_type = Object)]
    pub record: serde_json::Map<String, serde_json::Value>,
}

/// One stream a source offers (Airbyte's word).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    pub name: String,
    pub columns: Vec<Column>,
    pub primary_key: Option<String>,
    /// Records in the stream, when the source says.
    pub row_count: Option<u64>,
    /// Kind-specific: how to read it (a path, where the records are, paging).
    #[serde(default)]
    pub locator: Value,
    /// What a person choosing the stream should know (how it pages, why it
    /// cannot be incremental…), shown beside it in step 3.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}
