//! Keeps the stored `name_key` of every workspace-unique name in step with
//! `domain::text::name_key`. When the rule changes (it now also folds
//! look-alike letters, TR39), rows saved under the old rule get their new key
//! once, at the first start. Two old names that are now look-alikes keep
//! distinct keys (suffixed with the row id): they were allowed then, and
//! renaming is the owners' call, not the migration's — new look-alikes are
//! refused from now on.
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Statement};

use crate::entities::instance_facts as facts;
use crate::store::Sql;

/// The fact that records which rule the stored keys follow.
const FACT: &str = "name_keys";
const RULE: &str = "tr39-skeleton";

/// Tables with `(id, name, name_key)` unique per workspace.
const TABLES: [&str; 6] = ["datasets", "data_collections", "hub_keys", "entities", "sources", "teams"];

#[derive(FromQueryResult)]
struct Named {
    id: i64,
    name: String,
    name_key: String,
}

pub async fn rekey(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    use sea_orm::EntityTrait;
    if facts::Entity::find_by_id(FACT.to_owned()).one(db).await?.is_some_and(|f| f.value == RULE) {
        return Ok(());
    }
    let backend = db.get_database_backend();
    for table in TABLES {
        let rows = Named::find_by_statement(Statement::from_string(backend, format!("SELECT id, name, name_key FROM {table} ORDER BY id"))).all(db).await?;
        for row in rows {
            let key = crate::domain::text::name_key(&row.name);
            if key == row.name_key {
                continue;
            }
            if let Err(e) = set_key(db, table, row.id, &key).await {
                if !crate::store::is_unique_violation(&e) {
                    return Err(e);
                }
                set_key(db, table, row.id, &format!("{key}#{}", row.id)).await?;
            }
        }
    }
    crate::store::changes::set_named(db, FACT, RULE).await?;
    Ok(())
}

async fn set_key(db: &impl ConnectionTrait, table: &str, id: i64, key: &str) -> Result<(), DbErr> {
    let mut sql = Sql::new(db.get_database_backend(), &format!("UPDATE {table} SET name_key = "));
    sql.bind(key).push(" WHERE id = ").bind(id);
    db.execute_raw(sql.build()).await.map(|_| ())
}
