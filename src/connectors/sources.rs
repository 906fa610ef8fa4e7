//! Configured sources, for the wizard and the JSON API alike: saving the
//! credentials (secrets sealed, never rendered back), testing, choosing
//! streams, linking to an entity and activating.
use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::Set;
use serde::{Deserialize, Serialize};

use super::runs::{self, StreamRun, stream_runs};
use super::{Config, ConnectorError, Ctx, ErrorClass, FieldKind, Outbound, StreamInfo};
use crate::entities::sources;
use crate::refusal::{FieldError, Refusal};
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::audit::Target;
use crate::store::live_data as store;

fn field(name: &str, message: impl Into<String>) -> Refusal {
    Refusal::field(name, message)
}

/// The status words.
pub const DRAFT: &str = "draft";
pub const ACTIVE: &str = "active";
pub const FAILING: &str = "failing";

/// Sync modes of a stream.
pub const FULL: &str = "full";
pub const INCREMENTAL: &str = "incremental";

/// How one stream syncs: `full` refresh (the default), or `incremental`
/// after the last value of `cursor` (a column of the stream).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct StreamMode {
    pub mode: String,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The last failure of a source, kept for Diagnostics.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Failure {
    pub at: chrono::DateTime<Utc>,
    /// `test` or `sync`.
    pub during: String,
    pub run_id: Option<i64>,
    pub stream: Option<String>,
    pub error: ConnectorError,
}

pub fn stream_modes(s: &sources::Model) -> BTreeMap<String, StreamMode> {
    serde_json::from_str(&s.stream_modes).unwrap_or_default()
}

pub fn last_failure(s: &sources::Model) -> Option<Failure> {
    s.last_failure.as_deref().and_then(|f| serde_json::from_str(f).ok())
}

/// Records a failure on the row being saved: since when it fails, how often.
pub fn note_failure(m: &mut sources::ActiveModel, s: &sources::Model, f: &Failure) {
    m.last_failure = Set(Some(serde_json::to_string(f).unwrap_or_default()));
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

/// The outcome of the last test, as stored and shown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TestResult {
    pub ok: bool,
    pub error: Option<ConnectorError>,
    /// Streams found (on success).
    pub streams: usize,
    /// The record the test read, secrets masked (on success).
    #[serde(default)]
    pub sample: Option<Sample>,
}

/// The one record a connection test reads, as the page and the API show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Sample {
    pub stream: String,
    /// Field → value (text); at most `SAMPLE_FIELDS` fields, secrets masked.
    #[schema(value_type = Object)]
    pub record: serde_json::Map<String, serde_json::Value>,
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
    serde_json::from_str(&s.config).unwrap_or_default()
}

/// Secret field → last four characters.
pub fn secret_hints(s: &sources::Model) -> BTreeMap<String, String> {
    serde_json::from_str(&s.secret_hints).unwrap_or_default()
}

pub fn chosen_streams(s: &sources::Model) -> Vec<String> {
    serde_json::from_str(&s.streams).unwrap_or_default()
}

pub fn catalog(s: &sources::Model) -> Vec<StreamInfo> {
    s.catalog.as_deref().and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default()
}

