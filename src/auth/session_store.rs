//! A server-side `SessionStore` for actix-session over SeaORM. Sessions live in
//! the database so that logout, disabling or removing a user ends them at once,
//! on every node. The cookie carries only a random key; the table keeps its
//! SHA-256, so a copy of the table does not hand out live sessions.
use std::collections::HashMap;
use std::time::Duration;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use chrono::Utc;
use sea_orm::DatabaseConnection;

use crate::auth::keys;
use crate::domain::tokens::{digest, random_token};
use crate::store::sessions;

type SessionState = HashMap<String, String>;

#[derive(Clone)]
pub struct DbSessionStore {
    db: DatabaseConnection,
    idle_timeout: Duration,
    max_lifetime: Duration,
}

impl DbSessionStore {
    pub fn new(db: DatabaseConnection, idle_timeout: Duration, max_lifetime: Duration) -> Self {
        DbSessionStore { db, idle_timeout, max_lifetime }
    }

    fn expiry(&self) -> chrono::DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.idle_timeout).unwrap_or(chrono::Duration::minutes(30))
    }
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
        let Some(row) = sessions::load(&self.db, &id).await.map_err(|e| LoadError::Other(e.into()))? else {
            return Ok(None);
        };
        let now = Utc::now();
        let lifetime = chrono::Duration::from_std(self.max_lifetime).unwrap_or(chrono::Duration::hours(8));
        if row.expires_at <= now || row.created_at + lifetime <= now {
            sessions::delete(&self.db, &id).await.map_err(|e| LoadError::Other(e.into()))?;
            return Ok(None);
        }
        let state: SessionState =
            serde_json::from_str(&row.state).map_err(|e| LoadError::Deserialization(e.into()))?;
        // Sliding idle timeout, written at most once a minute per session rather
        // than on every request.
        let new_expiry = self.expiry();
        if new_expiry - row.expires_at > chrono::Duration::minutes(1) {
            sessions::touch(&self.db, row, new_expiry).await.map_err(|e| LoadError::Other(e.into()))?;
        }
        Ok(Some(state))
    }

    async fn save(&self, session_state: SessionState, _ttl: &CookieDuration) -> Result<SessionKey, SaveError> {
        let key = new_key().map_err(SaveError::Other)?;
        let state = serde_json::to_string(&session_state).map_err(|e| SaveError::Serialization(e.into()))?;
        sessions::insert(&self.db, digest(key.as_ref()), user_id_of(&session_state), state, self.expiry())
            .await
            .map_err(|e| SaveError::Other(e.into()))?;
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
            .map_err(|e| UpdateError::Other(e.into()))?;
        if updated {
            return Ok(session_key);
        }
        // The session was ended while this request ran (logout elsewhere, user
        // disabled): never bring the sign-in back, keep only anonymous state.
        session_state.remove(keys::USER_ID);
        session_state.remove(keys::WORKSPACE_ID);
        self.save(session_state, ttl).await.map_err(|e| UpdateError::Other(anyhow::anyhow!("{e}")))
    }

    async fn update_ttl(&self, _session_key: &SessionKey, _ttl: &CookieDuration) -> Result<(), anyhow::Error> {
        // Idle expiry is extended in `load`, coalesced to one write a minute.
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        sessions::delete(&self.db, &digest(session_key.as_ref())).await?;
        Ok(())
    }
}
