//! Rows at rest. Each dataset's rows live in `dataset_rows` under a
//! *generation*; `datasets.generation` says which one readers see.
//!
//! - A **replacement** writes a fresh generation in batches (each its own short
//!   transaction, so SQLite's single writer is never held for long), then
//!   `commit` switches `datasets.generation` in one short transaction: readers
//!   see the old rows or the new ones, never a mix. `abort` deletes the fresh
//!   generation; the old one was never touched.
//! - An **incremental** write (append, upsert by primary key) runs in one
//!   transaction on the current generation.
//!
//! Positions are dense (0..row_count) in every generation: appends continue
//! at `row_count`, upserts update in place. So a page at `offset` is a range
//! on the primary key `(dataset_id, generation, pos)`: `offset=990000` reads
//! the rows it returns, nothing before them.
use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    Set,
};
use serde_json::Value;

use super::ImportError;
use super::schema::Column;
use crate::entities::datasets;
use crate::store::Sql;

/// One row on its way in: its number in the input (for messages), the
/// primary-key text, and the values as a JSON array in column order.
#[derive(Debug, Clone)]
pub struct RowIn {
    pub row: u64,
    pub pk: Option<String>,
    pub data: String,
}

/// Rows per INSERT statement: 5 values each, well under SQLite's 32,766.
const ROWS_PER_STATEMENT: usize = 1_000;
/// Rows deleted per statement when a generation is dropped.
const DELETE_CHUNK: i64 = 20_000;

/// The stored columns of a dataset.
pub fn columns(ds: &datasets::Model) -> Vec<Column> {
    serde_json::from_str(&ds.columns).unwrap_or_default()
}

pub fn primary_key_index(ds: &datasets::Model) -> Option<usize> {
    let pk = ds.primary_key.as_deref()?;
    columns(ds).iter().position(|c| c.name == pk)
}

pub struct NewDataset<'a> {
    pub workspace_id: i64,
    pub name: &'a str,
    pub columns: &'a [Column],
    pub primary_key: Option<&'a str>,
    pub source: &'a str,
    pub created_by: Option<i64>,
}

/// Registers a dataset that is not listed until its first commit. `None` when
/// the workspace has a dataset of that name (compared as `name_key`).
pub async fn create(db: &impl ConnectionTrait, new: NewDataset<'_>) -> Result<Option<datasets::Model>, DbErr> {
    let now = Utc::now();
    let res = datasets::ActiveModel {
        workspace_id: Set(new.workspace_id),
        name: Set(new.name.to_owned()),
        name_key: Set(crate::domain::text::name_key(new.name)),
        look_key: Set(Some(crate::domain::text::look_key(new.name))),
        columns: Set(serde_json::to_string(new.columns).unwrap_or_else(|_| "[]".into())),
        primary_key: Set(new.primary_key.map(str::to_owned)),
        source: Set(new.source.to_owned()),
        state: Set("importing".into()),
        generation: Set(0),
        next_generation: Set(1),
        version: Set(0),
        row_count: Set(0),
        size_bytes: Set(0),
        created_by: Set(new.created_by),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await;
    crate::store::unless_taken(res)
}

enum Mode {
    Replace,
    Incremental(DatabaseTransaction),
}

/// An open write to one dataset. Nothing it writes is visible before `commit`.
pub struct Writer {
    dataset_id: i64,
    generation: i64,
    mode: Mode,
    upsert: bool,
    next_pos: i64,
    size: i64,
    /// Replacements: every primary key written so far would cost memory; the
    /// unique index finds duplicates, and this maps a batch's keys to rows.
    written: u64,
}

/// Starts a replacement: a new, empty generation.
pub async fn open_replace(db: &DatabaseConnection, ds: &datasets::Model) -> Result<Writer, DbErr> {
    // Claims a generation number atomically, so two writers never share one.
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend, "UPDATE datasets SET next_generation = next_generation + 1 WHERE id = ");
    sql.bind(ds.id);
    let txn = crate::store::begin_write(db).await?;
    txn.execute_raw(sql.build()).await?;
    let fresh = datasets::Entity::find_by_id(ds.id).one(&txn).await?.ok_or(DbErr::RecordNotFound("dataset".into()))?;
    txn.commit().await?;
    Ok(Writer {
        dataset_id: ds.id,
        generation: fresh.next_generation - 1,
        mode: Mode::Replace,
        upsert: false,
        next_pos: 0,
        size: 0,
        written: 0,
    })
}

