//! The one mapping from errors to HTTP responses for browser pages.
//!
//! Handlers return `Result<HttpResponse, AppError>`. Database errors become a
//! 503 (busy) or an opaque 500; the page the user sees is rendered by the
//! response middleware (`web::middleware`), in the layout, with the request id,
//! never with internals.
use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use sea_orm::DbErr;

use crate::refusal::Refusal;

#[derive(thiserror::Error)]
pub enum AppError {
    #[error("sign-in required")]
    LoginRequired,
    #[error("not an active member of any workspace")]
    NoWorkspace,
    #[error("bad request")]
    BadRequest,
    /// A query parameter is wrong; the sentence names it and what it takes.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("request body too large")]
    TooLarge,
    #[error("form is not valid UTF-8")]
    InvalidText,
    #[error("not found")]
    NotFound,
    #[error("permission denied")]
    Forbidden,
    /// The page or action needs a permission the user does not hold here;
    /// the page names it and the workspace's admins.
    #[error("needs {0:?}")]
    Needs(crate::domain::Permission),
    /// A workspace rule forbids this to the user; the sentence says which.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// Input a form did not catch (it normally shows the message beside the
    /// field); the page says what was wrong.
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("CSRF check failed")]
    Csrf,
    /// The thing changed under the request (a concurrent edit won); the
    /// sentence says what happened and what to do.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("too many requests")]
    TooManyRequests(Duration),
    #[error("database busy")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn internal(msg: &'static str) -> AppError {
        AppError::Internal(anyhow::anyhow!(msg))
    }
}

impl std::fmt::Debug for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The whole cause chain, for the log only.
            AppError::Internal(e) => write!(f, "{e:?}"),
            other => write!(f, "{other}"),
        }
    }
}

impl From<crate::auth::password::HashError> for AppError {
    fn from(e: crate::auth::password::HashError) -> Self {
        match e {
            crate::auth::password::HashError::Busy => AppError::TooManyRequests(Duration::from_secs(1)),
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<DbErr> for AppError {
    fn from(e: DbErr) -> Self {
        if crate::store::is_busy(&e) {
            AppError::Busy
        } else {
            AppError::Internal(anyhow::Error::new(e).context("database query failed"))
        }
    }
}

/// The one map from a service's refusal to a page. Forms catch `Fields` (and
/// `Records`) first to show the form again; what reaches here is shown as a page.
impl From<Refusal> for AppError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Fields(_) | Refusal::Records { .. } => AppError::Invalid(r.to_string()),
            Refusal::Conflict(message) | Refusal::NotReady(message) => AppError::Conflict(message),
            Refusal::Running(_) => AppError::Conflict(
                "A sync of this source is queued or running. Wait for it to finish, or cancel it, and try again."
                    .into(),
            ),
            Refusal::NotFound => AppError::NotFound,
            Refusal::Forbidden(p) => AppError::Needs(p),
            Refusal::NotAllowed(message) => AppError::NotAllowed(message),
            Refusal::Busy => AppError::Busy,
            Refusal::Internal(e) => AppError::Internal(e),
        }
    }
}

/// What the error page says. Attached to the response and rendered by the
/// middleware, which knows the request id.
#[derive(Clone, Debug)]
pub struct ErrorPage {
    pub title: &'static str,
    pub message: String,
    /// A 403 for a missing permission: the frame adds whom to ask.
    pub needs: Option<crate::domain::Permission>,
}

