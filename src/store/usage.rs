//! Usage counters and recent requests (`usage_counts`, `usage_requests`).
//!
//! Writes come in batches from `usage::Recorder::flush`, never per request:
//! one multi-row upsert adds a flush's counts into their minute rows. Reads
//! group by a bucket with arithmetic on unix seconds, which SQLite and
//! PostgreSQL share.
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

use crate::domain::usage::KeyRef;
use crate::store::Sql;

/// One counter cell: a key (or none) × endpoint × outcome × minute.
#[derive(Debug, Clone)]
pub struct CountRow {
    pub workspace_id: i64,
    pub key: Option<KeyRef>,
    pub endpoint: String,
    pub outcome: &'static str,
    pub start: i64,
    pub count: u64,
}

/// One answered request, as the Usage tab lists it (no secret, no query string).
#[derive(Debug, Clone, FromQueryResult)]
pub struct RequestRow {
    pub workspace_id: i64,
    pub key_kind: String,
    pub key_id: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub client: String,
    pub method: String,
    pub endpoint: String,
    pub status: i32,
    pub outcome: String,
    pub duration_us: i64,
}

/// Rows per statement: well under SQLite's bound-variable limit.
const CHUNK: usize = 500;

fn key_cols(key: Option<KeyRef>) -> (&'static str, i64) {
    key.map_or(("", 0), |k| (k.kind(), k.id()))
}

fn count_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Adds counts into their minute rows: one statement per 500 cells.
pub async fn add_counts(db: &impl ConnectionTrait, rows: &[CountRow]) -> Result<(), DbErr> {
    for chunk in rows.chunks(CHUNK) {
        let mut sql = Sql::new(
            db.get_database_backend(),
            "INSERT INTO usage_counts (workspace_id, key_kind, key_id, endpoint, outcome, start, span, count) VALUES ",
        );
        for (i, r) in chunk.iter().enumerate() {
            let (kind, id) = key_cols(r.key);
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.bind(r.workspace_id).push(", ").bind(kind).push(", ").bind(id).push(", ");
            sql.bind(r.endpoint.clone()).push(", ").bind(r.outcome).push(", ").bind(r.start);
            sql.push(", 60, ").bind(count_i64(r.count)).push(")");
        }
        sql.push(ON_CELL);
        db.execute_raw(sql.build()).await?;
    }
    Ok(())
}

const ON_CELL: &str = " ON CONFLICT (workspace_id, key_kind, key_id, start, span, endpoint, outcome) \
     DO UPDATE SET count = usage_counts.count + excluded.count";

/// Stores answered requests; each key then keeps its last `keep`.
pub async fn add_requests(db: &impl ConnectionTrait, rows: &[RequestRow], keep: i64) -> Result<(), DbErr> {
    for chunk in rows.chunks(CHUNK) {
        let mut sql = Sql::new(
            db.get_database_backend(),
            "INSERT INTO usage_requests (workspace_id, key_kind, key_id, at, client, method, endpoint, status, outcome, duration_us) VALUES ",
        );
        for (i, r) in chunk.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.bind(r.workspace_id).push(", ").bind(r.key_kind.clone()).push(", ").bind(r.key_id).push(", ");
            sql.bind(r.at).push(", ").bind(r.client.clone()).push(", ").bind(r.method.clone()).push(", ");
            sql.bind(r.endpoint.clone()).push(", ").bind(r.status).push(", ").bind(r.outcome.clone());
            sql.push(", ").bind(r.duration_us).push(")");
        }
        db.execute_raw(sql.build()).await?;
    }
    // Only the keys just written can have passed `keep`.
    let mut keys: Vec<(&str, i64)> = rows.iter().map(|r| (r.key_kind.as_str(), r.key_id)).collect();
    keys.sort_unstable();
    keys.dedup();
    for chunk in keys.chunks(CHUNK) {
        let mut sql = Sql::new(
            db.get_database_backend(),
            "DELETE FROM usage_requests WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER \
             (PARTITION BY key_kind, key_id ORDER BY id DESC) AS n FROM usage_requests WHERE ",
        );
        for (i, (kind, id)) in chunk.iter().enumerate() {
            sql.push(if i == 0 { "(key_kind = " } else { " OR (key_kind = " });
            sql.bind(*kind).push(" AND key_id = ").bind(*id).push(")");
        }
        sql.push(") ranked WHERE n > ").bind(keep).push(")");
        db.execute_raw(sql.build()).await?;
    }
    Ok(())
}

