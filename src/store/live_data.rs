//! Sources, ontology entities, their spreadsheet tabs and sync runs.
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::entities::{ontology_entities as entities, sources, stream_tabs, sync_runs};

// --- entities -------------------------------------------------------------

pub async fn entities(db: &impl ConnectionTrait, workspace_id: i64) -> Result<Vec<entities::Model>, DbErr> {
    entities::Entity::find().filter(entities::Column::WorkspaceId.eq(workspace_id)).order_by_asc(entities::Column::NameKey).all(db).await
}

pub async fn entity(db: &impl ConnectionTrait, workspace_id: i64, id: i64) -> Result<Option<entities::Model>, DbErr> {
    entities::Entity::find_by_id(id).filter(entities::Column::WorkspaceId.eq(workspace_id)).one(db).await
}

/// Creates (`id` none) or renames/describes an entity; `None` when the name is taken.
pub async fn save_entity(db: &impl ConnectionTrait, workspace_id: i64, id: Option<i64>, name: &str, description: &str) -> Result<Option<entities::Model>, DbErr> {
    let now = Utc::now();
    let res = match id {
        None => {
            entities::ActiveModel {
                workspace_id: Set(workspace_id),
                name: Set(name.to_owned()),
                name_key: Set(crate::domain::text::name_key(name)),
                description: Set(description.to_owned()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await
        }
        Some(id) => {
            let Some(old) = entity(db, workspace_id, id).await? else { return Err(DbErr::RecordNotFound("entity".into())) };
            let mut m: entities::ActiveModel = old.into();
            m.name = Set(name.to_owned());
            m.name_key = Set(crate::domain::text::name_key(name));
            m.description = Set(description.to_owned());
            m.updated_at = Set(now);
            m.update(db).await
        }
    };
    crate::store::unless_taken(res)
}

pub async fn delete_entity(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    stream_tabs::Entity::delete_many().filter(stream_tabs::Column::EntityId.eq(id)).exec(db).await?;
    sources::Entity::update_many()
        .col_expr(sources::Column::EntityId, sea_orm::sea_query::Expr::value(Option::<i64>::None))
        .filter(sources::Column::EntityId.eq(id))
        .exec(db)
        .await?;
    entities::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

// --- sources --------------------------------------------------------------

pub async fn sources(db: &impl ConnectionTrait, workspace_id: i64) -> Result<Vec<sources::Model>, DbErr> {
    sources::Entity::find().filter(sources::Column::WorkspaceId.eq(workspace_id)).order_by_asc(sources::Column::NameKey).all(db).await
}

pub async fn source(db: &impl ConnectionTrait, workspace_id: i64, id: i64) -> Result<Option<sources::Model>, DbErr> {
    sources::Entity::find_by_id(id).filter(sources::Column::WorkspaceId.eq(workspace_id)).one(db).await
}

pub async fn source_by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<sources::Model>, DbErr> {
    sources::Entity::find_by_id(id).one(db).await
}

pub async fn sources_of_entity(db: &impl ConnectionTrait, entity_id: i64) -> Result<Vec<sources::Model>, DbErr> {
    sources::Entity::find().filter(sources::Column::EntityId.eq(entity_id)).order_by_asc(sources::Column::NameKey).all(db).await
}

/// Inserts or updates; `None` when another source has the name.
pub async fn save_source(db: &impl ConnectionTrait, m: sources::ActiveModel) -> Result<Option<sources::Model>, DbErr> {
    let res = if m.id.is_not_set() { m.insert(db).await } else { m.update(db).await };
    crate::store::unless_taken(res)
}

pub async fn delete_source(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    sync_runs::Entity::delete_many().filter(sync_runs::Column::SourceId.eq(id)).exec(db).await?;
    sources::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

// --- spreadsheet tabs -----------------------------------------------------

pub async fn tabs_of_entity(db: &impl ConnectionTrait, entity_id: i64) -> Result<Vec<stream_tabs::Model>, DbErr> {
    stream_tabs::Entity::find().filter(stream_tabs::Column::EntityId.eq(entity_id)).order_by_asc(stream_tabs::Column::Id).all(db).await
}

pub async fn tabs_of_source(db: &impl ConnectionTrait, source_id: i64) -> Result<Vec<stream_tabs::Model>, DbErr> {
    stream_tabs::Entity::find().filter(stream_tabs::Column::SourceId.eq(source_id)).order_by_asc(stream_tabs::Column::Id).all(db).await
}

pub async fn tab(db: &impl ConnectionTrait, workspace_id: i64, id: i64) -> Result<Option<stream_tabs::Model>, DbErr> {
    stream_tabs::Entity::find_by_id(id).filter(stream_tabs::Column::WorkspaceId.eq(workspace_id)).one(db).await
}

pub async fn add_tab(db: &impl ConnectionTrait, src: &sources::Model, stream: &str, dataset_id: i64) -> Result<stream_tabs::Model, DbErr> {
    stream_tabs::ActiveModel {
        workspace_id: Set(src.workspace_id),
        entity_id: Set(src.entity_id),
        source_id: Set(Some(src.id)),
        stream: Set(stream.to_owned()),
        dataset_id: Set(dataset_id),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn tab_synced(db: &impl ConnectionTrait, tab_id: i64) -> Result<(), DbErr> {
    stream_tabs::Entity::update_many()
        .col_expr(stream_tabs::Column::LastSyncAt, sea_orm::sea_query::Expr::value(Some(Utc::now())))
        .filter(stream_tabs::Column::Id.eq(tab_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Moves a source's tabs to `entity_id` (linking) or detaches them from the
/// source (unlinking, tabs kept).
pub async fn set_tabs_entity(db: &impl ConnectionTrait, source_id: i64, entity_id: Option<i64>) -> Result<(), DbErr> {
    stream_tabs::Entity::update_many()
        .col_expr(stream_tabs::Column::EntityId, sea_orm::sea_query::Expr::value(entity_id))
        .filter(stream_tabs::Column::SourceId.eq(source_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn detach_tabs(db: &impl ConnectionTrait, source_id: i64) -> Result<(), DbErr> {
    stream_tabs::Entity::update_many()
        .col_expr(stream_tabs::Column::SourceId, sea_orm::sea_query::Expr::value(Option::<i64>::None))
        .filter(stream_tabs::Column::SourceId.eq(source_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn delete_tab(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    stream_tabs::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

// --- sync runs ------------------------------------------------------------

pub async fn running_run(db: &impl ConnectionTrait, source_id: i64) -> Result<Option<sync_runs::Model>, DbErr> {
    sync_runs::Entity::find()
        .filter(sync_runs::Column::SourceId.eq(source_id))
        .filter(sync_runs::Column::Status.eq("running"))
        .one(db)
        .await
}

pub async fn runs_of_source(db: &impl ConnectionTrait, source_id: i64, limit: u64) -> Result<Vec<sync_runs::Model>, DbErr> {
    sync_runs::Entity::find()
        .filter(sync_runs::Column::SourceId.eq(source_id))
        .order_by_desc(sync_runs::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

pub async fn run(db: &impl ConnectionTrait, workspace_id: i64, id: i64) -> Result<Option<sync_runs::Model>, DbErr> {
    sync_runs::Entity::find_by_id(id).filter(sync_runs::Column::WorkspaceId.eq(workspace_id)).one(db).await
}

pub async fn start_run(db: &impl ConnectionTrait, src: &sources::Model, streams: &str, trigger: &str) -> Result<sync_runs::Model, DbErr> {
    sync_runs::ActiveModel {
        workspace_id: Set(src.workspace_id),
        source_id: Set(src.id),
        status: Set("running".into()),
        streams: Set(streams.to_owned()),
        trigger: Set(trigger.to_owned()),
        started_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn update_run(db: &impl ConnectionTrait, id: i64, status: &str, streams: &str, error: Option<String>, finished: bool) -> Result<(), DbErr> {
    let m = sync_runs::ActiveModel {
        id: Set(id),
        status: Set(status.to_owned()),
        streams: Set(streams.to_owned()),
        error: Set(error),
        finished_at: Set(finished.then(Utc::now)),
        ..Default::default()
    };
    m.update(db).await?;
    Ok(())
}
