//! What every handler shares: the database, settings, and the in-memory
//! parts (throttles, the key verifier). Its own module so that `web/`, `api/`
//! and `auth/` need not reach back up into `app.rs`.
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::key_verifier::KeyVerifier;
use crate::auth::throttle::LoginThrottle;
use crate::config::Settings;

pub struct AppState {
    pub db: DatabaseConnection,
    pub settings: Settings,
    /// One-time code that `/setup` asks for; printed on the console at start.
    pub setup_code: String,
    pub throttle: LoginThrottle,
    /// Refused API keys per client address (a separate budget from sign-ins).
    pub key_refusals: crate::auth::refusals::KeyRefusals,
    /// The in-memory snapshot that verifies personal API keys.
    pub keys: Arc<KeyVerifier>,
    /// Data Hub's served routes and rendered pages.
    pub hub: Arc<crate::hub::Hub>,
    /// The in-memory snapshot that verifies Data Hub keys.
    pub hub_keys: Arc<crate::auth::hub_verifier::HubVerifier>,
    /// Applies the shared key change log to both snapshots (`apply_now`
    /// after a change made here) and reports this node to the cluster.
    pub changes: Arc<crate::cluster::Follower>,
    /// Seals secrets keyhub must be able to show again (hub API keys).
    pub sealer: crate::auth::sealing::Sealer,
    /// Derived from the master secret; keys anonymous visitors' CSRF tokens.
    pub csrf_key: String,
    /// What connectors may call (`connectors::outbound`).
    pub outbound_policy: Arc<crate::connectors::outbound::Policy>,
    /// This node's side of the sync job queue.
    pub jobs: Arc<crate::connectors::queue::Jobs>,
    /// Where passwords are hashed and checked (a bounded pool of its own).
    pub passwords: Arc<crate::auth::password::PasswordPool>,
    /// The time keys are judged by (tests move it on; see `clock`).
    pub clock: crate::clock::Clock,
    /// Per-key usage counted in memory, flushed in batches.
    pub usage: crate::usage::recorder::Recorder,
    /// Rate limits and monthly quotas of keys.
    pub limits: crate::limits::Limiter,
    /// Set when the node was told to stop (SIGTERM): `/readyz` answers 503
    /// so a balancer stops sending, before the listener closes.
    pub shutting_down: std::sync::atomic::AtomicBool,
}

impl AppState {
    /// The caller's address as text, honouring `KEYHUB_TRUSTED_PROXIES`.
    pub fn client_ip(&self, req: &actix_web::HttpRequest) -> Option<String> {
        crate::auth::client_ip::client_ip(req, &self.settings.trusted_proxies).map(|ip| ip.to_string())
    }
}
