//! The one refusal every service returns (as kanidm returns its one
//! `OperationError`). A service says *what* went wrong in product terms; each
//! front end maps it once to HTTP: `web::errors` to a page (or a form shown
//! again with the message beside the field), `api::errors` to a JSON body with
//! a stable code. Both maps are exhaustive matches, so a new variant does not
//! compile until each front end says what it means — it can never fall into a
//! silent 500.
//!
//! Lower layers keep their own narrow errors where the detail matters to them
//! (`datasets::ImportError` for a parser, `DbErr` for the store); they become a
//! `Refusal` where a service returns.
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Permission;

/// One wrong field of a form or request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field as the service names it: `name`, `ip_filters.2`, `column-3`, ….
    /// A front end may rename it to its own spelling (JSON `ip_filters[2]`).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Fields of the input are wrong; every one is listed, the first first.
    #[error("{}", .0.first().map(|e| e.message.as_str()).unwrap_or("invalid input"))]
    Fields(Vec<FieldError>),
    /// Records or a file cannot be imported; `row` counts from 1 (the header
    /// of a CSV file is not a row). Nothing was written.
    #[error("{}", describe_record(*row, column.as_deref(), message))]
    Records { row: Option<u64>, column: Option<String>, message: String },
    /// Changed by someone else since it was read; the sentence says what to do.
    #[error("{0}")]
    Conflict(String),
    /// No such thing in the caller's workspace.
    #[error("not found")]
    NotFound,
    /// A step needs an earlier one first (a passed connection test, chosen streams).
    #[error("{0}")]
    NotReady(String),
    /// A sync of the source is queued or running (its run id).
    #[error("a sync is running")]
    Running(i64),
    /// The caller lacks a permission.
    #[error("needs {0}")]
    Forbidden(Permission),
    /// A rule of the workspace forbids this to this caller (only admins act on
    /// admins, no granting beyond one's own rights); the sentence says which.
    #[error("{0}")]
    NotAllowed(String),
    /// The database is busy (SQLite's single writer); worth retrying.
    #[error("busy")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Refusal {
    /// One wrong field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Refusal {
        Refusal::Fields(vec![FieldError::new(field, message)])
    }

    /// The same refusal with its fields named the way a front end spells them.
    pub fn rename_fields(self, rename: impl Fn(&str) -> String) -> Refusal {
        match self {
            Refusal::Fields(errors) => Refusal::Fields(
                errors.into_iter().map(|e| FieldError { field: rename(&e.field), message: e.message }).collect(),
            ),
            other => other,
        }
    }
}

impl From<sea_orm::DbErr> for Refusal {
    fn from(e: sea_orm::DbErr) -> Self {
        if crate::store::is_busy(&e) {
            Refusal::Busy
        } else {
            Refusal::Internal(anyhow::Error::new(e).context("database query failed"))
        }
    }
}

/// "Row 3, column “price”: …": where a record refusal points.
pub fn describe_record(row: Option<u64>, column: Option<&str>, message: &str) -> String {
    match (row, column) {
        (Some(r), Some(c)) => format!("Row {r}, column “{c}”: {message}"),
        (Some(r), None) => format!("Row {r}: {message}"),
        (None, Some(c)) => format!("Column “{c}”: {message}"),
        (None, None) => message.to_owned(),
    }
}
