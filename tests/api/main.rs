//! keyhub's one integration-test binary: every module runs against the real
//! app on a random port with its own database (see `helpers`).
mod helpers;

mod account;
mod browser;
mod cli;
mod cluster;
mod cluster_syncs;
mod connectors;
mod datahub;
mod hardening;
mod health;
mod hostile;
mod hub_keys;
mod keys;
mod layers;
mod live_data;
mod login;
mod mail;
mod members;
mod openapi_sources;
mod overview;
mod schemathesis;
mod security;
mod sessions;
mod setup;
mod sync_jobs;
mod usage;
mod webhooks;
