//! A change marker shared by all nodes: every change that affects key
//! verification (keys, memberships) writes a new random value, and each
//! node's key verifier reloads when it sees a value it has not loaded.
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};

use crate::entities::instance_facts as facts;

const NAME: &str = "keys_version";
/// Data Hub's served catalogue: endpoints, collections, datasets, slugs.
pub const HUB: &str = "hub_version";

/// A new value for the key verifiers' marker, returned like `bump_named`'s.
pub async fn bump(db: &impl ConnectionTrait) -> Result<String, DbErr> {
    bump_named(db, NAME).await
}

/// Writes a new value for the marker `name` and returns it, so the node that
/// made the change need not react to its own marker again.
pub async fn bump_named(db: &impl ConnectionTrait, name: &str) -> Result<String, DbErr> {
    let value = crate::domain::tokens::random_token(16);
    let row = facts::ActiveModel { name: Set(name.into()), value: Set(value.clone()), created_at: Set(Utc::now()) };
    facts::Entity::insert(row)
        .on_conflict(OnConflict::column(facts::Column::Name).update_column(facts::Column::Value).to_owned())
        .exec(db)
        .await
        .map(|_| value)
}

pub async fn current(db: &impl ConnectionTrait) -> Result<Option<String>, DbErr> {
    current_named(db, NAME).await
}

pub async fn current_named(db: &impl ConnectionTrait, name: &str) -> Result<Option<String>, DbErr> {
    Ok(facts::Entity::find_by_id(name.to_owned()).one(db).await?.map(|f| f.value))
}
