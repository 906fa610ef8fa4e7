//! Creating, changing and deleting data collections and endpoints, for pages
//! and the JSON API alike: the checks, the audit entry, the cache refresh.
use crate::domain::datahub::{Access, check_limits, parse_endpoint_path, parse_order, parse_origins};
use crate::entities::{data_collections, endpoints};
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::audit::Target;
use crate::store::datahub::CollectionSpec;

fn field(name: &'static str, message: impl Into<String>) -> Refusal {
    Refusal::field(name, message)
}

/// A collection as submitted, before checking.
#[derive(Debug, Clone, Default)]
pub struct CollectionInput {
    pub name: String,
    pub description: String,
    pub dataset_id: Option<i64>,
    /// None = all columns.
    pub fields: Option<Vec<String>>,
    pub order: Option<String>,
    pub default_limit: i64,
    pub max_limit: i64,
}

fn collection_target(c: &data_collections::Model) -> Target {
    Target { kind: "collection", id: c.id, name: c.name.clone() }
}

async fn check_collection(
    state: &AppState,
    workspace_id: i64,
    input: &CollectionInput,
) -> Result<CollectionSpec, Refusal> {
    let name = crate::datasets::clean_name(&input.name, "collection").map_err(|m| field("name", m))?;
    let description = input.description.trim().to_owned();
    if description.chars().count() > 1000 {
        return Err(field("description", "Use at most 1,000 characters."));
    }
    let dataset_id =
        input.dataset_id.ok_or_else(|| field("dataset_id", "Choose the dataset this collection shows."))?;
    let ds = crate::store::datahub::dataset(&state.db, workspace_id, dataset_id)
        .await?
        .ok_or_else(|| field("dataset_id", "There is no such dataset in this workspace."))?;
    let columns = crate::datasets::store::columns(&ds);
    let fields = match &input.fields {
        None => None,
        Some(list) if list.is_empty() => {
            return Err(field("fields", "Choose at least one field, or expose all of them."));
        }
        Some(list) => {
            let mut seen = std::collections::HashSet::new();
            for f in list {
                if !columns.iter().any(|c| c.name == *f) {
                    return Err(field("fields", format!("“{f}” is not a column of the dataset “{}”.", ds.name)));
                }
                if !seen.insert(f) {
                    return Err(field("fields", format!("“{f}” is listed twice.")));
                }
            }
            Some(list.clone())
        }
    };
    let order = match input.order.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
        None => None,
        Some(o) => {
            let (name, _) = parse_order(o);
            let exposed =
                fields.as_ref().map_or_else(|| columns.iter().any(|c| c.name == name), |f| f.iter().any(|x| x == name));
            if !exposed {
                return Err(field("order", format!("“{name}” is not one of the exposed fields.")));
            }
            Some(o.to_owned())
        }
    };
    check_limits(input.default_limit, input.max_limit).map_err(|(f, m)| field(f, m))?;
    Ok(CollectionSpec {
        name,
        description,
        dataset_id,
        fields,
        order,
        default_limit: input.default_limit,
        max_limit: input.max_limit,
    })
}

/// Creates (`id` none) or changes a collection.
pub async fn save_collection(
    state: &AppState,
    actor: &Actor,
    id: Option<i64>,
    input: &CollectionInput,
) -> Result<data_collections::Model, Refusal> {
    let spec = check_collection(state, actor.workspace_id, input).await?;
    let saved = crate::store::datahub::save_collection(&state.db, actor.workspace_id, id, &spec)
        .await?
        .ok_or_else(|| field("name", "Another collection in this workspace has this name. Choose another name."))?;
    let (action, detail) = match id {
        None => ("collection.created", "Created."),
        Some(_) => ("collection.changed", "Changed."),
    };
    crate::store::audit::record(&state.db, actor.event(action, collection_target(&saved), detail.into())).await?;
    state.hub.changed().await;
    Ok(saved)
}

