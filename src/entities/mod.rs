//! SeaORM entities, one file per table, kept apart from the hand-written queries
//! in `store/`. Nothing outside `store/` should need to build queries on these.
pub mod audit_events;
pub mod cluster_nodes;
pub mod data_collections;
pub mod datasets;
pub mod endpoints;
pub mod hub_key_changes;
pub mod hub_key_endpoints;
pub mod hub_key_teams;
pub mod hub_key_users;
pub mod hub_keys;
pub mod instance_facts;
pub mod invitations;
pub mod json;
pub mod members;
pub mod ontology_entities;
pub mod password_resets;
pub mod personal_keys;
pub mod sessions;
pub mod sources;
pub mod stream_tabs;
pub mod sync_runs;
pub mod team_members;
pub mod teams;
pub mod typed;
pub mod users;
pub mod workspaces;
