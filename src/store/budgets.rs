//! Budgets shared by the nodes of a cluster (PostgreSQL only; a SQLite
//! instance is one node and counts in memory): rate limits, monthly quotas
//! and the refused-key budget. A row per budget and window holds how many
//! calls the nodes together were granted; a node leases a slice at a time
//! and spends it from memory (`limits`), so the database is asked once per
//! slice, never per call, and the window's grants never add up to more than
//! the limit. Slices a node leased and did not use are given back.
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};

/// One budget's window: what it counts (`kind`: a key's rate limit, its
/// month, or refused keys), whose it is (`id`), and when (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub kind: &'static str,
    pub id: i64,
    pub start: i64,
    pub end: i64,
}

/// What a lease got: the calls granted to this node now (0 when the
/// window's budget is spent) and what the window has left after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub granted: u64,
    pub left: u64,
}

fn pk_values(b: &Budget) -> [sea_orm::Value; 3] {
    [b.kind.into(), b.id.into(), b.start.into()]
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Leases a slice of `limit` calls: the window's remainder divided by
/// `slices` (at least one call), so slices are large while much is left and
/// one call at a time near the end. A window without a row yet starts at
/// `opening` (calls already counted elsewhere, as a month's usage).
pub async fn lease(
    db: &impl ConnectionTrait,
    b: &Budget,
    limit: u64,
    opening: u64,
    slices: u64,
) -> Result<Lease, DbErr> {
    let (limit, slices) = (int(limit), int(slices.max(1)));
    let [kind, id, start] = pk_values(b);
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
            [kind.clone(), id.clone(), start.clone(), limit.into(), slices.into()],
        );
        if let Some(row) = db.query_one_raw(update).await? {
            return Ok(lease_of(row.try_get::<i64>("", "n")?, row.try_get::<i64>("", "left")?));
        }
        let opened = int(opening).min(limit);
        let room = limit - opened;
        let first = if room > 0 { (room / slices).max(1) } else { 0 };
        let insert = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "INSERT INTO rate_budgets (key_kind, key_id, window_start, window_end, granted) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key_kind, key_id, window_start) DO NOTHING RETURNING granted",
            [kind.clone(), id.clone(), start.clone(), b.end.into(), (opened + first).into()],
        );
        if db.query_one_raw(insert).await?.is_some() {
            return Ok(lease_of(first, room - first));
        }
        // The row exists: spent, or changed under us.
        let left = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT $4 - granted AS left FROM rate_budgets WHERE key_kind = $1 AND key_id = $2 AND window_start = $3",
            [kind.clone(), id.clone(), start.clone(), limit.into()],
        );
        match db.query_one_raw(left).await? {
            Some(row) if row.try_get::<i64>("", "left")? <= 0 => return Ok(Lease { granted: 0, left: 0 }),
            _ => continue,
        }
    }
    Ok(Lease { granted: 0, left: 0 })
}

fn lease_of(granted: i64, left: i64) -> Lease {
    Lease { granted: u64::try_from(granted).unwrap_or(0), left: u64::try_from(left).unwrap_or(0) }
}

/// Adds `n` calls this node counted without a lease to the window (never
/// past `limit`), creating its row if need be.
pub async fn report(db: &impl ConnectionTrait, b: &Budget, limit: u64, n: u64) -> Result<(), DbErr> {
    let [kind, id, start] = pk_values(b);
    let n = int(n.min(limit));
    db.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "INSERT INTO rate_budgets (key_kind, key_id, window_start, window_end, granted) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (key_kind, key_id, window_start) DO UPDATE SET granted = LEAST($6, rate_budgets.granted + $5)",
        [kind, id, start, b.end.into(), n.into(), int(limit).into()],
    ))
    .await?;
    Ok(())
}

/// Gives `n` leased calls this node will not use back to the window, for
/// the other nodes.
pub async fn give_back(db: &impl ConnectionTrait, b: &Budget, n: u64) -> Result<(), DbErr> {
    let [kind, id, start] = pk_values(b);
    db.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "UPDATE rate_budgets SET granted = GREATEST(0, granted - $4) \
         WHERE key_kind = $1 AND key_id = $2 AND window_start = $3",
        [kind, id, start, int(n).into()],
    ))
    .await?;
    Ok(())
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
