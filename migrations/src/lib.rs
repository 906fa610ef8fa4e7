//! Database migrations for keyhub. One file per migration; the same files apply
//! on SQLite and PostgreSQL.
pub use sea_orm_migration::prelude::*;

mod m20261124_000001_foundation;
mod m20261124_000002_personal_keys;
mod m20261124_000003_audit_names_resets;
mod m20261124_000004_datahub;
mod m20261129_000005_hub_keys;
mod m20261130_000006_live_data;
mod m20261130_000007_sync_jobs;
mod m20261206_000008_look_keys;
mod m20261206_000009_endpoint_origins;
mod m20261207_000010_usage_limits;
mod m20261207_000011_mail;
mod m20261207_000012_webhooks;
mod m20261207_000013_cluster;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_foundation::Migration),
            Box::new(m20261124_000002_personal_keys::Migration),
            Box::new(m20261124_000003_audit_names_resets::Migration),
            Box::new(m20261124_000004_datahub::Migration),
            Box::new(m20261129_000005_hub_keys::Migration),
            Box::new(m20261130_000006_live_data::Migration),
            Box::new(m20261130_000007_sync_jobs::Migration),
            Box::new(m20261206_000008_look_keys::Migration),
            Box::new(m20261206_000009_endpoint_origins::Migration),
            Box::new(m20261207_000010_usage_limits::Migration),
            Box::new(m20261207_000011_mail::Migration),
            Box::new(m20261207_000012_webhooks::Migration),
            Box::new(m20261207_000013_cluster::Migration),
        ]
    }
}