/// Continues a replacement a stopped process began in `generation`, after
/// `rows` rows and `size` bytes were recorded. Rows at or past `rows` (a batch
/// written but not recorded before the stop) are removed first, so nothing is
/// written twice.
pub async fn resume_replace(
    db: &DatabaseConnection,
    ds: &datasets::Model,
    generation: i64,
    rows: i64,
    size: i64,
) -> Result<Writer, DbErr> {
    let mut sql = Sql::new(db.get_database_backend(), "DELETE FROM dataset_rows WHERE dataset_id = ");
    sql.bind(ds.id).push(" AND generation = ").bind(generation).push(" AND pos >= ").bind(rows);
    db.execute_raw(sql.build()).await?;
    Ok(Writer {
        dataset_id: ds.id,
        generation,
        mode: Mode::Replace,
        upsert: false,
        next_pos: rows,
        size,
        written: rows as u64,
    })
}

/// Starts an append (or, with a primary key, an upsert) into the current rows.
pub async fn open_incremental(db: &DatabaseConnection, ds: &datasets::Model) -> Result<Writer, DbErr> {
    let txn = crate::store::begin_write(db).await?;
    // PostgreSQL: one incremental writer per dataset at a time (SQLite's single
    // writer already serialises them once the first row is written).
    let mut sql = Sql::new(db.get_database_backend(), "SELECT id FROM datasets WHERE id = ");
    sql.bind(ds.id);
    if db.get_database_backend() == DatabaseBackend::Postgres {
        sql.push(" FOR UPDATE");
    }
    txn.execute_raw(sql.build()).await?;
    let current =
        datasets::Entity::find_by_id(ds.id).one(&txn).await?.ok_or(DbErr::RecordNotFound("dataset".into()))?;
    Ok(Writer {
        dataset_id: ds.id,
        generation: current.generation,
        upsert: current.primary_key.is_some(),
        next_pos: current.row_count,
        size: current.size_bytes,
        mode: Mode::Incremental(txn),
        written: 0,
    })
}

