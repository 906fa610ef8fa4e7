//! The dashboard's tiles and the section overview pages (`/datahub`,
//! `/live-data`, `/ontology`, `/admin`): one summary per section, built
//! once and shown small on the dashboard or whole on the section's page. A
//! section the user may not open is a tile switched off that names the
//! permission it needs and the workspace's admins.
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;

use crate::auth::CurrentUser;
use crate::domain::Permission;
use crate::domain::datahub::Access;
use crate::domain::query::count;
use crate::state::AppState;
use crate::web::views::fmt_time;
use crate::web::{AppError, Layout, page, urls};

/// One line of a tile; `attention` lines are what needs the user.
pub struct Line {
    pub text: String,
    pub attention: bool,
    pub href: Option<String>,
}

impl Line {
    fn plain(text: String) -> Line {
        Line { text, attention: false, href: None }
    }
    fn attention(text: String, href: Option<String>) -> Line {
        Line { text, attention: true, href }
    }
}

pub struct TileLink {
    pub label: &'static str,
    pub href: &'static str,
    pub about: &'static str,
}

pub struct Tile {
    pub id: &'static str,
    pub title: &'static str,
    pub href: &'static str,
    /// Switched off: the permission this section needs.
    pub needs: Option<Permission>,
    pub lines: Vec<Line>,
    pub links: Vec<TileLink>,
}

impl Tile {
    fn off(id: &'static str, title: &'static str, href: &'static str, needs: Permission) -> Tile {
        Tile { id, title, href, needs: Some(needs), lines: Vec::new(), links: Vec::new() }
    }
}

/// The active admins of the workspace, as "Name <email>": whom to ask.
pub async fn admins(state: &AppState, workspace_id: i64) -> Result<Vec<String>, AppError> {
    Ok(crate::store::members::list(&state.db, workspace_id)
        .await?
        .into_iter()
        .filter(|r| r.role == crate::domain::Role::Admin && !r.member.disabled)
        .map(|r| format!("{} <{}>", r.display_name, r.email))
        .collect())
}

pub async fn data_hub(state: &AppState, user: &CurrentUser) -> Result<Tile, AppError> {
    if !user.can(Permission::DataRead) {
        return Ok(Tile::off("hub", "Data Hub", urls::DATAHUB, Permission::DataRead));
    }
    let ws = user.workspace_id();
    let endpoints = crate::store::datahub::endpoints(&state.db, ws).await?;
    let public = endpoints.iter().filter(|e| *e.access == Access::Public).count() as u64;
    let mut lines = vec![Line::plain(format!(
        "{}, {}, {}.",
        count(crate::store::datahub::datasets(&state.db, ws).await?.len() as u64, "dataset", "datasets"),
        count(crate::store::datahub::collections(&state.db, ws).await?.len() as u64, "collection", "collections"),
        count(endpoints.len() as u64, "endpoint", "endpoints"),
    ))];
    if public > 0 {
        lines.push(Line::attention(
            format!("{}: readable by anyone, without a key.", count(public, "public endpoint", "public endpoints")),
            Some(urls::ENDPOINTS.into()),
        ));
    }
    // Keys about to expire (the same week the notice emails count from).
    let soon = state.clock.now() + chrono::Duration::days(7);
    let now = state.clock.now();
    for k in crate::store::keys::for_owner(&state.db, ws, user.user.id).await? {
        if k.revoked_at.is_none() && k.expires_at.is_some_and(|t| t > now && t <= soon) {
            let at = k.expires_at.map(crate::web::views::fmt_time).unwrap_or_default();
            lines.push(Line::attention(
                format!("Your API key {} expires {at}.", k.label),
                Some(urls::ACCOUNT_KEYS.into()),
            ));
        }
    }
    if user.can(Permission::HubKeysManage) {
        for k in crate::store::hub_keys::all_in(&state.db, ws).await? {
            let active = *k.status == crate::domain::hub_keys::KeyStatus::Active;
            if active && k.expires_at.is_some_and(|t| t > now && t <= soon) {
                let at = k.expires_at.map(crate::web::views::fmt_time).unwrap_or_default();
                lines
                    .push(Line::attention(format!("Data Hub key {} expires {at}.", k.name), Some(urls::hub_key(k.id))));
            }
        }
    }
    let mut links = vec![
        TileLink {
            label: "Datasets",
            href: urls::DATASETS,
            about: "Upload CSV or JSON files; see, search and replace their rows.",
        },
        TileLink {
            label: "Data Collections",
            href: urls::COLLECTIONS,
            about: "Choose the fields, order and page sizes a dataset is served with.",
        },
        TileLink {
            label: "Endpoints",
            href: urls::ENDPOINTS,
            about: "The URLs that serve collections, and who may call them.",
        },
    ];
    if user.can(Permission::HubKeysManage) {
        let keys = crate::store::hub_keys::all_in(&state.db, ws).await?.len() as u64;
        lines.push(Line::plain(format!(
            "{} for programs and partners.",
            count(keys, "Data Hub API key", "Data Hub API keys")
        )));
        links.push(TileLink {
            label: "API Keys",
            href: urls::HUB_KEYS,
            about: "Keys that call the endpoints: status, IP filter, expiry, headers.",
        });
        links.push(TileLink {
            label: "Usage",
            href: urls::DATAHUB_USAGE,
            about: "Calls by key and outcome, refusals by reason, over a day, a week or a month.",
        });
    }
    Ok(Tile { id: "hub", title: "Data Hub", href: urls::DATAHUB, needs: None, lines, links })
}

