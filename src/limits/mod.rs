//! Rate limits and monthly quotas, enforced in memory on this node (the
//! cluster issue shares them through the database).
//!
//! A rate limit is a fixed window aligned on the clock: a map from key to
//! (window start, calls), sharded so that keys on different shards never
//! wait for each other; a key without limits takes no lock at all. A quota
//! counts accepted calls of the calendar month: the month's total as last
//! read from the usage counters, plus what this node accepted since (the
//! usage recorder reports each accepted call, and each flush what it wrote).
//!
//! Memory is bounded by the keys that exist: entries are keyed by key ids,
//! and windows that have ended are swept after every flush.
use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::domain::limits::{Limits, Standing, month_bounds, window_start};
use crate::domain::usage::KeyRef;

const SHARDS: usize = 16;

/// Why a call was refused, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    /// The monthly quota (else the rate limit).
    pub quota: bool,
    /// Seconds until the window (or month) ends.
    pub retry_after: u64,
    pub standing: Standing,
}

#[derive(Default)]
struct Quota {
    month: i64,
    /// Accepted calls this month in the usage counters, as last read.
    stored: u64,
    /// Accepted calls counted here since and not yet in `stored`.
    local: u64,
}

pub struct Limiter {
    /// (window start, calls) per key; sharded by key id, and hashed with
    /// hashbrown's fast hasher: ids are keyhub's, not a client's.
    windows: Vec<Mutex<hashbrown::HashMap<KeyRef, (i64, u32)>>>,
    quotas: Mutex<HashMap<KeyRef, Quota>>,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter::new()
    }
}

impl Limiter {
    pub fn new() -> Limiter {
        Limiter { windows: (0..SHARDS).map(|_| Mutex::default()).collect(), quotas: Mutex::new(HashMap::new()) }
    }

    fn shard(&self, key: &KeyRef) -> &Mutex<hashbrown::HashMap<KeyRef, (i64, u32)>> {
        &self.windows[key.id().rem_euclid(SHARDS as i64) as usize]
    }

    /// Counts a call of `key` against its limits, or refuses it. A refused
    /// call uses nothing up.
    /// `t` is the time in Unix seconds.
    pub fn admit(&self, key: KeyRef, limits: &Limits, t: i64) -> Result<Standing, Exceeded> {
        if limits.is_none() {
            return Ok(Standing::default());
        }
        let mut standing = Standing::default();
        if let Some(q) = limits.monthly_quota {
            let (start, next) = month_bounds(DateTime::from_timestamp(t, 0).unwrap_or_default());
            let used = self.quota_used(key, start);
            let reset = u64::try_from(next - t).unwrap_or(0);
            // Remaining after this call, should it be accepted.
            standing.quota = Some((q, u64::try_from(next - start).unwrap_or(0), q.saturating_sub(used + 1), reset));
            if used >= q {
                return Err(Exceeded { quota: true, retry_after: reset.max(1), standing });
            }
        }
        if let Some(rate) = limits.rate {
            let start = window_start(t, rate.window_seconds);
            let reset = u64::try_from(start + i64::from(rate.window_seconds) - t).unwrap_or(0);
            let mut map = self.shard(&key).lock().unwrap_or_else(|p| p.into_inner());
            let entry = map.entry(key).or_insert((start, 0));
            if entry.0 != start {
                *entry = (start, 0);
            }
            if entry.1 >= rate.requests {
                standing.rate = Some((rate, 0, reset));
                return Err(Exceeded { quota: false, retry_after: reset.max(1), standing });
            }
            entry.1 += 1;
            standing.rate = Some((rate, u64::from(rate.requests - entry.1), reset));
        }
        Ok(standing)
    }

    fn quota_used(&self, key: KeyRef, month: i64) -> u64 {
        let quotas = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
        quotas.get(&key).filter(|q| q.month == month).map_or(0, |q| q.stored + q.local)
    }

    /// An accepted call of a key with a quota (from the usage recorder).
    pub fn count_ok(&self, key: KeyRef, now: DateTime<Utc>) {
        let month = month_bounds(now).0;
        let mut quotas = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
        let q = quotas.entry(key).or_default();
        if q.month != month {
            *q = Quota { month, ..Quota::default() };
        }
        q.local += 1;
    }

    /// After a usage flush that wrote `written` accepted calls per key: the
    /// month's totals are read again, and what they now hold leaves `local`.
    /// Old windows are swept.
    pub async fn flushed(&self, db: &DatabaseConnection, written: HashMap<KeyRef, u64>, now: DateTime<Utc>) {
        let month = month_bounds(now).0;
        match crate::store::usage::month_ok_of_quota_keys(db, month).await {
            Ok(rows) => {
                let mut quotas = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
                for q in quotas.values_mut() {
                    q.stored = 0;
                }
                for r in rows {
                    let Some(key) = KeyRef::from_stored(&r.key_kind, r.key_id) else { continue };
                    let q = quotas.entry(key).or_default();
                    if q.month != month {
                        *q = Quota { month, ..Quota::default() };
                    }
                    q.stored = u64::try_from(r.n).unwrap_or(0);
                }
                for (key, n) in written {
                    if let Some(q) = quotas.get_mut(&key) {
                        q.local = q.local.saturating_sub(n);
                    }
                }
                quotas.retain(|_, q| q.month == month && (q.stored > 0 || q.local > 0));
            }
            Err(e) => tracing::warn!(error = %e, "reading the month's usage for quotas failed"),
        }
        let t = now.timestamp();
        for shard in &self.windows {
            let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
            // A window that started over a day ago has ended (windows are at most a day).
            map.retain(|_, (start, _)| t - *start < crate::domain::limits::MAX_WINDOW_SECONDS as i64);
        }
    }

    /// Reads the month's totals before the first request (at start).
    pub async fn load(&self, db: &DatabaseConnection, now: DateTime<Utc>) {
        self.flushed(db, HashMap::new(), now).await;
    }
}
