//! Rate limits and monthly quotas, enforced in memory.
//!
//! A rate limit is a fixed window aligned on the clock: a map from key to its
//! window, sharded so that keys on different shards never wait for each
//! other; a key without limits takes no lock at all. On one node (SQLite) the
//! window counts calls. Several nodes (PostgreSQL) share the limit: a node
//! leases a slice of the window's budget from the database
//! (`store::budgets`) and spends it from memory, asking again only when the
//! slice is used up — once per slice, never per call — and the slices of all
//! nodes never add up to more than the limit. Should the database not answer
//! a lease, the node counts the window alone (as one node would) rather than
//! refuse or stall calls. A
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

/// One key's current rate-limit window on this node.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    /// Calls accepted here in this window.
    used: u32,
    /// Shared: calls leased to this node and not spent yet.
    leased: u32,
    /// Shared: what the window had left in the database after the last lease.
    left: u32,
    /// Shared: the database has nothing left to lease in this window.
    spent: bool,
    /// Shared, but a lease failed: this window is counted here alone.
    alone: bool,
}

impl Window {
    fn new(start: i64) -> Window {
        Window { start, used: 0, leased: 0, left: 0, spent: false, alone: false }
    }
}

pub struct Limiter {
    /// Each key's window; sharded by key id, and hashed with hashbrown's
    /// fast hasher: ids are keyhub's, not a client's.
    windows: Vec<Mutex<hashbrown::HashMap<KeyRef, Window>>>,
    quotas: Mutex<HashMap<KeyRef, Quota>>,
    /// Where rate-limit budgets are leased from, when nodes share them.
    shared: Option<DatabaseConnection>,
}

impl Limiter {
    /// `shared`: the database the nodes of a cluster lease budgets from
    /// (PostgreSQL); `None` counts on this node alone.
    pub fn new(shared: Option<DatabaseConnection>) -> Limiter {
        Limiter { windows: (0..SHARDS).map(|_| Mutex::default()).collect(), quotas: Mutex::new(HashMap::new()), shared }
    }

    fn shard(&self, key: &KeyRef) -> &Mutex<hashbrown::HashMap<KeyRef, Window>> {
        &self.windows[key.id().rem_euclid(SHARDS as i64) as usize]
    }

    /// Counts a call of `key` against its limits, or refuses it. A refused
    /// call uses nothing up. Waits for the database only when this node's
    /// slice of a shared window is used up.
    /// `t` is the time in Unix seconds.
    pub async fn admit(&self, key: KeyRef, limits: &Limits, t: i64) -> Result<Standing, Exceeded> {
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
            let end = start + i64::from(rate.window_seconds);
            let reset = u64::try_from(end - t).unwrap_or(0);
            loop {
                match self.take(key, rate, start, reset, standing) {
                    Some(decided) => return decided,
                    None => self.lease(key, rate, start, end).await,
                }
            }
        }
        Ok(standing)
    }

    /// Takes one call from the window, or refuses; `None` when this node
    /// must lease more of a shared window first.
    fn take(
        &self,
        key: KeyRef,
        rate: crate::domain::limits::RateLimit,
        start: i64,
        reset: u64,
        mut standing: Standing,
    ) -> Option<Result<Standing, Exceeded>> {
        let mut map = self.shard(&key).lock().unwrap_or_else(|p| p.into_inner());
        let w = map.entry(key).or_insert(Window::new(start));
        if w.start != start {
            *w = Window::new(start);
        }
        let remaining = if self.shared.is_none() || w.alone {
            (w.used < rate.requests).then(|| {
                w.used += 1;
                rate.requests - w.used
            })
        } else if w.leased > 0 {
            w.leased -= 1;
            w.used += 1;
            // What this node holds plus what the others may still lease.
            Some(w.left.saturating_add(w.leased))
        } else if w.spent {
            None
        } else {
            return None; // lease first
        };
        match remaining {
            Some(r) => {
                standing.rate = Some((rate, u64::from(r), reset));
                Some(Ok(standing))
            }
            None => {
                standing.rate = Some((rate, 0, reset));
                Some(Err(Exceeded { quota: false, retry_after: reset.max(1), standing }))
            }
        }
    }

    /// Leases a slice of the shared window for `key` and adds it to this
    /// node's window (unless the window moved on meanwhile).
    async fn lease(&self, key: KeyRef, rate: crate::domain::limits::RateLimit, start: i64, end: i64) {
        let Some(db) = &self.shared else { return };
        let got = crate::store::budgets::lease(db, key.kind(), key.id(), start, end, rate.requests).await;
        let mut map = self.shard(&key).lock().unwrap_or_else(|p| p.into_inner());
        let w = map.entry(key).or_insert(Window::new(start));
        if w.start != start {
            return;
        }
        match got {
            Ok(lease) => {
                w.leased = w.leased.saturating_add(lease.granted);
                w.left = lease.left;
                w.spent = lease.granted == 0;
            }
            Err(e) => {
                tracing::warn!(error = %e, "leasing a shared rate-limit budget failed; this node counts the window alone");
                w.alone = true;
            }
        }
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
            map.retain(|_, w| t - w.start < crate::domain::limits::MAX_WINDOW_SECONDS as i64);
        }
        if let Some(db) = &self.shared
            && let Err(e) = crate::store::budgets::sweep(db, t).await
        {
            tracing::warn!(error = %e, "removing ended rate-limit budgets failed");
        }
    }

    /// Reads the month's totals before the first request (at start).
    pub async fn load(&self, db: &DatabaseConnection, now: DateTime<Utc>) {
        self.flushed(db, HashMap::new(), now).await;
    }
}