pub async fn delete_collection(state: &AppState, actor: &Actor, c: &data_collections::Model) -> Result<(), Refusal> {
    let served_by = crate::store::datahub::endpoints_of(&state.db, vec![c.id]).await?;
    for e in &served_by {
        crate::hub::keys::unlink_endpoint(state, e).await?;
    }
    crate::store::datahub::delete_collection(&state.db, c).await?;
    let detail = if served_by.is_empty() {
        "Deleted.".to_owned()
    } else {
        let paths: Vec<&str> = served_by.iter().map(|e| e.path.as_str()).collect();
        format!("Deleted with the endpoints {}.", paths.join(", "))
    };
    crate::store::audit::record(&state.db, actor.event("collection.deleted", collection_target(c), detail)).await?;
    state.hub.changed().await;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct EndpointInput {
    pub path: String,
    pub collection_id: Option<i64>,
    pub access: String,
    /// The Data Hub keys this endpoint accepts; `None` keeps them as they are.
    pub hub_key_ids: Option<Vec<i64>>,
    /// Web origins that may read it from a browser (`domain::datahub::parse_origins`).
    pub allowed_origins: Vec<String>,
}

fn endpoint_target(e: &endpoints::Model) -> Target {
    Target { kind: "endpoint", id: e.id, name: e.path.clone() }
}

pub async fn save_endpoint(
    state: &AppState,
    actor: &Actor,
    id: Option<i64>,
    input: &EndpointInput,
) -> Result<endpoints::Model, Refusal> {
    let path = parse_endpoint_path(&input.path).map_err(|m| field("path", m))?;
    let collection_id =
        input.collection_id.ok_or_else(|| field("collection_id", "Choose the collection this endpoint serves."))?;
    crate::store::datahub::collection(&state.db, actor.workspace_id, collection_id)
        .await?
        .ok_or_else(|| field("collection_id", "There is no such collection in this workspace."))?;
    let access = Access::parse(&input.access)
        .ok_or_else(|| field("access", "Choose who may call it: public, members or keys."))?;
    let origins = parse_origins(&input.allowed_origins, access).map_err(|m| field("allowed_origins", m))?;
    if let Some(ids) = &input.hub_key_ids {
        let known = crate::store::hub_keys::existing_ids(&state.db, actor.workspace_id, ids).await?;
        if let Some(k) = ids.iter().find(|k| !known.contains(k)) {
            return Err(field("hub_key_ids", format!("There is no Data Hub key with id {k} in this workspace.")));
        }
    }
    let saved = crate::store::datahub::save_endpoint(
        &state.db,
        actor.workspace_id,
        id,
        &path,
        collection_id,
        access,
        &origins.join("\n"),
    )
    .await?
    .ok_or_else(|| field("path", "Another endpoint in this workspace has this path."))?;
    let (action, what) = match id {
        None => ("endpoint.created", "Created"),
        Some(_) => ("endpoint.changed", "Changed"),
    };
    if let Some(ids) = &input.hub_key_ids {
        crate::hub::keys::set_endpoint_keys(state, actor.workspace_id, saved.id, ids).await.map_err(|e| match e {
            // The ids were checked above; a key gone meanwhile is named at the field.
            Refusal::Fields(_) | Refusal::NotFound => field("hub_key_ids", e.to_string()),
            other => other,
        })?;
    }
    let detail = if origins.is_empty() {
        format!("{what}; access: {access}.")
    } else {
        format!("{what}; access: {access}; browsers may read it from {}.", origins.join(", "))
    };
    crate::store::audit::record(&state.db, actor.event(action, endpoint_target(&saved), detail)).await?;
    state.hub.changed().await;
    Ok(saved)
}

pub async fn delete_endpoint(state: &AppState, actor: &Actor, e: &endpoints::Model) -> Result<(), Refusal> {
    crate::hub::keys::unlink_endpoint(state, e).await?;
    crate::store::datahub::delete_endpoint(&state.db, e.id).await?;
    crate::store::audit::record(&state.db, actor.event("endpoint.deleted", endpoint_target(e), "Deleted.".into()))
        .await?;
    state.hub.changed().await;
    Ok(())
}
