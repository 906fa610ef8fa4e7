//! keyhub's one integration-test binary: every module runs against the real
//! app on a random port with its own database (see `helpers`).
mod helpers;

mod account;
mod browser;
mod cli;
mod connectors;
mod datahub;
mod hardening;
mod hostile;
mod health;
mod hub_keys;
mod keys;
mod live_data;
mod login;
mod members;
mod overview;
mod security;
mod schemathesis;
mod sessions;
mod sync_jobs;
mod setup;
