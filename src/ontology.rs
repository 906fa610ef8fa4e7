//! The workspace ontology: entities, each owning a source-linked spreadsheet
//! (one tab per linked stream). Shared by pages and the JSON API.
use crate::entities::ontology_entities as entities;
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::audit::Target;
use crate::store::live_data as store;

pub fn target(e: &entities::Model) -> Target {
    Target { kind: "entity", id: e.id, name: e.name.clone() }
}

/// Creates (`id` none) or renames and describes an entity.
pub async fn save(
    state: &AppState,
    actor: &Actor,
    id: Option<i64>,
    name: &str,
    description: &str,
) -> Result<entities::Model, Refusal> {
    let name = crate::datasets::clean_name(name, "entity").map_err(|m| Refusal::field("name", m))?;
    let description = description.trim();
    if description.chars().count() > 1000 {
        return Err(Refusal::field("description", "Use at most 1,000 characters."));
    }
    let saved = store::save_entity(&state.db, actor.workspace_id, id, &name, description).await?.ok_or_else(|| {
        Refusal::field("name", "Another entity in this workspace has this name. Choose another name.")
    })?;
    let action = if id.is_none() { "entity.created" } else { "entity.changed" };
    crate::store::audit::record(&state.db, actor.event(action, target(&saved), String::new())).await?;
    Ok(saved)
}

/// Deletes an entity with its spreadsheet tabs and their datasets; linked
/// sources stay, unlinked (their next sync makes new tabs).
pub async fn delete(state: &AppState, actor: &Actor, e: &entities::Model) -> Result<(), Refusal> {
    let tabs = store::tabs_of_entity(&state.db, e.id).await?;
    for tab in &tabs {
        store::delete_tab(&state.db, tab.id).await?;
        if let Some(ds) = crate::store::datahub::dataset_any(&state.db, e.workspace_id, tab.dataset_id).await? {
            crate::datasets::service::delete(state, actor, &ds).await?;
        }
    }
    store::delete_entity(&state.db, e.id).await?;
    crate::store::audit::record(
        &state.db,
        actor.event("entity.deleted", target(e), format!("Deleted with {} spreadsheet tabs.", tabs.len())),
    )
    .await?;
    Ok(())
}
