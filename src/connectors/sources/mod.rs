//! Configured sources, for the wizard and the JSON API alike: saving the
//! credentials (secrets sealed, never rendered back), testing, choosing
//! streams, linking to an entity and activating.
use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::Set;

use super::runs::{self, StreamRun};
use super::{Config, ConnectorError, Ctx, ErrorClass, FieldKind, Outbound, StreamInfo};
use crate::domain::live_data::SourceStatus;
use crate::entities::json::Json;
use crate::entities::sources;
use crate::entities::typed::Typed;
use crate::refusal::{FieldError, Refusal};
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::audit::Target;
use crate::store::live_data as store;

mod steps;
pub use crate::domain::live_data::{Failure, Sample, StreamMode, TestResult};
pub use steps::*;
mod schedule;
pub use schedule::*;

fn field(name: &str, message: impl Into<String>) -> Refusal {
    Refusal::field(name, message)
}

/// A source's status, as its column holds it.
pub const DRAFT: Typed<SourceStatus> = Typed(SourceStatus::Draft);
pub const ACTIVE: Typed<SourceStatus> = Typed(SourceStatus::Active);
pub const FAILING: Typed<SourceStatus> = Typed(SourceStatus::Failing);

/// Sync modes of a stream.
pub const FULL: &str = "full";
pub const INCREMENTAL: &str = "incremental";

pub fn stream_modes(s: &sources::Model) -> BTreeMap<String, StreamMode> {
    s.stream_modes.0.clone()
}

pub fn last_failure(s: &sources::Model) -> Option<Failure> {
    s.last_failure.as_ref().map(|f| f.0.clone())
}

/// Records a failure on the row being saved: since when it fails, how often.
pub fn note_failure(m: &mut sources::ActiveModel, s: &sources::Model, f: &Failure) {
    m.last_failure = Set(Some(Json(f.clone())));
    m.failing_since = Set(s.failing_since.or(Some(f.at)));
    m.failure_count = Set(s.failure_count.saturating_add(1));
}

/// A passed test or a clean sync ends the failing spell (the last failure stays, for history).
pub fn note_success(m: &mut sources::ActiveModel) {
    m.failing_since = Set(None);
    m.failure_count = Set(0);
}

/// What the credentials step submits. An empty secret keeps the saved one.
#[derive(Debug, Clone, Default)]
pub struct SourceInput {
    pub kind: String,
    pub name: String,
    pub config: BTreeMap<String, String>,
}

/// Fields of the sample record kept.
const SAMPLE_FIELDS: usize = 30;

/// The sample as shown: fields that look like secrets, and any value that
/// holds one of the source's own secrets, are masked; long values shortened.
fn sample_of(stream: &str, record: &serde_json::Map<String, serde_json::Value>, secrets: &[String]) -> Sample {
    const SECRET_NAMES: [&str; 6] = ["password", "secret", "token", "api_key", "apikey", "authorization"];
    let mut out = serde_json::Map::new();
    for (k, v) in record.iter().take(SAMPLE_FIELDS) {
        let lower = k.to_ascii_lowercase();
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let shown = if SECRET_NAMES.iter().any(|n| lower.contains(n))
            || secrets.iter().any(|s| s.len() >= 4 && text.contains(s.as_str()))
        {
            serde_json::Value::String(MASK_DOTS.into())
        } else if text.chars().count() > 200 {
            serde_json::Value::String(format!("{}…", text.chars().take(200).collect::<String>()))
        } else {
            v.clone()
        };
        out.insert(k.clone(), shown);
    }
    Sample { stream: stream.to_owned(), record: out }
}

fn aad(id: i64) -> String {
    format!("source:{id}")
}

pub fn target(s: &sources::Model) -> Target {
    Target { kind: "source", id: s.id, name: s.name.clone() }
}

/// The non-secret settings as saved.
pub fn plain_config(s: &sources::Model) -> BTreeMap<String, String> {
    s.config.0.clone()
}

/// Secret field → last four characters.
pub fn secret_hints(s: &sources::Model) -> BTreeMap<String, String> {
    s.secret_hints.0.clone()
}

pub fn chosen_streams(s: &sources::Model) -> Vec<String> {
    s.streams.0.clone()
}

pub fn catalog(s: &sources::Model) -> Vec<StreamInfo> {
    s.catalog.as_ref().map(|c| c.0.clone()).unwrap_or_default()
}

pub fn last_test(s: &sources::Model) -> Option<TestResult> {
    s.last_test.as_ref().map(|t| t.0.clone())
}

/// The saved secrets, unsealed; an error when they are saved but cannot be
/// opened (another master secret, a row copied from elsewhere): keyhub then
/// sends nothing rather than an empty key.
fn secrets(state: &AppState, s: &sources::Model) -> Result<BTreeMap<String, String>, ConnectorError> {
    let Some(sealed) = s.secrets_sealed.as_deref() else { return Ok(BTreeMap::new()) };
    state.sealer.open(&aad(s.id), sealed).and_then(|json| serde_json::from_str(&json).ok()).ok_or_else(|| {
        ConnectorError::new(
            ErrorClass::CredentialsUnreadable,
            "The saved key of this source cannot be opened with this instance's master secret.",
        )
    })
}

/// How a saved secret is shown (pages and the API): never the value, only
/// its last four characters.
pub fn mask(last4: &str) -> String {
    format!("{MASK_DOTS}{last4}")
}

