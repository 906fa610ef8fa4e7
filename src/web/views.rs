//! View parts shared by several pages: permission pickers, key rows, activity
//! lists, pagination, audit events made by the signed-in user. Pages import
//! them from here instead of from each other.
use chrono::{DateTime, Utc};

use crate::domain::keys::KeyState;
use crate::domain::{Permission, PermissionSet};
use crate::entities::{audit_events, personal_keys};

/// A whole number as pages show it: `1,500` (templates call `crate::web::views::n(x)`).
pub fn n<T: std::fmt::Display>(v: T) -> String {
    let s = v.to_string();
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    match digits.parse::<u64>() {
        Ok(d) => format!("{sign}{}", crate::domain::query::thousands(d)),
        Err(_) => s,
    }
}

/// `1 tab`, `3 tabs`, `1,500 rows` (templates call `crate::web::views::count(x, "tab", "tabs")`).
pub fn count<T: std::fmt::Display>(v: T, one: &str, many: &str) -> String {
    let shown = n(&v);
    format!("{shown} {}", if shown == "1" { one } else { many })
}

pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// How a person is named in lists and the audit log.
pub use crate::store::audit::person;

pub struct PermissionChoice {
    pub name: &'static str,
    pub description: &'static str,
    pub checked: bool,
}

/// Checkboxes for `offered` permissions, ticking those in `checked`.
pub fn permission_choices(
    offered: impl IntoIterator<Item = Permission>,
    checked: &PermissionSet,
) -> Vec<PermissionChoice> {
    offered
        .into_iter()
        .map(|p| PermissionChoice { name: p.as_str(), description: p.description(), checked: checked.contains(p) })
        .collect()
}

pub fn all_permission_choices(checked: &PermissionSet) -> Vec<PermissionChoice> {
    permission_choices(Permission::ALL, checked)
}

/// One personal key as lists show it.
pub struct KeyRow {
    pub id: i64,
    pub label: String,
    pub identifier: String,
    pub permissions: Vec<String>,
    pub created: String,
    pub last_used: Option<String>,
    pub last_used_ip: Option<String>,
    pub expires: Option<String>,
    pub revoked: Option<String>,
    /// Who revoked it, when the audit log knows.
    pub revoked_by: Option<String>,
    pub grace_until: Option<String>,
    pub state: KeyState,
    pub owner: Option<String>,
}

pub fn key_row(k: &personal_keys::Model, now: DateTime<Utc>, owner: Option<String>) -> KeyRow {
    KeyRow {
        id: k.id,
        label: k.label.clone(),
        identifier: k.identifier.clone(),
        permissions: PermissionSet::from_stored(&k.permissions).iter().map(|p| p.as_str().to_owned()).collect(),
        created: fmt_time(k.created_at),
        last_used: k.last_used_at.map(fmt_time),
        last_used_ip: k.last_used_ip.clone(),
        expires: k.expires_at.map(fmt_time),
        revoked: k.revoked_at.map(fmt_time),
        revoked_by: None,
        grace_until: k.previous_valid_until.filter(|t| *t > now).map(fmt_time),
        state: KeyState::of(k.revoked_at, k.expires_at, now),
        owner,
    }
}

/// One line of an activity list or the audit log.
pub struct ActivityItem {
    pub when: String,
    pub who: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub ip: String,
}

pub fn activity(events: Vec<audit_events::Model>) -> Vec<ActivityItem> {
    events
        .into_iter()
        .map(|e| ActivityItem {
            when: fmt_time(e.created_at),
            who: e.actor_name.unwrap_or_else(|| "—".into()),
            action: e.action,
            target: e.target_name.unwrap_or_default(),
            detail: e.detail,
            ip: e.ip.unwrap_or_default(),
        })
        .collect()
}

/// Server-side pagination: which page, and the links to its neighbours
/// (keeping the list's other query parameters).
pub struct Pager {
    pub page: u64,
    pub pages: u64,
    pub total: u64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    pub const PER_PAGE: u64 = 25;

    /// `page` is 1-based; `base` is the list's URL with its other parameters,
    /// ending in `?` or `&`.
    pub fn new(page: u64, total: u64, base: &str) -> Pager {
        let pages = total.div_ceil(Self::PER_PAGE).max(1);
        let page = page.clamp(1, pages);
        Pager {
            page,
            pages,
            total,
            prev: (page > 1).then(|| format!("{base}page={}", page - 1)),
            next: (page < pages).then(|| format!("{base}page={}", page + 1)),
        }
    }

    pub fn offset(page: u64) -> u64 {
        page.max(1).saturating_sub(1).saturating_mul(Self::PER_PAGE)
    }
}

/// A query string built from the non-empty pairs, ending in `?` or `&` so a
/// page number can follow.
pub fn query_base(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = String::from(path);
    out.push('?');
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.push_str(k);
        out.push('=');
        out.push_str(&percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string());
        out.push('&');
    }
    out
}

/// A sortable column header: its link and its `aria-sort` state.
pub struct SortHeader {
    pub label: String,
    pub href: String,
    pub aria_sort: &'static str,
}

impl SortHeader {
    /// The header of a list at `path` (other query parameters in `keep`):
    /// clicking the current column flips its direction.
    pub fn new(
        path: &str,
        keep: &[(&str, &str)],
        key: &str,
        label: &str,
        current: bool,
        descending: bool,
    ) -> SortHeader {
        let dir = if current && !descending { "desc" } else { "asc" };
        let mut pairs = keep.to_vec();
        pairs.extend([("sort", key), ("dir", dir)]);
        SortHeader {
            label: label.to_owned(),
            href: query_base(path, &pairs).trim_end_matches(['&', '?']).to_owned(),
            aria_sort: match (current, descending) {
                (false, _) => "none",
                (true, false) => "ascending",
                (true, true) => "descending",
            },
        }
    }
}

/// The query of a searchable, sortable, paginated list: `?q=&sort=&dir=&page=`.
#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub dir: String,
    pub page: Option<crate::domain::query::Page>,
}

impl ListQuery {
    /// The page asked for (1 when none).
    pub fn page(&self) -> u64 {
        self.page.map_or(1, crate::domain::query::Page::get)
    }
}

/// One of a key's limit fields in a form (the key editor, the generate form).
pub struct LimitInput {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
    pub placeholder: &'static str,
}

/// The three limit fields, with what was typed or saved.
pub fn limit_inputs(requests: &str, window: &str, quota: &str) -> Vec<LimitInput> {
    [
        ("rate_limit_requests", "Requests", requests, "e.g. 100"),
        ("rate_limit_window", "per seconds", window, "e.g. 60"),
        ("monthly_quota", "Calls a month", quota, "e.g. 100000"),
    ]
    .into_iter()
    .map(|(name, label, value, placeholder)| LimitInput { name, label, value: value.to_owned(), placeholder })
    .collect()
}