impl Writer {
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The generation being written, rows and bytes so far (what a resumed
    /// replacement starts from).
    pub fn progress(&self) -> (i64, i64, i64) {
        (self.generation, self.next_pos, self.size)
    }

    /// An incremental write's transaction, for statements that must commit
    /// with its rows (a sync cursor).
    pub fn transaction(&self) -> Option<&DatabaseTransaction> {
        match &self.mode {
            Mode::Incremental(txn) => Some(txn),
            Mode::Replace => None,
        }
    }

    /// Writes one batch. A duplicate primary key in a replacement is an
    /// `Invalid` error naming both rows.
    pub async fn write(&mut self, db: &DatabaseConnection, rows: Vec<RowIn>) -> Result<(), ImportError> {
        let backend = db.get_database_backend();
        match &self.mode {
            Mode::Replace => {
                if let Some(e) = duplicate_in_batch(&rows) {
                    return Err(e);
                }
                let txn = crate::store::begin_write(db).await?;
                let first_pos = self.next_pos;
                match insert(&txn, backend, self.dataset_id, self.generation, first_pos, &rows).await {
                    Ok(size) => {
                        txn.commit().await?;
                        self.size += size;
                        self.next_pos += rows.len() as i64;
                    }
                    Err(e) if crate::store::is_unique_violation(&e) => {
                        drop(txn);
                        return Err(self.explain_duplicate(db, &rows).await);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Mode::Incremental(txn) => {
                let (added, size) = if self.upsert {
                    upsert(txn, backend, self.dataset_id, self.generation, self.next_pos, &rows).await?
                } else {
                    let size = insert(txn, backend, self.dataset_id, self.generation, self.next_pos, &rows).await?;
                    (rows.len() as i64, size)
                };
                self.next_pos += added;
                self.size += size;
            }
        }
        self.written += rows.len() as u64;
        Ok(())
    }

    async fn explain_duplicate(&self, db: &DatabaseConnection, rows: &[RowIn]) -> ImportError {
        let keys: Vec<String> = rows.iter().filter_map(|r| r.pk.clone()).collect();
        match existing_keys(db, db.get_database_backend(), self.dataset_id, self.generation, &keys).await {
            Ok(found) => {
                match rows.iter().find_map(|r| r.pk.as_ref().and_then(|k| found.get(k).map(|(pos, _)| (r, k, pos)))) {
                    Some((r, k, pos)) => ImportError::at(
                        r.row,
                        None,
                        format!("the primary key “{k}” is already used by row {}. Keys must be unique.", pos + 1),
                    ),
                    None => ImportError::internal("a unique index refused a row"),
                }
            }
            Err(e) => e.into(),
        }
    }

    /// Makes the writes visible, bumps the version, and returns the dataset.
    /// `columns` replaces the stored columns (a re-upload may change types, a
    /// sync may widen or add columns).
    pub async fn commit(self, db: &DatabaseConnection, columns: Option<&[Column]>) -> Result<datasets::Model, DbErr> {
        let now = Utc::now();
        match self.mode {
            Mode::Replace => {
                let txn = crate::store::begin_write(db).await?;
                let old = datasets::Entity::find_by_id(self.dataset_id)
                    .one(&txn)
                    .await?
                    .ok_or(DbErr::RecordNotFound("dataset".into()))?;
                let mut m: datasets::ActiveModel = old.clone().into();
                m.generation = Set(self.generation);
                m.version = Set(old.version + 1);
                m.row_count = Set(self.next_pos);
                m.size_bytes = Set(self.size);
                m.state = Set("ready".into());
                m.updated_at = Set(now);
                if let Some(cols) = columns {
                    m.columns = Set(serde_json::to_string(cols).unwrap_or_else(|_| "[]".into()));
                }
                let new = m.update(&txn).await?;
                txn.commit().await?;
                if old.generation != self.generation {
                    drop_generation_later(db.clone(), self.dataset_id, old.generation);
                }
                Ok(new)
            }
            Mode::Incremental(txn) => {
                let old = datasets::Entity::find_by_id(self.dataset_id)
                    .one(&txn)
                    .await?
                    .ok_or(DbErr::RecordNotFound("dataset".into()))?;
                let mut m: datasets::ActiveModel = old.clone().into();
                m.version = Set(old.version + 1);
                m.row_count = Set(self.next_pos);
                m.size_bytes = Set(self.size);
                m.updated_at = Set(now);
                if let Some(cols) = columns {
                    m.columns = Set(serde_json::to_string(cols).unwrap_or_else(|_| "[]".into()));
                }
                let new = m.update(&txn).await?;
                txn.commit().await?;
                Ok(new)
            }
        }
    }

    /// Forgets everything written; the dataset stays as it was.
    pub async fn abort(self, db: &DatabaseConnection) {
        match self.mode {
            Mode::Incremental(txn) => {
                let _ = txn.rollback().await;
            }
            Mode::Replace => {
                if let Err(e) = drop_generation(db, self.dataset_id, self.generation).await {
                    tracing::warn!(error = %e, dataset = self.dataset_id, "removing an aborted write failed; it is retried at the next start");
                }
            }
        }
    }
}

fn duplicate_in_batch(rows: &[RowIn]) -> Option<ImportError> {
    let mut seen: HashMap<&str, u64> = HashMap::new();
    for r in rows {
        if let Some(k) = &r.pk
            && let Some(first) = seen.insert(k, r.row)
        {
            return Some(ImportError::at(
                r.row,
                None,
                format!("the primary key “{k}” is already used by row {first}. Keys must be unique."),
            ));
        }
    }
    None
}

async fn insert(
    db: &impl ConnectionTrait,
    backend: DatabaseBackend,
    dataset_id: i64,
    generation: i64,
    first_pos: i64,
    rows: &[RowIn],
) -> Result<i64, DbErr> {
    let mut size = 0i64;
    for (chunk_no, chunk) in rows.chunks(ROWS_PER_STATEMENT).enumerate() {
        let mut sql = Sql::new(backend, "INSERT INTO dataset_rows (dataset_id, generation, pos, pk, data) VALUES ");
        for (i, r) in chunk.iter().enumerate() {
            let pos = first_pos + (chunk_no * ROWS_PER_STATEMENT + i) as i64;
            sql.push(if i == 0 { "(" } else { ",(" });
            sql.bind(dataset_id).push(",").bind(generation).push(",").bind(pos).push(",");
            sql.bind(r.pk.clone()).push(",").bind(r.data.clone()).push(")");
            size += r.data.len() as i64;
        }
        db.execute_raw(sql.build()).await?;
    }
    Ok(size)
}

/// Turns column `index` of every row in `generation` into text (numbers and
/// booleans as written), after the column was widened to text: the rows
/// written before keep matching the column's type (filters, sorting).
pub async fn restring_column(
    db: &impl ConnectionTrait,
    dataset_id: i64,
    generation: i64,
    index: usize,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let text = match backend {
        DatabaseBackend::Postgres => format!(
            "UPDATE dataset_rows SET data = jsonb_set(data::jsonb, '{{{index}}}', to_jsonb(data::jsonb ->> {index}))::text \
             WHERE jsonb_typeof(data::jsonb -> {index}) IN ('number', 'boolean') AND dataset_id = "
        ),
        _ => format!(
            "UPDATE dataset_rows SET data = json_set(data, '$[{index}]', CASE json_type(data, '$[{index}]') \
             WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract(data, '$[{index}]') AS TEXT) END) \
             WHERE json_type(data, '$[{index}]') IN ('integer', 'real', 'true', 'false') AND dataset_id = "
        ),
    };
    let mut sql = Sql::new(backend, &text);
    sql.bind(dataset_id).push(" AND generation = ").bind(generation);
    db.execute_raw(sql.build()).await?;
    Ok(())
}

/// Primary key → (position, stored size) for those of `keys` already present.
async fn existing_keys(
    db: &impl ConnectionTrait,
    backend: DatabaseBackend,
    dataset_id: i64,
    generation: i64,
    keys: &[String],
) -> Result<HashMap<String, (i64, i64)>, DbErr> {
    let mut found = HashMap::new();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(backend, "SELECT pk, pos, LENGTH(data) AS size FROM dataset_rows WHERE dataset_id = ");
        sql.bind(dataset_id).push(" AND generation = ").bind(generation).push(" AND pk IN (");
        for (i, k) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(",");
            }
            sql.bind(k.clone());
        }
        sql.push(")");
        for row in db.query_all_raw(sql.build()).await? {
            let pk: String = row.try_get("", "pk")?;
            let pos: i64 = row.try_get("", "pos")?;
            let size: i64 =
                row.try_get::<i32>("", "size").map(i64::from).or_else(|_| row.try_get::<i64>("", "size"))?;
            found.insert(pk, (pos, size));
        }
    }
    Ok(found)
}

/// Updates rows whose key exists (keeping their position) and appends the
/// others; a key twice in one batch: the later record wins.
async fn upsert(
    db: &impl ConnectionTrait,
    backend: DatabaseBackend,
    dataset_id: i64,
    generation: i64,
    next_pos: i64,
    rows: &[RowIn],
) -> Result<(i64, i64), DbErr> {
    let keys: Vec<String> = rows.iter().filter_map(|r| r.pk.clone()).collect();
    let mut existing = existing_keys(db, backend, dataset_id, generation, &keys).await?;
    let mut fresh: Vec<RowIn> = Vec::new();
    let mut fresh_index: HashMap<String, usize> = HashMap::new();
    let mut size_change = 0i64;
    for r in rows {
        let Some(k) = &r.pk else { continue };
        if let Some((pos, old_size)) = existing.get_mut(k) {
            let mut sql = Sql::new(backend, "UPDATE dataset_rows SET data = ");
            sql.bind(r.data.clone()).push(" WHERE dataset_id = ").bind(dataset_id);
            sql.push(" AND generation = ").bind(generation).push(" AND pos = ").bind(*pos);
            db.execute_raw(sql.build()).await?;
            size_change += r.data.len() as i64 - *old_size;
            *old_size = r.data.len() as i64;
        } else if let Some(i) = fresh_index.get(k) {
            size_change += r.data.len() as i64 - fresh[*i].data.len() as i64;
            fresh[*i] = r.clone();
        } else {
            fresh_index.insert(k.clone(), fresh.len());
            size_change += r.data.len() as i64;
            fresh.push(r.clone());
        }
    }
    if !fresh.is_empty() {
        insert(db, backend, dataset_id, generation, next_pos, &fresh).await?;
    }
    Ok((fresh.len() as i64, size_change))
}

/// Deletes one generation's rows in chunks (short write transactions).
pub async fn drop_generation(db: &DatabaseConnection, dataset_id: i64, generation: i64) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend, "SELECT MAX(pos) AS top FROM dataset_rows WHERE dataset_id = ");
    sql.bind(dataset_id).push(" AND generation = ").bind(generation);
    let top: Option<i64> = match db.query_one_raw(sql.build()).await? {
        Some(row) => row.try_get("", "top")?,
        None => None,
    };
    let Some(top) = top else { return Ok(()) };
    let mut from = 0;
    while from <= top {
        let mut sql = Sql::new(backend, "DELETE FROM dataset_rows WHERE dataset_id = ");
        sql.bind(dataset_id).push(" AND generation = ").bind(generation);
        sql.push(" AND pos >= ").bind(from).push(" AND pos < ").bind(from + DELETE_CHUNK);
        db.execute_raw(sql.build()).await?;
        from += DELETE_CHUNK;
    }
    Ok(())
}

