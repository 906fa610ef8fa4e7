//! Verifies personal API keys on every API request without touching the
//! database or hashing slowly: an in-memory snapshot maps the SHA-256 of each
//! secret to the compiled key, together with every membership (to intersect
//! with the owner's rights *now*). Any change to keys or members marks the
//! snapshot stale (locally at once, on other nodes through the shared change
//! marker polled every two seconds); the next request reloads it.
//!
//! Order of checks: format/checksum → lookup → revoked → expired → owner
//! active → (in the handler) permission ∩ owner's current rights.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr, EntityTrait};

use crate::domain::keys::{KeyFormatError, KeySecret, KeyState};
use crate::domain::{PermissionSet, Role};
use crate::entities::members;

/// Why a presented key was refused. Each maps to a stable API error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    Missing,
    Malformed,
    /// Not a key we know: never issued, deleted, or an old secret past its grace.
    Unknown,
    Revoked { key_id: i64, workspace_id: i64, owner_id: i64 },
    Expired { key_id: i64, workspace_id: i64, owner_id: i64 },
    /// The owner was disabled in or removed from the key's workspace.
    OwnerInactive,
}

/// A key that may be used now, with what it may do now.
#[derive(Debug, Clone)]
pub struct VerifiedKey {
    pub key_id: i64,
    pub workspace_id: i64,
    pub owner_id: i64,
    pub label: String,
    pub identifier: String,
    /// The key's permissions ∩ the owner's current permissions in the workspace.
    pub permissions: PermissionSet,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct CompiledKey {
    key_id: i64,
    workspace_id: i64,
    owner_id: i64,
    label: String,
    identifier: String,
    permissions: PermissionSet,
    revoked_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    /// For a secret replaced by rotation: when it stops being accepted.
    accepted_until: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct Snapshot {
    keys: HashMap<[u8; 32], CompiledKey>,
    /// (workspace, user) → what the member may do now; absent or disabled: nothing.
    members: HashMap<(i64, i64), (PermissionSet, bool)>,
    version: Option<String>,
}

pub struct KeyVerifier {
    db: DatabaseConnection,
    snapshot: RwLock<Arc<Snapshot>>,
    stale: AtomicBool,
    reload: tokio::sync::Mutex<()>,
    /// key id → when its last use was written; coalesces writes to one a minute.
    last_written: Mutex<HashMap<i64, Instant>>,
    /// key id → when a refusal was last audited; one entry a minute per key.
    last_refusal_logged: Mutex<HashMap<i64, Instant>>,
}

const WRITE_EVERY: Duration = Duration::from_secs(60);

fn decode_hex32(s: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(s).ok()?;
    bytes.try_into().ok()
}

impl KeyVerifier {
    pub fn new(db: DatabaseConnection) -> Arc<KeyVerifier> {
        Arc::new(KeyVerifier {
            db,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            stale: AtomicBool::new(true),
            reload: tokio::sync::Mutex::new(()),
            last_written: Mutex::new(HashMap::new()),
            last_refusal_logged: Mutex::new(HashMap::new()),
        })
    }

    /// Marks the snapshot stale here and on every other node.
    pub async fn changed(&self) -> Result<(), DbErr> {
        self.stale.store(true, Ordering::SeqCst);
        crate::store::changes::bump(&self.db).await
    }

    async fn load(&self) -> Result<Snapshot, DbErr> {
        let version = crate::store::changes::current(&self.db).await?;
        let mut snap = Snapshot { version, ..Default::default() };
        for m in members::Entity::find().all(&self.db).await? {
            let role = Role::parse(&m.role).unwrap_or(Role::Member);
            let perms = role.effective(&PermissionSet::from_stored(&m.permissions));
            snap.members.insert((m.workspace_id, m.user_id), (perms, m.disabled));
        }
        for k in crate::store::keys::all(&self.db).await? {
            let compiled = CompiledKey {
                key_id: k.id,
                workspace_id: k.workspace_id,
                owner_id: k.user_id,
                label: k.label.clone(),
                identifier: k.identifier.clone(),
                permissions: PermissionSet::from_stored(&k.permissions),
                revoked_at: k.revoked_at,
                expires_at: k.expires_at,
                accepted_until: None,
            };
            if let (Some(prev), Some(until)) = (&k.previous_secret_hash, k.previous_valid_until)
                && let Some(h) = decode_hex32(prev)
            {
                snap.keys.insert(h, CompiledKey { accepted_until: Some(until), ..compiled.clone() });
            }
            if let Some(h) = decode_hex32(&k.secret_hash) {
                snap.keys.insert(h, compiled);
            }
        }
        Ok(snap)
    }

    async fn current(&self) -> Result<Arc<Snapshot>, DbErr> {
        if self.stale.load(Ordering::SeqCst) {
            let _guard = self.reload.lock().await;
            // Another request may have reloaded while we waited.
            if self.stale.swap(false, Ordering::SeqCst) {
                match self.load().await {
                    Ok(snap) => {
                        let snap = Arc::new(snap);
                        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = snap.clone();
                        return Ok(snap);
                    }
                    Err(e) => {
                        self.stale.store(true, Ordering::SeqCst);
                        return Err(e);
                    }
                }
            }
        }
        Ok(self.snapshot.read().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Checks a presented key. `Err(Ok(refusal))` is a refusal for the caller;
    /// `Err(Err(db))` means the snapshot could not be loaded.
    pub async fn verify(&self, presented: Option<&str>, now: DateTime<Utc>) -> Result<Result<VerifiedKey, KeyRefusal>, DbErr> {
        let Some(presented) = presented else { return Ok(Err(KeyRefusal::Missing)) };
        let secret = match KeySecret::parse(presented) {
            Ok(s) => s,
            Err(KeyFormatError::Empty) => return Ok(Err(KeyRefusal::Missing)),
            Err(KeyFormatError::Malformed) => return Ok(Err(KeyRefusal::Malformed)),
        };
        let snap = self.current().await?;
        let Some(key) = snap.keys.get(&secret.digest_bytes()) else { return Ok(Err(KeyRefusal::Unknown)) };
        if key.accepted_until.is_some_and(|until| until <= now) {
            return Ok(Err(KeyRefusal::Unknown));
        }
        let ids = (key.key_id, key.workspace_id, key.owner_id);
        match KeyState::of(key.revoked_at, key.expires_at, now) {
            KeyState::Revoked => {
                return Ok(Err(KeyRefusal::Revoked { key_id: ids.0, workspace_id: ids.1, owner_id: ids.2 }));
            }
            KeyState::Expired => {
                return Ok(Err(KeyRefusal::Expired { key_id: ids.0, workspace_id: ids.1, owner_id: ids.2 }));
            }
            KeyState::Active | KeyState::Expiring => {}
        }
        let owner_now = match snap.members.get(&(key.workspace_id, key.owner_id)) {
            Some((perms, false)) => perms,
            _ => return Ok(Err(KeyRefusal::OwnerInactive)),
        };
        Ok(Ok(VerifiedKey {
            key_id: key.key_id,
            workspace_id: key.workspace_id,
            owner_id: key.owner_id,
            label: key.label.clone(),
            identifier: key.identifier.clone(),
            permissions: key.permissions.intersection(owner_now),
            expires_at: key.expires_at,
        }))
    }

    /// Records a successful use: at most one database write per key per minute.
    pub fn note_use(&self, key_id: i64, ip: Option<String>) {
        if !due(&self.last_written, key_id) {
            return;
        }
        let db = self.db.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::store::keys::record_use(&db, key_id, Utc::now(), ip).await {
                tracing::warn!(key_id, error = %e, "recording key use failed");
            }
        });
    }

    /// Whether a refused use of `key_id` should be audited now (one a minute).
    pub fn refusal_due(&self, key_id: i64) -> bool {
        due(&self.last_refusal_logged, key_id)
    }

    /// Polls the shared change marker so changes made on other nodes are seen.
    pub fn spawn_watcher(self: &Arc<Self>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tick.tick().await;
                let loaded = this.snapshot.read().unwrap_or_else(|p| p.into_inner()).version.clone();
                match crate::store::changes::current(&this.db).await {
                    Ok(v) if v != loaded => this.stale.store(true, Ordering::SeqCst),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "checking for key changes failed"),
                }
            }
        });
    }
}

fn due(map: &Mutex<HashMap<i64, Instant>>, key_id: i64) -> bool {
    let now = Instant::now();
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    match map.get(&key_id) {
        Some(t) if now.duration_since(*t) < WRITE_EVERY => false,
        _ => {
            map.insert(key_id, now);
            true
        }
    }
}
