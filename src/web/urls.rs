//! Every URL of the browser UI, defined once. Scripts rely on the first ones.
//! Pages of one thing take its id as anything printable: a template hands
//! over `&i64` where a handler has an `i64`.
use std::fmt::Display;

pub const HOME: &str = "/";
pub const SETUP: &str = "/setup";
pub const LOGIN: &str = "/login";
pub const LOGOUT: &str = "/logout";
pub const ACCOUNT: &str = "/account";
pub const ACCOUNT_PROFILE: &str = "/account/profile";
pub const ACCOUNT_PASSWORD: &str = "/account/password";
pub const ACCOUNT_KEYS: &str = "/account/keys";
pub const METRICS: &str = "/metrics";
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const WORKSPACES: &str = "/workspaces";
pub const WORKSPACE_SWITCH: &str = "/workspaces/switch";
pub const MEMBERS: &str = "/admin/members";
pub const INVITATIONS: &str = "/admin/invitations";
pub const INVITE: &str = "/invite";
pub const AUDIT: &str = "/admin/audit";
pub const AUDIT_CSV: &str = "/admin/audit.csv";
pub const WORKSPACE_SETTINGS: &str = "/admin/workspace";
pub const NO_WORKSPACE: &str = "/no-workspace";
pub const HELP: &str = "/help";
pub const API_DOCS: &str = "/api/docs";
pub const RESET: &str = "/reset";
pub const DATASETS: &str = "/datahub/datasets";
pub const DATASET_UPLOAD: &str = "/datahub/datasets/upload";
pub const COLLECTIONS: &str = "/datahub/collections";
pub const ENDPOINTS: &str = "/datahub/endpoints";
pub const HUB_KEYS: &str = "/datahub/keys";
pub const TEAMS: &str = "/admin/teams";
pub const CONNECTORS: &str = "/live-data/connectors";
pub const SOURCES: &str = "/live-data/sources";
pub const DIAGNOSTICS: &str = "/live-data/diagnostics";
pub const ENTITIES: &str = "/ontology/entities";
pub const DATAHUB: &str = "/datahub";
/// The workspace's usage: top keys, refusals, a chart.
pub const DATAHUB_USAGE: &str = "/datahub/usage";
pub const WORKSPACE_LIMIT: &str = "/admin/workspace/limit";
/// Where a notice's unsubscribe link leads (`?u=<user>&t=<token>`).
pub const NOTICES_OFF: &str = "/notices/off";
pub const ACCOUNT_NOTICES: &str = "/account/notices";
/// Admin → Email: the delivery log.
pub const MAIL_LOG: &str = "/admin/email";
pub const CLUSTER: &str = "/admin/cluster";
/// Admin → Webhooks.
pub const WEBHOOKS: &str = "/admin/webhooks";

pub fn webhook(id: impl Display) -> String {
    format!("{WEBHOOKS}/{id}")
}

/// `test`, `delete`.
pub fn webhook_action(id: impl Display, action: &str) -> String {
    format!("{WEBHOOKS}/{id}/{action}")
}
pub const LIVE_DATA: &str = "/live-data";
pub const ONTOLOGY: &str = "/ontology";
pub const ADMIN: &str = "/admin";
pub const ADMIN_KEYS: &str = "/admin/keys";
pub const WORKSPACE_SLUG: &str = "/admin/workspace/slug";
pub const HUB_KEY_NEW: &str = "/datahub/keys/new";
pub const HUB_KEY_TOKEN_CHECK: &str = "/datahub/keys/token-check";
pub const SOURCE_NEW: &str = "/live-data/sources/new";
pub const OPENAPI: &str = "/api/v1/openapi.json";

/// `{base}/{id}`: the page of one thing of a list.
fn one(base: &str, id: impl Display) -> String {
    format!("{base}/{id}")
}

/// `{base}/{id}/{action}`: what is done to, or shown of, one thing.
fn of(base: &str, id: impl Display, action: &str) -> String {
    format!("{base}/{id}/{action}")
}

pub fn dataset(id: impl Display) -> String {
    one(DATASETS, id)
}

/// `download.csv`, `delete`, `append`, `replace`, `rows`.
pub fn dataset_action(id: impl Display, action: &str) -> String {
    of(DATASETS, id, action)
}

pub fn collection(id: impl Display) -> String {
    one(COLLECTIONS, id)
}

pub fn collection_action(id: impl Display, action: &str) -> String {
    of(COLLECTIONS, id, action)
}

pub fn endpoint(id: impl Display) -> String {
    one(ENDPOINTS, id)
}

pub fn endpoint_action(id: impl Display, action: &str) -> String {
    of(ENDPOINTS, id, action)
}

pub fn hub_key(id: impl Display) -> String {
    one(HUB_KEYS, id)
}

/// `reveal`, `hide`, `secret`, `regenerate`, `delete`.
pub fn hub_key_action(id: impl Display, action: &str) -> String {
    of(HUB_KEYS, id, action)
}

/// A hub key's Usage tab.
pub fn hub_key_usage(id: impl Display) -> String {
    of(HUB_KEYS, id, "usage")
}

/// A personal key's usage page.
pub fn personal_key_usage(id: impl Display) -> String {
    format!("{ACCOUNT_KEYS}/{id}/usage")
}

pub fn source(id: impl Display) -> String {
    one(SOURCES, id)
}

/// The wizard's steps (`credentials`, `test`, `streams`, `link`) and the
/// source page's actions (`sync`, `cancel`, `settings`, `delete`).
pub fn source_action(id: impl Display, action: &str) -> String {
    of(SOURCES, id, action)
}

pub fn entity(id: impl Display) -> String {
    one(ENTITIES, id)
}

/// The entity's tabs (`sources`, `settings`) and parts (`progress`, `delete`).
pub fn entity_action(id: impl Display, action: &str) -> String {
    of(ENTITIES, id, action)
}

pub fn member(id: impl Display) -> String {
    one(MEMBERS, id)
}

pub fn member_action(id: impl Display, action: &str) -> String {
    of(MEMBERS, id, action)
}

pub fn team(id: impl Display) -> String {
    one(TEAMS, id)
}

pub fn invitation_action(id: impl Display, action: &str) -> String {
    of(INVITATIONS, id, action)
}

/// `rotate`, `revoke`, `delete` of a personal key.
pub fn account_key_action(id: impl Display, action: &str) -> String {
    of(ACCOUNT_KEYS, id, action)
}

pub fn team_action(id: impl Display, action: &str) -> String {
    of(TEAMS, id, action)
}

/// An admin acting on a member's personal key (`revoke`).
pub fn admin_key_action(id: impl Display, action: &str) -> String {
    of(ADMIN_KEYS, id, action)
}

/// One spreadsheet tab of an entity.
pub fn entity_tab(id: impl Display, tab: impl Display) -> String {
    format!("{ENTITIES}/{id}/tabs/{tab}")
}