/// Readers that looked up the dataset just before a commit may still read the
/// old generation for a moment (a page, a CSV download); they get this long.
const REPLACED_ROWS_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

fn drop_generation_later(db: DatabaseConnection, dataset_id: i64, generation: i64) {
    tokio::spawn(async move {
        tokio::time::sleep(REPLACED_ROWS_GRACE).await;
        if let Err(e) = drop_generation(&db, dataset_id, generation).await {
            tracing::warn!(error = %e, dataset = dataset_id, "removing replaced rows failed; they are removed at the next start");
        }
        crate::pulse::background().bump();
    });
}

/// Deletes a dataset (its collections and endpoints go with it) and then its rows.
pub async fn delete(db: &DatabaseConnection, ds: &datasets::Model) -> Result<(), DbErr> {
    use crate::entities::{data_collections, endpoints};
    use sea_orm::{ColumnTrait, QueryFilter};
    let txn = crate::store::begin_write(db).await?;
    let collections: Vec<i64> = data_collections::Entity::find()
        .filter(data_collections::Column::DatasetId.eq(ds.id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    endpoints::Entity::delete_many()
        .filter(endpoints::Column::CollectionId.is_in(collections.clone()))
        .exec(&txn)
        .await?;
    data_collections::Entity::delete_many().filter(data_collections::Column::Id.is_in(collections)).exec(&txn).await?;
    datasets::Entity::delete_by_id(ds.id).exec(&txn).await?;
    txn.commit().await?;
    let db = db.clone();
    let id = ds.id;
    let top = ds.next_generation;
    tokio::spawn(async move {
        for generation in 0..top {
            if let Err(e) = drop_generation(&db, id, generation).await {
                tracing::warn!(error = %e, dataset = id, "removing a deleted dataset's rows failed; retried at the next start");
                return;
            }
        }
        crate::pulse::background().bump();
    });
    Ok(())
}

/// Rows left behind by a crash: generations that are not current (or whose
/// dataset is gone), and datasets whose first import never committed.
/// Run at start, before any writer exists (one node; see the note in README).
/// A sync's full refresh in progress (`stream_tabs.pending_generation`) is
/// kept: its run resumes it.
pub async fn sweep(db: &DatabaseConnection) -> Result<(), DbErr> {
    use crate::entities::stream_tabs;
    use sea_orm::{ColumnTrait, QueryFilter};
    let resumable: Vec<i64> = stream_tabs::Entity::find()
        .filter(stream_tabs::Column::PendingGeneration.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .map(|t| t.dataset_id)
        .collect();
    let stale = datasets::Entity::find().filter(datasets::Column::State.eq("importing")).all(db).await?;
    for ds in stale.into_iter().filter(|d| !resumable.contains(&d.id)) {
        delete(db, &ds).await?;
    }
    let backend = db.get_database_backend();
    let sql = Sql::new(
        backend,
        "SELECT DISTINCT r.dataset_id AS dataset_id, r.generation AS generation FROM dataset_rows r \
         LEFT JOIN datasets d ON d.id = r.dataset_id WHERE (d.id IS NULL OR d.generation <> r.generation) \
         AND NOT EXISTS (SELECT 1 FROM stream_tabs t WHERE t.dataset_id = r.dataset_id AND t.pending_generation = r.generation)",
    );
    for row in db.query_all_raw(sql.build()).await? {
        let id: i64 = row.try_get("", "dataset_id")?;
        let generation: i64 = row.try_get("", "generation")?;
        drop_generation(db, id, generation).await?;
    }
    Ok(())
}

/// What a reader asks for. Column indexes refer to the dataset's columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ReadQuery {
    pub filters: Vec<(usize, String)>,
    pub search: Option<String>,
    /// Column and descending; none = row order.
    pub order: Option<(usize, bool)>,
    pub limit: u64,
    pub offset: u64,
}

pub struct Page {
    pub rows: Vec<Vec<Value>>,
    /// Records matching the query (all of them, not just this page).
    pub count: u64,
}

/// The expression for column `i` of a row's JSON array.
fn element(backend: DatabaseBackend, i: usize) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("(data::jsonb -> {i})"),
        _ => format!("json_extract(data, '$[{i}]')"),
    }
}

