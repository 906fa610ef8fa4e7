//! From a file on disk to rows in the store: `analyze` reads it once to infer
//! columns and show a preview; `import` reads it again, types every value
//! against the chosen columns and writes batches through a `Writer`. The
//! parser runs on a blocking thread and hands batches over a small bounded
//! channel, so memory holds a few batches whatever the file's size.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sea_orm::DatabaseConnection;
use serde_json::Value;

use super::ImportError;
use super::parse::{self, Format, Record, Sink};
use super::store::{RowIn, Writer};
use crate::domain::schema::{Column, Inference, Raw, key_text, typed};

/// Rows shown before saving.
pub const PREVIEW_ROWS: usize = 20;
/// Records per batch handed to the writer.
const BATCH: usize = 2_000;

#[derive(Debug, Clone)]
pub struct Analysis {
    pub format: Format,
    /// Names as in the file, types inferred from every value.
    pub columns: Vec<Column>,
    pub preview: Vec<Vec<String>>,
    pub rows: u64,
    /// The JSON API body's `name` and `primary_key`.
    pub fields: HashMap<String, Value>,
}

struct Analyzer {
    names: Vec<String>,
    index: HashMap<String, usize>,
    inference: Vec<Inference>,
    preview: Vec<Vec<Raw>>,
    fields: HashMap<String, Value>,
}

impl Analyzer {
    fn column(&mut self, name: &str) -> usize {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        self.names.push(name.to_owned());
        self.inference.push(Inference::default());
        self.index.insert(name.to_owned(), self.names.len() - 1);
        self.names.len() - 1
    }
}

impl Sink for Analyzer {
    fn header(&mut self, names: Vec<String>) -> Result<(), ImportError> {
        for (i, name) in names.into_iter().enumerate() {
            let name = if name.is_empty() { format!("column_{}", i + 1) } else { name };
            if self.index.contains_key(&name) {
                return Err(ImportError::file(format!(
                    "Header column {}: the name “{name}” appears twice. Give each column its own name.",
                    i + 1
                )));
            }
            self.column(&name);
        }
        Ok(())
    }

    fn record(&mut self, _row: u64, record: Record) -> Result<(), ImportError> {
        let keep = self.preview.len() < PREVIEW_ROWS;
        let mut shown = Vec::new();
        match record {
            Record::Fields(fields) => {
                for (i, f) in fields.into_iter().enumerate() {
                    let raw = Raw::Text(f);
                    self.inference[i].observe(&raw);
                    if keep {
                        shown.push(raw);
                    }
                }
            }
            Record::Object(map) => {
                let mut by_col = Vec::new();
                for (k, v) in map {
                    let i = self.column(&k);
                    let raw = Raw::Json(v);
                    self.inference[i].observe(&raw);
                    by_col.push((i, raw));
                }
                if keep {
                    shown = vec![Raw::Json(Value::Null); self.names.len()];
                    for (i, raw) in by_col {
                        shown[i] = raw;
                    }
                }
            }
        }
        if keep {
            self.preview.push(shown);
        }
        Ok(())
    }

    fn field(&mut self, name: &str, value: Value) {
        self.fields.insert(name.to_owned(), value);
    }
}

