//! `Admin → Cluster`: the nodes serving this keyhub — address, version,
//! start, last heartbeat, key snapshot age, changes behind, sync runs — with
//! nodes gone quiet shown as gone (see `cluster::nodes`).
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;

use crate::auth::{Member, perm};
use crate::state::AppState;
use crate::web::views::fmt_time;
use crate::web::{AppError, Layout, render};

pub struct NodeRow {
    pub address: String,
    pub version: String,
    pub started: String,
    pub heartbeat: String,
    pub state: &'static str,
    pub snapshot: String,
    pub behind: i64,
    pub syncs: String,
    pub this_node: bool,
}

#[derive(Template)]
#[template(path = "admin/cluster.html")]
struct ClusterPage {
    layout: Layout,
    rows: Vec<NodeRow>,
    live: usize,
    postgres: bool,
}

pub async fn show(state: web::Data<AppState>, user: Member<perm::MembersManage>) -> Result<HttpResponse, AppError> {
    let now = Utc::now();
    let nodes = crate::cluster::nodes::overview(&state.db, state.changes.node_id(), now).await?;
    let live = nodes.iter().filter(|n| n.state == crate::cluster::nodes::NodeState::Live).count();
    let rows = nodes
        .into_iter()
        .map(|n| {
            use crate::cluster::nodes::NodeState;
            NodeRow {
                address: n.address,
                version: n.version,
                started: n.started_at.map(fmt_time).unwrap_or_default(),
                heartbeat: format!("{} s ago", (now - n.last_heartbeat).num_seconds().max(0)),
                state: match n.state {
                    NodeState::Live => "Live",
                    NodeState::Stopped => "Stopped",
                    NodeState::Gone => "Gone quiet",
                },
                snapshot: n.snapshot_age_seconds.map(|s| format!("{s} s")).unwrap_or_else(|| "—".into()),
                behind: n.changes_behind,
                syncs: match (n.state, n.syncs_running) {
                    (NodeState::Gone, 0) => "taken over".into(),
                    (NodeState::Gone, k) => format!("{k} waiting to be taken over"),
                    (_, k) => k.to_string(),
                },
                this_node: n.this_node,
            }
        })
        .collect();
    let page = ClusterPage {
        layout: Layout::for_user(&user, "Cluster"),
        rows,
        live,
        postgres: state.settings.database_url().starts_with("postgres"),
    };
    render(StatusCode::OK, &page)
}
