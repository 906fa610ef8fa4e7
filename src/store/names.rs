//! Fills the `look_key` of every workspace-given name saved before look keys
//! existed (see the migration `m20261206_000008_look_keys`). Two old names
//! that look alike keep distinct keys (suffixed with the row id): they were
//! allowed then, and renaming is their owners' call, not the migration's —
//! new look-alikes are refused from now on.
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Statement};

use crate::store::Sql;

/// Tables with `(id, workspace_id, name, look_key)`, the key unique per workspace.
const TABLES: [&str; 6] = ["datasets", "data_collections", "hub_keys", "entities", "sources", "teams"];

#[derive(FromQueryResult)]
struct Named {
    id: i64,
    name: String,
}

/// Gives every row without a look key its key. Rows made by this version
/// always have one, so after the first start this reads nothing.
pub async fn backfill_look_keys(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    for table in TABLES {
        let rows = Named::find_by_statement(Statement::from_string(
            backend,
            format!("SELECT id, name FROM {table} WHERE look_key IS NULL ORDER BY id"),
        ))
        .all(db)
        .await?;
        for row in rows {
            let key = crate::domain::text::look_key(&row.name);
            if let Err(e) = set_key(db, table, row.id, &key).await {
                if !crate::store::is_unique_violation(&e) {
                    return Err(e);
                }
                set_key(db, table, row.id, &format!("{key}#{}", row.id)).await?;
            }
        }
    }
    Ok(())
}

async fn set_key(db: &impl ConnectionTrait, table: &str, id: i64, key: &str) -> Result<(), DbErr> {
    let mut sql = Sql::new(db.get_database_backend(), &format!("UPDATE {table} SET look_key = "));
    sql.bind(key).push(" WHERE id = ").bind(id);
    db.execute_raw(sql.build()).await.map(|_| ())
}
