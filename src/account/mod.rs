//! Your account: services behind the account pages, the JSON API and the
//! command line.
pub mod keys;
pub mod profile;
