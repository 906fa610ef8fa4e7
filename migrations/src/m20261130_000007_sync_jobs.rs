//! Durable sync jobs: runs become leased jobs (queued → running → outcome),
//! sources get schedules, per-stream sync modes and a failure record, and tabs
//! keep the state a full refresh resumes from and an incremental cursor.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncRuns {
    Table,
    /// The node holding the run (its lease), none while queued.
    LeaseOwner,
    /// The lease ends here unless renewed; after that another node may take the run up.
    LeaseUntil,
    /// How many times a node claimed the run (more than one: it was resumed).
    Attempts,
    CancelRequested,
    /// JSON array of `{at, level, message}`: what happened, never credentials.
    Log,
}

#[derive(DeriveIden)]
enum Sources {
    Table,
    /// Minutes between scheduled syncs; none = manual.
    ScheduleMinutes,
    SchedulePaused,
    NextSyncAt,
    /// JSON object: stream → `{"mode": "full"|"incremental", "cursor": column}`.
    StreamModes,
    /// When the source last started failing (tests or syncs), and how often since.
    FailingSince,
    FailureCount,
    /// JSON: the last failure (`{at, during, error}`), kept for Diagnostics.
    LastFailure,
}

#[derive(DeriveIden)]
enum StreamTabs {
    Table,
    /// A full refresh in progress: its generation, the source position after the
    /// last written batch, and the rows and bytes written so far.
    PendingGeneration,
    PendingState,
    PendingRows,
    PendingSize,
    /// JSON: the incremental cursor, saved in the transaction of the rows it covers.
    Cursor,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let runs: Vec<ColumnDef> = vec![
            string_null(SyncRuns::LeaseOwner),
            timestamp_with_time_zone_null(SyncRuns::LeaseUntil),
            integer(SyncRuns::Attempts).default(0).to_owned(),
            boolean(SyncRuns::CancelRequested).default(false).to_owned(),
            text(SyncRuns::Log).default("[]").to_owned(),
        ];
        for mut c in runs {
            manager.alter_table(Table::alter().table(SyncRuns::Table).add_column(&mut c).to_owned()).await?;
        }
        let sources: Vec<ColumnDef> = vec![
            integer_null(Sources::ScheduleMinutes),
            boolean(Sources::SchedulePaused).default(false).to_owned(),
            timestamp_with_time_zone_null(Sources::NextSyncAt),
            text(Sources::StreamModes).default("{}").to_owned(),
            timestamp_with_time_zone_null(Sources::FailingSince),
            integer(Sources::FailureCount).default(0).to_owned(),
            text_null(Sources::LastFailure),
        ];
        for mut c in sources {
            manager.alter_table(Table::alter().table(Sources::Table).add_column(&mut c).to_owned()).await?;
        }
        let tabs: Vec<ColumnDef> = vec![
            big_integer_null(StreamTabs::PendingGeneration),
            text_null(StreamTabs::PendingState),
            big_integer(StreamTabs::PendingRows).default(0).to_owned(),
            big_integer(StreamTabs::PendingSize).default(0).to_owned(),
            text_null(StreamTabs::Cursor),
        ];
        for mut c in tabs {
            manager.alter_table(Table::alter().table(StreamTabs::Table).add_column(&mut c).to_owned()).await?;
        }
        let db = manager.get_connection();
        // Runs of the previous version were in-process tasks: none survives an upgrade.
        db.execute_unprepared("UPDATE sync_runs SET status = 'failed', error = 'Interrupted: keyhub was upgraded during the run.' WHERE status = 'running'").await?;
        // At most one live run per source, whichever node or request asks: the
        // database refuses the second (both SQLite and PostgreSQL have partial indexes).
        db.execute_unprepared("CREATE UNIQUE INDEX sync_runs_one_live_per_source ON sync_runs (source_id) WHERE status IN ('queued', 'running')").await?;
        db.execute_unprepared("CREATE INDEX sync_runs_by_status ON sync_runs (status, lease_until)").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX sync_runs_by_status").await?;
        db.execute_unprepared("DROP INDEX sync_runs_one_live_per_source").await?;
        for c in [
            StreamTabs::PendingGeneration,
            StreamTabs::PendingState,
            StreamTabs::PendingRows,
            StreamTabs::PendingSize,
            StreamTabs::Cursor,
        ] {
            manager.alter_table(Table::alter().table(StreamTabs::Table).drop_column(c).to_owned()).await?;
        }
        for c in [
            Sources::ScheduleMinutes,
            Sources::SchedulePaused,
            Sources::NextSyncAt,
            Sources::StreamModes,
            Sources::FailingSince,
            Sources::FailureCount,
            Sources::LastFailure,
        ] {
            manager.alter_table(Table::alter().table(Sources::Table).drop_column(c).to_owned()).await?;
        }
        for c in
            [SyncRuns::LeaseOwner, SyncRuns::LeaseUntil, SyncRuns::Attempts, SyncRuns::CancelRequested, SyncRuns::Log]
        {
            manager.alter_table(Table::alter().table(SyncRuns::Table).drop_column(c).to_owned()).await?;
        }
        Ok(())
    }
}
