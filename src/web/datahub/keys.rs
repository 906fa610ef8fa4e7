//! `Data Hub → API Keys`: the key table and the key editor. Thin handlers
//! over `hub::keys`; the same checks and messages as the JSON API.
//!
//! Secrets are never part of a GET: an API key's secret is shown only in
//! the answer to a POST (show, regenerate), marked `no-store`, and the
//! editor opts out of htmx's history cache.
use crate::web::params::Params;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::auth::hub_verifier::{SyncStatus, sync_status};
use crate::auth::{CurrentUser, Member, perm};
use crate::domain::header_template::HeaderRow;
use crate::domain::hub_keys::{AccessType, EXPIRING_WITHIN_DAYS_HUB, identifier};
use crate::entities::hub_keys;
use crate::hub::keys::{self as manage, ExpiryInput, IpRow, KeyInput};
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::web::confirm::{Confirmation, Confirmed, ask};
use crate::web::views::{Pager, SortHeader, fmt_time, query_base};
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, render, see_other};

pub const KEYS: &str = crate::web::urls::HUB_KEYS;

// ---------- the table ----------

#[derive(Deserialize, Default)]
pub struct TableQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    access: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    dir: String,
    page: Option<crate::domain::query::Page>,
}

pub struct KeyRowView {
    pub id: i64,
    pub name: String,
    pub access: &'static str,
    pub identifier: String,
    pub active: bool,
    pub expiry: String,
    /// `expiring` or `expired`, for the badge.
    pub expiry_badge: &'static str,
    pub endpoints: u64,
    pub last_used: String,
    pub sync: String,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "datahub/keys.html")]
struct TablePage {
    layout: Layout,
    rows: Vec<KeyRowView>,
    headers: Vec<SortHeader>,
    statuses: Vec<Choice>,
    accesses: Vec<Choice>,
    q: String,
    total: u64,
    pager: Pager,
}