/// `WHERE …` for the query's filters and search (values typed per column).
fn conditions(backend: DatabaseBackend, ds: &datasets::Model, cols: &[Column], q: &ReadQuery, sql: &mut Sql) {
    sql.push(" WHERE dataset_id = ").bind(ds.id).push(" AND generation = ").bind(ds.generation);
    for (i, raw) in &q.filters {
        let value = super::schema::typed(&super::schema::Raw::Text(raw.clone()), cols[*i].kind).unwrap_or(Value::Null);
        let expr = element(backend, *i);
        if value.is_null() {
            sql.push(&format!(" AND {expr} IS NULL"));
            continue;
        }
        sql.push(&format!(" AND {expr} = "));
        match backend {
            DatabaseBackend::Postgres => {
                sql.push("CAST(").bind(value.to_string()).push(" AS jsonb)");
            }
            _ => {
                match value {
                    Value::Bool(b) => sql.bind(i64::from(b)),
                    Value::Number(n) if n.is_i64() => sql.bind(n.as_i64().unwrap_or_default()),
                    Value::Number(n) => sql.bind(n.as_f64().unwrap_or_default()),
                    Value::String(s) => sql.bind(s),
                    other => sql.bind(other.to_string()),
                };
            }
        }
    }
    if let Some(term) = q.search.as_deref().filter(|t| !t.is_empty()) {
        let escaped = term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let op = if backend == DatabaseBackend::Postgres { "ILIKE" } else { "LIKE" };
        sql.push(&format!(" AND data {op} ")).bind(format!("%{escaped}%")).push(" ESCAPE '\\'");
    }
}

