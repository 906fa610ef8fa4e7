//! Rate limits and monthly quotas, enforced in memory.
//!
//! A rate limit is a fixed window aligned on the clock: a map from key to its
//! window, sharded so that keys on different shards never wait for each
//! other; a key without limits takes no lock at all. A monthly quota counts
//! accepted calls of the calendar month.
//!
//! On one node (SQLite) a window counts calls, and a quota is the month's
//! total as last read from the usage counters plus what this node accepted
//! since (the usage recorder reports each accepted call, and each flush what
//! it wrote).
//!
//! Several nodes (PostgreSQL) share both: a node leases a slice of the
//! window's or the month's budget from the database (`store::budgets`) and
//! spends it from memory, asking again only when the slice is used up —
//! once per slice, never per call — and the slices of all nodes never add
//! up to more than the limit. A month's budget starts from its usage so far.
//! A call that took from a quota and was not accepted in the end gives its
//! call back; slices idle for a while, and all of them when the node stops,
//! go back to the database for the other nodes. Should the database not
//! answer a lease, the node counts that window alone (as one node would)
//! rather than refuse or stall calls.
//!
//! Memory is bounded by the keys that exist: entries are keyed by key ids,
//! and windows that have ended are swept after every flush.
use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::domain::limits::{Limits, RateLimit, Standing, month_bounds, window_start};
use crate::domain::usage::KeyRef;
use crate::store::budgets::Budget;

pub mod window;

use window::{Take, Window};

const SHARDS: usize = 16;
/// A rate-limit slice is an eighth of what the window has left.
const RATE_SLICES: u64 = 8;
/// A month's slice is a 64th of what it has left: a node stopped with
/// `kill -9` cannot give its slice back, and a month is long.
const MONTH_SLICES: u64 = 64;

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

fn rate_budget(key: KeyRef, w: &Window) -> Budget {
    Budget { kind: key.kind(), id: key.id(), start: w.start, end: w.end }
}

fn month_budget(key: KeyRef, w: &Window) -> Budget {
    let kind = match key {
        KeyRef::Hub(_) => "hub-month",
        KeyRef::Personal(_) => "personal-month",
    };
    Budget { kind, id: key.id(), start: w.start, end: w.end }
}

pub struct Limiter {
    /// Each key's rate-limit window; sharded by key id, and hashed with
    /// hashbrown's fast hasher: ids are keyhub's, not a client's.
    windows: Vec<Mutex<hashbrown::HashMap<KeyRef, Window>>>,
    /// Shared: each quota key's month on this node.
    months: Mutex<HashMap<KeyRef, Window>>,
    quotas: Mutex<HashMap<KeyRef, Quota>>,
    /// Where budgets are leased from, when nodes share them.
    shared: Option<DatabaseConnection>,
}

impl Limiter {
    /// `shared`: the database the nodes of a cluster lease budgets from
    /// (PostgreSQL); `None` counts on this node alone.
    pub fn new(shared: Option<DatabaseConnection>) -> Limiter {
        Limiter {
            windows: (0..SHARDS).map(|_| Mutex::default()).collect(),
            months: Mutex::new(HashMap::new()),
            quotas: Mutex::new(HashMap::new()),
            shared,
        }
    }

    fn shard(&self, key: &KeyRef) -> &Mutex<hashbrown::HashMap<KeyRef, Window>> {
        &self.windows[key.id().rem_euclid(SHARDS as i64) as usize]
    }

    /// Counts a call of `key` against its limits, or refuses it. A refused
    /// call uses nothing up. Waits for the database only when this node's
    /// slice of a shared budget is used up.
    /// `t` is the time in Unix seconds.
    pub async fn admit(&self, key: KeyRef, limits: &Limits, t: i64) -> Result<Standing, Exceeded> {
        if limits.is_none() {
            return Ok(Standing::default());
        }
        let mut standing = Standing::default();
        let mut holds_month = false;
        if let Some(q) = limits.monthly_quota {
            let (start, next) = month_bounds(DateTime::from_timestamp(t, 0).unwrap_or_default());
            let reset = u64::try_from(next - t).unwrap_or(0);
            let length = u64::try_from(next - start).unwrap_or(0);
            let remaining = loop {
                match self.take_month(key, q, (start, next), t) {
                    Take::Yes(r) => break Some(r),
                    Take::No => break None,
                    Take::Lease => self.lease_month(key, q, start, t).await,
                }
            };
            // Remaining after this call, should it be accepted.
            standing.quota = Some((q, length, remaining.unwrap_or(0), reset));
            if remaining.is_none() {
                return Err(Exceeded { quota: true, retry_after: reset.max(1), standing });
            }
            holds_month = self.shared.is_some();
        }
        if let Some(rate) = limits.rate {
            let start = window_start(t, rate.window_seconds);
            let end = start + i64::from(rate.window_seconds);
            let reset = u64::try_from(end - t).unwrap_or(0);
            loop {
                match self.take_rate(key, rate, (start, end), t) {
                    Take::Yes(r) => {
                        standing.rate = Some((rate, r, reset));
                        break;
                    }
                    Take::No => {
                        if holds_month {
                            self.put_back(key, t);
                        }
                        standing.rate = Some((rate, 0, reset));
                        return Err(Exceeded { quota: false, retry_after: reset.max(1), standing });
                    }
                    Take::Lease => self.lease_rate(key, start, rate, t).await,
                }
            }
        }
        Ok(standing)
    }

    fn take_rate(&self, key: KeyRef, rate: RateLimit, (start, end): (i64, i64), t: i64) -> Take {
        let mut map = self.shard(&key).lock().unwrap_or_else(|p| p.into_inner());
        let limit = u64::from(rate.requests);
        let w = map.entry(key).or_insert_with(|| Window::new(start, end, limit));
        if w.start != start {
            *w = Window::new(start, end, limit);
        }
        w.set_limit(limit);
        w.take(self.shared.is_some(), t, 0)
    }

