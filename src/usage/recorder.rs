//! The in-memory counters of `usage` (see there), flushed in batches.
//!
//! Recording runs on every call made with a key, so it allocates nothing in
//! the common case: endpoint names are shared (`Arc<str>`), outcomes and
//! methods are static words, the client address is kept as an address, and
//! the counters are sharded by key so that the server's threads seldom wait
//! for each other. Text is made only when a flush writes the rows.
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::domain::usage::KeyRef;
use crate::store::usage::{CountRow, RequestRow};

/// Flushes are at most this far apart.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// Requests each key keeps (the Usage tab's list).
pub const RECENT_PER_KEY: usize = 100;
const SHARDS: usize = 16;
/// Bounds between two flushes, per shard (×16 in all: 200,000 cells, 100,000 requests).
const MAX_CELLS: usize = 12_500;
const MAX_RECENT: usize = 6_250;

/// What a handler notes about a call for the usage counters: whose it is
/// and where it went. Put in the request's extensions by whatever verified
/// (or refused) the key; the frame middleware adds the outcome, status and
/// time when the answer is ready, and records it.
#[derive(Clone, Debug)]
pub struct Mark {
    pub workspace_id: i64,
    /// `None`: a refusal no key is known for (an unknown or malformed key).
    pub key: Option<KeyRef>,
    /// A portal token the call was admitted through, counted as well.
    pub also: Option<KeyRef>,
    /// The endpoint's path; `None` takes the API route pattern.
    pub endpoint: Option<Arc<str>>,
    /// The key has a monthly quota: its accepted calls are counted for it.
    pub quota: bool,
}

/// The refusal code of an answer, set by the API's error mapping.
#[derive(Clone, Copy, Debug)]
pub struct Outcome(pub &'static str);

/// One answered call, as the middleware saw it.
pub struct Call<'a> {
    pub mark: &'a Mark,
    /// The endpoint's path, or the API route pattern.
    pub endpoint: Arc<str>,
    pub outcome: &'static str,
    pub method: &'static str,
    pub status: u16,
    pub client: Option<IpAddr>,
    pub took: Duration,
    /// Unix milliseconds (the injected clock).
    pub at_ms: i64,
}

#[derive(Hash, PartialEq, Eq)]
struct Cell {
    workspace_id: i64,
    key: Option<KeyRef>,
    endpoint: Arc<str>,
    outcome: &'static str,
    minute: i64,
}

/// A request as kept until the flush.
struct Recent {
    workspace_id: i64,
    key: KeyRef,
    at_ms: i64,
    client: Option<IpAddr>,
    method: &'static str,
    endpoint: Arc<str>,
    status: u16,
    outcome: &'static str,
    took: Duration,
}

impl Recent {
    fn row(&self) -> RequestRow {
        RequestRow {
            workspace_id: self.workspace_id,
            key_kind: self.key.kind().to_owned(),
            key_id: self.key.id(),
            at: self.at_ms,
            client: self.client.map(|ip| ip.to_string()).unwrap_or_default(),
            method: self.method.to_owned(),
            endpoint: self.endpoint.to_string(),
            status: i32::from(self.status),
            outcome: self.outcome.to_owned(),
            duration_us: i64::try_from(self.took.as_micros()).unwrap_or(i64::MAX),
        }
    }
}

#[derive(Default)]
struct Pending {
    cells: HashMap<Cell, u64>,
    recent: HashMap<KeyRef, VecDeque<Recent>>,
    recent_len: usize,
    /// Accepted calls per key since the last flush (for quotas).
    ok: HashMap<KeyRef, u64>,
}