pub async fn live_data(state: &AppState, user: &CurrentUser) -> Result<Tile, AppError> {
    if !user.can(Permission::ConnectorsManage) {
        return Ok(Tile::off("live", "Live Data", urls::LIVE_DATA, Permission::ConnectorsManage));
    }
    let mut sources = crate::store::live_data::sources(&state.db, user.workspace_id()).await?;
    // Failing ones first: they are what needs someone.
    sources.sort_by_key(|s| (!s.status.is_failing(), s.failing_since, s.name_key.clone()));
    let mut lines = vec![Line::plain(format!("{}.", count(sources.len() as u64, "source", "sources")))];
    for s in sources.iter().filter(|s| s.status.is_failing()) {
        let since = s.failing_since.map(|t| format!(" since {}", fmt_time(t))).unwrap_or_default();
        lines.push(Line::attention(format!("{} is failing{since}.", s.name), Some(urls::source(s.id))));
    }
    if let Some(last) = sources.iter().filter_map(|s| s.last_sync_at.map(|t| (t, &s.name))).max() {
        lines.push(Line::plain(format!("Last sync: {} ({}).", fmt_time(last.0), last.1)));
    }
    let links = vec![
        TileLink {
            label: "Connectors",
            href: urls::CONNECTORS,
            about: "Connect a third-party API: credentials, test, streams, entity.",
        },
        TileLink { label: "Data Sources", href: urls::SOURCES, about: "Each source's status, schedule, runs and log." },
        TileLink {
            label: "Diagnostics",
            href: urls::DIAGNOSTICS,
            about: "Failing sources with their likely cause and fix.",
        },
    ];
    Ok(Tile { id: "live", title: "Live Data", href: urls::LIVE_DATA, needs: None, lines, links })
}

