//! Pure rules of keyhub: no actix, no sea-orm. Everything here is unit-testable
//! in microseconds and takes only parsed, valid values out into the rest of the app.
// Nothing a user, the network or the database can influence may panic (tests may).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
pub mod account;
pub mod connector_error;
pub mod datahub;
pub mod header_template;
pub mod hub_keys;
pub mod ip_filter;
pub mod keys;
pub mod limits;
pub mod live_data;
pub mod members;
pub mod permissions;
pub mod query;
pub mod schema;
pub mod spreadsheet;
pub mod stored;
pub mod text;
pub mod tokens;
pub mod usage;
pub mod webhooks;

pub use account::{DisplayName, Email, Password, WorkspaceName};
pub use permissions::{Permission, PermissionSet, Role};
