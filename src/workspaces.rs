//! Admin → Workspace: its name and the slug in its Data Hub URLs.
use crate::domain::WorkspaceName;
use crate::domain::limits::Limits;
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::{Actor, Target};

/// Moves the workspace's Data Hub URLs to `/hub/{slug}/` (callers of the old
/// ones get 404). A slug in use elsewhere is refused at `slug`.
pub async fn set_slug(state: &AppState, by: &Actor, name: &str, old: &str, slug: &str) -> Result<(), Refusal> {
    if !crate::store::workspaces::set_slug(&state.db, by.workspace_id, slug).await? {
        return Err(Refusal::field("slug", "Another workspace uses this slug. Choose another."));
    }
    let target = Target { kind: "workspace", id: by.workspace_id, name: name.to_owned() };
    let detail = format!("Data Hub URLs moved from /hub/{old}/ to /hub/{slug}/.");
    crate::store::audit::record(&state.db, by.event("workspace.slug_changed", target, detail)).await?;
    state.hub.changed().await;
    Ok(())
}

/// Renames the workspace; a name taken (or one that looks the same) is refused at `name`.
pub async fn rename(state: &AppState, by: &Actor, old: &str, name: &WorkspaceName) -> Result<(), Refusal> {
    if !crate::store::workspaces::rename(&state.db, by.workspace_id, name).await? {
        return Err(Refusal::field(
            "name",
            "Another workspace has this name or one that looks the same. Choose another name.",
        ));
    }
    let target = Target { kind: "workspace", id: by.workspace_id, name: name.as_str().to_owned() };
    crate::store::audit::record(&state.db, by.event("workspace.renamed", target, format!("Renamed from “{old}”.")))
        .await?;
    Ok(())
}

/// The limits a new key of the workspace starts with.
pub async fn default_limits(state: &AppState, workspace_id: i64) -> Result<Limits, sea_orm::DbErr> {
    Ok(crate::store::workspaces::find(&state.db, workspace_id)
        .await?
        .map(|w| Limits::from_stored(w.default_rate_limit_requests, w.default_rate_limit_window, None))
        .unwrap_or_default())
}

/// Sets the rate limit new keys start with, from the two fields as typed
/// (both empty: none). Keys that exist keep theirs.
pub async fn set_default_limit(
    state: &AppState,
    by: &Actor,
    name: &str,
    requests: &str,
    window: &str,
) -> Result<(), Refusal> {
    let limits = crate::domain::limits::parse_form(requests, window, "")
        .map_err(|(f, m)| Refusal::field(crate::hub::keys::limit_field(f), &m))?;
    crate::store::workspaces::set_default_limit(&state.db, by.workspace_id, limits.rate).await?;
    let target = Target { kind: "workspace", id: by.workspace_id, name: name.to_owned() };
    let detail = match limits.rate {
        Some(r) => format!("New keys start with a rate limit of {} requests per {} s.", r.requests, r.window_seconds),
        None => "New keys start without a rate limit.".to_owned(),
    };
    crate::store::audit::record(&state.db, by.event("workspace.default_limit_changed", target, detail)).await?;
    Ok(())
}
