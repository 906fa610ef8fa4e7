//! What Admin → Cluster and `GET /api/v1/cluster` show: every node seen in
//! the last day, whether it is live, stopped or gone quiet, and how it keeps
//! up (heartbeat, key snapshot age, changes applied, sync runs).
use chrono::{DateTime, Duration, Utc};
use sea_orm::{DatabaseConnection, DbErr};

use crate::auth::hub_verifier::NODE_ALIVE;

/// How a node stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Heard from within the liveness window.
    Live,
    /// Shut down cleanly (its runs were handed back).
    Stopped,
    /// Not heard from for longer than the liveness window, without a clean
    /// shutdown: crashed or cut off. Its runs are taken over once their
    /// leases pass; it holds no key change pending.
    Gone,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Live => "live",
            NodeState::Stopped => "stopped",
            NodeState::Gone => "gone",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NodeView {
    pub node_id: String,
    pub address: String,
    pub version: String,
    pub started_at: Option<DateTime<Utc>>,
    pub last_heartbeat: DateTime<Utc>,
    pub state: NodeState,
    /// Seconds since its key snapshots last matched the database (live nodes).
    pub snapshot_age_seconds: Option<i64>,
    /// Sync runs it works on (live) or still holds leases of (gone).
    pub syncs_running: i64,
    pub applied_change: i64,
    pub changes_behind: i64,
    /// The node that answered this request.
    pub this_node: bool,
}

/// Every node seen in the last day, live ones first, then by start (newest first).
pub async fn overview(db: &DatabaseConnection, this_node: &str, now: DateTime<Utc>) -> Result<Vec<NodeView>, DbErr> {
    let latest = crate::store::key_changes::max_seq(db).await?;
    let rows = crate::store::nodes::recent(db, now - Duration::days(1)).await?;
    let alive = Duration::from_std(NODE_ALIVE).unwrap_or(Duration::seconds(30));
    let mut out = Vec::with_capacity(rows.len());
    for n in rows {
        let state = match (n.stopped_at, now - n.seen_at <= alive) {
            (Some(_), _) => NodeState::Stopped,
            (None, true) => NodeState::Live,
            (None, false) => NodeState::Gone,
        };
        let syncs_running = match state {
            NodeState::Live => i64::from(n.syncs_running),
            // What it still holds: runs another node has not taken over yet.
            NodeState::Gone => crate::store::live_data::runs_leased_by(db, &n.node_id).await?,
            NodeState::Stopped => 0,
        };
        out.push(NodeView {
            this_node: n.node_id == this_node,
            address: n.address.unwrap_or_default(),
            version: n.version.unwrap_or_default(),
            started_at: n.started_at,
            last_heartbeat: n.seen_at,
            snapshot_age_seconds: (state == NodeState::Live)
                .then(|| n.confirmed_at.map(|c| (now - c).num_seconds().max(0)))
                .flatten(),
            syncs_running,
            applied_change: n.applied_seq,
            changes_behind: (latest - n.applied_seq).max(0),
            state,
            node_id: n.node_id,
        });
    }
    out.sort_by_key(|n| (n.state != NodeState::Live, std::cmp::Reverse(n.started_at)));
    Ok(out)
}
