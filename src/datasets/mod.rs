//! The dataset store: the one way rows get in or out of keyhub, for uploads,
//! the JSON API and (later) connector syncs alike.
//!
//! - `schema`: columns, types, typing values (pure);
//! - `parse`: reading CSV / JSON / NDJSON files record by record;
//! - `import`: analysing a file (inferred columns, preview) and importing it
//!   through a writer, streaming, all or nothing;
//! - `store`: versions, batched writes, atomic commit or abort, upsert, and
//!   paginated reads that never scan past rows.
pub mod import;
pub mod parse;

pub mod service;
pub mod staging;
pub mod store;

pub use crate::domain::schema::{Column, ColumnType};
pub use import::{Analysis, Plan};
pub use store::{ReadQuery, Writer};

/// Why rows could not be imported. `Invalid` is the user's to fix and names
/// the row and column; the others are ours.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}", crate::refusal::describe_record(*row, column.as_deref(), message))]
    Invalid { row: Option<u64>, column: Option<String>, message: String },
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Internal(String),
}

/// Where a service returns, an import error is a refusal naming the record.
impl From<ImportError> for crate::refusal::Refusal {
    fn from(e: ImportError) -> Self {
        use crate::refusal::Refusal;
        match e {
            ImportError::Db(db) => db.into(),
            ImportError::Internal(m) => Refusal::Internal(anyhow::anyhow!(m)),
            ImportError::Invalid { row, column, message } => Refusal::Records { row, column, message },
        }
    }
}

impl ImportError {
    /// About the file as a whole.
    pub fn file(message: impl Into<String>) -> ImportError {
        ImportError::Invalid { row: None, column: None, message: message.into() }
    }

    pub fn at(row: u64, column: Option<String>, message: String) -> ImportError {
        ImportError::Invalid { row: Some(row), column, message }
    }

    pub fn internal(message: impl Into<String>) -> ImportError {
        ImportError::Internal(message.into())
    }

    /// The row it names, if any (the JSON API reports it as an index).
    pub fn row(&self) -> Option<u64> {
        match self {
            ImportError::Invalid { row, .. } => *row,
            _ => None,
        }
    }
}

/// Names of datasets, collections: the rules personal-key labels follow.
pub fn clean_name(input: &str, what: &'static str) -> Result<String, String> {
    let rules = crate::domain::text::NameRules {
        max_chars: 100,
        empty: "Enter a name.",
        too_long: "Use at most 100 characters.",
        invisible: "Remove invisible or direction-changing characters from the name.",
    };
    crate::domain::text::clean_name(input, &rules).map_err(|m| m.replace("a name", &format!("a name for the {what}")))
}

/// Column names: as dataset names, and unique within the dataset.
pub fn check_column_names(columns: &[Column]) -> Result<(), (usize, String)> {
    let mut seen = std::collections::HashSet::new();
    for (i, c) in columns.iter().enumerate() {
        if let Err(m) = clean_name(&c.name, "column") {
            return Err((i, m));
        }
        if !seen.insert(crate::domain::text::name_key(&c.name)) {
            return Err((i, format!("Another column is already called “{}”.", c.name)));
        }
    }
    if columns.is_empty() {
        return Err((0, "Keep at least one column.".into()));
    }
    Ok(())
}
