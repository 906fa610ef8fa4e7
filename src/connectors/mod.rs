//! Connectors, modelled on the Airbyte protocol: every kind of source answers
//! `spec` (the fields it needs, which are secret), `check` (can we get in),
//! `discover` (its streams, with columns, types and primary key) and `read`
//! (a stream's records, one batch at a time, resumable from the state the
//! previous batch returned). Adding a kind is one module and one line in
//! [`REGISTRY`].
//!
//! `outbound` is the SSRF-safe HTTP client every kind uses; `sources` saves,
//! tests and activates configured sources; `sync` fills the spreadsheet tabs.
pub mod datasette;

pub mod jobs;
pub mod keyhub;
pub mod openapi;
pub mod outbound;
pub mod queue;
pub mod runs;
pub mod sources;
pub mod sync;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use serde_json::{Map, Value};

pub use crate::domain::connector_error::{self as errors, ConnectorError, ErrorClass};
pub use crate::domain::live_data::{StreamInfo, Unavailable};
use crate::domain::schema::{Column, Inference, Raw};
pub use outbound::Outbound;

/// Selects ring as rustls' process-wide provider (reqwest is built without
/// one; see STACK-NOTES). Call before the first HTTP client; later calls do nothing.
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Url,
    Text,
    /// Write-only: sealed at rest, never rendered back.
    Secret,
    /// One of the listed values.
    Choice(&'static [(&'static str, &'static str)]),
    /// A whole number from 1 to `max` (optional fields: or empty).
    Count {
        max: u64,
    },
}

/// One setting a kind needs.
#[derive(Debug, Clone, Serialize)]
pub struct FieldSpec {
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    /// Used when left empty.
    pub default: &'static str,
}

impl FieldSpec {
    pub fn secret(&self) -> bool {
        self.kind == FieldKind::Secret
    }
}

/// What a kind is and needs (Airbyte's `spec`).
#[derive(Debug, Clone, Serialize)]
pub struct Spec {
    pub kind: &'static str,
    pub name: &'static str,
    /// What it reads, for the catalogue card.
    pub reads: &'static str,
    /// "API key" or "Personal access token".
    pub auth: &'static str,
    pub fields: &'static [FieldSpec],
}

/// A source's settings in memory: plain and secret fields together. Only
/// `sources` builds one (unsealing the secrets), and it is never logged.
#[derive(Clone, Default)]
pub struct Config {
    values: BTreeMap<String, String>,
    spec: Option<&'static Spec>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Config(…)")
    }
}

impl Config {
    pub fn new(spec: &'static Spec, values: BTreeMap<String, String>) -> Config {
        Config { values, spec: Some(spec) }
    }

    /// The value, or the field's default.
    pub fn get(&self, name: &str) -> &str {
        match self.values.get(name).map(String::as_str).filter(|v| !v.trim().is_empty()) {
            Some(v) => v.trim(),
            None => self.spec.and_then(|s| s.fields.iter().find(|f| f.name == name)).map(|f| f.default).unwrap_or(""),
        }
    }

    /// Every secret value, for scrubbing messages.
    pub fn secrets(&self) -> Vec<String> {
        let Some(spec) = self.spec else { return Vec::new() };
        spec.fields
            .iter()
            .filter(|f| f.secret())
            .filter_map(|f| self.values.get(f.name))
            .filter(|v| !v.is_empty())
            .cloned()
            .collect()
    }

    /// The base URL, checked.
    pub fn base_url(&self) -> Result<reqwest::Url, ConnectorError> {
        let mut url = outbound::parse_url(self.get("base_url"))?;
        // Joining relative paths needs the trailing slash.
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        Ok(url)
    }
}

/// What a running connector has at hand.
pub struct Ctx {
    pub http: Outbound,
    pub config: Config,
}

/// One batch of records and the state to resume after it (none: the end).
pub struct Batch {
    pub records: Vec<Map<String, Value>>,
    pub next: Option<Value>,
}

