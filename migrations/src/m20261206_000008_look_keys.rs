//! Look keys: every name a workspace gives (datasets, collections, hub keys,
//! entities, sources, teams) gets a second comparison key, the Unicode TR39
//! confusable skeleton of its case-folded form, unique per workspace, so that
//! a Cyrillic “Cаfé” cannot stand beside a Latin “Café”. `name_key` stays the
//! case-folded form that lists sort and search by. The application fills the
//! key for older rows at start (NULLs do not collide meanwhile).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 6] = ["datasets", "data_collections", "hub_keys", "entities", "sources", "teams"];

fn index_name(table: &str) -> String {
    format!("{table}_by_look_key")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(ColumnDef::new(Alias::new("look_key")).string().null())
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name(index_name(table))
                        .table(Alias::new(table))
                        .col(Alias::new("workspace_id"))
                        .col(Alias::new("look_key"))
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager.drop_index(Index::drop().name(index_name(table)).table(Alias::new(table)).to_owned()).await?;
            manager
                .alter_table(Table::alter().table(Alias::new(table)).drop_column(Alias::new("look_key")).to_owned())
                .await?;
        }
        Ok(())
    }
}
