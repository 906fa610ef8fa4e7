//! Webhooks: the URLs a workspace has events delivered to (signed per the
//! Standard Webhooks specification, the secret sealed at rest), each event's
//! delivery to each webhook, and every attempt of it (status, answer time).
//! Keys note when their `key.expired` event went out.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

fn id() -> ColumnDef {
    col("id").big_integer().not_null().auto_increment().primary_key().to_owned()
}

fn index(name: &str, table: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(Alias::new(table));
    for c in cols {
        i.col(Alias::new(*c));
    }
    i.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("webhooks"))
                    .col(id())
                    .col(col("workspace_id").big_integer().not_null())
                    .col(col("url").text().not_null())
                    .col(col("description").string().not_null())
                    // JSON list of event types.
                    .col(col("events").text().not_null())
                    .col(col("secret_sealed").text().not_null())
                    // `active`, `failing` (a delivery gave up) or `disabled`.
                    .col(col("status").string().not_null())
                    .col(col("failing_since").timestamp_with_time_zone().null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("created_by").big_integer().null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("webhooks_by_workspace", "webhooks", &["workspace_id"])).await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("webhook_deliveries"))
                    .col(id())
                    .col(col("webhook_id").big_integer().not_null())
                    .col(col("workspace_id").big_integer().not_null())
                    // The `webhook-id` header: the same on every attempt.
                    .col(col("message_id").string().not_null())
                    .col(col("event_type").string().not_null())
                    .col(col("payload").text().not_null())
                    // `pending`, `sending`, `delivered` or `failed`.
                    .col(col("state").string().not_null())
                    .col(col("attempts").integer().not_null())
                    // Unix seconds: the next attempt, or when a claim lapses.
                    .col(col("next_attempt_at").big_integer().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("finished_at").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("webhook_deliveries_due", "webhook_deliveries", &["state", "next_attempt_at"]))
            .await?;
        manager.create_index(index("webhook_deliveries_by_hook", "webhook_deliveries", &["webhook_id", "id"])).await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("webhook_attempts"))
                    .col(id())
                    .col(col("delivery_id").big_integer().not_null())
                    .col(col("at").timestamp_with_time_zone().not_null())
                    // The receiver's status; none when no answer came.
                    .col(col("status").integer().null())
                    .col(col("duration_ms").big_integer().not_null())
                    .col(col("error").text().null())
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("webhook_attempts_by_delivery", "webhook_attempts", &["delivery_id"])).await?;
        for table in ["hub_keys", "personal_keys"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(col("expired_event_at").timestamp_with_time_zone().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["hub_keys", "personal_keys"] {
            manager
                .alter_table(
                    Table::alter().table(Alias::new(table)).drop_column(Alias::new("expired_event_at")).to_owned(),
                )
                .await?;
        }
        for table in ["webhook_attempts", "webhook_deliveries", "webhooks"] {
            manager.drop_table(Table::drop().table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}
