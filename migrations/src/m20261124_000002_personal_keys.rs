//! Personal API keys and the audit log.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PersonalKeys {
    Table,
    Id,
    WorkspaceId,
    UserId,
    Label,
    Permissions,
    Identifier,
    SecretHash,
    PreviousSecretHash,
    PreviousValidUntil,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    RotatedAt,
    LastUsedAt,
    LastUsedIp,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    WorkspaceId,
    ActorUserId,
    KeyId,
    Action,
    Detail,
    Ip,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PersonalKeys::Table)
                    .col(big_pk_auto(PersonalKeys::Id))
                    .col(big_integer(PersonalKeys::WorkspaceId))
                    .col(big_integer(PersonalKeys::UserId))
                    .col(string(PersonalKeys::Label))
                    .col(text(PersonalKeys::Permissions))
                    .col(string(PersonalKeys::Identifier))
                    .col(string_uniq(PersonalKeys::SecretHash))
                    .col(string_null(PersonalKeys::PreviousSecretHash))
                    .col(timestamp_with_time_zone_null(PersonalKeys::PreviousValidUntil))
                    .col(timestamp_with_time_zone(PersonalKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(PersonalKeys::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PersonalKeys::RevokedAt))
                    .col(timestamp_with_time_zone_null(PersonalKeys::RotatedAt))
                    .col(timestamp_with_time_zone_null(PersonalKeys::LastUsedAt))
                    .col(string_null(PersonalKeys::LastUsedIp))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PersonalKeys::Table, PersonalKeys::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PersonalKeys::Table, PersonalKeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("personal_keys_owner_label")
                    .table(PersonalKeys::Table)
                    .col(PersonalKeys::WorkspaceId)
                    .col(PersonalKeys::UserId)
                    .col(PersonalKeys::Label)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(big_pk_auto(AuditEvents::Id))
                    .col(big_integer(AuditEvents::WorkspaceId))
                    .col(big_integer_null(AuditEvents::ActorUserId))
                    .col(big_integer_null(AuditEvents::KeyId))
                    .col(string(AuditEvents::Action))
                    .col(text(AuditEvents::Detail))
                    .col(string_null(AuditEvents::Ip))
                    .col(timestamp_with_time_zone(AuditEvents::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuditEvents::Table, AuditEvents::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_workspace_time")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::WorkspaceId)
                    .col(AuditEvents::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditEvents::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(PersonalKeys::Table).to_owned()).await?;
        Ok(())
    }
}