impl ErrorPage {
    /// A page for any status, used when the response carries no `ErrorPage`.
    pub fn for_status(status: StatusCode) -> ErrorPage {
        let (title, message) = match status.as_u16() {
            400 => ("Bad request", "The request could not be understood. Go back and try again."),
            401 => ("Sign-in required", "Sign in to continue."),
            403 => ("Not allowed", "You do not have permission to do this in this workspace."),
            404 => ("Not found", "There is nothing here. The link may be wrong or the item may have been removed."),
            405 => ("Not allowed", "This address does not accept that kind of request."),
            409 => {
                ("Changed meanwhile", "What you were changing was changed by someone else first. Reload and try again.")
            }
            413 => ("Too large", "What you sent is larger than keyhub accepts."),
            429 => ("Slow down", "Too many requests. Wait a little and try again."),
            503 => ("Busy", "keyhub is busy right now. Try again in a few seconds."),
            s if s >= 500 => ("Something went wrong", "keyhub could not complete the request. It has been logged."),
            _ => ("Error", "The request could not be completed."),
        };
        ErrorPage { title, message: message.to_owned(), needs: None }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::LoginRequired => StatusCode::SEE_OTHER,
            AppError::NoWorkspace
            | AppError::Forbidden
            | AppError::Needs(_)
            | AppError::NotAllowed(_)
            | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest | AppError::InvalidText | AppError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let AppError::LoginRequired = self {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, super::urls::LOGIN))
                // htmx follows this instead of swapping a login page into a fragment.
                .insert_header(("HX-Redirect", super::urls::LOGIN))
                .finish();
        }
        let mut page = ErrorPage::for_status(status);
        match self {
            AppError::Needs(p) => {
                page.message = format!(
                    "This needs the {} permission ({}), which you do not hold in this workspace.",
                    p.as_str(),
                    p.description().to_lowercase()
                );
                page.needs = Some(*p);
            }
            AppError::NoWorkspace => {
                page.title = "No workspace";
                page.message =
                    "You are not an active member of any workspace. Ask an admin to invite you again.".into();
            }
            AppError::Conflict(message) => {
                page.title = "Changed meanwhile";
                page.message = message.clone();
            }
            AppError::NotAllowed(message) => page.message = message.clone(),
            AppError::Invalid(message) => {
                page.title = "Not saved";
                page.message = format!("{message} Nothing was saved. Go back, change it and try again.");
            }
            AppError::InvalidQuery(message) => {
                page.message =
                    format!("The address has a wrong value: {message} Go back, or change it in the address bar.");
            }
            AppError::InvalidText => {
                page.title = "Unreadable text";
                page.message = "The form contained text that is not valid UTF-8, so it was not saved. \
                    Go back, retype the text and send it again."
                    .into();
            }
            AppError::TooLarge => {
                page.message = format!(
                    "What you sent is larger than keyhub accepts for a form ({} KB). Go back and shorten it.",
                    crate::web::form::MAX_FORM_BYTES / 1024
                );
            }
            AppError::Csrf => {
                page.title = "Form expired";
                page.message =
                    "This form could not be verified (it may be old or come from another site). Reload the page and try again."
                        .into();
            }
            AppError::TooManyRequests(wait) => {
                page.message = format!("Too many attempts. Try again in {}.", human_wait(*wait));
            }
            _ => {}
        }
        let mut res = HttpResponse::build(status);
        match self {
            AppError::TooManyRequests(wait) => {
                res.insert_header((header::RETRY_AFTER, wait.as_secs().max(1).to_string()));
            }
            AppError::Busy => {
                res.insert_header((header::RETRY_AFTER, "2"));
            }
            _ => {}
        }
        let mut res = res.finish();
        res.extensions_mut().insert(page);
        res
    }
}

pub fn human_wait(wait: Duration) -> String {
    let secs = wait.as_secs().max(1);
    if secs < 90 { format!("{secs} seconds") } else { format!("{} minutes", secs.div_ceil(60)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_database_is_a_503_with_retry_after() {
        let err = AppError::from(DbErr::Custom("error returned from database: (code: 5) database is locked".into()));
        assert!(matches!(err, AppError::Busy));
        let res = err.error_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "2");
    }

    #[test]
    fn other_database_errors_are_an_opaque_500() {
        let err = AppError::from(DbErr::Custom("syntax error near SELECT * FROM users".into()));
        let res = err.error_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let page = res.extensions().get::<ErrorPage>().cloned().unwrap();
        assert!(!page.message.contains("SELECT"), "no SQL for the user");
        assert!(format!("{err:?}").contains("SELECT"), "the cause chain goes to the log");
    }

    #[test]
    fn a_refusal_no_form_caught_is_a_page_with_its_sentence_never_a_500() {
        use crate::domain::Permission;
        use crate::refusal::FieldError;
        let cases = [
            (Refusal::Fields(vec![FieldError::new("name", "Use at most 100 characters.")]), 422),
            (Refusal::Records { row: Some(3), column: None, message: "Not a number.".into() }, 422),
            (Refusal::NotReady("Test the connection first.".into()), 409),
            (Refusal::Running(7), 409),
            (Refusal::Conflict("Changed meanwhile.".into()), 409),
            (Refusal::NotFound, 404),
            (Refusal::Forbidden(Permission::DataWrite), 403),
            (Refusal::NotAllowed("Only admins can revoke an admin's key.".into()), 403),
            (Refusal::Busy, 503),
        ];
        for (refusal, status) in cases {
            let shown = refusal.to_string();
            let res = AppError::from(refusal).error_response();
            assert_eq!(res.status().as_u16(), status, "{shown}");
            if status != 404 && status != 503 && status != 403 {
                let page = res.extensions().get::<ErrorPage>().cloned().unwrap();
                assert!(page.message.contains(&shown) || shown == "a sync is running", "{shown}: {}", page.message);
            }
        }
    }
}
