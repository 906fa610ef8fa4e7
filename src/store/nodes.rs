//! The nodes of a cluster: which one is alive, and up to which Data Hub key
//! change each has applied (a key's "sync status").
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use crate::entities::cluster_nodes;

/// Records that `node` verifies with every change up to `seq` (and is alive).
pub async fn node_applied(
    db: &impl ConnectionTrait,
    node: &str,
    seq: i64,
    applied_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let row = cluster_nodes::ActiveModel {
        node_id: Set(node.to_owned()),
        applied_seq: Set(seq),
        applied_at: Set(applied_at),
        seen_at: Set(Utc::now()),
    };
    cluster_nodes::Entity::insert(row)
        .on_conflict(
            OnConflict::column(cluster_nodes::Column::NodeId)
                .update_columns([
                    cluster_nodes::Column::AppliedSeq,
                    cluster_nodes::Column::AppliedAt,
                    cluster_nodes::Column::SeenAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn node_seen(db: &impl ConnectionTrait, node: &str) -> Result<(), DbErr> {
    cluster_nodes::Entity::update_many()
        .col_expr(cluster_nodes::Column::SeenAt, Expr::value(Utc::now()))
        .filter(cluster_nodes::Column::NodeId.eq(node))
        .exec(db)
        .await
        .map(|_| ())
}

/// Nodes seen since `since`: (node, applied seq, applied at).
pub async fn live_nodes(db: &impl ConnectionTrait, since: DateTime<Utc>) -> Result<Vec<cluster_nodes::Model>, DbErr> {
    cluster_nodes::Entity::find().filter(cluster_nodes::Column::SeenAt.gte(since)).all(db).await
}
