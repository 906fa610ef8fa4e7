//! What every page's frame needs: who is signed in, the navigation by section
//! (only what the user may see, the current page marked), the workspace
//! switcher, the CSRF token, flash messages, help and asset URLs.
use actix_session::Session;
use serde::{Deserialize, Serialize};

use crate::auth::{CurrentUser, SignedIn, csrf, keys};
use crate::domain::Permission;
use crate::entities::users;
use crate::store::members::Membership;
use crate::web::assets::{AssetUrls, asset_urls};
use crate::web::urls;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    /// `success`, `info` or `error`; also the CSS class.
    pub level: String,
    pub message: String,
    /// A user-supplied name the message is about, shown isolated (`<bdi>`)
    /// after the message so right-to-left text cannot reorder the sentence.
    #[serde(default)]
    pub subject: Option<String>,
}

impl Flash {
    /// Queues a message for the next page this session shows.
    pub fn push(session: &Session, level: &str, message: impl Into<String>) {
        Flash::push_about(session, level, message, None);
    }

    /// A message about a named thing: "Workspace created:" + the name.
    pub fn push_about(session: &Session, level: &str, message: impl Into<String>, subject: Option<String>) {
        let mut all: Vec<Flash> = session.get(keys::FLASH).ok().flatten().unwrap_or_default();
        all.push(Flash { level: level.to_owned(), message: message.into(), subject });
        let _ = session.insert(keys::FLASH, all);
    }

    fn take(session: &Session) -> Vec<Flash> {
        // `remove` marks the session changed even for a missing key, which
        // would write the session row on every page view.
        if !session.contains_key(keys::FLASH) {
            return Vec::new();
        }
        session.remove_as::<Vec<Flash>>(keys::FLASH).and_then(Result::ok).unwrap_or_default()
    }

    pub fn css(&self) -> &'static str {
        match self.level.as_str() {
            "success" => "flash flash-success",
            "error" => "flash flash-error",
            _ => "flash",
        }
    }
}

pub struct WorkspaceChoice {
    pub id: i64,
    pub name: String,
    pub current: bool,
}

pub struct NavLink {
    pub label: &'static str,
    pub href: &'static str,
    pub current: bool,
    /// "2 failing": shown beside the link.
    pub badge: Option<String>,
}

/// A section of the product (Admin, later Data Hub, Live Data, Ontology).
pub struct NavSection {
    pub label: &'static str,
    /// The section's overview page (`/datahub`, …).
    pub overview: &'static str,
    pub links: Vec<NavLink>,
    pub current: bool,
    pub badge: Option<String>,
}

impl NavSection {
    pub fn href(&self) -> &'static str {
        self.overview
    }
}

fn section(
    label: &'static str,
    overview: &'static str,
    path: &str,
    pages: &[(&'static str, &'static str)],
) -> NavSection {
    let links: Vec<NavLink> = pages
        .iter()
        .map(|(label, href)| NavLink {
            label,
            href,
            current: path == *href || path.starts_with(&format!("{href}/")),
            badge: None,
        })
        .collect();
    let current = path == overview || links.iter().any(|l| l.current);
    NavSection { label, overview, links, current, badge: None }
}

/// Puts "N failing" on Live Data and its Diagnostics page.
fn mark_failing(sections: &mut [NavSection], n: u64) {
    let words = format!("{n} failing");
    for s in sections.iter_mut().filter(|s| s.label == "Live Data") {
        s.badge = Some(words.clone());
        for l in s.links.iter_mut().filter(|l| l.href == urls::DIAGNOSTICS) {
            l.badge = Some(words.clone());
        }
    }
}

/// The sections the user may open. Sections not built yet are absent.
pub fn sections(can: impl Fn(Permission) -> bool, path: &str) -> Vec<NavSection> {
    let mut out = Vec::new();
    if can(Permission::DataRead) {
        let mut pages =
            vec![("Datasets", urls::DATASETS), ("Data Collections", urls::COLLECTIONS), ("Endpoints", urls::ENDPOINTS)];
        if can(Permission::HubKeysManage) {
            pages.push(("API Keys", urls::HUB_KEYS));
            pages.push(("Usage", urls::DATAHUB_USAGE));
        }
        out.push(section("Data Hub", urls::DATAHUB, path, &pages));
    }
    if can(Permission::ConnectorsManage) {
        out.push(section(
            "Live Data",
            urls::LIVE_DATA,
            path,
            &[("Connectors", urls::CONNECTORS), ("Data Sources", urls::SOURCES), ("Diagnostics", urls::DIAGNOSTICS)],
        ));
    }
    if can(Permission::DataRead) {
        out.push(section("Ontology", urls::ONTOLOGY, path, &[("Entities", urls::ENTITIES)]));
    }
    if can(Permission::MembersManage) {
        out.push(section(
            "Admin",
            urls::ADMIN,
            path,
            &[
                ("Members", urls::MEMBERS),
                ("Invitations", urls::INVITATIONS),
                ("Teams", urls::TEAMS),
                ("Audit log", urls::AUDIT),
                ("Workspace", urls::WORKSPACE_SETTINGS),
                ("Webhooks", urls::WEBHOOKS),
                ("Email", urls::MAIL_LOG),
                ("Cluster", urls::CLUSTER),
            ],
        ));
    }
    out
}

