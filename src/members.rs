//! Admin → Members, the rules: changing a member's role and permissions,
//! disabling, enabling and removing them (sessions and keys follow at once),
//! revoking one of their keys and issuing a password-reset link. Every change
//! is checked against the workspace's rules (`domain::members`) and audited.
use crate::domain::members::{self as rules, MemberChange};
use crate::domain::{PermissionSet, Role, tokens};
use crate::entities::{members, personal_keys};
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::{Actor, Target};
use crate::store::members::MemberRow;

/// The acting member's own rights, which bound what they may do to others.
pub type Acting<'a> = rules::Actor<'a>;

fn describe(role: Role, perms: &PermissionSet) -> String {
    match role {
        Role::Admin => "admin (all permissions)".into(),
        Role::Member if perms.is_empty() => "member, no permissions".into(),
        Role::Member => format!("member: {}", perms.to_stored()),
    }
}

/// Applies `change` inside one transaction, so the count of active admins
/// cannot shift underneath the check. Returns the member as they were.
async fn apply_change(
    state: &AppState,
    workspace_id: i64,
    member_id: i64,
    acting: &Acting<'_>,
    change: &MemberChange,
) -> Result<members::Model, Refusal> {
    use crate::store::members as store;
    let txn = crate::store::begin_write(&state.db).await?;
    let target = store::find_in_workspace(&txn, workspace_id, member_id).await?.ok_or(Refusal::NotFound)?;
    let admins = store::active_admins(&txn, workspace_id).await?;
    let now = store::effective(&target);
    let t = rules::Target { role: store::role_of(&target), permissions: &now, disabled: target.disabled };
    rules::check_change(acting, &t, change, admins).map_err(|rule| Refusal::NotAllowed(rule.to_string()))?;
    match change {
        MemberChange::SetRole(role, perms) => store::set_role(&txn, member_id, *role, perms).await?,
        MemberChange::Disable => store::set_disabled(&txn, member_id, true).await?,
        MemberChange::Enable => store::set_disabled(&txn, member_id, false).await?,
        MemberChange::Remove => {
            store::remove(&txn, member_id).await?;
            // Portal tokens that name them through a team stop admitting them with this change.
            crate::store::teams::remove_user(&txn, workspace_id, target.user_id).await?;
        }
    }
    txn.commit().await?;
    Ok(target)
}

/// Applies a change to a member, ends their sessions and keys where it must,
/// audits it. `NotAllowed` says which rule forbids it.
pub async fn change(
    state: &AppState,
    by: &Actor,
    acting: &Acting<'_>,
    r: &MemberRow,
    change: MemberChange,
) -> Result<(), Refusal> {
    let before = apply_change(state, by.workspace_id, r.member.id, acting, &change).await?;
    let user_id = before.user_id;
    if matches!(change, MemberChange::Disable | MemberChange::Remove) {
        // End their sessions at once, not at the next idle timeout.
        crate::store::sessions::delete_for_user(&state.db, user_id).await?;
    }
    let target = Target::user(user_id, &r.email);
    let (action, detail) = match &change {
        MemberChange::SetRole(role, perms) => {
            ("member.role_changed", format!("{} → {}", describe(r.role, &r.granted), describe(*role, perms)))
        }
        MemberChange::Disable => ("member.disabled", "Disabled; sessions ended.".to_owned()),
        MemberChange::Enable => ("member.enabled", "Enabled.".to_owned()),
        MemberChange::Remove => ("member.removed", "Removed from the workspace; sessions ended.".to_owned()),
    };
    crate::store::audit::record(&state.db, by.event(action, target.clone(), detail)).await?;
    if matches!(change, MemberChange::Remove) {
        // Removal is final for their keys here; rejoining later does not revive them.
        let n = crate::store::keys::revoke_all_for(&state.db, by.workspace_id, user_id).await?;
        if n > 0 {
            let detail = format!(
                "{} revoked because their owner was removed from the workspace.",
                crate::domain::query::count(n, "key", "keys")
            );
            crate::store::audit::record(&state.db, by.event("key.revoked", target, detail)).await?;
        }
    }
    // Keys follow their owner's rights on the very next request.
    state.keys.owner_changed(by.workspace_id, user_id).await?;
    state.changes.apply_now().await;
    if matches!(change, MemberChange::Remove) {
        let data = serde_json::json!({"user_id": user_id, "email": r.email, "display_name": r.display_name});
        crate::notify::webhooks::emit(state, by.workspace_id, "member.removed", data).await;
    }
    Ok(())
}

/// An admin revokes a personal key of the workspace. As with roles, only
/// admins act on what admins hold. `false` when it was already revoked.
pub async fn revoke_key(
    state: &AppState,
    by: &Actor,
    acting: &Acting<'_>,
    key: &personal_keys::Model,
) -> Result<bool, Refusal> {
    check_revoke_key(state, by, acting, key).await?;
    if !crate::store::keys::revoke(&state.db, key.id).await? {
        return Ok(false);
    }
    state.keys.key_changed(key.workspace_id, key.id).await?;
    let event = by.event("key.revoked", Target::key(key), "Revoked by an admin.".into());
    crate::store::audit::record(&state.db, event).await?;
    crate::notify::webhooks::emit(
        state,
        key.workspace_id,
        "key.revoked",
        crate::notify::webhooks::personal_key_data(key),
    )
    .await;
    Ok(true)
}

/// Whether `acting` may revoke `key` (asked before the confirmation, too).
pub async fn check_revoke_key(
    state: &AppState,
    by: &Actor,
    acting: &Acting<'_>,
    key: &personal_keys::Model,
) -> Result<(), Refusal> {
    let owner = crate::store::members::find_by_user(&state.db, by.workspace_id, key.user_id).await?;
    if acting.role != Role::Admin && owner.is_some_and(|m| *m.role == Role::Admin) && key.user_id != by.user_id {
        return Err(Refusal::NotAllowed("Only admins can revoke an admin's key.".into()));
    }
    Ok(())
}

/// A one-time password-reset link's token for a member who forgot their
/// password. Resetting a password hands over the account: the same rule as
/// disabling applies.
pub async fn reset_link(state: &AppState, by: &Actor, acting: &Acting<'_>, r: &MemberRow) -> Result<String, Refusal> {
    let target_perms = r.role.effective(&r.granted);
    let target = rules::Target { role: r.role, permissions: &target_perms, disabled: r.member.disabled };
    rules::check_act_on(acting, &target).map_err(|rule| Refusal::NotAllowed(rule.to_string()))?;
    let token = tokens::random_token(40);
    crate::store::password_resets::create(
        &state.db,
        by.workspace_id,
        r.member.user_id,
        tokens::digest(&token),
        Some(by.user_id),
    )
    .await?;
    let detail = format!("One-time link valid for {} hours.", crate::store::password_resets::VALID_HOURS);
    let event = by.event("user.password_reset_link_created", Target::user(r.member.user_id, &r.email), detail);
    crate::store::audit::record(&state.db, event).await?;
    Ok(token)
}
