use super::*;
use crate::entities::json::Json;

pub(super) enum Mode {
    Replace,
    Incremental(DatabaseTransaction),
}

/// An open write to one dataset. Nothing it writes is visible before `commit`.
pub struct Writer {
    pub(super) dataset_id: i64,
    pub(super) generation: i64,
    pub(super) mode: Mode,
    pub(super) upsert: bool,
    pub(super) next_pos: i64,
    pub(super) size: i64,
    /// Replacements: every primary key written so far would cost memory; the
    /// unique index finds duplicates, and this maps a batch's keys to rows.
    pub(super) written: u64,
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

    pub(super) async fn explain_duplicate(&self, db: &DatabaseConnection, rows: &[RowIn]) -> ImportError {
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
                    m.columns = Set(Json(cols.to_vec()));
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
                    m.columns = Set(Json(cols.to_vec()));
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

pub(super) fn duplicate_in_batch(rows: &[RowIn]) -> Option<ImportError> {
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

pub(super) async fn insert(
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
pub(super) async fn existing_keys(
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
pub(super) async fn upsert(
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