    /// Leases a slice of the shared window for `key` and adds it to this
    /// node's window (unless the window moved on meanwhile).
    async fn lease_rate(&self, key: KeyRef, start: i64, rate: RateLimit, t: i64) {
        let Some(db) = &self.shared else { return };
        let end = start + i64::from(rate.window_seconds);
        let budget = Budget { kind: key.kind(), id: key.id(), start, end };
        let got = crate::store::budgets::lease(db, &budget, u64::from(rate.requests), 0, RATE_SLICES).await;
        let mut map = self.shard(&key).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = map.get_mut(&key).filter(|w| w.start == start) {
            w.leased(got, t);
        }
    }

    /// A call from the month's quota: on one node (or a shared month counted
    /// alone) from the usage counters and this node's count, else from the
    /// slice this node leased.
    fn take_month(&self, key: KeyRef, q: u64, (start, next): (i64, i64), t: i64) -> Take {
        if self.shared.is_some() {
            let mut months = self.months.lock().unwrap_or_else(|p| p.into_inner());
            let w = months.entry(key).or_insert_with(|| Window::new(start, next, q));
            if w.start != start {
                *w = Window::new(start, next, q);
            }
            w.set_limit(q);
            if !w.alone() {
                return w.take(true, t, 0);
            }
        }
        let used = self.quota_used(key, start);
        if used >= q { Take::No } else { Take::Yes(q - (used + 1)) }
    }

    async fn lease_month(&self, key: KeyRef, q: u64, start: i64, t: i64) {
        let Some(db) = &self.shared else { return };
        let (budget, first) = {
            let months = self.months.lock().unwrap_or_else(|p| p.into_inner());
            match months.get(&key).filter(|w| w.start == start) {
                Some(w) => (month_budget(key, w), !w.leased_once()),
                None => return,
            }
        };
        // A month without a row yet (its first quota call, or a quota added
        // mid-month) starts from the calls the usage counters hold; read
        // once per month and node, as later leases find the row.
        let got = match first {
            true => crate::store::usage::month_ok(db, key, start).await,
            false => Ok(0),
        };
        let got = match got {
            Ok(opening) => crate::store::budgets::lease(db, &budget, q, opening, MONTH_SLICES).await,
            Err(e) => Err(e),
        };
        let mut months = self.months.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = months.get_mut(&key).filter(|w| w.start == start) {
            w.leased(got, t);
        }
    }

    /// A call that took from its key's shared month was not accepted in
    /// the end: its call goes back to this node's slice.
    fn put_back(&self, key: KeyRef, t: i64) {
        let (start, _) = month_bounds(DateTime::from_timestamp(t, 0).unwrap_or_default());
        let mut months = self.months.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = months.get_mut(&key).filter(|w| w.start == start) {
            w.put_back(true);
        }
    }

    fn quota_used(&self, key: KeyRef, month: i64) -> u64 {
        let quotas = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
        quotas.get(&key).filter(|q| q.month == month).map_or(0, |q| q.stored + q.local)
    }

    /// How a call of a key with a quota ended (from the usage recorder):
    /// accepted, it is counted for the month; otherwise the call it took
    /// from a shared month goes back.
    pub fn settle(&self, key: KeyRef, accepted: bool, now: DateTime<Utc>) {
        if !accepted {
            if self.shared.is_some() {
                self.put_back(key, now.timestamp());
            }
            return;
        }
        let month = month_bounds(now).0;
        let mut quotas = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
        let q = quotas.entry(key).or_default();
        if q.month != month {
            *q = Quota { month, ..Quota::default() };
        }
        q.local += 1;
    }

    /// Gives the slices this node leased back to the cluster: those idle
    /// since `idle_before`, or (`None`) all of them, as a node stops.
    pub async fn give_back(&self, idle_before: Option<i64>) {
        let Some(db) = &self.shared else { return };
        let before = idle_before.unwrap_or(i64::MAX);
        let mut slices = Vec::new();
        for shard in &self.windows {
            let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
            for (key, w) in map.iter_mut() {
                if let Some(n) = w.idle_slice(before) {
                    slices.push((rate_budget(*key, w), n));
                }
            }
        }
        {
            let mut months = self.months.lock().unwrap_or_else(|p| p.into_inner());
            for (key, w) in months.iter_mut() {
                if let Some(n) = w.idle_slice(before) {
                    slices.push((month_budget(*key, w), n));
                }
            }
        }
        for (budget, n) in slices {
            if let Err(e) = crate::store::budgets::give_back(db, &budget, n).await {
                tracing::warn!(error = %e, "giving a leased budget back failed");
            }
        }
    }

    /// After a usage flush that wrote `written` accepted calls per key: the
    /// month's totals are read again, and what they now hold leaves `local`.
    /// Old windows are swept, idle slices given back.
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
        self.give_back(Some(t - window::RECHECK_SECONDS)).await;
        for shard in &self.windows {
            let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
            // A window that started over a day ago has ended (windows are at most a day).
            map.retain(|_, w| t - w.start < crate::domain::limits::MAX_WINDOW_SECONDS as i64);
        }
        self.months.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, w| w.start == month);
        if let Some(db) = &self.shared
            && let Err(e) = crate::store::budgets::sweep(db, t).await
        {
            tracing::warn!(error = %e, "removing ended budgets failed");
        }
    }

    /// Reads the month's totals before the first request (at start).
    pub async fn load(&self, db: &DatabaseConnection, now: DateTime<Utc>) {
        self.flushed(db, HashMap::new(), now).await;
    }
}