/// What discovery found: the streams that answered, and those the source
/// lists but that failed on their own (each with its error).
#[derive(Debug, Default)]
pub struct Discovery {
    pub streams: Vec<StreamInfo>,
    pub unavailable: Vec<Unavailable>,
}

pub trait Connector: Send + Sync {
    fn spec(&self) -> &'static Spec;
    fn check<'a>(&'a self, cx: &'a Ctx) -> BoxFuture<'a, Result<(), ConnectorError>>;
    /// The source's streams (`only` some: just those, as a sync needs). A
    /// stream that fails on its own is listed as unavailable; only a
    /// failure of the whole source is an error.
    fn discover<'a>(
        &'a self,
        cx: &'a Ctx,
        only: Option<&'a [String]>,
    ) -> BoxFuture<'a, Result<Discovery, ConnectorError>>;
    /// The batch at `state` (none: from the start), at most `size` records.
    fn read<'a>(
        &'a self,
        cx: &'a Ctx,
        stream: &'a StreamInfo,
        state: Option<Value>,
        size: u32,
    ) -> BoxFuture<'a, Result<Batch, ConnectorError>>;
    /// Whether the kind reads incrementally: records whose `cursor` column is
    /// above a value, in that column's order (Airbyte's `source_defined_cursor`
    /// turned around: the user picks the column).
    fn incremental(&self) -> bool {
        false
    }
    /// The columns a stream can be read incrementally by, when the kind
    /// limits them (none: any integer, date or datetime column).
    fn cursor_columns(&self, stream: &StreamInfo) -> Option<Vec<String>> {
        let _ = stream;
        None
    }
    /// Whether a person may name the filter parameter incremental reads use.
    fn filter_choice(&self) -> bool {
        false
    }
    /// `stream` read incrementally by `column` through the query parameter
    /// `param`, or why that parameter cannot be used.
    fn choose_filter(&self, stream: &StreamInfo, column: &str, param: &str) -> Result<StreamInfo, String> {
        let _ = (stream, column, param);
        Err("This kind of source filters by the cursor column itself; leave the filter parameter empty.".into())
    }
    /// Records whose `column` is above `after` (none: all), in that column's
    /// order, at most `size`. `position` is the previous batch's `next` within
    /// the same read (none for the first batch); the source pages with its own
    /// tie-breaking, so records sharing a cursor value are not lost at a batch
    /// boundary.
    fn read_after<'a>(
        &'a self,
        cx: &'a Ctx,
        stream: &'a StreamInfo,
        column: &'a str,
        after: Option<Value>,
        position: Option<Value>,
        size: u32,
    ) -> BoxFuture<'a, Result<Batch, ConnectorError>> {
        let _ = (cx, stream, column, after, position, size);
        Box::pin(async {
            Err(ConnectorError::config("This kind of source cannot read incrementally; choose full refresh."))
        })
    }
}

/// Every kind keyhub knows, in catalogue order.
pub static REGISTRY: &[&dyn Connector] = &[&keyhub::Keyhub, &datasette::Datasette, &openapi::OpenApi];

pub fn kind(name: &str) -> Option<&'static dyn Connector> {
    REGISTRY.iter().copied().find(|c| c.spec().kind == name)
}

/// Rows sampled to guess column types when a source does not declare them.
pub const SAMPLE_SIZE: u32 = 50;

/// Columns from sample records: names in first-seen order, types inferred
/// from every sampled value (nested values become text holding JSON).
pub fn infer_columns(names: &[String], records: &[Map<String, Value>]) -> Vec<Column> {
    let mut order: Vec<String> = names.to_vec();
    for r in records {
        for k in r.keys() {
            if !order.contains(k) {
                order.push(k.clone());
            }
        }
    }
    order
        .into_iter()
        .map(|name| {
            let mut inf = Inference::default();
            for r in records {
                if let Some(v) = r.get(&name) {
                    inf.observe(&Raw::Json(v.clone()));
                }
            }
            Column { source: name.clone(), name, kind: inf.best() }
        })
        .collect()
}

