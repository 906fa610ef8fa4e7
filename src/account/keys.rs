//! Personal keys: the rules of generating one, shared by the keys page and
//! `keyhub keys create`. A key carries a subset of what its owner holds now
//! in its workspace; its label is unique among the owner's keys there.
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use crate::domain::PermissionSet;
use crate::domain::keys::{KeyLabel, KeySecret};
use crate::entities::personal_keys;
use crate::refusal::Refusal;
use crate::store::audit::{Event, Target};

/// Who generates the key, as the audit log names them.
pub struct By {
    pub name: String,
    pub ip: Option<String>,
}

/// Creates the key and records `key.created`; the secret is returned once
/// and stored only as its digest. Callers tell the key snapshots (the web
/// app's verifier, or the change marker other nodes watch).
pub async fn generate(
    db: &impl ConnectionTrait,
    (workspace_id, user_id): (i64, i64),
    holds: &PermissionSet,
    label: &KeyLabel,
    permissions: &PermissionSet,
    expires_at: Option<DateTime<Utc>>,
    by: By,
) -> Result<(personal_keys::Model, KeySecret), Refusal> {
    if !permissions.is_subset(holds) {
        return Err(Refusal::field("permission", "A key can only carry permissions you hold now in this workspace."));
    }
    if crate::store::keys::label_taken(db, workspace_id, user_id, label).await? {
        return Err(Refusal::field(
            "label",
            "You already have a key with this label here. Choose a label that says what uses this one.",
        ));
    }
    let secret = KeySecret::generate();
    let new = crate::store::keys::NewKey { workspace_id, user_id, label, permissions, secret: &secret, expires_at };
    let key = crate::store::keys::create(db, new).await?;
    let detail = format!(
        "Permissions: {}; {}.",
        if permissions.is_empty() { "none".into() } else { permissions.to_stored() },
        key.expires_at
            .map(|t| format!("expires {}", t.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_else(|| "never expires".into())
    );
    let event = Event {
        workspace_id,
        actor_user_id: Some(user_id),
        actor_name: Some(by.name),
        action: "key.created",
        target: Some(Target::key(&key)),
        detail,
        ip: by.ip,
    };
    crate::store::audit::record(db, event).await?;
    tracing::info!(key_id = key.id, identifier = %key.identifier, "personal key created");
    Ok((key, secret))
}