fn expiry_view(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> (String, &'static str) {
    match at {
        None => ("never".into(), ""),
        Some(t) if t <= now => (fmt_time(t), "expired"),
        Some(t) if t - now <= chrono::Duration::days(EXPIRING_WITHIN_DAYS_HUB) => (fmt_time(t), "expiring"),
        Some(t) => (fmt_time(t), ""),
    }
}

fn sync_text(s: &SyncStatus) -> String {
    match s {
        SyncStatus::Synced { at, .. } => format!("synced {}", fmt_time(*at)),
        SyncStatus::Pending { nodes, behind } => format!("pending ({behind} of {nodes} nodes)"),
    }
}

/// `khd_…abcd` / `…abcd`, or "" for a portal token.
fn key_identifier(k: &hub_keys::Model) -> String {
    let a = AccessType::parse(&k.access_type).unwrap_or(AccessType::ApiKey);
    k.secret_suffix.as_deref().map(|s| identifier(a, s)).unwrap_or_default()
}

/// `2026-11-29 22:10 UTC from 203.0.113.9`, or `never`.
fn last_used(k: &hub_keys::Model) -> String {
    match (&k.last_used_at, &k.last_used_ip) {
        (Some(t), Some(ip)) => format!("{} from {ip}", fmt_time(*t)),
        (Some(t), None) => fmt_time(*t),
        _ => "never".into(),
    }
}

pub async fn list(
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    q: Params<TableQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let sort = match q.sort.as_str() {
        s @ ("access_type" | "status" | "expires_at" | "last_used_at" | "created_at") => s,
        _ => "name",
    };
    let desc = q.dir == "desc";
    let page = q.page.map_or(1, crate::domain::query::Page::get);
    let status = ["active", "inactive"].contains(&q.status.as_str()).then(|| q.status.clone());
    let access = AccessType::parse(&q.access).map(|a| a.as_str().to_owned());
    let tq = crate::store::hub_keys::TableQuery {
        search: Some(q.q.clone()),
        status: status.clone(),
        access_type: access.clone(),
        sort: sort.into(),
        desc,
        offset: Pager::offset(page),
        limit: Pager::PER_PAGE,
    };
    let (rows, total) = crate::store::hub_keys::table(&state.db, user.workspace_id(), &tq).await?;
    let nodes = state.hub_keys.live_nodes().await?;
    let now = Utc::now();
    let rows = rows
        .into_iter()
        .map(|(k, endpoints)| {
            let (expiry, expiry_badge) = expiry_view(k.expires_at, now);
            let a = AccessType::parse(&k.access_type).unwrap_or(AccessType::ApiKey);
            KeyRowView {
                id: k.id,
                access: a.label(),
                identifier: key_identifier(&k),
                active: k.status == "active",
                expiry,
                expiry_badge,
                endpoints,
                last_used: last_used(&k),
                sync: sync_text(&sync_status(&k, &nodes)),
                name: k.name,
            }
        })
        .collect();
    let keep: Vec<(&str, &str)> = vec![
        ("q", q.q.as_str()),
        ("status", status.as_deref().unwrap_or("")),
        ("access", access.as_deref().unwrap_or("")),
    ];
    let headers = [
        ("name", "Name"),
        ("access_type", "Access type"),
        ("status", "Status"),
        ("expires_at", "Expires"),
        ("last_used_at", "Last used"),
    ]
    .iter()
    .map(|(k, l)| SortHeader::new(KEYS, &keep, k, l, *k == sort, desc))
    .collect();
    let mut pairs = keep.clone();
    pairs.extend([("sort", sort), ("dir", if desc { "desc" } else { "asc" })]);
    let statuses = ["", "active", "inactive"]
        .iter()
        .map(|s| Choice {
            value: (*s).into(),
            label: if s.is_empty() { "Any status".into() } else { (*s).into() },
            selected: status.as_deref().unwrap_or("") == *s,
        })
        .collect();
    let mut accesses =
        vec![Choice { value: String::new(), label: "Any access type".into(), selected: access.is_none() }];
    accesses.extend(AccessType::ALL.iter().map(|a| Choice {
        value: a.as_str().into(),
        label: a.label().into(),
        selected: access.as_deref() == Some(a.as_str()),
    }));
    let pager = Pager::new(page, total, &query_base(KEYS, &pairs));
    let page = TablePage {
        layout: Layout::for_user(&user, "API Keys"),
        rows,
        headers,
        statuses,
        accesses,
        q: q.q.clone(),
        total,
        pager,
    };
    // `Server-Timing` (which the benchmark reads) is added by the frame middleware.
    render(StatusCode::OK, &page)
}

// ---------- the editor ----------

/// The editor's form as posted. Rows are parallel lists; a header row's
/// "exclude" box posts its row index.
#[derive(Deserialize, Default, Clone)]
pub struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    access_type: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    ip_range: Vec<String>,
    #[serde(default)]
    ip_netmask: Vec<String>,
    #[serde(default)]
    allow_all: String,
    #[serde(default)]
    expires_at: String,
    #[serde(default)]
    tz_offset: String,
    #[serde(default)]
    header_name: Vec<String>,
    #[serde(default)]
    header_value: Vec<String>,
    #[serde(default)]
    header_exclude: Vec<String>,
    #[serde(default)]
    endpoint_ids: Vec<String>,
    #[serde(default)]
    user_ids: Vec<String>,
    #[serde(default)]
    team_ids: Vec<String>,
    #[serde(default)]
    token: String,
    #[serde(default)]
    version: String,
    /// Row buttons: `add_ip`, `remove_ip=N`, `add_header`, `remove_header=N`.
    #[serde(default)]
    add_ip: String,
    #[serde(default)]
    remove_ip: String,
    #[serde(default)]
    add_header: String,
    #[serde(default)]
    remove_header: String,
}

impl KeyForm {
    fn ip_rows(&self) -> Vec<IpRow> {
        (0..self.ip_range.len().max(self.ip_netmask.len()))
            .map(|i| IpRow {
                range: self.ip_range.get(i).cloned().unwrap_or_default(),
                netmask: self.ip_netmask.get(i).cloned().unwrap_or_default(),
            })
            .collect()
    }

