//! Verifies personal API keys on every API request without touching the
//! database or hashing slowly: an in-memory snapshot maps the SHA-256 of each
//! secret to the compiled key, together with every membership (to intersect
//! with the owner's rights *now*).
//!
//! The snapshot is loaded whole at start. After that, a change updates it *in
//! place* — the one key, or the one member and their keys, read in a few rows
//! and swapped in under a write lock held for microseconds: on the node that
//! made it before the change's response is sent, and on the others when they
//! apply the shared change log (`cluster::follower`, pushed on PostgreSQL).
//! Bulk changes (`keyhub bench-seed`) move a shared marker instead, and every
//! node reloads whole in the background; requests keep the old snapshot
//! meanwhile, never wait for a load.
//!
//! Order of checks: format/checksum → lookup → revoked → expired → owner
//! active → (in the handler) permission ∩ owner's current rights.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};

use crate::domain::PermissionSet;
use crate::domain::keys::{KeyFormatError, KeySecret};
use crate::domain::limits::Limits;
use crate::store::keys::SnapshotRow;

/// Why a presented key was refused. Each maps to a stable API error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    Missing,
    Malformed,
    /// Not a key we know: never issued, deleted, or an old secret past its grace.
    Unknown,
    Revoked {
        key_id: i64,
        workspace_id: i64,
        owner_id: i64,
    },
    Expired {
        key_id: i64,
        workspace_id: i64,
        owner_id: i64,
    },
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
    /// The key's rate limit and monthly quota (checked by `limits`).
    pub limits: Limits,
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
    limits: Limits,
}

#[derive(Default)]
struct Snapshot {
    keys: HashMap<[u8; 32], CompiledKey>,
    /// key id → its digests (current, and a rotated one in its grace period),
    /// so one key can be replaced without a scan.
    by_id: HashMap<i64, [Option<[u8; 32]>; 2]>,
    /// (workspace, user) → permission bits the member holds now, and whether disabled.
    members: HashMap<(i64, i64), (u8, bool)>,
}

impl Snapshot {
    fn remove_key(&mut self, id: i64) {
        for d in self.by_id.remove(&id).into_iter().flatten().flatten() {
            self.keys.remove(&d);
        }
    }

    /// Adds (or replaces) a key from its row.
    fn put(&mut self, row: SnapshotRow) {
        let (
            id,
            workspace_id,
            user_id,
            perms,
            identifier,
            hash,
            prev_hash,
            prev_until,
            expires_at,
            revoked_at,
            rate,
            quota,
        ) = row;
        self.remove_key(id);
        let mut suffix = [b'?'; 4];
        if let Some(tail) = identifier.as_bytes().get(identifier.len().saturating_sub(4)..)
            && tail.len() == 4
        {
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
            limits: Limits::from_packed(rate, quota),
        };
        let mut digests = [None, None];
        if let (Some(prev), Some(until)) = (prev_hash, prev_until)
            && let Some(h) = decode_hex32(&prev)
        {
            self.keys.insert(h, CompiledKey { accepted_until: Some(until.timestamp()), ..compiled });
            digests[1] = Some(h);
        }
        if let Some(h) = decode_hex32(&hash) {
            self.keys.insert(h, compiled);
            digests[0] = Some(h);
        }
        self.by_id.insert(id, digests);
    }
}

pub struct KeyVerifier {
    db: DatabaseConnection,
    snapshot: RwLock<Snapshot>,
    /// The change marker this node's snapshot reflects (loaded or written by us).
    version: Mutex<Option<String>>,
    /// One full load at a time.
    reload: tokio::sync::Mutex<()>,
    /// key id → when its last use was written; coalesces writes to one a minute.
    last_written: Coalesce,
    /// Use writes started since this node began (what coalescing saves is countable).
    uses_written: std::sync::atomic::AtomicU64,
    /// key id → when a refusal was last audited; one entry a minute per key.
    last_refusal_logged: Coalesce,
    /// When the snapshot last matched the database (see `freshness`).
    pub freshness: crate::auth::freshness::Freshness,
}

const WRITE_EVERY: Duration = Duration::from_secs(60);

fn decode_hex32(s: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(s).ok()?;
    bytes.try_into().ok()
}

