//! A server-side `SessionStore` for actix-session over SeaORM. Sessions live in
//! the database so that logout, disabling or removing a user ends them at once,
//! on every node. The cookie carries only a random key; the table keeps its
//! SHA-256, so a copy of the table does not hand out live sessions.
//!
//! Bookkeeping never makes a read fail: the sliding expiry is written in the
//! background (at most once a minute per session, one write in flight per
//! session), and removing an expired row is left to the sweeper when the
//! database is busy. Writes a request truly needs (sign-in, a changed
//! session) fail with `BUSY` in their cause when the database is locked; the
//! frame middleware answers those 503 with `Retry-After`.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use chrono::Utc;
use sea_orm::{DatabaseConnection, DbErr};

use crate::auth::keys;
use crate::domain::tokens::{digest, random_token};
use crate::store::sessions;

type SessionState = HashMap<String, String>;

/// Put in the cause of a session write that failed on a busy database; the
/// frame middleware looks for it to answer 503 instead of 500.
pub const BUSY: &str = "the session store's database is busy";

#[derive(Clone)]
pub struct DbSessionStore {
    db: DatabaseConnection,
    idle_timeout: Duration,
    max_lifetime: Duration,
    /// Sessions whose expiry is being written now (coalesces the writes).
    touching: Arc<Mutex<HashSet<String>>>,
}

impl DbSessionStore {
    pub fn new(db: DatabaseConnection, idle_timeout: Duration, max_lifetime: Duration) -> Self {
        DbSessionStore { db, idle_timeout, max_lifetime, touching: Arc::default() }
    }

    fn expiry(&self) -> chrono::DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.idle_timeout).unwrap_or(chrono::Duration::minutes(30))
    }

    /// Extends the session's idle expiry without holding up the request.
    fn touch_later(&self, row: crate::entities::sessions::Model, expires_at: chrono::DateTime<Utc>) {
        {
            let mut touching = self.touching.lock().unwrap_or_else(|p| p.into_inner());
            if !touching.insert(row.id.clone()) {
                return;
            }
        }
        let (db, touching) = (self.db.clone(), self.touching.clone());
        tokio::spawn(async move {
            let id = row.id.clone();
            if let Err(e) = sessions::touch(&db, row, expires_at).await {
                tracing::warn!(error = %e, "extending a session's expiry failed; the next request tries again");
            }
            touching.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
    }
}

/// A session write's error, marked `BUSY` when the database was locked.
fn write_error(e: DbErr) -> anyhow::Error {
    if crate::store::is_busy(&e) { anyhow::Error::new(e).context(BUSY) } else { e.into() }
}

fn user_id_of(state: &SessionState) -> Option<i64> {
    // actix-session stores values JSON-encoded; an id is a bare number.
    state.get(keys::USER_ID).and_then(|v| v.parse().ok())
}

fn new_key() -> Result<SessionKey, anyhow::Error> {
    SessionKey::try_from(random_token(64)).map_err(|e| anyhow::anyhow!("invalid session key: {e}"))
}

impl SessionStore for DbSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        let id = digest(session_key.as_ref());
        let Some(row) = sessions::load(&self.db, &id).await.map_err(|e| LoadError::Other(write_error(e)))? else {
            return Ok(None);
        };
        let now = Utc::now();
        let lifetime = chrono::Duration::from_std(self.max_lifetime).unwrap_or(chrono::Duration::hours(8));
        if row.expires_at <= now || row.created_at + lifetime <= now {
            // Gone for this request either way; the sweeper removes the row
            // if the database cannot now.
            if let Err(e) = sessions::delete(&self.db, &id).await {
                tracing::warn!(error = %e, "removing an expired session failed; the sweeper will");
            }
            return Ok(None);
        }
        let state: SessionState = serde_json::from_str(&row.state).map_err(|e| LoadError::Deserialization(e.into()))?;
        // Sliding idle timeout, written at most once a minute per session rather
        // than on every request, and never in the request's way.
        let new_expiry = self.expiry();
        if new_expiry - row.expires_at > chrono::Duration::minutes(1) {
            self.touch_later(row, new_expiry);
        }
        Ok(Some(state))
    }

    async fn save(&self, session_state: SessionState, _ttl: &CookieDuration) -> Result<SessionKey, SaveError> {
        let key = new_key().map_err(SaveError::Other)?;
        let state = serde_json::to_string(&session_state).map_err(|e| SaveError::Serialization(e.into()))?;
        sessions::insert(&self.db, digest(key.as_ref()), user_id_of(&session_state), state, self.expiry())
            .await
            .map_err(|e| SaveError::Other(write_error(e)))?;
        Ok(key)
    }

    async fn update(
        &self,
        session_key: SessionKey,
        mut session_state: SessionState,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        let id = digest(session_key.as_ref());
        let state = serde_json::to_string(&session_state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let updated = sessions::update(&self.db, &id, user_id_of(&session_state), state, self.expiry())
            .await
            .map_err(|e| UpdateError::Other(write_error(e)))?;
        if updated {
            return Ok(session_key);
        }
        // The session was ended while this request ran (logout elsewhere, user
        // disabled): never bring the sign-in back, keep only anonymous state.
        session_state.remove(keys::USER_ID);
        session_state.remove(keys::WORKSPACE_ID);
        self.save(session_state, ttl).await.map_err(|e| match e {
            SaveError::Other(e) => UpdateError::Other(e),
            SaveError::Serialization(e) => UpdateError::Serialization(e),
        })
    }

    async fn update_ttl(&self, _session_key: &SessionKey, _ttl: &CookieDuration) -> Result<(), anyhow::Error> {
        // Idle expiry is extended in `load`, coalesced to one write a minute.
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        sessions::delete(&self.db, &digest(session_key.as_ref())).await.map_err(write_error)?;
        Ok(())
    }
}
