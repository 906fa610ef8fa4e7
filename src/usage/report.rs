//! What the Usage pages and `/api/v1/…/usage` show: counts per time bucket
//! by outcome, per endpoint and per key, read from the flushed counters
//! (so a report lags the calls by at most one flush).
use std::collections::BTreeMap;

use sea_orm::{DatabaseConnection, DbErr};

use crate::domain::usage::{Bucket, Counts, KeyRef};
pub use crate::store::usage::{RequestRow, Scope};

/// `[from, to)` in unix seconds, grouped by `bucket`.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub from: i64,
    pub to: i64,
    pub bucket: Bucket,
}

impl Range {
    /// The last `seconds` up to `now`, the buckets whole (the first one
    /// starts at a bucket boundary).
    pub fn last(now: i64, seconds: i64, bucket: Bucket) -> Range {
        Range { from: bucket.floor(now - seconds) + bucket.seconds(), to: now + 1, bucket }
    }
}

pub struct Series {
    pub range: Range,
    /// Every bucket of the range, empty ones included.
    pub buckets: Vec<(i64, Counts)>,
    pub totals: Counts,
}

pub async fn series(db: &DatabaseConnection, scope: Scope, range: Range) -> Result<Series, DbErr> {
    let rows = crate::store::usage::buckets(db, scope, range.from, range.to, range.bucket.seconds()).await?;
    let mut by_start: BTreeMap<i64, Counts> =
        range.bucket.starts(range.from, range.to).into_iter().map(|t| (t, Counts::default())).collect();
    let mut totals = Counts::default();
    for r in rows {
        let n = u64::try_from(r.n).unwrap_or(0);
        totals.add(&r.outcome, n);
        by_start.entry(r.bucket).or_default().add(&r.outcome, n);
    }
    Ok(Series { range, buckets: by_start.into_iter().collect(), totals })
}

/// Counts under a name (an endpoint), largest first.
pub struct Named<T> {
    pub name: T,
    pub counts: Counts,
}

fn largest_first<T>(map: BTreeMap<T, Counts>) -> Vec<Named<T>> {
    let mut out: Vec<Named<T>> = map.into_iter().map(|(name, counts)| Named { name, counts }).collect();
    out.sort_by_key(|n| std::cmp::Reverse(n.counts.total()));
    out
}

pub async fn endpoints(db: &DatabaseConnection, scope: Scope, range: Range) -> Result<Vec<Named<String>>, DbErr> {
    let mut map: BTreeMap<String, Counts> = BTreeMap::new();
    for r in crate::store::usage::by_endpoint(db, scope, range.from, range.to).await? {
        map.entry(r.endpoint).or_default().add(&r.outcome, u64::try_from(r.n).unwrap_or(0));
    }
    Ok(largest_first(map))
}

/// Per key of the workspace; refusals no key is known for are under `None`.
pub async fn keys(
    db: &DatabaseConnection,
    workspace_id: i64,
    range: Range,
) -> Result<Vec<Named<Option<KeyRef>>>, DbErr> {
    let mut map: BTreeMap<Option<KeyRef>, Counts> = BTreeMap::new();
    for r in crate::store::usage::by_key(db, workspace_id, range.from, range.to).await? {
        let key = KeyRef::from_stored(&r.key_kind, r.key_id);
        map.entry(key).or_default().add(&r.outcome, u64::try_from(r.n).unwrap_or(0));
    }
    Ok(largest_first(map))
}

/// The key's last requests, newest first.
pub async fn recent(db: &DatabaseConnection, key: KeyRef) -> Result<Vec<RequestRow>, DbErr> {
    crate::store::usage::recent(db, key, crate::usage::RECENT_PER_KEY as i64).await
}

/// What the reports call each key: a hub key's name, a personal key's label
/// with its identifier and owner; refusals of unknown keys have their own name.
pub async fn key_names(
    db: &DatabaseConnection,
    workspace_id: i64,
    keys: &[Named<Option<KeyRef>>],
) -> Result<std::collections::HashMap<Option<KeyRef>, String>, DbErr> {
    let mut names = std::collections::HashMap::new();
    let hub: std::collections::HashMap<i64, String> =
        crate::store::hub_keys::all_in(db, workspace_id).await?.into_iter().map(|k| (k.id, k.name)).collect();
    for k in keys {
        let name = match k.name {
            None => UNKNOWN_KEYS.to_owned(),
            Some(KeyRef::Hub(id)) => hub.get(&id).cloned().unwrap_or_else(|| format!("deleted hub key #{id}")),
            Some(KeyRef::Personal(id)) => match crate::store::keys::find(db, workspace_id, id, None).await? {
                Some(p) => {
                    let owner = crate::store::users::find(db, p.user_id).await?.map(|u| u.email).unwrap_or_default();
                    format!("{} ({}, {owner})", p.label, p.identifier)
                }
                None => format!("deleted personal key #{id}"),
            },
        };
        names.insert(k.name, name);
    }
    Ok(names)
}

/// The name of the refusals no key is known for.
pub const UNKNOWN_KEYS: &str = "unknown or malformed keys";
