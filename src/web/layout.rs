//! What every page's frame needs: who is signed in, the current workspace and
//! the switcher, the CSRF token, flash messages and asset URLs.
use actix_session::Session;
use serde::{Deserialize, Serialize};

use crate::auth::{CurrentUser, csrf, keys};
use crate::domain::Permission;
use crate::web::assets::{AssetUrls, asset_urls};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    /// `success`, `info` or `error`; also the CSS class.
    pub level: String,
    pub message: String,
}

impl Flash {
    /// Queues a message for the next page this session shows.
    pub fn push(session: &Session, level: &str, message: impl Into<String>) {
        let mut all: Vec<Flash> = session.get(keys::FLASH).ok().flatten().unwrap_or_default();
        all.push(Flash { level: level.to_owned(), message: message.into() });
        let _ = session.insert(keys::FLASH, all);
    }

    fn take(session: &Session) -> Vec<Flash> {
        session.remove_as::<Vec<Flash>>(keys::FLASH).and_then(Result::ok).unwrap_or_default()
    }
}

pub struct WorkspaceChoice {
    pub id: i64,
    pub name: String,
    pub current: bool,
}

pub struct Layout {
    pub title: String,
    pub user_name: Option<String>,
    pub workspace_name: Option<String>,
    pub workspaces: Vec<WorkspaceChoice>,
    pub csrf: String,
    pub flash: Vec<Flash>,
    pub show_admin: bool,
    pub assets: &'static AssetUrls,
}

impl Layout {
    pub fn for_user(user: &CurrentUser, title: impl Into<String>) -> Layout {
        Layout {
            title: title.into(),
            user_name: Some(user.user.display_name.clone()),
            workspace_name: Some(user.membership.workspace_name.clone()),
            workspaces: user
                .memberships
                .iter()
                .map(|m| WorkspaceChoice {
                    id: m.workspace_id,
                    name: m.workspace_name.clone(),
                    current: m.workspace_id == user.workspace_id(),
                })
                .collect(),
            csrf: user.csrf_token(),
            flash: Flash::take(&user.session),
            show_admin: user.can(Permission::MembersManage),
            assets: asset_urls(),
        }
    }

    /// For pages seen before signing in (setup, login, invitation).
    pub fn anonymous(req: &actix_web::HttpRequest, session: &Session, title: impl Into<String>) -> Layout {
        let key = req.app_data::<actix_web::web::Data<crate::state::AppState>>().map(|s| s.csrf_key.clone()).unwrap_or_default();
        Layout {
            title: title.into(),
            user_name: None,
            workspace_name: None,
            workspaces: Vec::new(),
            csrf: csrf::token(req, session, &key),
            flash: Flash::take(session),
            show_admin: false,
            assets: asset_urls(),
        }
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
            show_admin: false,
            assets: asset_urls(),
        }
    }
}