/// The wizard's test: `check`, `discover` (each stream probed on its own),
/// then **read one record** of a chosen stream (else the first that
/// answered), since a key can pass an auth check and still fail to read.
/// It passes when at least one stream reads; the others are listed as
/// unavailable with their own errors. Returns what was found and the record
/// with its stream's name (none when that stream is empty).
pub async fn test_connection(
    kind: &dyn Connector,
    cx: &Ctx,
    chosen: &[String],
) -> Result<(Discovery, Option<(String, Map<String, Value>)>), ConnectorError> {
    kind.check(cx).await?;
    let mut found = kind.discover(cx, None).await?;
    let mut order: Vec<String> =
        chosen.iter().filter(|c| found.streams.iter().any(|s| s.name == **c)).cloned().collect();
    order.extend(found.streams.iter().map(|s| s.name.clone()).filter(|n| !chosen.contains(n)));
    for name in order.into_iter().take(3) {
        let Some(i) = found.streams.iter().position(|s| s.name == name) else { continue };
        match kind.read(cx, &found.streams[i], None, 1).await {
            Ok(batch) => {
                let read = batch.records.into_iter().next().map(|r| (name, r));
                return Ok((found, read));
            }
            Err(error) => {
                found.streams.remove(i);
                found.unavailable.push(Unavailable { stream: name, error });
            }
        }
    }
    // Nothing read: the first stream's own error says why (a wrong key
    // reads as 401 on every stream).
    Err(match found.unavailable.into_iter().next() {
        Some(u) => {
            let mut e = u.error;
            e.message = format!("No stream could be read; “{}”: {}", u.stream, e.message);
            e
        }
        _ => ConnectorError::new(ErrorClass::NoStreams, "The source offers no stream this key can read."),
    })
}

/// A cursor value as a query parameter carries it: a string as it is, a
/// number or boolean as JSON writes it; none for no value (the first read).
pub fn cursor_text(after: Option<&Value>) -> Option<String> {
    match after? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    }
}

/// Records under `key` of a JSON object (or the array itself), as objects.
pub fn records_at(body: &Value, key: Option<&str>) -> Result<Vec<Map<String, Value>>, ConnectorError> {
    let list = match key {
        Some(k) => &body[k],
        None => body,
    };
    let Value::Array(items) = list else {
        return Err(ConnectorError::shape(match key {
            Some(k) => format!("The answer has no “{k}” list of records."),
            None => "The answer is not a list of records.".to_owned(),
        }));
    };
    Ok(items
        .iter()
        .map(|v| match v {
            Value::Object(o) => o.clone(),
            other => {
                let mut m = Map::new();
                m.insert("value".into(), other.clone());
                m
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schema::ColumnType;

    #[test]
    fn registry_kinds_are_unique_and_have_a_secret() {
        let mut names: Vec<&str> = REGISTRY.iter().map(|c| c.spec().kind).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), REGISTRY.len());
        for c in REGISTRY {
            assert!(c.spec().fields.iter().any(FieldSpec::secret), "{} has a key field", c.spec().kind);
            assert!(c.spec().fields.iter().any(|f| f.name == "base_url"));
        }
        assert!(kind("datasette").is_some() && kind("nope").is_none());
    }

    #[test]
    fn columns_are_inferred_from_samples() {
        let rows: Vec<Map<String, Value>> = vec![
            serde_json::from_str(r#"{"id": 1, "name": "a", "price": 1.5}"#).unwrap(),
            serde_json::from_str(r#"{"id": 2, "name": null, "price": 2, "extra": true}"#).unwrap(),
        ];
        let cols = infer_columns(&["name".into()], &rows);
        let got: Vec<(&str, ColumnType)> = cols.iter().map(|c| (c.name.as_str(), c.kind)).collect();
        assert_eq!(
            got,
            vec![
                ("name", ColumnType::Text),
                ("id", ColumnType::Integer),
                ("price", ColumnType::Number),
                ("extra", ColumnType::Boolean)
            ]
        );
    }
}
