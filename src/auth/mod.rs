//! Who is calling: password hashing, server-side sessions, CSRF, login
//! throttling and the signed-in user extractor.
pub mod client_ip;
pub mod csrf;
pub mod key_verifier;
pub mod current_user;
pub mod password;
pub mod session_store;
pub mod throttle;

pub use current_user::{CurrentUser, require};

/// Names of the values kept in the session state, defined once.
pub mod keys {
    pub const USER_ID: &str = "user_id";
    pub const WORKSPACE_ID: &str = "workspace_id";
    pub const CSRF: &str = "csrf";
    pub const FLASH: &str = "flash";
}
