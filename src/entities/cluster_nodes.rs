use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cluster_nodes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub node_id: String,
    /// The last `key_changes.seq` this node's key snapshots have applied.
    pub applied_seq: i64,
    pub applied_at: DateTimeUtc,
    /// Heartbeat: nodes not seen for a while no longer hold changes pending.
    pub seen_at: DateTimeUtc,
    /// Where the node listens (`KEYHUB_BIND`, or `KEYHUB_NODE_ADDRESS`).
    pub address: Option<String>,
    pub version: Option<String>,
    pub started_at: Option<DateTimeUtc>,
    /// When its key snapshots last matched the database.
    pub confirmed_at: Option<DateTimeUtc>,
    pub syncs_running: i32,
    /// Set when the node shut down cleanly.
    pub stopped_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