pub fn last_test(s: &sources::Model) -> Option<TestResult> {
    s.last_test.as_deref().and_then(|t| serde_json::from_str(t).ok())
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

/// A saved source and what saving did to its credentials.
pub struct Saved {
    pub source: sources::Model,
    /// Secret fields dropped because the source's address changed.
    pub cleared: Vec<String>,
}

/// The sentence pages and the API show when `cleared` is not empty.
pub fn cleared_sentence(cleared: &[String]) -> String {
    format!(
        "The source's address changed, so its saved {} {} cleared: a key is never sent to a new address. Enter it again.",
        cleared.join(" and "),
        if cleared.len() == 1 { "was" } else { "were" }
    )
}

/// Step 1: saves a new draft (`existing` none) or changed credentials.
/// Changing the connection (URL, key…) clears the last test: it must pass
/// again. Changing the address (scheme, host or port of a URL field) clears
/// every saved secret not entered anew in the same input: whoever may edit a
/// source must not be able to send its key to a server of their choosing.
pub async fn save_credentials(
    state: &AppState,
    actor: &Actor,
    existing: Option<&sources::Model>,
    input: &SourceInput,
) -> Result<Saved, Refusal> {
    // Unreadable saved secrets count as none: the form then asks for them.
    let saved_secrets = existing.map(|s| secrets(state, s).unwrap_or_default()).unwrap_or_default();
    let (kind, name) = check_input(input, &saved_secrets)?;
    if existing.is_some_and(|s| s.kind != input.kind) {
        return Err(field("kind", "The kind of a saved source cannot change; create another source."));
    }
    let mut plain = BTreeMap::new();
    let mut secret_values = saved_secrets.clone();
    let mut entered = Vec::new();
    for f in kind.spec().fields {
        let v = input.config.get(f.name).map(|v| v.trim().to_owned()).unwrap_or_default();
        if f.secret() {
            if !v.is_empty() && !v.starts_with(MASK_DOTS) {
                secret_values.insert(f.name.to_owned(), v);
                entered.push(f.name);
            }
        } else if !v.is_empty() {
            let v = if f.kind == FieldKind::Url {
                super::outbound::parse_url(&v).map(|u| u.to_string()).unwrap_or(v)
            } else {
                v
            };
            plain.insert(f.name.to_owned(), v);
        }
    }
    let mut cleared = Vec::new();
    if let Some(s) = existing
        && origins(kind, &plain_config(s)) != origins(kind, &plain)
    {
        secret_values.retain(|k, _| {
            let keep = entered.contains(&k.as_str());
            if !keep {
                cleared.push(k.clone());
            }
            keep
        });
    }
    let hints: BTreeMap<String, String> = secret_values.iter().map(|(k, v)| (k.clone(), last4(v))).collect();
    let plain_json = serde_json::to_string(&plain).unwrap_or_else(|_| "{}".into());
    let connection_changed = existing.is_none_or(|s| s.config != plain_json || saved_secrets != secret_values);
    let now = Utc::now();
    let mut m = match existing {
        Some(s) => sources::ActiveModel::from(s.clone()),
        None => sources::ActiveModel {
            workspace_id: Set(actor.workspace_id),
            kind: Set(kind.spec().kind.to_owned()),
            status: Set(DRAFT.into()),
            streams: Set("[]".into()),
            created_at: Set(now),
            created_by: Set(Some(actor.user_id)),
            ..Default::default()
        },
    };
    m.name = Set(name.clone());
    m.name_key = Set(crate::domain::text::name_key(&name));
    m.look_key = Set(Some(crate::domain::text::look_key(&name)));
    m.config = Set(plain_json);
    m.secret_hints = Set(serde_json::to_string(&hints).unwrap_or_else(|_| "{}".into()));
    m.updated_at = Set(now);
    if connection_changed {
        m.last_test = Set(None);
        m.last_test_at = Set(None);
    }
    if existing.is_none() {
        m.secrets_sealed = Set(None);
    }
    let Some(saved) = store::save_source(&state.db, m).await? else {
        return Err(field("name", "Another source in this workspace has this name. Choose another name."));
    };
    // Sealed with the row id as associated data, so a sealed value copied to
    // another row does not open.
    let sealed = state.sealer.seal(&aad(saved.id), &serde_json::to_string(&secret_values).unwrap_or_default());
    let mut m = sources::ActiveModel::from(saved);
    m.secrets_sealed = Set(Some(sealed));
    let saved =
        store::save_source(&state.db, m).await?.ok_or_else(|| field("name", "Another source has this name."))?;
    let (action, detail) = match existing {
        None => ("source.created", format!("Draft {} source created.", kind.spec().name)),
        Some(_) if connection_changed => {
            ("source.changed", "Connection settings changed; to be tested again.".to_owned())
        }
        Some(_) => ("source.changed", "Renamed.".to_owned()),
    };
    crate::store::audit::record(&state.db, actor.event(action, target(&saved), detail)).await?;
    if !cleared.is_empty() {
        let detail = format!("The address changed; saved {} cleared.", cleared.join(", "));
        crate::store::audit::record(&state.db, actor.event("source.credentials_cleared", target(&saved), detail))
            .await?;
    }
    Ok(Saved { source: saved, cleared })
}

/// Step 2: check, discover, read one record. The outcome (and on success
/// the streams found) is stored on the source; a failing source that
/// passes becomes active again.
pub async fn test(
    state: &AppState,
    actor: &Actor,
    s: &sources::Model,
) -> Result<(sources::Model, TestResult), Refusal> {
    let outcome = match (ctx(state, s), super::kind(&s.kind)) {
        (Ok(cx), Some(kind)) => super::test_connection(kind, &cx, &chosen_streams(s)).await,
        (Err(e), _) => Err(e),
        (Ok(_), None) => Err(ConnectorError::config(format!("keyhub no longer knows the kind “{}”.", s.kind))),
    };
    let now = Utc::now();
    let mut m = sources::ActiveModel::from(s.clone());
    let result = match outcome {
        Ok((streams, read)) => {
            let count = streams.len();
            let secrets: Vec<String> = secrets(state, s).map(|m| m.into_values().collect()).unwrap_or_default();
            let sample = read.map(|(stream, record)| sample_of(&stream, &record, &secrets));
            m.catalog = Set(Some(serde_json::to_string(&streams).unwrap_or_else(|_| "[]".into())));
            // Streams that vanished from the source are no longer chosen.
            let kept: Vec<String> =
                chosen_streams(s).into_iter().filter(|c| streams.iter().any(|st| st.name == *c)).collect();
            m.streams = Set(serde_json::to_string(&kept).unwrap_or_else(|_| "[]".into()));
            if s.status == FAILING {
                m.status = Set(ACTIVE.into());
                // Its schedule stood still while failing: the next run is one
                // interval from now, not a time that passed meanwhile (which
                // would start a sync the moment the test passed).
                m.next_sync_at = Set(next_from_now(s));
            }
            note_success(&mut m);
            TestResult { ok: true, error: None, streams: count, sample }
        }
        Err(e) => {
            note_failure(
                &mut m,
                s,
                &Failure { at: now, during: "test".into(), run_id: None, stream: None, error: e.clone() },
            );
            TestResult { ok: false, error: Some(e), streams: 0, sample: None }
        }
    };
    m.last_test = Set(Some(serde_json::to_string(&result).unwrap_or_default()));
    m.last_test_at = Set(Some(now));
    let saved = store::save_source(&state.db, m).await?.ok_or(Refusal::NotFound)?;
    let detail = match &result.error {
        None => format!("Connection test passed; {} streams.", result.streams),
        Some(e) => format!("Connection test failed: {}.", e.class.title()),
    };
    crate::store::audit::record(&state.db, actor.event("source.tested", target(&saved), detail)).await?;
    Ok((saved, result))
}

/// Step 3: the streams to sync, from those the last test found.
pub async fn choose_streams(
    state: &AppState,
    actor: &Actor,
    s: &sources::Model,
    names: &[String],
) -> Result<sources::Model, Refusal> {
    if !last_test(s).is_some_and(|t| t.ok) {
        return Err(Refusal::NotReady("Test the connection first: streams are listed after a successful test.".into()));
    }
    let catalog = catalog(s);
    let mut chosen: Vec<String> = Vec::new();
    for n in names {
        if !catalog.iter().any(|st| st.name == *n) {
            return Err(field("streams", format!("“{n}” is not a stream of this source.")));
        }
        if !chosen.contains(n) {
            chosen.push(n.clone());
        }
    }
    if chosen.is_empty() {
        return Err(field("streams", "Choose at least one stream."));
    }
    let mut m = sources::ActiveModel::from(s.clone());
    m.streams = Set(serde_json::to_string(&chosen).unwrap_or_else(|_| "[]".into()));
    m.updated_at = Set(Utc::now());
    let saved = store::save_source(&state.db, m).await?.ok_or(Refusal::NotFound)?;
    crate::store::audit::record(
        &state.db,
        actor.event("source.changed", target(&saved), format!("Streams: {}.", chosen.join(", "))),
    )
    .await?;
    Ok(saved)
}

/// Links the source (and its tabs) to an entity of the workspace, or unlinks it.
pub async fn link(
    state: &AppState,
    actor: &Actor,
    s: &sources::Model,
    entity_id: Option<i64>,
) -> Result<sources::Model, Refusal> {
    let entity = match entity_id {
        Some(id) => Some(
            store::entity(&state.db, actor.workspace_id, id)
                .await?
                .ok_or_else(|| field("entity_id", "There is no such entity in this workspace."))?,
        ),
        None => None,
    };
    let mut m = sources::ActiveModel::from(s.clone());
    m.entity_id = Set(entity_id);
    m.updated_at = Set(Utc::now());
    let saved = store::save_source(&state.db, m).await?.ok_or(Refusal::NotFound)?;
    store::set_tabs_entity(&state.db, s.id, entity_id).await?;
    let (kind, detail) = match &entity {
        Some(e) => ("source.linked", format!("Linked to the entity {}.", e.name)),
        None => ("source.unlinked", "Unlinked from its entity.".to_owned()),
    };
    crate::store::audit::record(&state.db, actor.event(kind, target(&saved), detail)).await?;
    Ok(saved)
}

/// Unlinks a source from its entity: its tabs stay on the entity (no longer
/// synced) when `keep_tabs`, else they go with their datasets.
pub async fn unlink(state: &AppState, actor: &Actor, s: &sources::Model, keep_tabs: bool) -> Result<(), Refusal> {
    if keep_tabs {
        store::detach_tabs(&state.db, s.id).await?;
    } else {
        remove_tabs(state, actor, s).await?;
    }
    link(state, actor, s, None).await?;
    Ok(())
}

async fn remove_tabs(state: &AppState, actor: &Actor, s: &sources::Model) -> Result<(), Refusal> {
    for tab in store::tabs_of_source(&state.db, s.id).await? {
        store::delete_tab(&state.db, tab.id).await?;
        if let Some(ds) = crate::store::datahub::dataset_any(&state.db, s.workspace_id, tab.dataset_id).await? {
            crate::datasets::service::delete(state, actor, &ds).await?;
        }
    }
    Ok(())
}

/// Step 4: makes the source active and starts its first sync.
pub async fn activate(state: &AppState, actor: &Actor, s: &sources::Model) -> Result<(sources::Model, i64), Refusal> {
    if !last_test(s).is_some_and(|t| t.ok) {
        return Err(Refusal::NotReady("Test the connection (and have it pass) before activating.".into()));
    }
    if chosen_streams(s).is_empty() {
        return Err(Refusal::NotReady("Choose at least one stream before activating.".into()));
    }
    let mut m = sources::ActiveModel::from(s.clone());
    if s.status == DRAFT {
        m.status = Set(ACTIVE.into());
    }
    m.updated_at = Set(Utc::now());
    let saved = store::save_source(&state.db, m).await?.ok_or(Refusal::NotFound)?;
    if s.status == DRAFT {
        crate::store::audit::record(&state.db, actor.event("source.activated", target(&saved), "Activated.".into()))
            .await?;
    }
    let run = enqueue(state, &saved, "activate").await?;
    Ok((saved, run))
}

/// Deletes a source and its run history; its tabs (and their datasets) go
/// too unless `keep_tabs`.
pub async fn delete(state: &AppState, actor: &Actor, s: &sources::Model, keep_tabs: bool) -> Result<(), Refusal> {
    if let Some(run) = store::live_run(&state.db, s.id).await? {
        return Err(Refusal::Running(run.id));
    }
    if keep_tabs {
        store::detach_tabs(&state.db, s.id).await?;
    } else {
        remove_tabs(state, actor, s).await?;
    }
    store::delete_source(&state.db, s.id).await?;
    crate::store::audit::record(
        &state.db,
        actor.event(
            "source.deleted",
            target(s),
            if keep_tabs { "Deleted; its tabs were kept." } else { "Deleted with its tabs." }.into(),
        ),
    )
    .await?;
    Ok(())
}

/// Whether a failure says the source's settings are wrong (not worth retrying).
pub fn is_config_failure(class: ErrorClass) -> bool {
    matches!(
        class,
        ErrorClass::Unauthorized
            | ErrorClass::Forbidden
            | ErrorClass::NotFound
            | ErrorClass::Blocked
            | ErrorClass::InvalidConfig
            | ErrorClass::DnsFailure
            | ErrorClass::TlsFailure
    )
}

/// A scheduled source's next run, one interval from now (none when manual).
pub fn next_from_now(s: &sources::Model) -> Option<chrono::DateTime<Utc>> {
    s.schedule_minutes.map(|v| Utc::now() + chrono::Duration::minutes(i64::from(v.max(1))))
}

/// What the sync settings form (and `PATCH /api/v1/sources/{id}`) may change.
#[derive(Debug, Clone, Default)]
pub struct SyncSettings {
    /// Minutes between syncs; none = manual. `Some(None)` in a patch clears it.
    pub schedule_minutes: Option<Option<u32>>,
    pub paused: Option<bool>,
    /// Stream → mode; streams left out keep theirs.
    pub modes: BTreeMap<String, StreamMode>,
}

/// At most a year between scheduled syncs.
pub const MAX_SCHEDULE_MINUTES: u32 = 365 * 24 * 60;

/// Saves the schedule and the streams' sync modes. The next run time starts
/// from now when the schedule changes; paused schedules keep theirs.
/// The checks of `set_sync_settings` alone: the fields at fault, if any.
pub fn check_sync_settings(s: &sources::Model, input: &SyncSettings) -> Result<(), Vec<FieldError>> {
    match resolve_modes(s, input) {
        Ok(_) => Ok(()),
        Err(errors) => Err(errors),
    }
}

/// The streams' modes after `input`, or the fields at fault.
fn resolve_modes(s: &sources::Model, input: &SyncSettings) -> Result<BTreeMap<String, StreamMode>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if let Some(Some(m)) = input.schedule_minutes
        && !(1..=MAX_SCHEDULE_MINUTES).contains(&m)
    {
        errors.push(FieldError::new("schedule", "Choose an interval between 1 minute and 365 days."));
    }
    let catalog = catalog(s);
    let incremental_kind = super::kind(&s.kind).is_some_and(|k| k.incremental());
    let mut modes = stream_modes(s);
    for (stream, mode) in &input.modes {
        let field = format!("modes[{stream}]");
        let Some(info) = catalog.iter().find(|c| c.name == *stream) else {
            errors.push(FieldError::new(field, format!("“{stream}” is not a stream of this source.")));
            continue;
        };
        match mode.mode.as_str() {
            FULL => {
                modes.insert(stream.clone(), StreamMode { mode: FULL.into(), cursor: None });
            }
            INCREMENTAL if !incremental_kind => errors
                .push(FieldError::new(field, "This kind of source reads whole streams only; choose full refresh.")),
            INCREMENTAL => match mode.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
                None => errors.push(FieldError::new(
                    field,
                    "Choose the cursor column: the one whose values grow as records are added or changed.",
                )),
                Some(c) if !info.columns.iter().any(|col| col.source == c || col.name == c) => {
                    errors.push(FieldError::new(field, format!("“{c}” is not a column of this stream.")))
                }
                Some(c) => {
                    let source = info
                        .columns
                        .iter()
                        .find(|col| col.source == c || col.name == c)
                        .map(|col| col.source.clone())
                        .unwrap_or_default();
                    modes.insert(stream.clone(), StreamMode { mode: INCREMENTAL.into(), cursor: Some(source) });
                }
            },
            other => {
                errors.push(FieldError::new(field, format!("“{other}” is not a sync mode: use full or incremental.")))
            }
        }
    }
    if errors.is_empty() { Ok(modes) } else { Err(errors) }
}

