//! Live Data and the ontology: entities, connector sources (with sealed
//! credentials), the spreadsheet tabs that tie a source's stream to a dataset
//! and an entity, and sync runs.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Entities {
    Table,
    Id,
    WorkspaceId,
    Name,
    NameKey,
    Description,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sources {
    Table,
    Id,
    WorkspaceId,
    Kind,
    Name,
    NameKey,
    /// draft, active, failing
    Status,
    /// JSON object of the kind's non-secret fields.
    Config,
    /// The secret fields as a JSON object, sealed with `source:{id}` as associated data.
    SecretsSealed,
    /// JSON object: secret field → its last four characters (what the form shows).
    SecretHints,
    /// JSON: the streams discovered at the last successful test.
    Catalog,
    /// JSON array of the chosen stream names.
    Streams,
    EntityId,
    /// JSON: the last test's outcome (ok, error class, cause, solution, provider message).
    LastTest,
    LastTestAt,
    LastSyncAt,
    CreatedAt,
    CreatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StreamTabs {
    Table,
    Id,
    WorkspaceId,
    EntityId,
    SourceId,
    Stream,
    DatasetId,
    LastSyncAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SyncRuns {
    Table,
    Id,
    WorkspaceId,
    SourceId,
    /// running, succeeded, partial, failed
    Status,
    /// JSON array: per stream name, status, records read/written, error.
    Streams,
    Error,
    Trigger,
    StartedAt,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Entities::Table)
                    .col(big_pk_auto(Entities::Id))
                    .col(big_integer(Entities::WorkspaceId))
                    .col(string(Entities::Name))
                    .col(string(Entities::NameKey))
                    .col(text(Entities::Description))
                    .col(timestamp_with_time_zone(Entities::CreatedAt))
                    .col(timestamp_with_time_zone(Entities::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("entities_by_name_key")
                    .table(Entities::Table)
                    .col(Entities::WorkspaceId)
                    .col(Entities::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sources::Table)
                    .col(big_pk_auto(Sources::Id))
                    .col(big_integer(Sources::WorkspaceId))
                    .col(string(Sources::Kind))
                    .col(string(Sources::Name))
                    .col(string(Sources::NameKey))
                    .col(string(Sources::Status))
                    .col(text(Sources::Config))
                    .col(text_null(Sources::SecretsSealed))
                    .col(text(Sources::SecretHints))
                    .col(text_null(Sources::Catalog))
                    .col(text(Sources::Streams))
                    .col(big_integer_null(Sources::EntityId))
                    .col(text_null(Sources::LastTest))
                    .col(timestamp_with_time_zone_null(Sources::LastTestAt))
                    .col(timestamp_with_time_zone_null(Sources::LastSyncAt))
                    .col(timestamp_with_time_zone(Sources::CreatedAt))
                    .col(big_integer_null(Sources::CreatedBy))
                    .col(timestamp_with_time_zone(Sources::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sources_by_name_key")
                    .table(Sources::Table)
                    .col(Sources::WorkspaceId)
                    .col(Sources::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StreamTabs::Table)
                    .col(big_pk_auto(StreamTabs::Id))
                    .col(big_integer(StreamTabs::WorkspaceId))
                    .col(big_integer_null(StreamTabs::EntityId))
                    .col(big_integer_null(StreamTabs::SourceId))
                    .col(string(StreamTabs::Stream))
                    .col(big_integer(StreamTabs::DatasetId))
                    .col(timestamp_with_time_zone_null(StreamTabs::LastSyncAt))
                    .col(timestamp_with_time_zone(StreamTabs::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("stream_tabs_by_entity")
                    .table(StreamTabs::Table)
                    .col(StreamTabs::EntityId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("stream_tabs_by_source")
                    .table(StreamTabs::Table)
                    .col(StreamTabs::SourceId)
                    .col(StreamTabs::Stream)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SyncRuns::Table)
                    .col(big_pk_auto(SyncRuns::Id))
                    .col(big_integer(SyncRuns::WorkspaceId))
                    .col(big_integer(SyncRuns::SourceId))
                    .col(string(SyncRuns::Status))
                    .col(text(SyncRuns::Streams))
                    .col(text_null(SyncRuns::Error))
                    .col(string(SyncRuns::Trigger))
                    .col(timestamp_with_time_zone(SyncRuns::StartedAt))
                    .col(timestamp_with_time_zone_null(SyncRuns::FinishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sync_runs_by_source")
                    .table(SyncRuns::Table)
                    .col(SyncRuns::SourceId)
                    .col(SyncRuns::Id)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["sync_runs", "stream_tabs", "sources", "entities"] {
            manager.drop_table(Table::drop().table(Alias::new(t)).to_owned()).await?;
        }
        Ok(())
    }
}
