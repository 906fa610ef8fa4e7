//! Every refusal of the JSON API: `{"error": {"code": "...", "message": "..."}}`
//! with a stable machine code. 401 for identity problems, 403 for permission
//! problems. Internals never reach the body.
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::key_verifier::KeyRefusal;
use crate::domain::Permission;
use crate::refusal::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no key")]
    MissingKey,
    #[error("malformed key")]
    MalformedKey,
    #[error("unknown key")]
    UnknownKey,
    #[error("revoked key")]
    RevokedKey,
    #[error("expired key")]
    ExpiredKey,
    #[error("owner inactive")]
    OwnerInactive,
    #[error("insufficient permission")]
    InsufficientPermission(Permission),
    #[error("not found")]
    NotFound,
    #[error("endpoint not allowed")]
    EndpointNotAllowed,
    /// A Data Hub key whose status is inactive.
    #[error("key inactive")]
    KeyInactive,
    /// The client address is outside the key's IP filter.
    #[error("ip not allowed")]
    IpNotAllowed,
    /// Several body fields are wrong; the first is `field`, all are in `errors`.
    #[error("invalid fields")]
    InvalidFields(Vec<FieldError>),
    /// A workspace rule forbids this to the caller; the sentence says which.
    #[error("not allowed")]
    NotAllowed(String),
    /// The resource changed since the caller read it (`version` is stale).
    #[error("edit conflict")]
    EditConflict(String),
    /// A query parameter of a data request is wrong.
    #[error("invalid query")]
    InvalidQuery { parameter: String, message: String },
    /// A field of the request body is wrong (`field` names it).
    #[error("invalid field")]
    InvalidField { field: String, message: String },
    /// A record of the body (0-based `index`) or the uploaded file is wrong.
    #[error("invalid records")]
    InvalidRecords { index: Option<u64>, message: String },
    /// The body is over the upload limit; the sentence names the limit.
    #[error("too large")]
    TooLarge(String),
    /// A sync of the source is running (its run id).
    #[error("sync running")]
    SyncRunning(i64),
    /// A step that needs an earlier one (a passed connection test, chosen streams).
    #[error("not ready")]
    NotReady(String),
    /// A sync run that has already ended cannot be cancelled.
    #[error("run finished")]
    RunFinished,
    #[error("rate limited")]
    RateLimited(std::time::Duration),
    /// The key's rate limit or monthly quota is used up.
    #[error("limit exceeded")]
    LimitExceeded(crate::limits::Exceeded),
    #[error("busy")]
    Busy,
    /// This node could not confirm its key snapshots against the database
    /// for longer than `KEYHUB_KEYS_MAX_STALE_SECONDS`.
    #[error("keys unavailable")]
    KeysUnavailable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        if crate::store::is_busy(&e) {
            ApiError::Busy
        } else {
            ApiError::Internal(anyhow::Error::new(e).context("database query failed"))
        }
    }
}

impl From<KeyRefusal> for ApiError {
    fn from(r: KeyRefusal) -> Self {
        match r {
            KeyRefusal::Missing => ApiError::MissingKey,
            KeyRefusal::Malformed => ApiError::MalformedKey,
            KeyRefusal::Unknown => ApiError::UnknownKey,
            KeyRefusal::Revoked { .. } => ApiError::RevokedKey,
            KeyRefusal::Expired { .. } => ApiError::ExpiredKey,
            KeyRefusal::OwnerInactive => ApiError::OwnerInactive,
        }
    }
}

impl From<crate::auth::hub_verifier::HubRefusal> for ApiError {
    fn from(r: crate::auth::hub_verifier::HubRefusal) -> Self {
        use crate::auth::hub_verifier::HubRefusal;
        match r {
            HubRefusal::Malformed => ApiError::MalformedKey,
            HubRefusal::Unknown => ApiError::UnknownKey,
            HubRefusal::Inactive => ApiError::KeyInactive,
            HubRefusal::Expired => ApiError::ExpiredKey,
            HubRefusal::IpNotAllowed => ApiError::IpNotAllowed,
            HubRefusal::EndpointNotAllowed => ApiError::EndpointNotAllowed,
        }
    }
}

/// One wrong field of a request body (`name`, `ip_filters[2]`, `headers[0]`, …).
pub use crate::refusal::FieldError;

/// The one map from a service's refusal to the JSON API's codes. Field names
/// are the service's; a handler whose JSON spells them differently renames
/// them first (`Refusal::rename_fields`).
impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Fields(errors) => ApiError::InvalidFields(errors),
            Refusal::Records { row, ref column, ref message } => ApiError::InvalidRecords {
                index: row.map(|r| r.saturating_sub(1)),
                message: crate::refusal::describe_record(row, column.as_deref(), message),
            },
            Refusal::Conflict(message) => ApiError::EditConflict(message),
            Refusal::NotFound => ApiError::NotFound,
            Refusal::NotReady(message) => ApiError::NotReady(message),
            Refusal::Running(run_id) => ApiError::SyncRunning(run_id),
            Refusal::Forbidden(p) => ApiError::InsufficientPermission(p),
            Refusal::NotAllowed(message) => ApiError::NotAllowed(message),
            Refusal::Busy => ApiError::Busy,
            Refusal::Internal(e) => ApiError::Internal(e),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine code, e.g. `revoked_key`.
    pub code: &'static str,
    /// A sentence for the person reading it.
    pub message: String,
    /// `invalid_query`: the query parameter at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// `invalid_field`: the body field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `invalid_records`: the 0-based index of the first bad record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// `invalid_field`: every wrong field when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// `sync_running`: the run in progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
}

