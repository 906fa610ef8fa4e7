//! Follows the shared change log (`key_changes`) into this node's key
//! snapshots, and tells the cluster about this node (`cluster_nodes`).
//!
//! A change made on this node is applied here before its response is sent
//! (`apply_now`); other nodes apply it when PostgreSQL notifies them (within
//! milliseconds, see `listen`) or, failing that, at their next poll. Either
//! way they read the rows after the last one they applied and reload only the
//! keys, teams and members those rows name. Each pass that reaches the
//! database also confirms the snapshots (`auth::freshness`).
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{DatabaseConnection, DbErr};

use crate::auth::hub_verifier::HubVerifier;
use crate::auth::key_verifier::KeyVerifier;
use crate::connectors::queue::Jobs;

/// How often a node says it is alive when nothing changed.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A hole in the change log (a transaction still running, or rolled back on
/// PostgreSQL) is waited for this long, then skipped.
const GAP_PATIENCE: Duration = Duration::from_secs(10);
/// Rows applied per read.
const BATCH: u64 = 500;

/// What this node tells the others about itself.
pub struct NodeInfo {
    pub address: String,
    pub version: &'static str,
}

pub struct Follower {
    db: DatabaseConnection,
    keys: Arc<KeyVerifier>,
    hub_keys: Arc<HubVerifier>,
    jobs: Arc<Jobs>,
    applied: AtomicI64,
    /// Serialises applying changes; holds when a gap was first seen.
    catching_up: tokio::sync::Mutex<Option<(i64, Instant)>>,
    /// What this node last wrote to `cluster_nodes`, and when.
    reported: tokio::sync::Mutex<(i64, Instant)>,
    poll: Duration,
}

impl Follower {
    /// Loads both key snapshots (before the node serves) and registers the node.
    pub async fn start(
        db: DatabaseConnection,
        keys: Arc<KeyVerifier>,
        hub_keys: Arc<HubVerifier>,
        jobs: Arc<Jobs>,
        info: NodeInfo,
        poll: Duration,
    ) -> Result<Arc<Follower>, DbErr> {
        // The log position first: a change saved during the load is applied
        // again by the first catch-up, never missed.
        let seq = crate::store::key_changes::max_seq(&db).await?;
        // Side by side: start-to-ready is the slower of the two.
        let (hub_loaded, keys_loaded) = tokio::join!(hub_keys.load_all(), keys.reload());
        hub_loaded?;
        keys_loaded?;
        crate::store::nodes::node_started(&db, &jobs.node, &info.address, info.version, seq).await?;
        Ok(Arc::new(Follower {
            db,
            keys,
            hub_keys,
            jobs,
            applied: AtomicI64::new(seq),
            catching_up: tokio::sync::Mutex::new(None),
            reported: tokio::sync::Mutex::new((seq, Instant::now())),
            poll,
        }))
    }

    pub fn node_id(&self) -> &str {
        &self.jobs.node
    }

    /// Applies every logged change not applied yet, one key, team or member
    /// at a time, and records how far this node got.
    pub async fn catch_up(&self) -> Result<(), DbErr> {
        let mut gap = self.catching_up.lock().await;
        loop {
            let applied = self.applied.load(Ordering::SeqCst);
            let changes = crate::store::key_changes::after(&self.db, applied, BATCH).await?;
            if changes.is_empty() {
                break;
            }
            let mut last = applied;
            let mut blocked = false;
            for c in &changes {
                if c.seq != last + 1 {
                    // An earlier change may still be committing: wait for it a while.
                    let since = match *gap {
                        Some((s, t)) if s == last + 1 => t,
                        _ => {
                            *gap = Some((last + 1, Instant::now()));
                            Instant::now()
                        }
                    };
                    if since.elapsed() < GAP_PATIENCE {
                        blocked = true;
                        break;
                    }
                }
                if let Some(k) = c.hub_key_id {
                    self.hub_keys.apply_key(k).await?;
                }
                if let Some(t) = c.team_id {
                    self.hub_keys.apply_team(t).await?;
                }
                if let Some(k) = c.key_id {
                    self.keys.apply_key(k).await?;
                }
                if let Some(u) = c.user_id {
                    self.keys.apply_owner(c.workspace_id, u).await?;
                }
                last = c.seq;
            }
            self.applied.store(last, Ordering::SeqCst);
            // What the cluster tests wait for on a node's output (debug level).
            tracing::debug!(seq = last, "key changes applied");
            if blocked || changes.len() < BATCH as usize {
                break;
            }
        }
        drop(gap);
        self.report().await
    }

    /// Writes this node's row when what it applied moved, or as a heartbeat.
    async fn report(&self) -> Result<(), DbErr> {
        let applied = self.applied.load(Ordering::SeqCst);
        let mut reported = self.reported.lock().await;
        if reported.0 != applied || reported.1.elapsed() >= HEARTBEAT {
            let confirmed = Utc::now()
                - chrono::Duration::from_std(self.keys.freshness.age().max(self.hub_keys.freshness.age()))
                    .unwrap_or_default();
            let moved = reported.0 != applied;
            let running = i32::try_from(self.jobs.running()).unwrap_or(i32::MAX);
            crate::store::nodes::node_report(&self.db, &self.jobs.node, applied, moved, confirmed, running).await?;
            *reported = (applied, Instant::now());
        }
        Ok(())
    }

    /// Right after a change made here: in force for the very next request.
    /// A failure is logged, not returned (the change is saved; the watcher retries).
    pub async fn apply_now(&self) {
        if let Err(e) = self.catch_up().await {
            tracing::warn!(error = %e, "applying a key change failed; the watcher retries");
        }
    }

    /// One look at the database: the personal-keys marker (bulk changes,
    /// reloaded whole), then the log. Confirms both snapshots as of its start.
    async fn pass(&self) -> Result<(), DbErr> {
        let (asked_keys, asked_hub) = (self.keys.freshness.now(), self.hub_keys.freshness.now());
        self.keys.follow_marker().await?;
        self.catch_up().await?;
        self.keys.freshness.confirm_at(asked_keys);
        self.hub_keys.freshness.confirm_at(asked_hub);
        Ok(())
    }

    /// Follows changes: at once when `signals` says one was made, and every
    /// `poll` (or often enough to keep the snapshots fresh) in case a
    /// notification was missed.
    pub fn spawn(self: &Arc<Self>, signals: Arc<crate::cluster::Signals>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let every = this.keys.freshness.poll_every(this.poll).min(this.hub_keys.freshness.poll_every(this.poll));
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = signals.keys.notified() => {}
                }
                if let Err(e) = this.pass().await {
                    tracing::warn!(error = %e, "following key changes failed");
                }
                crate::pulse::background().bump();
            }
        });
    }

    /// This node is going away (a clean shutdown): the others stop counting it.
    pub async fn stopped(&self) {
        if let Err(e) = crate::store::nodes::node_stopped(&self.db, &self.jobs.node).await {
            tracing::warn!(error = %e, "recording this node's shutdown failed");
        }
    }
}
