//! Rate-limit budgets shared by the nodes of a cluster (PostgreSQL only; a
//! SQLite instance is one node and counts in memory). A row per key and
//! window holds how many calls the nodes together were granted; a node leases
//! a slice at a time and spends it from memory (`limits`), so the database is
//! asked once per slice, never per call, and the window's grants never add
//! up to more than the limit.
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};

/// What a lease got: the calls granted to this node now (0 when the
/// window's budget is spent) and what the window has left after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub granted: u32,
    pub left: u32,
}

/// A slice is the window's remainder divided by this (at least one call):
/// large while much is left, one call at a time near the end, so budget
/// leased by one node and unused there is small when another runs dry.
const SLICES: i64 = 8;

/// Leases a slice of `limit` calls for (`kind`, `id`) in the window starting
/// at `start` (unix seconds) and ending at `end`.
pub async fn lease(
    db: &impl ConnectionTrait,
    kind: &str,
    id: i64,
    start: i64,
    end: i64,
    limit: u32,
) -> Result<Lease, DbErr> {
    let limit = i64::from(limit);
    // A few tries: under concurrent leases the re-checked row may no longer
    // have room for the slice computed from the older read.
    for _ in 0..5 {
        let update = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "UPDATE rate_budgets AS r SET granted = r.granted + d.n \
             FROM (SELECT LEAST($4 - granted, GREATEST(1, ($4 - granted) / $5)) AS n FROM rate_budgets \
                   WHERE key_kind = $1 AND key_id = $2 AND window_start = $3) AS d \
             WHERE r.key_kind = $1 AND r.key_id = $2 AND r.window_start = $3 \
               AND d.n > 0 AND r.granted + d.n <= $4 \
             RETURNING d.n AS n, $4 - r.granted AS left",
            [kind.into(), id.into(), start.into(), limit.into(), SLICES.into()],
        );
        if let Some(row) = db.query_one_raw(update).await? {
            return Ok(lease_of(row.try_get::<i64>("", "n")?, row.try_get::<i64>("", "left")?));
        }
        let first = (limit / SLICES).max(1).min(limit);
        let insert = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "INSERT INTO rate_budgets (key_kind, key_id, window_start, window_end, granted) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key_kind, key_id, window_start) DO NOTHING RETURNING granted",
            [kind.into(), id.into(), start.into(), end.into(), first.into()],
        );
        if db.query_one_raw(insert).await?.is_some() {
            return Ok(lease_of(first, limit - first));
        }
        // The row exists: spent, or changed under us.
        let left = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT $4 - granted AS left FROM rate_budgets WHERE key_kind = $1 AND key_id = $2 AND window_start = $3",
            [kind.into(), id.into(), start.into(), limit.into()],
        );
        match db.query_one_raw(left).await? {
            Some(row) if row.try_get::<i64>("", "left")? <= 0 => return Ok(Lease { granted: 0, left: 0 }),
            _ => continue,
        }
    }
    Ok(Lease { granted: 0, left: 0 })
}

fn lease_of(granted: i64, left: i64) -> Lease {
    Lease { granted: u32::try_from(granted).unwrap_or(0), left: u32::try_from(left.max(0)).unwrap_or(u32::MAX) }
}

/// Forgets windows that have ended.
pub async fn sweep(db: &impl ConnectionTrait, now: i64) -> Result<u64, DbErr> {
    let res = db
        .execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "DELETE FROM rate_budgets WHERE window_end < $1",
            [now.into()],
        ))
        .await?;
    Ok(res.rows_affected())
}
