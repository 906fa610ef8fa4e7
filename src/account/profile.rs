//! A user's own account: display name, password (changed, or set again with a
//! one-time reset link), workspaces of their own, first-run setup. Events about
//! the account are recorded in each of the user's workspaces.
use crate::domain::{DisplayName, Email, WorkspaceName};
use crate::entities::{password_resets, users, workspaces};
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::{Event, Target, person};

/// An event about the user's own account, recorded in each of their workspaces.
pub async fn record_own(
    state: &AppState,
    user: &users::Model,
    action: &'static str,
    detail: &str,
    ip: Option<String>,
) -> Result<(), Refusal> {
    crate::store::audit::record_for_user(&state.db, user.id, |ws| Event {
        workspace_id: ws,
        actor_user_id: Some(user.id),
        actor_name: Some(person(user)),
        action,
        target: Some(Target::user(user.id, &user.email)),
        detail: detail.to_owned(),
        ip: ip.clone(),
    })
    .await?;
    Ok(())
}

pub async fn set_display_name(state: &AppState, user: &users::Model, name: &DisplayName) -> Result<(), Refusal> {
    crate::store::users::set_display_name(&state.db, user.id, name).await?;
    Ok(())
}

/// Sets a new password (hashed by the caller) and ends every session of the
/// user: browsers signed in with the old password are signed out.
pub async fn change_password(
    state: &AppState,
    user: &users::Model,
    password_hash: String,
    ip: Option<String>,
) -> Result<(), Refusal> {
    crate::store::users::set_password_hash(&state.db, user.id, password_hash).await?;
    crate::store::sessions::delete_for_user(&state.db, user.id).await?;
    record_own(state, user, "user.password_changed", "Changed by the user; other sessions ended.", ip).await
}

/// Sets a new password with a one-time reset link. `false` when the link was
/// used meanwhile (nothing changed then).
pub async fn reset_password(
    state: &AppState,
    reset: &password_resets::Model,
    user: &users::Model,
    password_hash: String,
    ip: Option<String>,
) -> Result<bool, Refusal> {
    if !crate::store::password_resets::mark_used(&state.db, reset.id).await? {
        return Ok(false);
    }
    crate::store::users::set_password_hash(&state.db, user.id, password_hash).await?;
    crate::store::sessions::delete_for_user(&state.db, user.id).await?;
    let detail = "New password set with a one-time reset link; other sessions ended.";
    record_own(state, user, "user.password_reset", detail, ip).await?;
    Ok(true)
}

/// A workspace of the user's own, with them as its admin. A name taken (or
/// one that looks the same) is refused at `workspace_name`.
pub async fn create_workspace(
    state: &AppState,
    user: &users::Model,
    name: &WorkspaceName,
    ip: Option<String>,
) -> Result<workspaces::Model, Refusal> {
    let Some(ws) = crate::store::workspaces::create_owned(&state.db, name, user.id).await? else {
        return Err(Refusal::field(
            "workspace_name",
            "A workspace with this name, or one that looks the same, already exists. Choose another name.",
        ));
    };
    let event = Event {
        workspace_id: ws.id,
        actor_user_id: Some(user.id),
        actor_name: Some(person(user)),
        action: "workspace.created",
        target: Some(Target { kind: "workspace", id: ws.id, name: ws.name.clone() }),
        detail: "Created; the creator is its admin.".into(),
        ip,
    };
    crate::store::audit::record(&state.db, event).await?;
    Ok(ws)
}

/// First-run setup: the first admin and the first workspace, exactly once.
/// After that there is no setup any more (`NotFound`).
pub async fn set_up(
    state: &AppState,
    email: &Email,
    name: &DisplayName,
    password_hash: String,
    workspace: &WorkspaceName,
    ip: Option<String>,
) -> Result<(users::Model, workspaces::Model), Refusal> {
    let Some((user, ws)) = crate::store::setup::complete(&state.db, email, name, password_hash, workspace).await?
    else {
        return Err(Refusal::NotFound);
    };
    tracing::info!(user_id = user.id, workspace_id = ws.id, "setup completed");
    record_own(state, &user, "instance.setup", "Set up keyhub: first admin and workspace.", ip).await?;
    Ok((user, ws))
}

/// Turns the user's notice emails on or off (the profile's box, or a notice's
/// own link), and says so in their workspaces' audit logs.
pub async fn set_notices(state: &AppState, user: &users::Model, on: bool, ip: Option<String>) -> Result<(), Refusal> {
    crate::store::users::set_notices_off(&state.db, user.id, !on).await?;
    let detail = if on { "Notice emails turned on." } else { "Notice emails turned off." };
    record_own(state, user, "user.notices_changed", detail, ip).await
}