const MASK_DOTS: &str = "••••";

/// Required secret fields with nothing saved (cleared when the address
/// changed, or never entered): the source needs them before it can connect.
pub fn missing_secrets(s: &sources::Model) -> Vec<&'static str> {
    let Some(kind) = super::kind(&s.kind) else { return Vec::new() };
    let hints = secret_hints(s);
    kind.spec()
        .fields
        .iter()
        .filter(|f| f.secret() && f.required && !hints.contains_key(f.name))
        .map(|f| f.name)
        .collect()
}

/// The kind's settings with the secrets unsealed (memory only). Refuses to
/// build one without a required secret: no request goes out with an empty key.
pub fn config(state: &AppState, s: &sources::Model) -> Result<Config, ConnectorError> {
    let kind = super::kind(&s.kind)
        .ok_or_else(|| ConnectorError::config(format!("keyhub no longer knows the kind “{}”.", s.kind)))?;
    let mut values = plain_config(s);
    let secrets = secrets(state, s)?;
    for f in kind.spec().fields.iter().filter(|f| f.secret() && f.required) {
        if secrets.get(f.name).is_none_or(|v| v.is_empty()) {
            return Err(ConnectorError::config(format!(
                "No {} is saved for this source: enter it on the credentials step.",
                f.label.to_lowercase()
            )));
        }
    }
    values.extend(secrets);
    Ok(Config::new(kind.spec(), values))
}

/// The origins (scheme, host, port) the URL fields point at.
fn origins(kind: &dyn super::Connector, values: &BTreeMap<String, String>) -> Vec<(String, String, Option<u16>)> {
    kind.spec()
        .fields
        .iter()
        .filter(|f| f.kind == FieldKind::Url)
        .map(|f| {
            let raw = values.get(f.name).map(String::as_str).filter(|v| !v.trim().is_empty()).unwrap_or(f.default);
            match super::outbound::parse_url(raw) {
                Ok(u) => (
                    u.scheme().to_owned(),
                    u.host_str().unwrap_or_default().to_ascii_lowercase(),
                    u.port_or_known_default(),
                ),
                Err(_) => (String::new(), raw.trim().to_owned(), None),
            }
        })
        .collect()
}

pub fn ctx(state: &AppState, s: &sources::Model) -> Result<Ctx, ConnectorError> {
    let config = config(state, s)?;
    let base = config.base_url()?;
    let http = Outbound::new(state.outbound_policy.clone(), &base, config.secrets())?;
    Ok(Ctx { http, config })
}

/// Checks the submitted fields against the kind's spec. `saved` are the
/// secrets already stored (a blank secret, or the saved one's mask, keeps its
/// saved value).
fn check_input(
    input: &SourceInput,
    saved: &BTreeMap<String, String>,
) -> Result<(&'static dyn super::Connector, String), Refusal> {
    let Some(kind) = super::kind(&input.kind) else {
        return Err(field("kind", "Choose a connector from the catalogue."));
    };
    let mut errors = Vec::new();
    let name = match crate::datasets::clean_name(&input.name, "source") {
        Ok(n) => n,
        Err(m) => {
            errors.push(FieldError::new("name", m));
            String::new()
        }
    };
    for f in kind.spec().fields {
        let v = input.config.get(f.name).map(|v| v.trim()).unwrap_or("");
        if f.secret() && v.starts_with(MASK_DOTS) {
            // The mask GET returned, sent back: "keep the saved one". Any other
            // masked-looking value is not a key anyone was given.
            if saved.get(f.name).is_none_or(|s| mask(&last4(s)) != v) {
                errors.push(FieldError::new(f.name, format!("“{v}” is how a saved key is shown, not a key: enter the whole key, or leave the field empty to keep the saved one.")));
            }
            continue;
        }
        let present = !v.is_empty() || (f.secret() && saved.get(f.name).is_some_and(|s| !s.is_empty()));
        if f.required && !present {
            errors.push(FieldError::new(f.name, format!("Enter the {}.", f.label.to_lowercase())));
            continue;
        }
        if v.is_empty() {
            continue;
        }
        if v.chars().count() > 2000 {
            errors.push(FieldError::new(f.name, "Use at most 2,000 characters."));
            continue;
        }
        match f.kind {
            FieldKind::Url => {
                if let Err(e) = super::outbound::parse_url(v) {
                    errors.push(FieldError::new(f.name, e.message));
                }
            }
            FieldKind::Choice(options) if !options.iter().any(|(value, _)| *value == v) => {
                errors.push(FieldError::new(
                    f.name,
                    format!("Choose one of: {}.", options.iter().map(|(_, l)| *l).collect::<Vec<_>>().join(", ")),
                ));
            }
            FieldKind::Count { max } => {
                if let Err(e) = crate::domain::query::whole(f.label, v, 1, max) {
                    errors.push(FieldError::new(f.name, e.message));
                }
            }
            FieldKind::Secret if v.chars().any(char::is_control) => {
                errors.push(FieldError::new(
                    f.name,
                    "The key contains a line break or control character; paste it again.",
                ));
            }
            _ => {}
        }
    }
    if errors.is_empty() { Ok((kind, name)) } else { Err(Refusal::Fields(errors)) }
}

fn last4(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}
