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
use sea_orm::{DatabaseConnection, DbErr};

use crate::domain::keys::{KeyFormatError, KeySecret};
use crate::domain::PermissionSet;

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
    /// `khp_…abcd`, never the secret.
    pub identifier: String,
    /// The key's permissions ∩ the owner's current permissions in the workspace.
    pub permissions: PermissionSet,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key as the snapshot keeps it: small and fixed-size, because there may be
/// hundreds of thousands (see `bench/run.sh`).
#[derive(Debug, Clone, Copy)]
struct CompiledKey {
    key_id: i64,
    workspace_id: i64,
    owner_id: i64,
    permissions: u8,
    revoked: bool,
    /// Unix seconds.
    expires_at: Option<i64>,
    /// For a secret replaced by rotation: when it stops being accepted (unix seconds).
    accepted_until: Option<i64>,
    /// The last four characters, for the identifier.
    suffix: [u8; 4],
}

#[derive(Default)]
struct Snapshot {
    keys: HashMap<[u8; 32], CompiledKey>,
    /// (workspace, user) → permission bits the member holds now, and whether disabled.
    members: HashMap<(i64, i64), (u8, bool)>,
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
        const PAGE: u64 = 2_000;
        let version = crate::store::changes::current(&self.db).await?;
        let mut snap = Snapshot { version, ..Default::default() };
        for (workspace_id, user_id, perms, disabled) in crate::store::members::all_effective(&self.db).await? {
            snap.members.insert((workspace_id, user_id), (perms.to_bits(), disabled));
        }
        // Sized once up front: growing a map of 100k entries by doubling leaves
        // the allocator holding every intermediate table.
        let expected = crate::store::keys::count_with_previous(&self.db).await?;
        snap.keys.reserve(usize::try_from(expected).unwrap_or(0));
        let mut after = 0;
        loop {
            let rows = crate::store::keys::snapshot_page(&self.db, after, PAGE).await?;
            let Some(last) = rows.last() else { break };
            after = last.0;
            let full = rows.len() as u64 == PAGE;
            for (id, workspace_id, user_id, perms, identifier, hash, prev_hash, prev_until, expires_at, revoked_at) in rows {
                let mut suffix = [b'?'; 4];
                if let Some(tail) = identifier.as_bytes().get(identifier.len().saturating_sub(4)..) {
                    suffix.copy_from_slice(tail);
                }
                let compiled = CompiledKey {
                    key_id: id,
                    workspace_id,
                    owner_id: user_id,
                    permissions: PermissionSet::from_stored(&perms).to_bits(),
                    revoked: revoked_at.is_some(),
                    expires_at: expires_at.map(|t| t.timestamp()),
                    accepted_until: None,
                    suffix,
                };
                if let (Some(prev), Some(until)) = (prev_hash, prev_until)
                    && let Some(h) = decode_hex32(&prev)
                {
                    snap.keys.insert(h, CompiledKey { accepted_until: Some(until.timestamp()), ..compiled });
                }
                if let Some(h) = decode_hex32(&hash) {
                    snap.keys.insert(h, compiled);
                }
            }
            if !full {
                break;
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
        let Some(key) = snap.keys.get(&secret.digest_bytes()).copied() else { return Ok(Err(KeyRefusal::Unknown)) };
        let now_s = now.timestamp();
        if key.accepted_until.is_some_and(|until| until <= now_s) {
            return Ok(Err(KeyRefusal::Unknown));
        }
        let (key_id, workspace_id, owner_id) = (key.key_id, key.workspace_id, key.owner_id);
        if key.revoked {
            return Ok(Err(KeyRefusal::Revoked { key_id, workspace_id, owner_id }));
        }
        if key.expires_at.is_some_and(|t| t <= now_s) {
            return Ok(Err(KeyRefusal::Expired { key_id, workspace_id, owner_id }));
        }
        let owner_now = match snap.members.get(&(workspace_id, owner_id)) {
            Some((bits, false)) => *bits,
            _ => return Ok(Err(KeyRefusal::OwnerInactive)),
        };
        Ok(Ok(VerifiedKey {
            key_id,
            workspace_id,
            owner_id,
            identifier: format!("{}…{}", crate::domain::keys::PERSONAL_PREFIX, String::from_utf8_lossy(&key.suffix)),
            permissions: PermissionSet::from_bits(key.permissions & owner_now),
            expires_at: key.expires_at.and_then(|t| DateTime::from_timestamp(t, 0)),
        }))
    }

    /// Records a successful use: at most one database write per key per minute.
    pub fn note_use(&self, key_id: i64, ip: impl FnOnce() -> Option<String>) {
        if !due(&self.last_written, key_id) {
            return;
        }
        let ip = ip();
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

/// Whether `key_id`'s coalesced write (one a minute) is due now; records it if so.
pub(crate) fn due(map: &Mutex<HashMap<i64, Instant>>, key_id: i64) -> bool {
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