impl KeyVerifier {
    /// `max_stale`: how long keys are verified without a confirmation from the database.
    pub fn new(db: DatabaseConnection, max_stale: Duration) -> Arc<KeyVerifier> {
        Arc::new(KeyVerifier {
            freshness: crate::auth::freshness::Freshness::new(max_stale),
            db,
            snapshot: RwLock::default(),
            version: Mutex::default(),
            reload: tokio::sync::Mutex::new(()),
            last_written: Coalesce::default(),
            uses_written: std::sync::atomic::AtomicU64::new(0),
            last_refusal_logged: Coalesce::default(),
        })
    }

    /// A key was created, rotated, revoked or deleted: applied here at once,
    /// and logged for the other nodes.
    pub async fn key_changed(&self, workspace_id: i64, key_id: i64) -> Result<(), DbErr> {
        self.apply_key(key_id).await?;
        let change = crate::store::key_changes::Change { workspace_id, key_id: Some(key_id), ..Default::default() };
        crate::store::key_changes::log(&self.db, change).await.map(|_| ())
    }

    /// A member's rights or status changed, they joined, or they were
    /// removed (and their keys revoked): applied here at once, and logged.
    pub async fn owner_changed(&self, workspace_id: i64, user_id: i64) -> Result<(), DbErr> {
        self.apply_owner(workspace_id, user_id).await?;
        let change = crate::store::key_changes::Change { workspace_id, user_id: Some(user_id), ..Default::default() };
        crate::store::key_changes::log(&self.db, change).await.map(|_| ())
    }

    /// Reads one key again, with its owner's membership (a member who joined
    /// since the last load — a new workspace, the first admin — makes their
    /// first key this way), and swaps it in.
    pub async fn apply_key(&self, key_id: i64) -> Result<(), DbErr> {
        let rows = crate::store::keys::snapshot_rows(&self.db, Some(key_id), None).await?;
        let owner = match rows.first() {
            Some(&(_, workspace_id, user_id, ..)) => Some((
                (workspace_id, user_id),
                crate::store::members::effective_of(&self.db, workspace_id, user_id).await?,
            )),
            None => None,
        };
        let mut snap = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        snap.remove_key(key_id);
        for row in rows {
            snap.put(row);
        }
        match owner {
            Some((at, Some((perms, disabled)))) => snap.members.insert(at, (perms.to_bits(), disabled)),
            Some((at, None)) => snap.members.remove(&at),
            None => None,
        };
        crate::metrics::snapshot("personal", snap.by_id.len());
        Ok(())
    }

    /// Reads one membership and that member's keys in the workspace again.
    pub async fn apply_owner(&self, workspace_id: i64, user_id: i64) -> Result<(), DbErr> {
        let member = crate::store::members::effective_of(&self.db, workspace_id, user_id).await?;
        let rows = crate::store::keys::snapshot_rows(&self.db, None, Some((workspace_id, user_id))).await?;
        let mut snap = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        match member {
            Some((perms, disabled)) => snap.members.insert((workspace_id, user_id), (perms.to_bits(), disabled)),
            None => snap.members.remove(&(workspace_id, user_id)),
        };
        for row in rows {
            snap.put(row);
        }
        Ok(())
    }

    /// Reloads whole when the bulk-change marker moved since this node's load.
    pub async fn follow_marker(&self) -> Result<(), DbErr> {
        let loaded = self.version.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if crate::store::changes::current(&self.db).await? != loaded {
            self.reload().await?;
        }
        Ok(())
    }

    /// Reads every key and membership and swaps the snapshot (at start, and
    /// when another node changed something). Requests meanwhile use the old one.
    pub async fn reload(&self) -> Result<(), DbErr> {
        let _one = self.reload.lock().await;
        let started = Instant::now();
        let asked = self.freshness.now();
        let version = crate::store::changes::current(&self.db).await?;
        let snap = self.load().await?;
        crate::metrics::snapshot("personal", snap.by_id.len());
        tracing::info!(keys = snap.by_id.len(), ms = started.elapsed().as_millis() as u64, "personal keys loaded");
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = snap;
        *self.version.lock().unwrap_or_else(|p| p.into_inner()) = version;
        self.freshness.confirm_at(asked);
        Ok(())
    }

