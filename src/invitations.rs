//! Invitations: an admin invites an address into the workspace with a role and
//! permissions (never beyond their own), revokes a pending invitation, and the
//! person who follows the link joins — with a new account or their existing one.
use chrono::Utc;

/// The acting member's own rights, which bound what they may grant.
pub use crate::domain::members::Actor as Acting;
use crate::domain::members::check_grant;
use crate::domain::{DisplayName, Email, PermissionSet, Role, tokens};
use crate::entities::{invitations, users};
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::{Actor, Event, Target};

/// How long an invitation link stays valid.
pub const VALID_DAYS: i64 = 7;

fn target(inv: &invitations::Model) -> Target {
    Target { kind: "invitation", id: inv.id, name: inv.email.clone() }
}

/// Whether `acting` may invite someone with this role and these permissions:
/// no one grants more than they hold. `NotAllowed` names the rule.
pub fn check(acting: &Acting<'_>, role: Role, permissions: &PermissionSet) -> Result<(), Refusal> {
    check_grant(acting, role, permissions).map_err(|rule| Refusal::NotAllowed(rule.to_string()))
}

/// Whether the address already belongs to a member of the workspace.
pub async fn already_member(state: &AppState, workspace_id: i64, email: &Email) -> Result<bool, Refusal> {
    let Some(existing) = crate::store::users::find_by_email(&state.db, email).await? else { return Ok(false) };
    Ok(crate::store::members::find_by_user(&state.db, workspace_id, existing.id).await?.is_some())
}

/// Creates the invitation; returns the link's token, shown once.
pub async fn create(
    state: &AppState,
    by: &Actor,
    acting: &Acting<'_>,
    email: &Email,
    role: Role,
    permissions: &PermissionSet,
) -> Result<String, Refusal> {
    check(acting, role, permissions)?;
    let token = tokens::random_token(40);
    let inv = crate::store::invitations::create(
        &state.db,
        crate::store::invitations::NewInvitation {
            workspace_id: by.workspace_id,
            email,
            role,
            permissions,
            token_hash: tokens::digest(&token),
            invited_by: by.user_id,
            expires_at: Utc::now() + chrono::Duration::days(VALID_DAYS),
        },
    )
    .await?;
    let detail = format!(
        "As {}; valid {VALID_DAYS} days.",
        if role == Role::Admin {
            "admin".into()
        } else {
            format!(
                "member with {}",
                if permissions.is_empty() { "no permissions".into() } else { permissions.to_stored() }
            )
        }
    );
    crate::store::audit::record(&state.db, by.event("invitation.created", target(&inv), detail)).await?;
    Ok(token)
}

/// Revokes a pending invitation; `false` when it was no longer pending.
pub async fn revoke(state: &AppState, by: &Actor, inv: &invitations::Model) -> Result<bool, Refusal> {
    if !crate::store::invitations::revoke(&state.db, by.workspace_id, inv.id).await? {
        return Ok(false);
    }
    crate::store::audit::record(&state.db, by.event("invitation.revoked", target(inv), "Link disabled.".into()))
        .await?;
    Ok(true)
}

/// Who accepts: a user who already has an account, or a new one.
pub enum Joiner<'a> {
    Existing(&'a users::Model),
    /// The password's hash is made by the caller, whose front end says how
    /// to answer when every hashing thread is busy.
    New {
        name: DisplayName,
        password_hash: String,
    },
}

/// Accepts an open invitation: creates the account if needed and the
/// membership, all or nothing. `None` when the link was used meanwhile (of two
/// simultaneous acceptances only one wins); otherwise the user who joined.
pub async fn accept(
    state: &AppState,
    inv: &invitations::Model,
    joiner: Joiner<'_>,
    ip: Option<String>,
) -> Result<Option<i64>, Refusal> {
    let email = Email::parse(&inv.email).map_err(|_| anyhow::anyhow!("stored invitation email is invalid"))?;
    let txn = crate::store::begin_write(&state.db).await?;
    // Conditional update: of two simultaneous acceptances only one wins.
    if !crate::store::invitations::mark_accepted(&txn, inv.id).await? {
        return Ok(None);
    }
    let user_id = match joiner {
        Joiner::Existing(user) => user.id,
        Joiner::New { name, password_hash } => {
            match crate::store::users::create(&txn, &email, &name, password_hash).await {
                Ok(u) => u.id,
                Err(e) if crate::store::is_unique_violation(&e) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    };
    if crate::store::members::find_by_user(&txn, inv.workspace_id, user_id).await?.is_none() {
        let role = *inv.role;
        let permissions = PermissionSet::from_stored(&inv.permissions);
        crate::store::members::add(&txn, inv.workspace_id, user_id, role, &permissions).await?;
    }
    txn.commit().await?;
    state.keys.owner_changed(inv.workspace_id, user_id).await?;
    tracing::info!(user_id, workspace_id = inv.workspace_id, "invitation accepted");
    if let Some(joined) = crate::store::users::find(&state.db, user_id).await? {
        let event = Event {
            workspace_id: inv.workspace_id,
            actor_user_id: Some(user_id),
            actor_name: Some(crate::store::audit::person(&joined)),
            action: "invitation.accepted",
            target: Some(target(inv)),
            detail: format!("Joined as {}.", inv.role),
            ip,
        };
        crate::store::audit::record(&state.db, event).await?;
        let data = serde_json::json!({
            "user_id": user_id, "email": joined.email, "display_name": joined.display_name, "role": inv.role.as_str(),
        });
        crate::notify::webhooks::emit(state, inv.workspace_id, "member.joined", data).await;
    }
    Ok(Some(user_id))
}