pub struct Recorder {
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<Pending>>,
    /// Calls not counted since the last flush because memory was full.
    dropped: AtomicU64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            hasher: Default::default(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Counts one answered call: a few map operations under one shard's lock.
    pub fn record(&self, call: &Call<'_>) {
        let minute = call.at_ms.div_euclid(60_000) * 60;
        let shard = (self.hasher.hash_one((call.mark.workspace_id, call.mark.key)) as usize) % SHARDS;
        let mut p = self.shards[shard].lock().unwrap_or_else(|e| e.into_inner());
        // The caller's key (or none), and a portal token it came in through.
        for key in std::iter::once(call.mark.key).chain(call.mark.also.map(Some)) {
            let cell = Cell {
                workspace_id: call.mark.workspace_id,
                key,
                endpoint: Arc::clone(&call.endpoint),
                outcome: call.outcome,
                minute,
            };
            let full = p.cells.len() >= MAX_CELLS;
            match p.cells.get_mut(&cell) {
                Some(n) => *n += 1,
                None if !full => {
                    p.cells.insert(cell, 1);
                }
                None => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            let Some(key) = key else { continue };
            if call.outcome == crate::domain::usage::OK {
                *p.ok.entry(key).or_default() += 1;
            }
            let recent = Recent {
                workspace_id: call.mark.workspace_id,
                key,
                at_ms: call.at_ms,
                client: call.client,
                method: call.method,
                endpoint: Arc::clone(&call.endpoint),
                status: call.status,
                outcome: call.outcome,
                took: call.took,
            };
            let total = p.recent_len;
            let list = p.recent.entry(key).or_default();
            if list.len() >= RECENT_PER_KEY {
                list.pop_front();
                list.push_back(recent);
            } else if total < MAX_RECENT {
                list.push_back(recent);
                p.recent_len += 1;
            }
        }
    }

    /// Writes what was counted since the last flush. On a database error the
    /// counts go back into memory (bounded as ever) for the next flush.
    /// Returns the accepted calls per key that were written (for quotas).
    pub async fn flush(&self, db: &DatabaseConnection) -> Result<HashMap<KeyRef, u64>, sea_orm::DbErr> {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(dropped, "usage counters were full between two flushes; these calls were not counted");
        }
        let taken: Vec<Pending> =
            self.shards.iter().map(|s| std::mem::take(&mut *s.lock().unwrap_or_else(|e| e.into_inner()))).collect();
        let rows: Vec<CountRow> = taken
            .iter()
            .flat_map(|p| p.cells.iter())
            .map(|(c, n)| CountRow {
                workspace_id: c.workspace_id,
                key: c.key,
                endpoint: c.endpoint.to_string(),
                outcome: c.outcome,
                start: c.minute,
                count: *n,
            })
            .collect();
        let requests: Vec<RequestRow> =
            taken.iter().flat_map(|p| p.recent.values().flatten()).map(Recent::row).collect();
        let written = async {
            crate::store::usage::add_counts(db, &rows).await?;
            crate::store::usage::add_requests(db, &requests, RECENT_PER_KEY as i64).await
        }
        .await;
        if let Err(e) = written {
            for p in taken {
                self.put_back(p);
            }
            return Err(e);
        }
        let mut ok: HashMap<KeyRef, u64> = HashMap::new();
        for p in taken {
            for (k, n) in p.ok {
                *ok.entry(k).or_default() += n;
            }
        }
        Ok(ok)
    }

    fn put_back(&self, taken: Pending) {
        for (cell, n) in taken.cells {
            let shard = (self.hasher.hash_one((cell.workspace_id, cell.key)) as usize) % SHARDS;
            let mut p = self.shards[shard].lock().unwrap_or_else(|e| e.into_inner());
            if p.cells.len() < MAX_CELLS || p.cells.contains_key(&cell) {
                *p.cells.entry(cell).or_default() += n;
            } else {
                self.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
        for (key, n) in taken.ok {
            let shard = (self.hasher.hash_one((0_i64, Some(key))) as usize) % SHARDS;
            let mut p = self.shards[shard].lock().unwrap_or_else(|e| e.into_inner());
            *p.ok.entry(key).or_default() += n;
        }
        // The requests of a failed flush are the least telling: newer ones replace them.
    }
}
