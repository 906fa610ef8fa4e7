//! What went out about a key's expiry: the 7-day and 1-day notices and the
//! `key.expired` event, noted on the key (personal or Data Hub) so that each
//! goes out once.
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use crate::domain::usage::KeyRef;
use crate::store::Sql;

fn table(key: KeyRef) -> &'static str {
    match key {
        KeyRef::Hub(_) => "hub_keys",
        KeyRef::Personal(_) => "personal_keys",
    }
}

/// The 7-day notice went out (with `one_day`, the 1-day one, which stands for both).
pub async fn noted_expiry(
    db: &impl ConnectionTrait,
    key: KeyRef,
    one_day: bool,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut sql = Sql::new(
        db.get_database_backend(),
        &format!("UPDATE {} SET notice_7d_at = COALESCE(notice_7d_at, ", table(key)),
    );
    sql.bind(at).push(")");
    if one_day {
        sql.push(", notice_1d_at = ").bind(at);
    }
    sql.push(" WHERE id = ").bind(key.id());
    db.execute_raw(sql.build()).await.map(|_| ())
}

/// The `key.expired` event went out.
pub async fn noted_expired(db: &impl ConnectionTrait, key: KeyRef, at: DateTime<Utc>) -> Result<(), DbErr> {
    let mut sql = Sql::new(db.get_database_backend(), &format!("UPDATE {} SET expired_event_at = ", table(key)));
    sql.bind(at).push(" WHERE id = ").bind(key.id());
    db.execute_raw(sql.build()).await.map(|_| ())
}