    fn header_rows(&self) -> Vec<HeaderRow> {
        (0..self.header_name.len().max(self.header_value.len()))
            .map(|i| HeaderRow {
                name: self.header_name.get(i).cloned().unwrap_or_default(),
                value: self.header_value.get(i).cloned().unwrap_or_default(),
                exclude: self.header_exclude.iter().any(|x| x == &i.to_string()),
            })
            .collect()
    }

    fn set_ip_rows(&mut self, rows: &[IpRow]) {
        self.ip_range = rows.iter().map(|r| r.range.clone()).collect();
        self.ip_netmask = rows.iter().map(|r| r.netmask.clone()).collect();
    }

    fn set_header_rows(&mut self, rows: &[HeaderRow]) {
        self.header_name = rows.iter().map(|r| r.name.clone()).collect();
        self.header_value = rows.iter().map(|r| r.value.clone()).collect();
        self.header_exclude = rows.iter().enumerate().filter(|(_, r)| r.exclude).map(|(i, _)| i.to_string()).collect();
    }

    /// Applies an add/remove row button; true when one was pressed (then
    /// nothing is saved, the editor comes back with the rows changed).
    fn apply_row_buttons(&mut self) -> Option<String> {
        if !self.add_ip.is_empty() {
            let mut rows = self.ip_rows();
            rows.push(IpRow::default());
            self.set_ip_rows(&rows);
            return Some(format!("ip_range-{}", rows.len() - 1));
        }
        if let Ok(i) = self.remove_ip.parse::<usize>() {
            let mut rows = self.ip_rows();
            if i < rows.len() {
                rows.remove(i);
            }
            self.set_ip_rows(&rows);
            return Some("add-ip".into());
        }
        if !self.add_header.is_empty() {
            let mut rows = self.header_rows();
            rows.push(HeaderRow::default());
            self.set_header_rows(&rows);
            return Some(format!("header_name-{}", rows.len() - 1));
        }
        if let Ok(i) = self.remove_header.parse::<usize>() {
            let mut rows = self.header_rows();
            if i < rows.len() {
                rows.remove(i);
            }
            self.set_header_rows(&rows);
            return Some("add-header".into());
        }
        None
    }

    fn from_key(k: &hub_keys::Model, links: &crate::store::hub_keys::Links) -> KeyForm {
        let mut f = KeyForm {
            name: k.name.clone(),
            access_type: k.access_type.clone(),
            status: k.status.clone(),
            allow_all: if manage::ip_rows(k).iter().any(|r| r.netmask == "0") { "yes".into() } else { String::new() },
            // Shown in UTC; the script converts it to the browser's time zone.
            expires_at: k.expires_at.map(|t| t.format("%Y-%m-%dT%H:%M").to_string()).unwrap_or_default(),
            tz_offset: "0".into(),
            endpoint_ids: links.endpoint_ids.iter().map(i64::to_string).collect(),
            user_ids: links.user_ids.iter().map(i64::to_string).collect(),
            team_ids: links.team_ids.iter().map(i64::to_string).collect(),
            version: k.version.to_string(),
            ..Default::default()
        };
        f.set_ip_rows(&manage::ip_rows(k));
        f.set_header_rows(&manage::header_rows(k));
        f
    }

