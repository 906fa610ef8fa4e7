//! Who may change whom: the last-admin rule and "no one grants more than they have".
use crate::{PermissionSet, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MemberRuleError {
    #[error("A workspace needs at least one active admin: make someone else admin first.")]
    LastAdmin,
    #[error("Only admins can make someone an admin or change an admin.")]
    OnlyAdminsManageAdmins,
    #[error("You can only grant or take away permissions you hold yourself.")]
    BeyondOwnPermissions,
    #[error(
        "You cannot disable, enable, remove or reset the password of someone who holds permissions you do not have. Ask an admin."
    )]
    TargetHoldsMore,
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

/// The member a change is about, as they are now.
pub struct Target<'a> {
    pub role: Role,
    /// What they may do now (all, for an admin).
    pub permissions: &'a PermissionSet,
    pub disabled: bool,
}

/// Checks that `actor` may act on `target`'s access as a whole (disable,
/// enable, remove, make a password-reset link): an admin always may; a manager
/// only on someone who is not an admin and holds nothing the manager lacks.
pub fn check_act_on(actor: &Actor<'_>, target: &Target<'_>) -> Result<(), MemberRuleError> {
    if actor.role == Role::Admin {
        return Ok(());
    }
    if target.role == Role::Admin {
        return Err(MemberRuleError::OnlyAdminsManageAdmins);
    }
    if !target.permissions.is_subset(actor.permissions) {
        return Err(MemberRuleError::TargetHoldsMore);
    }
    Ok(())
}

/// Checks a change to `target`. A manager who is not an admin may grant or
/// take away only permissions they hold, and may not disable, enable or
/// remove someone who holds more than they do. `active_admins` counts the
/// workspace's enabled admins, the target included.
pub fn check_change(
    actor: &Actor<'_>,
    target: &Target<'_>,
    change: &MemberChange,
    active_admins: u64,
) -> Result<(), MemberRuleError> {
    let (target_role, target_disabled) = (target.role, target.disabled);
    if target_role == Role::Admin && actor.role != Role::Admin {
        return Err(MemberRuleError::OnlyAdminsManageAdmins);
    }
    if actor.role != Role::Admin {
        match change {
            MemberChange::SetRole(role, perms) => {
                if *role == Role::Admin {
                    return Err(MemberRuleError::OnlyAdminsManageAdmins);
                }
                if !perms.symmetric_difference(target.permissions).is_subset(actor.permissions) {
                    return Err(MemberRuleError::BeyondOwnPermissions);
                }
            }
            MemberChange::Disable | MemberChange::Enable | MemberChange::Remove => check_act_on(actor, target)?,
        }
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
        let active = Target { role: Role::Admin, permissions: &all, disabled: false };
        for change in [MemberChange::SetRole(Role::Member, perms(&[])), MemberChange::Disable, MemberChange::Remove] {
            assert_eq!(check_change(&admin, &active, &change, 1), Err(MemberRuleError::LastAdmin), "{change:?}");
            assert_eq!(check_change(&admin, &active, &change, 2), Ok(()), "{change:?}");
        }
        // A disabled admin is not the one keeping the workspace alive.
        let disabled = Target { role: Role::Admin, permissions: &all, disabled: true };
        assert_eq!(check_change(&admin, &disabled, &MemberChange::Remove, 1), Ok(()));
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
        let all = PermissionSet::all();
        let admin = Target { role: Role::Admin, permissions: &all, disabled: false };
        assert_eq!(
            check_change(&manager, &admin, &MemberChange::Disable, 3),
            Err(MemberRuleError::OnlyAdminsManageAdmins)
        );
    }

    #[test]
    fn managers_change_only_what_they_hold_and_only_people_who_hold_no_more() {
        let own = perms(&["members.manage", "data.read"]);
        let manager = Actor { role: Role::Member, permissions: &own };
        let writer_perms = perms(&["data.read", "data.write"]);
        let writer = Target { role: Role::Member, permissions: &writer_perms, disabled: false };
        // Taking away data.write, which the manager lacks: refused.
        let drop_write = MemberChange::SetRole(Role::Member, perms(&["data.read"]));
        assert_eq!(check_change(&manager, &writer, &drop_write, 2), Err(MemberRuleError::BeyondOwnPermissions));
        // Taking away data.read only, leaving data.write alone: allowed.
        let drop_read = MemberChange::SetRole(Role::Member, perms(&["data.write"]));
        assert_eq!(check_change(&manager, &writer, &drop_read, 2), Ok(()));
        for change in [MemberChange::Disable, MemberChange::Remove, MemberChange::Enable] {
            assert_eq!(
                check_change(&manager, &writer, &change, 2),
                Err(MemberRuleError::TargetHoldsMore),
                "{change:?}"
            );
        }
        let reader_perms = perms(&["data.read"]);
        let reader = Target { role: Role::Member, permissions: &reader_perms, disabled: false };
        assert_eq!(check_change(&manager, &reader, &MemberChange::Disable, 2), Ok(()));
    }
}
