//! Queries grouped by aggregate. Functions here take a connection (or a
//! transaction) and plain values, and return entities or domain values;
//! they know nothing of HTTP.
pub mod audit;
pub mod budgets;
pub mod changes;
pub mod datahub;
pub mod hub_key_feed;
pub mod hub_keys;
pub mod invitations;
pub mod key_changes;
pub mod key_notices;
pub mod keys;
pub mod live_data;
pub mod mail;
pub mod members;
pub mod names;
pub mod nodes;
pub mod password_resets;
pub mod sessions;
pub mod setup;
pub mod sign_in_failures;
pub mod teams;
pub mod usage;
pub mod users;
pub mod webhooks;
pub mod workspaces;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, SqlErr};

use crate::config::{Settings, redact_url};

/// Connects to the configured database (creating `data_dir` for SQLite) and
/// applies pending migrations.
pub async fn connect(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.database_url();
    let sqlite = url.starts_with("sqlite:");
    if sqlite && settings.database_url.is_none() {
        crate::data_dir::ensure_private_dir(&settings.data_dir)?;
    }
    if let Some(file) = crate::data_dir::sqlite_path(&url) {
        crate::data_dir::ensure_private_file(&file)?;
    }
    let mut opts = ConnectOptions::new(url.clone());
    opts.sqlx_logging(false).connect_timeout(Duration::from_secs(5)).acquire_timeout(Duration::from_secs(10));
    if sqlite {
        // WAL lets readers run beside the single writer; the busy timeout makes a
        // writer wait for the lock instead of failing at once.
        opts.max_connections(8).map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
        opts.map_sqlx_sqlite_pool_opts(|pool| {
            pool.after_connect(|conn, _| Box::pin(async move { stable_plans(conn).await }))
        });
    } else {
        // A write that waits on another transaction's lock gives up after as
        // long as SQLite's busy timeout (and becomes a 503), instead of
        // holding a request and a pooled connection for good.
        opts.max_connections(16).map_sqlx_postgres_opts(|o| o.options([("lock_timeout", "5s")]));
    }
    let mut db = Database::connect(opts)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to the database at {}: {e}", redact_url(&url)))?;
    // Every statement is counted (reads and writes apart): the benchmark
    // shows with it that a verified request reads no row and writes nothing.
    db.set_metric_callback(|info| {
        let sql = info.statement.sql.trim_start().as_bytes();
        let read = sql.get(..6).is_some_and(|w| w.eq_ignore_ascii_case(b"select"))
            || sql.get(..4).is_some_and(|w| w.eq_ignore_ascii_case(b"with"));
        crate::metrics::db_query(read, info.elapsed);
    });
    Ok(db)
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.map_err(|e| anyhow::anyhow!("applying migrations failed: {e}"))
}

/// Starts a transaction that will write. On SQLite it takes the write lock
/// at `BEGIN` (IMMEDIATE), waiting up to the busy timeout: a deferred
/// transaction that reads first cannot later upgrade to a writer once another
/// connection has committed (SQLite answers "database is locked" at once,
/// whatever the busy timeout), which turned an ordinary race with a
/// background write into a 503. PostgreSQL ignores the mode.
pub async fn begin_write<C: sea_orm::TransactionTrait>(db: &C) -> Result<C::Transaction, DbErr> {
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

pub async fn ping(db: &impl ConnectionTrait) -> bool {
    db.execute_unprepared("SELECT 1").await.is_ok()
}

pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// `None` when a unique index refused the write: a name or path is taken.
pub fn unless_taken<T>(res: Result<T, DbErr>) -> Result<Option<T>, DbErr> {
    match res {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A transient lock conflict: worth a 503 with Retry-After, not a 500.
pub fn is_busy(err: &DbErr) -> bool {
    let text = err.to_string();
    ["database is locked", "database is busy", "could not serialize", "deadlock detected", "lock timeout"]
        .iter()
        .any(|needle| text.contains(needle))
}

/// SQL with placeholders in the backend's style, values bound in order.
pub struct Sql {
    backend: sea_orm::DatabaseBackend,
    text: String,
    values: Vec<sea_orm::Value>,
}

impl Sql {
    pub fn new(backend: sea_orm::DatabaseBackend, text: &str) -> Sql {
        Sql { backend, text: text.to_owned(), values: Vec::new() }
    }

    /// Appends a placeholder for `v`.
    pub fn bind(&mut self, v: impl Into<sea_orm::Value>) -> &mut Sql {
        self.values.push(v.into());
        if self.backend == sea_orm::DatabaseBackend::Postgres {
            self.text.push_str(&format!("${}", self.values.len()));
        } else {
            self.text.push('?');
        }
        self
    }

    pub fn push(&mut self, s: &str) -> &mut Sql {
        self.text.push_str(s);
        self
    }

    pub fn build(self) -> sea_orm::Statement {
        sea_orm::Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// Turns on SQLite's query planner stability guarantee for a new connection.
///
/// Since SQLite 3.47 a bound `LIMIT ?` — which every `.one()` sends — lets the
/// planner read the bound value, and then binding that parameter again
/// expires the statement: every execution of a cached statement was parsed
/// and planned anew (measured: 40 % of the database thread's time on a
/// three-query API call). With the guarantee, a plan never depends on bound
/// values, so cached statements are reused as prepared. keyhub's queries
/// gain nothing from value-dependent plans (no `ANALYZE` statistics, no
/// `LIKE` prefix indexes).
async fn stable_plans(conn: &mut sea_orm::sqlx::SqliteConnection) -> Result<(), sea_orm::sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    let mut set: std::ffi::c_int = 0;
    // SAFETY: `db` is this connection's open handle, held locked for the call;
    // SQLITE_DBCONFIG_ENABLE_QPSG takes an int and an int* to report the new setting.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db,
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as std::ffi::c_int,
            &mut set,
        )
    };
    if rc != libsqlite3_sys::SQLITE_OK || set != 1 {
        tracing::warn!(rc, "SQLite did not take the query planner stability guarantee; statements will be re-planned");
    }
    Ok(())
}