    /// What a failed post carries back to the editor (Post/Redirect/Get):
    /// every field but the token, which is a secret and is typed again.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut v: Vec<(&'static str, String)> = vec![
            ("name", self.name.clone()),
            ("access_type", self.access_type.clone()),
            ("status", self.status.clone()),
            ("allow_all", self.allow_all.clone()),
            ("expires_at", self.expires_at.clone()),
            ("tz_offset", self.tz_offset.clone()),
            ("version", self.version.clone()),
        ];
        let lists: [(&'static str, &Vec<String>); 8] = [
            ("ip_range", &self.ip_range),
            ("ip_netmask", &self.ip_netmask),
            ("header_name", &self.header_name),
            ("header_value", &self.header_value),
            ("header_exclude", &self.header_exclude),
            ("endpoint_ids", &self.endpoint_ids),
            ("user_ids", &self.user_ids),
            ("team_ids", &self.team_ids),
        ];
        for (name, list) in lists {
            v.extend(list.iter().map(|x| (name, x.clone())));
        }
        v
    }

    fn from_pairs(pairs: &[(String, String)]) -> KeyForm {
        serde_html_form::to_string(pairs).ok().and_then(|q| serde_html_form::from_str(&q).ok()).unwrap_or_default()
    }

    fn input(&self) -> KeyInput {
        let ids = |v: &[String]| v.iter().filter_map(|s| s.parse().ok()).collect::<Vec<i64>>();
        KeyInput {
            name: self.name.clone(),
            access_type: self.access_type.clone(),
            status: if self.status.is_empty() { "active".into() } else { self.status.clone() },
            ip_filters: self.ip_rows(),
            allow_all_addresses: self.allow_all == "yes",
            expires: ExpiryInput::Local {
                text: self.expires_at.clone(),
                offset_minutes: self.tz_offset.trim().parse().unwrap_or(0),
            },
            headers: self.header_rows(),
            endpoint_ids: ids(&self.endpoint_ids),
            user_ids: ids(&self.user_ids),
            team_ids: ids(&self.team_ids),
            token: Some(self.token.clone()).filter(|t| !t.is_empty()),
            version: self.version.parse().ok(),
        }
    }
}

pub struct IpRowView {
    pub index: usize,
    pub range: String,
    pub netmask: String,
    pub error: Option<String>,
}

pub struct HeaderRowView {
    pub index: usize,
    pub name: String,
    pub value: String,
    pub exclude: bool,
    pub error: Option<String>,
}

pub struct Check {
    pub id: i64,
    pub label: String,
    pub hint: String,
    pub checked: bool,
}

pub struct AccessChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub checked: bool,
}

pub struct EndpointLink {
    pub id: i64,
    pub path: String,
    pub url: String,
    pub collection: String,
    pub access: String,
}

/// The saved key's automated fields.
pub struct Facts {
    pub id: i64,
    pub is_api_key: bool,
    pub identifier: String,
    pub created: String,
    pub changed: String,
    pub sync: String,
    pub synced: bool,
    pub last_used: String,
    pub endpoints: Vec<EndpointLink>,
}

/// The other admin's saved version, shown beside the refused input.
pub struct Conflict {
    pub by: String,
    pub at: String,
    pub lines: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "datahub/key.html")]
struct EditorPage {
    layout: Layout,
    facts: Option<Facts>,
    action: String,
    tab_endpoints: bool,
    access: Vec<AccessChoice>,
    form: KeyForm,
    ip_rows: Vec<IpRowView>,
    header_rows: Vec<HeaderRowView>,
    endpoints: Vec<Check>,
    users: Vec<Check>,
    teams: Vec<Check>,
    token_hint: Option<String>,
    errors: FieldErrors,
    conflict: Option<Conflict>,
    /// Only in answers to POST (show, regenerate).
    secret: Option<String>,
    focus: String,
    placeholders: String,
}

struct View {
    form: KeyForm,
    errors: FieldErrors,
    conflict: Option<Conflict>,
    secret: Option<String>,
    focus: String,
    tab_endpoints: bool,
}

impl View {
    fn of(form: KeyForm) -> View {
        View {
            form,
            errors: FieldErrors::default(),
            conflict: None,
            secret: None,
            focus: String::new(),
            tab_endpoints: false,
        }
    }
}

async fn person(state: &AppState, id: Option<i64>) -> Result<String, AppError> {
    Ok(match id {
        Some(id) => crate::store::users::find(&state.db, id)
            .await?
            .map(|u| crate::web::views::person(&u))
            .unwrap_or_else(|| format!("user {id}")),
        None => "keyhub".into(),
    })
}

