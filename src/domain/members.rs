//! Who may change whom: the last-admin rule and "no one grants more than they have".
use crate::domain::{PermissionSet, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MemberRuleError {
    #[error("A workspace needs at least one active admin: make someone else admin first.")]
    LastAdmin,
    #[error("Only admins can make someone an admin or change an admin.")]
    OnlyAdminsManageAdmins,
    #[error("You can only grant permissions you hold yourself.")]
    BeyondOwnPermissions,
}

/// The person making a change.
pub struct Actor<'a> {
    pub role: Role,
    pub permissions: &'a PermissionSet,
}

#[derive(Debug, Clone)]
pub enum MemberChange {
    SetRole(Role, PermissionSet),
    Disable,
    Enable,
    Remove,
}

/// Checks that `actor` may grant `role` with `permissions` (invitations and role changes).
pub fn check_grant(actor: &Actor<'_>, role: Role, permissions: &PermissionSet) -> Result<(), MemberRuleError> {
    if actor.role == Role::Admin {
        return Ok(());
    }
    if role == Role::Admin {
        return Err(MemberRuleError::OnlyAdminsManageAdmins);
    }
    if !permissions.is_subset(actor.permissions) {
        return Err(MemberRuleError::BeyondOwnPermissions);
    }
    Ok(())
}

/// Checks a change to a member whose current role is `target_role`.
/// `active_admins` counts the workspace's enabled admins, the target included.
pub fn check_change(
    actor: &Actor<'_>,
    target_role: Role,
    target_disabled: bool,
    change: &MemberChange,
    active_admins: u64,
) -> Result<(), MemberRuleError> {
    if target_role == Role::Admin && actor.role != Role::Admin {
        return Err(MemberRuleError::OnlyAdminsManageAdmins);
    }
    if let MemberChange::SetRole(role, perms) = change {
        check_grant(actor, *role, perms)?;
    }
    let target_is_active_admin = target_role == Role::Admin && !target_disabled;
    let stays_active_admin = match change {
        MemberChange::SetRole(role, _) => *role == Role::Admin,
        MemberChange::Disable | MemberChange::Remove => false,
        MemberChange::Enable => true,
    };
    if target_is_active_admin && !stays_active_admin && active_admins <= 1 {
        return Err(MemberRuleError::LastAdmin);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(names: &[&str]) -> PermissionSet {
        PermissionSet::parse_names(names.iter().copied()).unwrap()
    }

    #[test]
    fn last_admin_cannot_be_demoted_disabled_or_removed() {
        let all = PermissionSet::all();
        let admin = Actor { role: Role::Admin, permissions: &all };
        for change in [MemberChange::SetRole(Role::Member, perms(&[])), MemberChange::Disable, MemberChange::Remove] {
            assert_eq!(check_change(&admin, Role::Admin, false, &change, 1), Err(MemberRuleError::LastAdmin), "{change:?}");
            assert_eq!(check_change(&admin, Role::Admin, false, &change, 2), Ok(()), "{change:?}");
        }
        // A disabled admin is not the one keeping the workspace alive.
        assert_eq!(check_change(&admin, Role::Admin, true, &MemberChange::Remove, 1), Ok(()));
    }

    #[test]
    fn managers_grant_only_what_they_hold() {
        let own = perms(&["members.manage", "data.read"]);
        let manager = Actor { role: Role::Member, permissions: &own };
        assert_eq!(check_grant(&manager, Role::Member, &perms(&["data.read"])), Ok(()));
        assert_eq!(
            check_grant(&manager, Role::Member, &perms(&["data.write"])),
            Err(MemberRuleError::BeyondOwnPermissions)
        );
        assert_eq!(check_grant(&manager, Role::Admin, &perms(&[])), Err(MemberRuleError::OnlyAdminsManageAdmins));
        assert_eq!(
            check_change(&manager, Role::Admin, false, &MemberChange::Disable, 3),
            Err(MemberRuleError::OnlyAdminsManageAdmins)
        );
    }
}
