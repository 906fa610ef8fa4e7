//! Creating, changing, revealing, regenerating and deleting Data Hub keys,
//! for the key editor and the JSON API alike: every check (each naming its
//! field and row), the audit entry, and the snapshot update that puts the
//! change in force for the very next request.
use chrono::{DateTime, Utc};

use crate::domain::header_template::{self, HeaderRow};
use crate::domain::hub_keys::{self as rules, AccessType, KeyStatus};
use crate::domain::ip_filter;
use crate::domain::query::count;
use crate::entities::hub_keys;
use crate::refusal::{FieldError, Refusal};
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::audit::Target;
use crate::store::hub_keys::{KeySpec, NewSecret, SaveOutcome};

/// The expire date as the caller gave it.
#[derive(Debug, Clone)]
pub enum ExpiryInput {
    /// The editor: local date-time text and the browser's offset (minutes east of UTC).
    Local { text: String, offset_minutes: i32 },
    /// The API: an instant, or none for never.
    At(Option<DateTime<Utc>>),
}

impl Default for ExpiryInput {
    fn default() -> Self {
        ExpiryInput::At(None)
    }
}

/// One IP filter row as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpRow {
    pub range: String,
    pub netmask: String,
}

/// A key as submitted, before checking.
#[derive(Debug, Clone, Default)]
pub struct KeyInput {
    pub name: String,
    pub access_type: String,
    pub status: String,
    pub ip_filters: Vec<IpRow>,
    /// The admin confirmed a row that allows every address.
    pub allow_all_addresses: bool,
    pub expires: ExpiryInput,
    pub headers: Vec<HeaderRow>,
    pub endpoint_ids: Vec<i64>,
    pub user_ids: Vec<i64>,
    pub team_ids: Vec<i64>,
    /// A generic token's value; `None` (or empty on an update) keeps the current one.
    pub token: Option<String>,
    /// The rate limit (requests per window seconds) and monthly quota as
    /// typed; empty for none.
    pub rate_requests: String,
    pub rate_window: String,
    pub monthly_quota: String,
    /// The version the editor was opened at; a newer saved version refuses the save.
    pub version: Option<i64>,
}

