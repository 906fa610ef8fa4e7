//! The in-memory counters of `usage` (see there), flushed in batches.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::domain::usage::KeyRef;
use crate::store::usage::{CountRow, RequestRow};

/// Flushes are at most this far apart.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// Requests each key keeps (the Usage tab's list).
pub const RECENT_PER_KEY: usize = 100;
const MAX_CELLS: usize = 200_000;
const MAX_RECENT: usize = 100_000;

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
    pub endpoint: Option<String>,
    /// The key has a monthly quota: its accepted calls are counted for it.
    pub quota: bool,
}

/// The refusal code of an answer, set by the API's error mapping.
#[derive(Clone, Copy, Debug)]
pub struct Outcome(pub &'static str);

/// One answered call, as the middleware saw it.
pub struct Call<'a> {
    pub mark: &'a Mark,
    pub endpoint: &'a str,
    pub outcome: &'static str,
    pub method: &'static str,
    pub status: u16,
    pub client: Option<String>,
    pub took: Duration,
    /// Unix milliseconds (the injected clock).
    pub at_ms: i64,
}

#[derive(Hash, PartialEq, Eq)]
struct Cell {
    workspace_id: i64,
    key: Option<KeyRef>,
    endpoint: String,
    outcome: &'static str,
    minute: i64,
}

#[derive(Default)]
struct Pending {
    cells: HashMap<Cell, u64>,
    recent: HashMap<KeyRef, VecDeque<RequestRow>>,
    recent_len: usize,
    /// Accepted calls per key since the last flush (for quotas).
    ok: HashMap<KeyRef, u64>,
}

#[derive(Default)]
pub struct Recorder {
    pending: Mutex<Pending>,
    dropped: AtomicU64,
    flushes: AtomicU64,
}

/// What one flush wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    pub cells: usize,
    pub requests: usize,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// Counts one answered call (a few map operations under one lock).
    pub fn record(&self, call: &Call<'_>) {
        let minute = call.at_ms.div_euclid(60_000) * 60;
        // The caller's key (or none), and a portal token it came in through.
        let keys = std::iter::once(call.mark.key).chain(call.mark.also.map(Some));
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            let cell = Cell {
                workspace_id: call.mark.workspace_id,
                key,
                endpoint: call.endpoint.to_owned(),
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
            let row = RequestRow {
                workspace_id: call.mark.workspace_id,
                key_kind: key.kind().to_owned(),
                key_id: key.id(),
                at: call.at_ms,
                client: call.client.clone().unwrap_or_default(),
                method: call.method.to_owned(),
                endpoint: call.endpoint.to_owned(),
                status: i32::from(call.status),
                outcome: call.outcome.to_owned(),
                duration_us: i64::try_from(call.took.as_micros()).unwrap_or(i64::MAX),
            };
            let total = p.recent_len;
            let list = p.recent.entry(key).or_default();
            if list.len() >= RECENT_PER_KEY {
                list.pop_front();
                list.push_back(row);
            } else if total < MAX_RECENT {
                list.push_back(row);
                p.recent_len += 1;
            }
        }
    }

    /// Calls counted but not kept because memory was full (since start).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Flushes done since start (tests and the bench wait on it).
    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Writes what was counted since the last flush. On a database error the
    /// counts go back into memory (bounded as ever) for the next flush.
    /// Returns also the accepted calls per key that were written.
    pub async fn flush(&self, db: &DatabaseConnection) -> Result<(Flushed, HashMap<KeyRef, u64>), sea_orm::DbErr> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let rows: Vec<CountRow> = taken
            .cells
            .iter()
            .map(|(c, n)| CountRow {
                workspace_id: c.workspace_id,
                key: c.key,
                endpoint: c.endpoint.clone(),
                outcome: c.outcome,
                start: c.minute,
                count: *n,
            })
            .collect();
        let requests: Vec<RequestRow> = taken.recent.values().flatten().cloned().collect();
        let written = async {
            crate::store::usage::add_counts(db, &rows).await?;
            crate::store::usage::add_requests(db, &requests, RECENT_PER_KEY as i64).await
        }
        .await;
        if let Err(e) = written {
            self.put_back(taken);
            return Err(e);
        }
        self.flushes.fetch_add(1, Ordering::Relaxed);
        Ok((Flushed { cells: rows.len(), requests: requests.len() }, taken.ok))
    }

    fn put_back(&self, taken: Pending) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (cell, n) in taken.cells {
            if p.cells.len() < MAX_CELLS || p.cells.contains_key(&cell) {
                *p.cells.entry(cell).or_default() += n;
            } else {
                self.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
        for (key, n) in taken.ok {
            *p.ok.entry(key).or_default() += n;
        }
        // The requests of a failed flush are the least telling: newer ones replace them.
    }
}
