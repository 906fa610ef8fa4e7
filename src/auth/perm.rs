//! What a handler requires of its caller, as a type: `Member<perm::DataWrite>`
//! on a page, `Principal<perm::DataWrite>` in the JSON API. The check runs in
//! the extractor, before the handler looks anything up, so a handler cannot
//! forget it and cannot reveal whether a thing exists to someone not allowed
//! to see it.
use std::marker::PhantomData;

use crate::domain::{Permission, PermissionSet};

pub trait Requirement {
    /// `Err(p)` names a permission that `held` lacks.
    fn check(held: &PermissionSet) -> Result<(), Permission>;
}

/// Any signed-in member, any valid key.
pub struct Authenticated;
impl Requirement for Authenticated {
    fn check(_: &PermissionSet) -> Result<(), Permission> {
        Ok(())
    }
}

macro_rules! requirement {
    ($($name:ident => $p:ident),* $(,)?) => {$(
        pub struct $name;
        impl Requirement for $name {
            fn check(held: &PermissionSet) -> Result<(), Permission> {
                if held.contains(Permission::$p) { Ok(()) } else { Err(Permission::$p) }
            }
        }
    )*};
}
requirement! {
    DataRead => DataRead,
    DataWrite => DataWrite,
    OntologyEdit => OntologyEdit,
    ConnectorsManage => ConnectorsManage,
    HubKeysManage => HubKeysManage,
    MembersManage => MembersManage,
}

/// Both requirements.
impl<A: Requirement, B: Requirement> Requirement for (A, B) {
    fn check(held: &PermissionSet) -> Result<(), Permission> {
        A::check(held)?;
        B::check(held)
    }
}

/// Either requirement; a refusal names the second.
pub struct Either<A, B>(PhantomData<(A, B)>);
impl<A: Requirement, B: Requirement> Requirement for Either<A, B> {
    fn check(held: &PermissionSet) -> Result<(), Permission> {
        A::check(held).or_else(|_| B::check(held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_need_both_and_either_needs_one_naming_the_second_when_neither() {
        let only_keys = PermissionSet::parse_names(["hub_keys.manage"]).unwrap();
        assert_eq!(HubKeysManage::check(&only_keys), Ok(()));
        assert_eq!(<(HubKeysManage, MembersManage)>::check(&only_keys), Err(Permission::MembersManage));
        assert_eq!(Either::<HubKeysManage, MembersManage>::check(&only_keys), Ok(()));
        let nothing = PermissionSet::default();
        assert_eq!(Either::<HubKeysManage, MembersManage>::check(&nothing), Err(Permission::MembersManage));
        assert_eq!(Authenticated::check(&nothing), Ok(()));
    }
}