async fn facts(state: &AppState, k: &hub_keys::Model) -> Result<Facts, AppError> {
    let slug =
        crate::store::workspaces::find(&state.db, k.workspace_id).await?.and_then(|w| w.slug).unwrap_or_default();
    let collections = crate::store::datahub::collections(&state.db, k.workspace_id).await?;
    let endpoints = manage::endpoints_of(state, k)
        .await?
        .into_iter()
        .map(|e| EndpointLink {
            id: e.id,
            url: format!("/hub/{slug}/{}", e.path),
            collection: collections
                .iter()
                .find(|c| c.id == e.collection_id)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            access: e.access.clone(),
            path: e.path,
        })
        .collect();
    let sync = state.hub_keys.sync_status(k).await?;
    let a = AccessType::parse(&k.access_type).unwrap_or(AccessType::ApiKey);
    Ok(Facts {
        id: k.id,
        is_api_key: a == AccessType::ApiKey,
        identifier: key_identifier(k),
        created: format!("{} by {}", fmt_time(k.created_at), person(state, k.created_by).await?),
        changed: format!("{} by {}", fmt_time(k.updated_at), person(state, k.updated_by).await?),
        synced: matches!(sync, SyncStatus::Synced { .. }),
        sync: sync_text(&sync),
        last_used: last_used(k),
        endpoints,
    })
}

