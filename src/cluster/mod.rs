//! Many nodes, one truth. Several keyhub nodes may share one PostgreSQL
//! database behind a load balancer; this module keeps them agreeing:
//!
//! - `follower`: applies the shared change log (`key_changes`) to this node's
//!   key snapshots, one key or member at a time, and reports the node's state
//!   (`cluster_nodes`, shown in Admin → Cluster);
//! - `listen`: on PostgreSQL, hears of every change the moment it commits
//!   (LISTEN/NOTIFY) and wakes the follower and the Data Hub catalogue; the
//!   follower's poll stays as the fallback when a notification is missed;
//! - `node_lock`: SQLite serves one node; a second on the same file refuses
//!   to start;
//! - `nodes`: what Admin → Cluster and `GET /api/v1/cluster` show.
pub mod follower;
pub mod listen;
pub mod node_lock;
pub mod nodes;

pub use follower::Follower;
pub use listen::Signals;