/// The user menu's pages.
pub fn account_links(path: &str) -> Vec<NavLink> {
    section("Account", urls::ACCOUNT, path, &[("Profile", urls::ACCOUNT), ("API keys", urls::ACCOUNT_KEYS)]).links
}

pub struct Layout {
    pub title: String,
    pub user_name: Option<String>,
    pub workspace_name: Option<String>,
    pub workspaces: Vec<WorkspaceChoice>,
    pub csrf: String,
    pub flash: Vec<Flash>,
    pub sections: Vec<NavSection>,
    pub account: Vec<NavLink>,
    pub on_dashboard: bool,
    pub support: Option<Support>,
    pub assets: &'static AssetUrls,
}

/// The operator's support contact (`KEYHUB_SUPPORT_CONTACT`).
pub struct Support {
    pub href: String,
    pub text: String,
}

impl Support {
    pub fn from_setting(contact: Option<&str>) -> Option<Support> {
        let c = contact?.trim();
        if c.is_empty() {
            return None;
        }
        let href = if c.contains("://") { c.to_owned() } else { format!("mailto:{c}") };
        Some(Support { href, text: c.to_owned() })
    }
}

impl Layout {
    pub fn for_user(user: &CurrentUser, title: impl Into<String>) -> Layout {
        Layout::framed(
            &user.user,
            &user.session,
            &user.path,
            Some(&user.membership),
            &user.memberships,
            user.support_contact.as_deref(),
            title,
        )
        .with_failing(user.failing_sources)
    }

    /// For pages any signed-in user may see, with or without a workspace.
    pub fn for_signed_in(user: &SignedIn, title: impl Into<String>) -> Layout {
        Layout::framed(
            &user.user,
            &user.session,
            &user.path,
            user.membership.as_ref(),
            &user.memberships,
            user.support_contact.as_deref(),
            title,
        )
        .with_failing(user.failing_sources)
    }

    fn framed(
        user: &users::Model,
        session: &Session,
        path: &str,
        current: Option<&Membership>,
        memberships: &[Membership],
        support: Option<&str>,
        title: impl Into<String>,
    ) -> Layout {
        let mut layout = Layout::signed_in(user, session, path, title);
        layout.workspace_name = current.map(|m| m.workspace_name.clone());
        layout.workspaces = memberships
            .iter()
            .map(|m| WorkspaceChoice {
                id: m.workspace_id,
                name: m.workspace_name.clone(),
                current: current.is_some_and(|c| c.workspace_id == m.workspace_id),
            })
            .collect();
        if let Some(m) = current {
            layout.sections = sections(|p| m.permissions.contains(p), path);
        }
        layout.support = Support::from_setting(support);
        layout
    }

    /// Puts "N failing" beside Live Data and its Diagnostics page.
    fn with_failing(mut self, n: u64) -> Layout {
        if n > 0 {
            mark_failing(&mut self.sections, n);
        }
        self
    }

    /// A signed-in user with no workspace to work in (disabled or removed).
    pub fn signed_in(user: &users::Model, session: &Session, path: &str, title: impl Into<String>) -> Layout {
        Layout {
            title: title.into(),
            user_name: Some(user.display_name.clone()),
            workspace_name: None,
            workspaces: Vec::new(),
            csrf: csrf::session_token(session),
            flash: Flash::take(session),
            sections: Vec::new(),
            account: account_links(path),
            on_dashboard: path == urls::HOME,
            support: None,
            assets: asset_urls(),
        }
    }

    /// For pages seen before signing in (setup, login, invitation).
    pub fn anonymous(req: &actix_web::HttpRequest, session: &Session, title: impl Into<String>) -> Layout {
        let key = req
            .app_data::<actix_web::web::Data<crate::state::AppState>>()
            .map(|s| s.csrf_key.clone())
            .unwrap_or_default();
        let mut layout = Layout::bare(title);
        layout.csrf = csrf::token(req, session, &key);
        layout.flash = Flash::take(session);
        layout
    }

    /// For error pages, rendered without touching the session.
    pub fn bare(title: impl Into<String>) -> Layout {
        Layout {
            title: title.into(),
            user_name: None,
            workspace_name: None,
            workspaces: Vec::new(),
            csrf: String::new(),
            flash: Vec::new(),
            sections: Vec::new(),
            account: Vec::new(),
            on_dashboard: false,
            support: None,
            assets: asset_urls(),
        }
    }

    /// The section the current page belongs to, for the toolbar's page menu.
    pub fn current_section(&self) -> Option<&NavSection> {
        self.sections.iter().find(|s| s.current)
    }
}