/// The advisory lock key of roll-ups ("usage" in ASCII).
const ROLL_UP_LOCK: i64 = 0x0075_7361_6765;

/// Folds rows of `from_span` that started before `before` into rows of
/// `to_span` (minutes into hours, hours into days), in one transaction.
pub async fn roll_up(
    db: &sea_orm::DatabaseConnection,
    from_span: i64,
    to_span: i64,
    before: i64,
) -> Result<u64, DbErr> {
    let txn = crate::store::begin_write(db).await?;
    let backend = txn.get_database_backend();
    // Two roll-ups at once (two nodes, or a node and a test) would both read
    // the same rows and add them twice. SQLite's write transaction already
    // runs one at a time; on PostgreSQL a transaction-scoped advisory lock
    // does, and the second then finds nothing left to fold.
    if backend == sea_orm::DatabaseBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({ROLL_UP_LOCK})")).await?;
    }
    let mut sql = Sql::new(
        backend,
        "INSERT INTO usage_counts (workspace_id, key_kind, key_id, endpoint, outcome, start, span, count) \
         SELECT workspace_id, key_kind, key_id, endpoint, outcome, start - (start % ",
    );
    sql.bind(to_span).push("), ").bind(to_span).push(", SUM(count) FROM usage_counts WHERE span = ");
    sql.bind(from_span).push(" AND start < ").bind(before);
    // By position: PostgreSQL does not see two placeholders as one expression.
    sql.push(" GROUP BY workspace_id, key_kind, key_id, endpoint, outcome, 6");
    sql.push(ON_CELL);
    txn.execute_raw(sql.build()).await?;
    let mut del = Sql::new(backend, "DELETE FROM usage_counts WHERE span = ");
    del.bind(from_span).push(" AND start < ").bind(before);
    let gone = txn.execute_raw(del.build()).await?.rows_affected();
    txn.commit().await?;
    Ok(gone)
}

/// What a report covers: a whole workspace, or one key of it.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    Workspace(i64),
    Key(i64, KeyRef),
}

fn scoped(sql: &mut Sql, scope: Scope, from: i64, to: i64) {
    let ws = match scope {
        Scope::Workspace(ws) | Scope::Key(ws, _) => ws,
    };
    sql.push(" WHERE workspace_id = ").bind(ws);
    if let Scope::Key(_, key) = scope {
        sql.push(" AND key_kind = ").bind(key.kind()).push(" AND key_id = ").bind(key.id());
    }
    sql.push(" AND start >= ").bind(from).push(" AND start < ").bind(to);
}

#[derive(Debug, FromQueryResult)]
pub struct BucketRow {
    pub bucket: i64,
    pub outcome: String,
    pub n: i64,
}

/// Counts per bucket start and outcome, for `start` in `[from, to)`.
pub async fn buckets(
    db: &impl ConnectionTrait,
    scope: Scope,
    from: i64,
    to: i64,
    bucket: i64,
) -> Result<Vec<BucketRow>, DbErr> {
    let mut sql = Sql::new(db.get_database_backend(), "SELECT start - (start % ");
    sql.bind(bucket).push(") AS bucket, outcome, CAST(SUM(count) AS BIGINT) AS n FROM usage_counts");
    scoped(&mut sql, scope, from, to);
    sql.push(" GROUP BY 1, 2 ORDER BY 1");
    BucketRow::find_by_statement(sql.build()).all(db).await
}

