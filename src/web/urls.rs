//! Every URL of the browser UI, defined once. Scripts rely on the first ones.
pub const HOME: &str = "/";
pub const SETUP: &str = "/setup";
pub const LOGIN: &str = "/login";
pub const LOGOUT: &str = "/logout";
pub const ACCOUNT: &str = "/account";
pub const ACCOUNT_PROFILE: &str = "/account/profile";
pub const ACCOUNT_PASSWORD: &str = "/account/password";
pub const ACCOUNT_KEYS: &str = "/account/keys";
pub const HEALTHZ: &str = "/healthz";
pub const WORKSPACES: &str = "/workspaces";
pub const WORKSPACE_SWITCH: &str = "/workspaces/switch";
pub const MEMBERS: &str = "/admin/members";
pub const INVITATIONS: &str = "/admin/invitations";
pub const INVITE: &str = "/invite";