async fn editor(
    state: &AppState,
    user: &CurrentUser,
    key: Option<&hub_keys::Model>,
    v: View,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let ws = user.workspace_id();
    let form = v.form;
    let access = AccessType::ALL
        .iter()
        .map(|a| AccessChoice {
            value: a.as_str(),
            label: a.label(),
            hint: a.hint(),
            checked: form.access_type == a.as_str() || (form.access_type.is_empty() && *a == AccessType::ApiKey),
        })
        .collect();
    let ip_rows = form
        .ip_rows()
        .into_iter()
        .enumerate()
        .map(|(i, r)| IpRowView {
            index: i,
            range: r.range,
            netmask: r.netmask,
            error: v.errors.get(&format!("ip_filters.{i}")).cloned(),
        })
        .collect();
    let header_rows = form
        .header_rows()
        .into_iter()
        .enumerate()
        .map(|(i, r)| HeaderRowView {
            index: i,
            name: r.name,
            value: r.value,
            exclude: r.exclude,
            error: v.errors.get(&format!("headers.{i}")).cloned(),
        })
        .collect();
    let slug = crate::store::workspaces::find(&state.db, ws).await?.and_then(|w| w.slug).unwrap_or_default();
    let endpoints = crate::store::datahub::endpoints(&state.db, ws)
        .await?
        .into_iter()
        .map(|e| Check {
            checked: form.endpoint_ids.contains(&e.id.to_string()),
            label: format!("/hub/{slug}/{}", e.path),
            hint: format!("access: {}", e.access),
            id: e.id,
        })
        .collect();
    let users = crate::store::members::list(&state.db, ws)
        .await?
        .into_iter()
        .map(|m| Check {
            checked: form.user_ids.contains(&m.member.user_id.to_string()),
            label: format!("{} <{}>", m.display_name, m.email),
            hint: if m.member.disabled { "disabled".into() } else { String::new() },
            id: m.member.user_id,
        })
        .collect();
    let mut teams = Vec::new();
    for t in crate::store::teams::list(&state.db, ws).await? {
        let n = crate::store::teams::members(&state.db, t.id).await?.len();
        teams.push(Check {
            checked: form.team_ids.contains(&t.id.to_string()),
            label: t.name,
            hint: crate::domain::query::count(n as u64, "member", "members"),
            id: t.id,
        });
    }
    let token_hint = key
        .filter(|k| k.access_type == AccessType::GenericToken.as_str())
        .and_then(|k| k.secret_suffix.as_deref())
        .map(|s| format!("Saved, ending in ••••{s}. Leave empty to keep it."));
    let facts = match key {
        Some(k) => Some(facts(state, k).await?),
        None => None,
    };
    let page = EditorPage {
        layout: Layout::for_user(user, key.map_or_else(|| "New key".to_owned(), |k| k.name.clone())),
        action: key.map_or_else(|| KEYS.to_owned(), |k| format!("{KEYS}/{}", k.id)),
        facts,
        tab_endpoints: v.tab_endpoints,
        access,
        ip_rows,
        header_rows,
        endpoints,
        users,
        teams,
        token_hint,
        errors: v.errors,
        conflict: v.conflict,
        secret: v.secret.clone(),
        focus: v.focus,
        placeholders: crate::domain::header_template::Var::ALL.map(|p| p.placeholder()).join(", "),
        form,
    };
    let mut res = render(status, &page)?;
    if v.secret.is_some() {
        res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

async fn find(state: &AppState, user: &CurrentUser, id: i64) -> Result<hub_keys::Model, AppError> {
    crate::store::hub_keys::find(&state.db, user.workspace_id(), id).await?.ok_or(AppError::NotFound)
}

fn editor_path(key: Option<&hub_keys::Model>) -> String {
    key.map_or_else(|| format!("{KEYS}/new"), |k| format!("{KEYS}/{}", k.id))
}

/// The input and messages of a post that failed, if it redirected here.
fn retried(req: &HttpRequest, key: Option<&hub_keys::Model>) -> Option<View> {
    let r = crate::web::retry::take(req, &editor_path(key))?;
    let mut v = View::of(KeyForm::from_pairs(r.pairs()));
    v.errors = r.errors;
    Some(v)
}

pub async fn new(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
) -> Result<HttpResponse, AppError> {
    if let Some(v) = retried(&req, None) {
        return editor(&state, &user, None, v, StatusCode::OK).await;
    }
    let form =
        KeyForm { access_type: "api_key".into(), status: "active".into(), tz_offset: "0".into(), ..Default::default() };
    editor(&state, &user, None, View::of(form), StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct ShowQuery {
    tab: Option<String>,
}

/// The session's note that the next view of key `id` shows its secret: a
/// secret made or shown by a POST is shown by the GET it redirects to, once,
/// so that reloading that page neither repeats the POST nor shows it again.
const SHOW_ONCE: &str = "hub_key_show_once";

fn show_once(user: &CurrentUser, id: i64) -> Result<(), AppError> {
    user.session.insert(SHOW_ONCE, id).map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
    q: Params<ShowQuery>,
) -> Result<HttpResponse, AppError> {
    let k = find(&state, &user, *id).await?;
    if let Some(v) = retried(&req, Some(&k)) {
        return editor(&state, &user, Some(&k), v, StatusCode::OK).await;
    }
    let links = crate::store::hub_keys::links(&state.db, k.id).await?;
    let mut v = View::of(KeyForm::from_key(&k, &links));
    if matches!(user.session.remove_as::<i64>(SHOW_ONCE), Some(Ok(once)) if once == k.id) {
        v.secret = manage::open_secret(&state, &k).ok();
    }
    v.tab_endpoints = q.tab.as_deref() == Some("endpoints");
    editor(&state, &user, Some(&k), v, StatusCode::OK).await
}

fn conflict_lines(k: &hub_keys::Model, links: &crate::store::hub_keys::Links) -> Vec<(String, String)> {
    let rows = manage::ip_rows(k).iter().map(|r| format!("{}/{}", r.range, r.netmask)).collect::<Vec<_>>().join(", ");
    let headers = manage::header_rows(k)
        .iter()
        .map(|h| format!("{}: {}{}", h.name, h.value, if h.exclude { " (excluded)" } else { "" }))
        .collect::<Vec<_>>()
        .join("; ");
    vec![
        ("Name".into(), k.name.clone()),
        ("Access type".into(), AccessType::parse(&k.access_type).map_or("?", AccessType::label).into()),
        ("Status".into(), k.status.clone()),
        ("IP filter".into(), if rows.is_empty() { "any address".into() } else { rows }),
        ("Expires".into(), k.expires_at.map_or_else(|| "never".into(), fmt_time)),
        ("Headers".into(), if headers.is_empty() { "none".into() } else { headers }),
        ("Endpoints".into(), crate::domain::query::count(links.endpoint_ids.len() as u64, "endpoint", "endpoints")),
    ]
}

/// Create (`id` none) or save; row buttons re-render without saving.
async fn submit(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    by: &Actor,
    key: Option<hub_keys::Model>,
    mut form: KeyForm,
) -> Result<HttpResponse, AppError> {
    if let Some(focus) = form.apply_row_buttons() {
        let mut v = View::of(form);
        v.focus = focus;
        return editor(state, user, key.as_ref(), v, StatusCode::OK).await;
    }
    match manage::save(state, by, key.as_ref().map(|k| k.id), &form.input()).await {
        Ok(saved) => {
            let what = if key.is_none() { "Created the key" } else { "Saved the key" };
            Flash::push_about(&user.session, "success", what, Some(saved.key.name.clone()));
            for n in saved.notes.iter().chain(&saved.warnings) {
                Flash::push_about(&user.session, "warning", n.clone(), None);
            }
            if saved.secret.is_some() {
                show_once(user, saved.key.id)?;
            }
            Ok(see_other(&format!("{KEYS}/{}", saved.key.id)))
        }
        Err(Refusal::Fields(errors)) => {
            let mut v = View::of(form);
            v.errors.extend(errors);
            let pairs = v.form.pairs();
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, x)| (*k, x.as_str())).collect();
            if let Some(back) = crate::web::retry::back_to(req, &editor_path(key.as_ref()), &refs, &v.errors) {
                return Ok(back);
            }
            editor(state, user, key.as_ref(), v, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(Refusal::Conflict(_)) => {
            // Their saved version, shown beside the input (deleted meanwhile: not found).
            let now = match &key {
                Some(k) => find(state, user, k.id).await?,
                None => return Err(AppError::NotFound),
            };
            let links = crate::store::hub_keys::links(&state.db, now.id).await?;
            let mut form = form;
            // Saving again is a deliberate choice to replace their version.
            form.version = now.version.to_string();
            let mut v = View::of(form);
            v.conflict = Some(Conflict {
                by: person(state, now.updated_by).await?,
                at: fmt_time(now.updated_at),
                lines: conflict_lines(&now, &links),
            });
            v.errors.add("conflict", "This key was changed since you opened it. Your input is below, their saved version beside it; save again to replace theirs.");
            editor(state, user, Some(&now), v, StatusCode::CONFLICT).await
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    CsrfForm(form): CsrfForm<KeyForm>,
) -> Result<HttpResponse, AppError> {
    submit(&req, &state, &user, &user.actor, None, form).await
}

pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<KeyForm>,
) -> Result<HttpResponse, AppError> {
    let k = find(&state, &user, *id).await?;
    submit(&req, &state, &user, &user.actor, Some(k), form).await
}

/// The secret panel alone (htmx), or a redirect to the editor, which shows
/// the secret once (`SHOW_ONCE`).
fn with_secret(
    req: &HttpRequest,
    user: &CurrentUser,
    k: &hub_keys::Model,
    secret: String,
) -> Result<HttpResponse, AppError> {
    if crate::web::is_htmx(req) {
        let panel = SecretPanel {
            id: k.id,
            csrf: crate::auth::csrf::session_token(&user.session),
            secret: Some(secret),
            identifier: key_identifier(k),
            refocus: false,
        };
        let mut res = render(StatusCode::OK, &panel)?;
        res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
        return Ok(res);
    }
    show_once(user, k.id)?;
    Ok(see_other(&format!("{KEYS}/{}", k.id)))
}

#[derive(Template)]
#[template(path = "datahub/key_secret.html")]
struct SecretPanel {
    id: i64,
    csrf: String,
    identifier: String,
    secret: Option<String>,
    /// After Hide: focus goes back to Show.
    refocus: bool,
}

pub async fn reveal(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
    CsrfForm(_): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let k = find(&state, &user, *id).await?;
    match manage::reveal(&state, &user.actor, &k).await {
        Ok(secret) => with_secret(&req, &user, &k, secret),
        Err(Refusal::Fields(errors)) => {
            let links = crate::store::hub_keys::links(&state.db, k.id).await?;
            let mut v = View::of(KeyForm::from_key(&k, &links));
            v.errors.extend(errors);
            editor(&state, &user, Some(&k), v, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(key_error(e)),
    }
}

/// Hides the secret again (htmx swaps the panel back; no secret in it).
pub async fn hide(
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let k = find(&state, &user, *id).await?;
    let panel = SecretPanel {
        id: k.id,
        csrf: crate::auth::csrf::session_token(&user.session),
        secret: None,
        identifier: key_identifier(&k),
        refocus: true,
    };
    render(StatusCode::OK, &panel)
}

#[derive(Deserialize)]
pub struct TokenCheckForm {
    #[serde(default)]
    token: String,
}

/// What the token field says while the admin types (htmx, after a pause):
/// the same check the save runs, so a weak or invalid value is named before
/// Save, not after. Nothing is stored or logged; an empty field says nothing.
#[derive(Template)]
#[template(
    source = "{% if let Some(e) = error %}<span class=\"error\">{{ e }}</span>{% endif %}{% for w in warnings %}<span class=\"warning\">{{ w }}</span>{% endfor %}",
    ext = "html"
)]
struct TokenCheck {
    error: Option<String>,
    warnings: Vec<String>,
}

pub async fn token_check(
    _: Member<perm::HubKeysManage>,
    CsrfForm(form): CsrfForm<TokenCheckForm>,
) -> Result<HttpResponse, AppError> {
    let (error, warnings) = match form.token.as_str() {
        "" => (None, Vec::new()),
        t => match crate::domain::hub_keys::check_generic_token(t) {
            Ok(w) => (None, w),
            Err(e) => (Some(e), Vec::new()),
        },
    };
    render(StatusCode::OK, &TokenCheck { error, warnings })
}

fn key_error(e: Refusal) -> AppError {
    match e {
        // Only reachable by hand-made posts: the buttons are not offered then.
        Refusal::Fields(_) | Refusal::Conflict(_) => AppError::BadRequest,
        other => other.into(),
    }
}

pub async fn regenerate(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let k = find(&state, &user, *id).await?;
    if !form.yes() {
        return ask(
            &user,
            Confirmation {
                title: "Regenerate secret",
                question: "Make a new secret for this key? The current secret stops working at once; every caller needs the new one.".into(),
                subject: Some(k.name.clone()),
                action: format!("{KEYS}/{}/regenerate", k.id),
                button: "Regenerate secret",
                fields: vec![],
                back: format!("{KEYS}/{}", k.id),
            },
        );
    }
    let (saved, secret) = manage::regenerate(&state, &user.actor, &k).await.map_err(key_error)?;
    with_secret(&req, &user, &saved, secret)
}

pub async fn delete(
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let k = find(&state, &user, *id).await?;
    if !form.yes() {
        let lost = manage::endpoints_of(&state, &k).await?;
        let question = if lost.is_empty() {
            "Delete this key? Callers using it are refused from now on.".to_owned()
        } else {
            format!(
                "Delete this key? Callers using it are refused from now on, and these endpoints lose it: {}.",
                lost.iter().map(|e| e.path.as_str()).collect::<Vec<_>>().join(", ")
            )
        };
        return ask(
            &user,
            Confirmation {
                title: "Delete key",
                question,
                subject: Some(k.name.clone()),
                action: format!("{KEYS}/{}/delete", k.id),
                button: "Delete key",
                fields: vec![],
                back: format!("{KEYS}/{}", k.id),
            },
        );
    }
    manage::delete(&state, &user.actor, &k).await.map_err(key_error)?;
    Flash::push_about(&user.session, "success", "Deleted the key", Some(k.name.clone()));
    Ok(see_other(KEYS))
}
