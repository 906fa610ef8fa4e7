//! The audit log keeps who and what by name as it was at the time; workspace
//! names get a comparison key (NFC, case folded, confusable skeleton) that is
//! unique; one-time password-reset links made by admins.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    ActorName,
    TargetKind,
    TargetId,
    TargetName,
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
    NameKey,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum PasswordResets {
    Table,
    Id,
    WorkspaceId,
    UserId,
    TokenHash,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for col in [
            ColumnDef::new(AuditEvents::ActorName).string().null().to_owned(),
            ColumnDef::new(AuditEvents::TargetKind).string().null().to_owned(),
            ColumnDef::new(AuditEvents::TargetId).big_integer().null().to_owned(),
            ColumnDef::new(AuditEvents::TargetName).string().null().to_owned(),
        ] {
            manager.alter_table(Table::alter().table(AuditEvents::Table).add_column(col).to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .add_column(ColumnDef::new(Workspaces::NameKey).string().null())
                    .to_owned(),
            )
            .await?;
        // NULLs do not collide; the application fills the key for older rows at start.
        manager
            .create_index(
                Index::create()
                    .name("workspaces_by_name_key")
                    .table(Workspaces::Table)
                    .col(Workspaces::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PasswordResets::Table)
                    .col(big_pk_auto(PasswordResets::Id))
                    .col(big_integer(PasswordResets::WorkspaceId))
                    .col(big_integer(PasswordResets::UserId))
                    .col(string_uniq(PasswordResets::TokenHash))
                    .col(big_integer_null(PasswordResets::CreatedBy))
                    .col(timestamp_with_time_zone(PasswordResets::CreatedAt))
                    .col(timestamp_with_time_zone(PasswordResets::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PasswordResets::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PasswordResets::Table, PasswordResets::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PasswordResets::Table, PasswordResets::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PasswordResets::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("workspaces_by_name_key").table(Workspaces::Table).to_owned()).await?;
        Ok(())
    }
}