/// `SELECT data … ORDER BY … LIMIT … OFFSET …`: one page of the query.
fn select(backend: DatabaseBackend, ds: &datasets::Model, cols: &[Column], q: &ReadQuery) -> Sql {
    let plain = q.filters.is_empty() && q.search.as_deref().is_none_or(str::is_empty);
    let mut sql = Sql::new(backend, "SELECT data FROM dataset_rows");
    conditions(backend, ds, cols, q, &mut sql);
    match q.order {
        // Row order: the page is a key range; nothing before it is read.
        None if plain => {
            sql.push(" AND pos >= ").bind(q.offset as i64).push(" AND pos < ").bind((q.offset + q.limit) as i64);
            sql.push(" ORDER BY pos");
        }
        None => {
            sql.push(" ORDER BY pos LIMIT ").bind(q.limit as i64).push(" OFFSET ").bind(q.offset as i64);
        }
        Some((i, desc)) => {
            let dir = if desc { "DESC" } else { "ASC" };
            sql.push(&format!(" ORDER BY {} {dir}, pos {dir} LIMIT ", element(backend, i)));
            sql.bind(q.limit as i64).push(" OFFSET ").bind(q.offset as i64);
        }
    }
    sql
}

/// One page of rows and the number of matching rows.
pub async fn read(db: &impl ConnectionTrait, ds: &datasets::Model, q: &ReadQuery) -> Result<Page, DbErr> {
    let mut rows = Vec::new();
    let backend = db.get_database_backend();
    let cols = columns(ds);
    for r in db.query_all_raw(select(backend, ds, &cols, q).build()).await? {
        let data: String = r.try_get("", "data")?;
        rows.push(serde_json::from_str(&data).unwrap_or_default());
    }
    Ok(Page { rows, count: count(db, ds, q).await? })
}

