//! `Data Hub`: datasets, data collections and endpoints.
pub mod collections;
pub mod datasets;
pub mod endpoints;
pub mod keys;
pub mod usage;