/// Every code with its status and meaning; the docs page lists these.
pub const CODES: &[(&str, u16, &str)] = &[
    (
        "missing_key",
        401,
        "No key was sent. Send it as `Authorization: Bearer <key>`, `Authorization: Apikey <key>` or `X-API-Key: <key>`.",
    ),
    (
        "malformed_key",
        401,
        "The value is not a keyhub key: wrong prefix, length, characters or checksum (a typo or a truncated copy).",
    ),
    (
        "unknown_key",
        401,
        "No such key: it was never issued, has been deleted, or is an old secret whose rotation grace period ended.",
    ),
    ("revoked_key", 401, "The key has been revoked. Generate a new one under Your account → API keys."),
    ("expired_key", 401, "The key has expired. Generate a new one, or rotate before the expiry date next time."),
    ("owner_inactive", 401, "The key's owner is no longer an active member of the key's workspace."),
    ("insufficient_permission", 403, "The key, or its owner at this moment, lacks the permission this endpoint needs."),
    (
        "endpoint_not_allowed",
        403,
        "This endpoint does not accept this key: it is open to chosen Data Hub keys only, and this key is not one of them.",
    ),
    ("key_inactive", 403, "The Data Hub key is inactive. An admin can reactivate it in Data Hub → API Keys."),
    ("ip_not_allowed", 403, "The key's IP filter does not include the address this request came from."),
    (
        "not_allowed",
        403,
        "A rule of the workspace forbids this to the caller (only admins act on admins; no one grants more than they hold); the message says which.",
    ),
    ("edit_conflict", 409, "The resource was changed since you read it; read it again and reapply your change."),
    (
        "sync_running",
        409,
        "A sync of this source is queued or running; `run_id` names it. Wait for it to finish, or cancel it.",
    ),
    ("run_finished", 409, "The sync run has already ended; there is nothing to cancel."),
    ("not_ready", 409, "An earlier step is missing: test the connection (and have it pass) and choose streams first."),
    ("invalid_query", 400, "A query parameter is not valid; `parameter` names it."),
    ("invalid_field", 422, "A field of the request body is missing or not valid; `field` names it."),
    (
        "invalid_records",
        422,
        "The records or the file cannot be imported; `index` gives the first bad record (from 0). Nothing was written.",
    ),
    ("not_found", 404, "There is no such endpoint or resource in the key's workspace."),
    ("method_not_allowed", 405, "This endpoint does not accept that HTTP method."),
    ("bad_request", 400, "The request could not be understood."),
    ("too_large", 413, "The request body is larger than keyhub accepts."),
    (
        "rate_limited",
        429,
        "Too many requests: the key's rate limit is used up (`RateLimit-Policy` and `RateLimit` say how it stands), or this address sent too many refused keys. Retry after the number of seconds in Retry-After.",
    ),
    (
        "quota_exceeded",
        429,
        "The key's monthly quota is used up; it resets at the start of next month (UTC), in the seconds of Retry-After.",
    ),
    ("busy", 503, "keyhub is busy; retry after the number of seconds in Retry-After."),
    (
        "keys_unavailable",
        503,
        "This keyhub node cannot confirm keys with its database right now, so it verifies none; retry after the number of seconds in Retry-After (another node may answer).",
    ),
    ("internal", 500, "keyhub could not complete the request; it has been logged."),
];

