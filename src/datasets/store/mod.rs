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
use crate::domain::datahub::Cmp;
use crate::domain::schema::Column;
use crate::entities::datasets;
use crate::entities::json::Json;
use crate::store::Sql;

mod writer;
pub use writer::*;
mod lifecycle;
pub use lifecycle::*;
mod read;
pub use read::*;

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
    ds.columns.0.clone()
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
        columns: Set(Json(new.columns.to_vec())),
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