pub async fn set_sync_settings(
    state: &AppState,
    actor: &Actor,
    s: &sources::Model,
    input: SyncSettings,
) -> Result<sources::Model, Refusal> {
    let modes = resolve_modes(s, &input).map_err(Refusal::Fields)?;
    let mut m = sources::ActiveModel::from(s.clone());
    let mut said = Vec::new();
    if let Some(schedule) = input.schedule_minutes
        && schedule.map(|v| v as i32) != s.schedule_minutes
    {
        m.schedule_minutes = Set(schedule.map(|v| v as i32));
        m.next_sync_at = Set(schedule.map(|v| Utc::now() + chrono::Duration::minutes(i64::from(v))));
        said.push(match schedule {
            Some(v) => format!("Schedule: every {}.", every_words(v)),
            None => "Schedule: manual.".to_owned(),
        });
    }
    if let Some(p) = input.paused
        && p != s.schedule_paused
    {
        m.schedule_paused = Set(p);
        if !p && s.schedule_minutes.is_some() && s.next_sync_at.is_none_or(|t| t < Utc::now()) {
            m.next_sync_at = Set(s.schedule_minutes.map(|v| Utc::now() + chrono::Duration::minutes(i64::from(v))));
        }
        said.push(if p { "Schedule paused.".to_owned() } else { "Schedule resumed.".to_owned() });
    }
    let modes_json = serde_json::to_string(&modes).unwrap_or_else(|_| "{}".into());
    if modes_json != s.stream_modes {
        m.stream_modes = Set(modes_json);
        said.push(format!(
            "Sync modes: {}.",
            modes
                .iter()
                .map(|(k, v)| format!(
                    "{k} {}{}",
                    v.mode,
                    v.cursor.as_deref().map(|c| format!(" by {c}")).unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if said.is_empty() {
        return Ok(s.clone());
    }
    m.updated_at = Set(Utc::now());
    let saved = store::save_source(&state.db, m).await?.ok_or(Refusal::NotFound)?;
    crate::store::audit::record(&state.db, actor.event("source.changed", target(&saved), said.join(" "))).await?;
    Ok(saved)
}

/// "5 minutes", "2 hours", "1 day".
pub fn every_words(minutes: u32) -> String {
    let plural = |n: u32, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    if minutes.is_multiple_of(1440) {
        plural(minutes / 1440, "day")
    } else if minutes.is_multiple_of(60) {
        plural(minutes / 60, "hour")
    } else {
        plural(minutes, "minute")
    }
}

/// Queues a run of `s`'s chosen streams; `Running(id)` when one is already
/// queued or running.
pub async fn enqueue(state: &AppState, s: &sources::Model, trigger: &str) -> Result<i64, Refusal> {
    if let Some(run) = store::live_run(&state.db, s.id).await? {
        return Err(Refusal::Running(run.id));
    }
    let chosen = chosen_streams(s);
    if chosen.is_empty() {
        return Err(Refusal::NotReady("Choose at least one stream first.".into()));
    }
    let modes = stream_modes(s);
    let streams: Vec<StreamRun> =
        chosen.iter().map(|c| StreamRun::queued(c, modes.get(c).map(|m| m.mode.as_str()).unwrap_or(FULL))).collect();
    let log = runs::log_json(&[runs::line("info", format!("Queued ({trigger})."))]);
    match store::queue_run(&state.db, s, &serde_json::to_string(&streams).unwrap_or_default(), trigger, &log).await {
        Ok(run) => {
            state.jobs.wake();
            Ok(run.id)
        }
        // Another request queued one between our check and our insert.
        Err(e) if crate::store::is_unique_violation(&e) => match store::live_run(&state.db, s.id).await? {
            Some(run) => Err(Refusal::Running(run.id)),
            None => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// Cancels a queued run at once, or asks a running one to stop (its
/// streams' old rows stay). False when the run had already ended.
pub async fn cancel_run(
    state: &AppState,
    run: &crate::entities::sync_runs::Model,
    by: &str,
) -> Result<bool, sea_orm::DbErr> {
    let mut log = runs::log_of(run);
    log.push(runs::line("warning", format!("Cancelled by {by}.")));
    let mut streams = stream_runs(run);
    for s in streams.iter_mut() {
        s.status = runs::CANCELLED.into();
    }
    let streams = serde_json::to_string(&streams).unwrap_or_default();
    let outcome = store::request_cancel(&state.db, run.id, &streams, &runs::log_json(&log)).await?;
    // Running here: stop it now (elsewhere, that node's keeper sees the flag).
    if let Some(control) = state.jobs.mine().get(&run.id) {
        control.request_cancel();
    }
    Ok(outcome != store::Cancel::Ended)
}