/// Reads the whole file once: its columns with inferred types, the first rows
/// and the number of records. Bad structure (ragged rows, invalid UTF-8,
/// invalid JSON, an empty file) is reported here with its row.
pub async fn analyze(path: PathBuf, format: Format) -> Result<Analysis, ImportError> {
    tokio::task::spawn_blocking(move || {
        let mut a = Analyzer {
            names: Vec::new(),
            index: HashMap::new(),
            inference: Vec::new(),
            preview: Vec::new(),
            fields: HashMap::new(),
        };
        let rows = parse::read(&path, format, &mut a)?;
        let columns: Vec<Column> = a
            .names
            .iter()
            .zip(&a.inference)
            .map(|(n, inf)| Column { name: n.clone(), source: n.clone(), kind: inf.best() })
            .collect();
        let preview = a
            .preview
            .iter()
            .map(|row| {
                (0..columns.len())
                    .map(|i| {
                        row.get(i)
                            .map(|r| {
                                typed(r, columns[i].kind)
                                    .map(|v| crate::domain::schema::display(&v))
                                    .unwrap_or_default()
                            })
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .collect();
        Ok(Analysis { format, columns, preview, rows, fields: a.fields })
    })
    .await
    .map_err(|e| ImportError::internal(format!("the import task failed: {e}")))?
}

/// How the file's columns become the dataset's: each dataset column names the
/// file column it comes from (`source`), or, for a re-upload, its own name.
#[derive(Debug, Clone)]
pub struct Plan {
    pub columns: Vec<Column>,
    /// Index into `columns`.
    pub primary_key: Option<usize>,
}

struct Typer {
    plan: Plan,
    /// CSV: for each plan column, its index in the header.
    positions: Vec<usize>,
    batch: Vec<RowIn>,
    tx: tokio::sync::mpsc::Sender<Vec<RowIn>>,
}

impl Typer {
    fn push(&mut self, row: u64, values: Vec<Value>) -> Result<(), ImportError> {
        let pk = match self.plan.primary_key {
            Some(i) => match key_text(&values[i]) {
                Some(k) => Some(k),
                None => {
                    return Err(ImportError::at(
                        row,
                        Some(self.plan.columns[i].name.clone()),
                        "the primary key is empty. Every record needs a value in the key column.".into(),
                    ));
                }
            },
            None => None,
        };
        let data = serde_json::to_string(&values).map_err(|e| ImportError::internal(e.to_string()))?;
        self.batch.push(RowIn { row, pk, data });
        if self.batch.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ImportError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        // A closed channel means the writer stopped with its own error.
        self.tx.blocking_send(batch).map_err(|_| ImportError::internal("the writer stopped"))
    }

    fn value(&self, row: u64, i: usize, raw: &Raw) -> Result<Value, ImportError> {
        let c = &self.plan.columns[i];
        typed(raw, c.kind).map_err(|m| {
            ImportError::at(row, Some(c.name.clone()), format!("{m}. Change the column's type or fix the value."))
        })
    }
}

impl Sink for Typer {
    fn header(&mut self, names: Vec<String>) -> Result<(), ImportError> {
        for c in &self.plan.columns {
            let at = names.iter().position(|n| *n == c.source).or_else(|| names.iter().position(|n| *n == c.name));
            match at {
                Some(p) => self.positions.push(p),
                None => {
                    return Err(ImportError::file(format!(
                        "The file has no column “{}”. Its header must name every column of the dataset.",
                        c.name
                    )));
                }
            }
        }
        Ok(())
    }

    fn record(&mut self, row: u64, record: Record) -> Result<(), ImportError> {
        let mut values = Vec::with_capacity(self.plan.columns.len());
        match record {
            Record::Fields(mut fields) => {
                for i in 0..self.plan.columns.len() {
                    let raw = Raw::Text(std::mem::take(&mut fields[self.positions[i]]));
                    values.push(self.value(row, i, &raw)?);
                }
            }
            Record::Object(mut map) => {
                for i in 0..self.plan.columns.len() {
                    let c = &self.plan.columns[i];
                    let v = map.remove(&c.source).or_else(|| map.remove(&c.name)).unwrap_or(Value::Null);
                    values.push(self.value(row, i, &Raw::Json(v))?);
                }
            }
        }
        self.push(row, values)
    }
}

/// Reads the file into `writer`. On any error the caller aborts the writer;
/// nothing it wrote is visible until it commits.
pub async fn import(
    db: &DatabaseConnection,
    path: &Path,
    format: Format,
    plan: Plan,
    writer: &mut Writer,
) -> Result<u64, ImportError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<RowIn>>(4);
    let path = path.to_owned();
    let parser = tokio::task::spawn_blocking(move || {
        let mut typer = Typer { plan, positions: Vec::new(), batch: Vec::with_capacity(BATCH), tx };
        let rows = parse::read(&path, format, &mut typer)?;
        typer.flush()?;
        Ok::<u64, ImportError>(rows)
    });
    let mut write_error = None;
    while let Some(batch) = rx.recv().await {
        if let Err(e) = writer.write(db, batch).await {
            write_error = Some(e);
            break;
        }
    }
    // Dropping the receiver ends the parser at its next send.
    drop(rx);
    let parsed = parser.await.map_err(|e| ImportError::internal(format!("the import task failed: {e}")))?;
    if let Some(e) = write_error {
        return Err(e);
    }
    parsed
}