    async fn load(&self) -> Result<Snapshot, DbErr> {
        const PAGE: u64 = 2_000;
        let mut snap = Snapshot::default();
        for (workspace_id, user_id, perms, disabled) in crate::store::members::all_effective(&self.db).await? {
            snap.members.insert((workspace_id, user_id), (perms.to_bits(), disabled));
        }
        // Sized once up front: growing a map of 100k entries by doubling leaves
        // the allocator holding every intermediate table.
        let expected = usize::try_from(crate::store::keys::count_with_previous(&self.db).await?).unwrap_or(0);
        snap.keys.reserve(expected);
        snap.by_id.reserve(expected);
        let mut after = 0;
        loop {
            let rows = crate::store::keys::snapshot_page(&self.db, after, PAGE).await?;
            let Some(last) = rows.last() else { break };
            after = last.0;
            let full = rows.len() as u64 == PAGE;
            for row in rows {
                snap.put(row);
            }
            if !full {
                break;
            }
        }
        Ok(snap)
    }

    /// Checks a presented key against the snapshot: one SHA-256 and two map
    /// lookups, no database, no waiting.
    pub fn verify(&self, presented: Option<&str>, now: DateTime<Utc>) -> Result<VerifiedKey, KeyRefusal> {
        let Some(presented) = presented else { return Err(KeyRefusal::Missing) };
        let secret = match KeySecret::parse(presented) {
            Ok(s) => s,
            Err(KeyFormatError::Empty) => return Err(KeyRefusal::Missing),
            Err(KeyFormatError::Malformed) => return Err(KeyRefusal::Malformed),
        };
        let digest = secret.digest_bytes();
        // Both lookups under one read lock, copied out: the key and its owner's rights agree.
        let (key, owner) = {
            let snap = self.snapshot.read().unwrap_or_else(|p| p.into_inner());
            let Some(key) = snap.keys.get(&digest).copied() else { return Err(KeyRefusal::Unknown) };
            (key, snap.members.get(&(key.workspace_id, key.owner_id)).copied())
        };
        let now_s = now.timestamp();
        if key.accepted_until.is_some_and(|until| until <= now_s) {
            return Err(KeyRefusal::Unknown);
        }
        let (key_id, workspace_id, owner_id) = (key.key_id, key.workspace_id, key.owner_id);
        if key.revoked {
            return Err(KeyRefusal::Revoked { key_id, workspace_id, owner_id });
        }
        if key.expires_at.is_some_and(|t| t <= now_s) {
            return Err(KeyRefusal::Expired { key_id, workspace_id, owner_id });
        }
        let owner_now = match owner {
            Some((bits, false)) => bits,
            _ => return Err(KeyRefusal::OwnerInactive),
        };
        Ok(VerifiedKey {
            key_id,
            workspace_id,
            owner_id,
            identifier: format!("{}…{}", crate::domain::keys::PERSONAL_PREFIX, String::from_utf8_lossy(&key.suffix)),
            permissions: PermissionSet::from_bits(key.permissions & owner_now),
            expires_at: key.expires_at.and_then(|t| DateTime::from_timestamp(t, 0)),
            limits: key.limits,
        })
    }

    /// Records a successful use: at most one database write per key per minute.
    pub fn note_use(&self, key_id: i64, ip: impl FnOnce() -> Option<String>) {
        if !self.last_written.due(key_id) {
            return;
        }
        self.uses_written.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ip = ip();
        let db = self.db.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::store::keys::record_use(&db, key_id, Utc::now(), ip).await {
                tracing::warn!(key_id, error = %e, "recording key use failed");
            }
            crate::pulse::background().bump();
        });
    }

    /// How many use writes this node has started (each at most one a minute per key).
    pub fn uses_written(&self) -> u64 {
        self.uses_written.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether a refused use of `key_id` should be audited now (one a minute).
    pub fn refusal_due(&self, key_id: i64) -> bool {
        self.last_refusal_logged.due(key_id)
    }
}

/// key id → when its last coalesced write (or audit) started: one a minute per
/// key. Asked on every verified call, so sharded by key id (ids are keyhub's,
/// hashed fast): calls of keys on different shards never wait for each other.
pub(crate) struct Coalesce(Vec<Mutex<hashbrown::HashMap<i64, Instant>>>);

impl Default for Coalesce {
    fn default() -> Self {
        Coalesce((0..16).map(|_| Mutex::default()).collect())
    }
}

impl Coalesce {
    /// Whether `key_id`'s write is due now; records it if so.
    pub(crate) fn due(&self, key_id: i64) -> bool {
        let now = Instant::now();
        let shard = &self.0[key_id.rem_euclid(self.0.len() as i64) as usize];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&key_id) {
            Some(t) if now.duration_since(*t) < WRITE_EVERY => false,
            _ => {
                map.insert(key_id, now);
                true
            }
        }
    }
}