/// The number of rows matching the query's filters and search.
pub async fn count(db: &impl ConnectionTrait, ds: &datasets::Model, q: &ReadQuery) -> Result<u64, DbErr> {
    if q.filters.is_empty() && q.search.as_deref().is_none_or(str::is_empty) {
        return Ok(ds.row_count.max(0) as u64);
    }
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend, "SELECT COUNT(*) AS n FROM dataset_rows");
    conditions(backend, ds, &columns(ds), q, &mut sql);
    Ok(match db.query_one_raw(sql.build()).await? {
        Some(r) => r.try_get::<i64>("", "n")?.max(0) as u64,
        None => 0,
    })
}

/// `pos json` lines (as joined by the database) → the JSON texts in
/// position order, one per line; `None` unless they are exactly the
/// positions `from..to` (a generation dropped while it was read).
fn in_position_order(joined: &str, from: i64, to: i64) -> Option<String> {
    let mut lines: Vec<(i64, &str)> = Vec::with_capacity((to - from).max(0) as usize);
    for line in joined.split('\n').filter(|l| !l.is_empty()) {
        let (pos, json) = line.split_once(' ')?;
        lines.push((pos.parse().ok()?, json));
    }
    if !lines.is_sorted_by_key(|(p, _)| *p) {
        lines.sort_unstable_by_key(|(p, _)| *p);
    }
    let expected = from..to;
    if lines.len() as i64 != to - from || !lines.iter().zip(expected).all(|((p, _), want)| *p == want) {
        return None;
    }
    let mut out = String::with_capacity(joined.len());
    for (_, json) in lines {
        out.push_str(json);
        out.push('\n');
    }
    Some(out)
}

/// Rows per chunk of `stream`.
const CHUNK_ROWS: i64 = 4_096;

