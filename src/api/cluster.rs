//! `GET /api/v1/cluster`: the nodes serving this keyhub (see `cluster::nodes`).
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::{ApiError, Principal, perm};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct NodeOut {
    pub node_id: String,
    /// How others reach it (`KEYHUB_NODE_ADDRESS`, else its bind address).
    pub address: String,
    pub version: String,
    pub started_at: Option<DateTime<Utc>>,
    pub last_heartbeat: DateTime<Utc>,
    /// `live`, `stopped` (shut down cleanly) or `gone` (quiet for over 30 s
    /// without a clean shutdown; its runs are taken over once their leases pass).
    pub state: String,
    /// Seconds since its key snapshots last matched the database (live nodes).
    pub key_snapshot_age_seconds: Option<i64>,
    /// Sync runs it works on (live) or whose leases it still holds (gone).
    pub syncs_running: i64,
    /// The last key change it applied, and how many it has still to apply.
    pub applied_change: i64,
    pub changes_behind: i64,
    /// The node that answered this request.
    pub this_node: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ClusterOut {
    pub nodes: Vec<NodeOut>,
}

/// The nodes seen in the last day, live ones first. Needs `members.manage`.
#[utoipa::path(
    get,
    path = "/api/v1/cluster",
    tag = "cluster",
    responses(
        (status = 200, description = "The nodes of this keyhub", body = ClusterOut),
        (status = 401, description = "The key was refused", body = crate::api::errors::ErrorBody),
        (status = 403, description = "insufficient_permission: needs members.manage", body = crate::api::errors::ErrorBody),
    ),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = []))
)]
pub async fn show(state: web::Data<AppState>, _p: Principal<perm::MembersManage>) -> Result<HttpResponse, ApiError> {
    let nodes = crate::cluster::nodes::overview(&state.db, state.changes.node_id(), Utc::now()).await?;
    let nodes = nodes
        .into_iter()
        .map(|n| NodeOut {
            node_id: n.node_id,
            address: n.address,
            version: n.version,
            started_at: n.started_at,
            last_heartbeat: n.last_heartbeat,
            state: n.state.as_str().to_owned(),
            key_snapshot_age_seconds: n.snapshot_age_seconds,
            syncs_running: n.syncs_running,
            applied_change: n.applied_change,
            changes_behind: n.changes_behind,
            this_node: n.this_node,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ClusterOut { nodes }))
}
