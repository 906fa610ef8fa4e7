//! Data Hub keys (the key editor), teams for portal tokens, and what lets
//! every node keep its in-memory key snapshot current one key at a time.
//!
//! `hub_key_changes` is an append-only log: each saved or deleted key (or
//! changed team) adds a row, and each node applies the rows after the last it
//! applied, reloading only the keys named. `cluster_nodes` records, per node,
//! the last change applied; a key is "synced" once every live node has
//! applied its latest change.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Teams {
    Table,
    Id,
    WorkspaceId,
    Name,
    NameKey,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TeamMembers {
    Table,
    TeamId,
    UserId,
}

#[derive(DeriveIden)]
enum HubKeys {
    Table,
    Id,
    WorkspaceId,
    Name,
    NameKey,
    AccessType,
    Status,
    SecretDigest,
    SecretSuffix,
    SecretSealed,
    IpFilters,
    Headers,
    ExpiresAt,
    Version,
    ChangeSeq,
    CreatedAt,
    CreatedBy,
    UpdatedAt,
    UpdatedBy,
    LastUsedAt,
    LastUsedIp,
}

#[derive(DeriveIden, Clone, Copy)]
enum HubKeyEndpoints {
    Table,
    HubKeyId,
    EndpointId,
}

#[derive(DeriveIden, Clone, Copy)]
enum HubKeyUsers {
    Table,
    HubKeyId,
    UserId,
}

#[derive(DeriveIden, Clone, Copy)]
enum HubKeyTeams {
    Table,
    HubKeyId,
    TeamId,
}

#[derive(DeriveIden)]
enum HubKeyChanges {
    Table,
    Seq,
    WorkspaceId,
    HubKeyId,
    TeamId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ClusterNodes {
    Table,
    NodeId,
    AppliedSeq,
    AppliedAt,
    SeenAt,
}

fn pair(
    table: impl IntoIden + Clone + 'static,
    a: impl IntoIden + Clone + 'static,
    b: impl IntoIden + Clone + 'static,
) -> TableCreateStatement {
    Table::create()
        .table(table)
        .col(big_integer(a.clone()))
        .col(big_integer(b.clone()))
        .primary_key(Index::create().col(a).col(b))
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Teams::Table)
                    .col(big_pk_auto(Teams::Id))
                    .col(big_integer(Teams::WorkspaceId))
                    .col(string(Teams::Name))
                    .col(string(Teams::NameKey))
                    .col(timestamp_with_time_zone(Teams::CreatedAt))
                    .col(timestamp_with_time_zone(Teams::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("teams_by_name_key")
                    .table(Teams::Table)
                    .col(Teams::WorkspaceId)
                    .col(Teams::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager.create_table(pair(TeamMembers::Table, TeamMembers::TeamId, TeamMembers::UserId)).await?;
        manager
            .create_table(
                Table::create()
                    .table(HubKeys::Table)
                    .col(big_pk_auto(HubKeys::Id))
                    .col(big_integer(HubKeys::WorkspaceId))
                    .col(string(HubKeys::Name))
                    .col(string(HubKeys::NameKey))
                    .col(string(HubKeys::AccessType))
                    .col(string(HubKeys::Status))
                    .col(string_null(HubKeys::SecretDigest))
                    .col(string_null(HubKeys::SecretSuffix))
                    .col(text_null(HubKeys::SecretSealed))
                    .col(text(HubKeys::IpFilters))
                    .col(text(HubKeys::Headers))
                    .col(timestamp_with_time_zone_null(HubKeys::ExpiresAt))
                    .col(big_integer(HubKeys::Version))
                    .col(big_integer(HubKeys::ChangeSeq))
                    .col(timestamp_with_time_zone(HubKeys::CreatedAt))
                    .col(big_integer_null(HubKeys::CreatedBy))
                    .col(timestamp_with_time_zone(HubKeys::UpdatedAt))
                    .col(big_integer_null(HubKeys::UpdatedBy))
                    .col(timestamp_with_time_zone_null(HubKeys::LastUsedAt))
                    .col(string_null(HubKeys::LastUsedIp))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("hub_keys_by_name_key")
                    .table(HubKeys::Table)
                    .col(HubKeys::WorkspaceId)
                    .col(HubKeys::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A generic token must be unique in its workspace; API keys are random.
        manager
            .create_index(
                Index::create()
                    .name("hub_keys_by_digest")
                    .table(HubKeys::Table)
                    .col(HubKeys::WorkspaceId)
                    .col(HubKeys::SecretDigest)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The table's filters and sorts (100,000 keys must page fast).
        for (name, col) in [
            ("hub_keys_by_status", HubKeys::Status),
            ("hub_keys_by_type", HubKeys::AccessType),
            ("hub_keys_by_expiry", HubKeys::ExpiresAt),
            ("hub_keys_by_last_use", HubKeys::LastUsedAt),
            ("hub_keys_by_created", HubKeys::CreatedAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(HubKeys::Table)
                        .col(HubKeys::WorkspaceId)
                        .col(col)
                        .col(HubKeys::NameKey)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(pair(HubKeyEndpoints::Table, HubKeyEndpoints::HubKeyId, HubKeyEndpoints::EndpointId))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("hub_key_endpoints_by_endpoint")
                    .table(HubKeyEndpoints::Table)
                    .col(HubKeyEndpoints::EndpointId)
                    .to_owned(),
            )
            .await?;
        manager.create_table(pair(HubKeyUsers::Table, HubKeyUsers::HubKeyId, HubKeyUsers::UserId)).await?;
        manager.create_table(pair(HubKeyTeams::Table, HubKeyTeams::HubKeyId, HubKeyTeams::TeamId)).await?;
        manager
            .create_index(
                Index::create()
                    .name("hub_key_teams_by_team")
                    .table(HubKeyTeams::Table)
                    .col(HubKeyTeams::TeamId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HubKeyChanges::Table)
                    .col(big_pk_auto(HubKeyChanges::Seq))
                    .col(big_integer(HubKeyChanges::WorkspaceId))
                    .col(big_integer_null(HubKeyChanges::HubKeyId))
                    .col(big_integer_null(HubKeyChanges::TeamId))
                    .col(timestamp_with_time_zone(HubKeyChanges::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ClusterNodes::Table)
                    .col(string(ClusterNodes::NodeId).primary_key())
                    .col(big_integer(ClusterNodes::AppliedSeq))
                    .col(timestamp_with_time_zone(ClusterNodes::AppliedAt))
                    .col(timestamp_with_time_zone(ClusterNodes::SeenAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "cluster_nodes",
            "hub_key_changes",
            "hub_key_teams",
            "hub_key_users",
            "hub_key_endpoints",
            "hub_keys",
            "team_members",
            "teams",
        ] {
            manager.drop_table(Table::drop().table(Alias::new(t)).to_owned()).await?;
        }
        Ok(())
    }
}
