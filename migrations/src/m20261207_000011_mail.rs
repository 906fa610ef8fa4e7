//! Email: the outgoing queue and its delivery log (one table: a message is
//! queued, retried with backoff, then sent or failed), each user's choice to
//! receive notices, and on each key when its expiry notices went out.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("mail_outbox"))
                    .col(col("id").big_integer().not_null().auto_increment().primary_key())
                    // The workspace the message is about (its admins read the log); none for a user's own.
                    .col(col("workspace_id").big_integer().null())
                    .col(col("to_addr").string().not_null())
                    .col(col("subject").string().not_null())
                    .col(col("body_text").text().not_null())
                    .col(col("body_html").text().not_null())
                    // `invitation`, `reset`, `key_expiring`, `source_failing`, `source_recovered`, …
                    .col(col("kind").string().not_null())
                    // `queued`, `sending`, `sent`, `failed`.
                    .col(col("state").string().not_null())
                    .col(col("attempts").integer().not_null())
                    // Unix seconds: when to try (again), or when a claim on it lapses.
                    .col(col("next_attempt_at").big_integer().not_null())
                    .col(col("last_error").text().null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("sent_at").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mail_outbox_due")
                    .table(Alias::new("mail_outbox"))
                    .col(Alias::new("state"))
                    .col(Alias::new("next_attempt_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("users"))
                    .add_column(col("notices_off").boolean().not_null().default(false))
                    .to_owned(),
            )
            .await?;
        for table in ["hub_keys", "personal_keys"] {
            for name in ["notice_7d_at", "notice_1d_at"] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Alias::new(table))
                            .add_column(col(name).timestamp_with_time_zone().null())
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["hub_keys", "personal_keys"] {
            for name in ["notice_7d_at", "notice_1d_at"] {
                manager
                    .alter_table(Table::alter().table(Alias::new(table)).drop_column(Alias::new(name)).to_owned())
                    .await?;
            }
        }
        manager
            .alter_table(Table::alter().table(Alias::new("users")).drop_column(Alias::new("notices_off")).to_owned())
            .await?;
        manager.drop_table(Table::drop().table(Alias::new("mail_outbox")).to_owned()).await
    }
}
