//! The nodes of a cluster: which one is alive, up to which key change each
//! has applied (a Data Hub key's "sync status"), and what Admin → Cluster
//! shows of each.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::entities::cluster_nodes;

/// Registers this node as it starts serving, having applied every change up to `seq`.
pub async fn node_started(
    db: &impl ConnectionTrait,
    node: &str,
    address: &str,
    version: &str,
    seq: i64,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let row = cluster_nodes::ActiveModel {
        node_id: Set(node.to_owned()),
        applied_seq: Set(seq),
        applied_at: Set(now),
        seen_at: Set(now),
        address: Set(Some(address.to_owned())),
        version: Set(Some(version.to_owned())),
        started_at: Set(Some(now)),
        confirmed_at: Set(Some(now)),
        syncs_running: Set(0),
        stopped_at: Set(None),
    };
    cluster_nodes::Entity::insert(row)
        .on_conflict(
            OnConflict::column(cluster_nodes::Column::NodeId)
                .update_columns([
                    cluster_nodes::Column::AppliedSeq,
                    cluster_nodes::Column::AppliedAt,
                    cluster_nodes::Column::SeenAt,
                    cluster_nodes::Column::Address,
                    cluster_nodes::Column::Version,
                    cluster_nodes::Column::StartedAt,
                    cluster_nodes::Column::ConfirmedAt,
                    cluster_nodes::Column::StoppedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await
        .map(|_| ())
}

/// The node's heartbeat: how far it got (`moved`: further than last told,
/// which dates `applied_at`), when its snapshots last matched the database,
/// and how many sync runs it works on.
pub async fn node_report(
    db: &impl ConnectionTrait,
    node: &str,
    seq: i64,
    moved: bool,
    confirmed_at: DateTime<Utc>,
    syncs_running: i32,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let mut update = cluster_nodes::Entity::update_many()
        .col_expr(cluster_nodes::Column::AppliedSeq, Expr::value(seq))
        .col_expr(cluster_nodes::Column::SeenAt, Expr::value(now))
        .col_expr(cluster_nodes::Column::ConfirmedAt, Expr::value(confirmed_at))
        .col_expr(cluster_nodes::Column::SyncsRunning, Expr::value(syncs_running));
    if moved {
        update = update.col_expr(cluster_nodes::Column::AppliedAt, Expr::value(now));
    }
    update.filter(cluster_nodes::Column::NodeId.eq(node)).exec(db).await.map(|_| ())
}

/// A clean shutdown: the node no longer holds changes pending.
pub async fn node_stopped(db: &impl ConnectionTrait, node: &str) -> Result<(), DbErr> {
    cluster_nodes::Entity::update_many()
        .col_expr(cluster_nodes::Column::StoppedAt, Expr::value(Utc::now()))
        .col_expr(cluster_nodes::Column::SyncsRunning, Expr::value(0))
        .filter(cluster_nodes::Column::NodeId.eq(node))
        .exec(db)
        .await
        .map(|_| ())
}

/// Nodes seen since `since` and not stopped.
pub async fn live_nodes(db: &impl ConnectionTrait, since: DateTime<Utc>) -> Result<Vec<cluster_nodes::Model>, DbErr> {
    cluster_nodes::Entity::find()
        .filter(cluster_nodes::Column::SeenAt.gte(since))
        .filter(cluster_nodes::Column::StoppedAt.is_null())
        .all(db)
        .await
}

/// Every node seen since `since` (live, quiet or stopped), newest start first.
pub async fn recent(db: &impl ConnectionTrait, since: DateTime<Utc>) -> Result<Vec<cluster_nodes::Model>, DbErr> {
    cluster_nodes::Entity::find()
        .filter(cluster_nodes::Column::SeenAt.gte(since))
        .order_by_desc(cluster_nodes::Column::StartedAt)
        .all(db)
        .await
}
