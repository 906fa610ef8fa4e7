//! Data Hub: workspace slugs (the `{workspace}` of `/hub/{workspace}/…`),
//! datasets and their rows, data collections and endpoints.
//!
//! Rows live in one table keyed by (dataset, generation, position). A
//! replacement writes a new generation beside the current one and a one-row
//! update of `datasets.generation` switches readers over; positions are dense
//! (0..row_count) so that `offset` is a key lookup, not a scan.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Slug,
}

#[derive(DeriveIden)]
enum Datasets {
    Table,
    Id,
    WorkspaceId,
    Name,
    NameKey,
    Columns,
    PrimaryKey,
    Source,
    State,
    Generation,
    NextGeneration,
    Version,
    RowCount,
    SizeBytes,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DatasetRows {
    Table,
    DatasetId,
    Generation,
    Pos,
    Pk,
    Data,
}

#[derive(DeriveIden)]
enum DataCollections {
    Table,
    Id,
    WorkspaceId,
    Name,
    NameKey,
    Description,
    DatasetId,
    Fields,
    SortOrder,
    DefaultLimit,
    MaxLimit,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Endpoints {
    Table,
    Id,
    WorkspaceId,
    Path,
    CollectionId,
    Access,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .add_column(ColumnDef::new(Workspaces::Slug).string().null())
                    .to_owned(),
            )
            .await?;
        // NULLs do not collide; the application fills slugs for older workspaces at start.
        manager
            .create_index(
                Index::create()
                    .name("workspaces_by_slug")
                    .table(Workspaces::Table)
                    .col(Workspaces::Slug)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Datasets::Table)
                    .col(big_pk_auto(Datasets::Id))
                    .col(big_integer(Datasets::WorkspaceId))
                    .col(string(Datasets::Name))
                    .col(string(Datasets::NameKey))
                    .col(text(Datasets::Columns))
                    .col(string_null(Datasets::PrimaryKey))
                    .col(string(Datasets::Source))
                    .col(string(Datasets::State))
                    .col(big_integer(Datasets::Generation))
                    .col(big_integer(Datasets::NextGeneration))
                    .col(big_integer(Datasets::Version))
                    .col(big_integer(Datasets::RowCount))
                    .col(big_integer(Datasets::SizeBytes))
                    .col(big_integer_null(Datasets::CreatedBy))
                    .col(timestamp_with_time_zone(Datasets::CreatedAt))
                    .col(timestamp_with_time_zone(Datasets::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("datasets_by_name_key")
                    .table(Datasets::Table)
                    .col(Datasets::WorkspaceId)
                    .col(Datasets::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // No foreign key: rows are written in bulk and removed by the store in
        // chunks, and a per-row check would only slow imports down.
        manager
            .create_table(
                Table::create()
                    .table(DatasetRows::Table)
                    .col(big_integer(DatasetRows::DatasetId))
                    .col(big_integer(DatasetRows::Generation))
                    .col(big_integer(DatasetRows::Pos))
                    .col(string_null(DatasetRows::Pk))
                    .col(text(DatasetRows::Data))
                    .primary_key(
                        Index::create().col(DatasetRows::DatasetId).col(DatasetRows::Generation).col(DatasetRows::Pos),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("dataset_rows_by_pk")
                    .table(DatasetRows::Table)
                    .col(DatasetRows::DatasetId)
                    .col(DatasetRows::Generation)
                    .col(DatasetRows::Pk)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DataCollections::Table)
                    .col(big_pk_auto(DataCollections::Id))
                    .col(big_integer(DataCollections::WorkspaceId))
                    .col(string(DataCollections::Name))
                    .col(string(DataCollections::NameKey))
                    .col(text(DataCollections::Description))
                    .col(big_integer(DataCollections::DatasetId))
                    .col(text_null(DataCollections::Fields))
                    .col(string_null(DataCollections::SortOrder))
                    .col(big_integer(DataCollections::DefaultLimit))
                    .col(big_integer(DataCollections::MaxLimit))
                    .col(timestamp_with_time_zone(DataCollections::CreatedAt))
                    .col(timestamp_with_time_zone(DataCollections::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DataCollections::Table, DataCollections::DatasetId)
                            .to(Datasets::Table, Datasets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("collections_by_name_key")
                    .table(DataCollections::Table)
                    .col(DataCollections::WorkspaceId)
                    .col(DataCollections::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Endpoints::Table)
                    .col(big_pk_auto(Endpoints::Id))
                    .col(big_integer(Endpoints::WorkspaceId))
                    .col(string(Endpoints::Path))
                    .col(big_integer(Endpoints::CollectionId))
                    .col(string(Endpoints::Access))
                    .col(timestamp_with_time_zone(Endpoints::CreatedAt))
                    .col(timestamp_with_time_zone(Endpoints::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Endpoints::Table, Endpoints::CollectionId)
                            .to(DataCollections::Table, DataCollections::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("endpoints_by_path")
                    .table(Endpoints::Table)
                    .col(Endpoints::WorkspaceId)
                    .col(Endpoints::Path)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Endpoints::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(DataCollections::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(DatasetRows::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Datasets::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("workspaces_by_slug").table(Workspaces::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Workspaces::Table).drop_column(Workspaces::Slug).to_owned()).await
    }
}