pub async fn ontology(state: &AppState, user: &CurrentUser) -> Result<Tile, AppError> {
    if !user.can(Permission::DataRead) {
        return Ok(Tile::off("ontology", "Ontology", urls::ONTOLOGY, Permission::DataRead));
    }
    let ws = user.workspace_id();
    let entities = crate::store::live_data::entities(&state.db, ws).await?;
    let mut rows = 0u64;
    let mut tabs = 0u64;
    for e in &entities {
        for t in crate::store::live_data::tabs_of_entity(&state.db, e.id).await? {
            tabs += 1;
            rows += crate::store::datahub::dataset_any(&state.db, ws, t.dataset_id)
                .await?
                .map_or(0, |d| d.row_count.max(0) as u64);
        }
    }
    let lines = vec![Line::plain(format!(
        "{} with {} and {}.",
        count(entities.len() as u64, "entity", "entities"),
        count(tabs, "spreadsheet tab", "spreadsheet tabs"),
        count(rows, "row", "rows")
    ))];
    let links = vec![TileLink {
        label: "Entities",
        href: urls::ENTITIES,
        about: "The things your data is about, each with a spreadsheet its sources fill.",
    }];
    Ok(Tile { id: "ontology", title: "Ontology", href: urls::ONTOLOGY, needs: None, lines, links })
}

pub async fn admin(state: &AppState, user: &CurrentUser) -> Result<Tile, AppError> {
    if !user.can(Permission::MembersManage) {
        return Ok(Tile::off("admin", "Admin", urls::ADMIN, Permission::MembersManage));
    }
    let ws = user.workspace_id();
    let now = Utc::now();
    let rows = crate::store::members::list(&state.db, ws).await?;
    let disabled = rows.iter().filter(|r| r.member.disabled).count() as u64;
    let invitations = crate::store::invitations::pending(&state.db, ws).await?;
    let pending = invitations.iter().filter(|i| i.expires_at > now).count() as u64;
    let expired = invitations.iter().filter(|i| i.expires_at <= now).count() as u64;
    let mut first = count(rows.len() as u64, "member", "members");
    if disabled > 0 {
        first.push_str(&format!(", {} disabled", crate::domain::query::thousands(disabled)));
    }
    let mut lines = vec![Line::plain(format!("{first}."))];
    if pending > 0 {
        lines.push(Line::plain(format!("{} waiting to be accepted.", count(pending, "invitation", "invitations"))));
    }
    if expired > 0 {
        lines.push(Line::attention(
            format!("{}: revoke or send a new link.", count(expired, "expired invitation", "expired invitations")),
            Some(urls::INVITATIONS.into()),
        ));
    }
    let links = vec![
        TileLink {
            label: "Members",
            href: urls::MEMBERS,
            about: "Roles, permissions, disabling and removing members.",
        },
        TileLink {
            label: "Invitations",
            href: urls::INVITATIONS,
            about: "One-time links that bring people into this workspace.",
        },
        TileLink { label: "Teams", href: urls::TEAMS, about: "Groups of members that portal tokens can name." },
        TileLink {
            label: "Audit log",
            href: urls::AUDIT,
            about: "Who did what, when and from where; filter and export.",
        },
        TileLink {
            label: "Workspace",
            href: urls::WORKSPACE_SETTINGS,
            about: "The workspace's name and the slug in its URLs.",
        },
    ];
    Ok(Tile { id: "admin", title: "Admin", href: urls::ADMIN, needs: None, lines, links })
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    layout: Layout,
    tile: Tile,
}

/// A section's overview page, or the 403 that names what it needs.
async fn overview(user: &CurrentUser, tile: Tile) -> Result<HttpResponse, AppError> {
    if let Some(p) = tile.needs {
        return Err(AppError::Needs(p));
    }
    page(&OverviewPage { layout: Layout::for_user(user, tile.title), tile })
}

pub async fn datahub_page(state: web::Data<AppState>, user: CurrentUser) -> Result<HttpResponse, AppError> {
    overview(&user, data_hub(&state, &user).await?).await
}

pub async fn live_data_page(state: web::Data<AppState>, user: CurrentUser) -> Result<HttpResponse, AppError> {
    overview(&user, live_data(&state, &user).await?).await
}

pub async fn ontology_page(state: web::Data<AppState>, user: CurrentUser) -> Result<HttpResponse, AppError> {
    overview(&user, ontology(&state, &user).await?).await
}

pub async fn admin_page(state: web::Data<AppState>, user: CurrentUser) -> Result<HttpResponse, AppError> {
    overview(&user, admin(&state, &user).await?).await
}
