//! Workspace administration: members, roles and permissions, invitations.
pub mod members;