/// A successful save: the key, a new secret to show once (API keys), and
/// what the admin should read (normalised rows, weak tokens).
#[derive(Debug)]
pub struct Saved {
    pub key: hub_keys::Model,
    pub secret: Option<String>,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn target(k: &hub_keys::Model) -> Target {
    Target { kind: "hub_key", id: k.id, name: k.name.clone() }
}

/// The rows of the stored filters, as the editor and API show them.
pub fn ip_rows(k: &hub_keys::Model) -> Vec<IpRow> {
    k.ip_filters
        .iter()
        .map(|n| {
            let f = ip_filter::Filter(*n);
            IpRow { range: f.range(), netmask: f.netmask() }
        })
        .collect()
}

pub fn header_rows(k: &hub_keys::Model) -> Vec<HeaderRow> {
    k.headers.0.clone()
}

struct Checked {
    spec: KeySpec,
    access: AccessType,
    token: Option<String>,
    notes: Vec<String>,
    warnings: Vec<String>,
}

async fn check(
    state: &AppState,
    workspace_id: i64,
    current: Option<&hub_keys::Model>,
    input: &KeyInput,
) -> Result<Checked, Refusal> {
    let mut errors: Vec<FieldError> = Vec::new();
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    let name = match rules::clean_name(&input.name) {
        Ok(n) => n,
        Err(m) => {
            errors.push(FieldError::new("name", m));
            String::new()
        }
    };
    let access = AccessType::parse(&input.access_type);
    if access.is_none() {
        errors.push(FieldError::new("access_type", "Choose an access type: API Key, Portal token or Generic token."));
    }
    let status = KeyStatus::parse(&input.status);
    if status.is_none() {
        errors.push(FieldError::new("status", "Choose a status: active or inactive."));
    }
    let mut nets = Vec::new();
    let filled: Vec<(usize, &IpRow)> = input
        .ip_filters
        .iter()
        .enumerate()
        .filter(|(_, r)| !(r.range.trim().is_empty() && r.netmask.trim().is_empty()))
        .collect();
    if filled.len() > 100 {
        errors.push(FieldError::new("ip_filters", "A key has at most 100 IP filter rows."));
    }
    for (i, row) in filled {
        match ip_filter::parse(&row.range, &row.netmask) {
            Ok(p) if p.allows_all() && !input.allow_all_addresses => errors.push(FieldError::new(
                format!("ip_filters.{i}"),
                format!("{} allows every address. Confirm “allow every address”, or leave the filter empty (which also allows any address).", ip_filter::Filter(p.net)),
            )),
            Ok(p) => {
                if let Some(n) = p.note {
                    notes.push(n);
                }
                // Stored as its network (`10.1.0.0/16` for `10.1.2.3/16`), as shown.
                let net = p.net.trunc();
                if nets.contains(&net) {
                    errors.push(FieldError::new(format!("ip_filters.{i}"), format!("{} is listed twice.", ip_filter::Filter(net))));
                } else {
                    nets.push(net);
                }
            }
            Err(m) => errors.push(FieldError::new(format!("ip_filters.{i}"), m)),
        }
    }
    let now = Utc::now();
    let stored = current.and_then(|c| c.expires_at);
    // An unchanged date is kept even when past (e.g. to deactivate an expired key).
    let expires_at = match &input.expires {
        ExpiryInput::Local { text, offset_minutes }
            if stored.is_some_and(|at| shown_local(at, *offset_minutes) == text.trim()) =>
        {
            Ok(stored)
        }
        ExpiryInput::Local { text, offset_minutes } => rules::parse_local_expiry(text, *offset_minutes, now),
        ExpiryInput::At(Some(t)) if stored == Some(*t) => Ok(stored),
        ExpiryInput::At(Some(t)) => rules::check_future(*t, now).map(Some),
        ExpiryInput::At(None) => Ok(None),
    };
    let expires_at = expires_at.unwrap_or_else(|m| {
        errors.push(FieldError::new("expires_at", m));
        None
    });
    if input.headers.len() > header_template::MAX_ROWS * 2 {
        errors.push(FieldError::new("headers", format!("A key has at most {} headers.", header_template::MAX_ROWS)));
    }
    let headers: Vec<HeaderRow> = match header_template::check_rows(&input.headers) {
        Ok(rules) => rules
            .into_iter()
            .map(|r| HeaderRow { name: r.name, value: r.template.to_string(), exclude: r.exclude })
            .collect(),
        Err(errs) => {
            for (i, m) in errs {
                errors.push(FieldError::new(format!("headers.{i}"), m));
            }
            Vec::new()
        }
    };
    let mut endpoint_ids = input.endpoint_ids.clone();
    endpoint_ids.sort_unstable();
    endpoint_ids.dedup();
    let known: Vec<i64> =
        crate::store::datahub::endpoints(&state.db, workspace_id).await?.into_iter().map(|e| e.id).collect();
    if let Some(bad) = endpoint_ids.iter().find(|e| !known.contains(e)) {
        errors.push(FieldError::new("endpoint_ids", format!("There is no endpoint with id {bad} in this workspace.")));
    }
    let (mut user_ids, mut team_ids) = (Vec::new(), Vec::new());
    if access == Some(AccessType::PortalToken) {
        user_ids = input.user_ids.clone();
        user_ids.sort_unstable();
        user_ids.dedup();
        team_ids = input.team_ids.clone();
        team_ids.sort_unstable();
        team_ids.dedup();
        let members: Vec<i64> =
            crate::store::members::list(&state.db, workspace_id).await?.into_iter().map(|m| m.member.user_id).collect();
        if let Some(bad) = user_ids.iter().find(|u| !members.contains(u)) {
            errors.push(FieldError::new("user_ids", format!("User {bad} is not a member of this workspace.")));
        }
        let teams: Vec<i64> =
            crate::store::teams::list(&state.db, workspace_id).await?.into_iter().map(|t| t.id).collect();
        if let Some(bad) = team_ids.iter().find(|t| !teams.contains(t)) {
            errors.push(FieldError::new("team_ids", format!("There is no team with id {bad} in this workspace.")));
        }
        if user_ids.is_empty() && team_ids.is_empty() {
            errors.push(FieldError::new(
                "user_ids",
                "Choose at least one user or team whose personal keys this portal token accepts.",
            ));
        }
    }
    let mut token = None;
    if access == Some(AccessType::GenericToken) {
        let typed = input.token.as_deref().unwrap_or("");
        let keep = typed.is_empty() && current.is_some_and(|c| *c.access_type == AccessType::GenericToken);
        if !keep {
            match rules::check_generic_token(typed) {
                Ok(w) => {
                    warnings.extend(w);
                    token = Some(typed.to_owned());
                }
                Err(m) => errors.push(FieldError::new("token", m)),
            }
        }
    }
    let limits = crate::domain::limits::parse_form(&input.rate_requests, &input.rate_window, &input.monthly_quota)
        .unwrap_or_else(|(f, m)| {
            errors.push(FieldError::new(limit_field(f), m));
            Default::default()
        });
    if !errors.is_empty() {
        return Err(Refusal::Fields(errors));
    }
    let (access, status) = (access.unwrap_or(AccessType::ApiKey), status.unwrap_or(KeyStatus::Active));
    let spec = KeySpec {
        name,
        access_type: access,
        status,
        ip_filters: nets,
        headers,
        expires_at,
        endpoint_ids,
        user_ids,
        team_ids,
        limits,
    };
    Ok(Checked { spec, access, token, notes, warnings })
}

/// `at` as the editor shows it to a browser `offset_minutes` east of UTC.
fn shown_local(at: DateTime<Utc>, offset_minutes: i32) -> String {
    // The offset comes from the browser: checked, so no value can overflow.
    at.checked_add_signed(chrono::Duration::minutes(i64::from(offset_minutes)))
        .unwrap_or(at)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

/// The editor's (and the service's) name of a limit field.
pub fn limit_field(f: crate::domain::limits::LimitField) -> &'static str {
    use crate::domain::limits::LimitField;
    match f {
        LimitField::Requests => "rate_limit_requests",
        LimitField::Window => "rate_limit_window",
        LimitField::Quota => "monthly_quota",
    }
}

/// The limits as the form shows them: (requests, window, quota), empty for none.
pub fn limit_texts(l: &crate::domain::limits::Limits) -> (String, String, String) {
    (
        l.rate.map(|r| r.requests.to_string()).unwrap_or_default(),
        l.rate.map(|r| r.window_seconds.to_string()).unwrap_or_default(),
        l.monthly_quota.map(|q| q.to_string()).unwrap_or_default(),
    )
}

pub fn limits_of(k: &hub_keys::Model) -> crate::domain::limits::Limits {
    crate::domain::limits::Limits::from_stored(k.rate_limit_requests, k.rate_limit_window, k.monthly_quota)
}

fn field(name: &str, message: &str) -> Refusal {
    Refusal::field(name, message)
}

fn outcome(o: SaveOutcome) -> Result<hub_keys::Model, Refusal> {
    match o {
        SaveOutcome::Saved(k) => Ok(*k),
        SaveOutcome::NameTaken => Err(field(
            "name",
            "Another key in this workspace has this name (names are compared ignoring case). Choose another name.",
        )),
        SaveOutcome::TokenTaken => {
            Err(field("token", "Another key in this workspace uses this token; tokens must be unique."))
        }
        SaveOutcome::Conflict(k) => Err(Refusal::Conflict(format!(
            "The key was changed since you read it (now at version {}, by user {}); read it again and reapply your change.",
            k.version,
            k.updated_by.map_or_else(|| "unknown".to_owned(), |u| u.to_string())
        ))),
        SaveOutcome::Gone => Err(Refusal::NotFound),
    }
}

fn describe(spec: &KeySpec) -> String {
    format!(
        "{}; {}; {}; {}; {}; expires {}.",
        spec.access_type.label(),
        spec.status.as_str(),
        count(spec.ip_filters.len() as u64, "IP filter", "IP filters"),
        count(spec.headers.len() as u64, "header", "headers"),
        count(spec.endpoint_ids.len() as u64, "endpoint", "endpoints"),
        spec.expires_at.map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
    )
}

/// Creates (`id` none) or changes a key.
pub async fn save(state: &AppState, actor: &Actor, id: Option<i64>, input: &KeyInput) -> Result<Saved, Refusal> {
    let current = match id {
        Some(id) => {
            Some(crate::store::hub_keys::find(&state.db, actor.workspace_id, id).await?.ok_or(Refusal::NotFound)?)
        }
        None => None,
    };
    let checked = check(state, actor.workspace_id, current.as_ref(), input).await?;
    // A new API key, or a key switched to API Key, gets a fresh secret.
    let generated = (checked.access == AccessType::ApiKey
        && current.as_ref().is_none_or(|c| *c.access_type != AccessType::ApiKey))
    .then(rules::generate_secret);
    let secret = match (&generated, &checked.token) {
        (Some(s), _) => Some(NewSecret {
            digest: crate::domain::tokens::digest(s),
            suffix: rules::suffix(s),
            seal: Some((&state.sealer, s.as_str())),
        }),
        (None, Some(t)) => {
            Some(NewSecret { digest: crate::domain::tokens::digest(t), suffix: rules::suffix(t), seal: None })
        }
        _ => None,
    };
    let saved = match &current {
        None => outcome(
            crate::store::hub_keys::create(&state.db, actor.workspace_id, &checked.spec, secret, Some(actor.user_id))
                .await?,
        )?,
        Some(c) => outcome(
            crate::store::hub_keys::update(
                &state.db,
                actor.workspace_id,
                c.id,
                input.version,
                &checked.spec,
                secret,
                Some(actor.user_id),
            )
            .await?,
        )?,
    };
    state.changes.apply_now().await;
    let (action, what) =
        if current.is_none() { ("hub_key.created", "Created") } else { ("hub_key.changed", "Changed") };
    let detail = format!("{what}: {}", describe(&checked.spec));
    crate::store::audit::record(&state.db, actor.event(action, target(&saved), detail)).await?;
    crate::notify::webhooks::emit(state, saved.workspace_id, action, crate::notify::webhooks::hub_key_data(&saved))
        .await;
    Ok(Saved { key: saved, secret: generated, notes: checked.notes, warnings: checked.warnings })
}

/// The API key's secret, for an explicit, audited request.
pub async fn reveal(state: &AppState, actor: &Actor, key: &hub_keys::Model) -> Result<String, Refusal> {
    let secret = open_secret(state, key)?;
    crate::store::audit::record(
        &state.db,
        actor.event("hub_key.revealed", target(key), "The secret was shown.".into()),
    )
    .await?;
    Ok(secret)
}

/// The API key's secret, unsealed. Not audited by itself: callers show it
/// right after the audited change that made it (create, regenerate) or audit
/// the showing (`reveal`).
pub fn open_secret(state: &AppState, key: &hub_keys::Model) -> Result<String, Refusal> {
    if *key.access_type != AccessType::ApiKey {
        return Err(field(
            "access_type",
            "Only an API Key has a secret to show; a generic token is shown to nobody after saving, and a portal token has none.",
        ));
    }
    key.secret_sealed
        .as_deref()
        .and_then(|s| state.sealer.open(&crate::store::hub_keys::seal_context(key.id), s))
        .ok_or_else(|| field("secret", "The stored secret cannot be opened (it was sealed for another key or with another master secret). Regenerate it."))
}

/// A new secret for an API key; the old one stops working with this change.
pub async fn regenerate(
    state: &AppState,
    actor: &Actor,
    key: &hub_keys::Model,
) -> Result<(hub_keys::Model, String), Refusal> {
    if *key.access_type != AccessType::ApiKey {
        return Err(field(
            "access_type",
            "Only an API Key's secret can be regenerated; change a generic token by typing a new value.",
        ));
    }
    let s = rules::generate_secret();
    let secret = NewSecret {
        digest: crate::domain::tokens::digest(&s),
        suffix: rules::suffix(&s),
        seal: Some((&state.sealer, s.as_str())),
    };
    let saved = crate::store::hub_keys::replace_secret(&state.db, key, secret, Some(actor.user_id))
        .await?
        .ok_or(Refusal::NotFound)?;
    state.changes.apply_now().await;
    crate::store::audit::record(
        &state.db,
        actor.event(
            "hub_key.regenerated",
            target(&saved),
            "A new secret replaced the old one, which stopped working at once.".into(),
        ),
    )
    .await?;
    let data = crate::notify::webhooks::hub_key_data(&saved);
    crate::notify::webhooks::emit(state, saved.workspace_id, "hub_key.regenerated", data).await;
    Ok((saved, s))
}

/// Paths of the endpoints that lose the key when it is deleted.
pub async fn endpoints_of(
    state: &AppState,
    key: &hub_keys::Model,
) -> Result<Vec<crate::entities::endpoints::Model>, sea_orm::DbErr> {
    let links = crate::store::hub_keys::links(&state.db, key.id).await?;
    Ok(crate::store::datahub::endpoints(&state.db, key.workspace_id)
        .await?
        .into_iter()
        .filter(|e| links.endpoint_ids.contains(&e.id))
        .collect())
}

pub async fn delete(state: &AppState, actor: &Actor, key: &hub_keys::Model) -> Result<(), Refusal> {
    let lost = endpoints_of(state, key).await?;
    crate::store::hub_keys::delete(&state.db, key).await?;
    state.changes.apply_now().await;
    crate::notify::webhooks::emit(
        state,
        key.workspace_id,
        "hub_key.deleted",
        crate::notify::webhooks::hub_key_data(key),
    )
    .await;
    let detail = if lost.is_empty() {
        "Deleted.".to_owned()
    } else {
        format!(
            "Deleted; the endpoints {} no longer accept it.",
            lost.iter().map(|e| e.path.as_str()).collect::<Vec<_>>().join(", ")
        )
    };
    crate::store::audit::record(&state.db, actor.event("hub_key.deleted", target(key), detail)).await?;
    Ok(())
}

/// Unlinks an endpoint that is about to go from every key (logged per key,
/// so every node's snapshot forgets it too).
pub async fn unlink_endpoint(state: &AppState, e: &crate::entities::endpoints::Model) -> Result<(), sea_orm::DbErr> {
    crate::store::hub_keys::set_endpoint_keys(&state.db, e.workspace_id, e.id, &[]).await?;
    state.changes.apply_now().await;
    Ok(())
}

/// Sets which keys an endpoint accepts (the endpoint's side of the links).
pub async fn set_endpoint_keys(
    state: &AppState,
    workspace_id: i64,
    endpoint_id: i64,
    key_ids: &[i64],
) -> Result<(), Refusal> {
    let mut ids = key_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let known = crate::store::hub_keys::existing_ids(&state.db, workspace_id, &ids).await?;
    if let Some(bad) = ids.iter().find(|k| !known.contains(k)) {
        return Err(field("hub_key_ids", &format!("There is no Data Hub key with id {bad} in this workspace.")));
    }
    crate::store::hub_keys::set_endpoint_keys(&state.db, workspace_id, endpoint_id, &ids).await?;
    state.changes.apply_now().await;
    Ok(())
}

/// Creates or changes a team (Admin → Teams); `Err((field, message))`.
pub async fn save_team(
    state: &AppState,
    actor: &Actor,
    id: Option<i64>,
    name: &str,
    member_ids: &[i64],
) -> Result<crate::entities::teams::Model, Refusal> {
    let name = rules::clean_team_name(name).map_err(|m| field("name", m))?;
    let members: Vec<i64> = crate::store::members::list(&state.db, actor.workspace_id)
        .await?
        .into_iter()
        .map(|m| m.member.user_id)
        .collect();
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if let Some(bad) = ids.iter().find(|u| !members.contains(u)) {
        return Err(field("member_ids", &format!("User {bad} is not a member of this workspace.")));
    }
    let team = crate::store::teams::save(&state.db, actor.workspace_id, id, &name, &ids)
        .await?
        .ok_or_else(|| field("name", "Another team in this workspace has this name."))?;
    state.changes.apply_now().await;
    let action = if id.is_none() { "team.created" } else { "team.changed" };
    let t = Target { kind: "team", id: team.id, name: team.name.clone() };
    crate::store::audit::record(
        &state.db,
        actor.event(action, t, format!("{}.", count(ids.len() as u64, "member", "members"))),
    )
    .await?;
    Ok(team)
}

pub async fn delete_team(state: &AppState, actor: &Actor, team: &crate::entities::teams::Model) -> Result<(), Refusal> {
    crate::store::teams::delete(&state.db, team).await?;
    state.changes.apply_now().await;
    let t = Target { kind: "team", id: team.id, name: team.name.clone() };
    crate::store::audit::record(
        &state.db,
        actor.event("team.deleted", t, "Deleted; portal tokens no longer admit its members through it.".into()),
    )
    .await?;
    Ok(())
}
