//! Data collections and endpoints (the dataset store itself is `crate::datasets`).
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::domain::datahub::Access;
use crate::entities::json::Json;
use crate::entities::{data_collections as collections, datasets, endpoints};

/// Datasets that are listed (first import committed), by name.
pub async fn datasets(db: &impl ConnectionTrait, workspace_id: i64) -> Result<Vec<datasets::Model>, DbErr> {
    datasets::Entity::find()
        .filter(datasets::Column::WorkspaceId.eq(workspace_id))
        .filter(datasets::Column::State.eq("ready"))
        .order_by_asc(datasets::Column::NameKey)
        .all(db)
        .await
}

pub async fn dataset(db: &impl ConnectionTrait, workspace_id: i64, id: i64) -> Result<Option<datasets::Model>, DbErr> {
    datasets::Entity::find_by_id(id)
        .filter(datasets::Column::WorkspaceId.eq(workspace_id))
        .filter(datasets::Column::State.eq("ready"))
        .one(db)
        .await
}

/// A dataset in any state (a tab's dataset is `importing` until its first sync).
pub async fn dataset_any(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    id: i64,
) -> Result<Option<datasets::Model>, DbErr> {
    datasets::Entity::find_by_id(id).filter(datasets::Column::WorkspaceId.eq(workspace_id)).one(db).await
}

pub async fn dataset_name_taken(db: &impl ConnectionTrait, workspace_id: i64, name: &str) -> Result<bool, DbErr> {
    Ok(datasets::Entity::find()
        .filter(datasets::Column::WorkspaceId.eq(workspace_id))
        .filter(datasets::Column::LookKey.eq(crate::domain::text::look_key(name)))
        .one(db)
        .await?
        .is_some())
}

/// What a collection is, as forms and the API give it.
#[derive(Debug, Clone)]
pub struct CollectionSpec {
    pub name: String,
    pub description: String,
    pub dataset_id: i64,
    pub fields: Option<Vec<String>>,
    pub order: Option<String>,
    pub default_limit: i64,
    pub max_limit: i64,
}

/// Creates or (with `id`) updates a collection; `None` when the name is taken.
pub async fn save_collection(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    id: Option<i64>,
    spec: &CollectionSpec,
) -> Result<Option<collections::Model>, DbErr> {
    let now = Utc::now();
    let mut m = collections::ActiveModel {
        workspace_id: Set(workspace_id),
        name: Set(spec.name.clone()),
        name_key: Set(crate::domain::text::name_key(&spec.name)),
        look_key: Set(Some(crate::domain::text::look_key(&spec.name))),
        description: Set(spec.description.clone()),
        dataset_id: Set(spec.dataset_id),
        fields: Set(spec.fields.clone().map(Json)),
        sort_order: Set(spec.order.clone()),
        default_limit: Set(spec.default_limit),
        max_limit: Set(spec.max_limit),
        updated_at: Set(now),
        ..Default::default()
    };
    let res = match id {
        Some(id) => {
            m.id = Set(id);
            m.update(db).await
        }
        None => {
            m.created_at = Set(now);
            m.insert(db).await
        }
    };
    crate::store::unless_taken(res)
}

pub async fn collections(db: &impl ConnectionTrait, workspace_id: i64) -> Result<Vec<collections::Model>, DbErr> {
    collections::Entity::find()
        .filter(collections::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(collections::Column::NameKey)
        .all(db)
        .await
}

pub async fn collections_of(db: &impl ConnectionTrait, dataset_id: i64) -> Result<Vec<collections::Model>, DbErr> {
    collections::Entity::find()
        .filter(collections::Column::DatasetId.eq(dataset_id))
        .order_by_asc(collections::Column::NameKey)
        .all(db)
        .await
}

pub async fn collection(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    id: i64,
) -> Result<Option<collections::Model>, DbErr> {
    collections::Entity::find_by_id(id).filter(collections::Column::WorkspaceId.eq(workspace_id)).one(db).await
}

/// Deletes a collection and the endpoints that serve it.
pub async fn delete_collection(db: &impl ConnectionTrait, c: &collections::Model) -> Result<(), DbErr> {
    endpoints::Entity::delete_many().filter(endpoints::Column::CollectionId.eq(c.id)).exec(db).await?;
    collections::Entity::delete_by_id(c.id).exec(db).await?;
    Ok(())
}

/// Creates or updates an endpoint; `None` when the path is taken.
pub async fn save_endpoint(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    id: Option<i64>,
    path: &str,
    collection_id: i64,
    access: Access,
    allowed_origins: &str,
) -> Result<Option<endpoints::Model>, DbErr> {
    let now = Utc::now();
    let mut m = endpoints::ActiveModel {
        workspace_id: Set(workspace_id),
        path: Set(path.to_owned()),
        collection_id: Set(collection_id),
        access: Set(access.into()),
        allowed_origins: Set(allowed_origins.to_owned()),
        updated_at: Set(now),
        ..Default::default()
    };
    let res = match id {
        Some(id) => {
            m.id = Set(id);
            m.update(db).await
        }
        None => {
            m.created_at = Set(now);
            m.insert(db).await
        }
    };
    crate::store::unless_taken(res)
}

pub async fn endpoints(db: &impl ConnectionTrait, workspace_id: i64) -> Result<Vec<endpoints::Model>, DbErr> {
    endpoints::Entity::find()
        .filter(endpoints::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(endpoints::Column::Path)
        .all(db)
        .await
}

pub async fn endpoints_of(db: &impl ConnectionTrait, collection_ids: Vec<i64>) -> Result<Vec<endpoints::Model>, DbErr> {
    endpoints::Entity::find()
        .filter(endpoints::Column::CollectionId.is_in(collection_ids))
        .order_by_asc(endpoints::Column::Path)
        .all(db)
        .await
}

pub async fn endpoint(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    id: i64,
) -> Result<Option<endpoints::Model>, DbErr> {
    endpoints::Entity::find_by_id(id).filter(endpoints::Column::WorkspaceId.eq(workspace_id)).one(db).await
}

pub async fn endpoint_by_path(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    path: &str,
) -> Result<Option<endpoints::Model>, DbErr> {
    endpoints::Entity::find()
        .filter(endpoints::Column::WorkspaceId.eq(workspace_id))
        .filter(endpoints::Column::Path.eq(path))
        .one(db)
        .await
}

pub async fn delete_endpoint(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    endpoints::Entity::delete_by_id(id).exec(db).await.map(|_| ())
}
