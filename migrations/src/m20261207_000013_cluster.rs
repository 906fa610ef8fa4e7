//! Many nodes on one PostgreSQL database.
//!
//! - The change log that every node's key snapshots follow now carries
//!   personal keys and memberships too (`key_id`, `user_id`), not only Data
//!   Hub keys and teams: a node applies another node's change to one key or
//!   member in place, instead of reloading every personal key. Renamed from
//!   `hub_key_changes` to `key_changes` accordingly.
//! - On PostgreSQL, triggers `NOTIFY` the channel `keyhub_changes` in the
//!   transaction that logs a change (payload `keys`) or moves a shared marker
//!   (payload: the marker's name), so listening nodes hear of it when it
//!   commits, never before. SQLite serves one node and needs none.
//! - `cluster_nodes` describes each node for Admin → Cluster.
//! - `rate_budgets`: per key and rate-limit window, the calls the nodes were
//!   granted together; nodes lease slices of it (PostgreSQL only).
//! - `sign_in_failures`: failed sign-ins under keyed digests of the client's
//!   address and the account, so the sign-in throttle holds for the cluster.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

const NOTIFY_SQL: &[&str] = &[
    "CREATE OR REPLACE FUNCTION keyhub_notify_keys() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN PERFORM pg_notify('keyhub_changes', 'keys'); RETURN NULL; END $$",
    "CREATE TRIGGER key_changes_notify AFTER INSERT ON key_changes
     FOR EACH STATEMENT EXECUTE FUNCTION keyhub_notify_keys()",
    "CREATE OR REPLACE FUNCTION keyhub_notify_marker() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN PERFORM pg_notify('keyhub_changes', NEW.name); RETURN NULL; END $$",
    "CREATE TRIGGER instance_facts_notify AFTER INSERT OR UPDATE ON instance_facts
     FOR EACH ROW WHEN (NEW.name IN ('keys_version', 'hub_version')) EXECUTE FUNCTION keyhub_notify_marker()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .rename_table(Table::rename().table(Alias::new("hub_key_changes"), Alias::new("key_changes")).to_owned())
            .await?;
        for c in ["key_id", "user_id"] {
            manager
                .alter_table(
                    Table::alter().table(Alias::new("key_changes")).add_column(col(c).big_integer().null()).to_owned(),
                )
                .await?;
        }
        for c in [
            col("address").string().null().to_owned(),
            col("version").string().null().to_owned(),
            col("started_at").timestamp_with_time_zone().null().to_owned(),
            // When the node last confirmed its key snapshots against the database.
            col("confirmed_at").timestamp_with_time_zone().null().to_owned(),
            col("syncs_running").integer().not_null().default(0).to_owned(),
            // Set by a node that shut down cleanly (a quiet node without it crashed).
            col("stopped_at").timestamp_with_time_zone().null().to_owned(),
        ] {
            let mut c = c;
            manager
                .alter_table(Table::alter().table(Alias::new("cluster_nodes")).add_column(&mut c).to_owned())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("rate_budgets"))
                    .col(col("key_kind").string().not_null())
                    .col(col("key_id").big_integer().not_null())
                    .col(col("window_start").big_integer().not_null())
                    .col(col("window_end").big_integer().not_null())
                    .col(col("granted").big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("key_kind"))
                            .col(Alias::new("key_id"))
                            .col(Alias::new("window_start")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("rate_budgets_by_end")
                    .table(Alias::new("rate_budgets"))
                    .col(Alias::new("window_end"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("sign_in_failures"))
                    .col(col("id").big_integer().not_null().auto_increment().primary_key())
                    .col(col("subject").string().not_null())
                    .col(col("at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sign_in_failures_by_subject")
                    .table(Alias::new("sign_in_failures"))
                    .col(Alias::new("subject"))
                    .col(Alias::new("at"))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            for sql in NOTIFY_SQL {
                manager.get_connection().execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            for sql in [
                "DROP TRIGGER IF EXISTS instance_facts_notify ON instance_facts",
                "DROP TRIGGER IF EXISTS key_changes_notify ON key_changes",
                "DROP FUNCTION IF EXISTS keyhub_notify_marker()",
                "DROP FUNCTION IF EXISTS keyhub_notify_keys()",
            ] {
                manager.get_connection().execute_unprepared(sql).await?;
            }
        }
        manager.drop_table(Table::drop().table(Alias::new("rate_budgets")).to_owned()).await?;
        manager.drop_table(Table::drop().table(Alias::new("sign_in_failures")).to_owned()).await?;
        for c in ["address", "version", "started_at", "confirmed_at", "syncs_running", "stopped_at"] {
            manager
                .alter_table(Table::alter().table(Alias::new("cluster_nodes")).drop_column(Alias::new(c)).to_owned())
                .await?;
        }
        for c in ["key_id", "user_id"] {
            manager
                .alter_table(Table::alter().table(Alias::new("key_changes")).drop_column(Alias::new(c)).to_owned())
                .await?;
        }
        manager
            .rename_table(Table::rename().table(Alias::new("key_changes"), Alias::new("hub_key_changes")).to_owned())
            .await
    }
}
