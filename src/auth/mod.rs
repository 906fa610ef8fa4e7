//! Who is calling: password hashing, server-side sessions, CSRF, login
//! throttling and the signed-in user extractor.
pub mod client_ip;
pub mod csrf;
pub mod current_user;
pub mod freshness;
pub mod hub_verifier;
pub mod key_verifier;
pub mod password;
pub mod perm;
pub mod refusals;
pub mod sealing;
pub mod session_store;
pub mod throttle;

pub use current_user::{CurrentUser, Member, SignedIn};

/// Names of the values kept in the session state, defined once.
pub mod keys {
    pub const USER_ID: &str = "user_id";
    pub const WORKSPACE_ID: &str = "workspace_id";
    pub const CSRF: &str = "csrf";
    pub const FLASH: &str = "flash";
}

/// Starts a signed-in session: a new session id (a session fixed before
/// sign-in is worthless), a new CSRF token, and the user (and workspace).
pub fn sign_in(
    session: &actix_session::Session,
    user_id: i64,
    workspace_id: Option<i64>,
) -> Result<(), actix_session::SessionInsertError> {
    session.renew();
    session.remove(keys::CSRF);
    session.remove(keys::WORKSPACE_ID);
    session.insert(keys::USER_ID, user_id)?;
    if let Some(ws) = workspace_id {
        session.insert(keys::WORKSPACE_ID, ws)?;
    }
    Ok(())
}
