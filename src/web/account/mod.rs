//! `Your account`: profile and password, and personal API keys.
pub mod keys;
pub mod profile;
pub mod usage;
