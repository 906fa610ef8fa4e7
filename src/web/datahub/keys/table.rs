use super::*;
use crate::domain::hub_keys::KeyStatus;

// ---------- the table ----------

#[derive(Deserialize, Default)]
pub struct TableQuery {
    #[serde(default)]
    pub(super) q: String,
    #[serde(default)]
    pub(super) status: String,
    #[serde(default)]
    pub(super) access: String,
    #[serde(default)]
    pub(super) sort: String,
    #[serde(default)]
    pub(super) dir: String,
    pub(super) page: Option<crate::domain::query::Page>,
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
pub(super) struct TablePage {
    pub(super) layout: Layout,
    pub(super) rows: Vec<KeyRowView>,
    pub(super) headers: Vec<SortHeader>,
    pub(super) statuses: Vec<Choice>,
    pub(super) accesses: Vec<Choice>,
    pub(super) q: String,
    pub(super) total: u64,
    pub(super) pager: Pager,
}

pub(super) fn expiry_view(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> (String, &'static str) {
    match at {
        None => ("never".into(), ""),
        Some(t) if t <= now => (fmt_time(t), "expired"),
        Some(t) if t - now <= chrono::Duration::days(EXPIRING_WITHIN_DAYS_HUB) => (fmt_time(t), "expiring"),
        Some(t) => (fmt_time(t), ""),
    }
}

pub(super) fn sync_text(s: &SyncStatus) -> String {
    match s {
        SyncStatus::Synced { at, .. } => format!("synced {}", fmt_time(*at)),
        SyncStatus::Pending { nodes, behind } => format!("pending ({behind} of {nodes} nodes)"),
    }
}

/// `khd_…abcd` / `…abcd`, or "" for a portal token.
pub(super) fn key_identifier(k: &hub_keys::Model) -> String {
    let a = *k.access_type;
    k.secret_suffix.as_deref().map(|s| identifier(a, s)).unwrap_or_default()
}

/// `2026-11-29 22:10 UTC from 203.0.113.9`, or `never`.
pub(super) fn last_used(k: &hub_keys::Model) -> String {
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
            let a = *k.access_type;
            KeyRowView {
                id: k.id,
                access: a.label(),
                identifier: key_identifier(&k),
                active: *k.status == KeyStatus::Active,
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