/// The sentence for a code of `CODES`.
pub fn message_for(code: &str) -> &'static str {
    CODES.iter().find(|(c, _, _)| *c == code).map(|(_, _, m)| *m).unwrap_or("The request was refused.")
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingKey => "missing_key",
            ApiError::MalformedKey => "malformed_key",
            ApiError::UnknownKey => "unknown_key",
            ApiError::RevokedKey => "revoked_key",
            ApiError::ExpiredKey => "expired_key",
            ApiError::OwnerInactive => "owner_inactive",
            ApiError::InsufficientPermission(_) => "insufficient_permission",
            ApiError::NotFound => "not_found",
            ApiError::EndpointNotAllowed => "endpoint_not_allowed",
            ApiError::KeyInactive => "key_inactive",
            ApiError::IpNotAllowed => "ip_not_allowed",
            ApiError::InvalidFields(_) => "invalid_field",
            ApiError::NotAllowed(_) => "not_allowed",
            ApiError::EditConflict(_) => "edit_conflict",
            ApiError::InvalidQuery { .. } => "invalid_query",
            ApiError::InvalidField { .. } => "invalid_field",
            ApiError::InvalidRecords { .. } => "invalid_records",
            ApiError::TooLarge(_) => "too_large",
            ApiError::SyncRunning(_) => "sync_running",
            ApiError::NotReady(_) => "not_ready",
            ApiError::RunFinished => "run_finished",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::LimitExceeded(e) if e.quota => "quota_exceeded",
            ApiError::LimitExceeded(_) => "rate_limited",
            ApiError::Busy => "busy",
            ApiError::KeysUnavailable => "keys_unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::InsufficientPermission(p) => {
                format!("This needs the permission {p}, which this key or its owner does not have now.")
            }
            ApiError::InvalidQuery { message, .. }
            | ApiError::InvalidField { message, .. }
            | ApiError::InvalidRecords { message, .. }
            | ApiError::TooLarge(message)
            | ApiError::NotReady(message)
            | ApiError::NotAllowed(message)
            | ApiError::EditConflict(message) => message.clone(),
            ApiError::InvalidFields(errors) => errors.first().map(|e| e.message.clone()).unwrap_or_default(),
            ApiError::RateLimited(_) => "Too many refused keys from this address; wait the number of seconds in Retry-After. Valid keys are not affected.".into(),
            ApiError::LimitExceeded(e) if !e.quota => "This key's rate limit is used up for now; retry after the number of seconds in Retry-After.".into(),
            other => message_for(other.code()).to_owned(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InsufficientPermission(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::EndpointNotAllowed | ApiError::KeyInactive | ApiError::IpNotAllowed | ApiError::NotAllowed(_) => {
                StatusCode::FORBIDDEN
            }
            ApiError::InvalidFields(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::EditConflict(_) | ApiError::SyncRunning(_) | ApiError::NotReady(_) | ApiError::RunFinished => {
                StatusCode::CONFLICT
            }
            ApiError::InvalidQuery { .. } => StatusCode::BAD_REQUEST,
            ApiError::InvalidField { .. } | ApiError::InvalidRecords { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited(_) | ApiError::LimitExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy | ApiError::KeysUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(e) = self {
            tracing::error!(error = ?e, "API request failed");
        }
        let mut res = HttpResponse::build(self.status_code());
        if self.status_code() == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"keyhub\""));
        }
        match self {
            ApiError::Busy => {
                res.insert_header((header::RETRY_AFTER, "2"));
            }
            ApiError::KeysUnavailable => {
                res.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::RateLimited(wait) => {
                res.insert_header((header::RETRY_AFTER, wait.as_secs().max(1).to_string()));
            }
            ApiError::LimitExceeded(e) => {
                res.insert_header((header::RETRY_AFTER, e.retry_after.max(1).to_string()));
            }
            _ => {}
        }
        let (parameter, field, index) = match self {
            ApiError::InvalidQuery { parameter, .. } => (Some(parameter.clone()), None, None),
            ApiError::InvalidField { field, .. } => (None, Some(field.clone()), None),
            ApiError::InvalidFields(errors) => (None, errors.first().map(|e| e.field.clone()), None),
            ApiError::InvalidRecords { index, .. } => (None, None, *index),
            _ => (None, None, None),
        };
        let errors = match self {
            ApiError::InvalidFields(errors) if errors.len() > 1 => errors.clone(),
            _ => Vec::new(),
        };
        let run_id = match self {
            ApiError::SyncRunning(id) => Some(*id),
            _ => None,
        };
        let detail =
            ErrorDetail { code: self.code(), message: self.message(), parameter, field, index, errors, run_id };
        let mut res = res.json(ErrorBody { error: detail });
        // The JSON is the answer: the HTML error-page middleware leaves it alone.
        res.extensions_mut().insert(crate::web::KeepBody);
        // The usage counters count the call under its refusal code.
        res.extensions_mut().insert(crate::usage::Outcome(self.code()));
        res
    }
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refusal::FieldError;

    #[test]
    fn every_refusal_has_its_code_and_status() {
        let cases = [
            (Refusal::Fields(vec![FieldError::new("name", "Too long.")]), "invalid_field", 422),
            (Refusal::Records { row: Some(3), column: None, message: "Not a number.".into() }, "invalid_records", 422),
            (Refusal::Conflict("Changed.".into()), "edit_conflict", 409),
            (Refusal::NotReady("Test first.".into()), "not_ready", 409),
            (Refusal::Running(7), "sync_running", 409),
            (Refusal::NotFound, "not_found", 404),
            (Refusal::Forbidden(Permission::DataWrite), "insufficient_permission", 403),
            (Refusal::NotAllowed("Only admins act on admins.".into()), "not_allowed", 403),
            (Refusal::Busy, "busy", 503),
        ];
        for (refusal, code, status) in cases {
            let e = ApiError::from(refusal);
            assert_eq!((e.code(), e.status_code().as_u16()), (code, status));
            assert!(CODES.iter().any(|(c, s, _)| *c == code && *s == status), "{code} is documented with {status}");
        }
        // A record refusal names the record from 0, as the API counts.
        let e = ApiError::from(Refusal::Records { row: Some(3), column: None, message: "x".into() });
        assert!(matches!(e, ApiError::InvalidRecords { index: Some(2), .. }));
    }
}