#[derive(Debug, FromQueryResult)]
pub struct EndpointRow {
    pub endpoint: String,
    pub outcome: String,
    pub n: i64,
}

/// Counts per endpoint and outcome over `[from, to)`.
pub async fn by_endpoint(
    db: &impl ConnectionTrait,
    scope: Scope,
    from: i64,
    to: i64,
) -> Result<Vec<EndpointRow>, DbErr> {
    let mut sql = Sql::new(
        db.get_database_backend(),
        "SELECT endpoint, outcome, CAST(SUM(count) AS BIGINT) AS n FROM usage_counts",
    );
    scoped(&mut sql, scope, from, to);
    sql.push(" GROUP BY endpoint, outcome");
    EndpointRow::find_by_statement(sql.build()).all(db).await
}

#[derive(Debug, FromQueryResult)]
pub struct KeyRow {
    pub key_kind: String,
    pub key_id: i64,
    pub outcome: String,
    pub n: i64,
}

/// Counts per key and outcome over `[from, to)` in a workspace.
pub async fn by_key(db: &impl ConnectionTrait, workspace_id: i64, from: i64, to: i64) -> Result<Vec<KeyRow>, DbErr> {
    let mut sql = Sql::new(
        db.get_database_backend(),
        "SELECT key_kind, key_id, outcome, CAST(SUM(count) AS BIGINT) AS n FROM usage_counts",
    );
    scoped(&mut sql, Scope::Workspace(workspace_id), from, to);
    sql.push(" GROUP BY key_kind, key_id, outcome");
    KeyRow::find_by_statement(sql.build()).all(db).await
}

/// A key's last `limit` requests, newest first.
pub async fn recent(db: &impl ConnectionTrait, key: KeyRef, limit: i64) -> Result<Vec<RequestRow>, DbErr> {
    let mut sql = Sql::new(
        db.get_database_backend(),
        "SELECT workspace_id, key_kind, key_id, at, client, method, endpoint, status, outcome, duration_us \
         FROM usage_requests WHERE key_kind = ",
    );
    sql.bind(key.kind()).push(" AND key_id = ").bind(key.id()).push(" ORDER BY id DESC LIMIT ").bind(limit);
    RequestRow::find_by_statement(sql.build()).all(db).await
}

/// Accepted calls of one key since `month_start`.
pub async fn month_ok(db: &impl ConnectionTrait, key: KeyRef, month_start: i64) -> Result<u64, DbErr> {
    let mut sql = Sql::new(
        db.get_database_backend(),
        "SELECT key_kind, key_id, outcome, CAST(SUM(count) AS BIGINT) AS n FROM usage_counts WHERE outcome = 'ok' AND start >= ",
    );
    sql.bind(month_start).push(" AND key_kind = ").bind(key.kind()).push(" AND key_id = ").bind(key.id());
    sql.push(" GROUP BY key_kind, key_id, outcome");
    let row = KeyRow::find_by_statement(sql.build()).one(db).await?;
    Ok(row.map_or(0, |r| u64::try_from(r.n).unwrap_or(0)))
}

/// Accepted calls since `month_start` of every key that has a monthly quota.
pub async fn month_ok_of_quota_keys(db: &impl ConnectionTrait, month_start: i64) -> Result<Vec<KeyRow>, DbErr> {
    let mut sql = Sql::new(
        db.get_database_backend(),
        "SELECT key_kind, key_id, outcome, CAST(SUM(count) AS BIGINT) AS n FROM usage_counts WHERE outcome = 'ok' AND start >= ",
    );
    sql.bind(month_start).push(
        " AND ((key_kind = 'hub' AND key_id IN (SELECT id FROM hub_keys WHERE monthly_quota IS NOT NULL)) \
         OR (key_kind = 'personal' AND key_id IN (SELECT id FROM personal_keys WHERE monthly_quota IS NOT NULL))) \
         GROUP BY key_kind, key_id, outcome",
    );
    KeyRow::find_by_statement(sql.build()).all(db).await
}
