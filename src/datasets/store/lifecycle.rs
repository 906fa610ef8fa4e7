use super::*;

/// Deletes one generation's rows in chunks (short write transactions).
pub async fn drop_generation(db: &DatabaseConnection, dataset_id: i64, generation: i64) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend, "SELECT MAX(pos) AS top FROM dataset_rows WHERE dataset_id = ");
    sql.bind(dataset_id).push(" AND generation = ").bind(generation);
    let top: Option<i64> = match db.query_one_raw(sql.build()).await? {
        Some(row) => row.try_get("", "top")?,
        None => None,
    };
    let Some(top) = top else { return Ok(()) };
    let mut from = 0;
    while from <= top {
        let mut sql = Sql::new(backend, "DELETE FROM dataset_rows WHERE dataset_id = ");
        sql.bind(dataset_id).push(" AND generation = ").bind(generation);
        sql.push(" AND pos >= ").bind(from).push(" AND pos < ").bind(from + DELETE_CHUNK);
        db.execute_raw(sql.build()).await?;
        from += DELETE_CHUNK;
    }
    Ok(())
}

/// Readers that looked up the dataset just before a commit may still read the
/// old generation for a moment (a page, a CSV download); they get this long.
pub(super) const REPLACED_ROWS_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

pub(super) fn drop_generation_later(db: DatabaseConnection, dataset_id: i64, generation: i64) {
    tokio::spawn(async move {
        tokio::time::sleep(REPLACED_ROWS_GRACE).await;
        if let Err(e) = drop_generation(&db, dataset_id, generation).await {
            tracing::warn!(error = %e, dataset = dataset_id, "removing replaced rows failed; they are removed at the next start");
        }
        crate::pulse::background().bump();
    });
}

/// Deletes a dataset (its collections and endpoints go with it) and then its rows.
pub async fn delete(db: &DatabaseConnection, ds: &datasets::Model) -> Result<(), DbErr> {
    use crate::entities::{data_collections, endpoints};
    use sea_orm::{ColumnTrait, QueryFilter};
    let txn = crate::store::begin_write(db).await?;
    let collections: Vec<i64> = data_collections::Entity::find()
        .filter(data_collections::Column::DatasetId.eq(ds.id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    endpoints::Entity::delete_many()
        .filter(endpoints::Column::CollectionId.is_in(collections.clone()))
        .exec(&txn)
        .await?;
    data_collections::Entity::delete_many().filter(data_collections::Column::Id.is_in(collections)).exec(&txn).await?;
    datasets::Entity::delete_by_id(ds.id).exec(&txn).await?;
    txn.commit().await?;
    let db = db.clone();
    let id = ds.id;
    let top = ds.next_generation;
    tokio::spawn(async move {
        for generation in 0..top {
            if let Err(e) = drop_generation(&db, id, generation).await {
                tracing::warn!(error = %e, dataset = id, "removing a deleted dataset's rows failed; retried at the next start");
                return;
            }
        }
        crate::pulse::background().bump();
    });
    Ok(())
}

/// Rows left behind by a crash: generations that are not current (or whose
/// dataset is gone), and datasets whose first import never committed.
/// Run at start, before any writer exists (one node; see the note in README).
/// A sync's full refresh in progress (`stream_tabs.pending_generation`) is
/// kept: its run resumes it.
pub async fn sweep(db: &DatabaseConnection) -> Result<(), DbErr> {
    use crate::entities::stream_tabs;
    use sea_orm::{ColumnTrait, QueryFilter};
    let resumable: Vec<i64> = stream_tabs::Entity::find()
        .filter(stream_tabs::Column::PendingGeneration.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .map(|t| t.dataset_id)
        .collect();
    let stale = datasets::Entity::find().filter(datasets::Column::State.eq("importing")).all(db).await?;
    for ds in stale.into_iter().filter(|d| !resumable.contains(&d.id)) {
        delete(db, &ds).await?;
    }
    let backend = db.get_database_backend();
    let sql = Sql::new(
        backend,
        "SELECT DISTINCT r.dataset_id AS dataset_id, r.generation AS generation FROM dataset_rows r \
         LEFT JOIN datasets d ON d.id = r.dataset_id WHERE (d.id IS NULL OR d.generation <> r.generation) \
         AND NOT EXISTS (SELECT 1 FROM stream_tabs t WHERE t.dataset_id = r.dataset_id AND t.pending_generation = r.generation)",
    );
    for row in db.query_all_raw(sql.build()).await? {
        let id: i64 = row.try_get("", "dataset_id")?;
        let generation: i64 = row.try_get("", "generation")?;
        drop_generation(db, id, generation).await?;
    }
    Ok(())
}
