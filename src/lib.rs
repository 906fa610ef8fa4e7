//! keyhub: a self-hosted data portal whose heart is API-key management.
//! `main.rs` only parses the command line; everything else is here so the
//! tests build exactly the same application.
// Nothing a user, the network or the database can influence may panic (tests may).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod account;
pub mod api;
pub mod app;
pub mod auth;
pub mod bench_seed;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod connectors;
pub mod data_dir;
pub mod datasets;
pub mod entities;
pub mod hub;
pub mod invitations;
pub mod limits;
pub mod members;
pub mod metrics;
pub mod notify;
pub mod ontology;
pub mod pulse;
pub mod refusal;
pub mod secret;
pub mod state;
pub mod store;
pub mod usage;
pub mod web;
pub mod workspaces;

pub use app::Application;
pub use config::Settings;
/// The pure rules live in their own crate (`domain/`); `crate::domain::…` reads as before.
pub use keyhub_domain as domain;