/// Every row matching the query from its offset on (its limit ignored), in
/// its order, as chunks of up to `CHUNK_ROWS` rows' JSON texts joined by
/// `\n` (JSON text never holds a raw newline). The database joins the rows,
/// so a million rows cross the driver as a few hundred values; memory is
/// bounded by a chunk, not by the dataset.
///
/// - Row order without filters: one short query per range of positions
///   (no connection held between chunks, however slow the reader). The
///   generation read is fixed, so a replacement committed meanwhile cannot
///   mix in; if it drops the old rows first, a short chunk before the known
///   end is an error, never a silently shorter file.
/// - Anything else: one statement numbering the matching rows in order,
///   chunked by number — one consistent view.
pub fn stream<'a>(
    db: &'a DatabaseConnection,
    ds: &datasets::Model,
    q: &ReadQuery,
) -> futures_util::stream::BoxStream<'a, Result<String, DbErr>> {
    use futures_util::StreamExt;
    let backend = db.get_database_backend();
    let joined = |order: &str| match backend {
        DatabaseBackend::Postgres => format!("string_agg(data, E'\\n' ORDER BY {order})"),
        _ => format!("group_concat(data, char(10) ORDER BY {order})"),
    };
    let plain = q.filters.is_empty() && q.search.as_deref().is_none_or(str::is_empty);
    if plain && q.order.is_none() {
        let (ds, end) = (ds.clone(), ds.row_count.max(0));
        // Each row as `pos json`, joined in scan order (the key's order):
        // no sort in the database; the positions prove order and completeness.
        let line = match backend {
            DatabaseBackend::Postgres => "string_agg(pos::text || ' ' || data, E'\\n')",
            _ => "group_concat(pos || ' ' || data, char(10))",
        };
        let select = format!("SELECT {line} AS chunk FROM dataset_rows WHERE dataset_id = ");
        // The next chunk is read (on the driver's thread) while this one is
        // written out: two queries in flight, in order.
        let starts = (q.offset as i64..end).step_by(CHUNK_ROWS as usize);
        return futures_util::stream::iter(starts)
            .map(move |from| {
                let (ds, select) = (ds.clone(), select.clone());
                async move {
                    let to = (from + CHUNK_ROWS).min(end);
                    let mut sql = Sql::new(backend, &select);
                    sql.bind(ds.id)
                        .push(" AND generation = ")
                        .bind(ds.generation)
                        .push(" AND pos >= ")
                        .bind(from)
                        .push(" AND pos < ")
                        .bind(to);
                    let joined = match db.query_one_raw(sql.build()).await? {
                        Some(r) => r.try_get::<Option<String>>("", "chunk")?.unwrap_or_default(),
                        None => String::new(),
                    };
                    in_position_order(&joined, from, to).ok_or_else(|| {
                        DbErr::Custom(format!(
                            "dataset {} changed while it was read (rows {from}..{to} are not all there)",
                            ds.id
                        ))
                    })
                }
            })
            .buffered(2)
            .boxed();
    }
    let cols = columns(ds);
    let order = match q.order {
        Some((i, desc)) => {
            let dir = if desc { "DESC" } else { "ASC" };
            format!("{} {dir}, pos {dir}", element(backend, i))
        }
        None => "pos".to_owned(),
    };
    let mut sql = Sql::new(
        backend,
        &format!(
            "SELECT {} AS chunk FROM (SELECT data, ROW_NUMBER() OVER (ORDER BY {order}) - 1 AS rn FROM dataset_rows",
            joined("rn")
        ),
    );
    conditions(backend, ds, &cols, q, &mut sql);
    sql.push(") numbered WHERE rn >= ").bind(q.offset as i64);
    // The same expression in both clauses, as text: PostgreSQL does not take
    // `rn / $2` and `rn / $3` for one grouping.
    sql.push(&format!(" GROUP BY rn / {CHUNK_ROWS} ORDER BY rn / {CHUNK_ROWS}"));
    let stmt = sql.build();
    futures_util::stream::once(async move {
        use sea_orm::StreamTrait;
        db.stream_raw(stmt).await
    })
    .map(|opened| match opened {
        Ok(rows) => rows.map(|r| r?.try_get::<String>("", "chunk")).boxed(),
        Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
    })
    .flatten()
    .boxed()
}

/// Up to `limit` rows from position `from` on, in row order: for streaming a
/// whole dataset without holding it.
pub async fn rows_from(
    db: &impl ConnectionTrait,
    ds: &datasets::Model,
    from: i64,
    limit: i64,
) -> Result<Vec<Vec<Value>>, DbErr> {
    let mut sql = Sql::new(db.get_database_backend(), "SELECT data FROM dataset_rows WHERE dataset_id = ");
    sql.bind(ds.id).push(" AND generation = ").bind(ds.generation);
    sql.push(" AND pos >= ").bind(from).push(" AND pos < ").bind(from + limit).push(" ORDER BY pos");
    let mut rows = Vec::new();
    for r in db.query_all_raw(sql.build()).await? {
        let data: String = r.try_get("", "data")?;
        rows.push(serde_json::from_str(&data).unwrap_or_default());
    }
    Ok(rows)
}

#[cfg(test)]
mod chunk_tests {
    use super::in_position_order;

    #[test]
    fn chunks_come_back_in_position_order_and_whole_or_not_at_all() {
        assert_eq!(in_position_order("4 [1]\n5 [2]\n6 [3]", 4, 7).as_deref(), Some("[1]\n[2]\n[3]\n"));
        assert_eq!(
            in_position_order("6 [3]\n4 [1]\n5 [2]", 4, 7).as_deref(),
            Some("[1]\n[2]\n[3]\n"),
            "sorted when the database did not"
        );
        assert_eq!(in_position_order("4 [1]\n6 [3]", 4, 7), None, "a missing row");
        assert_eq!(in_position_order("", 4, 7), None);
        assert_eq!(in_position_order("4 [\"a b\"]", 4, 5).as_deref(), Some("[\"a b\"]\n"));
    }
}
