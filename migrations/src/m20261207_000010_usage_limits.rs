//! Usage and limits: per-key counters by minute (rolled up to hours after 7
//! days and to days after 90), each key's last requests, and the rate limit
//! and monthly quota a key may carry (and a workspace's default for new keys).
//!
//! Counter rows are written by one batched upsert every few seconds, never
//! per request; their unique index is what the upsert adds into. Times are
//! unix seconds, so that rolling up is arithmetic both databases share.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id() -> ColumnDef {
    ColumnDef::new(Alias::new("id")).big_integer().not_null().auto_increment().primary_key().to_owned()
}

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

/// The limit columns keys carry, and the workspace's defaults.
const KEY_LIMITS: [(&str, &str); 3] =
    [("rate_limit_requests", "int"), ("rate_limit_window", "int"), ("monthly_quota", "bigint")];
const WORKSPACE_DEFAULTS: [&str; 2] = ["default_rate_limit_requests", "default_rate_limit_window"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("usage_counts"))
                    .col(id())
                    .col(col("workspace_id").big_integer().not_null())
                    // `hub`, `personal`, or empty for a refusal no key is known for.
                    .col(col("key_kind").string().not_null())
                    .col(col("key_id").big_integer().not_null())
                    // The endpoint's path or the API route; empty when none.
                    .col(col("endpoint").string().not_null())
                    .col(col("outcome").string().not_null())
                    .col(col("start").big_integer().not_null())
                    // 60, 3600 or 86400.
                    .col(col("span").integer().not_null())
                    .col(col("count").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("usage_counts_by_cell")
                    .table(Alias::new("usage_counts"))
                    .col(Alias::new("workspace_id"))
                    .col(Alias::new("key_kind"))
                    .col(Alias::new("key_id"))
                    .col(Alias::new("start"))
                    .col(Alias::new("span"))
                    .col(Alias::new("endpoint"))
                    .col(Alias::new("outcome"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("usage_counts_by_span")
                    .table(Alias::new("usage_counts"))
                    .col(Alias::new("span"))
                    .col(Alias::new("start"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("usage_requests"))
                    .col(id())
                    .col(col("workspace_id").big_integer().not_null())
                    .col(col("key_kind").string().not_null())
                    .col(col("key_id").big_integer().not_null())
                    // Unix milliseconds.
                    .col(col("at").big_integer().not_null())
                    .col(col("client").string().not_null())
                    .col(col("method").string().not_null())
                    .col(col("endpoint").string().not_null())
                    .col(col("status").integer().not_null())
                    .col(col("outcome").string().not_null())
                    .col(col("duration_us").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("usage_requests_by_key")
                    .table(Alias::new("usage_requests"))
                    .col(Alias::new("key_kind"))
                    .col(Alias::new("key_id"))
                    .col(Alias::new("id"))
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        for table in ["hub_keys", "personal_keys"] {
            for (name, kind) in KEY_LIMITS {
                let mut c = col(name);
                if kind == "int" {
                    c.integer()
                } else {
                    c.big_integer()
                };
                manager.alter_table(Table::alter().table(Alias::new(table)).add_column(c.null()).to_owned()).await?;
            }
        }
        for name in WORKSPACE_DEFAULTS {
            manager
                .alter_table(
                    Table::alter().table(Alias::new("workspaces")).add_column(col(name).integer().null()).to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in WORKSPACE_DEFAULTS {
            manager
                .alter_table(Table::alter().table(Alias::new("workspaces")).drop_column(Alias::new(name)).to_owned())
                .await?;
        }
        for table in ["hub_keys", "personal_keys"] {
            for (name, _) in KEY_LIMITS {
                manager
                    .alter_table(Table::alter().table(Alias::new(table)).drop_column(Alias::new(name)).to_owned())
                    .await?;
            }
        }
        manager.drop_table(Table::drop().table(Alias::new("usage_requests")).to_owned()).await?;
        manager.drop_table(Table::drop().table(Alias::new("usage_counts")).to_owned()).await
    }
}
