//! Endpoints get the web origins allowed to read them from a browser (CORS):
//! one origin per line, `*` for any (public endpoints only); empty for none.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("endpoints"))
                    .add_column(ColumnDef::new(Alias::new("allowed_origins")).text().not_null().default(""))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Alias::new("endpoints")).drop_column(Alias::new("allowed_origins")).to_owned(),
            )
            .await
    }
}
