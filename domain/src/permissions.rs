//! The one catalogue of permissions. Every check in keyhub names one of these.
use std::collections::BTreeSet;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    DataRead,
    DataWrite,
    OntologyEdit,
    ConnectorsManage,
    HubKeysManage,
    MembersManage,
}

impl Permission {
    pub const ALL: [Permission; 6] = [
        Permission::DataRead,
        Permission::DataWrite,
        Permission::OntologyEdit,
        Permission::ConnectorsManage,
        Permission::HubKeysManage,
        Permission::MembersManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::DataRead => "data.read",
            Permission::DataWrite => "data.write",
            Permission::OntologyEdit => "ontology.edit",
            Permission::ConnectorsManage => "connectors.manage",
            Permission::HubKeysManage => "hub_keys.manage",
            Permission::MembersManage => "members.manage",
        }
    }

    /// A sentence for forms: what holding this permission lets someone do.
    pub fn description(self) -> &'static str {
        match self {
            Permission::DataRead => "Read datasets and records",
            Permission::DataWrite => "Create and change datasets and records",
            Permission::OntologyEdit => "Edit the workspace ontology",
            Permission::ConnectorsManage => "Configure connectors and run syncs",
            Permission::HubKeysManage => "Manage Data Hub keys and endpoints",
            Permission::MembersManage => "Invite, change and remove members",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions, stored as a space-separated list of their names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet(BTreeSet<Permission>);

impl PermissionSet {
    pub fn all() -> Self {
        PermissionSet(Permission::ALL.into_iter().collect())
    }

    pub fn contains(&self, p: Permission) -> bool {
        self.0.contains(&p)
    }

    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        self.0.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What is in one set and not the other: what a change grants or takes away.
    pub fn symmetric_difference(&self, other: &PermissionSet) -> PermissionSet {
        PermissionSet(self.0.symmetric_difference(&other.0).copied().collect())
    }

    pub fn intersection(&self, other: &PermissionSet) -> PermissionSet {
        PermissionSet(self.0.intersection(&other.0).copied().collect())
    }

    pub fn is_subset(&self, other: &PermissionSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Parses names as submitted by a form; an unknown name is an error, not ignored,
    /// so a forged form cannot smuggle anything through.
    pub fn parse_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut set = BTreeSet::new();
        for name in names {
            let p = Permission::parse(name.trim())
                .ok_or_else(|| format!("\"{name}\" is not a permission keyhub knows."))?;
            set.insert(p);
        }
        Ok(PermissionSet(set))
    }

    /// Reads the stored form, skipping names a newer version may have removed.
    pub fn from_stored(s: &str) -> Self {
        PermissionSet(s.split_whitespace().filter_map(Permission::parse).collect())
    }

    /// A compact form for in-memory snapshots: one bit per permission.
    pub fn to_bits(&self) -> u8 {
        Permission::ALL.iter().enumerate().filter(|(_, p)| self.contains(**p)).fold(0, |acc, (i, _)| acc | (1 << i))
    }

    pub fn from_bits(bits: u8) -> Self {
        Permission::ALL.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, p)| *p).collect()
    }

    pub fn to_stored(&self) -> String {
        self.iter().map(Permission::as_str).collect::<Vec<_>>().join(" ")
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        PermissionSet(iter.into_iter().collect())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything in the workspace, whatever the stored permissions say.
    Admin,
    /// Exactly the permissions granted.
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    /// What a member with this role and these granted permissions may do.
    pub fn effective(self, granted: &PermissionSet) -> PermissionSet {
        match self {
            Role::Admin => PermissionSet::all(),
            Role::Member => granted.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips() {
        let set = PermissionSet::parse_names(["data.read", "members.manage"]).unwrap();
        assert_eq!(set.to_stored(), "data.read members.manage");
        assert_eq!(PermissionSet::from_stored(&set.to_stored()), set);
    }

    #[test]
    fn bits_round_trip() {
        let set = PermissionSet::parse_names(["data.write", "members.manage"]).unwrap();
        assert_eq!(PermissionSet::from_bits(set.to_bits()), set);
        assert_eq!(PermissionSet::from_bits(PermissionSet::all().to_bits()), PermissionSet::all());
        assert_eq!(PermissionSet::default().to_bits(), 0);
    }

    #[test]
    fn unknown_permission_is_refused() {
        assert!(PermissionSet::parse_names(["data.read", "root"]).is_err());
    }

    #[test]
    fn admin_has_everything_member_only_grants() {
        let granted = PermissionSet::parse_names(["data.read"]).unwrap();
        assert_eq!(Role::Admin.effective(&granted), PermissionSet::all());
        assert_eq!(Role::Member.effective(&granted), granted);
    }
}
