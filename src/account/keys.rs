//! Personal keys: the rules of generating one, shared by the keys page and
//! `keyhub keys create`. A key carries a subset of what its owner holds now
//! in its workspace; its label is unique among the owner's keys there.
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use crate::domain::PermissionSet;
use crate::domain::keys::{KeyLabel, KeySecret};
use crate::entities::personal_keys;
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::{Actor, Event, Target};

/// Creates the key and records `key.created`; the secret is returned once
/// and stored only as its digest. Callers tell the key snapshots (the web
/// app's verifier, or the change marker other nodes watch).
/// The key is the actor's own, in the actor's workspace.
pub async fn generate(
    db: &impl ConnectionTrait,
    by: &Actor,
    holds: &PermissionSet,
    label: &KeyLabel,
    permissions: &PermissionSet,
    expires_at: Option<DateTime<Utc>>,
    limits: crate::domain::limits::Limits,
) -> Result<(personal_keys::Model, KeySecret), Refusal> {
    let (workspace_id, user_id) = (by.workspace_id, by.user_id);
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
    let new =
        crate::store::keys::NewKey { workspace_id, user_id, label, permissions, secret: &secret, expires_at, limits };
    let key = crate::store::keys::create(db, new).await?;
    let detail = format!(
        "Permissions: {}; {}.",
        if permissions.is_empty() { "none".into() } else { permissions.to_stored() },
        key.expires_at
            .map(|t| format!("expires {}", t.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_else(|| "never expires".into())
    );
    crate::store::audit::record(db, by.event("key.created", Target::key(&key), detail)).await?;
    tracing::info!(key_id = key.id, identifier = %key.identifier, "personal key created");
    Ok((key, secret))
}

/// The sentence when a rotation lost to another one.
pub const ROTATED_MEANWHILE: &str = "This key was rotated by another request a moment ago, so this rotation did not happen: the secret that request showed is the one that works. Reload the keys page to see the key as it is now.";

/// Gives the key a new secret; the old one keeps working until `until` (or
/// stops now). Audited under the key as it was before (its old identifier).
/// `Conflict` when another rotation won meanwhile.
pub async fn rotate(
    state: &AppState,
    by: &Actor,
    key: &personal_keys::Model,
    until: Option<DateTime<Utc>>,
    note: String,
) -> Result<KeySecret, Refusal> {
    let secret = KeySecret::generate();
    if !crate::store::keys::rotate(&state.db, key, &secret, until).await? {
        return Err(Refusal::Conflict(ROTATED_MEANWHILE.into()));
    }
    state.keys.key_changed(key.workspace_id, key.id).await?;
    crate::store::audit::record(&state.db, by.event("key.rotated", Target::key(key), note)).await?;
    Ok(secret)
}

/// The owner revokes their key; `false` when it was no longer active.
pub async fn revoke(state: &AppState, by: &Actor, key: &personal_keys::Model) -> Result<bool, Refusal> {
    let done = crate::store::keys::revoke(&state.db, key.id).await?;
    retired(state, by, key, done, "key.revoked", "Revoked by its owner.").await
}

/// The owner deletes a key that no longer works; `false` when it still works.
pub async fn delete(state: &AppState, by: &Actor, key: &personal_keys::Model) -> Result<bool, Refusal> {
    let done = crate::store::keys::delete_revoked(&state.db, key.id).await?;
    retired(state, by, key, done, "key.deleted", "Deleted.").await
}

async fn retired(
    state: &AppState,
    by: &Actor,
    key: &personal_keys::Model,
    done: bool,
    action: &'static str,
    detail: &str,
) -> Result<bool, Refusal> {
    if done {
        state.keys.key_changed(key.workspace_id, key.id).await?;
        crate::store::audit::record(&state.db, by.event(action, Target::key(key), detail.into())).await?;
        if action == "key.revoked" {
            let data = crate::notify::webhooks::personal_key_data(key);
            crate::notify::webhooks::emit(state, key.workspace_id, "key.revoked", data).await;
        }
    }
    Ok(done)
}

/// Records that a request used a revoked or expired key, for its owner to see.
/// Best effort: the request is refused whether or not this is written.
pub async fn record_refused(
    state: &AppState,
    action: &'static str,
    (key_id, workspace_id, owner_id): (i64, i64, i64),
    ip: Option<String>,
) {
    let target = match crate::store::keys::find(&state.db, workspace_id, key_id, None).await {
        Ok(Some(k)) => Target::key(&k),
        _ => Target { kind: "key", id: key_id, name: format!("key #{key_id}") },
    };
    let event = Event {
        workspace_id,
        actor_user_id: Some(owner_id),
        actor_name: None,
        target: Some(target),
        action,
        detail: "A request used this key and was refused.".into(),
        ip,
    };
    if let Err(e) = crate::store::audit::record(&state.db, event).await {
        tracing::warn!(error = %e, "auditing a refused key failed");
    }
}
