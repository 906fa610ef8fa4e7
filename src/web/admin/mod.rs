//! Workspace administration (`members.manage`): members and their roles,
//! invitations, the audit log and the workspace itself.
pub mod audit;
pub mod cluster;
pub mod email;
pub mod invitations;
pub mod members;
pub mod teams;
pub mod webhooks;
pub mod workspace;
