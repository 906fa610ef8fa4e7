//! Accounts, workspaces, members, invitations, server-side sessions and the
//! instance's one-time facts (such as "setup is done").
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    DisplayName,
    PasswordHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Members {
    Table,
    Id,
    WorkspaceId,
    UserId,
    Role,
    Permissions,
    Disabled,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Invitations {
    Table,
    Id,
    WorkspaceId,
    Email,
    Role,
    Permissions,
    TokenHash,
    InvitedBy,
    CreatedAt,
    ExpiresAt,
    AcceptedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    State,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum InstanceFacts {
    Table,
    Name,
    Value,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(big_pk_auto(Users::Id))
                    .col(string_uniq(Users::Email))
                    .col(string(Users::DisplayName))
                    .col(string(Users::PasswordHash))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Workspaces::Table)
                    .col(big_pk_auto(Workspaces::Id))
                    .col(string_uniq(Workspaces::Name))
                    .col(timestamp_with_time_zone(Workspaces::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Members::Table)
                    .col(big_pk_auto(Members::Id))
                    .col(big_integer(Members::WorkspaceId))
                    .col(big_integer(Members::UserId))
                    .col(string(Members::Role))
                    .col(text(Members::Permissions))
                    .col(boolean(Members::Disabled).default(false))
                    .col(timestamp_with_time_zone(Members::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Members::Table, Members::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Members::Table, Members::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("members_workspace_user")
                    .table(Members::Table)
                    .col(Members::WorkspaceId)
                    .col(Members::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Invitations::Table)
                    .col(big_pk_auto(Invitations::Id))
                    .col(big_integer(Invitations::WorkspaceId))
                    .col(string(Invitations::Email))
                    .col(string(Invitations::Role))
                    .col(text(Invitations::Permissions))
                    .col(string_uniq(Invitations::TokenHash))
                    .col(big_integer(Invitations::InvitedBy))
                    .col(timestamp_with_time_zone(Invitations::CreatedAt))
                    .col(timestamp_with_time_zone(Invitations::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Invitations::AcceptedAt))
                    .col(timestamp_with_time_zone_null(Invitations::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invitations::Table, Invitations::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    // SHA-256 of the session key: a leaked table does not hand out live cookies.
                    .col(string(Sessions::Id).primary_key())
                    .col(big_integer_null(Sessions::UserId))
                    .col(text(Sessions::State))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("sessions_user").table(Sessions::Table).col(Sessions::UserId).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(InstanceFacts::Table)
                    .col(string(InstanceFacts::Name).primary_key())
                    .col(text(InstanceFacts::Value))
                    .col(timestamp_with_time_zone(InstanceFacts::CreatedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            InstanceFacts::Table.into_iden(),
            Sessions::Table.into_iden(),
            Invitations::Table.into_iden(),
            Members::Table.into_iden(),
            Workspaces::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
