//! Failed sign-ins (and password confirmations) counted for the whole cluster
//! (PostgreSQL): one row per failure under a keyed digest of the client's
//! address and one under the account's, never the address or email itself.
//! A sign-in already reads the database (the account); the throttle adds one
//! count per attempt and one write per failure — never anything on the path
//! of a key-guarded call.
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};

/// Records one failure under each of `subjects`.
pub async fn record(db: &impl ConnectionTrait, subjects: &[&str], at: DateTime<Utc>) -> Result<(), DbErr> {
    for s in subjects {
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "INSERT INTO sign_in_failures (subject, at) VALUES ($1, $2)",
            [(*s).into(), at.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Failures of `subject` since `since`, and the oldest of them.
pub async fn since(
    db: &impl ConnectionTrait,
    subject: &str,
    since: DateTime<Utc>,
) -> Result<(i64, Option<DateTime<Utc>>), DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM sign_in_failures WHERE subject = $1 AND at > $2",
            [subject.into(), since.into()],
        ))
        .await?;
    match row {
        Some(r) => Ok((r.try_get("", "n")?, r.try_get("", "oldest")?)),
        None => Ok((0, None)),
    }
}

/// A successful sign-in clears the account's failures.
pub async fn clear(db: &impl ConnectionTrait, subject: &str) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "DELETE FROM sign_in_failures WHERE subject = $1",
        [subject.into()],
    ))
    .await
    .map(|_| ())
}

/// Forgets failures older than `before`.
pub async fn sweep(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let res = db
        .execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "DELETE FROM sign_in_failures WHERE at < $1",
            [before.into()],
        ))
        .await?;
    Ok(res.rows_affected())
}
